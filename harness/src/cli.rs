//! The `faultline` command line: clap structures, parsed raw, then validated into configs.
//!
//! Defaults are the ones of [`crate::config::defaults`]; durations accept `500ms`, `10s`, `2m` and
//! plain seconds ([`crate::units`]). The subcommands' own argument structures live with them
//! (`check`, `matrix`, `repro`, `report`, `campaign`); this module only names them.

use crate::cluster::Backend;
use crate::config::{ConfigError, RunConfig, Setting, defaults};
use crate::etcd::EtcdOptions;
use crate::system::{System, SystemKind};
use crate::units::parse_duration;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;
use workloads::{NemesisSpec, Workload, WorkloadOptions};

/// Faultline: chaos tests for replicated systems, Jepsen-style.
///
/// Exit codes: 0 valid, 1 invalid, 2 unknown, 3 harness error or bad input (a bad flag too).
#[derive(Debug, Parser)]
#[command(name = "faultline", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a test against a raft-node (or etcd) cluster, check it and store everything.
    Run(RunArgs),
    /// Remove what crashed runs left behind (namespaces, links, node processes).
    Cleanup,
    /// Check a history file (jsonl, Jepsen EDN, Porcupine logs) or re-check a stored run directory.
    Check(crate::check::CheckArgs),
    /// Planted-bug matrix: seeded runs of raft-node with each planted bug (and none), with the faults
    /// most likely to expose it; prints runs, detections, median time to detection and anomaly classes.
    Matrix(crate::matrix::MatrixArgs),
    /// Replay a stored run (same arguments, seed and fault schedule) N times and report how many
    /// replays show the same anomaly class; each replay is stored as a run of its own.
    Repro(crate::repro::ReproArgs),
    /// Re-render report.html of a stored run directory from its files (every run writes one).
    Report(crate::report::ReportArgs),
    /// Run a campaign: a matrix of runs from a TOML file, one at a time within a time budget, with an
    /// index page comparing it with the earlier campaigns of the same name (`--help` shows the schema).
    Campaign(crate::campaign::CampaignArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The system under test: raft-node (this repository's) or etcd (Debian's etcd 3.4, found on
    /// PATH; install with `apt-get install -y etcd-server etcd-client`). etcd nodes run with
    /// --heartbeat-interval 10 --election-timeout 150 (ms), matching raft-node's 10 ms ticks and
    /// 150-300 ms elections, and take the register, txn-append and txn-rw workloads.
    #[arg(long, value_enum, default_value_t = SystemKind::default())]
    pub system: SystemKind,
    /// etcd only: the etcd binary (default: `etcd` on PATH).
    #[arg(long)]
    pub etcd_bin: Option<PathBuf>,
    /// etcd only: reads are serializable ranges, answered by the local member without a quorum round.
    /// Known to return stale values under partition; Faultline reports such runs invalid.
    #[arg(long)]
    pub etcd_serializable_reads: bool,
    /// etcd only: start the members with etcd's --pre-vote.
    #[arg(long)]
    pub etcd_pre_vote: bool,
    /// Nodes in the cluster.
    #[arg(long, default_value_t = defaults::NODES)]
    pub nodes: usize,
    /// Length of the run phase (e.g. 60s, 2m).
    #[arg(long, default_value = defaults::TIME_LIMIT, value_parser = parse_duration)]
    pub time_limit: Duration,
    /// register, append, txn-append or txn-rw (transactions of appends and list reads, or of register
    /// writes and reads, checked for strict serializability by the transactional checker).
    #[arg(long, default_value = defaults::WORKLOAD)]
    pub workload: Workload,
    /// Faults: comma-separated partition, kill, pause, loss, latency, drop; or none. `drop` drops one
    /// kind of Raft message (appends or votes) on some links and delivers the rest (raft-node only;
    /// latency and drop put every peer link through the harness's proxy).
    #[arg(long, default_value = defaults::NEMESIS)]
    pub nemesis: String,
    /// Time between a fault and its heal (and between a heal and the next fault).
    #[arg(long, default_value = defaults::NEMESIS_INTERVAL, value_parser = parse_duration)]
    pub nemesis_interval: Duration,
    /// Client processes.
    #[arg(long, default_value_t = defaults::CONCURRENCY)]
    pub concurrency: usize,
    /// Operations per second over all clients (default: as fast as they go).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seed of every random choice (default: drawn from the clock and printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The raft-node binary (default: raft-node next to this executable).
    #[arg(long)]
    pub node_bin: Option<PathBuf>,
    /// An extra argument for every node (repeatable), e.g. --node-arg=--bug --node-arg=stale-read.
    #[arg(long = "node-arg", allow_hyphen_values = true)]
    pub node_args: Vec<String>,
    /// Store directory.
    #[arg(long, default_value = defaults::STORE)]
    pub store: PathBuf,
    /// Cluster backend (default: netns when root with iptables, loopback otherwise).
    #[arg(long, value_enum)]
    pub net: Option<Backend>,
    /// Per-operation client timeout.
    #[arg(long, default_value = defaults::OP_TIMEOUT, value_parser = parse_duration)]
    pub op_timeout: Duration,
    /// How long to wait for a leader at start and after recovery.
    #[arg(long, default_value = defaults::RECOVER_TIMEOUT, value_parser = parse_duration)]
    pub recover_timeout: Duration,
    /// Operations per key before the workload moves to a fresh key.
    #[arg(long, default_value_t = WorkloadOptions::default().ops_per_key)]
    pub ops_per_key: usize,
    /// Keys in use at a time.
    #[arg(long, default_value_t = WorkloadOptions::default().active_keys)]
    pub keys: usize,
    /// Do not run the checkers at the end (the run can be checked later with `faultline check`).
    #[arg(long)]
    pub no_check: bool,
}

impl RunArgs {
    /// Validates the arguments into a run configuration (through [`RunConfig::validate`], like every
    /// other way a run starts).
    pub fn into_config(self) -> Result<RunConfig, ConfigError> {
        let system = self.system()?;
        let mut c = RunConfig::new(system);
        c.nodes = self.nodes;
        c.time_limit = self.time_limit;
        c.workload = self.workload;
        c.workload_options = WorkloadOptions {
            ops_per_key: self.ops_per_key,
            active_keys: self.keys,
            ..WorkloadOptions::default()
        };
        c.nemesis = NemesisSpec {
            kinds: NemesisSpec::parse_kinds(&self.nemesis)
                .map_err(|e| ConfigError { setting: Setting::Nemesis, message: e.to_string() })?,
            interval: self.nemesis_interval.as_nanos() as u64,
        };
        c.concurrency = self.concurrency;
        c.rate = self.rate;
        if let Some(seed) = self.seed {
            c.seed = seed;
        }
        if let Some(bin) = self.node_bin.or(self.etcd_bin) {
            c.node_bin = bin;
        }
        c.node_args = self.node_args;
        c.store = self.store;
        if let Some(net) = self.net {
            c.net = net;
        }
        c.op_timeout = self.op_timeout;
        c.recover_timeout = self.recover_timeout;
        c.check = !self.no_check;
        c.validate()
    }

    /// The system and its options; flags of the other system are errors.
    fn system(&self) -> Result<System, ConfigError> {
        let wrong = |flag: &str, message: String| ConfigError {
            setting: Setting::System,
            message: format!("{flag}: {message}"),
        };
        match self.system {
            SystemKind::RaftNode => {
                let etcd_only = [
                    (self.etcd_bin.is_some(), "--etcd-bin"),
                    (self.etcd_serializable_reads, "--etcd-serializable-reads"),
                    (self.etcd_pre_vote, "--etcd-pre-vote"),
                ];
                if let Some((_, flag)) = etcd_only.iter().find(|(set, _)| *set) {
                    return Err(wrong(flag, "applies to --system etcd only".into()));
                }
                Ok(System::RaftNode)
            }
            SystemKind::Etcd => {
                if self.node_bin.is_some() {
                    return Err(wrong(
                        "--node-bin",
                        "names the raft-node binary; with --system etcd use --etcd-bin".into(),
                    ));
                }
                Ok(System::Etcd(EtcdOptions {
                    serializable_reads: self.etcd_serializable_reads,
                    pre_vote: self.etcd_pre_vote,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_run(args: &[&str]) -> Result<RunConfig, String> {
        let mut argv = vec!["faultline", "run"];
        argv.extend(args);
        let Command::Run(args) = Cli::try_parse_from(argv).map_err(|e| e.to_string())?.command else {
            panic!("not run")
        };
        args.into_config().map_err(|e| e.to_string())
    }

    #[test]
    fn run_flags_parse_into_a_config() {
        let bin = std::env::current_exe().unwrap();
        let c = parse_run(&[
            "--nodes",
            "3",
            "--nemesis",
            "partition,pause",
            "--seed",
            "42",
            "--node-bin",
            bin.to_str().unwrap(),
            "--node-arg=--bug",
            "--node-arg",
            "stale-read",
            "--net",
            "loopback",
        ])
        .unwrap();
        assert_eq!(c.nodes, 3);
        assert_eq!(c.seed, 42);
        assert_eq!(c.node_args, vec!["--bug".to_string(), "stale-read".to_string()]);
        assert_eq!(c.nemesis.kinds.len(), 2);
        assert!(c.reproduce_command().contains("--seed 42"));
        assert!(c.reproduce_command().contains("--node-arg=--bug --node-arg=stale-read"));
    }

    /// The flags' defaults are [`RunConfig::new`]'s: one set of defaults for every door.
    #[test]
    fn flag_defaults_are_the_configs_defaults() {
        let bin = std::env::current_exe().unwrap();
        let mut from_flags = parse_run(&["--node-bin", bin.to_str().unwrap(), "--seed", "1"]).unwrap();
        let mut direct = RunConfig::new(System::RaftNode);
        direct.node_bin = bin;
        direct.seed = 1;
        let direct = direct.validate().unwrap();
        from_flags.net = direct.net;
        assert_eq!(from_flags, direct);
    }

    #[test]
    fn etcd_flags_select_etcd_and_show_in_the_reproduce_command() {
        let bin = std::env::current_exe().unwrap();
        let c = parse_run(&[
            "--system",
            "etcd",
            "--etcd-bin",
            bin.to_str().unwrap(),
            "--etcd-serializable-reads",
            "--etcd-pre-vote",
            "--net",
            "netns",
        ])
        .unwrap();
        assert_eq!(c.system, System::Etcd(EtcdOptions { serializable_reads: true, pre_vote: true }));
        let cmd = c.reproduce_command();
        assert!(cmd.contains("--system etcd --etcd-serializable-reads --etcd-pre-vote"), "{cmd}");
        assert!(cmd.contains("--etcd-bin "), "{cmd}");
        assert!(!cmd.contains("--node-bin"), "{cmd}");
        assert!(c.test_name().starts_with("etcd-register-"));
    }

    #[test]
    fn flags_of_the_other_system_are_rejected() {
        let bin = std::env::current_exe().unwrap();
        let bin = bin.to_str().unwrap();
        let e = parse_run(&["--node-bin", bin, "--etcd-serializable-reads"]).unwrap_err();
        assert!(e.contains("--etcd-serializable-reads: applies to --system etcd only"), "{e}");
        let e = parse_run(&["--node-bin", bin, "--etcd-bin", bin]).unwrap_err();
        assert!(e.contains("--etcd-bin"), "{e}");
        let e =
            parse_run(&["--system", "etcd", "--etcd-bin", bin, "--node-arg=--bug", "--node-arg=stale-read"])
                .unwrap_err();
        assert!(e.contains("planted bugs (--bug) exist only in raft-node"), "{e}");
        let e = parse_run(&["--system", "etcd", "--node-bin", bin]).unwrap_err();
        assert!(e.contains("--etcd-bin"), "{e}");
        let e = parse_run(&["--system", "etcd", "--etcd-bin", bin, "--nemesis", "kill,drop"]).unwrap_err();
        assert!(e.contains("--nemesis: drop") && e.contains("raft-node"), "{e}");
        let e = parse_run(&["--system", "etcd", "--etcd-bin", "/nonexistent/etcd"]).unwrap_err();
        assert!(e.contains("/nonexistent/etcd"), "{e}");
    }

    /// Errors and reproduce commands name settings by these flags: each must be one of `run`'s.
    #[test]
    fn every_setting_names_a_flag_of_run() {
        use clap::CommandFactory;
        let cli = Cli::command();
        let run = cli.find_subcommand("run").expect("run exists");
        let longs: Vec<String> =
            run.get_arguments().filter_map(|a| a.get_long()).map(|l| format!("--{l}")).collect();
        for s in Setting::ALL {
            assert!(longs.contains(&s.flag().to_string()), "{} is not a flag of run: {longs:?}", s.flag());
        }
    }

    #[test]
    fn a_reproduce_command_parses_back_into_the_same_config() {
        let bin = std::env::current_exe().unwrap();
        let c = parse_run(&[
            "--nodes",
            "3",
            "--rate",
            "250",
            "--keys",
            "4",
            "--time-limit",
            "1500ms",
            "--seed",
            "9",
            "--node-arg=--bug",
            "--node-arg=stale-read",
            "--net",
            "loopback",
            "--node-bin",
            bin.to_str().unwrap(),
        ])
        .unwrap();
        let cmd = c.reproduce_command();
        // Plain words only here, so splitting on spaces is the shell's reading.
        let words: Vec<&str> = cmd.split(' ').skip(2).collect();
        assert_eq!(parse_run(&words).unwrap(), c, "{cmd}");
    }

    #[test]
    fn a_bad_nemesis_is_named() {
        let e = parse_run(&["--nemesis", "partition,meteor", "--node-bin", "/bin/sh"]).unwrap_err();
        assert!(e.contains("--nemesis") && e.contains("meteor"), "{e}");
    }

    #[test]
    fn a_duration_too_long_to_wait_for_is_a_usage_error() {
        let e = parse_run(&["--time-limit", "99999999999999999999s"]).unwrap_err();
        assert!(e.contains("--time-limit"), "{e}");
    }
}
