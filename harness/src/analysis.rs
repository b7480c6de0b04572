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
//! Check 3 applies to raft-node only (no other system serves `/debug/log`); elsewhere it is listed in
//! `skipped` with the reason. Election Safety reads raft-node's logs and the status polls, and for a
//! system file whose roles give a term, the polls alone (not etcd's: see [`crate::system`]).
//! Output of Maelstrom nodes that was not a message is counted (`stray_output`, from `network.json`);
//! it does not change the verdict.
//!
//! A transactional workload (`txn-append`, `txn-rw`) is checked by the transactional checker
//! ([`checker::txn`]) instead of checks 1 and 2: its transactions, final reads included, must be
//! strict serializable (or the consistency model `faultline check --consistency-model` names). A lost
//! write shows there as a cycle through real time: the final read missed a write that completed
//! before it began.
//!
//! A part that cannot run (a missing node log, an unreadable file) makes the result `unknown` with the
//! reason in `problems`; it never passes silently.

use crate::store::{self, NodeFile, RunDir, StoreError, TestSpec};
use crate::system::System;
use crate::systemfile::SystemFileError;
use checker::durability::{self, DurabilityReport, LogReport, NodeLog};
use checker::timestamp::leading_timestamp;
use checker::txn::{ConsistencyModel, TxnOptions, TxnReport};
use checker::{CheckOptions, Format, History, LinearizabilityReport, ModelSpec, Verdict};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
    /// The transactional check of a transactional workload (absent for the others, and in results
    /// written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txn: Option<TxnReport>,
    pub durability: Option<DurabilityReport>,
    pub committed_logs: Option<LogReport>,
    pub panics: PanicScan,
    /// Election Safety over the node logs and status polls (absent for systems other than raft-node
    /// and in results written before the check existed).
    #[serde(default)]
    pub election: Option<ElectionReport>,
    /// Lines Maelstrom nodes wrote to stdout that were not messages (absent for other systems).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stray_output: Option<StrayOutput>,
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

/// Result of the Election Safety check.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ElectionReport {
    pub verdict: Verdict,
    /// Distinct (term, leader) pairs seen.
    pub leaderships: usize,
    /// Terms with more than one leader.
    pub violations: Vec<TwoLeaders>,
}

/// Two (or more) nodes that led the same term.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwoLeaders {
    pub term: u64,
    /// The leaders, in node order.
    pub nodes: Vec<String>,
    /// Where each leadership was seen first: `n3 stderr.log:41` or `status.jsonl:12`.
    pub evidence: Vec<String>,
    /// Run-relative time (ns) by which both leaderships were on record: exact for status polls, to
    /// the second for log lines (their wall-clock stamps are placed against `test.json` `started_at`).
    pub time: Option<u64>,
}

/// Node output that was not a Maelstrom message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrayOutput {
    pub lines: u64,
    /// The first few, with node and line of its `stdout.log`.
    pub first: Vec<crate::msgnet::StrayLine>,
}

/// The marker of the core's log line for a won election (`raft::raft`, `info!(node, term, ..,
/// "became leader")`).
const BECAME_LEADER: &str = "became leader";

