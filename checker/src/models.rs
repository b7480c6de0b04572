//! The models we ship: registers (plain, cas, etcd's), list-append, kv with string append, a set, and a
//! wrapper that checks a whole multi-key history with a map state instead of partitioning it.
//!
//! Each keeps its state cheap to clone and hash: register values are interned ids; growing values
//! (lists, sets) sit behind an `Arc` next to a hash maintained incrementally on every step, so hashing a
//! state is one word and cloning one reference count. Equality stays exact (the hash only short-cuts
//! the comparison), so a hash collision can never turn an illegal step into a legal one.
//!
//! The kv model's state is symbolic ([`KvState`]): the appends since the last put or observing get are
//! kept as a set, and ordered only when a get observes them, so the search does not tell apart orders
//! that nothing observes.

use crate::model::{FailSemantics, Interner, Model, ModelError, NilRead, mix64};
use crate::ops::{Operation, Outcome};
use serde_json::Value;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

fn scalar(v: &Value) -> bool {
    matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

/// Whether the outcome of `op` says it never happened under `fail` semantics where fails are dropped.
fn dropped_fail(op: &Operation, fail: FailSemantics) -> bool {
    op.outcome == Outcome::Fail && fail == FailSemantics::NeverHappened
}

// ---------------------------------------------------------------------------------------------------
// Registers

/// A single-value register: `read`/`get`, `write`/`put` and (unless plain) `cas` with `[from, to]`
/// (`from` may be null: "only if absent"). The state is the interned value, `None` when absent.
#[derive(Clone, Debug)]
pub struct Register {
    pub name: String,
    pub allow_cas: bool,
    pub fail: FailSemantics,
    pub nil_read: NilRead,
    pub initial: Option<Value>,
}

/// Whether a cas took effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CasResult {
    /// Completed ok: the register held `from` and now holds `to`.
    Applied,
    /// Failed having seen another value (etcd semantics): the register did not hold `from`.
    NotApplied,
    /// Indefinite: applied if the register held `from`, or never happened.
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterOp {
    /// A read that returned this value (`None`: absent).
    Read(Option<u32>),
    Write(u32),
    Cas {
        from: Option<u32>,
        to: u32,
        result: CasResult,
    },
}

impl Model for Register {
    type State = Option<u32>;
    type Op = RegisterOp;

    fn name(&self) -> String {
        self.name.clone()
    }

    fn init(&self, values: &mut Interner) -> Option<u32> {
        self.initial.as_ref().filter(|v| !v.is_null()).map(|v| values.intern(v))
    }

    fn prepare(&self, op: &Operation, values: &mut Interner) -> Result<Option<RegisterOp>, ModelError> {
        match op.f.as_str() {
            "read" | "get" => {
                // A read that did not complete ok observed nothing we know of.
                if op.outcome != Outcome::Ok {
                    return Ok(None);
                }
                match &op.output {
                    Value::Null => Ok(match self.nil_read {
                        NilRead::Absent => Some(RegisterOp::Read(None)),
                        NilRead::ConstrainsNothing => None,
                    }),
                    v if scalar(v) => Ok(Some(RegisterOp::Read(Some(values.intern(v))))),
                    v => Err(ModelError::bad_value(
                        true,
                        "a string or number (or null) read from the register",
                        v,
                    )),
                }
            }
            "write" | "put" => {
                if !scalar(&op.input) {
                    return Err(ModelError::bad_value(false, "a string or number to write", &op.input));
                }
                // A failed write never happened under either semantics: it cannot have seen anything.
                if op.outcome == Outcome::Fail {
                    return Ok(None);
                }
                Ok(Some(RegisterOp::Write(values.intern(&op.input))))
            }
            "cas" if self.allow_cas => {
                let (from, to) = match &op.input {
                    Value::Array(a) if a.len() == 2 && (a[0].is_null() || scalar(&a[0])) && scalar(&a[1]) => {
                        (a[0].clone(), a[1].clone())
                    }
                    v => {
                        return Err(ModelError::bad_value(
                            false,
                            "[from, to] with scalar values (from may be null)",
                            v,
                        ));
                    }
                };
                if dropped_fail(op, self.fail) {
                    return Ok(None);
                }
                let result = match op.outcome {
                    Outcome::Ok => CasResult::Applied,
                    Outcome::Fail => CasResult::NotApplied,
                    Outcome::Info | Outcome::Pending => CasResult::Unknown,
                };
                let from = if from.is_null() { None } else { Some(values.intern(&from)) };
                Ok(Some(RegisterOp::Cas { from, to: values.intern(&to), result }))
            }
            f => Err(ModelError::unknown_function(
                &self.name,
                f,
                if self.allow_cas { "read, write, cas (or get, put)" } else { "read, write (or get, put)" },
            )),
        }
    }

    fn step(&self, state: &Option<u32>, op: &RegisterOp) -> Option<Option<u32>> {
        match *op {
            RegisterOp::Read(v) => (*state == v).then_some(*state),
            RegisterOp::Write(v) => Some(Some(v)),
            RegisterOp::Cas { from, to, result } => match result {
                CasResult::Applied => (*state == from).then_some(Some(to)),
                CasResult::NotApplied => (*state != from).then_some(*state),
                CasResult::Unknown => Some(if *state == from { Some(to) } else { *state }),
            },
        }
    }

    fn is_read_only(&self, op: &RegisterOp) -> bool {
        match *op {
            RegisterOp::Read(_) => true,
            RegisterOp::Write(_) => false,
            RegisterOp::Cas { from, to, result } => match result {
                CasResult::NotApplied => true,
                // Legal only when the register holds `from`, and then it leaves `to`.
                CasResult::Applied => from == Some(to),
                CasResult::Unknown => false,
            },
        }
    }

    fn describe(&self, state: &Option<u32>, values: &Interner) -> String {
        match state {
            None => "absent".to_string(),
            Some(v) => values.show(*v),
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Strings with append (Porcupine's kv model)

const POLY: u64 = 0x0000_0100_0000_01b3;

fn poly_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |h, b| h.wrapping_mul(POLY).wrapping_add(u64::from(*b) + 1))
}

/// A string with its polynomial hash, compared by hash first.
#[derive(Clone, Debug)]
pub struct HashedStr {
    hash: u64,
    text: Arc<str>,
}

impl HashedStr {
    pub fn new(s: &str) -> HashedStr {
        HashedStr { hash: poly_hash(s.as_bytes()), text: Arc::from(s) }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl PartialEq for HashedStr {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && (Arc::ptr_eq(&self.text, &other.text) || self.text == other.text)
    }
}
impl Eq for HashedStr {}
impl Hash for HashedStr {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.hash);
    }
}

/// Polynomial hashes of every prefix of a string or list: `0[k]` hashes the first `k` elements.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PrefixHashes(Arc<Vec<u64>>);

impl PrefixHashes {
    fn of_bytes(bytes: &[u8]) -> PrefixHashes {
        let mut v = Vec::with_capacity(bytes.len() + 1);
        let mut h = 0u64;
        v.push(h);
        for b in bytes {
            h = h.wrapping_mul(POLY).wrapping_add(u64::from(*b) + 1);
            v.push(h);
        }
        PrefixHashes(Arc::new(v))
    }

    fn of_ids(ids: &[u32]) -> PrefixHashes {
        let mut v = Vec::with_capacity(ids.len() + 1);
        let mut h = 0u64;
        v.push(h);
        for &id in ids {
            h = h.wrapping_mul(POLY).wrapping_add(mix64(u64::from(id) + 1));
            v.push(h);
        }
        PrefixHashes(Arc::new(v))
    }

    /// Whether something of length `len` with hash `hash` may be a prefix. A hash collision can only
    /// answer "maybe" wrongly, which costs pruning, never correctness.
    fn may_be_prefix(&self, len: usize, hash: u64) -> bool {
        self.0.get(len).is_some_and(|&h| h == hash)
    }
}

/// An append as the kv state holds it until a get observes it: the string, and the operation's interval
/// (positions in the history), which orders it after every append that returned before it was invoked.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PendingAppend {
    text: HashedStr,
    call: usize,
    /// `None`: indefinite (info or pending); nothing has to come after it.
    ret: Option<usize>,
}

impl PendingAppend {
    /// Whether `self` must come before `other` (it returned before `other` was invoked).
    fn precedes(&self, other: &PendingAppend) -> bool {
        self.ret.is_some_and(|r| r < other.call)
    }
}

/// The state of one key of Porcupine's kv model, kept symbolic so that orders nobody observes are not
/// told apart: the string as a put left it or a get last observed it, then the appends linearized
/// since, as a set. Their order is fixed only when a get observes the string; if a put overwrites them
/// first, it never is. A configuration of the search thus stands for every order of those appends that
/// real time allows (each append after those that returned before it was invoked), all of which are
/// reachable: the appends since the last get or put are the last operations linearized, so reordering
/// them disturbs no other operation.
///
/// Why: with the string itself as the state, `k` appends that a put later overwrites make every order
/// of every subset of them a distinct configuration (the sum over subsets `T` of `|T|!`, about 10
/// million for `k = 10`). That is what made key 0 of Porcupine's `c50-bad` take 29 million steps and
/// 2.3 GB. The symbolic state counts each subset once.
#[derive(Clone, Debug)]
pub struct KvState {
    base: HashedStr,
    /// Sorted by invocation position (unique per operation), so equal sets compare equal.
    pending: Option<Arc<Vec<PendingAppend>>>,
    /// XOR of the mixed invocation positions of `pending`, and the sum of their lengths.
    pending_hash: u64,
    pending_len: usize,
}

impl KvState {
    fn concrete(base: HashedStr) -> KvState {
        KvState { base, pending: None, pending_hash: 0, pending_len: 0 }
    }

    fn pending(&self) -> &[PendingAppend] {
        self.pending.as_deref().map_or(&[], Vec::as_slice)
    }

    /// Whether some order of the pending appends that real time allows spells out `rest` (all of it
    /// when `whole`, a prefix of it otherwise). Matching goes left to right: at each position only
    /// appends whose string starts there can come next, so with distinct strings (Porcupine writes
    /// `x <client> <n> y`) this is linear in the length of `rest`.
    fn spells(&self, rest: &str, whole: bool) -> bool {
        let items = self.pending();
        if self.pending_len > rest.len() || (whole && self.pending_len != rest.len()) {
            return false;
        }
        fn go(items: &[PendingAppend], used: &mut [bool], left: usize, rest: &str) -> bool {
            if left == 0 {
                return true;
            }
            for i in 0..items.len() {
                let ready = !used[i]
                    && rest.starts_with(items[i].text.as_str())
                    && (0..items.len()).all(|j| used[j] || !items[j].precedes(&items[i]));
                // Two unused appends of the same string with the same constraints are interchangeable:
                // try only the first.
                let duplicate = (0..i).any(|j| {
                    !used[j]
                        && items[j].text == items[i].text
                        && items[j].ret == items[i].ret
                        && rest.starts_with(items[j].text.as_str())
                });
                if ready && !duplicate {
                    used[i] = true;
                    if go(items, used, left - 1, &rest[items[i].text.as_str().len()..]) {
                        return true;
                    }
                    used[i] = false;
                }
            }
            false
        }
        go(items, &mut vec![false; items.len()], items.len(), rest)
    }
}

impl PartialEq for KvState {
    fn eq(&self, other: &Self) -> bool {
        self.base == other.base
            && self.pending_hash == other.pending_hash
            && self.pending_len == other.pending_len
            && self.pending().iter().map(|p| p.call).eq(other.pending().iter().map(|p| p.call))
    }
}
impl Eq for KvState {}
impl Hash for KvState {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.base.hash ^ self.pending_hash.rotate_left(29));
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOp {
    /// The string a get returned, with the hash of each of its prefixes (for pruning).
    Get(HashedStr, PrefixHashes),
    Put(HashedStr),
    Append(PendingAppend),
}

/// Porcupine's kv model for one key: `get` returns the string, `put` replaces it, `append` concatenates.
/// The initial value is the empty string (absent keys read as `""`). The state is a [`KvState`].
#[derive(Clone, Debug)]
pub struct KvAppend {
    pub fail: FailSemantics,
    pub nil_read: NilRead,
    pub initial: Option<Value>,
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Model for KvAppend {
    type State = KvState;
    type Op = KvOp;

    fn name(&self) -> String {
        "kv-append".to_string()
    }

    fn init(&self, _values: &mut Interner) -> KvState {
        KvState::concrete(HashedStr::new(&self.initial.as_ref().and_then(as_text).unwrap_or_default()))
    }

    fn prepare(&self, op: &Operation, _values: &mut Interner) -> Result<Option<KvOp>, ModelError> {
        match op.f.as_str() {
            "get" | "read" => {
                if op.outcome != Outcome::Ok {
                    return Ok(None);
                }
                match &op.output {
                    Value::Null => Ok(match self.nil_read {
                        NilRead::Absent => Some(KvOp::Get(HashedStr::new(""), PrefixHashes::of_bytes(b""))),
                        NilRead::ConstrainsNothing => None,
                    }),
                    v => match as_text(v) {
                        Some(s) => {
                            Ok(Some(KvOp::Get(HashedStr::new(&s), PrefixHashes::of_bytes(s.as_bytes()))))
                        }
                        None => Err(ModelError::bad_value(true, "a string (or null) returned by get", v)),
                    },
                }
            }
            "put" | "write" | "append" => {
                let Some(s) = as_text(&op.input) else {
                    return Err(ModelError::bad_value(false, "a string to put or append", &op.input));
                };
                if op.outcome == Outcome::Fail {
                    return Ok(None);
                }
                let text = HashedStr::new(&s);
                Ok(Some(if op.f == "append" {
                    let ret = if op.outcome.is_indefinite() { None } else { op.complete_index };
                    KvOp::Append(PendingAppend { text, call: op.invoke_index, ret })
                } else {
                    KvOp::Put(text)
                }))
            }
            f => Err(ModelError::unknown_function("kv-append", f, "get, put, append (or read, write)")),
        }
    }

    fn step(&self, state: &KvState, op: &KvOp) -> Option<KvState> {
        match op {
            KvOp::Get(v, prefixes) => {
                if state.pending.is_none() {
                    return (state.base == *v).then(|| state.clone());
                }
                let base = state.base.as_str();
                let resolves = prefixes.may_be_prefix(base.len(), state.base.hash)
                    && v.as_str().starts_with(base)
                    && state.spells(&v.as_str()[base.len()..], true);
                resolves.then(|| KvState::concrete(v.clone()))
            }
            KvOp::Put(v) => Some(KvState::concrete(v.clone())),
            KvOp::Append(a) => {
                let mut items = Vec::with_capacity(state.pending().len() + 1);
                items.extend_from_slice(state.pending());
                let at = items.partition_point(|p| p.call < a.call);
                items.insert(at, a.clone());
                Some(KvState {
                    base: state.base.clone(),
                    pending: Some(Arc::new(items)),
                    pending_hash: state.pending_hash ^ mix64(a.call as u64 + 1),
                    pending_len: state.pending_len + a.text.as_str().len(),
                })
            }
        }
    }

    fn describe(&self, state: &KvState, _values: &Interner) -> String {
        if state.pending.is_none() {
            return format!("{:?}", state.base.as_str());
        }
        let appended: Vec<String> =
            state.pending().iter().map(|p| format!("{:?}", p.text.as_str())).collect();
        format!("{:?} then, in an order not observed yet, {}", state.base.as_str(), appended.join(", "))
    }

    fn state_heap_bytes(&self, state: &KvState) -> usize {
        // The strings are shared with the operations; only the set is the state's own.
        state.pending.as_ref().map_or(0, |p| 16 + p.len() * std::mem::size_of::<PendingAppend>())
    }

    fn is_read_only(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Get(..))
    }

    fn prunes(&self) -> bool {
        true
    }

    /// Appends only extend the string: a get can still succeed only if the state's string is a prefix
    /// of what it returned, the pending appends in some order real time allows.
    fn still_possible(&self, state: &KvState, op: &KvOp) -> bool {
        match op {
            KvOp::Get(v, prefixes) => {
                let base = state.base.as_str();
                prefixes.may_be_prefix(base.len(), state.base.hash)
                    && (state.pending.is_none()
                        || (v.as_str().starts_with(base) && state.spells(&v.as_str()[base.len()..], false)))
            }
            _ => true,
        }
    }

    fn may_reset(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Put(_))
    }
}

