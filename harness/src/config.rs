//! The one run configuration: what a run needs, its defaults (written once, in [`defaults`]), its
//! validation ([`RunConfig::validate`]), its record in `test.json` ([`RunConfig::test_spec`] and
//! [`RunConfig::from_spec`]) and the command that reproduces it ([`RunConfig::reproduce_command`]).
//!
//! Every way a run starts goes through here: `faultline run` fills a [`RunConfig`] from its flags,
//! the matrix from a scenario, `faultline repro` from a stored `test.json`, a campaign from a row of
//! its file. Each starts from [`RunConfig::new`] (the defaults), changes what it was told, and calls
//! [`RunConfig::validate`], so a setting is checked the same way whichever door it came in by, and an
//! error names the setting ([`Setting`]) so each door can say where it was written (a flag, or a
//! campaign file's line and field).

use crate::cluster::Backend;
use crate::raftnode;
use crate::ssh::SshOptions;
use crate::store::{SystemFileRecord, TestSpec};
use crate::system::System;
use crate::units::{format_duration, parse_duration};
use std::path::{Path, PathBuf};
use std::time::Duration;
use workloads::{FaultKind, NemesisSpec, Phase, ScheduledFault, Workload, WorkloadOptions};

/// The defaults of every run setting. The CLI shows these in `--help`; [`RunConfig::new`] starts
/// from them; campaign files fall back to them.
pub mod defaults {
    pub const NODES: usize = 5;
    pub const TIME_LIMIT: &str = "60s";
    pub const WORKLOAD: &str = "register";
    /// Composed sequences of every fault kind the system supports (`workloads::compose`); a list of
    /// kinds without `composed` asks for the alternating schedule of those kinds.
    pub const NEMESIS: &str = "composed";
    /// Alternating: time between a fault and its heal. Composed: the longest hold or quiet time
    /// (most are drawn around the election timeout).
    pub const NEMESIS_INTERVAL: &str = "10s";
    /// The fault kinds of `composed` alone, where the system supports them (drop and latency:
    /// where the harness's proxy reads the system's frames, raft-node).
    pub const COMPOSED_KINDS: [workloads::FaultKind; 5] = [
        workloads::FaultKind::Partition,
        workloads::FaultKind::Kill,
        workloads::FaultKind::Pause,
        workloads::FaultKind::Drop,
        workloads::FaultKind::Latency,
    ];
    pub const CONCURRENCY: usize = 10;
    pub const STORE: &str = "store";
    pub const OP_TIMEOUT: &str = "2s";
    pub const RECOVER_TIMEOUT: &str = "30s";
    /// Larger clusters take longer to start than a test is worth on one machine.
    pub const MAX_NODES: usize = 50;
}

/// Everything a run needs. Build it with [`RunConfig::new`], change fields, then [`validate`].
///
/// [`validate`]: RunConfig::validate
#[derive(Clone, Debug, PartialEq)]
pub struct RunConfig {
    pub nodes: usize,
    /// The system under test; its binary is `node_bin`.
    pub system: System,
    pub time_limit: Duration,
    pub workload: Workload,
    pub workload_options: WorkloadOptions,
    pub nemesis: NemesisSpec,
    /// What one election takes, for spacing composed faults before the run measured its own (None:
    /// the system's, from its node arguments: [`System::election_timeout`]).
    pub election_timeout: Option<Duration>,
    pub concurrency: usize,
    /// Operations per second over all clients; None: as fast as they go.
    pub rate: Option<f64>,
    pub seed: u64,
    /// The system's binary. Empty when the default could not be found ([`RunConfig::validate`] then
    /// says how to get one).
    pub node_bin: PathBuf,
    /// Extra arguments for every node.
    pub node_args: Vec<String>,
    pub store: PathBuf,
    pub net: Backend,
    pub op_timeout: Duration,
    pub recover_timeout: Duration,
    /// Write history.jsonl (off only in the recording-overhead benchmark).
    pub record: bool,
    /// Run the checkers at the end.
    pub check: bool,
    /// Show a progress bar / progress lines.
    pub progress: bool,
    /// Mount each node's data directory through lazyfs even without power-loss faults (the benchmark
    /// of the filesystem layer's cost; power-loss runs mount it anyway).
    pub lazyfs: bool,
    /// When lazyfs makes name changes durable (`--lazyfs-metadata`).
    pub lazyfs_metadata: crate::lazyfs::Metadata,
    /// Remote hosts, one node on each (`--hosts`; `net` is then [`Backend::Ssh`]).
    pub ssh: Option<SshOptions>,
}

/// A run setting, as each way of writing one names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    System,
    Nodes,
    TimeLimit,
    Workload,
    Nemesis,
    NemesisInterval,
    ElectionTimeout,
    Concurrency,
    Rate,
    NodeBin,
    NodeArgs,
    OpTimeout,
    RecoverTimeout,
    Keys,
    OpsPerKey,
    Readers,
    Store,
    SystemFile,
    NodeCmd,
    MessageTypes,
    Hosts,
    SshUser,
    SshKey,
    SshPort,
    RemoteDir,
    RemoteNodeBin,
}

