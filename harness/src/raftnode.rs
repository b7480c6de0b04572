//! raft-node, this repository's Raft key-value server, as a system under test: its command line and
//! its HTTP/JSON client protocol (CONTRACTS.md section 2), read into [`Answer`]s.
//!
//! The answers that prove an operation was not applied are `not_leader`, `not_applied` and
//! `bad_request`; a read of a missing key is `404 not_found`; every other error, and a 2xx without the
//! fields an answer needs, leaves the effect unknown.

use crate::nodes::NodeSpec;
use crate::protocol::{Answer, Request, Response, stored_value, txn_completion};
use serde_json::{Value, json};
use workloads::{MicroOp, Op, OpKind};

/// The line prefix raft-node prints when it panics (CONTRACTS.md section 2).
pub const PANIC_MARKER: &str = "raft-node: PANIC";

/// The planted bugs raft-node accepts (`--bug NAME`, CONTRACTS.md section 2), in the matrix's order.
pub const PLANTED_BUGS: [&str; 8] = [
    "stale-read",
    "commit-old-term",
    "no-conflict-check",
    "forget-vote",
    "early-ack",
    "lazy-persist",
    "fsync-lag",
    "txn-local-read",
];

/// The node argument that switches on a planted bug (`--bug` or `--bug=NAME`), if any.
pub fn planted_bug_arg(node_args: &[String]) -> Option<&String> {
    node_args.iter().find(|a| *a == "--bug" || a.starts_with("--bug="))
}

/// The planted bugs named in node arguments (`--bug NAME` or `--bug=NAME`).
pub fn planted_bugs(node_args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, a) in node_args.iter().enumerate() {
        if a == "--bug" {
            out.extend(node_args.get(i + 1).cloned());
        } else if let Some(name) = a.strip_prefix("--bug=") {
            out.push(name.to_string());
        }
    }
    out
}

/// Error codes with which raft-node proves an operation was not applied (contract section 2).
const NOT_APPLIED: [&str; 3] = ["not_leader", "not_applied", "bad_request"];

/// The node's command line (after the binary): identity, every address, its data directory and its
/// seed (the run's seed plus its id, so each node's election jitter differs but replays alike).
pub fn args(spec: &NodeSpec, seed: u64) -> Vec<String> {
    vec![
        "--id".to_string(),
        spec.id.to_string(),
        "--peers".into(),
        spec.peers_arg.clone(),
        "--client-addrs".into(),
        spec.client_addrs_arg.clone(),
        "--listen-peer".into(),
        spec.listen_peer.to_string(),
        "--listen-client".into(),
        spec.listen_client.to_string(),
        "--data-dir".into(),
        spec.data_dir().display().to_string(),
        "--seed".into(),
        seed.wrapping_add(spec.id).to_string(),
    ]
}

/// Percent-encodes a key for a URL path segment (keys are ours, but stay correct for any string).
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The request that performs `op`.
pub fn request(op: &Op) -> Request {
    let path = format!("/kv/{}", encode_key(&op.key));
    match &op.kind {
        OpKind::Read => Request::get(path),
        OpKind::Write(v) => Request::put(path, json!({ "value": v })),
        OpKind::Cas { from, to } => Request::post(format!("{path}/cas"), json!({ "from": from, "to": to })),
        OpKind::Append(v) => Request::post(format!("{path}/append"), json!({ "value": v })),
        // A transaction goes to POST /txn; values travel as the decimal strings raft-node stores.
        OpKind::Txn(mops) => {
            let ops: Vec<Value> = mops
                .iter()
                .map(|m| match m {
                    MicroOp::Append { key, value } => {
                        json!({"f": "append", "key": key, "value": value.to_string()})
                    }
                    MicroOp::Write { key, value } => {
                        json!({"f": "w", "key": key, "value": value.to_string()})
                    }
                    MicroOp::Read { key } => json!({"f": "r", "key": key}),
                })
                .collect();
            Request::post("/txn".into(), json!({ "ops": ops }))
        }
    }
}

