//! The `faultline` command line as a user meets it: bad flags are bad input (exit 3, one clear line
//! naming the flag), help is not an error, and no input makes it panic.

use std::process::{Command, Output};

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("running faultline")
}

/// The first line of stderr, which must say what was wrong.
fn first_error_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or_default().to_string()
}

#[test]
fn an_unknown_flag_exits_3_naming_it() {
    let out = faultline(&["run", "--bogus"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let line = first_error_line(&out);
    assert!(line.contains("--bogus"), "{line}");
}

#[test]
fn durations_out_of_range_exit_3_without_a_panic() {
    for value in ["1e30s", "99999999999999999999s", "-5s", "soon"] {
        let out = faultline(&["run", &format!("--time-limit={value}")]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{value}: {stderr}");
        assert!(!stderr.contains("panicked"), "{value}: {stderr}");
        assert!(first_error_line(&out).contains("--time-limit"), "{value}: {stderr}");
    }
}

#[test]
fn settings_that_cannot_run_exit_3_naming_the_setting() {
    let out = faultline(&["run", "--nodes", "0", "--node-bin", "/bin/sh"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(first_error_line(&out).contains("--nodes"), "{}", first_error_line(&out));
    let out = faultline(&["run", "--node-bin", "/nonexistent/raft-node"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(first_error_line(&out).contains("/nonexistent/raft-node"), "{}", first_error_line(&out));
}

#[test]
fn help_and_version_are_not_errors() {
    for args in [&["--help"][..], &["run", "--help"], &["explore", "--help"], &["--version"]] {
        let out = faultline(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
        assert!(!out.stdout.is_empty(), "{args:?}");
    }
    let help = String::from_utf8_lossy(&faultline(&["run", "--help"]).stdout).to_string();
    // The defaults shown are the configuration's.
    assert!(help.contains("[default: 60s]") && help.contains("[default: composed]"), "{help}");
}

#[test]
fn a_malformed_history_exits_3_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.jsonl");
    std::fs::write(
        &path,
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1,\"time\":1}\n{\"process\":0,\"type\":\n",
    )
    .unwrap();
    let out = faultline(&["check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("h.jsonl") && stderr.contains('2'), "{stderr}");
}

#[test]
fn a_directory_that_is_not_a_run_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for args in [vec!["repro", d], vec!["report", d], vec!["shrink", d]] {
        let out = faultline(&args);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("not a run directory"), "{out:?}");
    }
}

#[test]
fn a_bad_reproduce_rate_for_shrink_exits_3_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = faultline(&["shrink", dir.path().to_str().unwrap(), "--reproduce", "4/3"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let line = first_error_line(&out);
    assert!(line.contains("--reproduce") && line.contains("4/3"), "{line}");
}

#[test]
fn a_bad_cluster_size_list_exits_3_naming_the_flag_and_the_value() {
    let store = tempfile::tempdir().unwrap();
    let store = store.path().to_str().unwrap();
    for args in [
        vec!["explore", "--nodes", "3,x", "--store", store],
        vec!["matrix", "--generic", "--generic-nodes", "3,x", "--store", store],
    ] {
        let out = faultline(&args);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("nodes") && err.contains("\"x\" is not a cluster size"), "{err}");
    }
}

#[test]
fn the_generic_matrix_refuses_a_tailored_twin_row() {
    let store = tempfile::tempdir().expect("temporary store");
    let store = store.path().to_str().expect("a UTF-8 temporary path");
    let out = faultline(&["matrix", "--generic", "--bugs", "fsync-lag:kill", "--store", store]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let line = first_error_line(&out);
    assert!(line.contains("--bugs") && line.contains("fsync-lag:kill"), "{line}");
}
