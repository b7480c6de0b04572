//! The system-under-test seam: everything the harness does differently for each system it can drive.
//!
//! A [`System`] says how to start one of its nodes ([`System::node_argv`], [`System::node_env`],
//! [`System::node_cwd`]), how a client speaks to it ([`System::client_kind`], [`System::request`],
//! [`System::answer`]), when a node is ready ([`System::readiness`]), how its status reads as
//! raft-node's `/status` shape ([`StatusReader`]), what a crash looks like in its output, and which
//! checks and faults apply to it ([`System::capabilities`]). Four kinds of system:
//!
//! - raft-node and etcd, built in ([`crate::raftnode`], [`crate::etcd`]);
//! - a system described by a file ([`crate::systemfile`]): its own command line, readiness, roles and
//!   a client of kind `http-kv` (raft-node's API as a contract), `etcd-v3` or `shim`
//!   ([`crate::shim`]);
//! - Maelstrom nodes ([`crate::maelstrom`]): any program speaking Maelstrom's protocol on stdin and
//!   stdout, for which the harness is the network ([`crate::msgnet`]).
//!
//! The rest of the harness asks this module and never matches on a system's name.

use crate::etcd::{self, EtcdOptions};
use crate::nodes::NodeSpec;
pub use crate::programs::{binary_next_to_exe, find_on_path};
use crate::protocol::{Answer, Method, Reply, Request, Response};
use crate::systemfile::{ClientKind, LeaderIs, NodeContext, Ready, Roles, SystemFile};
use crate::{maelstrom, raftnode, shim};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use workloads::{Op, Workload};

/// The systems by name (`--system`, `test.json`'s `system`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SystemKind {
    /// This repository's raft-node.
    #[default]
    RaftNode,
    /// etcd 3.4 (Debian's `etcd-server`).
    Etcd,
    /// Nodes speaking Maelstrom's protocol on stdin/stdout (`--node-cmd`).
    Maelstrom,
    /// A system described by a file (`--system-file`; `test.json` keeps the file's text).
    #[value(skip)]
    File,
}

/// The system under test, with its options.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum System {
    /// This repository's raft-node.
    #[default]
    RaftNode,
    /// etcd 3.4 (Debian's `etcd-server`).
    Etcd(EtcdOptions),
    /// A system file.
    Described(Arc<SystemFile>),
    /// Maelstrom nodes; the command is the run's node binary and arguments.
    Maelstrom,
}

/// What a system supports, for validation before a run and for choosing its checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Serves its committed log at `/debug/log` (the log watcher and the committed-log check).
    pub committed_log: bool,
    /// Logs "became leader" lines of our Raft core (the Election Safety check over node logs).
    pub leadership_log: bool,
    /// Its peer traffic is raft-node frames, so the proxy can drop one kind of message.
    pub message_drops: bool,
    /// Has planted bugs (`--bug NAME`).
    pub planted_bugs: bool,
    /// The harness is its network and sees single messages: drop by body type, duplicate, reorder.
    pub message_network: bool,
    /// Its status says who leads (leader-targeted faults aim; the report draws the cluster lane).
    pub roles: bool,
    /// Its status says in which term a node leads (Election Safety over the status polls).
    pub terms: bool,
}

/// How a system's clients talk to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientProtocol {
    /// HTTP requests built by [`System::request`].
    Http,
    /// A shim process per client ([`crate::shim`]).
    Shim,
    /// Maelstrom RPCs through the harness's message network ([`crate::msgnet`]).
    Maelstrom,
}

impl System {
    /// The built-in system of `kind` with `etcd` options (ignored for the others). A system file
    /// comes from [`System::described`].
    pub fn new(kind: SystemKind, etcd: Option<EtcdOptions>) -> System {
        match kind {
            SystemKind::RaftNode | SystemKind::File => System::RaftNode,
            SystemKind::Etcd => System::Etcd(etcd.unwrap_or_default()),
            SystemKind::Maelstrom => System::Maelstrom,
        }
    }

    /// The system a file describes.
    pub fn described(file: SystemFile) -> System {
        System::Described(Arc::new(file))
    }

    pub fn kind(&self) -> SystemKind {
        match self {
            System::RaftNode => SystemKind::RaftNode,
            System::Etcd(_) => SystemKind::Etcd,
            System::Described(_) => SystemKind::File,
            System::Maelstrom => SystemKind::Maelstrom,
        }
    }

