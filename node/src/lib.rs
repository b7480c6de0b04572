//! `node`: raft-node, the Raft key-value server that Faultline tests by default.
//!
//! A thin I/O shell around the pure core in crate `raft`: one task owns the core and is fed through
//! bounded channels by the peer transport, the HTTP client API and storage completions. It persists the
//! core's hard state and log in a write-ahead log that really fsyncs, sends the core's messages over TCP,
//! applies committed commands to a key-value state machine and answers clients.