// ---------------------------------------------------------------------------------------------------
// List-append

/// A list of interned values with an incrementally maintained hash.
#[derive(Clone, Debug)]
pub struct HashedList {
    hash: u64,
    items: Arc<Vec<u32>>,
}

impl HashedList {
    fn from_ids(ids: Vec<u32>) -> HashedList {
        let hash =
            ids.iter().fold(0u64, |h, &id| h.wrapping_mul(POLY).wrapping_add(mix64(u64::from(id) + 1)));
        HashedList { hash, items: Arc::new(ids) }
    }
}

impl PartialEq for HashedList {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && (Arc::ptr_eq(&self.items, &other.items) || self.items == other.items)
    }
}
impl Eq for HashedList {}
impl Hash for HashedList {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.hash);
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ListOp {
    Append(u32),
    Read(HashedList, PrefixHashes),
}

/// List-append per key: `append(value)` adds to the end, `read` returns the whole list (null is the
/// empty list unless nil reads constrain nothing).
#[derive(Clone, Debug)]
pub struct ListAppend {
    pub nil_read: NilRead,
}

impl Model for ListAppend {
    type State = HashedList;
    type Op = ListOp;

    fn name(&self) -> String {
        "list-append".to_string()
    }

    fn init(&self, _values: &mut Interner) -> HashedList {
        HashedList::from_ids(Vec::new())
    }

