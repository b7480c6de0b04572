//! Checking a whole history: partition by key, search the partitions in parallel, assemble verdicts.
//!
//! A map of independent keys is linearizable exactly when each key's sub-history is (P-compositionality,
//! Horn & Kroening 2015), so a keyed history splits into one search per key. Partitions are prepared
//! (operations translated by the model, those that cannot matter dropped), then handed to worker
//! threads largest first. All searches share one deadline, one memory budget and one cancellation
//! flag: with [`CheckOptions::stop_at_first_invalid`] the first invalid key cancels the others, whose
//! verdict is then `unknown` with reason [`UnknownReason::Cancelled`] (the overall verdict is invalid
//! either way). A key whose search runs out of time or memory is `unknown` with that reason; the
//! overall verdict merges the keys' (invalid > unknown > valid).
//!
//! For every invalid key, [`crate::explain`] builds an explanation while the other workers go on.

use crate::Verdict;
use crate::explain::{self, Explanation};
use crate::model::{Interner, Model, ModelKind, ModelSpec};
use crate::models::{KvAppend, ListAppend, Register, SetModel, Unpartitioned};
use crate::ops::{History, HistoryError, Operation, Outcome};
use crate::wgl::{self, Abort, Budget, SearchOp, SearchResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Limits and switches of a check.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Wall-clock budget for the whole search; `None` is unlimited.
    pub timeout: Option<Duration>,
    /// Budget in bytes for the memoization caches of all partitions together; `None` is unlimited.
    pub memory_limit: Option<usize>,
    /// Worker threads; 0 means one per available core.
    pub threads: usize,
    /// Cancel the remaining keys as soon as one is invalid (the overall verdict is then known).
    pub stop_at_first_invalid: bool,
    /// Build explanations (with a minimal counterexample) for invalid keys.
    pub explain: bool,
    /// Time budget for minimizing one invalid key's counterexample.
    pub explain_timeout: Duration,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            timeout: None,
            memory_limit: None,
            threads: 0,
            stop_at_first_invalid: true,
            explain: true,
            explain_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a key is `unknown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnknownReason {
    /// The time budget ran out before the search finished.
    Timeout,
    /// The memoization caches outgrew the memory budget.
    MemoryLimit,
    /// Another key was invalid first and the check stopped (`stop_at_first_invalid`).
    Cancelled,
}

impl fmt::Display for UnknownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnknownReason::Timeout => "time budget exhausted",
            UnknownReason::MemoryLimit => "memory budget exhausted",
            UnknownReason::Cancelled => "cancelled: another key was already invalid",
        })
    }
}

/// The verdict for one key (partition).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyResult {
    /// The key; `None` for operations without a key, or for the whole history when not partitioned.
    pub key: Option<String>,
    pub verdict: Verdict,
    /// Operations of this key that took part in the search (after dropping those that cannot matter).
    pub ops: usize,
    /// Of those, operations whose outcome is indefinite (info or pending).
    pub indefinite_ops: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_reason: Option<UnknownReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Explanation>,
    /// Model steps the search tried.
    pub steps: u64,
    /// Configurations memoized.
    pub cache_entries: usize,
    /// Largest size of this key's cache, in bytes.
    pub peak_bytes: usize,
    pub elapsed_us: u64,
}

/// The verdict of a linearizability check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearizabilityReport {
    pub verdict: Verdict,
    pub model: String,
    /// Client operations in the history.
    pub ops: usize,
    /// Per key, sorted by key.
    pub keys: Vec<KeyResult>,
    pub elapsed_us: u64,
    /// Largest total size of the memoization caches, in bytes (an estimate).
    pub peak_memory_bytes: usize,
}

impl LinearizabilityReport {
    /// Keys left undecided, with why.
    pub fn undecided(&self) -> Vec<(Option<&str>, UnknownReason)> {
        self.keys
            .iter()
            .filter(|k| k.verdict == Verdict::Unknown)
            .map(|k| (k.key.as_deref(), k.unknown_reason.unwrap_or(UnknownReason::Cancelled)))
            .collect()
    }

    /// Keys found invalid.
    pub fn invalid_keys(&self) -> Vec<&KeyResult> {
        self.keys.iter().filter(|k| k.verdict == Verdict::Invalid).collect()
    }

    /// A human summary, several lines, with the explanation of every invalid key.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "linearizability ({}): {} — {} ops, {} keys, {:.1} ms\n",
            self.model,
            self.verdict,
            self.ops,
            self.keys.len(),
            self.elapsed_us as f64 / 1000.0
        );
        let count = |v: Verdict| self.keys.iter().filter(|k| k.verdict == v).count();
        s.push_str(&format!(
            "  keys: {} valid, {} invalid, {} unknown\n",
            count(Verdict::Valid),
            count(Verdict::Invalid),
            count(Verdict::Unknown)
        ));
        for (key, why) in self.undecided() {
            s.push_str(&format!("  key {}: unknown ({why})\n", key.unwrap_or("-")));
        }
        for k in self.invalid_keys() {
            s.push_str(&format!("  key {}: INVALID\n", k.key.as_deref().unwrap_or("-")));
            if let Some(e) = &k.explanation {
                for line in e.render().lines() {
                    s.push_str("    ");
                    s.push_str(line);
                    s.push('\n');
                }
            }
        }
        s
    }
}

/// A check could not run: the history does not fit the model, or an option is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Input(#[from] HistoryError),
    #[error("bad option: {0}")]
    BadOption(String),
}

/// Checks `history` against the model `spec` names.
pub fn check_linearizability(
    history: &History,
    spec: &ModelSpec,
    opts: &CheckOptions,
) -> Result<LinearizabilityReport, CheckError> {
    if let Some(v) = &spec.initial
        && !(v.is_string() || v.is_number() || v.is_null())
    {
        return Err(CheckError::BadOption(format!("initial value must be a string or number, not {v}")));
    }
    let mut report = match spec.kind {
        ModelKind::Register | ModelKind::CasRegister | ModelKind::EtcdCasRegister => {
            let m = Register {
                name: spec.kind.name().to_string(),
                allow_cas: spec.kind != ModelKind::Register,
                fail: spec.fail,
                nil_read: spec.nil_read,
                initial: spec.initial.clone(),
            };
            dispatch(history, m, spec.partition_by_key, opts)
        }
        ModelKind::KvAppend => {
            let m = KvAppend { fail: spec.fail, nil_read: spec.nil_read, initial: spec.initial.clone() };
            dispatch(history, m, spec.partition_by_key, opts)
        }
        ModelKind::ListAppend => {
            dispatch(history, ListAppend { nil_read: spec.nil_read }, spec.partition_by_key, opts)
        }
        ModelKind::Set => {
            dispatch(history, SetModel { nil_read: spec.nil_read }, spec.partition_by_key, opts)
        }
    }?;
    report.model = spec.display_name();
    Ok(report)
}

fn dispatch<M: Model + Clone>(
    history: &History,
    model: M,
    partition: bool,
    opts: &CheckOptions,
) -> Result<LinearizabilityReport, CheckError> {
    if partition {
        check_with_model(history, &model, true, opts)
    } else {
        check_with_model(history, &Unpartitioned::new(model, &history.keys()), false, opts)
    }
}

/// One key's operations prepared for the search.
pub(crate) struct Partition<M: Model> {
    pub key: Option<String>,
    pub values: Interner,
    pub init: M::State,
    pub ops: Vec<SearchOp<M::Op>>,
    /// For each search op, the history operation it came from.
    pub op_ids: Vec<usize>,
    /// For each search op, the process that issued it.
    pub op_process: Vec<u64>,
}

fn prepare<M: Model>(
    history: &History,
    model: &M,
    key: Option<String>,
    ops: &[&Operation],
) -> Result<Partition<M>, HistoryError> {
    let mut values = Interner::default();
    let init = model.init(&mut values);
    let mut search_ops = Vec::with_capacity(ops.len());
    let mut op_ids = Vec::with_capacity(ops.len());
    let mut op_process = Vec::with_capacity(ops.len());
    for op in ops {
        let prepared = model.prepare(op, &mut values).map_err(|e| {
            let line =
                if e.in_completion { op.complete_line.unwrap_or(op.invoke_line) } else { op.invoke_line };
            HistoryError::new(&history.source, line, Some(e.field), e.problem)
        })?;
        if let Some(p) = prepared {
            let ret = match op.outcome {
                Outcome::Ok | Outcome::Fail => op.complete_index,
                Outcome::Info | Outcome::Pending => None,
            };
            search_ops.push(SearchOp { op: p, call: op.invoke_index, ret });
            op_ids.push(op.id);
            op_process.push(op.process);
        }
    }
    Ok(Partition { key, values, init, ops: search_ops, op_ids, op_process })
}

/// Checks `history` against any [`Model`]: partitioned by key when `partition_by_key`, else as one
/// object (the model then sees operations of every key).
pub fn check_with_model<M: Model>(
    history: &History,
    model: &M,
    partition_by_key: bool,
    opts: &CheckOptions,
) -> Result<LinearizabilityReport, CheckError> {
    let started = Instant::now();
    let mut groups: BTreeMap<Option<String>, Vec<&Operation>> = BTreeMap::new();
    for op in &history.ops {
        let key = if partition_by_key { op.key.clone() } else { None };
        groups.entry(key).or_default().push(op);
    }
    let mut parts = Vec::with_capacity(groups.len());
    for (key, ops) in groups {
        parts.push(prepare(history, model, key, &ops)?);
    }
    let deadline = opts.timeout.map(|t| started + t);
    let memory_used = AtomicUsize::new(0);
    let peak_memory = AtomicUsize::new(0);
    let cancel = AtomicBool::new(false);
    let budget =
        Budget { deadline, memory_limit: opts.memory_limit, memory_used: &memory_used, cancel: &cancel };

    // Largest partitions first, so the slowest search starts early.
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(parts[i].ops.len()));
    let results: Mutex<Vec<Option<KeyResult>>> = Mutex::new(vec![None; parts.len()]);
    let next = AtomicUsize::new(0);
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        opts.threads
    }
    .clamp(1, parts.len().max(1));

    let worker = || {
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(&p) = order.get(k) else { break };
            let part = &parts[p];
            let result = check_partition(history, model, part, &budget, opts);
            if result.verdict == Verdict::Invalid && opts.stop_at_first_invalid {
                cancel.store(true, Ordering::Relaxed);
            }
            peak_memory.fetch_max(memory_used.load(Ordering::Relaxed) + result.peak_bytes, Ordering::Relaxed);
            results.lock().expect("a worker panicked while holding the results lock")[p] = Some(result);
        }
    };
    if threads == 1 {
        worker();
    } else {
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(worker);
            }
        });
    }
    let keys: Vec<KeyResult> = results
        .into_inner()
        .expect("a worker panicked while holding the results lock")
        .into_iter()
        .map(|r| r.expect("every partition was checked by a worker"))
        .collect();
    let verdict = keys.iter().fold(Verdict::Valid, |v, k| v.merge(k.verdict));
    Ok(LinearizabilityReport {
        verdict,
        model: model.name(),
        ops: history.ops.len(),
        keys,
        elapsed_us: started.elapsed().as_micros() as u64,
        peak_memory_bytes: peak_memory.load(Ordering::Relaxed),
    })
}

fn check_partition<M: Model>(
    history: &History,
    model: &M,
    part: &Partition<M>,
    budget: &Budget<'_>,
    opts: &CheckOptions,
) -> KeyResult {
    let started = Instant::now();
    let mut result = KeyResult {
        key: part.key.clone(),
        verdict: Verdict::Unknown,
        ops: part.ops.len(),
        indefinite_ops: part.ops.iter().filter(|o| o.ret.is_none()).count(),
        unknown_reason: None,
        explanation: None,
        steps: 0,
        cache_entries: 0,
        peak_bytes: 0,
        elapsed_us: 0,
    };
    if budget.cancel.load(Ordering::Relaxed) {
        result.unknown_reason = Some(UnknownReason::Cancelled);
        return result;
    }
    let (outcome, stats) = wgl::search(model, part.init.clone(), &part.ops, budget);
    result.steps = stats.steps;
    result.cache_entries = stats.cache_entries;
    result.peak_bytes = stats.peak_bytes;
    match outcome {
        SearchResult::Linearizable { .. } => result.verdict = Verdict::Valid,
        SearchResult::NotLinearizable { longest } => {
            result.verdict = Verdict::Invalid;
            if opts.explain {
                result.explanation =
                    Some(explain::explain(history, model, part, &longest, opts.explain_timeout));
            }
        }
        SearchResult::Aborted(a) => {
            result.unknown_reason = Some(match a {
                Abort::Timeout => UnknownReason::Timeout,
                Abort::Memory => UnknownReason::MemoryLimit,
                Abort::Cancelled => UnknownReason::Cancelled,
            });
        }
    }
    result.elapsed_us = started.elapsed().as_micros() as u64;
    result
}
