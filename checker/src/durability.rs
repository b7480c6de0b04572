//! Durability: did what was acknowledged survive, and do the nodes agree on what was committed?
//!
//! Linearizability alone can miss data loss that happens after the last read of a key. These checks
//! look at the end state:
//!
//! - [`check_final_reads`] compares the final value of every key, read after all faults healed, with the
//!   acknowledged writes. For a register, an acknowledged write is **lost** when the final value could
//!   not have overwritten it: every operation that could have written the final value completed before
//!   the write was invoked (or the key is absent and no delete could have followed). For list-append, an
//!   acknowledged append whose value is not in the final list is lost, and one present more often than it
//!   was appended is **duplicated**. Any value a read returned (during the run or at the end) that no
//!   operation could have written is a **phantom**; one written only by operations that failed is
//!   reported as a phantom too, with that note, since `fail` promised it never happened.
//! - [`check_committed_logs`] takes the committed log of every node (raft-node's `/debug/log`) and
//!   reports every index where two nodes committed different entries (**divergence**), and every
//!   acknowledged write absent from the union of the committed logs. When some committed index is held
//!   by no node's log (every node compacted it into a snapshot), a write not found may sit there: it is
//!   counted as unverifiable, not as absent, and does not change the verdict (the count says how much
//!   the check could not see).

use crate::Verdict;
use crate::ops::{History, Operation, Outcome};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// The value of one key read after every fault healed: null (absent), a scalar (register) or a list
/// (list-append).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinalRead {
    #[serde(default)]
    pub key: Option<String>,
    pub value: Value,
}

/// Takes the final reads from a history: for every key, the last read completed `ok` among those
/// invoked at or after `after_time` (ns; typically when the final heal finished).
pub fn final_reads_from_history(history: &History, after_time: u64) -> Vec<FinalRead> {
    let mut last: BTreeMap<Option<String>, &Operation> = BTreeMap::new();
    for op in &history.ops {
        if matches!(op.f.as_str(), "read" | "get")
            && op.outcome == Outcome::Ok
            && op.invoke_time >= after_time
        {
            let slot = last.entry(op.key.clone()).or_insert(op);
            if op.complete_index >= slot.complete_index {
                *slot = op;
            }
        }
    }
    last.into_iter().map(|(key, op)| FinalRead { key, value: op.output.clone() }).collect()
}

/// An acknowledged write missing from the final state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LostWrite {
    pub key: Option<String>,
    pub op: Operation,
    pub final_value: Value,
    pub why: String,
}

/// A value read that no operation could have written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhantomValue {
    pub key: Option<String>,
    pub value: Value,
    /// The read that returned it; `None` for a final read.
    pub read: Option<Operation>,
    pub note: String,
}

/// An appended value present in the final list more often than it was appended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DuplicatedAppend {
    pub key: Option<String>,
    pub value: Value,
    pub times_in_final: usize,
    pub times_appended: usize,
}

/// The result of [`check_final_reads`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DurabilityReport {
    pub verdict: Verdict,
    pub keys_checked: usize,
    pub acknowledged_writes: usize,
    pub lost: Vec<LostWrite>,
    pub phantom: Vec<PhantomValue>,
    pub duplicated: Vec<DuplicatedAppend>,
    /// Keys with acknowledged writes but no final read: their durability is unknown.
    pub missing_final_reads: Vec<Option<String>>,
}

fn is_write(f: &str) -> bool {
    matches!(f, "write" | "put" | "cas")
}

/// The value an operation writes, if it writes one.
fn written_value(op: &Operation) -> Option<&Value> {
    match op.f.as_str() {
        "write" | "put" | "append" | "add" => Some(&op.input),
        "cas" => op.input.as_array().filter(|a| a.len() == 2).map(|a| &a[1]),
        _ => None,
    }
}

