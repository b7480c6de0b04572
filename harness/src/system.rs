//! The system-under-test seam: everything the harness does differently for each system it can drive.
//!
//! A [`System`] says how to start one of its nodes ([`System::node_argv`]), how a client speaks to it
//! ([`System::request`], [`System::answer`]), how its status reads as raft-node's `/status` shape
//! ([`StatusReader`]), what a crash looks like in its output, and which checks and faults apply to it
//! ([`System::capabilities`]). The protocol details live in one module per system
//! ([`crate::raftnode`], [`crate::etcd`]); the rest of the harness asks this module and never matches
//! on a system's name.

use crate::etcd::{self, EtcdOptions};
use crate::nodes::NodeSpec;
use crate::protocol::{Answer, Request, Response};
use crate::raftnode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::PathBuf;
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
}

/// The system under test, with its options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum System {
    /// This repository's raft-node.
    #[default]
    RaftNode,
    /// etcd 3.4 (Debian's `etcd-server`).
    Etcd(EtcdOptions),
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
}

impl System {
    /// The system of `kind` with `etcd` options (ignored for raft-node).
    pub fn new(kind: SystemKind, etcd: Option<EtcdOptions>) -> System {
        match kind {
            SystemKind::RaftNode => System::RaftNode,
            SystemKind::Etcd => System::Etcd(etcd.unwrap_or_default()),
        }
    }

    pub fn kind(self) -> SystemKind {
        match self {
            System::RaftNode => SystemKind::RaftNode,
            System::Etcd(_) => SystemKind::Etcd,
        }
    }

    /// The name used in test names, `test.json` and `--system`.
    pub fn name(self) -> &'static str {
        match self {
            System::RaftNode => "raft-node",
            System::Etcd(_) => "etcd",
        }
    }

    pub fn etcd_options(self) -> Option<EtcdOptions> {
        match self {
            System::RaftNode => None,
            System::Etcd(o) => Some(o),
        }
    }

    pub fn capabilities(self) -> Capabilities {
        let ours = self == System::RaftNode;
        Capabilities { committed_log: ours, leadership_log: ours, message_drops: ours, planted_bugs: ours }
    }

    /// Whether this system's client can run `workload`; the reason when not.
    pub fn check_workload(self, workload: Workload) -> Result<(), String> {
        match self {
            System::Etcd(_) if workload == Workload::Append => Err(format!(
                "--system etcd runs the register, txn-append and txn-rw workloads, not {workload}"
            )),
            _ => Ok(()),
        }
    }

    /// The flag that names this system's binary.
    pub fn binary_flag(self) -> &'static str {
        match self {
            System::RaftNode => "--node-bin",
            System::Etcd(_) => "--etcd-bin",
        }
    }

    /// Where this system's binary is found when no flag names it: raft-node next to the running
    /// executable, etcd on `PATH`.
    pub fn default_binary(self) -> Option<PathBuf> {
        match self {
            System::RaftNode => binary_next_to_exe("raft-node"),
            System::Etcd(_) => find_on_path("etcd"),
        }
    }

    /// How to get the binary when it is missing.
    pub fn install_hint(self) -> String {
        match self {
            System::RaftNode => {
                "build it with `cargo build --release -p node --bin raft-node` or pass --node-bin".into()
            }
            System::Etcd(_) => format!("install it with `{}` or pass --etcd-bin", etcd::INSTALL_HINT),
        }
    }

    /// The whole command line of node `spec` (binary first), with `extra` arguments at the end.
    /// `token` names this run's cluster (etcd's `--initial-cluster-token`).
    pub fn node_argv(
        self,
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
            System::Etcd(options) => etcd::argv(bin, spec, all, options, token),
        };
        argv.extend(extra.iter().cloned());
        argv
    }

    /// The request that performs `op`; Err when this system's client cannot express it (then
    /// nothing is sent and the operation provably did not happen). `empty_read` is what a read of a
    /// missing key returns in the workload (`[]` for lists), which tells a transaction's list reads
    /// from register reads.
    pub fn request(self, op: &Op, empty_read: &Value) -> Result<Request, String> {
        match self {
            System::RaftNode => Ok(raftnode::request(op)),
            System::Etcd(options) => etcd::request(op, options, empty_read),
        }
    }

    /// What `resp` says about `op`. `empty_read` is what a read of a missing key returns.
    pub fn answer(self, op: &Op, empty_read: &Value, resp: Response) -> Answer {
        match self {
            System::RaftNode => raftnode::answer(op, empty_read, resp),
            System::Etcd(_) => etcd::answer(op, empty_read, resp),
        }
    }

    /// The node that an answer redirects to (`host:port`), for systems whose followers say so.
    pub fn leader_hint(self, resp: &Response) -> Option<&str> {
        match self {
            System::RaftNode => raftnode::leader_hint(resp),
            System::Etcd(_) => None,
        }
    }

    /// The request that reads a node's status in the system's own shape ([`StatusReader`] turns it
    /// into raft-node's).
    pub fn status_request(self) -> Request {
        match self {
            System::RaftNode => Request::get("/status".into()),
            System::Etcd(_) => Request::post("/v3/maintenance/status".into(), json!({})),
        }
    }

    /// Whether a line of a node's stdout or stderr reports a crash (raft-node's panic marker; Go
    /// panics and fatal log lines for etcd).
    pub fn is_crash_line(self, line: &str) -> bool {
        match self {
            System::RaftNode => line.contains(raftnode::PANIC_MARKER),
            System::Etcd(_) => etcd::is_panic_line(line),
        }
    }
}

