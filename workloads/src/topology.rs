//! Partition topologies as pure functions over node lists.
//!
//! A partition is a [`Grudge`] (Jepsen's word): the set of directed links `(from, to)` whose traffic
//! is dropped, "from" being the sender. Symmetric partitions cut both directions; the one-way cut
//! exercises asymmetric failures, where a node can still send (heartbeats, votes) but never hears the
//! answers. Choosing *which* links to cut is pure and unit-tested here; the harness only actuates a
//! grudge (iptables rules in netns, the proxy on loopback) and records it.

use crate::WorkloadError;
use rand::seq::SliceRandom;
use rand::{RngExt, seq::IndexedRandom};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// The directed links to cut: `(from, to)` drops what `from` sends to `to`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grudge {
    pub cuts: BTreeSet<(String, String)>,
}

impl Grudge {
    /// Cuts every link between the two groups, in both directions.
    pub fn between(a: &[String], b: &[String]) -> Grudge {
        let mut g = Grudge::default();
        g.cut_one_way(a, b);
        g.cut_one_way(b, a);
        g
    }

    /// Cuts what every node of `from` sends to every node of `to`.
    pub fn cut_one_way(&mut self, from: &[String], to: &[String]) {
        for f in from {
            for t in to {
                if f != t {
                    self.cuts.insert((f.clone(), t.clone()));
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.cuts.is_empty()
    }

    /// Whether `to` drops what `from` sends.
    pub fn is_cut(&self, from: &str, to: &str) -> bool {
        self.cuts.contains(&(from.to_string(), to.to_string()))
    }

    /// Whether some cut link starts or ends at `node`.
    pub fn touches(&self, node: &str) -> bool {
        self.cuts.iter().any(|(a, b)| a == node || b == node)
    }

    /// The nodes `node` still hears from (itself included).
    pub fn hears(&self, node: &str, nodes: &[String]) -> Vec<String> {
        nodes.iter().filter(|n| n.as_str() == node || !self.is_cut(n, node)).cloned().collect()
    }
}

/// A way of choosing a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Topology {
    /// Shuffle, cut into a minority and a majority.
    RandomHalves,
    /// One random node cut off from all others.
    IsolateOne,
    /// The current leader cut off (a random node when no leader is known).
    IsolateLeader,
    /// Every node sees a majority, but no two nodes see the same majority (Jepsen's majorities ring).
    MajoritiesRing,
    /// Two halves that only a single bridge node connects.
    Bridge,
    /// A random minority can send to the rest but hears nothing back.
    OneWay,
    /// The current leader and as many random others as make a minority, cut from the majority: the
    /// leader keeps some followers, so entries it appends reach a few nodes but never commit.
    LeaderMinority,
    /// Every directed link: as a partition every node alone; for loss and latency the whole network.
    AllLinks,
    /// Every link into the current leader (one way): as a partition the leader can send but hears
    /// nothing; with `drop` of appends, whoever leads next cannot reach the old leader.
    IntoLeader,
    /// Like `bridge`, with the current leader as the bridge: the other nodes split into two halves that
    /// only the leader connects, so when it falls, each half elects alone and needs the old leader's
    /// vote to win.
    LeaderBridge,
    /// The one directed link from the current leader to the laggard (the other node with the shortest
    /// log), e.g. to delay or let through only what the leader sends to the node it must catch up.
    LeaderToLaggard,
    /// Every link out of the current leader (one way): as a partition the leader hears everyone but
    /// nobody hears it; with `drop` of appends its followers stop hearing a leader while it still
    /// hears their votes and answers.
    FromLeader,
    /// Like `leader-bridge`, with the previous leader as the bridge (the current one when none is
    /// known): after the leader was paused or crashed, its followers split in two halves that only
    /// it connects, so it comes back as the one node both halves can hear.
    PreviousLeaderBridge,
}

/// What a topology or a [`crate::Target`] may look at besides the node list: who leads, who lags
/// furthest behind, and the recent history of roles the nemesis keeps ([`crate::RoleHistory`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct View<'a> {
    pub leader: Option<&'a str>,
    /// The node other than the leader with the shortest log, when the harness knows the logs.
    pub laggard: Option<&'a str>,
    /// The last leader before the current one (or, with no leader now, the last one known).
    pub previous_leader: Option<&'a str>,
    /// The current leader when it won after the previous fault fired ("the node that just won").
    pub new_leader: Option<&'a str>,
    /// The node the nemesis restarted (or continued) most recently.
    pub restarted: Option<&'a str>,
    /// The node whose event ended the nemesis's last wait for one ([`crate::Fault::Await`]).
    pub triggered: Option<&'a str>,
    /// The other node that event named (the candidate of a granted vote).
    pub triggered_peer: Option<&'a str>,
}

const TOPOLOGY_NAMES: &str = "random-halves, isolate-one, isolate-leader, majorities-ring, bridge, one-way, leader-minority, all-links, into-leader, leader-bridge, leader-to-laggard, from-leader, previous-leader-bridge";

impl Topology {
    pub const ALL: [Topology; 6] = [
        Topology::RandomHalves,
        Topology::IsolateOne,
        Topology::IsolateLeader,
        Topology::MajoritiesRing,
        Topology::Bridge,
        Topology::OneWay,
    ];

