//! Synthetic runs for benchmarks and browser tests.
//!
//! [`run`] builds a [`RunReport`] of any size that looks like a real register test of a five-node
//! cluster: a fixed number of client processes issue reads, writes and cas operations with realistic
//! latencies, a nemesis partitions and kills nodes every ten seconds, operations around a fault time
//! out (`info`, after which the process retires and a fresh one takes over) or fail, `/status` is
//! polled every 250 ms with leaders changing after faults, and the results carry one stale-read
//! counterexample and one lost write. It is deterministic in its seed (a SplitMix64 stream, so the
//! crate needs no RNG dependency) and exists so the report's size and drawing can be measured at
//! 100,000 operations without running a cluster for an hour.

use crate::model::{LogExcerpt, NodeStatus, RunMeta, RunReport, StatusSample};
use crate::results::{CexOp, Check, Counterexample, DurabilityFinding, Results, Verdict};
use checker::Anomaly;
use checker::history::{Event, EventType, Process};
use serde_json::json;

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const NODES: u64 = 5;
const CONCURRENCY: u64 = 10;
const FAULT_EVERY_NS: u64 = 10_000_000_000;
const FAULT_LASTS_NS: u64 = 5_000_000_000;

fn node(i: u64) -> String {
    format!("n{}", i + 1)
}

fn in_fault(t: u64) -> bool {
    t % FAULT_EVERY_NS >= FAULT_EVERY_NS - FAULT_LASTS_NS
}

