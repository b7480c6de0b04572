//! Hand-written histories, one per anomaly the checker must catch (or must not flag).

use checker::durability::{
    FinalRead, LogCommand, LogEntry, NodeLog, check_committed_logs, check_final_reads,
};
use checker::{
    CheckOptions, Format, History, ModelKind, ModelSpec, Verdict, check_linearizability, parse_history,
};
use serde_json::{Value, json};

/// Builds a JSON Lines history from `(process, type, f, key, value)` rows, time = row number.
fn jsonl(rows: &[(u64, &str, &str, &str, Value)]) -> String {
    rows.iter()
        .enumerate()
        .map(|(t, (p, ty, f, k, v))| {
            json!({"process": p, "type": ty, "f": f, "key": k, "value": v, "time": t as u64}).to_string()
                + "\n"
        })
        .collect()
}

fn history(rows: &[(u64, &str, &str, &str, Value)]) -> History {
    parse_history(&jsonl(rows), Some(Format::Jsonl), "fixture.jsonl").expect("fixture parses").history
}

fn check(h: &History, kind: ModelKind) -> checker::LinearizabilityReport {
    check_linearizability(h, &ModelSpec::new(kind, Format::Jsonl), &CheckOptions::default())
        .expect("fixture fits the model")
}

const N: Value = Value::Null;

#[test]
fn stale_read_is_invalid_and_explained_with_the_three_operations() {
    let h = history(&[
        (1, "invoke", "write", "x", json!("1")),
        (1, "ok", "write", "x", json!("1")),
        (1, "invoke", "write", "x", json!("2")),
        (1, "ok", "write", "x", json!("2")),
        (2, "invoke", "read", "x", N),
        (2, "ok", "read", "x", json!("1")),
        // Unrelated traffic the counterexample should shed.
        (3, "invoke", "write", "y", json!("5")),
        (3, "ok", "write", "y", json!("5")),
    ]);
    let r = check(&h, ModelKind::CasRegister);
    assert_eq!(r.verdict, Verdict::Invalid);
    let x = r.keys.iter().find(|k| k.key.as_deref() == Some("x")).unwrap();
    assert_eq!(x.verdict, Verdict::Invalid);
    let e = x.explanation.as_ref().unwrap();
    assert_eq!(e.state_after_prefix, "2");
    assert!(e.stuck.iter().any(|s| s.op.f == "read" && s.rejected));
    let cx = &e.counterexample;
    assert!(cx.minimal);
    let fs: Vec<(&str, &Value)> =
        cx.ops.iter().map(|o| (o.f.as_str(), if o.f == "read" { &o.output } else { &o.input })).collect();
    assert_eq!(fs, vec![("write", &json!("1")), ("write", &json!("2")), ("read", &json!("1"))]);
    assert_eq!(cx.timeline.lines().count(), 3, "{}", cx.timeline);
    assert!(r.summary().contains("INVALID"), "{}", r.summary());
}

#[test]
fn acknowledged_write_lost_before_a_later_read_is_invalid() {
    let h = history(&[
        (1, "invoke", "write", "x", json!("1")),
        (1, "ok", "write", "x", json!("1")),
        (2, "invoke", "read", "x", N),
        (2, "ok", "read", "x", N),
    ]);
    assert_eq!(check(&h, ModelKind::Register).verdict, Verdict::Invalid);
}

#[test]
fn lost_acknowledged_append_is_invalid() {
    let h = history(&[
        (1, "invoke", "append", "l", json!("a")),
        (1, "ok", "append", "l", N),
        (2, "invoke", "append", "l", json!("b")),
        (2, "ok", "append", "l", N),
        (3, "invoke", "read", "l", N),
        (3, "ok", "read", "l", json!(["b"])),
    ]);
    assert_eq!(check(&h, ModelKind::ListAppend).verdict, Verdict::Invalid);
    let d = check_final_reads(&h, &[FinalRead { key: Some("l".into()), value: json!(["b"]) }], None);
    assert_eq!(d.verdict, Verdict::Invalid);
    assert_eq!(d.lost.len(), 1);
    assert_eq!(d.lost[0].op.input, json!("a"));
}

#[test]
fn phantom_value_is_invalid() {
    let h = history(&[
        (1, "invoke", "write", "x", json!("1")),
        (1, "ok", "write", "x", json!("1")),
        (2, "invoke", "read", "x", N),
        (2, "ok", "read", "x", json!("9")),
    ]);
    assert_eq!(check(&h, ModelKind::Register).verdict, Verdict::Invalid);
    let d = check_final_reads(&h, &[FinalRead { key: Some("x".into()), value: json!("1") }], None);
    assert_eq!(d.phantom.len(), 1);
    assert_eq!(d.phantom[0].value, json!("9"));
    assert!(d.lost.is_empty());
}

#[test]
fn cas_from_the_wrong_value_is_invalid() {
    let h = history(&[
        (1, "invoke", "write", "x", json!("1")),
        (1, "ok", "write", "x", json!("1")),
        (2, "invoke", "cas", "x", json!(["2", "3"])),
        (2, "ok", "cas", "x", json!(["2", "3"])),
    ]);
    let r = check(&h, ModelKind::CasRegister);
    assert_eq!(r.verdict, Verdict::Invalid);
    let e = r.keys[0].explanation.as_ref().unwrap();
    assert_eq!(e.stuck.len(), 1);
    assert_eq!(e.stuck[0].state, "1");
}

