//! Elle's own list-append examples, read from its EDN as Elle writes it and decided as Elle's
//! documentation says (see `checker/testdata/elle/SOURCE.txt` for where each comes from and what
//! is expected, and `LICENSE-elle.md` for Elle's licence).

use checker::Anomaly::{self, *};
use checker::Verdict;
use checker::format::{Format, parse_events};
use checker::txn::{ConsistencyModel, DepKind, TxnHistory, TxnKind, TxnOptions, TxnReport, check};
use std::path::Path;

fn load(name: &str) -> TxnHistory {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/elle").join(name);
    let text = std::fs::read_to_string(&path).expect("the fixture is readable");
    assert_eq!(Format::guess(&text).expect("a known format"), Format::Jepsen, "{name}");
    let (events, lines) = parse_events(&text, Format::Jepsen, name).expect("Elle's EDN reads");
    TxnHistory::from_events(name, &events, &lines, TxnKind::ListAppend.shape()).expect("transactions pair")
}

fn decide(h: &TxnHistory, model: ConsistencyModel) -> TxnReport {
    check(h, &TxnOptions::new(TxnKind::ListAppend, model)).expect("the check runs")
}

fn classes(r: &TxnReport) -> Vec<Anomaly> {
    r.counts.keys().copied().collect()
}

#[test]
fn the_readme_demo_is_g1c_and_not_read_committed() {
    let h = load("readme-demo.edn");
    assert_eq!(h.txns.len(), 3);
    let r = decide(&h, ConsistencyModel::Serializable);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(classes(&r), [G1c]);
    // Weaker than serializable too: the README's `:not #{:read-committed}`.
    assert_eq!(decide(&h, ConsistencyModel::ReadCommitted).verdict, Verdict::Invalid);
    // The README's explanation: T2 observed T1's append of 1 to y; T1 appended 2 after T2 appended
    // 1 to x. Our T1 is the README's T2 and the other way round, whichever the cycle starts with.
    let a = &r.anomalies[0];
    let kinds: Vec<DepKind> = a.steps.iter().map(|s| s.kind).collect();
    assert_eq!(kinds.len(), 2);
    assert!(kinds.contains(&DepKind::Wr) && kinds.contains(&DepKind::Ww), "{kinds:?}");
    assert!(a.explanation.contains("observed T"), "{}", a.explanation);
    assert!(a.explanation.contains("'s append of 1 to y"), "{}", a.explanation);
    assert!(a.explanation.contains("appended 2 after T"), "{}", a.explanation);
    assert!(a.explanation.contains("appended 1 to x"), "{}", a.explanation);
}

#[test]
fn the_paper_example_is_g_single() {
    // T4 read 255 = [2 3 4 5], missing T2's 8 (rw); T3 read 255 with T2's 8 (wr); T4 appended 3 to
    // 256, which T3's read of 256 = [1 2 4] does not hold, so after T3's 4 (ww): T2 < T3 < T4 < T2.
    let h = load("paper-example.edn");
    assert_eq!(h.txns.len(), 4);
    assert!(h.txns.iter().all(|t| t.process.is_none()), "the file names no processes");
    let strict = decide(&h, ConsistencyModel::StrictSerializable);
    assert_eq!(strict.verdict, Verdict::Invalid, "{}", strict.summary());
    assert_eq!(classes(&strict), [GSingle]);
    let a = &strict.anomalies[0];
    assert_eq!(a.steps.iter().filter(|s| s.kind == DepKind::Rw).count(), 1, "{}", a.explanation);
    assert!(a.explanation.contains("appended 3 after T"), "{}", a.explanation);
    for model in [ConsistencyModel::Serializable, ConsistencyModel::SnapshotIsolation] {
        assert_eq!(decide(&h, model).verdict, Verdict::Invalid, "{model}");
    }
    assert_eq!(decide(&h, ConsistencyModel::ReadCommitted).verdict, Verdict::Valid);
}

#[test]
fn si_without_g_single_is_g2_item_only() {
    let h = load("si-without-g-single.edn");
    let si = decide(&h, ConsistencyModel::SnapshotIsolation);
    assert_eq!(classes(&si), [G2Item], "{}", si.summary());
    assert_eq!(si.verdict, Verdict::Valid);
    assert_eq!(decide(&h, ConsistencyModel::Serializable).verdict, Verdict::Invalid);
}
