//! Operations: invocations paired with their completions, and the validation of a history.
//!
//! The search works on operations (an interval from invocation to completion), not on raw events. This
//! module pairs them per process and rejects histories that cannot have been recorded by a correct
//! client: a completion without an invocation, a second invocation while one is open on the same
//! process, a completion of another function or key than its invocation. Each problem is a
//! [`HistoryError`] naming the source, the line and the field, so a user can fix the file.
//!
//! Real-time order is the order of events in the history (positions), never their timestamps: two events
//! with the same timestamp are still ordered by how they were recorded, which is what the recorder
//! observed, and timestamps may even go backwards from one event to the next (Jepsen's `:time` is read
//! from each worker's clock; Knossos ships histories where it decreases). Timestamps are carried for
//! display and latency only; a check never looks at them.

use crate::history::{Event, EventType, Process};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

/// What became of an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Completed `ok`: took effect exactly once between invocation and completion.
    Ok,
    /// Completed `fail`: under Jepsen semantics it never happened; some formats give it a meaning (see
    /// [`crate::model::FailSemantics`]).
    Fail,
    /// Completed `info`: may or may not have taken effect, at any time after its invocation.
    Info,
    /// Never completed before the history ended: treated exactly like `info`.
    Pending,
}

impl Outcome {
    /// Whether the operation's effect is unknown (`info` or never completed).
    pub fn is_indefinite(self) -> bool {
        matches!(self, Outcome::Info | Outcome::Pending)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
            Outcome::Pending => "pending",
        })
    }
}

/// One client operation: an invocation and, unless pending, its completion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    /// Index of this operation in [`History::ops`] (operations are numbered in invocation order).
    pub id: usize,
    pub process: u64,
    pub f: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The value of the invocation (what a write writes, `[from, to]` of a cas).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub input: serde_json::Value,
    /// The value of the completion (what a read returned); null when pending.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub output: serde_json::Value,
    pub outcome: Outcome,
    /// Position of the invocation event in the history (0-based); real-time order compares positions.
    pub invoke_index: usize,
    /// Position of the completion event; `None` when pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_index: Option<usize>,
    pub invoke_time: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_time: Option<u64>,
    /// Source line of the invocation (1-based).
    pub invoke_line: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_line: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Operation {
    /// A short human rendering: `write 3`, `read -> 2`, `cas [1,2] fail`, `append x (info)`.
    pub fn describe(&self) -> String {
        let mut s = self.f.clone();
        if let Some(k) = &self.key {
            s.push_str(&format!(" {k}"));
        }
        if !self.input.is_null() {
            s.push(' ');
            s.push_str(&compact(&self.input));
        }
        if !self.output.is_null() && self.output != self.input {
            s.push_str(" -> ");
            s.push_str(&compact(&self.output));
        } else if self.outcome == Outcome::Ok && self.input.is_null() {
            s.push_str(" -> nil");
        }
        if self.outcome != Outcome::Ok {
            s.push_str(&format!(" ({})", self.outcome));
        }
        s
    }
}

/// Renders a JSON value briefly: strings without quotes, everything else as JSON.
pub fn compact(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "nil".to_string(),
        serde_json::Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(compact).collect();
            format!("[{}]", parts.join(" "))
        }
        other => other.to_string(),
    }
}

/// A validated history: client operations in invocation order plus the nemesis events.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Name of the source (a file path or `<memory>`), for messages.
    pub source: String,
    pub ops: Vec<Operation>,
    /// Fault events, kept for display; they do not take part in checking.
    pub nemesis: Vec<Event>,
}

/// Something wrong with a history, with the place it was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{source_name}:{line}: {}{problem}", field.as_ref().map(|f| format!("field `{f}`: ")).unwrap_or_default())]
pub struct HistoryError {
    /// The file (or `<memory>`).
    pub source_name: String,
    /// 1-based line; 0 when the problem concerns the whole input.
    pub line: usize,
    /// The field at fault, when one is.
    pub field: Option<String>,
    /// Boxed so results carrying this error stay small.
    pub problem: Box<Problem>,
}

