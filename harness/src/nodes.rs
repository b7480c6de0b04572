//! The nodes of a cluster as every part of the harness names them: index, `n1`-style name, Raft id,
//! addresses and directory. A leaf module: the system descriptions (raft-node, etcd), the cluster
//! backends, the store and the nemesis all speak of nodes through [`NodeSpec`] without depending on
//! each other.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

/// One node's identity and addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSpec {
    pub index: usize,
    /// `n1`, `n2`, ... (history and store names)
    pub name: String,
    /// Raft id: index + 1.
    pub id: u64,
    /// Where the node listens for peers (unused, `0.0.0.0:0`, for Maelstrom nodes: they talk over
    /// stdin and stdout).
    pub listen_peer: SocketAddr,
    /// Where every other node reaches this node's peer port when that is not `listen_peer` and the
    /// same for all of them (etcd on loopback: the relay in front of it).
    #[serde(default)]
    pub advertise_peer: Option<SocketAddr>,
    /// Where the node serves HTTP (clients use this address).
    pub listen_client: SocketAddr,
    /// Where this node reaches every node's peer port, in node order (its own view: through proxies
    /// where there are any; its own entry is its own listen address). Maelstrom nodes have none.
    #[serde(default)]
    pub peer_addrs: Vec<SocketAddr>,
    /// This node's `--peers` argument (`1=ADDR,2=ADDR,...` of `peer_addrs`).
    pub peers_arg: String,
    pub client_addrs_arg: String,
    pub dir: PathBuf,
    /// The namespace the node runs in (netns backend).
    pub netns: Option<String>,
}

/// A node's standard output, in its directory.
pub const STDOUT_LOG: &str = "stdout.log";
/// A node's standard error, in its directory.
pub const STDERR_LOG: &str = "stderr.log";
/// The node's own data (its WAL, snapshots, whatever the system keeps), in its directory.
pub const DATA_DIR: &str = "data";

impl NodeSpec {
    pub fn url(&self) -> String {
        format!("http://{}", self.listen_client)
    }

    /// Where the node keeps its data (`<node dir>/data`).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join(DATA_DIR)
    }

    pub fn stdout_log(&self) -> PathBuf {
        self.dir.join(STDOUT_LOG)
    }

    pub fn stderr_log(&self) -> PathBuf {
        self.dir.join(STDERR_LOG)
    }
}

/// What a fault actually did, for the history.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hit {
    pub node: String,
    pub pid: Option<u32>,
}
