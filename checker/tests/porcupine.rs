//! Every history Porcupine ships with a known verdict (`checker/testdata/porcupine/EXPECTED.tsv`, 113
//! rows) is checked with the model the row names and must get that verdict. The histories are copied
//! into the repository with Porcupine's MIT licence next to them (`SOURCE.txt` says from where).

use checker::{CheckOptions, ModelSpec, Verdict, check_linearizability, parse_history};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/porcupine")
}

#[test]
fn every_porcupine_history_gets_its_expected_verdict() {
    let dir = data_dir();
    let table = std::fs::read_to_string(dir.join("EXPECTED.tsv")).expect("EXPECTED.tsv is readable");
    let mut rows = 0;
    let mut failures = Vec::new();
    for line in table.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (path, model, expected, porcupine) = (cols[0], cols[1], cols[2], cols[7]);
        // `n/a` marks the empty etcd_095 log (the cluster never started); Porcupine calls it ok.
        let expected = match if expected == "n/a" { porcupine } else { expected } {
            "ok" => Verdict::Valid,
            "illegal" => Verdict::Invalid,
            other => panic!("unexpected verdict {other} in EXPECTED.tsv"),
        };
        let text = std::fs::read_to_string(dir.join(path)).expect("history file is readable");
        let parsed = parse_history(&text, None, path).unwrap_or_else(|e| panic!("{e}"));
        let spec = ModelSpec::parse(model, parsed.format).unwrap();
        let opts = CheckOptions {
            timeout: Some(Duration::from_secs(60)),
            explain: false,
            ..CheckOptions::default()
        };
        let started = Instant::now();
        let report = check_linearizability(&parsed.history, &spec, &opts).unwrap();
        eprintln!("{path}\t{model}\t{}\t{:?}", report.verdict, started.elapsed());
        if report.verdict != expected {
            failures.push(format!("{path} ({model}): expected {expected}, got {}", report.verdict));
        }
        rows += 1;
    }
    assert_eq!(rows, 113, "EXPECTED.tsv has 113 rows");
    assert!(failures.is_empty(), "{} rows disagree:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn exhausted_budgets_yield_unknown_with_the_reason() {
    // etcd_002 needs hundreds of thousands of steps, far past the first budget check.
    let text = std::fs::read_to_string(data_dir().join("jepsen/etcd_002.log")).unwrap();
    let parsed = parse_history(&text, None, "etcd_002.log").unwrap();
    let spec = ModelSpec::parse("etcd-cas-register", parsed.format).unwrap();
    let opts = CheckOptions { timeout: Some(Duration::ZERO), ..CheckOptions::default() };
    let r = check_linearizability(&parsed.history, &spec, &opts).unwrap();
    assert_eq!(r.verdict, Verdict::Unknown);
    assert_eq!(r.undecided(), vec![(None, checker::UnknownReason::Timeout)]);
    let opts = CheckOptions { memory_limit: Some(1024), ..CheckOptions::default() };
    let r = check_linearizability(&parsed.history, &spec, &opts).unwrap();
    assert_eq!(r.undecided(), vec![(None, checker::UnknownReason::MemoryLimit)]);
}

/// Verdict first on `kv/c50-bad.txt`: every key is invalid, but key 0 takes 29 million steps to prove
/// so. Key 0 is the largest and starts first; even on one thread, time slicing reaches a cheap key,
/// whose violation decides the verdict and cancels the rest. Only that key is explained.
#[test]
fn c50_bad_verdict_comes_from_a_cheap_key_and_only_it_is_explained() {
    let text = std::fs::read_to_string(data_dir().join("kv/c50-bad.txt")).unwrap();
    let parsed = parse_history(&text, None, "c50-bad.txt").unwrap();
    let spec = ModelSpec::parse("kv-partitioned", parsed.format).unwrap();
    let opts = CheckOptions { threads: 1, ..CheckOptions::default() };
    let r = check_linearizability(&parsed.history, &spec, &opts).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    let invalid = r.invalid_keys();
    assert_eq!(invalid.len(), 1, "{}", r.summary());
    assert!(invalid[0].explanation.is_some());
    assert!(r.keys.iter().filter(|k| k.verdict == Verdict::Invalid).all(|k| k.explanation.is_some()));
    assert_eq!(r.undecided().len(), 9);
    assert!(r.undecided().iter().all(|(_, why)| *why == checker::UnknownReason::Cancelled));
    let key0 = r.keys.iter().find(|k| k.key.as_deref() == Some("0")).unwrap();
    assert!(key0.steps <= checker::linearizability::SLICE_STEPS, "key 0 was not searched to its end");
}
