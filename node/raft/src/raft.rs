//! The consensus algorithm: one server's state and its reaction to ticks, messages and client requests.
//!
//! The shape follows etcd-io/raft and tikv/raft-rs: every input mutates the state and queues effects
//! (messages, entries to persist, entries to apply), and the shell collects them with [`Raft::ready`].
//! Role-specific state lives inside [`RoleState`], so a follower cannot touch a progress table and a
//! leader cannot hold a vote tally.
//!
//! Rules worth knowing before reading the code (each is a classic bug of the 6.824 lab notes):
//! - any message with a higher term turns the receiver into a follower of that term *before* the
//!   message is handled (Figure 2, "Rules for all servers"), except pre-vote traffic, which never
//!   changes a term (thesis §9.6);
//! - a follower truncates its log only at a real conflict, never because an AppendEntries is shorter
//!   than its log (a stale or reordered message must not erase entries, §5.3);
//! - a follower's commit index advances only up to the last entry the leader has vouched for in *this*
//!   message, not to the end of its own log;
//! - a leader commits by counting replicas only entries of its own term (§5.4.2, Figure 8) and appends a
//!   no-op at once so earlier entries commit without waiting for a client (§8);
//! - a leader counts itself towards a quorum only for entries the shell has made durable, and votes and
//!   append acknowledgements leave only after the state they depend on is durable (`persisted_messages`);
//! - a read is served only after the leader's no-op of the current term has committed and a majority has
//!   confirmed its leadership after the read arrived (§8, ReadIndex).

use crate::config::{Config, NotLeader, RaftError};
use crate::log::RaftLog;
use crate::types::{
    Bug, Conflict, Entry, HardState, LogIndex, Message, MessageBody, NodeId, Payload, ReadState, Ready, Role,
    Snapshot, Term,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, VecDeque};
use tracing::{debug, info};

/// The durable state a server restarts from: exactly what earlier `Ready`s asked the shell to persist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    pub hard_state: HardState,
    /// The latest snapshot; the shell restores its state machine from it before handing it here.
    pub snapshot: Option<Snapshot>,
    /// The log after the snapshot, in index order.
    pub entries: Vec<Entry>,
}

/// A snapshot of a server's state for status pages and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    pub id: NodeId,
    pub role: Role,
    pub term: Term,
    pub leader: Option<NodeId>,
    pub commit: LogIndex,
    /// Highest index whose application the shell has confirmed with `advance`.
    pub applied: LogIndex,
    pub last_index: LogIndex,
    pub snapshot_index: LogIndex,
}

/// What a leader knows about one follower (Figure 2, "Volatile state on leaders", plus the replication
/// mode of etcd's `Progress`).
#[derive(Clone, Debug)]
struct Progress {
    /// Highest index known to match the leader's log (`matchIndex`).
    match_index: LogIndex,
    /// Next index to send (`nextIndex`).
    next_index: LogIndex,
    mode: Mode,
    /// Heard from in the current check-quorum window.
    recent_active: bool,
    /// Highest ReadIndex round this follower has acknowledged.
    read_ack: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Where the follower's log matches is unknown: one AppendEntries at a time until one succeeds.
    Probe { sent: bool },
    /// The follower is in step: send new entries at once and advance `next_index` optimistically.
    Replicate,
    /// A snapshot is on its way; `elapsed` ticks since it was sent, to retry a lost one.
    Snapshot { index: LogIndex, elapsed: u32 },
}

#[derive(Clone, Copy, Debug)]
struct PendingRead {
    ctx: u64,
    index: LogIndex,
    round: u64,
}

#[derive(Clone, Debug)]
struct LeaderState {
    progress: BTreeMap<NodeId, Progress>,
    heartbeat_elapsed: u32,
    /// The no-op appended on election; reads wait until it commits.
    noop_index: LogIndex,
    /// Reads that arrived before the no-op committed.
    waiting_reads: Vec<u64>,
    /// Reads waiting for a majority to confirm their round.
    reads: VecDeque<PendingRead>,
    /// Leadership transfer in progress: target and ticks spent.
    transfer: Option<(NodeId, u32)>,
}

/// The state only one role has.
#[derive(Clone, Debug)]
enum RoleState {
    Follower { leader: Option<NodeId> },
    PreCandidate { votes: BTreeMap<NodeId, bool> },
    Candidate { votes: BTreeMap<NodeId, bool> },
    Leader(Box<LeaderState>),
}

/// What the last `Ready` handed out, confirmed by `advance`.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    persisted_to: LogIndex,
    applied_to: LogIndex,
}

/// One Raft server: a pure state machine (see the crate documentation).
#[derive(Debug)]
pub struct Raft {
    config: Config,
    term: Term,
    vote: Option<NodeId>,
    log: RaftLog,
    role: RoleState,
    election_elapsed: u32,
    randomized_timeout: u32,
    rng: ChaCha8Rng,
    /// Highest ReadIndex round issued; monotonic over the server's life so an old acknowledgement can
    /// never confirm a newer read.
    read_round: u64,
    msgs: Vec<Message>,
    persisted_msgs: Vec<Message>,
    read_states: Vec<ReadState>,
    dropped_reads: Vec<u64>,
    pending_snapshot: Option<Snapshot>,
    /// The hard state as last handed out (masked by the forget-vote bug).
    emitted_hard_state: HardState,
    /// Highest index handed to the shell to apply (or covered by a handed-out snapshot).
    apply_sent: LogIndex,
    applied: LogIndex,
    in_flight: Option<InFlight>,
}

