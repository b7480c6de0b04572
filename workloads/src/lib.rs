//! `workloads`: pure, seeded generators of client operations and fault schedules.
//!
//! A generator is a value with explicit time: asked for its next operation at a given (simulated or
//! real) instant, it answers without touching a clock, a socket or a thread, so the same seed always
//! yields the same stream and the generators are tested with a simulated clock and no cluster. It
//! depends only on `checker` (for the history vocabulary its operations are written in).
//!
//! The parts, in the order a run uses them:
//!
//! - [`generator`]: the [`generator::Generator`] trait (asked with a [`generator::Context`] holding the
//!   time and the asking process), the combinators that bound a stream (time limit, rate limit), the
//!   [`generator::ProcessTable`] that pins processes to nodes and retires them after `info`, and
//!   [`generator::simulate`], the simulated-clock interpreter the tests use.
//! - [`keys`]: independent keys. Each key receives a bounded number of operations and is then replaced
//!   by a fresh one, so every per-key history stays small enough to check however long the run.
//! - [`workload`]: the `register` and `append` workloads, each naming the checker models its history
//!   is checked under, the transactional `txn-append` and `txn-rw` workloads (checked by
//!   `checker::txn`), and the final-read phase.
//! - [`phases`]: the phases of a run (run, heal and recover, final reads) as data.
//! - [`topology`]: partition topologies as pure functions over node lists (random halves, isolate one,
//!   isolate the leader, majorities ring, bridge, one-way cut).
//! - [`nemesis`]: fault kinds, targets and seeded alternating schedules (a fault, a heal, ...) that
//!   always end healed.
//! - [`compose`]: composed schedules (the default): episodes of faults aimed by role and history and
//!   spaced in elections, their mutations for `faultline explore`, and the shrinker of a failing one.
//! - [`roles`]: the nemesis's history of roles (previous leader, the node that just won, the node
//!   that just restarted) and the run's measured election time.

pub mod compose;
pub mod generator;
pub mod keys;
pub mod nemesis;
pub mod phases;
pub mod roles;
pub mod topology;
pub mod workload;

pub use generator::{Context, Generator, MicroOp, Next, Op, OpKind, ProcessTable};
pub use nemesis::{Aim, Damage, Event, Fault, FaultKind, Messages, NemesisSpec, ScheduledFault, Target};
pub use phases::Phase;
pub use roles::RoleHistory;
pub use topology::{Grudge, Topology, View};
pub use workload::{Workload, WorkloadOptions};

/// Why a workload or schedule could not be built from its options.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WorkloadError {
    #[error("unknown workload {0:?}: expected one of register, append, txn-append, txn-rw")]
    UnknownWorkload(String),
    #[error(
        "unknown nemesis {0:?}: expected a comma-separated list of partition, kill, pause, loss, latency, drop (or none)"
    )]
    UnknownNemesis(String),
    #[error("unknown partition topology {0:?}: expected one of {1}")]
    UnknownTopology(String, &'static str),
    #[error("{field} must be positive, got {value}")]
    NotPositive { field: &'static str, value: String },
    #[error("a cluster needs at least {min} nodes for {what}, got {nodes}")]
    TooFewNodes { what: &'static str, min: usize, nodes: usize },
}
