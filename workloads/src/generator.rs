//! Generators: pure values that hand out operations at explicit times.
//!
//! The interpreter (the harness in a real run, [`simulate`] in tests) owns the clock and the worker
//! slots. Whenever a slot is free it asks the generator for the next operation with a [`Context`] that
//! says what time it is and which process is asking; the generator answers with an operation, with
//! "nothing before time T" ([`Next::Pending`]) or with "finished" ([`Next::Done`]). Because the time is
//! an argument, a generator never reads a clock and the same seed yields the same stream whether the
//! clock is real or simulated (Jepsen's `io.jepsen/generator` rewrite has the same shape).
//!
//! Combinators wrap a generator to bound it: [`TimeLimit`] ends the stream after a duration measured
//! from its first call, [`Rate`] spaces operations out with seeded jitter (Jepsen's `stagger`). Process
//! bookkeeping (which node a process talks to, the fresh process id after an `info`) lives in
//! [`ProcessTable`], so the rule "an indeterminate process never issues another operation" is one pure,
//! tested piece of code.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Nanoseconds since the start of the run, the only clock generators see.
pub type Nanos = u64;

/// One nanosecond-based second, for readable arithmetic.
pub const SECOND: Nanos = 1_000_000_000;

/// What an operation does. Written values are unique per run, so a read identifies the write it saw.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    /// Read the key (a register read or a whole-list read, depending on the workload).
    Read,
    /// Overwrite the register with a value.
    Write(String),
    /// Compare-and-set: `from = None` means "only if the key does not exist".
    Cas { from: Option<String>, to: String },
    /// Append a value to the list stored at the key.
    Append(String),
    /// A transaction: micro-operations over several keys, applied atomically (the operation's own
    /// `key` is empty).
    Txn(Vec<MicroOp>),
}

/// One step of a transaction. Values are integers, unique per run, so a read names the write it saw.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MicroOp {
    /// Append to the list at `key` (txn-append).
    Append { key: String, value: u64 },
    /// Set the register at `key` (txn-rw).
    Write { key: String, value: u64 },
    /// Read `key`: the whole list (txn-append) or the register (txn-rw).
    Read { key: String },
}

impl MicroOp {
    pub fn key(&self) -> &str {
        match self {
            MicroOp::Append { key, .. } | MicroOp::Write { key, .. } | MicroOp::Read { key } => key,
        }
    }

    /// The micro-operation in the history's shape, `[f, key, value]` (Jepsen's `[:append :x 1]`):
    /// `["append", k, v]`, `["w", k, v]`, or `["r", k, read]` with `read` null in an invocation.
    pub fn to_json(&self, read: serde_json::Value) -> serde_json::Value {
        use serde_json::json;
        match self {
            MicroOp::Append { key, value } => json!(["append", key, value]),
            MicroOp::Write { key, value } => json!(["w", key, value]),
            MicroOp::Read { key } => json!(["r", key, read]),
        }
    }
}

/// One client operation as a generator hands it out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// The key of a single-key operation; empty for a transaction, whose micro-operations name theirs.
    pub key: String,
    pub kind: OpKind,
    /// Send to this node (index into the node list) instead of the process's own node; used by the
    /// final-read phase, which reads every key from every node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<usize>,
}

impl Op {
    /// The history's `f` field for this operation (contract section 3).
    pub fn f(&self) -> &'static str {
        match self.kind {
            OpKind::Read => "read",
            OpKind::Write(_) => "write",
            OpKind::Cas { .. } => "cas",
            OpKind::Append(_) => "append",
            OpKind::Txn(_) => "txn",
        }
    }

    /// The history's `key` field: the key, or none for a transaction.
    pub fn history_key(&self) -> Option<&str> {
        match self.kind {
            OpKind::Txn(_) => None,
            _ => Some(&self.key),
        }
    }

    /// A transaction of `mops` (no key of its own).
    pub fn txn(mops: Vec<MicroOp>) -> Op {
        Op { key: String::new(), kind: OpKind::Txn(mops), node: None }
    }

    /// The history's `value` field of the invocation: null for reads, the written or appended string,
    /// `[from, to]` for cas (from may be null), the micro-operations of a transaction with its reads
    /// null.
    pub fn invoke_value(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            OpKind::Read => Value::Null,
            OpKind::Write(v) | OpKind::Append(v) => Value::String(v.clone()),
            OpKind::Cas { from, to } => {
                Value::Array(vec![from.clone().map_or(Value::Null, Value::String), Value::String(to.clone())])
            }
            OpKind::Txn(mops) => Value::Array(mops.iter().map(|m| m.to_json(Value::Null)).collect()),
        }
    }
}