impl Setting {
    pub const ALL: [Setting; 20] = [
        Setting::System,
        Setting::Nodes,
        Setting::TimeLimit,
        Setting::Workload,
        Setting::Nemesis,
        Setting::NemesisInterval,
        Setting::ElectionTimeout,
        Setting::Concurrency,
        Setting::Rate,
        Setting::NodeBin,
        Setting::NodeArgs,
        Setting::OpTimeout,
        Setting::RecoverTimeout,
        Setting::Keys,
        Setting::OpsPerKey,
        Setting::Readers,
        Setting::Store,
        Setting::SystemFile,
        Setting::NodeCmd,
        Setting::MessageTypes,
    ];

    /// The `faultline run` flag (a test checks each is one of its flags).
    pub fn flag(self) -> &'static str {
        match self {
            Setting::System => "--system",
            Setting::Nodes => "--nodes",
            Setting::TimeLimit => "--time-limit",
            Setting::Workload => "--workload",
            Setting::Nemesis => "--nemesis",
            Setting::NemesisInterval => "--nemesis-interval",
            Setting::ElectionTimeout => "--election-timeout",
            Setting::Concurrency => "--concurrency",
            Setting::Rate => "--rate",
            Setting::NodeBin => "--node-bin",
            Setting::NodeArgs => "--node-arg",
            Setting::OpTimeout => "--op-timeout",
            Setting::RecoverTimeout => "--recover-timeout",
            Setting::Keys => "--keys",
            Setting::OpsPerKey => "--ops-per-key",
            Setting::Readers => "--readers",
            Setting::Store => "--store",
            Setting::SystemFile => "--system-file",
            Setting::NodeCmd => "--node-cmd",
            Setting::MessageTypes => "--message-types",
            Setting::Hosts => "--hosts",
            Setting::SshUser => "--ssh-user",
            Setting::SshKey => "--ssh-key",
            Setting::SshPort => "--ssh-port",
            Setting::RemoteDir => "--remote-dir",
            Setting::RemoteNodeBin => "--remote-node-bin",
        }
    }

    /// The key of a campaign file (and of the plural axes of its matrix entries).
    pub fn key(self) -> &'static str {
        match self {
            Setting::System => "systems",
            Setting::Nodes => "nodes",
            Setting::TimeLimit => "time_limit",
            Setting::Workload => "workloads",
            Setting::Nemesis => "nemeses",
            Setting::NemesisInterval => "nemesis_interval",
            Setting::ElectionTimeout => "election_timeout",
            Setting::Concurrency => "concurrency",
            Setting::Rate => "rate",
            Setting::NodeBin => "node_bin",
            Setting::NodeArgs => "bugs",
            Setting::OpTimeout => "op_timeout",
            Setting::RecoverTimeout => "recover_timeout",
            Setting::Keys => "keys",
            Setting::OpsPerKey => "ops_per_key",
            Setting::Readers => "readers",
            Setting::Store => "store",
            Setting::SystemFile => "system_file",
            Setting::NodeCmd => "node_cmd",
            Setting::MessageTypes => "message_types",
            Setting::Hosts => "hosts",
            Setting::SshUser => "ssh_user",
            Setting::SshKey => "ssh_key",
            Setting::SshPort => "ssh_port",
            Setting::RemoteDir => "remote_dir",
            Setting::RemoteNodeBin => "remote_node_bin",
        }
    }
}

/// A setting that cannot run. The message says what is wrong and, where there is one, what to do.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}: {message}", setting.flag())]
pub struct ConfigError {
    pub setting: Setting,
    pub message: String,
}

fn invalid(setting: Setting, message: impl Into<String>) -> ConfigError {
    ConfigError { setting, message: message.into() }
}

/// A seed drawn from the clock and the process id (printed with every run so it can be replayed).
pub fn fresh_seed() -> u64 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (t.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(40)) % 1_000_000_000
}

fn default_duration(text: &str) -> Duration {
    parse_duration(text).expect("the defaults are valid durations")
}

impl RunConfig {
    /// The defaults for `system`: its binary where it is usually found, a fresh seed, the netns backend
    /// when root with `ip` and `iptables` (loopback otherwise).
    pub fn new(system: System) -> RunConfig {
        let net = if system.capabilities().message_network { Backend::Stdio } else { Backend::auto() };
        RunConfig {
            nodes: defaults::NODES,
            time_limit: default_duration(defaults::TIME_LIMIT),
            workload: defaults::WORKLOAD.parse().expect("the default workload exists"),
            workload_options: WorkloadOptions::default(),
            nemesis: NemesisSpec {
                message_types: Vec::new(),
                ..NemesisSpec::parse(
                    defaults::NEMESIS,
                    default_duration(defaults::NEMESIS_INTERVAL).as_nanos() as u64,
                )
                .expect("the default nemesis parses")
            },
            election_timeout: None,
            concurrency: defaults::CONCURRENCY,
            rate: None,
            seed: fresh_seed(),
            node_bin: system.default_binary().unwrap_or_default(),
            node_args: Vec::new(),
            store: PathBuf::from(defaults::STORE),
            net,
            system,
            op_timeout: default_duration(defaults::OP_TIMEOUT),
            recover_timeout: default_duration(defaults::RECOVER_TIMEOUT),
            record: true,
            check: true,
            progress: true,
            lazyfs: false,
            lazyfs_metadata: crate::lazyfs::Metadata::default(),
            ssh: None,
        }
    }

