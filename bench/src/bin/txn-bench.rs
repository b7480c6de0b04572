//! `txn-bench`: how fast the transactional checker decides large histories.
//!
//! Histories are generated here, with the workloads' own transaction generators (`txn-append`,
//! `txn-rw`), run against an in-memory strict-serializable store: ten processes, each transaction
//! taking 1 to 10 ms, and applied at a random instant between its invocation and its completion (so
//! the history is strict serializable by construction); 1% of transactions end `info` (half of those
//! took effect). A "stale" variant makes 1% of the transactions read the state as of their invocation
//! instead of their commit point (the shape of raft-node's planted `txn-local-read` bug), which must
//! come out invalid.
//!
//! Each history is written as our JSON Lines, then timed: parse (text to validated history), check
//! (transactions read, dependencies inferred, cycles searched and explained, under strict
//! serializability), both best of `--repeat` runs (default 3); the peak resident memory of the whole
//! process is printed at the end.
//!
//! Run with `cargo run --release -p bench --bin txn-bench` (`--quick` for 10,000-transaction
//! histories only; `--dump DIR` writes each history there, for `faultline check`).

use anyhow::{Result, bail};
use checker::txn::{ConsistencyModel, TxnKind, TxnOptions, TxnReport, check_history};
use checker::{Format, Verdict, parse_history};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use workloads::{Context, Generator, MicroOp, Next, OpKind, Workload, WorkloadOptions};

const PROCESSES: u64 = 10;
const MS: u64 = 1_000_000;

/// One generated transaction with its timing and outcome.
struct Done {
    process: u64,
    invoke: u64,
    complete: u64,
    mops: Vec<MicroOp>,
    /// Read results, one per micro-operation (null for writes); None when it did not complete ok.
    reads: Option<Vec<Value>>,
}

/// The in-memory store: lists for txn-append, registers for txn-rw (values are the workload's ints).
#[derive(Default, Clone)]
struct Store {
    lists: HashMap<String, Vec<u64>>,
    registers: HashMap<String, u64>,
}

impl Store {
    /// Applies `mops` (when `apply`) and returns what each read saw, reads seeing the transaction's
    /// own earlier writes.
    fn run(&mut self, mops: &[MicroOp], lists: bool, apply: bool) -> Vec<Value> {
        let mut scratch = if apply { None } else { Some(self.clone_touched(mops)) };
        let store = scratch.as_mut().unwrap_or(self);
        mops.iter()
            .map(|m| match m {
                MicroOp::Append { key, value } => {
                    store.lists.entry(key.clone()).or_default().push(*value);
                    Value::Null
                }
                MicroOp::Write { key, value } => {
                    store.registers.insert(key.clone(), *value);
                    Value::Null
                }
                MicroOp::Read { key } if lists => json!(store.lists.get(key).cloned().unwrap_or_default()),
                MicroOp::Read { key } => store.registers.get(key).map_or(Value::Null, |v| json!(v)),
            })
            .collect()
    }

    fn clone_touched(&self, mops: &[MicroOp]) -> Store {
        let mut s = Store::default();
        for m in mops {
            let k = m.key();
            if let Some(l) = self.lists.get(k) {
                s.lists.insert(k.to_string(), l.clone());
            }
            if let Some(v) = self.registers.get(k) {
                s.registers.insert(k.to_string(), *v);
            }
        }
        s
    }
}

/// Generates `n` transactions of `workload` and runs them (see the module documentation); `stale`
/// is the fraction that read the state as of their invocation.
fn generate(workload: Workload, n: usize, stale: f64, seed: u64) -> Result<Vec<Done>> {
    let lists = workload == Workload::TxnAppend;
    let mut generator = workload.generator(&WorkloadOptions::default(), seed)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7478_6e62);
    // Each process's clock; the process free soonest takes the next transaction.
    let mut clocks = vec![0u64; PROCESSES as usize];
    let mut pending: Vec<(u64, u64, u64, usize)> = Vec::new(); // (commit point, invoke, complete, index)
    let mut txns: Vec<(u64, Vec<MicroOp>, bool, bool)> = Vec::new(); // (process, mops, info, stale)
    let mut times = Vec::new();
    for i in 0..n {
        let p = (0..PROCESSES as usize).min_by_key(|&p| clocks[p]).unwrap_or(0);
        let ctx = Context { time: clocks[p], process: p as u64, slot: p, in_flight: 0 };
        let Next::Op(op) = generator.next(&ctx) else { bail!("the generator ran dry") };
        let OpKind::Txn(mops) = op.kind else { bail!("{workload} generated a non-transaction") };
        let invoke = clocks[p] + rng.random_range(0..MS / 10);
        let complete = invoke + rng.random_range(MS..10 * MS);
        clocks[p] = complete;
        let commit = rng.random_range(invoke..=complete);
        let info = rng.random_bool(0.01);
        txns.push((p as u64, mops, info, rng.random_bool(stale)));
        times.push((invoke, complete));
        // An info transaction takes effect half the time.
        if !info || rng.random_bool(0.5) {
            pending.push((commit, invoke, complete, i));
        }
    }
    // Apply in commit order; a stale transaction's reads come from the state at its invocation.
    let mut events: Vec<(u64, usize)> = Vec::new(); // (time, index) of applies and stale snapshots
    pending.sort_unstable();
    let mut store = Store::default();
    let mut reads: Vec<Option<Vec<Value>>> = vec![None; n];
    let mut snapshots: Vec<(u64, usize)> =
        pending.iter().filter(|p| txns[p.3].3).map(|p| (p.1, p.3)).collect();
    snapshots.sort_unstable();
    let mut snap = snapshots.into_iter().peekable();
    for &(commit, _, _, i) in &pending {
        while let Some(&(at, j)) = snap.peek() {
            if at > commit {
                break;
            }
            reads[j] = Some(store.run(&txns[j].1, lists, false));
            snap.next();
        }
        let own = store.run(&txns[i].1, lists, true);
        if reads[i].is_none() {
            reads[i] = Some(own);
        }
        events.push((commit, i));
    }
    Ok(txns
        .into_iter()
        .zip(times)
        .zip(reads)
        .map(|(((process, mops, info, _), (invoke, complete)), r)| Done {
            process,
            invoke,
            complete,
            mops,
            reads: if info { None } else { r },
        })
        .collect())
}

