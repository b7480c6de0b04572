//! Clients: one per process slot, pinned to a node, speaking the system's protocol: HTTP/JSON
//! ([`Client`]; the request and the reading of the answer come from [`crate::system`]), a shim process
//! ([`crate::shim`]) or Maelstrom RPCs through the harness's message network ([`crate::msgnet`]).
//! [`ProcessClient`] is the one face the interpreter sees; [`ClientSetup`] makes one per slot.
//!
//! The outcome of every operation is decided in one place, [`classify`], from the system's reading of
//! the reply or the transport error, following CONTRACTS.md section 2 and Jepsen's rule: `ok` when
//! the server acknowledged it, `fail` only when the server proved the operation was not applied (or
//! the request provably never left: connection refused, a node or shim that was not running), `info`
//! whenever the effect is unknown.

use crate::msgnet::Network;
use crate::nodes::NodeSpec;
pub use crate::protocol::Transport;
use crate::protocol::{Answer, Method, Reply, Request, Response};
use crate::shim::Shim;
use crate::system::{ClientProtocol, System};
use crate::systemfile::{ClientContext, ClientKind};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
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

/// The single place where an operation's outcome is decided. `empty_read` is what a read of a missing
/// key returns in this workload (null for registers, `[]` for lists).
pub fn classify(system: &System, op: &Op, empty_read: &Value, result: Result<Reply, Transport>) -> Outcome {
    let reply = match result {
        Ok(reply) => reply,
        Err(Transport::NotSent(why)) => return Outcome::Fail(format!("not sent: {why}")),
        Err(Transport::Timeout) => return Outcome::Info("timeout".into()),
        Err(Transport::Lost(why)) => return Outcome::Info(why),
    };
    match system.answer(op, empty_read, reply) {
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
                let second = self.send(&leader, &request).await.map(Reply::Http);
                return (classify(&self.system, op, &self.empty_read, second), leader);
            }
        }
        (classify(&self.system, op, &self.empty_read, first.map(Reply::Http)), base.to_string())
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

    /// The node's status body as the system gives it (see [`crate::system::StatusReader`]); None
    /// without an answer or when the system has no status.
    pub async fn raw_status(&self, base: &str) -> Option<Value> {
        match self.send(base, &self.system.status_request()?).await {
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

/// The client of one process slot, whatever the system's protocol.
#[derive(Debug)]
pub enum ProcessClient {
    Http { client: Client, urls: Arc<[String]> },
    Shim { shim: Box<Shim>, system: System, empty_read: Value, nodes: Arc<[NodeSpec]> },
    Maelstrom { net: Network, id: String, system: System, empty_read: Value, timeout: Duration },
}

impl ProcessClient {
    /// Performs `op` against node `node` and classifies the outcome; returns the outcome and the
    /// node that answered (an HTTP client follows a leader hint).
    pub async fn invoke(&mut self, node: usize, op: &Op) -> (Outcome, usize) {
        match self {
            ProcessClient::Http { client, urls } => {
                let (outcome, answered) = client.invoke(&urls[node], op).await;
                (outcome, urls.iter().position(|u| *u == answered).unwrap_or(node))
            }
            ProcessClient::Shim { shim, system, empty_read, nodes } => {
                let n = &nodes[node];
                let reply = shim.call(op, &n.name, &n.listen_client.to_string()).await.map(Reply::Json);
                (classify(system, op, empty_read, reply), node)
            }
            ProcessClient::Maelstrom { net, id, system, empty_read, timeout } => {
                let reply = match crate::maelstrom::request(op) {
                    Ok(body) => net.call(id, node, body, *timeout).await.map(Reply::Json),
                    Err(why) => Err(Transport::NotSent(why)),
                };
                (classify(system, op, empty_read, reply), node)
            }
        }
    }
}

/// What it takes to make the client of any slot.
#[derive(Clone, Debug)]
pub struct ClientSetup {
    pub system: System,
    pub nodes: Arc<[NodeSpec]>,
    pub timeout: Duration,
    /// What a read of a missing key returns in the workload.
    pub empty_read: Value,
    pub seed: u64,
    /// Where shims' stderr goes (`clients/` in the run directory).
    pub shim_logs: PathBuf,
    /// The message network (Maelstrom nodes).
    pub network: Option<Network>,
}

impl ClientSetup {
    /// The client of slot `slot`; a shim is started at once, so one that cannot start is an error
    /// here rather than a run of failed operations.
    pub fn client(&self, slot: usize) -> Result<ProcessClient, String> {
        match self.system.client_kind() {
            ClientProtocol::Http => {
                let client = Client::new(self.system.clone(), self.timeout, self.empty_read.clone())
                    .map_err(|e| format!("could not set up the HTTP client: {e}"))?;
                Ok(ProcessClient::Http { client, urls: self.nodes.iter().map(NodeSpec::url).collect() })
            }
            ClientProtocol::Shim => {
                let file = self.system.file().ok_or("a shim client needs a system file")?;
                let ClientKind::Shim { command, env } = &file.client else {
                    return Err("the system file's client is not a shim".into());
                };
                let ctx = ClientContext { all: &self.nodes, seed: self.seed, slot };
                let dir = file.dir();
                let mut argv: Vec<String> = command.iter().map(|t| t.expand_client(&ctx, &dir)).collect();
                if argv[0].contains('/') && !argv[0].starts_with('/') {
                    argv[0] = dir.join(&argv[0]).display().to_string();
                }
                let env = env.iter().map(|(k, v)| (k.clone(), v.expand_client(&ctx, &dir))).collect();
                let log = self.shim_logs.join(format!("c{slot}.stderr.log"));
                let mut shim = Shim::new(argv.clone(), env, log, self.timeout);
                shim.start().map_err(|e| {
                    format!(
                        "{}: cannot start the shim {:?}: {e}",
                        file.place("client.command"),
                        argv.join(" ")
                    )
                })?;
                Ok(ProcessClient::Shim {
                    shim: Box::new(shim),
                    system: self.system.clone(),
                    empty_read: self.empty_read.clone(),
                    nodes: self.nodes.clone(),
                })
            }
            ClientProtocol::Maelstrom => Ok(ProcessClient::Maelstrom {
                net: self.network.clone().ok_or("Maelstrom clients need the cluster's message network")?,
                id: format!("c{}", slot + 1),
                system: self.system.clone(),
                empty_read: self.empty_read.clone(),
                timeout: self.timeout,
            }),
        }
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

    fn resp(status: u16, body: Value) -> Result<Reply, Transport> {
        Ok(Reply::Http(Response { status, body: Some(body) }))
    }

    #[test]
    fn acknowledged_operations_are_ok_with_their_values() {
        let null = Value::Null;
        assert_eq!(
            classify(&System::RaftNode, &op(OpKind::Read), &null, resp(200, json!({"value": "5"}))),
            Outcome::Ok(json!("5"))
        );
        assert_eq!(
            classify(&System::RaftNode, &op(OpKind::Read), &null, resp(200, json!({"value": ["a", "b"]}))),
            Outcome::Ok(json!(["a", "b"]))
        );
        assert_eq!(
            classify(
                &System::RaftNode,
                &op(OpKind::Write("7".into())),
                &null,
                resp(200, json!({"index": 3, "term": 1}))
            ),
            Outcome::Ok(json!("7"))
        );
        let cas = op(OpKind::Cas { from: None, to: "2".into() });
        assert_eq!(
            classify(&System::RaftNode, &cas, &null, resp(200, json!({"applied": true}))),
            Outcome::Ok(json!([null, "2"]))
        );
    }

    #[test]
    fn missing_keys_read_as_the_workloads_empty_value() {
        let r = resp(404, json!({"error": "not_found"}));
        assert_eq!(
            classify(&System::RaftNode, &op(OpKind::Read), &Value::Null, r.clone()),
            Outcome::Ok(Value::Null)
        );
        assert_eq!(
            classify(&System::RaftNode, &op(OpKind::Read), &json!([]), r.clone()),
            Outcome::Ok(json!([]))
        );
        // A 404 for a write is not a read of an absent key: unknown.
        assert!(matches!(
            classify(&System::RaftNode, &op(OpKind::Write("1".into())), &Value::Null, r),
            Outcome::Info(_)
        ));
    }

    #[test]
    fn fail_only_when_the_server_proves_nothing_was_applied() {
        let w = op(OpKind::Write("1".into()));
        for code in ["not_leader", "not_applied", "bad_request"] {
            let r = resp(421, json!({"error": code, "message": "", "leader": null}));
            assert_eq!(classify(&System::RaftNode, &w, &Value::Null, r), Outcome::Fail(code.into()));
        }
        let cas = op(OpKind::Cas { from: Some("1".into()), to: "2".into() });
        assert_eq!(
            classify(
                &System::RaftNode,
                &cas,
                &Value::Null,
                resp(200, json!({"applied": false, "value": "3"}))
            ),
            Outcome::Fail("cas mismatch".into())
        );
        assert!(matches!(
            classify(&System::RaftNode, &w, &Value::Null, Err(Transport::NotSent("refused".into()))),
            Outcome::Fail(_)
        ));
    }

    #[test]
    fn everything_else_is_info() {
        let w = op(OpKind::Append("1".into()));
        for code in ["timeout", "unavailable", "something_new"] {
            assert_eq!(
                classify(&System::RaftNode, &w, &json!([]), resp(503, json!({"error": code}))),
                Outcome::Info(code.into())
            );
        }
        assert_eq!(
            classify(&System::RaftNode, &w, &json!([]), Err(Transport::Timeout)),
            Outcome::Info("timeout".into())
        );
        assert!(matches!(
            classify(&System::RaftNode, &w, &json!([]), Err(Transport::Lost("reset".into()))),
            Outcome::Info(_)
        ));
        assert!(matches!(
            classify(
                &System::RaftNode,
                &w,
                &json!([]),
                Ok(Reply::Http(Response { status: 502, body: None }))
            ),
            Outcome::Info(_)
        ));
        // A 2xx whose body lacks the fields we need is not proof of anything.
        assert!(matches!(
            classify(&System::RaftNode, &op(OpKind::Read), &Value::Null, resp(200, json!({}))),
            Outcome::Info(_)
        ));
    }

    #[test]
    fn etcd_answers_go_through_the_same_classifier() {
        let etcd = System::Etcd(crate::etcd::EtcdOptions::default());
        let w = op(OpKind::Write("1".into()));
        // Transport: a timed-out or reset write is unknown, a refused connection proves nothing left.
        assert_eq!(
            classify(&etcd, &w, &Value::Null, Err(Transport::Timeout)),
            Outcome::Info("timeout".into())
        );
        assert!(matches!(
            classify(&etcd, &w, &Value::Null, Err(Transport::Lost("reset".into()))),
            Outcome::Info(_)
        ));
        assert!(matches!(
            classify(&etcd, &w, &Value::Null, Err(Transport::NotSent("refused".into()))),
            Outcome::Fail(_)
        ));
        let header = json!({"header": {"member_id": "1", "revision": "2", "raft_term": "2"}});
        assert_eq!(classify(&etcd, &w, &Value::Null, resp(200, header.clone())), Outcome::Ok(json!("1")));
        let unavailable = json!({"error": "etcdserver: request timed out", "code": 14,
            "message": "etcdserver: request timed out"});
        assert!(matches!(
            classify(&etcd, &w, &Value::Null, resp(503, unavailable.clone())),
            Outcome::Info(_)
        ));
        // The same answer to a read: the read had no effect.
        assert!(matches!(
            classify(&etcd, &op(OpKind::Read), &Value::Null, resp(503, unavailable)),
            Outcome::Fail(_)
        ));
        assert_eq!(
            classify(&etcd, &op(OpKind::Read), &Value::Null, resp(200, header)),
            Outcome::Ok(Value::Null)
        );
    }

    #[test]
    fn shim_and_maelstrom_answers_go_through_the_same_classifier() {
        let text = "[node]\ncommand = [\"x\"]\n[client]\nkind = \"shim\"\ncommand = [\"s\"]\n";
        let shim =
            System::described(crate::systemfile::SystemFile::parse(text, std::path::Path::new("f")).unwrap());
        let w = op(OpKind::Write("1".into()));
        let line = |v: Value| Ok(Reply::Json(v));
        assert_eq!(
            classify(&shim, &w, &Value::Null, line(json!({"id": 1, "type": "ok"}))),
            Outcome::Ok(json!("1"))
        );
        assert_eq!(
            classify(&shim, &w, &Value::Null, line(json!({"id": 1, "type": "fail", "error": "no"}))),
            Outcome::Fail("no".into())
        );
        // A shim that crashed with the request, or did not answer in time: unknown.
        assert!(matches!(
            classify(&shim, &w, &Value::Null, Err(Transport::Lost("exited".into()))),
            Outcome::Info(_)
        ));
        assert!(matches!(classify(&shim, &w, &Value::Null, Err(Transport::Timeout)), Outcome::Info(_)));
        let m = System::Maelstrom;
        let err = |code: u64| line(json!({"type": "error", "code": code}));
        assert!(matches!(classify(&m, &w, &Value::Null, err(22)), Outcome::Fail(_)));
        assert!(matches!(classify(&m, &w, &Value::Null, err(11)), Outcome::Fail(_)));
        assert!(matches!(classify(&m, &w, &Value::Null, err(0)), Outcome::Info(_)));
        assert!(matches!(classify(&m, &w, &Value::Null, err(13)), Outcome::Info(_)));
        // A node that was down when the request was due: nothing was delivered.
        assert!(matches!(
            classify(&m, &w, &Value::Null, Err(Transport::NotSent("down".into()))),
            Outcome::Fail(_)
        ));
    }
}