/// What a raft-node answer says (CONTRACTS.md section 2).
pub fn answer(op: &Op, empty_read: &Value, resp: Response) -> Answer {
    let body = resp.body.unwrap_or(Value::Null);
    let code = body.get("error").and_then(Value::as_str);
    if (200..300).contains(&resp.status) {
        return match &op.kind {
            OpKind::Read => match body.get("value") {
                Some(v) => Answer::Ok(v.clone()),
                None => Answer::Unknown("read answer without a value field".into()),
            },
            OpKind::Cas { .. } => match body.get("applied").and_then(Value::as_bool) {
                Some(true) => Answer::Ok(op.invoke_value()),
                // The server compared and did not swap: the cas certainly had no effect.
                Some(false) => Answer::NotApplied("cas mismatch".into()),
                None => Answer::Unknown("cas answer without an applied field".into()),
            },
            OpKind::Write(_) | OpKind::Append(_) => Answer::Ok(op.invoke_value()),
            OpKind::Txn(mops) => match body.get("results").and_then(Value::as_array) {
                Some(results) if results.len() == mops.len() => {
                    let reads: Vec<Value> = results.iter().map(stored_value).collect();
                    Answer::Ok(txn_completion(mops, &reads, empty_read))
                }
                _ => Answer::Unknown("txn answer without one result per micro-operation".into()),
            },
        };
    }
    if resp.status == 404 && code == Some("not_found") && op.kind == OpKind::Read {
        return Answer::Ok(empty_read.clone());
    }
    match code {
        Some(c) if NOT_APPLIED.contains(&c) => Answer::NotApplied(c.to_string()),
        Some(c) => Answer::Unknown(c.to_string()),
        None => Answer::Unknown(format!("http {} without an error code", resp.status)),
    }
}

/// The leader a `not_leader` answer names (`host:port` of its HTTP API), if any.
pub fn leader_hint(resp: &Response) -> Option<&str> {
    let body = resp.body.as_ref()?;
    if body.get("error").and_then(Value::as_str) != Some("not_leader") {
        return None;
    }
    body.get("leader").and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planted_bugs_are_read_in_both_spellings() {
        let args: Vec<String> =
            ["--bug", "stale-read", "--no-pre-vote", "--bug=early-ack"].map(String::from).into();
        assert_eq!(planted_bugs(&args), ["stale-read", "early-ack"]);
        assert_eq!(planted_bug_arg(&args).map(String::as_str), Some("--bug"));
        assert!(planted_bug_arg(&["--no-pre-vote".to_string()]).is_none());
    }

    #[test]
    fn keys_are_percent_encoded() {
        assert_eq!(encode_key("k1"), "k1");
        assert_eq!(encode_key("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn requests_follow_the_contract() {
        let op = |kind| Op { key: "k 1".into(), kind, node: None };
        assert_eq!(request(&op(OpKind::Read)), Request::get("/kv/k%201".into()));
        assert_eq!(
            request(&op(OpKind::Cas { from: None, to: "2".into() })),
            Request::post("/kv/k%201/cas".into(), json!({"from": null, "to": "2"}))
        );
    }

    #[test]
    fn a_transaction_posts_its_micro_operations_and_reads_back_integers() {
        let op = Op::txn(vec![
            MicroOp::Append { key: "x".into(), value: 5 },
            MicroOp::Read { key: "x".into() },
            MicroOp::Read { key: "y".into() },
        ]);
        assert_eq!(
            request(&op),
            Request::post(
                "/txn".into(),
                json!({"ops": [{"f": "append", "key": "x", "value": "5"}, {"f": "r", "key": "x"}, {"f": "r", "key": "y"}]})
            )
        );
        let ok = Response {
            status: 200,
            body: Some(json!({"results": [null, ["4", "5"], null], "index": 9, "term": 2})),
        };
        assert_eq!(
            answer(&op, &json!([]), ok),
            Answer::Ok(json!([["append", "x", 5], ["r", "x", [4, 5]], ["r", "y", []]]))
        );
        let short = Response { status: 200, body: Some(json!({"results": [null]})) };
        assert!(matches!(answer(&op, &json!([]), short), Answer::Unknown(_)));
    }

    #[test]
    fn only_not_leader_answers_carry_a_hint() {
        let hinted =
            Response { status: 421, body: Some(json!({"error": "not_leader", "leader": "10.0.0.2:8000"})) };
        assert_eq!(leader_hint(&hinted), Some("10.0.0.2:8000"));
        let other =
            Response { status: 503, body: Some(json!({"error": "timeout", "leader": "10.0.0.2:8000"})) };
        assert_eq!(leader_hint(&other), None);
    }
}
