//! The linearizability search on one partition: Wing & Gong's backtracking with Lowe's memoization.
//!
//! The history is a doubly linked list of call and return entries in real-time order. The search walks
//! it from the head: at a call it tries to linearize that operation next (the model must accept it in
//! the current state); if it can, the call and its return are lifted out of the list and the walk
//! restarts from the head; at a return whose operation is not yet linearized, no order of what came
//! before works, so it backtracks by undoing the last linearized operation and trying the next call.
//! Lowe's memoization prunes a branch whose (set of linearized operations, state) was already explored:
//! whatever failed from there fails again. This is the algorithm of Porcupine's `checkSingle` and
//! Knossos's `wgl`, with these differences:
//!
//! - **Incremental hashing.** The linearized set is hashed Zobrist style: every operation has a random
//!   64-bit key and the set's hash is their XOR, updated in O(1) per step instead of rehashing a bitset.
//!   The cache stores the exact bitset next to the state, so a hash collision costs a comparison, never
//!   a wrong answer.
//! - **Arena storage.** List links are `u32` indices into flat vectors and cached bitsets live in one
//!   `Vec<u64>` arena, so the search allocates only when the cache grows.
//! - **Indefinite operations.** An operation whose outcome is unknown has no return entry (its return is
//!   at infinity): it never forces a backtrack. Because it may also not have happened, the search is done
//!   once every operation with a definite return is linearized, and it skips linearizing an indefinite
//!   operation that would not change the state. Indefinite operations that prepare to the same model
//!   operation are interchangeable, so only the earliest-invoked unlinearized one of each group is tried.
//! - **Forced reads.** A definite read-only operation (one that changes no state it is legal in, see
//!   [`Model::is_read_only`]) that is legal now, and whose step leaves the state exactly as it was, is
//!   linearized without branching: any linearization from the current configuration can move it to the
//!   front (it is already invoked, everything that returned before its invocation is already
//!   linearized, and it changes nothing). If the search fails after it, the configuration before it
//!   fails too, so backtracking skips the alternatives. Concurrent reads no longer multiply the
//!   configurations by every subset of them. (A read that turns a symbolic state into one of the
//!   concrete states it stands for, as a kv get does, is not forced: it is a choice.)
//! - **Dead-branch pruning.** Models whose states only grow (appends, adds) tell the search, through
//!   [`Model::still_possible`], when an operation that must still be linearized can no longer succeed
//!   (a get whose string the current state is not a prefix of); the branch is abandoned at once
//!   instead of after every order of the operations before that get.
//! - **Budgets.** A deadline, a memory budget shared by all partitions, and a cancellation flag are
//!   checked every few thousand steps; running out yields [`SearchResult::Aborted`], never a guess.
//! - **Resumable.** [`Search::run`] takes a step limit and returns `None` when it is reached; the
//!   caller resumes it later. That is how [`crate::linearizability`] time-slices the partitions, and
//!   how [`crate::explain`] bounds each search of a candidate counterexample.

use crate::model::{Model, fast_hash, mix64};
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

const NONE: u32 = u32::MAX;
const HEAD: u32 = 0;
/// Steps between two looks at the clock, the memory counter and the cancellation flag.
const CHECK_EVERY: u64 = 1 << 11;

/// One operation prepared for the search.
#[derive(Clone, Debug)]
pub struct SearchOp<O> {
    pub op: O,
    /// Position of the invocation in the history.
    pub call: usize,
    /// Position of the completion; `None` for an indefinite operation (return at infinity).
    pub ret: Option<usize>,
}

/// Why a search stopped without a verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abort {
    Timeout,
    Memory,
    Cancelled,
}

/// Limits a search runs under. The memory counter and the cancellation flag are shared between the
/// partitions of one check.
#[derive(Debug, Clone, Copy)]
pub struct Budget<'a> {
    pub deadline: Option<Instant>,
    pub memory_limit: Option<usize>,
    pub memory_used: &'a AtomicUsize,
    pub cancel: &'a AtomicBool,
}

