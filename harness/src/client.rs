//! Clients: one per process, pinned to a node, speaking raft-node's HTTP/JSON API.
//!
//! The outcome of every operation is decided in one place, [`classify`], from the HTTP status and
//! body or the transport error, following CONTRACTS.md section 2 and Jepsen's rule: `ok` when the
//! server acknowledged it, `fail` only when the server proved the operation was not applied (or the
//! request provably never left: connection refused), `info` whenever the effect is unknown.

use crate::cluster::System;
use serde_json::{Value, json};
use std::time::Duration;
use workloads::{Op, OpKind};

/// How an operation ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Took effect; the value is the completion's `value` (the read result, or the written value).
    Ok(Value),
    /// Certainly did not take effect; the error code or reason.
    Fail(String),
    /// Unknown; the reason.
    Info(String),
}

impl Outcome {
    pub fn kind(&self) -> checker::history::EventType {
        use checker::history::EventType;
        match self {
            Outcome::Ok(_) => EventType::Ok,
            Outcome::Fail(_) => EventType::Fail,
            Outcome::Info(_) => EventType::Info,
        }
    }
}

/// What came back from the server.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    pub status: u16,
    /// The JSON body, None if it was not JSON.
    pub body: Option<Value>,
}

/// Why no response came back.
#[derive(Clone, Debug, PartialEq)]
pub enum Transport {
    /// The request provably never reached the server (connection refused, no route).
    NotSent(String),
    /// No answer within the operation timeout.
    Timeout,
    /// The connection failed after the request may have been sent (reset, closed, bad response).
    Lost(String),
}

/// Error codes with which raft-node proves an operation was not applied (contract section 2).
const NOT_APPLIED: [&str; 3] = ["not_leader", "not_applied", "bad_request"];

/// What a server's answer says about an operation, in the system's own terms already read: each
/// system's protocol module turns a [`Response`] into one of these ([`raft_node_answer`],
/// [`crate::etcd::answer`]), and [`classify`] alone decides the outcome.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// Acknowledged; the completion's value.
    Ok(Value),
    /// The server proved the operation had no effect (or, for a read, it simply did not happen).
    NotApplied(String),
    /// The effect is unknown.
    Unknown(String),
}

/// The single place where an operation's outcome is decided. `empty_read` is what a read of a missing
/// key returns in this workload (null for registers, `[]` for lists).
pub fn classify(system: System, op: &Op, empty_read: &Value, result: Result<Response, Transport>) -> Outcome {
    let resp = match result {
        Ok(resp) => resp,
        Err(Transport::NotSent(why)) => return Outcome::Fail(format!("not sent: {why}")),
        Err(Transport::Timeout) => return Outcome::Info("timeout".into()),
        Err(Transport::Lost(why)) => return Outcome::Info(why),
    };
    let answer = match system {
        System::RaftNode => raft_node_answer(op, empty_read, resp),
        System::Etcd(_) => crate::etcd::answer(op, empty_read, resp),
    };
    match answer {
        Answer::Ok(v) => Outcome::Ok(v),
        Answer::NotApplied(why) => Outcome::Fail(why),
        Answer::Unknown(why) => Outcome::Info(why),
    }
}

/// What a raft-node answer says (CONTRACTS.md section 2).
pub fn raft_node_answer(op: &Op, empty_read: &Value, resp: Response) -> Answer {
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

/// An HTTP client for one process. Each has its own connection pool, so a process's connections
/// live and die with it.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    empty_read: Value,
    system: System,
}

