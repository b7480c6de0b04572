//! The netns backend: one Linux network namespace per node, joined by a bridge.
//!
//! Layout for run id `RID` on subnet `10.A.B.0/24`: bridge `flbRID` holds `10.A.B.1` (the harness's
//! address: clients and status polls come from it, so firewall rules on node addresses never touch
//! them); node `nI` lives in namespace `fl-RID-nI` on `10.A.B.(10+I)` behind a veth pair
//! `flvRIDhI` (bridge side) / `flvRIDpI` (namespace side), listening on port 7000 for peers and 8000
//! for clients. When latency faults are requested, peer links go through the harness's proxy: node `i`
//! reaches node `j` at `10.A.B.(100+j):(9000+i)`, an alias on the bridge, and the proxy connects on
//! from `10.A.B.(100+i)`, so in every namespace the traffic of node `i` still carries one of `i`'s two
//! addresses. etcd members cannot be given one address per link (all must agree on each member's
//! advertised peer URL), so with proxies etcd member `j` advertises `10.A.B.(100+j):9000`, one relay
//! that tells the sender of each connection from etcd's `X-PeerURLs` header and connects on from the
//! sender's alias in the same way.
//!
//! A partition is a DROP rule per cut link in chain `FL-RID`, which exists only inside our namespaces
//! and is jumped to from their INPUT chains; healing flushes that chain alone. Deleting a namespace
//! deletes its rules and veth end, so teardown is "kill the nodes, delete the namespaces and the bridge".

use super::{Backend, Cluster, ClusterConfig, ClusterError, NodeSpec, Procs, addr_list, node_names, run_id};
use crate::netcmd::{self, drop_from, drop_some_from, ip, ip_in, iptables_in};
use crate::proxy::{self, LinkTable, PeerUrl, Proxy, Sender};
use crate::state::StateFile;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use workloads::{Grudge, Messages};

const PEER_PORT: u16 = 7000;
const CLIENT_PORT: u16 = 8000;
const PROXY_BASE_PORT: u16 = 9000;

/// A cluster in network namespaces.
#[derive(Debug)]
pub struct NetnsCluster {
    state: Option<StateFile>,
    procs: Procs,
    chain: String,
    namespaces: Vec<String>,
    ips: Vec<Ipv4Addr>,
    aliases: Vec<Ipv4Addr>,
    proxied: bool,
    /// Shared peer addresses (etcd): one sniffing relay per member instead of one relay per link.
    etcd: bool,
    links: LinkTable,
    proxies: Vec<Proxy>,
}

/// Picks a /24 in 10.0.0.0/8 that no interface or route on the host uses yet.
fn free_subnet(seed: u64) -> Result<(u8, u8), ClusterError> {
    let used = format!(
        "{}\n{}",
        netcmd::run(&ip(&["-4", "-o", "addr", "show"]))?,
        netcmd::run(&ip(&["-4", "route", "show", "table", "all"]))?
    );
    for k in 0..512u64 {
        let h = seed.wrapping_add(k).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
        let (a, b) = (100 + (h % 150) as u8, ((h >> 8) % 256) as u8);
        if !used.contains(&format!("10.{a}.{b}.")) {
            return Ok((a, b));
        }
    }
    Err(ClusterError::Setup("no free 10.x.y.0/24 subnet on this host".into()))
}

