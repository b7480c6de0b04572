//! Checking a stored run: the store in, `results.json` out.
//!
//! [`check_run_dir`] is what `faultline run` calls at the end and what `faultline check RUN_DIR` calls
//! later on a stored run: it needs nothing but the run directory. It runs four checks and merges their
//! verdicts (invalid > unknown > valid):
//!
//! 1. linearizability of `history.jsonl` under each model the workload names (per key, with time and
//!    memory budgets; a budget running out is `unknown`, never a guess);
//! 2. durability: the final reads (reads invoked after the final-read phase began, as recorded in
//!    `test.json`) against every acknowledged write;
//! 3. committed-log agreement: the nodes' `/debug/log` bodies (`nodes/<n>/log.json`) against each other
//!    and against the acknowledged writes;
//! 4. a scan of every node's stdout and stderr for raft-node's `raft-node: PANIC` marker (etcd: Go
//!    panics and fatal log lines).
//!
//! Check 3 does not apply to etcd (no `/debug/log`); it is listed in `skipped` with the reason.
//!
//! A part that cannot run (a missing node log, an unreadable file) makes the result `unknown` with the
//! reason in `problems`; it never passes silently.

use crate::store::{self, StoreError, TestSpec};
use checker::durability::{self, DurabilityReport, LogReport, NodeLog};
use checker::{CheckOptions, Format, LinearizabilityReport, ModelSpec, Verdict};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The line prefix raft-node prints when it panics (CONTRACTS.md section 2).
pub const PANIC_MARKER: &str = "raft-node: PANIC";

/// `results.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunResults {
    /// The merged verdict of every check below.
    pub verdict: Verdict,
    /// The test's name (`test.json` `name`).
    pub test: String,
    pub run_dir: String,
    pub counts: OpCounts,
    /// One report per model the workload names.
    pub linearizability: Vec<LinearizabilityReport>,
    pub durability: Option<DurabilityReport>,
    pub committed_logs: Option<LogReport>,
    pub panics: PanicScan,
    /// Why a part could not be checked (each one makes the verdict at least unknown).
    pub problems: Vec<String>,
    /// Checks that do not apply to this system, with the reason (they do not change the verdict).
    #[serde(default)]
    pub skipped: Vec<String>,
    /// UTC time of the check.
    pub checked_at: String,
    pub check_ms: u64,
}

/// Completions by outcome, over client operations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpCounts {
    pub operations: usize,
    pub ok: usize,
    pub fail: usize,
    pub info: usize,
    /// Invoked but never completed (a crashed harness).
    pub pending: usize,
    pub nemesis_events: usize,
}

/// Result of scanning node output for the panic marker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PanicScan {
    pub verdict: Verdict,
    pub files_scanned: usize,
    pub found: Vec<PanicLine>,
}

/// One panic line in a node's output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PanicLine {
    pub node: String,
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    pub text: String,
}

/// Why a run directory could not be checked at all.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {message}")]
    History { path: PathBuf, message: String },
    #[error("{path}: unknown model {model:?} in test.json: {message}")]
    Model { path: PathBuf, model: String, message: String },
}

/// Budgets of the linearizability search.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub timeout: Duration,
    pub memory_bytes: usize,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget { timeout: Duration::from_secs(120), memory_bytes: 2 << 30 }
    }
}

/// Checks the run stored in `dir` and writes `dir/results.json`. See the module documentation.
pub fn check_run_dir(dir: &Path) -> Result<RunResults, AnalysisError> {
    check_run_dir_with(dir, Budget::default())
}