#[test]
fn info_write_that_took_effect_late_is_valid() {
    let h = history(&[
        (1, "invoke", "write", "x", json!("1")),
        (1, "info", "write", "x", N),
        (2, "invoke", "read", "x", N),
        (2, "ok", "read", "x", N),
        (3, "invoke", "read", "x", N),
        (3, "ok", "read", "x", json!("1")),
    ]);
    assert_eq!(check(&h, ModelKind::Register).verdict, Verdict::Valid);
}

#[test]
fn info_write_that_never_took_effect_is_valid() {
    let h = history(&[
        (1, "invoke", "write", "x", json!("1")),
        (1, "ok", "write", "x", json!("1")),
        (2, "invoke", "write", "x", json!("2")),
        (2, "info", "write", "x", N),
        (3, "invoke", "read", "x", N),
        (3, "ok", "read", "x", json!("1")),
        (4, "invoke", "read", "x", N),
        (4, "ok", "read", "x", json!("1")),
    ]);
    assert_eq!(check(&h, ModelKind::Register).verdict, Verdict::Valid);
}

#[test]
fn duplicated_append_in_the_final_list() {
    let h = history(&[(1, "invoke", "append", "l", json!("a")), (1, "ok", "append", "l", N)]);
    let d = check_final_reads(&h, &[FinalRead { key: Some("l".into()), value: json!(["a", "a"]) }], None);
    assert_eq!(d.verdict, Verdict::Invalid);
    assert_eq!(d.duplicated.len(), 1);
    assert_eq!((d.duplicated[0].times_in_final, d.duplicated[0].times_appended), (2, 1));
}

#[test]
fn lost_register_write_in_final_reads_and_overwrite_is_not_loss() {
    let h = history(&[
        (1, "invoke", "write", "x", json!("1")),
        (1, "ok", "write", "x", json!("1")),
        (1, "invoke", "write", "x", json!("2")),
        (2, "invoke", "write", "x", json!("3")),
        (1, "ok", "write", "x", json!("2")),
        (2, "ok", "write", "x", json!("3")),
    ]);
    // 2 and 3 were concurrent: either may be last, and both overwrite 1.
    for v in ["2", "3"] {
        let d = check_final_reads(&h, &[FinalRead { key: Some("x".into()), value: json!(v) }], None);
        assert_eq!(d.verdict, Verdict::Valid, "{d:?}");
    }
    // Final value 1 was overwritten by acknowledged writes that came after it: both are lost.
    let d = check_final_reads(&h, &[FinalRead { key: Some("x".into()), value: json!("1") }], None);
    assert_eq!(d.lost.len(), 2);
    // No final read for a key with acknowledged writes: unknown, not valid.
    assert_eq!(check_final_reads(&h, &[], None).verdict, Verdict::Unknown);
}

fn entry(index: u64, term: u64, op: &str, key: &str, value: &str) -> LogEntry {
    LogEntry {
        index,
        term,
        command: Some(LogCommand {
            op: op.into(),
            key: key.into(),
            ops: None,
            value: Some(json!(value)),
            from: None,
            to: None,
            client_id: None,
            seq: None,
        }),
    }
}

#[test]
fn committed_logs_divergence_and_absent_acknowledged_write() {
    let h = history(&[
        (1, "invoke", "write", "x", json!("1")),
        (1, "ok", "write", "x", json!("1")),
        (1, "invoke", "write", "x", json!("2")),
        (1, "ok", "write", "x", json!("2")),
    ]);
    let n1 = NodeLog {
        node: "n1".into(),
        snapshot_index: 0,
        snapshot_term: 0,
        entries: vec![entry(1, 1, "put", "x", "1"), entry(2, 1, "put", "x", "2")],
    };
    let agree = check_committed_logs(&[n1.clone(), NodeLog { node: "n2".into(), ..n1.clone() }], &h);
    assert_eq!(agree.verdict, Verdict::Valid, "{agree:?}");

    let n2 = NodeLog {
        node: "n2".into(),
        snapshot_index: 0,
        snapshot_term: 0,
        entries: vec![entry(1, 1, "put", "x", "1"), entry(2, 2, "put", "x", "9")],
    };
    let r = check_committed_logs(&[n1.clone(), n2], &h);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.divergences.len(), 1);
    assert_eq!(r.divergences[0].index, 2);

    let short = NodeLog { entries: vec![entry(1, 1, "put", "x", "1")], ..n1 };
    let r = check_committed_logs(&[short], &h);
    assert_eq!(r.absent_writes.len(), 1);
    assert_eq!(r.absent_writes[0].op.input, json!("2"));

    // n4 compacted index 1, n5 holds it: together they cover every index, so the missing write is
    // absent, not unverifiable. With index 1 held by nobody it could be in a snapshot: unverifiable,
    // which is a count of what the check could not see, not a fault.
    let n4 = NodeLog {
        node: "n4".into(),
        snapshot_index: 1,
        snapshot_term: 1,
        entries: vec![entry(2, 1, "put", "x", "9")],
    };
    let n5 = NodeLog {
        node: "n5".into(),
        snapshot_index: 0,
        entries: vec![entry(1, 1, "put", "x", "1")],
        ..n4.clone()
    };
    let r = check_committed_logs(&[n4.clone(), n5], &h);
    assert_eq!((r.verdict, r.absent_writes.len(), r.unverifiable_writes), (Verdict::Invalid, 1, 0), "{r:?}");
    let r = check_committed_logs(&[n4], &h);
    assert_eq!((r.verdict, r.absent_writes.len(), r.unverifiable_writes), (Verdict::Valid, 0, 2), "{r:?}");

    let body = r#"{"snapshot_index":0,"snapshot_term":0,"entries":[{"index":1,"term":1,"command":null},
        {"index":2,"term":1,"command":{"op":"cas","key":"x","from":null,"to":"b"}}]}"#;
    let log = NodeLog::from_debug_log("n3", body).unwrap();
    assert_eq!(log.entries.len(), 2);
    assert!(log.entries[0].command.is_none());
}