/// A synthetic register run with `ops` client operations, deterministic in `seed`.
pub fn run(ops: usize, seed: u64) -> RunReport {
    let mut rng = SplitMix(seed);
    // Aim for about 400 ops/s overall, like a loopback test with ten clients.
    let rate_ns = 1_000_000_000 * CONCURRENCY / 400;
    let mut history: Vec<Event> = Vec::with_capacity(ops * 2 + 64);
    let mut procs: Vec<(u64, u64)> = (0..CONCURRENCY).map(|p| (p, rng.below(rate_ns))).collect();
    let mut next_value = 0u64;
    let mut events: Vec<(u64, Event)> = Vec::with_capacity(ops * 2);
    for n in 0..ops {
        // The slot whose process is free first issues the next operation.
        let slot = (0..procs.len()).min_by_key(|&i| procs[i].1).unwrap_or(0);
        let (p, free_at) = procs[slot];
        let start = free_at;
        let key = format!("k{}", n / 200 + rng.below(3) as usize);
        let target = rng.below(NODES);
        let r = rng.unit();
        let (f, input) = if r < 0.5 {
            ("read", serde_json::Value::Null)
        } else if r < 0.85 {
            next_value += 1;
            ("write", json!(next_value.to_string()))
        } else {
            ("cas", json!([rng.below(next_value.max(1)).to_string(), (next_value + 1).to_string()]))
        };
        // Log-normal-ish latency: 1 to 20 ms mostly, slower while a fault is on.
        let mut latency = (1_000_000.0 * (1.0 + 19.0 * rng.unit() * rng.unit())) as u64;
        let faulty = in_fault(start);
        let roll = rng.unit();
        let (kind, output, error) = if faulty && roll < 0.08 {
            latency = 1_000_000_000;
            (EventType::Info, serde_json::Value::Null, Some("timeout".to_owned()))
        } else if (faulty && roll < 0.25) || roll < 0.01 {
            (EventType::Fail, serde_json::Value::Null, Some("not_leader".to_owned()))
        } else {
            let out = if f == "read" {
                json!(rng.below(next_value.max(1)).to_string())
            } else {
                serde_json::Value::Null
            };
            (EventType::Ok, out, None)
        };
        if faulty {
            latency *= 3;
        }
        let end = start + latency;
        let base = |kind, value, time, error| Event {
            process: Process::Client(p),
            kind,
            f: f.to_owned(),
            key: Some(key.clone()),
            value,
            time,
            node: Some(node(target)),
            error,
        };
        events.push((start, base(EventType::Invoke, input.clone(), start, None)));
        let done_value = if f == "read" { output } else { input };
        events.push((end, base(kind, done_value, end, error)));
        let think = rng.below(rate_ns / 2);
        // After an info the process retires and its slot continues as p + concurrency (the workloads'
        // convention).
        procs[slot] = if kind == EventType::Info { (p + CONCURRENCY, end + think) } else { (p, end + think) };
    }
    let end_ns = events.iter().map(|(t, _)| *t).max().unwrap_or(0) + 1_000_000;

    // Faults: alternate partitions and kills, each healed after FAULT_LASTS_NS.
    let mut t = FAULT_EVERY_NS - FAULT_LASTS_NS;
    let mut round = 0u64;
    while t + FAULT_LASTS_NS < end_ns {
        let victim = node(rng.below(NODES));
        let nem = |kind, f: &str, value, time| Event {
            process: Process::NEMESIS,
            kind,
            f: f.to_owned(),
            key: None,
            value,
            time,
            node: None,
            error: None,
        };
        let others: Vec<String> = (0..NODES).map(node).filter(|n| *n != victim).collect();
        let (start_f, start_v, stop_f) = if round.is_multiple_of(2) {
            ("partition", json!([[victim.clone()], others]), "heal")
        } else {
            ("kill", json!({"nodes": [victim.clone()]}), "restart")
        };
        events.push((t, nem(EventType::Invoke, start_f, serde_json::Value::Null, t)));
        events.push((t + 2_000_000, nem(EventType::Info, start_f, start_v.clone(), t + 2_000_000)));
        let h = t + FAULT_LASTS_NS;
        events.push((h, nem(EventType::Invoke, stop_f, serde_json::Value::Null, h)));
        events.push((h + 3_000_000, nem(EventType::Info, stop_f, json!({"nodes": [victim]}), h + 3_000_000)));
        t += FAULT_EVERY_NS;
        round += 1;
    }
    events.sort_by_key(|(t, _)| *t);
    history.extend(events.into_iter().map(|(_, e)| e));

    // Status every 250 ms; leadership moves at each fault.
    let mut status = Vec::new();
    let mut term = 1u64;
    let mut leader = 0u64;
    let mut commit = 0u64;
    let mut was_fault = false;
    let mut s = 0u64;
    while s < end_ns {
        let fault = in_fault(s);
        if fault && !was_fault {
            term += 1;
            leader = (leader + 1 + rng.below(NODES - 1)) % NODES;
        }
        was_fault = fault;
        commit += 100;
        for i in 0..NODES {
            let down = fault && i == (leader + NODES - 1) % NODES && (s / FAULT_EVERY_NS) % 2 == 1;
            let sample = if down {
                StatusSample {
                    time: s + i * 1_000_000,
                    node: node(i),
                    status: None,
                    error: Some("connection refused".to_owned()),
                }
            } else {
                let role = if i == leader { "leader" } else { "follower" };
                StatusSample {
                    time: s + i * 1_000_000,
                    node: node(i),
                    status: Some(NodeStatus {
                        role: role.to_owned(),
                        term,
                        leader: Some(leader + 1),
                        commit,
                    }),
                    error: None,
                }
            };
            status.push(sample);
        }
        s += 250_000_000;
    }

    let results = sample_results(&history);
    let violation = results.first_violation_time().unwrap_or(0);
    let logs = vec![LogExcerpt {
        node: "n3".to_owned(),
        path: "nodes/n3/stderr.log".to_owned(),
        first_line: 1041,
        lines: (0..12)
            .map(|i| {
                let t = violation / 1_000_000 + i * 40;
                format!(
                    "2026-11-22T01:00:{:02}.{:03}Z  INFO node: applied entry index={} term={term}",
                    t / 1000 % 60,
                    t % 1000,
                    5000 + i
                )
            })
            .collect(),
        note: format!("around {:.3} s, the first violation", violation as f64 / 1e9),
    }];
    RunReport {
        meta: RunMeta {
            test_name: "raft-register".to_owned(),
            system: "raft-node".to_owned(),
            nodes: (0..NODES).map(node).collect(),
            workload: "register".to_owned(),
            nemeses: vec!["partition".to_owned(), "kill".to_owned()],
            duration_ns: end_ns,
            seed,
            reproduce: format!(
                "faultline run --nodes 5 --workload register --nemesis partition,kill --seed {seed}"
            ),
            started_at: "2026-11-22T01:00:00Z".to_owned(),
            bugs: vec![],
            concurrency: u32::try_from(CONCURRENCY).unwrap_or(u32::MAX),
        },
        history,
        status,
        logs,
        results,
        shrunk: None,
    }
}

