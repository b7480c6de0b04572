//! The dependency graph: transactions as vertices, dependencies as labelled edges (a petgraph
//! [`DiGraph`]).
//!
//! An edge `a -> b` says `a` must precede `b` in any serial order the history could have come from,
//! for one or more reasons ([`Kinds`], a bit set):
//!
//! - `ww` (write-write): `b` overwrote (or appended after) a version `a` wrote;
//! - `wr` (write-read): `b` read a version `a` wrote;
//! - `rw` (read-write, an anti-dependency): `a` read a version that `b` overwrote;
//! - `process`: `b` is the next transaction of `a`'s process (sessions);
//! - `realtime`: `a` completed before `b` began.
//!
//! The inference modules ([`super::append`], [`super::register`], [`super::order`]) push edges with the
//! data that explains them ([`Why`]) into an [`EdgeSet`]; [`EdgeSet::build`] merges duplicates (one
//! edge per ordered pair, the kinds or-ed, the first explanation of each data kind kept) and builds
//! the graph. Vertex `i` is transaction `i` of the [`super::TxnHistory`], failed ones included (they
//! get no edges), so no index translation is needed anywhere.

use super::mop::{ElemId, INIT, KeyId};
use petgraph::graph::{DiGraph, EdgeIndex, NodeIndex};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A set of dependency kinds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Kinds(pub u8);

impl Kinds {
    pub const WW: Kinds = Kinds(1);
    pub const WR: Kinds = Kinds(2);
    pub const RW: Kinds = Kinds(4);
    pub const PROCESS: Kinds = Kinds(8);
    pub const REALTIME: Kinds = Kinds(16);
    /// The data dependencies, which every consistency model respects.
    pub const DATA: Kinds = Kinds(1 | 2 | 4);
    pub const ALL: Kinds = Kinds(31);

    pub const fn union(self, other: Kinds) -> Kinds {
        Kinds(self.0 | other.0)
    }

    pub const fn intersects(self, other: Kinds) -> bool {
        self.0 & other.0 != 0
    }

    pub const fn minus(self, other: Kinds) -> Kinds {
        Kinds(self.0 & !other.0)
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// One kind of dependency, as a cycle's step names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DepKind {
    Ww,
    Wr,
    Rw,
    Process,
    Realtime,
}

impl DepKind {
    /// In the order a step prefers to be explained by: data first (it is what the values show), then
    /// process and real-time order, an anti-dependency last (the weakest claim).
    pub const PREFERENCE: [DepKind; 5] =
        [DepKind::Ww, DepKind::Wr, DepKind::Process, DepKind::Realtime, DepKind::Rw];

    pub fn bit(self) -> Kinds {
        match self {
            DepKind::Ww => Kinds::WW,
            DepKind::Wr => Kinds::WR,
            DepKind::Rw => Kinds::RW,
            DepKind::Process => Kinds::PROCESS,
            DepKind::Realtime => Kinds::REALTIME,
        }
    }

    /// Index of the data kinds in [`Edge::why`].
    fn data_slot(self) -> Option<usize> {
        match self {
            DepKind::Ww => Some(0),
            DepKind::Wr => Some(1),
            DepKind::Rw => Some(2),
            DepKind::Process | DepKind::Realtime => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DepKind::Ww => "ww",
            DepKind::Wr => "wr",
            DepKind::Rw => "rw",
            DepKind::Process => "process",
            DepKind::Realtime => "realtime",
        }
    }
}

impl fmt::Display for DepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a data dependency is about: the key, and the versions on each side. For `ww` and `rw`,
/// `before` is the version the first transaction wrote or read ([`INIT`] for the initial state) and
/// `after` the one the second wrote; for `wr`, `before` is the version written and read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Why {
    pub key: KeyId,
    pub before: ElemId,
    pub after: ElemId,
}

impl Why {
    const NONE: Why = Why { key: KeyId::MAX, before: INIT, after: INIT };

    fn is_none(&self) -> bool {
        self.key == KeyId::MAX
    }
}

/// One merged edge: its kinds and the first explanation of each data kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    pub kinds: Kinds,
    why: [Why; 3],
}

