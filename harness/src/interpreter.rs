//! The interpreter: one task owns the generator and the process table and hands operations to the
//! client workers (Jepsen's `generator/interpreter.clj`, as tokio tasks).
//!
//! Each worker is one client slot with its own HTTP client and a bounded channel of assignments. The
//! interpreter asks the generator for an operation whenever a slot is free and its time has come,
//! sends it to that slot's worker, and waits for whichever comes first: a completion, the time a
//! rate-limited generator said to come back, the end of a failed operation's back-off, or the run's
//! [`Stop`]. Nothing polls and nothing naps: every wait is on a channel or a deadline.
//!
//! Workers record the invocation just before the request and the completion just after it, so the
//! history's times are the client's own. A completion of `info` retires the process (its operation
//! may still take effect, so the process may never invoke again) and the slot continues as a fresh
//! process; a `fail` backs the slot off briefly, since during an election every attempt fails at once.

use crate::client::{Outcome, ProcessClient};
use crate::nodes::NodeSpec;
use crate::recorder::{Draft, Recorder};
use crate::stop::Stop;
use checker::history::{EventType, Process};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use workloads::{Context, Generator, Next, Op, ProcessTable};

/// Pause of a slot after a failed operation (during elections every attempt fails at once).
const FAIL_BACKOFF: Duration = Duration::from_millis(20);

/// One operation for one worker.
#[derive(Debug)]
struct Assignment {
    process: u64,
    node: usize,
    op: Op,
}

/// What a worker reports back.
#[derive(Debug)]
struct Completion {
    slot: usize,
    /// The outcome, or why the history could not be written.
    outcome: Result<Outcome, String>,
}

/// Drives `generator` to its end with one worker per slot of `table`; returns the generator (the
/// final reads need its keys). `clients[i]` is slot `i`'s client. Stops early, with the reason in
/// `stop`, if any worker cannot record.
pub async fn drive(
    mut generator: Box<dyn Generator>,
    table: &mut ProcessTable,
    clients: Vec<ProcessClient>,
    nodes: &[NodeSpec],
    recorder: Arc<Recorder>,
    stop: &Stop,
) -> Box<dyn Generator> {
    let names: Arc<[String]> = nodes.iter().map(|n| n.name.clone()).collect();
    let (done_tx, mut done_rx) = mpsc::channel::<Completion>(clients.len().max(1));
    let mut workers = JoinSet::new();
    let mut senders: Vec<Option<mpsc::Sender<Assignment>>> = Vec::new();
    for (slot, client) in clients.into_iter().enumerate() {
        let (tx, rx) = mpsc::channel(1);
        senders.push(Some(tx));
        workers.spawn(worker(slot, client, rx, done_tx.clone(), recorder.clone(), names.clone()));
    }
    drop(done_tx);
    // Free slots in the order they became free, each with the time it may invoke again. Asking
    // them in this order is what keeps a rate-limited generator fair: the slot that has waited
    // longest gets the next operation, as the worker that woke first did when workers raced for it.
    let mut free: VecDeque<(usize, u64)> = (0..senders.len()).map(|slot| (slot, 0)).collect();
    let mut open = senders.len();
    let mut in_flight = 0usize;
    loop {
        // Hand out operations to every free slot whose time has come.
        let now = recorder.now();
        let mut wake: Option<u64> = None;
        let mut still_free = VecDeque::with_capacity(free.len());
        while let Some((slot, free_at)) = free.pop_front() {
            if free_at > now || stop.is_stopped() {
                wake = Some(wake.map_or(free_at, |w| w.min(free_at)));
                still_free.push_back((slot, free_at));
                continue;
            }
            let ctx = Context { time: now, process: table.process(slot), slot, in_flight };
            match generator.next(&ctx) {
                Next::Op(op) => {
                    let node = op.node.unwrap_or(table.node(slot)).min(names.len() - 1);
                    let a = Assignment { process: ctx.process, node, op };
                    // The worker is idle (its slot was free) and its channel holds one: this cannot
                    // wait. A worker that is gone has stopped with the run.
                    if senders[slot].as_ref().is_none_or(|tx| tx.try_send(a).is_err()) {
                        stop.fail(format!("client worker {slot} is gone"));
                    }
                    in_flight += 1;
                }
                Next::Pending { until } => {
                    wake = Some(wake.map_or(until, |w| w.min(until)));
                    still_free.push_back((slot, free_at));
                }
                Next::Done => {
                    senders[slot] = None;
                    open -= 1;
                }
            }
        }
        free = still_free;
        if open == 0 || stop.is_stopped() {
            break;
        }
        let sleep = wake.map(|w| tokio::time::sleep(Duration::from_nanos(w.saturating_sub(recorder.now()))));
        tokio::select! {
            biased;
            _ = stop.stopped() => break,
            done = done_rx.recv() => {
                let Some(Completion { slot, outcome }) = done else { break };
                in_flight -= 1;
                let now = recorder.now();
                let free_at = match outcome {
                    Ok(Outcome::Ok(_)) => now,
                    Ok(Outcome::Fail(_)) => now + FAIL_BACKOFF.as_nanos() as u64,
                    Ok(Outcome::Info(_)) => {
                        table.retire(slot);
                        now
                    }
                    Err(e) => {
                        stop.fail(e);
                        break;
                    }
                };
                free.push_back((slot, free_at));
            }
            _ = async { sleep.expect("guarded by the condition").await }, if sleep.is_some() => {}
        }
    }
    // Closing every channel lets idle workers end; busy ones end after their operation completes
    // (and is recorded), or at once when the run is stopping.
    senders.clear();
    while let Some(r) = workers.join_next().await {
        if let Err(e) = r {
            stop.fail(format!("a client worker failed: {e}"));
        }
    }
    generator
}

