//! What goes over the wire between a client and a node, in neutral terms: a [`Request`] a system's
//! protocol module builds, the [`Reply`] that came back (an HTTP [`Response`], or one JSON line of a
//! shim or a Maelstrom node), and the [`Answer`] that module reads out of it. [`crate::client`] sends
//! requests and alone turns answers (or transport failures) into outcomes; [`crate::raftnode`],
//! [`crate::etcd`], [`crate::shim`] and [`crate::maelstrom`] only translate. A leaf module, so the
//! system modules and the client do not depend on each other.

use serde_json::Value;
use workloads::MicroOp;

/// One HTTP request to a node: method, path below the node's base URL, and a JSON body if any.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub method: Method,
    /// Below the node's base URL, starting with `/`.
    pub path: String,
    pub body: Option<Value>,
}

/// The HTTP methods the system protocols use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Put,
    Post,
}

impl Request {
    pub fn get(path: String) -> Request {
        Request { method: Method::Get, path, body: None }
    }

    pub fn post(path: String, body: Value) -> Request {
        Request { method: Method::Post, path, body: Some(body) }
    }

    pub fn put(path: String, body: Value) -> Request {
        Request { method: Method::Put, path, body: Some(body) }
    }
}

/// What came back from the server.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    pub status: u16,
    /// The JSON body, None if it was not JSON.
    pub body: Option<Value>,
}

/// What came back for an operation, whichever way it travelled.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// An HTTP response (raft-node, etcd, `http-kv` and `etcd-v3` system files).
    Http(Response),
    /// A JSON value: a shim's answer line, or the body of a Maelstrom node's reply.
    Json(Value),
}

/// What a server's answer says about an operation, in the system's own terms already read: each
/// system's protocol module turns a [`Response`] into one of these, and
/// [`crate::client::classify`] alone decides the outcome.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// Acknowledged; the completion's value.
    Ok(Value),
    /// The server proved the operation had no effect (or, for a read, it simply did not happen).
    NotApplied(String),
    /// The effect is unknown.
    Unknown(String),
}

/// Why no answer came back.
#[derive(Clone, Debug, PartialEq)]
pub enum Transport {
    /// The request provably never reached the server (connection refused, no route, a node or shim
    /// that was not running).
    NotSent(String),
    /// No answer within the operation timeout.
    Timeout,
    /// The connection failed after the request may have been sent (reset, closed, bad response, a
    /// shim or node that died with the request in hand).
    Lost(String),
}

/// A value as a system stored it, in the workload's terms: the workloads write integers, which both
/// systems store as decimal strings; lists come back as lists of them. Anything that does not parse
/// (a value nobody wrote, say) stays a string, for the checker to judge.
pub fn stored_value(v: &Value) -> Value {
    match v {
        Value::String(s) => s.parse::<u64>().map_or_else(|_| v.clone(), Value::from),
        Value::Array(items) => Value::Array(items.iter().map(stored_value).collect()),
        other => other.clone(),
    }
}

/// The completion value of a transaction: its micro-operations as the history writes them, each read
/// filled in with what it returned (`reads[i]` for micro-operation `i`, in the workload's terms; null,
/// a key without a value, is `empty_read`).
pub fn txn_completion(mops: &[MicroOp], reads: &[Value], empty_read: &Value) -> Value {
    Value::Array(
        mops.iter()
            .zip(reads)
            .map(|(m, r)| match m {
                MicroOp::Read { .. } if r.is_null() => m.to_json(empty_read.clone()),
                MicroOp::Read { .. } => m.to_json(r.clone()),
                _ => m.to_json(Value::Null),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stored_strings_come_back_as_the_integers_written() {
        assert_eq!(stored_value(&json!("17")), json!(17));
        assert_eq!(stored_value(&json!(["1", "2"])), json!([1, 2]));
        assert_eq!(stored_value(&json!("garbage")), json!("garbage"));
        assert_eq!(stored_value(&Value::Null), Value::Null);
    }

    #[test]
    fn a_completion_fills_in_the_reads() {
        let mops = [
            MicroOp::Append { key: "x".into(), value: 3 },
            MicroOp::Read { key: "x".into() },
            MicroOp::Read { key: "y".into() },
        ];
        let v = txn_completion(&mops, &[Value::Null, json!([1, 3]), Value::Null], &json!([]));
        assert_eq!(v, json!([["append", "x", 3], ["r", "x", [1, 3]], ["r", "y", []]]));
    }
}
