//! What the transactional checker reports: a verdict, every anomaly class found (with how many), and
//! a bounded number of explained instances, each with the transactions involved and, for a cycle,
//! its steps as data a report can draw.

use super::graph::{DepKind, EdgeCounts};
use super::model::{ConsistencyModel, TxnKind};
use crate::Verdict;
use crate::anomaly::Anomaly;
use crate::ops::Outcome;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The result of checking a transactional history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TxnReport {
    /// Invalid when an anomaly the consistency model forbids was found.
    pub verdict: Verdict,
    pub kind: TxnKind,
    pub consistency_model: ConsistencyModel,
    pub transactions: TxnCounts,
    /// Distinct keys the transactions touched.
    pub keys: usize,
    /// Ordered pairs of transactions related by each kind of dependency.
    pub edges: EdgeCounts,
    /// Strongly connected components of more than one transaction in the graph of every dependency:
    /// each holds at least one cycle.
    pub sccs: usize,
    /// How many instances of each class were found (explained or not).
    pub counts: BTreeMap<Anomaly, usize>,
    /// Explained instances: forbidden classes first, at most [`super::TxnOptions::explain_per_class`]
    /// of each class.
    pub anomalies: Vec<TxnAnomaly>,
    /// Whether the cycle search ran out of its budget before it had tried every way round some
    /// component. Every component still yields at least one cycle, so no violation is missed; a
    /// cycle may be named by a weaker class than the worst the component holds.
    pub search_truncated: bool,
    pub elapsed_ms: u64,
}

impl TxnReport {
    /// The classes found that the consistency model forbids, sorted.
    pub fn violations(&self) -> Vec<Anomaly> {
        self.counts.keys().copied().filter(|a| self.consistency_model.prohibits(*a)).collect()
    }

    /// A few lines for the terminal.
    pub fn summary(&self) -> String {
        let t = &self.transactions;
        let mut out = format!(
            "{} under {}: {} ({} transactions: {} ok, {} info, {} fail; {} keys)\n",
            self.kind,
            self.consistency_model,
            self.verdict,
            t.ok + t.info + t.fail,
            t.ok,
            t.info,
            t.fail,
            self.keys
        );
        let e = &self.edges;
        out.push_str(&format!(
            "  dependencies: {} ww, {} wr, {} rw, {} process, {} realtime; {} cyclic components{}\n",
            e.ww,
            e.wr,
            e.rw,
            e.process,
            e.realtime,
            self.sccs,
            if self.search_truncated { " (cycle search budget ran out)" } else { "" }
        ));
        for (a, n) in &self.counts {
            let verdict = if self.consistency_model.prohibits(*a) { "forbidden" } else { "allowed" };
            out.push_str(&format!("  {a}: {n} ({verdict} by {})\n", self.consistency_model));
        }
        for a in self.anomalies.iter().filter(|a| a.prohibited).take(3) {
            out.push('\n');
            out.push_str(&a.explanation);
            out.push('\n');
        }
        out
    }
}

/// Transactions by outcome (a transaction that never completed counts as info).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnCounts {
    pub ok: usize,
    pub info: usize,
    pub fail: usize,
}

/// One explained anomaly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TxnAnomaly {
    pub anomaly: Anomaly,
    /// Whether the consistency model forbids it.
    pub prohibited: bool,
    /// When its evidence was complete (ns, the history's clock): the last completion among its
    /// transactions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<u64>,
    /// One line.
    pub summary: String,
    /// The whole story in words: the transactions, then each step (Elle's "Let ... Then ...").
    pub explanation: String,
    /// The transactions involved, named T1, T2, ... in this order.
    pub txns: Vec<TxnView>,
    /// For a cycle: its steps, `txns[from]` before `txns[to]`, the last returning to the first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<CycleStep>,
}

/// A transaction as an explanation shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TxnView {
    /// `T1`, `T2`, ...
    pub name: String,
    /// Index among the history's transactions.
    pub index: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<u64>,
    pub outcome: Outcome,
    /// The transaction as recorded (the completion's value when ok).
    pub value: Value,
    /// Source line of its completion (or invocation).
    pub line: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoke_time: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_time: Option<u64>,
}

/// One step of a cycle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CycleStep {
    /// Index into [`TxnAnomaly::txns`].
    pub from: usize,
    pub to: usize,
    pub kind: DepKind,
    /// The key of a data dependency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// For ww and rw: the version the first transaction wrote or read (null: the initial state); for
    /// wr: the version written and read.
    #[serde(default)]
    pub before: Value,
    /// For ww and rw: the version the second transaction wrote.
    #[serde(default)]
    pub after: Value,
    /// The step in words.
    pub text: String,
}
