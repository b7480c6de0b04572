//! Finding cycles in the dependency graph and naming them.
//!
//! A serializable history's dependency graph is acyclic, so every cycle is an anomaly, and Adya names
//! it by the edges it needs: only `ww` is G0; `ww` and `wr` (at least one `wr`) is G1c; exactly one
//! `rw` is G-single; two or more `rw`, no two of them in a row (counting round the cycle), is
//! G-nonadjacent (what snapshot isolation forbids besides G-single); two or more with two in a row
//! is G2-item. A cycle that needs process order is the `-process`
//! variant, one that needs real-time order the `-realtime` variant (only strict serializability
//! forbids those).
//!
//! The search, in the shape of Elle's:
//!
//! 1. Strongly connected components of the whole graph (petgraph's `tarjan_scc`): every cycle lies in
//!    one, and a component of one transaction has none.
//! 2. In each component, the classes are searched from the most severe to the least, each in the
//!    subgraph of the kinds it may use: G0 and G1c as components of the `ww` (`ww`+`wr`) subgraph,
//!    then a shortest cycle by breadth-first search from a few of its transactions back to themselves;
//!    G-single by trying `rw` edges `a -> b` and searching a shortest path `b ~> a` without `rw`;
//!    G-nonadjacent the same over pairs (transaction, whether the last step was `rw`), so that no
//!    `rw` step follows another and the way back ends with a step that is not `rw`; G2-item the same
//!    with `rw` allowed anywhere on the way back. Data edges come first, then process order,
//!    then real time, so a cycle is named by the least it needs.
//! 3. Each cycle found is classified by the kinds its steps use (a pair related by several kinds is
//!    explained by the one that claims least: data, then process, then real time, `rw` last), and kept
//!    once per class and component.
//!
//! Breadth-first searches are bounded by a budget of edge visits. When it runs out, the remaining
//! searches are skipped, and every component without a cycle yet gets one found by a single search
//! that may use every kind: no cyclic component goes unreported, but it may be named by a weaker class
//! than the worst it holds ([`super::TxnReport::search_truncated`] says so).

use super::explain::{Detail, Found};
use super::graph::{DepGraph, DepKind, Kinds};
use crate::anomaly::Anomaly;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{EdgeIndex, NodeIndex};
use petgraph::visit::{EdgeFiltered, EdgeRef};
use std::collections::{BTreeMap, HashSet};

/// How many transactions of a component are tried as the start of a cycle of one class.
const STARTS: usize = 4;
/// How many `rw` edges of a component are tried for one class.
const RW_TRIES: usize = 32;

/// What the cycle search found.
#[derive(Debug, Default)]
pub struct Cycles {
    /// Components of more than one transaction.
    pub sccs: usize,
    /// How many components hold each class.
    pub counts: BTreeMap<Anomaly, usize>,
    /// One cycle per class and component.
    pub found: Vec<Found>,
    pub truncated: bool,
}

/// One class family: the non-`rw` kinds its cycles may use besides data.
#[derive(Clone, Copy)]
struct Family {
    extra: Kinds,
}

const FAMILIES: [Family; 3] = [
    Family { extra: Kinds(0) },
    Family { extra: Kinds::PROCESS },
    Family { extra: Kinds(Kinds::PROCESS.0 | Kinds::REALTIME.0) },
];

/// Breadth-first search with reusable scratch space.
struct Bfs {
    stamp: Vec<u32>,
    generation: u32,
    parent: Vec<(u32, u32)>,
    queue: std::collections::VecDeque<u32>,
    budget: u64,
}

impl Bfs {
    fn new(vertices: usize, budget: u64) -> Bfs {
        Bfs {
            stamp: vec![0; vertices],
            generation: 0,
            parent: vec![(0, 0); vertices],
            queue: std::collections::VecDeque::new(),
            budget,
        }
    }

