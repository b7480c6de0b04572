//! The nemesis: executes the fault schedule against the cluster and records exactly what it did.
//!
//! Each scheduled [`Fault`] is resolved against the cluster at the moment it fires (which node leads,
//! which lags furthest behind, which nodes are up, and which partition is in force, so a later step
//! can hit the bridge or one side of an earlier one) and against the history of roles the nemesis
//! keeps ([`RoleHistory`]: the previous leader, the node that just won, the node it restarted last),
//! actuated through the [`Cluster`] and recorded
//! as two events of the `nemesis` process: an `invoke` with the planned fault and an `info` with what
//! was done (the cut links, the pids killed or paused, the nodes restarted), so reports can shade the
//! fault periods and `repro` can replay them. A nemesis action ends as a [`FaultOutcome`]: *installed*
//! (it happened), *skipped* (nothing to do, e.g. every target already down, or latency on a cluster
//! without proxies; recorded with the reason) or *indeterminate* (it happened, but whether it hit what
//! it was aimed at is unknown: a fault aimed at the leader when no node answered as leader lands on a
//! node drawn at random). A failed actuation (`iptables`, a signal) or a history that cannot be
//! written is a [`NemesisError`], a harness error that ends the run.

use crate::cluster::{Cluster, ClusterError, Hit};
use crate::elections::ElectionEvent;
use crate::recorder::{Draft, RecordError, Recorder};
use checker::history::{EventType, Process};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;
use workloads::{Fault, Grudge, RoleHistory, Target};

/// How a fault ended. The history's nemesis `info` event holds [`FaultOutcome::record`].
#[derive(Clone, Debug, PartialEq)]
pub enum FaultOutcome {
    /// In force; `nodes` are the nodes it hit (empty for network faults), `record` says what was done.
    Installed { nodes: Vec<String>, record: Value },
    /// Nothing was done, for `reason`.
    Skipped { reason: String },
    /// Carried out, but whether it hit its intended target is unknown, for `reason`.
    Indeterminate { nodes: Vec<String>, record: Value, reason: String },
}

impl FaultOutcome {
    /// What the history records for this outcome.
    pub fn record(&self) -> Value {
        match self {
            FaultOutcome::Installed { record, .. } => record.clone(),
            FaultOutcome::Skipped { reason } => json!({ "skipped": reason }),
            FaultOutcome::Indeterminate { record, reason, .. } => {
                let mut r = record.clone();
                r["indeterminate"] = json!(reason);
                r
            }
        }
    }

    /// A few words for the progress line: the nodes hit, or the topology, or why it was skipped.
    pub fn summary(&self) -> String {
        match self {
            FaultOutcome::Installed { nodes, record } | FaultOutcome::Indeterminate { nodes, record, .. } => {
                if nodes.is_empty() {
                    record["topology"].as_str().unwrap_or_default().to_string()
                } else {
                    nodes.join(",")
                }
            }
            FaultOutcome::Skipped { .. } => "skipped".into(),
        }
    }
}

/// What a heal did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Healed {
    /// Whether any network fault was in force.
    pub network: bool,
    pub resumed: Vec<Hit>,
    pub restarted: Vec<Hit>,
}

impl Healed {
    /// Whether the heal changed anything.
    pub fn did_anything(&self) -> bool {
        self.network || !self.resumed.is_empty() || !self.restarted.is_empty()
    }

    fn record(&self) -> Value {
        json!({ "network": self.network, "resumed": self.resumed, "restarted": self.restarted })
    }
}

/// Why the nemesis could not go on (a harness error).
#[derive(Debug, thiserror::Error)]
pub enum NemesisError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// What the harness saw of the cluster right before a fault fires.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sighting {
    /// The node that answered as leader with the highest term, and that term.
    pub leader: Option<(String, u64)>,
    /// The node other than the leader with the shortest log.
    pub laggard: Option<String>,
    /// For a wait for an event ([`Fault::Await`]): the event that ended it (None: none came in
    /// time).
    pub triggered: Option<ElectionEvent>,
}

/// When a fault was due and when it fired, on the recorder's clock (run-relative ns). Both go into
/// the fault's `info` record (`due`, `fired`), so a history shows how late each fault was: a
/// choreography of millisecond offsets (the matrix's scenarios) is only as good as its punctuality.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timing {
    pub due: u64,
    pub fired: u64,
}

impl Timing {
    /// How late the fault fired (0 when early or on time).
    pub fn late(self) -> Duration {
        Duration::from_nanos(self.fired.saturating_sub(self.due))
    }
}