/// Percent-encodes a key for a URL path segment (keys are ours, but stay correct for any string).
fn encode_key(key: &str) -> String {
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

impl Client {
    pub fn new(timeout: Duration, empty_read: Value) -> Result<Client, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(1)))
            .pool_max_idle_per_host(2)
            .build()?;
        Ok(Client { http, empty_read, system: System::RaftNode })
    }

    /// The same client speaking `system`'s protocol (raft-node's unless told).
    pub fn for_system(mut self, system: System) -> Client {
        self.system = system;
        self
    }

    /// Performs `op` against the node at `base` (`http://ip:port`) and classifies the outcome.
    ///
    /// A `not_leader` answer proves the operation never entered the log, so the client follows the
    /// answer's leader hint once and sends the same operation there (Jepsen's clients for Raft systems
    /// do the same); without that, processes pinned to followers would only ever record failures.
    /// Returns the outcome and the base URL of the node that answered.
    pub async fn invoke(&self, base: &str, op: &Op) -> (Outcome, String) {
        let first = self.attempt(base, op).await;
        if let Ok(resp) = &first
            && resp.body.as_ref().and_then(|b| b.get("error")).and_then(Value::as_str) == Some("not_leader")
            && let Some(leader) = resp.body.as_ref().and_then(|b| b.get("leader")).and_then(Value::as_str)
        {
            let leader = format!("http://{leader}");
            if leader != base {
                let second = self.attempt(&leader, op).await;
                return (classify(self.system, op, &self.empty_read, second), leader);
            }
        }
        (classify(self.system, op, &self.empty_read, first), base.to_string())
    }

    async fn attempt(&self, base: &str, op: &Op) -> Result<Response, Transport> {
        let req = match self.system {
            System::RaftNode => self.raft_node_request(base, op),
            System::Etcd(options) => match crate::etcd::request(op, options) {
                Ok((path, body)) => self.http.post(format!("{base}{path}")).json(&body),
                // Nothing was sent: the operation provably did not happen.
                Err(why) => return Err(Transport::NotSent(why)),
            },
        };
        match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                match resp.bytes().await {
                    Ok(bytes) => Ok(Response { status, body: serde_json::from_slice(&bytes).ok() }),
                    Err(e) if e.is_timeout() => Err(Transport::Timeout),
                    Err(e) => Err(Transport::Lost(format!("body: {e}"))),
                }
            }
            Err(e) => Err(transport_error(&e)),
        }
    }

    fn raft_node_request(&self, base: &str, op: &Op) -> reqwest::RequestBuilder {
        let url = format!("{base}/kv/{}", encode_key(&op.key));
        match &op.kind {
            OpKind::Read => self.http.get(url),
            OpKind::Write(v) => self.http.put(url).json(&json!({ "value": v })),
            OpKind::Cas { from, to } => {
                self.http.post(format!("{url}/cas")).json(&json!({ "from": from, "to": to }))
            }
            OpKind::Append(v) => self.http.post(format!("{url}/append")).json(&json!({ "value": v })),
        }
    }

    /// The node's status body as the system gives it (raft-node: `GET /status`; etcd:
    /// `POST /v3/maintenance/status`, to be rewritten by [`crate::etcd::status_to_contract`]).
    pub async fn raw_status(&self, base: &str) -> Option<Value> {
        let req = match self.system {
            System::RaftNode => self.http.get(format!("{base}/status")),
            System::Etcd(_) => self.http.post(format!("{base}/v3/maintenance/status")).json(&json!({})),
        };
        let resp = req.send().await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        resp.json().await.ok()
    }

    /// GET a body as text with its status (debug logs are stored verbatim).
    pub async fn get_text(&self, url: &str) -> Result<String, String> {
        let resp = self.http.get(url).send().await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| e.to_string())?;
        if status.is_success() { Ok(text) } else { Err(format!("http {status}: {text}")) }
    }
}

