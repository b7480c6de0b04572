//! Command-line flags and the validated configuration of one raft-node.
//!
//! [`Args`] is what clap parses (every default is written once, here); [`NodeConfig::from_args`] checks
//! the flags against each other and resolves the defaults that depend on other flags (the listen
//! addresses default to this node's entries in `--peers` and `--client-addrs`).

use clap::Parser;
use raft::{Bug, NodeId};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;
use thiserror::Error;

/// A planted bug: one of the core's or one of the shell's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BugName {
    Core(Bug),
    /// Answer a write once the leader has appended it, before it commits.
    EarlyAck,
    /// Acknowledge votes and appends before the WAL write is durable; flush every 500 ms.
    LazyPersist,
    /// Write the WAL to the OS at once but fsync it on a timer (every second), acknowledging before.
    FsyncLag,
    /// Answer a transaction's reads from the leader's local state when it is proposed, not from the
    /// state at its place in the log (its writes still go through the log).
    TxnLocalRead,
}

impl BugName {
    pub const SHELL: [(&'static str, BugName); 4] = [
        ("early-ack", BugName::EarlyAck),
        ("lazy-persist", BugName::LazyPersist),
        ("fsync-lag", BugName::FsyncLag),
        ("txn-local-read", BugName::TxnLocalRead),
    ];

    /// Every accepted name, for error messages and `--help`.
    pub fn all_names() -> Vec<&'static str> {
        Bug::ALL.iter().map(|b| b.name()).chain(BugName::SHELL.iter().map(|(n, _)| *n)).collect()
    }
}

impl FromStr for BugName {
    type Err = String;
    fn from_str(s: &str) -> Result<BugName, String> {
        if let Some(b) = Bug::from_name(s) {
            return Ok(BugName::Core(b));
        }
        BugName::SHELL
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, b)| *b)
            .ok_or_else(|| format!("unknown bug {s:?}; known bugs: {}", BugName::all_names().join(", ")))
    }
}

impl fmt::Display for BugName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BugName::Core(b) => f.write_str(b.name()),
            BugName::EarlyAck => f.write_str("early-ack"),
            BugName::LazyPersist => f.write_str("lazy-persist"),
            BugName::FsyncLag => f.write_str("fsync-lag"),
            BugName::TxnLocalRead => f.write_str("txn-local-read"),
        }
    }
}

/// `id=host:port,id=host:port,...`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrMap(pub BTreeMap<NodeId, SocketAddr>);

impl FromStr for AddrMap {
    type Err = String;
    fn from_str(s: &str) -> Result<AddrMap, String> {
        let mut map = BTreeMap::new();
        for (i, item) in s.split(',').enumerate() {
            let item = item.trim();
            let (id, addr) = item
                .split_once('=')
                .ok_or_else(|| format!("item {} {item:?} is not of the form id=host:port", i + 1))?;
            let id: u64 = id
                .trim()
                .parse()
                .map_err(|_| format!("item {} {item:?}: node id {id:?} is not a positive integer", i + 1))?;
            if id == 0 {
                return Err(format!("item {} {item:?}: node ids start at 1", i + 1));
            }
            let addr: SocketAddr = addr
                .trim()
                .parse()
                .map_err(|e| format!("item {} {item:?}: address {addr:?} is not ip:port ({e})", i + 1))?;
            if map.insert(NodeId(id), addr).is_some() {
                return Err(format!("node id {id} appears twice"));
            }
        }
        Ok(AddrMap(map))
    }
}

