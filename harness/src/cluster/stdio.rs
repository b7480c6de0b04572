//! The stdio backend: Maelstrom nodes, whose only network is the harness.
//!
//! Each node is a process whose stdin and stdout are pipes to the [`Network`] ([`crate::msgnet`]);
//! there are no addresses, namespaces or proxies. Partitions, loss and latency are settings of the
//! network's directed links, and so are the faults only a message network can make: dropping one body
//! type, duplicating and reordering messages. Processes are started, killed, paused and resumed by the
//! same [`Procs`] as on the other backends; a start connects the pipes and sends `init`.

use super::{Backend, Cluster, ClusterConfig, ClusterError, NodeSpec, Procs, node_index, node_names, run_id};
use crate::msgnet::{MsgLink, Network};
use crate::state::StateFile;
use std::net::SocketAddr;
use std::time::Duration;
use workloads::{Grudge, Messages};

/// Maelstrom nodes on the harness's message network.
#[derive(Debug)]
pub struct StdioCluster {
    state: Option<StateFile>,
    procs: Procs,
    network: Network,
}

impl StdioCluster {
    /// Must be called inside the run's tokio runtime (the network's tasks live there).
    pub fn create(config: ClusterConfig) -> Result<StdioCluster, ClusterError> {
        let rid = run_id(config.seed);
        let state = StateFile::create(&config.state_dir, &format!("stdio-{rid}"), "stdio")
            .map_err(|e| ClusterError::State { path: config.state_dir.clone(), source: e })?;
        let names = node_names(config.nodes);
        let none = SocketAddr::from(([0, 0, 0, 0], 0));
        let specs: Vec<NodeSpec> = (0..config.nodes)
            .map(|i| NodeSpec {
                index: i,
                name: names[i].clone(),
                id: i as u64 + 1,
                listen_peer: none,
                advertise_peer: None,
                listen_client: none,
                peer_addrs: Vec::new(),
                peers_arg: String::new(),
                client_addrs_arg: String::new(),
                dir: config.nodes_dir.join(&names[i]),
                netns: None,
            })
            .collect();
        let network = Network::new(
            names,
            specs.iter().map(NodeSpec::stdout_log).collect(),
            config.message_types.clone(),
            config.seed,
        );
        let procs = Procs::new(specs, &config, &rid).with_network(network.clone());
        tracing::info!(run_id = %rid, nodes = config.nodes, "message network ready");
        Ok(StdioCluster { state: Some(state), procs, network })
    }

    fn set_links(&self, grudge: &Grudge, f: impl Fn(&mut MsgLink)) -> Result<(), ClusterError> {
        for (from, to) in &grudge.cuts {
            let (a, b) = (node_index(from, self.procs.specs())?, node_index(to, self.procs.specs())?);
            self.network.set_link(a, b, &f);
        }
        Ok(())
    }
}

impl Cluster for StdioCluster {
    fn backend(&self) -> Backend {
        Backend::Stdio
    }

    fn nodes(&self) -> &[NodeSpec] {
        self.procs.specs()
    }

    fn cut(&mut self, grudge: &Grudge) -> Result<(), ClusterError> {
        self.set_links(grudge, |l| l.cut = true)
    }

    fn loss(&mut self, grudge: &Grudge, probability: f64) -> Result<(), ClusterError> {
        self.set_links(grudge, |l| l.loss = probability)
    }

    fn latency(&mut self, grudge: &Grudge, delay: Duration, jitter: Duration) -> Result<bool, ClusterError> {
        self.set_links(grudge, |l| (l.delay, l.jitter) = (delay, jitter))?;
        Ok(true)
    }

    /// Raft-node's message kinds mean nothing here; `drop` on this network is [`Cluster::drop_type`].
    fn drop_messages(&mut self, _grudge: &Grudge, _messages: Messages) -> Result<bool, ClusterError> {
        Ok(false)
    }

    fn deliver_messages(&mut self, grudge: &Grudge) -> Result<bool, ClusterError> {
        self.set_links(grudge, |l| l.drop_types.clear())?;
        Ok(true)
    }

    fn drop_type(&mut self, grudge: &Grudge, body_type: &str) -> Result<bool, ClusterError> {
        self.set_links(grudge, |l| {
            l.drop_types.insert(body_type.to_string());
        })?;
        Ok(true)
    }

    fn duplicate(&mut self, grudge: &Grudge, probability: f64) -> Result<bool, ClusterError> {
        self.set_links(grudge, |l| l.duplicate = probability)?;
        Ok(true)
    }

    fn reorder(&mut self, grudge: &Grudge, window: Duration) -> Result<bool, ClusterError> {
        self.set_links(grudge, |l| l.reorder = window)?;
        Ok(true)
    }

    fn network(&self) -> Option<Network> {
        Some(self.network.clone())
    }

    fn heal_network(&mut self) -> Result<(), ClusterError> {
        self.network.heal_all();
        Ok(())
    }

    fn teardown(&mut self) -> Result<(), ClusterError> {
        let Some(mut state) = self.state.take() else { return Ok(()) };
        let stopped = self.procs.shutdown(&mut state);
        self.network.shutdown();
        let path = state.path().to_path_buf();
        state.teardown().map_err(|e| ClusterError::State { path, source: e })?;
        stopped
    }

    fn procs(&mut self) -> (&mut Procs, &mut StateFile) {
        (&mut self.procs, self.state.as_mut().expect("state file lives until teardown"))
    }
}

impl Drop for StdioCluster {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            tracing::error!(error = %e, "stdio teardown failed; run `faultline cleanup`");
        }
    }
}
