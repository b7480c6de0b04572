//! Real raft-node processes on loopback: elections, every operation, crash and restart, WAL damage,
//! bad requests, sessions and leader hints.
//!
//! Each test starts its own processes on ports it reserved and data directories of its own; a
//! [`Cluster`] kills (SIGKILL) and reaps exactly the children it spawned when it is dropped, also when
//! the test fails.

// Test helpers outside #[test] functions: a failed unwrap is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use std::fs;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_raft-node");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Cluster {
    n: usize,
    peer_ports: Vec<u16>,
    client_ports: Vec<u16>,
    dir: tempfile::TempDir,
    children: Vec<Option<Child>>,
    extra: Vec<String>,
    http: reqwest::Client,
}

impl Cluster {
    fn start(n: usize, extra: &[&str]) -> Cluster {
        let mut c = Cluster {
            n,
            peer_ports: (0..n).map(|_| free_port()).collect(),
            client_ports: (0..n).map(|_| free_port()).collect(),
            dir: tempfile::tempdir().unwrap(),
            children: (0..n).map(|_| None).collect(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap(),
        };
        for id in 1..=n {
            c.spawn(id);
        }
        c
    }

    fn list(ports: &[u16]) -> String {
        ports
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{}=127.0.0.1:{p}", i + 1))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn data_dir(&self, id: usize) -> PathBuf {
        self.dir.path().join(format!("n{id}"))
    }

    fn stderr_path(&self, id: usize) -> PathBuf {
        self.dir.path().join(format!("n{id}.stderr"))
    }

    fn command(&self, id: usize) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(["--id", &id.to_string()])
            .args(["--peers", &Cluster::list(&self.peer_ports)])
            .args(["--client-addrs", &Cluster::list(&self.client_ports)])
            .arg("--data-dir")
            .arg(self.data_dir(id))
            .args(["--tick-ms", "10"])
            .args(&self.extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null());
        let log = fs::OpenOptions::new().create(true).append(true).open(self.stderr_path(id)).unwrap();
        cmd.stderr(log);
        cmd
    }

    fn spawn(&mut self, id: usize) {
        let child = self.command(id).spawn().unwrap();
        self.children[id - 1] = Some(child);
    }

    fn kill(&mut self, id: usize) {
        if let Some(mut c) = self.children[id - 1].take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    fn url(&self, id: usize, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.client_ports[id - 1])
    }

    async fn status(&self, id: usize) -> Option<Value> {
        let r = self.http.get(self.url(id, "/status")).send().await.ok()?;
        r.json().await.ok()
    }

