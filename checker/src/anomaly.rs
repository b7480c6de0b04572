//! Anomaly classes: the one place that decides what kind of violation a check found.
//!
//! A class is a stable word (`stale-read`, `lost-append`, ...). Campaigns fingerprint failures by
//! (system, check, class) and store the words in their `summary.json` files, and the matrix tabulates
//! them, so the words never change once written: a renamed class would make every old failure look
//! fixed and every current one look new. [`Anomaly`] serialises, displays and parses as exactly
//! those words.
//!
//! The rules, so every consumer (reports, matrix, campaign) names a finding the same way:
//!
//! - **Linearizability** ([`classify`]), from the operation to blame in an invalid key's explanation
//!   (the culprit, [`Explanation::culprit`]). A read of a single value is a `stale-read` when an
//!   operation of the linearized prefix wrote the value it returned (or it returned nothing, the key's
//!   initial state), since the state had moved on; a `phantom-read` when no operation of the
//!   counterexample wrote it; an `aborted-read` when only failed operations did; otherwise a
//!   `future-read` (its writer could not yet have taken effect). A read of a list is a
//!   `nonlinearizable-read`, a cas an `invalid-cas`, anything else a `nonlinearizable-write`; with no
//!   culprit, `nonlinearizable`.
//! - **Durability**: `lost-append` for an acknowledged append missing from the final list,
//!   `lost-write` for any other lost write (decided by the operation, `f == "append"`, so a register
//!   and a list workload in one run each get their own word); `phantom-value`; `duplicate-append`.
//! - **Committed logs**: `divergent-commit`, `absent-from-log`.
//! - **Transactions** ([`txn_findings`], from [`crate::txn`]): Adya's classes as Elle spells them,
//!   `G0`, `G1a`, `G1b`, `G1c`, `G-single`, `G-nonadjacent`, `G2-item`, the cycle classes also with `-process` and
//!   `-realtime` (a cycle that needs session or real-time order); `internal`, `incompatible-order`,
//!   `duplicate-elements`, `garbage-read`. Only the classes the run's consistency model forbids are
//!   findings.
//! - `panic` and `two-leaders` are found by the harness (it scans node output and leadership
//!   records, which this crate never sees); their words live here so every class has one spelling.
//!
//! A [`Finding`] is one instance of a class with where and when it was found. Only linearizability
//! and transactional findings carry a time: the history dates their evidence. Durability and log
//! findings are judged on the final reads and logs, which the history does not date; the caller
//! knows when those were taken.

use crate::LinearizabilityReport;
use crate::durability::{
    AbsentWrite, Divergence, DuplicatedAppend, DurabilityReport, LogReport, LostWrite, PhantomValue,
};
use crate::explain::Explanation;
use crate::linearizability::KeyResult;
use crate::ops::{Operation, Outcome, compact};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A class of violation. Serialised, displayed and parsed as its stable word ([`Anomaly::name`]).
///
/// Ordered by word, not by declaration, so a sorted set of classes lists in the same order as the
/// sorted strings that `summary.json` and `matrix.json` held before this type existed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "&'static str", try_from = "String")]
pub enum Anomaly {
    StaleRead,
    FutureRead,
    AbortedRead,
    PhantomRead,
    NonlinearizableRead,
    InvalidCas,
    NonlinearizableWrite,
    /// Not linearizable, with no single operation to blame (or no explanation to find one in).
    Nonlinearizable,
    LostWrite,
    LostAppend,
    PhantomValue,
    DuplicateAppend,
    DivergentCommit,
    AbsentFromLog,
    Panic,
    TwoLeaders,
    // Transactional (the `txn` checker; Adya's names as Elle spells them).
    G0,
    G0Process,
    G0Realtime,
    G1a,
    G1b,
    G1c,
    G1cProcess,
    G1cRealtime,
    GSingle,
    GSingleProcess,
    GSingleRealtime,
    GNonadjacent,
    GNonadjacentProcess,
    GNonadjacentRealtime,
    G2Item,
    G2ItemProcess,
    G2ItemRealtime,
    Internal,
    IncompatibleOrder,
    DuplicateElements,
    GarbageRead,
}