    /// Topologies aimed at a particular bug, used by explicit schedules (the planted-bug matrix) but
    /// not drawn by [`crate::nemesis::schedule`] (adding them there would change every seed's faults).
    pub const TARGETED: [Topology; 7] = [
        Topology::LeaderMinority,
        Topology::AllLinks,
        Topology::IntoLeader,
        Topology::LeaderBridge,
        Topology::LeaderToLaggard,
        Topology::FromLeader,
        Topology::PreviousLeaderBridge,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Topology::RandomHalves => "random-halves",
            Topology::IsolateOne => "isolate-one",
            Topology::IsolateLeader => "isolate-leader",
            Topology::MajoritiesRing => "majorities-ring",
            Topology::Bridge => "bridge",
            Topology::OneWay => "one-way",
            Topology::LeaderMinority => "leader-minority",
            Topology::AllLinks => "all-links",
            Topology::IntoLeader => "into-leader",
            Topology::LeaderBridge => "leader-bridge",
            Topology::LeaderToLaggard => "leader-to-laggard",
            Topology::FromLeader => "from-leader",
            Topology::PreviousLeaderBridge => "previous-leader-bridge",
        }
    }

    /// Whether the grudge depends on which node leads.
    pub fn needs_leader(self) -> bool {
        matches!(
            self,
            Topology::IsolateLeader
                | Topology::LeaderMinority
                | Topology::IntoLeader
                | Topology::LeaderBridge
                | Topology::LeaderToLaggard
                | Topology::FromLeader
                | Topology::PreviousLeaderBridge
        )
    }

    /// The smallest cluster the topology means something on.
    pub fn min_nodes(self) -> usize {
        match self {
            Topology::Bridge
            | Topology::MajoritiesRing
            | Topology::LeaderMinority
            | Topology::LeaderBridge
            | Topology::PreviousLeaderBridge => 3,
            _ => 2,
        }
    }

    /// The links to cut among `nodes`, with `leader` the current leader if known. Deterministic for a
    /// given RNG state.
    pub fn grudge(self, nodes: &[String], leader: Option<&str>, rng: &mut ChaCha8Rng) -> Grudge {
        self.grudge_in(nodes, View { leader, ..View::default() }, rng)
    }

