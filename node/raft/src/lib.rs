//! `raft`: the pure Raft core of raft-node.
//!
//! This crate is the consensus algorithm of the Raft paper's Figure 2 and nothing else: no sockets,
//! files, clocks, threads or unseeded randomness (the crate's `clippy.toml` forbids them). A server is a
//! state machine driven by four inputs:
//!
//! - `tick()`: one unit of logical time; the shell turns wall time into ticks, the simulation counts them;
//! - `step(message)`: a message from a peer;
//! - `propose(command)`: a client command, accepted only by the leader;
//! - `read_index(ctx)`: a linearizable read request (§8, ReadIndex).
//!
//! Every effect of those inputs collects in a [`Ready`](types::Ready): entries and hard state to
//! persist, messages to send (split into those that may go now and those that may go only once the
//! state in the same `Ready` is durable, so "persist before send" is carried by the types), committed
//! entries to apply and reads that are safe to serve. The shell drains a `Ready` in one fixed order
//! (write + fsync, send, apply) and then calls `advance`.
//!
//! [`types`] holds the vocabulary shared with the shell and the harness (ids, entries, messages);
//! [`config`] the configuration and errors; `log` the in-memory log with its snapshot offset; and
//! [`raft`](crate::raft) the algorithm itself: elections with pre-vote and check-quorum, replication with
//! fast backup, commitment, snapshots, ReadIndex and leadership transfer. Deliberately wrong behaviours
//! ([`Bug`](types::Bug)) can be switched on by name so that Faultline can prove it catches them.
//!
//! The crate's tests hold a deterministic simulation of whole clusters (`tests/sim/`) that checks the
//! paper's safety properties after every step; it is the proof that this core is right.

pub mod config;
mod log;
pub mod raft;
pub mod types;
pub mod wire;

pub use config::{Config, NotLeader, RaftError};
pub use raft::{Raft, Restored, Status};
pub use types::{
    Bug, Conflict, Entry, HardState, LogIndex, Message, MessageBody, NodeId, Payload, ReadState, Ready, Role,
    Snapshot, Term,
};
