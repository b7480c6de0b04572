//! Explanations of an invalid key: what could be linearized, what could not, and a minimal story.
//!
//! Three views, from raw to readable:
//!
//! 1. **The longest linearizable prefix** the search found, and the state it leaves.
//! 2. **The stuck operations**: in that state, the operations that could come next (invoked before the
//!    earliest completion not yet linearized) and, for each, whether the model rejects it outright or it
//!    is legal but every continuation from there fails.
//! 3. **A minimal counterexample**: delta debugging (Zeller's ddmin) on the key's operations. First the
//!    shortest invalid prefix in invocation order (binary search), then whole processes dropped, then
//!    chunks of operations of halving size, down to single operations, keeping every removal after which
//!    the search still finds the history invalid. Each step re-runs the search, so the result is checked,
//!    not guessed; it is 1-minimal (removing any single operation makes it valid) unless the time budget
//!    ran out first, or a search hit its step limit, which the result says.
//!
//!    Each of those searches may take at most [`CHECK_MIN_STEPS`] steps, or [`CHECK_STEP_FACTOR`] times
//!    what the search of the whole key took, whichever is more: an operation whose removal cannot be
//!    shown harmless within that is kept. Removing operations can make proving invalidity much harder
//!    (without the reads that pruned it, the search must try every order of what is left). Measured
//!    with `checker-bench` while the kv state was still a plain string: on key 4 of Porcupine's
//!    `c50-bad`, found invalid in 279 steps, candidates of under 30 operations took up to 5.4 million
//!    steps and 700 MB each, and minimizing took the whole 5 s budget; with the limit it took about
//!    5 ms for a 12-operation counterexample, and a floor of 20,000 steps instead of 2,048 gave the
//!    same counterexamples on all ten keys, 5-20 times slower.
//!
//! The counterexample is printed as a text timeline: one row per operation, a bar from invocation to
//! completion on a compressed time axis (only the order of events matters).

use crate::linearizability::Partition;
use crate::model::Model;
use crate::ops::{History, Operation};
use crate::wgl::{Budget, Search, SearchOp, SearchResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize};

/// The fewest steps a search of a candidate counterexample may take.
pub const CHECK_MIN_STEPS: u64 = 2048;
/// A search of a candidate counterexample may take this many times the steps the key's search took.
pub const CHECK_STEP_FACTOR: u64 = 4;
use std::time::Instant;

/// Why an invalid key is invalid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// Ids (in [`History::ops`]) of the longest linearizable prefix, in linearization order.
    pub longest_prefix: Vec<usize>,
    /// The last operations of that prefix (up to 8), for display.
    pub prefix_tail: Vec<Operation>,
    /// The model state after the prefix.
    pub state_after_prefix: String,
    /// The operations that could have come next, none of which leads to a full linearization.
    pub stuck: Vec<StuckOp>,
    pub counterexample: Counterexample,
    /// Time spent building this explanation.
    #[serde(default)]
    pub elapsed_us: u64,
}

/// An operation that could not be linearized after the longest prefix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StuckOp {
    pub op: Operation,
    /// The state it saw (the state after the prefix).
    pub state: String,
    /// `true`: the model rejects it in that state; `false`: legal there, but every continuation fails.
    pub rejected: bool,
}

/// A small sub-history that is still not linearizable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Counterexample {
    /// The operations, in invocation order.
    pub ops: Vec<Operation>,
    /// Whether removing any single operation was shown to make it valid (1-minimal); `false` if time ran
    /// out, or a search of a smaller candidate hit its step limit.
    pub minimal: bool,
    /// Searches run while shrinking.
    pub checks: usize,
    /// The operations drawn as a text timeline.
    pub timeline: String,
}

impl Explanation {
    /// The operation to blame: the first stuck operation the minimal counterexample kept. A stuck
    /// operation the shrinking dropped is not needed for the violation, so it is not the one that
    /// shows it; `None` when the counterexample kept none of them.
    pub fn culprit(&self) -> Option<&StuckOp> {
        self.stuck.iter().find(|s| self.counterexample.ops.iter().any(|op| op.id == s.op.id))
    }

