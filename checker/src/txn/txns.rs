//! Transactions: the operations of a history read as lists of micro-operations, with where they sit
//! in real time.
//!
//! Two ways in:
//!
//! - [`TxnHistory::from_history`]: a validated [`History`] (our recorder's, or any file that pairs
//!   cleanly), every client operation a `txn`.
//! - [`TxnHistory::from_events`]: raw events, paired with the tolerance Elle's own examples need. Its
//!   README and tests write histories of completions alone (`{:process 0, :type :ok, :value [...]}`,
//!   no invocation) and sometimes without `:process`. A completion without an open invocation is a
//!   transaction whose invocation time is unknown: it may have begun at any time before it completed,
//!   so it follows nothing in real time ([`Txn::invoke`] is `None`). Events without a process (read as
//!   [`NO_PROCESS`]) pair with each other like one process, but form no session: no process order is
//!   inferred between them.
//!
//! Positions (the index of an event in the history) order events in real time, never timestamps.

use super::mop::{ElemId, KeyId, Mop, ReadShape, Values, parse_txn};
use crate::history::{Event, EventType, NO_PROCESS, Process};
use crate::ops::{History, HistoryError, Outcome, Problem};
use serde_json::Value;
use std::collections::HashMap;

/// One transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct Txn {
    /// Index in [`TxnHistory::txns`] (transactions are numbered in completion-or-invocation order).
    pub id: usize,
    /// The process; `None` for events that named none.
    pub process: Option<u64>,
    /// `ok`, `fail` or `info` (a transaction never completed is `info`).
    pub outcome: Outcome,
    /// Position of the invocation; `None` when the history has only the completion.
    pub invoke: Option<usize>,
    /// Position of the completion; `None` when it never completed.
    pub complete: Option<usize>,
    pub invoke_time: Option<u64>,
    pub complete_time: Option<u64>,
    /// Source line of the completion (of the invocation when there is none).
    pub line: usize,
    /// Source line of the invocation, when there is one.
    pub invoke_line: Option<usize>,
    /// The transaction as recorded: the completion's value for `ok`, the invocation's otherwise.
    pub value: Value,
    pub mops: Vec<Mop>,
}

impl Txn {
    /// Whether the transaction may have taken effect (`ok` or `info`): these are the vertices of the
    /// dependency graph. A `fail` is certain not to have.
    pub fn possible(&self) -> bool {
        self.outcome != Outcome::Fail
    }

    /// When its evidence is complete: its completion time, else its invocation time.
    pub fn time(&self) -> Option<u64> {
        self.complete_time.or(self.invoke_time)
    }
}

/// The transactions of a history with their interned keys and values.
#[derive(Clone, Debug, Default)]
pub struct TxnHistory {
    pub source: String,
    pub txns: Vec<Txn>,
    pub values: Values,
}

/// One operation before its micro-operations are read.
struct Raw<'a> {
    process: Option<u64>,
    f: &'a str,
    outcome: Outcome,
    invoke: Option<usize>,
    complete: Option<usize>,
    invoke_time: Option<u64>,
    complete_time: Option<u64>,
    invoke_value: &'a Value,
    complete_value: &'a Value,
    line: usize,
    invoke_line: Option<usize>,
}

impl TxnHistory {
    /// The transactions of a validated history. Every client operation must be a `txn`.
    pub fn from_history(history: &History, shape: ReadShape) -> Result<TxnHistory, HistoryError> {
        let raws = history.ops.iter().map(|op| Raw {
            process: (op.process != NO_PROCESS).then_some(op.process),
            f: &op.f,
            outcome: if op.outcome == Outcome::Pending { Outcome::Info } else { op.outcome },
            invoke: Some(op.invoke_index),
            complete: op.complete_index,
            invoke_time: Some(op.invoke_time),
            complete_time: op.complete_time,
            invoke_value: &op.input,
            complete_value: &op.output,
            line: op.complete_line.unwrap_or(op.invoke_line),
            invoke_line: Some(op.invoke_line),
        });
        build(&history.source, raws, shape)
    }

