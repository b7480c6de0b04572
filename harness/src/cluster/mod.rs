//! Clusters: real processes of the system under test (raft-node, etcd, a system file's, Maelstrom
//! nodes) on a network the harness controls.
//!
//! [`Cluster`] is what the run and the nemesis see: start, kill, pause and resume nodes, and cut, lose
//! or delay traffic on directed peer links. These backends implement it:
//!
//! - [`netns`] (root with `ip` and `iptables`): one network namespace per node on a private bridge,
//!   partitions as DROP rules in a chain of our own inside each namespace;
//! - [`loopback`] (anyone, anywhere): nodes on 127.0.0.1 ports, every peer link through the harness's
//!   [`crate::proxy`];
//! - [`ssh`] (`--hosts`): one node per remote host, started and signalled over SSH, partitions as
//!   DROP rules in a chain of our own on each host;
//! - [`stdio`] (Maelstrom nodes, whatever `--net` says): nodes talk over stdin and stdout, and the
//!   harness's [`crate::msgnet`] is their whole network.
//!
//! Process management is the same for both and lives in [`Procs`] (the [`Cluster`] trait's process
//! methods are written once, over [`Cluster::procs`]); the backends differ only in addresses, the
//! command prefix (`ip netns exec`) and how a link is cut. What a node's command line looks like
//! depends on the [`System`]: raft-node's flags (CONTRACTS.md section 2), etcd's
//! ([`crate::etcd::argv`]) or a system file's template. Every resource is recorded in
//! the [`StateFile`] before it exists, and [`Cluster::teardown`] removes all of it.

pub mod loopback;
pub mod netns;
pub mod ssh;
pub mod stdio;

use crate::lazyfs::Disk;
use crate::msgnet::Network;
pub use crate::nodes::{Hit, NodeSpec};
use crate::signals::{self, Launch, Spawned};
use crate::state::{ProcRecord, StateFile};
use crate::system::System;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use workloads::{Grudge, Messages};

/// Which backend runs the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Netns,
    Loopback,
    /// Maelstrom nodes: stdin and stdout through the harness (chosen by the system, not by `--net`).
    #[value(skip)]
    Stdio,
    /// One node per remote host over SSH (chosen by `--hosts`, not by `--net`).
    #[value(skip)]
    Ssh,
}

impl Backend {
    /// netns when we are root and `ip` and `iptables` are installed, loopback otherwise.
    pub fn auto() -> Backend {
        if nix::unistd::geteuid().is_root()
            && crate::netcmd::available("ip")
            && crate::netcmd::available("iptables")
        {
            Backend::Netns
        } else {
            Backend::Loopback
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Netns => "netns",
            Backend::Loopback => "loopback",
            Backend::Stdio => "stdio",
            Backend::Ssh => "ssh",
        }
    }
}

/// Why a cluster operation failed. Each of these is a harness error: the run stops and cleans up.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    NetCmd(#[from] crate::netcmd::NetCmdError),
    #[error("could not start node {node} ({command}): {source}")]
    Spawn { node: String, command: String, source: std::io::Error },
    #[error("signal to node {node} (pid {pid}) failed: {source}")]
    Signal { node: String, pid: u32, source: nix::Error },
    #[error("state file {path}: {source}")]
    State { path: PathBuf, source: std::io::Error },
    #[error("the netns backend needs root (running as uid {0}); use --net loopback")]
    NotRoot(u32),
    #[error(transparent)]
    Disk(#[from] crate::lazyfs::LazyFsError),
    #[error(transparent)]
    Corrupt(#[from] crate::diskfault::DiskFaultError),
    #[error(
        "power loss of node {node}: its data directory is not mounted through lazyfs (the run did not ask for power-loss)"
    )]
    NoLazyFs { node: String },
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Ssh(#[from] crate::ssh::SshError),
    /// Hosts that failed their checks before the run (every one of them, in host order).
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Hosts(Vec<crate::ssh::SshError>),
}

/// Everything the cluster needs to know to start its nodes.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    pub nodes: usize,
    pub system: System,
    /// The system's binary (raft-node, etcd, a system file's program, a Maelstrom node's).
    pub node_bin: PathBuf,
    pub node_args: Vec<String>,
    /// `<run dir>/nodes`; each node gets `<name>/{stdout.log,stderr.log,data/}`.
    pub nodes_dir: PathBuf,
    pub seed: u64,
    /// Put peer links through the proxy even on netns (for latency and message-drop faults).
    pub proxied: bool,
    /// Mount each node's data directory through lazyfs, with these metadata semantics (for
    /// power-loss faults).
    pub lazyfs: Option<crate::lazyfs::Metadata>,
    pub state_dir: PathBuf,
    /// Body types message faults act on (Maelstrom nodes; empty: all).
    pub message_types: Vec<String>,
    /// The remote hosts and how to reach them (the ssh backend).
    pub ssh: Option<crate::ssh::SshOptions>,
}

