//! The loopback backend: nodes on 127.0.0.1, every peer link through the harness's proxy.
//!
//! Needs no privileges and works on any Unix laptop. Node `i` listens on its own peer and client
//! ports; its `--peers` lists, for every other node `j`, the address of the proxy for link `i -> j`,
//! which relays to `j`'s peer port. Cutting, losing and delaying traffic are settings of those proxies
//! (see [`crate::proxy`] for what they mean on a TCP stream). Ports are picked free by the kernel, so
//! parallel runs never collide.
//!
//! etcd members must all use one advertised peer URL per member, so for etcd (and systems whose file
//! says `peer_addresses = "shared"`) there is one relay per destination `j` (member `j` advertises
//! it), which tells the directed link `i -> j` of each connection from the `X-PeerURLs` header etcd
//! sends ([`proxy::Sender::FromPeerUrlsHeader`]).

use super::{
    Backend, Cluster, ClusterConfig, ClusterError, NodeSpec, Procs, addr_list, node_names, run_id, set_links,
};
use crate::proxy::{self, LinkState, LinkTable, PeerUrl, Proxy, Sender};
use crate::state::StateFile;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;
use workloads::{Grudge, Messages};

/// A cluster on 127.0.0.1.
#[derive(Debug)]
pub struct LoopbackCluster {
    state: Option<StateFile>,
    procs: Procs,
    links: LinkTable,
    proxies: Vec<Proxy>,
    /// One relay per member (etcd): they carry HTTP, not raft-node frames, so no message can be told
    /// from another.
    shared: bool,
}

/// `n` distinct free ports (held together while choosing so they differ).
///
/// The ports come from below the kernel's ephemeral range where there is room: a node that is killed
/// and restarted binds its ports again, and a port from the ephemeral range may meanwhile have become
/// the source port of one of the harness's own connections (clients, status polls, log watcher),
/// which would keep the node from ever starting again in that run.
fn free_ports(n: usize) -> std::io::Result<Vec<u16>> {
    const LOWEST: u16 = 1024;
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(0);
    let room = usize::from(ephemeral_low.saturating_sub(LOWEST));
    let mut listeners = Vec::with_capacity(n);
    if room >= 4 * n {
        // Start somewhere different each time so that concurrent runs rarely probe the same ports.
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let start = (nanos.subsec_nanos() as usize ^ std::process::id() as usize) % room;
        for k in 0..room {
            let port = LOWEST + ((start + k) % room) as u16;
            if let Ok(l) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
                listeners.push(l);
                if listeners.len() == n {
                    break;
                }
            }
        }
    }
    while listeners.len() < n {
        listeners.push(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?);
    }
    listeners.iter().map(|l| l.local_addr().map(|a| a.port())).collect()
}

impl LoopbackCluster {
    pub async fn create(config: ClusterConfig) -> Result<LoopbackCluster, ClusterError> {
        let rid = run_id(config.seed);
        let state = StateFile::create(&config.state_dir, &format!("loopback-{rid}"), "loopback")
            .map_err(|e| ClusterError::State { path: config.state_dir.clone(), source: e })?;
        let n = config.nodes;
        let ports = free_ports(3 * n).map_err(|e| ClusterError::Setup(format!("no free ports: {e}")))?;
        let local = |port: u16| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let peer: Vec<SocketAddr> = (0..n).map(|i| local(ports[i])).collect();
        let client: Vec<SocketAddr> = (0..n).map(|i| local(ports[n + i])).collect();
        let links = LinkTable::default();
        let mut proxies = Vec::new();
        // proxy_addr[i][j]: where node i reaches node j.
        let mut proxy_addr = vec![vec![None; n]; n];
        // Shared peer addresses (etcd): member j's advertised peer address, its relay.
        let shared = config.system.shared_peer_addresses();
        let mut advertised = vec![None; n];
        if shared {
            let relay: Vec<SocketAddr> = (0..n).map(|j| local(ports[2 * n + j])).collect();
            let urls: Vec<PeerUrl> = (0..n)
                .map(|i| PeerUrl { url: format!("http://{}", relay[i]), node: i, source: None })
                .collect();
            let urls = std::sync::Arc::new(urls);
            for j in 0..n {
                let sender = Sender::FromPeerUrlsHeader(urls.clone());
                let p = proxy::start(relay[j], peer[j], None, sender, j, links.clone(), config.seed)
                    .await
                    .map_err(|e| ClusterError::Setup(format!("proxy for etcd member n{}: {e}", j + 1)))?;
                advertised[j] = Some(p.listen);
                proxies.push(p);
            }
        }
        for (i, row) in proxy_addr.iter_mut().enumerate().filter(|_| !shared) {
            for (j, slot) in row.iter_mut().enumerate().filter(|(j, _)| *j != i) {
                let p = proxy::start(local(0), peer[j], None, Sender::Node(i), j, links.clone(), config.seed)
                    .await
                    .map_err(|e| ClusterError::Setup(format!("proxy for n{} -> n{}: {e}", i + 1, j + 1)))?;
                *slot = Some(p.listen);
                proxies.push(p);
            }
        }
        let names = node_names(n);
        let specs = (0..n)
            .map(|i| NodeSpec {
                index: i,
                name: names[i].clone(),
                id: i as u64 + 1,
                listen_peer: peer[i],
                advertise_peer: advertised[i],
                listen_client: client[i],
                peer_addrs: (0..n).map(|j| proxy_addr[i][j].unwrap_or(peer[j])).collect(),
                peers_arg: addr_list((0..n).map(|j| proxy_addr[i][j].unwrap_or(peer[j]))),
                client_addrs_arg: addr_list(client.iter().copied()),
                dir: config.nodes_dir.join(&names[i]),
                netns: None,
            })
            .collect();
        tracing::info!(run_id = %rid, nodes = n, "loopback cluster ready");
        Ok(LoopbackCluster {
            state: Some(state),
            procs: Procs::new(specs, &config, &rid),
            links,
            proxies,
            shared,
        })
    }
}