    /// Whether the nodes' data directories go through lazyfs: asked for, or needed by power-loss.
    pub fn lazyfs_mounted(&self) -> bool {
        self.lazyfs || self.nemesis.kinds.iter().any(|k| k.needs_lazyfs())
    }

    /// Checks every setting (and what the system supports), and makes the binary's path absolute so
    /// the reproduce command works from anywhere. Idempotent.
    pub fn validate(mut self) -> Result<RunConfig, ConfigError> {
        let c = &self;
        if !(1..=defaults::MAX_NODES).contains(&c.nodes) {
            return Err(invalid(
                Setting::Nodes,
                format!("a cluster has 1 to {} nodes, got {}", defaults::MAX_NODES, c.nodes),
            ));
        }
        if c.concurrency == 0 {
            return Err(invalid(Setting::Concurrency, "must be at least 1"));
        }
        if c.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
            return Err(invalid(Setting::Rate, format!("must be a positive number, got {:?}", c.rate)));
        }
        for (setting, d) in [
            (Setting::TimeLimit, c.time_limit),
            (Setting::OpTimeout, c.op_timeout),
            (Setting::RecoverTimeout, c.recover_timeout),
        ] {
            if d.is_zero() {
                return Err(invalid(setting, "must be positive"));
            }
        }
        if (c.nemesis.composed || !c.nemesis.kinds.is_empty()) && c.nemesis.interval == 0 {
            return Err(invalid(Setting::NemesisInterval, "must be positive"));
        }
        if c.election_timeout.is_some_and(|d| d.is_zero()) {
            return Err(invalid(Setting::ElectionTimeout, "must be positive"));
        }
        if c.workload_options.active_keys == 0 {
            return Err(invalid(Setting::Keys, "must be at least 1"));
        }
        if c.workload_options.ops_per_key == 0 {
            return Err(invalid(Setting::OpsPerKey, "must be at least 1"));
        }
        if c.workload_options.readers >= c.concurrency {
            return Err(invalid(
                Setting::Readers,
                format!(
                    "{} of {} client slots would only read: leave at least one that writes",
                    c.workload_options.readers, c.concurrency
                ),
            ));
        }
        c.workload_options.validate().map_err(|e| invalid(Setting::Workload, e.to_string()))?;
        c.system.check_workload(c.workload).map_err(|e| invalid(Setting::Workload, e))?;
        let capabilities = c.system.capabilities();
        if c.nemesis.composed && c.nemesis.kinds.is_empty() {
            self.nemesis.kinds = composed_kinds(&c.system, c.net);
        }
        let c = &self;
        if capabilities.message_network {
            if c.net != Backend::Stdio {
                return Err(invalid(
                    Setting::System,
                    "Maelstrom nodes talk over stdin and stdout through faultline, which is their whole \
                     network: --net does not apply",
                ));
            }
            if c.nemesis.kinds.contains(&FaultKind::Drop) && c.nemesis.message_types.is_empty() {
                return Err(invalid(
                    Setting::MessageTypes,
                    "drop on Maelstrom nodes drops one body type at a time: name the types to choose \
                     from, e.g. --message-types replicate,append_entries",
                ));
            }
        } else {
            if c.net == Backend::Stdio {
                return Err(invalid(
                    Setting::System,
                    format!("{} does not run on the message network", c.system.name()),
                ));
            }
            if let Some(kind) =
                c.nemesis.kinds.iter().find(|k| matches!(k, FaultKind::Duplicate | FaultKind::Reorder))
            {
                return Err(invalid(
                    Setting::Nemesis,
                    format!(
                        "{kind}: only a message network can {kind} single messages (Maelstrom nodes); \
                         {}'s peer traffic is TCP streams (use partition, loss or latency)",
                        c.system.name()
                    ),
                ));
            }
            if !c.nemesis.message_types.is_empty() {
                return Err(invalid(Setting::MessageTypes, "applies to --system maelstrom only"));
            }
            if c.nemesis.kinds.contains(&FaultKind::Drop) && !capabilities.message_drops {
                return Err(invalid(
                    Setting::Nemesis,
                    format!(
                        "drop: dropping one kind of Raft message reads raft-node's peer frames; {}'s peer \
                         traffic is not raft-node frames (use partition, loss or latency)",
                        c.system.name()
                    ),
                ));
            }
        }
        if c.lazyfs_mounted()
            && let Some(reason) = crate::lazyfs::unavailable()
        {
            let why = if c.nemesis.kinds.iter().any(|k| k.needs_lazyfs()) { "power-loss" } else { "lazyfs" };
            return Err(invalid(
                Setting::Nemesis,
                format!("{why}: cannot cut the power of a node here: {reason}"),
            ));
        }
        // A schedule that cannot be drawn for this cluster (partitions of one node) fails here.
        c.schedule().map_err(|e| invalid(Setting::Nemesis, e.to_string()))?;
        // Other systems' arguments are their own business (a Maelstrom node or a system file's program
        // may well have a --bug flag); etcd has none.
        let bugs = if capabilities.planted_bugs { raftnode::planted_bugs(&c.node_args) } else { Vec::new() };
        if raftnode::planted_bug_arg(&c.node_args).is_some() && matches!(c.system, System::Etcd(_)) {
            return Err(invalid(
                Setting::NodeArgs,
                format!("planted bugs (--bug) exist only in raft-node, not in {}", c.system.name()),
            ));
        }
        if let Some(unknown) = bugs.iter().find(|b| !raftnode::PLANTED_BUGS.contains(&b.as_str())) {
            return Err(invalid(
                Setting::NodeArgs,
                format!(
                    "unknown planted bug {unknown:?}: raft-node's are {}",
                    raftnode::PLANTED_BUGS.join(", ")
                ),
            ));
        }
        if self.net == Backend::Ssh && self.ssh.is_none() {
            return Err(invalid(Setting::Hosts, "the ssh backend needs the hosts (--hosts db1,db2,db3)"));
        }
        if let Some(ssh) = &mut self.ssh {
            validate_hosts(ssh, &self.system, self.net, self.nodes, &self.nemesis.kinds, self.lazyfs)?;
            if ssh.remote_bin.is_some() {
                // The binary is on the hosts; the local one (if any) is only recorded.
                return Ok(self);
            }
        }
        let c = &self;
        let bin_setting = if capabilities.message_network { Setting::NodeCmd } else { Setting::NodeBin };
        if c.node_bin.as_os_str().is_empty() {
            return Err(invalid(
                bin_setting,
                format!("no {} binary found; {}", c.system.name(), c.system.install_hint()),
            ));
        }
        if !c.node_bin.is_file() {
            return Err(invalid(
                bin_setting,
                format!(
                    "{} binary {} does not exist; {}",
                    c.system.name(),
                    c.node_bin.display(),
                    c.system.install_hint()
                ),
            ));
        }
        self.node_bin = std::fs::canonicalize(&self.node_bin)
            .map_err(|e| invalid(bin_setting, format!("{}: {e}", self.node_bin.display())))?;
        // Nodes run in their own directories: a Maelstrom node's arguments that name files here (its
        // script) are made absolute, so the nodes and the reproduce command find them from anywhere.
        if capabilities.message_network {
            for a in &mut self.node_args {
                if (a.contains('/') || a.contains('.'))
                    && !a.starts_with('-')
                    && Path::new(a.as_str()).is_file()
                    && let Ok(abs) = std::fs::canonicalize(a.as_str())
                {
                    *a = abs.display().to_string();
                }
            }
        }
        Ok(self)
    }

    /// The store's directory name for this test: `<system>-<workload>-<nemeses>` (`composed` alone
    /// for the default composed mix).
    pub fn test_name(&self) -> String {
        let words = if self.nemesis.composed && self.nemesis.kinds == composed_kinds(&self.system, self.net) {
            workloads::nemesis::COMPOSED.to_string()
        } else {
            self.nemesis.words("+")
        };
        format!("{}-{}-{}", self.system.name(), self.workload, words)
    }

    /// What one election takes before the run measured its own: `--election-timeout`, else the
    /// system's.
    pub fn election_timeout(&self) -> Duration {
        self.election_timeout.unwrap_or_else(|| self.system.election_timeout(&self.node_args))
    }

    /// The fault schedule `faultline run` draws from these settings (composed or alternating).
    pub fn schedule(&self) -> Result<Vec<ScheduledFault>, workloads::WorkloadError> {
        workloads::nemesis::draw(
            &self.nemesis,
            self.nodes,
            self.time_limit.as_nanos() as u64,
            self.seed,
            self.election_timeout().as_nanos() as u64,
        )
    }

    /// The command line that reproduces this run: every setting spelled out, so defaults that change
    /// later do not change what it runs.
    pub fn reproduce_command(&self) -> String {
        use Setting as S;
        let mut parts = vec!["faultline run".to_string()];
        match &self.system {
            System::Described(f) => {
                parts.push(format!("--system-file {}", shell_quote(&f.path.display().to_string())))
            }
            other => parts.push(format!("{} {}", S::System.flag(), other.name())),
        }
        if let Some(o) = self.system.etcd_options() {
            if o.serializable_reads {
                parts.push("--etcd-serializable-reads".into());
            }
            if o.pre_vote {
                parts.push("--etcd-pre-vote".into());
            }
        }
        let mut set = |s: Setting, value: String| parts.push(format!("{} {value}", s.flag()));
        set(S::Nodes, self.nodes.to_string());
        set(S::TimeLimit, format_duration(self.time_limit));
        set(S::Workload, self.workload.to_string());
        set(S::Nemesis, self.nemesis.words(","));
        if !self.nemesis.kinds.is_empty() {
            set(S::NemesisInterval, format_duration(Duration::from_nanos(self.nemesis.interval)));
        }
        if let Some(e) = self.election_timeout {
            set(S::ElectionTimeout, format_duration(e));
        }
        set(S::Concurrency, self.concurrency.to_string());
        if let Some(r) = self.rate {
            set(S::Rate, r.to_string());
        }
        let defaults = WorkloadOptions::default();
        if self.workload_options.active_keys != defaults.active_keys {
            set(S::Keys, self.workload_options.active_keys.to_string());
        }
        if self.workload_options.ops_per_key != defaults.ops_per_key {
            set(S::OpsPerKey, self.workload_options.ops_per_key.to_string());
        }
        if self.workload_options.readers != defaults.readers {
            set(S::Readers, self.workload_options.readers.to_string());
        }
        set(S::OpTimeout, format_duration(self.op_timeout));
        set(S::RecoverTimeout, format_duration(self.recover_timeout));
        if self.lazyfs_metadata != crate::lazyfs::Metadata::default() {
            parts.push("--lazyfs-metadata ordered".into());
        }
        parts.push(format!("--seed {}", self.seed));
        if !self.nemesis.message_types.is_empty() {
            parts.push(format!("--message-types {}", shell_quote(&self.nemesis.message_types.join(","))));
        }
        if self.system.capabilities().message_network {
            let words: Vec<String> = std::iter::once(self.node_bin.display().to_string())
                .chain(self.node_args.iter().cloned())
                .map(|w| shell_quote(&w))
                .collect();
            parts.push(format!("--node-cmd {}", shell_quote(&words.join(" "))));
        } else {
            match &self.ssh {
                Some(ssh) => parts.push(ssh_flags(ssh)),
                None => parts.push(format!("--net {}", self.net.name())),
            }
            parts.push(format!(
                "{} {}",
                self.system.binary_flag(),
                shell_quote(&self.node_bin.display().to_string())
            ));
            for a in &self.node_args {
                parts.push(format!("{}={}", S::NodeArgs.flag(), shell_quote(a)));
            }
        }
        parts.push(format!("{} {}", S::Store.flag(), shell_quote(&self.store.display().to_string())));
        if !self.check {
            parts.push("--no-check".into());
        }
        parts.join(" ")
    }

    /// `test.json` of this run before it starts (its outcome is filled in when it ends).
    pub fn test_spec(
        &self,
        schedule: Vec<ScheduledFault>,
        plan: Vec<Phase>,
        reproduce: String,
        started_at: String,
    ) -> TestSpec {
        TestSpec {
            name: self.test_name(),
            system: self.system.kind(),
            etcd: self.system.etcd_options(),
            system_file: self
                .system
                .file()
                .map(|f| SystemFileRecord { path: f.path.display().to_string(), text: f.text.clone() }),
            message_types: self.nemesis.message_types.clone(),
            workload: self.workload,
            models: self.workload.models().to_vec(),
            workload_options: self.workload_options.clone(),
            nodes: self.nodes,
            time_limit_ms: self.time_limit.as_millis() as u64,
            nemesis: self.nemesis.kinds.clone(),
            nemesis_interval_ms: self.nemesis.interval / 1_000_000,
            nemesis_composed: self.nemesis.composed,
            election_timeout_ms: self.election_timeout.map(|d| d.as_millis() as u64),
            concurrency: self.concurrency,
            rate: self.rate,
            seed: self.seed,
            op_timeout_ms: self.op_timeout.as_millis() as u64,
            recover_timeout_ms: self.recover_timeout.as_millis() as u64,
            net: self.net,
            ssh: self.ssh.clone(),
            lazyfs_metadata: self.lazyfs_metadata,
            node_bin: self.node_bin.display().to_string(),
            node_bin_crc32: crate::store::file_crc32(&self.node_bin),
            node_args: self.node_args.clone(),
            schedule,
            plan,
            reproduce,
            faultline_version: env!("CARGO_PKG_VERSION").to_string(),
            started_at,
            outcome: None,
        }
    }

    /// The configuration a stored run was made with (its replays go to `store`), validated.
    pub fn from_spec(spec: &TestSpec, store: PathBuf) -> Result<RunConfig, ConfigError> {
        let system = spec
            .system()
            .map_err(|e| invalid(Setting::SystemFile, format!("test.json's system_file: {e}")))?;
        let mut c = RunConfig::new(system);
        c.nodes = spec.nodes;
        c.time_limit = Duration::from_millis(spec.time_limit_ms);
        c.workload = spec.workload;
        c.workload_options = spec.workload_options.clone();
        c.nemesis = NemesisSpec {
            kinds: spec.nemesis.clone(),
            interval: spec.nemesis_interval_ms * 1_000_000,
            message_types: spec.message_types.clone(),
            composed: spec.nemesis_composed,
        };
        c.election_timeout = spec.election_timeout_ms.map(Duration::from_millis);
        c.concurrency = spec.concurrency;
        c.rate = spec.rate;
        c.seed = spec.seed;
        c.node_bin = PathBuf::from(&spec.node_bin);
        c.node_args = spec.node_args.clone();
        c.store = store;
        c.net = spec.net;
        c.ssh = spec.ssh.clone();
        c.lazyfs_metadata = spec.lazyfs_metadata;
        c.op_timeout = Duration::from_millis(spec.op_timeout_ms);
        c.recover_timeout = Duration::from_millis(spec.recover_timeout_ms);
        c.progress = false;
        c.validate()
    }
}

