//! Committed logs watched while the run goes on, not only fetched at its end.
//!
//! Two things are invisible in a log fetched once after the final reads:
//!
//! - raft-node compacts its log into a snapshot every `--snapshot-threshold` entries, so the final
//!   `/debug/log` holds only the tail. A divergence, or an acknowledged write missing from the log, in
//!   the compacted prefix could not be checked (the committed-log check said "unknown").
//! - A committed entry must never change (State Machine Safety, §5.4.3 of the Raft paper). When a
//!   broken node overwrites one, its final log can look perfectly consistent with the others: only an
//!   earlier look shows the entry that was replaced.
//!
//! So the run asks every node for `/debug/log?from=I` five times a second, starting [`REFETCH`] entries
//! below what it has already seen (recent entries are seen again, so one that is replaced shows), and a
//! [`NodeWatch`] per node keeps the union of every committed entry the node reported and every
//! [`Change`] of an entry at an index it had reported before. After the final fetch the run stores
//! the union as `nodes/<n>/log.json`, in the `/debug/log` body shape the checker reads, and the
//! changes as `nodes/<n>/log-changes.json`.
//!
//! The union is honest about what it did not see: if a node compacted entries the watcher had not
//! yet fetched (those committed since its last look when the snapshot was taken), its
//! `snapshot_index` is raised past the gap. The checker itself treats an index that no node's union
//! holds as unseen, so a write that may sit there is counted unverifiable, not lost.

use checker::durability::{LogEntry, NodeLog};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// How far below the highest index already seen each poll starts.
pub const REFETCH: u64 = 256;

/// An entry a node reported as committed at `index`, and what it reported there later.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub index: u64,
    /// When the new entry was seen, in ns since the run started (history time).
    pub time: u64,
    /// The entry first reported.
    pub before: LogEntry,
    pub after: LogEntry,
}

/// The changes stored in `path` (a node's `log-changes.json`): `None` when there is no such file,
/// else the changes or why the file could not be read (naming it).
pub fn read_changes(path: &std::path::Path) -> Option<Result<Vec<Change>, String>> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(
        serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a list of log changes: {e}", path.display())),
    )
}

/// What the watcher learned about one node's committed log.
#[derive(Clone, Debug, Default)]
pub struct NodeWatch {
    /// The snapshot boundary of the first body seen: nothing at or below it was ever shown.
    base: Option<(u64, u64)>,
    /// The highest index of a run of entries compacted before the watcher saw them (0: none).
    gap_end: u64,
    entries: BTreeMap<u64, LogEntry>,
    changes: Vec<Change>,
}

impl NodeWatch {
    /// The `from` of the next poll.
    pub fn next_from(&self) -> u64 {
        self.entries.keys().next_back().map_or(0, |last| (last + 1).saturating_sub(REFETCH))
    }

    /// Takes one `/debug/log` body seen at `time`.
    pub fn observe(&mut self, body: &str, time: u64) -> Result<(), String> {
        let b = NodeLog::from_debug_log("", body).map_err(|e| format!("not a /debug/log body: {e}"))?;
        let highest_seen = self.entries.keys().next_back().copied().unwrap_or(0);
        match self.base {
            None => self.base = Some((b.snapshot_index, b.snapshot_term)),
            Some((base, _)) if b.snapshot_index > highest_seen.max(base) => {
                // Compacted before we fetched them: entries (highest_seen, snapshot_index] were never seen.
                self.gap_end = self.gap_end.max(b.snapshot_index);
            }
            Some(_) => {}
        }
        for entry in b.entries {
            let index = entry.index;
            match self.entries.get_mut(&index) {
                Some(known) if *known != entry => {
                    let before = std::mem::replace(known, entry.clone());
                    self.changes.push(Change { index, time, before, after: entry });
                }
                Some(_) => {}
                None => {
                    self.entries.insert(index, entry);
                }
            }
        }
        Ok(())
    }

    /// Whether any body was seen at all.
    pub fn seen(&self) -> bool {
        self.base.is_some()
    }

    /// The union as a `/debug/log` body (the latest entry at each index).
    pub fn body(&self) -> Value {
        let (base, base_term) = self.base.unwrap_or((0, 0));
        let (snapshot_index, snapshot_term) =
            if self.gap_end > base { (self.gap_end, 0) } else { (base, base_term) };
        json!({
            "snapshot_index": snapshot_index,
            "snapshot_term": snapshot_term,
            "entries": self.entries.values().collect::<Vec<_>>(),
        })
    }

    pub fn changes(&self) -> &[Change] {
        &self.changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64, value: &str) -> LogEntry {
        let e = json!({"index": index, "term": term, "command": {"op": "put", "key": "k", "value": value}});
        serde_json::from_value(e).unwrap()
    }

    fn body(snapshot_index: u64, entries: &[LogEntry]) -> String {
        json!({"snapshot_index": snapshot_index, "snapshot_term": 1, "entries": entries}).to_string()
    }

    #[test]
    fn the_union_keeps_entries_the_node_later_compacted() {
        let mut w = NodeWatch::default();
        w.observe(&body(0, &[entry(1, 1, "a"), entry(2, 1, "b")]), 10).unwrap();
        assert_eq!(w.next_from(), 0, "recent entries are fetched again");
        // The node compacted 1..=2 into a snapshot and committed 3.
        w.observe(&body(2, &[entry(3, 1, "c")]), 20).unwrap();
        let union = w.body();
        assert_eq!(union["snapshot_index"], 0, "nothing was missed");
        assert_eq!(union["entries"].as_array().unwrap().len(), 3);
        assert!(w.changes().is_empty());
    }

    #[test]
    fn a_replaced_committed_entry_is_a_change() {
        let mut w = NodeWatch::default();
        w.observe(&body(0, &[entry(1, 1, "a"), entry(2, 1, "b")]), 10).unwrap();
        w.observe(&body(0, &[entry(1, 1, "a"), entry(2, 2, "x")]), 20).unwrap();
        assert_eq!(
            w.changes(),
            [Change { index: 2, time: 20, before: entry(2, 1, "b"), after: entry(2, 2, "x") }]
        );
        let latest: LogEntry = serde_json::from_value(w.body()["entries"][1].clone()).unwrap();
        assert_eq!(latest, entry(2, 2, "x"), "the union holds the latest entry");
    }

    #[test]
    fn entries_compacted_before_they_were_seen_raise_the_snapshot_index() {
        let mut w = NodeWatch::default();
        w.observe(&body(0, &[entry(1, 1, "a")]), 10).unwrap();
        w.observe(&body(500, &[entry(501, 1, "z")]), 20).unwrap();
        let union = w.body();
        assert_eq!(union["snapshot_index"], 500, "2..=500 were never seen");
        assert_eq!(union["entries"].as_array().unwrap().len(), 2);
        // A first body that starts after a snapshot keeps that snapshot's boundary.
        let mut late = NodeWatch::default();
        late.observe(&body(40, &[entry(41, 3, "q")]), 5).unwrap();
        assert_eq!(
            (late.body()["snapshot_index"].as_u64(), late.body()["snapshot_term"].as_u64()),
            (Some(40), Some(1))
        );
    }

    #[test]
    fn a_malformed_body_is_an_error_and_changes_nothing() {
        let mut w = NodeWatch::default();
        assert!(w.observe("{\"entries\": 3}", 1).unwrap_err().contains("not a /debug/log body"));
        assert!(w.observe(&json!({"entries": [{"term": 1}]}).to_string(), 1).unwrap_err().contains("index"));
        assert!(!w.seen(), "nothing of a rejected body is kept");
    }
}
