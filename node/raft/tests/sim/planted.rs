//! Each planted bug of the core makes a simulation fail. These tests EXPECT the violation, so the suite
//! stays green while proving that the invariants (or the linearizability check) have teeth. Each
//! scenario also runs without the bug, as a control that the scenario itself is sound.

use crate::cluster::{Sim, SimConfig, command, seed_or};
use crate::test_name;
use crate::traps::vote_across_crash;
use raft::{Bug, LogIndex, NodeId, Role};

const ELECTION: u64 = 30;

fn expect_violation(s: &Sim, what: &str, bug: Bug) {
    match &s.violation {
        Some(v) => {
            assert!(v.contains(what), "planted {bug} was caught, but not as {what:?}: {v}");
            println!("planted {bug} caught: {v}");
        }
        None => s.fail(&format!("planted bug {bug} went unnoticed (expected {what:?})")),
    }
}

/// Figure 8 of the paper, scripted with one entry per AppendEntries:
/// (a) leader A replicates entry X at index k (term t) to B only;
/// (b) A crashes; C, D, E elect E, whose no-op takes index k in a later term, and E is cut off at once;
/// (c) A returns and leads (a newer term) and replicates X to C: X is on a majority, but only a leader
///     that counts replicas of an old term's entry commits it (the planted bug) — and is then crashed;
/// (d) E returns and is elected by C and D, whose logs are less up to date than its own: it overwrites
///     X, which the buggy leader had already committed and applied.
///
/// `batch` is the most entries per AppendEntries: the script needs 1 (see `defaults.rs` for 64).
pub fn figure8_script(name: String, bugs: &[Bug], batch: usize) -> Sim {
    let mut cfg = SimConfig::new(5, seed_or(41));
    cfg.max_entries_per_append = batch;
    cfg.bugs = bugs.iter().copied().collect();
    let mut s = Sim::new(&name, cfg);
    s.one(command(1), 5, true);
    let a = s.leader().unwrap();
    let others: Vec<u64> = s.ids().into_iter().filter(|&i| i != a).map(|i| i.0).collect();
    let b = NodeId(others[0]);
    let cde = &others[1..];
    // (a)
    s.partition(&[&[a.0, b.0], cde]);
    let (k, t) = s.propose(a, command(100)).unwrap();
    assert!(s.run_until(ELECTION, |s| s.nodes[&b].storage.term_at(k) == Some(t)));
    // (b)
    s.crash(a);
    s.partition(&[&[b.0], cde]);
    let ok = s.run_until(10 * ELECTION, |s| s.leader().is_some_and(|l| cde.contains(&l.0)));
    assert!(ok, "C, D, E elected no leader");
    let e = s.leader().unwrap();
    let cd: Vec<u64> = cde.iter().copied().filter(|&i| i != e.0).collect();
    s.partition(&[&[b.0], &[e.0], &cd]);
    let te = s.nodes[&e].storage.term_at(k).unwrap();
    assert!(te > t, "E's entry at {k} should be its newer no-op");
    s.crash(e);
    // (c)
    s.restart(a);
    s.partition(&[&[a.0, b.0, cd[0], cd[1]]]);
    let ok = s.run_until(10 * ELECTION, |s| {
        [a, b].into_iter().any(|n| s.status(n).is_some_and(|st| st.role == Role::Leader && st.commit >= k))
    });
    assert!(ok || s.violation.is_some(), "A/B never committed {k}\n{}", s.report());
    let l = [a, b].into_iter().find(|&n| s.status(n).is_some_and(|st| st.role == Role::Leader)).unwrap();
    let other = if l == a { b } else { a };
    s.partition(&[&[l.0], &[other.0], &[e.0, cd[0], cd[1]]]);
    s.crash(l);
    // (d)
    s.restart(e);
    s.run_until(10 * ELECTION, |s| s.violation.is_some() || s.leader() == Some(e));
    s.run_ticks(ELECTION);
    s
}

#[test]
fn planted_commit_old_term_is_caught() {
    let s = figure8_script(test_name!(), &[Bug::CommitOldTerm], 1);
    expect_violation(&s, "§5.4", Bug::CommitOldTerm);
}

#[test]
fn planted_commit_old_term_control_run_is_clean() {
    let s = figure8_script(test_name!(), &[], 1);
    s.assert_ok();
}

#[test]
fn planted_forget_vote_is_caught() {
    let s = vote_across_crash(test_name!(), &[Bug::ForgetVote]);
    expect_violation(&s, "§5.2 Election Safety", Bug::ForgetVote);
}

