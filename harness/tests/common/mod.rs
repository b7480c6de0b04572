//! What the real-process tests of the harness share: finding (and on first use building) the raft-node
//! binary that sits next to the `faultline` under test.
//!
//! raft-node is built with the same cargo and target directory as the test
//! (`cargo build -p node --bin raft-node`), so the tests work under `cargo test --workspace` on a clean
//! clone and under `cargo test -p harness` alike.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

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
pub fn node_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let profile = profile_dir();
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
        let bin = profile.join("raft-node");
        assert!(bin.is_file(), "raft-node not found at {}", bin.display());
        bin
    })
}