/// What the interpreter tells a generator when it asks for an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    /// Nanoseconds since the start of the run.
    pub time: Nanos,
    /// The process that will perform the operation.
    pub process: u64,
    /// The client slot the process runs in (a retired process's successor keeps its slot).
    pub slot: usize,
    /// Operations invoked and not yet completed, over all processes.
    pub in_flight: usize,
}

/// A generator's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Perform this operation now.
    Op(Op),
    /// Nothing to do before this time; ask again then (or earlier, after a completion).
    Pending { until: Nanos },
    /// The stream is finished for good.
    Done,
}

/// A source of operations with explicit time. See the module documentation.
pub trait Generator: fmt::Debug + Send {
    /// The next operation for `ctx.process` at `ctx.time`.
    fn next(&mut self, ctx: &Context) -> Next;

    /// Every key this generator has handed out an operation for, in first-use order; the final-read
    /// phase reads each of them from every node.
    fn keys(&self) -> Vec<String> {
        Vec::new()
    }
}

impl<G: Generator + ?Sized> Generator for Box<G> {
    fn next(&mut self, ctx: &Context) -> Next {
        (**self).next(ctx)
    }
    fn keys(&self) -> Vec<String> {
        (**self).keys()
    }
}

/// Ends the inner stream `limit` nanoseconds after the first call.
#[derive(Debug)]
pub struct TimeLimit<G> {
    inner: G,
    limit: Nanos,
    start: Option<Nanos>,
}

impl<G: Generator> TimeLimit<G> {
    pub fn new(inner: G, limit: Nanos) -> TimeLimit<G> {
        TimeLimit { inner, limit, start: None }
    }
}

impl<G: Generator> Generator for TimeLimit<G> {
    fn next(&mut self, ctx: &Context) -> Next {
        let start = *self.start.get_or_insert(ctx.time);
        let deadline = start.saturating_add(self.limit);
        if ctx.time >= deadline {
            return Next::Done;
        }
        match self.inner.next(ctx) {
            // A wait that runs past the deadline ends at the deadline, where the answer is Done.
            Next::Pending { until } => Next::Pending { until: until.min(deadline) },
            other => other,
        }
    }
    fn keys(&self) -> Vec<String> {
        self.inner.keys()
    }
}

/// Spaces operations out to about `rate` per second over all processes. Each gap is drawn uniformly
/// from `[0, 2/rate)` with a seeded RNG (Jepsen's `stagger`), so requests do not arrive in lockstep;
/// when the interpreter falls behind, the schedule restarts from the current time instead of bursting
/// to catch up.
#[derive(Debug)]
pub struct Rate<G> {
    inner: G,
    interval: Nanos,
    next_at: Nanos,
    rng: ChaCha8Rng,
}

impl<G: Generator> Rate<G> {
    /// `rate` operations per second; must be positive (the caller validates user input).
    pub fn new(inner: G, rate: f64, seed: u64) -> Rate<G> {
        let interval = (SECOND as f64 / rate).round().max(1.0) as Nanos;
        Rate { inner, interval, next_at: 0, rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5241_5445) }
    }
}

impl<G: Generator> Generator for Rate<G> {
    fn next(&mut self, ctx: &Context) -> Next {
        if ctx.time < self.next_at {
            return Next::Pending { until: self.next_at };
        }
        let next = self.inner.next(ctx);
        if matches!(next, Next::Op(_)) {
            let gap = self.rng.random_range(0..2 * self.interval);
            self.next_at = self.next_at.max(ctx.time.saturating_sub(self.interval)) + gap;
        }
        next
    }
    fn keys(&self) -> Vec<String> {
        self.inner.keys()
    }
}

/// Runs a list of operations once, in order, then is done (the final-read phase).
#[derive(Debug)]
pub struct Once {
    ops: std::collections::VecDeque<Op>,
    keys: Vec<String>,
}

impl Once {
    pub fn new(ops: Vec<Op>) -> Once {
        let mut keys: Vec<String> = Vec::new();
        for op in &ops {
            let op_keys: Vec<&str> = match &op.kind {
                OpKind::Txn(mops) => mops.iter().map(MicroOp::key).collect(),
                _ => vec![op.key.as_str()],
            };
            for k in op_keys {
                if !keys.iter().any(|have| have == k) {
                    keys.push(k.to_string());
                }
            }
        }
        Once { ops: ops.into(), keys }
    }
}

