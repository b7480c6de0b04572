//! Maelstrom's node protocol, as Faultline speaks it: envelopes, `init`, the lin-kv RPCs and error
//! codes (jepsen-io/maelstrom `doc/protocol.md` and `doc/workloads.md`), read into [`Answer`]s.
//!
//! A Maelstrom node reads newline-delimited JSON envelopes `{"src", "dest", "body"}` on stdin and
//! writes them on stdout; bodies carry a `type`, a `msg_id` unique per sender, and replies an
//! `in_reply_to`. Nodes are `n1` ... `nN`, clients `c1` ...; Faultline sends `init` from `c0` when a
//! node starts (and again after every restart) and routes everything else ([`crate::msgnet`]).
//!
//! The lin-kv workload: `read {key}` -> `read_ok {value}`, `write {key, value}` -> `write_ok`,
//! `cas {key, from, to}` -> `cas_ok`. Keys `k12` travel as the integer 12 and values that are
//! integers as integers, as Maelstrom's own lin-kv clients send them; answers are read back into the
//! history's strings. Errors are `{"type": "error", "code", "text"}`; what each code means for an
//! operation is decided by [`answer`]:
//!
//! | code | name | here |
//! |---|---|---|
//! | 20 | key-does-not-exist | a read: the key is absent (ok, the empty value); otherwise fail |
//! | 22, 21 | precondition-failed, key-already-exists | fail (definite) |
//! | 1, 10, 11, 12, 14, 30 | node-not-found, not-supported, temporarily-unavailable, malformed-request, abort, txn-conflict | fail (definite) |
//! | 0, 13, any other | timeout, crash, unknown | info (indefinite) |
//!
//! Reading a read's code 20 as "absent" rather than as a failure keeps the observation for the
//! checker: a register that was written and then reads as absent is a lost write.
//!
//! The harness also offers Maelstrom's `lin-kv` service: a node may send `read`/`write`/`cas`
//! (with `create_if_not_exists`) to `dest: "lin-kv"`, and [`serve_kv`] answers from one
//! linearizable map, as Maelstrom's service does.

use crate::protocol::Answer;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use workloads::{Op, OpKind};

/// The id Faultline sends `init` from.
pub const INIT_CLIENT: &str = "c0";
/// The service a node may call for a linearizable key-value store.
pub const LIN_KV: &str = "lin-kv";

/// One message.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    pub src: String,
    pub dest: String,
    pub body: Map<String, Value>,
}

impl Envelope {
    /// The body's `type` (every valid envelope has one).
    pub fn kind(&self) -> &str {
        self.body.get("type").and_then(Value::as_str).unwrap_or("")
    }

    pub fn in_reply_to(&self) -> Option<u64> {
        self.body.get("in_reply_to").and_then(Value::as_u64)
    }

    /// The envelope as one line (without the newline).
    pub fn line(&self) -> String {
        json!({"src": self.src, "dest": self.dest, "body": self.body}).to_string()
    }
}

/// Reads one line of a node's stdout; Err says why it is not an envelope.
pub fn parse_line(line: &str) -> Result<Envelope, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let field = |name: &str| {
        v.get(name).and_then(Value::as_str).map(str::to_string).ok_or_else(|| format!("no string {name:?}"))
    };
    let (src, dest) = (field("src")?, field("dest")?);
    let Some(Value::Object(body)) = v.get("body") else { return Err("no object \"body\"".into()) };
    if !body.get("type").is_some_and(Value::is_string) {
        return Err("the body has no string \"type\"".into());
    }
    Ok(Envelope { src, dest, body: body.clone() })
}