/// The fault kinds of `--nemesis composed` on `system` over `net`: [`defaults::COMPOSED_KINDS`] it
/// supports. Drops need the harness's proxy on every peer link, which remote hosts do not have.
/// Latency goes wherever drops go: the proxy is on every peer link for them anyway, while for
/// another system it would change the timing of every composed run (ask for it by name there).
pub fn composed_kinds(system: &System, net: Backend) -> Vec<FaultKind> {
    let caps = system.capabilities();
    let drops = caps.message_drops && net != Backend::Ssh;
    defaults::COMPOSED_KINDS
        .into_iter()
        .filter(|k| !matches!(k, FaultKind::Drop | FaultKind::Latency) || drops)
        .collect()
}

/// Client operations a short run of the matrix or the explorer is paced to, over its whole run phase:
/// raft-node snapshots and compacts its log every 10,000 applied entries, and the committed-log
/// comparison cannot see into a compacted prefix (see `matrix.rs`).
pub const MAX_OPS_PER_RUN: f64 = 6000.0;

/// The pacing of a run of `time_limit`: [`MAX_OPS_PER_RUN`] spread over it, at most 400 per second
/// (more than a debug build manages under faults on two cores).
pub fn pace(time_limit: Duration) -> f64 {
    (MAX_OPS_PER_RUN / time_limit.as_secs_f64().max(1.0)).min(400.0)
}