async fn worker(
    slot: usize,
    mut client: ProcessClient,
    mut assignments: mpsc::Receiver<Assignment>,
    done: mpsc::Sender<Completion>,
    recorder: Arc<Recorder>,
    names: Arc<[String]>,
) {
    while let Some(Assignment { process, node, op }) = assignments.recv().await {
        let draft = |kind, value, error| Draft {
            process: Process::Client(process),
            kind,
            f: op.f().to_string(),
            key: op.history_key().map(str::to_string),
            value,
            node: Some(names[node].clone()),
            error,
        };
        let outcome = async {
            recorder.record(draft(EventType::Invoke, op.invoke_value(), None)).map_err(|e| e.to_string())?;
            let (outcome, answered) = client.invoke(node, &op).await;
            let mut completion = match &outcome {
                Outcome::Ok(v) => draft(EventType::Ok, v.clone(), None),
                Outcome::Fail(e) => draft(EventType::Fail, op.invoke_value(), Some(e.clone())),
                Outcome::Info(e) => draft(EventType::Info, op.invoke_value(), Some(e.clone())),
            };
            // The completion names the node that answered (a redirect goes to the leader).
            completion.node = Some(names[answered].clone());
            recorder.record(completion).map_err(|e| e.to_string())?;
            Ok(outcome)
        }
        .await;
        if done.send(Completion { slot, outcome }).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::System;
    use checker::history::Process;
    use serde_json::Value;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use workloads::generator::{Rate, TimeLimit};
    use workloads::{Workload, WorkloadOptions};

    /// A node that answers every request at once with `200 {"value": null, "applied": true}`
    /// (HTTP/1.1 with keep-alive, just enough for reqwest).
    async fn instant_node() -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Ok(n) = conn.read(&mut chunk).await else { return };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        // Answer each complete request (head plus its Content-Length body).
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                            let len = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            if buf.len() < end + 4 + len {
                                break;
                            }
                            buf.drain(..end + 4 + len);
                            let body = r#"{"value":null,"applied":true}"#;
                            let resp = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            if conn.write_all(resp.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        addr
    }

    fn node(addr: std::net::SocketAddr) -> NodeSpec {
        NodeSpec {
            index: 0,
            name: "n1".into(),
            id: 1,
            listen_peer: addr,
            advertise_peer: None,
            listen_client: addr,
            peers_arg: String::new(),
            client_addrs_arg: String::new(),
            dir: std::path::PathBuf::new(),
            netns: None,
            peer_addrs: vec![addr],
        }
    }

    /// A regression test: the first interpreter asked its slots in index order, so under a rate
    /// limit slot 0 took nearly every operation and the planted-bug matrix saw one client instead of
    /// ten (stale-read found 2 of 3 times instead of every time). Each slot must get a fair share.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rate_limited_workload_is_spread_over_every_slot() {
        let addr = instant_node().await;
        let dir = tempfile::tempdir().unwrap();
        let recorder =
            Arc::new(Recorder::create(&dir.path().join("h.jsonl"), std::time::Instant::now()).unwrap());
        let slots = 5;
        let base = Workload::Register.generator(&WorkloadOptions::default(), 7).unwrap();
        let generator: Box<dyn Generator> = Box::new(TimeLimit::new(
            Rate::new(base, 200.0, 7),
            Duration::from_millis(1500).as_nanos() as u64,
        ));
        let urls: Arc<[String]> = vec![format!("http://{addr}")].into();
        let clients = (0..slots)
            .map(|_| ProcessClient::Http {
                client: crate::client::Client::new(System::RaftNode, Duration::from_secs(2), Value::Null)
                    .unwrap(),
                urls: urls.clone(),
            })
            .collect();
        let mut table = ProcessTable::new(slots, 1);
        let stop = Stop::new();
        drive(generator, &mut table, clients, &[node(addr)], recorder.clone(), &stop).await;
        assert_eq!(stop.failure(), None);
        let mut per_process = std::collections::BTreeMap::new();
        for e in recorder.take_events().iter().filter(|e| e.kind == EventType::Invoke) {
            let Process::Client(p) = e.process else { continue };
            *per_process.entry(p).or_insert(0usize) += 1;
        }
        let total: usize = per_process.values().sum();
        assert!(total >= 100, "too few operations to judge: {per_process:?}");
        assert_eq!(per_process.len(), slots, "some slot never invoked: {per_process:?}");
        let most = *per_process.values().max().unwrap();
        assert!(most * slots <= total * 2, "one slot took {most} of {total}: {per_process:?}");
    }
}