#[test]
fn bad_inputs_are_errors_naming_line_and_field() {
    // Unknown function for the model: reported at the invocation's line.
    let text = jsonl(&[(1, "invoke", "frobnicate", "x", N), (1, "ok", "frobnicate", "x", N)]);
    let h = parse_history(&text, None, "bad.jsonl").unwrap().history;
    let err = check_linearizability(
        &h,
        &ModelSpec::new(ModelKind::CasRegister, Format::Jsonl),
        &CheckOptions::default(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("bad.jsonl:1: field `f`: unknown function `frobnicate`"), "{msg}");
    // Bad value type in a completion: reported at the completion's line.
    let text = jsonl(&[(1, "invoke", "read", "x", N), (1, "ok", "read", "x", json!({"a": 1}))]);
    let h = parse_history(&text, None, "bad.jsonl").unwrap().history;
    let err = check_linearizability(
        &h,
        &ModelSpec::new(ModelKind::Register, Format::Jsonl),
        &CheckOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("bad.jsonl:2: field `value`"), "{err}");
}

/// A Jepsen `independent` history (values are `[key value]` tuples) is checked key by key: a stale
/// read on key 2 makes it invalid and names key 2, while key 1 stays valid.
#[test]
fn jepsen_independent_history_is_checked_per_key() {
    let text = "{:type :invoke, :f :write, :value [1 1], :process 0, :time 1}\n\
                {:type :ok, :f :write, :value [1 1], :process 0, :time 2}\n\
                {:type :invoke, :f :write, :value [2 1], :process 1, :time 3}\n\
                {:type :ok, :f :write, :value [2 1], :process 1, :time 4}\n\
                {:type :invoke, :f :write, :value [2 2], :process 1, :time 5}\n\
                {:type :ok, :f :write, :value [2 2], :process 1, :time 6}\n\
                {:type :invoke, :f :read, :value [1 nil], :process 2, :time 7}\n\
                {:type :ok, :f :read, :value [1 1], :process 2, :time 8}\n\
                {:type :invoke, :f :read, :value [2 nil], :process 2, :time 9}\n\
                {:type :ok, :f :read, :value [2 1], :process 2, :time 10}\n";
    let h = parse_history(text, Some(Format::Jepsen), "history.edn").expect("parses").history;
    let r = check_linearizability(
        &h,
        &ModelSpec::new(ModelKind::CasRegister, Format::Jepsen),
        &CheckOptions { all_keys: true, ..CheckOptions::default() },
    )
    .expect("fits the model");
    assert_eq!(r.verdict, Verdict::Invalid);
    let per_key: Vec<(Option<&str>, Verdict)> =
        r.keys.iter().map(|k| (k.key.as_deref(), k.verdict)).collect();
    assert_eq!(per_key, vec![(Some("1"), Verdict::Valid), (Some("2"), Verdict::Invalid)]);
}

#[test]
fn transactions_in_committed_logs_read_without_a_key_and_diverge_by_their_micro_operations() {
    let body = |ops: Value| {
        json!({"snapshot_index": 0, "snapshot_term": 0,
               "entries": [{"index": 1, "term": 1, "command": {"op": "txn", "ops": ops}}]})
        .to_string()
    };
    let a = NodeLog::from_debug_log("n1", &body(json!([{"f": "append", "key": "x", "value": "1"}]))).unwrap();
    let b = NodeLog::from_debug_log("n2", &body(json!([{"f": "append", "key": "x", "value": "2"}]))).unwrap();
    let c = NodeLog::from_debug_log("n3", &body(json!([{"f": "append", "key": "x", "value": "1"}]))).unwrap();
    let h = History::from_events("h", &[], None).unwrap();
    assert_eq!(check_committed_logs(&[a.clone(), c], &h).verdict, Verdict::Valid);
    let r = check_committed_logs(&[a, b], &h);
    assert_eq!((r.verdict, r.divergences.len()), (Verdict::Invalid, 1));
}
