//! `report.html` for a run: the store's files wired into the `reports` crate.
//!
//! At the end of `faultline run`, [`write_report_from`] gets the history and the results in memory;
//! later, [`write_report`] re-renders a stored run from its directory alone (`faultline report`),
//! reading `test.json`, `history.jsonl` and `results.json`. Both read `status.jsonl` and the node logs,
//! and write `report.html` next to them.

use crate::analysis::{self, RunResults};
use crate::store::{self, NodeFile, RunDir, StoreError, TestSpec};
use checker::Format;
use checker::history::Event;
use reports::{LogExcerpt, Results, RunMeta, RunReport};
use std::path::{Path, PathBuf};

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },
}

/// The report's view of a run's results.
fn results_for_report(r: &RunResults) -> Results {
    let mut results = Results::default();
    for lin in &r.linearizability {
        results.add_linearizability(lin);
    }
    if let Some(t) = &r.txn {
        results.add_txn(t);
    }
    if let Some(d) = &r.durability {
        results.add_durability(d);
    }
    if let Some(l) = &r.committed_logs {
        results.add_log_agreement(l);
    }
    let found = r.panics.found.len();
    let anomalies = if found > 0 { vec![checker::Anomaly::Panic.name().to_owned()] } else { vec![] };
    results.add_check("panics", r.panics.verdict, &format!("{found} panic lines in node output"), anomalies);
    if let Some(e) = &r.election {
        let mut summary = format!("{} leaderships seen in node logs and status polls", e.leaderships);
        for v in &e.violations {
            summary.push_str(&format!(
                "; two leaders in term {}: {} ({})",
                v.term,
                v.nodes.join(" and "),
                v.evidence.join(", ")
            ));
        }
        let anomalies = if e.violations.is_empty() {
            vec![]
        } else {
            vec![checker::Anomaly::TwoLeaders.name().to_owned()]
        };
        results.add_check("election-safety", e.verdict, &summary, anomalies);
    }
    for p in &r.problems {
        results.add_check("problem", checker::Verdict::Unknown, p, vec![]);
    }
    results
}

/// Renders the stored run in `dir` into its `report.html`.
pub fn write_report(dir: &Path) -> Result<PathBuf, ReportError> {
    let run = RunDir::open(dir)?;
    let out = run.report();
    write_report_to(&run, &out)
}

/// Renders the stored run into `out`.
pub fn write_report_to(run: &RunDir, out: &Path) -> Result<PathBuf, ReportError> {
    let html = reports::render_run(&load_run_report(run)?);
    store::write_atomic(out, html.as_bytes())?;
    Ok(out.to_path_buf())
}

/// Renders a run that just ended, from its history and results in memory.
pub fn write_report_from(
    run: &RunDir,
    spec: &TestSpec,
    history: Vec<Event>,
    results: &RunResults,
) -> Result<PathBuf, ReportError> {
    let html = reports::render_run(&run_report(run, spec, history, results)?);
    let out = run.report();
    store::write_atomic(&out, html.as_bytes())?;
    Ok(out)
}

/// Everything the report of a stored run shows, read from its directory.
pub fn load_run_report(run: &RunDir) -> Result<RunReport, ReportError> {
    let spec = run.load_spec()?;
    let results = analysis::load_results(run)?;
    let path = run.history();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| ReportError::Input { path: path.clone(), message: e.to_string() })?;
    let (history, _) = checker::format::parse_events(&text, Format::Jsonl, &path.display().to_string())
        .map_err(|e| ReportError::Input { path, message: e.to_string() })?;
    run_report(run, &spec, history, &results)
}

fn run_report(
    run: &RunDir,
    spec: &TestSpec,
    history: Vec<Event>,
    run_results: &RunResults,
) -> Result<RunReport, ReportError> {
    let status_text = std::fs::read_to_string(run.status()).unwrap_or_default();
    let status = reports::model::parse_status_lines(&status_text, "status.jsonl")
        .map_err(|e| ReportError::Input { path: run.status(), message: e.to_string() })?;
    let outcome = spec.outcome.clone().unwrap_or_default();
    let meta = RunMeta {
        test_name: spec.name.clone(),
        system: spec.system().map_or_else(
            |_| spec.system_file.as_ref().map_or("file".into(), |f| f.path.clone()),
            |s| s.name().to_string(),
        ),
        nodes: spec.node_names(),
        workload: spec.workload.to_string(),
        nemeses: spec.nemesis.iter().map(|k| k.name().to_string()).collect(),
        duration_ns: outcome.run_end.saturating_sub(outcome.run_start),
        seed: spec.seed,
        reproduce: spec.reproduce.clone(),
        started_at: spec.started_at.clone(),
        bugs: crate::raftnode::planted_bugs(&spec.node_args),
        concurrency: spec.concurrency as u32,
    };
    let results = results_for_report(run_results);
    let window = reports::logs::Window {
        run_start_unix_ns: checker::timestamp::leading_timestamp(&meta.started_at),
        focus_ns: results.first_violation_time(),
        ..Default::default()
    };
    let mut logs: Vec<LogExcerpt> = Vec::new();
    for node in &meta.nodes {
        let path = run.node_file(node, NodeFile::Stderr);
        if let Ok(text) = std::fs::read_to_string(&path) {
            let shown = run.relative(&path).display().to_string();
            logs.push(reports::logs::excerpt(node, &shown, &text, window));
        }
    }
    Ok(RunReport { meta, history, status, logs, results, shrunk: crate::shrunk::load_shrunk(run) })
}

/// `faultline report RUN_DIR [--out FILE]`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// A stored run directory (`store/<test>/<time>`, or `store/latest`).
    pub run_dir: PathBuf,
    /// Where to write the HTML (default: RUN_DIR/report.html).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Re-renders a stored run's report; prints its path, size and verdict. Exit code 0 when written
/// (whatever the run's verdict: this command reports, it does not judge), 3 on a broken run directory.
pub fn main(args: ReportArgs) -> anyhow::Result<i32> {
    if !args.run_dir.is_dir() {
        anyhow::bail!(
            "{}: not a run directory (expected test.json, history.jsonl, results.json in it)",
            args.run_dir.display()
        );
    }
    let dir = RunDir::open(&args.run_dir)?;
    let out = args.out.clone().unwrap_or_else(|| dir.report());
    let started = std::time::Instant::now();
    let run = load_run_report(&dir)?;
    let verdict = run.results.verdict();
    let html = reports::render_run(&run);
    store::write_atomic(&out, html.as_bytes())?;
    tracing::info!(out = %out.display(), bytes = html.len(), ms = started.elapsed().as_millis() as u64, "report written");
    println!("report: {} ({} bytes, verdict {verdict})", out.display(), html.len());
    Ok(0)
}
