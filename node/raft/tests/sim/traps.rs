//! The traps the 6.824 lab notes call out, as scripted scenarios. The same scripts run with a planted
//! bug in `planted.rs`, where they must catch it.

use crate::cluster::{Sim, SimConfig, command, seed_or};
use crate::test_name;
use raft::{Bug, Config, Entry, LogIndex, Message, MessageBody, NodeId, Payload, Raft, Restored, Role, Term};

const ELECTION: u64 = 30;

fn fail_if(s: &Sim, cond: bool, what: &str) {
    if cond {
        s.assert_ok();
        s.fail(what);
    }
}

/// A vote must survive a crash (Figure 2: `votedFor` is persistent state).
///
/// Nodes 1 and 2 cannot reach each other; both campaign in term 1. Node 3 votes for node 1 (which
/// wins), while node 2's RequestVote to node 3 is held back in the network. Node 3 crashes and
/// restarts, and only then does node 2's request arrive: a server that forgot its vote grants it, and
/// term 1 has two leaders.
///
/// Pre-vote is off here: with pre-vote the restarted voter also refuses the pre-vote for its own
/// term, which hides this bug in a three-node cluster (it does not in general).
pub fn vote_across_crash(name: String, bugs: &[Bug]) -> Sim {
    let mut cfg = SimConfig::new(3, seed_or(31));
    cfg.pre_vote = false;
    cfg.bugs = bugs.iter().copied().collect();
    let mut s = Sim::new(&name, cfg);
    s.cut(1, 2);
    s.cut(2, 1);
    s.hold = Some(Box::new(|m: &Message| {
        m.from == NodeId(2) && m.to == NodeId(3) && matches!(m.body, MessageBody::RequestVote { .. })
    }));
    let ok = s.run_until(5 * ELECTION, |s| {
        s.status(NodeId(1)).is_some_and(|st| st.role == Role::Leader && st.term == Term(1))
            && s.held.iter().any(|m| m.term == Term(1))
            && s.status(NodeId(2)).is_some_and(|st| st.role == Role::Candidate && st.term == Term(1))
    });
    fail_if(
        &s,
        !ok,
        &format!("scenario set-up failed: need n1 leading term 1 and n2 campaigning in it\n{}", s.report()),
    );
    assert_eq!(s.nodes[&NodeId(3)].storage.hard_state.term, Term(1));
    s.restart(NodeId(3));
    s.hold = None;
    let request = s.held.iter().find(|m| m.term == Term(1)).cloned().unwrap();
    s.deliver_now(request);
    s.run_ticks(ELECTION);
    s
}

#[test]
fn trap_vote_survives_crash() {
    let s = vote_across_crash(test_name!(), &[]);
    s.assert_ok();
    let n2 = s.status(NodeId(2)).unwrap();
    assert!(!(n2.role == Role::Leader && n2.term == Term(1)), "n2 won term 1 with a recycled vote");
}

/// A stale AppendEntries that arrives after a newer one must not truncate the follower's log (§5.3:
/// truncate only at a real conflict). Driven directly against one core: the message order is the point.
#[test]
fn trap_stale_append_after_newer_one() {
    let peers = vec![NodeId(1), NodeId(2)];
    let mut follower = Raft::new(Config::new(NodeId(2), peers), Restored::default()).unwrap();
    let entries: Vec<Entry> = (1..=5)
        .map(|i| Entry { term: Term(1), index: LogIndex(i), payload: Payload::Command(command(i)) })
        .collect();
    let append = |n: usize| Message {
        from: NodeId(1),
        to: NodeId(2),
        term: Term(1),
        body: MessageBody::AppendEntries {
            prev_log_index: LogIndex(0),
            prev_log_term: Term(0),
            entries: entries[..n].to_vec(),
            leader_commit: LogIndex(0),
            read_round: 0,
        },
    };
    // The newer message (five entries) overtakes the older one (three entries).
    follower.step(append(5));
    let rd = follower.ready();
    follower.advance();
    assert_eq!(rd.entries.len(), 5);
    follower.step(append(3));
    let rd = follower.ready();
    follower.advance();
    assert!(rd.entries.is_empty(), "the stale message rewrote the log: {:?}", rd.entries);
    assert_eq!(follower.status().last_index, LogIndex(5), "the stale message truncated the log");
    let ack = rd.persisted_messages.iter().find_map(|m| match m.body {
        MessageBody::AppendEntriesResponse { success, match_index, .. } => Some((success, match_index)),
        _ => None,
    });
    // The answer vouches only for what that message carried.
    assert_eq!(ack, Some((true, LogIndex(3))));
}

