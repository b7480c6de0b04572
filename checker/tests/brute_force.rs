//! The fast search agrees with a brute-force checker on thousands of small random register histories.
//!
//! The brute force knows nothing of the crate's models or search: it tries every order of the
//! operations that respects real time (an operation that completed before another was invoked comes
//! first), with each indefinite write or cas either placed somewhere after its invocation or left out,
//! and applies a register's rules directly.

use checker::history::{Event, EventType, Process};
use checker::{
    CheckOptions, FailSemantics, Format, History, ModelKind, ModelSpec, NilRead, Outcome, Verdict,
};
use proptest::prelude::*;
use serde_json::{Value, json};

#[derive(Clone, Debug)]
enum Step {
    /// Invoke on process slot `p` (if idle): 0 read, 1 write v, 2 cas [a b].
    Invoke { p: usize, f: u8, a: u8, b: u8 },
    /// Complete process slot `p` (if busy): 0 ok, 1 fail, 2 info; `r` is the read's result (0 = nil).
    Complete { p: usize, outcome: u8, r: u8 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..3usize, 0..3u8, 1..3u8, 1..3u8).prop_map(|(p, f, a, b)| Step::Invoke { p, f, a, b }),
        (0..3usize, prop_oneof![6 => Just(0u8), 1 => Just(1u8), 2 => Just(2u8)], 0..3u8)
            .prop_map(|(p, outcome, r)| Step::Complete { p, outcome, r }),
    ]
}

