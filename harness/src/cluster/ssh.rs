//! The ssh backend: one node per remote host, Jepsen's usual set-up (a control machine and a few
//! database hosts), driven with OpenSSH's own clients ([`crate::ssh`]).
//!
//! Node `nI` runs on the I-th host of `--hosts`, listening on `<host>:7000` for peers and
//! `<host>:8000` for clients; the clients and status polls of the harness connect there over the
//! network. Everything of run `RID` on a host lives in `<remote dir>/faultline-RID-nI/` (the binary
//! when uploaded, the node's logs and data), so hosts that share a filesystem never collide.
//!
//! Before anything starts, every host is checked at once ([`remote::check_host`]): it answers, takes
//! the key, has a working `iptables`, takes the run's directory and the binary. A host that fails is
//! a harness error naming the host and what failed, and no node has started and no fault has been
//! injected. A partition is a DROP rule per cut link in chain `FAULTLINE-RID` on the receiving host,
//! jumped to from INPUT only: like the netns backend, a cut link drops what one node sends another,
//! and the harness's own traffic (from the control machine) passes. At teardown the nodes are
//! killed, their directories are copied into the run directory (`nodes/nI/`), and the chain, the
//! remote directory and the master connection are removed; all of it is in the state file from
//! before it exists, so `faultline cleanup` removes it on every host after a crash.

use super::{
    Backend, Cluster, ClusterConfig, ClusterError, NodeSpec, PowerCut, Procs, addr_list, node_names, run_id,
};
use crate::remote::{self, RemoteRecord, Signalled};
use crate::ssh::{Host, SshError, SshOptions};
use crate::state::StateFile;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;
use workloads::{Grudge, Messages};

const PEER_PORT: u16 = 7000;
const CLIENT_PORT: u16 = 8000;

/// One host of the cluster and what the run has there.
#[derive(Debug)]
struct Remote {
    host: Host,
    ip: IpAddr,
    /// The run's directory on the host.
    dir: String,
    /// The node binary on the host (set once installed).
    bin: String,
    /// The node's spec as the host sees it (its directory there).
    spec: NodeSpec,
    pid: Option<u32>,
    paused: bool,
    /// Whether the host ever answered (a host that never did has nothing of ours to remove).
    reached: bool,
    /// Whether a node was ever started there (so there are files to collect).
    started: bool,
}

/// A cluster on remote hosts.
#[derive(Debug)]
pub struct SshCluster {
    state: Option<StateFile>,
    /// The nodes as the run records them (their directories in the run directory, where their files
    /// are collected), the system and the token.
    procs: Procs,
    remotes: Vec<Remote>,
    chain: String,
    node_args: Vec<String>,
    seed: u64,
    /// Local: the run's known_hosts file and master sockets.
    private: PathBuf,
}

/// The host's IPv4 address, as the control machine resolves it (the nodes reach each other there).
/// IPv6 is refused: partitions are `iptables` (IPv4) rules.
fn resolve(host: &str) -> Result<IpAddr, SshError> {
    let problem = |detail: String| SshError { host: host.into(), action: "resolving".into(), detail };
    let addrs: Vec<SocketAddr> =
        (host, 0).to_socket_addrs().map_err(|e| problem(format!("unreachable: {e}")))?.collect();
    match addrs.iter().find(|a| a.is_ipv4()) {
        Some(a) => Ok(a.ip()),
        None if addrs.is_empty() => Err(problem("unreachable: the name has no address".into())),
        None => Err(problem(
            "only IPv6 addresses; partitions are iptables (IPv4) rules, give an IPv4 host".into(),
        )),
    }
}

impl SshCluster {
    pub async fn create(config: ClusterConfig) -> Result<SshCluster, ClusterError> {
        let options =
            config.ssh.clone().ok_or_else(|| ClusterError::Setup("the ssh backend needs --hosts".into()))?;
        tokio::task::spawn_blocking(move || SshCluster::create_blocking(config, options))
            .await
            .map_err(|e| ClusterError::Setup(format!("setting up the hosts: {e}")))?
    }