    /// The breadth-first search both searches below are: over states, `per_vertex` of them for each
    /// vertex (state `per_vertex * v + tag`), from `start`, along edges whose target is in component
    /// `id` (`member[target] == id`). `step(state, kinds of the edge, target)` is the state an edge
    /// leads to (None: not taken there); the search ends at the first state taken for which `goal`
    /// holds. `start` counts as seen only when `seen_start` (a search for a cycle through `start` must
    /// be able to come back to it). Returns the edges taken, each with the state it led to; None when
    /// no goal is reachable or the budget ran out.
    #[allow(clippy::too_many_arguments, reason = "one search's inputs, each used once")]
    fn search(
        &mut self,
        g: &DepGraph,
        per_vertex: usize,
        start: usize,
        seen_start: bool,
        member: &[u32],
        id: u32,
        mut step: impl FnMut(usize, Kinds, usize) -> Option<usize>,
        goal: impl Fn(usize) -> bool,
    ) -> Option<Vec<(EdgeIndex<u32>, usize)>> {
        let states = per_vertex * g.graph.node_count();
        if self.stamp.len() < states {
            self.stamp.resize(states, 0);
            self.parent.resize(states, (0, 0));
        }
        self.generation += 1;
        let generation = self.generation;
        self.queue.clear();
        self.queue.push_back(start as u32);
        if seen_start {
            self.stamp[start] = generation;
        }
        while let Some(s) = self.queue.pop_front() {
            let s = s as usize;
            for e in g.graph.edges(NodeIndex::new(s / per_vertex)) {
                if self.budget == 0 {
                    return None;
                }
                self.budget -= 1;
                let w = e.target().index();
                if member[w] != id {
                    continue;
                }
                let Some(next) = step(s, e.weight().kinds, w) else { continue };
                if goal(next) {
                    let mut path = vec![(e.id(), next)];
                    let mut at = s;
                    while at != start {
                        let (p, edge) = self.parent[at];
                        path.push((EdgeIndex::new(edge as usize), at));
                        at = p as usize;
                    }
                    path.reverse();
                    return Some(path);
                }
                if self.stamp[next] != generation {
                    self.stamp[next] = generation;
                    self.parent[next] = (s as u32, e.id().index() as u32);
                    self.queue.push_back(next as u32);
                }
            }
        }
        None
    }

    /// A shortest path `from ~> to` (a cycle when they are equal) over edges of `mask` between
    /// vertices with `member[v] == id`, as edge indices; None when there is none or the budget ran out.
    fn path(
        &mut self,
        g: &DepGraph,
        from: usize,
        to: usize,
        mask: Kinds,
        member: &[u32],
        id: u32,
    ) -> Option<Vec<EdgeIndex<u32>>> {
        let step = |_, kinds: Kinds, w| kinds.intersects(mask).then_some(w);
        let path = self.search(g, 1, from, from != to, member, id, step, |w| w == to)?;
        Some(path.into_iter().map(|(e, _)| e).collect())
    }

    /// A shortest way back `from ~> to` over edges of `mask` inside component `id` on which no `rw`
    /// step follows another, starting as if the step before `from` was `rw` and ending with a step
    /// into `to` that is not `rw` (so that the cycle closed by an `rw` edge `to -> from` has no two
    /// anti-dependencies in a row). The search runs over pairs (transaction, whether it was reached
    /// through `rw`): state `2 * vertex + 1` when reached through `rw`. Returns the steps with the kind
    /// each was taken as; None when there is no such way or the budget ran out.
    fn nonadjacent_path(
        &mut self,
        g: &DepGraph,
        from: usize,
        to: usize,
        mask: Kinds,
        member: &[u32],
        id: u32,
    ) -> Option<Steps> {
        let other = mask.minus(Kinds::RW);
        // Taken as data (or order) when it can be, as `rw` only when it must and may.
        let step = |s: usize, kinds: Kinds, w: usize| {
            let after_rw = s % 2 == 1;
            if kinds.intersects(other) {
                Some(2 * w)
            } else if kinds.intersects(Kinds::RW) && mask.intersects(Kinds::RW) && !after_rw {
                Some(2 * w + 1)
            } else {
                None
            }
        };
        let path = self.search(g, 2, 2 * from + 1, true, member, id, step, |s| s == 2 * to)?;
        Some(
            path.into_iter()
                .map(|(e, state)| {
                    let (a, b) = g.graph.edge_endpoints(e).expect("an edge of the graph");
                    let kind =
                        if state % 2 == 1 { DepKind::Rw } else { explain_kind(g.edge(e).kinds, other) };
                    (a.index(), b.index(), kind)
                })
                .collect(),
        )
    }
}