impl Edge {
    /// The explanation of data kind `kind`, if this edge has that kind.
    pub fn why(&self, kind: DepKind) -> Option<Why> {
        let w = self.why[kind.data_slot()?];
        (!w.is_none()).then_some(w)
    }
}

/// Edges as the inference finds them, before merging.
#[derive(Debug, Default)]
pub struct EdgeSet {
    raw: Vec<(u32, u32, DepKind, Why)>,
}

impl EdgeSet {
    /// Records `a -> b` of `kind`. Self-edges are dropped: a transaction never depends on itself
    /// (what it does to its own state is internal consistency's business).
    pub fn push(&mut self, a: usize, b: usize, kind: DepKind, why: Option<Why>) {
        if a != b {
            self.raw.push((a as u32, b as u32, kind, why.unwrap_or(Why::NONE)));
        }
    }

    pub fn len(&self) -> usize {
        self.raw.len()
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The graph over `vertices` transactions, one edge per ordered pair.
    pub fn build(mut self, vertices: usize) -> DepGraph {
        self.raw.sort_unstable_by_key(|&(a, b, kind, _)| (a, b, kind));
        let mut graph: DiGraph<(), Edge, u32> = DiGraph::with_capacity(vertices, self.raw.len());
        for _ in 0..vertices {
            graph.add_node(());
        }
        let mut counts = [0usize; 5];
        let mut i = 0;
        while i < self.raw.len() {
            let (a, b, _, _) = self.raw[i];
            let mut edge = Edge { kinds: Kinds::default(), why: [Why::NONE; 3] };
            while i < self.raw.len() && (self.raw[i].0, self.raw[i].1) == (a, b) {
                let (_, _, kind, why) = self.raw[i];
                if !edge.kinds.intersects(kind.bit()) {
                    counts[kind as usize] += 1;
                }
                edge.kinds = edge.kinds.union(kind.bit());
                if let Some(slot) = kind.data_slot()
                    && edge.why[slot].is_none()
                {
                    edge.why[slot] = why;
                }
                i += 1;
            }
            graph.add_edge(NodeIndex::new(a as usize), NodeIndex::new(b as usize), edge);
        }
        DepGraph { graph, counts: EdgeCounts::from_array(counts) }
    }
}

/// How many ordered pairs are related by each kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeCounts {
    pub ww: usize,
    pub wr: usize,
    pub rw: usize,
    pub process: usize,
    pub realtime: usize,
}

impl EdgeCounts {
    fn from_array(c: [usize; 5]) -> EdgeCounts {
        EdgeCounts { ww: c[0], wr: c[1], rw: c[2], process: c[3], realtime: c[4] }
    }
}

/// The dependency graph.
#[derive(Clone, Debug)]
pub struct DepGraph {
    pub graph: DiGraph<(), Edge, u32>,
    pub counts: EdgeCounts,
}

impl DepGraph {
    pub fn edge(&self, e: EdgeIndex<u32>) -> &Edge {
        &self.graph[e]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_pairs_merge_their_kinds_and_keep_the_first_explanation() {
        let mut set = EdgeSet::default();
        let why = |k| Some(Why { key: k, before: 0, after: 1 });
        set.push(0, 1, DepKind::Ww, why(7));
        set.push(0, 1, DepKind::Realtime, None);
        set.push(0, 1, DepKind::Ww, why(8));
        set.push(1, 0, DepKind::Rw, why(9));
        set.push(2, 2, DepKind::Wr, why(1));
        let g = set.build(3);
        assert_eq!(g.graph.edge_count(), 2);
        let e = g.graph.find_edge(NodeIndex::new(0), NodeIndex::new(1)).unwrap();
        assert_eq!(g.edge(e).kinds, Kinds::WW.union(Kinds::REALTIME));
        assert_eq!(g.edge(e).why(DepKind::Ww).unwrap().key, 7);
        assert_eq!(g.edge(e).why(DepKind::Rw), None);
        assert_eq!(g.counts, EdgeCounts { ww: 1, wr: 0, rw: 1, process: 0, realtime: 1 });
    }
}
