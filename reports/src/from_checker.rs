//! Building the report's [`Results`] from the checker's own result types.
//!
//! The harness runs the checks and calls one `add_*` method per report it got, in the order the
//! checks should be listed. Each adds a [`Check`] line with the anomaly classes of its findings, plus
//! counterexamples or durability findings. The classes (stale-read, lost-append, ...) are decided by
//! [`checker::anomaly`], not here: they make campaign fingerprints and matrix rows, which must name a
//! finding the same way whoever renders it. This module only copies their words into the report.

use crate::results::{
    CexOp, Check, Counterexample, DurabilityFinding, Results, TxnAnomaly, TxnNode, TxnStep,
};
use checker::Verdict;
use checker::anomaly::{self, Anomaly, Finding};
use checker::durability::{DurabilityReport, LogReport};
use checker::explain::Explanation;
use checker::history::EventType;
use checker::ops::{Operation, Outcome, compact};
use checker::txn::TxnReport;
use checker::{KeyResult, LinearizabilityReport};
use std::collections::{BTreeSet, HashMap};

fn cex_op(op: &Operation) -> CexOp {
    let outcome = match op.outcome {
        Outcome::Ok => EventType::Ok,
        Outcome::Fail => EventType::Fail,
        Outcome::Info => EventType::Info,
        Outcome::Pending => EventType::Invoke,
    };
    CexOp {
        process: op.process,
        f: op.f.clone(),
        input: op.input.clone(),
        output: op.output.clone(),
        outcome,
        start: op.invoke_time,
        // An info operation may take effect at any time after its invocation: drawn open-ended.
        end: if op.outcome == Outcome::Ok || op.outcome == Outcome::Fail { op.complete_time } else { None },
        node: op.node.clone(),
    }
}

/// The counterexample of one invalid key: the checker's minimal operations, with the culprit and the
/// linearization taken from the explanation of the whole key (restricted to the operations the
/// counterexample kept), and the class [`checker::anomaly::classify`] gives the explanation.
pub fn counterexample(key: &KeyResult, model: &str, e: &Explanation) -> Counterexample {
    let mut kept: Vec<&Operation> = e.counterexample.ops.iter().collect();
    // Position order (a Jepsen history's times may go backwards between operations).
    kept.sort_by_key(|op| op.invoke_index);
    let index: HashMap<usize, usize> = kept.iter().enumerate().map(|(i, op)| (op.id, i)).collect();
    let linearization: Vec<usize> = e.longest_prefix.iter().filter_map(|id| index.get(id).copied()).collect();
    let stuck = e.culprit();
    let culprit = stuck.map(|s| index[&s.op.id]);
    let state = stuck.map(|s| s.state.clone()).or_else(|| Some(e.state_after_prefix.clone()));
    Counterexample {
        key: key.key.clone().unwrap_or_else(|| "(no key)".to_owned()),
        model: model.to_owned(),
        anomaly: anomaly::classify(e).name().to_owned(),
        ops: kept.into_iter().map(cex_op).collect(),
        linearization,
        culprit,
        state,
        sentence: String::new(),
        original_ops: key.ops,
    }
}

/// The words of the classes of `findings`, sorted and without duplicates, as a [`Check`] lists them.
fn classes(findings: &[Finding]) -> Vec<String> {
    let set: BTreeSet<Anomaly> = findings.iter().map(|f| f.anomaly).collect();
    set.into_iter().map(|a| a.name().to_owned()).collect()
}

fn key_name(k: &Option<String>) -> &str {
    k.as_deref().unwrap_or("(no key)")
}

/// Transactional anomalies drawn per report.
const TXN_ANOMALIES_DRAWN: usize = 8;

impl Results {
    /// Adds the transactional check: one line with the classes the consistency model forbids, and the
    /// first few explained anomalies (forbidden first) for the drawings.
    pub fn add_txn(&mut self, r: &TxnReport) {
        let mut summary = format!(
            "{} transactions ({} ok) under {}; {} ww, {} wr, {} rw dependencies; {} cyclic components",
            r.transactions.ok + r.transactions.info + r.transactions.fail,
            r.transactions.ok,
            r.consistency_model,
            r.edges.ww,
            r.edges.wr,
            r.edges.rw,
            r.sccs
        );
        let allowed: Vec<String> = r
            .counts
            .iter()
            .filter(|(a, _)| !r.consistency_model.prohibits(**a))
            .map(|(a, n)| format!("{a} ×{n}"))
            .collect();
        if !allowed.is_empty() {
            summary.push_str(&format!("; allowed by the model: {}", allowed.join(", ")));
        }
        for a in r.anomalies.iter().take(TXN_ANOMALIES_DRAWN) {
            self.txn_anomalies.push(TxnAnomaly {
                anomaly: a.anomaly.name().to_owned(),
                forbidden: a.prohibited,
                time: a.time,
                explanation: a.explanation.clone(),
                txns: a
                    .txns
                    .iter()
                    .map(|t| TxnNode { name: t.name.clone(), process: t.process, value: compact(&t.value) })
                    .collect(),
                steps: a
                    .steps
                    .iter()
                    .map(|s| TxnStep {
                        from: s.from,
                        to: s.to,
                        kind: s.kind.name().to_owned(),
                        key: s.key.clone(),
                    })
                    .collect(),
            });
        }
        self.add_check("transactions", r.verdict, &summary, classes(&anomaly::txn_findings(r)));
    }