/// A deposed leader with a divergent tail rejoins; the new leader's first AppendEntries names a
/// previous entry the old leader holds with another term. Without the check, it appends anyway.
fn divergent_follower(name: String, bugs: &[Bug]) -> Sim {
    let mut cfg = SimConfig::new(3, seed_or(43));
    cfg.bugs = bugs.iter().copied().collect();
    let mut s = Sim::new(&name, cfg);
    s.one(command(1), 3, true);
    let old = s.leader().unwrap();
    let rest: Vec<u64> = s.ids().into_iter().filter(|&i| i != old).map(|i| i.0).collect();
    s.partition(&[&[old.0], &rest]);
    for v in 10..15 {
        s.propose(old, command(v));
    }
    let ok = s.run_until(10 * ELECTION, |s| s.leader().is_some_and(|l| l != old));
    assert!(ok || s.violation.is_some());
    s.one(command(20), 2, true);
    // A fresh election on the majority side: the new leader's first probe to the old leader names
    // its own last entry, which the old leader holds with an older term.
    let l2 = s.leaders_by_term().values().flatten().copied().find(|&l| l != old).unwrap();
    let t2 = s.term(l2);
    s.restart(l2);
    let ok = s.run_until(10 * ELECTION, |s| {
        s.leaders_by_term().iter().any(|(t, ls)| *t > t2 && ls.iter().any(|&l| l != old))
    });
    assert!(ok || s.violation.is_some(), "no new leader after the restart");
    s.one(command(21), 2, true);
    s.heal();
    s.run_ticks(2 * ELECTION);
    if s.violation.is_none() {
        s.one(command(22), 3, true);
    }
    s
}

#[test]
fn planted_no_conflict_check_is_caught() {
    let s = divergent_follower(test_name!(), &[Bug::NoConflictCheck]);
    expect_violation(&s, "§5.", Bug::NoConflictCheck);
}

#[test]
fn planted_no_conflict_check_control_run_is_clean() {
    let s = divergent_follower(test_name!(), &[]);
    s.assert_ok();
}

/// A leader cut off from the majority keeps believing it leads (check-quorum is off, so it never
/// steps down by itself); the majority elects a new leader that completes a write; then a client reads
/// at the old leader. ReadIndex cannot confirm leadership there, so the read waits and is dropped;
/// the planted bug answers at once with the old value, which the register check rejects.
fn read_at_deposed_leader(name: String, bugs: &[Bug]) -> Sim {
    let mut cfg = SimConfig::new(3, seed_or(44));
    cfg.check_quorum = false;
    cfg.bugs = bugs.iter().copied().collect();
    let mut s = Sim::new(&name, cfg);
    s.run_until(10 * ELECTION, |s| s.leader().is_some());
    let old = s.leader().unwrap();
    s.client_write(old);
    s.run_until(ELECTION, |s| s.history[0].complete.is_some());
    s.client_read(old);
    s.run_ticks(5);
    let rest: Vec<u64> = s.ids().into_iter().filter(|&i| i != old).map(|i| i.0).collect();
    s.partition(&[&[old.0], &rest]);
    let ok = s.run_until(10 * ELECTION, |s| s.leaders_by_term().values().flatten().any(|&l| l != old));
    assert!(ok, "the majority elected no leader");
    let new = s.leaders_by_term().values().flatten().copied().find(|&l| l != old).unwrap();
    let w = s.history.len();
    s.client_write(new);
    s.run_until(ELECTION, |s| s.history[w].complete.is_some());
    assert!(
        s.status(old).is_some_and(|st| st.role == Role::Leader),
        "the old leader should still believe it leads"
    );
    s.client_read(old);
    s.run_ticks(5);
    s.heal();
    s.run_ticks(ELECTION);
    s
}

#[test]
fn planted_stale_read_is_caught() {
    let s = read_at_deposed_leader(test_name!(), &[Bug::StaleRead]);
    s.assert_ok();
    match s.check_linearizable() {
        Err(e) => {
            assert!(e.contains("stale read"), "{e}");
            println!("planted stale-read caught: {e}");
        }
        Ok(()) => s.fail(&format!(
            "planted bug stale-read went unnoticed by the linearizability check: {:#?}",
            s.history
        )),
    }
}

#[test]
fn planted_stale_read_control_run_is_linearizable() {
    let s = read_at_deposed_leader(test_name!(), &[]);
    s.assert_ok();
    if let Err(e) = s.check_linearizable() {
        s.fail(&e);
    }
    // The read at the deposed leader was never answered with data: it was dropped when it stepped down.
    let last = s.history.last().unwrap();
    assert!(last.read.is_none() && last.failed, "{last:?}");
    assert!(s.nodes.values().all(|n| n.sm.applied >= LogIndex(3)));
}