/// Checks final reads against the history's acknowledged writes. `initial` is the value keys start
/// with (reading it is never a phantom).
pub fn check_final_reads(
    history: &History,
    final_reads: &[FinalRead],
    initial: Option<&Value>,
) -> DurabilityReport {
    let mut by_key: BTreeMap<Option<String>, Vec<&Operation>> = BTreeMap::new();
    for op in &history.ops {
        by_key.entry(op.key.clone()).or_default().push(op);
    }
    let finals: HashMap<&Option<String>, &Value> = final_reads.iter().map(|r| (&r.key, &r.value)).collect();
    let mut report = DurabilityReport {
        verdict: Verdict::Valid,
        keys_checked: 0,
        acknowledged_writes: 0,
        lost: Vec::new(),
        phantom: Vec::new(),
        duplicated: Vec::new(),
        missing_final_reads: Vec::new(),
    };
    let empty = Vec::new();
    let mut keys: Vec<&Option<String>> = by_key.keys().collect();
    for r in final_reads {
        if !by_key.contains_key(&r.key) {
            keys.push(&r.key);
        }
    }
    for key in keys {
        let ops = by_key.get(key).unwrap_or(&empty);
        let is_list = ops.iter().any(|o| o.f == "append") || finals.get(key).is_some_and(|v| v.is_array());
        let acked: Vec<&&Operation> =
            ops.iter().filter(|o| o.outcome == Outcome::Ok && (is_write(&o.f) || o.f == "append")).collect();
        report.acknowledged_writes += acked.len();
        // Values some operation that did not fail may have written, and those only failed ones wrote.
        let mut possible: HashMap<String, Vec<&Operation>> = HashMap::new();
        let mut failed_only: HashMap<String, &Operation> = HashMap::new();
        for op in ops {
            if let Some(v) = written_value(op) {
                if op.outcome == Outcome::Fail {
                    failed_only.entry(v.to_string()).or_insert(op);
                } else {
                    possible.entry(v.to_string()).or_default().push(op);
                }
            }
        }
        let phantom_note = |v: &Value| -> Option<String> {
            if initial.is_some_and(|i| i == v) || possible.contains_key(&v.to_string()) {
                return None;
            }
            Some(match failed_only.get(&v.to_string()) {
                Some(op) => format!("written only by an operation that failed (line {})", op.invoke_line),
                None => "no operation wrote this value".to_string(),
            })
        };
        // Phantoms in reads during the run.
        for op in ops.iter().filter(|o| matches!(o.f.as_str(), "read" | "get") && o.outcome == Outcome::Ok) {
            let values: Vec<&Value> = match &op.output {
                Value::Array(items) => items.iter().collect(),
                Value::Null => Vec::new(),
                v => vec![v],
            };
            for v in values {
                if let Some(note) = phantom_note(v) {
                    report.phantom.push(PhantomValue {
                        key: key.clone(),
                        value: v.clone(),
                        read: Some((*op).clone()),
                        note,
                    });
                }
            }
        }
        let Some(&final_value) = finals.get(key) else {
            if !acked.is_empty() {
                report.missing_final_reads.push(key.clone());
            }
            continue;
        };
        report.keys_checked += 1;
        if is_list {
            let items: Vec<&Value> = match final_value {
                Value::Array(items) => items.iter().collect(),
                _ => Vec::new(),
            };
            let mut counts: HashMap<String, (usize, &Value)> = HashMap::new();
            for v in &items {
                counts.entry(v.to_string()).or_insert((0, v)).0 += 1;
            }
            for op in &acked {
                if !counts.contains_key(&op.input.to_string()) {
                    report.lost.push(LostWrite {
                        key: key.clone(),
                        op: (**op).clone(),
                        final_value: final_value.clone(),
                        why: "acknowledged append missing from the final list".to_string(),
                    });
                }
            }
            let mut seen_phantom = std::collections::HashSet::new();
            for (text, (n, v)) in &counts {
                let appended = possible.get(text).map_or(0, Vec::len);
                if appended == 0 {
                    if let Some(note) = phantom_note(v)
                        && seen_phantom.insert(text.clone())
                    {
                        report.phantom.push(PhantomValue {
                            key: key.clone(),
                            value: (*v).clone(),
                            read: None,
                            note,
                        });
                    }
                } else if *n > appended {
                    report.duplicated.push(DuplicatedAppend {
                        key: key.clone(),
                        value: (*v).clone(),
                        times_in_final: *n,
                        times_appended: appended,
                    });
                }
            }
        } else {
            if !final_value.is_null()
                && let Some(note) = phantom_note(final_value)
            {
                report.phantom.push(PhantomValue {
                    key: key.clone(),
                    value: final_value.clone(),
                    read: None,
                    note,
                });
                continue;
            }
            for op in &acked {
                let Some(v) = written_value(op) else { continue };
                if v == final_value {
                    continue;
                }
                // Could anything that leaves the final value have come after this write?
                let overwriters: Vec<&&Operation> = if final_value.is_null() {
                    ops.iter().filter(|o| o.f == "delete" && o.outcome != Outcome::Fail).collect()
                } else {
                    possible.get(&final_value.to_string()).map(|v| v.iter().collect()).unwrap_or_default()
                };
                let can_follow = overwriters
                    .iter()
                    .any(|x| x.id != op.id && x.complete_index.is_none_or(|c| c > op.invoke_index));
                if !can_follow {
                    let why = if final_value.is_null() {
                        "the key is absent at the end and no delete could have followed this write"
                            .to_string()
                    } else {
                        format!(
                            "the final value {} was written only by operations that completed before this write was invoked",
                            crate::ops::compact(final_value)
                        )
                    };
                    report.lost.push(LostWrite {
                        key: key.clone(),
                        op: (**op).clone(),
                        final_value: final_value.clone(),
                        why,
                    });
                }
            }
        }
    }
    report.verdict = if !report.lost.is_empty() || !report.phantom.is_empty() || !report.duplicated.is_empty()
    {
        Verdict::Invalid
    } else if !report.missing_final_reads.is_empty() {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    report
}

// ---------------------------------------------------------------------------------------------------
// Committed logs

/// A command in a committed log entry (raft-node's `/debug/log`, CONTRACTS.md section 2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogCommand {
    pub op: String,
    /// Empty for a transaction (`op: "txn"`), whose micro-operations name their keys.
    #[serde(default)]
    pub key: String,
    /// A transaction's micro-operations, kept so two different transactions at one index compare
    /// unequal. Acknowledged transactions are not matched against the logs (only single writes are).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ops: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// One committed entry; `command` is `None` for a leader's no-op.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub index: u64,
    pub term: u64,
    pub command: Option<LogCommand>,
}