impl Raft {
    /// A server restarting from `restored` (all defaults for a brand-new server). It starts as a
    /// follower that knows no leader. The first `Ready` hands out the committed entries after the
    /// snapshot again, since the state machine is rebuilt from the snapshot.
    pub fn new(config: Config, restored: Restored) -> Result<Raft, RaftError> {
        config.validate()?;
        let Restored { mut hard_state, snapshot, entries } = restored;
        if config.has_bug(Bug::ForgetVote) {
            hard_state.vote = None;
        }
        let inconsistent = |reason: String| Err(RaftError::InconsistentRestore { reason });
        let snapshot_index = snapshot.as_ref().map_or(LogIndex(0), |s| s.last_index);
        let snapshot_term = snapshot.as_ref().map_or(Term(0), |s| s.last_term);
        // Storage may still hold entries the snapshot covers; they are committed, so dropping them is safe.
        let entries: Vec<Entry> = entries.into_iter().filter(|e| e.index > snapshot_index).collect();
        let mut expect = snapshot_index.next();
        let mut prev_term = snapshot_term;
        for e in &entries {
            if e.index != expect {
                return inconsistent(format!(
                    "log entry {} follows index {}: a gap or a duplicate",
                    e.index,
                    expect.prev()
                ));
            }
            if e.term < prev_term {
                return inconsistent(format!(
                    "log entry {} has term {} after term {prev_term}",
                    e.index, e.term
                ));
            }
            expect = e.index.next();
            prev_term = e.term;
        }
        if prev_term > hard_state.term {
            return inconsistent(format!(
                "the log holds term {prev_term} but the hard state's term is {}",
                hard_state.term
            ));
        }
        let last = expect.prev();
        if hard_state.commit > last {
            return inconsistent(format!(
                "commit index {} is past the last log index {last}",
                hard_state.commit
            ));
        }
        if let Some(v) = hard_state.vote
            && !config.peers.contains(&v)
        {
            return inconsistent(format!("the hard state votes for {v}, which is not a peer"));
        }
        let commit = hard_state.commit.max(snapshot_index);
        let log = RaftLog::restore(snapshot, entries, commit);
        let seed = config.seed ^ config.id.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut raft = Raft {
            term: hard_state.term,
            vote: hard_state.vote,
            log,
            role: RoleState::Follower { leader: None },
            election_elapsed: 0,
            randomized_timeout: config.election_ticks,
            rng: ChaCha8Rng::seed_from_u64(seed),
            read_round: 0,
            msgs: Vec::new(),
            persisted_msgs: Vec::new(),
            read_states: Vec::new(),
            dropped_reads: Vec::new(),
            pending_snapshot: None,
            emitted_hard_state: HardState::default(),
            apply_sent: snapshot_index,
            applied: snapshot_index,
            in_flight: None,
            config,
        };
        raft.emitted_hard_state = raft.hard_state();
        raft.reset_election_timer();
        info!(node = %raft.config.id, term = %raft.term, last_index = %last, commit = %commit, "raft core started");
        Ok(raft)
    }

    // ----- inputs ---------------------------------------------------------------------------------

    /// One unit of logical time.
    pub fn tick(&mut self) {
        if matches!(self.role, RoleState::Leader(_)) {
            self.tick_leader();
        } else {
            self.election_elapsed += 1;
            if self.election_elapsed >= self.randomized_timeout {
                self.campaign(self.config.pre_vote);
            }
        }
    }

    /// Handles a message from a peer. Messages addressed to another server, or from a server that is
    /// not a peer, are ignored.
    pub fn step(&mut self, m: Message) {
        let id = self.config.id;
        if m.to != id || m.from == id || !self.config.peers.contains(&m.from) {
            debug!(node = %id, from = %m.from, to = %m.to, "ignoring a message not meant for this server");
            return;
        }
        if m.term > self.term {
            let keeps_term = match m.body {
                MessageBody::RequestVote { pre_vote, .. } => pre_vote,
                MessageBody::RequestVoteResponse { pre_vote, granted } => pre_vote && granted,
                _ => false,
            };
            if !keeps_term {
                let leader = match m.body {
                    MessageBody::AppendEntries { .. } | MessageBody::InstallSnapshot { .. } => Some(m.from),
                    _ => None,
                };
                info!(node = %id, term = %self.term, new_term = %m.term, from = %m.from, "higher term seen, stepping down");
                self.become_follower(m.term, leader);
            }
        } else if m.term < self.term {
            // A stale leader or pre-candidate learns the current term from our answer and steps down.
            match m.body {
                MessageBody::AppendEntries { read_round, .. } => self.send_persisted(
                    m.from,
                    MessageBody::AppendEntriesResponse {
                        success: false,
                        match_index: LogIndex(0),
                        conflict: None,
                        read_round,
                    },
                ),
                MessageBody::InstallSnapshot { .. } => self
                    .send_persisted(m.from, MessageBody::InstallSnapshotResponse { last_index: LogIndex(0) }),
                MessageBody::RequestVote { pre_vote: true, .. } => {
                    self.send(m.from, MessageBody::RequestVoteResponse { pre_vote: true, granted: false })
                }
                _ => {}
            }
            return;
        }
        match m.body {
            MessageBody::RequestVote { pre_vote, last_log_index, last_log_term } => {
                self.handle_request_vote(m.from, m.term, pre_vote, last_log_index, last_log_term)
            }
            MessageBody::RequestVoteResponse { pre_vote, granted } => {
                self.handle_vote_response(m.from, m.term, pre_vote, granted)
            }
            MessageBody::AppendEntries {
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                read_round,
            } => {
                self.handle_append(m.from, prev_log_index, prev_log_term, entries, leader_commit, read_round)
            }
            MessageBody::AppendEntriesResponse { success, match_index, conflict, read_round } => {
                self.handle_append_response(m.from, success, match_index, conflict, read_round)
            }
            MessageBody::InstallSnapshot { snapshot } => self.handle_snapshot(m.from, snapshot),
            MessageBody::InstallSnapshotResponse { last_index } => {
                self.handle_snapshot_response(m.from, last_index)
            }
            MessageBody::TimeoutNow => {
                if !matches!(self.role, RoleState::Leader(_)) {
                    info!(node = %id, from = %m.from, "leadership handed over, campaigning now");
                    self.campaign(false);
                }
            }
        }
    }