/// A leader cut off from the majority while clients keep writing to it: it must step down within an
/// election timeout (check-quorum), none of those writes may be acknowledged, and reads sent to it
/// are dropped, never answered with stale data.
#[test]
fn trap_leader_cut_off_while_clients_write() {
    let mut s = Sim::new(&test_name!(), SimConfig::new(5, seed_or(33)));
    s.run_until(10 * ELECTION, |s| s.leader().is_some());
    let old = s.leader().unwrap();
    s.client_write(old);
    s.run_ticks(5);
    let buddy = s.ids().into_iter().find(|&i| i != old).unwrap();
    let rest: Vec<u64> = s.ids().into_iter().filter(|&i| i != old && i != buddy).map(|i| i.0).collect();
    s.partition(&[&[old.0, buddy.0], &rest]);
    let first_cut = s.history.len();
    for _ in 0..5 {
        s.client_write(old);
        s.client_read(old);
        s.run_ticks(1);
    }
    let cut_ops = s.history.len();
    let stepped_down = s.run_until(25, |s| s.status(old).is_some_and(|st| st.role != Role::Leader));
    fail_if(
        &s,
        !stepped_down,
        "the cut-off leader did not step down within an election timeout (check-quorum)",
    );
    // The majority side elects a leader and takes writes.
    let ok = s.run_until(10 * ELECTION, |s| s.leader().is_some_and(|l| l != old && l != buddy));
    fail_if(&s, !ok, "the majority did not elect a new leader");
    let new = s.leader().unwrap();
    for _ in 0..3 {
        s.client_write(new);
        s.run_ticks(2);
    }
    s.heal();
    s.run_ticks(ELECTION);
    s.one(command(999), 5, true);
    s.assert_ok();
    for op in &s.history[first_cut..cut_ops] {
        assert!(
            op.complete.is_none() || op.failed,
            "an operation on the cut-off leader was acknowledged: {op:?}"
        );
    }
    assert!(s.history[first_cut..cut_ops].iter().any(|o| o.failed), "cut-off operations should be refused");
    if let Err(e) = s.check_linearizable() {
        s.fail(&e);
    }
}

/// Leadership transfer (thesis §3.10): the leader brings the target up to date, tells it to campaign
/// at once, and refuses proposals meanwhile; the target leads within an election timeout.
#[test]
fn leadership_transfer_hands_over_quickly() {
    let mut s = Sim::new(&test_name!(), SimConfig::new(3, seed_or(34)));
    s.one(command(1), 3, true);
    let old = s.leader().unwrap();
    let to = s.ids().into_iter().find(|&i| i != old).unwrap();
    // The target misses some entries first, so the leader must catch it up before handing over.
    s.disconnect(to);
    s.one(command(2), 2, true);
    s.connect(to);
    s.transfer_leadership(old, to);
    assert!(s.propose(old, command(3)).is_none(), "a leader handing over must refuse proposals");
    let ok = s.run_until(10, |s| s.leader() == Some(to));
    fail_if(&s, !ok, &format!("n{} did not take over within 10 ticks\n{}", to.0, s.report()));
    s.one(command(4), 3, true);
    s.assert_ok();
}