/// A cluster of the system's processes under the harness's control.
pub trait Cluster: Send + std::fmt::Debug {
    fn backend(&self) -> Backend;
    fn nodes(&self) -> &[NodeSpec];
    /// Drops everything on the grudge's links.
    fn cut(&mut self, grudge: &Grudge) -> Result<(), ClusterError>;
    /// Drops packets on the grudge's links with this probability.
    fn loss(&mut self, grudge: &Grudge, probability: f64) -> Result<(), ClusterError>;
    /// Delays traffic on the grudge's links; Ok(false) when this cluster cannot (netns without proxies).
    fn latency(&mut self, grudge: &Grudge, delay: Duration, jitter: Duration) -> Result<bool, ClusterError>;
    /// Drops one kind of Raft message on the grudge's links; Ok(false) when this cluster cannot (its
    /// links do not pass through the proxy, or they carry etcd's traffic, which has no raft-node frames).
    fn drop_messages(&mut self, grudge: &Grudge, messages: Messages) -> Result<bool, ClusterError>;
    /// Stops dropping messages by kind on the grudge's links; Ok(false) where nothing can be dropped.
    fn deliver_messages(&mut self, grudge: &Grudge) -> Result<bool, ClusterError>;
    /// Drops every message of body type `body_type` on the grudge's links; Ok(false) when this
    /// cluster's network does not see messages (every backend but the message network).
    fn drop_type(&mut self, _grudge: &Grudge, _body_type: &str) -> Result<bool, ClusterError> {
        Ok(false)
    }
    /// Delivers messages on the grudge's links twice with this probability; Ok(false) as above.
    fn duplicate(&mut self, _grudge: &Grudge, _probability: f64) -> Result<bool, ClusterError> {
        Ok(false)
    }
    /// Holds messages on the grudge's links back by random times below `window`; Ok(false) as above.
    fn reorder(&mut self, _grudge: &Grudge, _window: Duration) -> Result<bool, ClusterError> {
        Ok(false)
    }
    /// The message network, for clusters that are one (Maelstrom nodes).
    fn network(&self) -> Option<Network> {
        None
    }
    /// Removes every cut, loss and delay.
    fn heal_network(&mut self) -> Result<(), ClusterError>;
    /// Raft messages the proxies left out so far, by kind; None when no link goes through a proxy.
    fn messages_dropped(&self) -> Option<crate::proxy::DroppedMessages> {
        None
    }
    /// Kills every node and removes every resource; safe to call after errors.
    fn teardown(&mut self) -> Result<(), ClusterError>;

    /// The cluster's processes and the state file they are recorded in (panics after teardown).
    fn procs(&mut self) -> (&mut Procs, &mut StateFile);

    /// Starts node `i` if it is not running; returns its pid.
    fn start(&mut self, i: usize) -> Result<u32, ClusterError> {
        let (procs, state) = self.procs();
        procs.start(i, state)
    }

    /// SIGKILLs node `i`; returns the pid killed, None if it was not running.
    fn kill(&mut self, i: usize) -> Result<Option<u32>, ClusterError> {
        let (procs, state) = self.procs();
        procs.kill(i, state)
    }

    /// Cuts the power of node `i`: SIGKILL if it runs, then everything its disk did not sync is lost.
    fn power_loss(&mut self, i: usize) -> Result<PowerCut, ClusterError> {
        let (procs, state) = self.procs();
        procs.power_loss(i, state)
    }

    /// SIGSTOPs node `i`; returns the pid, None if it was not running or already paused.
    fn pause(&mut self, i: usize) -> Result<Option<u32>, ClusterError> {
        self.procs().0.pause(i)
    }

    /// SIGCONTs node `i` if paused; returns the pid.
    fn resume(&mut self, i: usize) -> Result<Option<u32>, ClusterError> {
        self.procs().0.resume(i)
    }

    /// Pids of running nodes by index (None where down), reaping any that died on their own.
    fn pids(&mut self) -> Vec<Option<u32>> {
        let (procs, state) = self.procs();
        procs.pids(state)
    }
}