/// The outcome of a search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchResult {
    /// A linearization exists; the order found (indices into the searched ops; indefinite operations
    /// that were left out are absent).
    Linearizable {
        order: Vec<usize>,
    },
    /// None exists. `longest` is the longest sequence of operations the search managed to linearize.
    NotLinearizable {
        longest: Vec<usize>,
    },
    Aborted(Abort),
}

/// What the search did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SearchStats {
    /// Model steps tried.
    pub steps: u64,
    /// Configurations memoized.
    pub cache_entries: usize,
    /// Bytes the cache held at its largest.
    pub peak_bytes: usize,
}

/// A pass-through hasher for keys that are already well-mixed 64-bit hashes.
#[derive(Default, Clone, Copy, Debug)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Lowe's cache: configurations (linearized bitset, state) already explored.
struct Cache<S> {
    words: usize,
    index: HashMap<u64, u32, BuildHasherDefault<IdentityHasher>>,
    /// Per entry: the next entry with the same hash, and the state.
    entries: Vec<(u32, S)>,
    /// Bitsets of all entries, `words` words each.
    bits: Vec<u64>,
    state_heap: usize,
}

impl<S: Eq> Cache<S> {
    fn new(words: usize) -> Self {
        Cache { words, index: HashMap::default(), entries: Vec::new(), bits: Vec::new(), state_heap: 0 }
    }

    /// Inserts the configuration unless present; returns whether it was new.
    fn insert(&mut self, hash: u64, set: &[u64], state: &S, heap: usize) -> bool
    where
        S: Clone,
    {
        let head = self.index.get(&hash).copied().unwrap_or(NONE);
        let mut e = head;
        while e != NONE {
            let (next, s) = &self.entries[e as usize];
            let start = e as usize * self.words;
            if s == state && &self.bits[start..start + self.words] == set {
                return false;
            }
            e = *next;
        }
        let id = u32::try_from(self.entries.len()).expect("fewer than 4 billion cached configurations");
        self.entries.push((head, state.clone()));
        self.bits.extend_from_slice(set);
        self.index.insert(hash, id);
        self.state_heap += heap;
        true
    }

    fn bytes(&self) -> usize {
        self.bits.capacity() * 8
            + self.entries.capacity() * std::mem::size_of::<(u32, S)>()
            + self.index.capacity() * 16
            + self.state_heap
    }
}

/// Searches for a linearization of `ops` from `init`, to the end (or until the budget runs out).
pub fn search<M: Model>(
    model: &M,
    init: M::State,
    ops: &[SearchOp<M::Op>],
    budget: &Budget<'_>,
) -> (SearchResult, SearchStats) {
    let mut s = Search::new(model, init, ops, *budget);
    let result = s.run(u64::MAX).expect("a search without a step limit always ends");
    (result, s.stats())
}

/// A search that can stop after a number of steps and resume later: the caller time-slices many
/// searches on a few threads (so a cheap invalid partition is found while an expensive one is still
/// running), or bounds one without a clock. The memory its cache holds stays counted in the budget's
/// shared counter while it is suspended, and is given back when the search ends or is dropped.
pub struct Search<'a, M: Model> {
    model: &'a M,
    ops: &'a [SearchOp<M::Op>],
    budget: Budget<'a>,
    // The doubly linked list of call and return entries (0 is the head sentinel).
    next: Vec<u32>,
    prev: Vec<u32>,
    entry_op: Vec<usize>,
    is_call: Vec<bool>,
    ret_entry: Vec<u32>,
    /// Interchangeable indefinite operations: each points at the previous one (in call order) with an
    /// equal model operation; it may be linearized only once that one is.
    equiv_prev: Vec<u32>,
    zobrist: Vec<u64>,
    /// The linearized set as a bitset, and its Zobrist hash.
    lin: Vec<u64>,
    set_hash: u64,
    /// Definite operations not yet linearized.
    finite_left: usize,
    cache: Cache<M::State>,
    /// Bytes of this search's cache currently counted in `budget.memory_used`.
    reported: usize,
    state: M::State,
    /// The linearized calls, in order: entry, the state before it, whether it was forced.
    calls: Vec<(u32, M::State, bool)>,
    longest: Vec<usize>,
    /// The list entry the walk is at.
    entry: u32,
    prunes: bool,
    stats: SearchStats,
    done: bool,
}

