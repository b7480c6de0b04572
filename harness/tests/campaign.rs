//! Real-process tests of `faultline report` and `faultline campaign` on short loopback runs.
//!
//! - every `faultline run` leaves a `report.html` that carries the run's verdict and data, and
//!   `faultline report` re-renders it (also to `--out`), refusing a broken run directory with the
//!   file and line that are wrong;
//! - `examples/campaigns/smoke.toml` (two ~4 s runs) writes `index.html` and `summary.json` with
//!   working links to the runs' reports and the documented exit code, and a second campaign of the
//!   same name compares itself with the first; a bad campaign file is refused before anything runs.
//!
//! raft-node is built on first use with the same cargo and target directory as this test, as in
//! `cluster_runs.rs`.

mod common;

use common::{node_bin, read_json, workspace};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("running faultline")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_run_writes_a_report_with_its_verdict_and_data_and_report_rerenders_it() {
    let store = tempfile::tempdir().unwrap();
    let s = store.path().to_str().unwrap();
    let bin = node_bin().to_str().unwrap();
    let run = faultline(&[
        "run",
        "--nodes",
        "3",
        "--time-limit",
        "4s",
        "--nemesis",
        "kill",
        "--nemesis-interval",
        "1s",
        "--concurrency",
        "4",
        "--seed",
        "4242",
        "--net",
        "loopback",
        "--recover-timeout",
        "15s",
        "--store",
        s,
        "--node-bin",
        bin,
    ]);
    let dir = std::fs::canonicalize(store.path().join("latest")).unwrap();
    let report = dir.join("report.html");
    assert!(text(&run).contains("report: "), "the run does not print its report path:\n{}", text(&run));
    let results = read_json(&dir.join("results.json"));
    let verdict = results["verdict"].as_str().unwrap().to_owned();
    let html = read(&report);
    assert!(html.contains(&format!("data-verdict=\"{verdict}\"")), "verdict {verdict} not in the report");
    assert!(html.contains("seed <b>4242</b>"), "seed not in the report");
    assert!(html.contains(results["test"].as_str().unwrap()), "test name not in the report");
    let ok = results["counts"]["ok"].as_u64().unwrap();
    assert!(ok > 0, "no operation succeeded:\n{}", text(&run));
    assert!(
        html.contains(&format!("<b>{}</b><span>ok</span>", reports::run::thousands(ok as usize))),
        "ok count {ok} not in the report"
    );

    // Re-rendered from the stored files, to another file: the same verdict and data.
    let out = store.path().join("again.html");
    let again = faultline(&["report", dir.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(String::from_utf8_lossy(&again.stdout).contains(out.to_str().unwrap()), "{}", text(&again));
    let rerendered = read(&out);
    assert!(rerendered.contains(&format!("data-verdict=\"{verdict}\"")));
    assert!(rerendered.contains("seed <b>4242</b>"));

    // A broken run directory: the error names the file and the line.
    let broken = store.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    for f in ["test.json", "results.json", "status.jsonl"] {
        std::fs::copy(dir.join(f), broken.join(f)).unwrap();
    }
    let history = read(&dir.join("history.jsonl"));
    // Line 2 is cut short; line 3 is whole, so this is not a torn tail a crash could leave.
    let mut lines: Vec<&str> = history.lines().take(2).collect();
    lines.insert(1, "{\"process\": 1, \"type\": \"ok\", \"f\": ");
    std::fs::write(broken.join("history.jsonl"), lines.join("\n") + "\n").unwrap();
    let e = faultline(&["report", broken.to_str().unwrap()]);
    assert_eq!(e.status.code(), Some(3), "{}", text(&e));
    let stderr = String::from_utf8_lossy(&e.stderr);
    assert!(stderr.contains("history.jsonl:2"), "file and line not named: {stderr}");
    assert!(!broken.join("report.html").exists(), "a report was written for a broken run");

    std::fs::write(broken.join("results.json"), "{\n  \"verdict\": \"valid\",\n  \"counts\": [\n").unwrap();
    let e = faultline(&["report", broken.to_str().unwrap()]);
    assert_eq!(e.status.code(), Some(3), "{}", text(&e));
    let stderr = String::from_utf8_lossy(&e.stderr);
    assert!(stderr.contains("results.json") && stderr.contains("line"), "file and line not named: {stderr}");
}

#[test]
fn campaign_writes_index_and_summary_and_compares_with_the_previous_campaign() {
    let store = tempfile::tempdir().unwrap();
    let s = store.path().to_str().unwrap();
    let file = workspace().join("examples/campaigns/smoke.toml");
    let args = ["campaign", file.to_str().unwrap(), "--store", s, "--node-bin", node_bin().to_str().unwrap()];

    let first = faultline(&args);
    let campaigns = store.path().join("campaigns/smoke");
    let dirs = || -> Vec<PathBuf> {
        let mut d: Vec<PathBuf> = std::fs::read_dir(&campaigns).unwrap().map(|e| e.unwrap().path()).collect();
        d.sort();
        d
    };
    let first_dirs = dirs();
    assert_eq!(first_dirs.len(), 1, "{}", text(&first));
    let first_dir = &first_dirs[0];
    let summary = read_json(&first_dir.join("summary.json"));
    let runs = summary["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{}", text(&first));
    let outcomes: Vec<&str> = runs.iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    // The documented exit code, from the runs' outcomes (the correct node is expected to be valid).
    let expected = if outcomes.contains(&"invalid") {
        1
    } else if outcomes.contains(&"harness-error") {
        3
    } else if outcomes.contains(&"unknown") {
        2
    } else {
        0
    };
    assert_eq!(first.status.code(), Some(expected), "{}", text(&first));
    assert_eq!(outcomes, ["valid", "valid"], "{}", text(&first));
    let index = read(&first_dir.join("index.html"));
    for r in runs {
        let link = r["report"].as_str().unwrap();
        assert!(first_dir.join(link).is_file(), "report link {link} does not resolve from the index");
        assert!(index.contains(link), "index does not link {link}");
        assert!(r["ops"].as_u64().unwrap() > 0, "run without operations: {r}");
    }
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(stdout.contains("nothing to compare with"), "{}", text(&first));

    let second = faultline(&args);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    let all = dirs();
    assert_eq!(all.len(), 2, "{}", text(&second));
    let first_leaf = first_dir.file_name().unwrap().to_str().unwrap();
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(stdout.contains(&format!("compared with {first_leaf}")), "{}", text(&second));
    let index2 = read(&all[1].join("index.html"));
    assert!(index2.contains(&format!("../{first_leaf}/index.html")), "second index does not link the first");

    // A bad file is refused before anything runs, naming file, line and field.
    let bad = store.path().join("bad.toml");
    std::fs::write(&bad, "name = \"smoke\"\n[[matrix]]\nnodes = [3, 99]\n").unwrap();
    let e = faultline(&["campaign", bad.to_str().unwrap(), "--store", s]);
    assert_eq!(e.status.code(), Some(3), "{}", text(&e));
    let stderr = String::from_utf8_lossy(&e.stderr);
    assert!(stderr.contains("bad.toml:3: matrix[0].nodes"), "{stderr}");
    assert_eq!(dirs().len(), 2, "a refused campaign left a directory");
}

/// What identifies a campaign row regardless of where and when it ran.
fn row_keys(summary: &serde_json::Value) -> Vec<(String, String, u64, String)> {
    let mut keys: Vec<(String, String, u64, String)> = summary["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| {
            (
                r["test_name"].as_str().unwrap_or_default().to_string(),
                r["nemeses"].to_string(),
                r["seed"].as_u64().unwrap_or_default(),
                r["outcome"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    keys.sort();
    keys
}

#[test]
fn a_campaign_run_as_three_shards_and_merged_equals_the_campaign_run_whole() {
    let store = tempfile::tempdir().unwrap();
    let s = store.path().to_str().unwrap();
    let file = workspace().join("examples/campaigns/smoke.toml");
    let file = file.to_str().unwrap();
    let bin = node_bin().to_str().unwrap();

    // The plan: stable ids, the same from any store.
    let plan = faultline(&["campaign", "plan", file, "--node-bin", bin]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let again = faultline(&["campaign", "plan", file, "--store", "/elsewhere", "--node-bin", bin]);
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    let ids = |p: &serde_json::Value| -> Vec<String> {
        p["runs"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(&plan).len(), 2);
    assert_eq!(ids(&plan), ids(&again));

    let whole = faultline(&["campaign", file, "--store", s, "--node-bin", bin]);
    let whole_dir = std::fs::read_dir(store.path().join("campaigns/smoke"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| !p.ends_with("shards"))
        .expect("the whole campaign's directory");
    let whole_summary = read_json(&whole_dir.join("summary.json"));

    // Three shards in three processes, the index from the environment as Kubernetes sets it.
    for i in 0..3 {
        let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["campaign", file, "--store", s, "--node-bin", bin, "--shard", "3", "--id", "night1"])
            .env("JOB_COMPLETION_INDEX", i.to_string())
            .output()
            .unwrap();
        assert!(matches!(out.status.code(), Some(0..=2)), "shard {i}: {}", text(&out));
    }
    let shard_dir = store.path().join("campaigns/smoke/shards/night1");
    let rows = std::fs::read_dir(shard_dir.join("rows")).unwrap().count();
    assert_eq!(rows, 2, "every run has one row");

    // A retried shard redoes nothing that has results.
    for i in 0..3 {
        let shard = format!("{i}/3");
        let retry = faultline(&[
            "campaign",
            file,
            "--store",
            s,
            "--node-bin",
            bin,
            "--shard",
            &shard,
            "--id",
            "night1",
        ]);
        let retry_text = text(&retry);
        assert!(!retry_text.contains("run directory"), "a finished run was run again: {retry_text}");
    }

    let merged = faultline(&["campaign", "merge", shard_dir.to_str().unwrap()]);
    assert_eq!(merged.status.code(), whole.status.code(), "{}\n{}", text(&merged), text(&whole));
    let merged_dir = std::fs::read_dir(store.path().join("campaigns/smoke"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| !p.ends_with("shards") && *p != whole_dir)
        .expect("the merged campaign's directory");
    let merged_summary = read_json(&merged_dir.join("summary.json"));
    assert_eq!(row_keys(&merged_summary), row_keys(&whole_summary));
    assert!(merged_dir.join("index.html").is_file());
    // Merged like an unsharded campaign: compared with the whole one before it.
    assert!(String::from_utf8_lossy(&merged.stdout).contains("compared with"), "{}", text(&merged));
}