impl Anomaly {
    /// Every class, in declaration order (linearizability, durability, logs, harness, transactions).
    pub const ALL: [Anomaly; 37] = [
        Anomaly::StaleRead,
        Anomaly::FutureRead,
        Anomaly::AbortedRead,
        Anomaly::PhantomRead,
        Anomaly::NonlinearizableRead,
        Anomaly::InvalidCas,
        Anomaly::NonlinearizableWrite,
        Anomaly::Nonlinearizable,
        Anomaly::LostWrite,
        Anomaly::LostAppend,
        Anomaly::PhantomValue,
        Anomaly::DuplicateAppend,
        Anomaly::DivergentCommit,
        Anomaly::AbsentFromLog,
        Anomaly::Panic,
        Anomaly::TwoLeaders,
        Anomaly::G0,
        Anomaly::G0Process,
        Anomaly::G0Realtime,
        Anomaly::G1a,
        Anomaly::G1b,
        Anomaly::G1c,
        Anomaly::G1cProcess,
        Anomaly::G1cRealtime,
        Anomaly::GSingle,
        Anomaly::GSingleProcess,
        Anomaly::GSingleRealtime,
        Anomaly::GNonadjacent,
        Anomaly::GNonadjacentProcess,
        Anomaly::GNonadjacentRealtime,
        Anomaly::G2Item,
        Anomaly::G2ItemProcess,
        Anomaly::G2ItemRealtime,
        Anomaly::Internal,
        Anomaly::IncompatibleOrder,
        Anomaly::DuplicateElements,
        Anomaly::GarbageRead,
    ];

    /// Whether the linearizability check finds this class (the history dates such findings).
    pub const fn is_linearizability(self) -> bool {
        matches!(
            self,
            Anomaly::StaleRead
                | Anomaly::FutureRead
                | Anomaly::AbortedRead
                | Anomaly::PhantomRead
                | Anomaly::NonlinearizableRead
                | Anomaly::InvalidCas
                | Anomaly::NonlinearizableWrite
                | Anomaly::Nonlinearizable
        )
    }

    /// Whether the transactional checker ([`crate::txn`]) finds this class (the history dates such
    /// findings).
    pub const fn is_transactional(self) -> bool {
        matches!(
            self,
            Anomaly::G0
                | Anomaly::G0Process
                | Anomaly::G0Realtime
                | Anomaly::G1a
                | Anomaly::G1b
                | Anomaly::G1c
                | Anomaly::G1cProcess
                | Anomaly::G1cRealtime
                | Anomaly::GSingle
                | Anomaly::GSingleProcess
                | Anomaly::GSingleRealtime
                | Anomaly::GNonadjacent
                | Anomaly::GNonadjacentProcess
                | Anomaly::GNonadjacentRealtime
                | Anomaly::G2Item
                | Anomaly::G2ItemProcess
                | Anomaly::G2ItemRealtime
                | Anomaly::Internal
                | Anomaly::IncompatibleOrder
                | Anomaly::DuplicateElements
                | Anomaly::GarbageRead
        )
    }

