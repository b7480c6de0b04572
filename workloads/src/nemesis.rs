//! Fault schedules: which fault, against what, and when.
//!
//! `--nemesis partition,kill,pause --nemesis-interval 10s` becomes a seeded [`schedule`]: at every
//! interval the schedule alternates between starting one fault (its kind and target drawn from the
//! seed) and healing everything, and its last entry, at the end of the run phase, always heals. Targets
//! that depend on the cluster's state at that moment (the leader) stay symbolic here ([`Target`]) and
//! are resolved by the harness with [`Target::resolve`], a pure function it records the result of, so
//! the history says exactly which nodes were hit.

use crate::WorkloadError;
use crate::generator::Nanos;
use crate::topology::{Grudge, Topology};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A family of faults the user can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// Network partitions ([`Topology`]).
    Partition,
    /// SIGKILL, restarted at the next heal.
    Kill,
    /// SIGSTOP, continued at the next heal.
    Pause,
    /// Random packet loss on some links.
    Loss,
    /// Added latency on some links (through the harness's proxy).
    Latency,
    /// One kind of message dropped on some links, the others delivered: a kind of Raft message for
    /// raft-node (the harness's proxy reads its frames), a body type of `message_types` for
    /// Maelstrom nodes (the harness is their network).
    Drop,
    /// Some messages delivered twice on some links (message networks only: Maelstrom nodes).
    Duplicate,
    /// Messages held back by random times on some links, so they overtake one another (message
    /// networks only: Maelstrom nodes).
    Reorder,
    /// Power cut: SIGKILL, and every write not yet fsynced is lost (each node's data directory is
    /// mounted through the harness's lazyfs); restarted at the next heal.
    #[serde(rename = "power-loss")]
    PowerLoss,
    /// One of a stopped node's data files damaged (bits flipped, truncated, a range zeroed), then the
    /// node restarted. On a minority of nodes.
    Corrupt,
}

impl FaultKind {
    pub const ALL: [FaultKind; 10] = [
        FaultKind::Partition,
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::Loss,
        FaultKind::Latency,
        FaultKind::Drop,
        FaultKind::Duplicate,
        FaultKind::Reorder,
        FaultKind::PowerLoss,
        FaultKind::Corrupt,
    ];

    /// Whether this kind needs every peer link to pass through the harness's proxy.
    pub fn needs_proxy(self) -> bool {
        matches!(self, FaultKind::Latency | FaultKind::Drop)
    }

    /// Whether this kind needs each node's data directory mounted through the harness's lazyfs.
    pub fn needs_lazyfs(self) -> bool {
        self == FaultKind::PowerLoss
    }

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Partition => "partition",
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
            FaultKind::Loss => "loss",
            FaultKind::Latency => "latency",
            FaultKind::Drop => "drop",
            FaultKind::Duplicate => "duplicate",
            FaultKind::Reorder => "reorder",
            FaultKind::PowerLoss => "power-loss",
            FaultKind::Corrupt => "corrupt",
        }
    }

    /// Whether this kind acts on single messages (it needs a network that sees message boundaries).
    pub fn is_message_level(self) -> bool {
        matches!(self, FaultKind::Drop | FaultKind::Duplicate | FaultKind::Reorder)
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which nodes a process fault hits, resolved against the cluster when the fault starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// One random node.
    One,
    /// The current leader (a random node when none is known).
    Leader,
    /// A random minority (at least one node).
    Minority,
    /// A random majority.
    Majority,
    /// Every node.
    All,
    /// The nodes the partition in force leaves connected to every other node in both directions (the
    /// bridge of a `bridge` partition); one random node when there is none. Lets a schedule hit the
    /// node a previous step made special, e.g. crash the bridge between two elections.
    Bridge,
    /// One side of the partition in force: a random node that some cut touches, with every such node
    /// it reaches and hears without a cut (for a `bridge` partition, one of the two halves). One
    /// random node when no partition is in force.
    Side,
}