/// A node's committed log as `/debug/log?from=1` returns it, with the node's name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeLog {
    pub node: String,
    #[serde(default)]
    pub snapshot_index: u64,
    #[serde(default)]
    pub snapshot_term: u64,
    pub entries: Vec<LogEntry>,
}

impl NodeLog {
    /// Parses the body of `/debug/log` for node `node`.
    pub fn from_debug_log(node: &str, body: &str) -> Result<NodeLog, serde_json::Error> {
        #[derive(Deserialize)]
        struct Body {
            #[serde(default)]
            snapshot_index: u64,
            #[serde(default)]
            snapshot_term: u64,
            entries: Vec<LogEntry>,
        }
        let b: Body = serde_json::from_str(body)?;
        Ok(NodeLog {
            node: node.to_string(),
            snapshot_index: b.snapshot_index,
            snapshot_term: b.snapshot_term,
            entries: b.entries,
        })
    }
}

/// What one node committed at a divergent index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeEntry {
    pub node: String,
    pub term: u64,
    pub command: Option<LogCommand>,
}

/// An index where nodes committed different entries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Divergence {
    pub index: u64,
    pub entries: Vec<NodeEntry>,
}

/// An acknowledged write with no matching committed entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AbsentWrite {
    pub op: Operation,
    /// Matching entries found (fewer than the acknowledged operations with the same content).
    pub found_in_log: usize,
    pub acknowledged_with_same_content: usize,
}

/// The result of [`check_committed_logs`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogReport {
    pub verdict: Verdict,
    pub nodes: usize,
    /// Highest committed index seen on any node.
    pub max_index: u64,
    pub divergences: Vec<Divergence>,
    pub absent_writes: Vec<AbsentWrite>,
    /// Acknowledged writes not found while some committed index was held by no node (compacted into
    /// snapshots everywhere): they may be in the snapshots.
    pub unverifiable_writes: usize,
}