/// Creates the cluster on the chosen backend (nodes not started yet). Maelstrom nodes always get the
/// message network.
pub async fn create(backend: Backend, config: ClusterConfig) -> Result<Box<dyn Cluster>, ClusterError> {
    if config.system.capabilities().message_network {
        return Ok(Box::new(stdio::StdioCluster::create(config)?));
    }
    Ok(match backend {
        Backend::Netns => Box::new(netns::NetnsCluster::create(config).await?),
        Backend::Ssh => Box::new(ssh::SshCluster::create(config).await?),
        Backend::Loopback | Backend::Stdio => Box::new(loopback::LoopbackCluster::create(config).await?),
    })
}

/// A short random id for names of this run's resources (namespaces, links, chains, state file).
pub fn run_id(seed: u64) -> String {
    let mix = seed ^ (std::process::id() as u64).rotate_left(32) ^ now_nanos();
    format!("{:06x}", (mix ^ (mix >> 24)) & 0xff_ffff)
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// What a power loss did to one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PowerCut {
    /// The pid killed, None if the node was down already (its disk loses its cache all the same).
    pub pid: Option<u32>,
    pub lost: crate::lazyfs::cache::Lost,
}

/// The processes of a cluster: spawning with the right argv, signalling, reaping, recording; and
/// their disks when they are mounted through lazyfs.
#[derive(Debug)]
pub struct Procs {
    specs: Vec<NodeSpec>,
    system: System,
    /// etcd's `--initial-cluster-token`: unique per run, so members of two runs never join up.
    token: String,
    node_bin: PathBuf,
    node_args: Vec<String>,
    seed: u64,
    running: Vec<Option<Spawned>>,
    paused: Vec<bool>,
    lazyfs: Option<crate::lazyfs::Metadata>,
    /// Node `i`'s data directory mounted through lazyfs (from its first start on, with `lazyfs`).
    disks: Vec<Option<Disk>>,
    /// The message network the nodes' stdin and stdout are connected to (Maelstrom nodes).
    network: Option<Network>,
}

impl Procs {
    /// `run_id` names this run's resources ([`run_id`]); etcd's cluster token is made from it.
    pub fn new(specs: Vec<NodeSpec>, config: &ClusterConfig, run_id: &str) -> Procs {
        let n = specs.len();
        Procs {
            specs,
            system: config.system.clone(),
            token: format!("faultline-{run_id}-{}", config.seed),
            node_bin: config.node_bin.clone(),
            node_args: config.node_args.clone(),
            seed: config.seed,
            running: (0..n).map(|_| None).collect(),
            paused: vec![false; n],
            lazyfs: config.lazyfs,
            disks: (0..n).map(|_| None).collect(),
            network: None,
        }
    }

    /// Connects every start of a node to `network` (stdin and stdout as pipes, `init` sent).
    pub fn with_network(mut self, network: Network) -> Procs {
        self.network = Some(network);
        self
    }

    pub fn specs(&self) -> &[NodeSpec] {
        &self.specs
    }

    pub fn system(&self) -> &System {
        &self.system
    }

    /// This run's cluster token (etcd's `--initial-cluster-token`, a system file's `{token}`).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The full command line of node `i`.
    pub fn argv(&self, i: usize) -> Vec<String> {
        let s = &self.specs[i];
        let mut argv = Vec::new();
        if let Some(ns) = &s.netns {
            argv.extend(["ip", "netns", "exec", ns.as_str()].map(String::from));
        }
        let bin = self.node_bin.display().to_string();
        argv.extend(self.system.node_argv(&bin, s, &self.specs, self.seed, &self.token, &self.node_args));
        argv
    }

