//! Plain-language sentences for counterexamples and durability findings.
//!
//! A reader should understand a violation without knowing what linearizability is: "read of key k7 at
//! node n3 returned 12, but 15 had been acknowledged before the read began". The sentence is built
//! from the counterexample's data: the operation that could not be linearized, the state the model was
//! in, and, when there is one, the acknowledged write that put the register in that state before the
//! culprit began.

use crate::data::value_text;
use crate::results::{CexOp, Counterexample, DurabilityFinding};
use checker::history::EventType;

/// Times in a sentence: seconds with millisecond precision, the unit of the report's time axis.
pub fn secs(ns: u64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

fn text(v: &serde_json::Value) -> String {
    value_text(v).unwrap_or_else(|| "nothing".to_owned())
}

fn at_node(op: &CexOp) -> String {
    op.node.as_ref().map(|n| format!(" at node {n}")).unwrap_or_default()
}

/// The counterexample's own sentence when the checker wrote one, else one built from its data.
pub fn sentence(c: &Counterexample) -> String {
    if !c.sentence.trim().is_empty() {
        return c.sentence.clone();
    }
    let Some(culprit) = c.culprit.and_then(|i| c.ops.get(i)) else {
        return format!(
            "No order of the {} operations on key {} is consistent with the {} model and with real time.",
            c.ops.len(),
            c.key,
            if c.model.is_empty() { "register" } else { &c.model }
        );
    };
    let key = &c.key;
    let state = c.state.clone();
    // The acknowledged write that produced the state the culprit should have seen.
    let witness = state.as_ref().and_then(|s| {
        c.ops
            .iter()
            .filter(|op| op.outcome == EventType::Ok && op.end.is_some_and(|e| e < culprit.start))
            .filter(|op| written_value(op).as_deref() == Some(s.as_str()))
            .max_by_key(|op| op.end)
    });
    let what = match culprit.f.as_str() {
        "read" | "get" => format!("read of key {key}{} returned {}", at_node(culprit), text(&culprit.output)),
        "cas" => {
            let (from, to) = cas_pair(&culprit.input);
            let result = match culprit.outcome {
                EventType::Ok => "succeeded",
                EventType::Fail => "failed",
                _ => "may have taken effect",
            };
            format!("cas of key {key}{} from {from} to {to} {result}", at_node(culprit))
        }
        f => format!(
            "{f} of {} to key {key}{} ended {}",
            text(&culprit.input),
            at_node(culprit),
            culprit.outcome
        ),
    };
    match (state, witness) {
        (Some(s), Some(w)) => format!(
            "{what}, but {s} had been acknowledged (process {}, at {}) before the {} began at {}.",
            w.process,
            secs(w.end.unwrap_or(w.start)),
            if culprit.f == "cas" { "cas" } else { "operation" },
            secs(culprit.start)
        ),
        (Some(s), None) => format!(
            "{what}, but every order of the operations that completed before it leaves key {key} at {s}."
        ),
        (None, _) => format!("{what}, which no order of the operations around it allows."),
    }
}

/// What an operation wrote, as text: a write's or append's value, a cas's new value.
fn written_value(op: &CexOp) -> Option<String> {
    match op.f.as_str() {
        "write" | "put" | "append" => value_text(&op.input),
        "cas" => Some(cas_pair(&op.input).1),
        _ => None,
    }
}

fn cas_pair(v: &serde_json::Value) -> (String, String) {
    match v.as_array().map(Vec::as_slice) {
        Some([from, to]) => (text(from), text(to)),
        _ => (text(v), "?".to_owned()),
    }
}

/// A durability finding in one sentence, when the finding did not come with its own detail.
pub fn durability_sentence(d: &DurabilityFinding) -> String {
    if !d.detail.trim().is_empty() {
        return d.detail.clone();
    }
    let key = d.key.as_deref().map(|k| format!(" to key {k}")).unwrap_or_default();
    let value = text(&d.value);
    let acked = d
        .ack_time
        .map(|t| {
            let by = d.process.map(|p| format!(" by process {p}")).unwrap_or_default();
            let node = d.node.as_ref().map(|n| format!(" via {n}")).unwrap_or_default();
            format!(" acknowledged at {}{by}{node},", secs(t))
        })
        .unwrap_or_default();
    match d.kind.as_str() {
        "lost" => format!("write of {value}{key} was{acked} but is missing from the final state."),
        "phantom" => format!("value {value}{key} was read but no operation ever wrote it."),
        "duplicate" => {
            format!("append of {value}{key} was{acked} and appears more than once in the final list.")
        }
        other => format!("{other}: {value}{key}."),
    }
}