/// A stale read built on operations of the history (so they are marked on the timeline), and one lost
/// write.
fn sample_results(history: &[Event]) -> Results {
    let pairs = crate::data::pair_ops(history);
    let ok = |f: &str| {
        pairs.iter().find(|p| {
            p.invoke.f == f
                && p.completion.is_some_and(|c| c.kind == EventType::Ok)
                && p.invoke.time > 3_000_000_000
        })
    };
    let cex_op = |p: &crate::data::OpPair<'_>| {
        let done = p.completion.map(|c| (c.kind, c.time, c.value.clone()));
        let (outcome, end, output) = done.unwrap_or((EventType::Invoke, 0, serde_json::Value::Null));
        let Process::Client(process) = p.invoke.process else { return None };
        Some(CexOp {
            process,
            f: p.invoke.f.clone(),
            input: p.invoke.value.clone(),
            output: if p.invoke.f == "read" { output } else { serde_json::Value::Null },
            outcome,
            start: p.invoke.time,
            end: (outcome != EventType::Info).then_some(end),
            node: p.invoke.node.clone(),
        })
    };
    let mut counterexamples = Vec::new();
    let write = ok("write");
    let read = write.and_then(|w| {
        let acked = w.completion.map_or(u64::MAX, |c| c.time);
        pairs.iter().find(|p| {
            p.invoke.f == "read"
                && p.invoke.key == w.invoke.key
                && p.invoke.time > acked
                && p.completion.is_some_and(|c| c.kind == EventType::Ok && c.value != w.invoke.value)
        })
    });
    if let (Some(w), Some(r)) = (write.and_then(cex_op), read.and_then(cex_op)) {
        // The read began after the write was acknowledged yet returned an older value: stale.
        let key = r_key(read).unwrap_or_default();
        counterexamples.push(Counterexample {
            key,
            model: "cas-register".to_owned(),
            anomaly: Anomaly::StaleRead.name().to_owned(),
            state: value_of(&w.input),
            ops: vec![w, r],
            linearization: vec![0],
            culprit: Some(1),
            sentence: String::new(),
            original_ops: 200,
        });
    }
    Results {
        checks: vec![
            Check {
                name: "linearizability".to_owned(),
                verdict: Verdict::Invalid,
                summary: "1 of the keys is not linearizable".to_owned(),
                anomalies: vec![Anomaly::StaleRead.name().to_owned()],
            },
            Check {
                name: "durability".to_owned(),
                verdict: Verdict::Invalid,
                summary: "1 acknowledged write missing from the final reads".to_owned(),
                anomalies: vec![Anomaly::LostWrite.name().to_owned()],
            },
            Check {
                name: "log-agreement".to_owned(),
                verdict: Verdict::Valid,
                summary: "all nodes agree on every committed index".to_owned(),
                anomalies: vec![],
            },
        ],
        counterexamples,
        durability: vec![DurabilityFinding {
            kind: "lost".to_owned(),
            key: Some("k3".to_owned()),
            value: json!("17"),
            ack_time: Some(7_250_000_000),
            process: Some(4),
            node: Some("n2".to_owned()),
            detail: String::new(),
        }],
        txn_anomalies: Vec::new(),
    }
}

fn r_key(p: Option<&crate::data::OpPair<'_>>) -> Option<String> {
    p.and_then(|p| p.invoke.key.clone())
}

fn value_of(v: &serde_json::Value) -> Option<String> {
    crate::data::value_text(v)
}