/// The nemesis's memory of what is currently broken, so a heal undoes exactly that, and of roles,
/// so a fault can aim at the previous leader, the node that just won or the node just restarted.
#[derive(Debug)]
pub struct Nemesis {
    /// Leaders seen (fed by the status poller and by the looks right before faults), faults fired,
    /// nodes restarted, elections measured.
    pub roles: RoleHistory,
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
            roles: RoleHistory::new(),
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

    /// Executes `fault` at run-relative time `at` and records it. `seen` is the latest look at the
    /// cluster (it also goes into the role history).
    pub fn execute(
        &mut self,
        cluster: &mut dyn Cluster,
        fault: &Fault,
        timing: Timing,
        seen: &Sighting,
        recorder: &Recorder,
    ) -> Result<FaultOutcome, NemesisError> {
        let at = timing.fired;
        let planned = serde_json::to_value(fault).expect("faults always serialize");
        recorder.record(nemesis_draft(EventType::Invoke, fault.name(), planned))?;
        self.roles.observe(at, seen.leader.as_ref().map(|(l, t)| (l.as_str(), *t)));
        let roles = self.roles.clone();
        let view = roles.view(seen.laggard.as_deref());
        let mut outcome = self.actuate(cluster, fault, view, seen.triggered.as_ref())?;
        let unknown = match fault {
            Fault::Kill { target } | Fault::Pause { target } | Fault::Restart { target } => {
                target.unknown_in(&view)
            }
            _ => fault.needs_leader() && view.leader.is_none(),
        };
        if unknown && let FaultOutcome::Installed { nodes, record } = outcome {
            outcome = FaultOutcome::Indeterminate {
                nodes,
                record,
                reason: "aimed at a role no node held when it fired (no leader answered, or no such \
                         node yet): its target was drawn at random"
                    .into(),
            };
        }
        if !matches!(fault, Fault::Await { .. }) {
            // A wait changes nothing: "the node that won after the previous fault" stays as it was.
            self.roles.fault_fired(at);
        }
        let mut record = outcome.record();
        record["due"] = json!(timing.due);
        record["fired"] = json!(timing.fired);
        recorder.record(nemesis_draft(EventType::Info, fault.name(), record.clone()))?;
        let late_ms = timing.late().as_secs_f64() * 1e3;
        tracing::info!(fault = fault.name(), late_ms, what = %record, "nemesis");
        Ok(outcome)
    }