    /// Appends a client command to the leader's log. The command is committed once the entry at
    /// `(index, term)` appears in `committed_entries`; a committed entry at `index` with another term
    /// means this command was lost (it will never apply).
    pub fn propose(&mut self, command: Vec<u8>) -> Result<(LogIndex, Term), NotLeader> {
        let RoleState::Leader(ls) = &self.role else { return Err(NotLeader { leader: self.leader() }) };
        if ls.transfer.is_some() {
            return Err(NotLeader { leader: None });
        }
        let index = self.log.last_index().next();
        self.log.append(Entry { term: self.term, index, payload: Payload::Command(command) });
        self.broadcast_append(false);
        Ok((index, self.term))
    }

    /// Asks for a linearizable read with the caller's context `ctx`. On the leader the read is later
    /// released in `Ready::read_states` (serve it once the state machine has applied that index) or
    /// given up in `Ready::dropped_reads` if this server loses leadership first.
    pub fn read_index(&mut self, ctx: u64) -> Result<(), NotLeader> {
        let leader = self.leader();
        let term = self.term;
        let RoleState::Leader(ls) = &mut self.role else { return Err(NotLeader { leader }) };
        if self.config.bugs.contains(&Bug::StaleRead) {
            // Planted bug: answer from local state at once, with no proof of leadership.
            self.read_states.push(ReadState { ctx, index: self.log.commit });
            return Ok(());
        }
        if self.log.term(self.log.commit) != Some(term) || self.log.commit < ls.noop_index {
            // §8: until an entry of its own term commits, a new leader does not know the commit index.
            ls.waiting_reads.push(ctx);
            return Ok(());
        }
        self.start_read_round(vec![ctx]);
        Ok(())
    }

    /// Tells the core the application has taken a snapshot `data` of its state at `index` (which must
    /// have been handed out to apply). The log up to `index` is dropped; the snapshot is sent to
    /// followers that need it. It is not echoed back in a `Ready`: the shell persisted it already.
    pub fn compact(&mut self, index: LogIndex, data: Vec<u8>) -> Result<(), RaftError> {
        if index > self.apply_sent {
            return Err(RaftError::CompactBeyondApplied { index, applied: self.apply_sent });
        }
        if index <= self.log.snapshot_index {
            return Err(RaftError::CompactBehindSnapshot { index, snapshot_index: self.log.snapshot_index });
        }
        let term = self.log.term(index).expect("an index handed out to apply is in the log");
        self.log.compact(Snapshot { last_index: index, last_term: term, data });
        debug!(node = %self.config.id, index = %index, term = %term, "log compacted");
        Ok(())
    }

    /// Hands leadership to `to` (thesis §3.10): once `to` has the whole log it is told to campaign at
    /// once. Proposals are refused meanwhile; the transfer is abandoned after an election timeout.
    pub fn transfer_leadership(&mut self, to: NodeId) {
        let last = self.log.last_index();
        let RoleState::Leader(ls) = &mut self.role else { return };
        if to == self.config.id || !ls.progress.contains_key(&to) {
            return;
        }
        ls.transfer = Some((to, 0));
        let caught_up = ls.progress.get(&to).is_some_and(|p| p.match_index == last);
        info!(node = %self.config.id, to = %to, caught_up, "transferring leadership");
        if caught_up {
            self.send(to, MessageBody::TimeoutNow);
        } else {
            self.send_append(to, false);
        }
    }

    // ----- outputs --------------------------------------------------------------------------------

    /// True when `ready` would return something to do.
    pub fn has_ready(&self) -> bool {
        !self.msgs.is_empty()
            || !self.persisted_msgs.is_empty()
            || !self.read_states.is_empty()
            || !self.dropped_reads.is_empty()
            || self.pending_snapshot.is_some()
            || self.hard_state() != self.emitted_hard_state
            || self.log.unstable_from <= self.log.last_index()
            || self.log.commit > self.apply_sent
    }

    /// Takes everything pending. Handle it in the order documented on [`Ready`], then call `advance`.
    pub fn ready(&mut self) -> Ready {
        let hs = self.hard_state();
        let hard_state = (hs != self.emitted_hard_state).then_some(hs);
        self.emitted_hard_state = hs;
        let last = self.log.last_index();
        let entries = self.log.slice(self.log.unstable_from, last).to_vec();
        self.log.unstable_from = last.next();
        let committed_entries = self.log.slice(self.apply_sent.next(), self.log.commit).to_vec();
        self.apply_sent = self.apply_sent.max(self.log.commit);
        let prev = self.in_flight.take();
        self.in_flight = Some(InFlight {
            persisted_to: last,
            applied_to: self.apply_sent.max(prev.map_or(LogIndex(0), |p| p.applied_to)),
        });
        Ready {
            messages: std::mem::take(&mut self.msgs),
            persisted_messages: std::mem::take(&mut self.persisted_msgs),
            hard_state,
            entries,
            snapshot: self.pending_snapshot.take(),
            committed_entries,
            read_states: std::mem::take(&mut self.read_states),
            dropped_reads: std::mem::take(&mut self.dropped_reads),
        }
    }