    /// The name used in test names and reports (a system file's `name`).
    pub fn name(&self) -> &str {
        match self {
            System::RaftNode => "raft-node",
            System::Etcd(_) => "etcd",
            System::Described(f) => &f.name,
            System::Maelstrom => "maelstrom",
        }
    }

    /// etcd's options (the built-in etcd only; an `etcd-v3` system file keeps its own).
    pub fn etcd_options(&self) -> Option<EtcdOptions> {
        match self {
            System::Etcd(o) => Some(*o),
            _ => None,
        }
    }

    /// The system file, for a described system.
    pub fn file(&self) -> Option<&SystemFile> {
        match self {
            System::Described(f) => Some(f),
            _ => None,
        }
    }

    /// Globs (relative to a node's data directory) of the files the `corrupt` fault may damage;
    /// empty: any file there.
    pub fn corruptible(&self) -> &[String] {
        self.file().map_or(&[], |f| &f.node.corrupt)
    }

    pub fn capabilities(&self) -> Capabilities {
        let ours = *self == System::RaftNode;
        let roles = self.file().and_then(|f| f.roles.as_ref());
        Capabilities {
            committed_log: ours,
            leadership_log: ours,
            message_drops: ours,
            planted_bugs: ours,
            message_network: *self == System::Maelstrom,
            roles: matches!(self, System::RaftNode | System::Etcd(_)) || roles.is_some(),
            // etcd's status reads its leader and its term separately, so one poll can pair a new term
            // with the old leader: an Election Safety check over its polls could raise false alarms.
            terms: *self == System::RaftNode || roles.is_some_and(|r| r.term.is_some()),
        }
    }

    /// How clients talk to this system.
    pub fn client_kind(&self) -> ClientProtocol {
        match self {
            System::RaftNode | System::Etcd(_) => ClientProtocol::Http,
            System::Described(f) => match f.client {
                ClientKind::Shim { .. } => ClientProtocol::Shim,
                ClientKind::HttpKv | ClientKind::EtcdV3 { .. } => ClientProtocol::Http,
            },
            System::Maelstrom => ClientProtocol::Maelstrom,
        }
    }