impl Target {
    /// The nodes to hit, in a seeded order.
    /// `cut` is the partition in force (empty when the network is whole).
    pub fn resolve(
        self,
        nodes: &[String],
        leader: Option<&str>,
        cut: &Grudge,
        rng: &mut ChaCha8Rng,
    ) -> Vec<String> {
        let mut shuffled = nodes.to_vec();
        shuffled.shuffle(rng);
        let n = nodes.len();
        let mut chosen = match self {
            Target::One => shuffled.into_iter().take(1).collect(),
            Target::Leader => match leader.filter(|l| nodes.iter().any(|n| n == l)) {
                Some(l) => vec![l.to_string()],
                None => shuffled.into_iter().take(1).collect(),
            },
            Target::Minority => {
                let k = rng.random_range(1..=((n - 1) / 2).max(1));
                shuffled.into_iter().take(k).collect()
            }
            Target::Majority => shuffled.into_iter().take(n / 2 + 1).collect(),
            Target::All => shuffled,
            Target::Bridge => {
                let whole: Vec<String> = shuffled.iter().filter(|n| !cut.touches(n)).cloned().collect();
                if whole.is_empty() || cut.is_empty() {
                    shuffled.into_iter().take(1).collect()
                } else {
                    whole
                }
            }
            Target::Side => match shuffled.iter().find(|n| cut.touches(n)) {
                None => shuffled.into_iter().take(1).collect(),
                Some(first) => shuffled
                    .iter()
                    .filter(|n| cut.touches(n) && !cut.is_cut(first, n) && !cut.is_cut(n, first))
                    .cloned()
                    .collect(),
            },
        };
        // Reports and the history read better in node order.
        chosen.sort_by_key(|name: &String| (name.len(), name.clone()));
        chosen
    }
}

/// One fault as scheduled (symbolic targets), or the heal that ends it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "lowercase")]
pub enum Fault {
    Partition {
        topology: Topology,
    },
    Kill {
        target: Target,
    },
    Pause {
        target: Target,
    },
    /// Drop each packet on the topology's links with this probability.
    Loss {
        topology: Topology,
        probability: f64,
    },
    /// Delay traffic on the topology's links by this many milliseconds.
    Latency {
        topology: Topology,
        delay_ms: u64,
    },
    /// Drop every message of one kind on the topology's links and deliver the rest.
    Drop {
        topology: Topology,
        messages: Messages,
    },
    /// Drop every message whose body `type` is `body_type` on the topology's links and deliver the
    /// rest (message networks: Maelstrom nodes).
    #[serde(rename = "drop-type")]
    DropType {
        topology: Topology,
        body_type: String,
    },
    /// Deliver each message on the topology's links a second time with this probability (message
    /// networks only).
    Duplicate {
        topology: Topology,
        probability: f64,
    },
    /// Hold each message on the topology's links back by a random time up to `window_ms`, so later
    /// messages overtake earlier ones (message networks only).
    Reorder {
        topology: Topology,
        window_ms: u64,
    },
    /// Stop dropping messages on the topology's links (undoes `drop` there; cuts, loss and latency stay).
    Deliver {
        topology: Topology,
    },
    /// Cut the power of the target's nodes: SIGKILL, and what they wrote but did not fsync is lost.
    /// They stay down until a heal or restart, like killed nodes.
    #[serde(rename = "power-loss")]
    PowerLoss {
        target: Target,
    },
    /// Stop each of the target's nodes, damage one of its data files (drawn from the seed), and
    /// start it again. Schedules drawn from `--nemesis corrupt` aim at one node or a minority; a
    /// given schedule (a matrix scenario) may aim wider.
    Corrupt {
        target: Target,
        damage: Damage,
    },
    /// Bring the target's nodes back (restart the ones that are down, continue the paused ones) and
    /// leave the network faults in force, so a crashed node comes back into the partition it crashed
    /// in. Nodes outside the target stay down or paused.
    Restart {
        target: Target,
    },
    /// End every fault: remove cuts, loss and latency, continue paused and restart killed nodes.
    Heal,
}

