//! Disk faults against real raft-node clusters: power loss through the harness's lazyfs, and
//! corrupted data files.
//!
//! - The correct node loses no acknowledged write when every node loses power at once, again and
//!   again, under a write-heavy load.
//! - The planted `fsync-lag` bug (WAL fsynced every second, writes acknowledged before) is found
//!   within three short matrix runs of its power-loss scenario.
//! - `corrupt` on one node of three: the cluster stays valid, and a node that refuses to start names
//!   the damaged file (never a silent divergence).
//! - Ctrl-C and `faultline cleanup` leave no mount behind.
//!
//! Power loss mounts each data directory through FUSE: it needs root and /dev/fuse. Without them the
//! tests that cut power skip with the reason, and fail with it under `CI=true`.

mod common;

use common::{MatrixRow, capability, matrix_row, node_bin, processes_mentioning, raft_run, read_json, run_schedule};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use workloads::{Damage, Fault, NemesisSpec, ScheduledFault, Target, WorkloadOptions};

/// One cluster at a time: runs compete for the two cores otherwise.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn can_cut_power() -> bool {
    capability(harness::lazyfs::unavailable().map(|r| format!("power loss cannot be tested: {r}")))
}

const SECOND: u64 = 1_000_000_000;

/// A 3-node register run with the given schedule (each fault held 600 ms, then healed).
fn run(store: &Path, seconds: u64, faults: Vec<(u64, Fault)>, seed: u64) -> harness::run::RunSummary {
    let mut c = raft_run(store, 3, seconds, seed);
    c.workload_options =
        WorkloadOptions { read_weight: 1, write_weight: 3, cas_weight: 1, ..Default::default() };
    let kinds: Vec<_> = faults
        .iter()
        .map(|(_, f)| match f {
            Fault::PowerLoss { .. } => workloads::FaultKind::PowerLoss,
            _ => workloads::FaultKind::Corrupt,
        })
        .collect();
    c.nemesis = NemesisSpec { kinds, interval: SECOND, message_types: Vec::new(), composed: false };
    c.concurrency = 8;
    let mut schedule = Vec::new();
    for (at_ms, fault) in faults {
        schedule.push(ScheduledFault::at(at_ms * 1_000_000, fault));
        schedule.push(ScheduledFault::at((at_ms + 600) * 1_000_000, Fault::Heal));
    }
    schedule.push(ScheduledFault::at(seconds * SECOND, Fault::Heal));
    run_schedule(c, schedule)
}

/// The nemesis `info` values of the run for fault `f`.
fn executed(summary: &harness::run::RunSummary, f: &str) -> Vec<serde_json::Value> {
    let test = read_json(&summary.dir.path().join("test.json"));
    test["outcome"]["executed"]
        .as_array()
        .expect("executed faults recorded")
        .iter()
        .filter(|e| e["f"] == f)
        .map(|e| e["value"].clone())
        .collect()
}

fn assert_nothing_left(store: &Path) {
    let s = store.display().to_string();
    let mounts: Vec<_> = harness::lazyfs::mounts().into_iter().filter(|m| m.starts_with(store)).collect();
    assert!(mounts.is_empty(), "lazyfs mounts left behind: {mounts:?}");
    let leftovers = processes_mentioning(&s);
    assert!(leftovers.is_empty(), "node processes left behind: {leftovers:?}");
}

#[test]
fn power_loss_of_every_node_under_writes_loses_no_acknowledged_write() {
    if !can_cut_power() {
        return;
    }
    let _one = serial();
    let store = tempfile::tempdir().unwrap();
    let all = || Fault::PowerLoss { target: Target::All };
    let summary = run(store.path(), 10, vec![(2000, all()), (5000, all()), (8000, all())], 16);
    let results = summary.results.as_ref().expect("the run was checked");
    let durability = results.durability.as_ref().expect("durability checked");
    assert!(durability.acknowledged_writes > 100, "hardly any write: {durability:?}");
    assert!(durability.lost.is_empty(), "acknowledged writes lost: {:?}", durability.lost);
    assert_eq!(results.verdict, checker::Verdict::Valid, "{}", summary.dir.path().display());
    let cuts = executed(&summary, "power-loss");
    assert_eq!(cuts.len(), 3, "{cuts:?}");
    for cut in &cuts {
        assert_eq!(cut["nodes"].as_array().map(Vec::len), Some(3), "every node loses power: {cut}");
    }
    assert_nothing_left(store.path());
    // The data directories are back in the store after the unmount.
    assert!(summary.dir.path().join("nodes/n1/data/hardstate").is_file());
}