    pub fn start(&mut self, i: usize, state: &mut StateFile) -> Result<u32, ClusterError> {
        self.reap(i, state);
        if let Some(p) = &self.running[i] {
            return Ok(p.pid());
        }
        let spec = &self.specs[i];
        std::fs::create_dir_all(spec.data_dir()).map_err(|e| ClusterError::Spawn {
            node: spec.name.clone(),
            command: "mkdir".into(),
            source: e,
        })?;
        if let Some(metadata) = self.lazyfs
            && self.disks[i].is_none()
        {
            let dir = spec.data_dir();
            state
                .add_mount(&dir)
                .map_err(|e| ClusterError::State { path: state.path().to_path_buf(), source: e })?;
            match Disk::mount(&dir, metadata) {
                Ok(d) => self.disks[i] = Some(d),
                Err(e) => {
                    let _ = state.remove_mount(&dir);
                    return Err(e.into());
                }
            }
        }
        let spec = &self.specs[i];
        let argv = self.argv(i);
        let env = self.system.node_env(spec, &self.specs, self.seed, &self.token);
        let cwd = self.system.node_cwd(spec, &self.specs, self.seed, &self.token);
        let spawn_error =
            |e| ClusterError::Spawn { node: spec.name.clone(), command: argv.join(" "), source: e };
        std::fs::create_dir_all(&cwd).map_err(spawn_error)?;
        let launch = Launch {
            argv: &argv,
            env: &env,
            cwd: Some(&cwd),
            stdout: &spec.stdout_log(),
            stderr: &spec.stderr_log(),
        };
        let p = match &self.network {
            None => signals::spawn(launch).map_err(spawn_error)?,
            Some(net) => {
                let (p, stdin, stdout) = signals::spawn_piped(launch).map_err(spawn_error)?;
                if let Err(e) = net.attach(i, stdin, stdout) {
                    let _ = p.kill();
                    return Err(spawn_error(e));
                }
                p
            }
        };
        let pid = p.pid();
        state
            .add_process(ProcRecord { node: spec.name.clone(), pid, start_time: p.start_time() })
            .map_err(|e| ClusterError::State { path: state.path().to_path_buf(), source: e })?;
        tracing::info!(node = %spec.name, pid, "node started");
        self.running[i] = Some(p);
        self.paused[i] = false;
        Ok(pid)
    }

    /// Forgets a node that exited by itself (crash, panic), so it can be restarted.
    fn reap(&mut self, i: usize, state: &mut StateFile) {
        if let Some(p) = &mut self.running[i]
            && let Some(status) = p.exited()
        {
            tracing::warn!(node = %self.specs[i].name, pid = p.pid(), %status, "node exited on its own");
            let pid = p.pid();
            if let Some(net) = &self.network {
                net.detach(i);
            }
            self.running[i] = None;
            self.paused[i] = false;
            let _ = state.remove_process(pid);
        }
    }

    pub fn kill(&mut self, i: usize, state: &mut StateFile) -> Result<Option<u32>, ClusterError> {
        self.reap(i, state);
        let Some(p) = self.running[i].take() else { return Ok(None) };
        let pid = p.pid();
        let _ = p.kill();
        if let Some(net) = &self.network {
            net.detach(i);
        }
        self.paused[i] = false;
        state
            .remove_process(pid)
            .map_err(|e| ClusterError::State { path: state.path().to_path_buf(), source: e })?;
        tracing::info!(node = %self.specs[i].name, pid, "node killed");
        Ok(Some(pid))
    }

    /// SIGKILL (when running), then the disk forgets what was not synced.
    pub fn power_loss(&mut self, i: usize, state: &mut StateFile) -> Result<PowerCut, ClusterError> {
        let pid = self.kill(i, state)?;
        let node = self.specs[i].name.clone();
        let disk = self.disks[i].as_mut().ok_or(ClusterError::NoLazyFs { node: node.clone() })?;
        let lost = disk.power_loss()?;
        tracing::info!(node = %node, ?pid, ?lost, "power lost");
        Ok(PowerCut { pid, lost })
    }

    pub fn pause(&mut self, i: usize) -> Result<Option<u32>, ClusterError> {
        match &self.running[i] {
            Some(p) if !self.paused[i] => {
                p.pause().map_err(|e| ClusterError::Signal {
                    node: self.specs[i].name.clone(),
                    pid: p.pid(),
                    source: e,
                })?;
                self.paused[i] = true;
                Ok(Some(p.pid()))
            }
            _ => Ok(None),
        }
    }

    pub fn resume(&mut self, i: usize) -> Result<Option<u32>, ClusterError> {
        match &self.running[i] {
            Some(p) if self.paused[i] => {
                p.resume().map_err(|e| ClusterError::Signal {
                    node: self.specs[i].name.clone(),
                    pid: p.pid(),
                    source: e,
                })?;
                self.paused[i] = false;
                Ok(Some(p.pid()))
            }
            _ => Ok(None),
        }
    }

    pub fn pids(&mut self, state: &mut StateFile) -> Vec<Option<u32>> {
        (0..self.specs.len())
            .map(|i| {
                self.reap(i, state);
                self.running[i].as_ref().map(Spawned::pid)
            })
            .collect()
    }