    fn prepare(&self, op: &Operation, values: &mut Interner) -> Result<Option<ListOp>, ModelError> {
        match op.f.as_str() {
            "append" => {
                if !scalar(&op.input) {
                    return Err(ModelError::bad_value(false, "a string or number to append", &op.input));
                }
                if op.outcome == Outcome::Fail {
                    return Ok(None);
                }
                Ok(Some(ListOp::Append(values.intern(&op.input))))
            }
            "read" | "get" => {
                if op.outcome != Outcome::Ok {
                    return Ok(None);
                }
                match &op.output {
                    Value::Null => Ok(match self.nil_read {
                        NilRead::Absent => {
                            Some(ListOp::Read(HashedList::from_ids(Vec::new()), PrefixHashes::of_ids(&[])))
                        }
                        NilRead::ConstrainsNothing => None,
                    }),
                    Value::Array(items) if items.iter().all(scalar) => {
                        let ids: Vec<u32> = items.iter().map(|v| values.intern(v)).collect();
                        let prefixes = PrefixHashes::of_ids(&ids);
                        Ok(Some(ListOp::Read(HashedList::from_ids(ids), prefixes)))
                    }
                    v => Err(ModelError::bad_value(true, "a list of strings returned by read", v)),
                }
            }
            f => Err(ModelError::unknown_function("list-append", f, "append, read")),
        }
    }