    /// The stable word (see the module documentation: never change one).
    pub const fn name(self) -> &'static str {
        match self {
            Anomaly::StaleRead => "stale-read",
            Anomaly::FutureRead => "future-read",
            Anomaly::AbortedRead => "aborted-read",
            Anomaly::PhantomRead => "phantom-read",
            Anomaly::NonlinearizableRead => "nonlinearizable-read",
            Anomaly::InvalidCas => "invalid-cas",
            Anomaly::NonlinearizableWrite => "nonlinearizable-write",
            Anomaly::Nonlinearizable => "nonlinearizable",
            Anomaly::LostWrite => "lost-write",
            Anomaly::LostAppend => "lost-append",
            Anomaly::PhantomValue => "phantom-value",
            Anomaly::DuplicateAppend => "duplicate-append",
            Anomaly::DivergentCommit => "divergent-commit",
            Anomaly::AbsentFromLog => "absent-from-log",
            Anomaly::Panic => "panic",
            Anomaly::TwoLeaders => "two-leaders",
            Anomaly::G0 => "G0",
            Anomaly::G0Process => "G0-process",
            Anomaly::G0Realtime => "G0-realtime",
            Anomaly::G1a => "G1a",
            Anomaly::G1b => "G1b",
            Anomaly::G1c => "G1c",
            Anomaly::G1cProcess => "G1c-process",
            Anomaly::G1cRealtime => "G1c-realtime",
            Anomaly::GSingle => "G-single",
            Anomaly::GSingleProcess => "G-single-process",
            Anomaly::GSingleRealtime => "G-single-realtime",
            Anomaly::GNonadjacent => "G-nonadjacent",
            Anomaly::GNonadjacentProcess => "G-nonadjacent-process",
            Anomaly::GNonadjacentRealtime => "G-nonadjacent-realtime",
            Anomaly::G2Item => "G2-item",
            Anomaly::G2ItemProcess => "G2-item-process",
            Anomaly::G2ItemRealtime => "G2-item-realtime",
            Anomaly::Internal => "internal",
            Anomaly::IncompatibleOrder => "incompatible-order",
            Anomaly::DuplicateElements => "duplicate-elements",
            Anomaly::GarbageRead => "garbage-read",
        }
    }

    /// What the class means, in one line a person reads.
    pub const fn description(self) -> &'static str {
        match self {
            Anomaly::StaleRead => "a read returned a value that had already been overwritten",
            Anomaly::FutureRead => {
                "a read returned a value written by an operation that could not yet have taken effect"
            }
            Anomaly::AbortedRead => "a read returned a value written only by operations that failed",
            Anomaly::PhantomRead => "a read returned a value that no operation wrote",
            Anomaly::NonlinearizableRead => "a read of a list matches no order of the appends around it",
            Anomaly::InvalidCas => "a compare-and-set's outcome matches no order of the operations around it",
            Anomaly::NonlinearizableWrite => "a write's outcome matches no order of the operations around it",
            Anomaly::Nonlinearizable => {
                "no order of a key's operations agrees with the model and real time, and no single operation is to blame"
            }
            Anomaly::LostWrite => "an acknowledged write is missing from the final state",
            Anomaly::LostAppend => "an acknowledged append is missing from the final list",
            Anomaly::PhantomValue => "a value was read that no operation could have written",
            Anomaly::DuplicateAppend => {
                "an appended value is in the final list more often than it was appended"
            }
            Anomaly::DivergentCommit => "two nodes committed different entries at the same log index",
            Anomaly::AbsentFromLog => "an acknowledged write is in no node's committed log",
            Anomaly::Panic => "a node panicked or logged a fatal error",
            Anomaly::TwoLeaders => "two nodes were leader in the same term (Election Safety, Raft §5.2)",
            Anomaly::G0 => "write cycle: transactions overwrote each other in a cycle",
            Anomaly::G0Process => "write cycle through the order of a process's transactions",
            Anomaly::G0Realtime => "write cycle through real-time order",
            Anomaly::G1a => "aborted read: a transaction read a value written only by a failed transaction",
            Anomaly::G1b => {
                "intermediate read: a transaction read a value its writer overwrote before committing"
            }
            Anomaly::G1c => {
                "cyclic information flow: transactions read from and overwrote each other in a cycle"
            }
            Anomaly::G1cProcess => "cyclic information flow through the order of a process's transactions",
            Anomaly::G1cRealtime => "cyclic information flow through real-time order",
            Anomaly::GSingle => {
                "read skew: a dependency cycle with exactly one anti-dependency (a read that missed a write)"
            }
            Anomaly::GSingleProcess => "read skew through the order of a process's transactions",
            Anomaly::GSingleRealtime => {
                "read skew through real-time order: a transaction missed a write that completed before it began"
            }
            Anomaly::GNonadjacent => {
                "non-adjacent anti-dependencies: a dependency cycle with two or more reads that missed \
                 writes, no two of them in a row (snapshot isolation forbids it)"
            }
            Anomaly::GNonadjacentProcess => {
                "non-adjacent anti-dependencies through the order of a process's transactions"
            }
            Anomaly::GNonadjacentRealtime => "non-adjacent anti-dependencies through real-time order",
            Anomaly::G2Item => {
                "anti-dependency cycle: a dependency cycle with two or more reads that missed writes, \
                 two of them in a row"
            }
            Anomaly::G2ItemProcess => "anti-dependency cycle through the order of a process's transactions",
            Anomaly::G2ItemRealtime => "anti-dependency cycle through real-time order",
            Anomaly::Internal => {
                "internal inconsistency: a transaction's read disagrees with its own earlier reads and writes"
            }
            Anomaly::IncompatibleOrder => {
                "two reads of a key imply orders of its writes that cannot both hold"
            }
            Anomaly::DuplicateElements => "a read returned a list holding one appended value twice",
            Anomaly::GarbageRead => "a read returned a value no transaction ever wrote",
        }
    }
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialOrd for Anomaly {
    fn partial_cmp(&self, other: &Anomaly) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Anomaly {
    fn cmp(&self, other: &Anomaly) -> Ordering {
        self.name().cmp(other.name())
    }
}

/// A word that is not an anomaly class.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown anomaly class {word:?}; the known classes are {}", known_words())]
pub struct UnknownAnomaly {
    pub word: String,
}

fn known_words() -> String {
    Anomaly::ALL.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
}

impl FromStr for Anomaly {
    type Err = UnknownAnomaly;

    fn from_str(word: &str) -> Result<Anomaly, UnknownAnomaly> {
        Anomaly::ALL
            .into_iter()
            .find(|a| a.name() == word)
            .ok_or_else(|| UnknownAnomaly { word: word.to_owned() })
    }
}

impl From<Anomaly> for &'static str {
    fn from(a: Anomaly) -> &'static str {
        a.name()
    }
}