#[test]
fn fsync_lag_is_found_under_power_loss_within_three_short_runs() {
    if !can_cut_power() {
        return;
    }
    let _one = serial();
    let store = tempfile::tempdir().unwrap();
    let MatrixRow { row, output, .. } = matrix_row("fsync-lag", "3", "12s", store.path());
    println!("{output}");
    let runs = row["runs"].as_array().expect("runs is a list");
    let found = runs.iter().filter(|r| r["verdict"] == "invalid").count();
    assert!(found >= 1, "fsync-lag went undetected in {} runs: {row:#}", runs.len());
    assert_nothing_left(store.path());
}

#[test]
fn corrupting_one_node_of_three_never_diverges_silently() {
    let _one = serial();
    for (k, damage) in Damage::ALL.into_iter().enumerate() {
        let store = tempfile::tempdir().unwrap();
        let summary =
            run(store.path(), 7, vec![(2500, Fault::Corrupt { target: Target::One, damage })], 30 + k as u64);
        let results = summary.results.as_ref().expect("the run was checked");
        let done = executed(&summary, "corrupt");
        assert_eq!(done.len(), 1, "{done:?}");
        let node = &done[0]["nodes"][0];
        let name = node["node"].as_str().expect("a node was corrupted");
        let file = node["corrupted"]["file"].as_str().expect("the file is recorded");
        let offset = node["corrupted"]["offset"].as_u64().expect("the offset is recorded");
        let bytes = node["corrupted"]["bytes"].as_u64().expect("the length is recorded");
        let path = summary.dir.path().join("nodes").join(name).join("data").join(file);
        // A refusal to start names the damaged file and a byte at or before the end of the damage.
        let stderr =
            std::fs::read_to_string(summary.dir.path().join("nodes").join(name).join("stderr.log")).unwrap();
        if let Some(line) = stderr.lines().find(|l| l.contains("raft-node: error:")) {
            assert!(
                line.contains(&path.display().to_string()),
                "{damage:?}: refusal names another file: {line}"
            );
            let at: u64 = line
                .split("corrupt record at byte ")
                .nth(1)
                .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{damage:?}: refusal without a byte offset: {line}"));
            assert!(
                at <= offset + bytes,
                "{damage:?}: refusal at byte {at}, damage at {offset}+{bytes}: {line}"
            );
            println!("{damage:?}: {name} refused to start: {line}");
        } else {
            println!("{damage:?}: {name} recovered from damage to {file} at byte {offset}");
        }
        assert_eq!(
            results.verdict,
            checker::Verdict::Valid,
            "{damage:?} on {name}'s {file} at byte {offset}: {}",
            summary.dir.path().display()
        );
        assert_nothing_left(store.path());
    }
}

/// Starts `faultline run` with power loss in a fresh state directory and waits until its mounts exist.
fn start_power_loss_run(store: &Path, state: &Path) -> std::process::Child {
    let child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["run", "--nodes", "3", "--time-limit", "60s", "--nemesis", "power-loss", "--seed", "3"])
        .args(["--nemesis-interval", "1s", "--node-bin"])
        .arg(node_bin())
        .arg("--store")
        .arg(store)
        .env("FAULTLINE_STATE_DIR", state)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting faultline run");
    let deadline = Instant::now() + Duration::from_secs(60);
    while harness::lazyfs::mounts().iter().filter(|m| m.starts_with(store)).count() < 3 {
        assert!(Instant::now() < deadline, "the run never mounted its three data directories");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let the power go out at least once.
    std::thread::sleep(Duration::from_secs(3));
    child
}

#[test]
fn ctrl_c_and_cleanup_unmount_every_data_directory() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    if !can_cut_power() {
        return;
    }
    let _one = serial();
    for signal in [Signal::SIGINT, Signal::SIGKILL] {
        let store = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let mut child = start_power_loss_run(store.path(), state.path());
        kill(Pid::from_raw(child.id() as i32), signal).unwrap();
        let status = child.wait().unwrap();
        if signal == Signal::SIGKILL {
            // The harness died with its mounts: `faultline cleanup` removes them and the nodes.
            assert!(harness::lazyfs::mounts().iter().any(|m| m.starts_with(store.path())));
            let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
                .arg("cleanup")
                .env("FAULTLINE_STATE_DIR", state.path())
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        } else {
            assert_eq!(status.code(), Some(3), "Ctrl-C ends a run as a harness error (interrupted)");
        }
        assert_nothing_left(store.path());
        assert_eq!(
            std::fs::read_dir(state.path()).unwrap().count(),
            0,
            "state file left behind after {signal}"
        );
    }
}