    fn create_blocking(config: ClusterConfig, options: SshOptions) -> Result<SshCluster, ClusterError> {
        let n = options.hosts.len();
        let ips = options.hosts.iter().map(|h| resolve(h)).collect::<Result<Vec<_>, _>>()?;
        let rid = run_id(config.seed);
        let state = StateFile::create(&config.state_dir, &format!("ssh-{rid}"), "ssh")
            .map_err(|e| ClusterError::State { path: config.state_dir.clone(), source: e })?;
        let private = config.state_dir.join(format!("ssh-{rid}"));
        std::fs::create_dir_all(&private)
            .map_err(|e| ClusterError::State { path: private.clone(), source: e })?;
        let names = node_names(n);
        let sock = |ip: IpAddr, port: u16| SocketAddr::new(ip, port);
        let peers = addr_list(ips.iter().map(|&ip| sock(ip, PEER_PORT)));
        let clients = addr_list(ips.iter().map(|&ip| sock(ip, CLIENT_PORT)));
        let local: Vec<NodeSpec> = (0..n)
            .map(|i| NodeSpec {
                index: i,
                name: names[i].clone(),
                id: i as u64 + 1,
                listen_peer: sock(ips[i], PEER_PORT),
                advertise_peer: None,
                listen_client: sock(ips[i], CLIENT_PORT),
                peer_addrs: ips.iter().map(|&ip| sock(ip, PEER_PORT)).collect(),
                peers_arg: peers.clone(),
                client_addrs_arg: clients.clone(),
                dir: config.nodes_dir.join(&names[i]),
                netns: None,
            })
            .collect();
        // The nodes' files are collected here at the end; the run writes its own files there before.
        for spec in &local {
            std::fs::create_dir_all(&spec.dir).map_err(|e| ClusterError::Spawn {
                node: spec.name.clone(),
                command: "mkdir".into(),
                source: e,
            })?;
        }
        let remotes = (0..n)
            .map(|i| {
                let dir =
                    format!("{}/faultline-{rid}-{}", options.remote_dir.trim_end_matches('/'), names[i]);
                let host = Host {
                    host: options.hosts[i].clone(),
                    user: options.user.clone(),
                    port: options.port,
                    key: options.key.clone(),
                    control: private.join(format!("{}.sock", names[i])),
                    known_hosts: private.join("known_hosts"),
                };
                let spec = NodeSpec { dir: PathBuf::from(&dir), ..local[i].clone() };
                Remote {
                    host,
                    ip: ips[i],
                    dir,
                    bin: String::new(),
                    spec,
                    pid: None,
                    paused: false,
                    reached: false,
                    started: false,
                }
            })
            .collect();
        let mut cluster = SshCluster {
            state: Some(state),
            procs: Procs::new(local, &config, &rid),
            remotes,
            chain: format!("FAULTLINE-{rid}"),
            node_args: config.node_args.clone(),
            seed: config.seed,
            private,
        };
        match cluster.prepare(&config, &options) {
            Ok(()) => Ok(cluster),
            Err(e) => {
                let _ = cluster.teardown();
                Err(e)
            }
        }
    }

