//! The configuration of one core, and the errors the core reports to its shell.
//!
//! A `Config` is validated once, in [`Raft::new`](crate::Raft::new): a bad value is refused with an
//! error naming the field, so the shell can print it and exit instead of running a cluster that cannot
//! elect a leader (an election timeout not longer than the heartbeat, say).

use crate::types::{Bug, LogIndex, NodeId};
use std::collections::BTreeSet;

/// Everything a core needs to know about itself and its cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// This server.
    pub id: NodeId,
    /// Every voter of the cluster, including `id`.
    pub peers: Vec<NodeId>,
    /// The base election timeout in ticks; each timeout is drawn from `[election_ticks, 2 *
    /// election_ticks)` with the seeded RNG (§5.2, randomized election timeouts).
    pub election_ticks: u32,
    /// A leader sends heartbeats every `heartbeat_ticks` ticks; must be less than `election_ticks`.
    pub heartbeat_ticks: u32,
    /// Seed of the election-jitter RNG. Each server mixes in its id, so a whole cluster may share one seed.
    pub seed: u64,
    /// Run a pre-vote round before raising the term (thesis §9.6), so a server that was cut off cannot
    /// disrupt a healthy leader when it returns.
    pub pre_vote: bool,
    /// A leader steps down when it has not heard from a majority within an election timeout (thesis
    /// §6.2), and followers that hear from a leader ignore pre-votes for that long.
    pub check_quorum: bool,
    /// The most entries one AppendEntries carries.
    pub max_entries_per_append: usize,
    /// Planted bugs to switch on (all off in production).
    pub bugs: BTreeSet<Bug>,
}

impl Config {
    /// A configuration with the defaults: election timeout 10 ticks, heartbeat every tick, seed 0,
    /// pre-vote and check-quorum on, 64 entries per AppendEntries, no planted bugs.
    pub fn new(id: NodeId, peers: Vec<NodeId>) -> Config {
        Config {
            id,
            peers,
            election_ticks: 10,
            heartbeat_ticks: 1,
            seed: 0,
            pre_vote: true,
            check_quorum: true,
            max_entries_per_append: 64,
            bugs: BTreeSet::new(),
        }
    }

    /// True when the planted bug is switched on.
    pub fn has_bug(&self, bug: Bug) -> bool {
        self.bugs.contains(&bug)
    }

    pub(crate) fn validate(&self) -> Result<(), RaftError> {
        let bad = |field: &'static str, reason: String| Err(RaftError::InvalidConfig { field, reason });
        if self.id.0 == 0 {
            return bad("id", "node ids start at 1 (0 means \"no node\" on the wire)".into());
        }
        if !self.peers.contains(&self.id) {
            return bad(
                "peers",
                format!("the peer list {:?} must include this server's id {}", self.peers, self.id),
            );
        }
        let unique: BTreeSet<_> = self.peers.iter().collect();
        if unique.len() != self.peers.len() {
            return bad("peers", format!("the peer list {:?} names a server twice", self.peers));
        }
        if self.peers.iter().any(|p| p.0 == 0) {
            return bad("peers", "node ids start at 1".into());
        }
        if self.heartbeat_ticks == 0 {
            return bad("heartbeat_ticks", "must be at least 1".into());
        }
        if self.election_ticks <= self.heartbeat_ticks {
            return bad(
                "election_ticks",
                format!(
                    "must be greater than heartbeat_ticks ({} <= {}), or followers time out between heartbeats",
                    self.election_ticks, self.heartbeat_ticks
                ),
            );
        }
        if self.max_entries_per_append == 0 {
            return bad("max_entries_per_append", "must be at least 1".into());
        }
        Ok(())
    }
}

/// The error of `propose` and `read_index` on a server that is not the leader (or is handing
/// leadership over): the request never entered the log. `leader` is the server's best guess.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not the leader (leader is {})", leader.map_or_else(|| "unknown".to_string(), |l| l.to_string()))]
pub struct NotLeader {
    pub leader: Option<NodeId>,
}

/// Errors of the core's constructor and of `compact`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RaftError {
    /// A configuration value cannot work.
    #[error("invalid raft config field `{field}`: {reason}")]
    InvalidConfig { field: &'static str, reason: String },
    /// The state handed to `Raft::new` contradicts itself (a gap in the log, a commit index past the
    /// last entry, ...): storage is damaged or was written by something else. Nothing was changed.
    #[error("inconsistent restored state: {reason}; refusing to start rather than lose committed data")]
    InconsistentRestore { reason: String },
    /// `compact` was asked to snapshot past what the shell has been given to apply.
    #[error(
        "cannot compact the log at index {index}: only entries up to {applied} have been handed out to apply"
    )]
    CompactBeyondApplied { index: LogIndex, applied: LogIndex },
    /// `compact` was asked for an index the log has already compacted.
    #[error("cannot compact the log at index {index}: it is already compacted up to {snapshot_index}")]
    CompactBehindSnapshot { index: LogIndex, snapshot_index: LogIndex },
}