    /// The etcd gateway options of an etcd client (built in, or an `etcd-v3` system file).
    fn etcd_client(&self) -> Option<EtcdOptions> {
        match self {
            System::Etcd(o) => Some(*o),
            System::Described(f) => match f.client {
                ClientKind::EtcdV3 { serializable_reads } => {
                    Some(EtcdOptions { serializable_reads, pre_vote: false })
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// What one election takes as configured: the base election timeout (raft-node draws each
    /// timeout from one to two of these). raft-node's comes from its `--election-ticks` and
    /// `--tick-ms` among `node_args` (defaults 15 x 10 ms); etcd runs with `--election-timeout 150`.
    /// Other systems say nothing about theirs: 150 ms (raft-node's and etcd's order) until the run
    /// measures its own elections, or what `--election-timeout` says.
    pub fn election_timeout(&self, node_args: &[String]) -> std::time::Duration {
        match self {
            System::RaftNode => {
                let flag = |name: &str, default: u64| {
                    let eq = format!("{name}=");
                    node_args
                        .iter()
                        .enumerate()
                        .find_map(|(i, a)| {
                            if a == name {
                                node_args.get(i + 1)?.parse().ok()
                            } else {
                                a.strip_prefix(&eq)?.parse().ok()
                            }
                        })
                        .unwrap_or(default)
                };
                let ms = flag("--election-ticks", 15) * flag("--tick-ms", 10);
                std::time::Duration::from_millis(ms.max(1))
            }
            System::Etcd(_) => std::time::Duration::from_millis(etcd::ELECTION_MS),
            System::Described(_) | System::Maelstrom => std::time::Duration::from_millis(150),
        }
    }

    /// Whether this system's client can run `workload`; the reason when not.
    pub fn check_workload(&self, workload: Workload) -> Result<(), String> {
        if workload == Workload::Register {
            return Ok(());
        }
        match self {
            System::Maelstrom => Err(format!(
                "Maelstrom nodes run the lin-kv workload (register: read, write, cas), not {workload}"
            )),
            _ if self.etcd_client().is_some() => match workload {
                Workload::Append => Err(format!(
                    "etcd (--system etcd or an etcd-v3 client) runs the register, txn-append and txn-rw \
                     workloads, not {workload}"
                )),
                _ => Ok(()),
            },
            System::Described(_) if workload.txn_kind().is_some() => Err(format!(
                "http-kv and shim clients run the register and append workloads, not {workload} \
                 (transactions need raft-node or etcd)"
            )),
            _ => Ok(()),
        }
    }

    /// The flag that names this system's binary.
    pub fn binary_flag(&self) -> &'static str {
        match self {
            System::RaftNode | System::Described(_) => "--node-bin",
            System::Etcd(_) => "--etcd-bin",
            System::Maelstrom => "--node-cmd",
        }
    }

    /// Where this system's binary is found when no flag names it: raft-node next to the running
    /// executable, etcd on `PATH`, a system file's program as its file says.
    pub fn default_binary(&self) -> Option<PathBuf> {
        match self {
            System::RaftNode => binary_next_to_exe("raft-node"),
            System::Etcd(_) => find_on_path("etcd"),
            System::Described(f) => f.program().and_then(|p| f.resolve_program(&p)),
            System::Maelstrom => None,
        }
    }

    /// How to get the binary when it is missing.
    pub fn install_hint(&self) -> String {
        match self {
            System::RaftNode => {
                "build it with `cargo build --release -p node --bin raft-node` or pass --node-bin".into()
            }
            System::Etcd(_) => format!("install it with `{}` or pass --etcd-bin", etcd::INSTALL_HINT),
            System::Described(f) => format!(
                "it is the first word of {} (found on PATH, next to faultline, or relative to the file \
                 when it has a /); or pass --node-bin",
                f.place("node.command")
            ),
            System::Maelstrom => "give the node's command line with --node-cmd 'PROGRAM ARGS'".into(),
        }
    }

    /// The whole command line of node `spec` (binary first), with `extra` arguments at the end.
    /// `token` names this run's cluster (etcd's `--initial-cluster-token`).
    pub fn node_argv(
        &self,
        bin: &str,
        spec: &NodeSpec,
        all: &[NodeSpec],
        seed: u64,
        token: &str,
        extra: &[String],
    ) -> Vec<String> {
        let mut argv = match self {
            System::RaftNode => {
                let mut argv = vec![bin.to_string()];
                argv.extend(raftnode::args(spec, seed));
                argv
            }
            System::Etcd(options) => etcd::argv(bin, spec, all, *options, token),
            System::Described(f) => {
                let ctx = NodeContext { spec, all, seed, token, shared_peers: self.shared_peer_addresses() };
                return f.node_argv(bin, &ctx, extra);
            }
            System::Maelstrom => vec![bin.to_string()],
        };
        argv.extend(extra.iter().cloned());
        argv
    }

    /// Environment variables for node `spec` on top of the harness's own.
    pub fn node_env(
        &self,
        spec: &NodeSpec,
        all: &[NodeSpec],
        seed: u64,
        token: &str,
    ) -> Vec<(String, String)> {
        match self {
            System::Described(f) => f.node_env(&NodeContext {
                spec,
                all,
                seed,
                token,
                shared_peers: self.shared_peer_addresses(),
            }),
            _ => Vec::new(),
        }
    }

    /// The working directory of node `spec`: its own directory in the run (so whatever it writes
    /// there is kept), unless a system file says otherwise.
    pub fn node_cwd(&self, spec: &NodeSpec, all: &[NodeSpec], seed: u64, token: &str) -> PathBuf {
        match self {
            System::Described(f) => f.node_cwd(&NodeContext {
                spec,
                all,
                seed,
                token,
                shared_peers: self.shared_peer_addresses(),
            }),
            _ => spec.dir.clone(),
        }
    }

    /// Whether every node must be given the same address for each peer (etcd's `--initial-cluster`),
    /// so the backends put one relay per node instead of one per directed link.
    pub fn shared_peer_addresses(&self) -> bool {
        match self {
            System::Etcd(_) => true,
            System::Described(f) => f.node.peer_addresses == crate::systemfile::PeerAddresses::Shared,
            _ => false,
        }
    }

    /// When a node counts as ready, if the system says (besides electing a leader).
    pub fn readiness(&self) -> Option<&Ready> {
        self.file().and_then(|f| f.ready.as_ref())
    }

    /// The signal that stops a node at teardown and how long to wait before SIGKILL (None: SIGKILL).
    pub fn stop_signal(&self) -> Option<(nix::sys::signal::Signal, Duration)> {
        let f = self.file()?;
        Some((f.node.stop_signal?, f.node.stop_timeout))
    }

    /// The request that performs `op` on an HTTP system; Err when this system's client cannot express
    /// it (then nothing is sent and the operation provably did not happen). `empty_read` is what a
    /// read of a missing key returns in the workload (`[]` for lists), which tells a transaction's
    /// list reads from register reads.
    pub fn request(&self, op: &Op, empty_read: &Value) -> Result<Request, String> {
        if let Some(options) = self.etcd_client() {
            return etcd::request(op, options, empty_read);
        }
        match self.client_kind() {
            ClientProtocol::Http => Ok(raftnode::request(op)),
            other => Err(format!("{other:?} clients send no HTTP requests")),
        }
    }

    /// What `reply` says about `op`. `empty_read` is what a read of a missing key returns.
    pub fn answer(&self, op: &Op, empty_read: &Value, reply: Reply) -> Answer {
        match (self.client_kind(), reply) {
            (ClientProtocol::Http, Reply::Http(resp)) => match self.etcd_client() {
                Some(_) => etcd::answer(op, empty_read, resp),
                None => raftnode::answer(op, empty_read, resp),
            },
            (ClientProtocol::Shim, Reply::Json(v)) => shim::answer(op, empty_read, &v),
            (ClientProtocol::Maelstrom, Reply::Json(v)) => maelstrom::answer(op, empty_read, &v),
            (kind, reply) => Answer::Unknown(format!("a {kind:?} client got an unexpected reply: {reply:?}")),
        }
    }

    /// The node that an answer redirects to (`host:port`), for systems whose followers say so.
    pub fn leader_hint<'r>(&self, resp: &'r Response) -> Option<&'r str> {
        match self {
            System::RaftNode => raftnode::leader_hint(resp),
            System::Described(f) if f.client == ClientKind::HttpKv => raftnode::leader_hint(resp),
            _ => None,
        }
    }

    /// The request that reads a node's status in the system's own shape ([`StatusReader`] turns it
    /// into raft-node's); None when the system has no status to read.
    pub fn status_request(&self) -> Option<Request> {
        match self {
            System::RaftNode => Some(Request::get("/status".into())),
            System::Etcd(_) => Some(Request::post("/v3/maintenance/status".into(), json!({}))),
            System::Described(f) => f.roles.as_ref().map(|r| match &r.body {
                Some(body) => {
                    Request { method: Method::Post, path: r.path.clone(), body: Some(body.clone()) }
                }
                None => Request::get(r.path.clone()),
            }),
            System::Maelstrom => None,
        }
    }

    /// Whether a line of a node's stdout or stderr reports a crash (raft-node's panic marker; Go
    /// panics and fatal log lines for etcd; a system file's `crash_lines`).
    pub fn is_crash_line(&self, line: &str) -> bool {
        match self {
            System::RaftNode => line.contains(raftnode::PANIC_MARKER),
            System::Etcd(_) => etcd::is_panic_line(line),
            System::Described(f) => f.node.crash_lines.iter().any(|c| line.contains(c.as_str())),
            System::Maelstrom => false,
        }
    }
}

/// Reads status bodies of every node into raft-node's `/status` shape (`role`, `term`, `leader` as a
/// node id, `last_index`). etcd names its leader by member id (and so may a system file, with
/// `leader_is = "self"`), so the reader learns each node's own id from that node's own answers and
/// keeps the table across polls.
#[derive(Clone, Debug)]
pub struct StatusReader {
    system: System,
    members: Vec<Option<String>>,
    /// Each node's client and peer addresses (for `leader_is = "addr"`).
    addrs: Vec<[String; 2]>,
}

impl StatusReader {
    pub fn new(system: System, nodes: &[NodeSpec]) -> StatusReader {
        StatusReader {
            system,
            members: vec![None; nodes.len()],
            addrs: nodes.iter().map(|n| [n.listen_client.to_string(), n.listen_peer.to_string()]).collect(),
        }
    }