/// Reads status bodies of every node into raft-node's `/status` shape (`role`, `term`, `leader` as a
/// node id, `last_index`). etcd names its leader by member id, so the reader learns each node's
/// member id from that node's own answers and keeps the table across polls.
#[derive(Clone, Debug)]
pub struct StatusReader {
    system: System,
    members: Vec<Option<u64>>,
}

impl StatusReader {
    pub fn new(system: System, nodes: usize) -> StatusReader {
        StatusReader { system, members: vec![None; nodes] }
    }

    /// One raw status per node (None: no answer) in, the same in raft-node's shape out.
    pub fn read(&mut self, raw: Vec<Option<Value>>) -> Vec<Option<Value>> {
        if self.system == System::RaftNode {
            return raw;
        }
        for (i, r) in raw.iter().enumerate() {
            if let Some(id) = r.as_ref().and_then(etcd::member_id) {
                self.members[i] = Some(id);
            }
        }
        raw.iter()
            .enumerate()
            .map(|(i, r)| r.as_ref().and_then(|r| etcd::status_to_contract(r, i, &self.members)))
            .collect()
    }
}

/// `name` in a directory of `$PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// `name` next to the running executable (same target directory). Test binaries live in
/// `target/<profile>/deps`, so one level up is looked at too.
pub fn binary_next_to_exe(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    [dir.join(name), dir.parent()?.join(name)].into_iter().find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_systems_agree_on_names() {
        for kind in [SystemKind::RaftNode, SystemKind::Etcd] {
            let system = System::new(kind, None);
            assert_eq!(system.kind(), kind);
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, json!(system.name()));
        }
        let e = serde_json::from_value::<SystemKind>(json!("mongodb")).unwrap_err().to_string();
        assert!(e.contains("mongodb"), "{e}");
    }

    #[test]
    fn only_raft_node_has_our_logs_frames_and_bugs() {
        assert!(System::RaftNode.capabilities().committed_log);
        let etcd = System::Etcd(EtcdOptions::default()).capabilities();
        assert!(!etcd.committed_log && !etcd.message_drops && !etcd.planted_bugs && !etcd.leadership_log);
        assert!(System::Etcd(EtcdOptions::default()).check_workload(Workload::Append).is_err());
        assert!(System::Etcd(EtcdOptions::default()).check_workload(Workload::TxnAppend).is_ok());
        assert!(System::Etcd(EtcdOptions::default()).check_workload(Workload::TxnRw).is_ok());
        assert!(System::RaftNode.check_workload(Workload::Append).is_ok());
    }

    #[test]
    fn etcd_statuses_name_leaders_by_node_once_members_are_known() {
        let mut reader = StatusReader::new(System::Etcd(EtcdOptions::default()), 2);
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
}
