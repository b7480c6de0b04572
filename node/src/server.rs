//! The server task: the one owner of the Raft core, the storage and the state machine.
//!
//! Everything that changes the core arrives through bounded channels (peer messages from the
//! transport, client requests from the HTTP API) or from timers (ticks; the late flush of the planted
//! `lazy-persist` and `fsync-lag` bugs). The loop `select!`s with shutdown first, takes one input and then drains what
//! else is already queued (up to a batch limit) before handling the core's `Ready`, so the proposals of
//! many concurrent clients share one fsync (group commit).
//!
//! A `Ready` is handled in one fixed order:
//! 1. send `messages` (AppendEntries and the like; they depend on nothing unpersisted, and sending
//!    them first lets the followers' fsyncs overlap the leader's);
//! 2. install `snapshot`, append `entries`, write `hard_state`, then one fsync;
//! 3. send `persisted_messages` (votes, append acknowledgements);
//! 4. apply `committed_entries` and answer the clients waiting on them;
//! 5. serve `read_states` (now that this Ready's entries are applied) and refuse `dropped_reads`;
//! 6. `advance`, then take a snapshot if the log has grown past the threshold.
//!
//! A write is answered from the entry that commits at its index: the same term means it applied, with
//! its outcome; another term means it was provably not applied. Storage failures are fatal: after a
//! failed fsync nothing about the disk can be trusted, so the node stops (and says why) instead of
//! acknowledging anything.

use crate::api::{ApiError, DebugEntry, DebugLogBody, ReadReply, Request, StatusBody};
use crate::config::{BugName, NodeConfig};
use crate::kv::{Command, Kv, Op, Outcome, Value};
use crate::storage::{Recovered, Storage, StorageError};
use crate::transport::Transport;
use raft::{Config, Entry, LogIndex, Message, NodeId, Payload, Raft, RaftError, Restored, Snapshot, Term};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{error, info, warn};

/// How many queued inputs of one kind are taken before the next Ready is handled.
const BATCH: usize = 512;
/// The planted `lazy-persist` bug flushes this often.
const LAZY_FLUSH: Duration = Duration::from_millis(500);
/// The planted `fsync-lag` bug fsyncs the WAL this often (NATS JetStream's `sync_interval` is two
/// minutes by default; a second is enough to lose acknowledged writes at every power cut).
const FSYNC_LAG: Duration = Duration::from_secs(1);

/// Why the server task stopped with an error.
#[derive(Debug, Error)]
pub enum ServerError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Raft(#[from] RaftError),
    #[error("cannot restore the state machine from the snapshot at index {index}: {source}")]
    BadSnapshot { index: u64, source: serde_json::Error },
}

struct PendingWrite {
    term: Term,
    reply: oneshot::Sender<Result<Outcome, ApiError>>,
    /// Kept for the early-ack bug, which answers a cas before it is evaluated.
    cmd: Command,
    /// The planted `txn-local-read` bug: a transaction's reads as the leader's state gave them when it
    /// was proposed, answered in place of what they read when the entry applied.
    local_reads: Option<Vec<Option<Value>>>,
}

struct PendingRead {
    key: String,
    reply: oneshot::Sender<Result<ReadReply, ApiError>>,
}

/// The state the server task owns.
pub struct Server {
    cfg: NodeConfig,
    raft: Raft,
    storage: Storage,
    kv: Kv,
    transport: Transport,
    writes: BTreeMap<u64, PendingWrite>,
    reads: HashMap<u64, PendingRead>,
    /// Reads the core has cleared, waiting for the state machine to reach their index.
    cleared_reads: Vec<(LogIndex, PendingRead)>,
    next_ctx: u64,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("id", &self.cfg.id).field("status", &self.raft.status()).finish()
    }
}

/// Runs the blocking storage call `f` without stalling the runtime's other tasks.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

