//! Shim clients: a program of the user's, in any language, one process per client, that performs
//! operations against the system under test and says how each ended.
//!
//! The protocol is JSON lines. Faultline writes one request per line on the shim's stdin and waits
//! for the answer with the same `id` on its stdout before it sends the next:
//!
//! ```text
//! -> {"id": 7, "f": "write", "key": "k3", "value": "5", "node": "n2", "addr": "127.0.0.1:8002"}
//! <- {"id": 7, "type": "ok"}
//! -> {"id": 8, "f": "read", "key": "k3", "value": null, "node": "n2", "addr": "127.0.0.1:8002"}
//! <- {"id": 8, "type": "ok", "value": "5"}
//! -> {"id": 9, "f": "cas", "key": "k3", "value": ["5", "6"], "node": "n1", "addr": "127.0.0.1:8001"}
//! <- {"id": 9, "type": "fail", "error": "precondition failed"}
//! ```
//!
//! `f` is `read`, `write`, `cas` or `append`; `value` is null for a read, the string written or
//! appended, or `[from, to]` for a cas (`from` null: the key must be absent). `node` and `addr` name
//! the node to send it to (its client address). The answer's `type` is `ok` (done; a read's `value`
//! is what it read: a string or null for a register, a list of strings for append), `fail` (certainly
//! not done) or `info` (unknown), with an optional `error`. The shim decides the type, because only it
//! knows its system; [`answer`] reads it and [`crate::client::classify`] records it.
//!
//! A shim that exits, or does not answer within the operation timeout, turns its operation into
//! `info` and is killed; the next operation starts a fresh one. Its stderr is appended to
//! `clients/c<slot>.stderr.log` in the run directory. Shims run with `kill_on_drop`, so a client that
//! goes away takes its shim with it, and a shim whose stdin closes (the harness died) should exit.

use crate::protocol::{Answer, Transport};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use workloads::{Op, OpKind};

/// The request line of operation `id` (without the newline).
pub fn request_line(id: u64, op: &Op, node: &str, addr: &str) -> String {
    json!({"id": id, "f": op.f(), "key": op.key, "value": op.invoke_value(), "node": node, "addr": addr})
        .to_string()
}

/// What a shim's answer says about `op`.
pub fn answer(op: &Op, empty_read: &Value, reply: &Value) -> Answer {
    let error = || reply.get("error").and_then(Value::as_str).map(str::to_string);
    match reply.get("type").and_then(Value::as_str) {
        Some("ok") => match &op.kind {
            OpKind::Read => match reply.get("value") {
                None | Some(Value::Null) => Answer::Ok(empty_read.clone()),
                Some(v) => Answer::Ok(v.clone()),
            },
            OpKind::Write(_) | OpKind::Cas { .. } | OpKind::Append(_) => Answer::Ok(op.invoke_value()),
            // Shim files are refused transactional workloads up front (`System::check_workload`).
            OpKind::Txn(_) => Answer::Unknown("shim clients run no transactions".into()),
        },
        Some("fail") => Answer::NotApplied(error().unwrap_or_else(|| "the shim said fail".into())),
        Some("info") => Answer::Unknown(error().unwrap_or_else(|| "the shim said info".into())),
        other => Answer::Unknown(format!("the shim answered type {other:?} (expected ok, fail or info)")),
    }
}

/// One client's shim process, started on first use and after every crash or timeout.
#[derive(Debug)]
pub struct Shim {
    argv: Vec<String>,
    env: Vec<(String, String)>,
    stderr: PathBuf,
    timeout: Duration,
    running: Option<Running>,
    next_id: u64,
}

