//! `checker`: histories in, verdicts out.
//!
//! A pure library (no files, no async runtime): callers hand it the text of a history or parsed
//! [`history::Event`]s and get back verdicts with explanations. The parts, in the order data flows
//! through them:
//!
//! - [`history`] is the event model the whole workspace shares: the harness records it, the workloads
//!   generate the operations in it, the reports crate draws it.
//! - [`format`] reads the four history formats we meet (our JSON Lines, Jepsen's `history.edn`, the
//!   Porcupine etcd console logs and the Porcupine kv EDN-per-line logs) into events, guessing the format
//!   from the content when the caller does not name it.
//! - [`ops`] pairs every invocation with its completion into an [`ops::Operation`] and validates the
//!   history (a completion without an invocation, two open invocations on one process), reporting the
//!   source line of every problem. Real-time order is the order of events, never their timestamps.
//! - [`model`] defines what a model is (a pure `step(state, op) -> Option<state>`, in the shape of
//!   Porcupine's `model.go`) and the semantics options that differ between formats (what `fail` and a
//!   `nil` read mean); [`models`] holds the models we ship.
//! - [`wgl`] is the linearizability search (Wing & Gong with Lowe's memoization) on one partition;
//!   [`linearizability`] partitions a history by key, runs the partitions in parallel under time and
//!   memory budgets and assembles verdicts; [`explain`] turns an invalid key into a readable story with a
//!   minimal counterexample.
//! - [`durability`] checks what survived: final reads against acknowledged writes, and the committed
//!   logs of all nodes against each other and against the acknowledged writes.
//! - [`txn`] checks histories of transactions for isolation anomalies, Elle-style: it infers
//!   write-write, write-read and read-write dependencies from what was read, adds process and
//!   real-time order, finds cycles and names them (G0, G1c, G-single, G2-item, ...), and lets a
//!   consistency model (strict serializable, serializable, snapshot isolation, read committed) decide
//!   which are violations.
//! - [`anomaly`] names what those checks found: one stable class word per kind of violation
//!   (`stale-read`, `lost-append`, ...), decided here once so the reports, the matrix and campaign
//!   fingerprints cannot spell a finding two ways.
//!
//! Every result type derives `Serialize` and `Deserialize` so the harness can store it and the reports
//! crate can read it back.

pub mod anomaly;
pub mod durability;
pub mod explain;
pub mod format;
pub mod history;
pub mod linearizability;
pub mod model;
pub mod models;
pub mod ops;
pub mod timestamp;
pub mod txn;
pub mod wgl;

pub use anomaly::{Anomaly, Finding};
pub use format::{Format, ParsedHistory, parse_history};
pub use linearizability::{
    CheckError, CheckOptions, KeyResult, LinearizabilityReport, UnknownReason, check_linearizability,
    check_with_model,
};
pub use model::{FailSemantics, ModelKind, ModelSpec, NilRead};
pub use ops::{History, HistoryError, Operation, Outcome};

use serde::{Deserialize, Serialize};
use std::fmt;

/// The answer of a check. `Unknown` means a budget ran out (or the check was cancelled because another
/// part already decided the overall verdict): it is never a guess either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Valid,
    Invalid,
    Unknown,
}

impl Verdict {
    /// Combines two verdicts of parts of one check: a violation anywhere makes the whole invalid, an
    /// undecided part makes an otherwise valid whole unknown.
    #[must_use]
    pub fn merge(self, other: Verdict) -> Verdict {
        match (self, other) {
            (Verdict::Invalid, _) | (_, Verdict::Invalid) => Verdict::Invalid,
            (Verdict::Unknown, _) | (_, Verdict::Unknown) => Verdict::Unknown,
            _ => Verdict::Valid,
        }
    }

    /// The exit code of `faultline` for this verdict (0 valid, 1 invalid, 2 unknown).
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::Unknown => 2,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unknown => "unknown",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Verdict::*;

    #[test]
    fn invalid_outranks_unknown_outranks_valid() {
        assert_eq!(Valid.merge(Valid), Valid);
        assert_eq!(Valid.merge(Unknown), Unknown);
        assert_eq!(Unknown.merge(Invalid), Invalid);
        assert_eq!(Invalid.merge(Valid), Invalid);
        assert_eq!(Unknown.merge(Unknown), Unknown);
    }
}
