//! The MIT 6.824 Lab 2 tests (2A election, 2B agreement, 2C persistence, 2D snapshots), ported to the
//! simulation with the same intent. Times are in ticks: an election timeout is 10-20 ticks, a heartbeat
//! one tick (the lab's 1 s election timeout and 100 ms heartbeat, scaled).
//!
//! The lab's first command lands at index 1; here a new leader's no-op (§8) takes the first index of its
//! term, so tests compare indexes relative to each other instead.

use crate::cluster::{NetConfig, Sim, SimConfig, TICK, command, seed_or};
use crate::test_name;
use raft::{LogIndex, NodeId, Payload, Role};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One election timeout and then some: long enough for any election to finish.
const ELECTION: u64 = 30;

fn sim(name: String, nodes: u64, seed: u64) -> Sim {
    Sim::new(&name, SimConfig::new(nodes, seed_or(seed)))
}

fn id(i: u64, n: u64) -> NodeId {
    NodeId(i % n + 1)
}

/// 6.824 checkOneLeader: within a few election timeouts exactly one connected leader emerges.
pub fn check_one_leader(s: &mut Sim) -> NodeId {
    if !s.run_until(10 * ELECTION, |s| s.connected_leader().is_some()) {
        s.assert_ok();
        s.fail(&format!("expected one leader, got none\n{}", s.report()));
    }
    for (term, leaders) in s.leaders_by_term() {
        if leaders.len() > 1 {
            s.fail(&format!("term {term} has {} leaders", leaders.len()));
        }
    }
    s.connected_leader().unwrap()
}

fn check_no_leader(s: &Sim) {
    if let Some(l) = s.connected_leader() {
        s.fail(&format!("expected no leader among connected servers, but n{} claims to be leader", l.0));
    }
}

fn run(s: &mut Sim, ticks: u64) {
    if !s.run_ticks(ticks) {
        s.assert_ok();
    }
}

fn finish(s: &Sim) {
    s.assert_ok();
    if let Err(e) = s.check_linearizable() {
        s.fail(&e);
    }
}

// ----- 2A: leader election ------------------------------------------------------------------------

#[test]
fn lab_2a_initial_election() {
    let mut s = sim(test_name!(), 3, 1);
    check_one_leader(&mut s);
    // Every server agrees on the term, and without failures it does not change.
    run(&mut s, 5);
    let term1 = s.term(NodeId(1));
    for i in 1..=3 {
        assert_eq!(s.term(NodeId(i)), term1, "servers disagree on the term");
    }
    run(&mut s, 2 * ELECTION);
    assert_eq!(s.term(NodeId(1)), term1, "term changed even though there were no failures");
    check_one_leader(&mut s);
    finish(&s);
}

#[test]
fn lab_2a_re_election() {
    let mut s = sim(test_name!(), 3, 2);
    let leader1 = check_one_leader(&mut s);
    // If the leader disconnects, a new one is elected.
    s.disconnect(leader1);
    check_one_leader(&mut s);
    // The old leader rejoining does not disturb the new one.
    s.connect(leader1);
    let leader2 = check_one_leader(&mut s);
    // Without a quorum no leader is elected.
    s.disconnect(leader2);
    let other = id(leader2.0, 3);
    s.disconnect(other);
    run(&mut s, 2 * ELECTION);
    check_no_leader(&s);
    // A quorum arises: it elects a leader.
    s.connect(other);
    check_one_leader(&mut s);
    s.connect(leader2);
    check_one_leader(&mut s);
    finish(&s);
}

#[test]
fn lab_2a_many_elections() {
    let mut s = sim(test_name!(), 7, 3);
    let mut rng = ChaCha8Rng::seed_from_u64(s.cfg.seed);
    check_one_leader(&mut s);
    for _ in 0..10 {
        // Disconnect three servers; the four left still form a majority.
        let picks: Vec<NodeId> = (0..3).map(|_| NodeId(rng.random_range(1..=7))).collect();
        for &p in &picks {
            s.disconnect(p);
        }
        check_one_leader(&mut s);
        for &p in &picks {
            s.connect(p);
        }
    }
    check_one_leader(&mut s);
    finish(&s);
}

// ----- 2B: agreement ------------------------------------------------------------------------------

