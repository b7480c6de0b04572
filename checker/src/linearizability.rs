//! Checking a whole history: partition by key, search the partitions in parallel, assemble verdicts.
//!
//! A map of independent keys is linearizable exactly when each key's sub-history is (P-compositionality,
//! Horn & Kroening 2015), so a keyed history splits into one search per key. Partitions are prepared
//! (operations translated by the model, those that cannot matter dropped), then searched by worker
//! threads. A key whose search runs out of time or memory is `unknown` with that reason; the overall
//! verdict merges the keys' (invalid > unknown > valid).
//!
//! **The verdict comes first.** One invalid key makes the whole history invalid, so unless
//! [`CheckOptions::all_keys`] asks for every key's verdict, the first key found invalid cancels the
//! others: their verdict is `unknown` with reason [`UnknownReason::Cancelled`]. For that to be quick
//! whatever the order of the keys, the searches are time-sliced, as Porcupine's goroutines (one per
//! partition) are by Go's scheduler: a worker runs a search for [`SLICE_STEPS`] steps, then puts it back
//! at the end of the queue and takes the next. A cheap invalid key is then found after a few slices of
//! every other key, not after the most expensive key has been searched to the end (key 0 of
//! Porcupine's `c50-bad` takes 29 million steps; key 4 is invalid after 279). At most
//! [`MAX_OPEN_SEARCHES`] searches are open at once, so the caches of many expensive keys do not all
//! live at the same time. All searches share one deadline, one memory budget and the cancellation flag.
//!
//! **Explanations come after.** Once every search has ended, [`crate::explain`] explains the first key
//! found invalid (every invalid key with `all_keys`), under its own time budget
//! ([`CheckOptions::explain_timeout`]), the explanations in parallel on the same workers.

use crate::Verdict;
use crate::explain::{self, Explanation};
use crate::model::{Interner, Model, ModelKind, ModelSpec};
use crate::models::{KvAppend, ListAppend, Register, SetModel, Unpartitioned};
use crate::ops::{History, HistoryError, Operation, Outcome};
use crate::wgl::{self, Abort, Budget, SearchOp, SearchResult};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Steps a worker gives one search before it moves on to the next key (a few milliseconds).
pub const SLICE_STEPS: u64 = 1 << 14;

/// Searches open (started, not ended) at once, at least; more when there are more threads.
pub const MAX_OPEN_SEARCHES: usize = 16;

/// Limits and switches of a check.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Wall-clock budget for the searches (the verdict); `None` is unlimited.
    pub timeout: Option<Duration>,
    /// Budget in bytes for the memoization caches of all partitions together; `None` is unlimited.
    pub memory_limit: Option<usize>,
    /// Worker threads; 0 means one per available core.
    pub threads: usize,
    /// Decide every key, and explain every invalid one. When `false` (the default), the first key
    /// found invalid decides the verdict: the other keys' searches are cancelled (their verdict is
    /// `unknown`, reason [`UnknownReason::Cancelled`]) and only that key is explained.
    pub all_keys: bool,
    /// Explain invalid keys (the longest linearizable prefix, the stuck operations, a minimized
    /// counterexample).
    pub explain: bool,
    /// Wall-clock budget for the explanations, counted from when the verdict is known (it does not
    /// come out of [`CheckOptions::timeout`]). A counterexample whose minimization runs out of it is
    /// reported as reduced, not minimal.
    pub explain_timeout: Duration,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            timeout: None,
            memory_limit: None,
            threads: 0,
            all_keys: false,
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
    /// Another key was invalid first and the check stopped (without [`CheckOptions::all_keys`]).
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
    /// Time spent searching this key (the sum of its slices; the explanation not included).
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
    /// From the start of the check until the verdict was known (every search ended).
    #[serde(default)]
    pub verdict_us: u64,
    /// The whole check, explanations included.
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
        let undecided = self.undecided();
        for (key, why) in undecided.iter().filter(|(_, why)| *why != UnknownReason::Cancelled) {
            s.push_str(&format!("  key {}: unknown ({why})\n", key.unwrap_or("-")));
        }
        let cancelled = undecided.iter().filter(|(_, why)| *why == UnknownReason::Cancelled).count();
        if cancelled > 0 {
            s.push_str(&format!(
                "  {cancelled} key{} not decided: the verdict was known once a key was invalid (decide every key \
                 with all_keys, `--all-keys`)\n",
                if cancelled == 1 { "" } else { "s" }
            ));
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
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        opts.threads
    }
    .clamp(1, parts.len().max(1));

    let searched = search_all(model, &parts, opts, started, threads);
    let mut keys = searched.keys;
    let verdict = keys.iter().fold(Verdict::Valid, |v, k| v.merge(k.verdict));
    let verdict_us = started.elapsed().as_micros() as u64;

    // Explanations, under their own budget, now that the verdict is known.
    if opts.explain && !searched.invalid.is_empty() {
        let mut wanted = searched.invalid;
        if !opts.all_keys {
            wanted.truncate(1);
        }
        let deadline = Instant::now() + opts.explain_timeout;
        let explained = run_parallel(threads.min(wanted.len()), &wanted, |(p, longest)| {
            explain::explain(history, model, &parts[*p], longest, keys[*p].steps, deadline)
        });
        for ((p, _), e) in wanted.iter().zip(explained) {
            keys[*p].explanation = Some(e);
        }
    }
    Ok(LinearizabilityReport {
        verdict,
        model: model.name(),
        ops: history.ops.len(),
        keys,
        verdict_us,
        elapsed_us: started.elapsed().as_micros() as u64,
        peak_memory_bytes: searched.peak_memory,
    })
}

