//! The history model shared by the whole workspace.
//!
//! A history is a sequence of events in the order they were observed. Each client operation appears
//! twice: an `invoke` when the client sends it and a completion (`ok`, `fail` or `info`) when the client
//! learns its outcome. The three completions mean, as in Jepsen:
//!
//! - `ok`: the operation took effect, exactly once, somewhere between its invocation and completion;
//! - `fail`: the operation certainly did not take effect;
//! - `info`: unknown. It may or may not have taken effect, at any time after its invocation (even after
//!   the completion was recorded). A process whose operation ended `info` never issues another one.
//!
//! Faults are events of the `nemesis` process, so reports can draw them next to client operations.
//! Values are JSON values: models read what they need from them (an integer or string for registers,
//! `[from, to]` for cas, a list for list-append reads) and report a typed error for anything else.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Who issued an event: a numbered client process or the nemesis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Process {
    Client(u64),
    Nemesis(NemesisTag),
}

/// The literal `"nemesis"`, the process name of fault events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NemesisTag {
    Nemesis,
}

impl Process {
    /// The nemesis process.
    pub const NEMESIS: Process = Process::Nemesis(NemesisTag::Nemesis);
}

/// The process number of a client event that names no process. Elle's hand-written histories omit
/// `:process`; their events pair with each other like those of one process, but they form no session:
/// the transactional checker infers no process order between them.
pub const NO_PROCESS: u64 = u64::MAX;

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Process::Client(p) => write!(f, "{p}"),
            Process::Nemesis(_) => f.write_str("nemesis"),
        }
    }
}

/// The kind of an event: an invocation or one of the three completions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            EventType::Invoke => "invoke",
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        };
        f.write_str(s)
    }
}

/// One line of a history (our native JSON Lines format writes exactly these fields).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub process: Process,
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The operation: `read`, `write`, `cas`, `get`, `put`, `append`, `delete`, ...; for the nemesis, the
    /// fault (`partition`, `kill`, `heal`, ...).
    pub f: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub value: serde_json::Value,
    /// Time in nanoseconds since the start of the run: monotonic in the histories we record, but only a
    /// per-operation clock in imported ones (Jepsen's `:time` may go backwards between events). For
    /// display and latency only: real-time order is the order of events, never this field.
    pub time: u64,
    /// The node the client talked to, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Error text of a `fail` or `info` completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_and_nemesis_events_round_trip_through_json() {
        let line =
            r#"{"process":3,"type":"invoke","f":"cas","key":"k1","value":[1,2],"time":17,"node":"n2"}"#;
        let ev: Event = serde_json::from_str(line).unwrap();
        assert_eq!(ev.process, Process::Client(3));
        assert_eq!(ev.kind, EventType::Invoke);
        assert_eq!(serde_json::to_string(&ev).unwrap(), line);

        let nem = r#"{"process":"nemesis","type":"info","f":"kill","value":{"nodes":["n1"]},"time":5}"#;
        let ev: Event = serde_json::from_str(nem).unwrap();
        assert_eq!(ev.process, Process::NEMESIS);
        assert_eq!(serde_json::to_string(&ev).unwrap(), nem);
    }
}
