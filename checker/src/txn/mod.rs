//! Transactional isolation, Elle-style: which anomalies a history of transactions shows, and whether
//! the consistency model it was promised forbids them.
//!
//! Linearizability asks whether single operations can be put in one order. Transactions group reads
//! and writes of several keys, and databases promise isolation levels in between (read committed,
//! snapshot isolation, serializability, strict serializability). Adya's definitions of those levels
//! are in terms of a dependency graph over transactions: which transaction wrote a version another
//! overwrote (`ww`), read (`wr`), or read before it was overwritten (`rw`). Elle (Kingsbury and
//! Alvaro, "Elle: Inferring Isolation Anomalies from Experimental Observations", VLDB 2020) showed how
//! to recover that graph from what clients observed, when the workload makes versions traceable:
//!
//! - **list-append** ([`append`]): each key is a list, transactions append unique values and read
//!   whole lists; a read is the key's whole version history up to that point, so the version order is
//!   known from the longest read;
//! - **registers** ([`register`]): each key holds one value, every written value unique; a read names
//!   the write it saw, and the version order is only partly known (the initial state first; a write
//!   follows the version its transaction read).
//!
//! Process order (sessions) and real-time order ([`order`]) add edges of their own; strict
//! serializability forbids cycles through them, serializability does not.
//!
//! The parts, in the order a check runs:
//!
//! 1. [`txns`]: operations read as transactions ([`mop`] parses and interns their micro-operations);
//! 2. [`append`] or [`register`]: version orders, `ww`/`wr`/`rw` edges, and the anomalies visible
//!    without any cycle (aborted and intermediate reads, internal inconsistency, incompatible orders,
//!    duplicate and garbage reads);
//! 3. [`order`]: process and real-time edges;
//! 4. [`graph`]: the edges merged into a petgraph graph;
//! 5. [`cycles`]: strongly connected components, then a shortest cycle of each class in each, named
//!    G0, G1c, G-single or G2-item (and their `-process` and `-realtime` variants);
//! 6. [`explain`]: each anomaly as a minimal story in words, with the cycle's steps as data a report
//!    draws ([`report`]);
//! 7. [`model`]: the consistency model decides which classes are violations.
//!
//! Like Elle, the checker is sound but not complete: a reported cycle exists in every serial order
//! the observations allow (or something worse happened, such as an aborted read), while an anomaly
//! whose versions were never observed may go unseen. The work is linear in the history, apart from
//! the cycle searches, which only run inside cyclic components and under a budget.

pub mod append;
pub mod cycles;
pub mod explain;
pub mod graph;
pub mod model;
pub mod mop;
pub mod order;
pub mod register;
pub mod report;
pub mod txns;

pub use graph::{DepKind, EdgeCounts};
pub use model::{ConsistencyModel, TxnKind};
pub use report::{CycleStep, TxnAnomaly, TxnCounts, TxnReport, TxnView};
pub use txns::{Txn, TxnHistory};

use crate::Verdict;
use crate::anomaly::Anomaly;
use crate::ops::{History, HistoryError, Outcome};
use explain::Found;
use mop::ReadShape;
use std::collections::BTreeMap;
use std::time::Instant;

/// How to check a transactional history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnOptions {
    pub kind: TxnKind,
    pub model: ConsistencyModel,
    /// Explained instances kept per class (all are counted).
    pub explain_per_class: usize,
    /// Edge visits the cycle searches may spend (see [`cycles`]).
    pub search_budget: u64,
}

impl TxnOptions {
    pub fn new(kind: TxnKind, model: ConsistencyModel) -> TxnOptions {
        TxnOptions { kind, model, explain_per_class: 4, search_budget: 50_000_000 }
    }
}

impl TxnKind {
    /// How this kind's reads are shaped.
    pub fn shape(self) -> ReadShape {
        match self {
            TxnKind::ListAppend => ReadShape::List,
            TxnKind::RwRegister => ReadShape::Register,
        }
    }
}

/// Checks a validated history (every client operation a `txn`).
pub fn check_history(history: &History, opts: &TxnOptions) -> Result<TxnReport, HistoryError> {
    let started = Instant::now();
    let h = TxnHistory::from_history(history, opts.kind.shape())?;
    check_since(&h, opts, started)
}

/// Checks transactions already read.
pub fn check(h: &TxnHistory, opts: &TxnOptions) -> Result<TxnReport, HistoryError> {
    check_since(h, opts, Instant::now())
}

fn check_since(h: &TxnHistory, opts: &TxnOptions, started: Instant) -> Result<TxnReport, HistoryError> {
    let mut edges = graph::EdgeSet::default();
    let mut found: Vec<Found> = Vec::new();
    match opts.kind {
        TxnKind::ListAppend => append::infer(h, &mut edges, &mut found)?,
        TxnKind::RwRegister => register::infer(h, &mut edges, &mut found)?,
    }
    // Only strict serializability speaks of sessions and real time; under the other models those
    // edges could only add cycles that are allowed anyway (Elle, too, searches only for what the
    // models asked about forbid, or imply).
    if opts.model.orders_in_time() {
        order::process_edges(h, &mut edges);
        order::realtime_edges(h, &mut edges);
    }
    let g = edges.build(h.txns.len());
    let precedes = |a: usize, b: usize| {
        let (a, b) = (&h.txns[a], &h.txns[b]);
        a.outcome == Outcome::Ok && matches!((a.complete, b.invoke), (Some(c), Some(i)) if c < i)
    };
    let cycles = cycles::find(&g, opts.search_budget, &precedes);

    let mut counts: BTreeMap<Anomaly, usize> = cycles.counts.clone();
    for f in &found {
        *counts.entry(f.anomaly).or_insert(0) += 1;
    }
    // The earliest instances of each class are explained: their evidence was complete first, which
    // is when the anomaly was detected.
    let evidence = |f: &Found| f.txns.iter().filter_map(|&t| h.txns[t].time()).max();
    let mut all: Vec<(Anomaly, Option<u64>, &Found)> =
        found.iter().chain(&cycles.found).map(|f| (f.anomaly, evidence(f), f)).collect();
    all.sort_by_key(|&(a, time, _)| (a, time.is_none(), time));
    let mut kept: BTreeMap<Anomaly, usize> = BTreeMap::new();
    let mut explained = Vec::new();
    for (a, _, f) in all {
        let k = kept.entry(a).or_insert(0);
        if *k < opts.explain_per_class {
            *k += 1;
            explained.push(explain::explain(h, &g, opts.kind, opts.model, f));
        }
    }
    // Forbidden first, then by class and time, so the first entry is the one to read.
    explained.sort_by_key(|a| (!a.prohibited, a.anomaly, a.time));

    let verdict =
        if counts.keys().any(|a| opts.model.prohibits(*a)) { Verdict::Invalid } else { Verdict::Valid };
    let mut transactions = TxnCounts::default();
    for t in &h.txns {
        match t.outcome {
            Outcome::Ok => transactions.ok += 1,
            Outcome::Fail => transactions.fail += 1,
            _ => transactions.info += 1,
        }
    }
    Ok(TxnReport {
        verdict,
        kind: opts.kind,
        consistency_model: opts.model,
        transactions,
        keys: h.values.key_count(),
        edges: g.counts,
        sccs: cycles.sccs,
        counts,
        anomalies: explained,
        search_truncated: cycles.truncated,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}
