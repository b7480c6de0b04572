//! The kv model's symbolic state (appends not yet observed kept as a set, ordered only when a get
//! observes them) gives the same verdicts as a brute force over concrete strings, on thousands of small
//! random histories of get, put and append.
//!
//! The brute force knows nothing of the crate's models or search: it tries every order of the
//! operations that respects real time, with each indefinite put or append either placed somewhere after
//! its invocation or left out, and applies the string rules directly. Appended strings overlap on
//! purpose (`a` then `b` spells the same as `ab`, and the same string may be appended twice), so a
//! get can be explained by more than one order.

use checker::history::{Event, EventType, Process};
use checker::{CheckOptions, Format, History, ModelKind, ModelSpec, Outcome, Verdict};
use proptest::prelude::*;
use serde_json::Value;

const TEXTS: [&str; 4] = ["a", "b", "ab", "c"];
const ODD_READS: [&str; 8] = ["", "a", "b", "ba", "abab", "cab", "bc", "aab"];

#[derive(Clone, Debug)]
enum Step {
    /// Invoke on process slot `p` (if idle): 0 get, 1 put, 2 append of `TEXTS[t]`.
    Invoke { p: usize, f: u8, t: usize },
    /// Complete slot `p` (if busy): 0 ok, 1 fail, 2 info; a get returns the simulated string unless
    /// `odd`, then `ODD_READS[odd - 1]`.
    Complete { p: usize, outcome: u8, odd: usize },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..3usize, prop_oneof![2 => Just(0u8), 1 => Just(1u8), 2 => Just(2u8)], 0..TEXTS.len())
            .prop_map(|(p, f, t)| Step::Invoke { p, f, t }),
        (
            0..3usize,
            prop_oneof![6 => Just(0u8), 1 => Just(1u8), 2 => Just(2u8)],
            prop_oneof![1 => Just(0usize), 1 => 1..=ODD_READS.len()]
        )
            .prop_map(|(p, outcome, odd)| Step::Complete { p, outcome, odd }),
    ]
}

fn ev(process: u64, kind: EventType, f: &str, value: Value) -> Event {
    Event {
        process: Process::Client(process),
        kind,
        f: f.into(),
        key: Some("k".into()),
        value,
        time: 0,
        node: None,
        error: None,
    }
}