    /// The transactions of raw events (in position order), paired tolerantly (see the module
    /// documentation). `lines[i]` is the source line of `events[i]`.
    pub fn from_events(
        source: &str,
        events: &[Event],
        lines: &[usize],
        shape: ReadShape,
    ) -> Result<TxnHistory, HistoryError> {
        let line_of = |i: usize| lines.get(i).copied().unwrap_or(i + 1);
        let mut raws: Vec<Raw<'_>> = Vec::new();
        let mut open: HashMap<u64, usize> = HashMap::new();
        for (i, ev) in events.iter().enumerate() {
            let Process::Client(p) = ev.process else { continue };
            let process = (p != NO_PROCESS).then_some(p);
            match ev.kind {
                EventType::Invoke => {
                    if let Some(&at) = open.get(&p) {
                        return Err(HistoryError::new(
                            source,
                            line_of(i),
                            Some("process"),
                            Problem::TwoOpenInvocations { process: p, open_line: raws[at].line },
                        ));
                    }
                    open.insert(p, raws.len());
                    raws.push(Raw {
                        process,
                        f: &ev.f,
                        outcome: Outcome::Info,
                        invoke: Some(i),
                        complete: None,
                        invoke_time: Some(ev.time),
                        complete_time: None,
                        invoke_value: &ev.value,
                        complete_value: &Value::Null,
                        line: line_of(i),
                        invoke_line: Some(line_of(i)),
                    });
                }
                kind => {
                    let outcome = match kind {
                        EventType::Ok => Outcome::Ok,
                        EventType::Fail => Outcome::Fail,
                        _ => Outcome::Info,
                    };
                    match open.remove(&p) {
                        Some(at) => {
                            let r = &mut raws[at];
                            if r.f != ev.f {
                                return Err(HistoryError::new(
                                    source,
                                    line_of(i),
                                    Some("f"),
                                    Problem::MismatchedCompletion {
                                        invocation: r.f.to_string(),
                                        completion: ev.f.clone(),
                                        invoke_line: r.line,
                                    },
                                ));
                            }
                            r.outcome = outcome;
                            r.complete = Some(i);
                            r.complete_time = Some(ev.time);
                            r.complete_value = &ev.value;
                            r.line = line_of(i);
                        }
                        // A completion alone: invoked at some unknown time before it completed.
                        None => raws.push(Raw {
                            process,
                            f: &ev.f,
                            outcome,
                            invoke: None,
                            complete: Some(i),
                            invoke_time: None,
                            complete_time: Some(ev.time),
                            invoke_value: &ev.value,
                            complete_value: &ev.value,
                            line: line_of(i),
                            invoke_line: None,
                        }),
                    }
                }
            }
        }
        build(source, raws.into_iter(), shape)
    }

    /// The transactions that may have taken effect (the graph's vertices; failed ones have no edges).
    pub fn possible(&self) -> impl Iterator<Item = &Txn> {
        self.txns.iter().filter(|t| t.possible())
    }

    /// Who wrote each value of each key: every micro-operation `installs` picks out (appends of a
    /// list, writes of a register) in every transaction, failed ones included (a read of theirs is
    /// G1a). Fails when a value is installed twice in one key, since versions are told apart by their
    /// values; `rule` says why in the error and `verb` names the operation ("appended", "written").
    pub fn writers(
        &self,
        installs: impl Fn(&Mop) -> Option<(KeyId, ElemId)>,
        rule: &str,
        verb: &str,
    ) -> Result<HashMap<(KeyId, ElemId), Writer>, HistoryError> {
        let mut index: HashMap<(KeyId, ElemId), Writer> = HashMap::new();
        for t in &self.txns {
            for (i, m) in t.mops.iter().enumerate() {
                let Some((key, elem)) = installs(m) else { continue };
                let last = !t.mops[i + 1..].iter().any(|n| installs(n).is_some_and(|(k, _)| k == key));
                if let Some(first) = index.insert((key, elem), Writer { txn: t.id, last }) {
                    let shown = self.values.show(key, elem);
                    return Err(HistoryError::new(
                        &self.source,
                        t.line,
                        Some("value"),
                        Problem::BadValue {
                            expected: format!(
                                "each value {verb} to a key once ({rule}); {shown} was {verb} to {} already \
                                 on line {}",
                                self.values.key_name(key),
                                self.txns[first.txn].line
                            ),
                            found: format!("{shown} {verb} a second time"),
                        },
                    ));
                }
            }
        }
        Ok(index)
    }
}

/// Where a value was installed: the transaction, and whether it was that transaction's last append
/// or write to the key.
#[derive(Clone, Copy, Debug)]
pub struct Writer {
    pub txn: usize,
    pub last: bool,
}

