//! Renders the report of a stored run directory the way `faultline report RUN_DIR` does, and shows
//! the wiring from the store's files to [`reports::RunReport`]:
//! `cargo run -p reports --example render_run_dir -- RUN_DIR [OUT.html]` (default `RUN_DIR/report.html`).
//! With `--synthetic OPS` instead of a directory it renders a synthetic run of that many operations.

use checker::Format;
use reports::{LogExcerpt, Results, RunMeta, RunReport, Verdict};
use std::error::Error;
use std::path::{Path, PathBuf};

fn read(dir: &Path, name: &str) -> Result<String, Box<dyn Error>> {
    std::fs::read_to_string(dir.join(name)).map_err(|e| format!("{}: {e}", dir.join(name).display()).into())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--synthetic") {
        let ops: usize = args.get(1).map_or(Ok(5000), |s| s.parse())?;
        let out = args.get(2).map_or_else(|| PathBuf::from("report.html"), PathBuf::from);
        let html = reports::render_run(&reports::synthetic::run(ops, 42));
        std::fs::write(&out, &html)?;
        println!("{}: {} bytes", out.display(), html.len());
        return Ok(());
    }
    let dir = PathBuf::from(args.first().ok_or("usage: render_run_dir RUN_DIR [OUT.html]")?);
    let out = args.get(1).map_or_else(|| dir.join("report.html"), PathBuf::from);

    let test: serde_json::Value = serde_json::from_str(&read(&dir, "test.json")?)?;
    let text = |k: &str| test.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let strings = |k: &str| -> Vec<String> {
        test.get(k)
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let node_count = test.get("nodes").and_then(|v| v.as_u64()).unwrap_or(0);
    let outcome = test.get("outcome");
    let span = |k: &str| outcome.and_then(|o| o.get(k)).and_then(|v| v.as_u64());
    let node_args = strings("node_args");
    let bugs = node_args.windows(2).filter(|w| w[0] == "--bug").map(|w| w[1].clone()).collect();
    let meta = RunMeta {
        test_name: text("name"),
        system: text("system"),
        nodes: (1..=node_count).map(|i| format!("n{i}")).collect(),
        workload: text("workload"),
        nemeses: strings("nemesis"),
        duration_ns: span("run_end").unwrap_or(0).saturating_sub(span("run_start").unwrap_or(0)),
        seed: test.get("seed").and_then(|v| v.as_u64()).unwrap_or(0),
        reproduce: text("reproduce"),
        started_at: text("started_at"),
        bugs,
        concurrency: test.get("concurrency").and_then(|v| v.as_u64()).unwrap_or(0) as u32,
    };

    let (history, _lines) =
        checker::format::parse_events(&read(&dir, "history.jsonl")?, Format::Jsonl, "history.jsonl")?;
    let status =
        reports::model::parse_status_lines(&read(&dir, "status.jsonl").unwrap_or_default(), "status.jsonl")?;

    // results.json as the harness writes it: the checker's reports plus a panic scan and problems.
    let mut results = Results::default();
    if let Ok(text) = read(&dir, "results.json") {
        let r: serde_json::Value = serde_json::from_str(&text)?;
        for lin in r.get("linearizability").and_then(|v| v.as_array()).into_iter().flatten() {
            results.add_linearizability(&serde_json::from_value(lin.clone())?);
        }
        if let Some(d) = r.get("durability").filter(|v| !v.is_null()) {
            results.add_durability(&serde_json::from_value(d.clone())?);
        }
        if let Some(l) = r.get("committed_logs").filter(|v| !v.is_null()) {
            results.add_log_agreement(&serde_json::from_value(l.clone())?);
        }
        if let Some(p) = r.get("panics") {
            let verdict: Verdict = serde_json::from_value(p.get("verdict").cloned().unwrap_or_default())?;
            let found = p.get("found").and_then(|f| f.as_array()).map_or(0, Vec::len);
            let anomalies = if found > 0 { vec![checker::Anomaly::Panic.name().to_owned()] } else { vec![] };
            results.add_check("panics", verdict, &format!("{found} panic lines in node output"), anomalies);
        }
        for problem in r.get("problems").and_then(|v| v.as_array()).into_iter().flatten() {
            results.add_check("problem", Verdict::Unknown, problem.as_str().unwrap_or_default(), vec![]);
        }
    }

    // Log excerpts around the first violation; history time 0 is the harness's start, `started_at`
    // (whole seconds, so excerpts can be off by up to a second: the window is wider than that).
    let start_unix = reports::logs::leading_timestamp(&meta.started_at);
    let window = reports::logs::Window {
        run_start_unix_ns: start_unix,
        focus_ns: results.first_violation_time(),
        ..Default::default()
    };
    let mut logs: Vec<LogExcerpt> = Vec::new();
    for node in &meta.nodes {
        let path = format!("nodes/{node}/stderr.log");
        if let Ok(text) = read(&dir, &path) {
            logs.push(reports::logs::excerpt(node, &path, &text, window));
        }
    }

    let run = RunReport { meta, history, status, logs, results, shrunk: None };
    let html = reports::render_run(&run);
    std::fs::write(&out, &html)?;
    println!("{}: {} bytes, verdict {}", out.display(), html.len(), run.results.verdict());
    Ok(())
}
