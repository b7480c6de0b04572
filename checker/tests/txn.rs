//! The transactional checker on hand-written histories: each anomaly class found and named, each
//! consistency model deciding which of them are violations.
//!
//! Transactions are written in a short notation (after Elle's tests): `ax1` appends 1 to x, `ry12`
//! reads y = [1 2], `rx` reads x = [] (for registers: `wx3` writes 3, `rx3` reads 3, `rx` reads nil).
//! A history is a list of events `(process, type, transaction)`; an invocation's reads are written
//! without values automatically.

use checker::Anomaly::{self, *};
use checker::Verdict;
use checker::txn::{ConsistencyModel, DepKind, TxnKind, TxnOptions, TxnReport, check_history};
use serde_json::{Value, json};

/// The micro-operations of `spec` for list-append (`list = true`) or registers; reads are nil when
/// `invoke`.
fn mops(spec: &str, list: bool, invoke: bool) -> Value {
    let ops: Vec<Value> = spec
        .split_whitespace()
        .map(|m| {
            let (f, rest) = m.split_at(1);
            let (key, digits) = rest.split_at(1);
            let f = match (f, list) {
                ("a", _) => "append",
                ("w", _) => "w",
                ("r", _) => "r",
                _ => panic!("bad micro-op {m}"),
            };
            let value = match f {
                "r" if invoke => Value::Null,
                "r" if list => {
                    json!(digits.chars().map(|c| c.to_digit(10).expect("a digit")).collect::<Vec<u32>>())
                }
                "r" if digits.is_empty() => Value::Null,
                _ => json!(digits.parse::<u32>().expect("a number")),
            };
            json!([f, key, value])
        })
        .collect();
    Value::Array(ops)
}

/// A history of events `(process, type, transaction)` as our JSON Lines.
fn jsonl(events: &[(u64, &str, &str)], list: bool) -> String {
    events
        .iter()
        .enumerate()
        .map(|(i, (p, ty, spec))| {
            let value = mops(spec, list, *ty == "invoke");
            json!({"process": p, "type": ty, "f": "txn", "value": value, "time": i as u64 * 1000}).to_string()
                + "\n"
        })
        .collect()
}

fn check(events: &[(u64, &str, &str)], kind: TxnKind, model: ConsistencyModel) -> TxnReport {
    let text = jsonl(events, kind == TxnKind::ListAppend);
    let h = checker::parse_history(&text, None, "test.jsonl").expect("the history parses").history;
    check_history(&h, &TxnOptions::new(kind, model)).expect("the check runs")
}

fn append(events: &[(u64, &str, &str)], model: ConsistencyModel) -> TxnReport {
    check(events, TxnKind::ListAppend, model)
}

fn register(events: &[(u64, &str, &str)], model: ConsistencyModel) -> TxnReport {
    check(events, TxnKind::RwRegister, model)
}