impl NetnsCluster {
    pub async fn create(config: ClusterConfig) -> Result<NetnsCluster, ClusterError> {
        let uid = nix::unistd::geteuid();
        if !uid.is_root() {
            return Err(ClusterError::NotRoot(uid.as_raw()));
        }
        for program in ["ip", "iptables"] {
            if !netcmd::available(program) {
                return Err(netcmd::NetCmdError::Missing {
                    program: program.into(),
                    package: if program == "ip" { "iproute2" } else { "iptables" },
                }
                .into());
            }
        }
        let rid = run_id(config.seed);
        let state = StateFile::create(&config.state_dir, &format!("netns-{rid}"), "netns")
            .map_err(|e| ClusterError::State { path: config.state_dir.clone(), source: e })?;
        let (a, b) = free_subnet(config.seed ^ u64::from_str_radix(&rid, 16).unwrap_or(0))?;
        let n = config.nodes;
        let ips: Vec<Ipv4Addr> = (0..n).map(|i| Ipv4Addr::new(10, a, b, 11 + i as u8)).collect();
        let aliases: Vec<Ipv4Addr> = (0..n).map(|i| Ipv4Addr::new(10, a, b, 101 + i as u8)).collect();
        let names = node_names(n);
        let sock = |ip: Ipv4Addr, port: u16| SocketAddr::new(IpAddr::V4(ip), port);
        let client_addrs = addr_list(ips.iter().map(|&ip| sock(ip, CLIENT_PORT)));
        let specs: Vec<NodeSpec> = (0..n)
            .map(|i| {
                let peers = (0..n).map(|j| {
                    if config.proxied && j != i {
                        sock(aliases[j], PROXY_BASE_PORT + i as u16)
                    } else {
                        sock(ips[j], PEER_PORT)
                    }
                });
                NodeSpec {
                    index: i,
                    name: names[i].clone(),
                    id: i as u64 + 1,
                    listen_peer: sock(ips[i], PEER_PORT),
                    advertise_peer: (config.proxied && config.system.shared_peer_addresses())
                        .then(|| sock(aliases[i], PROXY_BASE_PORT)),
                    listen_client: sock(ips[i], CLIENT_PORT),
                    peer_addrs: peers.clone().collect(),
                    peers_arg: addr_list(peers),
                    client_addrs_arg: client_addrs.clone(),
                    dir: config.nodes_dir.join(&names[i]),
                    netns: Some(format!("fl-{rid}-{}", names[i])),
                }
            })
            .collect();
        let mut cluster = NetnsCluster {
            state: Some(state),
            procs: Procs::new(specs.clone(), &config, &rid),
            chain: format!("FL-{rid}"),
            namespaces: specs
                .iter()
                .map(|s| s.netns.clone().expect("netns specs name a namespace"))
                .collect(),
            ips,
            aliases,
            proxied: config.proxied,
            etcd: config.system.shared_peer_addresses(),
            links: LinkTable::default(),
            proxies: Vec::new(),
        };
        // On any failure below, tear down what exists so far.
        match cluster.build(&rid, a, b, config.seed).await {
            Ok(()) => Ok(cluster),
            Err(e) => {
                let _ = cluster.teardown();
                Err(e)
            }
        }
    }

    fn state(&mut self) -> &mut StateFile {
        self.state.as_mut().expect("state file lives until teardown")
    }

    fn record(&mut self, what: &str, ns: bool) -> Result<(), ClusterError> {
        let state = self.state();
        let r = if ns { state.add_namespace(what) } else { state.add_link(what) };
        r.map_err(|e| ClusterError::State { path: state.path().to_path_buf(), source: e })
    }

    async fn build(&mut self, rid: &str, a: u8, b: u8, seed: u64) -> Result<(), ClusterError> {
        let bridge = format!("flb{rid}");
        self.record(&bridge, false)?;
        netcmd::run(&ip(&["link", "add", &bridge, "type", "bridge"]))?;
        netcmd::run(&ip(&["addr", "add", &format!("10.{a}.{b}.1/24"), "dev", &bridge]))?;
        netcmd::run(&ip(&["link", "set", &bridge, "up"]))?;
        for i in 0..self.namespaces.len() {
            let ns = self.namespaces[i].clone();
            let (host, peer) = (format!("flv{rid}h{}", i + 1), format!("flv{rid}p{}", i + 1));
            self.record(&ns, true)?;
            netcmd::run(&ip(&["netns", "add", &ns]))?;
            self.record(&host, false)?;
            netcmd::run(&ip(&["link", "add", &host, "type", "veth", "peer", "name", &peer]))?;
            netcmd::run(&ip(&["link", "set", &peer, "netns", &ns]))?;
            netcmd::run(&ip(&["link", "set", &host, "master", &bridge]))?;
            netcmd::run(&ip(&["link", "set", &host, "up"]))?;
            netcmd::run(&ip_in(&ns, &["addr", "add", &format!("{}/24", self.ips[i]), "dev", &peer]))?;
            netcmd::run(&ip_in(&ns, &["link", "set", &peer, "up"]))?;
            netcmd::run(&ip_in(&ns, &["link", "set", "lo", "up"]))?;
            netcmd::run(&iptables_in(&ns, &["-N", &self.chain]))?;
            netcmd::run(&iptables_in(&ns, &["-I", "INPUT", "-j", &self.chain]))?;
        }
        if self.proxied {
            for alias in self.aliases.clone() {
                netcmd::run(&ip(&["addr", "add", &format!("{alias}/32"), "dev", &bridge]))?;
            }
            let n = self.namespaces.len();
            if self.etcd {
                let urls: Vec<PeerUrl> = (0..n)
                    .map(|i| PeerUrl {
                        url: format!("http://{}:{PROXY_BASE_PORT}", self.aliases[i]),
                        node: i,
                        source: Some(SocketAddr::new(IpAddr::V4(self.aliases[i]), 0)),
                    })
                    .collect();
                let urls = std::sync::Arc::new(urls);
                for j in 0..n {
                    let listen = SocketAddr::new(IpAddr::V4(self.aliases[j]), PROXY_BASE_PORT);
                    let upstream = SocketAddr::new(IpAddr::V4(self.ips[j]), PEER_PORT);
                    let sender = Sender::FromPeerUrlsHeader(urls.clone());
                    let p = proxy::start(listen, upstream, None, sender, j, self.links.clone(), seed)
                        .await
                        .map_err(|e| ClusterError::Setup(format!("proxy on {listen}: {e}")))?;
                    self.proxies.push(p);
                }
            }
            for i in (0..n).filter(|_| !self.etcd) {
                for j in (0..n).filter(|&j| j != i) {
                    let listen = SocketAddr::new(IpAddr::V4(self.aliases[j]), PROXY_BASE_PORT + i as u16);
                    let upstream = SocketAddr::new(IpAddr::V4(self.ips[j]), PEER_PORT);
                    let source = SocketAddr::new(IpAddr::V4(self.aliases[i]), 0);
                    let p = proxy::start(
                        listen,
                        upstream,
                        Some(source),
                        Sender::Node(i),
                        j,
                        self.links.clone(),
                        seed,
                    )
                    .await
                    .map_err(|e| ClusterError::Setup(format!("proxy on {listen}: {e}")))?;
                    self.proxies.push(p);
                }
            }
        }
        tracing::info!(run_id = rid, subnet = %format!("10.{a}.{b}.0/24"), nodes = self.namespaces.len(), proxied = self.proxied, "netns cluster ready");
        Ok(())
    }

