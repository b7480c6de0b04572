//! Anomalies in words: the transactions involved, named T1, T2, ..., then why each must precede the
//! next (the shape of Elle's explanations: "Let ... Then ... a contradiction!").
//!
//! The inference modules and the cycle search hand over a [`Found`]: the class, the transactions in
//! the order they are to be named, and either a sentence (an anomaly one transaction or a pair shows,
//! already written with those names) or a cycle's steps, whose sentences are written here from the
//! graph's edge data.

use super::TxnHistory;
use super::graph::{DepGraph, DepKind};
use super::model::{ConsistencyModel, TxnKind};
use super::mop::{INIT, KeyId};
use super::report::{CycleStep, TxnAnomaly, TxnView};
use crate::anomaly::Anomaly;
use crate::ops::compact;
use petgraph::graph::NodeIndex;
use serde_json::Value;

/// An anomaly before it is explained.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    pub anomaly: Anomaly,
    /// Transaction ids; the first is T1.
    pub txns: Vec<usize>,
    pub detail: Detail,
}

/// What the anomaly shows.
#[derive(Clone, Debug, PartialEq)]
pub enum Detail {
    /// A sentence that names the transactions T1, T2, ... in the order of [`Found::txns`].
    Text(String),
    /// A cycle: `(from, to, kind)` transaction ids, each step's `to` the next step's `from`, the last
    /// returning to the first; every pair is an edge of the graph with that kind.
    Cycle(Vec<(usize, usize, DepKind)>),
}

/// The name of the `i`-th transaction of an explanation.
pub fn name(i: usize) -> String {
    format!("T{}", i + 1)
}

/// A transaction for the reader: `process 3, ok, line 41: [[append x 5] [r y [1 2]]]`.
pub fn describe(h: &TxnHistory, txn: usize) -> String {
    let t = &h.txns[txn];
    let process = t.process.map_or_else(|| "no process".to_string(), |p| format!("process {p}"));
    format!("{process}, {}, line {}: {}", t.outcome, t.line, compact(&t.value))
}

fn view(h: &TxnHistory, txn: usize, i: usize) -> TxnView {
    let t = &h.txns[txn];
    TxnView {
        name: name(i),
        index: txn,
        process: t.process,
        outcome: t.outcome,
        value: t.value.clone(),
        line: t.line,
        invoke_time: t.invoke_time,
        complete_time: t.complete_time,
    }
}

/// Turns a found anomaly into its report entry.
pub fn explain(
    h: &TxnHistory,
    g: &DepGraph,
    kind: TxnKind,
    model: ConsistencyModel,
    found: &Found,
) -> TxnAnomaly {
    let txns: Vec<TxnView> = found.txns.iter().enumerate().map(|(i, &t)| view(h, t, i)).collect();
    let index_of = |t: usize| found.txns.iter().position(|&x| x == t).unwrap_or(0);
    let mut text = format!("{} ({})\nLet:\n", found.anomaly, found.anomaly.description());
    for (i, &t) in found.txns.iter().enumerate() {
        text.push_str(&format!("  {} = {}\n", name(i), describe(h, t)));
    }
    text.push_str("\nThen:\n");
    let (summary, steps) = match &found.detail {
        Detail::Text(sentence) => {
            text.push_str(&format!("  - {sentence}\n"));
            (format!("{}: {sentence}", found.anomaly), Vec::new())
        }
        Detail::Cycle(cycle) => {
            let steps: Vec<CycleStep> = cycle
                .iter()
                .map(|&(a, b, k)| step(h, g, kind, (a, index_of(a)), (b, index_of(b)), k))
                .collect();
            for (i, s) in steps.iter().enumerate() {
                let last = i + 1 == steps.len();
                let lead = if last && steps.len() > 1 { "However, " } else { "" };
                let end = if last { ": a contradiction!" } else { "." };
                text.push_str(&format!(
                    "  - {lead}{} < {}, because {}{end}\n",
                    name(s.from),
                    name(s.to),
                    s.text
                ));
            }
            let mut path = name(0);
            for s in &steps {
                let key = s.key.as_deref().map(|k| format!(" {k}")).unwrap_or_default();
                path.push_str(&format!(" -{}{key}-> {}", s.kind, name(s.to)));
            }
            (format!("{}: {path}", found.anomaly), steps)
        }
    };
    let time = found.txns.iter().filter_map(|&t| h.txns[t].time()).max();
    TxnAnomaly {
        anomaly: found.anomaly,
        prohibited: model.prohibits(found.anomaly),
        time,
        summary,
        explanation: text.trim_end().to_string(),
        txns,
        steps,
    }
}

