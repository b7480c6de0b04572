//! Plain-language sentences for counterexamples and durability findings.
//!
//! A reader should understand a violation without knowing what linearizability is: "read of key k7 at
//! node n3 returned 12, but 15 had been acknowledged before the read began". The sentence is built
//! from the counterexample's data: the operation that could not be linearized and, when the data
//! proves it, the acknowledged write that had overwritten the value the culprit saw before the culprit
//! began; otherwise the state the checker's longest linearization left.

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
    if let Some(w) = overwriting_write(c, culprit) {
        return format!(
            "{what}, but {} had been acknowledged (process {}, at {}) before the {} began at {}.",
            written_value(w).unwrap_or_default(),
            w.process,
            secs(w.end.unwrap_or(w.start)),
            if culprit.f == "cas" { "cas" } else { "read" },
            secs(culprit.start)
        );
    }
    match &c.state {
        Some(s) => format!(
            "{what}, which no order of the operations around it allows: the longest order the checker found leaves key {key} at {s}."
        ),
        None => format!("{what}, which no order of the operations around it allows."),
    }
}

/// For a read (or a cas) that saw value `v`: the last acknowledged write of another value that
/// completed before the culprit began, provided every write of `v` completed before that write began,
/// so `v` cannot have come back in between. Then "X had been acknowledged before the read began" is a
/// proof, not a hint. `None` when there is no such write or the culprit is not a read or cas.
fn overwriting_write<'a>(c: &'a Counterexample, culprit: &CexOp) -> Option<&'a CexOp> {
    let seen = match culprit.f.as_str() {
        "read" | "get" if culprit.outcome == EventType::Ok && !culprit.output.is_array() => {
            text(&culprit.output)
        }
        "cas" if culprit.outcome == EventType::Ok => cas_pair(&culprit.input).0,
        _ => return None,
    };
    let witness = c
        .ops
        .iter()
        .filter(|op| op.outcome == EventType::Ok && op.end.is_some_and(|e| e < culprit.start))
        .filter(|op| written_value(op).is_some_and(|v| v != seen))
        .max_by_key(|op| op.end)?;
    let seen_writers_done_before = c
        .ops
        .iter()
        .filter(|op| written_value(op).is_some_and(|v| v == seen))
        .all(|op| op.outcome == EventType::Fail || op.end.is_some_and(|e| e < witness.start));
    seen_writers_done_before.then_some(witness)
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