    /// Records every host's resources, checks and prepares every host at once, then makes the chains.
    fn prepare(&mut self, config: &ClusterConfig, options: &SshOptions) -> Result<(), ClusterError> {
        for r in &self.remotes {
            let record = RemoteRecord {
                host: r.host.clone(),
                chain: self.chain.clone(),
                dir: r.dir.clone(),
                pids: Vec::new(),
            };
            let state = self.state.as_mut().expect("state file lives until teardown");
            state
                .add_remote(record)
                .map_err(|e| ClusterError::State { path: state.path().to_path_buf(), source: e })?;
        }
        let remote_bin = options.remote_bin.as_deref();
        let checked: Vec<(bool, Result<String, SshError>)> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .remotes
                .iter()
                .map(|r| {
                    s.spawn(move || {
                        if let Err(e) = r.host.open() {
                            return (false, Err(e));
                        }
                        let installed = remote::check_host(&r.host, &r.dir).and_then(|()| {
                            remote::install_binary(&r.host, &r.dir, &config.node_bin, remote_bin)
                        });
                        (true, installed)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("a host check does not panic")).collect()
        });
        for (r, (reached, _)) in self.remotes.iter_mut().zip(&checked) {
            r.reached = *reached;
        }
        let installed: Vec<Result<String, SshError>> = checked.into_iter().map(|(_, r)| r).collect();
        let problems: Vec<SshError> = installed.iter().filter_map(|r| r.as_ref().err()).cloned().collect();
        if !problems.is_empty() {
            return Err(ClusterError::Hosts(problems));
        }
        for (r, bin) in self.remotes.iter_mut().zip(installed) {
            r.bin = bin.expect("errors returned above");
        }
        for r in &self.remotes {
            remote::create_chain(&r.host, &self.chain)?;
        }
        tracing::info!(chain = %self.chain, hosts = self.remotes.len(), "ssh cluster ready");
        Ok(())
    }

    fn state(&mut self) -> &mut StateFile {
        self.state.as_mut().expect("state file lives until teardown")
    }

    fn record_pids(&mut self, i: usize) -> Result<(), ClusterError> {
        let (host, pid) = (self.remotes[i].host.host.clone(), self.remotes[i].pid);
        let state = self.state();
        state
            .update_remote(&host, |r| r.pids = pid.into_iter().collect())
            .map_err(|e| ClusterError::State { path: state.path().to_path_buf(), source: e })
    }

    fn index(&self, name: &str) -> Result<usize, ClusterError> {
        super::node_index(name, self.procs.specs())
    }

    /// Sends `signal` to node `i`'s process; forgets it if it is gone. The pid if it was running.
    fn signal(&mut self, i: usize, signal: &str) -> Result<Option<u32>, ClusterError> {
        let r = &mut self.remotes[i];
        let Some(pid) = r.pid else { return Ok(None) };
        match remote::signal(&r.host, pid, signal, &r.dir)? {
            Signalled::Done => Ok(Some(pid)),
            Signalled::Gone => {
                tracing::warn!(node = %r.spec.name, host = %r.host.host, pid, "node exited on its own");
                r.pid = None;
                r.paused = false;
                self.record_pids(i)?;
                Ok(None)
            }
        }
    }

    fn rules(&mut self, grudge: &Grudge, probability: Option<f64>) -> Result<(), ClusterError> {
        // Per receiving host, the addresses to drop.
        let mut sources: Vec<Vec<String>> = vec![Vec::new(); self.remotes.len()];
        for (from, to) in &grudge.cuts {
            let (f, t) = (self.index(from)?, self.index(to)?);
            sources[t].push(self.remotes[f].ip.to_string());
        }
        let chain = &self.chain;
        self.on_hosts(|i, r| {
            if sources[i].is_empty() {
                Ok(())
            } else {
                remote::drop_from(&r.host, chain, &sources[i], probability)
            }
        })
    }

    /// Does `f` on every host at once (a fault lands on all of them within one SSH round trip);
    /// the first failure in host order.
    fn on_hosts(
        &self,
        f: impl Fn(usize, &Remote) -> Result<(), SshError> + Sync,
    ) -> Result<(), ClusterError> {
        let f = &f;
        let results: Vec<Result<(), SshError>> = std::thread::scope(|s| {
            let handles: Vec<_> =
                self.remotes.iter().enumerate().map(|(i, r)| s.spawn(move || f(i, r))).collect();
            handles.into_iter().map(|h| h.join().expect("an ssh command does not panic")).collect()
        });
        results.into_iter().collect::<Result<(), SshError>>().map_err(ClusterError::from)
    }

    /// Kills every node, collects its files, removes the chain and the directory on every host (all
    /// hosts at once). Returns the first failure after doing all it can.
    fn shutdown(&mut self) -> Result<(), ClusterError> {
        let local: Vec<PathBuf> = self.procs.specs().iter().map(|s| s.dir.clone()).collect();
        let chain = self.chain.clone();
        let results: Vec<Result<(), SshError>> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .remotes
                .iter()
                .zip(&local)
                .map(|(r, local)| {
                    let chain = &chain;
                    s.spawn(move || {
                        if !r.reached {
                            return Ok(());
                        }
                        let mut first = None;
                        let mut keep = |res: Result<(), SshError>| {
                            if let Err(e) = res {
                                tracing::error!(error = %e, "ssh teardown");
                                first.get_or_insert(e);
                            }
                        };
                        if let Some(pid) = r.pid {
                            keep(remote::signal(&r.host, pid, "KILL", &r.dir).map(drop));
                        }
                        // An uploaded binary is not worth copying back.
                        if r.bin.starts_with(&r.dir) {
                            keep(
                                r.host
                                    .run("removing the uploaded binary", &["rm", "-f", "--", &r.bin])
                                    .map(drop),
                            );
                        }
                        if r.started {
                            keep(r.host.download_dir(&r.dir, local));
                        }
                        keep(remote::remove_chain(&r.host, chain));
                        keep(remote::remove_dir(&r.host, &r.dir));
                        r.host.close();
                        first.map_or(Ok(()), Err)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("a host teardown does not panic")).collect()
        });
        let mut first = None;
        for (r, result) in self.remotes.iter_mut().zip(results) {
            r.pid = None;
            match result {
                Ok(()) => {
                    let host = r.host.host.clone();
                    if let Some(state) = self.state.as_mut() {
                        let _ = state.remove_remote(&host);
                    }
                }
                Err(e) => {
                    first.get_or_insert(ClusterError::from(e));
                }
            }
        }
        first.map_or(Ok(()), Err)
    }
}

impl Cluster for SshCluster {
    fn backend(&self) -> Backend {
        Backend::Ssh
    }

    fn nodes(&self) -> &[NodeSpec] {
        self.procs.specs()
    }

    fn cut(&mut self, grudge: &Grudge) -> Result<(), ClusterError> {
        self.rules(grudge, None)
    }

    fn loss(&mut self, grudge: &Grudge, probability: f64) -> Result<(), ClusterError> {
        self.rules(grudge, Some(probability))
    }

    fn latency(&mut self, _grudge: &Grudge, _delay: Duration, _jitter: Duration) -> Result<bool, ClusterError> {
        Ok(false)
    }

    fn drop_messages(&mut self, _grudge: &Grudge, _messages: Messages) -> Result<bool, ClusterError> {
        Ok(false)
    }

    fn deliver_messages(&mut self, _grudge: &Grudge) -> Result<bool, ClusterError> {
        Ok(false)
    }

    fn heal_network(&mut self) -> Result<(), ClusterError> {
        let chain = &self.chain;
        self.on_hosts(|_, r| remote::flush_chain(&r.host, chain))
    }

    fn teardown(&mut self) -> Result<(), ClusterError> {
        if self.state.is_none() {
            return Ok(());
        }
        let stopped = self.shutdown();
        let state = self.state.take().expect("checked above");
        let path = state.path().to_path_buf();
        // What shutdown could not remove is still listed: the state file tries once more.
        state.teardown().map_err(|e| ClusterError::State { path, source: e })?;
        let _ = std::fs::remove_dir_all(&self.private);
        stopped
    }

    fn procs(&mut self) -> (&mut Procs, &mut StateFile) {
        (&mut self.procs, self.state.as_mut().expect("state file lives until teardown"))
    }

    fn start(&mut self, i: usize) -> Result<u32, ClusterError> {
        if let Some(pid) = self.signal(i, "alive")? {
            return Ok(pid);
        }
        let specs: Vec<NodeSpec> = self.remotes.iter().map(|r| r.spec.clone()).collect();
        let (procs, r) = (&self.procs, &self.remotes[i]);
        let argv =
            procs.system().node_argv(&r.bin, &r.spec, &specs, self.seed, procs.token(), &self.node_args);
        let data = r.spec.data_dir().display().to_string();
        let pid = remote::launch(&r.host, &r.dir, &data, &argv)?;
        let r = &mut self.remotes[i];
        r.pid = Some(pid);
        r.paused = false;
        r.started = true;
        tracing::info!(node = %r.spec.name, host = %r.host.host, pid, "node started");
        self.record_pids(i)?;
        Ok(pid)
    }

    fn kill(&mut self, i: usize) -> Result<Option<u32>, ClusterError> {
        let pid = self.signal(i, "KILL")?;
        let r = &mut self.remotes[i];
        r.pid = None;
        r.paused = false;
        if pid.is_some() {
            tracing::info!(node = %r.spec.name, host = %r.host.host, ?pid, "node killed");
            self.record_pids(i)?;
        }
        Ok(pid)
    }

    fn power_loss(&mut self, i: usize) -> Result<PowerCut, ClusterError> {
        Err(ClusterError::NoLazyFs { node: self.procs.specs()[i].name.clone() })
    }

    fn pause(&mut self, i: usize) -> Result<Option<u32>, ClusterError> {
        if self.remotes[i].paused {
            return Ok(None);
        }
        let pid = self.signal(i, "STOP")?;
        self.remotes[i].paused = pid.is_some();
        Ok(pid)
    }

    fn resume(&mut self, i: usize) -> Result<Option<u32>, ClusterError> {
        if !self.remotes[i].paused {
            return Ok(None);
        }
        let pid = self.signal(i, "CONT")?;
        self.remotes[i].paused = false;
        Ok(pid)
    }

    fn pids(&mut self) -> Vec<Option<u32>> {
        // Every host is looked at once; a node that is gone is forgotten.
        let looks: Vec<Result<Signalled, SshError>> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .remotes
                .iter()
                .map(|r| {
                    s.spawn(move || match r.pid {
                        None => Ok(Signalled::Gone),
                        Some(pid) => remote::signal(&r.host, pid, "alive", &r.dir),
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("an ssh command does not panic")).collect()
        });
        for (i, look) in looks.into_iter().enumerate() {
            match look {
                Ok(Signalled::Gone) if self.remotes[i].pid.is_some() => {
                    let r = &mut self.remotes[i];
                    tracing::warn!(node = %r.spec.name, host = %r.host.host, pid = ?r.pid, "node exited on its own");
                    r.pid = None;
                    r.paused = false;
                    if let Err(e) = self.record_pids(i) {
                        tracing::error!(error = %e, "could not update the state file");
                    }
                }
                Ok(_) => {}
                // Not knowing is not "down": the node is restarted only once it is known to be gone.
                Err(e) => tracing::warn!(error = %e, "could not look at a remote node"),
            }
        }
        self.remotes.iter().map(|r| r.pid).collect()
    }
}

impl Drop for SshCluster {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            tracing::error!(error = %e, "ssh teardown failed; run `faultline cleanup`");
        }
    }
}