/// The `init` body for node `node_id` of `node_ids`.
pub fn init_body(msg_id: u64, node_id: &str, node_ids: &[String]) -> Map<String, Value> {
    object(json!({"type": "init", "msg_id": msg_id, "node_id": node_id, "node_ids": node_ids}))
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A key as Maelstrom clients send it: `k12` as 12.
pub fn encode_key(key: &str) -> Value {
    match key.strip_prefix('k').and_then(|n| n.parse::<u64>().ok()) {
        Some(n) => json!(n),
        None => json!(key),
    }
}

/// A value as Maelstrom clients send it: integers as integers.
pub fn encode_value(v: &str) -> Value {
    match v.parse::<i64>() {
        Ok(n) if n.to_string() == v => json!(n),
        _ => json!(v),
    }
}

/// A value read back into the history's terms (strings); null is the workload's empty value.
fn decode_value(v: &Value, empty_read: &Value) -> Value {
    match v {
        Value::Null => empty_read.clone(),
        Value::String(_) => v.clone(),
        Value::Number(n) => Value::String(n.to_string()),
        other => Value::String(other.to_string()),
    }
}

/// The lin-kv request body of `op` (without `msg_id`).
pub fn request(op: &Op) -> Result<Map<String, Value>, String> {
    let key = encode_key(&op.key);
    Ok(object(match &op.kind {
        OpKind::Read => json!({"type": "read", "key": key}),
        OpKind::Write(v) => json!({"type": "write", "key": key, "value": encode_value(v)}),
        OpKind::Cas { from, to } => json!({
            "type": "cas",
            "key": key,
            "from": from.as_deref().map_or(Value::Null, encode_value),
            "to": encode_value(to),
        }),
        OpKind::Append(_) => return Err("Maelstrom's lin-kv has no append".into()),
        OpKind::Txn(_) => return Err("Maelstrom's lin-kv has no transactions".into()),
    }))
}

/// Error codes that prove an operation did not happen (protocol.md's "definite" errors).
const DEFINITE: [u64; 9] = [1, 10, 11, 12, 14, 20, 21, 22, 30];

/// The name of a Maelstrom error code.
pub fn error_name(code: u64) -> &'static str {
    match code {
        0 => "timeout",
        1 => "node-not-found",
        10 => "not-supported",
        11 => "temporarily-unavailable",
        12 => "malformed-request",
        13 => "crash",
        14 => "abort",
        20 => "key-does-not-exist",
        21 => "key-already-exists",
        22 => "precondition-failed",
        30 => "txn-conflict",
        _ => "unknown",
    }
}

/// What a node's reply body says about `op` (see the module documentation for the codes).
pub fn answer(op: &Op, empty_read: &Value, body: &Value) -> Answer {
    let kind = body.get("type").and_then(Value::as_str).unwrap_or("");
    match (kind, &op.kind) {
        ("read_ok", OpKind::Read) => match body.get("value") {
            Some(v) => Answer::Ok(decode_value(v, empty_read)),
            None => Answer::Unknown("read_ok without a value".into()),
        },
        ("write_ok", OpKind::Write(_)) | ("cas_ok", OpKind::Cas { .. }) => Answer::Ok(op.invoke_value()),
        ("error", _) => {
            let Some(code) = body.get("code").and_then(Value::as_u64) else {
                return Answer::Unknown("an error without a numeric code".into());
            };
            let text = body.get("text").and_then(Value::as_str).unwrap_or("");
            let label = format!(
                "{code} {}{}",
                error_name(code),
                if text.is_empty() { String::new() } else { format!(": {text}") }
            );
            if code == 20 && op.kind == OpKind::Read {
                Answer::Ok(empty_read.clone())
            } else if DEFINITE.contains(&code) {
                Answer::NotApplied(label)
            } else {
                Answer::Unknown(label)
            }
        }
        (other, _) => Answer::Unknown(format!("unexpected reply type {other:?} to {}", op.f())),
    }
}