impl<M: Model> fmt::Debug for Search<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Search").field("ops", &self.ops.len()).field("stats", &self.stats).finish()
    }
}

impl<'a, M: Model> Search<'a, M> {
    /// Prepares a search of `ops` from `init` (no step is taken yet).
    pub fn new(model: &'a M, init: M::State, ops: &'a [SearchOp<M::Op>], budget: Budget<'a>) -> Self {
        let n = ops.len();
        // Entries: 0 is the head sentinel; then calls and returns sorted by history position.
        let mut events: Vec<(usize, bool, usize)> = Vec::with_capacity(2 * n);
        for (i, o) in ops.iter().enumerate() {
            events.push((o.call, true, i));
            if let Some(r) = o.ret {
                events.push((r, false, i));
            }
        }
        // At equal positions a call sorts before a return (closed intervals overlap).
        events.sort_unstable_by_key(|&(pos, is_call, _)| (pos, !is_call));
        let len = events.len() + 1;
        let mut entry_op = vec![0usize; len];
        let mut is_call = vec![false; len];
        let mut ret_entry = vec![NONE; n];
        for (k, &(_, c, i)) in events.iter().enumerate() {
            let e = k + 1;
            entry_op[e] = i;
            is_call[e] = c;
            if !c {
                ret_entry[i] = e as u32;
            }
        }
        let next = (0..len).map(|e| if e + 1 < len { (e + 1) as u32 } else { NONE }).collect();
        let prev = (0..len).map(|e| if e == 0 { NONE } else { (e - 1) as u32 }).collect();

        let mut equiv_prev = vec![NONE; n];
        {
            let mut last: HashMap<&M::Op, u32> = HashMap::new();
            let mut by_call: Vec<usize> = (0..n).filter(|&i| ops[i].ret.is_none()).collect();
            by_call.sort_by_key(|&i| ops[i].call);
            for i in by_call {
                if let Some(&p) = last.get(&ops[i].op) {
                    equiv_prev[i] = p;
                }
                last.insert(&ops[i].op, i as u32);
            }
        }

        let zobrist = (0..n)
            .map(|i| mix64(0x9e37_79b9_7f4a_7c15 ^ (i as u64).wrapping_mul(0x2545_f491_4f6c_dd1d)))
            .collect();
        let words = n.div_ceil(64).max(1);
        Search {
            model,
            ops,
            budget,
            next,
            prev,
            entry_op,
            is_call,
            ret_entry,
            equiv_prev,
            zobrist,
            lin: vec![0u64; words],
            set_hash: 0,
            finite_left: ops.iter().filter(|o| o.ret.is_some()).count(),
            cache: Cache::new(words),
            reported: 0,
            state: init,
            calls: Vec::new(),
            longest: Vec::new(),
            entry: if len > 1 { 1 } else { NONE },
            prunes: model.prunes(),
            stats: SearchStats::default(),
            done: false,
        }
    }

    /// What the search did so far.
    pub fn stats(&self) -> SearchStats {
        let mut stats = self.stats;
        stats.cache_entries = self.cache.entries.len();
        stats.peak_bytes = stats.peak_bytes.max(self.cache.bytes());
        stats
    }

    /// Brings the budget's shared memory counter up to date with this search's cache.
    fn report_memory(&mut self) {
        let bytes = if self.done { 0 } else { self.cache.bytes() };
        self.stats.peak_bytes = self.stats.peak_bytes.max(self.cache.bytes());
        if bytes > self.reported {
            self.budget.memory_used.fetch_add(bytes - self.reported, Ordering::Relaxed);
        } else {
            self.budget.memory_used.fetch_sub(self.reported - bytes, Ordering::Relaxed);
        }
        self.reported = bytes;
    }

