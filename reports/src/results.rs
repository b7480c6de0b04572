//! The report's view of the checker results: verdicts per check, minimal counterexamples, durability
//! findings.
//!
//! These types are what the report draws, kept small and stable so the drawing code does not follow
//! every change of the checker's internals. The `add_*` methods of [`Results`] (in
//! [`crate::from_checker`]) build them from the checker's own result types; tests and fixtures build
//! them directly.

use checker::history::EventType;
use serde::{Deserialize, Serialize};

/// The checker's verdict (valid, invalid, unknown), shared by the whole workspace.
pub use checker::Verdict;

/// The word a page shows for a verdict, also its CSS class suffix.
pub fn verdict_str(v: Verdict) -> &'static str {
    match v {
        Verdict::Valid => "valid",
        Verdict::Invalid => "invalid",
        Verdict::Unknown => "unknown",
    }
}

/// All results of one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// One line per check that ran (linearizability, durability, log agreement, panic scan, ...).
    #[serde(default)]
    pub checks: Vec<Check>,
    /// A minimal counterexample per invalid key.
    #[serde(default)]
    pub counterexamples: Vec<Counterexample>,
    /// Lost, phantom, duplicated or divergent writes.
    #[serde(default)]
    pub durability: Vec<DurabilityFinding>,
    /// Transactional anomalies, each with its transactions and (for a cycle) its steps.
    #[serde(default)]
    pub txn_anomalies: Vec<TxnAnomaly>,
}

impl Results {
    /// The run's verdict: the merge of every check's verdict; unknown when no check ran (a report
    /// must never call an unchecked run valid).
    pub fn verdict(&self) -> Verdict {
        match self.checks.split_first() {
            None => Verdict::Unknown,
            Some((first, rest)) => rest.iter().fold(first.verdict, |v, c| v.merge(c.verdict)),
        }
    }

    /// The earliest time, in ns since the run started, at which a violation shows: the invocation of
    /// the first operation no linearization allows; when there is no counterexample, the
    /// acknowledgement of the first lost or duplicated write (the loss itself happened later, at a
    /// time no history records). The report centres node log excerpts on it and marks it on the plots.
    pub fn first_violation_time(&self) -> Option<u64> {
        let cex = self
            .counterexamples
            .iter()
            .filter_map(|c| c.culprit.and_then(|i| c.ops.get(i)).map(|op| op.start))
            .min();
        let txn = self.txn_anomalies.iter().filter(|a| a.forbidden).filter_map(|a| a.time).min();
        cex.or(txn).or_else(|| self.durability.iter().filter_map(|d| d.ack_time).min())
    }
}

/// One transactional anomaly as the report draws it (see [`crate::txn`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TxnAnomaly {
    /// The class, a word of [`checker::anomaly::Anomaly`], e.g. `G-single-realtime`.
    pub anomaly: String,
    /// Whether the consistency model forbids it.
    pub forbidden: bool,
    /// When its evidence was complete, ns since the run started.
    #[serde(default)]
    pub time: Option<u64>,
    /// The story in words (the transactions, then why each precedes the next).
    #[serde(default)]
    pub explanation: String,
    /// The transactions, T1, T2, ... in order.
    #[serde(default)]
    pub txns: Vec<TxnNode>,
    /// For a cycle: its steps between `txns` indices.
    #[serde(default)]
    pub steps: Vec<TxnStep>,
}

/// A transaction in a drawing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TxnNode {
    /// `T1`, `T2`, ...
    pub name: String,
    #[serde(default)]
    pub process: Option<u64>,
    /// Its micro-operations, compact: `[[append x 3] [r y [1 2]]]`.
    #[serde(default)]
    pub value: String,
}

/// A dependency between two transactions of a cycle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TxnStep {
    pub from: usize,
    pub to: usize,
    /// `ww`, `wr`, `rw`, `process` or `realtime`.
    pub kind: String,
    #[serde(default)]
    pub key: Option<String>,
}

/// The outcome of one check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// The check's name, e.g. `linearizability`, `durability`, `log-agreement`, `panics`.
    pub name: String,
    pub verdict: Verdict,
    /// One line a person reads: what was checked and what came out (e.g. `40 keys, 2 invalid: k7, k9`).
    #[serde(default)]
    pub summary: String,
    /// The anomaly classes this check found, as the words of [`checker::anomaly::Anomaly`] (e.g.
    /// `stale-read`, `lost-write`); campaign fingerprints are built from them. Empty when valid.
    /// Strings, not the enum, so results written by any version still read back.
    #[serde(default)]
    pub anomalies: Vec<String>,
}

/// One invalid key's minimal counterexample: a short history that is still not linearizable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Counterexample {
    /// The key, e.g. `k7`.
    pub key: String,
    /// The model it was checked against, e.g. `cas-register`.
    #[serde(default)]
    pub model: String,
    /// The anomaly class, a word of [`checker::anomaly::Anomaly`], e.g. `stale-read`.
    #[serde(default)]
    pub anomaly: String,
    /// The operations of the shrunk history.
    pub ops: Vec<CexOp>,
    /// Indices into `ops`, in the order of the longest linearization the search found.
    #[serde(default)]
    pub linearization: Vec<usize>,
    /// Index into `ops` of the operation that could not be linearized next.
    #[serde(default)]
    pub culprit: Option<usize>,
    /// The model state the culprit saw (after the linearization), as text, e.g. `15`.
    #[serde(default)]
    pub state: Option<String>,
    /// A plain-language account; when empty the report writes one from the data
    /// (see [`crate::explain::sentence`]).
    #[serde(default)]
    pub sentence: String,
    /// How many operations the key's history had before shrinking (0 = unknown).
    #[serde(default)]
    pub original_ops: usize,
}

/// One operation in a counterexample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CexOp {
    pub process: u64,
    /// `read`, `write`, `cas`, `append`, ...
    pub f: String,
    /// The invocation's value (what was written, `[from, to]` for cas, null for a read).
    #[serde(default)]
    pub input: serde_json::Value,
    /// The completion's value (what a read returned).
    #[serde(default)]
    pub output: serde_json::Value,
    /// `ok`, `fail` or `info` (an `invoke` means it never completed).
    pub outcome: EventType,
    /// Invocation time, ns since the run started.
    pub start: u64,
    /// Completion time; `None` when it never completed or ended `info` (may take effect any time later).
    #[serde(default)]
    pub end: Option<u64>,
    #[serde(default)]
    pub node: Option<String>,
}

/// A durability finding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DurabilityFinding {
    /// `lost` (acknowledged, missing from the final state), `phantom` (read, never written),
    /// `duplicate` (appended once, present twice) or `divergent` (nodes committed different entries).
    pub kind: String,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub value: serde_json::Value,
    /// When the write was acknowledged (ns since the run started), for lost and duplicated writes.
    #[serde(default)]
    pub ack_time: Option<u64>,
    /// The process that wrote it, when known.
    #[serde(default)]
    pub process: Option<u64>,
    /// The node that acknowledged it, when known.
    #[serde(default)]
    pub node: Option<String>,
    /// Free text: what was expected and what was found.
    #[serde(default)]
    pub detail: String,
}
