//! Randomized soak: many seeds, random faults (crashes, restarts, partitions of random link sets,
//! loss, duplication, reordering), random snapshot intervals and batch sizes, clients writing and
//! reading; invariants after every step and a linearizability check of the register at the end.
//!
//! Bounded to a few seconds by default; `RAFT_SOAK_SECS=600` soaks longer. `SIM_SEED` replays one seed.

use crate::cluster::{NetConfig, Sim, SimConfig};
use crate::test_name;
use raft::NodeId;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One randomized run.
pub fn soak_run(name: &str, seed: u64, keep_trace: bool) -> Sim {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x50A4);
    let n = if rng.random_bool(0.5) { 3 } else { 5 };
    let mut cfg = SimConfig::new(n, seed);
    cfg.max_entries_per_append = rng.random_range(1..=16);
    cfg.snapshot_every = if rng.random_bool(0.5) { Some(rng.random_range(3..30)) } else { None };
    cfg.pre_vote = rng.random_bool(0.8);
    cfg.check_quorum = rng.random_bool(0.8);
    cfg.heartbeat_ticks = rng.random_range(1..=3);
    cfg.election_ticks = rng.random_range(cfg.heartbeat_ticks * 3..=cfg.heartbeat_ticks * 3 + 12);
    let mut s = Sim::new(name, cfg);
    s.keep_trace = keep_trace;
    if rng.random_bool(0.6) {
        s.net = NetConfig::unreliable();
        s.net.drop = rng.random_range(0.0..0.3);
    }
    let ids = s.ids();
    for _ in 0..40 {
        match rng.random_range(0..10) {
            0 => {
                let i = ids[rng.random_range(0..ids.len())];
                s.crash(i);
            }
            1 | 2 => {
                let i = ids[rng.random_range(0..ids.len())];
                if !s.is_up(i) {
                    s.restart(i);
                }
            }
            3 => {
                // A random partition: each node joins one of two or three groups.
                let k = rng.random_range(2..=3);
                let mut groups: Vec<Vec<u64>> = vec![Vec::new(); k];
                for i in &ids {
                    groups[rng.random_range(0..k)].push(i.0);
                }
                let refs: Vec<&[u64]> = groups.iter().map(|g| g.as_slice()).collect();
                s.partition(&refs);
            }
            4 => {
                // Cut a few random directed links.
                for _ in 0..rng.random_range(1..=3) {
                    let a = ids[rng.random_range(0..ids.len())];
                    let b = ids[rng.random_range(0..ids.len())];
                    if a != b {
                        s.cut(a.0, b.0);
                    }
                }
            }
            5 | 6 => s.heal(),
            7 => {
                // Hand leadership to a random server (thesis §3.10).
                if let Some(l) = s.leader() {
                    let to = ids[rng.random_range(0..ids.len())];
                    s.transfer_leadership(l, to);
                }
            }
            _ => {}
        }
        for _ in 0..rng.random_range(0..4) {
            let at = ids[rng.random_range(0..ids.len())];
            let at = if rng.random_bool(0.7) { s.leader().unwrap_or(at) } else { at };
            if rng.random_bool(0.6) {
                s.client_write(at);
            } else {
                s.client_read(at);
            }
        }
        if !s.run_ticks(rng.random_range(1..15)) {
            return s;
        }
    }
    // Heal everything: the cluster must make progress again.
    s.heal();
    s.net = NetConfig::reliable();
    for i in ids {
        if !s.is_up(i) {
            s.restart(i);
        }
    }
    s.one(b"done".to_vec(), n as usize, true); // not a register write (4 bytes)
    if let Some(l) = s.leader() {
        s.client_read(l);
        s.run_ticks(5);
    }
    s
}

fn check(s: &Sim) {
    s.assert_ok();
    if let Err(e) = s.check_linearizable() {
        s.fail(&e);
    }
}

/// Runs seeds until the time budget is spent (at least a handful).
#[test]
#[allow(clippy::disallowed_methods, clippy::disallowed_types)] // the test's wall-clock budget, not the core's
fn soak_random_faults() {
    let name = test_name!();
    if let Ok(seed) = std::env::var("SIM_SEED") {
        let seed: u64 = seed.parse().expect("SIM_SEED is a number");
        check(&soak_run(&name, seed, false));
        return;
    }
    let secs: f64 = std::env::var("RAFT_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let start = std::time::Instant::now();
    let mut seed = 1000;
    let mut runs = 0;
    while runs < 4 || start.elapsed().as_secs_f64() < secs {
        check(&soak_run(&name, seed, false));
        seed += 1;
        runs += 1;
    }
    println!("soak: {runs} seeds clean in {:.1}s", start.elapsed().as_secs_f64());
}

/// One seed run twice gives the same trace, event for event.
#[test]
fn sim_is_deterministic() {
    let name = test_name!();
    let a = soak_run(&name, 7, true);
    let b = soak_run(&name, 7, true);
    assert!(a.trace().len() > 100, "trace too short to prove anything: {}", a.trace().len());
    assert_eq!(a.trace(), b.trace(), "the same seed produced two different runs");
    assert_eq!(a.now, b.now);
    let c = soak_run(&name, 8, true);
    assert_ne!(a.trace(), c.trace(), "different seeds should differ");
    let _ = NodeId(1);
}