/// Checks the remote hosts and how to reach them, and makes the key's path absolute.
fn validate_hosts(
    ssh: &mut SshOptions,
    system: &System,
    net: Backend,
    nodes: usize,
    kinds: &[FaultKind],
    lazyfs: bool,
) -> Result<(), ConfigError> {
    if net != Backend::Ssh {
        return Err(invalid(Setting::Hosts, format!("--net {} does not apply to remote hosts", net.name())));
    }
    if ssh.hosts.is_empty() {
        return Err(invalid(Setting::Hosts, "names no host (e.g. --hosts db1,db2,db3)"));
    }
    for (i, h) in ssh.hosts.iter().enumerate() {
        if h.is_empty()
            || h.starts_with('-')
            || h.contains(|c: char| c.is_whitespace() || c == '@' || c == '/')
        {
            return Err(invalid(
                Setting::Hosts,
                format!(
                    "{h:?} is not a host name or address (the user goes in --ssh-user, the port in --ssh-port)"
                ),
            ));
        }
        if ssh.hosts[..i].contains(h) {
            return Err(invalid(Setting::Hosts, format!("{h} is named twice: one node runs on each host")));
        }
    }
    if nodes != ssh.hosts.len() {
        return Err(invalid(
            Setting::Nodes,
            format!("one node runs on each host: {} hosts, but {nodes} nodes", ssh.hosts.len()),
        ));
    }
    if !matches!(system, System::RaftNode | System::Etcd(_)) {
        return Err(invalid(
            Setting::Hosts,
            format!("remote hosts run raft-node or etcd, not {}", system.name()),
        ));
    }
    if let Some(kind) = kinds.iter().find(|k| {
        matches!(k, FaultKind::Latency | FaultKind::Drop | FaultKind::PowerLoss | FaultKind::Corrupt)
    }) {
        return Err(invalid(
            Setting::Nemesis,
            format!(
                "{kind} is not available on remote hosts (latency and drop need the harness's proxy on every \
                 peer link, power-loss and corrupt a local data directory); partition, loss, kill and pause are"
            ),
        ));
    }
    if lazyfs {
        return Err(invalid(Setting::Hosts, "lazyfs mounts local data directories, not remote ones"));
    }
    if ssh.user.is_empty() || ssh.user.starts_with('-') || ssh.user.contains(char::is_whitespace) {
        return Err(invalid(Setting::SshUser, format!("{:?} is not a user name", ssh.user)));
    }
    if ssh.port == 0 {
        return Err(invalid(Setting::SshPort, "must be 1 to 65535"));
    }
    if !ssh.remote_dir.starts_with('/') {
        return Err(invalid(
            Setting::RemoteDir,
            format!("must be an absolute path, got {:?}", ssh.remote_dir),
        ));
    }
    if let Some(bin) = &ssh.remote_bin
        && !bin.starts_with('/')
    {
        return Err(invalid(
            Setting::RemoteNodeBin,
            format!("must be an absolute path on the hosts, got {bin:?}"),
        ));
    }
    if let Some(key) = &ssh.key {
        if !key.is_file() {
            return Err(invalid(Setting::SshKey, format!("{} is not a file", key.display())));
        }
        ssh.key = Some(
            std::fs::canonicalize(key)
                .map_err(|e| invalid(Setting::SshKey, format!("{}: {e}", key.display())))?,
        );
    }
    Ok(())
}

