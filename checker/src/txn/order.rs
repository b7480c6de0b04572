//! Process and real-time order: the dependencies that come from when transactions ran, not from what
//! they read.
//!
//! - **Process**: each process (session) runs one transaction at a time, so each of its `ok`
//!   transactions precedes its next ones. An `info` transaction precedes nothing (it may take effect
//!   at any time after its invocation, even after the completion was recorded; Jepsen retires its
//!   process, ours does too, but a history need not); a failed one is no vertex at all. Events
//!   without a process form no session.
//! - **Real time**: T1 precedes T2 when T1 completed `ok` before T2 was invoked. All those pairs
//!   would be quadratic, so only a transitive reduction is kept (Elle's realtime graph does the same):
//!   a sweep over the events in position order keeps the *frontier*, the completed transactions no
//!   later completion is known to follow; an invocation gets an edge from every transaction on the
//!   frontier, and a completion removes from the frontier what its own invocation followed (those
//!   reach it through it). Every pair in real-time order stays connected by a path of edges, and a
//!   transaction gets about as many edges as there were concurrent ones.
//!
//! An `info` transaction never completed, so nothing follows it in real time; a transaction whose
//! invocation the history does not record may have begun at any time, so it follows nothing.

use super::TxnHistory;
use super::graph::{DepKind, EdgeSet};
use crate::ops::Outcome;
use std::collections::HashMap;

/// Adds process-order edges.
pub fn process_edges(h: &TxnHistory, edges: &mut EdgeSet) {
    let mut last: HashMap<u64, usize> = HashMap::new();
    let mut by_start: Vec<&super::Txn> = h.possible().filter(|t| t.process.is_some()).collect();
    by_start.sort_by_key(|t| t.invoke.or(t.complete));
    for t in by_start {
        let Some(p) = t.process else { continue };
        if let Some(&prev) = last.get(&p) {
            edges.push(prev, t.id, DepKind::Process, None);
        }
        // An info transaction may take effect after its completion was recorded, even after its
        // process's next transaction: it precedes nothing.
        if t.outcome == Outcome::Ok {
            last.insert(p, t.id);
        }
    }
}

/// Adds a transitive reduction of real-time order (see the module documentation).
pub fn realtime_edges(h: &TxnHistory, edges: &mut EdgeSet) {
    // (position, completion?, transaction): invocations and ok completions.
    let mut events: Vec<(usize, bool, usize)> = Vec::new();
    for t in h.possible() {
        if let Some(i) = t.invoke {
            events.push((i, false, t.id));
        }
        if t.outcome == Outcome::Ok
            && let Some(c) = t.complete
        {
            events.push((c, true, t.id));
        }
    }
    events.sort_unstable();
    let mut frontier: Vec<usize> = Vec::new();
    // What each transaction followed when it was invoked.
    let mut preds: HashMap<usize, Vec<usize>> = HashMap::new();
    for (_, completion, t) in events {
        if completion {
            if let Some(before) = preds.remove(&t) {
                frontier.retain(|f| !before.contains(f));
            }
            frontier.push(t);
        } else {
            for &f in &frontier {
                edges.push(f, t, DepKind::Realtime, None);
            }
            if !frontier.is_empty() {
                preds.insert(t, frontier.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Event, EventType, Process};
    use crate::txn::mop::ReadShape;
    use petgraph::graph::NodeIndex;
    use petgraph::visit::Dfs;
    use serde_json::json;

    fn ev(p: u64, kind: EventType) -> Event {
        Event {
            process: Process::Client(p),
            kind,
            f: "txn".into(),
            key: None,
            value: json!([["r", "x", null]]),
            time: 0,
            node: None,
            error: None,
        }
    }

    fn reaches(g: &super::super::graph::DepGraph, a: usize, b: usize) -> bool {
        let mut dfs = Dfs::new(&g.graph, NodeIndex::new(a));
        while let Some(n) = dfs.next(&g.graph) {
            if n.index() == b {
                return true;
            }
        }
        false
    }

    #[test]
    fn realtime_order_is_kept_by_paths_through_few_edges() {
        use EventType::*;
        // p0: T0 [0,1]; p1: T1 [2,5]; p2: T2 [3,4]; p0: T3 [6,7]; p3: T4 invoked at 8, never completes.
        let events = [
            ev(0, Invoke),
            ev(0, Ok),
            ev(1, Invoke),
            ev(2, Invoke),
            ev(2, Ok),
            ev(1, Ok),
            ev(0, Invoke),
            ev(0, Ok),
            ev(3, Invoke),
        ];
        let lines: Vec<usize> = (1..=events.len()).collect();
        let h = TxnHistory::from_events("h", &events, &lines, ReadShape::List).unwrap();
        let mut set = EdgeSet::default();
        realtime_edges(&h, &mut set);
        let g = set.build(h.txns.len());
        // Direct edges: T0->T1, T0->T2, then T1 and T2 -> T3 (T0 is covered), T3 -> T4.
        assert_eq!(g.counts.realtime, 5, "{:?}", g.graph);
        let precedes = |a: &crate::txn::Txn, b: &crate::txn::Txn| match (a.complete, b.invoke) {
            (Some(c), Some(i)) => a.outcome == crate::ops::Outcome::Ok && c < i,
            _ => false,
        };
        for a in &h.txns {
            for b in &h.txns {
                assert_eq!(reaches(&g, a.id, b.id) && a.id != b.id, precedes(a, b), "{} -> {}", a.id, b.id);
            }
        }
    }

    #[test]
    fn process_order_links_each_transaction_to_the_next_of_its_process() {
        use EventType::*;
        let events = [ev(0, Invoke), ev(0, Ok), ev(1, Invoke), ev(0, Invoke), ev(1, Info), ev(0, Fail)];
        let lines: Vec<usize> = (1..=events.len()).collect();
        let h = TxnHistory::from_events("h", &events, &lines, ReadShape::List).unwrap();
        let mut set = EdgeSet::default();
        process_edges(&h, &mut set);
        // p0's second transaction failed: no vertex to link to; p1 has one transaction.
        assert!(set.is_empty());
        // ok -> info -> ok on one process: the first ok precedes both; the info one precedes nothing.
        let events = [ev(0, Invoke), ev(0, Ok), ev(0, Invoke), ev(0, Info), ev(0, Invoke), ev(0, Ok)];
        let h = TxnHistory::from_events("h", &events, &[1, 2, 3, 4, 5, 6], ReadShape::List).unwrap();
        let mut set = EdgeSet::default();
        process_edges(&h, &mut set);
        let g = set.build(3);
        assert_eq!(g.counts.process, 2);
        assert!(g.graph.find_edge(NodeIndex::new(1), NodeIndex::new(2)).is_none(), "info precedes nothing");
    }
}
