//! Real-process tests: `faultline run` against real raft-node clusters, on both backends.
//!
//! Each test runs a short 5-node test with partitions, kills and pauses against the correct raft-node,
//! expects a valid verdict, and then checks that everything the run created is gone: its namespaces,
//! bridge and veths (netns), its state file, and every process whose command line names the run's
//! store. The loopback test runs as the unprivileged `nobody` user when we are root (via `setpriv`),
//! to prove that backend needs no privileges.
//!
//! The raft-node binary is built on first use with the same cargo and target directory as this test
//! (`cargo build -p node --bin raft-node`), so the tests work under `cargo test --workspace` on a
//! clean clone.

mod common;

use common::{capability, node_bin, processes_mentioning, read_json};
use std::path::{Path, PathBuf};
use std::process::Command;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// The newest run directory under `store`.
fn latest_run(store: &Path) -> PathBuf {
    std::fs::canonicalize(store.join("latest")).expect("the run points store/latest at its directory")
}

/// The common arguments of the short chaos run both backends get.
fn chaos_args(store: &Path, net: &str) -> Vec<String> {
    [
        "run",
        "--nodes",
        "5",
        "--time-limit",
        "12s",
        "--nemesis",
        "partition,kill,pause",
        "--nemesis-interval",
        "2s",
        "--concurrency",
        "10",
        "--seed",
        "20261122",
        "--net",
        net,
        "--recover-timeout",
        "20s",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(["--store".to_string(), store.display().to_string()])
    .chain(["--node-bin".to_string(), node_bin().display().to_string()])
    .collect()
}

/// Asserts the run came out valid and that every kind of fault was executed.
fn assert_valid_run(run: &Path, output: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let results = read_json(&run.join("results.json"));
    assert_eq!(results["verdict"], "valid", "run {} not valid:\n{stdout}\n{stderr}", run.display());
    assert_eq!(output.status.code(), Some(0), "exit code; stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("reproduce with: faultline run"), "no reproduce command printed:\n{stdout}");
    let test = read_json(&run.join("test.json"));
    let executed: Vec<String> = test["outcome"]["executed"]
        .as_array()
        .expect("executed faults recorded")
        .iter()
        .map(|f| f["f"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(executed.iter().any(|f| f == "heal"), "no heal executed: {executed:?}");
    assert!(executed.len() >= 4, "too few faults executed in 12 s at 2 s intervals: {executed:?}");
    assert!(results["counts"]["ok"].as_u64().unwrap_or(0) > 50, "hardly any operation succeeded: {results}");
    for f in ["history.jsonl", "status.jsonl", "report.html", "nodes/n1/stderr.log", "nodes/n5/log.json"] {
        assert!(run.join(f).is_file(), "{f} missing from the store");
    }
}

#[test]
fn netns_chaos_run_is_valid_and_leaves_nothing_behind() {
    let missing = if !is_root() {
        Some("the netns backend needs root".to_string())
    } else {
        ["ip", "iptables"]
            .into_iter()
            .find(|program| !on_path(program))
            .map(|program| format!("`{program}` is not installed (the netns backend needs it)"))
    };
    if !capability(missing) {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(chaos_args(store.path(), "netns"))
        .env("FAULTLINE_STATE_DIR", state.path())
        .output()
        .unwrap();
    let run = latest_run(store.path());
    let test = read_json(&run.join("test.json"));
    let namespaces: Vec<String> = test["outcome"]["cluster"]
        .as_array()
        .expect("cluster recorded in test.json")
        .iter()
        .map(|n| n["netns"].as_str().expect("netns nodes name their namespace").to_string())
        .collect();
    assert_eq!(namespaces.len(), 5);

    // Nothing left: namespaces, this run's links, the state file, processes.
    let netns = String::from_utf8_lossy(&Command::new("ip").args(["netns", "list"]).output().unwrap().stdout)
        .to_string();
    for ns in &namespaces {
        assert!(!netns.contains(ns.as_str()), "namespace {ns} left behind");
    }
    let rid = namespaces[0].trim_start_matches("fl-").split('-').next().unwrap().to_string();
    let links = String::from_utf8_lossy(&Command::new("ip").args(["-o", "link"]).output().unwrap().stdout)
        .to_string();
    assert!(!links.contains(&format!("flb{rid}")), "bridge left behind");
    assert!(!links.contains(&format!("flv{rid}")), "veth left behind");
    assert_eq!(std::fs::read_dir(state.path()).unwrap().count(), 0, "state file left behind");
    let leftovers = processes_mentioning(&store.path().display().to_string());
    assert!(leftovers.is_empty(), "node processes left behind: {leftovers:?}");

    assert_valid_run(&run, &output);
}

#[test]
fn loopback_chaos_run_is_valid_unprivileged_and_leaves_nothing_behind() {
    let store = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let faultline = env!("CARGO_BIN_EXE_faultline");
    let node = node_bin();
    // As root, drop to `nobody` so the test proves loopback needs no privileges. That needs the
    // binaries reachable by nobody and the temporary directories writable by it.
    let unprivileged = is_root() && on_path("setpriv") && {
        let reachable = |p: &Path| {
            p.ancestors().skip(1).all(|d| {
                use std::os::unix::fs::PermissionsExt;
                std::fs::metadata(d).map(|m| m.permissions().mode() & 0o001 != 0).unwrap_or(false)
            })
        };
        reachable(Path::new(faultline)) && reachable(node)
    };
    let mut cmd = if unprivileged {
        use std::os::unix::fs::PermissionsExt;
        for d in [store.path(), state.path()] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--", faultline]);
        c
    } else {
        // Outside CI the run goes on as root: still a loopback test, without the unprivileged proof.
        if is_root() {
            capability(Some(format!(
                "dropping to nobody (the loopback run goes on as root): `setpriv` is not installed, or {} \
                 or {} sits below a directory nobody cannot enter",
                faultline,
                node.display()
            )));
        }
        Command::new(faultline)
    };
    let output = cmd
        .args(chaos_args(store.path(), "loopback"))
        .env("FAULTLINE_STATE_DIR", state.path())
        .output()
        .unwrap();
    let run = latest_run(store.path());
    assert_eq!(std::fs::read_dir(state.path()).unwrap().count(), 0, "state file left behind");
    let leftovers = processes_mentioning(&store.path().display().to_string());
    assert!(leftovers.is_empty(), "node processes left behind: {leftovers:?}");
    if unprivileged {
        use std::os::unix::fs::MetadataExt;
        let owner = std::fs::metadata(run.join("history.jsonl")).unwrap().uid();
        assert_eq!(owner, 65534, "the run did not run as nobody");
    }
    assert_valid_run(&run, &output);
}

#[test]
fn cleanup_with_nothing_to_do_succeeds() {
    let state = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("cleanup")
        .env("FAULTLINE_STATE_DIR", state.path())
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("cleaned 0 crashed run(s)"));
}