    /// Whether the system has a status to poll.
    pub fn has_status(&self) -> bool {
        self.system.status_request().is_some()
    }

    /// One raw status per node (None: no answer) in, the same in raft-node's shape out.
    pub fn read(&mut self, raw: Vec<Option<Value>>) -> Vec<Option<Value>> {
        match &self.system {
            System::RaftNode => raw,
            System::Etcd(_) => {
                for (i, r) in raw.iter().enumerate() {
                    if let Some(id) = r.as_ref().and_then(etcd::member_id) {
                        self.members[i] = Some(id.to_string());
                    }
                }
                let members: Vec<Option<u64>> =
                    self.members.iter().map(|m| m.as_ref().and_then(|m| m.parse().ok())).collect();
                raw.iter()
                    .enumerate()
                    .map(|(i, r)| r.as_ref().and_then(|r| etcd::status_to_contract(r, i, &members)))
                    .collect()
            }
            System::Described(f) => {
                let Some(roles) = f.roles.clone() else { return vec![None; raw.len()] };
                if let Some(p) = &roles.self_id {
                    for (i, r) in raw.iter().enumerate() {
                        if let Some(id) = r.as_ref().and_then(|r| r.pointer(p)).and_then(scalar) {
                            self.members[i] = Some(id);
                        }
                    }
                }
                raw.iter().enumerate().map(|(i, r)| r.as_ref().map(|r| self.by_roles(&roles, r, i))).collect()
            }
            System::Maelstrom => vec![None; raw.len()],
        }
    }