/// [`check_run_dir`] with explicit budgets.
pub fn check_run_dir_with(dir: &Path, budget: Budget) -> Result<RunResults, AnalysisError> {
    let started = Instant::now();
    let spec = TestSpec::load(dir)?;
    let history_path = dir.join("history.jsonl");
    let text = std::fs::read_to_string(&history_path)
        .map_err(|e| AnalysisError::History { path: history_path.clone(), message: e.to_string() })?;
    let parsed = checker::parse_history(&text, Some(Format::Jsonl), &history_path.display().to_string())
        .map_err(|e| AnalysisError::History { path: history_path.clone(), message: e.to_string() })?;
    let history = parsed.history;
    let mut problems = Vec::new();
    let mut skipped = Vec::new();
    let mut verdict = Verdict::Valid;

    let counts = count(&history);

    let mut linearizability = Vec::new();
    for model in &spec.models {
        let model_spec = ModelSpec::parse(model, Format::Jsonl).map_err(|message| AnalysisError::Model {
            path: dir.join("test.json"),
            model: model.clone(),
            message,
        })?;
        let opts = CheckOptions {
            timeout: Some(budget.timeout),
            memory_limit: Some(budget.memory_bytes),
            ..CheckOptions::default()
        };
        match checker::check_linearizability(&history, &model_spec, &opts) {
            Ok(report) => {
                verdict = verdict.merge(report.verdict);
                linearizability.push(report);
            }
            Err(e) => {
                problems.push(format!("linearizability under {model}: {e}"));
                verdict = verdict.merge(Verdict::Unknown);
            }
        }
    }

    let durability = match &spec.outcome {
        Some(outcome) if outcome.final_reads_end > outcome.final_reads_start => {
            let finals = durability::final_reads_from_history(&history, outcome.final_reads_start);
            let report = durability::check_final_reads(&history, &finals, None);
            verdict = verdict.merge(report.verdict);
            Some(report)
        }
        _ => {
            problems
                .push("no final-read phase was recorded (the run ended early): durability unchecked".into());
            verdict = verdict.merge(Verdict::Unknown);
            None
        }
    };

    let mut logs = Vec::new();
    // etcd exposes no committed log like raft-node's /debug/log: that check does not apply to it.
    let has_logs = spec.system != "etcd";
    if !has_logs {
        skipped.push("committed-log agreement: etcd has no /debug/log to compare".to_string());
    }
    for i in (1..=spec.nodes).filter(|_| has_logs) {
        let node = format!("n{i}");
        let path = dir.join("nodes").join(&node).join("log.json");
        match std::fs::read_to_string(&path) {
            Ok(body) => match NodeLog::from_debug_log(&node, &body) {
                Ok(log) => logs.push(log),
                Err(e) => problems.push(format!("{}: not a /debug/log body: {e}", path.display())),
            },
            Err(e) => {
                problems.push(format!("{}: {e} (the node's committed log was not fetched)", path.display()))
            }
        }
    }
    let committed_logs = if !has_logs {
        None
    } else if logs.is_empty() {
        verdict = verdict.merge(Verdict::Unknown);
        None
    } else {
        let report = durability::check_committed_logs(&logs, &history);
        verdict = verdict.merge(report.verdict);
        if logs.len() < spec.nodes {
            verdict = verdict.merge(Verdict::Unknown);
        }
        Some(report)
    };

    let panics = scan_node_output_for(dir, spec.nodes, &spec.system);
    verdict = verdict.merge(panics.verdict);

    let results = RunResults {
        verdict,
        test: spec.name.clone(),
        run_dir: dir.display().to_string(),
        counts,
        linearizability,
        durability,
        committed_logs,
        panics,
        problems,
        skipped,
        checked_at: store::timestamp(store::unix_now(), true),
        check_ms: started.elapsed().as_millis() as u64,
    };
    store::write_json(&dir.join("results.json"), &results)?;
    Ok(results)
}

/// Reads `results.json` back.
pub fn load_results(dir: &Path) -> Result<RunResults, StoreError> {
    let path = dir.join("results.json");
    let text =
        std::fs::read_to_string(&path).map_err(|e| StoreError::Io { path: path.clone(), source: e })?;
    serde_json::from_str(&text).map_err(|e| StoreError::Json { path, source: e })
}

fn count(history: &checker::History) -> OpCounts {
    use checker::Outcome;
    let mut c = OpCounts {
        operations: history.ops.len(),
        nemesis_events: history.nemesis.len(),
        ..OpCounts::default()
    };
    for op in &history.ops {
        match op.outcome {
            Outcome::Ok => c.ok += 1,
            Outcome::Fail => c.fail += 1,
            Outcome::Info => c.info += 1,
            _ => c.pending += 1,
        }
    }
    c
}

