//! The nemesis: executes the fault schedule against the cluster and records exactly what it did.
//!
//! Each scheduled [`Fault`] is resolved against the cluster at the moment it fires (which node leads,
//! which lags furthest behind, which nodes are up, and which partition is in force, so a later step
//! can hit the bridge or one side of an earlier one), actuated through the [`Cluster`] and recorded
//! as two events of the `nemesis` process: an `invoke` with the planned fault and an `info` with what
//! was done (the cut links, the pids killed or paused, the nodes restarted), so reports can shade the
//! fault periods and `repro` can replay them. A nemesis action is *installed* (it happened),
//! *skipped* (nothing to do, e.g. every target already down, or latency on a cluster without
//! proxies; recorded with the reason) or fails, which is a harness error and ends the run.

use crate::cluster::{Cluster, ClusterError, Hit};
use crate::recorder::{Draft, Recorder};
use checker::history::{EventType, Process};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;
use workloads::{Fault, Grudge, Target, View};

/// The nemesis's memory of what is currently broken, so a heal undoes exactly that.
#[derive(Debug)]
pub struct Nemesis {
    rng: ChaCha8Rng,
    killed: BTreeSet<usize>,
    paused: BTreeSet<usize>,
    network_faulty: bool,
    /// Every link cut since the last heal (partitions may follow one another without a heal).
    cut: Grudge,
}