#[test]
fn lab_2b_basic_agree() {
    let mut s = sim(test_name!(), 3, 4);
    let mut prev = None;
    for v in 1..=3u64 {
        let index = s.one(command(v), 3, false);
        if let Some(p) = prev {
            assert_eq!(index, LogIndex(p + 1), "commands landed at non-consecutive indexes");
        }
        prev = Some(index.0);
    }
    finish(&s);
}

#[test]
fn lab_2b_rpc_byte_count() {
    let mut s = sim(test_name!(), 3, 5);
    s.one(command(99), 3, false);
    let before = s.stats.entry_bytes;
    let mut sent = 0u64;
    for v in 0..10u64 {
        let mut cmd = command(1000 + v);
        cmd.resize(5000, b'x');
        sent += cmd.len() as u64;
        s.one(cmd, 3, false);
    }
    let got = s.stats.entry_bytes - before;
    // Each command travels to each of the two followers once; allow one resend of one command.
    let expected = 2 * sent;
    assert!(got <= expected + 5000, "too many entry bytes sent: {got} for {expected} expected");
    finish(&s);
}

#[test]
fn lab_2b_follower_failure() {
    let mut s = sim(test_name!(), 3, 6);
    s.one(command(101), 3, false);
    let leader1 = check_one_leader(&mut s);
    s.disconnect(id(leader1.0, 3));
    // The leader and the remaining follower still agree.
    s.one(command(102), 2, false);
    run(&mut s, ELECTION);
    s.one(command(103), 2, false);
    // Disconnect the remaining follower too: nothing commits.
    let leader2 = check_one_leader(&mut s);
    for i in 1..=3 {
        if NodeId(i) != leader2 {
            s.disconnect(NodeId(i));
        }
    }
    let (index, _) = s.propose(leader2, command(104)).expect("leader rejected Start()");
    run(&mut s, 2 * ELECTION);
    assert_eq!(s.n_committed(index).0, 0, "{} committed but no majority", index);
    finish(&s);
}

#[test]
fn lab_2b_leader_failure() {
    let mut s = sim(test_name!(), 3, 7);
    s.one(command(101), 3, false);
    let leader1 = check_one_leader(&mut s);
    s.disconnect(leader1);
    // The remaining followers elect a new leader.
    s.one(command(102), 2, false);
    run(&mut s, ELECTION);
    s.one(command(103), 2, false);
    let leader2 = check_one_leader(&mut s);
    s.disconnect(leader2);
    // Submit a command to each server; none can commit.
    let mut indexes = Vec::new();
    for i in 1..=3 {
        if let Some((index, _)) = s.propose(NodeId(i), command(104)) {
            indexes.push(index);
        }
    }
    run(&mut s, 2 * ELECTION);
    for index in indexes {
        assert_eq!(s.n_committed(index).0, 0, "{index} committed without a majority");
    }
    finish(&s);
}

#[test]
fn lab_2b_fail_agree() {
    let mut s = sim(test_name!(), 3, 8);
    s.one(command(101), 3, false);
    let leader = check_one_leader(&mut s);
    let f = id(leader.0, 3);
    s.disconnect(f);
    for v in 102..=105 {
        s.one(command(v), 2, false);
    }
    run(&mut s, ELECTION);
    s.connect(f);
    // The rejoined follower catches up.
    s.one(command(106), 3, true);
    run(&mut s, ELECTION);
    s.one(command(107), 3, true);
    finish(&s);
}

#[test]
fn lab_2b_fail_no_agree() {
    let mut s = sim(test_name!(), 5, 9);
    s.one(command(10), 5, false);
    let leader = check_one_leader(&mut s);
    for k in 1..=3 {
        s.disconnect(id(leader.0 - 1 + k, 5));
    }
    let (index, _) = s.propose(leader, command(20)).expect("leader rejected Start()");
    run(&mut s, 2 * ELECTION);
    assert_eq!(s.n_committed(index).0, 0, "{index} committed without a majority");
    for k in 1..=3 {
        s.connect(id(leader.0 - 1 + k, 5));
    }
    // The disconnected majority may have chosen a new leader; either way agreement resumes.
    check_one_leader(&mut s);
    s.one(command(30), 5, true);
    s.one(command(1000), 5, true);
    finish(&s);
}