    fn actuate(
        &mut self,
        cluster: &mut dyn Cluster,
        fault: &Fault,
        view: workloads::View<'_>,
        triggered: Option<&ElectionEvent>,
    ) -> Result<FaultOutcome, ClusterError> {
        let leader = view.leader;
        let roles = json!({
            "leader": view.leader,
            "previous_leader": view.previous_leader,
            "new_leader": view.new_leader,
            "restarted": view.restarted,
            "triggered": view.triggered,
            "triggered_peer": view.triggered_peer,
        });
        let names: Vec<String> = cluster.nodes().iter().map(|n| n.name.clone()).collect();
        let index =
            |name: &str| names.iter().position(|n| n == name).expect("targets come from the node list");
        let network = |record: Value| FaultOutcome::Installed { nodes: Vec::new(), record };
        let skipped = |reason: &str| FaultOutcome::Skipped { reason: reason.to_string() };
        let on_nodes = |hits: &[Hit], record: Value, why_not: &str| {
            let nodes: Vec<String> =
                hits.iter().filter(|h| h.pid.is_some()).map(|h| h.node.clone()).collect();
            if nodes.is_empty() { skipped(why_not) } else { FaultOutcome::Installed { nodes, record } }
        };
        Ok(match fault {
            Fault::Partition { topology } => {
                let grudge = topology.grudge_in(&names, view, &mut self.rng);
                if grudge.is_empty() {
                    return Ok(skipped("the topology cuts no link in this cluster"));
                }
                cluster.cut(&grudge)?;
                self.network_faulty = true;
                self.cut.cuts.extend(grudge.cuts.iter().cloned());
                network(json!({ "topology": topology, "leader": leader, "cuts": links(&grudge) }))
            }
            Fault::Loss { topology, probability } => {
                let grudge = topology.grudge_in(&names, view, &mut self.rng);
                if grudge.is_empty() {
                    return Ok(skipped("the topology names no link in this cluster"));
                }
                cluster.loss(&grudge, *probability)?;
                self.network_faulty = true;
                network(json!({ "topology": topology, "probability": probability, "links": links(&grudge) }))
            }
            Fault::Latency { topology, delay_ms, jitter_ms } => {
                let grudge = topology.grudge_in(&names, view, &mut self.rng);
                let (delay, jitter) = (Duration::from_millis(*delay_ms), Duration::from_millis(*jitter_ms));
                if !cluster.latency(&grudge, delay, jitter)? {
                    return Ok(skipped(
                        "latency needs peer links through the proxy (loopback, or netns started with latency in --nemesis)",
                    ));
                }
                self.network_faulty |= !grudge.is_empty();
                network(json!({
                    "topology": topology,
                    "delay_ms": delay_ms,
                    "jitter_ms": jitter_ms,
                    "links": links(&grudge)
                }))
            }
            Fault::Drop { topology, messages } => {
                let grudge = topology.grudge_in(&names, view, &mut self.rng);
                if !cluster.drop_messages(&grudge, *messages)? {
                    return Ok(skipped(
                        "dropping one kind of message needs raft-node peer links through the proxy (loopback, or netns started with drop in --nemesis)",
                    ));
                }
                self.network_faulty |= !grudge.is_empty();
                network(json!({ "topology": topology, "messages": messages, "links": links(&grudge) }))
            }
            Fault::DropType { topology, body_type } => {
                let grudge = topology.grudge_in(&names, view, &mut self.rng);
                if !cluster.drop_type(&grudge, body_type)? {
                    return Ok(skipped(
                        "dropping messages by body type needs the message network (Maelstrom nodes)",
                    ));
                }
                self.network_faulty |= !grudge.is_empty();
                network(json!({ "topology": topology, "body_type": body_type, "links": links(&grudge) }))
            }
            Fault::Duplicate { topology, probability } => {
                let grudge = topology.grudge_in(&names, view, &mut self.rng);
                if !cluster.duplicate(&grudge, *probability)? {
                    return Ok(skipped("duplicating messages needs the message network (Maelstrom nodes)"));
                }
                self.network_faulty |= !grudge.is_empty();
                network(json!({ "topology": topology, "probability": probability, "links": links(&grudge) }))
            }
            Fault::Reorder { topology, window_ms } => {
                let grudge = topology.grudge_in(&names, view, &mut self.rng);
                if !cluster.reorder(&grudge, Duration::from_millis(*window_ms))? {
                    return Ok(skipped("reordering messages needs the message network (Maelstrom nodes)"));
                }
                self.network_faulty |= !grudge.is_empty();
                network(json!({ "topology": topology, "window_ms": window_ms, "links": links(&grudge) }))
            }
            Fault::Deliver { topology } => {
                let grudge = topology.grudge_in(&names, view, &mut self.rng);
                if !cluster.deliver_messages(&grudge)? {
                    return Ok(skipped("this cluster drops no messages by kind"));
                }
                network(json!({ "topology": topology, "links": links(&grudge) }))
            }
            Fault::Kill { target } => {
                let hits = self.hit(cluster, *target, &names, view, |c, i| c.kill(i))?;
                for h in hits.iter().filter(|h| h.pid.is_some()) {
                    self.killed.insert(index(&h.node));
                    self.paused.remove(&index(&h.node));
                }
                let record = json!({ "target": target, "roles": roles, "signal": "SIGKILL", "nodes": hits });
                on_nodes(&hits, record, "every target was already down")
            }
            Fault::Pause { target } => {
                let hits = self.hit(cluster, *target, &names, view, |c, i| c.pause(i))?;
                for h in hits.iter().filter(|h| h.pid.is_some()) {
                    self.paused.insert(index(&h.node));
                }
                let record = json!({ "target": target, "roles": roles, "signal": "SIGSTOP", "nodes": hits });
                on_nodes(&hits, record, "every target was down or paused already")
            }
            Fault::PowerLoss { target } => {
                let chosen = target.resolve(&names, view, &self.cut, &mut self.rng);
                let mut nodes = Vec::new();
                let mut cuts = Vec::new();
                for name in chosen {
                    let i = index(&name);
                    let cut = cluster.power_loss(i)?;
                    self.killed.insert(i);
                    self.paused.remove(&i);
                    cuts.push(json!({
                        "node": name,
                        "pid": cut.pid,
                        "lost_files": cut.lost.files,
                        "lost_bytes": cut.lost.bytes,
                        "lost_names": cut.lost.names,
                    }));
                    nodes.push(name);
                }
                // A node already down loses its disk's cache all the same: the fault is installed.
                FaultOutcome::Installed {
                    nodes,
                    record: json!({ "target": target, "roles": roles, "leader": leader, "nodes": cuts }),
                }
            }
            Fault::Corrupt { target, damage } => {
                let chosen = target.resolve(&names, view, &self.cut, &mut self.rng);
                let mut nodes = Vec::new();
                let mut done = Vec::new();
                for name in chosen {
                    let i = index(&name);
                    let pid = cluster.kill(i)?;
                    self.paused.remove(&i);
                    let dir = cluster.nodes()[i].data_dir();
                    let globs = cluster.procs().0.system().corruptible().to_vec();
                    let corruption = crate::diskfault::corrupt(&dir, &globs, *damage, &mut self.rng)?;
                    // It comes back at once, on the damaged disk (unless a fault had it down already).
                    let restarted = if self.killed.contains(&i) { None } else { Some(cluster.start(i)?) };
                    if restarted.is_some() {
                        self.roles.restarted(&name);
                    }
                    if let Some(c) = corruption {
                        done.push(
                            json!({ "node": name, "pid": pid, "restarted": restarted, "corrupted": c }),
                        );
                        nodes.push(name);
                    }
                }
                if nodes.is_empty() {
                    skipped("no target node had a data file with a byte in it")
                } else {
                    FaultOutcome::Installed {
                        nodes,
                        record: json!({
                            "target": target,
                            "damage": damage,
                            "roles": roles,
                            "leader": leader,
                            "nodes": done
                        }),
                    }
                }
            }
            Fault::Restart { target } => {
                let chosen = target.resolve(&names, view, &self.cut, &mut self.rng);
                let wanted: BTreeSet<usize> = chosen.iter().map(|n| index(n)).collect();
                let mut resumed = Vec::new();
                for &i in self.paused.clone().intersection(&wanted) {
                    if let Some(pid) = cluster.resume(i)? {
                        resumed.push(Hit { node: names[i].clone(), pid: Some(pid) });
                        self.roles.restarted(&names[i]);
                    }
                    self.paused.remove(&i);
                }
                let restarted = self.restart_down(cluster, &wanted)?;
                let hits: Vec<Hit> = resumed.iter().chain(&restarted).cloned().collect();
                let record =
                    json!({ "target": target, "roles": roles, "resumed": resumed, "restarted": restarted });
                on_nodes(&hits, record, "every target was running")
            }
            Fault::Await { event, within } => {
                self.roles.triggered(triggered.map(|e| e.node.as_str()), triggered.and_then(|e| e.what.peer()));
                match triggered {
                    Some(e) => FaultOutcome::Installed {
                        nodes: vec![e.node.clone()],
                        record: json!({ "event": event, "node": e.node, "what": e.what.describe(), "stamp": e.stamp }),
                    },
                    None => skipped(&format!(
                        "no node reported {} within {within} elections (a system whose logs the harness \
                         does not read reports none)",
                        event.name()
                    )),
                }
            }
            Fault::Heal => {
                let healed = self.heal(cluster)?;
                FaultOutcome::Installed {
                    nodes: healed.resumed.iter().chain(&healed.restarted).map(|h| h.node.clone()).collect(),
                    record: healed.record(),
                }
            }
        })
    }

