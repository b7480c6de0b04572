//! Register inference: reads and writes of registers whose written values are unique (Elle's
//! `rw-register`).
//!
//! A read of a register names the one write it observed (values are unique), which gives `wr`
//! dependencies directly. The order of versions is not visible in a single read as it is for lists;
//! it is inferred from two facts only:
//!
//! - the initial state (nil) precedes every written version;
//! - writes follow reads: a transaction that read version `a` of a key (its first access to that key)
//!   and then wrote `b` to it installed `b` after `a`.
//!
//! Each inferred pair `a < b` of versions of a key gives `ww` (the writer of `a` precedes the writer
//! of `b`) and `rw` (every transaction that read `a` precedes the writer of `b`). A cycle among
//! versions of one key is an `incompatible-order`. Process and real-time order are not used to order
//! versions: they are edges of their own, so a cycle that needs them is named as a `-process` or
//! `-realtime` anomaly, never as a pure data one.
//!
//! Anomalies found without the graph: `G1a` (a read of a value only a failed transaction wrote),
//! `G1b` (a read of a value its writer overwrote in the same transaction), `internal` (a read that
//! disagrees with the transaction's own earlier read or write of that key), `G1c` (a transaction read
//! a value it writes only later), `garbage-read` (a value nobody wrote).

use super::TxnHistory;
use super::explain::{Detail, Found};
use super::graph::{DepKind, EdgeSet, Why};
use super::mop::{ElemId, INIT, KeyId, Mop, Observed};
use crate::anomaly::Anomaly;
use crate::ops::{HistoryError, Outcome};
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::HashMap;

/// A pair of versions of one key known to be in this order, and the transaction whose read and
/// write showed it (`None`: the initial state precedes every version).
#[derive(Clone, Copy, Debug)]
struct VersionEdge {
    key: KeyId,
    before: ElemId,
    after: ElemId,
    shown_by: Option<usize>,
}

