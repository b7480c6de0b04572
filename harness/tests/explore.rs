//! The explorer's detection power in CI's short form: with raft-node's default flags and no scenario,
//! `faultline explore` finds early-ack (and shrinks its schedule), finds stale-read or
//! no-conflict-check, and never reports the correct node invalid. A change that blinds the composed
//! nemesis, the coverage feedback or the checkers to these bugs fails here.
//!
//! These are detection tests, not benchmarks: each has a generous budget and asserts only that the
//! bug was found within it (the benchmark table is `faultline matrix --generic`, see the README).
//! Sessions have fixed seeds, but real processes are not deterministic, so a session that finds a
//! bug after 40 s on one machine may need longer on another; the budgets leave room for that.

mod common;

use common::node_bin;
use std::process::Command;

/// One cluster at a time: sessions would otherwise compete for the CPU.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `faultline explore` with `args`; returns the exit code, explore.json and the store (removed
/// when dropped, kept on disk when the session did not end as the caller expected).
fn explore(args: &[&str], expect: i32) -> (Option<i32>, serde_json::Value, tempfile::TempDir) {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let store = tempfile::tempdir().expect("temporary store");
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("explore")
        .args(args)
        .args(["--time-limit", "8s", "--recover-timeout", "10s", "--node-bin"])
        .arg(node_bin())
        .arg("--store")
        .arg(store.path())
        .output()
        .expect("running faultline explore");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(store.path().join("explore.json"))
        .unwrap_or_else(|e| panic!("no explore.json ({e}); faultline said:\n{stdout}"));
    let session: serde_json::Value = serde_json::from_str(&text).expect("explore.json is JSON");
    if out.status.code() != Some(expect) {
        println!("store kept in {}", store.path().display());
        let _ = store.keep();
        let none = tempfile::tempdir().expect("temporary directory");
        return (out.status.code(), session, none);
    }
    (out.status.code(), session, store)
}

fn bug(name: &str) -> [String; 2] {
    ["--node-arg=--bug".to_string(), format!("--node-arg={name}")]
}

#[test]
fn the_explorer_finds_early_ack_and_shrinks_its_schedule() {
    let [a, b] = bug("early-ack");
    let (code, session, _store) = explore(
        &[&a, &b, "--budget", "150s", "--seed", "11", "--reproduce", "1/1", "--shrink-budget", "90s"],
        1,
    );
    assert_eq!(code, Some(1), "early-ack not found: {session:#}");
    let failure = &session["failures"][0];
    let shrunk = &failure["shrunk"];
    let faults = shrunk["faults"].as_u64().expect("the failure was shrunk");
    assert!(faults <= shrunk["original_faults"].as_u64().unwrap(), "{shrunk:#}");
    assert!(faults <= 5, "early-ack needs one fault on the leader, not {faults}: {shrunk:#}");
    // The shrunk schedule is stored with the run and shown in its report.
    let dir = std::path::Path::new(failure["dir"].as_str().unwrap());
    assert!(dir.join("shrunk.json").is_file());
    let report = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(report.contains("Shrunk schedule"), "the report does not show the shrunk schedule");
}

/// `faultline shrink` on runs that `faultline run` stored: an invalid one (early-ack, under the
/// composed default) is shrunk, stored with the run and shown in its report; a valid one is refused
/// with exit 3.
#[test]
fn a_stored_invalid_run_is_shrunk_and_a_valid_one_refused() {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let store = tempfile::tempdir().expect("temporary store");
    let faultline = |args: &[&str]| {
        let out =
            Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("running faultline");
        println!("{}", String::from_utf8_lossy(&out.stdout));
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        out
    };
    let node_bin = node_bin();
    let run = |time_limit: &str, extra: &[&str]| {
        let mut args = vec!["run", "--time-limit", time_limit, "--recover-timeout", "10s", "--seed", "11"];
        args.extend_from_slice(extra);
        let (bin, st) = (node_bin.to_str().unwrap(), store.path().to_str().unwrap());
        args.extend_from_slice(&["--node-bin", bin, "--store", st]);
        let out = faultline(&args);
        (out, std::fs::canonicalize(store.path().join("latest")).expect("the run was stored"))
    };
    let (out, invalid) = run("8s", &["--node-arg=--bug", "--node-arg=early-ack"]);
    assert_eq!(out.status.code(), Some(1), "early-ack's run came out valid");
    let out = faultline(&["shrink", invalid.to_str().unwrap(), "--budget", "60s", "--reproduce", "1/2"]);
    assert!(matches!(out.status.code(), Some(0) | Some(1)), "{out:?}");
    let shrunk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(invalid.join("shrunk.json")).expect("shrunk.json"))
            .expect("shrunk.json is JSON");
    assert!(shrunk["faults"].as_u64().unwrap() <= shrunk["original_faults"].as_u64().unwrap(), "{shrunk:#}");
    assert!(shrunk["trials"].as_u64().unwrap() >= 1, "{shrunk:#}");
    let report = std::fs::read_to_string(invalid.join("report.html")).unwrap();
    assert!(report.contains("Shrunk schedule"), "the report does not show the shrunk schedule");

    let (out, valid) = run("3s", &["--nemesis", "kill"]);
    assert_eq!(out.status.code(), Some(0), "the correct node's run came out invalid");
    let out = faultline(&["shrink", valid.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to shrink"), "{out:?}");
}

#[test]
fn the_explorer_finds_stale_read_or_no_conflict_check() {
    let mut found = Vec::new();
    for (name, seed) in [("stale-read", "21"), ("no-conflict-check", "22")] {
        let [a, b] = bug(name);
        let (code, session, _store) =
            explore(&[&a, &b, "--budget", "150s", "--seed", seed, "--no-shrink"], 1);
        assert!(matches!(code, Some(0) | Some(1)), "{name}: harness error {code:?}: {session:#}");
        if code == Some(1) {
            found.push(name);
            break;
        }
    }
    assert!(!found.is_empty(), "neither stale-read nor no-conflict-check was found within 150 s each");
}

#[test]
fn the_correct_node_stays_valid_under_exploration() {
    let (code, session, _store) =
        explore(&["--budget", "100s", "--seed", "31", "--keep-going", "--no-shrink"], 0);
    assert_eq!(code, Some(0), "false alarm on the correct node: {session:#}");
    let runs = session["runs"].as_array().unwrap();
    assert!(runs.len() >= 3, "too few runs to mean anything: {session:#}");
    assert!(runs.iter().all(|r| r["verdict"] == "valid" && r["error"].is_null()), "{session:#}");
    assert!(session["coverage"].as_u64().unwrap() > 10, "{session:#}");
}