/// raft-node: a Raft key-value server with an HTTP/JSON client API.
///
/// Every node of a cluster gets the same --peers and --client-addrs lists and its own --id and --data-dir.
#[derive(Debug, Parser)]
#[command(
    name = "raft-node",
    version,
    after_help = "Exit codes: 0 clean shutdown (SIGTERM, Ctrl-C); 1 cannot start or stopped on an error \
                  (invalid flags, corrupt or unreadable data directory, port in use, failed fsync); 2 flags \
                  clap rejects; 101 panic, announced by one stderr line starting with `raft-node: PANIC`."
)]
pub struct Args {
    /// This node's id (a key of --peers).
    #[arg(long)]
    pub id: u64,
    /// Every node of the cluster, this one included: id=ip:port of the peer (Raft) listener, comma-separated.
    #[arg(long)]
    pub peers: AddrMap,
    /// The HTTP client address of every node, id=ip:port, comma-separated; used for leader hints.
    #[arg(long)]
    pub client_addrs: Option<AddrMap>,
    /// Where to listen for peers [default: this node's entry in --peers]. Outgoing peer connections are
    /// bound to this node's peer IP so that per-link firewall rules apply.
    #[arg(long)]
    pub listen_peer: Option<SocketAddr>,
    /// Where to serve the HTTP API [default: this node's entry in --client-addrs].
    #[arg(long)]
    pub listen_client: Option<SocketAddr>,
    /// Directory of the WAL, hard state and snapshot (created if missing).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Length of one logical tick in milliseconds.
    #[arg(long, default_value_t = 10)]
    pub tick_ms: u64,
    /// Election timeout in ticks (drawn from [e, 2e)).
    #[arg(long, default_value_t = 15)]
    pub election_ticks: u32,
    /// Heartbeat interval in ticks.
    #[arg(long, default_value_t = 3)]
    pub heartbeat_ticks: u32,
    /// Take a snapshot and compact the log after this many applied entries.
    #[arg(long, default_value_t = 10_000)]
    pub snapshot_threshold: u64,
    /// Seed of the core's election jitter [default: the node id].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Switch on a planted bug (repeatable): commit-old-term, forget-vote, no-conflict-check,
    /// stale-read, early-ack, lazy-persist, fsync-lag, txn-local-read.
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<BugName>,
    /// How long a client request waits for its outcome before answering 504 timeout.
    #[arg(long, default_value_t = 5000)]
    pub request_timeout_ms: u64,
    /// Largest accepted HTTP request body in bytes (larger bodies get 413).
    #[arg(long, default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,
    /// Campaign without a pre-vote round (etcd 3.4's default); a returning partitioned node then
    /// disrupts the cluster with its higher term.
    #[arg(long)]
    pub no_pre_vote: bool,
    /// Do not step down as leader after an election timeout without hearing from a majority (etcd 3.4's
    /// default): an isolated leader then keeps its role until it hears a higher term.
    #[arg(long)]
    pub no_check_quorum: bool,
    /// Most log entries in one AppendEntries message.
    #[arg(long, default_value_t = 64)]
    pub max_entries_per_append: usize,
}

/// Why the flags do not make a valid configuration.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("--id {0} is not a key of --peers")]
    IdNotInPeers(u64),
    #[error("--client-addrs names node {0}, which is not in --peers")]
    UnknownClientAddr(u64),
    #[error("no client address for node {0}: give --listen-client or an entry {0}=ip:port in --client-addrs")]
    NoClientAddr(u64),
    #[error("--{flag} must be at least {min} (got {got})")]
    TooSmall { flag: &'static str, min: u64, got: u64 },
    #[error("--heartbeat-ticks ({heartbeat}) must be smaller than --election-ticks ({election})")]
    HeartbeatNotBelowElection { heartbeat: u32, election: u32 },
}

/// The validated configuration of one node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub id: NodeId,
    pub peers: BTreeMap<NodeId, SocketAddr>,
    pub client_addrs: BTreeMap<NodeId, SocketAddr>,
    pub listen_peer: SocketAddr,
    pub listen_client: SocketAddr,
    pub data_dir: PathBuf,
    pub tick: Duration,
    pub election_ticks: u32,
    pub heartbeat_ticks: u32,
    pub snapshot_threshold: u64,
    pub seed: u64,
    pub bugs: BTreeSet<BugName>,
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
    pub pre_vote: bool,
    pub check_quorum: bool,
    pub max_entries_per_append: usize,
}

impl NodeConfig {
    pub fn from_args(a: Args) -> Result<NodeConfig, ConfigError> {
        let id = NodeId(a.id);
        let own_peer = *a.peers.0.get(&id).ok_or(ConfigError::IdNotInPeers(a.id))?;
        let client_addrs = a.client_addrs.map(|m| m.0).unwrap_or_default();
        if let Some(stray) = client_addrs.keys().find(|k| !a.peers.0.contains_key(k)) {
            return Err(ConfigError::UnknownClientAddr(stray.0));
        }
        let listen_client = a
            .listen_client
            .or_else(|| client_addrs.get(&id).copied())
            .ok_or(ConfigError::NoClientAddr(a.id))?;
        let min = |flag, min: u64, got: u64| {
            if got < min { Err(ConfigError::TooSmall { flag, min, got }) } else { Ok(()) }
        };
        min("tick-ms", 1, a.tick_ms)?;
        min("election-ticks", 2, u64::from(a.election_ticks))?;
        min("heartbeat-ticks", 1, u64::from(a.heartbeat_ticks))?;
        min("snapshot-threshold", 1, a.snapshot_threshold)?;
        min("request-timeout-ms", 1, a.request_timeout_ms)?;
        min("max-body-bytes", 64, a.max_body_bytes as u64)?;
        min("max-entries-per-append", 1, a.max_entries_per_append as u64)?;
        if a.heartbeat_ticks >= a.election_ticks {
            return Err(ConfigError::HeartbeatNotBelowElection {
                heartbeat: a.heartbeat_ticks,
                election: a.election_ticks,
            });
        }
        Ok(NodeConfig {
            id,
            listen_peer: a.listen_peer.unwrap_or(own_peer),
            peers: a.peers.0,
            client_addrs,
            listen_client,
            data_dir: a.data_dir,
            tick: Duration::from_millis(a.tick_ms),
            election_ticks: a.election_ticks,
            heartbeat_ticks: a.heartbeat_ticks,
            snapshot_threshold: a.snapshot_threshold,
            seed: a.seed.unwrap_or(a.id),
            bugs: a.bugs.into_iter().collect(),
            request_timeout: Duration::from_millis(a.request_timeout_ms),
            max_body_bytes: a.max_body_bytes,
            pre_vote: !a.no_pre_vote,
            check_quorum: !a.no_check_quorum,
            max_entries_per_append: a.max_entries_per_append,
        })
    }

