//! The `faultline` binary: parse, run, print once, exit with a documented code
//! (0 valid, 1 invalid, 2 unknown, 3 harness error or bad input, a bad flag included).

use anyhow::Context;
use clap::Parser;
use harness::analysis;
use harness::cli::{Cli, Command};
use std::process::ExitCode;

/// Exit code of a harness error or bad input.
const HARNESS_ERROR: u8 = 3;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FAULTLINE_LOG")
                // fuser warns when the mount it made is already gone: lazyfs aborts and detaches
                // its mounts itself (harness/src/lazyfs/mod.rs says why).
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,fuser::mnt=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version are not errors; everything else clap refuses is bad input.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(HARNESS_ERROR);
        }
    };
    match dispatch(cli) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(HARNESS_ERROR)),
        Err(e) => {
            eprintln!("faultline: error: {e:#}");
            ExitCode::from(HARNESS_ERROR)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Run(args) => {
            let config = args.into_config()?;
            let summary = runtime()?.block_on(harness::run::run(config))?;
            match &summary.results {
                Some(r) => {
                    print!("{}", analysis::summary(r));
                    println!("results: {}", summary.dir.results().display());
                    let report = summary.dir.report();
                    if report.is_file() {
                        println!("report: {}", report.display());
                    }
                    println!("reproduce with: {}", summary.reproduce);
                    println!("replay with: {}", harness::config::replay_command(summary.dir.path()));
                    Ok(r.verdict.exit_code())
                }
                None => {
                    println!(
                        "not checked; check later with: faultline check {}",
                        summary.dir.path().display()
                    );
                    Ok(0)
                }
            }
        }
        Command::Check(args) => harness::check::run(&args),
        Command::Matrix(args) => harness::matrix::main(args),
        Command::Explore(args) => harness::explore::main(args),
        Command::Repro(args) => harness::repro::main(args),
        Command::Shrink(args) => harness::shrink::main(args),
        Command::Report(args) => harness::report::main(args),
        Command::Campaign(args) => harness::campaign::main(args),
        Command::Cleanup => {
            let dir = harness::state::state_dir();
            let report = harness::state::cleanup_leftovers(&dir)
                .with_context(|| format!("cleaning up the runs recorded in {}", dir.display()))?;
            println!(
                "faultline: cleaned {} crashed run(s), {} resource(s) removed{}",
                report.runs.len(),
                report.resources,
                if report.skipped_live.is_empty() {
                    String::new()
                } else {
                    format!("; {} live run(s) left alone", report.skipped_live.len())
                }
            );
            Ok(0)
        }
    }
}
