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
//! the algorithm itself lives in the modules beside it. Deliberately wrong behaviours
//! ([`Bug`](types::Bug)) can be switched on by name so that Faultline can prove it catches them.

pub mod types;

pub use types::{
    Bug, Conflict, Entry, HardState, LogIndex, Message, MessageBody, NodeId, Payload, ReadState, Ready, Role,
    Snapshot, Term,
};