/// The content by which an acknowledged operation and a log entry are matched.
fn op_signature(op: &Operation) -> Option<String> {
    let key = op.key.as_deref().unwrap_or("");
    match op.f.as_str() {
        "write" | "put" => Some(format!("put\u{0}{key}\u{0}{}", op.input)),
        "append" => Some(format!("append\u{0}{key}\u{0}{}", op.input)),
        "delete" => Some(format!("delete\u{0}{key}")),
        "cas" => {
            let a = op.input.as_array().filter(|a| a.len() == 2)?;
            Some(format!("cas\u{0}{key}\u{0}{}\u{0}{}", a[0], a[1]))
        }
        _ => None,
    }
}

fn command_signature(c: &LogCommand) -> String {
    let show = |v: &Option<Value>| v.clone().unwrap_or(Value::Null).to_string();
    match c.op.as_str() {
        "put" | "write" => format!("put\u{0}{}\u{0}{}", c.key, show(&c.value)),
        "append" => format!("append\u{0}{}\u{0}{}", c.key, show(&c.value)),
        "delete" => format!("delete\u{0}{}", c.key),
        "cas" => format!("cas\u{0}{}\u{0}{}\u{0}{}", c.key, show(&c.from), show(&c.to)),
        "txn" => format!("txn\u{0}{}", show(&c.ops)),
        other => format!("{other}\u{0}{}", c.key),
    }
}

/// Compares the committed logs of all nodes with each other and with the history's acknowledged writes.
pub fn check_committed_logs(logs: &[NodeLog], history: &History) -> LogReport {
    let mut at: BTreeMap<u64, Vec<NodeEntry>> = BTreeMap::new();
    for log in logs {
        for e in &log.entries {
            at.entry(e.index).or_default().push(NodeEntry {
                node: log.node.clone(),
                term: e.term,
                command: e.command.clone(),
            });
        }
    }
    let mut divergences = Vec::new();
    let mut found: HashMap<String, usize> = HashMap::new();
    for (&index, entries) in &at {
        let first = &entries[0];
        if entries.iter().any(|e| e.term != first.term || e.command != first.command) {
            divergences.push(Divergence { index, entries: entries.clone() });
        }
        // Count each index once (from the first node that has it) towards the union of the logs.
        if let Some(c) = &first.command {
            *found.entry(command_signature(c)).or_default() += 1;
        }
    }
    // Every index from 1 up is held by some node (a node that compacted a prefix may be covered by
    // another, or by an earlier look at itself): only then is a write missing from the union absent.
    let fully_covered = at.keys().copied().eq(1..=at.keys().next_back().copied().unwrap_or(0));
    let mut acked: HashMap<String, Vec<&Operation>> = HashMap::new();
    for op in &history.ops {
        if op.outcome == Outcome::Ok
            && let Some(sig) = op_signature(op)
        {
            acked.entry(sig).or_default().push(op);
        }
    }
    let mut absent_writes = Vec::new();
    let mut unverifiable = 0;
    let mut sigs: Vec<(&String, &Vec<&Operation>)> = acked.iter().collect();
    sigs.sort_by_key(|(_, ops)| ops[0].id);
    for (sig, ops) in sigs {
        let n = found.get(sig).copied().unwrap_or(0);
        if n >= ops.len() {
            continue;
        }
        if !fully_covered {
            unverifiable += ops.len() - n;
            continue;
        }
        for op in ops.iter().skip(n) {
            absent_writes.push(AbsentWrite {
                op: (*op).clone(),
                found_in_log: n,
                acknowledged_with_same_content: ops.len(),
            });
        }
    }
    absent_writes.sort_by_key(|a| a.op.id);
    // Writes that fall where no log reaches are a limit of coverage, reported by count, not evidence
    // of a fault: a long run compacts its logs, and calling every such run unknown would hide the
    // verdict on everything that was seen.
    let verdict =
        if !divergences.is_empty() || !absent_writes.is_empty() { Verdict::Invalid } else { Verdict::Valid };
    LogReport {
        verdict,
        nodes: logs.len(),
        max_index: at.keys().next_back().copied().unwrap_or(0),
        divergences,
        absent_writes,
        unverifiable_writes: unverifiable,
    }
}