    fn step(&self, state: &HashedList, op: &ListOp) -> Option<HashedList> {
        match op {
            ListOp::Read(expected, _) => (state == expected).then(|| state.clone()),
            ListOp::Append(id) => {
                let mut items = Vec::with_capacity(state.items.len() + 1);
                items.extend_from_slice(&state.items);
                items.push(*id);
                Some(HashedList {
                    hash: state.hash.wrapping_mul(POLY).wrapping_add(mix64(u64::from(*id) + 1)),
                    items: Arc::new(items),
                })
            }
        }
    }

    fn describe(&self, state: &HashedList, values: &Interner) -> String {
        let items: Vec<String> = state.items.iter().map(|&id| values.show(id)).collect();
        format!("[{}]", items.join(" "))
    }

    fn state_heap_bytes(&self, state: &HashedList) -> usize {
        state.items.len() * 4 + 24
    }

    fn is_read_only(&self, op: &ListOp) -> bool {
        matches!(op, ListOp::Read(..))
    }

    fn prunes(&self) -> bool {
        true
    }

    /// Appends only extend the list: a read can still succeed only if the state is a prefix of it.
    fn still_possible(&self, state: &HashedList, op: &ListOp) -> bool {
        match op {
            ListOp::Read(_, prefixes) => prefixes.may_be_prefix(state.items.len(), state.hash),
            ListOp::Append(_) => true,
        }
    }