    /// The last `Ready` is fully handled: its entries are durable and its committed entries applied.
    pub fn advance(&mut self) {
        let Some(done) = self.in_flight.take() else { return };
        self.log.persisted = self.log.persisted.max(done.persisted_to.min(self.log.last_index()));
        self.applied = self.applied.max(done.applied_to);
        if matches!(self.role, RoleState::Leader(_)) {
            // The leader's own copy now counts towards a quorum.
            self.maybe_commit();
        }
    }

    /// Where this server stands.
    pub fn status(&self) -> Status {
        Status {
            id: self.config.id,
            role: self.role(),
            term: self.term,
            leader: self.leader(),
            commit: self.log.commit,
            applied: self.applied,
            last_index: self.log.last_index(),
            snapshot_index: self.log.snapshot_index,
        }
    }

    /// The server's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn role(&self) -> Role {
        match self.role {
            RoleState::Follower { .. } => Role::Follower,
            RoleState::PreCandidate { .. } => Role::PreCandidate,
            RoleState::Candidate { .. } => Role::Candidate,
            RoleState::Leader(_) => Role::Leader,
        }
    }

    fn leader(&self) -> Option<NodeId> {
        match self.role {
            RoleState::Follower { leader } => leader,
            RoleState::Leader(_) => Some(self.config.id),
            _ => None,
        }
    }

    fn hard_state(&self) -> HardState {
        let vote = if self.config.has_bug(Bug::ForgetVote) { None } else { self.vote };
        HardState { term: self.term, vote, commit: self.log.commit }
    }

    fn quorum(&self) -> usize {
        self.config.peers.len() / 2 + 1
    }

    fn send(&mut self, to: NodeId, body: MessageBody) {
        let term = self.term;
        self.msgs.push(Message { from: self.config.id, to, term, body });
    }

    /// A message that may leave only once this Ready's state is durable.
    fn send_persisted(&mut self, to: NodeId, body: MessageBody) {
        let term = self.term;
        self.persisted_msgs.push(Message { from: self.config.id, to, term, body });
    }

    fn reset_election_timer(&mut self) {
        self.election_elapsed = 0;
        let e = self.config.election_ticks;
        self.randomized_timeout = self.rng.random_range(e..2 * e);
    }

    /// The lease of check-quorum: a server that has heard from a live leader within the election
    /// timeout refuses pre-votes, so a returning partitioned server cannot unseat a healthy leader.
    fn in_lease(&self) -> bool {
        if !self.config.check_quorum {
            return false;
        }
        match self.role {
            RoleState::Leader(_) => true,
            RoleState::Follower { leader: Some(_) } => self.election_elapsed < self.config.election_ticks,
            _ => false,
        }
    }

    // ----- role changes ---------------------------------------------------------------------------

    fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        let old = std::mem::replace(&mut self.role, RoleState::Follower { leader });
        if let RoleState::Leader(ls) = old {
            // Reads this leader can no longer confirm: the shell answers them "not leader".
            self.dropped_reads.extend(ls.waiting_reads);
            self.dropped_reads.extend(ls.reads.iter().map(|r| r.ctx));
        }
        if term > self.term {
            self.term = term;
            self.vote = None;
        }
        self.reset_election_timer();
    }

    fn campaign(&mut self, pre_vote: bool) {
        let id = self.config.id;
        if matches!(self.role, RoleState::Leader(_)) {
            return;
        }
        self.reset_election_timer();
        let votes = BTreeMap::from([(id, true)]);
        let term = if pre_vote {
            self.role = RoleState::PreCandidate { votes };
            Term(self.term.0 + 1)
        } else {
            self.term = Term(self.term.0 + 1);
            self.vote = Some(id);
            self.role = RoleState::Candidate { votes };
            self.term
        };
        info!(node = %id, term = %term, pre_vote, "starting election");
        let body = MessageBody::RequestVote {
            pre_vote,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
        };
        for &peer in &self.config.peers {
            if peer == id {
                continue;
            }
            let m = Message { from: id, to: peer, term, body: body.clone() };
            // A pre-vote changes nothing durable; a real RequestVote carries our own vote and new term.
            if pre_vote { self.msgs.push(m) } else { self.persisted_msgs.push(m) }
        }
        self.check_election();
    }

    /// Counts the tally of the current (pre-)election and acts on a decision.
    fn check_election(&mut self) {
        let quorum = self.quorum();
        let (pre, granted, rejected) = match &self.role {
            RoleState::PreCandidate { votes } => {
                (true, votes.values().filter(|v| **v).count(), votes.values().filter(|v| !**v).count())
            }
            RoleState::Candidate { votes } => {
                (false, votes.values().filter(|v| **v).count(), votes.values().filter(|v| !**v).count())
            }
            _ => return,
        };
        if granted >= quorum {
            if pre { self.campaign(false) } else { self.become_leader() }
        } else if rejected >= quorum {
            info!(node = %self.config.id, term = %self.term, pre_vote = pre, "election lost");
            self.become_follower(self.term, None);
        }
    }

    fn become_leader(&mut self) {
        let id = self.config.id;
        let last = self.log.last_index();
        let progress = self
            .config
            .peers
            .iter()
            .filter(|p| **p != id)
            .map(|&p| {
                let pr = Progress {
                    match_index: LogIndex(0),
                    next_index: last.next(),
                    mode: Mode::Probe { sent: false },
                    recent_active: true,
                    read_ack: 0,
                };
                (p, pr)
            })
            .collect();
        // §8: a no-op of the new term lets earlier entries commit and tells the leader its commit index.
        let noop_index = last.next();
        self.log.append(Entry { term: self.term, index: noop_index, payload: Payload::Noop });
        self.role = RoleState::Leader(Box::new(LeaderState {
            progress,
            heartbeat_elapsed: 0,
            noop_index,
            waiting_reads: Vec::new(),
            reads: VecDeque::new(),
            transfer: None,
        }));
        self.election_elapsed = 0;
        info!(node = %id, term = %self.term, noop_index = %noop_index, "became leader");
        self.broadcast_append(false);
        self.maybe_commit();
    }

    // ----- elections ------------------------------------------------------------------------------

    fn handle_request_vote(
        &mut self,
        from: NodeId,
        term: Term,
        pre_vote: bool,
        last_index: LogIndex,
        last_term: Term,
    ) {
        let up_to_date = self.log.is_up_to_date(last_index, last_term);
        if pre_vote {
            // The pre-candidate asks whether it could win at `term`; nothing here changes.
            let granted = term > self.term && up_to_date && !self.in_lease();
            debug!(node = %self.config.id, candidate = %from, term = %term, granted, "pre-vote");
            let reply_term = if granted { term } else { self.term };
            self.msgs.push(Message {
                from: self.config.id,
                to: from,
                term: reply_term,
                body: MessageBody::RequestVoteResponse { pre_vote: true, granted },
            });
            return;
        }
        // Figure 2, RequestVote: grant if we have not voted for someone else in this term (and know no
        // leader of it) and the candidate's log is at least as up to date (§5.4.1).
        let leader_known =
            matches!(self.role, RoleState::Follower { leader: Some(_) } | RoleState::Leader(_));
        let can_vote = self.vote == Some(from) || (self.vote.is_none() && !leader_known);
        let granted = can_vote && up_to_date;
        if granted {
            self.vote = Some(from);
            self.reset_election_timer();
        }
        info!(node = %self.config.id, candidate = %from, term = %self.term, granted, "vote");
        self.send_persisted(from, MessageBody::RequestVoteResponse { pre_vote: false, granted });
    }

    fn handle_vote_response(&mut self, from: NodeId, term: Term, pre_vote: bool, granted: bool) {
        let current = self.term;
        match &mut self.role {
            RoleState::PreCandidate { votes } if pre_vote => {
                // A granted pre-vote carries the term we would campaign in; a refusal carries ours.
                if (granted && term == Term(current.0 + 1)) || (!granted && term == current) {
                    votes.entry(from).or_insert(granted);
                }
            }
            RoleState::Candidate { votes } if !pre_vote && term == current => {
                votes.entry(from).or_insert(granted);
            }
            _ => return,
        }
        self.check_election();
    }

    // ----- replication: follower side ---------------------------------------------------------------

    fn handle_append(
        &mut self,
        from: NodeId,
        mut prev_index: LogIndex,
        mut prev_term: Term,
        mut entries: Vec<Entry>,
        leader_commit: LogIndex,
        read_round: u64,
    ) {
        if !matches!(self.role, RoleState::Follower { leader: Some(l) } if l == from) {
            if matches!(self.role, RoleState::Leader(_)) {
                // Two leaders in one term: election safety is already broken (only a planted bug can
                // get here). Refuse rather than corrupt the log further.
                debug!(node = %self.config.id, other = %from, term = %self.term, "AppendEntries from another leader of my term");
                return;
            }
            self.become_follower(self.term, Some(from));
        }
        self.election_elapsed = 0;
        let reply = |success, match_index, conflict| MessageBody::AppendEntriesResponse {
            success,
            match_index,
            conflict,
            read_round,
        };
        // Entries the snapshot covers are committed, so they match the leader's; skip them.
        if prev_index < self.log.snapshot_index {
            let skip = (self.log.snapshot_index.0 - prev_index.0) as usize;
            if entries.len() <= skip {
                let matched = LogIndex(prev_index.0 + entries.len() as u64);
                self.send_persisted(from, reply(true, matched, None));
                return;
            }
            entries.drain(..skip);
            prev_index = self.log.snapshot_index;
            prev_term = self.log.snapshot_term;
        }
        let last = self.log.last_index();
        let no_check = self.config.has_bug(Bug::NoConflictCheck);
        match self.log.term(prev_index) {
            None => {
                // Our log is too short: tell the leader where it ends.
                let conflict = Conflict { term: None, first_index: last.next(), last_index: last };
                self.send_persisted(from, reply(false, LogIndex(0), Some(conflict)));
                return;
            }
            Some(t) if t != prev_term && !no_check => {
                let conflict = Conflict {
                    term: Some(t),
                    first_index: self.log.first_index_of_term_at(prev_index),
                    last_index: last,
                };
                self.send_persisted(from, reply(false, LogIndex(0), Some(conflict)));
                return;
            }
            Some(_) => {}
        }
        let last_new = LogIndex(prev_index.0 + entries.len() as u64);
        let mut iter = entries.into_iter();
        for e in iter.by_ref() {
            match self.log.term(e.index) {
                Some(t) if t == e.term && !no_check => continue,
                Some(_) => {
                    // A real conflict: drop our entry and everything after it (§5.3, step 3).
                    assert!(
                        e.index > self.log.commit || !self.config.bugs.is_empty(),
                        "node {}: leader {from} would overwrite committed entry {} (commit {}): log matching broken",
                        self.config.id,
                        e.index,
                        self.log.commit
                    );
                    if e.index <= self.log.snapshot_index {
                        continue;
                    }
                    self.log.truncate_from(e.index);
                    self.log.append(e);
                    break;
                }
                None => {
                    self.log.append(e);
                    break;
                }
            }
        }
        for e in iter {
            self.log.append(e);
        }
        // Commit only what this message vouches for, never the unchecked tail of our own log.
        let new_commit = leader_commit.min(last_new).min(self.log.last_index());
        if new_commit > self.log.commit {
            self.log.commit = new_commit;
        }
        self.send_persisted(from, reply(true, last_new, None));
    }

    fn handle_snapshot(&mut self, from: NodeId, snapshot: Snapshot) {
        if matches!(self.role, RoleState::Leader(_)) {
            return;
        }
        if !matches!(self.role, RoleState::Follower { leader: Some(l) } if l == from) {
            self.become_follower(self.term, Some(from));
        }
        self.election_elapsed = 0;
        let index = snapshot.last_index;
        if index <= self.log.commit {
            // We already have (and may have applied) everything it covers.
            let last_index = self.log.commit;
            self.send_persisted(from, MessageBody::InstallSnapshotResponse { last_index });
            return;
        }
        info!(node = %self.config.id, index = %index, term = %snapshot.last_term, "installing snapshot from leader");
        // §7: keep the log after the snapshot if it holds the snapshot's last entry; otherwise discard it.
        if self.log.term(index) == Some(snapshot.last_term) {
            self.log.compact(snapshot.clone());
        } else {
            self.log.reset(snapshot.clone());
        }
        self.log.commit = index;
        self.apply_sent = index;
        self.pending_snapshot = Some(snapshot);
        self.send_persisted(from, MessageBody::InstallSnapshotResponse { last_index: index });
    }

    // ----- replication: leader side ------------------------------------------------------------------

    fn tick_leader(&mut self) {
        let election_ticks = self.config.election_ticks;
        let heartbeat_ticks = self.config.heartbeat_ticks;
        let RoleState::Leader(ls) = &mut self.role else { return };
        ls.heartbeat_elapsed += 1;
        let heartbeat = ls.heartbeat_elapsed >= heartbeat_ticks;
        if heartbeat {
            ls.heartbeat_elapsed = 0;
        }
        for pr in ls.progress.values_mut() {
            if let Mode::Snapshot { elapsed, .. } = &mut pr.mode {
                *elapsed += 1;
                if *elapsed >= election_ticks {
                    // The snapshot or its answer was lost; probe again (which resends it if still needed).
                    pr.mode = Mode::Probe { sent: false };
                }
            }
        }
        if let Some((to, elapsed)) = &mut ls.transfer {
            *elapsed += 1;
            if *elapsed >= election_ticks {
                info!(node = %self.config.id, to = %*to, "leadership transfer timed out");
                ls.transfer = None;
            }
        }
        self.election_elapsed += 1;
        if self.election_elapsed >= election_ticks {
            self.election_elapsed = 0;
            if self.config.check_quorum && !self.check_quorum() {
                info!(node = %self.config.id, term = %self.term, "lost contact with a majority, stepping down");
                self.become_follower(self.term, None);
                return;
            }
        }
        if heartbeat {
            self.broadcast_append(true);
        }
    }

    /// Thesis §6.2: did a majority answer in the last election timeout? Resets the window.
    fn check_quorum(&mut self) -> bool {
        let quorum = self.quorum();
        let RoleState::Leader(ls) = &mut self.role else { return false };
        let active = 1 + ls.progress.values().filter(|p| p.recent_active).count();
        for pr in ls.progress.values_mut() {
            pr.recent_active = false;
        }
        active >= quorum
    }

    fn broadcast_append(&mut self, heartbeat: bool) {
        let peers: Vec<NodeId> = self.config.peers.iter().copied().filter(|p| *p != self.config.id).collect();
        for p in peers {
            self.send_append(p, heartbeat);
        }
    }

    /// Sends `to` what it needs: entries from its `next_index`, a snapshot if those are compacted, or (for
    /// a heartbeat) an empty AppendEntries that still checks the log position and carries the commit
    /// index and the latest read round.
    fn send_append(&mut self, to: NodeId, heartbeat: bool) {
        let id = self.config.id;
        let term = self.term;
        let max = self.config.max_entries_per_append as u64;
        let read_round = self.read_round;
        let RoleState::Leader(ls) = &mut self.role else { return };
        let Some(pr) = ls.progress.get_mut(&to) else { return };
        let last = self.log.last_index();
        let (prev, take) = match pr.mode {
            Mode::Snapshot { .. } if !heartbeat => return,
            Mode::Snapshot { .. } => (pr.match_index, false),
            Mode::Probe { sent: true } if !heartbeat => return,
            Mode::Probe { .. } => (pr.next_index.prev(), true),
            Mode::Replicate if !heartbeat && pr.next_index > last => return,
            Mode::Replicate => (pr.next_index.prev(), !heartbeat),
        };
        let Some(prev_term) = self.log.term(prev) else {
            if matches!(pr.mode, Mode::Snapshot { .. }) {
                return; // the snapshot is already on its way
            }
            // The entries this follower needs are compacted: send the snapshot (§7).
            let snapshot = self.log.snapshot.clone().expect("a compacted log keeps its snapshot");
            debug!(node = %id, to = %to, index = %snapshot.last_index, "sending snapshot");
            pr.mode = Mode::Snapshot { index: snapshot.last_index, elapsed: 0 };
            self.msgs.push(Message { from: id, to, term, body: MessageBody::InstallSnapshot { snapshot } });
            return;
        };
        let entries = if take {
            self.log.slice(prev.next(), LogIndex(prev.0 + max).min(last)).to_vec()
        } else {
            Vec::new()
        };
        match &mut pr.mode {
            Mode::Probe { sent } => *sent = true,
            Mode::Replicate => pr.next_index = pr.next_index.max(LogIndex(prev.0 + entries.len() as u64 + 1)),
            Mode::Snapshot { .. } => {}
        }
        let more = matches!(pr.mode, Mode::Replicate) && pr.next_index <= last && !heartbeat;
        self.msgs.push(Message {
            from: id,
            to,
            term,
            body: MessageBody::AppendEntries {
                prev_log_index: prev,
                prev_log_term: prev_term,
                entries,
                leader_commit: self.log.commit,
                read_round,
            },
        });
        if more {
            // Optimistic pipelining: keep sending chunks until the follower has the whole log in flight.
            self.send_append(to, false);
        }
    }

    fn handle_append_response(
        &mut self,
        from: NodeId,
        success: bool,
        match_index: LogIndex,
        conflict: Option<Conflict>,
        read_round: u64,
    ) {
        let last = self.log.last_index();
        let RoleState::Leader(ls) = &mut self.role else { return };
        let Some(pr) = ls.progress.get_mut(&from) else { return };
        pr.recent_active = true;
        pr.read_ack = pr.read_ack.max(read_round);
        if success {
            pr.match_index = pr.match_index.max(match_index.min(last));
            match pr.mode {
                Mode::Probe { .. } => {
                    pr.mode = Mode::Replicate;
                    pr.next_index = pr.match_index.next();
                }
                Mode::Snapshot { index, .. } if pr.match_index >= index => {
                    pr.mode = Mode::Replicate;
                    pr.next_index = pr.match_index.next();
                }
                _ => pr.next_index = pr.next_index.max(pr.match_index.next()),
            }
            let caught_up = pr.match_index == last;
            if let Some((target, _)) = ls.transfer
                && target == from
                && caught_up
            {
                self.send(from, MessageBody::TimeoutNow);
            }
            self.maybe_commit();
            self.send_append(from, false);
        } else if let Some(c) = conflict {
            // Fast backup: skip the follower's whole conflicting term in one round trip.
            let next = match c.term {
                None => c.first_index,
                Some(t) => self.log.last_index_of_term(t).map_or(c.first_index, |i| i.next()),
            };
            let next = next.min(last.next());
            // A rejection pointing at or below what the follower is known to hold is stale: ignore it.
            if next > pr.match_index {
                pr.next_index = next;
                pr.mode = Mode::Probe { sent: false };
                self.send_append(from, false);
            }
        }
        self.release_reads();
    }

    fn handle_snapshot_response(&mut self, from: NodeId, last_index: LogIndex) {
        let RoleState::Leader(ls) = &mut self.role else { return };
        let Some(pr) = ls.progress.get_mut(&from) else { return };
        pr.recent_active = true;
        pr.match_index = pr.match_index.max(last_index);
        pr.next_index = pr.match_index.next();
        pr.mode = Mode::Probe { sent: false };
        self.maybe_commit();
        self.send_append(from, false);
    }

    /// Advances the commit index to the highest index a majority holds, if that entry is of the
    /// current term (§5.4.2: never by counting replicas of an older term's entry).
    fn maybe_commit(&mut self) {
        let quorum = self.quorum();
        let RoleState::Leader(ls) = &self.role else { return };
        let mut matched: Vec<LogIndex> = ls.progress.values().map(|p| p.match_index).collect();
        matched.push(self.log.persisted.min(self.log.last_index()));
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let n = matched[quorum - 1];
        if n <= self.log.commit {
            return;
        }
        let own_term = self.log.term(n) == Some(self.term);
        if !own_term && !self.config.has_bug(Bug::CommitOldTerm) {
            return;
        }
        self.log.commit = n;
        debug!(node = %self.config.id, commit = %n, "commit advanced");
        let RoleState::Leader(ls) = &mut self.role else { return };
        if n >= ls.noop_index && !ls.waiting_reads.is_empty() {
            let waiting = std::mem::take(&mut ls.waiting_reads);
            self.start_read_round(waiting);
        }
        if let RoleState::Leader(ls) = &self.role
            && let Some((to, _)) = ls.transfer
            && ls.progress.get(&to).is_some_and(|p| p.match_index == self.log.last_index())
        {
            self.send(to, MessageBody::TimeoutNow);
        }
    }

    // ----- ReadIndex ------------------------------------------------------------------------------

    /// §8 ReadIndex: record the commit index for these reads, then confirm leadership with a round of
    /// heartbeats; the reads are released once a majority has answered a message of this round.
    fn start_read_round(&mut self, ctxs: Vec<u64>) {
        self.read_round += 1;
        let round = self.read_round;
        let index = self.log.commit;
        let RoleState::Leader(ls) = &mut self.role else { return };
        ls.reads.extend(ctxs.into_iter().map(|ctx| PendingRead { ctx, index, round }));
        self.broadcast_append(true);
        self.release_reads();
    }

    fn release_reads(&mut self) {
        let quorum = self.quorum();
        let own = self.read_round;
        let RoleState::Leader(ls) = &mut self.role else { return };
        if ls.reads.is_empty() {
            return;
        }
        let mut acks: Vec<u64> = ls.progress.values().map(|p| p.read_ack).collect();
        acks.push(own);
        acks.sort_unstable_by(|a, b| b.cmp(a));
        let confirmed = acks[quorum - 1];
        while let Some(r) = ls.reads.front() {
            if r.round > confirmed {
                break;
            }
            self.read_states.push(ReadState { ctx: r.ctx, index: r.index });
            ls.reads.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    //! Unit tests of single rules; whole-cluster behaviour is tested by the simulation in `tests/sim/`.
    use super::*;

    fn cluster(n: u64) -> Vec<Raft> {
        let peers: Vec<NodeId> = (1..=n).map(NodeId).collect();
        peers
            .iter()
            .map(|&id| Raft::new(Config::new(id, peers.clone()), Restored::default()).unwrap())
            .collect()
    }

    /// Delivers every message until the cluster is quiet (a perfect network), applying nothing.
    fn pump(nodes: &mut [Raft]) -> Vec<Ready> {
        let mut all = Vec::new();
        loop {
            let mut msgs = Vec::new();
            for n in nodes.iter_mut() {
                while n.has_ready() {
                    let rd = n.ready();
                    msgs.extend(rd.messages.iter().cloned());
                    msgs.extend(rd.persisted_messages.iter().cloned());
                    all.push(rd);
                    n.advance();
                }
            }
            if msgs.is_empty() {
                return all;
            }
            for m in msgs {
                let to = (m.to.0 - 1) as usize;
                nodes[to].step(m);
            }
        }
    }

    fn elect(nodes: &mut [Raft], who: usize) {
        while nodes[who].status().role != Role::Leader {
            nodes[who].tick();
            pump(nodes);
        }
    }

    #[test]
    fn single_node_elects_itself_and_commits_a_proposal() {
        let mut nodes = cluster(1);
        elect(&mut nodes, 0);
        let (index, term) = nodes[0].propose(b"x".to_vec()).unwrap();
        let readies = pump(&mut nodes);
        let applied: Vec<_> = readies.iter().flat_map(|r| r.committed_entries.iter()).collect();
        assert!(applied.iter().any(|e| e.index == index && e.term == term));
        assert_eq!(nodes[0].status().applied, index);
    }

    #[test]
    fn three_nodes_elect_one_leader_and_replicate() {
        let mut nodes = cluster(3);
        elect(&mut nodes, 0);
        assert_eq!(nodes.iter().filter(|n| n.status().role == Role::Leader).count(), 1);
        let (index, _) = nodes[0].propose(b"a".to_vec()).unwrap();
        pump(&mut nodes);
        nodes[0].tick(); // heartbeat carries the new commit index
        pump(&mut nodes);
        for n in &nodes {
            assert_eq!(n.status().commit, index, "{:?}", n.status());
        }
        assert_eq!(nodes[1].propose(vec![]), Err(NotLeader { leader: Some(NodeId(1)) }));
    }

    #[test]
    fn votes_and_acks_wait_for_persistence() {
        let mut nodes = cluster(3);
        // Run the pre-vote round by hand until node 1 becomes a candidate.
        let mut inbox: Vec<Message> = Vec::new();
        while nodes[0].status().role != Role::Candidate {
            if inbox.is_empty() {
                nodes[0].tick();
            }
            for m in inbox.drain(..) {
                let to = (m.to.0 - 1) as usize;
                nodes[to].step(m);
            }
            if nodes[0].status().role == Role::Candidate {
                break;
            }
            for n in nodes.iter_mut() {
                let rd = n.ready();
                n.advance();
                inbox.extend(rd.messages);
            }
        }
        let rd = nodes[0].ready();
        // A real RequestVote carries the candidate's own vote and new term: it waits for the fsync.
        assert!(
            rd.messages.iter().all(|m| !matches!(m.body, MessageBody::RequestVote { pre_vote: false, .. }))
        );
        assert_eq!(rd.hard_state.map(|h| h.vote), Some(Some(NodeId(1))));
        assert_eq!(rd.persisted_messages.len(), 2);
        for m in rd.persisted_messages {
            let to = (m.to.0 - 1) as usize;
            nodes[to].step(m);
        }
        let rd = nodes[1].ready();
        assert!(
            rd.persisted_messages.iter().any(|m| matches!(
                m.body,
                MessageBody::RequestVoteResponse { pre_vote: false, granted: true }
            ))
        );
        assert_eq!(rd.hard_state.map(|h| h.vote), Some(Some(NodeId(1))));
    }

    #[test]
    fn read_index_waits_for_the_noop_and_a_heartbeat_round() {
        let mut nodes = cluster(3);
        elect(&mut nodes, 0);
        pump(&mut nodes);
        nodes[0].read_index(7).unwrap();
        let rd = nodes[0].ready();
        assert!(rd.read_states.is_empty(), "released before any follower confirmed leadership");
        nodes[0].advance();
        let mut released = Vec::new();
        for m in rd.messages {
            nodes[(m.to.0 - 1) as usize].step(m);
        }
        for r in pump(&mut nodes) {
            released.extend(r.read_states);
        }
        assert_eq!(released, vec![ReadState { ctx: 7, index: nodes[0].status().commit }]);
        assert_eq!(nodes[1].read_index(8), Err(NotLeader { leader: Some(NodeId(1)) }));
    }

    #[test]
    fn bad_config_and_bad_restore_are_refused_with_the_field_named() {
        let err = Raft::new(Config::new(NodeId(4), vec![NodeId(1)]), Restored::default()).unwrap_err();
        assert!(matches!(err, RaftError::InvalidConfig { field: "peers", .. }), "{err}");
        let mut c = Config::new(NodeId(1), vec![NodeId(1)]);
        c.election_ticks = 1;
        let err = Raft::new(c, Restored::default()).unwrap_err();
        assert!(err.to_string().contains("election_ticks"), "{err}");
        let restored = Restored {
            hard_state: HardState { term: Term(1), vote: None, commit: LogIndex(3) },
            snapshot: None,
            entries: vec![Entry { term: Term(1), index: LogIndex(1), payload: Payload::Noop }],
        };
        let err = Raft::new(Config::new(NodeId(1), vec![NodeId(1)]), restored).unwrap_err();
        assert!(err.to_string().contains("commit index 3 is past the last log index 1"), "{err}");
    }

    #[test]
    fn compact_refuses_unapplied_and_already_compacted_indexes() {
        let mut nodes = cluster(1);
        elect(&mut nodes, 0);
        pump(&mut nodes);
        let applied = nodes[0].status().applied;
        assert!(matches!(
            nodes[0].compact(applied.next(), vec![]),
            Err(RaftError::CompactBeyondApplied { .. })
        ));
        nodes[0].compact(applied, b"state".to_vec()).unwrap();
        assert_eq!(nodes[0].status().snapshot_index, applied);
        assert!(matches!(nodes[0].compact(applied, vec![]), Err(RaftError::CompactBehindSnapshot { .. })));
    }
}