    /// A multi-line human rendering.
    pub fn render(&self) -> String {
        let mut s = format!(
            "longest linearizable prefix: {} ops, leaving state {}\n",
            self.longest_prefix.len(),
            self.state_after_prefix
        );
        if !self.prefix_tail.is_empty() {
            s.push_str("  ending with:\n");
            for op in &self.prefix_tail {
                s.push_str(&format!("    p{} {}  (line {})\n", op.process, op.describe(), op.invoke_line));
            }
        }
        s.push_str("could not be linearized next:\n");
        for st in &self.stuck {
            let why =
                if st.rejected { "rejected in state" } else { "legal, but no continuation works, in state" };
            s.push_str(&format!(
                "    p{} {}  (line {}): {why} {}\n",
                st.op.process,
                st.op.describe(),
                st.op.invoke_line,
                st.state
            ));
        }
        s.push_str(&format!(
            "{} counterexample ({} ops, {} checks):\n",
            if self.counterexample.minimal {
                "minimal"
            } else {
                "reduced (not shown minimal within the budget)"
            },
            self.counterexample.ops.len(),
            self.counterexample.checks
        ));
        s.push_str(&self.counterexample.timeline);
        s
    }
}

/// Explains an invalid partition, whose search took `search_steps`; minimization stops at `deadline`.
pub(crate) fn explain<M: Model>(
    history: &History,
    model: &M,
    part: &Partition<M>,
    longest: &[usize],
    search_steps: u64,
    deadline: Instant,
) -> Explanation {
    let started = Instant::now();
    // Replay the prefix to find the state it leaves.
    let mut state = part.init.clone();
    for &i in longest {
        state = model.step(&state, &part.ops[i].op).expect("the search only linearizes legal steps");
    }
    let in_prefix: BTreeSet<usize> = longest.iter().copied().collect();
    let earliest_return = (0..part.ops.len())
        .filter(|i| !in_prefix.contains(i))
        .filter_map(|i| part.ops[i].ret)
        .min()
        .unwrap_or(usize::MAX);
    let state_text = model.describe(&state, &part.values);
    let stuck = (0..part.ops.len())
        .filter(|i| !in_prefix.contains(i) && part.ops[*i].call < earliest_return)
        .map(|i| StuckOp {
            op: history.ops[part.op_ids[i]].clone(),
            state: state_text.clone(),
            rejected: model.step(&state, &part.ops[i].op).is_none(),
        })
        .collect();
    let tail_start = longest.len().saturating_sub(8);
    let prefix_tail = longest[tail_start..].iter().map(|&i| history.ops[part.op_ids[i]].clone()).collect();
    let max_steps = CHECK_MIN_STEPS.max(search_steps.saturating_mul(CHECK_STEP_FACTOR));
    let (kept, minimal, checks) = minimize(history, model, part, deadline, max_steps);
    let ops: Vec<Operation> = kept.iter().map(|&i| history.ops[part.op_ids[i]].clone()).collect();
    let timeline = timeline(&ops);
    Explanation {
        longest_prefix: longest.iter().map(|&i| part.op_ids[i]).collect(),
        prefix_tail,
        state_after_prefix: state_text,
        stuck,
        counterexample: Counterexample { ops, minimal, checks, timeline },
        elapsed_us: started.elapsed().as_micros() as u64,
    }
}

/// Whether the sub-history made of `subset` (indices into `part.ops`) is not linearizable; `None` when
/// the search took more than `max_steps` steps or ran past the deadline.
fn invalid<M: Model>(
    model: &M,
    part: &Partition<M>,
    subset: &[usize],
    deadline: Instant,
    max_steps: u64,
) -> Option<bool> {
    let ops: Vec<SearchOp<M::Op>> = subset.iter().map(|&i| part.ops[i].clone()).collect();
    let used = AtomicUsize::new(0);
    let cancel = AtomicBool::new(false);
    let budget = Budget { deadline: Some(deadline), memory_limit: None, memory_used: &used, cancel: &cancel };
    let mut search = Search::new(model, part.init.clone(), &ops, budget);
    match search.run(max_steps)? {
        SearchResult::NotLinearizable { .. } => Some(true),
        SearchResult::Linearizable { .. } => Some(false),
        SearchResult::Aborted(_) => None,
    }
}

