//! The `faultline` command line: clap structures, parsed raw, then validated into configs.
//!
//! Defaults are the ones of [`crate::config::defaults`]; durations accept `500ms`, `10s`, `2m` and
//! plain seconds ([`crate::units`]). The subcommands' own argument structures live with them
//! (`check`, `matrix`, `repro`, `shrink`, `report`, `campaign`); this module only names them.

use crate::cluster::Backend;
use crate::config::{ConfigError, RunConfig, Setting, defaults, split_command};
use crate::etcd::EtcdOptions;
use crate::system::{System, SystemKind};
use crate::systemfile::SystemFile;
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

// One value per process, parsed once: its size does not matter.
#[allow(clippy::large_enum_variant, reason = "one value per process")]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a test against a cluster (raft-node, etcd, a system file's, Maelstrom nodes), check it and
    /// store everything.
    Run(RunArgs),
    /// Remove what crashed runs left behind (namespaces, links, node processes).
    Cleanup,
    /// Check a history file (jsonl, Jepsen EDN, Porcupine logs) or re-check a stored run directory.
    Check(crate::check::CheckArgs),
    /// Planted-bug matrix: seeded runs of raft-node with each planted bug (and none), with the faults
    /// most likely to expose it; prints runs, detections, median time to detection and anomaly classes.
    Matrix(crate::matrix::MatrixArgs),
    /// Explore fault schedules within a budget: many short seeded runs with composed schedules; those
    /// that reach new behaviour (coverage of roles, terms, leader changes per fault, truncations,
    /// dropped messages) are kept and mutated; stops at the first invalid run and shrinks its
    /// schedule to the fewest faults that still reproduce it.
    Explore(crate::explore::ExploreArgs),
    /// Replay a stored run (same arguments, seed and fault schedule) N times and report how many
    /// replays show the same anomaly class; each replay is stored as a run of its own.
    Repro(crate::repro::ReproArgs),
    /// Shrink a stored invalid run's fault schedule to the fewest faults that still reproduce its
    /// anomaly in K of N replays (what `explore` does to its failures, for a run from `run`,
    /// `campaign` or `matrix`); stores shrunk.json with the run and shows it in its report.
    Shrink(crate::shrink::ShrinkArgs),
    /// Re-render report.html of a stored run directory from its files (every run writes one).
    Report(crate::report::ReportArgs),
    /// Run a campaign: a matrix of runs from a TOML file, one at a time within a time budget, with an
    /// index page comparing it with the earlier campaigns of the same name (`--help` shows the schema).
    Campaign(crate::campaign::CampaignArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The system under test: raft-node (this repository's), etcd (Debian's etcd 3.4, found on
    /// PATH; install with `apt-get install -y etcd-server etcd-client`) or maelstrom (nodes speaking
    /// Maelstrom's protocol on stdin/stdout: give --node-cmd). etcd nodes run with
    /// --heartbeat-interval 10 --election-timeout 150 (ms), matching raft-node's 10 ms ticks and
    /// 150-300 ms elections, and take the register, txn-append and txn-rw workloads; Maelstrom nodes
    /// take lin-kv (register) only.
    #[arg(long, value_enum, default_value_t = SystemKind::default())]
    pub system: SystemKind,
    /// A system described in a TOML file: its start command, readiness, roles and client (see
    /// README.md, "Testing your own system"). Instead of --system.
    #[arg(long, conflicts_with = "system")]
    pub system_file: Option<PathBuf>,
    /// maelstrom only: the node's command line, e.g. 'python3 lin_kv.py --bug stale-reads' (split
    /// like a shell would, without expansions; no shell runs it).
    #[arg(long)]
    pub node_cmd: Option<String>,
    /// maelstrom only: the body types message faults act on (comma-separated): `drop` drops one of
    /// them at a time, and loss, latency, duplicate and reorder touch only these (default: all).
    #[arg(long)]
    pub message_types: Option<String>,
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
    /// Nodes in the cluster [default: 5; with --hosts, one per host].
    #[arg(long)]
    pub nodes: Option<usize>,
    /// Length of the run phase (e.g. 60s, 2m).
    #[arg(long, default_value = defaults::TIME_LIMIT, value_parser = parse_duration)]
    pub time_limit: Duration,
    /// register, append, txn-append or txn-rw (transactions of appends and list reads, or of register
    /// writes and reads, checked for strict serializability by the transactional checker).
    #[arg(long, default_value = defaults::WORKLOAD)]
    pub workload: Workload,
    /// Faults. `composed` (the default): sequences of faults aimed by role (partition then kill the
    /// new leader, pause the leader then split its followers, restart a node alone, drop one kind of
    /// message, ...) spaced around the election timeout, of every kind the system supports among
    /// partition, kill, pause and drop, or of the kinds listed after it (`composed,partition,kill`).
    /// A list without `composed` (partition, kill, pause, loss, latency, drop, duplicate, reorder,
    /// power-loss, corrupt) alternates one drawn fault with a heal every --nemesis-interval; `none`
    /// for no faults. `drop` drops one kind of Raft message (appends or votes) on some links and
    /// delivers the rest (raft-node; latency and drop put every peer link through the harness's
    /// proxy), or one body type of --message-types (maelstrom); duplicate and reorder act on single
    /// messages (maelstrom). `power-loss` kills nodes and loses what they wrote but did not fsync
    /// (root and /dev/fuse: each data directory is mounted through the harness's lazyfs); `corrupt`
    /// stops one node or a minority, flips bits in, truncates or zeroes part of one data file, and
    /// restarts them.
    #[arg(long, default_value = defaults::NEMESIS)]
    pub nemesis: String,
    /// Alternating: time between a fault and its heal (and between a heal and the next fault).
    /// Composed: the longest hold or quiet time.
    #[arg(long, default_value = defaults::NEMESIS_INTERVAL, value_parser = parse_duration)]
    pub nemesis_interval: Duration,
    /// What one election takes, for spacing composed faults until the run has measured its own
    /// elections [default: the system's: raft-node's --election-ticks x --tick-ms, 150ms; etcd 150ms].
    #[arg(long, value_parser = parse_duration)]
    pub election_timeout: Option<Duration>,
    /// Client processes.
    #[arg(long, default_value_t = defaults::CONCURRENCY)]
    pub concurrency: usize,
    /// Operations per second over all clients (default: as fast as they go).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seed of every random choice (default: drawn from the clock and printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The raft-node binary (default: raft-node next to this executable); with --system-file, the
    /// program that replaces the first word of the file's node.command.
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
    /// Client slots that only read (the first N; the others draw reads, writes and cas). Readers
    /// keep asking every node while writers wait on a leader that cannot commit, which is when a
    /// deposed leader's stale reads show.
    #[arg(long, default_value_t = 0)]
    pub readers: usize,
    /// Do not run the checkers at the end (the run can be checked later with `faultline check`).
    #[arg(long)]
    pub no_check: bool,
    /// When a power loss keeps name changes (create, rename, unlink): `strict` (POSIX: once their
    /// directory is fsynced) or `ordered` (ext4 and xfs: once anything is fsynced).
    #[arg(long, value_enum, default_value = "strict")]
    pub lazyfs_metadata: crate::lazyfs::Metadata,
    /// Run on remote hosts over SSH, one node per host (comma-separated names or addresses, e.g.
    /// db1,db2,db3): the node binary is uploaded to each (or see --remote-node-bin), nodes are started,
    /// killed and paused there over ssh, partitions and loss are iptables rules in a chain of the run's
    /// own on each host, and the nodes' logs and data are copied into the run directory at the end.
    /// Needs `ssh` and `scp` here and, on every host, a user that may run `iptables` (root); every
    /// host is checked before the run and a bad one is named. Clients connect to <host>:8000, peers to
    /// <host>:7000. Faults: partition, loss, kill, pause.
    #[arg(long, value_delimiter = ',', conflicts_with = "net")]
    pub hosts: Vec<String>,
    /// --hosts: the user to log in as.
    #[arg(long, default_value = crate::ssh::defaults::USER)]
    pub ssh_user: String,
    /// --hosts: the private key to log in with (default: ssh's own, the agent or ~/.ssh/id_*).
    #[arg(long)]
    pub ssh_key: Option<PathBuf>,
    /// --hosts: the hosts' SSH port.
    #[arg(long, default_value_t = crate::ssh::defaults::PORT)]
    pub ssh_port: u16,
    /// --hosts: the directory on each host under which a run keeps its files
    /// (<remote-dir>/faultline-<run id>-<node>/, removed at the end).
    #[arg(long, default_value = crate::ssh::defaults::REMOTE_DIR)]
    pub remote_dir: String,
    /// --hosts: the node binary already on every host (absolute path), instead of uploading
    /// --node-bin.
    #[arg(long)]
    pub remote_node_bin: Option<String>,
}

impl RunArgs {
    /// Validates the arguments into a run configuration (through [`RunConfig::validate`], like every
    /// other way a run starts).
    pub fn into_config(self) -> Result<RunConfig, ConfigError> {
        let system = self.system()?;
        let mut c = RunConfig::new(system);
        c.nodes =
            self.nodes.unwrap_or(if self.hosts.is_empty() { defaults::NODES } else { self.hosts.len() });
        c.time_limit = self.time_limit;
        c.workload = self.workload;
        c.workload_options = WorkloadOptions {
            ops_per_key: self.ops_per_key,
            active_keys: self.keys,
            readers: self.readers,
            ..WorkloadOptions::default()
        };
        c.nemesis = NemesisSpec::parse(&self.nemesis, self.nemesis_interval.as_nanos() as u64)
            .map_err(|e| ConfigError { setting: Setting::Nemesis, message: e.to_string() })?;
        c.nemesis.message_types = self
            .message_types
            .iter()
            .flat_map(|t| t.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
        c.election_timeout = self.election_timeout;
        c.concurrency = self.concurrency;
        c.rate = self.rate;
        if let Some(seed) = self.seed {
            c.seed = seed;
        }
        if let Some(bin) = self.node_bin.or(self.etcd_bin) {
            c.node_bin = bin;
        }
        c.node_args = self.node_args;
        if let Some(line) = &self.node_cmd {
            let mut words =
                split_command(line).map_err(|e| ConfigError { setting: Setting::NodeCmd, message: e })?;
            if words.is_empty() {
                return Err(ConfigError { setting: Setting::NodeCmd, message: "is empty".into() });
            }
            let program = words.remove(0);
            c.node_bin = if program.contains('/') {
                PathBuf::from(&program)
            } else {
                crate::system::find_on_path(&program).ok_or_else(|| ConfigError {
                    setting: Setting::NodeCmd,
                    message: format!("{program:?} is not on PATH"),
                })?
            };
            words.extend(std::mem::take(&mut c.node_args));
            c.node_args = words;
        }
        c.store = self.store;
        if let Some(net) = self.net {
            if c.system.capabilities().message_network {
                return Err(ConfigError {
                    setting: Setting::System,
                    message: "--net: Maelstrom nodes talk over stdin and stdout through faultline, which is \
                              their whole network"
                        .into(),
                });
            }
            c.net = net;
        }
        c.lazyfs_metadata = self.lazyfs_metadata;
        if !self.hosts.is_empty() {
            c.net = Backend::Ssh;
            c.ssh = Some(crate::ssh::SshOptions {
                hosts: self.hosts.iter().map(|h| h.trim().to_string()).collect(),
                user: self.ssh_user,
                key: self.ssh_key,
                port: self.ssh_port,
                remote_dir: self.remote_dir,
                remote_bin: self.remote_node_bin,
            });
        } else {
            let given = [
                (self.ssh_key.is_some(), Setting::SshKey),
                (self.remote_node_bin.is_some(), Setting::RemoteNodeBin),
                (self.ssh_user != crate::ssh::defaults::USER, Setting::SshUser),
                (self.ssh_port != crate::ssh::defaults::PORT, Setting::SshPort),
                (self.remote_dir != crate::ssh::defaults::REMOTE_DIR, Setting::RemoteDir),
            ];
            if let Some((_, setting)) = given.iter().find(|(set, _)| *set) {
                return Err(ConfigError { setting: *setting, message: "applies with --hosts only".into() });
            }
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
        let only = |set: bool, flag: &str, system: &str| {
            if set { Err(wrong(flag, format!("applies to {system} only"))) } else { Ok(()) }
        };
        if self.system != SystemKind::Maelstrom {
            only(self.node_cmd.is_some(), "--node-cmd", "--system maelstrom")?;
            only(self.message_types.is_some(), "--message-types", "--system maelstrom")?;
        }
        if let Some(path) = &self.system_file {
            only(self.etcd_bin.is_some(), "--etcd-bin", "--system etcd (a system file names its program)")?;
            only(
                self.etcd_serializable_reads,
                "--etcd-serializable-reads",
                "--system etcd (an etcd-v3 system file says serializable_reads = true)",
            )?;
            only(self.etcd_pre_vote, "--etcd-pre-vote", "--system etcd")?;
            let file = SystemFile::load(path)
                .map_err(|e| ConfigError { setting: Setting::SystemFile, message: e.to_string() })?;
            return Ok(System::described(file));
        }
        match self.system {
            SystemKind::File => Err(wrong("--system", "give the file with --system-file PATH".into())),
            SystemKind::Maelstrom => {
                only(
                    self.etcd_bin.is_some() || self.etcd_serializable_reads || self.etcd_pre_vote,
                    "--etcd-*",
                    "--system etcd",
                )?;
                if self.node_bin.is_some() {
                    return Err(wrong(
                        "--node-bin",
                        "with --system maelstrom give the whole command with --node-cmd".into(),
                    ));
                }
                if self.node_cmd.is_none() {
                    return Err(ConfigError {
                        setting: Setting::NodeCmd,
                        message: "--system maelstrom needs the node's command line, e.g. --node-cmd 'python3 node.py'".into(),
                    });
                }
                Ok(System::Maelstrom)
            }
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
        assert!(parse_run(&["--system", "etcd", "--node-cmd", "x"]).unwrap_err().contains("--node-cmd"));
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
            "--readers",
            "3",
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
    fn hosts_make_an_ssh_run_that_round_trips_through_its_reproduce_command_and_test_json() {
        let bin = std::env::current_exe().unwrap();
        let key = bin.to_str().unwrap();
        let c = parse_run(&[
            "--hosts",
            "10.0.0.1,db2,db3",
            "--ssh-user",
            "admin",
            "--ssh-key",
            key,
            "--ssh-port",
            "2222",
            "--remote-dir",
            "/var/tmp",
            "--nemesis",
            "partition,kill,pause,loss",
            "--seed",
            "5",
            "--node-bin",
            key,
        ])
        .unwrap();
        assert_eq!(c.net, Backend::Ssh);
        assert_eq!(c.nodes, 3, "one node per host");
        let ssh = c.ssh.clone().unwrap();
        assert_eq!((ssh.user.as_str(), ssh.port, ssh.remote_dir.as_str()), ("admin", 2222, "/var/tmp"));
        let cmd = c.reproduce_command();
        assert!(cmd.contains("--hosts 10.0.0.1,db2,db3 --ssh-user admin --ssh-port 2222"), "{cmd}");
        assert!(!cmd.contains("--net"), "{cmd}");
        let words: Vec<&str> = cmd.split(' ').skip(2).collect();
        assert_eq!(parse_run(&words).unwrap(), c, "{cmd}");
        let spec = c.test_spec(Vec::new(), Vec::new(), cmd.clone(), "2026-12-03T00:00:00Z".into());
        let back: crate::store::TestSpec =
            serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
        let replay = RunConfig::from_spec(&back, c.store.clone()).unwrap();
        assert_eq!(replay, RunConfig { progress: false, ..c });
    }

    #[test]
    fn bad_host_settings_are_named() {
        let bin = std::env::current_exe().unwrap();
        let bin = bin.to_str().unwrap();
        let cases: [(&[&str], &str); 9] = [
            (&["--hosts", "a,b,a"], "--hosts: a is named twice"),
            (&["--hosts", "root@a,b"], "--hosts: \"root@a\" is not a host name"),
            (
                &["--hosts", "a,b,c", "--nodes", "5"],
                "--nodes: one node runs on each host: 3 hosts, but 5 nodes",
            ),
            (
                &["--hosts", "a,b,c", "--nemesis", "partition,latency"],
                "--nemesis: latency is not available on remote hosts",
            ),
            (
                &["--hosts", "a,b,c", "--nemesis", "corrupt"],
                "--nemesis: corrupt is not available on remote hosts",
            ),
            (&["--hosts", "a,b,c", "--remote-dir", "tmp"], "--remote-dir: must be an absolute path"),
            (
                &["--hosts", "a,b,c", "--ssh-key", "/nonexistent/key"],
                "--ssh-key: /nonexistent/key is not a file",
            ),
            (&["--hosts", "a,b,c", "--ssh-port", "0"], "--ssh-port: must be 1 to 65535"),
            (&["--ssh-user", "admin"], "--ssh-user: applies with --hosts only"),
        ];
        for (flags, expected) in cases {
            let mut args = vec!["--node-bin", bin];
            args.extend_from_slice(flags);
            let e = parse_run(&args).unwrap_err();
            assert!(e.contains(expected), "{flags:?}: {e}");
        }
        let e = parse_run(&["--node-bin", bin, "--hosts", "a,b,c", "--net", "loopback"]).unwrap_err();
        assert!(e.contains("--net") && e.contains("--hosts"), "{e}");
        // A binary already on the hosts needs none here.
        let c = parse_run(&["--hosts", "a,b,c", "--remote-node-bin", "/usr/local/bin/raft-node"]).unwrap();
        assert!(c.reproduce_command().contains("--remote-node-bin /usr/local/bin/raft-node"));
        let e = parse_run(&["--hosts", "a,b,c", "--remote-node-bin", "raft-node"]).unwrap_err();
        assert!(e.contains("--remote-node-bin: must be an absolute path"), "{e}");
        use clap::CommandFactory;
        let cli = Cli::command();
        let run = cli.find_subcommand("run").expect("run exists");
        let longs: Vec<String> =
            run.get_arguments().filter_map(|a| a.get_long()).map(|l| format!("--{l}")).collect();
        for s in [
            Setting::Hosts,
            Setting::SshUser,
            Setting::SshKey,
            Setting::SshPort,
            Setting::RemoteDir,
            Setting::RemoteNodeBin,
        ] {
            assert!(longs.contains(&s.flag().to_string()), "{} is not a flag of run", s.flag());
        }
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

    #[test]
    fn maelstrom_takes_a_node_command_and_message_types() {
        let c = parse_run(&[
            "--system",
            "maelstrom",
            "--node-cmd",
            "sh -c 'exit 0' extra",
            "--node-arg=more",
            "--nemesis",
            "drop,duplicate,reorder,kill",
            "--message-types",
            "replicate, forward",
        ])
        .unwrap();
        assert_eq!(c.system, System::Maelstrom);
        assert!(c.node_bin.is_absolute() && c.node_bin.is_file(), "{c:?}");
        assert_eq!(c.node_args, ["-c", "exit 0", "extra", "more"]);
        assert_eq!(c.nemesis.message_types, ["replicate", "forward"]);
        assert_eq!(c.net, Backend::Stdio);
        // The reproduce command gives the whole command back in one flag.
        let cmd = c.reproduce_command();
        let start = cmd.find("--node-cmd ").unwrap() + "--node-cmd ".len();
        let quoted = split_command(&cmd[start..]).unwrap();
        let words = split_command(&quoted[0]).unwrap();
        assert_eq!(&words[1..], ["-c", "exit 0", "extra", "more"]);
        let e = parse_run(&["--system", "maelstrom"]).unwrap_err();
        assert!(e.contains("--node-cmd"), "{e}");
        let e = parse_run(&["--system", "maelstrom", "--node-cmd", "sh", "--net", "loopback"]).unwrap_err();
        assert!(e.contains("--net"), "{e}");
        let e = parse_run(&["--system", "maelstrom", "--node-cmd", "no-such-program-here"]).unwrap_err();
        assert!(e.contains("no-such-program-here"), "{e}");
    }

    #[test]
    fn a_system_file_is_read_and_its_errors_name_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.toml");
        std::fs::write(
            &path,
            "name = \"db\"\n[node]\ncommand = [\"sh\", \"-c\", \"sleep 1\"]\n[client]\nkind = \"http-kv\"\n",
        )
        .unwrap();
        let c = parse_run(&["--system-file", path.to_str().unwrap(), "--net", "loopback"]).unwrap();
        assert_eq!(c.system.name(), "db");
        assert!(c.node_bin.is_absolute() && c.node_bin.is_file());
        assert!(c.reproduce_command().contains("--system-file "), "{}", c.reproduce_command());
        assert!(c.test_name().starts_with("db-register-"));
        std::fs::write(&path, "[node]\ncommand = [\"sh\"]\nport = 3\n[client]\nkind = \"http-kv\"\n")
            .unwrap();
        let e = parse_run(&["--system-file", path.to_str().unwrap()]).unwrap_err();
        assert!(e.starts_with("--system-file: ") && e.contains("db.toml:3: node.port"), "{e}");
        let e = parse_run(&["--system-file", path.to_str().unwrap(), "--system", "etcd"]).unwrap_err();
        assert!(e.contains("--system"), "{e}");
    }
}