#[test]
fn lab_2b_concurrent_starts() {
    let mut s = sim(test_name!(), 3, 10);
    'attempt: for _ in 0..5 {
        let leader = check_one_leader(&mut s);
        run(&mut s, 2);
        let Some((_, term)) = s.propose(leader, command(1)) else { continue };
        let mut started = Vec::new();
        for v in 100..105u64 {
            match s.propose(leader, command(v)) {
                Some((index, t)) if t == term => started.push((index, v)),
                _ => continue 'attempt,
            }
        }
        let last = started.last().unwrap().0;
        s.run_until(ELECTION, |s| s.n_committed(last).0 == 3);
        if s.term(leader) != term {
            continue; // the term moved on: the lab retries too
        }
        for (index, v) in started {
            assert_eq!(s.n_committed(index), (3, Some(Payload::Command(command(v)))), "{index}");
        }
        finish(&s);
        return;
    }
    s.fail("term changed too often");
}

#[test]
fn lab_2b_rejoin() {
    let mut s = sim(test_name!(), 3, 11);
    s.one(command(101), 3, true);
    // The leader is partitioned off and takes commands it cannot commit.
    let leader1 = check_one_leader(&mut s);
    s.disconnect(leader1);
    for v in 102..=104 {
        s.propose(leader1, command(v));
    }
    // The others elect a new leader and commit.
    s.one(command(103), 2, true);
    let leader2 = check_one_leader(&mut s);
    s.disconnect(leader2);
    // The old leader comes back: its uncommitted entries must give way.
    s.connect(leader1);
    s.one(command(104), 2, true);
    s.connect(leader2);
    s.one(command(105), 3, true);
    finish(&s);
}

#[test]
fn lab_2b_backup() {
    let mut s = sim(test_name!(), 5, 12);
    let mut rng = ChaCha8Rng::seed_from_u64(s.cfg.seed);
    s.one(command(rng.random()), 5, true);
    // Put the leader and one follower in a partition and give them 50 commands that cannot commit.
    let leader1 = check_one_leader(&mut s);
    let l = leader1.0 - 1;
    for k in 2..=4 {
        s.disconnect(id(l + k, 5));
    }
    for _ in 0..50 {
        s.propose(leader1, command(rng.random()));
    }
    run(&mut s, ELECTION / 2);
    s.disconnect(id(l, 5));
    s.disconnect(id(l + 1, 5));
    // The other three elect a leader and commit 50 commands.
    for k in 2..=4 {
        s.connect(id(l + k, 5));
    }
    for _ in 0..50 {
        s.one(command(rng.random()), 3, true);
    }
    // Now another partitioned leader and follower with 50 more uncommitted commands.
    let leader2 = check_one_leader(&mut s);
    let other = (2..=4).map(|k| id(l + k, 5)).find(|&n| n != leader2).unwrap();
    s.disconnect(other);
    for _ in 0..50 {
        s.propose(leader2, command(rng.random()));
    }
    run(&mut s, ELECTION / 2);
    // Bring the original leader and its follower back with `other`: their logs disagree with the new
    // leader's by whole terms. Count the AppendEntries rounds the leader needs to back up.
    for i in 1..=5 {
        s.disconnect(NodeId(i));
    }
    s.connect(id(l, 5));
    s.connect(id(l + 1, 5));
    s.connect(other);
    let rejected_before = s.stats.append_rejected;
    for _ in 0..50 {
        s.one(command(rng.random()), 3, true);
    }
    let rounds = s.stats.append_rejected - rejected_before;
    // Everyone reconnects.
    for i in 1..=5 {
        s.connect(NodeId(i));
    }
    s.one(command(rng.random()), 5, true);
    println!(
        "backup: {rounds} rejected AppendEntries rounds to back up over two followers' 50-entry divergences"
    );
    // One entry at a time would need about 50 rounds per follower; fast backup skips a term per round.
    assert!(rounds <= 12, "backing up took {rounds} rejected AppendEntries rounds");
    finish(&s);
}

#[test]
fn lab_2b_count() {
    let mut s = sim(test_name!(), 3, 13);
    check_one_leader(&mut s);
    let election = s.stats.sent;
    assert!(election <= 30, "too many messages ({election}) for an initial election");
    // Ten agreements in a row.
    let leader = check_one_leader(&mut s);
    let before = s.stats.clone();
    let t0 = s.now;
    for v in 1..=10u64 {
        s.propose(leader, command(v));
        let index = s.status(leader).unwrap().last_index;
        s.run_until(ELECTION, |s| s.n_committed(index).0 == 3);
    }
    let ticks = (s.now - t0) / TICK + 1;
    let with_entries = s.stats.append_with_entries - before.append_with_entries;
    assert!(with_entries <= (10 + 3) * 2, "{with_entries} AppendEntries with entries for 10 commands");
    let total = s.stats.sent - before.sent;
    // Entries plus one heartbeat per tick per follower, each with its answer.
    let bound = (ticks + 10 + 3) * 2 * 2;
    assert!(total <= bound, "{total} messages for 10 agreements in {ticks} ticks (bound {bound})");
    // Idle: nothing but heartbeats.
    let before = s.stats.sent;
    run(&mut s, ELECTION);
    let idle = s.stats.sent - before;
    assert!(idle <= (ELECTION + 1) * 2 * 2, "{idle} messages in {ELECTION} idle ticks");
    finish(&s);
}