impl Server {
    /// Builds the core from recovered storage. The state machine starts from the snapshot; the core
    /// hands out the committed entries after it again in its first Ready.
    pub fn new(
        cfg: NodeConfig,
        storage: Storage,
        recovered: Recovered,
        transport: Transport,
    ) -> Result<Server, ServerError> {
        let kv = match &recovered.snapshot {
            Some(s) => Kv::restore(&s.data)
                .map_err(|source| ServerError::BadSnapshot { index: s.last_index.0, source })?,
            None => Kv::default(),
        };
        let mut rc = Config::new(cfg.id, cfg.peers.keys().copied().collect());
        rc.election_ticks = cfg.election_ticks;
        rc.heartbeat_ticks = cfg.heartbeat_ticks;
        rc.seed = cfg.seed;
        rc.bugs = cfg.core_bugs();
        rc.pre_vote = cfg.pre_vote;
        rc.check_quorum = cfg.check_quorum;
        rc.max_entries_per_append = cfg.max_entries_per_append;
        let restored = Restored {
            hard_state: recovered.hard_state,
            snapshot: recovered.snapshot,
            entries: recovered.entries,
        };
        let raft = Raft::new(rc, restored)?;
        Ok(Server {
            cfg,
            raft,
            storage,
            kv,
            transport,
            writes: BTreeMap::new(),
            reads: HashMap::new(),
            cleared_reads: Vec::new(),
            next_ctx: 1,
        })
    }

