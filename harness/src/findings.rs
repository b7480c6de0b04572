//! What a checked run found: its anomaly classes and how soon the evidence was complete.
//!
//! The matrix tabulates these, `faultline repro` compares a replay's with the original's.
//!
//! Time to detection, relative to the start of the run phase: for a linearizability counterexample,
//! the latest completion among its operations and the first operation the search got stuck on (the
//! moment the evidence was complete); for two leaders of one term, when both leaderships were on
//! record; for a committed entry that a node replaced, when the log watcher saw the replacement; for
//! the other durability and log findings, the start of the final reads (they are only visible there).

use crate::analysis::RunResults;
use crate::store::{NodeFile, RunDir, TestSpec};
use std::collections::BTreeSet;

/// The anomaly classes of a checked run and when the first one's evidence was complete.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Findings {
    /// Sorted, without duplicates (the words of `reports::from_checker`, plus `panic` and
    /// `two-leaders`, an Election Safety violation).
    pub classes: Vec<String>,
    /// Seconds after the start of the run phase.
    pub first_time_s: Option<f64>,
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

/// Reads the anomaly classes and the first detection time out of a run's results (see the module
/// documentation for how the time is defined).
pub fn findings(run: &RunDir, spec: &TestSpec, results: &RunResults) -> Findings {
    let outcome = spec.outcome.as_ref();
    let run_start = outcome.map_or(0, |o| o.run_start);
    let finals = outcome.map(|o| o.final_reads_start);
    let mut classes = BTreeSet::new();
    let mut times: Vec<u64> = Vec::new();
    for report in &results.linearizability {
        for key in report.invalid_keys() {
            let Some(e) = &key.explanation else {
                classes.insert("nonlinearizable".to_string());
                continue;
            };
            let cex = reports::from_checker::counterexample(key, &report.model, e);
            classes.insert(cex.anomaly.clone());
            // The evidence is complete once the counterexample's operations and at least one
            // operation the search got stuck on have completed. (The stuck operation is the anomaly
            // itself, e.g. the stale read; a minimized counterexample does not always contain it.)
            let end = |op: &checker::Operation| op.complete_time.unwrap_or(op.invoke_time);
            let cex_done = e.counterexample.ops.iter().map(end).max();
            let stuck_done = e.stuck.iter().map(|s| end(&s.op)).min();
            times.extend(cex_done.max(stuck_done));
        }
    }
    let mut late = false;
    if let Some(d) = &results.durability {
        if !d.lost.is_empty() {
            classes.insert("lost-write".into());
            late = true;
        }
        if !d.phantom.is_empty() {
            classes.insert("phantom-value".into());
            late = true;
        }
        if !d.duplicated.is_empty() {
            classes.insert("duplicate-append".into());
            late = true;
        }
    }
    if let Some(l) = &results.committed_logs {
        if !l.divergences.is_empty() {
            classes.insert("divergent-commit".into());
            // A committed entry replaced during the run was on record when the log watcher saw the
            // replacement; a divergence between nodes' final logs only at the end.
            match first_log_change(run, spec) {
                Some(t) => times.push(t),
                None => late = true,
            }
        }
        if !l.absent_writes.is_empty() {
            classes.insert("absent-from-log".into());
            late = true;
        }
    }
    if !results.panics.found.is_empty() {
        classes.insert("panic".into());
        late = true;
    }
    if let Some(e) = &results.election {
        for v in &e.violations {
            classes.insert("two-leaders".into());
            match v.time {
                Some(t) => times.push(t),
                None => late = true,
            }
        }
    }
    if late {
        times.extend(finals);
    }
    let first_time_s = times.into_iter().min().map(|t| t.saturating_sub(run_start) as f64 / 1e9);
    Findings { classes: classes.into_iter().collect(), first_time_s }
}