impl Cluster for LoopbackCluster {
    fn backend(&self) -> Backend {
        Backend::Loopback
    }

    fn nodes(&self) -> &[NodeSpec] {
        self.procs.specs()
    }

    fn cut(&mut self, grudge: &Grudge) -> Result<(), ClusterError> {
        set_links(&self.links, self.procs.specs(), grudge, |l| l.cut = true)
    }

    fn loss(&mut self, grudge: &Grudge, probability: f64) -> Result<(), ClusterError> {
        set_links(&self.links, self.procs.specs(), grudge, |l| l.loss = probability)
    }

    fn latency(&mut self, grudge: &Grudge, delay: Duration, jitter: Duration) -> Result<bool, ClusterError> {
        set_links(&self.links, self.procs.specs(), grudge, |l| (l.delay, l.jitter) = (delay, jitter))?;
        Ok(true)
    }

    fn drop_messages(&mut self, grudge: &Grudge, messages: Messages) -> Result<bool, ClusterError> {
        if self.shared {
            return Ok(false);
        }
        set_links(&self.links, self.procs.specs(), grudge, |l| l.drop_messages(messages))?;
        Ok(true)
    }

    fn deliver_messages(&mut self, grudge: &Grudge) -> Result<bool, ClusterError> {
        if self.shared {
            return Ok(false);
        }
        set_links(&self.links, self.procs.specs(), grudge, LinkState::deliver_messages)?;
        Ok(true)
    }

    fn messages_dropped(&self) -> Option<crate::proxy::DroppedMessages> {
        Some(self.links.dropped())
    }

    fn heal_network(&mut self) -> Result<(), ClusterError> {
        self.links.heal_all();
        Ok(())
    }

    fn teardown(&mut self) -> Result<(), ClusterError> {
        let Some(mut state) = self.state.take() else { return Ok(()) };
        let stopped = self.procs.shutdown(&mut state);
        self.proxies.clear();
        let path = state.path().to_path_buf();
        state.teardown().map_err(|e| ClusterError::State { path, source: e })?;
        stopped
    }

    fn procs(&mut self) -> (&mut Procs, &mut StateFile) {
        (&mut self.procs, self.state.as_mut().expect("state file lives until teardown"))
    }
}

impl Drop for LoopbackCluster {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            tracing::error!(error = %e, "loopback teardown failed; run `faultline cleanup`");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ports_are_distinct_and_below_the_ephemeral_range() {
        let ports = free_ports(15).unwrap();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 15, "{ports:?}");
        let Ok(range) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range") else {
            println!("skipped the range check: no /proc/sys/net/ipv4/ip_local_port_range here");
            return;
        };
        let low: u16 = range.split_whitespace().next().unwrap().parse().unwrap();
        if low > 1024 + 60 {
            assert!(ports.iter().all(|&p| (1024..low).contains(&p)), "{ports:?} not below {low}");
        }
    }
}