impl Generator for Once {
    fn next(&mut self, _ctx: &Context) -> Next {
        self.ops.pop_front().map_or(Next::Done, Next::Op)
    }
    fn keys(&self) -> Vec<String> {
        self.keys.clone()
    }
}

/// Process ids of the worker slots, as in Jepsen: slot `i` starts as process `i`; after an `info`
/// completion the slot's process retires and the slot continues as process `p + concurrency`, so a
/// process whose last operation is indeterminate never issues another one. A slot is pinned to node
/// `slot % nodes` for its whole life, so a retired process's successor talks to the same node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessTable {
    nodes: usize,
    slots: Vec<u64>,
}

impl ProcessTable {
    /// `concurrency` slots over `nodes` nodes (both at least 1; the caller validates user input).
    pub fn new(concurrency: usize, nodes: usize) -> ProcessTable {
        assert!(concurrency > 0 && nodes > 0, "process table needs at least one slot and one node");
        ProcessTable { nodes, slots: (0..concurrency as u64).collect() }
    }

    pub fn concurrency(&self) -> usize {
        self.slots.len()
    }

    /// The process currently running in `slot`.
    pub fn process(&self, slot: usize) -> u64 {
        self.slots[slot]
    }

    /// The node (index) that `slot` is pinned to.
    pub fn node(&self, slot: usize) -> usize {
        slot % self.nodes
    }

    /// Retires the process in `slot` after an indeterminate outcome; returns its successor.
    pub fn retire(&mut self, slot: usize) -> u64 {
        self.slots[slot] += self.slots.len() as u64;
        self.slots[slot]
    }
}

/// How a simulated operation ends: its latency and whether its outcome is indeterminate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimOutcome {
    pub latency: Nanos,
    pub indeterminate: bool,
}

/// One operation as the simulated interpreter ran it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimOp {
    pub invoke: Nanos,
    pub complete: Nanos,
    pub slot: usize,
    pub process: u64,
    pub node: usize,
    pub op: Op,
    pub indeterminate: bool,
}