impl TryFrom<String> for Anomaly {
    type Error = UnknownAnomaly;

    fn try_from(word: String) -> Result<Anomaly, UnknownAnomaly> {
        word.parse()
    }
}

/// One violation found: its class, where, when, and a sentence of evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub anomaly: Anomaly,
    /// The key it concerns, when it concerns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// When the evidence was complete (ns, the history's clock), if the evidence is dated (see the
    /// module documentation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<u64>,
    /// What was found, in one line.
    #[serde(default)]
    pub detail: String,
}

/// The findings of a transactional check: each explained anomaly the consistency model forbids
/// (every class found has at least one explained instance), dated when its evidence was complete.
pub fn txn_findings(r: &crate::txn::TxnReport) -> Vec<Finding> {
    r.anomalies
        .iter()
        .filter(|a| a.prohibited)
        .map(|a| Finding {
            anomaly: a.anomaly,
            key: a.steps.iter().find_map(|s| s.key.clone()),
            time: a.time,
            detail: a.summary.clone(),
        })
        .collect()
}

/// What an operation writes, if anything (a cas writes its new value).
fn written(op: &Operation) -> Option<&serde_json::Value> {
    match op.f.as_str() {
        "write" | "put" | "append" | "add" => Some(&op.input),
        "cas" => op.input.as_array().filter(|a| a.len() == 2).map(|a| &a[1]),
        _ => None,
    }
}

/// The class of an invalid key, from its explanation (see the module documentation for the rules).
/// Only the operations the minimal counterexample kept count: they are the story the report tells,
/// and a writer the shrinking dropped played no part in the violation.
pub fn classify(e: &Explanation) -> Anomaly {
    let Some(culprit) = e.culprit().map(|s| &s.op) else { return Anomaly::Nonlinearizable };
    match culprit.f.as_str() {
        "read" | "get" if culprit.output.is_array() => Anomaly::NonlinearizableRead,
        "read" | "get" => {
            let writers: Vec<&Operation> =
                e.counterexample.ops.iter().filter(|op| written(op) == Some(&culprit.output)).collect();
            if writers.is_empty() && culprit.output.is_null() {
                // Nothing read: the key's initial, absent state, from before a write was linearized.
                Anomaly::StaleRead
            } else if writers.is_empty() {
                Anomaly::PhantomRead
            } else if writers.iter().any(|w| e.longest_prefix.contains(&w.id)) {
                Anomaly::StaleRead
            } else if writers.iter().all(|w| w.outcome == Outcome::Fail) {
                Anomaly::AbortedRead
            } else {
                Anomaly::FutureRead
            }
        }
        "cas" => Anomaly::InvalidCas,
        _ => Anomaly::NonlinearizableWrite,
    }
}

/// When an invalid key's evidence was complete (ns): once every operation of the counterexample and
/// at least one stuck operation had completed. The stuck operation is the anomaly itself (the stale
/// read, say), and a minimal counterexample does not always keep it. An operation that never
/// completed counts from its invocation, the last moment the history says anything about it.
pub fn detection_time(e: &Explanation) -> Option<u64> {
    let end = |op: &Operation| op.complete_time.unwrap_or(op.invoke_time);
    let counterexample_done = e.counterexample.ops.iter().map(end).max();
    let stuck_done = e.stuck.iter().map(|s| end(&s.op)).min();
    counterexample_done.max(stuck_done)
}

impl Finding {
    /// The finding of one invalid key: classified and dated from its explanation, or
    /// `nonlinearizable` and undated when the check built none.
    pub fn invalid_key(k: &KeyResult) -> Finding {
        let Some(e) = &k.explanation else {
            return Finding {
                anomaly: Anomaly::Nonlinearizable,
                key: k.key.clone(),
                time: None,
                detail: format!("{} operations admit no linearization (not explained)", k.ops),
            };
        };
        let detail = match e.culprit() {
            Some(s) => format!(
                "{} (line {}) cannot follow the longest linearizable prefix ({} operations), which leaves state {}",
                s.op.describe(),
                s.op.invoke_line,
                e.longest_prefix.len(),
                s.state
            ),
            None => format!(
                "the {} operations of the counterexample admit no linearization",
                e.counterexample.ops.len()
            ),
        };
        Finding { anomaly: classify(e), key: k.key.clone(), time: detection_time(e), detail }
    }

    /// An acknowledged write missing from the final state: `lost-append` when it was an append.
    pub fn lost(l: &LostWrite) -> Finding {
        let anomaly = if l.op.f == "append" { Anomaly::LostAppend } else { Anomaly::LostWrite };
        Finding {
            anomaly,
            key: l.key.clone(),
            time: None,
            detail: format!("{} (line {}): {}", l.op.describe(), l.op.invoke_line, l.why),
        }
    }