/// What was wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("syntax error: {0}")]
    Syntax(String),
    #[error("missing; expected {expected}")]
    Missing { expected: String },
    #[error("expected {expected}, found {found}")]
    BadValue { expected: String, found: String },
    #[error("completion of process {process} without an open invocation")]
    CompletionWithoutInvocation { process: u64 },
    #[error("process {process} invoked again while its operation from line {open_line} is still open")]
    TwoOpenInvocations { process: u64, open_line: usize },
    #[error("index {index} is also the index of line {first_line}; every event needs its own position")]
    DuplicateIndex { index: u64, first_line: usize },
    #[error("completion `{completion}` does not match invocation `{invocation}` on line {invoke_line}")]
    MismatchedCompletion { invocation: String, completion: String, invoke_line: usize },
    #[error("unknown function `{f}` for model {model}; expected one of: {expected}")]
    UnknownFunction { f: String, model: String, expected: String },
    #[error("could not recognise the format; {0}")]
    UnknownFormat(String),
}

impl HistoryError {
    pub fn new(source: &str, line: usize, field: Option<&str>, problem: Problem) -> HistoryError {
        HistoryError {
            source_name: source.to_string(),
            line,
            field: field.map(str::to_string),
            problem: Box::new(problem),
        }
    }
}

impl History {
    /// Pairs and validates events. `lines[i]` is the source line of `events[i]` (when `None`, event `i`
    /// is reported as line `i + 1`). Nemesis events are kept aside; client completions must match an
    /// open invocation on the same process with the same function (and key).
    pub fn from_events(
        source: &str,
        events: &[Event],
        lines: Option<&[usize]>,
    ) -> Result<History, HistoryError> {
        let line_of = |i: usize| lines.and_then(|l| l.get(i).copied()).unwrap_or(i + 1);
        let mut ops: Vec<Operation> = Vec::new();
        let mut nemesis = Vec::new();
        let mut open: HashMap<u64, usize> = HashMap::new();
        for (i, ev) in events.iter().enumerate() {
            let line = line_of(i);
            let process = match ev.process {
                Process::Nemesis(_) => {
                    nemesis.push(ev.clone());
                    continue;
                }
                Process::Client(p) => p,
            };
            match ev.kind {
                EventType::Invoke => {
                    if let Some(&op) = open.get(&process) {
                        return Err(HistoryError::new(
                            source,
                            line,
                            Some("process"),
                            Problem::TwoOpenInvocations { process, open_line: ops[op].invoke_line },
                        ));
                    }
                    open.insert(process, ops.len());
                    ops.push(Operation {
                        id: ops.len(),
                        process,
                        f: ev.f.clone(),
                        key: ev.key.clone(),
                        input: ev.value.clone(),
                        output: serde_json::Value::Null,
                        outcome: Outcome::Pending,
                        invoke_index: i,
                        complete_index: None,
                        invoke_time: ev.time,
                        complete_time: None,
                        invoke_line: line,
                        complete_line: None,
                        node: ev.node.clone(),
                        error: None,
                    });
                }
                kind => {
                    let Some(idx) = open.remove(&process) else {
                        return Err(HistoryError::new(
                            source,
                            line,
                            Some("process"),
                            Problem::CompletionWithoutInvocation { process },
                        ));
                    };
                    let op = &mut ops[idx];
                    // A completion may omit the key (Jepsen does); if present it must agree.
                    let key_differs = ev.key.is_some() && ev.key != op.key;
                    if ev.f != op.f || key_differs {
                        let field = if ev.f != op.f { "f" } else { "key" };
                        return Err(HistoryError::new(
                            source,
                            line,
                            Some(field),
                            Problem::MismatchedCompletion {
                                invocation: format!("{} {}", op.f, op.key.as_deref().unwrap_or("")),
                                completion: format!("{} {}", ev.f, ev.key.as_deref().unwrap_or("")),
                                invoke_line: op.invoke_line,
                            },
                        ));
                    }
                    op.outcome = match kind {
                        EventType::Ok => Outcome::Ok,
                        EventType::Fail => Outcome::Fail,
                        _ => Outcome::Info,
                    };
                    op.output = ev.value.clone();
                    op.complete_index = Some(i);
                    op.complete_time = Some(ev.time);
                    op.complete_line = Some(line);
                    if ev.node.is_some() {
                        op.node = ev.node.clone();
                    }
                    op.error = ev.error.clone();
                }
            }
        }
        Ok(History { source: source.to_string(), ops, nemesis })
    }

