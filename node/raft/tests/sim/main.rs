//! The deterministic simulation of the Raft core, and the tests that run on it.
//!
//! - `cluster`: the simulated cluster (network, clock, crash/restart, invariants, register clients);
//! - `lab`: the MIT 6.824 Lab 2 scenarios (2A-2D) under their lab names;
//! - `traps`: the traps of the lab notes (a vote across a crash, a stale AppendEntries, a cut-off leader);
//! - `planted`: each planted bug of the core is caught by the simulation;
//! - `defaults`: which planted bugs raft-node's default flags leave reachable, and why;
//! - `soak`: random faults over many seeds, and the determinism check.
//!
//! Every failure prints its seed and the command that replays it (`SIM_SEED=.. cargo test -p raft
//! --test sim NAME`).

// `cfg(test)` (always set for an integration test) marks these modules as test code for clippy, which
// allows `unwrap` in tests.
#[cfg(test)]
mod cluster;
#[cfg(test)]
mod defaults;
#[cfg(test)]
mod lab;
#[cfg(test)]
mod planted;
#[cfg(test)]
mod script;
#[cfg(test)]
mod soak;
#[cfg(test)]
mod traps;

/// The name of the enclosing test function, for replay commands.
#[macro_export]
macro_rules! test_name {
    () => {{
        fn f() {}
        let n = std::any::type_name_of_val(&f);
        let n = n.strip_suffix("::f").unwrap_or(n);
        n.rsplit("::").next().unwrap_or(n).to_string()
    }};
}