    /// The IP this node's outgoing peer connections are bound to.
    pub fn own_peer_ip(&self) -> std::net::IpAddr {
        self.peers[&self.id].ip()
    }

    pub fn has_bug(&self, b: BugName) -> bool {
        self.bugs.contains(&b)
    }

    /// The core's planted bugs among `bugs`.
    pub fn core_bugs(&self) -> BTreeSet<Bug> {
        self.bugs.iter().filter_map(|b| if let BugName::Core(c) = b { Some(*c) } else { None }).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &[&str]) -> Result<NodeConfig, String> {
        let mut argv = vec![
            "raft-node",
            "--id",
            "2",
            "--peers",
            "1=127.0.0.1:7001,2=127.0.0.2:7002,3=127.0.0.3:7003",
            "--client-addrs",
            "1=127.0.0.1:8001,2=127.0.0.2:8002,3=127.0.0.3:8003",
            "--data-dir",
            "/tmp/x",
        ];
        argv.extend_from_slice(extra);
        let args = Args::try_parse_from(argv).map_err(|e| e.to_string())?;
        NodeConfig::from_args(args).map_err(|e| e.to_string())
    }

    #[test]
    fn listen_addresses_default_to_own_entries_and_defaults_apply() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.listen_peer, "127.0.0.2:7002".parse().unwrap());
        assert_eq!(c.listen_client, "127.0.0.2:8002".parse().unwrap());
        assert_eq!(c.tick, Duration::from_millis(10));
        assert_eq!((c.election_ticks, c.heartbeat_ticks, c.snapshot_threshold, c.seed), (15, 3, 10_000, 2));
        assert_eq!(c.own_peer_ip(), "127.0.0.2".parse::<std::net::IpAddr>().unwrap());
        assert!(c.pre_vote && c.check_quorum);
        assert_eq!(c.max_entries_per_append, 64);
    }

    #[test]
    fn election_flags_switch_off_pre_vote_and_check_quorum_and_limit_appends() {
        let c = parse(&["--no-pre-vote", "--no-check-quorum", "--max-entries-per-append", "1"]).unwrap();
        assert!(!c.pre_vote && !c.check_quorum);
        assert_eq!(c.max_entries_per_append, 1);
        let err = parse(&["--max-entries-per-append", "0"]).unwrap_err();
        assert!(err.contains("--max-entries-per-append"), "{err}");
    }

    #[test]
    fn bugs_of_core_and_shell_parse_and_unknown_bugs_are_listed() {
        let c = parse(&["--bug", "early-ack", "--bug", "stale-read"]).unwrap();
        assert!(c.has_bug(BugName::EarlyAck));
        assert_eq!(c.core_bugs(), BTreeSet::from([Bug::StaleRead]));
        let err = parse(&["--bug", "nope"]).unwrap_err();
        assert!(err.contains("lazy-persist") && err.contains("commit-old-term"), "{err}");
        assert!(parse(&["--bug", "fsync-lag"]).unwrap().has_bug(BugName::FsyncLag));
    }

    #[test]
    fn bad_flag_combinations_are_named() {
        assert!(parse(&["--id", "9"]).is_err());
        let err = parse(&["--heartbeat-ticks", "20"]).unwrap_err();
        assert!(err.contains("--heartbeat-ticks"), "{err}");
        assert_eq!(
            "1=127.0.0.1:1,1=127.0.0.1:2".parse::<AddrMap>().unwrap_err(),
            "node id 1 appears twice".to_string()
        );
        assert!("1=localhost:1".parse::<AddrMap>().unwrap_err().contains("not ip:port"));
        assert!("0=127.0.0.1:1".parse::<AddrMap>().is_err());
    }
}
