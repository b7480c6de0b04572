//! What a checked run found: its anomaly classes and how soon the evidence was complete.
//!
//! The matrix tabulates these, `faultline repro` compares a replay's with the original's.
//!
//! Time to detection, relative to the start of the run phase: for a linearizability counterexample,
//! the latest completion among its operations and the first operation the search got stuck on (the
//! moment the evidence was complete); for a transactional anomaly, the latest completion among its
//! transactions (the earliest such instance of each class); for two leaders of one term, when both
//! leaderships were on record; for a committed entry that a node replaced, when the log watcher saw
//! the replacement; for the other durability and log findings, the start of the final reads (they
//! are only visible there).

use crate::analysis::RunResults;
use crate::store::{NodeFile, RunDir, TestSpec};
use checker::anomaly::{self, Anomaly, Finding};
use std::collections::BTreeSet;

/// The anomaly classes of a checked run and when the first one's evidence was complete.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Findings {
    /// Sorted, without duplicates ([`Anomaly`]'s words).
    pub classes: Vec<String>,
    /// Seconds after the start of the run phase.
    pub first_time_s: Option<f64>,
}

impl Findings {
    /// [`Findings::first_time_s`] in nanoseconds after the start of the run phase.
    pub fn first_time_ns(&self) -> Option<u64> {
        self.first_time_s.map(|s| (s * 1e9) as u64)
    }
}

/// When the log watcher first saw a node replace a committed entry (`nodes/*/log-changes.json`).
fn first_log_change(run: &RunDir, spec: &TestSpec) -> Option<u64> {
    spec.node_names()
        .iter()
        .filter_map(|n| crate::logwatch::read_changes(&run.node_file(n, NodeFile::LogChanges))?.ok())
        .flatten()
        .map(|c| c.time)
        .min()
}

/// Every finding of a checked run: the checker's (linearizability, durability, committed logs) and the
/// harness's own (node panics, two leaders in a term).
pub fn all(results: &RunResults) -> Vec<Finding> {
    let mut found: Vec<Finding> =
        results.linearizability.iter().flat_map(anomaly::linearizability_findings).collect();
    if let Some(t) = &results.txn {
        found.extend(anomaly::txn_findings(t));
    }
    if let Some(d) = &results.durability {
        found.extend(anomaly::durability_findings(d));
    }
    if let Some(l) = &results.committed_logs {
        found.extend(anomaly::log_findings(l));
    }
    found.extend(results.panics.found.iter().map(|p| Finding {
        anomaly: Anomaly::Panic,
        key: None,
        time: None,
        detail: format!("{} {}:{}: {}", p.node, p.file, p.line, p.text),
    }));
    if let Some(e) = &results.election {
        found.extend(e.violations.iter().map(|v| Finding {
            anomaly: Anomaly::TwoLeaders,
            key: None,
            time: v.time,
            detail: format!("term {} led by {}", v.term, v.nodes.join(", ")),
        }));
    }
    found
}

/// Reads the anomaly classes and the first detection time out of a run's results (see the module
/// documentation for how the time is defined).
pub fn findings(run: &RunDir, spec: &TestSpec, results: &RunResults) -> Findings {
    let outcome = spec.outcome.as_ref();
    let run_start = outcome.map_or(0, |o| o.run_start);
    let finals = outcome.map(|o| o.final_reads_start);
    let found = all(results);
    // A committed entry replaced during the run was on record when the log watcher saw the
    // replacement; a divergence between nodes' final logs, like every other undated finding, only at
    // the final reads.
    let replaced = if found.iter().any(|f| f.anomaly == Anomaly::DivergentCommit) {
        first_log_change(run, spec)
    } else {
        None
    };
    // The checker dates a linearizability finding when its counterexample and a stuck operation had
    // completed; a key it could not explain adds no time. The other findings the checker cannot date
    // are dated by the log watcher or at the final reads.
    let times = found.iter().filter_map(|f| {
        if f.anomaly.is_linearizability() || f.anomaly.is_transactional() {
            return f.time;
        }
        let seen = if f.anomaly == Anomaly::DivergentCommit { replaced } else { None };
        f.time.or(seen).or(finals)
    });
    let first_time_s = times.min().map(|t| t.saturating_sub(run_start) as f64 / 1e9);
    let classes: BTreeSet<Anomaly> = found.iter().map(|f| f.anomaly).collect();
    Findings { classes: classes.into_iter().map(|a| a.name().to_owned()).collect(), first_time_s }
}