/// One step `a -> b` of kind `k` with its sentence.
fn step(
    h: &TxnHistory,
    g: &DepGraph,
    kind: TxnKind,
    (a, ai): (usize, usize),
    (b, bi): (usize, usize),
    k: DepKind,
) -> CycleStep {
    let (an, bn) = (name(ai), name(bi));
    let edge = g.graph.find_edge(NodeIndex::new(a), NodeIndex::new(b)).map(|e| *g.edge(e));
    let why = edge.and_then(|e| e.why(k));
    let v = &h.values;
    let list = kind == TxnKind::ListAppend;
    let (key, before, after, text) = match (k, why) {
        (DepKind::Process, _) => {
            let p = h.txns[a].process.map_or_else(|| "?".into(), |p| p.to_string());
            (None, Value::Null, Value::Null, format!("{bn} came after {an} on process {p}"))
        }
        (DepKind::Realtime, _) => (
            None,
            Value::Null,
            Value::Null,
            format!("{an} completed (line {}) before {bn} was invoked{}", h.txns[a].line, invoked_at(h, b)),
        ),
        (_, None) => (None, Value::Null, Value::Null, format!("{an} {k} {bn}")),
        (data, Some(w)) => {
            let kname = v.key_name(w.key).to_string();
            let (x, y) = (v.show(w.key, w.before), v.show(w.key, w.after));
            let text = match (data, list) {
                (DepKind::Ww, true) => format!("{bn} appended {y} after {an} appended {x} to {kname}"),
                (DepKind::Ww, false) => format!("{bn} overwrote {an}'s write of {x} to {kname} with {y}"),
                (DepKind::Wr, true) => format!("{bn} observed {an}'s append of {x} to {kname}"),
                (DepKind::Wr, false) => format!("{bn} read {an}'s write of {x} to {kname}"),
                (_, true) if w.before == INIT => format!(
                    "{an} observed the initial (empty) state of {kname}, which {bn} changed by appending {y}"
                ),
                (_, true) => format!(
                    "{an} did not observe {bn}'s append of {y} to {kname} (it read {kname} up to {x})"
                ),
                (_, false) if w.before == INIT => {
                    format!("{an} read the initial (nil) state of {kname}, which {bn} overwrote with {y}")
                }
                (_, false) => format!("{an} read {x} from {kname}, which {bn} overwrote with {y}"),
            };
            let after = if data == DepKind::Wr { Value::Null } else { v.value(w.key, w.after) };
            (Some(kname), v.value(w.key, w.before), after, text)
        }
    };
    CycleStep { from: ai, to: bi, kind: k, key, before, after, text }
}

/// ` (line N)` of a transaction's invocation, when the history records one.
fn invoked_at(h: &TxnHistory, txn: usize) -> String {
    h.txns[txn].invoke_line.map(|l| format!(" (line {l})")).unwrap_or_default()
}

/// A key for a sentence.
pub fn key_name(h: &TxnHistory, key: KeyId) -> &str {
    h.values.key_name(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::mop::ReadShape;

    #[test]
    fn names_count_from_one() {
        assert_eq!(name(0), "T1");
        assert_eq!(name(9), "T10");
    }

    #[test]
    fn a_transaction_is_described_with_its_process_outcome_and_line() {
        let text = "{\"process\":3,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"append\",\"x\",5]],\"time\":1}\n\
                    {\"process\":3,\"type\":\"ok\",\"f\":\"txn\",\"value\":[[\"append\",\"x\",5]],\"time\":2}\n";
        let p = crate::parse_history(text, None, "h").unwrap();
        let h = TxnHistory::from_history(&p.history, ReadShape::List).unwrap();
        assert_eq!(describe(&h, 0), "process 3, ok, line 2: [[append x 5]]");
    }
}