    fn may_reset(&self, _op: &ListOp) -> bool {
        false
    }
}

// ---------------------------------------------------------------------------------------------------
// Set

/// A set of interned values (sorted) with an order-independent hash (XOR of mixed ids).
#[derive(Clone, Debug)]
pub struct HashedSet {
    hash: u64,
    items: Arc<Vec<u32>>,
}

impl HashedSet {
    fn from_ids(mut ids: Vec<u32>) -> HashedSet {
        ids.sort_unstable();
        ids.dedup();
        let hash = ids.iter().fold(0u64, |h, &id| h ^ mix64(u64::from(id) + 1));
        HashedSet { hash, items: Arc::new(ids) }
    }
}

impl PartialEq for HashedSet {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && (Arc::ptr_eq(&self.items, &other.items) || self.items == other.items)
    }
}
impl Eq for HashedSet {}
impl Hash for HashedSet {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.hash);
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SetOp {
    Add(u32),
    Read(HashedSet),
}

/// A set: `add(value)`, `read` returns every element in any order.
#[derive(Clone, Debug)]
pub struct SetModel {
    pub nil_read: NilRead,
}

impl Model for SetModel {
    type State = HashedSet;
    type Op = SetOp;

    fn name(&self) -> String {
        "set".to_string()
    }