    pub fn phantom(p: &PhantomValue) -> Finding {
        let seen = match &p.read {
            Some(op) => format!("read at line {}", op.invoke_line),
            None => "in the final read".to_owned(),
        };
        Finding {
            anomaly: Anomaly::PhantomValue,
            key: p.key.clone(),
            time: None,
            detail: format!("{} {seen}: {}", compact(&p.value), p.note),
        }
    }

    pub fn duplicated(d: &DuplicatedAppend) -> Finding {
        Finding {
            anomaly: Anomaly::DuplicateAppend,
            key: d.key.clone(),
            time: None,
            detail: format!(
                "{} appended {} time(s), present {} times in the final list",
                compact(&d.value),
                d.times_appended,
                d.times_in_final
            ),
        }
    }

    pub fn divergent(d: &Divergence) -> Finding {
        let what: Vec<String> = d
            .entries
            .iter()
            .map(|e| {
                let cmd = e.command.as_ref().map_or("noop".to_owned(), |c| format!("{} {}", c.op, c.key));
                format!("{}: term {} {cmd}", e.node, e.term)
            })
            .collect();
        Finding {
            anomaly: Anomaly::DivergentCommit,
            key: None,
            time: None,
            detail: format!("index {} committed differently: {}", d.index, what.join("; ")),
        }
    }

    pub fn absent(a: &AbsentWrite) -> Finding {
        Finding {
            anomaly: Anomaly::AbsentFromLog,
            key: a.op.key.clone(),
            time: None,
            detail: format!(
                "{} acknowledged but absent from every committed log ({} of {} such writes found)",
                a.op.describe(),
                a.found_in_log,
                a.acknowledged_with_same_content
            ),
        }
    }
}

/// One finding per invalid key, in key order.
pub fn linearizability_findings(r: &LinearizabilityReport) -> Vec<Finding> {
    r.invalid_keys().into_iter().map(Finding::invalid_key).collect()
}

/// One finding per lost, phantom and duplicated value, in that order.
pub fn durability_findings(r: &DurabilityReport) -> Vec<Finding> {
    let lost = r.lost.iter().map(Finding::lost);
    let phantom = r.phantom.iter().map(Finding::phantom);
    lost.chain(phantom).chain(r.duplicated.iter().map(Finding::duplicated)).collect()
}