    /// One status body read through a system file's `[roles]`.
    fn by_roles(&self, roles: &Roles, raw: &Value, index: usize) -> Value {
        let at = |p: &Option<String>| p.as_ref().and_then(|p| raw.pointer(p));
        let number = |p: &Option<String>| at(p).and_then(|v| scalar(v)?.parse::<u64>().ok());
        let leader = at(&roles.leader).and_then(scalar).and_then(|named| {
            let found = match roles.leader_is {
                LeaderIs::Id => named
                    .parse::<usize>()
                    .ok()
                    .filter(|id| (1..=self.addrs.len()).contains(id))
                    .map(|id| id - 1),
                LeaderIs::Name => named
                    .strip_prefix('n')
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|id| (1..=self.addrs.len()).contains(id))
                    .map(|id| id - 1),
                LeaderIs::Addr => {
                    let bare = named.trim_start_matches("http://").trim_end_matches('/');
                    self.addrs.iter().position(|a| a.iter().any(|x| x == bare))
                }
                LeaderIs::SelfId => self.members.iter().position(|m| m.as_deref() == Some(named.as_str())),
            };
            found.map(|j| j as u64 + 1)
        });
        let leads = match at(&roles.role).and_then(scalar) {
            Some(role) => role.eq_ignore_ascii_case(&roles.leader_role),
            None => leader == Some(index as u64 + 1),
        };
        json!({
            "id": index as u64 + 1,
            "role": if leads { "leader" } else { "follower" },
            // raft-node's shape has a term; 0 stands for "not given" (no Election Safety check then).
            "term": number(&roles.term).unwrap_or(0),
            "leader": leader,
            "last_index": number(&roles.last_index),
        })
    }
}