/// The kind a step is explained by: the first of [`DepKind::PREFERENCE`] the edge has and `allowed`
/// permits.
fn explain_kind(kinds: Kinds, allowed: Kinds) -> DepKind {
    DepKind::PREFERENCE
        .into_iter()
        .find(|k| kinds.intersects(k.bit()) && allowed.intersects(k.bit()))
        .unwrap_or(DepKind::Rw)
}

/// The class of a cycle by the kinds of its steps (see the module documentation).
pub fn classify(steps: &[(usize, usize, DepKind)]) -> Anomaly {
    let has = |k: DepKind| steps.iter().any(|s| s.2 == k);
    let rw = steps.iter().filter(|s| s.2 == DepKind::Rw).count();
    let family = if has(DepKind::Realtime) {
        2
    } else if has(DepKind::Process) {
        1
    } else {
        0
    };
    use Anomaly::*;
    let adjacent =
        (0..steps.len()).any(|i| steps[i].2 == DepKind::Rw && steps[(i + 1) % steps.len()].2 == DepKind::Rw);
    let classes = match rw {
        0 if has(DepKind::Wr) => [G1c, G1cProcess, G1cRealtime],
        0 => [G0, G0Process, G0Realtime],
        1 => [GSingle, GSingleProcess, GSingleRealtime],
        _ if !adjacent => [GNonadjacent, GNonadjacentProcess, GNonadjacentRealtime],
        _ => [G2Item, G2ItemProcess, G2ItemRealtime],
    };
    classes[family]
}

/// A cycle's steps: `(from, to, kind)` transaction ids.
type Steps = Vec<(usize, usize, DepKind)>;

/// The steps of a path of edges, each explained by a kind `allowed` permits.
fn steps(g: &DepGraph, path: &[EdgeIndex<u32>], allowed: Kinds) -> Steps {
    path.iter()
        .map(|&e| {
            let (a, b) = g.graph.edge_endpoints(e).expect("a path holds edges of the graph");
            (a.index(), b.index(), explain_kind(g.edge(e).kinds, allowed))
        })
        .collect()
}

/// Shortens a cycle that already goes through real time: whenever a transaction of the cycle
/// completed before a later one of it began, the steps between them are replaced by that one
/// real-time step (largest spans first). The graph keeps only a transitive reduction of real-time
/// order, so a search routes it through whatever transactions happened in between; the shortened
/// cycle is the same contradiction told with fewer transactions. A cycle without real-time steps is
/// left alone: adding one would make a data anomaly look like a real-time one.
fn shortcut_realtime(mut cycle: Steps, precedes: &dyn Fn(usize, usize) -> bool) -> Steps {
    if !cycle.iter().any(|s| s.2 == DepKind::Realtime) {
        return cycle;
    }
    'shorter: loop {
        let l = cycle.len();
        for span in (2..l).rev() {
            for i in 0..l {
                let (a, b) = (cycle[i].0, cycle[(i + span) % l].0);
                if precedes(a, b) {
                    let mut next = Vec::with_capacity(l - span + 1);
                    next.push((a, b, DepKind::Realtime));
                    next.extend((0..l - span).map(|k| cycle[(i + span + k) % l]));
                    cycle = next;
                    continue 'shorter;
                }
            }
        }
        return cycle;
    }
}