    /// The loop. Returns when `shutdown` fires (Ok) or storage fails (Err).
    pub async fn run(
        mut self,
        mut requests: mpsc::Receiver<Request>,
        mut messages: mpsc::Receiver<Message>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), ServerError> {
        let mut ticker = tokio::time::interval(self.cfg.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let lag = self.cfg.has_bug(BugName::FsyncLag);
        let mut lazy_flush = tokio::time::interval(if lag { FSYNC_LAG } else { LAZY_FLUSH });
        let lazy = self.cfg.has_bug(BugName::LazyPersist) || lag;
        self.handle_ready()?;
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                _ = ticker.tick() => self.raft.tick(),
                Some(m) = messages.recv() => {
                    self.raft.step(m);
                    for _ in 0..BATCH {
                        match messages.try_recv() {
                            Ok(m) => self.raft.step(m),
                            Err(_) => break,
                        }
                    }
                }
                Some(r) = requests.recv() => {
                    self.handle_request(r);
                    for _ in 0..BATCH {
                        match requests.try_recv() {
                            Ok(r) => self.handle_request(r),
                            Err(_) => break,
                        }
                    }
                }
                _ = lazy_flush.tick(), if lazy => blocking(|| self.storage.flush())?,
            }
            self.handle_ready()?;
        }
        info!(node = %self.cfg.id, "server stopping");
        blocking(|| self.storage.flush())?;
        self.fail_all("the server is shutting down");
        Ok(())
    }

    fn leader_addr(&self, leader: Option<NodeId>) -> Option<String> {
        leader.and_then(|l| self.cfg.client_addrs.get(&l)).map(|a| a.to_string())
    }

    fn not_leader(&self, leader: Option<NodeId>) -> ApiError {
        let addr = self.leader_addr(leader);
        let message = match (leader, &addr) {
            (Some(l), Some(a)) => format!("node {} is not the leader; {l} at {a} is", self.cfg.id),
            (Some(l), None) => {
                format!("node {} is not the leader; {l} is (its client address is unknown)", self.cfg.id)
            }
            (None, _) => format!("node {} is not the leader and knows no leader", self.cfg.id),
        };
        ApiError::NotLeader { leader: addr, message }
    }

    fn handle_request(&mut self, r: Request) {
        match r {
            Request::Write { cmd, reply } => match self.raft.propose(cmd.encode()) {
                Ok((index, term)) => {
                    let local_reads = match &cmd.op {
                        Op::Txn { ops } if self.cfg.has_bug(BugName::TxnLocalRead) => {
                            Some(self.kv.read_txn_locally(ops))
                        }
                        _ => None,
                    };
                    self.writes.insert(index.0, PendingWrite { term, reply, cmd, local_reads });
                }
                Err(nl) => {
                    let _ = reply.send(Err(self.not_leader(nl.leader)));
                }
            },
            Request::Read { key, stale: true, reply } => {
                let value = self.kv.get(&key).cloned();
                let _ = reply.send(Ok(ReadReply { value, stale: true }));
            }
            Request::Read { key, stale: false, reply } => {
                let ctx = self.next_ctx;
                self.next_ctx += 1;
                match self.raft.read_index(ctx) {
                    Ok(()) => {
                        self.reads.insert(ctx, PendingRead { key, reply });
                    }
                    Err(nl) => {
                        let _ = reply.send(Err(self.not_leader(nl.leader)));
                    }
                }
            }
            Request::Status { reply } => {
                let s = self.raft.status();
                let _ = reply.send(StatusBody {
                    id: s.id.0,
                    role: s.role.to_string(),
                    term: s.term.0,
                    leader: s.leader.map(|l| l.0),
                    leader_addr: self.leader_addr(s.leader),
                    commit: s.commit.0,
                    applied: s.applied.0,
                    last_index: s.last_index.0,
                    snapshot_index: s.snapshot_index.0,
                });
            }
            Request::DebugLog { from, reply } => {
                let commit = self.raft.status().commit;
                let snap = self.storage.snapshot_index();
                let from = LogIndex(from.max(snap.0 + 1));
                let entries = self.storage.entries(from, commit).map(debug_entry).collect();
                let _ = reply.send(DebugLogBody {
                    snapshot_index: snap.0,
                    snapshot_term: self.storage.snapshot_term().0,
                    entries,
                });
            }
        }
    }

    fn handle_ready(&mut self) -> Result<(), ServerError> {
        while self.raft.has_ready() {
            let rd = self.raft.ready();
            for m in rd.messages {
                self.transport.send(m);
            }
            if let Some(snap) = &rd.snapshot {
                self.install_snapshot(snap)?;
            }
            self.storage.append(&rd.entries);
            if let Some(hs) = rd.hard_state {
                // A new term or vote is written (and fsynced) atomically right here.
                blocking(|| self.storage.set_hard_state(hs))?;
            }
            if !rd.entries.is_empty() || rd.hard_state.is_some() {
                blocking(|| self.storage.sync())?;
            }
            if self.cfg.has_bug(BugName::EarlyAck) {
                self.early_ack(&rd.entries);
            }
            for m in rd.persisted_messages {
                self.transport.send(m);
            }
            for e in &rd.committed_entries {
                self.apply(e);
            }
            for rs in rd.read_states {
                if let Some(p) = self.reads.remove(&rs.ctx) {
                    self.cleared_reads.push((rs.index, p));
                }
            }
            self.serve_cleared_reads();
            for ctx in rd.dropped_reads {
                if let Some(p) = self.reads.remove(&ctx) {
                    let leader = self.raft.status().leader;
                    let _ = p.reply.send(Err(self.not_leader(leader)));
                }
            }
            self.raft.advance();
            self.maybe_snapshot()?;
        }
        Ok(())
    }

    /// The planted `early-ack` bug: answer writes as soon as the leader has its entry on disk.
    fn early_ack(&mut self, entries: &[Entry]) {
        for e in entries {
            if let Some(p) = self.writes.remove(&e.index.0) {
                if p.term != e.term {
                    self.writes.insert(e.index.0, p);
                    continue;
                }
                let (index, term) = (e.index.0, e.term.0);
                let outcome = match p.cmd.op {
                    Op::Cas { to, .. } => {
                        Outcome::Cas { applied: true, value: Some(Value::Str(to)), index, term }
                    }
                    // Not applied yet: its reads can only come from the state as it is.
                    Op::Txn { ops } => Outcome::Txn { results: self.kv.read_txn_locally(&ops), index, term },
                    _ => Outcome::Written { index, term },
                };
                let _ = p.reply.send(Ok(outcome));
            }
        }
    }

    fn apply(&mut self, e: &Entry) {
        let (index, term) = (e.index.0, e.term.0);
        let outcome = match &e.payload {
            Payload::Noop => {
                self.kv.apply_noop(index, term);
                None
            }
            Payload::Command(bytes) => match Command::decode(bytes) {
                Ok(cmd) => Some(self.kv.apply(index, term, &cmd)),
                Err(err) => {
                    // Every replica sees the same bytes, so skipping keeps them identical.
                    error!(index, term, error = %err, "committed entry does not decode; skipping it");
                    self.kv.apply_noop(index, term);
                    None
                }
            },
        };
        if let Some(p) = self.writes.remove(&index) {
            let answer = if p.term == e.term {
                match outcome {
                    // The planted txn-local-read bug: the reads the leader made up front.
                    Some(Outcome::Txn { index, term, .. }) if p.local_reads.is_some() => {
                        Ok(Outcome::Txn { results: p.local_reads.unwrap_or_default(), index, term })
                    }
                    Some(o) => Ok(o),
                    None => Err(ApiError::NotApplied { message: format!("entry {index} did not decode") }),
                }
            } else {
                Err(ApiError::NotApplied {
                    message: format!(
                        "the write entered the log at index {index} in term {}, but an entry of term {term} \
                         committed there: it was not applied",
                        p.term
                    ),
                })
            };
            let _ = p.reply.send(answer);
        }
    }

    fn serve_cleared_reads(&mut self) {
        let applied = LogIndex(self.kv.applied().0);
        let mut i = 0;
        while i < self.cleared_reads.len() {
            if self.cleared_reads[i].0 <= applied {
                let (_, p) = self.cleared_reads.swap_remove(i);
                let value = self.kv.get(&p.key).cloned();
                let _ = p.reply.send(Ok(ReadReply { value, stale: false }));
            } else {
                i += 1;
            }
        }
    }

    fn install_snapshot(&mut self, snap: &Snapshot) -> Result<(), ServerError> {
        let kv = Kv::restore(&snap.data)
            .map_err(|source| ServerError::BadSnapshot { index: snap.last_index.0, source })?;
        blocking(|| self.storage.save_snapshot(snap))?;
        self.kv = kv;
        // Writes waiting at covered indexes can no longer be matched to their entries.
        let covered: Vec<u64> = self.writes.range(..=snap.last_index.0).map(|(i, _)| *i).collect();
        for i in covered {
            if let Some(p) = self.writes.remove(&i) {
                let _ = p.reply.send(Err(ApiError::Timeout {
                    message: format!(
                        "a snapshot up to index {} replaced the log before this write's outcome was seen; \
                         it may or may not have applied",
                        snap.last_index
                    ),
                }));
            }
        }
        info!(node = %self.cfg.id, index = snap.last_index.0, term = snap.last_term.0, "installed a snapshot from the leader");
        Ok(())
    }

    fn maybe_snapshot(&mut self) -> Result<(), ServerError> {
        let (index, term) = self.kv.applied();
        if index < self.storage.snapshot_index().0 + self.cfg.snapshot_threshold {
            return Ok(());
        }
        let data = self.kv.snapshot();
        let snap = Snapshot { last_index: LogIndex(index), last_term: Term(term), data };
        blocking(|| self.storage.save_snapshot(&snap))?;
        self.raft.compact(snap.last_index, snap.data)?;
        Ok(())
    }

    fn fail_all(&mut self, why: &str) {
        for (_, p) in std::mem::take(&mut self.writes) {
            let _ = p.reply.send(Err(ApiError::Unavailable {
                message: format!("{why}; the write may or may not apply"),
            }));
        }
        let reads = std::mem::take(&mut self.reads)
            .into_values()
            .chain(std::mem::take(&mut self.cleared_reads).into_iter().map(|(_, p)| p));
        for p in reads {
            let _ = p.reply.send(Err(ApiError::Unavailable { message: why.to_string() }));
        }
        warn!(node = %self.cfg.id, why, "answered every waiting request");
    }
}

fn debug_entry(e: &Entry) -> DebugEntry {
    let command = match &e.payload {
        Payload::Noop => serde_json::Value::Null,
        Payload::Command(bytes) => serde_json::from_slice(bytes)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned())),
    };
    DebugEntry { index: e.index.0, term: e.term.0, command }
}
