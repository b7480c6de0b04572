//! The `faultline` command line: clap structures, parsed raw, then validated into configs.
//!
//! Defaults are written once, here. Durations accept `500ms`, `10s`, `2m` and plain seconds.

use crate::cluster::{Backend, System};
use crate::etcd::EtcdOptions;
use crate::run::RunConfig;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;
use workloads::{NemesisSpec, Workload, WorkloadOptions};

/// Faultline: chaos tests for replicated systems, Jepsen-style.
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
    /// 150-300 ms elections, and take the register workload only.
    #[arg(long, value_enum, default_value_t = SystemKind::RaftNode)]
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
    #[arg(long, default_value_t = 5)]
    pub nodes: usize,
    /// Length of the run phase (e.g. 60s, 2m).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub time_limit: Duration,
    /// register or append.
    #[arg(long, default_value = "register")]
    pub workload: Workload,
    /// Faults: comma-separated partition, kill, pause, loss, latency, drop; or none. `drop` drops one
    /// kind of Raft message (appends or votes) on some links and delivers the rest (raft-node only;
    /// latency and drop put every peer link through the harness's proxy).
    #[arg(long, default_value = "partition,kill,pause")]
    pub nemesis: String,
    /// Time between a fault and its heal (and between a heal and the next fault).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub nemesis_interval: Duration,
    /// Client processes.
    #[arg(long, default_value_t = 10)]
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
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// Cluster backend (default: netns when root with iptables, loopback otherwise).
    #[arg(long, value_enum)]
    pub net: Option<Backend>,
    /// Per-operation client timeout.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub op_timeout: Duration,
    /// How long to wait for a leader at start and after recovery.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
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

/// `--system`'s values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SystemKind {
    RaftNode,
    Etcd,
}

/// Parses `500ms`, `10s`, `2m`, `1h` or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("{s:?} is not a duration like 500ms, 10s or 2m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        other => return Err(format!("{s:?}: unknown unit {other:?} (use ms, s, m or h)")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("{s:?} is not a non-negative duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `name` in a directory of `$PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// The raft-node binary next to the running executable (same target directory).
pub fn default_node_bin() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    // Test binaries live in target/<profile>/deps; the node binary one level up.
    [dir.join("raft-node"), dir.parent()?.join("raft-node")].into_iter().find(|p| p.is_file())
}

impl RunArgs {
    /// Validates the arguments into a run configuration.
    pub fn into_config(self) -> Result<RunConfig, String> {
        let kinds = NemesisSpec::parse_kinds(&self.nemesis).map_err(|e| format!("--nemesis: {e}"))?;
        if !kinds.is_empty() && self.nemesis_interval.is_zero() {
            return Err("--nemesis-interval must be positive".into());
        }
        let (system, node_bin, flag) = self.system_and_binary()?;
        if matches!(system, System::Etcd(_)) && kinds.contains(&workloads::FaultKind::Drop) {
            return Err("--nemesis drop: dropping one kind of Raft message reads raft-node's peer frames; \
                        etcd's peer traffic is HTTP (use partition, loss or latency)"
                .into());
        }
        let node_bin =
            std::fs::canonicalize(&node_bin).map_err(|e| format!("{flag} {}: {e}", node_bin.display()))?;
        let seed = self.seed.unwrap_or_else(|| {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            (t.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(40)) % 1_000_000_000
        });
        let net = self.net.unwrap_or_else(Backend::auto);
        let options = WorkloadOptions {
            ops_per_key: self.ops_per_key,
            active_keys: self.keys,
            ..WorkloadOptions::default()
        };
        options.validate().map_err(|e| e.to_string())?;
        Ok(RunConfig {
            nodes: self.nodes,
            system,
            time_limit: self.time_limit,
            workload: self.workload,
            workload_options: options,
            nemesis: NemesisSpec { kinds, interval: self.nemesis_interval.as_nanos() as u64 },
            concurrency: self.concurrency,
            rate: self.rate,
            seed,
            node_bin,
            node_args: self.node_args,
            store: self.store,
            net,
            op_timeout: self.op_timeout,
            recover_timeout: self.recover_timeout,
            record: true,
            check: !self.no_check,
            progress: true,
        })
    }
}