impl Fault {
    /// The history's `f` for the nemesis event that starts this fault.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Partition { .. } => "partition",
            Fault::Kill { .. } => "kill",
            Fault::Pause { .. } => "pause",
            Fault::Loss { .. } => "loss",
            Fault::Latency { .. } => "latency",
            Fault::Drop { .. } | Fault::DropType { .. } => "drop",
            Fault::Duplicate { .. } => "duplicate",
            Fault::Reorder { .. } => "reorder",
            Fault::Deliver { .. } => "deliver",
            Fault::PowerLoss { .. } => "power-loss",
            Fault::Corrupt { .. } => "corrupt",
            Fault::Restart { .. } => "restart",
            Fault::Heal => "heal",
        }
    }
}

/// Which Raft messages a [`Fault::Drop`] drops. The names are what a node sends in each role, so a
/// schedule can say "this node hears no leader" or "nobody hears this node campaign".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Messages {
    /// What only a leader sends: AppendEntries (heartbeats included), InstallSnapshot, TimeoutNow.
    /// A node that receives none of these keeps granting votes but never learns who won.
    Appends,
    /// Vote requests, pre-votes included (the answers still flow).
    Votes,
}

impl Messages {
    pub const ALL: [Messages; 2] = [Messages::Appends, Messages::Votes];
}

/// How a [`Fault::Corrupt`] damages a file: at an offset the harness draws from the seed among the
/// file's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Damage {
    /// Flip one bit in each of a few bytes from the offset on (bit rot, a bad sector read back).
    FlipBits,
    /// Cut the file at the offset (a lost tail).
    Truncate,
    /// Overwrite a range from the offset with zeros (a write that never reached the platter).
    Zero,
}

impl Damage {
    pub const ALL: [Damage; 3] = [Damage::FlipBits, Damage::Truncate, Damage::Zero];
}

impl Fault {
    /// Whether resolving this fault depends on which node leads (so the harness should look at the
    /// cluster right before it acts, not trust a status poll that may be a few hundred ms old).
    pub fn needs_leader(&self) -> bool {
        match self {
            Fault::Partition { topology }
            | Fault::Loss { topology, .. }
            | Fault::Latency { topology, .. }
            | Fault::Drop { topology, .. }
            | Fault::DropType { topology, .. }
            | Fault::Duplicate { topology, .. }
            | Fault::Reorder { topology, .. }
            | Fault::Deliver { topology } => topology.needs_leader(),
            Fault::Kill { target }
            | Fault::Pause { target }
            | Fault::Restart { target }
            | Fault::PowerLoss { target }
            | Fault::Corrupt { target, .. } => *target == Target::Leader,
            Fault::Heal => false,
        }
    }
}

/// A fault with the run-relative time it is due at.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduledFault {
    pub at: Nanos,
    pub fault: Fault,
}

/// The user's nemesis choice: which kinds of fault, how often.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NemesisSpec {
    pub kinds: Vec<FaultKind>,
    /// Time between a fault and its heal, and between a heal and the next fault.
    pub interval: Nanos,
    /// Body types of a message network's messages (Maelstrom nodes): a `drop` fault drops one of
    /// these, drawn from the seed. Empty: `drop` drops a kind of Raft message (raft-node).
    #[serde(default)]
    pub message_types: Vec<String>,
}

impl NemesisSpec {
    /// Parses `partition,kill,pause` (or `none` / empty for no faults).
    pub fn parse_kinds(s: &str) -> Result<Vec<FaultKind>, WorkloadError> {
        let mut kinds = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty() && *p != "none") {
            let kind = FaultKind::ALL
                .into_iter()
                .find(|k| k.name() == part)
                .ok_or_else(|| WorkloadError::UnknownNemesis(part.to_string()))?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        Ok(kinds)
    }
}

impl FromStr for FaultKind {
    type Err = WorkloadError;
    fn from_str(s: &str) -> Result<FaultKind, WorkloadError> {
        FaultKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| WorkloadError::UnknownNemesis(s.into()))
    }
}