    /// [`Topology::grudge`] with everything the harness knows about the cluster.
    pub fn grudge_in(self, nodes: &[String], view: View<'_>, rng: &mut ChaCha8Rng) -> Grudge {
        let leader = view.leader;
        if nodes.len() < 2 {
            return Grudge::default();
        }
        let mut shuffled = nodes.to_vec();
        shuffled.shuffle(rng);
        match self {
            Topology::RandomHalves => {
                let (minority, majority) = shuffled.split_at(nodes.len() / 2);
                Grudge::between(minority, majority)
            }
            Topology::IsolateOne => isolate(nodes, &shuffled[0]),
            Topology::IsolateLeader => isolate(nodes, &leader_or_random(nodes, leader, rng)),
            Topology::IntoLeader => {
                let target = leader_or_random(nodes, leader, rng);
                let mut g = Grudge::default();
                g.cut_one_way(nodes, std::slice::from_ref(&target));
                g
            }
            Topology::FromLeader => {
                let source = leader_or_random(nodes, leader, rng);
                let mut g = Grudge::default();
                g.cut_one_way(std::slice::from_ref(&source), nodes);
                g
            }
            Topology::LeaderBridge | Topology::PreviousLeaderBridge => {
                let aim =
                    if self == Topology::LeaderBridge { leader } else { view.previous_leader.or(leader) };
                let bridge = leader_or_random(nodes, aim, rng);
                let others: Vec<String> = shuffled.iter().filter(|n| **n != bridge).cloned().collect();
                let (left, right) = others.split_at(others.len() / 2);
                Grudge::between(left, right)
            }
            Topology::MajoritiesRing => majorities_ring(&shuffled),
            Topology::Bridge => {
                // n = 5: [a b] c [d e]; the bridge c hears and reaches everyone.
                let half = (shuffled.len() - 1) / 2;
                let left = &shuffled[..half];
                let right = &shuffled[half + 1..];
                Grudge::between(left, right)
            }
            Topology::OneWay => {
                let k = rng.random_range(1..=nodes.len().div_ceil(2).min(nodes.len() - 1));
                let (minority, rest) = shuffled.split_at(k);
                let mut g = Grudge::default();
                // The minority's messages still arrive; nothing reaches the minority.
                g.cut_one_way(rest, minority);
                g
            }
            Topology::LeaderMinority => {
                let leader = leader
                    .filter(|l| nodes.iter().any(|n| n == l))
                    .map(str::to_string)
                    .unwrap_or_else(|| shuffled[0].clone());
                // The largest minority: 2 of 5, 3 of 7, the leader alone of 3.
                let size = ((nodes.len() - 1) / 2).max(1);
                let mut minority = vec![leader.clone()];
                minority.extend(shuffled.iter().filter(|n| **n != leader).take(size - 1).cloned());
                let majority: Vec<String> = nodes.iter().filter(|n| !minority.contains(n)).cloned().collect();
                Grudge::between(&minority, &majority)
            }
            Topology::LeaderToLaggard => {
                let from = leader_or_random(nodes, leader, rng);
                let to = view
                    .laggard
                    .filter(|l| *l != from && nodes.iter().any(|n| n == l))
                    .map(str::to_string)
                    .unwrap_or_else(|| shuffled.iter().find(|n| **n != from).expect("two nodes").clone());
                let mut g = Grudge::default();
                g.cuts.insert((from, to));
                g
            }
            Topology::AllLinks => {
                let mut g = Grudge::default();
                g.cut_one_way(nodes, nodes);
                g
            }
        }
    }
}

/// The leader if it is one of `nodes`, else a random node.
fn leader_or_random(nodes: &[String], leader: Option<&str>, rng: &mut ChaCha8Rng) -> String {
    leader
        .filter(|l| nodes.iter().any(|n| n == l))
        .map(str::to_string)
        .unwrap_or_else(|| nodes.choose(rng).expect("at least two nodes").clone())
}

fn isolate(nodes: &[String], target: &str) -> Grudge {
    let others: Vec<String> = nodes.iter().filter(|n| n.as_str() != target).cloned().collect();
    Grudge::between(&[target.to_string()], &others)
}

/// On the ring order given, node `i` hears the `q - 1` nodes nearest to it (q a majority), split as
/// evenly as possible between its two sides; everything else is cut. Every node thus hears a majority
/// including itself, and for n >= 4 neighbours' majorities differ.
fn majorities_ring(ring: &[String]) -> Grudge {
    let n = ring.len();
    let q = n / 2 + 1;
    let right = (q - 1).div_ceil(2);
    let left = (q - 1) / 2;
    let mut g = Grudge::default();
    for (i, to) in ring.iter().enumerate() {
        let hears: BTreeSet<usize> =
            (0..=right).map(|d| (i + d) % n).chain((1..=left).map(|d| (i + n - d) % n)).collect();
        for (j, from) in ring.iter().enumerate() {
            if !hears.contains(&j) {
                g.cuts.insert((from.clone(), to.clone()));
            }
        }
    }
    g
}