/// Infers the dependencies of a register history into `edges` and reports the anomalies found
/// without a cycle into `found`. Fails when one value is written twice to a key.
pub fn infer(h: &TxnHistory, edges: &mut EdgeSet, found: &mut Vec<Found>) -> Result<(), HistoryError> {
    let writes = h.writers(
        |m| match *m {
            Mop::Write { key, elem } => Some((key, elem)),
            _ => None,
        },
        "registers are told apart by their values",
        "written",
    )?;
    let v = &h.values;
    let mut readers: HashMap<(KeyId, ElemId), Vec<usize>> = HashMap::new();
    let mut versions: Vec<VersionEdge> = Vec::new();

    for t in h.txns.iter().filter(|t| t.outcome == Outcome::Ok) {
        // The transaction's view of each key it touched, and its first (external) read of each.
        let mut state: HashMap<KeyId, Option<ElemId>> = HashMap::new();
        let mut external: Vec<(KeyId, Option<ElemId>)> = Vec::new();
        let mut final_write: HashMap<KeyId, ElemId> = HashMap::new();
        let mut consistent = true;
        for m in &t.mops {
            match m {
                Mop::Write { key, elem } => {
                    state.insert(*key, Some(*elem));
                    final_write.insert(*key, *elem);
                }
                Mop::Read { key, observed: Observed::Register(r) } => match state.get(key) {
                    Some(expected) if expected != r => {
                        let kname = v.key_name(*key);
                        let show = |e: &Option<ElemId>| v.show(*key, e.unwrap_or(INIT));
                        found.push(Found {
                            anomaly: Anomaly::Internal,
                            txns: vec![t.id],
                            detail: Detail::Text(format!(
                                "T1 read {kname} = {}, but its own earlier read or write of {kname} says {}",
                                show(r),
                                show(expected)
                            )),
                        });
                        consistent = false;
                        break;
                    }
                    Some(_) => {}
                    None => {
                        state.insert(*key, *r);
                        external.push((*key, *r));
                    }
                },
                _ => {}
            }
        }
        for &(key, r) in &external {
            let kname = v.key_name(key);
            let Some(e) = r else {
                readers.entry((key, INIT)).or_default().push(t.id);
                if consistent && let Some(&w) = final_write.get(&key) {
                    versions.push(VersionEdge { key, before: INIT, after: w, shown_by: Some(t.id) });
                }
                continue;
            };
            match writes.get(&(key, e)) {
                None => found.push(Found {
                    anomaly: Anomaly::GarbageRead,
                    txns: vec![t.id],
                    detail: Detail::Text(format!(
                        "T1 read {kname} = {}, which no transaction wrote",
                        v.show(key, e)
                    )),
                }),
                Some(w) if h.txns[w.txn].outcome == Outcome::Fail => found.push(Found {
                    anomaly: Anomaly::G1a,
                    txns: vec![t.id, w.txn],
                    detail: Detail::Text(format!(
                        "T1 read {kname} = {}, written only by T2, which failed",
                        v.show(key, e)
                    )),
                }),
                Some(w) if w.txn == t.id => found.push(Found {
                    anomaly: Anomaly::G1c,
                    txns: vec![t.id],
                    detail: Detail::Text(format!(
                        "T1 read {kname} = {} before it wrote {} itself: it observed its own future \
                         (a future read; a cycle of one transaction, T1 < T1)",
                        v.show(key, e),
                        v.show(key, e)
                    )),
                }),
                Some(w) => {
                    if !w.last {
                        found.push(Found {
                            anomaly: Anomaly::G1b,
                            txns: vec![t.id, w.txn],
                            detail: Detail::Text(format!(
                                "T1 read {kname} = {}, which T2 overwrote in the same transaction: T1 saw \
                                 an intermediate state of T2",
                                v.show(key, e)
                            )),
                        });
                    }
                    edges.push(w.txn, t.id, DepKind::Wr, Some(Why { key, before: e, after: INIT }));
                }
            }
            readers.entry((key, e)).or_default().push(t.id);
            if consistent
                && let Some(&w) = final_write.get(&key)
                && w != e
            {
                versions.push(VersionEdge { key, before: e, after: w, shown_by: Some(t.id) });
            }
        }
    }
    // The initial state precedes every version that may have been installed.
    for (&(key, elem), w) in &writes {
        if h.txns[w.txn].possible() {
            versions.push(VersionEdge { key, before: INIT, after: elem, shown_by: None });
        }
    }
    versions.sort_by_key(|e| (e.key, e.before, e.after));
    versions.dedup_by_key(|e| (e.key, e.before, e.after));
    cyclic_versions(h, &versions, found);

    for ve in &versions {
        let Some(b) = writes.get(&(ve.key, ve.after)) else { continue };
        if !h.txns[b.txn].possible() {
            continue;
        }
        let why = Some(Why { key: ve.key, before: ve.before, after: ve.after });
        if ve.before != INIT
            && let Some(a) = writes.get(&(ve.key, ve.before))
            && h.txns[a.txn].possible()
        {
            edges.push(a.txn, b.txn, DepKind::Ww, why);
        }
        for &r in readers.get(&(ve.key, ve.before)).map(Vec::as_slice).unwrap_or(&[]) {
            edges.push(r, b.txn, DepKind::Rw, why);
        }
    }
    Ok(())
}

/// Reports every key whose inferred version order has a cycle.
fn cyclic_versions(h: &TxnHistory, versions: &[VersionEdge], found: &mut Vec<Found>) {
    let mut g: DiGraph<(KeyId, ElemId), Option<usize>, u32> = DiGraph::default();
    let mut nodes: HashMap<(KeyId, ElemId), NodeIndex<u32>> = HashMap::new();
    let mut node = |g: &mut DiGraph<(KeyId, ElemId), Option<usize>, u32>, k: (KeyId, ElemId)| {
        *nodes.entry(k).or_insert_with(|| g.add_node(k))
    };
    for ve in versions.iter().filter(|ve| ve.shown_by.is_some()) {
        let (a, b) = (node(&mut g, (ve.key, ve.before)), node(&mut g, (ve.key, ve.after)));
        g.add_edge(a, b, ve.shown_by);
    }
    let v = &h.values;
    for scc in tarjan_scc(&g).into_iter().filter(|c| c.len() > 1) {
        let key = g[scc[0]].0;
        let kname = v.key_name(key);
        let mut txns = Vec::new();
        let mut because = Vec::new();
        for &n in &scc {
            for e in g.edges(n) {
                use petgraph::visit::EdgeRef;
                if !scc.contains(&e.target()) {
                    continue;
                }
                if let Some(t) = *e.weight() {
                    txns.push(t);
                    because.push(format!(
                        "T{} read {} and then wrote {}",
                        txns.len(),
                        v.show(key, g[n].1),
                        v.show(key, g[e.target()].1)
                    ));
                }
            }
        }
        found.push(Found {
            anomaly: Anomaly::IncompatibleOrder,
            txns,
            detail: Detail::Text(format!(
                "the versions of {kname} cannot be ordered, since writes follow reads: {}",
                because.join("; ")
            )),
        });
    }
}