    fn finish(&mut self, result: SearchResult) -> Option<SearchResult> {
        self.done = true;
        self.report_memory();
        Some(result)
    }

    /// Takes up to `max_steps` more steps. `None`: not decided yet (call again to go on); otherwise the
    /// outcome, after which the search is over (a further call panics).
    pub fn run(&mut self, max_steps: u64) -> Option<SearchResult> {
        assert!(!self.done, "the search already ended");
        let model = self.model;
        let ops = self.ops;
        let is_lin = |lin: &[u64], i: usize| lin[i / 64] & (1 << (i % 64)) != 0;
        let stop_at = self.stats.steps.saturating_add(max_steps);
        loop {
            if self.finite_left == 0 {
                let order = self.calls.iter().map(|(e, _, _)| self.entry_op[*e as usize]).collect();
                return self.finish(SearchResult::Linearizable { order });
            }
            if self.stats.steps >= stop_at {
                self.report_memory();
                return None;
            }
            self.stats.steps += 1;
            if self.stats.steps.is_multiple_of(CHECK_EVERY) {
                self.report_memory();
                let budget = &self.budget;
                let abort = if budget.cancel.load(Ordering::Relaxed) {
                    Some(Abort::Cancelled)
                } else if budget.deadline.is_some_and(|d| Instant::now() >= d) {
                    Some(Abort::Timeout)
                } else if budget.memory_limit.is_some_and(|m| budget.memory_used.load(Ordering::Relaxed) > m)
                {
                    Some(Abort::Memory)
                } else {
                    None
                };
                if let Some(a) = abort {
                    return self.finish(SearchResult::Aborted(a));
                }
            }
            let entry = self.entry;
            if entry != NONE && self.is_call[entry as usize] {
                let i = self.entry_op[entry as usize];
                let op = &ops[i];
                let indefinite = op.ret.is_none();
                if indefinite && self.equiv_prev[i] != NONE && !is_lin(&self.lin, self.equiv_prev[i] as usize)
                {
                    self.entry = self.next[entry as usize];
                    continue;
                }
                match model.step(&self.state, &op.op) {
                    Some(new_state) if !(indefinite && new_state == self.state) => {
                        // A definite read-only operation (one that changes no state it is legal in) that
                        // is legal now can be linearized now without loss: any linearization from here
                        // can move it to the front. So if that fails, this whole configuration fails. (A
                        // write of the current value does not qualify: elsewhere in the order it may
                        // change the state.)
                        // Only a step that leaves the state as it was: a symbolic state (see
                        // `models::KvState`) stands for several concrete ones, and a read that picks
                        // one of them is a choice, not a free move.
                        let forced = !indefinite && model.is_read_only(&op.op) && new_state == self.state;
                        self.lin[i / 64] |= 1 << (i % 64);
                        let new_hash = self.set_hash ^ self.zobrist[i];
                        let key = new_hash ^ fast_hash(&new_state).rotate_left(17);
                        let heap = model.state_heap_bytes(&new_state);
                        if self.cache.insert(key, &self.lin, &new_state, heap)
                            && (!self.prunes
                                || viable(
                                    model,
                                    &new_state,
                                    ops,
                                    &self.next,
                                    &self.entry_op,
                                    &self.is_call,
                                    i,
                                ))
                        {
                            let before = std::mem::replace(&mut self.state, new_state);
                            self.calls.push((entry, before, forced));
                            self.set_hash = new_hash;
                            if !indefinite {
                                self.finite_left -= 1;
                            }
                            lift(&mut self.next, &mut self.prev, entry, self.ret_entry[i]);
                            self.entry = self.next[HEAD as usize];
                            continue;
                        }
                        self.lin[i / 64] &= !(1 << (i % 64));
                        if !forced {
                            self.entry = self.next[entry as usize];
                            continue;
                        }
                    }
                    _ => {
                        self.entry = self.next[entry as usize];
                        continue;
                    }
                }
            }
            // A return of an operation not yet linearized, the end of the list, or a forced operation
            // that failed: undo the last step, and keep undoing while the undone step was forced.
            if self.calls.len() > self.longest.len() {
                self.longest = self.calls.iter().map(|(e, _, _)| self.entry_op[*e as usize]).collect();
            }
            loop {
                let Some((e, s, forced)) = self.calls.pop() else {
                    let longest = std::mem::take(&mut self.longest);
                    return self.finish(SearchResult::NotLinearizable { longest });
                };
                let i = self.entry_op[e as usize];
                self.lin[i / 64] &= !(1 << (i % 64));
                self.set_hash ^= self.zobrist[i];
                if ops[i].ret.is_some() {
                    self.finite_left += 1;
                }
                self.state = s;
                unlift(&mut self.next, &mut self.prev, e, self.ret_entry[i]);
                if !forced {
                    self.entry = self.next[e as usize];
                    break;
                }
            }
        }
    }
}

