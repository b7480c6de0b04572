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

/// Where a slot stands.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Slot {
    /// Free from this run time (ns) on.
    FreeAt(u64),
    /// An operation is in flight.
    Busy,
    /// The generator is done with it.
    Closed,
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
    let mut slots = vec![Slot::FreeAt(0); senders.len()];
    let mut in_flight = 0usize;
    loop {
        // Hand out operations to every free slot whose time has come.
        let now = recorder.now();
        let mut wake: Option<u64> = None;
        for slot in 0..slots.len() {
            let Slot::FreeAt(free_at) = slots[slot] else { continue };
            if free_at > now {
                wake = Some(wake.map_or(free_at, |w| w.min(free_at)));
                continue;
            }
            let ctx = Context { time: now, process: table.process(slot), in_flight };
            match generator.next(&ctx) {
                Next::Op(op) => {
                    let node = op.node.unwrap_or(table.node(slot)).min(names.len() - 1);
                    let a = Assignment { process: ctx.process, node, op };
                    // The worker is idle (its slot was free) and its channel holds one: this cannot
                    // wait. A worker that is gone has stopped with the run.
                    let sent = senders[slot].as_ref().is_some_and(|tx| tx.try_send(a).is_ok());
                    if !sent {
                        stop.fail(format!("client worker {slot} is gone"));
                        break;
                    }
                    slots[slot] = Slot::Busy;
                    in_flight += 1;
                }
                Next::Pending { until } => wake = Some(wake.map_or(until, |w| w.min(until))),
                Next::Done => {
                    slots[slot] = Slot::Closed;
                    senders[slot] = None;
                }
            }
        }
        if slots.iter().all(|s| *s == Slot::Closed) || stop.is_stopped() {
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
                slots[slot] = match outcome {
                    Ok(Outcome::Ok(_)) => Slot::FreeAt(now),
                    Ok(Outcome::Fail(_)) => Slot::FreeAt(now + FAIL_BACKOFF.as_nanos() as u64),
                    Ok(Outcome::Info(_)) => {
                        table.retire(slot);
                        Slot::FreeAt(now)
                    }
                    Err(e) => {
                        stop.fail(e);
                        break;
                    }
                };
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
            key: Some(op.key.clone()),
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