/// Finds and classifies cycles (see the module documentation), one per class and component,
/// spending at most `budget` edge visits on searching. `precedes(a, b)` says whether transaction
/// `a` completed before `b` began (used to shorten cycles through real time).
pub fn find(g: &DepGraph, budget: u64, precedes: &dyn Fn(usize, usize) -> bool) -> Cycles {
    let n = g.graph.node_count();
    let mut out = Cycles::default();
    let components: Vec<Vec<NodeIndex<u32>>> =
        tarjan_scc(&g.graph).into_iter().filter(|c| c.len() > 1).collect();
    out.sccs = components.len();
    if components.is_empty() {
        return out;
    }
    let mut comp = vec![u32::MAX; n];
    for (i, c) in components.iter().enumerate() {
        for v in c {
            comp[v.index()] = i as u32;
        }
    }
    let mut bfs = Bfs::new(n, budget);
    let mut seen: HashSet<(u32, Anomaly)> = HashSet::new();
    let record = |out: &mut Cycles, seen: &mut HashSet<(u32, Anomaly)>, c: u32, cycle: Steps| {
        let mut cycle = shortcut_realtime(cycle, precedes);
        // Tell it data first, ending with the step through process or real-time order (if any):
        // "T1 read ..., T2 wrote ...; however, T2 completed before T1 began".
        if let Some(last) = cycle.iter().rposition(|s| matches!(s.2, DepKind::Process | DepKind::Realtime)) {
            let len = cycle.len();
            cycle.rotate_left((last + 1) % len);
        }
        let class = classify(&cycle);
        if !seen.insert((c, class)) {
            return;
        }
        *out.counts.entry(class).or_insert(0) += 1;
        let txns = cycle.iter().map(|s| s.0).collect();
        out.found.push(Found { anomaly: class, txns, detail: Detail::Cycle(cycle) });
    };

    for family in FAMILIES {
        // G0 and G1c: cycles without rw, in components of the subgraph of their kinds.
        for mask in [Kinds::WW.union(family.extra), Kinds::WW.union(Kinds::WR).union(family.extra)] {
            let sub = EdgeFiltered::from_fn(&g.graph, |e| e.weight().kinds.intersects(mask));
            let mut member = vec![u32::MAX; n];
            let subs: Vec<Vec<NodeIndex<u32>>> =
                tarjan_scc(&sub).into_iter().filter(|c| c.len() > 1).collect();
            for (i, s) in subs.iter().enumerate() {
                for v in s {
                    member[v.index()] = i as u32;
                }
            }
            for (i, s) in subs.iter().enumerate() {
                let best = s
                    .iter()
                    .take(STARTS)
                    .filter_map(|v| bfs.path(g, v.index(), v.index(), mask, &member, i as u32))
                    .min_by_key(Vec::len);
                if let Some(path) = best {
                    record(&mut out, &mut seen, comp[s[0].index()], steps(g, &path, mask));
                }
            }
        }
        // G-single, then G-nonadjacent, then G2-item: through an rw edge a -> b, back from b to a.
        for (with_rw, nonadjacent) in [(false, false), (true, true), (true, false)] {
            let back = Kinds::WW.union(Kinds::WR).union(family.extra);
            let back = if with_rw { back.union(Kinds::RW) } else { back };
            for (ci, c) in components.iter().enumerate() {
                if bfs.budget == 0 {
                    out.truncated = true;
                    break;
                }
                if nonadjacent {
                    let rw_edges: Vec<(usize, usize)> = c
                        .iter()
                        .flat_map(|v| g.graph.edges(*v))
                        .filter(|e| {
                            e.weight().kinds.intersects(Kinds::RW) && comp[e.target().index()] == ci as u32
                        })
                        .map(|e| (e.source().index(), e.target().index()))
                        .take(RW_TRIES)
                        .collect();
                    let best = rw_edges
                        .into_iter()
                        .filter_map(|(a, b)| {
                            let mut cycle = vec![(a, b, DepKind::Rw)];
                            cycle.extend(bfs.nonadjacent_path(g, b, a, back, &comp, ci as u32)?);
                            // One rw in all is G-single, found (and named) by the search before.
                            (cycle.iter().filter(|s| s.2 == DepKind::Rw).count() > 1).then_some(cycle)
                        })
                        .min_by_key(Vec::len);
                    if let Some(cycle) = best {
                        record(&mut out, &mut seen, ci as u32, cycle);
                    }
                    continue;
                }
                let mut best: Option<(EdgeIndex<u32>, Vec<EdgeIndex<u32>>)> = None;
                let rw_edges = c
                    .iter()
                    .flat_map(|v| g.graph.edges(*v))
                    .filter(|e| {
                        e.weight().kinds.intersects(Kinds::RW) && comp[e.target().index()] == ci as u32
                    })
                    .take(RW_TRIES);
                for e in rw_edges {
                    let (a, b) = (e.source().index(), e.target().index());
                    if let Some(path) = bfs.path(g, b, a, back, &comp, ci as u32)
                        && best.as_ref().is_none_or(|(_, p)| path.len() < p.len())
                    {
                        let short = path.len() == 1;
                        best = Some((e.id(), path));
                        if short {
                            break;
                        }
                    }
                }
                if let Some((rw, path)) = best {
                    let mut cycle = steps(g, &[rw], back.union(Kinds::RW));
                    cycle.extend(steps(g, &path, back));
                    record(&mut out, &mut seen, ci as u32, cycle);
                }
            }
        }
    }
    // A component the budget left without any cycle still gets one, found with every kind allowed.
    let done: HashSet<u32> = seen.iter().map(|(c, _)| *c).collect();
    for (ci, c) in components.iter().enumerate() {
        if done.contains(&(ci as u32)) {
            continue;
        }
        out.truncated = true;
        bfs.budget = bfs.budget.max(g.graph.edge_count() as u64 + 1);
        let start = c[0].index();
        if let Some(path) = bfs.path(g, start, start, Kinds::ALL, &comp, ci as u32) {
            record(&mut out, &mut seen, ci as u32, steps(g, &path, Kinds::ALL));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::graph::EdgeSet;
    use DepKind::*;

    fn graph(n: usize, edges: &[(usize, usize, DepKind)]) -> DepGraph {
        let mut set = EdgeSet::default();
        for &(a, b, k) in edges {
            set.push(a, b, k, None);
        }
        set.build(n)
    }

    fn classes(c: &Cycles) -> Vec<Anomaly> {
        c.counts.keys().copied().collect()
    }

    #[test]
    fn cycles_are_named_by_the_kinds_they_need() {
        assert_eq!(classify(&[(0, 1, Ww), (1, 0, Ww)]), Anomaly::G0);
        assert_eq!(classify(&[(0, 1, Ww), (1, 0, Wr)]), Anomaly::G1c);
        assert_eq!(classify(&[(0, 1, Rw), (1, 0, Wr)]), Anomaly::GSingle);
        assert_eq!(classify(&[(0, 1, Rw), (1, 0, Rw)]), Anomaly::G2Item);
        assert_eq!(classify(&[(0, 1, Rw), (1, 0, Process)]), Anomaly::GSingleProcess);
        assert_eq!(classify(&[(0, 1, Rw), (1, 2, Process), (2, 0, Realtime)]), Anomaly::GSingleRealtime);
        assert_eq!(classify(&[(0, 1, Ww), (1, 0, Realtime)]), Anomaly::G0Realtime);
        // Two rw, apart (also counting round the cycle): G-nonadjacent; in a row: G2-item.
        assert_eq!(classify(&[(0, 1, Rw), (1, 2, Wr), (2, 3, Rw), (3, 0, Ww)]), Anomaly::GNonadjacent);
        assert_eq!(classify(&[(0, 1, Rw), (1, 2, Wr), (2, 0, Rw)]), Anomaly::G2Item);
        assert_eq!(
            classify(&[(0, 1, Rw), (1, 2, Process), (2, 3, Rw), (3, 0, Wr)]),
            Anomaly::GNonadjacentProcess
        );
    }

    #[test]
    fn non_adjacent_anti_dependencies_are_found_beside_write_skew() {
        // Long fork: 0 and 2 write x and y; 1 reads x new and y old, 3 reads y new and x old.
        // 1 -rw-> 2 -wr-> 3 -rw-> 0 -wr-> 1: two rw, never in a row.
        let fork = [(0, 1, Wr), (1, 2, Rw), (2, 3, Wr), (3, 0, Rw)];
        let c = find(&graph(4, &fork), 10_000, &never);
        assert_eq!(classes(&c), [Anomaly::GNonadjacent]);
        let Detail::Cycle(steps) = &c.found[0].detail else { panic!("{c:?}") };
        assert_eq!(steps.len(), 4, "{steps:?}");
        // Write skew beside it in the same component (0 and 2 each missed the other's write):
        // both classes are reported, the shorter G2-item cycle does not hide the long fork.
        let mut both = fork.to_vec();
        both.extend([(0, 2, Rw), (2, 0, Rw)]);
        let c = find(&graph(4, &both), 10_000, &never);
        assert_eq!(classes(&c), [Anomaly::GNonadjacent, Anomaly::G2Item]);
        // Write skew alone is no G-nonadjacent: every way back puts two rw in a row.
        let c = find(&graph(2, &[(0, 1, Rw), (1, 0, Rw)]), 10_000, &never);
        assert_eq!(classes(&c), [Anomaly::G2Item]);
        // An edge that is both rw and data is taken as data on the way back.
        let c = find(&graph(3, &[(0, 1, Rw), (1, 2, Rw), (1, 2, Ww), (2, 0, Wr)]), 10_000, &never);
        assert_eq!(classes(&c), [Anomaly::GSingle]);
    }

    /// Real time as in a sequential history: transaction i completed before j began when i < j.
    fn in_order(a: usize, b: usize) -> bool {
        a < b
    }

    fn never(_: usize, _: usize) -> bool {
        false
    }

    #[test]
    fn cycles_through_real_time_take_the_shortest_way_back() {
        // 3 missed 0's write; the search went 0 -> 1 -> 2 -> 3 through real time and data.
        let cycle = vec![(3, 0, Rw), (0, 1, Realtime), (1, 2, Ww), (2, 3, Wr)];
        assert_eq!(shortcut_realtime(cycle, &in_order), [(0, 3, Realtime), (3, 0, Rw)]);
        // Without a real-time step the cycle is a data anomaly and stays as found.
        let data = vec![(0, 1, Ww), (1, 0, Wr)];
        assert_eq!(shortcut_realtime(data.clone(), &in_order), data);
    }

    #[test]
    fn an_acyclic_graph_has_no_components() {
        let c = find(&graph(3, &[(0, 1, Ww), (1, 2, Wr), (0, 2, Realtime)]), 1_000, &never);
        assert_eq!((c.sccs, c.found.len()), (0, 0));
    }

    #[test]
    fn the_least_a_cycle_needs_names_it() {
        // A ww cycle also closed by real time: G0, not G0-realtime.
        let c = find(&graph(2, &[(0, 1, Ww), (1, 0, Ww), (1, 0, Realtime)]), 1_000, &never);
        assert_eq!(classes(&c), [Anomaly::G0]);
        // One rw and a wr back: G-single.
        let c = find(&graph(2, &[(0, 1, Rw), (1, 0, Wr)]), 1_000, &never);
        assert_eq!(classes(&c), [Anomaly::GSingle]);
        // Two transactions that each missed the other's write: G2-item.
        let c = find(&graph(2, &[(0, 1, Rw), (1, 0, Rw)]), 1_000, &never);
        assert_eq!(classes(&c), [Anomaly::G2Item]);
        // A stale read: T1 wrote, completed; T0 began later and missed the write.
        let c = find(&graph(2, &[(1, 0, Realtime), (0, 1, Rw)]), 1_000, &never);
        assert_eq!(classes(&c), [Anomaly::GSingleRealtime]);
        let found = &c.found[0];
        assert_eq!(found.detail, Detail::Cycle(vec![(0, 1, Rw), (1, 0, Realtime)]));
    }

    #[test]
    fn shortest_cycles_are_preferred() {
        // 0 -> 1 -> 2 -> 3 -> 0 (ww) and a shortcut 2 -> 0 (ww): the cycle found has three steps.
        let c = find(&graph(4, &[(0, 1, Ww), (1, 2, Ww), (2, 3, Ww), (3, 0, Ww), (2, 0, Ww)]), 1_000, &never);
        let Detail::Cycle(steps) = &c.found[0].detail else { panic!("{c:?}") };
        assert_eq!(steps.len(), 3, "{steps:?}");
    }

    #[test]
    fn components_are_counted_once_per_class() {
        let mut edges = Vec::new();
        for i in 0..5 {
            edges.push((2 * i, 2 * i + 1, Ww));
            edges.push((2 * i + 1, 2 * i, Ww));
        }
        let c = find(&graph(10, &edges), 10_000, &never);
        assert_eq!(c.sccs, 5);
        assert_eq!(c.counts[&Anomaly::G0], 5);
        assert_eq!(c.found.len(), 5);
    }

    #[test]
    fn a_spent_budget_still_reports_every_component() {
        let edges: Vec<(usize, usize, DepKind)> =
            (0..50).map(|i| (i, (i + 1) % 50, if i == 0 { Rw } else { Realtime })).collect();
        let c = find(&graph(50, &edges), 10, &never);
        assert!(c.truncated);
        assert_eq!(c.sccs, 1);
        assert_eq!(c.counts.values().sum::<usize>(), 1, "{c:?}");
    }
}