impl Nemesis {
    pub fn new(seed: u64) -> Nemesis {
        Nemesis {
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6e65_6d65),
            killed: BTreeSet::new(),
            paused: BTreeSet::new(),
            network_faulty: false,
            cut: Grudge::default(),
        }
    }

    /// Whether anything is currently broken.
    pub fn is_faulty(&self) -> bool {
        self.network_faulty || !self.killed.is_empty() || !self.paused.is_empty()
    }

    /// Executes `fault` and records it. `view` says which node is believed to lead (and lag).
    pub fn execute(
        &mut self,
        cluster: &mut dyn Cluster,
        fault: &Fault,
        view: View<'_>,
        recorder: &Recorder,
    ) -> Result<Value, ClusterError> {
        let planned = serde_json::to_value(fault).expect("faults always serialize");
        let _ = recorder.record(nemesis_draft(EventType::Invoke, fault.name(), planned));
        let done = self.actuate(cluster, fault, view)?;
        let _ = recorder.record(nemesis_draft(EventType::Info, fault.name(), done.clone()));
        tracing::info!(fault = fault.name(), what = %done, "nemesis");
        Ok(done)
    }

    fn actuate(
        &mut self,
        cluster: &mut dyn Cluster,
        fault: &Fault,
        view: View<'_>,
    ) -> Result<Value, ClusterError> {
        let leader = view.leader;
        let names: Vec<String> = cluster.nodes().iter().map(|n| n.name.clone()).collect();
        let index =
            |name: &str| names.iter().position(|n| n == name).expect("targets come from the node list");
        Ok(match fault {
            Fault::Partition { topology } => {
                let grudge = topology.grudge_in(&names, view, &mut self.rng);
                cluster.cut(&grudge)?;
                self.network_faulty |= !grudge.is_empty();
                self.cut.cuts.extend(grudge.cuts.iter().cloned());
                json!({ "topology": topology, "leader": leader, "cuts": links(&grudge) })
            }
            Fault::Loss { topology, probability } => {
                let grudge = topology.grudge_in(&names, view, &mut self.rng);
                cluster.loss(&grudge, *probability)?;
                self.network_faulty |= !grudge.is_empty();
                json!({ "topology": topology, "probability": probability, "links": links(&grudge) })
            }
            Fault::Latency { topology, delay_ms } => {
                let grudge = topology.grudge_in(&names, view, &mut self.rng);
                if cluster.latency(&grudge, Duration::from_millis(*delay_ms))? {
                    self.network_faulty |= !grudge.is_empty();
                    json!({ "topology": topology, "delay_ms": delay_ms, "links": links(&grudge) })
                } else {
                    json!({ "skipped": "latency needs peer links through the proxy (loopback, or netns started with latency in --nemesis)" })
                }
            }
            Fault::Drop { topology, messages } => {
                let grudge = topology.grudge_in(&names, view, &mut self.rng);
                if cluster.drop_messages(&grudge, *messages)? {
                    self.network_faulty |= !grudge.is_empty();
                    json!({ "topology": topology, "messages": messages, "links": links(&grudge) })
                } else {
                    json!({ "skipped": "dropping one kind of message needs raft-node peer links through the proxy (loopback, or netns started with drop in --nemesis)" })
                }
            }
            Fault::Deliver { topology } => {
                let grudge = topology.grudge_in(&names, view, &mut self.rng);
                if cluster.deliver_messages(&grudge)? {
                    json!({ "topology": topology, "links": links(&grudge) })
                } else {
                    json!({ "skipped": "this cluster drops no messages by kind" })
                }
            }
            Fault::Kill { target } => {
                let hits = self.hit(cluster, *target, &names, leader, |c, i| c.kill(i))?;
                for h in &hits {
                    if h.pid.is_some() {
                        self.killed.insert(index(&h.node));
                        self.paused.remove(&index(&h.node));
                    }
                }
                json!({ "target": target, "leader": leader, "signal": "SIGKILL", "nodes": hits })
            }
            Fault::Pause { target } => {
                let hits = self.hit(cluster, *target, &names, leader, |c, i| c.pause(i))?;
                for h in &hits {
                    if h.pid.is_some() {
                        self.paused.insert(index(&h.node));
                    }
                }
                json!({ "target": target, "leader": leader, "signal": "SIGSTOP", "nodes": hits })
            }
            Fault::Restart { target } => {
                let chosen = target.resolve(&names, leader, &self.cut, &mut self.rng);
                let wanted: BTreeSet<usize> = chosen.iter().map(|n| index(n)).collect();
                let mut resumed = Vec::new();
                for &i in self.paused.clone().intersection(&wanted) {
                    if let Some(pid) = cluster.resume(i)? {
                        resumed.push(Hit { node: names[i].clone(), pid: Some(pid) });
                    }
                    self.paused.remove(&i);
                }
                let restarted = self.restart_down(cluster, &wanted)?;
                json!({ "target": target, "resumed": resumed, "restarted": restarted })
            }
            Fault::Heal => self.heal(cluster)?,
        })
    }

    fn hit(
        &mut self,
        cluster: &mut dyn Cluster,
        target: Target,
        names: &[String],
        leader: Option<&str>,
        mut act: impl FnMut(&mut dyn Cluster, usize) -> Result<Option<u32>, ClusterError>,
    ) -> Result<Vec<Hit>, ClusterError> {
        let chosen = target.resolve(names, leader, &self.cut, &mut self.rng);
        let mut hits = Vec::new();
        for name in chosen {
            let i = names.iter().position(|n| *n == name).expect("targets come from the node list");
            hits.push(Hit { node: name, pid: act(cluster, i)? });
        }
        Ok(hits)
    }

    /// Heals the network, continues paused nodes and restarts killed (or crashed) ones.
    pub fn heal(&mut self, cluster: &mut dyn Cluster) -> Result<Value, ClusterError> {
        cluster.heal_network()?;
        let network = std::mem::take(&mut self.network_faulty);
        self.cut = Grudge::default();
        let mut resumed = Vec::new();
        for i in std::mem::take(&mut self.paused) {
            if let Some(pid) = cluster.resume(i)? {
                resumed.push(Hit { node: cluster.nodes()[i].name.clone(), pid: Some(pid) });
            }
        }
        let all: BTreeSet<usize> = (0..cluster.nodes().len()).collect();
        let restarted = self.restart_down(cluster, &all)?;
        self.killed.clear();
        Ok(json!({ "network": network, "resumed": resumed, "restarted": restarted }))
    }

    /// Starts every node of `wanted` that is down, whether we killed it or it died on its own.
    fn restart_down(
        &mut self,
        cluster: &mut dyn Cluster,
        wanted: &BTreeSet<usize>,
    ) -> Result<Vec<Hit>, ClusterError> {
        let mut restarted = Vec::new();
        for (i, pid) in cluster.pids().into_iter().enumerate() {
            if pid.is_none() && wanted.contains(&i) {
                self.killed.remove(&i);
                let pid = cluster.start(i)?;
                restarted.push(Hit { node: cluster.nodes()[i].name.clone(), pid: Some(pid) });
            }
        }
        Ok(restarted)
    }
}

fn links(g: &Grudge) -> Vec<[&str; 2]> {
    g.cuts.iter().map(|(a, b)| [a.as_str(), b.as_str()]).collect()
}

fn nemesis_draft(kind: EventType, f: &str, value: Value) -> Draft {
    Draft { process: Process::NEMESIS, kind, f: f.to_string(), key: None, value, node: None, error: None }
}
