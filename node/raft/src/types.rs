//! The vocabulary of the core: ids, log entries, messages and the `Ready` hand-off.
//!
//! These types are also the wire types: raft-node frames `Message` between peers and the harness
//! reads `Entry` from `/debug/log`. They derive serde so the shell can pick an encoding; the core never
//! encodes anything itself.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A server's identity in the cluster. Ids are small positive integers chosen by the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub u64);

/// A Raft term (§5.1). Term 0 is the term before any election.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Term(pub u64);

/// A position in the replicated log. Index 0 is the empty prefix; the first entry has index 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LogIndex(pub u64);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for LogIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl LogIndex {
    /// The index after this one.
    pub fn next(self) -> LogIndex {
        LogIndex(self.0 + 1)
    }

    /// The index before this one; `LogIndex(0).prev()` stays 0.
    pub fn prev(self) -> LogIndex {
        LogIndex(self.0.saturating_sub(1))
    }
}

/// What a log entry carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Payload {
    /// The entry a new leader appends at once in its term, so that earlier entries can commit (§5.4.2,
    /// §8). The state machine skips it.
    Noop,
    /// An opaque client command; the shell defines its encoding.
    Command(Vec<u8>),
}

/// One entry of the replicated log (Figure 2: "each entry contains command for state machine, and term
/// when entry was received by leader").
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    pub term: Term,
    pub index: LogIndex,
    pub payload: Payload,
}

/// The state every server keeps on stable storage before it answers RPCs (Figure 2, "Persistent state
/// on all servers"), plus the commit index so a restarted server need not re-learn it to serve reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HardState {
    pub term: Term,
    pub vote: Option<NodeId>,
    pub commit: LogIndex,
}

/// A snapshot of the application state machine that replaces the log prefix up to `last_index` (§7).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Snapshot {
    pub last_index: LogIndex,
    pub last_term: Term,
    /// The state machine image, opaque to the core.
    pub data: Vec<u8>,
}

/// What a follower tells the leader when AppendEntries does not match (the "fast backup" of §5.3 as the
/// 6.824 notes describe it): the leader skips a whole conflicting term in one round trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Conflict {
    /// The term of the follower's entry at `prev_log_index`, if it has one.
    pub term: Option<Term>,
    /// The first index the follower stores for `term` (or its log length + 1 when `term` is None).
    pub first_index: LogIndex,
    /// The index of the follower's last entry.
    pub last_index: LogIndex,
}

/// A message between two servers. `term` is the sender's current term, except for pre-vote requests,
/// which carry the term the candidate would campaign in.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Message {
    pub from: NodeId,
    pub to: NodeId,
    pub term: Term,
    pub body: MessageBody,
}

/// The RPCs of Figure 2 and §7, plus pre-vote (thesis §9.6) and leadership transfer (thesis §3.10).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MessageBody {
    RequestVote {
        pre_vote: bool,
        last_log_index: LogIndex,
        last_log_term: Term,
    },
    RequestVoteResponse {
        pre_vote: bool,
        granted: bool,
    },
    AppendEntries {
        prev_log_index: LogIndex,
        prev_log_term: Term,
        entries: Vec<Entry>,
        leader_commit: LogIndex,
        /// The highest ReadIndex round this heartbeat confirms leadership for (0 when none).
        read_round: u64,
    },
    AppendEntriesResponse {
        success: bool,
        /// On success, the index of the last entry the follower now holds that matches the leader.
        match_index: LogIndex,
        /// On failure, where the follower's log diverges.
        conflict: Option<Conflict>,
        /// Echo of the request's `read_round`.
        read_round: u64,
    },
    InstallSnapshot {
        snapshot: Snapshot,
    },
    InstallSnapshotResponse {
        last_index: LogIndex,
    },
    /// Start an election now, skipping pre-vote (leadership transfer).
    TimeoutNow,
}

