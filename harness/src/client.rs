//! Clients: one per process, pinned to a node, speaking the system's HTTP/JSON protocol (the request
//! and the reading of the answer come from [`crate::system`]).
//!
//! The outcome of every operation is decided in one place, [`classify`], from the HTTP status and
//! body or the transport error, following CONTRACTS.md section 2 and Jepsen's rule: `ok` when the
//! server acknowledged it, `fail` only when the server proved the operation was not applied (or the
//! request provably never left: connection refused), `info` whenever the effect is unknown.

use crate::protocol::{Answer, Method, Request, Response};
use crate::system::System;
use serde_json::Value;
use std::time::Duration;
use workloads::Op;

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

/// The single place where an operation's outcome is decided. `empty_read` is what a read of a missing
/// key returns in this workload (null for registers, `[]` for lists).
pub fn classify(system: System, op: &Op, empty_read: &Value, result: Result<Response, Transport>) -> Outcome {
    let resp = match result {
        Ok(resp) => resp,
        Err(Transport::NotSent(why)) => return Outcome::Fail(format!("not sent: {why}")),
        Err(Transport::Timeout) => return Outcome::Info("timeout".into()),
        Err(Transport::Lost(why)) => return Outcome::Info(why),
    };
    match system.answer(op, empty_read, resp) {
        Answer::Ok(v) => Outcome::Ok(v),
        Answer::NotApplied(why) => Outcome::Fail(why),
        Answer::Unknown(why) => Outcome::Info(why),
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

impl Client {
    /// A client of `system` whose requests give up after `timeout`; `empty_read` is what a read of a
    /// missing key returns in the workload.
    pub fn new(system: System, timeout: Duration, empty_read: Value) -> Result<Client, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(1)))
            .pool_max_idle_per_host(2)
            .build()?;
        Ok(Client { http, empty_read, system })
    }

    /// Performs `op` against the node at `base` (`http://ip:port`) and classifies the outcome.
    ///
    /// A `not_leader` answer proves the operation never entered the log, so the client follows the
    /// answer's leader hint once and sends the same operation there (Jepsen's clients for Raft systems
    /// do the same); without that, processes pinned to followers would only ever record failures.
    /// Returns the outcome and the base URL of the node that answered.
    pub async fn invoke(&self, base: &str, op: &Op) -> (Outcome, String) {
        let request = match self.system.request(op, &self.empty_read) {
            Ok(r) => r,
            // Nothing was sent: the operation provably did not happen.
            Err(why) => return (Outcome::Fail(format!("not sent: {why}")), base.to_string()),
        };
        let first = self.send(base, &request).await;
        if let Ok(resp) = &first
            && let Some(leader) = self.system.leader_hint(resp)
        {
            let leader = format!("http://{leader}");
            if leader != base {
                let second = self.send(&leader, &request).await;
                return (classify(self.system, op, &self.empty_read, second), leader);
            }
        }
        (classify(self.system, op, &self.empty_read, first), base.to_string())
    }

    async fn send(&self, base: &str, request: &Request) -> Result<Response, Transport> {
        let url = format!("{base}{}", request.path);
        let builder = match request.method {
            Method::Get => self.http.get(url),
            Method::Put => self.http.put(url),
            Method::Post => self.http.post(url),
        };
        let builder = match &request.body {
            Some(body) => builder.json(body),
            None => builder,
        };
        match builder.send().await {
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

    /// The node's status body as the system gives it (see [`crate::system::StatusReader`]).
    pub async fn raw_status(&self, base: &str) -> Option<Value> {
        match self.send(base, &self.system.status_request()).await {
            Ok(Response { status: 200..=299, body }) => body,
            _ => None,
        }
    }

    /// GET a body as text (debug logs are stored verbatim); an error says what failed.
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
    use serde_json::json;
    use workloads::OpKind;

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
}