fn transport_error(e: &reqwest::Error) -> Transport {
    if e.is_timeout() {
        Transport::Timeout
    } else if e.is_connect() {
        // Failing to connect means no byte of the request was sent.
        Transport::NotSent(root_cause(e))
    } else {
        Transport::Lost(root_cause(e))
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(kind: OpKind) -> Op {
        Op { key: "k".into(), kind, node: None }
    }

    fn resp(status: u16, body: Value) -> Result<Response, Transport> {
        Ok(Response { status, body: Some(body) })
    }

    #[test]
    fn acknowledged_operations_are_ok_with_their_values() {
        let null = Value::Null;
        assert_eq!(
            classify(System::RaftNode, &op(OpKind::Read), &null, resp(200, json!({"value": "5"}))),
            Outcome::Ok(json!("5"))
        );
        assert_eq!(
            classify(System::RaftNode, &op(OpKind::Read), &null, resp(200, json!({"value": ["a", "b"]}))),
            Outcome::Ok(json!(["a", "b"]))
        );
        assert_eq!(
            classify(
                System::RaftNode,
                &op(OpKind::Write("7".into())),
                &null,
                resp(200, json!({"index": 3, "term": 1}))
            ),
            Outcome::Ok(json!("7"))
        );
        let cas = op(OpKind::Cas { from: None, to: "2".into() });
        assert_eq!(
            classify(System::RaftNode, &cas, &null, resp(200, json!({"applied": true}))),
            Outcome::Ok(json!([null, "2"]))
        );
    }

    #[test]
    fn missing_keys_read_as_the_workloads_empty_value() {
        let r = resp(404, json!({"error": "not_found"}));
        assert_eq!(
            classify(System::RaftNode, &op(OpKind::Read), &Value::Null, r.clone()),
            Outcome::Ok(Value::Null)
        );
        assert_eq!(
            classify(System::RaftNode, &op(OpKind::Read), &json!([]), r.clone()),
            Outcome::Ok(json!([]))
        );
        // A 404 for a write is not a read of an absent key: unknown.
        assert!(matches!(
            classify(System::RaftNode, &op(OpKind::Write("1".into())), &Value::Null, r),
            Outcome::Info(_)
        ));
    }

    #[test]
    fn fail_only_when_the_server_proves_nothing_was_applied() {
        let w = op(OpKind::Write("1".into()));
        for code in ["not_leader", "not_applied", "bad_request"] {
            let r = resp(421, json!({"error": code, "message": "", "leader": null}));
            assert_eq!(classify(System::RaftNode, &w, &Value::Null, r), Outcome::Fail(code.into()));
        }
        let cas = op(OpKind::Cas { from: Some("1".into()), to: "2".into() });
        assert_eq!(
            classify(
                System::RaftNode,
                &cas,
                &Value::Null,
                resp(200, json!({"applied": false, "value": "3"}))
            ),
            Outcome::Fail("cas mismatch".into())
        );
        assert!(matches!(
            classify(System::RaftNode, &w, &Value::Null, Err(Transport::NotSent("refused".into()))),
            Outcome::Fail(_)
        ));
    }

    #[test]
    fn everything_else_is_info() {
        let w = op(OpKind::Append("1".into()));
        for code in ["timeout", "unavailable", "something_new"] {
            assert_eq!(
                classify(System::RaftNode, &w, &json!([]), resp(503, json!({"error": code}))),
                Outcome::Info(code.into())
            );
        }
        assert_eq!(
            classify(System::RaftNode, &w, &json!([]), Err(Transport::Timeout)),
            Outcome::Info("timeout".into())
        );
        assert!(matches!(
            classify(System::RaftNode, &w, &json!([]), Err(Transport::Lost("reset".into()))),
            Outcome::Info(_)
        ));
        assert!(matches!(
            classify(System::RaftNode, &w, &json!([]), Ok(Response { status: 502, body: None })),
            Outcome::Info(_)
        ));
        // A 2xx whose body lacks the fields we need is not proof of anything.
        assert!(matches!(
            classify(System::RaftNode, &op(OpKind::Read), &Value::Null, resp(200, json!({}))),
            Outcome::Info(_)
        ));
    }

    #[test]
    fn etcd_answers_go_through_the_same_classifier() {
        let etcd = System::Etcd(crate::etcd::EtcdOptions::default());
        let w = op(OpKind::Write("1".into()));
        // Transport: a timed-out or reset write is unknown, a refused connection proves nothing left.
        assert_eq!(
            classify(etcd, &w, &Value::Null, Err(Transport::Timeout)),
            Outcome::Info("timeout".into())
        );
        assert!(matches!(
            classify(etcd, &w, &Value::Null, Err(Transport::Lost("reset".into()))),
            Outcome::Info(_)
        ));
        assert!(matches!(
            classify(etcd, &w, &Value::Null, Err(Transport::NotSent("refused".into()))),
            Outcome::Fail(_)
        ));
        let header = json!({"header": {"member_id": "1", "revision": "2", "raft_term": "2"}});
        assert_eq!(classify(etcd, &w, &Value::Null, resp(200, header.clone())), Outcome::Ok(json!("1")));
        let unavailable = json!({"error": "etcdserver: request timed out", "code": 14,
            "message": "etcdserver: request timed out"});
        assert!(matches!(classify(etcd, &w, &Value::Null, resp(503, unavailable.clone())), Outcome::Info(_)));
        // The same answer to a read: the read had no effect.
        assert!(matches!(
            classify(etcd, &op(OpKind::Read), &Value::Null, resp(503, unavailable)),
            Outcome::Fail(_)
        ));
        assert_eq!(
            classify(etcd, &op(OpKind::Read), &Value::Null, resp(200, header)),
            Outcome::Ok(Value::Null)
        );
    }

    #[test]
    fn keys_are_percent_encoded() {
        assert_eq!(encode_key("k1"), "k1");
        assert_eq!(encode_key("a/b c"), "a%2Fb%20c");
    }
}