/// One finding per divergent index and per acknowledged write absent from every committed log.
pub fn log_findings(r: &LogReport) -> Vec<Finding> {
    r.divergences.iter().map(Finding::divergent).chain(r.absent_writes.iter().map(Finding::absent)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::{Counterexample, StuckOp};
    use serde_json::{Value, json};

    #[test]
    fn the_words_are_the_ones_summaries_already_store() {
        // Campaign fingerprints in old summary.json files use these exact strings.
        let words: Vec<&str> = Anomaly::ALL.iter().map(|a| a.name()).collect();
        assert_eq!(
            words,
            [
                "stale-read",
                "future-read",
                "aborted-read",
                "phantom-read",
                "nonlinearizable-read",
                "invalid-cas",
                "nonlinearizable-write",
                "nonlinearizable",
                "lost-write",
                "lost-append",
                "phantom-value",
                "duplicate-append",
                "divergent-commit",
                "absent-from-log",
                "panic",
                "two-leaders",
                "G0",
                "G0-process",
                "G0-realtime",
                "G1a",
                "G1b",
                "G1c",
                "G1c-process",
                "G1c-realtime",
                "G-single",
                "G-single-process",
                "G-single-realtime",
                "G-nonadjacent",
                "G-nonadjacent-process",
                "G-nonadjacent-realtime",
                "G2-item",
                "G2-item-process",
                "G2-item-realtime",
                "internal",
                "incompatible-order",
                "duplicate-elements",
                "garbage-read",
            ]
        );
    }

    #[test]
    fn serde_display_and_parse_all_use_the_word() {
        for a in Anomaly::ALL {
            assert_eq!(serde_json::to_value(a).unwrap(), json!(a.name()));
            assert_eq!(serde_json::from_value::<Anomaly>(json!(a.name())).unwrap(), a);
            assert_eq!(a.to_string(), a.name());
            assert_eq!(a.name().parse::<Anomaly>(), Ok(a));
            assert!(!a.description().is_empty());
        }
    }

    #[test]
    fn an_unknown_word_is_named_with_the_known_ones() {
        let e = "lost-wirte".parse::<Anomaly>().unwrap_err();
        assert_eq!(e.word, "lost-wirte");
        let message = e.to_string();
        assert!(message.starts_with("unknown anomaly class \"lost-wirte\""), "{message}");
        assert!(message.contains("lost-write") && message.contains("two-leaders"), "{message}");
        assert!(serde_json::from_value::<Anomaly>(json!("lost-wirte")).is_err());
    }

    #[test]
    fn a_set_of_classes_sorts_by_word() {
        let set: std::collections::BTreeSet<Anomaly> =
            [Anomaly::TwoLeaders, Anomaly::StaleRead, Anomaly::LostAppend, Anomaly::AbortedRead].into();
        let words: Vec<&str> = set.into_iter().map(Anomaly::name).collect();
        assert_eq!(words, ["aborted-read", "lost-append", "stale-read", "two-leaders"]);
    }

    // ---------------------------------------------------------------------------------------------
    // Linearizability rules, on explanations written by hand so each rule is hit exactly.

    /// An operation with id `id`, invoked at `id * 10` and completed 5 later (unless indefinite).
    fn op(id: usize, f: &str, input: Value, output: Value, outcome: Outcome) -> Operation {
        let done = !outcome.is_indefinite();
        Operation {
            id,
            process: id as u64,
            f: f.to_owned(),
            key: Some("x".to_owned()),
            input,
            output,
            outcome,
            invoke_index: id * 2,
            complete_index: done.then_some(id * 2 + 1),
            invoke_time: id as u64 * 10,
            complete_time: done.then_some(id as u64 * 10 + 5),
            invoke_line: id * 2 + 1,
            complete_line: done.then_some(id * 2 + 2),
            node: None,
            error: None,
        }
    }

    fn write(id: usize, v: &str, outcome: Outcome) -> Operation {
        op(id, "write", json!(v), Value::Null, outcome)
    }

    fn read(id: usize, v: Value) -> Operation {
        op(id, "read", Value::Null, v, Outcome::Ok)
    }

    /// An explanation whose counterexample is `ops`, whose prefix is `prefix` (ids) and whose stuck
    /// operations are `stuck` (ids into `ops`, or whole operations not kept).
    fn explanation(ops: Vec<Operation>, prefix: &[usize], stuck: Vec<Operation>) -> Explanation {
        Explanation {
            longest_prefix: prefix.to_vec(),
            prefix_tail: Vec::new(),
            state_after_prefix: "s".to_owned(),
            stuck: stuck
                .into_iter()
                .map(|op| StuckOp { op, state: "s".to_owned(), rejected: true })
                .collect(),
            counterexample: Counterexample { ops, minimal: true, checks: 1, timeline: String::new() },
            elapsed_us: 0,
        }
    }

    /// The counterexample `ops` with the operation of id `culprit` stuck.
    fn stuck_on(ops: Vec<Operation>, prefix: &[usize], culprit: usize) -> Explanation {
        let c = ops.iter().find(|o| o.id == culprit).unwrap().clone();
        explanation(ops, prefix, vec![c])
    }

    #[test]
    fn a_read_of_a_value_written_in_the_linearized_prefix_is_stale() {
        let ops = vec![write(0, "1", Outcome::Ok), write(1, "2", Outcome::Ok), read(2, json!("1"))];
        assert_eq!(classify(&stuck_on(ops, &[0, 1], 2)), Anomaly::StaleRead);
    }

    #[test]
    fn a_read_of_nothing_after_a_write_is_stale() {
        let ops = vec![write(0, "1", Outcome::Ok), read(1, Value::Null)];
        assert_eq!(classify(&stuck_on(ops, &[0], 1)), Anomaly::StaleRead);
    }

    #[test]
    fn a_read_of_a_value_nobody_wrote_is_a_phantom_read() {
        let ops = vec![write(0, "1", Outcome::Ok), read(1, json!("9"))];
        assert_eq!(classify(&stuck_on(ops, &[0], 1)), Anomaly::PhantomRead);
    }

    #[test]
    fn a_read_of_a_value_only_failed_writes_wrote_is_an_aborted_read() {
        let ops = vec![write(0, "1", Outcome::Ok), write(1, "2", Outcome::Fail), read(2, json!("2"))];
        assert_eq!(classify(&stuck_on(ops, &[0], 2)), Anomaly::AbortedRead);
    }

    #[test]
    fn a_read_of_a_value_whose_writer_was_not_yet_linearized_is_a_future_read() {
        // The writer is indefinite and outside the prefix: it could not yet have taken effect.
        let ops = vec![read(0, json!("2")), write(1, "2", Outcome::Info)];
        assert_eq!(classify(&stuck_on(ops, &[], 0)), Anomaly::FutureRead);
        // One failed writer and one that did not fail: future, not aborted.
        let ops = vec![read(0, json!("2")), write(1, "2", Outcome::Fail), write(2, "2", Outcome::Ok)];
        assert_eq!(classify(&stuck_on(ops, &[], 0)), Anomaly::FutureRead);
    }

    #[test]
    fn a_writer_in_the_prefix_outranks_failed_and_future_writers() {
        let ops = vec![
            write(0, "2", Outcome::Ok),
            write(1, "3", Outcome::Ok),
            write(2, "2", Outcome::Fail),
            read(3, json!("2")),
        ];
        assert_eq!(classify(&stuck_on(ops, &[0, 1], 3)), Anomaly::StaleRead);
    }

    #[test]
    fn a_cas_writes_its_new_value() {
        let ops = vec![
            op(0, "cas", json!(["0", "1"]), Value::Null, Outcome::Ok),
            write(1, "2", Outcome::Ok),
            read(2, json!("1")),
        ];
        assert_eq!(classify(&stuck_on(ops, &[0, 1], 2)), Anomaly::StaleRead);
    }

    #[test]
    fn list_reads_cas_and_writes_have_their_own_classes() {
        let ops = vec![op(0, "append", json!("a"), Value::Null, Outcome::Ok), read(1, json!(["b"]))];
        assert_eq!(classify(&stuck_on(ops, &[0], 1)), Anomaly::NonlinearizableRead);
        let ops = vec![write(0, "1", Outcome::Ok), op(1, "cas", json!(["2", "3"]), Value::Null, Outcome::Ok)];
        assert_eq!(classify(&stuck_on(ops, &[0], 1)), Anomaly::InvalidCas);
        let ops = vec![read(0, json!("1")), write(1, "1", Outcome::Ok)];
        assert_eq!(classify(&stuck_on(ops, &[], 1)), Anomaly::NonlinearizableWrite);
    }

    #[test]
    fn a_stuck_operation_the_counterexample_dropped_is_no_culprit() {
        let ops = vec![write(0, "1", Outcome::Ok), write(1, "2", Outcome::Ok)];
        // The stuck read was shrunk away: nothing kept to blame.
        let e = explanation(ops.clone(), &[0], vec![read(7, json!("1"))]);
        assert_eq!(e.culprit(), None);
        assert_eq!(classify(&e), Anomaly::Nonlinearizable);
        // The first stuck operation kept is the culprit, not the first stuck one.
        let mut kept = ops;
        kept.push(read(2, json!("1")));
        let e = explanation(kept, &[0, 1], vec![read(7, json!("9")), read(2, json!("1"))]);
        assert_eq!(e.culprit().map(|s| s.op.id), Some(2));
        assert_eq!(classify(&e), Anomaly::StaleRead);
    }

    #[test]
    fn detection_is_when_the_counterexample_and_one_stuck_operation_completed() {
        // Counterexample ops complete at 5, 15, 25; stuck ops complete at 25 and 45: 25.
        let ops = vec![write(0, "1", Outcome::Ok), write(1, "2", Outcome::Ok), read(2, json!("1"))];
        let e = explanation(ops.clone(), &[0, 1], vec![ops[2].clone(), read(4, json!("1"))]);
        assert_eq!(detection_time(&e), Some(25));
        // A stuck operation completing after the counterexample's last one decides it.
        let e = explanation(ops[..2].to_vec(), &[0], vec![read(4, json!("1"))]);
        assert_eq!(detection_time(&e), Some(45));
        // An operation that never completed counts from its invocation.
        let e = explanation(vec![write(0, "1", Outcome::Ok), write(3, "2", Outcome::Info)], &[0], vec![]);
        assert_eq!(detection_time(&e), Some(30));
    }

    // ---------------------------------------------------------------------------------------------
    // From the checker's own results.

    fn history(rows: &[(u64, &str, &str, &str, Value)]) -> crate::History {
        let text: String = rows
            .iter()
            .enumerate()
            .map(|(t, (p, ty, f, k, v))| {
                json!({"process": p, "type": ty, "f": f, "key": k, "value": v, "time": t as u64 * 100})
                    .to_string()
                    + "\n"
            })
            .collect();
        crate::parse_history(&text, Some(crate::Format::Jsonl), "fixture.jsonl").unwrap().history
    }

    fn linearizability(h: &crate::History, kind: crate::ModelKind) -> LinearizabilityReport {
        let spec = crate::ModelSpec::new(kind, crate::Format::Jsonl);
        let opts = crate::CheckOptions { threads: 1, ..crate::CheckOptions::default() };
        crate::check_linearizability(h, &spec, &opts).unwrap()
    }

    const N: Value = Value::Null;

    #[test]
    fn the_checkers_stale_read_is_a_dated_stale_read_finding() {
        let h = history(&[
            (1, "invoke", "write", "x", json!("1")),
            (1, "ok", "write", "x", json!("1")),
            (1, "invoke", "write", "x", json!("2")),
            (1, "ok", "write", "x", json!("2")),
            (2, "invoke", "read", "x", N),
            (2, "ok", "read", "x", json!("1")),
        ]);
        let found = linearizability_findings(&linearizability(&h, crate::ModelKind::CasRegister));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!((found[0].anomaly, found[0].key.as_deref()), (Anomaly::StaleRead, Some("x")));
        // The read completed at row 5, t = 500 ns: the evidence was complete then.
        assert_eq!(found[0].time, Some(500));
        assert!(found[0].detail.starts_with("read x -> 1 (line 5)"), "{}", found[0].detail);
    }

    #[test]
    fn a_key_without_explanation_is_an_undated_nonlinearizable_finding() {
        let h = history(&[
            (1, "invoke", "write", "x", json!("1")),
            (1, "ok", "write", "x", json!("1")),
            (2, "invoke", "read", "x", N),
            (2, "ok", "read", "x", json!("9")),
        ]);
        let mut r = linearizability(&h, crate::ModelKind::Register);
        assert_eq!(linearizability_findings(&r)[0].anomaly, Anomaly::PhantomRead);
        r.keys[0].explanation = None;
        let found = linearizability_findings(&r);
        assert_eq!((found[0].anomaly, found[0].time), (Anomaly::Nonlinearizable, None));
    }

    #[test]
    fn a_lost_append_is_lost_append_and_a_lost_write_is_lost_write() {
        // The append workload's word; the matrix once said lost-write here while the reports said
        // lost-append, and their fingerprints disagreed.
        let h = history(&[
            (1, "invoke", "append", "l", json!("a")),
            (1, "ok", "append", "l", N),
            (2, "invoke", "append", "l", json!("b")),
            (2, "ok", "append", "l", N),
            (3, "invoke", "write", "r", json!("1")),
            (3, "ok", "write", "r", json!("1")),
        ]);
        let finals = [
            crate::durability::FinalRead { key: Some("l".into()), value: json!(["b"]) },
            crate::durability::FinalRead { key: Some("r".into()), value: N },
        ];
        let d = crate::durability::check_final_reads(&h, &finals, None);
        let found = durability_findings(&d);
        let classes: Vec<(Anomaly, Option<&str>)> =
            found.iter().map(|f| (f.anomaly, f.key.as_deref())).collect();
        assert_eq!(classes, [(Anomaly::LostAppend, Some("l")), (Anomaly::LostWrite, Some("r"))]);
        assert!(found.iter().all(|f| f.time.is_none()), "final reads are not dated by the history");
        assert!(found[0].detail.starts_with("append l a (line 1): "), "{}", found[0].detail);
    }

    #[test]
    fn phantoms_and_duplicates_have_their_own_classes() {
        let h = history(&[
            (1, "invoke", "append", "l", json!("a")),
            (1, "ok", "append", "l", N),
            (2, "invoke", "read", "l", N),
            (2, "ok", "read", "l", json!(["a", "z"])),
        ]);
        let finals = [crate::durability::FinalRead { key: Some("l".into()), value: json!(["a", "a"]) }];
        let d = crate::durability::check_final_reads(&h, &finals, None);
        let classes: Vec<Anomaly> = durability_findings(&d).iter().map(|f| f.anomaly).collect();
        assert_eq!(classes, [Anomaly::PhantomValue, Anomaly::DuplicateAppend]);
    }

    #[test]
    fn log_disagreements_are_divergent_commits_and_absent_writes() {
        use crate::durability::{LogCommand, LogEntry, NodeLog, check_committed_logs};
        let h = history(&[(1, "invoke", "write", "x", json!("1")), (1, "ok", "write", "x", json!("1"))]);
        let put = |v: &str| LogCommand {
            op: "put".into(),
            key: "y".into(),
            ops: None,
            value: Some(json!(v)),
            from: None,
            to: None,
            client_id: None,
            seq: None,
        };
        let log = |node: &str, term: u64, v: &str| NodeLog {
            node: node.into(),
            snapshot_index: 0,
            snapshot_term: 0,
            entries: vec![LogEntry { index: 1, term, command: Some(put(v)) }],
        };
        let r = check_committed_logs(&[log("n1", 1, "a"), log("n2", 2, "b")], &h);
        let found = log_findings(&r);
        let classes: Vec<Anomaly> = found.iter().map(|f| f.anomaly).collect();
        assert_eq!(classes, [Anomaly::DivergentCommit, Anomaly::AbsentFromLog]);
        assert_eq!(found[0].detail, "index 1 committed differently: n1: term 1 put y; n2: term 2 put y");
        assert_eq!(found[1].key.as_deref(), Some("x"));
    }
}