    fn init(&self, _values: &mut Interner) -> HashedSet {
        HashedSet::from_ids(Vec::new())
    }

    fn prepare(&self, op: &Operation, values: &mut Interner) -> Result<Option<SetOp>, ModelError> {
        match op.f.as_str() {
            "add" => {
                if !scalar(&op.input) {
                    return Err(ModelError::bad_value(false, "a string or number to add", &op.input));
                }
                if op.outcome == Outcome::Fail {
                    return Ok(None);
                }
                Ok(Some(SetOp::Add(values.intern(&op.input))))
            }
            "read" => {
                if op.outcome != Outcome::Ok {
                    return Ok(None);
                }
                match &op.output {
                    Value::Null => Ok(match self.nil_read {
                        NilRead::Absent => Some(SetOp::Read(HashedSet::from_ids(Vec::new()))),
                        NilRead::ConstrainsNothing => None,
                    }),
                    Value::Array(items) if items.iter().all(scalar) => Ok(Some(SetOp::Read(
                        HashedSet::from_ids(items.iter().map(|v| values.intern(v)).collect()),
                    ))),
                    v => Err(ModelError::bad_value(true, "a list of the set's elements", v)),
                }
            }
            f => Err(ModelError::unknown_function("set", f, "add, read")),
        }
    }

    fn step(&self, state: &HashedSet, op: &SetOp) -> Option<HashedSet> {
        match op {
            SetOp::Read(expected) => (state == expected).then(|| state.clone()),
            SetOp::Add(id) => match state.items.binary_search(id) {
                Ok(_) => Some(state.clone()),
                Err(pos) => {
                    let mut items = (*state.items).clone();
                    items.insert(pos, *id);
                    Some(HashedSet { hash: state.hash ^ mix64(u64::from(*id) + 1), items: Arc::new(items) })
                }
            },
        }
    }