/// A JSON string or number as text (ids and terms come either way).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_systems_agree_on_names() {
        for kind in [SystemKind::RaftNode, SystemKind::Etcd, SystemKind::Maelstrom] {
            let system = System::new(kind, None);
            assert_eq!(system.kind(), kind);
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, json!(system.name()));
        }
        let e = serde_json::from_value::<SystemKind>(json!("mongodb")).unwrap_err().to_string();
        assert!(e.contains("mongodb"), "{e}");
        assert_eq!(serde_json::to_value(SystemKind::File).unwrap(), json!("file"));
    }

    #[test]
    fn only_raft_node_has_our_logs_frames_and_bugs() {
        assert!(System::RaftNode.capabilities().committed_log);
        let etcd = System::Etcd(EtcdOptions::default()).capabilities();
        assert!(!etcd.committed_log && !etcd.message_drops && !etcd.planted_bugs && !etcd.leadership_log);
        assert!(etcd.roles && !etcd.terms && !etcd.message_network);
        assert!(System::Etcd(EtcdOptions::default()).check_workload(Workload::Append).is_err());
        assert!(System::Etcd(EtcdOptions::default()).check_workload(Workload::TxnAppend).is_ok());
        assert!(System::Etcd(EtcdOptions::default()).check_workload(Workload::TxnRw).is_ok());
        assert!(System::RaftNode.check_workload(Workload::Append).is_ok());
        let m = System::Maelstrom.capabilities();
        assert!(m.message_network && !m.roles && !m.message_drops);
        assert!(System::Maelstrom.check_workload(Workload::Append).is_err());
    }

    #[test]
    fn election_timeouts_come_from_the_node_flags() {
        let ms = std::time::Duration::from_millis;
        assert_eq!(System::RaftNode.election_timeout(&[]), ms(150));
        let args: Vec<String> = ["--election-ticks", "30", "--tick-ms=5", "--no-pre-vote"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(System::RaftNode.election_timeout(&args), ms(150));
        let args = vec!["--election-ticks=40".to_string()];
        assert_eq!(System::RaftNode.election_timeout(&args), ms(400));
        assert_eq!(System::Etcd(EtcdOptions::default()).election_timeout(&args), ms(150));
    }

    #[test]
    fn etcd_statuses_name_leaders_by_node_once_members_are_known() {
        let nodes: Vec<NodeSpec> = (0..2).map(spec).collect();
        let mut reader = StatusReader::new(System::Etcd(EtcdOptions::default()), &nodes);
        let raw = |own: &str, leader: &str| {
            Some(json!({"header": {"member_id": own}, "leader": leader, "raftTerm": "3", "raftIndex": "9"}))
        };
        let out = reader.read(vec![raw("11", "22"), raw("22", "22")]);
        assert_eq!(out[0].as_ref().unwrap()["leader"], 2);
        assert_eq!(out[1].as_ref().unwrap()["role"], "leader");
        // The table outlives one poll: a later answer from n1 alone still names n2.
        let out = reader.read(vec![raw("11", "22"), None]);
        assert_eq!(out[0].as_ref().unwrap()["leader"], 2);
    }

    fn spec(i: usize) -> NodeSpec {
        NodeSpec {
            index: i,
            name: format!("n{}", i + 1),
            id: i as u64 + 1,
            listen_peer: format!("127.0.0.1:{}", 7001 + i).parse().unwrap(),
            advertise_peer: None,
            listen_client: format!("127.0.0.1:{}", 8001 + i).parse().unwrap(),
            peer_addrs: Vec::new(),
            peers_arg: String::new(),
            client_addrs_arg: String::new(),
            dir: format!("/r/n{}", i + 1).into(),
            netns: None,
        }
    }

    fn described(roles: &str) -> System {
        let text = format!(
            "[node]\ncommand = [\"x\"]\n[roles]\npath = \"/s\"\n{roles}\n[client]\nkind = \"http-kv\"\n"
        );
        System::described(SystemFile::parse(&text, std::path::Path::new("f.toml")).unwrap())
    }

    #[test]
    fn system_file_roles_read_through_json_pointers() {
        let nodes: Vec<NodeSpec> = (0..3).map(spec).collect();
        // The leader named by address; the role string in another case; numbers as strings.
        let system = described("role = \"/state\"\nterm = \"/t\"\nleader = \"/l\"\nleader_is = \"addr\"");
        assert!(system.capabilities().roles && system.capabilities().terms);
        let mut reader = StatusReader::new(system, &nodes);
        let out = reader.read(vec![
            Some(json!({"state": "Leader", "t": "4", "l": "http://127.0.0.1:8001"})),
            Some(json!({"state": "follower", "t": 4, "l": "127.0.0.1:7001"})),
            None,
        ]);
        assert_eq!(out[0].as_ref().unwrap()["role"], "leader");
        assert_eq!(out[0].as_ref().unwrap()["term"], 4);
        assert_eq!(out[1].as_ref().unwrap()["leader"], 1);
        assert_eq!(out[1].as_ref().unwrap()["role"], "follower");
        assert!(out[2].is_none());
        // Leaders named by the system's own ids, learned from each node's answers.
        let system = described("leader = \"/leader\"\nleader_is = \"self\"\nself_id = \"/me\"");
        assert!(!system.capabilities().terms);
        let mut reader = StatusReader::new(system, &nodes);
        let out = reader.read(vec![
            Some(json!({"me": "a1", "leader": "c3"})),
            Some(json!({"me": "b2", "leader": "c3"})),
            Some(json!({"me": "c3", "leader": "c3"})),
        ]);
        assert_eq!(out[0].as_ref().unwrap()["leader"], 3);
        assert_eq!(out[0].as_ref().unwrap()["term"], 0, "no term pointer: term 0, raft-node's shape kept");
        assert_eq!(out[2].as_ref().unwrap()["role"], "leader");
        assert_eq!(out[1].as_ref().unwrap()["role"], "follower");
    }
}