/// Why a run directory could not be checked at all.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {message}")]
    History { path: PathBuf, message: String },
    #[error("{path}: test.json was written by another version of faultline: {message}")]
    Model { path: PathBuf, message: String },
    #[error("the run's system file: {0}")]
    SystemFile(#[from] SystemFileError),
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

/// [`check_run_dir`] with explicit budgets: reads `test.json` and `history.jsonl`, then [`check_run`].
pub fn check_run_dir_with(dir: &Path, budget: Budget) -> Result<RunResults, AnalysisError> {
    check_run_dir_as(dir, budget, ConsistencyModel::default())
}

/// [`check_run_dir_with`], a transactional workload judged by `model`.
pub fn check_run_dir_as(
    dir: &Path,
    budget: Budget,
    model: ConsistencyModel,
) -> Result<RunResults, AnalysisError> {
    let run = RunDir::open(dir)?;
    let spec = run.load_spec()?;
    let history_path = run.history();
    let text = std::fs::read_to_string(&history_path)
        .map_err(|e| AnalysisError::History { path: history_path.clone(), message: e.to_string() })?;
    let parsed = checker::parse_history(&text, Some(Format::Jsonl), &history_path.display().to_string())
        .map_err(|e| AnalysisError::History { path: history_path.clone(), message: e.to_string() })?;
    check_run_as(&run, &spec, &parsed.history, budget, model)
}

/// Checks a run whose history is already in memory (what `faultline run` does at its end) and writes
/// `results.json`. A transactional workload is judged by strict serializability.
pub fn check_run(
    run: &RunDir,
    spec: &TestSpec,
    history: &History,
    budget: Budget,
) -> Result<RunResults, AnalysisError> {
    check_run_as(run, spec, history, budget, ConsistencyModel::default())
}

/// [`check_run`], a transactional workload judged by `model`.
pub fn check_run_as(
    run: &RunDir,
    spec: &TestSpec,
    history: &History,
    budget: Budget,
    model: ConsistencyModel,
) -> Result<RunResults, AnalysisError> {
    let started = Instant::now();
    let system = spec.system()?;
    let nodes = spec.node_names();
    let mut problems = Vec::new();
    let mut skipped = Vec::new();
    let mut verdict = Verdict::Valid;

    let counts = count(history);

    let mut linearizability = Vec::new();
    for &model in &spec.models {
        let model_spec = ModelSpec::new(model, Format::Jsonl);
        let opts = CheckOptions {
            timeout: Some(budget.timeout),
            memory_limit: Some(budget.memory_bytes),
            ..CheckOptions::default()
        };
        match checker::check_linearizability(history, &model_spec, &opts) {
            Ok(report) => {
                verdict = verdict.merge(report.verdict);
                linearizability.push(report);
            }
            Err(e) => {
                problems.push(format!("linearizability under {}: {e}", model.name()));
                verdict = verdict.merge(Verdict::Unknown);
            }
        }
    }

    let txn = spec.workload.txn_kind().map(|kind| {
        let opts = TxnOptions::new(kind, model);
        match checker::txn::check_history(history, &opts) {
            Ok(report) => {
                verdict = verdict.merge(report.verdict);
                Some(report)
            }
            Err(e) => {
                problems.push(format!("transactional check ({kind}): {e}"));
                verdict = verdict.merge(Verdict::Unknown);
                None
            }
        }
    });
    let txn = txn.flatten();
    let final_reads_done = spec.outcome.as_ref().is_some_and(|o| o.final_reads_end > o.final_reads_start);
    if spec.workload.txn_kind().is_some() && !final_reads_done {
        problems.push("no final-read phase was recorded (the run ended early): lost writes unchecked".into());
        verdict = verdict.merge(Verdict::Unknown);
    }

    let durability = match &spec.outcome {
        // The transactional checker reads the final reads itself.
        _ if spec.workload.txn_kind().is_some() => {
            skipped.push(
                "durability: the transactional check judges the final reads (a lost write is a cycle through real time)"
                    .into(),
            );
            None
        }
        Some(outcome) if outcome.final_reads_end > outcome.final_reads_start => {
            let finals = durability::final_reads_from_history(history, outcome.final_reads_start);
            let report = durability::check_final_reads(history, &finals, None);
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
    // A system that serves no committed log like raft-node's /debug/log: that check does not apply.
    let has_logs = system.capabilities().committed_log;
    if !has_logs {
        skipped.push(match &system {
            System::Described(_) => {
                "committed-log agreement: only the built-in raft-node serves a /debug/log to compare".into()
            }
            other => format!("committed-log agreement: {} has no /debug/log to compare", other.name()),
        });
    }
    for node in nodes.iter().filter(|_| has_logs) {
        let path = run.node_file(node, NodeFile::CommittedLog);
        match std::fs::read_to_string(&path) {
            Ok(body) => match NodeLog::from_debug_log(node, &body) {
                Ok(log) => logs.push(log),
                Err(e) => problems.push(format!("{}: not a /debug/log body: {e}", path.display())),
            },
            Err(e) => {
                problems.push(format!("{}: {e} (the node's committed log was not fetched)", path.display()))
            }
        }
    }
    let fetched = logs.len();
    if has_logs {
        logs.extend(replaced_entries(run, &nodes, &mut problems));
    }
    let committed_logs = if !has_logs {
        None
    } else if logs.is_empty() {
        verdict = verdict.merge(Verdict::Unknown);
        None
    } else {
        let report = durability::check_committed_logs(&logs, history);
        verdict = verdict.merge(report.verdict);
        if fetched < spec.nodes {
            verdict = verdict.merge(Verdict::Unknown);
        }
        Some(report)
    };

    let panics = scan_node_output(run, &nodes, &system);
    verdict = verdict.merge(panics.verdict);

    // Other systems' logs do not carry our core's leadership records; their status polls may carry
    // terms.
    let capabilities = system.capabilities();
    let election = capabilities
        .terms
        .then(|| check_election_safety(run, &nodes, &spec.started_at, capabilities.leadership_log));
    let stray_output = if run.network().is_file() {
        match store::read_json::<crate::msgnet::Stats>(&run.network()) {
            Ok(stats) => Some(StrayOutput { lines: stats.stray_lines, first: stats.stray }),
            Err(e) => {
                problems.push(e.to_string());
                verdict = verdict.merge(Verdict::Unknown);
                None
            }
        }
    } else {
        None
    };
    if let Some(e) = &election {
        verdict = verdict.merge(e.verdict);
    }

    let results = RunResults {
        verdict,
        test: spec.name.clone(),
        run_dir: run.path().display().to_string(),
        counts,
        linearizability,
        txn,
        durability,
        committed_logs,
        panics,
        election,
        stray_output,
        problems,
        skipped,
        checked_at: store::timestamp(store::unix_now(), true),
        check_ms: started.elapsed().as_millis() as u64,
    };
    store::write_json(&run.results(), &results)?;
    Ok(results)
}

/// Committed entries a node later replaced (seen by the run's log watcher, [`crate::logwatch`]), each
/// as the one-entry log of that node's earlier self: the committed-log check then reports the index
/// as divergent, naming the node and until when it held the entry.
pub fn replaced_entries(run: &RunDir, nodes: &[String], problems: &mut Vec<String>) -> Vec<NodeLog> {
    let mut logs = Vec::new();
    for node in nodes {
        let changes = match crate::logwatch::read_changes(&run.node_file(node, NodeFile::LogChanges)) {
            None => continue,
            Some(Ok(changes)) => changes,
            Some(Err(problem)) => {
                problems.push(problem);
                continue;
            }
        };
        logs.extend(changes.into_iter().map(|c| NodeLog {
            node: format!("{node} (until {:.1} s)", c.time as f64 / 1e9),
            // One entry, not a whole log.
            snapshot_index: c.index,
            snapshot_term: 0,
            entries: vec![c.before],
        }));
    }
    logs
}

/// Reads `results.json` back.
pub fn load_results(run: &RunDir) -> Result<RunResults, StoreError> {
    store::read_json(&run.results())
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

/// Scans `nodes/n*/stdout.log` and `stderr.log` for `system`'s crash lines (raft-node: the panic
/// marker; etcd: [`crate::etcd::is_panic_line`]).
pub fn scan_node_output(run: &RunDir, nodes: &[String], system: &System) -> PanicScan {
    let mut found = Vec::new();
    let mut files_scanned = 0;
    for node in nodes {
        for file in [NodeFile::Stdout, NodeFile::Stderr] {
            let path = run.node_file(node, file);
            let Ok(bytes) = std::fs::read(&path) else { continue };
            files_scanned += 1;
            let text = String::from_utf8_lossy(&bytes);
            for (n, line) in text.lines().enumerate() {
                if system.is_crash_line(line) {
                    found.push(PanicLine {
                        node: node.clone(),
                        file: file.name().into(),
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

/// One leadership on record: where it was seen and when (run-relative ns, if known).
#[derive(Clone, Debug)]
struct Sighting {
    evidence: String,
    time: Option<u64>,
}

/// Election Safety (§5.2) over `nodes/n*/stderr.log` (when `node_logs`: raft-node's) and
/// `status.jsonl`; see the module documentation.
/// `started_at` is `test.json`'s start stamp, which places the log lines' wall-clock times in the run.
pub fn check_election_safety(
    run: &RunDir,
    nodes: &[String],
    started_at: &str,
    node_logs: bool,
) -> ElectionReport {
    use std::collections::BTreeMap;
    let started = leading_timestamp(started_at);
    // term -> leader -> first sighting
    let mut seen: BTreeMap<u64, BTreeMap<String, Sighting>> = BTreeMap::new();
    let mut note = |term: u64, node: &str, s: Sighting| {
        let slot = seen.entry(term).or_default().entry(node.to_string()).or_insert_with(|| s.clone());
        // Keep the earliest time known for this leadership.
        if let (Some(t), Some(old)) = (s.time, slot.time)
            && t < old
        {
            *slot = s;
        }
    };
    for node in nodes.iter().filter(|_| node_logs) {
        let Ok(bytes) = std::fs::read(run.node_file(node, NodeFile::Stderr)) else { continue };
        for (n, line) in String::from_utf8_lossy(&bytes).lines().enumerate() {
            let Some((who, term)) = parse_became_leader(line) else { continue };
            let time = match (started, leading_timestamp(line)) {
                (Some(s), Some(t)) => Some(t.saturating_sub(s)),
                _ => None,
            };
            note(term, &who, Sighting { evidence: format!("{node} stderr.log:{}", n + 1), time });
        }
    }
    if let Ok(text) = std::fs::read_to_string(run.status()) {
        for (n, line) in text.lines().enumerate() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            let st = &v["status"];
            if st["role"] != "leader" {
                continue;
            }
            let (Some(node), Some(term)) = (v["node"].as_str(), st["term"].as_u64()) else { continue };
            note(
                term,
                node,
                Sighting { evidence: format!("status.jsonl:{}", n + 1), time: v["time"].as_u64() },
            );
        }
    }
    let leaderships = seen.values().map(BTreeMap::len).sum();
    let violations: Vec<TwoLeaders> = seen
        .into_iter()
        .filter(|(_, leaders)| leaders.len() > 1)
        .map(|(term, leaders)| {
            let time = leaders
                .values()
                .map(|s| s.time)
                .collect::<Option<Vec<u64>>>()
                .and_then(|t| t.into_iter().max());
            TwoLeaders {
                term,
                evidence: leaders.values().map(|s| s.evidence.clone()).collect(),
                nodes: leaders.into_keys().collect(),
                time,
            }
        })
        .collect();
    let verdict = if violations.is_empty() { Verdict::Valid } else { Verdict::Invalid };
    ElectionReport { verdict, leaderships, violations }
}

/// `(node, term)` of a core log line `... INFO raft::raft: became leader node=n3 term=7 noop_index=12`.
fn parse_became_leader(line: &str) -> Option<(String, u64)> {
    let rest = &line[line.find(BECAME_LEADER)? + BECAME_LEADER.len()..];
    let field = |name: &str| {
        rest.split_whitespace().find_map(|w| w.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
    };
    let node = field("node")?;
    // The core prints node ids as `n3`; accept a bare number too.
    let node = if node.starts_with('n') { node.to_string() } else { format!("n{node}") };
    Some((node, field("term")?.parse().ok()?))
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
    if let Some(t) = &r.txn {
        out.push_str(&format!(
            "  transactions ({} under {}): {} ({} ok; {} ww, {} wr, {} rw dependencies; {} cyclic components)\n",
            t.kind, t.consistency_model, t.verdict, t.transactions.ok, t.edges.ww, t.edges.wr, t.edges.rw, t.sccs
        ));
        for (a, n) in &t.counts {
            let judged = if t.consistency_model.prohibits(*a) { "forbidden" } else { "allowed" };
            out.push_str(&format!("    {a}: {n} ({judged})\n"));
        }
        if let Some(a) = t.anomalies.iter().find(|a| a.prohibited) {
            out.push_str(&format!("    e.g. {}\n", a.summary));
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
        if l.unverifiable_writes > 0 {
            out.push_str(&format!(
                "    {} acknowledged writes not verifiable: their entries were compacted before any look at the logs\n",
                l.unverifiable_writes
            ));
        }
    }
    out.push_str(&format!("  node panics: {}\n", r.panics.found.len()));
    if let Some(stray) = r.stray_output.as_ref().filter(|s| s.lines > 0) {
        out.push_str(&format!("  node output that was not a message: {} lines\n", stray.lines));
        for l in stray.first.iter().take(3) {
            out.push_str(&format!("    {} stdout.log:{}: {}\n", l.node, l.line, l.text));
        }
    }
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

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    #[test]
    fn the_panic_marker_is_found_with_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let n2 = dir.path().join("nodes/n2");
        std::fs::create_dir_all(&n2).unwrap();
        std::fs::write(n2.join("stderr.log"), "starting\nraft-node: PANIC at src/x.rs:3: boom\n").unwrap();
        std::fs::create_dir_all(dir.path().join("nodes/n1")).unwrap();
        std::fs::write(dir.path().join("nodes/n1/stderr.log"), "all good\n").unwrap();
        let scan = scan_node_output(&RunDir::at(dir.path()), &names(2), &System::RaftNode);
        assert_eq!(scan.verdict, Verdict::Invalid);
        assert_eq!(scan.files_scanned, 2);
        assert_eq!(scan.found[0].node, "n2");
        assert_eq!(scan.found[0].line, 2);
    }

    fn write(dir: &Path, rel: &str, text: &str) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn two_leaders_of_one_term_are_a_violation_with_their_evidence() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(
            d,
            "nodes/n1/stderr.log",
            "2026-11-22T03:21:08.983364Z  INFO raft::raft: starting election node=n1 term=5 pre_vote=false\n2026-11-22T03:21:09.000000Z  INFO raft::raft: became leader node=n1 term=5 noop_index=9\n",
        );
        write(
            d,
            "nodes/n3/stderr.log",
            "x\ny\n2026-11-22T03:21:10.500000Z  INFO raft::raft: became leader node=n3 term=5 noop_index=9\n",
        );
        write(
            d,
            "nodes/n2/stderr.log",
            "2026-11-22T03:21:11Z  INFO raft::raft: became leader node=n2 term=6 noop_index=10\n",
        );
        let r = check_election_safety(&RunDir::at(d), &names(3), "2026-11-22T03:21:07Z", true);
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!(r.leaderships, 3);
        assert_eq!(r.violations.len(), 1);
        let v = &r.violations[0];
        assert_eq!((v.term, v.nodes.clone()), (5, vec!["n1".to_string(), "n3".to_string()]));
        assert_eq!(v.evidence, vec!["n1 stderr.log:2".to_string(), "n3 stderr.log:3".to_string()]);
        assert_eq!(v.time, Some(3_500_000_000));
    }

    #[test]
    fn one_leader_per_term_is_valid_across_logs_and_polls() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // The same leadership seen in the log and by polls, then a new leader in a later term.
        write(
            d,
            "nodes/n1/stderr.log",
            "2026-11-22T03:21:09Z  INFO raft::raft: became leader node=n1 term=2 noop_index=1\n",
        );
        write(
            d,
            "status.jsonl",
            concat!(
                r#"{"time":10,"node":"n1","status":{"role":"leader","term":2}}"#,
                "\n",
                r#"{"time":10,"node":"n2","status":{"role":"follower","term":2}}"#,
                "\n",
                r#"{"time":20,"node":"n2","status":{"role":"leader","term":3}}"#,
                "\n",
                r#"{"time":20,"node":"n1","status":{"role":"leader","term":2}}"#,
                "\n",
            ),
        );
        let r = check_election_safety(&RunDir::at(d), &names(2), "2026-11-22T03:21:07Z", true);
        assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
        assert_eq!(r.leaderships, 2);
        // A poll alone also counts as evidence.
        write(d, "status.jsonl", r#"{"time":30,"node":"n2","status":{"role":"leader","term":2}}"#);
        let r = check_election_safety(&RunDir::at(d), &names(2), "2026-11-22T03:21:07Z", true);
        assert_eq!(
            r.violations[0].evidence,
            vec!["n1 stderr.log:1".to_string(), "status.jsonl:1".to_string()]
        );
    }

    #[test]
    fn utc_stamps_parse_to_unix_nanos() {
        assert_eq!(leading_timestamp("1970-01-01T00:00:01.5Z"), Some(1_500_000_000));
        let t = leading_timestamp("2026-11-22T03:21:08Z").unwrap();
        assert_eq!(store::timestamp(t / 1_000_000_000, true), "2026-11-22T03:21:08Z");
        assert_eq!(leading_timestamp("yesterday"), None);
        assert_eq!(
            parse_became_leader("INFO raft::raft: became leader node=n4 term=12 noop_index=3"),
            Some(("n4".into(), 12))
        );
        assert_eq!(parse_became_leader("INFO raft::raft: vote node=n4 term=12"), None);
    }

    #[test]
    fn clean_output_is_valid() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("nodes/n1")).unwrap();
        std::fs::write(dir.path().join("nodes/n1/stdout.log"), "PANIC is a word here\n").unwrap();
        assert_eq!(
            scan_node_output(&RunDir::at(dir.path()), &names(1), &System::RaftNode).verdict,
            Verdict::Valid
        );
    }
    #[test]
    fn a_replaced_committed_entry_makes_the_logs_divergent() {
        let dir = tempfile::tempdir().unwrap();
        let n2 = dir.path().join("nodes/n2");
        std::fs::create_dir_all(&n2).unwrap();
        let entry = |term: u64, value: &str| serde_json::json!({"index": 7, "term": term, "command": {"op": "put", "key": "k", "value": value}});
        let changes = serde_json::json!([{"index": 7, "time": 2_500_000_000u64, "before": entry(2, "x"), "after": entry(3, "y")}]);
        std::fs::write(n2.join("log-changes.json"), changes.to_string()).unwrap();
        let mut problems = Vec::new();
        let mut logs = replaced_entries(&RunDir::at(dir.path()), &names(3), &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].node, "n2 (until 2.5 s)");
        for node in ["n1", "n2", "n3"] {
            let body =
                serde_json::json!({"snapshot_index": 6, "snapshot_term": 1, "entries": [entry(3, "y")]});
            logs.push(NodeLog::from_debug_log(node, &body.to_string()).unwrap());
        }
        let history = checker::History::from_events("h", &[], None).unwrap();
        let report = durability::check_committed_logs(&logs, &history);
        assert_eq!(report.verdict, Verdict::Invalid);
        assert_eq!(report.divergences.len(), 1);
        assert_eq!(report.divergences[0].index, 7);
        // Without the change the same final logs agree.
        let report = durability::check_committed_logs(&logs[1..], &history);
        assert_eq!(report.verdict, Verdict::Valid);
        // A malformed changes file is a problem named with its path, not a crash.
        std::fs::write(n2.join("log-changes.json"), "{").unwrap();
        assert!(replaced_entries(&RunDir::at(dir.path()), &names(3), &mut problems).is_empty());
        assert!(problems[0].contains("log-changes.json"), "{problems:?}");
    }
}