    fn hit(
        &mut self,
        cluster: &mut dyn Cluster,
        target: Target,
        names: &[String],
        view: workloads::View<'_>,
        mut act: impl FnMut(&mut dyn Cluster, usize) -> Result<Option<u32>, ClusterError>,
    ) -> Result<Vec<Hit>, ClusterError> {
        let chosen = target.resolve(names, view, &self.cut, &mut self.rng);
        let mut hits = Vec::new();
        for name in chosen {
            let i = names.iter().position(|n| *n == name).expect("targets come from the node list");
            hits.push(Hit { node: name, pid: act(cluster, i)? });
        }
        Ok(hits)
    }

    /// Heals the network, continues paused nodes and restarts killed (or crashed) ones.
    pub fn heal(&mut self, cluster: &mut dyn Cluster) -> Result<Healed, ClusterError> {
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
        Ok(Healed { network, resumed, restarted })
    }

    /// The final heal before recovery: heals whatever is still broken (idempotent) and records it
    /// when it changed anything (a node that crashed on its own, a fault the schedule left in force).
    pub fn heal_and_record(
        &mut self,
        cluster: &mut dyn Cluster,
        recorder: &Recorder,
    ) -> Result<Healed, NemesisError> {
        let healed = self.heal(cluster)?;
        if healed.did_anything() {
            recorder.record(nemesis_draft(EventType::Info, "heal", healed.record()))?;
        }
        Ok(healed)
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
                let name = cluster.nodes()[i].name.clone();
                self.roles.restarted(&name);
                restarted.push(Hit { node: name, pid: Some(pid) });
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