/// The fault schedule of a run phase of `time_limit` over `nodes` nodes: a fault at `interval`, a heal
/// at `2 * interval`, and so on, ending with a heal at `time_limit` (always present, so the run phase
/// ends healed even without faults). Deterministic in `seed`.
pub fn schedule(
    spec: &NemesisSpec,
    nodes: usize,
    time_limit: Nanos,
    seed: u64,
) -> Result<Vec<ScheduledFault>, WorkloadError> {
    if spec.interval == 0 && !spec.kinds.is_empty() {
        return Err(WorkloadError::NotPositive { field: "nemesis interval", value: "0s".into() });
    }
    if spec.kinds.contains(&FaultKind::Partition) && nodes < 2 {
        return Err(WorkloadError::TooFewNodes { what: "partitions", min: 2, nodes });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x004e_454d_4553_4953);
    let topologies: Vec<Topology> = Topology::ALL.into_iter().filter(|t| t.min_nodes() <= nodes).collect();
    let mut out = Vec::new();
    if !spec.kinds.is_empty() {
        let mut at = spec.interval;
        let mut faulty = false;
        while at < time_limit {
            let fault = if faulty {
                Fault::Heal
            } else {
                let kind = *spec.kinds.choose(&mut rng).expect("kinds is not empty here");
                let topology = *topologies.choose(&mut rng).expect("random-halves fits every n >= 2");
                match kind {
                    FaultKind::Partition => Fault::Partition { topology },
                    FaultKind::Kill => Fault::Kill {
                        target: *[
                            Target::One,
                            Target::Leader,
                            Target::Minority,
                            Target::Majority,
                            Target::All,
                        ]
                        .choose(&mut rng)
                        .expect("non-empty"),
                    },
                    FaultKind::Pause => Fault::Pause {
                        target: *[Target::One, Target::Leader, Target::Minority, Target::Majority]
                            .choose(&mut rng)
                            .expect("non-empty"),
                    },
                    FaultKind::Loss => Fault::Loss {
                        topology,
                        probability: *[0.1, 0.3, 0.5].choose(&mut rng).expect("non-empty"),
                    },
                    FaultKind::Latency => Fault::Latency {
                        topology,
                        delay_ms: *[20, 50, 100].choose(&mut rng).expect("non-empty"),
                    },
                    FaultKind::Drop => match spec.message_types.choose(&mut rng) {
                        Some(body_type) => Fault::DropType { topology, body_type: body_type.clone() },
                        None => Fault::Drop {
                            topology,
                            messages: *Messages::ALL.choose(&mut rng).expect("non-empty"),
                        },
                    },
                    FaultKind::Duplicate => Fault::Duplicate {
                        topology,
                        probability: *[0.2, 0.5, 1.0].choose(&mut rng).expect("non-empty"),
                    },
                    FaultKind::Reorder => Fault::Reorder {
                        topology,
                        window_ms: *[20, 50, 200].choose(&mut rng).expect("non-empty"),
                    },
                    FaultKind::PowerLoss => Fault::PowerLoss {
                        target: *[Target::One, Target::Minority, Target::Majority, Target::All]
                            .choose(&mut rng)
                            .expect("non-empty"),
                    },
                    FaultKind::Corrupt => Fault::Corrupt {
                        target: *[Target::One, Target::Minority].choose(&mut rng).expect("non-empty"),
                        damage: *Damage::ALL.choose(&mut rng).expect("non-empty"),
                    },
                }
            };
            out.push(ScheduledFault { at, fault });
            faulty = !faulty;
            at += spec.interval;
        }
    }
    out.push(ScheduledFault { at: time_limit, fault: Fault::Heal });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::SECOND;

    fn spec(kinds: &str) -> NemesisSpec {
        NemesisSpec {
            kinds: NemesisSpec::parse_kinds(kinds).unwrap(),
            interval: 10 * SECOND,
            message_types: Vec::new(),
        }
    }

    #[test]
    fn schedule_alternates_fault_and_heal_and_ends_healed() {
        let s = schedule(&spec("partition,kill,pause"), 5, 60 * SECOND, 1).unwrap();
        let times: Vec<Nanos> = s.iter().map(|f| f.at / SECOND).collect();
        assert_eq!(times, vec![10, 20, 30, 40, 50, 60]);
        for (i, f) in s.iter().enumerate() {
            assert_eq!(matches!(f.fault, Fault::Heal), i % 2 == 1, "{s:?}");
        }
        assert_eq!(s.last().unwrap().fault, Fault::Heal);
    }

    #[test]
    fn schedule_uses_only_the_requested_kinds_and_all_of_them_eventually() {
        let s = schedule(&spec("kill,pause"), 5, 1000 * SECOND, 2).unwrap();
        let names: std::collections::BTreeSet<&str> = s.iter().map(|f| f.fault.name()).collect();
        assert_eq!(names, ["heal", "kill", "pause"].into_iter().collect());
    }

    #[test]
    fn no_nemesis_means_one_final_heal() {
        let s = schedule(&spec("none"), 3, 30 * SECOND, 1).unwrap();
        assert_eq!(s, vec![ScheduledFault { at: 30 * SECOND, fault: Fault::Heal }]);
    }

    #[test]
    fn schedules_are_seeded() {
        let a = schedule(&spec("partition,kill,pause,loss,latency"), 5, 300 * SECOND, 7).unwrap();
        let b = schedule(&spec("partition,kill,pause,loss,latency"), 5, 300 * SECOND, 7).unwrap();
        let c = schedule(&spec("partition,kill,pause,loss,latency"), 5, 300 * SECOND, 8).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn disk_faults_parse_by_name_and_corruption_stays_on_a_minority() {
        let s = schedule(&spec("power-loss,corrupt"), 5, 2000 * SECOND, 4).unwrap();
        let mut targets = std::collections::BTreeSet::new();
        for f in &s {
            match &f.fault {
                Fault::Corrupt { target, .. } => assert!(matches!(target, Target::One | Target::Minority)),
                Fault::PowerLoss { target } => {
                    targets.insert(format!("{target:?}"));
                }
                Fault::Heal => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(targets.len(), 4, "power loss hits one, a minority, a majority and all: {targets:?}");
        assert!(FaultKind::PowerLoss.needs_lazyfs() && !FaultKind::Corrupt.needs_lazyfs());
        let json = serde_json::to_value(Fault::PowerLoss { target: Target::All }).unwrap();
        assert_eq!(json, serde_json::json!({"f": "power-loss", "target": "all"}));
        assert_eq!(serde_json::to_value(FaultKind::PowerLoss).unwrap(), "power-loss");
        let back: Fault = serde_json::from_value(
            serde_json::json!({"f": "corrupt", "target": "one", "damage": "flip-bits"}),
        )
        .unwrap();
        assert_eq!(back, Fault::Corrupt { target: Target::One, damage: Damage::FlipBits });
    }

    #[test]
    fn bad_nemesis_names_are_rejected_by_name() {
        assert_eq!(
            NemesisSpec::parse_kinds("partition,bogus"),
            Err(WorkloadError::UnknownNemesis("bogus".into()))
        );
    }

    #[test]
    fn targets_resolve_to_the_right_number_of_nodes() {
        let nodes: Vec<String> = (1..=5).map(|i| format!("n{i}")).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let whole = Grudge::default();
        assert_eq!(Target::One.resolve(&nodes, None, &whole, &mut rng).len(), 1);
        assert_eq!(Target::Leader.resolve(&nodes, Some("n4"), &whole, &mut rng), vec!["n4".to_string()]);
        for _ in 0..20 {
            let m = Target::Minority.resolve(&nodes, None, &whole, &mut rng).len();
            assert!((1..=2).contains(&m));
        }
        assert_eq!(Target::Majority.resolve(&nodes, None, &whole, &mut rng).len(), 3);
        assert_eq!(Target::All.resolve(&nodes, None, &whole, &mut rng), nodes);
    }

    #[test]
    fn the_side_target_is_one_half_of_a_bridge_partition() {
        let nodes: Vec<String> = (1..=5).map(|i| format!("n{i}")).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let g = Topology::LeaderBridge.grudge(&nodes, Some("n3"), &mut ChaCha8Rng::seed_from_u64(1));
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..20 {
            let side = Target::Side.resolve(&nodes, Some("n3"), &g, &mut rng);
            assert_eq!(side.len(), 2, "{side:?} of {g:?}");
            assert!(!side.contains(&"n3".to_string()));
            assert!(!g.is_cut(&side[0], &side[1]) && !g.is_cut(&side[1], &side[0]));
            seen.insert(side);
        }
        assert_eq!(seen.len(), 2, "both halves get picked: {seen:?}");
        assert_eq!(Target::Side.resolve(&nodes, None, &Grudge::default(), &mut rng).len(), 1);
    }

    #[test]
    fn faults_say_whether_they_need_the_leader() {
        assert!(Fault::Kill { target: Target::Leader }.needs_leader());
        assert!(!Fault::Kill { target: Target::Bridge }.needs_leader());
        assert!(Fault::Deliver { topology: Topology::LeaderToLaggard }.needs_leader());
        assert!(!Fault::Drop { topology: Topology::AllLinks, messages: Messages::Appends }.needs_leader());
        assert!(!Fault::Heal.needs_leader());
        assert!(FaultKind::Drop.needs_proxy() && FaultKind::Latency.needs_proxy());
        assert!(!FaultKind::Partition.needs_proxy());
        // Drawn schedules can drop messages too when asked to.
        let s = schedule(&spec("drop"), 3, 100 * SECOND, 3).unwrap();
        assert!(s.iter().any(|f| matches!(f.fault, Fault::Drop { .. })));
    }

    #[test]
    fn message_networks_drop_one_body_type_at_a_time() {
        let mut with_types = spec("drop,duplicate,reorder");
        with_types.message_types = vec!["replicate".into(), "forward".into()];
        let s = schedule(&with_types, 3, 300 * SECOND, 5).unwrap();
        let dropped: std::collections::BTreeSet<&str> = s
            .iter()
            .filter_map(|f| match &f.fault {
                Fault::DropType { body_type, .. } => Some(body_type.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(dropped, ["forward", "replicate"].into_iter().collect());
        assert!(!s.iter().any(|f| matches!(f.fault, Fault::Drop { .. })));
        assert!(s.iter().any(|f| matches!(f.fault, Fault::Duplicate { .. })));
        assert!(s.iter().any(|f| matches!(f.fault, Fault::Reorder { .. })));
        // The record names the body type under its own tag.
        let drop = s.iter().find(|f| f.fault.name() == "drop").unwrap();
        let json = serde_json::to_value(&drop.fault).unwrap();
        assert_eq!(json["f"], "drop-type");
        assert!(FaultKind::Duplicate.is_message_level() && !FaultKind::Loss.is_message_level());
    }

    #[test]
    fn the_bridge_target_is_the_node_no_cut_touches() {
        let nodes: Vec<String> = (1..=5).map(|i| format!("n{i}")).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        for seed in 0..20 {
            let mut topo_rng = ChaCha8Rng::seed_from_u64(seed);
            let g = Topology::Bridge.grudge(&nodes, None, &mut topo_rng);
            let bridge = Target::Bridge.resolve(&nodes, None, &g, &mut rng);
            assert_eq!(bridge.len(), 1, "{g:?}");
            assert!(
                nodes.iter().all(|n| n == &bridge[0] || !g.is_cut(&bridge[0], n) && !g.is_cut(n, &bridge[0]))
            );
            assert!(nodes.iter().filter(|n| **n != bridge[0]).all(|n| g.cuts.iter().any(|(a, _)| a == n)));
        }
        // No partition, or one that touches every node: one random node, like `one`.
        assert_eq!(Target::Bridge.resolve(&nodes, None, &Grudge::default(), &mut rng).len(), 1);
        let ring = Topology::AllLinks.grudge(&nodes, None, &mut rng);
        assert_eq!(Target::Bridge.resolve(&nodes, None, &ring, &mut rng).len(), 1);
    }
}
