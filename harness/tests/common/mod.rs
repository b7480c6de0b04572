//! What the real-process tests of the harness share: finding (and on first use building) the raft-node
//! binary that sits next to the `faultline` under test.
//!
//! `cargo test --workspace` has already linked raft-node into the same profile directory (the node
//! crate's own integration tests need it), so that binary is used when it is newer than every source it
//! is built from (`node/**`, the workspace manifest and lock file). Otherwise, as under
//! `cargo test -p harness` after an edit to the node, it is built with the same cargo and target
//! directory as the test (`cargo build -p node --bin raft-node`). Building it unconditionally would cost
//! CI minutes: `-p node` unifies features differently from `--workspace`, so it recompiles dependencies.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

/// The profile directory of this test build (where `faultline` was built).
pub fn profile_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_faultline"))
        .parent()
        .expect("faultline lives in a directory")
        .to_path_buf()
}

/// The workspace root.
pub fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("harness is in the workspace")
}

/// Builds raft-node once per test binary; returns its path.
#[allow(dead_code, reason = "the etcd tests need no raft-node")]
pub fn node_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let profile = profile_dir();
        let bin = profile.join("raft-node");
        if let Ok(built) = std::fs::metadata(&bin).and_then(|m| m.modified())
            && newest_source().is_some_and(|newest| newest <= built)
        {
            return bin;
        }
        let target = profile.parent().expect("profile dir has a parent");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace()).env("CARGO_TARGET_DIR", target).args([
            "build",
            "-p",
            "node",
            "--bin",
            "raft-node",
        ]);
        if profile.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("running cargo to build raft-node");
        assert!(status.success(), "building raft-node failed");
        assert!(bin.is_file(), "raft-node not found at {}", bin.display());
        bin
    })
}

/// The newest modification time among raft-node's sources; None when one cannot be read (then the
/// caller builds, which is always correct).
fn newest_source() -> Option<SystemTime> {
    fn walk(path: &Path, newest: &mut SystemTime) -> Option<()> {
        let meta = std::fs::metadata(path).ok()?;
        *newest = (*newest).max(meta.modified().ok()?);
        if meta.is_dir() {
            for entry in std::fs::read_dir(path).ok()? {
                let entry = entry.ok()?;
                // Build outputs and editor droppings never feed the build.
                if entry.file_name().to_string_lossy().starts_with('.') || entry.file_name() == "target" {
                    continue;
                }
                walk(&entry.path(), newest)?;
            }
        }
        Some(())
    }
    let root = workspace();
    let mut newest = SystemTime::UNIX_EPOCH;
    for path in [root.join("node"), root.join("Cargo.toml"), root.join("Cargo.lock")] {
        walk(&path, &mut newest)?;
    }
    Some(newest)
}

/// Running processes whose command line contains `needle`, as `pid: command line` (to prove a test
/// left nothing behind).
#[allow(dead_code, reason = "not every test binary checks for leftovers")]
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                found.push(format!("{}: {cmd}", entry.file_name().to_string_lossy()));
            }
        }
    }
    found
}

/// A JSON file of a run directory; panics naming the file when it is missing or malformed.
#[allow(dead_code, reason = "not every test binary reads run files")]
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Whether a test may go on: `missing` is None when what it needs (root, a program) is here, or the
/// reason it is not. Under CI (`CI=true`) a missing capability fails the test with that reason, since
/// CI installs everything (`.ci/run`) and a skip there would pass while testing nothing. Elsewhere the
/// test prints `skipped: <reason>` and the caller returns (or takes its documented fallback).
#[allow(dead_code, reason = "not every test binary needs a capability")]
#[track_caller]
pub fn capability(missing: Option<String>) -> bool {
    let Some(reason) = missing else { return true };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{reason} (CI=true, where a test may not skip; `.ci/run` installs what the tests need)");
    }
    eprintln!("skipped: {reason}");
    false
}

/// What one `faultline matrix` row printed and stored.
#[allow(dead_code, reason = "only the detection tests run matrix rows")]
pub struct MatrixRow {
    /// The row of `matrix.json` (bug, runs with their verdicts and classes).
    pub row: serde_json::Value,
    /// Its stdout and stderr, for failure messages.
    pub output: String,
    /// Its exit code (0 every row met its target, 1 one did not).
    pub code: Option<i32>,
}

/// Runs `faultline matrix --bugs BUG --runs RUNS --time-limit LIMIT --until-detected` with seed 7
/// and a 10 s recovery timeout (a bug can leave nodes that never elect a leader again; the final
/// reads need not wait 30 s for one) into `store`. Panics, with its output, when it wrote no
/// `matrix.json` or exited with neither 0 nor 1.
#[allow(dead_code, reason = "only the detection tests run matrix rows")]
pub fn matrix_row(bug: &str, runs: &str, time_limit: &str, store: &Path) -> MatrixRow {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["matrix", "--bugs", bug, "--runs", runs, "--time-limit", time_limit, "--until-detected"])
        .args(["--seed", "7", "--recover-timeout", "10s", "--node-bin"])
        .arg(node_bin())
        .arg("--store")
        .arg(store)
        .output()
        .expect("running faultline matrix");
    let output = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    let text = std::fs::read_to_string(store.join("matrix.json"))
        .unwrap_or_else(|e| panic!("no matrix.json ({e}); faultline said:\n{output}"));
    let rows: serde_json::Value = serde_json::from_str(&text).expect("matrix.json is JSON");
    assert!(matches!(code, Some(0) | Some(1)), "faultline matrix failed with {code:?}:\n{output}");
    let row = rows[0].clone();
    assert_eq!(row["bug"], bug, "{output}");
    MatrixRow { row, output, code }
}

/// A raft-node run of `nodes` nodes for `seconds` into `store` with `seed`, on the netns backend as
/// root and loopback otherwise, without a progress line; the caller sets workload and nemesis.
#[allow(dead_code, reason = "only the tests that run given schedules")]
pub fn raft_run(store: &Path, nodes: usize, seconds: u64, seed: u64) -> harness::config::RunConfig {
    let mut c = harness::config::RunConfig::new(harness::system::System::RaftNode);
    c.nodes = nodes;
    c.time_limit = std::time::Duration::from_secs(seconds);
    c.seed = seed;
    c.node_bin = node_bin().to_path_buf();
    c.store = store.to_path_buf();
    c.net = harness::cluster::Backend::auto();
    c.recover_timeout = std::time::Duration::from_secs(20);
    c.progress = false;
    c
}

/// Runs `c` with the given fault schedule to its verdict.
#[allow(dead_code, reason = "only the tests that run given schedules")]
pub fn run_schedule(
    c: harness::config::RunConfig,
    schedule: Vec<workloads::ScheduledFault>,
) -> harness::run::RunSummary {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(harness::run::run_with_schedule(c, Some(schedule))).expect("the run completes")
}