/// Answers a request a node sent to the `lin-kv` service from `store` (keys by their JSON text).
pub fn serve_kv(store: &mut HashMap<String, Value>, body: &Map<String, Value>) -> Map<String, Value> {
    let key = body.get("key").map(Value::to_string).unwrap_or_default();
    let error = |code: u64, text: &str| json!({"type": "error", "code": code, "text": text});
    let reply = match body.get("type").and_then(Value::as_str) {
        Some("read") => match store.get(&key) {
            Some(v) => json!({"type": "read_ok", "value": v}),
            None => error(20, "key does not exist"),
        },
        Some("write") => {
            store.insert(key, body.get("value").cloned().unwrap_or(Value::Null));
            json!({"type": "write_ok"})
        }
        Some("cas") => {
            let from = body.get("from").cloned().unwrap_or(Value::Null);
            let to = body.get("to").cloned().unwrap_or(Value::Null);
            let create = body.get("create_if_not_exists").and_then(Value::as_bool).unwrap_or(false);
            match store.get(&key) {
                None if create => {
                    store.insert(key, to);
                    json!({"type": "cas_ok"})
                }
                None => error(20, "key does not exist"),
                Some(v) if *v == from => {
                    store.insert(key, to);
                    json!({"type": "cas_ok"})
                }
                Some(v) => error(22, &format!("expected {from}, but had {v}")),
            }
        }
        other => error(10, &format!("lin-kv does not support {other:?}")),
    };
    let mut reply = object(reply);
    if let Some(id) = body.get("msg_id") {
        reply.insert("in_reply_to".into(), id.clone());
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(kind: OpKind) -> Op {
        Op { key: "k7".into(), kind, node: None }
    }

    #[test]
    fn envelopes_parse_and_bad_lines_say_why() {
        let e = parse_line(r#"{"src":"n1","dest":"c3","body":{"type":"read_ok","in_reply_to":4,"value":1}}"#)
            .unwrap();
        assert_eq!(
            (e.src.as_str(), e.dest.as_str(), e.kind(), e.in_reply_to()),
            ("n1", "c3", "read_ok", Some(4))
        );
        assert!(parse_line("starting up...").unwrap_err().contains("not JSON"));
        assert!(parse_line(r#"{"src":"n1","body":{"type":"x"}}"#).unwrap_err().contains("dest"));
        assert!(parse_line(r#"{"src":"n1","dest":"n2","body":{"x":1}}"#).unwrap_err().contains("type"));
        let back = parse_line(&e.line()).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn requests_use_integer_keys_and_values_like_maelstroms_clients() {
        assert_eq!(Value::Object(request(&op(OpKind::Read)).unwrap()), json!({"type": "read", "key": 7}));
        assert_eq!(
            Value::Object(request(&op(OpKind::Cas { from: Some("3".into()), to: "x".into() })).unwrap()),
            json!({"type": "cas", "key": 7, "from": 3, "to": "x"})
        );
        assert_eq!(encode_key("alpha"), json!("alpha"));
        assert_eq!(encode_value("007"), json!("007"));
        assert!(request(&op(OpKind::Append("1".into()))).is_err());
    }

    #[test]
    fn codes_are_definite_or_not_as_maelstrom_defines_them() {
        let null = Value::Null;
        let err = |code: u64| json!({"type": "error", "code": code, "text": "t"});
        let w = op(OpKind::Write("1".into()));
        assert!(matches!(answer(&w, &null, &err(22)), Answer::NotApplied(_)));
        assert!(matches!(answer(&w, &null, &err(20)), Answer::NotApplied(_)));
        assert!(matches!(answer(&w, &null, &err(11)), Answer::NotApplied(_)));
        for code in [0, 13, 1000] {
            assert!(matches!(answer(&w, &null, &err(code)), Answer::Unknown(_)), "{code}");
        }
        // A read of an absent key reads the empty value.
        assert_eq!(answer(&op(OpKind::Read), &null, &err(20)), Answer::Ok(Value::Null));
        assert_eq!(
            answer(&op(OpKind::Read), &null, &json!({"type": "read_ok", "value": 5})),
            Answer::Ok(json!("5"))
        );
        assert_eq!(answer(&w, &null, &json!({"type": "write_ok"})), Answer::Ok(json!("1")));
        assert!(matches!(answer(&w, &null, &json!({"type": "read_ok", "value": 1})), Answer::Unknown(_)));
        assert!(matches!(answer(&w, &null, &json!({"type": "error"})), Answer::Unknown(_)));
    }

    #[test]
    fn the_lin_kv_service_is_a_linearizable_map() {
        let mut kv = HashMap::new();
        let call = |kv: &mut HashMap<String, Value>, v: Value| Value::Object(serve_kv(kv, &object(v)));
        assert_eq!(call(&mut kv, json!({"type": "read", "key": 1, "msg_id": 1}))["code"], 20);
        assert_eq!(call(&mut kv, json!({"type": "cas", "key": 1, "from": 0, "to": 1}))["code"], 20);
        let r = call(
            &mut kv,
            json!({"type": "cas", "key": 1, "from": 0, "to": 1, "create_if_not_exists": true, "msg_id": 2}),
        );
        assert_eq!(r, json!({"type": "cas_ok", "in_reply_to": 2}));
        assert_eq!(call(&mut kv, json!({"type": "cas", "key": 1, "from": 0, "to": 2}))["code"], 22);
        call(&mut kv, json!({"type": "write", "key": 1, "value": 9}));
        assert_eq!(call(&mut kv, json!({"type": "read", "key": 1}))["value"], 9);
    }
}