impl<M: Model> Drop for Search<'_, M> {
    /// A search dropped before it ended (cancelled while suspended) gives its memory back too.
    fn drop(&mut self) {
        self.budget.memory_used.fetch_sub(self.reported, Ordering::Relaxed);
    }
}

/// Entries looked at, and operations checked, by [`viable`] after each step.
const VIABLE_MAX_ENTRIES: usize = 64;
const VIABLE_MAX_CHECKS: usize = 4;
const VIABLE_MAX_RESETS: usize = 4;

/// Whether the operations that must be linearized soonest (the first return entries in the list) can
/// still be accepted after the state becomes `state` by linearizing op `skip`. A resetting operation
/// (a put) invoked before such an operation's return could come first: the operation then also counts
/// as possible if it is from the state the reset leaves.
/// A `false` here is the model's proof that the branch is dead; the configuration stays cached, so it
/// is never tried again.
fn viable<M: Model>(
    model: &M,
    state: &M::State,
    ops: &[SearchOp<M::Op>],
    next: &[u32],
    entry_op: &[usize],
    is_call: &[bool],
    skip: usize,
) -> bool {
    let mut e = next[HEAD as usize];
    let (mut walked, mut checked) = (0, 0);
    // States the resetting operations seen so far would leave (they may come before what follows).
    let mut resets: Vec<M::State> = Vec::new();
    while e != NONE && walked < VIABLE_MAX_ENTRIES && checked < VIABLE_MAX_CHECKS {
        let j = entry_op[e as usize];
        if j != skip {
            if is_call[e as usize] {
                if model.may_reset(&ops[j].op) {
                    match model.step(state, &ops[j].op) {
                        Some(after) if resets.len() < VIABLE_MAX_RESETS => resets.push(after),
                        Some(_) => return true,
                        None => {}
                    }
                }
            } else {
                checked += 1;
                let op = &ops[j].op;
                if !model.still_possible(state, op) && !resets.iter().any(|r| model.still_possible(r, op)) {
                    return false;
                }
            }
        }
        walked += 1;
        e = next[e as usize];
    }
    true
}

fn unlink(next: &mut [u32], prev: &mut [u32], x: u32) {
    let (p, nx) = (prev[x as usize], next[x as usize]);
    next[p as usize] = nx;
    if nx != NONE {
        prev[nx as usize] = p;
    }
}

fn relink(next: &mut [u32], prev: &mut [u32], x: u32) {
    let (p, nx) = (prev[x as usize], next[x as usize]);
    next[p as usize] = x;
    if nx != NONE {
        prev[nx as usize] = x;
    }
}

/// Removes a call and its return (if any) from the list; `unlift` undoes it (in reverse order).
fn lift(next: &mut [u32], prev: &mut [u32], call: u32, ret: u32) {
    unlink(next, prev, call);
    if ret != NONE {
        unlink(next, prev, ret);
    }
}

fn unlift(next: &mut [u32], prev: &mut [u32], call: u32, ret: u32) {
    if ret != NONE {
        relink(next, prev, ret);
    }
    relink(next, prev, call);
}