/// Turns steps into a well-formed history. Gets mostly return the string a simple simulation holds
/// (updates applied at their completion), so valid and invalid histories both come up often.
fn build(steps: &[Step]) -> Vec<Event> {
    let mut events = Vec::new();
    let mut slot_process: Vec<u64> = vec![0, 1, 2];
    let mut next_process = 3;
    let mut open: Vec<Option<(&'static str, Value)>> = vec![None, None, None];
    let mut simulated = String::new();
    for s in steps {
        match *s {
            Step::Invoke { p, f, t } if open[p].is_none() => {
                let (f, v) = match f {
                    0 => ("get", Value::Null),
                    1 => ("put", Value::from(TEXTS[t])),
                    _ => ("append", Value::from(TEXTS[t])),
                };
                events.push(ev(slot_process[p], EventType::Invoke, f, v.clone()));
                open[p] = Some((f, v));
            }
            Step::Complete { p, outcome, odd } if open[p].is_some() => {
                let (f, v) = open[p].take().expect("slot is busy");
                let kind = [EventType::Ok, EventType::Fail, EventType::Info][outcome as usize];
                let value = match (f, kind) {
                    ("get", EventType::Ok) if odd == 0 => Value::from(simulated.clone()),
                    ("get", EventType::Ok) => Value::from(ODD_READS[odd - 1]),
                    ("get", _) => Value::Null,
                    _ => v.clone(),
                };
                if kind == EventType::Ok {
                    match f {
                        "put" => simulated = v.as_str().unwrap_or_default().to_string(),
                        "append" => simulated.push_str(v.as_str().unwrap_or_default()),
                        _ => {}
                    }
                }
                events.push(ev(slot_process[p], kind, f, value));
                if kind == EventType::Info {
                    slot_process[p] = next_process;
                    next_process += 1;
                }
            }
            _ => {}
        }
    }
    events
}

#[derive(Clone, Debug)]
enum BKind {
    Get(String),
    Put(String),
    Append(String),
}

#[derive(Clone, Debug)]
struct BOp {
    call: usize,
    ret: Option<usize>,
    required: bool,
    kind: BKind,
}

fn brute_ops(h: &History) -> Vec<BOp> {
    let text = |v: &Value| v.as_str().expect("generated values are strings").to_string();
    let mut out = Vec::new();
    for op in &h.ops {
        let definite = matches!(op.outcome, Outcome::Ok | Outcome::Fail);
        let kind = match (op.f.as_str(), op.outcome) {
            ("get", Outcome::Ok) => BKind::Get(text(&op.output)),
            (_, Outcome::Fail) | ("get", _) => continue,
            ("put", _) => BKind::Put(text(&op.input)),
            _ => BKind::Append(text(&op.input)),
        };
        let ret = if definite { op.complete_index } else { None };
        out.push(BOp { call: op.invoke_index, ret, required: definite, kind });
    }
    out
}

fn brute_valid(ops: &[BOp], done: &mut Vec<bool>, state: &str) -> bool {
    if ops.iter().zip(done.iter()).all(|(o, d)| *d || !o.required) {
        return true;
    }
    for i in 0..ops.len() {
        if done[i]
            || (0..ops.len()).any(|j| j != i && !done[j] && ops[j].ret.is_some_and(|r| r < ops[i].call))
        {
            continue;
        }
        let next = match &ops[i].kind {
            BKind::Get(v) => (state == v).then(|| state.to_string()),
            BKind::Put(v) => Some(v.clone()),
            BKind::Append(v) => Some(format!("{state}{v}")),
        };
        if let Some(s) = next {
            done[i] = true;
            let ok = brute_valid(ops, done, &s);
            done[i] = false;
            if ok {
                return true;
            }
        }
    }
    false
}

fn verdicts(steps: &[Step]) -> (Verdict, Verdict, History) {
    let history = History::from_events("<prop>", &build(steps), None).expect("well-formed");
    let spec = ModelSpec::new(ModelKind::KvAppend, Format::Jsonl);
    let opts = CheckOptions { threads: 1, ..CheckOptions::default() };
    let report = checker::check_linearizability(&history, &spec, &opts).expect("fits the model");
    let ops = brute_ops(&history);
    let brute =
        if brute_valid(&ops, &mut vec![false; ops.len()], "") { Verdict::Valid } else { Verdict::Invalid };
    (report.verdict, brute, history)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5000, ..ProptestConfig::default() })]

    #[test]
    fn symbolic_kv_search_agrees_with_brute_force(steps in proptest::collection::vec(step(), 4..24)) {
        let (fast, brute, history) = verdicts(&steps);
        prop_assert_eq!(fast, brute, "history: {:#?}", history.ops);
    }
}

/// The property above means little if the generator made only valid (or only invalid) histories.
#[test]
fn generator_produces_both_verdicts_often() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = proptest::collection::vec(step(), 4..24);
    let (mut valid, mut invalid) = (0, 0);
    for _ in 0..500 {
        let steps = strategy.new_tree(&mut runner).unwrap().current();
        match verdicts(&steps).1 {
            Verdict::Valid => valid += 1,
            _ => invalid += 1,
        }
    }
    assert!(valid >= 100 && invalid >= 100, "valid {valid}, invalid {invalid}");
}

/// Two overlapping appends, `a` and `b`: one get saw `ba`, and a get that ran across the whole history
/// saw `ab`, after a put of `ab`. As soon as both appends are linearized the long get could see `ab`,
/// but taking it there (as a read that changes nothing would be taken) commits to the order `a b` and
/// leaves `ba` impossible: the search must keep the choice open. Valid: `b a`, get `ba`, put `ab`,
/// get `ab`.
#[test]
fn a_get_that_orders_pending_appends_is_a_choice_not_a_forced_move() {
    let events = vec![
        ev(0, EventType::Invoke, "get", Value::Null),
        ev(1, EventType::Invoke, "append", "a".into()),
        ev(2, EventType::Invoke, "append", "b".into()),
        ev(1, EventType::Ok, "append", "a".into()),
        ev(2, EventType::Ok, "append", "b".into()),
        ev(1, EventType::Invoke, "get", Value::Null),
        ev(1, EventType::Ok, "get", "ba".into()),
        ev(2, EventType::Invoke, "put", "ab".into()),
        ev(2, EventType::Ok, "put", "ab".into()),
        ev(0, EventType::Ok, "get", "ab".into()),
    ];
    let history = History::from_events("<test>", &events, None).unwrap();
    let ops = brute_ops(&history);
    assert!(brute_valid(&ops, &mut vec![false; ops.len()], ""));
    let spec = ModelSpec::new(ModelKind::KvAppend, Format::Jsonl);
    let report = checker::check_linearizability(&history, &spec, &CheckOptions::default()).unwrap();
    assert_eq!(report.verdict, Verdict::Valid);
}
