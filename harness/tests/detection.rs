//! Detection power as a CI property: every planted bug of raft-node must be found within a bounded
//! number of short runs of `faultline matrix --until-detected`, and the correct node must come out
//! valid under the same kinds of faults. A change that blinds the checker, the nemesis or the workload
//! to one of the bugs fails this test.
//!
//! `commit-old-term` and `forget-vote` are reached by scenarios that drop one kind of Raft message on
//! chosen links through the harness's proxy (AppendEntries into the voter that must not learn the
//! winner, or everywhere but the one link that carries a single old-term entry), so they need the
//! proxy on every peer link; the matrix asks for it (see `harness/src/matrix.rs` for the scenarios).

//! Each test is one matrix row run through the real `faultline` binary against real raft-node
//! processes (netns as root with iptables, loopback otherwise). The row's `matrix.json` is read back,
//! so a failure names the runs and the directories to look at.
//!
//! raft-node is built on first use with the same cargo and target directory as this test, as the other
//! real-process tests do.

mod common;

use common::{MatrixRow, matrix_row};

/// Short runs: enough fault cycles for each scenario, short enough for CI in debug mode.
const TIME_LIMIT: &str = "12s";
/// Runs a bug gets before the test gives up on it.
const MAX_RUNS: &str = "3";

/// One cluster at a time: the rows would otherwise compete for the CPU and time out each other.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs one matrix row; returns the row from matrix.json.
fn row(bug: &str, runs: &str) -> serde_json::Value {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let store = tempfile::tempdir().expect("temporary store");
    let MatrixRow { row, output, code } = matrix_row(bug, runs, TIME_LIMIT, store.path());
    println!("{output}");
    // Keep the store only when the row failed, for a look at the runs.
    if code != Some(0) {
        let kept = store.keep();
        println!("runs kept in {}", kept.display());
    }
    row
}

fn assert_detected(bug: &str) {
    let row = row(bug, MAX_RUNS);
    let runs = row["runs"].as_array().expect("runs is a list");
    let detected = runs.iter().filter(|r| r["verdict"] == "invalid").count();
    assert!(detected >= 1, "{bug} went undetected in {} runs of {TIME_LIMIT}: {row:#}", runs.len());
    let classes = runs.iter().flat_map(|r| r["classes"].as_array().cloned().unwrap_or_default()).count();
    assert!(classes >= 1, "{bug}: detected without an anomaly class: {row:#}");
}

#[test]
fn stale_read_is_detected() {
    assert_detected("stale-read");
}

#[test]
fn commit_old_term_is_detected() {
    assert_detected("commit-old-term");
}

#[test]
fn no_conflict_check_is_detected() {
    assert_detected("no-conflict-check");
}

#[test]
fn forget_vote_is_detected() {
    assert_detected("forget-vote");
}

#[test]
fn early_ack_is_detected() {
    assert_detected("early-ack");
}

#[test]
fn lazy_persist_is_detected() {
    assert_detected("lazy-persist");
}

/// The correct row's run k replays bug scenario k's faults and node flags: the first four cover the
/// non-default flags (`--no-check-quorum`, `--max-entries-per-append 1`, `--no-pre-vote`), the
/// partition-then-kill cycle and both message-dropping choreographies. `faultline matrix --bugs none
/// --runs 6` covers all six.
#[test]
fn the_correct_node_is_valid_under_the_scenarios_faults_and_flags() {
    let row = row("none", "4");
    let runs = row["runs"].as_array().expect("runs is a list");
    assert_eq!(runs.len(), 4);
    for run in runs {
        assert_eq!(run["verdict"], "valid", "false alarm on the correct node: {row:#}");
        assert!(run["error"].is_null(), "{row:#}");
    }
}