/// Runs `generator` against a simulated clock with `concurrency` slots over `nodes` nodes, the way the
/// harness does against a real one: free slots ask for work, operations complete after the latency
/// `outcome` returns for them, retired processes are replaced. Stops when every slot got `Done` or when
/// the clock passes `horizon` (a guard against generators that never finish).
pub fn simulate<G: Generator + ?Sized>(
    generator: &mut G,
    concurrency: usize,
    nodes: usize,
    horizon: Nanos,
    mut outcome: impl FnMut(&Op, Nanos) -> SimOutcome,
) -> Vec<SimOp> {
    let mut table = ProcessTable::new(concurrency, nodes);
    let mut busy: Vec<Option<SimOp>> = vec![None; concurrency];
    let mut done = vec![false; concurrency];
    let mut wake: Vec<Nanos> = vec![0; concurrency];
    let mut finished = Vec::new();
    let mut now: Nanos = 0;
    while now <= horizon && done.iter().any(|d| !d) {
        // Complete everything due at `now`, in slot order (deterministic).
        for slot in 0..concurrency {
            if busy[slot].as_ref().is_some_and(|op| op.complete <= now) {
                let op = busy[slot].take().expect("checked just above");
                if op.indeterminate {
                    table.retire(slot);
                }
                wake[slot] = now;
                finished.push(op);
            }
        }
        for slot in 0..concurrency {
            if done[slot] || busy[slot].is_some() || wake[slot] > now {
                continue;
            }
            let in_flight = busy.iter().filter(|b| b.is_some()).count();
            let ctx = Context { time: now, process: table.process(slot), slot, in_flight };
            match generator.next(&ctx) {
                Next::Op(op) => {
                    let out = outcome(&op, now);
                    busy[slot] = Some(SimOp {
                        invoke: now,
                        complete: now + out.latency,
                        slot,
                        process: table.process(slot),
                        node: op.node.unwrap_or(table.node(slot)),
                        op,
                        indeterminate: out.indeterminate,
                    });
                }
                Next::Pending { until } => wake[slot] = until.max(now + 1),
                Next::Done => done[slot] = true,
            }
        }
        // Advance to the next event: a completion or a wake-up of an idle slot.
        let next_completion = busy.iter().flatten().map(|op| op.complete).min();
        let next_wake = (0..concurrency).filter(|&s| !done[s] && busy[s].is_none()).map(|s| wake[s]).min();
        now = match (next_completion, next_wake) {
            (Some(a), Some(b)) => a.min(b).max(now + 1),
            (Some(a), None) | (None, Some(a)) => a.max(now + 1),
            (None, None) => break,
        };
    }
    finished.extend(busy.into_iter().flatten());
    finished.sort_by_key(|op| (op.invoke, op.slot));
    finished
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An endless stream of reads of one key, for testing the combinators alone.
    #[derive(Debug)]
    struct Reads;
    impl Generator for Reads {
        fn next(&mut self, _ctx: &Context) -> Next {
            Next::Op(Op { key: "k".into(), kind: OpKind::Read, node: None })
        }
    }

    fn fixed(latency: Nanos) -> impl FnMut(&Op, Nanos) -> SimOutcome {
        move |_, _| SimOutcome { latency, indeterminate: false }
    }

    #[test]
    fn time_limit_stops_invoking_at_the_deadline() {
        let mut g = TimeLimit::new(Reads, 10 * SECOND);
        let ops = simulate(&mut g, 4, 2, 60 * SECOND, fixed(SECOND / 10));
        assert!(ops.iter().all(|o| o.invoke < 10 * SECOND));
        // 4 slots, 100 ms each, 10 s: exactly 400 operations.
        assert_eq!(ops.len(), 400);
    }

    #[test]
    fn rate_limit_bounds_throughput_over_all_processes() {
        let mut g = TimeLimit::new(Rate::new(Reads, 50.0, 7), 20 * SECOND);
        let ops = simulate(&mut g, 16, 5, 60 * SECOND, fixed(SECOND / 1000));
        // 50/s for 20 s is 1000 on average; the jitter is seeded, so allow a loose band.
        assert!((850..=1150).contains(&ops.len()), "{} ops", ops.len());
    }

    #[test]
    fn concurrency_bounds_operations_in_flight() {
        let mut g = TimeLimit::new(Reads, 5 * SECOND);
        let ops = simulate(&mut g, 3, 3, 60 * SECOND, fixed(SECOND / 3));
        for o in &ops {
            let overlapping = ops.iter().filter(|p| p.invoke <= o.invoke && o.invoke < p.complete).count();
            assert!(overlapping <= 3);
        }
    }

    #[test]
    fn indeterminate_outcome_retires_the_process_and_keeps_the_node() {
        let mut g = TimeLimit::new(Reads, SECOND);
        let mut n = 0;
        let ops = simulate(&mut g, 2, 2, 10 * SECOND, |_, _| {
            n += 1;
            SimOutcome { latency: SECOND / 4, indeterminate: n == 1 }
        });
        // Slot 0's first op was info: process 0 never appears again, process 2 continues on node 0.
        assert_eq!(ops.iter().filter(|o| o.process == 0).count(), 1);
        assert!(ops.iter().any(|o| o.process == 2 && o.node == 0));
        assert!(ops.iter().filter(|o| o.process == 1).all(|o| o.node == 1));
    }

    #[test]
    fn once_yields_each_operation_then_is_done() {
        let ops = vec![
            Op { key: "a".into(), kind: OpKind::Read, node: Some(0) },
            Op { key: "a".into(), kind: OpKind::Read, node: Some(1) },
            Op { key: "b".into(), kind: OpKind::Read, node: Some(0) },
        ];
        let mut g = Once::new(ops.clone());
        assert_eq!(g.keys(), vec!["a".to_string(), "b".to_string()]);
        let ran = simulate(&mut g, 2, 2, SECOND, fixed(10));
        let mut got: Vec<Op> = ran.into_iter().map(|o| o.op).collect();
        got.sort_by_key(|o| (o.key.clone(), o.node));
        assert_eq!(got, ops);
    }

    #[test]
    fn op_values_follow_the_history_contract() {
        let cas = Op { key: "k".into(), kind: OpKind::Cas { from: None, to: "3".into() }, node: None };
        assert_eq!(cas.f(), "cas");
        assert_eq!(cas.invoke_value(), serde_json::json!([null, "3"]));
        let read = Op { key: "k".into(), kind: OpKind::Read, node: None };
        assert_eq!(read.invoke_value(), serde_json::Value::Null);
    }
}