/// Turns steps into a well-formed history (a process retires after `info`, as in Jepsen).
fn build(steps: &[Step]) -> Vec<Event> {
    let mut events = Vec::new();
    let mut slot_process: Vec<u64> = vec![0, 1, 2];
    let mut next_process = 3;
    let mut open: Vec<Option<(String, Value)>> = vec![None, None, None];
    for (t, s) in steps.iter().enumerate() {
        match *s {
            Step::Invoke { p, f, a, b } if open[p].is_none() => {
                let (f, v) = match f {
                    0 => ("read", Value::Null),
                    1 => ("write", json!(a)),
                    _ => ("cas", json!([a, b])),
                };
                events.push(ev(slot_process[p], EventType::Invoke, f, v.clone(), t));
                open[p] = Some((f.to_string(), v));
            }
            Step::Complete { p, outcome, r } if open[p].is_some() => {
                let (f, v) = open[p].take().expect("slot is busy");
                let kind = [EventType::Ok, EventType::Fail, EventType::Info][outcome as usize];
                let value = if f == "read" {
                    if r == 0 || kind != EventType::Ok { Value::Null } else { json!(r) }
                } else {
                    v
                };
                events.push(ev(slot_process[p], kind, &f, value, t));
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

fn ev(process: u64, kind: EventType, f: &str, value: Value, t: usize) -> Event {
    Event {
        process: Process::Client(process),
        kind,
        f: f.into(),
        key: None,
        value,
        time: t as u64,
        node: None,
        error: None,
    }
}

/// An operation as the brute force sees it.
#[derive(Clone, Debug)]
struct BOp {
    call: usize,
    ret: Option<usize>,
    required: bool,
    kind: BKind,
}

#[derive(Clone, Debug)]
enum BKind {
    Read(Option<i64>),
    Write(i64),
    CasApplied(i64, i64),
    CasNotApplied(i64),
    CasMaybe(i64, i64),
}

fn brute_ops(h: &History, fail: FailSemantics) -> Vec<BOp> {
    let mut out = Vec::new();
    let num = |v: &Value| v.as_i64().expect("generated values are integers");
    for op in &h.ops {
        let definite = matches!(op.outcome, Outcome::Ok | Outcome::Fail);
        let ret = if definite { op.complete_index } else { None };
        let kind = match (op.f.as_str(), op.outcome) {
            ("read", Outcome::Ok) => BKind::Read(op.output.as_i64()),
            ("read", _) => continue,
            ("write", Outcome::Fail) => continue,
            ("write", _) => BKind::Write(num(&op.input)),
            ("cas", o) => {
                let (a, b) = (num(&op.input[0]), num(&op.input[1]));
                match o {
                    Outcome::Ok => BKind::CasApplied(a, b),
                    Outcome::Fail if fail == FailSemantics::NeverHappened => continue,
                    Outcome::Fail => BKind::CasNotApplied(a),
                    _ => BKind::CasMaybe(a, b),
                }
            }
            _ => unreachable!(),
        };
        out.push(BOp { call: op.invoke_index, ret, required: definite, kind });
    }
    out
}

fn brute_valid(ops: &[BOp], done: &mut Vec<bool>, state: Option<i64>) -> bool {
    if ops.iter().zip(done.iter()).all(|(o, d)| *d || !o.required) {
        return true;
    }
    for i in 0..ops.len() {
        if done[i] {
            continue;
        }
        // Every unlinearized operation that returned before this one was invoked must come first.
        let blocked =
            (0..ops.len()).any(|j| j != i && !done[j] && ops[j].ret.is_some_and(|r| r < ops[i].call));
        if blocked {
            continue;
        }
        let next = match ops[i].kind {
            BKind::Read(v) => (state == v).then_some(state),
            BKind::Write(v) => Some(Some(v)),
            BKind::CasApplied(a, b) => (state == Some(a)).then_some(Some(b)),
            BKind::CasNotApplied(a) => (state != Some(a)).then_some(state),
            BKind::CasMaybe(a, b) => Some(if state == Some(a) { Some(b) } else { state }),
        };
        if let Some(s) = next {
            done[i] = true;
            let ok = brute_valid(ops, done, s);
            done[i] = false;
            if ok {
                return true;
            }
        }
    }
    false
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10000, ..ProptestConfig::default() })]

    #[test]
    fn fast_search_agrees_with_brute_force(steps in proptest::collection::vec(step(), 1..22), etcd in any::<bool>()) {
        let events = build(&steps);
        let history = History::from_events("<prop>", &events, None).unwrap();
        let fail = if etcd { FailSemantics::ObservedOtherValue } else { FailSemantics::NeverHappened };
        let mut spec = ModelSpec::new(ModelKind::CasRegister, Format::Jsonl);
        spec.fail = fail;
        spec.nil_read = NilRead::Absent;
        let opts = CheckOptions { threads: 1, explain: true, ..CheckOptions::default() };
        let report = checker::check_linearizability(&history, &spec, &opts).unwrap();
        let ops = brute_ops(&history, fail);
        let expected = if brute_valid(&ops, &mut vec![false; ops.len()], None) { Verdict::Valid } else { Verdict::Invalid };
        prop_assert_eq!(report.verdict, expected, "history: {:#?}", history.ops);
        // The minimal counterexample of an invalid history must itself be invalid by brute force.
        if expected == Verdict::Invalid {
            let cx = &report.keys[0].explanation.as_ref().unwrap().counterexample;
            let sub = History { source: "<cx>".into(), ops: cx.ops.clone(), nemesis: vec![] };
            let sub_ops = brute_ops(&sub, fail);
            prop_assert!(!brute_valid(&sub_ops, &mut vec![false; sub_ops.len()], None), "counterexample is valid: {:#?}", cx.ops);
        }
    }
}

/// The property above means little if the generator made only valid (or only invalid) histories.
#[test]
fn generator_produces_both_verdicts_often() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = (proptest::collection::vec(step(), 1..22), any::<bool>());
    let (mut valid, mut invalid) = (0, 0);
    for _ in 0..500 {
        let (steps, etcd) = strategy.new_tree(&mut runner).unwrap().current();
        let history = History::from_events("<prop>", &build(&steps), None).unwrap();
        let fail = if etcd { FailSemantics::ObservedOtherValue } else { FailSemantics::NeverHappened };
        let ops = brute_ops(&history, fail);
        if brute_valid(&ops, &mut vec![false; ops.len()], None) {
            valid += 1;
        } else {
            invalid += 1;
        }
    }
    assert!(valid >= 100 && invalid >= 100, "valid {valid}, invalid {invalid}");
}
