//! Real-process tests of `faultline run --system maelstrom`: Maelstrom nodes on the harness's message
//! network, with `examples/maelstrom/lin_kv.py` (Python 3, stdlib only) as the node.
//!
//! 1. The correct replicated node stays valid under a schedule that uses every fault the message
//!    network has: dropping one body type, duplicating and reordering messages, a partition, kill -9
//!    of every node (the primary recovers from its log file; `init` is sent again) and a pause; the
//!    network's counters prove each message fault acted, and the lines the node printed that were not
//!    messages are counted in the results.
//! 2. With `--bug stale-reads` (backups answer reads from their own lagging copy) the run is invalid.
//! 3. A drawn schedule through the command line exits 0 and prints a reproduce command that names
//!    the node command.
//! 4. A node that never answers `init` is an error naming it, with the end of its stderr (exit 3).
//!
//! Each skips with the reason when python3 is missing, and fails instead under `CI=true`.

mod common;

use common::{capability, processes_mentioning, read_json, workspace};
use harness::config::RunConfig;
use harness::run::run_with_schedule;
use harness::system::System;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use workloads::{Fault, FaultKind, NemesisSpec, ScheduledFault, Target, Topology, Workload};

fn python() -> Option<PathBuf> {
    let found = harness::system::find_on_path("python3");
    let missing =
        found.is_none().then(|| "python3 is not installed (apt-get install -y python3)".to_string());
    if capability(missing) { found } else { None }
}

fn node_script() -> PathBuf {
    workspace().join("examples/maelstrom/lin_kv.py")
}

/// A 3-node lin-kv run of the example node with `flags`; the store path is passed as an ignored
/// argument so leftover processes can be found by it.
fn config(python: &Path, flags: &[&str], store: &Path, limit: Duration, seed: u64) -> RunConfig {
    let mut c = RunConfig::new(System::Maelstrom);
    c.nodes = 3;
    c.time_limit = limit;
    c.workload = Workload::Register;
    c.concurrency = 6;
    c.seed = seed;
    c.node_bin = python.to_path_buf();
    c.node_args = std::iter::once(node_script().display().to_string())
        .chain(flags.iter().map(|f| f.to_string()))
        .chain(["--run".to_string(), store.display().to_string()])
        .collect();
    c.store = store.to_path_buf();
    c.recover_timeout = Duration::from_secs(10);
    c.progress = false;
    c
}

fn at(secs: f64, fault: Fault) -> ScheduledFault {
    ScheduledFault { at: Duration::from_secs_f64(secs).as_nanos() as u64, fault }
}

/// Every fault the message network has, one after another, each healed before the next.
fn every_fault(limit: Duration) -> Vec<ScheduledFault> {
    vec![
        at(0.5, Fault::DropType { topology: Topology::IsolateOne, body_type: "replicate".into() }),
        at(1.5, Fault::Heal),
        at(2.0, Fault::Duplicate { topology: Topology::AllLinks, probability: 1.0 }),
        at(3.0, Fault::Heal),
        at(3.2, Fault::Reorder { topology: Topology::AllLinks, window_ms: 50 }),
        at(4.2, Fault::Heal),
        at(4.4, Fault::Partition { topology: Topology::RandomHalves }),
        at(5.4, Fault::Heal),
        at(5.6, Fault::Kill { target: Target::All }),
        at(6.2, Fault::Heal),
        at(6.8, Fault::Pause { target: Target::One }),
        at(7.6, Fault::Heal),
        ScheduledFault { at: limit.as_nanos() as u64, fault: Fault::Heal },
    ]
}

fn nemesis_kinds() -> NemesisSpec {
    NemesisSpec {
        kinds: vec![
            FaultKind::Drop,
            FaultKind::Duplicate,
            FaultKind::Reorder,
            FaultKind::Partition,
            FaultKind::Kill,
            FaultKind::Pause,
        ],
        interval: 1_000_000_000,
        message_types: vec!["replicate".into()],
    }
}

