//! harness-bench: how many operations per second `faultline` drives and records against raft-node.
//!
//! Runs a fault-free cluster with 64 client processes (the register workload, no rate limit) once
//! with the history recorder writing `history.jsonl` line by line, once with recording switched off,
//! and (as root with /dev/fuse) once with every node's data directory mounted through lazyfs, the
//! FUSE filesystem of the power-loss fault; and prints two tables: the overhead of recording, and
//! raft-node's throughput with and without the filesystem layer. The runs are interleaved `--rounds`
//! times so machine noise hits all alike; compare the ratios, not the absolute figures, on a shared
//! machine.
//!
//! `cargo run --release -p bench --bin harness-bench -- [--seconds 10] [--nodes 3] [--rounds 2]`
//! (build raft-node in the same profile first: `cargo build --release -p node --bin raft-node`).

use anyhow::{Context, bail};
use clap::Parser;
use harness::cluster::Backend;
use harness::config::RunConfig;
use harness::run::run;
use harness::system::System;
use std::time::Duration;
use workloads::NemesisSpec;

#[derive(Debug, Parser)]
struct Args {
    /// Length of each measured run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Pairs of (recorded, unrecorded) runs.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// raft-node binary (default: next to this benchmark).
    #[arg(long)]
    node_bin: Option<std::path::PathBuf>,
    /// Cluster backend (default: netns as root with iptables, loopback otherwise).
    #[arg(long, value_enum)]
    net: Option<Backend>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let node_bin = match args.node_bin.clone().or_else(|| System::RaftNode.default_binary()) {
        Some(p) => p,
        None => bail!(
            "no raft-node next to this benchmark; build it with `cargo build --release -p node --bin raft-node`"
        ),
    };
    let store = tempfile::tempdir().context("temporary store")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let net = args.net.unwrap_or_else(Backend::auto);
    let lazyfs = harness::lazyfs::unavailable();
    // (recorded, through lazyfs)
    let mut modes = vec![(true, false), (false, false)];
    if lazyfs.is_none() {
        modes.push((true, true));
    }
    let mut rows: Vec<((bool, bool), u64, f64)> = Vec::new();
    for round in 0..args.rounds {
        for &(record, through_lazyfs) in &modes {
            let mut config = RunConfig::new(System::RaftNode);
            config.nodes = args.nodes;
            config.time_limit = Duration::from_secs(args.seconds);
            config.nemesis =
                NemesisSpec { kinds: Vec::new(), interval: 0, message_types: Vec::new(), composed: false };
            config.concurrency = args.concurrency;
            config.seed = 1 + round as u64;
            config.node_bin = node_bin.clone();
            config.store = store.path().to_path_buf();
            config.net = net;
            config.record = record;
            config.lazyfs = through_lazyfs;
            config.check = false;
            config.progress = false;
            let summary = runtime.block_on(run(config)).context("benchmark run")?;
            let (ok, fail, info) = summary.counts;
            // Count the run phase only (final reads are a fixed, small tail).
            let secs = summary.run_phase.as_secs_f64().max(1e-9);
            eprintln!(
                "round {round} record={record} lazyfs={through_lazyfs}: {} ops ({ok} ok, {fail} fail, {info} info) in {secs:.1}s",
                ok + fail + info
            );
            rows.push(((record, through_lazyfs), ok + fail + info, secs));
        }
    }
    let rate = |mode: (bool, bool)| {
        let (ops, secs) =
            rows.iter().filter(|r| r.0 == mode).fold((0u64, 0f64), |a, r| (a.0 + r.1, a.1 + r.2));
        (ops, secs, ops as f64 / secs.max(1e-9))
    };
    let (rec_ops, rec_secs, rec_rate) = rate((true, false));
    let (raw_ops, raw_secs, raw_rate) = rate((false, false));
    println!(
        "harness throughput: {} nodes ({}), {} processes, register workload, no faults, {} round(s) of {}s",
        args.nodes,
        net.name(),
        args.concurrency,
        args.rounds,
        args.seconds
    );
    println!("{:<22} {:>10} {:>10} {:>12}", "mode", "ops", "seconds", "ops/s");
    println!("{:<22} {:>10} {:>10.1} {:>12.0}", "history recorded", rec_ops, rec_secs, rec_rate);
    println!("{:<22} {:>10} {:>10.1} {:>12.0}", "recording off", raw_ops, raw_secs, raw_rate);
    let overhead = if raw_rate > 0.0 { (raw_rate - rec_rate) / raw_rate * 100.0 } else { 0.0 };
    println!("{:<22} {:>34.1}%", "recording overhead", overhead);
    println!();
    match lazyfs {
        Some(reason) => println!("filesystem layer: not measured: lazyfs cannot mount here: {reason}"),
        None => {
            let (fs_ops, fs_secs, fs_rate) = rate((true, true));
            println!(
                "filesystem layer: raft-node's data directories plain vs through lazyfs (history recorded)"
            );
            println!(
                "{:<22} {:>10} {:>10} {:>12} {:>10}",
                "data directory", "ops", "seconds", "ops/s", "ratio"
            );
            println!("{:<22} {:>10} {:>10.1} {:>12.0} {:>10.2}", "plain", rec_ops, rec_secs, rec_rate, 1.0);
            let ratio = if rec_rate > 0.0 { fs_rate / rec_rate } else { 0.0 };
            println!(
                "{:<22} {:>10} {:>10.1} {:>12.0} {:>10.2}",
                "lazyfs (FUSE)", fs_ops, fs_secs, fs_rate, ratio
            );
        }
    }
    Ok(())
}
