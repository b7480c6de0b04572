//! The `faultline` binary: parse, run, print once, exit with a documented code
//! (0 valid, 1 invalid, 2 unknown, 3 harness error or bad input).

use anyhow::Context;
use clap::Parser;
use harness::analysis;
use harness::cli::{Cli, Command};

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FAULTLINE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let code = match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("faultline: error: {e:#}");
            3
        }
    };
    std::process::exit(code);
}

fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Run(args) => {
            let config = args.into_config().map_err(anyhow::Error::msg)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let summary = runtime.block_on(harness::run::run(config))?;
            match &summary.results {
                Some(r) => {
                    print!("{}", analysis::summary(r));
                    println!("results: {}", summary.dir.join("results.json").display());
                    let report = summary.dir.join("report.html");
                    if report.is_file() {
                        println!("report: {}", report.display());
                    }
                    println!("replay with: {}", harness::repro::command(&summary.dir));
                    Ok(r.verdict.exit_code())
                }
                None => {
                    println!("not checked; check later with: faultline check {}", summary.dir.display());
                    Ok(0)
                }
            }
        }
        Command::Check(args) => harness::check::run(&args),
        Command::Matrix(args) => harness::matrix::main(args),
        Command::Repro(args) => harness::repro::main(args),
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