/// What one search of a candidate counterexample showed.
enum Check {
    Invalid,
    /// Linearizable, or it would strand a read (see [`Support`]).
    NotInvalid,
    /// The search hit its step limit: the candidate is treated as not invalid.
    Undecided,
    /// The explanation's time budget ran out.
    OutOfTime,
}

/// Delta debugging; returns the kept indices (in invocation order), whether 1-minimality was shown,
/// and the number of searches run.
fn minimize<M: Model>(
    history: &History,
    model: &M,
    part: &Partition<M>,
    deadline: Instant,
    max_steps: u64,
) -> (Vec<usize>, bool, usize) {
    let mut current: Vec<usize> = (0..part.ops.len()).collect();
    current.sort_by_key(|&i| part.ops[i].call);
    let mut checks = 0usize;
    let mut undecided = false;
    let support = Support::new(history, part);
    let mut check = |subset: &[usize]| -> Check {
        if !support.keeps_reads_explained(subset) {
            return Check::NotInvalid;
        }
        if Instant::now() >= deadline {
            return Check::OutOfTime;
        }
        checks += 1;
        match invalid(model, part, subset, deadline, max_steps) {
            Some(true) => Check::Invalid,
            Some(false) => Check::NotInvalid,
            None if Instant::now() >= deadline => Check::OutOfTime,
            None => {
                undecided = true;
                Check::Undecided
            }
        }
    };

    // 1. Shortest invalid prefix in invocation order: `hi` is always an invalid length, `lo` one not
    // shown invalid.
    let (mut lo, mut hi) = (0usize, current.len());
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match check(&current[..mid]) {
            Check::Invalid => hi = mid,
            Check::NotInvalid | Check::Undecided => lo = mid,
            Check::OutOfTime => return (current[..hi].to_vec(), false, checks),
        }
    }
    current.truncate(hi);

    // 2. Drop whole processes.
    let procs: BTreeSet<u64> = current.iter().map(|&i| process_of(part, i)).collect();
    for p in procs {
        let candidate: Vec<usize> = current.iter().copied().filter(|&i| process_of(part, i) != p).collect();
        if candidate.len() == current.len() || candidate.is_empty() {
            continue;
        }
        match check(&candidate) {
            Check::Invalid => current = candidate,
            Check::NotInvalid | Check::Undecided => {}
            Check::OutOfTime => return (current, false, checks),
        }
    }

    // 3. ddmin: remove chunks of halving size; at size 1, repeat until no single removal works.
    let mut chunk = (current.len() / 2).max(1);
    loop {
        let mut removed_any = false;
        let mut start = 0;
        while start < current.len() {
            let end = (start + chunk).min(current.len());
            let candidate: Vec<usize> = current[..start].iter().chain(&current[end..]).copied().collect();
            if candidate.is_empty() {
                start = end;
                continue;
            }
            match check(&candidate) {
                Check::Invalid => {
                    current = candidate;
                    removed_any = true;
                }
                Check::NotInvalid | Check::Undecided => start = end,
                Check::OutOfTime => return (current, false, checks),
            }
        }
        if chunk > 1 {
            chunk = (chunk / 2).max(1);
        } else if !removed_any {
            return (current, !undecided, checks);
        }
    }
}

/// Which values each operation reads and writes, so shrinking never removes the only write of a value a
/// kept read returned. Without this rule ddmin happily reduces a stale read (write 1, write 2, read 1) to
/// the lone read of a value nobody wrote: still invalid, but no longer the story of what went wrong.
/// Values no operation of the key wrote (phantoms) are exempt: they are invalid on their own.
struct Support {
    reads: Vec<Vec<String>>,
    writes: Vec<Option<String>>,
}