impl FromStr for Topology {
    type Err = WorkloadError;
    fn from_str(s: &str) -> Result<Topology, WorkloadError> {
        Topology::ALL
            .into_iter()
            .chain(Topology::TARGETED)
            .find(|t| t.name() == s)
            .ok_or_else(|| WorkloadError::UnknownTopology(s.to_string(), TOPOLOGY_NAMES))
    }
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn nodes(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    /// Groups of nodes that hear each other both ways (connected components of the uncut graph).
    fn components(g: &Grudge, nodes: &[String]) -> Vec<BTreeSet<String>> {
        let mut out: Vec<BTreeSet<String>> = Vec::new();
        for n in nodes {
            if out.iter().any(|c| c.contains(n)) {
                continue;
            }
            let mut comp = BTreeSet::from([n.clone()]);
            let mut frontier = vec![n.clone()];
            while let Some(x) = frontier.pop() {
                for y in nodes {
                    if !comp.contains(y) && !g.is_cut(&x, y) && !g.is_cut(y, &x) {
                        comp.insert(y.clone());
                        frontier.push(y.clone());
                    }
                }
            }
            out.push(comp);
        }
        out
    }

    #[test]
    fn random_halves_is_a_symmetric_minority_majority_split() {
        for seed in 0..20 {
            let ns = nodes(5);
            let g = Topology::RandomHalves.grudge(&ns, None, &mut ChaCha8Rng::seed_from_u64(seed));
            let mut sizes: Vec<usize> = components(&g, &ns).iter().map(|c| c.len()).collect();
            sizes.sort();
            assert_eq!(sizes, vec![2, 3]);
            assert_eq!(g.cuts.len(), 2 * 2 * 3);
            assert!(g.cuts.iter().all(|(a, b)| g.is_cut(b, a)));
        }
    }

    #[test]
    fn isolate_leader_cuts_the_leader_and_only_it() {
        let ns = nodes(5);
        let g = Topology::IsolateLeader.grudge(&ns, Some("n3"), &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(g.cuts.len(), 8);
        assert!(g.cuts.iter().all(|(a, b)| a == "n3" || b == "n3"));
        // Unknown leader: still isolates exactly one node.
        let g = Topology::IsolateLeader.grudge(&ns, None, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(components(&g, &ns).iter().filter(|c| c.len() == 1).count(), 1);
    }

    #[test]
    fn isolate_one_leaves_a_majority_of_four() {
        let ns = nodes(5);
        let g = Topology::IsolateOne.grudge(&ns, None, &mut ChaCha8Rng::seed_from_u64(2));
        let mut sizes: Vec<usize> = components(&g, &ns).iter().map(|c| c.len()).collect();
        sizes.sort();
        assert_eq!(sizes, vec![1, 4]);
    }

    #[test]
    fn majorities_ring_every_node_hears_a_distinct_majority() {
        for n in [3, 5, 7] {
            let ns = nodes(n);
            let g = Topology::MajoritiesRing.grudge(&ns, None, &mut ChaCha8Rng::seed_from_u64(n as u64));
            let views: Vec<BTreeSet<String>> =
                ns.iter().map(|x| g.hears(x, &ns).into_iter().collect()).collect();
            for v in &views {
                assert_eq!(v.len(), n / 2 + 1, "n={n}: {v:?}");
            }
            if n >= 5 {
                let distinct: BTreeSet<&BTreeSet<String>> = views.iter().collect();
                assert_eq!(distinct.len(), n, "n={n}: majorities repeat");
            }
        }
    }

    #[test]
    fn bridge_node_hears_everyone_and_the_sides_are_cut() {
        let ns = nodes(5);
        let g = Topology::Bridge.grudge(&ns, None, &mut ChaCha8Rng::seed_from_u64(3));
        let bridge: Vec<&String> = ns.iter().filter(|n| g.hears(n, &ns).len() == 5).collect();
        assert_eq!(bridge.len(), 1);
        assert!(g.cuts.iter().all(|(a, b)| a != bridge[0] && b != bridge[0]));
        assert_eq!(g.cuts.len(), 2 * 2 * 2);
    }

    #[test]
    fn one_way_cut_is_asymmetric() {
        for seed in 0..10 {
            let ns = nodes(5);
            let g = Topology::OneWay.grudge(&ns, None, &mut ChaCha8Rng::seed_from_u64(seed));
            assert!(!g.is_empty());
            assert!(g.cuts.iter().all(|(a, b)| !g.is_cut(b, a)), "seed {seed}: a symmetric cut");
        }
    }

    #[test]
    fn leader_minority_keeps_the_leader_with_followers_but_without_a_majority() {
        for (n, seed) in [(5, 1), (5, 2), (7, 3), (3, 4)] {
            let ns = nodes(n);
            let g = Topology::LeaderMinority.grudge(&ns, Some("n2"), &mut ChaCha8Rng::seed_from_u64(seed));
            let comps = components(&g, &ns);
            let with_leader = comps.iter().find(|c| c.contains("n2")).unwrap();
            assert_eq!(with_leader.len(), (n - 1) / 2, "n={n}: {comps:?}");
            assert_eq!(comps.len(), 2, "n={n}: {comps:?}");
        }
    }

    #[test]
    fn leader_bridge_keeps_the_leader_whole_and_splits_the_rest() {
        for n in [3, 5] {
            let ns = nodes(n);
            for seed in 0..10 {
                let g = Topology::LeaderBridge.grudge(&ns, Some("n2"), &mut ChaCha8Rng::seed_from_u64(seed));
                assert!(!g.cuts.iter().any(|(a, b)| a == "n2" || b == "n2"), "{g:?}");
                let rest: Vec<String> = ns.iter().filter(|x| *x != "n2").cloned().collect();
                let comps = components(&g, &rest);
                assert_eq!(comps.len(), 2, "n={n}: {comps:?}");
                assert_eq!(comps[0].len(), comps[1].len(), "halves of {n}: {comps:?}");
            }
        }
    }

    #[test]
    fn into_leader_and_leader_to_laggard_are_one_way() {
        let ns = nodes(3);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let g = Topology::IntoLeader.grudge(&ns, Some("n1"), &mut rng);
        let want: BTreeSet<(String, String)> =
            [("n2", "n1"), ("n3", "n1")].into_iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        assert_eq!(g.cuts, want);
        let view = View { leader: Some("n3"), laggard: Some("n1"), ..View::default() };
        let g = Topology::LeaderToLaggard.grudge_in(&ns, view, &mut rng);
        assert_eq!(g.cuts.into_iter().collect::<Vec<_>>(), vec![("n3".to_string(), "n1".to_string())]);
        // Without a known laggard, some other node; never a link to itself.
        for seed in 0..10 {
            let g = Topology::LeaderToLaggard.grudge(&ns, Some("n2"), &mut ChaCha8Rng::seed_from_u64(seed));
            let (from, to) = g.cuts.iter().next().unwrap().clone();
            assert_eq!((g.cuts.len(), from.as_str()), (1, "n2"));
            assert_ne!(to, "n2");
        }
        assert_eq!(Topology::AllLinks.grudge(&ns, None, &mut rng).cuts.len(), 6);
        let g = Topology::FromLeader.grudge(&ns, Some("n2"), &mut rng);
        let want: BTreeSet<(String, String)> =
            [("n2", "n1"), ("n2", "n3")].into_iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        assert_eq!(g.cuts, want);
    }

    #[test]
    fn only_leader_topologies_need_the_leader() {
        let needs: Vec<Topology> =
            Topology::ALL.into_iter().chain(Topology::TARGETED).filter(|t| t.needs_leader()).collect();
        assert_eq!(
            needs,
            vec![
                Topology::IsolateLeader,
                Topology::LeaderMinority,
                Topology::IntoLeader,
                Topology::LeaderBridge,
                Topology::LeaderToLaggard,
                Topology::FromLeader,
                Topology::PreviousLeaderBridge
            ]
        );
    }

    #[test]
    fn every_topology_is_deterministic_for_a_seed() {
        let ns = nodes(5);
        for t in Topology::ALL.into_iter().chain(Topology::TARGETED) {
            let a = t.grudge(&ns, Some("n2"), &mut ChaCha8Rng::seed_from_u64(5));
            let b = t.grudge(&ns, Some("n2"), &mut ChaCha8Rng::seed_from_u64(5));
            assert_eq!(a, b, "{t}");
            assert_eq!(t.name().parse::<Topology>().unwrap(), t);
        }
    }
}
