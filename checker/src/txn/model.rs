//! Which transactional workload a history comes from, and which consistency model judges it.
//!
//! The checker finds anomalies whatever the model; the model only decides which of them are
//! violations. The prohibitions follow Adya's definitions as Elle's `consistency-model` namespace
//! arranges them (each model also forbids everything a weaker model forbids):
//!
//! | model | forbids |
//! |---|---|
//! | `read-committed` (Adya PL-2) | G0, G1a, G1b, G1c; and what no model allows: duplicate elements, garbage reads, incompatible version orders |
//! | `snapshot-isolation` (PL-SI) | the above, internal inconsistency, G-single, G-nonadjacent |
//! | `serializable` (PL-3) | the above, G2-item |
//! | `strict-serializable` (PL-SS) | the above, and every cycle through process or real-time order (`-process`, `-realtime`) |
//!
//! A transaction that read its own later append is reported as G1c (a cycle of one transaction: it
//! read from itself before it wrote), which read-committed forbids, as Elle's `future-read` implies G1c.
//! Internal inconsistency is not forbidden by read-committed (Elle's PL-2 is G1 alone). Snapshot
//! isolation allows exactly the dependency cycles in which two anti-dependencies (`rw`) follow each
//! other (Cerone and Gotsman's characterisation, which Elle follows): a cycle with one `rw` edge is
//! G-single, one with several, none adjacent, G-nonadjacent; both violate it. A cycle with two
//! adjacent `rw` edges (write skew) is G2-item, which only the serializable models forbid.

use crate::anomaly::Anomaly;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The transactional workloads, by the name of their checker model (`--model`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TxnKind {
    /// Transactions of appends to lists and reads of whole lists (Elle's list-append).
    #[serde(rename = "txn-append")]
    ListAppend,
    /// Transactions of writes and reads of registers, every written value unique (Elle's rw-register).
    #[serde(rename = "txn-rw")]
    RwRegister,
}

impl TxnKind {
    pub const ALL: [TxnKind; 2] = [TxnKind::ListAppend, TxnKind::RwRegister];

    pub fn name(self) -> &'static str {
        match self {
            TxnKind::ListAppend => "txn-append",
            TxnKind::RwRegister => "txn-rw",
        }
    }

    /// The transactional kind a `--model` name names, if any.
    pub fn from_model_name(name: &str) -> Option<TxnKind> {
        TxnKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for TxnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The consistency model a history is judged by (`--consistency-model`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsistencyModel {
    #[default]
    StrictSerializable,
    Serializable,
    SnapshotIsolation,
    ReadCommitted,
}

impl ConsistencyModel {
    pub const ALL: [ConsistencyModel; 4] = [
        ConsistencyModel::StrictSerializable,
        ConsistencyModel::Serializable,
        ConsistencyModel::SnapshotIsolation,
        ConsistencyModel::ReadCommitted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ConsistencyModel::StrictSerializable => "strict-serializable",
            ConsistencyModel::Serializable => "serializable",
            ConsistencyModel::SnapshotIsolation => "snapshot-isolation",
            ConsistencyModel::ReadCommitted => "read-committed",
        }
    }

    /// Whether this model constrains transactions by process and real-time order (only then are
    /// those edges added to the graph).
    pub fn orders_in_time(self) -> bool {
        self == ConsistencyModel::StrictSerializable
    }

    /// Whether a history with `anomaly` violates this model (see the module documentation).
    pub fn prohibits(self, anomaly: Anomaly) -> bool {
        use Anomaly::*;
        let read_committed =
            matches!(anomaly, G0 | G1a | G1b | G1c | DuplicateElements | GarbageRead | IncompatibleOrder);
        let snapshot = read_committed || matches!(anomaly, Internal | GSingle | GNonadjacent);
        let serializable = snapshot || anomaly == G2Item;
        let strict = serializable
            || matches!(
                anomaly,
                G0Process
                    | G1cProcess
                    | GSingleProcess
                    | GNonadjacentProcess
                    | G2ItemProcess
                    | G0Realtime
                    | G1cRealtime
                    | GSingleRealtime
                    | GNonadjacentRealtime
                    | G2ItemRealtime
            );
        match self {
            ConsistencyModel::ReadCommitted => read_committed,
            ConsistencyModel::SnapshotIsolation => snapshot,
            ConsistencyModel::Serializable => serializable,
            ConsistencyModel::StrictSerializable => strict,
        }
    }
}

impl fmt::Display for ConsistencyModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ConsistencyModel {
    type Err = String;
    fn from_str(s: &str) -> Result<ConsistencyModel, String> {
        ConsistencyModel::ALL.into_iter().find(|m| m.name() == s).ok_or_else(|| {
            let names: Vec<&str> = ConsistencyModel::ALL.iter().map(|m| m.name()).collect();
            format!("unknown consistency model `{s}`; expected one of {}", names.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Anomaly::*;

    #[test]
    fn each_model_forbids_what_the_weaker_ones_do_and_its_own() {
        let order = [
            ConsistencyModel::ReadCommitted,
            ConsistencyModel::SnapshotIsolation,
            ConsistencyModel::Serializable,
            ConsistencyModel::StrictSerializable,
        ];
        for a in Anomaly::ALL.into_iter().filter(|a| a.is_transactional()) {
            for w in order.windows(2) {
                assert!(!w[0].prohibits(a) || w[1].prohibits(a), "{a}: {} but not {}", w[0], w[1]);
            }
            assert!(ConsistencyModel::StrictSerializable.prohibits(a), "{a}");
        }
        // Where the models part ways.
        assert!(!ConsistencyModel::ReadCommitted.prohibits(GSingle));
        assert!(ConsistencyModel::SnapshotIsolation.prohibits(GSingle));
        assert!(!ConsistencyModel::SnapshotIsolation.prohibits(G2Item));
        assert!(ConsistencyModel::SnapshotIsolation.prohibits(GNonadjacent));
        assert!(!ConsistencyModel::SnapshotIsolation.prohibits(GNonadjacentRealtime));
        assert!(ConsistencyModel::Serializable.prohibits(GNonadjacent));
        assert!(ConsistencyModel::StrictSerializable.prohibits(GNonadjacentProcess));
        assert!(ConsistencyModel::Serializable.prohibits(G2Item));
        assert!(!ConsistencyModel::Serializable.prohibits(GSingleRealtime));
        assert!(!ConsistencyModel::ReadCommitted.prohibits(Internal));
        assert!(ConsistencyModel::ReadCommitted.prohibits(G1c));
        // Not transactional classes: no model here speaks of them.
        assert!(!ConsistencyModel::StrictSerializable.prohibits(StaleRead));
    }

    #[test]
    fn names_parse_back() {
        for m in ConsistencyModel::ALL {
            assert_eq!(m.name().parse::<ConsistencyModel>(), Ok(m));
            assert_eq!(serde_json::to_value(m).unwrap(), serde_json::json!(m.name()));
        }
        assert!("linearizable".parse::<ConsistencyModel>().unwrap_err().contains("strict-serializable"));
        assert_eq!(TxnKind::from_model_name("txn-rw"), Some(TxnKind::RwRegister));
        assert_eq!(serde_json::to_value(TxnKind::ListAppend).unwrap(), serde_json::json!("txn-append"));
    }
}