fn build<'a>(
    source: &str,
    raws: impl Iterator<Item = Raw<'a>>,
    shape: ReadShape,
) -> Result<TxnHistory, HistoryError> {
    let mut values = Values::default();
    let mut txns = Vec::new();
    for r in raws {
        if r.f != "txn" {
            return Err(HistoryError::new(
                source,
                r.line,
                Some("f"),
                Problem::UnknownFunction {
                    f: r.f.to_string(),
                    model: "a transactional checker".into(),
                    expected: "txn (a list of micro-operations)".into(),
                },
            ));
        }
        // An ok completion observed its reads; anything else tells only what was attempted.
        let ok = r.outcome == Outcome::Ok;
        let value = if ok && !r.complete_value.is_null() { r.complete_value } else { r.invoke_value };
        let mops = parse_txn(value, shape, ok, &mut values).map_err(|e| {
            HistoryError::new(
                source,
                r.line,
                Some("value"),
                Problem::BadValue {
                    expected: format!("a valid micro-operation at index {}", e.index),
                    found: e.problem,
                },
            )
        })?;
        txns.push(Txn {
            id: txns.len(),
            process: r.process,
            outcome: r.outcome,
            invoke: r.invoke,
            complete: r.complete,
            invoke_time: r.invoke_time,
            complete_time: r.complete_time,
            line: r.line,
            invoke_line: r.invoke_line,
            value: value.clone(),
            mops,
        });
    }
    Ok(TxnHistory { source: source.to_string(), txns, values })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(process: u64, kind: EventType, value: Value) -> Event {
        Event {
            process: Process::Client(process),
            kind,
            f: "txn".into(),
            key: None,
            value,
            time: 0,
            node: None,
            error: None,
        }
    }

    #[test]
    fn completions_alone_are_transactions_of_unknown_start() {
        let events = [
            ev(0, EventType::Ok, json!([["append", "x", 1]])),
            ev(1, EventType::Invoke, json!([["r", "x", null]])),
            ev(1, EventType::Ok, json!([["r", "x", [1]]])),
        ];
        let h = TxnHistory::from_events("h", &events, &[1, 2, 3], ReadShape::List).unwrap();
        assert_eq!(h.txns.len(), 2);
        assert_eq!((h.txns[0].invoke, h.txns[0].complete), (None, Some(0)));
        assert_eq!((h.txns[1].invoke, h.txns[1].complete, h.txns[1].line), (Some(1), Some(2), 3));
        assert_eq!(h.txns[1].value, json!([["r", "x", [1]]]));
    }

    #[test]
    fn events_without_a_process_pair_but_form_no_session() {
        let events = [
            ev(NO_PROCESS, EventType::Invoke, json!([["append", "x", 1]])),
            ev(NO_PROCESS, EventType::Ok, json!([["append", "x", 1]])),
        ];
        let h = TxnHistory::from_events("h", &events, &[1, 2], ReadShape::List).unwrap();
        assert_eq!(h.txns.len(), 1);
        assert_eq!(h.txns[0].process, None);
        assert_eq!(h.txns[0].outcome, Outcome::Ok);
    }

    #[test]
    fn failed_and_unfinished_transactions_read_nothing() {
        let events = [
            ev(0, EventType::Invoke, json!([["r", "x", null]])),
            ev(0, EventType::Fail, json!([["r", "x", null]])),
            ev(1, EventType::Invoke, json!([["append", "x", 2], ["r", "x", null]])),
        ];
        let h = TxnHistory::from_events("h", &events, &[1, 2, 3], ReadShape::List).unwrap();
        assert_eq!(h.txns[0].outcome, Outcome::Fail);
        assert!(!h.txns[0].possible());
        assert_eq!(h.txns[1].outcome, Outcome::Info);
        assert!(matches!(
            h.txns[1].mops[1],
            Mop::Read { observed: super::super::mop::Observed::Unknown, .. }
        ));
    }

    #[test]
    fn other_functions_and_bad_micro_operations_are_errors_with_lines() {
        let mut bad = ev(0, EventType::Ok, json!([["r", "x", null]]));
        bad.f = "read".into();
        let e = TxnHistory::from_events("h", &[bad], &[7], ReadShape::List).unwrap_err();
        assert_eq!((e.line, e.field.as_deref()), (7, Some("f")));
        let e = TxnHistory::from_events(
            "h",
            &[ev(0, EventType::Ok, json!([["w", "x", 1]]))],
            &[4],
            ReadShape::List,
        )
        .unwrap_err();
        assert_eq!((e.line, e.field.as_deref()), (4, Some("value")));
        assert!(e.to_string().contains("index 0"), "{e}");
    }
}