    /// Adds a check the reports crate has no adapter for (a panic scan, say).
    pub fn add_check(&mut self, name: &str, verdict: Verdict, summary: &str, anomalies: Vec<String>) {
        self.checks.push(Check { name: name.to_owned(), verdict, summary: summary.to_owned(), anomalies });
    }

    /// Adds the linearizability check: one line, and a counterexample per invalid key that has an
    /// explanation.
    pub fn add_linearizability(&mut self, r: &LinearizabilityReport) {
        let count = |v: Verdict| r.keys.iter().filter(|k| k.verdict == v).count();
        let invalid: Vec<&str> = r.invalid_keys().iter().map(|k| key_name(&k.key)).collect();
        let mut summary = format!("{} ops on {} keys under {}", r.ops, r.keys.len(), r.model);
        if !invalid.is_empty() {
            let mut shown = invalid.iter().take(8).copied().collect::<Vec<_>>().join(", ");
            if invalid.len() > 8 {
                shown.push_str(", …");
            }
            summary.push_str(&format!("; {} invalid: {shown}", invalid.len()));
        }
        let undecided = r.undecided();
        if !undecided.is_empty() {
            let why: BTreeSet<String> = undecided.iter().map(|(_, why)| why.to_string()).collect();
            summary.push_str(&format!(
                "; {} unknown ({})",
                count(Verdict::Unknown),
                why.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        for k in r.invalid_keys() {
            if let Some(e) = &k.explanation {
                self.counterexamples.push(counterexample(k, &r.model, e));
            }
        }
        self.add_check(
            "linearizability",
            r.verdict,
            &summary,
            classes(&anomaly::linearizability_findings(r)),
        );
    }

    /// Adds the final-reads durability check and one finding per lost, phantom or duplicated value.
    pub fn add_durability(&mut self, r: &DurabilityReport) {
        // The report shows the value in a column of its own, so its detail is the checker's bare
        // reason rather than the finding's sentence (which names the value).
        for lost in &r.lost {
            self.durability.push(DurabilityFinding {
                kind: "lost".to_owned(),
                key: lost.key.clone(),
                value: lost.op.input.clone(),
                ack_time: lost.op.complete_time,
                process: Some(lost.op.process),
                node: lost.op.node.clone(),
                detail: lost.why.clone(),
            });
        }
        for p in &r.phantom {
            self.durability.push(DurabilityFinding {
                kind: "phantom".to_owned(),
                key: p.key.clone(),
                value: p.value.clone(),
                ack_time: p.read.as_ref().and_then(|op| op.complete_time),
                process: p.read.as_ref().map(|op| op.process),
                node: p.read.as_ref().and_then(|op| op.node.clone()),
                detail: p.note.clone(),
            });
        }
        for d in &r.duplicated {
            self.durability.push(DurabilityFinding {
                kind: "duplicate".to_owned(),
                key: d.key.clone(),
                value: d.value.clone(),
                ack_time: None,
                process: None,
                node: None,
                detail: format!(
                    "appended {} time(s), present {} times in the final list",
                    d.times_appended, d.times_in_final
                ),
            });
        }
        let mut summary = format!(
            "{} acknowledged writes on {} keys: {} lost, {} phantom, {} duplicated",
            r.acknowledged_writes,
            r.keys_checked,
            r.lost.len(),
            r.phantom.len(),
            r.duplicated.len()
        );
        if !r.missing_final_reads.is_empty() {
            summary.push_str(&format!("; {} keys without a final read", r.missing_final_reads.len()));
        }
        self.add_check("durability", r.verdict, &summary, classes(&anomaly::durability_findings(r)));
    }

    /// Adds the committed-log agreement check: divergent indices and acknowledged writes absent from
    /// every node's committed log.
    pub fn add_log_agreement(&mut self, r: &LogReport) {
        for d in &r.divergences {
            self.durability.push(DurabilityFinding {
                kind: "divergent".to_owned(),
                key: None,
                value: serde_json::Value::Null,
                ack_time: None,
                process: None,
                node: None,
                detail: Finding::divergent(d).detail,
            });
        }
        for a in &r.absent_writes {
            self.durability.push(DurabilityFinding {
                kind: "lost".to_owned(),
                key: a.op.key.clone(),
                value: a.op.input.clone(),
                ack_time: a.op.complete_time,
                process: Some(a.op.process),
                node: a.op.node.clone(),
                detail: Finding::absent(a).detail,
            });
        }
        let summary = format!(
            "{} nodes up to index {}: {} divergent indices, {} acknowledged writes absent, {} unverifiable",
            r.nodes,
            r.max_index,
            r.divergences.len(),
            r.absent_writes.len(),
            r.unverifiable_writes
        );
        self.add_check("log-agreement", r.verdict, &summary, classes(&anomaly::log_findings(r)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RunReport;
    use checker::ops::History;
    use checker::{CheckOptions, Format, ModelKind, ModelSpec};

    /// The fixture run's history, checked by the real checker: key k1 has a stale read.
    fn checked() -> (History, LinearizabilityReport) {
        let run: RunReport = serde_json::from_str(include_str!("../tests/fixtures/run.json")).unwrap();
        let history = History::from_events("fixture", &run.history, None).unwrap();
        let spec = ModelSpec::new(ModelKind::CasRegister, Format::Jsonl);
        let opts = CheckOptions { threads: 1, all_keys: true, ..CheckOptions::default() };
        let report = checker::check_linearizability(&history, &spec, &opts).unwrap();
        (history, report)
    }

    #[test]
    fn the_checkers_stale_read_becomes_a_counterexample_with_culprit_and_sentence() {
        let (_, report) = checked();
        assert_eq!(report.verdict, Verdict::Invalid);
        let mut results = Results::default();
        results.add_linearizability(&report);
        assert_eq!(results.checks[0].verdict, Verdict::Invalid);
        assert_eq!(
            results.checks[0].anomalies,
            vec![Anomaly::StaleRead.name().to_owned()],
            "{:#?}",
            results.counterexamples
        );
        let c = &results.counterexamples[0];
        assert_eq!(c.anomaly, "stale-read");
        assert_eq!(c.key, "k1");
        let culprit = &c.ops[c.culprit.expect("the stale read is the culprit")];
        assert_eq!((culprit.f.as_str(), culprit.output.as_str()), ("read", Some("1")));
        assert!(!c.linearization.is_empty());
        let sentence = crate::explain::sentence(c);
        assert!(
            sentence.starts_with("read of key k1 at node n3 returned 1, but 2 had been acknowledged"),
            "{sentence}"
        );
        assert!(results.checks[0].summary.contains("1 invalid: k1"), "{}", results.checks[0].summary);
    }

    #[test]
    fn durability_findings_carry_their_acknowledgement_time() {
        let (history, _) = checked();
        // The final state of k2 is empty: the acknowledged write of "a" (at 0.25 s) is lost.
        let finals = vec![
            checker::durability::FinalRead { key: Some("k2".to_owned()), value: serde_json::Value::Null },
            checker::durability::FinalRead { key: Some("k1".to_owned()), value: serde_json::json!("2") },
        ];
        let report = checker::durability::check_final_reads(&history, &finals, None);
        let mut results = Results::default();
        results.add_durability(&report);
        assert_eq!(results.checks[0].verdict, Verdict::Invalid, "{report:#?}");
        assert!(results.checks[0].anomalies.contains(&"lost-write".to_owned()));
        let lost = results.durability.iter().find(|d| d.kind == "lost").expect("a lost write");
        assert_eq!((lost.key.as_deref(), lost.ack_time), (Some("k2"), Some(250_000_000)));
    }

    #[test]
    fn a_lost_append_is_named_lost_append_as_the_checker_names_it() {
        let rows = [
            (1, "invoke", "append", serde_json::json!("a")),
            (1, "ok", "append", serde_json::Value::Null),
            (2, "invoke", "append", serde_json::json!("b")),
            (2, "ok", "append", serde_json::Value::Null),
        ];
        let text: String = rows
            .iter()
            .enumerate()
            .map(|(t, (p, ty, f, v))| {
                serde_json::json!({"process": p, "type": ty, "f": f, "key": "l", "value": v, "time": t})
                    .to_string()
                    + "\n"
            })
            .collect();
        let history = checker::parse_history(&text, Some(Format::Jsonl), "append.jsonl").unwrap().history;
        let finals =
            [checker::durability::FinalRead { key: Some("l".to_owned()), value: serde_json::json!(["b"]) }];
        let report = checker::durability::check_final_reads(&history, &finals, None);
        let mut results = Results::default();
        results.add_durability(&report);
        assert_eq!(results.checks[0].anomalies, ["lost-append"]);
        let words: Vec<String> =
            anomaly::durability_findings(&report).iter().map(|f| f.anomaly.to_string()).collect();
        assert_eq!(results.checks[0].anomalies, words);
    }
}