    /// The distinct keys of the operations, sorted (`None` for operations without a key).
    pub fn keys(&self) -> Vec<Option<String>> {
        let mut keys: Vec<Option<String>> = self.ops.iter().map(|o| o.key.clone()).collect();
        keys.sort();
        keys.dedup();
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(process: u64, kind: EventType, f: &str, value: serde_json::Value, time: u64) -> Event {
        Event {
            process: Process::Client(process),
            kind,
            f: f.to_string(),
            key: None,
            value,
            time,
            node: None,
            error: None,
        }
    }

    #[test]
    fn pairs_invocations_with_completions_and_keeps_pending_ones() {
        let events = vec![
            ev(1, EventType::Invoke, "write", "1".into(), 1),
            ev(2, EventType::Invoke, "read", serde_json::Value::Null, 2),
            ev(1, EventType::Ok, "write", "1".into(), 3),
            ev(1, EventType::Invoke, "write", "2".into(), 4),
            ev(1, EventType::Info, "write", "2".into(), 5),
        ];
        let h = History::from_events("t", &events, None).unwrap();
        assert_eq!(h.ops.len(), 3);
        assert_eq!(h.ops[0].outcome, Outcome::Ok);
        assert_eq!(h.ops[0].complete_index, Some(2));
        assert_eq!(h.ops[1].outcome, Outcome::Pending);
        assert_eq!(h.ops[2].outcome, Outcome::Info);
    }

    #[test]
    fn rejects_completion_without_invocation_with_its_line() {
        let events = vec![ev(1, EventType::Ok, "write", "1".into(), 1)];
        let err = History::from_events("h.jsonl", &events, Some(&[7])).unwrap_err();
        assert_eq!(err.line, 7);
        assert_eq!(*err.problem, Problem::CompletionWithoutInvocation { process: 1 });
        assert!(err.to_string().starts_with("h.jsonl:7: field `process`"), "{err}");
    }

    #[test]
    fn rejects_two_open_invocations_on_one_process() {
        let events = vec![
            ev(1, EventType::Invoke, "write", "1".into(), 1),
            ev(1, EventType::Invoke, "write", "2".into(), 2),
        ];
        let err = History::from_events("h", &events, None).unwrap_err();
        assert_eq!(err.line, 2);
        assert_eq!(*err.problem, Problem::TwoOpenInvocations { process: 1, open_line: 1 });
    }

    #[test]
    fn orders_by_position_whatever_the_times_say() {
        // p2's clock runs behind: by time its read would come first, by position it comes last.
        let events = vec![
            ev(1, EventType::Invoke, "write", "1".into(), 10),
            ev(1, EventType::Ok, "write", "1".into(), 9),
            ev(2, EventType::Invoke, "read", serde_json::Value::Null, 3),
            ev(2, EventType::Ok, "read", "1".into(), 4),
        ];
        let h = History::from_events("h", &events, None).unwrap();
        let spans: Vec<(usize, Option<usize>)> =
            h.ops.iter().map(|o| (o.invoke_index, o.complete_index)).collect();
        assert_eq!(spans, vec![(0, Some(1)), (2, Some(3))]);
        // The times are kept as recorded, for display.
        assert_eq!((h.ops[0].invoke_time, h.ops[0].complete_time), (10, Some(9)));
    }

    #[test]
    fn rejects_a_completion_of_another_function() {
        let events = vec![
            ev(1, EventType::Invoke, "write", "1".into(), 1),
            ev(1, EventType::Ok, "read", "1".into(), 2),
        ];
        let err = History::from_events("h", &events, None).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("f"));
    }
}
