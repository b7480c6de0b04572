//! Real-process tests of `faultline run --system-file`: systems described in TOML.
//!
//! 1. Bad files are bad input: an unknown key, an unknown placeholder and a wrong type each exit 3
//!    with one line naming the file, the line and the key.
//! 2. A node that never gets ready exits 3 naming it, with the end of its stderr, and leaves no
//!    process behind (a node started through `sh -c` is killed with its helpers).
//! 3. `examples/systems/raft-node.toml` (the http-kv client) is valid under partitions, kills and
//!    pauses on loopback; `test.json` keeps the file's text and `faultline repro` replays it.
//! 4. `examples/systems/raft-node-shim.toml` (a Python shim client) is valid on loopback and on netns
//!    (as root with `ip` and `iptables`), and each shim's stderr is in the run directory.
//! 5. `examples/systems/etcd.toml` gives the verdicts `--system etcd` gives: valid by default, invalid
//!    with serializable reads.
//! 6. README.md shows `raft-node.toml` and `raft_node_shim.py` exactly as tested here.
//!
//! Each skips with the reason when what it needs (python3, root, etcd) is missing, and fails instead
//! under `CI=true`.

mod common;

use common::{capability, node_bin, processes_mentioning, read_json, workspace};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn faultline(args: &[&str], store: &Path) -> Output {
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

fn example(name: &str) -> String {
    workspace().join("examples/systems").join(name).display().to_string()
}

/// Runs faultline on a system file with `text` and returns its exit code and first stderr line.
fn run_file(text: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("my-db.toml");
    std::fs::write(&path, text).expect("writing the system file");
    let out =
        faultline(&["run", "--system-file", &path.display().to_string(), "--net", "loopback"], dir.path());
    let first = String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or_default().to_string();
    (out.status.code(), first)
}

#[test]
fn bad_system_files_exit_3_naming_line_and_key() {
    let cases = [
        // An unknown key.
        (
            "[node]\ncommand = [\"sh\"]\nrestart_policy = \"always\"\n[client]\nkind = \"http-kv\"\n",
            "my-db.toml:3: node.restart_policy: ",
        ),
        // A placeholder that does not exist.
        (
            "[node]\ncommand = [\"sh\",\n  \"--data={data_directory}\"]\n[client]\nkind = \"http-kv\"\n",
            "my-db.toml:3: node.command: unknown placeholder {data_directory}",
        ),
        // A wrong type.
        (
            "[node]\ncommand = [\"sh\"]\n[ready]\ntcp = \"client\"\ntimeout = 10\n[client]\nkind = \"http-kv\"\n",
            "my-db.toml:5: ready.timeout: ",
        ),
    ];
    for (text, expected) in cases {
        let (code, line) = run_file(text);
        assert_eq!(code, Some(3), "{line}");
        assert!(
            line.starts_with("faultline: error: --system-file: ") && line.contains(expected),
            "{expected:?} not in {line:?}"
        );
        assert!(!line.contains("panicked"), "{line}");
    }
}

#[test]
fn a_node_that_never_gets_ready_exits_3_with_the_end_of_its_stderr() {
    let marker = format!("never-ready-{}", std::process::id());
    let text = format!(
        "[node]\ncommand = [\"sh\", \"-c\", \"echo 'cannot open {marker}' >&2; sleep 30\"]\n\
         [ready]\ntcp = \"client\"\ntimeout = \"1s\"\n[client]\nkind = \"http-kv\"\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stuck.toml");
    std::fs::write(&path, text).unwrap();
    let out = faultline(
        &["run", "--system-file", path.to_str().unwrap(), "--net", "loopback", "--nodes", "3"],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("node n1 was not ready within 1.0s"), "{stderr}");
    assert!(stderr.contains(&format!("| cannot open {marker}")), "no stderr tail: {stderr}");
    let leftovers = processes_mentioning(&marker);
    assert!(leftovers.is_empty(), "node processes left behind: {leftovers:?}");
}

/// A short chaos run of a system file; returns the run directory.
fn chaos(file: &str, net: &str, store: &Path, extra: &[&str]) -> (PathBuf, Output) {
    let mut args = vec![
        "run",
        "--system-file",
        file,
        "--nodes",
        "3",
        "--time-limit",
        "8s",
        "--nemesis",
        "partition,kill,pause",
        "--nemesis-interval",
        "1s",
        "--concurrency",
        "6",
        "--seed",
        "3",
        "--net",
        net,
        "--recover-timeout",
        "20s",
    ];
    args.extend(extra);
    let out = faultline(&args, store);
    let run = std::fs::canonicalize(store.join("latest")).expect("the run made a directory");
    (run, out)
}

fn assert_valid(run: &Path, out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let results = read_json(&run.join("results.json"));
    assert_eq!(results["verdict"], "valid", "run {} not valid:\n{stdout}\n{stderr}", run.display());
    assert_eq!(out.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(results["counts"]["ok"].as_u64().unwrap_or(0) > 50, "hardly any operation succeeded: {results}");
    let test = read_json(&run.join("test.json"));
    let executed = test["outcome"]["executed"].as_array().expect("executed faults recorded");
    assert!(executed.len() >= 4, "too few faults executed: {executed:?}");
    let status = std::fs::read_to_string(run.join("status.jsonl")).expect("status.jsonl is kept");
    assert!(status.contains(r#""role":"leader""#), "the roles pointers found no leader in status.jsonl");
    assert!(run.join("report.html").is_file(), "no report.html:\n{stderr}");
}

#[test]
fn raft_node_from_its_system_file_is_valid_and_replays_from_test_json() {
    let store = tempfile::tempdir().unwrap();
    let bin = node_bin().display().to_string();
    // A copy that is gone by the time of the replay: the replay runs the text test.json kept.
    let copy_dir = tempfile::tempdir().unwrap();
    let copy = copy_dir.path().join("raft-node.toml");
    let text = std::fs::read_to_string(example("raft-node.toml")).unwrap();
    std::fs::write(&copy, &text).unwrap();
    let (run, out) = chaos(copy.to_str().unwrap(), "loopback", store.path(), &["--node-bin", &bin]);
    assert_valid(&run, &out);
    let test = read_json(&run.join("test.json"));
    assert_eq!(test["system"], "file");
    assert_eq!(test["system_file"]["text"], text.as_str());
    let results = read_json(&run.join("results.json"));
    assert!(results["election"]["leaderships"].as_u64().unwrap_or(0) > 0, "no election check: {results}");
    // Teardown stopped the nodes with the file's stop signal.
    let stderr = std::fs::read_to_string(run.join("nodes/n2/stderr.log")).unwrap();
    assert!(stderr.contains("shutdown signal received"), "n2 was not stopped with SIGTERM");
    drop(copy_dir);
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["repro", run.to_str().unwrap(), "--runs", "1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("replay 1/1: Valid"), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let replay = std::fs::canonicalize(store.path().join("latest")).unwrap();
    assert_ne!(replay, run);
    assert_eq!(read_json(&replay.join("test.json"))["system_file"]["text"], text.as_str());
}

fn python() -> bool {
    let missing = harness::system::find_on_path("python3")
        .is_none()
        .then(|| "python3 is not installed (apt-get install -y python3)".to_string());
    capability(missing)
}

#[test]
fn a_python_shim_drives_raft_node_on_loopback() {
    if !python() {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let bin = node_bin().display().to_string();
    let (run, out) = chaos(&example("raft-node-shim.toml"), "loopback", store.path(), &["--node-bin", &bin]);
    assert_valid(&run, &out);
    for slot in 0..6 {
        assert!(
            run.join(format!("clients/c{slot}.stderr.log")).is_file(),
            "shim c{slot}'s stderr is not kept"
        );
    }
}

#[test]
fn a_python_shim_drives_raft_node_on_netns() {
    let root = nix::unistd::geteuid().is_root();
    let tools = harness::netcmd::available("ip") && harness::netcmd::available("iptables");
    let missing = (!root || !tools).then(|| "the netns backend needs root with ip and iptables".to_string());
    if !python() || !capability(missing) {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let bin = node_bin().display().to_string();
    let (run, out) = chaos(&example("raft-node-shim.toml"), "netns", store.path(), &["--node-bin", &bin]);
    assert_valid(&run, &out);
    let test = read_json(&run.join("test.json"));
    let netns = String::from_utf8_lossy(&Command::new("ip").args(["netns", "list"]).output().unwrap().stdout)
        .to_string();
    for node in test["outcome"]["cluster"].as_array().expect("cluster recorded") {
        let ns = node["netns"].as_str().expect("netns nodes name their namespace");
        assert!(!netns.contains(ns), "namespace {ns} left behind");
    }
}

#[test]
fn etcd_from_its_system_file_gives_the_built_in_verdicts() {
    let missing = harness::system::find_on_path("etcd")
        .is_none()
        .then(|| "etcd is not installed (apt-get install -y etcd-server etcd-client)".to_string());
    if !capability(missing) {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let verdict = |args: &[&str]| {
        let mut all = vec!["run", "--nodes", "3", "--time-limit", "6s", "--nemesis", "partition"];
        all.extend([
            "--nemesis-interval",
            "1s",
            "--concurrency",
            "6",
            "--net",
            "loopback",
            "--recover-timeout",
            "20s",
        ]);
        all.extend(args);
        let out = faultline(&all, store.path());
        let run = std::fs::canonicalize(store.path().join("latest")).unwrap();
        let results = read_json(&run.join("results.json"));
        (results["verdict"].as_str().unwrap_or("none").to_string(), out)
    };
    let file = example("etcd.toml");
    for seed in ["7", "8"] {
        let (built_in, _) = verdict(&["--system", "etcd", "--seed", seed]);
        let (described, out) = verdict(&["--system-file", &file, "--seed", seed]);
        assert_eq!((built_in.as_str(), described.as_str()), ("valid", "valid"), "{out:?}");
        let run = std::fs::canonicalize(store.path().join("latest")).unwrap();
        assert!(run.join("report.html").is_file(), "{out:?}");
    }
    // Serializable reads: both forms are found stale (each given 3 seeds, as tests/etcd.rs does).
    let serializable = tempfile::tempdir().unwrap();
    let ser_file = serializable.path().join("etcd-serializable.toml");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("# serializable_reads = true", "serializable_reads = true");
    assert!(text.contains("\nserializable_reads = true"));
    std::fs::write(&ser_file, text).unwrap();
    for args in [
        vec!["--system", "etcd", "--etcd-serializable-reads"],
        vec!["--system-file", ser_file.to_str().unwrap()],
    ] {
        let found = ["1", "2", "3"].iter().any(|seed| {
            let mut a = args.clone();
            a.extend(["--seed", seed]);
            verdict(&a).0 == "invalid"
        });
        assert!(found, "{args:?}: serializable reads were never found stale in 3 runs");
    }
}

#[test]
fn the_readme_shows_the_tested_examples() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    for name in ["raft-node.toml", "raft_node_shim.py"] {
        let text = std::fs::read_to_string(example(name)).expect("the example exists");
        assert!(readme.contains(text.trim_end()), "README.md does not show examples/systems/{name} as it is");
    }
}
