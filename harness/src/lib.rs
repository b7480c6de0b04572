//! `harness`: the `faultline` command.
//!
//! Jepsen's roles as Rust modules: a cluster backend starts real node processes (each in its own
//! network namespace when run as root, on loopback behind a fault proxy otherwise); clients drive the
//! operations a `workloads` generator yields; a nemesis injects faults; every operation and fault is
//! recorded in a history; `checker` turns the history into verdicts and `reports` into an HTML file; the
//! store keeps every run on disk so it can be re-checked and reproduced.