impl Support {
    fn new<M: Model>(history: &History, part: &Partition<M>) -> Support {
        let mut reads = Vec::with_capacity(part.op_ids.len());
        let mut writes = Vec::with_capacity(part.op_ids.len());
        for &id in &part.op_ids {
            let op = &history.ops[id];
            let written = match op.f.as_str() {
                "write" | "put" | "append" | "add" => Some(op.input.to_string()),
                "cas" => op.input.as_array().filter(|a| a.len() == 2).map(|a| a[1].to_string()),
                _ => None,
            };
            let read = match (op.f.as_str(), &op.output) {
                ("read" | "get", serde_json::Value::Array(items)) => {
                    items.iter().map(|v| v.to_string()).collect()
                }
                ("read" | "get", serde_json::Value::Null) => Vec::new(),
                ("read" | "get", v) => vec![v.to_string()],
                _ => Vec::new(),
            };
            reads.push(read);
            writes.push(written);
        }
        let all_written: BTreeSet<&String> = writes.iter().flatten().collect();
        // A string read that is no single written value is a concatenation (kv-append): it needs every
        // appended string it contains.
        let written_strings: Vec<(&String, &str)> = part
            .op_ids
            .iter()
            .zip(&writes)
            .filter_map(|(&id, w)| {
                Some((
                    w.as_ref()?,
                    history.ops[id].input.as_str().or_else(|| history.ops[id].input.get(1)?.as_str())?,
                ))
            })
            .filter(|(_, raw)| !raw.is_empty())
            .collect();
        let reads = reads
            .into_iter()
            .zip(&part.op_ids)
            .map(|(r, &id): (Vec<String>, &usize)| {
                let op = &history.ops[id];
                let out = &op.output;
                match out.as_str() {
                    Some(text)
                        if matches!(op.f.as_str(), "read" | "get")
                            && !all_written.contains(&out.to_string()) =>
                    {
                        written_strings
                            .iter()
                            .filter(|(_, raw)| text.contains(raw))
                            .map(|(json, _)| (*json).clone())
                            .collect()
                    }
                    _ => r.into_iter().filter(|v| all_written.contains(v)).collect(),
                }
            })
            .collect();
        Support { reads, writes }
    }

    fn keeps_reads_explained(&self, subset: &[usize]) -> bool {
        let written: BTreeSet<&String> = subset.iter().filter_map(|&i| self.writes[i].as_ref()).collect();
        subset.iter().all(|&i| self.reads[i].iter().all(|v| written.contains(v)))
    }
}

fn process_of<M: Model>(part: &Partition<M>, i: usize) -> u64 {
    part.op_process[i]
}

/// Draws operations as a timeline: one row per operation, `|` at invocation and completion, `-` in
/// between, `>` running off the end for an operation that never completed (info or pending).
pub fn timeline(ops: &[Operation]) -> String {
    let mut positions: Vec<usize> = Vec::with_capacity(ops.len() * 2);
    for op in ops {
        positions.push(op.invoke_index);
        if let Some(c) = op.complete_index {
            positions.push(c);
        }
    }
    positions.sort_unstable();
    positions.dedup();
    let rank = |p: usize| positions.binary_search(&p).unwrap_or(0);
    const CELL: usize = 3;
    let width = positions.len() * CELL + 2;
    let label_width = ops.iter().map(|o| format!("p{}", o.process).len()).max().unwrap_or(2);
    let mut out = String::new();
    for op in ops {
        let start = rank(op.invoke_index) * CELL;
        let end = op.complete_index.map_or(width - 1, |c| rank(c) * CELL);
        let mut row = vec![' '; width];
        for cell in row.iter_mut().take(end).skip(start) {
            *cell = '-';
        }
        row[start] = '|';
        if op.complete_index.is_some() {
            row[end] = '|';
        } else {
            row[width - 1] = '>';
        }
        let bar: String = row.into_iter().collect();
        out.push_str(&format!(
            "{:<label_width$} {} {}  (line {})\n",
            format!("p{}", op.process),
            bar,
            op.describe(),
            op.invoke_line
        ));
    }
    out
}
