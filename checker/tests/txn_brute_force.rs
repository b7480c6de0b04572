//! The transactional checker against brute force, on small random list-append histories.
//!
//! The checker is sound, not complete (like Elle): an anomaly it reports under a model must really
//! rule that model out, while a history it calls valid may still hide an anomaly no read revealed.
//! Brute force decides exactly: a history is serializable when some order of its committed
//! transactions (every `ok` one, and any subset of the `info` ones) replayed against empty lists
//! gives every `ok` transaction exactly the reads it recorded; strict serializable when such an order
//! also keeps every `ok` transaction before those invoked after it completed. The property: when the
//! checker says invalid, brute force agrees; and the generator makes both verdicts often.

use checker::Verdict;
use checker::txn::{ConsistencyModel, TxnKind, TxnOptions, check_history};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::HashMap;

/// One generated transaction: micro-ops as (append?, key, value) with reads filled in later.
#[derive(Clone, Debug)]
struct Gen {
    mops: Vec<(bool, u8)>,
    info: bool,
    /// How stale its reads are: 0 reads the state at its commit, k reads the state k commits earlier.
    stale: usize,
}

fn gen_txn() -> impl Strategy<Value = Gen> {
    (
        proptest::collection::vec((any::<bool>(), 0u8..2), 1..4),
        prop::bool::weighted(0.15),
        prop_oneof![3 => Just(0usize), 2 => 1usize..3],
    )
        .prop_map(|(mops, info, stale)| Gen { mops, info, stale })
}

/// A transaction of the built history.
#[derive(Clone, Debug)]
struct Built {
    /// (append?, key, appended value or read result)
    mops: Vec<(bool, u8, Value)>,
    ok: bool,
    invoke: usize,
    complete: usize,
}

/// Runs the generated transactions in order against a store (stale ones read an older state), and
/// lays them out in time: transaction i is invoked at 2i and completes `overlap[i]` slots later.
fn build(txns: &[Gen], overlap: &[usize]) -> Vec<Built> {
    let mut states: Vec<HashMap<u8, Vec<u64>>> = vec![HashMap::new()];
    let mut next = 1u64;
    let mut out = Vec::new();
    for (i, g) in txns.iter().enumerate() {
        let mut current = states.last().cloned().unwrap_or_default();
        let seen = states[states.len().saturating_sub(1 + g.stale)].clone();
        let mut own: HashMap<u8, Vec<u64>> = HashMap::new();
        let mut mops = Vec::new();
        for &(append, key) in &g.mops {
            if append {
                current.entry(key).or_default().push(next);
                own.entry(key).or_default().push(next);
                mops.push((true, key, json!(next)));
                next += 1;
            } else {
                let mut v = seen.get(&key).cloned().unwrap_or_default();
                v.extend(own.get(&key).cloned().unwrap_or_default());
                mops.push((false, key, json!(v)));
            }
        }
        // An info transaction took effect half the time (when its first value is odd, say).
        if !g.info || next % 2 == 1 {
            states.push(current);
        }
        let invoke = 2 * i;
        out.push(Built {
            mops,
            ok: !g.info,
            invoke,
            complete: invoke + 1 + 2 * overlap.get(i).copied().unwrap_or(0),
        });
    }
    out
}

fn jsonl(txns: &[Built]) -> String {
    let mut events: Vec<(usize, usize, bool)> = Vec::new();
    for (i, t) in txns.iter().enumerate() {
        events.push((t.invoke, i, false));
        events.push((t.complete, i, true));
    }
    events.sort();
    events
        .into_iter()
        .map(|(time, i, done)| {
            let t = &txns[i];
            let value: Vec<Value> = t
                .mops
                .iter()
                .map(|(append, k, v)| {
                    let key = format!("k{k}");
                    match (append, done && t.ok) {
                        (true, _) => json!(["append", key, v]),
                        (false, true) => json!(["r", key, v]),
                        (false, false) => json!(["r", key, null]),
                    }
                })
                .collect();
            let ty = if !done {
                "invoke"
            } else if t.ok {
                "ok"
            } else {
                "info"
            };
            json!({"process": i, "type": ty, "f": "txn", "value": value, "time": time}).to_string() + "\n"
        })
        .collect()
}