/// The history as our JSON Lines, events in time order.
fn jsonl(txns: &[Done]) -> String {
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(txns.len() * 2);
    for (i, t) in txns.iter().enumerate() {
        events.push((t.invoke, false, i));
        events.push((t.complete, true, i));
    }
    events.sort_unstable();
    let mut out = String::with_capacity(txns.len() * 200);
    for (time, completion, i) in events {
        let t = &txns[i];
        let value = |reads: Option<&Vec<Value>>| -> Value {
            Value::Array(
                t.mops
                    .iter()
                    .enumerate()
                    .map(|(j, m)| m.to_json(reads.map_or(Value::Null, |r| r[j].clone())))
                    .collect(),
            )
        };
        let (kind, v) = match (completion, &t.reads) {
            (false, _) => ("invoke", value(None)),
            (true, Some(r)) => ("ok", value(Some(r))),
            (true, None) => ("info", value(None)),
        };
        out.push_str(
            &json!({"process": t.process, "type": kind, "f": "txn", "value": v, "time": time}).to_string(),
        );
        out.push('\n');
    }
    out
}

fn best_of<T>(repeat: usize, mut f: impl FnMut() -> Result<T>) -> Result<(Duration, T)> {
    let mut best: Option<(Duration, T)> = None;
    for _ in 0..repeat.max(1) {
        let started = Instant::now();
        let out = f()?;
        let took = started.elapsed();
        if best.as_ref().is_none_or(|(b, _)| took < *b) {
            best = Some((took, out));
        }
    }
    best.ok_or_else(|| anyhow::anyhow!("no run"))
}

fn vm_hwm_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 =
        status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let repeat = args
        .iter()
        .position(|a| a == "--repeat")
        .and_then(|i| args.get(i + 1))
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let sizes: &[usize] = if quick { &[10_000] } else { &[10_000, 100_000] };
    let dump =
        args.iter().position(|a| a == "--dump").and_then(|i| args.get(i + 1)).map(std::path::PathBuf::from);
    println!(
        "{:<11} {:>5} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9} {:>8}  anomalies",
        "workload", "stale", "txns", "MB", "parse ms", "check ms", "total ms", "edges", "verdict",
    );
    for &n in sizes {
        for (workload, kind) in
            [(Workload::TxnAppend, TxnKind::ListAppend), (Workload::TxnRw, TxnKind::RwRegister)]
        {
            for stale in [0.0, 0.01] {
                let text = jsonl(&generate(workload, n, stale, 42)?);
                if let Some(dir) = &dump {
                    std::fs::create_dir_all(dir)?;
                    std::fs::write(
                        dir.join(format!("{}-{n}-{}.jsonl", workload.name(), stale * 100.0)),
                        &text,
                    )?;
                }
                let (parse, parsed) =
                    best_of(repeat, || Ok(parse_history(&text, Some(Format::Jsonl), "bench")?))?;
                let opts = TxnOptions::new(kind, ConsistencyModel::StrictSerializable);
                let (check, report): (Duration, TxnReport) =
                    best_of(repeat, || Ok(check_history(&parsed.history, &opts)?))?;
                let want = if stale > 0.0 { Verdict::Invalid } else { Verdict::Valid };
                let e = &report.edges;
                let classes: Vec<String> = report.counts.iter().map(|(a, c)| format!("{a} {c}")).collect();
                println!(
                    "{:<11} {:>4}% {:>8} {:>7.1} {:>9.0} {:>9.0} {:>9.0} {:>9} {:>7}{}  {}",
                    workload.name(),
                    stale * 100.0,
                    n,
                    text.len() as f64 / 1e6,
                    parse.as_secs_f64() * 1e3,
                    check.as_secs_f64() * 1e3,
                    (parse + check).as_secs_f64() * 1e3,
                    e.ww + e.wr + e.rw + e.process + e.realtime,
                    report.verdict.to_string(),
                    if report.verdict == want { " " } else { "!" },
                    if classes.is_empty() { "-".to_string() } else { classes.join(", ") },
                );
            }
        }
    }
    if let Some(mib) = vm_hwm_mib() {
        println!("peak resident memory of the process: {mib:.0} MiB");
    }
    Ok(())
}