impl RunArgs {
    /// The system, its binary and the flag that named it; flags of the other system are errors.
    fn system_and_binary(&self) -> Result<(System, PathBuf, &'static str), String> {
        match self.system {
            SystemKind::RaftNode => {
                let etcd_only = [
                    (self.etcd_bin.is_some(), "--etcd-bin"),
                    (self.etcd_serializable_reads, "--etcd-serializable-reads"),
                    (self.etcd_pre_vote, "--etcd-pre-vote"),
                ];
                if let Some((_, flag)) = etcd_only.iter().find(|(set, _)| *set) {
                    return Err(format!("{flag} applies to --system etcd only"));
                }
                let bin = match &self.node_bin {
                    Some(p) => p.clone(),
                    None => default_node_bin().ok_or(
                        "no raft-node binary next to faultline; build it (cargo build -p node --bin raft-node) or pass --node-bin",
                    )?,
                };
                Ok((System::RaftNode, bin, "--node-bin"))
            }
            SystemKind::Etcd => {
                if self.node_bin.is_some() {
                    return Err(
                        "--node-bin names the raft-node binary; with --system etcd use --etcd-bin".into()
                    );
                }
                if let Some(a) = crate::run::planted_bug_arg(&self.node_args) {
                    return Err(format!("--node-arg={a}: planted bugs exist only in raft-node, not in etcd"));
                }
                let bin = match &self.etcd_bin {
                    Some(p) => p.clone(),
                    None => find_on_path("etcd").ok_or_else(|| {
                        format!(
                            "no etcd binary on PATH; install it with `{}` or pass --etcd-bin",
                            crate::etcd::INSTALL_HINT
                        )
                    })?,
                };
                let options = EtcdOptions {
                    serializable_reads: self.etcd_serializable_reads,
                    pre_vote: self.etcd_pre_vote,
                };
                Ok((System::Etcd(options), bin, "--etcd-bin"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_reject_junk() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("10 parsecs").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn run_flags_parse_into_a_config() {
        let bin = std::env::current_exe().unwrap();
        let cli = Cli::try_parse_from([
            "faultline",
            "run",
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
        let Command::Run(args) = cli.command else { panic!("not run") };
        let c = args.into_config().unwrap();
        assert_eq!(c.nodes, 3);
        assert_eq!(c.seed, 42);
        assert_eq!(c.node_args, vec!["--bug".to_string(), "stale-read".to_string()]);
        assert_eq!(c.nemesis.kinds.len(), 2);
        assert!(c.reproduce_command().contains("--seed 42"));
        assert!(c.reproduce_command().contains("--node-arg=--bug --node-arg=stale-read"));
    }

    fn parse_run(args: &[&str]) -> Result<RunConfig, String> {
        let mut argv = vec!["faultline", "run"];
        argv.extend(args);
        let Command::Run(args) = Cli::try_parse_from(argv).unwrap().command else { panic!("not run") };
        args.into_config()
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
        assert!(e.contains("--etcd-serializable-reads applies to --system etcd only"), "{e}");
        let e = parse_run(&["--node-bin", bin, "--etcd-bin", bin]).unwrap_err();
        assert!(e.contains("--etcd-bin"), "{e}");
        let e =
            parse_run(&["--system", "etcd", "--etcd-bin", bin, "--node-arg=--bug", "--node-arg=stale-read"])
                .unwrap_err();
        assert!(e.contains("planted bugs exist only in raft-node"), "{e}");
        let e = parse_run(&["--system", "etcd", "--node-bin", bin]).unwrap_err();
        assert!(e.contains("--etcd-bin"), "{e}");
        let e = parse_run(&["--system", "etcd", "--etcd-bin", bin, "--nemesis", "kill,drop"]).unwrap_err();
        assert!(e.contains("--nemesis drop") && e.contains("raft-node"), "{e}");
        let e = parse_run(&["--system", "etcd", "--etcd-bin", "/nonexistent/etcd"]).unwrap_err();
        assert!(e.contains("/nonexistent/etcd"), "{e}");
    }

    #[test]
    fn a_bad_nemesis_is_named() {
        let cli = Cli::try_parse_from([
            "faultline",
            "run",
            "--nemesis",
            "partition,meteor",
            "--node-bin",
            "/bin/sh",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else { panic!("not run") };
        assert!(args.into_config().unwrap_err().contains("meteor"));
    }
}