#[test]
fn the_replicated_node_is_valid_under_message_faults_partitions_kills_and_pauses() {
    let Some(python) = python() else { return };
    let store = tempfile::tempdir().unwrap();
    let limit = Duration::from_secs(8);
    let mut c = config(&python, &["--noisy"], store.path(), limit, 11);
    c.nemesis = nemesis_kinds();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let summary = runtime.block_on(run_with_schedule(c, Some(every_fault(limit)))).unwrap();
    let results = summary.results.expect("the run was checked");
    let leftovers = processes_mentioning(&store.path().display().to_string());
    assert!(leftovers.is_empty(), "node processes left behind: {leftovers:?}");
    assert_eq!(results.verdict, checker::Verdict::Valid, "{}", harness::analysis::summary(&results));
    assert!(results.counts.ok > 200, "hardly any operation succeeded: {:?}", results.counts);

    // Each message fault acted on messages.
    let net = read_json(&summary.dir.network());
    let replicate = &net["by_type"]["replicate"];
    assert!(replicate["dropped"].as_u64().unwrap() > 0, "no replicate was dropped: {net}");
    assert!(replicate["duplicated"].as_u64().unwrap() > 0, "nothing duplicated: {net}");
    assert!(replicate["delayed"].as_u64().unwrap() > 0, "nothing reordered: {net}");
    // Duplicate and reorder act on the named body types only.
    let forward = &net["by_type"]["forward"];
    assert!(forward["sent"].as_u64().unwrap() > 0, "{net}");
    assert_eq!((forward["duplicated"].as_u64(), forward["delayed"].as_u64()), (Some(0), Some(0)), "{net}");
    // Every node was killed and restarted: 3 + 3 inits, each answered, each greeted by a stray line.
    assert_eq!(net["inits"], 6, "{net}");
    assert_eq!(net["init_oks"], 6, "{net}");
    let stray = results.stray_output.as_ref().expect("stray output is counted for Maelstrom runs");
    assert_eq!(stray.lines, 6, "{stray:?}");
    assert_eq!(stray.first[0].text, format!("{} is up", stray.first[0].node));
    let kept =
        std::fs::read_to_string(summary.dir.node_file("n1", harness::store::NodeFile::Stdout)).unwrap();
    assert_eq!(kept, "n1 is up\nn1 is up\n");
    // The primary's log survived its kill -9 in its directory of the run.
    assert!(summary.dir.node_dir("n1").join("lin_kv.log").is_file());
    assert!(summary.dir.report().is_file(), "no report.html");
    let test = read_json(&summary.dir.test_json());
    assert_eq!(test["system"], "maelstrom");
    assert_eq!(test["net"], "stdio");
    assert_eq!(test["message_types"], serde_json::json!(["replicate"]));
}

#[test]
fn stale_reads_from_backups_are_found_invalid() {
    let Some(python) = python() else { return };
    let store = tempfile::tempdir().unwrap();
    let limit = Duration::from_secs(6);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut verdicts = Vec::new();
    for seed in 1..=3u64 {
        let mut c = config(&python, &["--bug", "stale-reads"], store.path(), limit, seed);
        c.nemesis = nemesis_kinds();
        let summary = runtime.block_on(run_with_schedule(c, Some(every_fault(limit)))).unwrap();
        let results = summary.results.expect("the run was checked");
        verdicts.push(results.verdict);
        if results.verdict == checker::Verdict::Invalid {
            assert!(
                results.linearizability.iter().any(|l| l.verdict == checker::Verdict::Invalid),
                "invalid for another reason than a stale read: {}",
                harness::analysis::summary(&results)
            );
            return;
        }
    }
    panic!("stale reads were never found in 3 runs: {verdicts:?}");
}

fn faultline(args: &[&str], store: &Path) -> std::process::Output {
    let state = tempfile::tempdir().expect("a temporary state directory");
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .arg("--store")
        .arg(store)
        .env("FAULTLINE_STATE_DIR", state.path())
        .output()
        .expect("running faultline");
    let left = std::fs::read_dir(state.path()).expect("the state directory is readable").count();
    assert_eq!(left, 0, "state file left behind");
    out
}

#[test]
fn a_drawn_schedule_from_the_command_line_is_valid_and_reproducible() {
    let Some(python) = python() else { return };
    let store = tempfile::tempdir().unwrap();
    let node_cmd =
        format!("{} {} --run {}", python.display(), node_script().display(), store.path().display());
    let out = faultline(
        &[
            "run",
            "--system",
            "maelstrom",
            "--node-cmd",
            &node_cmd,
            "--nodes",
            "3",
            "--time-limit",
            "6s",
            "--nemesis",
            "partition,kill,drop,duplicate,reorder",
            "--nemesis-interval",
            "1s",
            "--message-types",
            "replicate,replicate_ok,forward",
            "--concurrency",
            "6",
            "--seed",
            "5",
        ],
        store.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("reproduce with: faultline run --system maelstrom"), "{stdout}");
    assert!(stdout.contains("--node-cmd ") && stdout.contains("lin_kv.py"), "{stdout}");
    let leftovers = processes_mentioning(&store.path().display().to_string());
    assert!(leftovers.is_empty(), "node processes left behind: {leftovers:?}");
}

#[test]
fn a_node_that_never_answers_init_is_named_with_its_stderr() {
    let store = tempfile::tempdir().unwrap();
    let marker = format!("never-init-{}", std::process::id());
    let node_cmd = format!("sh -c 'echo booting {marker} >&2; sleep 30'");
    let out = faultline(
        &["run", "--system", "maelstrom", "--node-cmd", &node_cmd, "--nodes", "2", "--recover-timeout", "2s"],
        store.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("node n1 was not ready") && stderr.contains("never answered init"), "{stderr}");
    assert!(stderr.contains(&format!("| booting {marker}")), "no stderr tail: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let leftovers = processes_mentioning(&marker);
    assert!(leftovers.is_empty(), "node processes left behind: {leftovers:?}");
}