    fn describe(&self, state: &HashedSet, values: &Interner) -> String {
        let items: Vec<String> = state.items.iter().map(|&id| values.show(id)).collect();
        format!("#{{{}}}", items.join(" "))
    }

    fn state_heap_bytes(&self, state: &HashedSet) -> usize {
        state.items.len() * 4 + 24
    }

    fn is_read_only(&self, op: &SetOp) -> bool {
        matches!(op, SetOp::Read(..))
    }

    fn prunes(&self) -> bool {
        true
    }

    /// Adds only grow the set: a read can still succeed only if the state is a subset of it.
    fn still_possible(&self, state: &HashedSet, op: &SetOp) -> bool {
        match op {
            SetOp::Read(expected) => {
                state.items.len() <= expected.items.len()
                    && state.items.iter().all(|id| expected.items.binary_search(id).is_ok())
            }
            SetOp::Add(_) => true,
        }
    }

    fn may_reset(&self, _op: &SetOp) -> bool {
        false
    }
}

// ---------------------------------------------------------------------------------------------------
// Whole-history checking with a map state

/// Checks a multi-key history as one object whose state maps every key to the inner model's state
/// (Porcupine's `kvNoPartitionModel`). Slower than partitioning by key, which is equivalent for
/// independent keys; it exists to cross-check partitioning and for models whose keys interact.
#[derive(Clone, Debug)]
pub struct Unpartitioned<M> {
    pub inner: M,
    keys: HashMap<Option<String>, usize>,
}

impl<M: Model> Unpartitioned<M> {
    /// Wraps `inner` for a history with these keys.
    pub fn new(inner: M, keys: &[Option<String>]) -> Unpartitioned<M> {
        Unpartitioned { inner, keys: keys.iter().cloned().enumerate().map(|(i, k)| (k, i)).collect() }
    }
}

impl<M: Model> Model for Unpartitioned<M> {
    type State = Arc<Vec<M::State>>;
    type Op = (usize, M::Op);

    fn name(&self) -> String {
        format!("{} (unpartitioned)", self.inner.name())
    }

    fn init(&self, values: &mut Interner) -> Self::State {
        let init = self.inner.init(values);
        Arc::new(vec![init; self.keys.len()])
    }

    fn prepare(&self, op: &Operation, values: &mut Interner) -> Result<Option<Self::Op>, ModelError> {
        let idx = *self.keys.get(&op.key).expect("every key of the history was registered in new()");
        Ok(self.inner.prepare(op, values)?.map(|o| (idx, o)))
    }

    fn step(&self, state: &Self::State, (idx, op): &Self::Op) -> Option<Self::State> {
        let next = self.inner.step(&state[*idx], op)?;
        let mut all = (**state).clone();
        all[*idx] = next;
        Some(Arc::new(all))
    }

    fn describe(&self, state: &Self::State, values: &Interner) -> String {
        let mut keys: Vec<(&Option<String>, &usize)> = self.keys.iter().collect();
        keys.sort();
        let parts: Vec<String> = keys
            .into_iter()
            .map(|(k, &i)| {
                format!("{}: {}", k.as_deref().unwrap_or("-"), self.inner.describe(&state[i], values))
            })
            .collect();
        format!("{{{}}}", parts.join(", "))
    }

    fn state_heap_bytes(&self, state: &Self::State) -> usize {
        state.iter().map(|s| self.inner.state_heap_bytes(s) + std::mem::size_of::<M::State>()).sum()
    }

    fn is_read_only(&self, (_, op): &Self::Op) -> bool {
        self.inner.is_read_only(op)
    }

    fn prunes(&self) -> bool {
        self.inner.prunes()
    }

    fn still_possible(&self, state: &Self::State, (idx, op): &Self::Op) -> bool {
        self.inner.still_possible(&state[*idx], op)
    }