    fn index(&self, name: &str) -> Result<usize, ClusterError> {
        super::node_index(name, self.procs.specs())
    }

    /// The addresses traffic of node `i` can carry.
    fn sources(&self, i: usize) -> Vec<String> {
        let mut s = vec![self.ips[i].to_string()];
        if self.proxied {
            s.push(self.aliases[i].to_string());
        }
        s
    }
}

impl Cluster for NetnsCluster {
    fn backend(&self) -> Backend {
        Backend::Netns
    }

    fn nodes(&self) -> &[NodeSpec] {
        self.procs.specs()
    }

    fn cut(&mut self, grudge: &Grudge) -> Result<(), ClusterError> {
        for (from, to) in &grudge.cuts {
            let (f, t) = (self.index(from)?, self.index(to)?);
            for src in self.sources(f) {
                netcmd::run(&drop_from(&self.namespaces[t], &self.chain, &src))?;
            }
        }
        Ok(())
    }

    fn loss(&mut self, grudge: &Grudge, probability: f64) -> Result<(), ClusterError> {
        for (from, to) in &grudge.cuts {
            let (f, t) = (self.index(from)?, self.index(to)?);
            for src in self.sources(f) {
                netcmd::run(&drop_some_from(&self.namespaces[t], &self.chain, &src, probability))?;
            }
        }
        Ok(())
    }

    fn latency(&mut self, grudge: &Grudge, delay: Duration, jitter: Duration) -> Result<bool, ClusterError> {
        if !self.proxied {
            return Ok(false);
        }
        super::set_links(&self.links, self.procs.specs(), grudge, |l| (l.delay, l.jitter) = (delay, jitter))?;
        Ok(true)
    }

    fn drop_messages(&mut self, grudge: &Grudge, messages: Messages) -> Result<bool, ClusterError> {
        if !self.proxied || self.etcd {
            return Ok(false);
        }
        super::set_links(&self.links, self.procs.specs(), grudge, |l| l.drop_messages(messages))?;
        Ok(true)
    }

    fn deliver_messages(&mut self, grudge: &Grudge) -> Result<bool, ClusterError> {
        if !self.proxied || self.etcd {
            return Ok(false);
        }
        super::set_links(&self.links, self.procs.specs(), grudge, proxy::LinkState::deliver_messages)?;
        Ok(true)
    }

    fn messages_dropped(&self) -> Option<crate::proxy::DroppedMessages> {
        self.proxied.then(|| self.links.dropped())
    }

    fn heal_network(&mut self) -> Result<(), ClusterError> {
        for ns in &self.namespaces {
            netcmd::run(&iptables_in(ns, &["-F", &self.chain]))?;
        }
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

impl Drop for NetnsCluster {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            tracing::error!(error = %e, "netns teardown failed; run `faultline cleanup`");
        }
    }
}
