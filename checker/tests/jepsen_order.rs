//! Jepsen histories are ordered by position (`:index`, else line order), never by `:time`, and decided
//! as Knossos decides them: the cas-register model from the initial value 0 (Knossos's own test suite
//! checks its `data/cas-register` folder with `(cas-register 0)`), `fail` never happened, a read of nil
//! constrains nothing, `info` may or may not have happened.
//!
//! The histories are ours, hand-written in the shapes Knossos's data uses, in `tests/jepsen/`. The ones
//! about order are built so that ordering by time (or by line, where `:index` says otherwise) flips the
//! verdict, and the tests check that it does: if the checker ever went back to time order, they fail.

use checker::format::parse_events;
use checker::history::Event;
use checker::ops::Problem;
use checker::{
    CheckOptions, Format, History, LinearizabilityReport, ModelKind, ModelSpec, Verdict,
    check_linearizability, parse_history,
};
use std::path::PathBuf;

fn read(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/jepsen").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Knossos's model: a cas register starting at 0.
fn knossos_spec() -> ModelSpec {
    let mut spec = ModelSpec::new(ModelKind::CasRegister, Format::Jepsen);
    spec.initial = Some(serde_json::json!(0));
    spec
}

fn check(history: &History) -> LinearizabilityReport {
    check_linearizability(history, &knossos_spec(), &CheckOptions { threads: 1, ..CheckOptions::default() })
        .expect("the history fits the cas-register model")
}

fn verdict_of(name: &str) -> Verdict {
    let parsed = parse_history(&read(name), None, name).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed.format, Format::Jepsen, "{name} is read as a Jepsen history");
    assert_eq!(ModelKind::default_for(parsed.format, &parsed.history.ops), ModelKind::CasRegister);
    check(&parsed.history).verdict
}

/// The verdict if the events were ordered by `:time` instead (stable, so ties keep their position).
fn verdict_if_ordered_by_time(name: &str) -> Verdict {
    let (mut events, _) = parse_events(&read(name), Format::Jepsen, name).expect("parses");
    events.sort_by_key(|e: &Event| e.time);
    check(&History::from_events(name, &events, None).expect("pairs")).verdict
}

#[test]
fn every_fixture_gets_the_verdict_knossos_gives() {
    let expected = [
        ("times-backwards-bad.edn", Verdict::Invalid),
        ("times-backwards-good.edn", Verdict::Valid),
        ("index-out-of-order-good.edn", Verdict::Valid),
        ("index-out-of-order-bad.edn", Verdict::Invalid),
        ("index-in-order-bad.edn", Verdict::Invalid),
        ("info-good.edn", Verdict::Valid),
        ("info-bad.edn", Verdict::Invalid),
        ("cas-register-good.edn", Verdict::Valid),
        ("cas-register-bad.edn", Verdict::Invalid),
    ];
    let got: Vec<(&str, Verdict)> = expected.iter().map(|(name, _)| (*name, verdict_of(name))).collect();
    assert_eq!(got, expected);
}

#[test]
fn times_going_backwards_are_read_and_do_not_order_the_history() {
    let parsed = parse_history(&read("times-backwards-good.edn"), None, "t.edn").unwrap();
    let ops = &parsed.history.ops;
    // Kept as recorded, for display: the second operation's clock is behind the first's.
    assert_eq!((ops[0].invoke_time, ops[1].invoke_time), (1000, 900));
    // Ordered by line: the read (line 6) starts after the write completed (line 5).
    assert!(ops[1].invoke_index > ops[0].complete_index.unwrap());
    for name in ["times-backwards-good.edn", "times-backwards-bad.edn", "index-in-order-bad.edn"] {
        assert_ne!(verdict_if_ordered_by_time(name), verdict_of(name), "{name} must tell the orders apart");
    }
}

#[test]
fn index_fields_order_the_history_whatever_the_lines_and_times_say() {
    let parsed = parse_history(&read("index-out-of-order-good.edn"), None, "i.edn").unwrap();
    let ops = &parsed.history.ops;
    // The write (lines 6-7, :index 0-1) comes first; the read (lines 4-5, :index 2-3) after it.
    assert_eq!((ops[0].f.as_str(), ops[0].invoke_line, ops[0].invoke_index), ("write", 6, 0));
    assert_eq!((ops[1].f.as_str(), ops[1].invoke_line, ops[1].invoke_index), ("read", 4, 2));
    for name in ["index-out-of-order-good.edn", "index-out-of-order-bad.edn"] {
        // Time order is line order in these files: both disagree with :index.
        assert_ne!(verdict_if_ordered_by_time(name), verdict_of(name), "{name} must tell the orders apart");
    }
}

#[test]
fn a_missing_or_repeated_index_is_an_error_naming_the_line() {
    let text = "{:index 0, :type :invoke, :f :read, :value nil, :process 1}\n\
                {:type :ok, :f :read, :value 0, :process 1}\n";
    let err = parse_history(text, None, "h.edn").unwrap_err();
    assert_eq!((err.line, err.field.as_deref()), (2, Some(":index")), "{err}");
    let text = "{:index 0, :type :invoke, :f :read, :value nil, :process 1}\n\
                {:index 1, :type :ok, :f :read, :value 0, :process 1}\n\
                {:index 1, :type :invoke, :f :read, :value nil, :process 1}\n";
    let err = parse_history(text, None, "h.edn").unwrap_err();
    assert_eq!(err.line, 3, "{err}");
    assert_eq!(*err.problem, Problem::DuplicateIndex { index: 1, first_line: 2 });
    let err = parse_history("{:index -1, :type :invoke, :f :read, :process 1}", None, "h.edn").unwrap_err();
    assert_eq!(err.field.as_deref(), Some(":index"), "{err}");
}

#[test]
fn processes_are_reused_and_info_operations_stay_open() {
    let parsed = parse_history(&read("info-good.edn"), None, "info.edn").unwrap();
    let ops = &parsed.history.ops;
    let p0: Vec<(&str, checker::Outcome)> =
        ops.iter().filter(|o| o.process == 0).map(|o| (o.f.as_str(), o.outcome)).collect();
    assert_eq!(p0, vec![("write", checker::Outcome::Info), ("read", checker::Outcome::Ok)]);
    assert_eq!(ops[0].error.as_deref(), Some("timeout"));
    // The last read never completed: pending, like info.
    assert_eq!(ops.last().unwrap().outcome, checker::Outcome::Pending);
    // `:error nil` is no error.
    let text = "{:type :invoke, :f :read, :value nil, :process 1}\n\
                {:type :fail, :f :read, :value nil, :process 1, :error nil}\n";
    assert_eq!(parse_history(text, None, "h.edn").unwrap().history.ops[0].error, None);
}

#[test]
fn knossos_initial_value_zero_is_what_makes_the_good_cas_history_good() {
    let parsed = parse_history(&read("cas-register-good.edn"), None, "c.edn").unwrap();
    let absent = ModelSpec::new(ModelKind::CasRegister, Format::Jepsen);
    let r = check_linearizability(&parsed.history, &absent, &CheckOptions::default()).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid, "cas [0 1] cannot succeed on an absent register");
    assert_eq!(check(&parsed.history).verdict, Verdict::Valid);
}