    /// Stops every node at teardown: with the system's stop signal and its grace where it has one
    /// (all nodes signalled first, so the graces run together), SIGKILL otherwise.
    pub fn kill_all(&mut self, state: &mut StateFile) {
        if let Some((signal, grace)) = self.system.stop_signal() {
            let running: Vec<(usize, Spawned)> =
                (0..self.specs.len()).filter_map(|i| Some((i, self.running[i].take()?))).collect();
            let handles: Vec<_> = running
                .into_iter()
                .map(|(i, p)| {
                    let pid = p.pid();
                    (i, pid, std::thread::spawn(move || p.stop(signal, grace)))
                })
                .collect();
            for (i, pid, h) in handles {
                let _ = h.join();
                if let Some(net) = &self.network {
                    net.detach(i);
                }
                let _ = state.remove_process(pid);
            }
        }
        for i in 0..self.specs.len() {
            let _ = self.kill(i, state);
        }
        if let Some(net) = &self.network {
            net.shutdown();
        }
    }

    /// Stops every node ([`Procs::kill_all`]), then unmounts every disk (writing each back into its
    /// data directory). Carries on past failures and returns the first.
    pub fn shutdown(&mut self, state: &mut StateFile) -> Result<(), ClusterError> {
        self.kill_all(state);
        let mut first = None;
        for disk in self.disks.iter_mut().filter_map(Option::take) {
            let dir = disk.path().to_path_buf();
            match disk.unmount() {
                Ok(()) => {
                    let _ = state.remove_mount(&dir);
                }
                Err(e) => {
                    tracing::error!(error = %e, "lazyfs unmount failed");
                    first.get_or_insert(ClusterError::from(e));
                }
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// Node names `n1..nN`.
pub fn node_names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("n{i}")).collect()
}

/// `1=addr,2=addr,...`
pub fn addr_list(addrs: impl IntoIterator<Item = SocketAddr>) -> String {
    addrs.into_iter().enumerate().map(|(i, a)| format!("{}={a}", i + 1)).collect::<Vec<_>>().join(",")
}

/// Changes the proxy state of every link of `grudge` (node names resolved against `nodes`).
pub(crate) fn set_links(
    links: &crate::proxy::LinkTable,
    nodes: &[NodeSpec],
    grudge: &Grudge,
    f: impl Fn(&mut crate::proxy::LinkState),
) -> Result<(), ClusterError> {
    for (from, to) in &grudge.cuts {
        links.set(node_index(from, nodes)?, node_index(to, nodes)?, &f);
    }
    Ok(())
}

/// [`index_of`] for a name that must be one of `nodes` (a fault's target).
pub(crate) fn node_index(name: &str, nodes: &[NodeSpec]) -> Result<usize, ClusterError> {
    index_of(name, nodes).ok_or_else(|| ClusterError::Setup(format!("no node named {name}")))
}

/// Index of a node name (`n3` -> 2).
pub fn index_of(name: &str, nodes: &[NodeSpec]) -> Option<usize> {
    nodes.iter().position(|n| n.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_argv_has_every_contract_flag_then_the_user_args() {
        let spec = NodeSpec {
            index: 0,
            name: "n1".into(),
            id: 1,
            listen_peer: "10.1.2.11:7000".parse().unwrap(),
            advertise_peer: None,
            listen_client: "10.1.2.11:8000".parse().unwrap(),
            peer_addrs: Vec::new(),
            peers_arg: "1=10.1.2.11:7000,2=10.1.2.12:7000".into(),
            client_addrs_arg: "1=10.1.2.11:8000,2=10.1.2.12:8000".into(),
            dir: "/s/nodes/n1".into(),
            netns: Some("fl-abc-n1".into()),
        };
        let config = ClusterConfig {
            nodes: 2,
            system: System::RaftNode,
            node_bin: "/bin/raft-node".into(),
            node_args: vec!["--bug".into(), "stale-read".into()],
            nodes_dir: "/s/nodes".into(),
            seed: 10,
            proxied: false,
            lazyfs: None,
            state_dir: "/tmp".into(),
            message_types: Vec::new(),
            ssh: None,
        };
        let procs = Procs::new(vec![spec], &config, "abc");
        let argv = procs.argv(0).join(" ");
        assert_eq!(
            argv,
            "ip netns exec fl-abc-n1 /bin/raft-node --id 1 --peers 1=10.1.2.11:7000,2=10.1.2.12:7000 \
             --client-addrs 1=10.1.2.11:8000,2=10.1.2.12:8000 --listen-peer 10.1.2.11:7000 \
             --listen-client 10.1.2.11:8000 --data-dir /s/nodes/n1/data --seed 11 --bug stale-read"
        );
    }

    #[test]
    fn addr_lists_number_nodes_from_one() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        assert_eq!(addr_list([a, b]), "1=127.0.0.1:1,2=127.0.0.1:2");
    }
}