/// Each transaction invoked and completed `ok` before the next begins.
fn sequential(txns: &[(u64, &'static str)]) -> Vec<(u64, &'static str, &'static str)> {
    txns.iter().flat_map(|&(p, t)| [(p, "invoke", t), (p, "ok", t)]).collect()
}

/// Every transaction invoked before any completes (no real-time order between them), then all `ok`.
fn concurrent(txns: &[(u64, &'static str)]) -> Vec<(u64, &'static str, &'static str)> {
    let mut events: Vec<_> = txns.iter().map(|&(p, t)| (p, "invoke", t)).collect();
    events.extend(txns.iter().map(|&(p, t)| (p, "ok", t)));
    events
}

fn classes(r: &TxnReport) -> Vec<Anomaly> {
    r.counts.keys().copied().collect()
}

use ConsistencyModel::{ReadCommitted, Serializable, SnapshotIsolation, StrictSerializable};

/// The verdict of `events` under each model, weakest first.
fn verdicts(events: &[(u64, &str, &str)], kind: TxnKind) -> [Verdict; 4] {
    [ReadCommitted, SnapshotIsolation, Serializable, StrictSerializable]
        .map(|m| check(events, kind, m).verdict)
}

const V: Verdict = Verdict::Valid;
const I: Verdict = Verdict::Invalid;

// ---------------------------------------------------------------------------------------------
// list-append

#[test]
fn a_serial_history_is_valid_under_every_model() {
    let h = sequential(&[(0, "ax1 ay1"), (1, "rx1 ry1 ax2"), (2, "rx12 ry1"), (0, "ay2 ry12")]);
    assert_eq!(verdicts(&h, TxnKind::ListAppend), [V, V, V, V]);
    let r = append(&h, StrictSerializable);
    assert!(r.counts.is_empty(), "{r:#?}");
    assert!(r.edges.ww > 0 && r.edges.wr > 0 && r.edges.realtime > 0, "{:?}", r.edges);
    assert_eq!((r.transactions.ok, r.keys, r.sccs), (4, 2, 0));
}

#[test]
fn g0_write_cycle() {
    // x says T1 then T2; y says T2 then T1.
    let h = concurrent(&[(0, "ax1 ay1"), (1, "ax2 ay2"), (2, "rx12 ry21")]);
    let r = append(&h, ReadCommitted);
    assert_eq!(classes(&r), [G0]);
    assert_eq!(r.verdict, I);
    let a = &r.anomalies[0];
    assert_eq!(a.steps.len(), 2);
    assert!(a.steps.iter().all(|s| s.kind == DepKind::Ww), "{a:#?}");
    assert!(a.explanation.contains("appended 2 after"), "{}", a.explanation);
    assert!(a.explanation.ends_with("a contradiction!"), "{}", a.explanation);
}

#[test]
fn g1a_aborted_read() {
    let h = [(0, "invoke", "ax1"), (0, "fail", "ax1"), (1, "invoke", "rx"), (1, "ok", "rx1")];
    let r = append(&h, ReadCommitted);
    assert_eq!(classes(&r), [G1a]);
    assert_eq!(r.verdict, I);
    assert_eq!(r.anomalies[0].txns.len(), 2);
}

#[test]
fn g1b_intermediate_read() {
    let h = concurrent(&[(0, "ax1 ax2"), (1, "rx1")]);
    let r = append(&h, ReadCommitted);
    // The reader also missed the append of 2 that followed what it read (rw) while reading from its
    // appender (wr): a G-single cycle as well.
    assert_eq!(classes(&r), [GSingle, G1b]);
    assert_eq!(r.verdict, I);
    // A transaction reading its own intermediate state is fine.
    let h = concurrent(&[(0, "ax1 rx1 ax2")]);
    assert!(append(&h, StrictSerializable).counts.is_empty());
}

#[test]
fn g1c_cyclic_information_flow() {
    // T1 read T2's append to y; T3's read of x puts T1's append before T2's.
    let h = concurrent(&[(0, "ax1 ry1"), (1, "ax2 ay1"), (2, "rx12")]);
    let r = append(&h, ReadCommitted);
    assert_eq!(classes(&r), [G1c]);
    let kinds: Vec<DepKind> = r.anomalies[0].steps.iter().map(|s| s.kind).collect();
    assert!(kinds.contains(&DepKind::Wr) && kinds.contains(&DepKind::Ww), "{kinds:?}");
}

#[test]
fn a_future_read_is_g1c() {
    let h = concurrent(&[(0, "rx1 ax1")]);
    let r = append(&h, ReadCommitted);
    assert_eq!(classes(&r), [G1c]);
    assert!(r.anomalies[0].explanation.contains("own future"), "{}", r.anomalies[0].explanation);
}

#[test]
fn internal_inconsistency_is_allowed_only_under_read_committed() {
    // It read [1 2], appended 3 and read [1 2] again.
    let h = concurrent(&[(0, "ax1 ax2"), (1, "rx12 ax3 rx12")]);
    assert_eq!(classes(&append(&h, ReadCommitted)), [Internal]);
    assert_eq!(verdicts(&h, TxnKind::ListAppend), [V, I, I, I]);
    // Appends of its own without a read before: the read must end with them.
    let h = concurrent(&[(0, "ax1"), (1, "ax3 rx1")]);
    assert_eq!(classes(&append(&h, StrictSerializable)), [Internal]);
}

#[test]
fn g_single_read_skew() {
    // T2 saw T1's append to x but not its append to y.
    let h = concurrent(&[(0, "ax1 ay1"), (1, "rx1 ry"), (2, "rx1 ry1")]);
    let r = append(&h, StrictSerializable);
    assert_eq!(classes(&r), [GSingle]);
    assert_eq!(verdicts(&h, TxnKind::ListAppend), [V, I, I, I]);
    let rw: Vec<_> = r.anomalies[0].steps.iter().filter(|s| s.kind == DepKind::Rw).collect();
    assert_eq!(rw.len(), 1);
    assert!(rw[0].text.contains("initial (empty) state of y"), "{}", rw[0].text);
}

#[test]
fn g2_item_write_skew() {
    // Each read both keys empty and appended to one: each missed the other's append.
    let h = concurrent(&[(0, "rx ry ax1"), (1, "rx ry ay1"), (2, "rx1 ry1")]);
    let r = append(&h, StrictSerializable);
    assert_eq!(classes(&r), [G2Item]);
    assert_eq!(verdicts(&h, TxnKind::ListAppend), [V, V, I, I]);
}

#[test]
fn g_nonadjacent_long_fork() {
    // Two writers of x and y; one reader sees x's append and not y's, the other y's and not x's:
    // the readers saw the writes in different orders, which no snapshot allows.
    let h = concurrent(&[(0, "ax1"), (1, "ay1"), (2, "rx1 ry"), (3, "ry1 rx"), (4, "rx1 ry1")]);
    let r = append(&h, SnapshotIsolation);
    assert_eq!(classes(&r), [GNonadjacent]);
    let a = &r.anomalies[0];
    let rw: Vec<_> = a.steps.iter().filter(|s| s.kind == DepKind::Rw).collect();
    assert_eq!((a.steps.len(), rw.len()), (4, 2), "{a:#?}");
    assert_eq!(verdicts(&h, TxnKind::ListAppend), [V, I, I, I]);
}

#[test]
fn a_stale_read_is_g_single_realtime() {
    // T1 appended and completed; T2 began afterwards and read x empty.
    let h = sequential(&[(0, "ax1"), (1, "rx")]);
    let r = append(&h, StrictSerializable);
    assert_eq!(classes(&r), [GSingleRealtime]);
    assert_eq!(verdicts(&h, TxnKind::ListAppend), [V, V, V, I]);
    let a = &r.anomalies[0];
    assert!(a.prohibited);
    assert_eq!(a.time, Some(3000), "the evidence is complete when the stale read completes");
    assert!(a.explanation.contains("completed (line 2) before T"), "{}", a.explanation);
}

#[test]
fn a_cycle_through_a_process_is_named_for_it() {
    // Process 0 read x = [1] and later appended 1 to x itself: its later transaction wrote what the
    // earlier one read.
    let h = sequential(&[(0, "rx1"), (0, "ax1")]);
    let r = append(&h, StrictSerializable);
    assert_eq!(classes(&r), [G1cProcess]);
    assert_eq!(verdicts(&h, TxnKind::ListAppend), [V, V, V, I]);
}

#[test]
fn incompatible_orders_duplicates_and_garbage_are_always_violations() {
    let h = concurrent(&[(0, "ax1 ax2"), (1, "ax3"), (2, "rx12"), (3, "rx13")]);
    assert!(classes(&append(&h, ReadCommitted)).contains(&IncompatibleOrder));
    assert_eq!(verdicts(&h, TxnKind::ListAppend)[0], I);
    let h = concurrent(&[(0, "ax1"), (1, "rx11")]);
    assert_eq!(classes(&append(&h, ReadCommitted)), [DuplicateElements]);
    let h = concurrent(&[(0, "ax1"), (1, "rx19")]);
    assert_eq!(classes(&append(&h, ReadCommitted)), [GarbageRead]);
}

#[test]
fn indeterminate_transactions_may_or_may_not_have_happened() {
    // An info append that someone read happened; one nobody read adds nothing.
    let h = [
        (0, "invoke", "ax1"),
        (0, "info", "ax1"),
        (1, "invoke", "ax2"),
        (1, "info", "ax2"),
        (2, "invoke", "rx"),
        (2, "ok", "rx1"),
    ];
    let r = append(&h, StrictSerializable);
    assert_eq!(r.verdict, V, "{r:#?}");
    assert_eq!((r.transactions.info, r.edges.wr), (2, 1));
    // Its read of nil is not an observation: no rw from it.
    let h = [(0, "invoke", "ry ax5"), (0, "info", "ry ax5"), (1, "invoke", "ay1"), (1, "ok", "ay1")];
    assert_eq!(append(&h, StrictSerializable).edges.rw, 0);
}

#[test]
fn unread_appends_still_follow_what_reads_saw() {
    // Two appends never read: both come after the initial state the first read saw.
    let h = concurrent(&[(0, "rx"), (1, "ax1"), (2, "ax2")]);
    assert_eq!(append(&h, StrictSerializable).edges.rw, 2);
}

#[test]
fn a_value_appended_twice_is_an_error_naming_both_lines() {
    let text = jsonl(&concurrent(&[(0, "ax1"), (1, "ax1")]), true);
    let h = checker::parse_history(&text, None, "twice.jsonl").unwrap().history;
    let e = check_history(&h, &TxnOptions::new(TxnKind::ListAppend, StrictSerializable)).unwrap_err();
    assert!(e.to_string().contains("appended to x already on line 3"), "{e}");
}

#[test]
fn a_value_written_twice_is_an_error_naming_both_lines() {
    let text = jsonl(&concurrent(&[(0, "wx1"), (1, "wx1")]), false);
    let h = checker::parse_history(&text, None, "twice.jsonl").unwrap().history;
    let e = check_history(&h, &TxnOptions::new(TxnKind::RwRegister, StrictSerializable)).unwrap_err();
    assert!(e.to_string().contains("written to x already on line 3"), "{e}");
    assert!(e.to_string().contains("told apart by their values"), "{e}");
}

#[test]
fn a_long_realtime_chain_of_stale_reads_is_explained_in_two_steps() {
    // Six transactions in a row, the last missing the first's append. Real-time edges are a
    // transitive reduction (each transaction to the next), but the explained cycle goes straight
    // back: T1 completed before T2 began.
    let txns = [(0, "ax1"), (1, "ay1 ry1"), (2, "az1"), (3, "az2"), (4, "rz12"), (5, "rx")];
    let r = append(&sequential(&txns), StrictSerializable);
    assert_eq!(classes(&r), [GSingleRealtime]);
    let a = &r.anomalies[0];
    assert_eq!(a.steps.len(), 2, "{a:#?}");
    assert_eq!(a.steps.iter().map(|s| s.kind).collect::<Vec<_>>(), [DepKind::Rw, DepKind::Realtime]);
}

// ---------------------------------------------------------------------------------------------
// registers

#[test]
fn register_serial_history_is_valid() {
    let h = sequential(&[(0, "wx1 wy1"), (1, "rx1 wx2"), (2, "rx2 ry1"), (0, "ry1 wy2")]);
    assert_eq!(verdicts(&h, TxnKind::RwRegister), [V, V, V, V]);
}

#[test]
fn register_aborted_intermediate_garbage_and_internal_reads() {
    let h = [(0, "invoke", "wx1"), (0, "fail", "wx1"), (1, "invoke", "rx"), (1, "ok", "rx1")];
    assert_eq!(classes(&register(&h, ReadCommitted)), [G1a]);
    let h = concurrent(&[(0, "wx1 wx2"), (1, "rx1")]);
    assert_eq!(classes(&register(&h, ReadCommitted)), [G1b]);
    let h = concurrent(&[(0, "rx7")]);
    assert_eq!(classes(&register(&h, ReadCommitted)), [GarbageRead]);
    let h = concurrent(&[(0, "wx1"), (1, "wx2 rx1")]);
    assert_eq!(classes(&register(&h, StrictSerializable)), [Internal]);
    let h = concurrent(&[(0, "rx3 wx3")]);
    assert_eq!(classes(&register(&h, ReadCommitted)), [G1c]);
}

#[test]
fn register_stale_read_through_writes_follow_reads() {
    // T1 wrote 1; T2 read 1 and wrote 2 (so 1 < 2); T3 began after T2 completed and read 1.
    let h = sequential(&[(0, "wx1"), (1, "rx1 wx2"), (2, "rx1")]);
    let r = register(&h, StrictSerializable);
    assert_eq!(classes(&r), [GSingleRealtime]);
    assert_eq!(verdicts(&h, TxnKind::RwRegister), [V, V, V, I]);
    let rw = r.anomalies[0].steps.iter().find(|s| s.kind == DepKind::Rw).unwrap();
    assert_eq!(rw.text, "T1 read 1 from x, which T2 overwrote with 2");
}

#[test]
fn register_write_skew_is_g2_item() {
    let h = concurrent(&[(0, "rx ry wx1"), (1, "rx ry wy1")]);
    let r = register(&h, StrictSerializable);
    assert_eq!(classes(&r), [G2Item]);
    assert_eq!(verdicts(&h, TxnKind::RwRegister), [V, V, I, I]);
}

#[test]
fn register_read_skew_is_g_single() {
    // T2 read T1's x but the initial y, which T1 had written.
    let h = concurrent(&[(0, "wx1 wy1"), (1, "rx1 ry")]);
    assert_eq!(classes(&register(&h, StrictSerializable)), [GSingle]);
}

#[test]
fn register_versions_in_a_cycle_are_an_incompatible_order() {
    // T1 read 2 and wrote 1; T2 read 1 and wrote 2: each version must precede the other.
    let h = concurrent(&[(0, "rx2 wx1"), (1, "rx1 wx2")]);
    let r = register(&h, ReadCommitted);
    assert!(classes(&r).contains(&IncompatibleOrder), "{:?}", classes(&r));
    // Each also read the other's write (wr) and wrote after it (ww): a cycle, named by ww (G0).
    assert!(classes(&r).contains(&G0), "{:?}", classes(&r));
    assert_eq!(r.verdict, I);
}

// ---------------------------------------------------------------------------------------------
// The report

#[test]
fn the_report_serializes_with_class_words_and_step_kinds() {
    let r = append(&sequential(&[(0, "ax1"), (1, "rx")]), StrictSerializable);
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["verdict"], "invalid");
    assert_eq!(v["kind"], "txn-append");
    assert_eq!(v["consistency_model"], "strict-serializable");
    assert_eq!(v["counts"]["G-single-realtime"], 1);
    assert_eq!(v["anomalies"][0]["steps"][0]["kind"], "rw");
    let back: TxnReport = serde_json::from_value(v).unwrap();
    assert_eq!(back, r);
    assert!(
        r.summary().contains("G-single-realtime: 1 (forbidden by strict-serializable)"),
        "{}",
        r.summary()
    );
}