/// A linearizable read the core has cleared: once the state machine has applied `index`, the read with
/// context `ctx` may be served from local state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReadState {
    pub ctx: u64,
    pub index: LogIndex,
}

/// A server's role. Observable for status pages; the core keeps role-specific state inside its own types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Role::Follower => "follower",
            Role::PreCandidate => "pre-candidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        };
        f.write_str(s)
    }
}

/// Everything the shell must do after an input, in this order:
/// 1. install `snapshot` (if any), append `entries` (truncating any suffix from `entries[0].index` on),
///    and write `hard_state` (if any); make all of it durable (fsync);
/// 2. send `messages` (these could go before step 1 too) and then `persisted_messages`;
/// 3. apply `committed_entries` to the state machine, in order; serve `read_states` once applied;
/// 4. call `advance`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    /// Messages that depend on no unpersisted state and may go at once.
    pub messages: Vec<Message>,
    /// Messages that may go only after `hard_state`, `entries` and `snapshot` are durable (votes,
    /// append acknowledgements).
    pub persisted_messages: Vec<Message>,
    pub hard_state: Option<HardState>,
    pub entries: Vec<Entry>,
    /// A snapshot from the leader to install: restore the state machine from it, and keep the log
    /// after it only if the log holds the snapshot's last entry with the same term (§7); otherwise
    /// drop the whole log. The committed entries of the same Ready start after it.
    pub snapshot: Option<Snapshot>,
    pub committed_entries: Vec<Entry>,
    /// Reads cleared in this Ready: safe to serve once `committed_entries` (this Ready's and earlier)
    /// have been applied.
    pub read_states: Vec<ReadState>,
    /// Contexts of `read_index` requests that will never be cleared (the leader stepped down before it
    /// could confirm them); the shell answers them "not leader".
    pub dropped_reads: Vec<u64>,
}

impl Ready {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
            && self.persisted_messages.is_empty()
            && self.hard_state.is_none()
            && self.entries.is_empty()
            && self.snapshot.is_none()
            && self.committed_entries.is_empty()
            && self.read_states.is_empty()
            && self.dropped_reads.is_empty()
    }
}

/// Deliberately wrong behaviours, off unless named. They exist so that Faultline can prove it catches
/// real bugs; each names the rule of the paper it breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Bug {
    /// Count replicas for entries of earlier terms when advancing the commit index (breaks §5.4.2,
    /// Figure 8).
    CommitOldTerm,
    /// The vote is not part of the persisted hard state, so a restarted server may vote twice in a term
    /// (breaks Figure 2, "Persistent state").
    ForgetVote,
    /// Followers append without checking `prev_log_index` / `prev_log_term` (breaks the Log Matching
    /// property, §5.3).
    NoConflictCheck,
    /// The leader answers reads from local state without a ReadIndex round (breaks §8 linearizable reads).
    StaleRead,
}

impl Bug {
    /// Every planted bug of the core, for help texts and matrices.
    pub const ALL: [Bug; 4] = [Bug::CommitOldTerm, Bug::ForgetVote, Bug::NoConflictCheck, Bug::StaleRead];

    /// The kebab-case name used by `--bug`.
    pub fn name(self) -> &'static str {
        match self {
            Bug::CommitOldTerm => "commit-old-term",
            Bug::ForgetVote => "forget-vote",
            Bug::NoConflictCheck => "no-conflict-check",
            Bug::StaleRead => "stale-read",
        }
    }

    /// Parses a `--bug` name.
    pub fn from_name(name: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| b.name() == name)
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bug_names_round_trip() {
        for bug in Bug::ALL {
            assert_eq!(Bug::from_name(bug.name()), Some(bug));
        }
        assert_eq!(Bug::from_name("no-such-bug"), None);
    }

    #[test]
    fn empty_ready_is_empty_and_any_field_makes_it_not() {
        assert!(Ready::default().is_empty());
        let r = Ready { hard_state: Some(HardState::default()), ..Ready::default() };
        assert!(!r.is_empty());
    }
}