/// Whether some order of the committed transactions explains every ok read (see the module doc).
fn brute(txns: &[Built], realtime: bool) -> bool {
    let info: Vec<usize> = (0..txns.len()).filter(|&i| !txns[i].ok).collect();
    for mask in 0..(1u32 << info.len()) {
        let chosen: Vec<usize> = (0..txns.len())
            .filter(|&i| {
                txns[i].ok || info.iter().position(|&j| j == i).is_some_and(|b| mask & (1 << b) != 0)
            })
            .collect();
        if search(txns, &chosen, &mut vec![false; chosen.len()], &mut HashMap::new(), realtime) {
            return true;
        }
    }
    false
}

fn search(
    txns: &[Built],
    chosen: &[usize],
    used: &mut Vec<bool>,
    state: &mut HashMap<u8, Vec<u64>>,
    rt: bool,
) -> bool {
    if used.iter().all(|&u| u) {
        return true;
    }
    for c in 0..chosen.len() {
        if used[c] {
            continue;
        }
        let t = &txns[chosen[c]];
        // Real time: every unused ok transaction that completed before t began must come first.
        if rt
            && (0..chosen.len())
                .any(|d| !used[d] && d != c && txns[chosen[d]].ok && txns[chosen[d]].complete < t.invoke)
        {
            continue;
        }
        let before = state.clone();
        let mut fits = true;
        for (append, k, v) in &t.mops {
            if *append {
                state.entry(*k).or_default().push(v.as_u64().unwrap_or(0));
            } else if t.ok && json!(state.get(k).cloned().unwrap_or_default()) != *v {
                fits = false;
                break;
            }
        }
        if fits {
            used[c] = true;
            if search(txns, chosen, used, state, rt) {
                return true;
            }
            used[c] = false;
        }
        *state = before;
    }
    false
}

fn checker_verdict(text: &str, model: ConsistencyModel) -> Verdict {
    let h = checker::parse_history(text, None, "<prop>").expect("generated histories parse").history;
    check_history(&h, &TxnOptions::new(TxnKind::ListAppend, model)).expect("the check runs").verdict
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn every_reported_anomaly_is_real(
        txns in proptest::collection::vec(gen_txn(), 1..6),
        overlap in proptest::collection::vec(0usize..3, 6),
    ) {
        let built = build(&txns, &overlap);
        let text = jsonl(&built);
        for (model, realtime) in [(ConsistencyModel::Serializable, false), (ConsistencyModel::StrictSerializable, true)] {
            if checker_verdict(&text, model) == Verdict::Invalid {
                prop_assert!(!brute(&built, realtime), "{model} reported invalid, but an order exists:\n{text}");
            }
        }
    }
}

/// The property means little unless both verdicts come up often.
#[test]
fn generator_produces_both_verdicts_often() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = (proptest::collection::vec(gen_txn(), 1..6), proptest::collection::vec(0usize..3, 6));
    let (mut valid, mut invalid, mut caught) = (0, 0, 0);
    for _ in 0..500 {
        let (txns, overlap) = strategy.new_tree(&mut runner).expect("a value").current();
        let built = build(&txns, &overlap);
        if brute(&built, true) {
            valid += 1;
        } else {
            invalid += 1;
            caught += usize::from(
                checker_verdict(&jsonl(&built), ConsistencyModel::StrictSerializable) == Verdict::Invalid,
            );
        }
    }
    assert!(valid > 100 && invalid > 50, "valid {valid}, invalid {invalid}");
    eprintln!("valid {valid}, invalid {invalid}, caught {caught}");
    // Sound, not complete; but it should see most of what brute force sees in histories this small.
    assert!(caught * 2 > invalid, "caught {caught} of {invalid}");
}