/// What the searches found: a result per partition, and the invalid partitions in the order they were
/// found, each with the longest linearizable prefix its search reached.
struct Searched {
    keys: Vec<KeyResult>,
    invalid: Vec<(usize, Vec<usize>)>,
    peak_memory: usize,
}

/// Searches every partition on `threads` workers, time-sliced (see the module documentation).
fn search_all<M: Model>(
    model: &M,
    parts: &[Partition<M>],
    opts: &CheckOptions,
    started: Instant,
    threads: usize,
) -> Searched {
    let memory_used = AtomicUsize::new(0);
    let peak_memory = AtomicUsize::new(0);
    let cancel = AtomicBool::new(false);
    let budget = Budget {
        deadline: opts.timeout.map(|t| started + t),
        memory_limit: opts.memory_limit,
        memory_used: &memory_used,
        cancel: &cancel,
    };
    // Largest partitions start first, so the slowest search starts early.
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(parts[i].ops.len()));
    let max_open = MAX_OPEN_SEARCHES.max(2 * threads);

    /// A started search, and the time spent in it so far.
    struct Open<'a, M: Model> {
        part: usize,
        search: wgl::Search<'a, M>,
        spent: Duration,
    }
    struct Queue<'a, M: Model> {
        /// Suspended searches, in the order they will resume.
        suspended: VecDeque<Open<'a, M>>,
        /// The next partition (index into `order`) not started yet.
        next_new: usize,
        /// Searches started and not ended (suspended or running on a worker).
        open: usize,
        results: Vec<Option<KeyResult>>,
        invalid: Vec<(usize, Vec<usize>)>,
    }
    let queue = Mutex::new(Queue {
        suspended: VecDeque::new(),
        next_new: 0,
        open: 0,
        results: vec![None; parts.len()],
        invalid: Vec::new(),
    });
    let lock = || queue.lock().expect("a worker panicked while holding the queue");

    let worker = || {
        loop {
            // Start a new key while few are open (a new key may be the cheap invalid one), else resume
            // the longest-waiting one; start a new key anyway rather than stay idle.
            let mut task = {
                let mut q = lock();
                let start_new = q.next_new < order.len() && (q.open < max_open || q.suspended.is_empty());
                if start_new {
                    let part = order[q.next_new];
                    q.next_new += 1;
                    q.open += 1;
                    drop(q);
                    let p = &parts[part];
                    Open {
                        part,
                        search: wgl::Search::new(model, p.init.clone(), &p.ops, budget),
                        spent: Duration::ZERO,
                    }
                } else if let Some(task) = q.suspended.pop_front() {
                    task
                } else {
                    // Nothing waiting: the searches still open are running on other workers.
                    break;
                }
            };
            let part = &parts[task.part];
            let slice = Instant::now();
            let outcome = if cancel.load(Ordering::Relaxed) {
                Some(SearchResult::Aborted(Abort::Cancelled))
            } else {
                task.search.run(SLICE_STEPS)
            };
            task.spent += slice.elapsed();
            peak_memory.fetch_max(memory_used.load(Ordering::Relaxed), Ordering::Relaxed);
            let Some(outcome) = outcome else {
                lock().suspended.push_back(task);
                continue;
            };
            let stats = task.search.stats();
            drop(task.search);
            peak_memory.fetch_max(memory_used.load(Ordering::Relaxed) + stats.peak_bytes, Ordering::Relaxed);
            let mut result = KeyResult {
                key: part.key.clone(),
                verdict: Verdict::Unknown,
                ops: part.ops.len(),
                indefinite_ops: part.ops.iter().filter(|o| o.ret.is_none()).count(),
                unknown_reason: None,
                explanation: None,
                steps: stats.steps,
                cache_entries: stats.cache_entries,
                peak_bytes: stats.peak_bytes,
                elapsed_us: task.spent.as_micros() as u64,
            };
            let mut longest = None;
            match outcome {
                SearchResult::Linearizable { .. } => result.verdict = Verdict::Valid,
                SearchResult::NotLinearizable { longest: l } => {
                    result.verdict = Verdict::Invalid;
                    if !opts.all_keys {
                        cancel.store(true, Ordering::Relaxed);
                    }
                    longest = Some(l);
                }
                SearchResult::Aborted(a) => {
                    result.unknown_reason = Some(match a {
                        Abort::Timeout => UnknownReason::Timeout,
                        Abort::Memory => UnknownReason::MemoryLimit,
                        Abort::Cancelled => UnknownReason::Cancelled,
                    });
                }
            }
            let mut q = lock();
            q.open -= 1;
            q.results[task.part] = Some(result);
            if let Some(l) = longest {
                q.invalid.push((task.part, l));
            }
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
    let q = queue.into_inner().expect("a worker panicked while holding the queue");
    let keys = q.results.into_iter().map(|r| r.expect("every partition was searched to an end")).collect();
    Searched { keys, invalid: q.invalid, peak_memory: peak_memory.load(Ordering::Relaxed) }
}

/// Maps `f` over `items` on up to `threads` threads; results in the order of `items`.
fn run_parallel<T: Sync, R: Send>(threads: usize, items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(k) else { break };
                    let r = f(item);
                    out.lock().expect("a worker panicked while holding the results")[k] = Some(r);
                }
            });
        }
    });
    out.into_inner()
        .expect("a worker panicked while holding the results")
        .into_iter()
        .map(|r| r.expect("every item was processed"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Format;
    use crate::history::{Event, EventType, Process};
    use crate::model::ModelSpec;
    use serde_json::{Value, json};

    fn ev(process: u64, kind: EventType, f: &str, key: &str, value: Value) -> Event {
        Event {
            process: Process::Client(process),
            kind,
            f: f.to_string(),
            key: Some(key.to_string()),
            value,
            time: 0,
            node: None,
            error: None,
        }
    }

    /// Key `hard`: `writers` concurrent writes and, concurrent with all of them, a read of a value
    /// nobody wrote. Proving it invalid means trying every subset of the writes (about `writers * 2^writers`
    /// steps). Key `easy`: a read of 1 after a completed write of 2, invalid in a handful of steps.
    fn hard_and_easy(writers: u64) -> History {
        let mut events = Vec::new();
        for p in 0..writers {
            events.push(ev(p, EventType::Invoke, "write", "hard", json!(p + 1)));
        }
        events.push(ev(100, EventType::Invoke, "read", "hard", Value::Null));
        for p in 0..writers {
            events.push(ev(p, EventType::Ok, "write", "hard", json!(p + 1)));
        }
        events.push(ev(100, EventType::Ok, "read", "hard", json!(999)));
        events.push(ev(200, EventType::Invoke, "write", "easy", json!(2)));
        events.push(ev(200, EventType::Ok, "write", "easy", json!(2)));
        events.push(ev(201, EventType::Invoke, "read", "easy", Value::Null));
        events.push(ev(201, EventType::Ok, "read", "easy", json!(1)));
        History::from_events("<test>", &events, None).unwrap()
    }

    fn check(history: &History, opts: &CheckOptions) -> LinearizabilityReport {
        let spec = ModelSpec::new(ModelKind::CasRegister, Format::Jsonl);
        check_linearizability(history, &spec, opts).unwrap()
    }

    fn key<'a>(r: &'a LinearizabilityReport, name: &str) -> &'a KeyResult {
        r.keys.iter().find(|k| k.key.as_deref() == Some(name)).unwrap()
    }

    #[test]
    fn a_cheap_invalid_key_cancels_an_expensive_one_even_on_one_thread() {
        // The hard key is larger, so it starts first; time slicing lets the easy key run after one
        // slice of it, and its violation cancels the hard key's search.
        let h = hard_and_easy(14);
        let r = check(&h, &CheckOptions { threads: 1, ..CheckOptions::default() });
        assert_eq!(r.verdict, Verdict::Invalid);
        let (hard, easy) = (key(&r, "hard"), key(&r, "easy"));
        assert_eq!(easy.verdict, Verdict::Invalid);
        assert!(easy.explanation.is_some(), "the key that decided the verdict is explained");
        assert_eq!((hard.verdict, hard.unknown_reason), (Verdict::Unknown, Some(UnknownReason::Cancelled)));
        assert_eq!(hard.steps, SLICE_STEPS, "the hard key ran one slice, not to its end");
        assert!(r.verdict_us <= r.elapsed_us);
        assert!(r.summary().contains("1 key not decided"), "{}", r.summary());
    }

    #[test]
    fn all_keys_decides_and_explains_every_key() {
        let h = hard_and_easy(10);
        let opts = CheckOptions {
            threads: 1,
            all_keys: true,
            explain_timeout: Duration::from_secs(2),
            ..CheckOptions::default()
        };
        let r = check(&h, &opts);
        let (hard, easy) = (key(&r, "hard"), key(&r, "easy"));
        assert_eq!((hard.verdict, easy.verdict), (Verdict::Invalid, Verdict::Invalid));
        assert!(hard.steps > SLICE_STEPS, "the hard key took several slices: {}", hard.steps);
        assert!(hard.explanation.is_some() && easy.explanation.is_some());
        // The read of a value nobody wrote is invalid on its own.
        let cx = &hard.explanation.as_ref().unwrap().counterexample;
        assert_eq!(cx.ops.iter().map(|o| o.describe()).collect::<Vec<_>>(), vec!["read hard -> 999"]);
    }

    #[test]
    fn a_search_resumed_step_by_step_ends_as_an_uninterrupted_one() {
        let h = hard_and_easy(6);
        let model = Register {
            name: "cas-register".into(),
            allow_cas: true,
            fail: crate::model::FailSemantics::NeverHappened,
            nil_read: crate::model::NilRead::Absent,
            initial: None,
        };
        let ops: Vec<&Operation> = h.ops.iter().filter(|o| o.key.as_deref() == Some("hard")).collect();
        let part = prepare(&h, &model, Some("hard".into()), &ops).unwrap();
        let (used, cancel) = (AtomicUsize::new(0), AtomicBool::new(false));
        let budget = Budget { deadline: None, memory_limit: None, memory_used: &used, cancel: &cancel };
        let (whole, stats) = wgl::search(&model, part.init, &part.ops, &budget);
        let mut sliced = wgl::Search::new(&model, part.init, &part.ops, budget);
        let mut held = 0;
        let result = loop {
            if let Some(r) = sliced.run(1) {
                break r;
            }
            held = held.max(used.load(Ordering::Relaxed));
        };
        assert_eq!(result, whole);
        assert_eq!(sliced.stats().steps, stats.steps);
        assert!(held > 0, "a suspended search keeps its cache counted in the shared memory budget");
        drop(sliced);
        assert_eq!(used.load(Ordering::Relaxed), 0, "an ended search gives its memory back");
    }
}