    /// Waits until a live node reports itself leader and the others that are up agree.
    async fn leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            for id in 1..=self.n {
                if self.children[id - 1].is_none() {
                    continue;
                }
                if let Some(s) = self.status(id).await
                    && s["role"] == "leader"
                {
                    return id;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no leader within 15 s; logs in {}", self.dir.path().display());
    }

    async fn call(&self, id: usize, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self.http.request(m, self.url(id, path));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Retries a call on whichever node is leader until it gets a 2xx or 404 (for elections in progress).
    async fn call_leader(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let l = self.leader().await;
            let (s, v) = self.call(l, method, path, body.clone()).await;
            if (200..300).contains(&s) || s == 404 || Instant::now() > deadline {
                return (s, v);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs a node to completion (for a node that must refuse to start) and returns (exit code, stderr).
    fn run_to_exit(&self, id: usize) -> (Option<i32>, String) {
        let mut child = self.command(id).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let code = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("node {id} did not exit");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        (code, fs::read_to_string(self.stderr_path(id)).unwrap())
    }

    /// A one-node cluster that acknowledged five writes (`k0`..`k4` = `v`) and was then killed; returns
    /// it with the path of its newest WAL segment and that segment's bytes, for corruption tests.
    async fn five_writes_then_killed() -> (Cluster, PathBuf, Vec<u8>) {
        let mut c = Cluster::start(1, &[]);
        c.leader().await;
        for i in 0..5 {
            assert_eq!(c.call(1, "PUT", &format!("/kv/k{i}"), Some(json!({"value": "v"}))).await.0, 200);
        }
        c.kill(1);
        let seg = c.newest_segment(1);
        let bytes = fs::read(&seg).unwrap();
        (c, seg, bytes)
    }

    fn newest_segment(&self, id: usize) -> PathBuf {
        let mut segs: Vec<_> =
            fs::read_dir(self.data_dir(id).join("wal")).unwrap().map(|e| e.unwrap().path()).collect();
        segs.sort();
        segs.pop().unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for id in 1..=self.n {
            self.kill(id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_a_leader_and_serve_every_operation_with_sessions_and_leader_hints() {
    let c = Cluster::start(3, &[]);
    let l = c.leader().await;
    let f = if l == 1 { 2 } else { 1 };

    assert_eq!(c.call(l, "GET", "/kv/a", None).await.0, 404);
    let (s, put) = c.call(l, "PUT", "/kv/a", Some(json!({"value": "1"}))).await;
    assert_eq!(s, 200, "{put}");
    assert!(put["index"].as_u64().unwrap() >= 2 && put["term"].as_u64().unwrap() >= 1, "{put}");
    assert_eq!(c.call(l, "GET", "/kv/a", None).await, (200, json!({"value": "1"})));

    let (s, cas) = c.call(l, "POST", "/kv/a/cas", Some(json!({"from": "1", "to": "2"}))).await;
    assert_eq!((s, &cas["applied"], &cas["value"]), (200, &json!(true), &json!("2")));
    let (s, cas) = c.call(l, "POST", "/kv/a/cas", Some(json!({"from": "1", "to": "3"}))).await;
    assert_eq!((s, &cas["applied"], &cas["value"]), (200, &json!(false), &json!("2")));
    let (s, cas) = c.call(l, "POST", "/kv/new/cas", Some(json!({"from": null, "to": "x"}))).await;
    assert_eq!((s, &cas["applied"]), (200, &json!(true)));

    for v in ["x", "y"] {
        assert_eq!(c.call(l, "POST", "/kv/list/append", Some(json!({"value": v}))).await.0, 200);
    }
    assert_eq!(c.call(l, "GET", "/kv/list", None).await, (200, json!({"value": ["x", "y"]})));
    assert_eq!(c.call(l, "DELETE", "/kv/a", None).await.0, 200);
    assert_eq!(c.call(l, "GET", "/kv/a", None).await.0, 404);

    // Exactly once: a retried (client_id, seq) returns the first result and appends only once.
    let body = json!({"value": "z", "client_id": "c1", "seq": 1});
    let first = c.call(l, "POST", "/kv/list/append", Some(body.clone())).await;
    let retry = c.call(l, "POST", "/kv/list/append", Some(body)).await;
    assert_eq!(first.0, 200);
    assert_eq!(first, retry);
    assert_eq!(c.call(l, "GET", "/kv/list", None).await, (200, json!({"value": ["x", "y", "z"]})));

    // A follower refuses writes and linearizable reads with the leader's client address.
    let leader_addr = format!("127.0.0.1:{}", c.client_ports[l - 1]);
    let (s, e) = c.call(f, "PUT", "/kv/b", Some(json!({"value": "1"}))).await;
    assert_eq!((s, &e["error"], &e["leader"]), (421, &json!("not_leader"), &json!(leader_addr)), "{e}");
    let (s, e) = c.call(f, "GET", "/kv/list", None).await;
    assert_eq!((s, &e["error"]), (421, &json!("not_leader")));
    // ... but serves stale reads, once it has applied the list.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (s, v) = c.call(f, "GET", "/kv/list?stale=true", None).await;
        if v == json!({"value": ["x", "y", "z"], "stale": true}) {
            break;
        }
        assert!(Instant::now() < deadline, "follower never caught up: {s} {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Status and the committed log agree across nodes.
    let st = c.status(f).await.unwrap();
    assert_eq!(st["leader"], json!(l));
    assert_eq!(st["leader_addr"], json!(leader_addr));
    let (_, log) = c.call(l, "GET", "/debug/log?from=1", None).await;
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries[0]["command"], Value::Null, "the leader's noop comes first: {log}");
    assert!(entries.iter().any(|e| e["command"] == json!({"op": "put", "key": "a", "value": "1"})), "{log}");
    let (_, flog) = c.call(f, "GET", "/debug/log?from=1", None).await;
    let n = flog["entries"].as_array().unwrap().len();
    assert_eq!(flog["entries"].as_array().unwrap()[..], entries[..n]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_and_restart_of_the_leader_loses_no_acknowledged_write() {
    let mut c = Cluster::start(3, &[]);
    let l = c.leader().await;
    // Concurrent writes, so acknowledgements come from group commits.
    let mut acked = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (url, http) = (c.url(l, &format!("/kv/k{i}")), c.http.clone());
        tasks.push(tokio::spawn(async move {
            let r = http.put(url).json(&json!({"value": format!("v{i}")})).send().await.unwrap();
            (i, r.status().as_u16())
        }));
    }
    for t in tasks {
        let (i, s) = t.await.unwrap();
        if s == 200 {
            acked.push(i);
        }
    }
    assert_eq!(acked.len(), 40, "a healthy cluster acknowledges every write");
    c.kill(l);
    let l2 = c.leader().await;
    assert_ne!(l2, l);
    for &i in &acked {
        let (s, v) = c.call_leader("GET", &format!("/kv/k{i}"), None).await;
        assert_eq!((s, v), (200, json!({"value": format!("v{i}")})), "acknowledged k{i} lost");
    }
    // The old leader restarts from its WAL, rejoins and holds every acknowledged write too.
    c.spawn(l);
    let deadline = Instant::now() + Duration::from_secs(10);
    for &i in &acked {
        loop {
            // Connection refused until the restarted node listens; 404 until it has caught up.
            let r = c.http.get(c.url(l, &format!("/kv/k{i}?stale=true"))).send().await;
            if let Ok(r) = r
                && r.status() == 200
            {
                let v: Value = r.json().await.unwrap();
                assert_eq!(v["value"], json!(format!("v{i}")));
                break;
            }
            assert!(Instant::now() < deadline, "restarted node lacks k{i}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_wal_tail_is_truncated_with_a_warning_and_the_node_serves_again() {
    let (mut c, seg, mut bytes) = Cluster::five_writes_then_killed().await;
    // A crash in the middle of a write: a record header announcing 100 bytes, and only 10 of them.
    let good = bytes.len();
    bytes.extend_from_slice(&100u32.to_le_bytes());
    bytes.extend_from_slice(&0xdead_beefu32.to_le_bytes());
    bytes.extend_from_slice(&[7; 10]);
    fs::write(&seg, &bytes).unwrap();
    c.spawn(1);
    c.leader().await;
    for i in 0..5 {
        assert_eq!(c.call_leader("GET", &format!("/kv/k{i}"), None).await, (200, json!({"value": "v"})));
    }
    assert_eq!(c.call(1, "PUT", "/kv/after", Some(json!({"value": "w"}))).await.0, 200);
    let log = fs::read_to_string(c.stderr_path(1)).unwrap();
    assert!(log.contains("truncating a torn record"), "{log}");
    assert!(fs::metadata(&seg).unwrap().len() as usize > good, "new writes follow the truncated tail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_wal_is_refused_with_a_message_naming_file_and_offset() {
    let (c, seg, mut bytes) = Cluster::five_writes_then_killed().await;
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    fs::write(&seg, &bytes).unwrap();
    let (code, stderr) = c.run_to_exit(1);
    assert_eq!(code, Some(1), "{stderr}");
    let line =
        stderr.lines().find(|l| l.starts_with("raft-node: error:")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.contains(&seg.display().to_string()) && line.contains("corrupt record at byte"), "{line}");
    assert_eq!(fs::read(&seg).unwrap(), bytes, "nothing was truncated or deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_4xx_with_a_message_and_the_node_keeps_serving() {
    let c = Cluster::start(1, &["--max-body-bytes", "1024"]);
    c.leader().await;
    let raw = |method: &str, path: &str, ctype: Option<&str>, body: String| {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = c.http.request(m, c.url(1, path)).body(body);
        if let Some(ct) = ctype {
            rb = rb.header("content-type", ct);
        }
        async move {
            let r = rb.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let json_ct = Some("application/json");
    let cases = [
        raw("PUT", "/kv/a", json_ct, "{\"value\": ".into()).await,
        raw("PUT", "/kv/a", json_ct, "{\"val\": \"1\"}".into()).await,
        raw("PUT", "/kv/a", json_ct, "{\"value\": \"1\", \"x\": 1}".into()).await,
        raw("PUT", "/kv/a", json_ct, format!("{{\"value\": \"{}\"}}", "v".repeat(4096))).await,
        raw("PUT", "/kv/a", Some("text/plain"), "{\"value\": \"1\"}".into()).await,
        raw("POST", "/kv/a/cas", json_ct, "{\"to\": \"1\"}".into()).await,
        raw("GET", "/kv/a?stale=yes", None, String::new()).await,
        raw("GET", "/nowhere", None, String::new()).await,
        raw("POST", "/kv/l/append", json_ct, "{\"value\": \"1\", \"x\": 1}".into()).await,
        raw("DELETE", "/kv/a", json_ct, "{\"client_id\": \"c\"}".into()).await,
        raw("DELETE", "/kv/a", json_ct, "{\"seq\": 1, \"x\": 1}".into()).await,
        raw("PUT", "/kv/", json_ct, "{\"value\": \"1\"}".into()).await,
    ];
    let expected = [400, 422, 422, 413, 415, 422, 400, 404, 422, 422, 422, 404];
    for ((status, body), want) in cases.iter().zip(expected) {
        assert_eq!(*status, want, "{body}");
        assert_eq!(body["error"], "bad_request", "{body}");
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
    assert_eq!(c.call(1, "PUT", "/kv/a", Some(json!({"value": "ok"}))).await.0, 200);
    assert_eq!(c.call(1, "GET", "/kv/a", None).await, (200, json!({"value": "ok"})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_compact_the_wal_and_a_restart_recovers_from_them() {
    let mut c = Cluster::start(1, &["--snapshot-threshold", "20"]);
    c.leader().await;
    for i in 0..50 {
        assert_eq!(c.call(1, "POST", "/kv/l/append", Some(json!({"value": i.to_string()}))).await.0, 200);
    }
    let st = c.status(1).await.unwrap();
    assert!(st["snapshot_index"].as_u64().unwrap() >= 20, "{st}");
    let segments = fs::read_dir(c.data_dir(1).join("wal")).unwrap().count();
    assert_eq!(segments, 1, "older segments are removed after a snapshot");
    c.kill(1);
    c.spawn(1);
    c.leader().await;
    let (s, v) = c.call_leader("GET", "/kv/l", None).await;
    let want: Vec<String> = (0..50).map(|i| i.to_string()).collect();
    assert_eq!((s, v), (200, json!({"value": want})));
}

/// The planted `early-ack` bug answers a write the leader has only appended: with both followers
/// gone the write can never commit, yet the client is told it applied. Without the bug the same write
/// is not acknowledged. Long election timeouts keep the lone leader in office during the check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_ack_bug_acknowledges_a_write_that_cannot_commit() {
    for (bug, want_ack) in [(true, true), (false, false)] {
        let mut args =
            vec!["--election-ticks", "100", "--heartbeat-ticks", "3", "--request-timeout-ms", "500"];
        if bug {
            args.extend(["--bug", "early-ack"]);
        }
        let mut c = Cluster::start(3, &args);
        let l = c.leader().await;
        for f in (1..=3).filter(|&f| f != l) {
            c.kill(f);
        }
        let (s, v) = c.call(l, "PUT", "/kv/lonely", Some(json!({"value": "1"}))).await;
        assert_eq!(s == 200, want_ack, "early-ack={bug}: {s} {v}");
        if !want_ack {
            assert!(s == 504 || s == 421, "{s} {v}");
        }
    }
}

/// The planted `lazy-persist` bug acknowledges before the WAL write is durable, so a SIGKILL right
/// after an acknowledgement loses it (unless the 500 ms flush happened in between, hence three tries).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazy_persist_bug_loses_an_acknowledged_write_on_sigkill() {
    let mut c = Cluster::start(1, &["--bug", "lazy-persist"]);
    let mut lost = false;
    for attempt in 0..3 {
        c.leader().await;
        let key = format!("/kv/k{attempt}");
        assert_eq!(c.call(1, "PUT", &key, Some(json!({"value": "v"}))).await.0, 200);
        c.kill(1);
        c.spawn(1);
        c.leader().await;
        if c.call_leader("GET", &key, None).await.0 == 404 {
            lost = true;
            break;
        }
    }
    assert!(lost, "three acknowledged writes all survived SIGKILL under lazy-persist");
}

/// `POST /txn` applies micro-operations over several keys atomically through the log: reads see the
/// state before the transaction plus its own earlier writes; followers refuse it with a leader hint;
/// the committed log holds it as one entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_apply_atomically_through_the_log() {
    let c = Cluster::start(3, &[]);
    let l = c.leader().await;
    let f = if l == 1 { 2 } else { 1 };
    let t1 =
        json!({"ops": [{"f": "append", "key": "x", "value": "1"}, {"f": "w", "key": "y", "value": "a"}]});
    let (s, v) = c.call(l, "POST", "/txn", Some(t1.clone())).await;
    assert_eq!((s, &v["results"]), (200, &json!([null, null])), "{v}");
    let t2 = json!({"ops": [
        {"f": "r", "key": "x"}, {"f": "append", "key": "x", "value": "2"}, {"f": "r", "key": "x"},
        {"f": "r", "key": "y"}, {"f": "r", "key": "z"}
    ]});
    let (s, v) = c.call(l, "POST", "/txn", Some(t2)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["results"], json!([["1"], null, ["1", "2"], "a", null]));
    assert_eq!(c.call(l, "GET", "/kv/x", None).await, (200, json!({"value": ["1", "2"]})));
    let (s, e) = c.call(f, "POST", "/txn", Some(t1)).await;
    assert_eq!((s, &e["error"]), (421, &json!("not_leader")), "{e}");
    let (s, e) = c.call(l, "POST", "/txn", Some(json!({"ops": []}))).await;
    assert_eq!((s, &e["error"]), (422, &json!("bad_request")), "{e}");
    let (s, e) = c.call(l, "POST", "/txn", Some(json!({"ops": [{"f": "cas", "key": "x"}]}))).await;
    assert_eq!((s, &e["error"]), (422, &json!("bad_request")), "{e}");
    let (_, log) = c.call(l, "GET", "/debug/log?from=1", None).await;
    let txns: Vec<&Value> =
        log["entries"].as_array().unwrap().iter().filter(|e| e["command"]["op"] == "txn").collect();
    assert_eq!(txns.len(), 2, "{log}");
    assert!(txns[0]["command"].get("key").is_none(), "{log}");
}

/// The planted `txn-local-read` bug answers a transaction's reads from the leader's state when it is
/// proposed. Two transactions proposed while the followers are down commit together once they
/// return; the second is later in the log than the first's append, yet with the bug it reports not
/// having seen it. Without the bug it reads what its place in the log holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn txn_local_read_bug_reads_before_the_log_position() {
    for bug in [true, false] {
        let mut args =
            vec!["--election-ticks", "100", "--heartbeat-ticks", "3", "--request-timeout-ms", "10000"];
        if bug {
            args.extend(["--bug", "txn-local-read"]);
        }
        let mut c = Cluster::start(3, &args);
        let l = c.leader().await;
        let followers: Vec<usize> = (1..=3).filter(|&f| f != l).collect();
        for &f in &followers {
            c.kill(f);
        }
        let post = |body: Value| {
            let (http, url) = (c.http.clone(), c.url(l, "/txn"));
            tokio::spawn(async move {
                let r = http.post(url).json(&body).send().await.unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            })
        };
        let first = post(json!({"ops": [{"f": "append", "key": "x", "value": "1"}]}));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let second = post(json!({"ops": [{"f": "r", "key": "x"}]}));
        tokio::time::sleep(Duration::from_millis(100)).await;
        for &f in &followers {
            c.spawn(f);
        }
        let (first, second) = (first.await.unwrap(), second.await.unwrap());
        assert_eq!((first.0, second.0), (200, 200), "{first:?} {second:?}");
        assert!(second.1["index"].as_u64() > first.1["index"].as_u64(), "{first:?} {second:?}");
        let want = if bug { json!([null]) } else { json!([["1"]]) };
        assert_eq!(second.1["results"], want, "txn-local-read={bug}");
    }
}