/// Scans `nodes/n*/stdout.log` and `stderr.log` for the panic marker.
pub fn scan_node_output(dir: &Path, nodes: usize) -> PanicScan {
    scan_node_output_for(dir, nodes, "raft-node")
}

/// [`scan_node_output`] for `system`'s crash lines (etcd: [`crate::etcd::is_panic_line`]).
pub fn scan_node_output_for(dir: &Path, nodes: usize, system: &str) -> PanicScan {
    let is_panic = |line: &str| {
        if system == "etcd" { crate::etcd::is_panic_line(line) } else { line.contains(PANIC_MARKER) }
    };
    let mut found = Vec::new();
    let mut files_scanned = 0;
    for i in 1..=nodes {
        let node = format!("n{i}");
        for file in ["stdout.log", "stderr.log"] {
            let path = dir.join("nodes").join(&node).join(file);
            let Ok(bytes) = std::fs::read(&path) else { continue };
            files_scanned += 1;
            let text = String::from_utf8_lossy(&bytes);
            for (n, line) in text.lines().enumerate() {
                if is_panic(line) {
                    found.push(PanicLine {
                        node: node.clone(),
                        file: file.into(),
                        line: n + 1,
                        text: line.to_string(),
                    });
                }
            }
        }
    }
    let verdict = if found.is_empty() { Verdict::Valid } else { Verdict::Invalid };
    PanicScan { verdict, files_scanned, found }
}

/// A few lines for the terminal: the verdict and what made it.
pub fn summary(r: &RunResults) -> String {
    let mut out = format!(
        "verdict: {:?}  ({} operations: {} ok, {} fail, {} info)\n",
        r.verdict, r.counts.operations, r.counts.ok, r.counts.fail, r.counts.info
    )
    .to_lowercase();
    for lin in &r.linearizability {
        out.push_str(&format!("  linearizability ({}): {:?}\n", lin.model, lin.verdict));
        for key in lin.invalid_keys().iter().take(3) {
            out.push_str(&format!("    invalid key {}\n", key.key.as_deref().unwrap_or("-")));
        }
    }
    if let Some(d) = &r.durability {
        out.push_str(&format!(
            "  durability: {:?} ({} lost, {} phantom, {} duplicated of {} acknowledged writes)\n",
            d.verdict,
            d.lost.len(),
            d.phantom.len(),
            d.duplicated.len(),
            d.acknowledged_writes
        ));
    }
    if let Some(l) = &r.committed_logs {
        out.push_str(&format!(
            "  committed logs: {:?} ({} nodes, {} divergent indexes, {} acknowledged writes absent)\n",
            l.verdict,
            l.nodes,
            l.divergences.len(),
            l.absent_writes.len()
        ));
    }
    out.push_str(&format!("  node panics: {}\n", r.panics.found.len()));
    for p in r.panics.found.iter().take(3) {
        out.push_str(&format!("    {} {}:{}: {}\n", p.node, p.file, p.line, p.text));
    }
    for p in &r.problems {
        out.push_str(&format!("  problem: {p}\n"));
    }
    for s in &r.skipped {
        out.push_str(&format!("  not applicable: {s}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_panic_marker_is_found_with_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let n2 = dir.path().join("nodes/n2");
        std::fs::create_dir_all(&n2).unwrap();
        std::fs::write(n2.join("stderr.log"), "starting\nraft-node: PANIC at src/x.rs:3: boom\n").unwrap();
        std::fs::create_dir_all(dir.path().join("nodes/n1")).unwrap();
        std::fs::write(dir.path().join("nodes/n1/stderr.log"), "all good\n").unwrap();
        let scan = scan_node_output(dir.path(), 2);
        assert_eq!(scan.verdict, Verdict::Invalid);
        assert_eq!(scan.files_scanned, 2);
        assert_eq!(scan.found[0].node, "n2");
        assert_eq!(scan.found[0].line, 2);
    }

    #[test]
    fn clean_output_is_valid() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("nodes/n1")).unwrap();
        std::fs::write(dir.path().join("nodes/n1/stdout.log"), "PANIC is a word here\n").unwrap();
        assert_eq!(scan_node_output(dir.path(), 1).verdict, Verdict::Valid);
    }
}
