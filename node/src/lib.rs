//! `node`: raft-node, the Raft key-value server that Faultline tests by default.
//!
//! A thin I/O shell around the pure core in crate `raft`: one task owns the core and is fed through
//! bounded channels by the peer transport, the HTTP client API and timers. It persists the core's hard
//! state and log in a write-ahead log that really fsyncs, sends the core's messages over TCP, applies
//! committed commands to a key-value state machine and answers clients.
//!
//! ```text
//!  HTTP clients ──> api (axum) ──Request──┐                    ┌──> storage (WAL, hardstate, snapshot)
//!                                         v                    │
//!  peers ──TCP──> transport::serve ──> [server: owns raft::Raft] ──> transport::Transport ──TCP──> peers
//!                                         │
//!                                         └──> kv (state machine, sessions) ──> replies to api
//! ```
//!
//! - [`config`]: flags (clap) and the validated [`config::NodeConfig`];
//! - [`codec`]: the binary encoding of the core's types, for the WAL and the wire;
//! - [`storage`]: the WAL with group commit, atomic hard state and snapshots, crash recovery;
//! - [`kv`]: commands and the key-value state machine with exactly-once sessions;
//! - [`transport`]: TCP peer connections, one writer task per peer;
//! - [`api`]: the HTTP/JSON client API and its error vocabulary;
//! - [`server`]: the task that owns the core and handles each `Ready` in the fixed order.

pub mod api;
pub mod codec;
pub mod config;
pub mod kv;
pub mod server;

pub mod storage;
pub mod transport;