/// `--hosts ... --ssh-user ...`: every setting of the hosts, spelled out.
fn ssh_flags(ssh: &SshOptions) -> String {
    let mut parts = vec![
        format!("{} {}", Setting::Hosts.flag(), shell_quote(&ssh.hosts.join(","))),
        format!("{} {}", Setting::SshUser.flag(), shell_quote(&ssh.user)),
        format!("{} {}", Setting::SshPort.flag(), ssh.port),
        format!("{} {}", Setting::RemoteDir.flag(), shell_quote(&ssh.remote_dir)),
    ];
    if let Some(key) = &ssh.key {
        parts.push(format!("{} {}", Setting::SshKey.flag(), shell_quote(&key.display().to_string())));
    }
    if let Some(bin) = &ssh.remote_bin {
        parts.push(format!("{} {}", Setting::RemoteNodeBin.flag(), shell_quote(bin)));
    }
    parts.join(" ")
}

/// The command that replays a stored run (printed by runs whose schedule was given, not drawn).
pub fn replay_command(run_dir: &Path) -> String {
    format!("faultline repro {} --runs 3", shell_quote(&run_dir.display().to_string()))
}

/// Splits a command line into words as a POSIX shell would for plain words, single and double quotes
/// and backslashes (no variables, globs or other expansions): the inverse of [`shell_quote`].
pub fn split_command(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(format!("unclosed ' in {line:?}")),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err(format!("unclosed \" in {line:?}")),
                        },
                        Some(c) => w.push(c),
                        None => return Err(format!("unclosed \" in {line:?}")),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => return Err(format!("a trailing backslash in {line:?}")),
            },
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// Quotes a word for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@".contains(&b)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcd::EtcdOptions;

    /// A config whose binary exists (this test executable stands in for it).
    fn config(system: System) -> RunConfig {
        let mut c = RunConfig::new(system);
        c.node_bin = std::env::current_exe().unwrap();
        c.net = Backend::Loopback;
        c
    }

    /// The composed default met the ssh backend in a merge: drops need the proxy on every peer
    /// link, which remote hosts do not have, so `faultline run --hosts ...` must not ask for them.
    #[test]
    fn the_composed_default_leaves_drops_out_on_remote_hosts() {
        let raft = System::RaftNode;
        assert!(composed_kinds(&raft, Backend::Netns).contains(&FaultKind::Drop));
        let remote = composed_kinds(&raft, Backend::Ssh);
        assert!(!remote.contains(&FaultKind::Drop) && !remote.contains(&FaultKind::Latency), "{remote:?}");
        assert!(remote.contains(&FaultKind::Partition) && remote.contains(&FaultKind::Kill));
    }

    #[test]
    fn the_defaults_validate() {
        let c = config(System::RaftNode).validate().unwrap();
        assert_eq!(c.nodes, defaults::NODES);
        assert_eq!(c.time_limit, Duration::from_secs(60));
        assert!(c.nemesis.composed);
        assert_eq!(
            c.nemesis.kinds,
            vec![
                FaultKind::Partition,
                FaultKind::Kill,
                FaultKind::Pause,
                FaultKind::Drop,
                FaultKind::Latency
            ]
        );
        assert_eq!(c.test_name(), "raft-node-register-composed");
        assert_eq!(c.election_timeout(), Duration::from_millis(150));
        // etcd has no frames the proxy can read: its composed mix has no drop (and no latency).
        let etcd = config(System::Etcd(EtcdOptions::default())).validate().unwrap();
        assert_eq!(etcd.nemesis.kinds, vec![FaultKind::Partition, FaultKind::Kill, FaultKind::Pause]);
        assert_eq!(etcd.test_name(), "etcd-register-composed");
    }

    #[test]
    fn the_default_schedule_composes_several_sequences_in_a_short_run() {
        let mut c = config(System::RaftNode);
        c.time_limit = Duration::from_secs(30);
        c.seed = 5;
        let c = c.validate().unwrap();
        let s = c.schedule().unwrap();
        assert!(workloads::compose::fault_count(&s) >= 6, "{s:?}");
        assert!(s.iter().any(|f| f.after.is_some()), "steps are spaced in elections");
        let mut alt = c.clone();
        alt.nemesis = NemesisSpec::parse("partition,kill", 10_000_000_000).unwrap();
        assert_eq!(alt.schedule().unwrap().len(), 3, "the alternating form still works");
    }

    #[test]
    fn every_bad_setting_is_named() {
        type Change = Box<dyn Fn(&mut RunConfig)>;
        let cases: Vec<(Setting, Change)> = vec![
            (Setting::Nodes, Box::new(|c| c.nodes = 0)),
            (Setting::Nodes, Box::new(|c| c.nodes = 51)),
            (Setting::Concurrency, Box::new(|c| c.concurrency = 0)),
            (Setting::Rate, Box::new(|c| c.rate = Some(f64::NAN))),
            (Setting::Rate, Box::new(|c| c.rate = Some(-1.0))),
            (Setting::TimeLimit, Box::new(|c| c.time_limit = Duration::ZERO)),
            (Setting::NemesisInterval, Box::new(|c| c.nemesis.interval = 0)),
            (Setting::ElectionTimeout, Box::new(|c| c.election_timeout = Some(Duration::ZERO))),
            (Setting::Keys, Box::new(|c| c.workload_options.active_keys = 0)),
            (Setting::Readers, Box::new(|c| c.workload_options.readers = c.concurrency)),
            (Setting::NodeArgs, Box::new(|c| c.node_args = vec!["--bug".into(), "sloppy".into()])),
            (Setting::NodeBin, Box::new(|c| c.node_bin = PathBuf::from("/nonexistent/raft-node"))),
            (Setting::NodeBin, Box::new(|c| c.node_bin = PathBuf::new())),
            (Setting::Nemesis, Box::new(|c| c.nodes = 1)),
        ];
        for (setting, change) in cases {
            let mut c = config(System::RaftNode);
            change(&mut c);
            let e = c.clone().validate().unwrap_err();
            assert_eq!(e.setting, setting, "{e} for {c:?}");
            assert!(e.to_string().starts_with(setting.flag()), "{e}");
        }
    }

    #[test]
    fn what_etcd_cannot_do_is_refused_up_front() {
        let etcd = System::Etcd(EtcdOptions::default());
        let mut c = config(etcd.clone());
        c.workload = Workload::Append;
        assert_eq!(c.validate().unwrap_err().setting, Setting::Workload);
        let mut c = config(etcd.clone());
        c.nemesis.kinds = vec![FaultKind::Kill, FaultKind::Drop];
        let e = c.validate().unwrap_err();
        assert!(e.message.contains("drop") && e.message.contains("raft-node"), "{e}");
        let mut c = config(etcd.clone());
        c.node_args = vec!["--bug=stale-read".into()];
        assert!(c.validate().unwrap_err().message.contains("only in raft-node"));
    }

    #[test]
    fn power_loss_is_refused_up_front_with_the_reason_when_lazyfs_cannot_mount() {
        let mut c = config(System::RaftNode);
        c.nemesis.kinds = vec![FaultKind::Kill, FaultKind::PowerLoss];
        assert!(c.lazyfs_mounted());
        match crate::lazyfs::unavailable() {
            Some(reason) => {
                let e = c.validate().unwrap_err();
                assert_eq!(e.setting, Setting::Nemesis);
                assert!(e.message.starts_with("power-loss: ") && e.message.contains(&reason), "{e}");
            }
            None => {
                c.validate().unwrap();
            }
        }
        // corrupt needs no mount.
        let mut c = config(System::RaftNode);
        c.nemesis.kinds = vec![FaultKind::Corrupt];
        assert!(!c.lazyfs_mounted());
        c.validate().unwrap();
    }

    #[test]
    fn a_stored_run_gives_back_the_same_config() {
        let mut c = config(System::Etcd(EtcdOptions { serializable_reads: true, pre_vote: false }));
        c.nodes = 3;
        c.rate = Some(250.0);
        c.seed = 42;
        c.time_limit = Duration::from_millis(12_500);
        c.workload_options.ops_per_key = 7;
        c.election_timeout = Some(Duration::from_millis(300));
        c.store = PathBuf::from("elsewhere");
        c.progress = false;
        let c = c.validate().unwrap();
        let spec = c.test_spec(Vec::new(), Vec::new(), c.reproduce_command(), "2026-12-03T00:00:00Z".into());
        let json = serde_json::to_string(&spec).unwrap();
        let back: TestSpec = serde_json::from_str(&json).unwrap();
        let replay = RunConfig::from_spec(&back, PathBuf::from("elsewhere")).unwrap();
        assert_eq!(replay, c);
    }

    #[test]
    fn the_reproduce_command_spells_out_every_setting() {
        let mut c = config(System::RaftNode);
        c.seed = 42;
        c.node_args = vec!["--bug".into(), "stale-read".into(), "it's".into()];
        c.workload_options.active_keys = 9;
        let cmd = c.validate().unwrap().reproduce_command();
        for part in [
            "--seed 42",
            "--node-arg=--bug --node-arg=stale-read --node-arg='it'\\''s'",
            "--keys 9",
            "--time-limit 1m",
            "--nemesis composed,partition,kill,pause,drop,latency --nemesis-interval 10s",
            "--node-bin /",
        ] {
            assert!(cmd.contains(part), "{part:?} not in {cmd}");
        }
    }

    #[test]
    fn shell_quoting_leaves_plain_words_alone() {
        assert_eq!(shell_quote("/a/b-c"), "/a/b-c");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(replay_command(Path::new("/s/t x")), "faultline repro '/s/t x' --runs 3");
    }

    #[test]
    fn command_lines_split_like_a_shell_and_round_trip_through_quoting() {
        assert_eq!(
            split_command("python3  a.py --bug 'x y' \"q\\\"\" z\\ w").unwrap(),
            ["python3", "a.py", "--bug", "x y", "q\"", "z w"]
        );
        assert_eq!(split_command("''").unwrap(), [""]);
        assert!(split_command("a 'b").is_err());
        let words = ["/usr/bin/python3", "it's here", "plain"];
        let line = words.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" ");
        assert_eq!(split_command(&line).unwrap(), words);
    }

    #[test]
    fn message_faults_belong_to_the_message_network() {
        let mut c = config(System::RaftNode);
        c.nemesis.kinds = vec![FaultKind::Duplicate];
        assert_eq!(c.validate().unwrap_err().setting, Setting::Nemesis);
        let mut c = config(System::RaftNode);
        c.nemesis.message_types = vec!["x".into()];
        assert_eq!(c.validate().unwrap_err().setting, Setting::MessageTypes);
        let mut c = config(System::Maelstrom);
        c.net = Backend::Stdio;
        c.workload = Workload::Register;
        c.nemesis.kinds = vec![FaultKind::Drop, FaultKind::Reorder];
        assert_eq!(c.clone().validate().unwrap_err().setting, Setting::MessageTypes);
        c.nemesis.message_types = vec!["replicate".into()];
        let c = c.validate().unwrap();
        let cmd = c.reproduce_command();
        assert!(
            cmd.contains("--system maelstrom")
                && cmd.contains("--message-types replicate")
                && cmd.contains("--node-cmd "),
            "{cmd}"
        );
        assert!(!cmd.contains("--net"), "{cmd}");
        let mut wrong_net = c.clone();
        wrong_net.net = Backend::Loopback;
        assert_eq!(wrong_net.validate().unwrap_err().setting, Setting::System);
    }
}