#[derive(Debug)]
struct Running {
    /// Held so that dropping the shim kills the process (`kill_on_drop`).
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Shim {
    /// A shim running `argv` with `env`, its stderr appended to `stderr`, each operation given
    /// `timeout`. Nothing starts until [`Shim::start`] or the first call.
    pub fn new(argv: Vec<String>, env: Vec<(String, String)>, stderr: PathBuf, timeout: Duration) -> Shim {
        Shim { argv, env, stderr, timeout, running: None, next_id: 1 }
    }

    /// Starts the process if it is not running.
    pub fn start(&mut self) -> std::io::Result<()> {
        if self.running.is_none() {
            let (child, stdin, stdout) = crate::signals::spawn_shim(&self.argv, &self.env, &self.stderr)?;
            self.running = Some(Running { _child: child, stdin, lines: BufReader::new(stdout).lines() });
        }
        Ok(())
    }

    /// Performs `op` on node `node` (client address `addr`): the shim's answer, or why none came.
    pub async fn call(&mut self, op: &Op, node: &str, addr: &str) -> Result<Value, Transport> {
        self.start()
            .map_err(|e| Transport::NotSent(format!("cannot start the shim {:?}: {e}", self.argv[0])))?;
        let id = self.next_id;
        self.next_id += 1;
        let mut line = request_line(id, op, node, addr);
        line.push('\n');
        let running = self.running.as_mut().expect("started above");
        if let Err(e) = async {
            running.stdin.write_all(line.as_bytes()).await?;
            running.stdin.flush().await
        }
        .await
        {
            // Nobody reads the pipe any more: the shim is gone and never saw this request.
            self.running = None;
            return Err(Transport::NotSent(format!("the shim's stdin is closed: {e}")));
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            match tokio::time::timeout_at(deadline, running.lines.next_line()).await {
                Err(_) => {
                    self.running = None;
                    return Err(Transport::Timeout);
                }
                Ok(Ok(Some(text))) => match serde_json::from_str::<Value>(&text) {
                    Ok(v) if v.get("id").and_then(Value::as_u64) == Some(id) => return Ok(v),
                    Ok(_) => {
                        tracing::warn!(shim = %self.argv[0], line = %text, "a shim answer for another request")
                    }
                    Err(_) => {
                        tracing::warn!(shim = %self.argv[0], line = %text, "shim output that is not JSON")
                    }
                },
                Ok(Ok(None)) => {
                    self.running = None;
                    return Err(Transport::Lost("the shim exited with the request in hand".into()));
                }
                Ok(Err(e)) => {
                    self.running = None;
                    return Err(Transport::Lost(format!("reading the shim's answer: {e}")));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(kind: OpKind) -> Op {
        Op { key: "k1".into(), kind, node: None }
    }

    #[test]
    fn requests_carry_the_operation_and_where_to_send_it() {
        let line = request_line(3, &op(OpKind::Cas { from: None, to: "2".into() }), "n2", "127.0.0.1:8002");
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            v,
            json!({"id": 3, "f": "cas", "key": "k1", "value": [null, "2"], "node": "n2", "addr": "127.0.0.1:8002"})
        );
    }

    #[test]
    fn the_shim_decides_ok_fail_or_info() {
        let null = Value::Null;
        let read = op(OpKind::Read);
        assert_eq!(
            answer(&read, &null, &json!({"id": 1, "type": "ok", "value": "4"})),
            Answer::Ok(json!("4"))
        );
        assert_eq!(
            answer(&read, &json!([]), &json!({"id": 1, "type": "ok", "value": null})),
            Answer::Ok(json!([]))
        );
        let w = op(OpKind::Write("9".into()));
        assert_eq!(answer(&w, &null, &json!({"type": "ok"})), Answer::Ok(json!("9")));
        assert_eq!(answer(&w, &null, &json!({"type": "fail", "error": "x"})), Answer::NotApplied("x".into()));
        assert!(matches!(answer(&w, &null, &json!({"type": "info"})), Answer::Unknown(_)));
        assert!(matches!(answer(&w, &null, &json!({"type": "maybe"})), Answer::Unknown(_)));
    }

    #[tokio::test]
    async fn a_shim_that_hangs_or_dies_is_restarted_and_its_operation_is_unknown() {
        let dir = tempfile::tempdir().unwrap();
        // Answers ok once, then hangs on the second request; a fresh start answers again.
        let script = "n=0; while read line; do n=$((n+1)); id=$(echo \"$line\" | sed 's/.*\"id\": *\\([0-9]*\\).*/\\1/'); \
                      if [ $n -eq 2 ]; then sleep 30; fi; echo \"{\\\"id\\\": $id, \\\"type\\\": \\\"ok\\\"}\"; done";
        let argv = vec!["sh".to_string(), "-c".to_string(), script.to_string()];
        let mut shim =
            Shim::new(argv, Vec::new(), dir.path().join("c0.stderr.log"), Duration::from_millis(500));
        let w = op(OpKind::Write("1".into()));
        assert_eq!(shim.call(&w, "n1", "a").await.unwrap()["type"], "ok");
        assert_eq!(shim.call(&w, "n1", "a").await, Err(Transport::Timeout));
        assert_eq!(shim.call(&w, "n1", "a").await.unwrap()["type"], "ok");
        // A shim that exits with the request in hand.
        let argv = vec!["sh".to_string(), "-c".to_string(), "read line; exit 3".to_string()];
        let mut shim = Shim::new(argv, Vec::new(), dir.path().join("c1.stderr.log"), Duration::from_secs(5));
        assert!(matches!(shim.call(&w, "n1", "a").await, Err(Transport::Lost(_))));
        // A program that cannot start: nothing was sent.
        let mut shim = Shim::new(
            vec!["/nonexistent/shim".into()],
            Vec::new(),
            dir.path().join("c2"),
            Duration::from_secs(1),
        );
        assert!(matches!(shim.call(&w, "n1", "a").await, Err(Transport::NotSent(_))));
    }
}
