//! `report.html` for a stored run: the store's files wired into the `reports` crate.
//!
//! [`write_report`] needs only the run directory (as `faultline check` does), so it serves both the
//! end of `faultline run` and re-rendering a stored run later. It reads `test.json`, `history.jsonl`,
//! `status.jsonl`, `results.json` and the node logs, and writes `report.html` next to them.

use crate::analysis::{self, RunResults};
use crate::store::{StoreError, TestSpec};
use checker::Format;
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
    if let Some(d) = &r.durability {
        results.add_durability(d);
    }
    if let Some(l) = &r.committed_logs {
        results.add_log_agreement(l);
    }
    let found = r.panics.found.len();
    let anomalies = if found > 0 { vec!["panic".to_owned()] } else { vec![] };
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
        let anomalies = if e.violations.is_empty() { vec![] } else { vec!["two-leaders".to_owned()] };
        results.add_check("election-safety", e.verdict, &summary, anomalies);
    }
    for p in &r.problems {
        results.add_check("problem", checker::Verdict::Unknown, p, vec![]);
    }
    results
}

/// Renders `dir/report.html` from the stored run (its `results.json` must exist); returns its path.
pub fn write_report(dir: &Path) -> Result<PathBuf, ReportError> {
    write_report_to(dir, &dir.join("report.html"))
}

/// Renders the report of the stored run in `dir` into `out` (`faultline report --out`).
pub fn write_report_to(dir: &Path, out: &Path) -> Result<PathBuf, ReportError> {
    let html = reports::render_run(&load_run_report(dir)?);
    std::fs::write(out, html).map_err(|e| StoreError::Io { path: out.to_path_buf(), source: e })?;
    Ok(out.to_path_buf())
}

/// Reads a stored run into the report's model (a campaign also makes its row from it). Errors name
/// the file, and for JSON and history files the line.
pub fn load_run_report(dir: &Path) -> Result<RunReport, ReportError> {
    let spec = TestSpec::load(dir)?;
    let run_results = analysis::load_results(dir)?;
    let read = |name: &str| std::fs::read_to_string(dir.join(name));
    let history_path = dir.join("history.jsonl");
    let text = read("history.jsonl")
        .map_err(|e| ReportError::Input { path: history_path.clone(), message: e.to_string() })?;
    let (history, _) = checker::format::parse_events(&text, Format::Jsonl, "history.jsonl")
        .map_err(|e| ReportError::Input { path: history_path, message: e.to_string() })?;
    let status =
        reports::model::parse_status_lines(&read("status.jsonl").unwrap_or_default(), "status.jsonl")
            .map_err(|e| ReportError::Input { path: dir.join("status.jsonl"), message: e.to_string() })?;
    let outcome = spec.outcome.clone().unwrap_or_default();
    let bugs = spec.node_args.windows(2).filter(|w| w[0] == "--bug").map(|w| w[1].clone()).collect();
    let meta = RunMeta {
        test_name: spec.name.clone(),
        system: spec.system.clone(),
        nodes: (1..=spec.nodes).map(|i| format!("n{i}")).collect(),
        workload: spec.workload.to_string(),
        nemeses: spec.nemesis.iter().map(|k| k.name().to_string()).collect(),
        duration_ns: outcome.run_end.saturating_sub(outcome.run_start),
        seed: spec.seed,
        reproduce: spec.reproduce.clone(),
        started_at: spec.started_at.clone(),
        bugs,
        concurrency: spec.concurrency as u32,
    };
    let results = results_for_report(&run_results);
    let window = reports::logs::Window {
        run_start_unix_ns: reports::logs::leading_timestamp(&meta.started_at),
        focus_ns: results.first_violation_time(),
        ..Default::default()
    };
    let mut logs: Vec<LogExcerpt> = Vec::new();
    for node in &meta.nodes {
        let path = format!("nodes/{node}/stderr.log");
        if let Ok(text) = read(&path) {
            logs.push(reports::logs::excerpt(node, &path, &text, window));
        }
    }
    Ok(RunReport { meta, history, status, logs, results })
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
    let out = args.out.clone().unwrap_or_else(|| args.run_dir.join("report.html"));
    let started = std::time::Instant::now();
    let run = load_run_report(&args.run_dir)?;
    let verdict = run.results.verdict();
    let html = reports::render_run(&run);
    std::fs::write(&out, &html).map_err(|e| StoreError::Io { path: out.clone(), source: e })?;
    tracing::info!(out = %out.display(), bytes = html.len(), ms = started.elapsed().as_millis() as u64, "report written");
    println!("report: {} ({} bytes, verdict {verdict})", out.display(), html.len());
    Ok(0)
}