// ----- 2C: persistence ----------------------------------------------------------------------------

fn crash_restart_all(s: &mut Sim) {
    for i in s.ids() {
        s.crash(i);
    }
    for i in s.ids() {
        s.restart(i);
    }
}

#[test]
fn lab_2c_persist1() {
    let mut s = sim(test_name!(), 3, 14);
    s.one(command(11), 3, true);
    crash_restart_all(&mut s);
    s.one(command(12), 3, true);
    let leader1 = check_one_leader(&mut s);
    s.restart(leader1);
    s.one(command(13), 3, true);
    let leader2 = check_one_leader(&mut s);
    s.disconnect(leader2);
    s.one(command(14), 2, true);
    s.restart(leader2);
    s.connect(leader2);
    let index = s.one(command(15), 3, true);
    assert!(s.n_committed(index).0 == 3);
    let i3 = id(check_one_leader(&mut s).0, 3);
    s.disconnect(i3);
    s.one(command(16), 2, true);
    s.restart(i3);
    s.connect(i3);
    s.one(command(17), 3, true);
    finish(&s);
}

#[test]
fn lab_2c_persist2() {
    let mut s = sim(test_name!(), 5, 15);
    let mut v = 10;
    for _ in 0..5 {
        s.one(command(v), 5, true);
        v += 1;
        let l = check_one_leader(&mut s).0 - 1;
        s.disconnect(id(l + 1, 5));
        s.disconnect(id(l + 2, 5));
        s.one(command(v), 3, true);
        v += 1;
        s.disconnect(id(l, 5));
        s.disconnect(id(l + 3, 5));
        s.disconnect(id(l + 4, 5));
        s.restart(id(l + 1, 5));
        s.restart(id(l + 2, 5));
        s.connect(id(l + 1, 5));
        s.connect(id(l + 2, 5));
        run(&mut s, ELECTION);
        s.restart(id(l + 3, 5));
        s.connect(id(l + 3, 5));
        s.one(command(v), 3, true);
        v += 1;
        s.connect(id(l + 4, 5));
        s.connect(id(l, 5));
    }
    s.one(command(1000), 5, true);
    finish(&s);
}

#[test]
fn lab_2c_persist3() {
    let mut s = sim(test_name!(), 3, 16);
    s.one(command(101), 3, true);
    let l = check_one_leader(&mut s).0 - 1;
    s.disconnect(id(l + 2, 3));
    s.one(command(102), 2, true);
    s.crash(id(l, 3));
    s.crash(id(l + 1, 3));
    s.connect(id(l + 2, 3));
    s.restart(id(l, 3));
    s.connect(id(l, 3));
    s.one(command(103), 2, true);
    s.restart(id(l + 1, 3));
    s.connect(id(l + 1, 3));
    s.one(command(104), 3, true);
    finish(&s);
}