    fn may_reset(&self, (_, op): &Self::Op) -> bool {
        self.inner.may_reset(op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(f: &str, input: Value, output: Value, outcome: Outcome) -> Operation {
        Operation {
            id: 0,
            process: 0,
            f: f.into(),
            key: None,
            input,
            output,
            outcome,
            invoke_index: 0,
            complete_index: None,
            invoke_time: 0,
            complete_time: None,
            invoke_line: 1,
            complete_line: None,
            node: None,
            error: None,
        }
    }

    #[test]
    fn a_get_fixes_the_order_of_the_appends_real_time_leaves_open() {
        let m = KvAppend { fail: FailSemantics::NeverHappened, nil_read: NilRead::Absent, initial: None };
        let mut i = Interner::default();
        let append = |text: &str, call: usize, ret: usize, i: &mut Interner| {
            let mut o = op("append", text.into(), Value::Null, Outcome::Ok);
            (o.invoke_index, o.complete_index) = (call, Some(ret));
            m.prepare(&o, i).unwrap().unwrap()
        };
        // "ab" and "c" overlap; "d" starts after "ab" returned.
        let (ab, c, d) = (append("ab", 0, 3, &mut i), append("c", 1, 5, &mut i), append("d", 4, 6, &mut i));
        let get = |v: &str, i: &mut Interner| {
            m.prepare(&op("get", Value::Null, v.into(), Outcome::Ok), i).unwrap().unwrap()
        };
        let s0 = m.init(&mut i);
        let s = m.step(&m.step(&m.step(&s0, &ab).unwrap(), &c).unwrap(), &d).unwrap();
        // Linearized as ab, c, d, but the state stands for every order real time allows.
        let s_other_order = m.step(&m.step(&m.step(&s0, &c).unwrap(), &ab).unwrap(), &d).unwrap();
        assert_eq!(s, s_other_order);
        assert!(m.step(&s, &get("abcd", &mut i)).is_some());
        assert!(m.step(&s, &get("cabd", &mut i)).is_some());
        assert!(m.step(&s, &get("abdc", &mut i)).is_some());
        assert!(m.step(&s, &get("dabc", &mut i)).is_none(), "d cannot come before ab");
        assert!(m.step(&s, &get("abc", &mut i)).is_none(), "every linearized append is in the string");
        let observed = m.step(&s, &get("cabd", &mut i)).unwrap();
        assert_ne!(observed, s, "a get narrows the state down to what it saw");
        assert_eq!(m.describe(&observed, &i), "\"cabd\"");
        // Pruning: "c" then "ab" is still a possible start of "cabdx"; nothing makes "xcab" possible.
        let partial = m.step(&m.step(&s0, &ab).unwrap(), &c).unwrap();
        assert!(m.still_possible(&partial, &get("cabdx", &mut i)));
        assert!(!m.still_possible(&partial, &get("xcab", &mut i)));
    }

    #[test]
    fn etcd_failed_cas_means_the_register_held_another_value() {
        let m = Register {
            name: "etcd".into(),
            allow_cas: true,
            fail: FailSemantics::ObservedOtherValue,
            nil_read: NilRead::Absent,
            initial: None,
        };
        let mut i = Interner::default();
        let cas = m
            .prepare(&op("cas", serde_json::json!([1, 2]), Value::Null, Outcome::Fail), &mut i)
            .unwrap()
            .unwrap();
        let one = Some(i.intern(&serde_json::json!(1)));
        assert_eq!(m.step(&one, &cas), None);
        assert_eq!(m.step(&None, &cas), Some(None));
        let jepsen = Register { fail: FailSemantics::NeverHappened, ..m };
        assert!(
            jepsen
                .prepare(&op("cas", serde_json::json!([1, 2]), Value::Null, Outcome::Fail), &mut i)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn unknown_functions_and_bad_values_are_errors() {
        let m = ListAppend { nil_read: NilRead::Absent };
        let mut i = Interner::default();
        let e = m.prepare(&op("cas", Value::Null, Value::Null, Outcome::Ok), &mut i).unwrap_err();
        assert_eq!(e.field, "f");
        let e = m.prepare(&op("read", Value::Null, "x".into(), Outcome::Ok), &mut i).unwrap_err();
        assert!(e.in_completion);
    }
}