/// 6.824 Figure8: leaders crash at random moments with fresh entries in their logs; the survivors must
/// never commit conflicting entries (Figure 8 of the paper), and the cluster still agrees at the end.
fn figure8(name: String, seed: u64, unreliable: bool, iterations: usize) {
    let mut s = sim(name, 5, seed);
    if unreliable {
        s.net = NetConfig::unreliable();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(s.cfg.seed);
    s.one(command(rng.random_range(0..10_000)), 1, true);
    let mut up = 5;
    for iter in 0..iterations {
        if unreliable && iter == iterations / 5 {
            s.net.long = 0.2; // long reordering, as the lab turns on after 200 iterations
        }
        let mut leader = None;
        for i in s.ids() {
            if s.propose(i, command(rng.random_range(0..10_000))).is_some() {
                leader = Some(i);
            }
        }
        let pause = if rng.random_range(0..1000) < 100 {
            rng.random_range(0..=ELECTION / 2)
        } else {
            rng.random_range(0..=2)
        };
        run(&mut s, pause);
        if let Some(l) = leader {
            if unreliable {
                if rng.random_range(0..1000) < ELECTION * 1000 / 30 / 2 {
                    s.disconnect(l);
                    up -= 1;
                }
            } else {
                s.crash(l);
                up -= 1;
            }
        }
        if up < 3 {
            let i = NodeId(rng.random_range(1..=5));
            if unreliable {
                if !s.is_connected(i) {
                    s.connect(i);
                    up += 1;
                }
            } else if !s.is_up(i) {
                s.restart(i);
                up += 1;
            }
        }
    }
    for i in s.ids() {
        if !s.is_up(i) {
            s.restart(i);
        }
        s.connect(i);
    }
    s.net = NetConfig::reliable();
    s.one(command(rng.random_range(0..10_000)), 5, true);
    finish(&s);
}

#[test]
fn lab_2c_figure8() {
    figure8(test_name!(), 17, false, 80);
}

#[test]
fn lab_2c_unreliable_agree() {
    let mut s = sim(test_name!(), 5, 18);
    s.net = NetConfig::unreliable();
    for iter in 1..20u64 {
        if let Some(l) = s.connected_leader() {
            for j in 0..4 {
                s.propose(l, command(100 * iter + j));
            }
        }
        s.one(command(iter), 1, true);
    }
    s.net = NetConfig::reliable();
    s.one(command(100), 5, true);
    finish(&s);
}

#[test]
fn lab_2c_figure8_unreliable() {
    figure8(test_name!(), 19, true, 150);
}

/// 6.824 churn: servers crash, restart, disconnect and reconnect at random while clients keep
/// proposing; every acknowledged write must survive.
fn churn(name: String, seed: u64, unreliable: bool) {
    let mut s = sim(name, 5, seed);
    if unreliable {
        s.net = NetConfig::unreliable();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(s.cfg.seed);
    for _ in 0..60 {
        for _ in 0..3 {
            if let Some(l) = s.leader() {
                s.client_write(l);
            }
        }
        let pick = NodeId(rng.random_range(1..=5));
        let r = rng.random_range(0..1000);
        if r < 200 {
            s.disconnect(pick);
        } else if r < 700 {
            s.connect(pick);
        }
        let pick = NodeId(rng.random_range(1..=5));
        let r = rng.random_range(0..1000);
        if r < 100 && s.is_up(pick) {
            s.crash(pick);
        } else if r < 600 && !s.is_up(pick) {
            s.restart(pick);
        }
        let up = s.ids().into_iter().filter(|&i| s.is_up(i)).count();
        if up < 3 {
            let down = s.ids().into_iter().find(|&i| !s.is_up(i)).unwrap();
            s.restart(down);
        }
        run(&mut s, rng.random_range(1..=ELECTION / 3));
    }
    s.net = NetConfig::reliable();
    for i in s.ids() {
        if !s.is_up(i) {
            s.restart(i);
        }
        s.connect(i);
    }
    let last = s.one(command(u64::MAX), 5, true);
    // Every acknowledged write is in the agreed log.
    let acked: Vec<_> = s
        .history
        .iter()
        .filter(|o| o.complete.is_some() && !o.failed && o.write.is_some())
        .cloned()
        .collect();
    assert!(!acked.is_empty(), "no write was acknowledged during the churn");
    for op in acked {
        let (index, _) = op.index.unwrap();
        assert!(index <= last);
        let (n, cmd) = s.n_committed(index);
        assert_eq!(
            cmd,
            Some(Payload::Command(command(op.write.unwrap()))),
            "acknowledged write lost at {index} ({n})"
        );
    }
    finish(&s);
}

#[test]
fn lab_2c_reliable_churn() {
    churn(test_name!(), 20, false);
}

#[test]
fn lab_2c_unreliable_churn() {
    churn(test_name!(), 21, true);
}

// ----- 2D: snapshots ------------------------------------------------------------------------------

const SNAPSHOT_INTERVAL: u64 = 10;

/// 6.824 snapcommon: each round a victim follower misses more than a snapshot's worth of entries, by
/// disconnection or crash, and must catch up (usually by InstallSnapshot).
fn snapcommon(name: String, seed: u64, disconnect: bool, reliable: bool, crash: bool) {
    let mut cfg = SimConfig::new(3, seed_or(seed));
    cfg.snapshot_every = Some(SNAPSHOT_INTERVAL);
    let mut s = Sim::new(&name, cfg);
    if !reliable {
        s.net = NetConfig::unreliable();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(s.cfg.seed);
    s.one(command(rng.random()), 3, true);
    let mut leader1 = check_one_leader(&mut s);
    for i in 0..12u64 {
        let mut victim = id(leader1.0, 3);
        let mut sender = leader1;
        if i % 3 == 1 {
            sender = id(leader1.0, 3);
            victim = leader1;
        }
        if disconnect {
            s.disconnect(victim);
            s.one(command(rng.random()), 2, true);
        }
        if crash {
            s.crash(victim);
            s.one(command(rng.random()), 2, true);
        }
        // Send enough to get a snapshot taken past the victim.
        let n = SNAPSHOT_INTERVAL + 1;
        for _ in 0..n {
            s.propose(sender, command(rng.random()));
        }
        // Let the applier threads catch up with the proposals.
        s.one(command(rng.random()), 2, true);
        for node in s.nodes.values() {
            assert!(
                node.storage.entries.len() as u64 <= 4 * SNAPSHOT_INTERVAL + 2 * n,
                "n{} keeps {} log entries: snapshots do not compact the log",
                node.id.0,
                node.storage.entries.len()
            );
        }
        if disconnect {
            // Reconnect the victim: it must catch up, from a snapshot if its entries are gone.
            s.connect(victim);
            s.one(command(rng.random()), 3, true);
            leader1 = check_one_leader(&mut s);
        }
        if crash {
            s.restart(victim);
            s.one(command(rng.random()), 3, true);
            leader1 = check_one_leader(&mut s);
        }
    }
    if disconnect || crash {
        assert!(s.stats.snapshots > 0, "no InstallSnapshot was ever sent");
    }
    finish(&s);
}

#[test]
fn lab_2d_snapshot_basic() {
    snapcommon(test_name!(), 22, false, true, false);
}

#[test]
fn lab_2d_snapshot_install() {
    snapcommon(test_name!(), 23, true, true, false);
}

#[test]
fn lab_2d_snapshot_install_unreliable() {
    snapcommon(test_name!(), 24, true, false, false);
}

#[test]
fn lab_2d_snapshot_install_crash() {
    snapcommon(test_name!(), 25, false, true, true);
}

#[test]
fn lab_2d_snapshot_install_uncrash() {
    snapcommon(test_name!(), 26, false, false, true);
}

#[test]
fn lab_2d_snapshot_all_crash() {
    let mut cfg = SimConfig::new(3, seed_or(27));
    cfg.snapshot_every = Some(SNAPSHOT_INTERVAL);
    let mut s = Sim::new(&test_name!(), cfg);
    let mut v = 1;
    s.one(command(v), 3, true);
    for _ in 0..5 {
        // Perhaps enough to get a snapshot.
        for _ in 0..(SNAPSHOT_INTERVAL / 2 + 3) {
            v += 1;
            s.one(command(v), 3, true);
        }
        v += 1;
        let index1 = s.one(command(v), 3, true);
        crash_restart_all(&mut s);
        v += 1;
        let index2 = s.one(command(v), 3, true);
        assert!(index2 > index1, "index decreased from {index1} to {index2}");
    }
    assert!(s.nodes.values().all(|n| n.storage.snapshot.is_some()), "no snapshot was ever taken");
    finish(&s);
}

#[test]
fn lab_2d_snapshot_init() {
    let mut cfg = SimConfig::new(3, seed_or(28));
    cfg.snapshot_every = Some(SNAPSHOT_INTERVAL);
    let mut s = Sim::new(&test_name!(), cfg);
    s.one(command(1), 3, true);
    // Enough ops to make a snapshot.
    for v in 0..=SNAPSHOT_INTERVAL {
        s.one(command(100 + v), 3, true);
    }
    crash_restart_all(&mut s);
    // A single op, to get something to be written back to persistent storage.
    s.one(command(2), 3, true);
    crash_restart_all(&mut s);
    // Do another op to trigger a potential bug.
    s.one(command(3), 3, true);
    assert!(s.nodes.values().all(|n| n.storage.snapshot.is_some()));
    // A restarted server's state machine starts from its snapshot, not from empty.
    for n in s.nodes.values() {
        assert_eq!(n.sm.value, 3, "n{} state machine after restart", n.id.0);
        assert_eq!(s.status(n.id).unwrap().role == Role::Leader, s.leader() == Some(n.id));
    }
    finish(&s);
}
