//! What a model is, and the semantic options that differ between history formats.
//!
//! A model is a pure sequential specification in the shape of Porcupine's `model.go`: an initial state
//! and a `step(state, op) -> Option<state>` that says whether the operation, with the output it
//! returned, is legal in that state and what state follows. States are cloned and hashed on every step
//! of the search, so models keep them cheap (interned value ids, `Arc`ed contents with a precomputed
//! hash). A user adds a model by implementing [`Model`] and calling
//! [`crate::linearizability::check_with_model`]; the search knows nothing about any model.
//!
//! Before the search, [`Model::prepare`] translates each [`Operation`] into the model's compact operation
//! type, and decides which operations cannot matter: it returns `Ok(None)` for them. That is where the
//! semantics live:
//!
//! - [`FailSemantics`]: under Jepsen's rule a `fail` completion means the operation never happened, so
//!   it is dropped. The etcd logs Porcupine ships record a cas that compared and found another value as
//!   `:fail`: that cas happened and tells us the register did *not* hold `from`
//!   ([`FailSemantics::ObservedOtherValue`]).
//! - [`NilRead`]: Knossos treats a read returning `nil` as constraining nothing; our raft-node and etcd
//!   return nil for a key that does not exist, which is information ([`NilRead::Absent`]).
//! - An operation whose outcome is unknown (`info`, or pending at the end) that cannot change the state,
//!   such as a read, constrains nothing and is dropped. One that can (a write) is kept with its return
//!   at infinity: it may be linearized anywhere after its invocation, or not at all.

use crate::format::Format;
use crate::ops::{Operation, Problem};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};

/// A sequential specification the search checks histories against.
pub trait Model: Sync {
    /// A model state. Cloned on every successful step and hashed for memoization: keep both cheap.
    type State: Clone + Eq + Hash + Send + Sync + fmt::Debug;
    /// An operation with its output, prepared for the search. Two equal `Op`s must step identically (the
    /// search uses this to treat interchangeable indefinite operations as one).
    type Op: Clone + Eq + Hash + Send + Sync + fmt::Debug;

    /// The model's name, as used in reports.
    fn name(&self) -> String;

    /// The initial state (values are interned in `values`).
    fn init(&self, values: &mut Interner) -> Self::State;

    /// Translates one operation; `Ok(None)` drops an operation that cannot matter (see the module
    /// documentation). An operation whose outcome is indefinite must prepare into an `Op` that every
    /// state accepts, since it may also not have happened at all.
    fn prepare(&self, op: &Operation, values: &mut Interner) -> Result<Option<Self::Op>, ModelError>;

    /// The state after `op`, or `None` when `op` (with its recorded output) is illegal in `state`.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;

    /// A human rendering of a state for explanations.
    fn describe(&self, state: &Self::State, values: &Interner) -> String;

    /// Approximate heap bytes a state holds beyond its inline size, for the memory budget. Shared
    /// (`Arc`) contents may be counted as zero.
    fn state_heap_bytes(&self, _state: &Self::State) -> usize {
        0
    }

    /// Whether `op` never changes the state: whenever `step(s, op)` is `Some(t)`, `t` stands for no
    /// other concrete state than `s` does (a read, a cas that failed having seen another value). The
    /// search linearizes such an operation as soon as it is legal, without branching, when the step
    /// leaves the state equal (`t == s`); a step that narrows a symbolic state down (`t != s`) is
    /// explored as a choice. Saying `false` is always safe; `true` for an operation that can change
    /// some state makes the search wrong.
    fn is_read_only(&self, _op: &Self::Op) -> bool {
        false
    }

    /// Whether the search should ask [`Model::still_possible`] (models whose states only grow).
    fn prunes(&self) -> bool {
        false
    }

    /// Whether `op`, which must still be linearized, is accepted in some state reachable from `state`
    /// through operations for which [`Model::may_reset`] is false. Returning `false` lets the search
    /// abandon a branch at once instead of exploring every order of the operations before `op`. It must
    /// never be `false` when such a continuation exists; when unsure, say `true`.
    fn still_possible(&self, _state: &Self::State, _op: &Self::Op) -> bool {
        true
    }

    /// Whether `op` can move the state somewhere [`Model::still_possible`] does not foresee (a put that
    /// replaces a string that appends only extend). When such an operation could come first, the search
    /// also asks `still_possible` of the state `step` gives for it, so the state a resetting operation
    /// leaves must not depend on the state it is applied to.
    fn may_reset(&self, _op: &Self::Op) -> bool {
        true
    }
}

/// Why an operation does not fit a model; turned into a [`crate::ops::HistoryError`] with the line.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelError {
    /// The field at fault (`f`, `value`).
    pub field: &'static str,
    /// Whether the fault is in the completion's value (else the invocation's).
    pub in_completion: bool,
    pub problem: Problem,
}

impl ModelError {
    pub fn unknown_function(model: &str, f: &str, expected: &str) -> ModelError {
        ModelError {
            field: "f",
            in_completion: false,
            problem: Problem::UnknownFunction {
                f: f.to_string(),
                model: model.to_string(),
                expected: expected.to_string(),
            },
        }
    }

    pub fn bad_value(in_completion: bool, expected: &str, found: &Value) -> ModelError {
        ModelError {
            field: "value",
            in_completion,
            problem: Problem::BadValue { expected: expected.to_string(), found: found.to_string() },
        }
    }
}

/// Interns values into small integer ids so states compare and hash as integers.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    ids: HashMap<String, u32>,
    values: Vec<Value>,
}

impl Interner {
    /// The id of `v` (scalars compare by their JSON text, so `3` and `"3"` differ).
    pub fn intern(&mut self, v: &Value) -> u32 {
        let text = v.to_string();
        if let Some(&id) = self.ids.get(&text) {
            return id;
        }
        let id =
            u32::try_from(self.values.len()).expect("fewer than 4 billion distinct values in one partition");
        self.ids.insert(text, id);
        self.values.push(v.clone());
        id
    }

    /// The value of an id.
    pub fn value(&self, id: u32) -> &Value {
        &self.values[id as usize]
    }

    /// Renders an id's value briefly.
    pub fn show(&self, id: u32) -> String {
        crate::ops::compact(self.value(id))
    }
}

/// What a `fail` completion means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailSemantics {
    /// Jepsen/Knossos: the operation certainly did not take effect; it is dropped.
    NeverHappened,
    /// Porcupine etcd logs: a failed cas is a real cas that found a value other than `from`.
    ObservedOtherValue,
}

/// What a read returning `nil` (null) means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NilRead {
    /// Knossos: the read constrains nothing; it is dropped.
    ConstrainsNothing,
    /// The key did not exist (raft-node's 404, etcd's nil).
    Absent,
}

/// The models we ship, selectable by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// read/write register.
    Register,
    /// read/write/cas register.
    CasRegister,
    /// The cas register of Porcupine's etcd tests: a `fail` cas observed another value.
    EtcdCasRegister,
    /// append(value) and read -> the whole list.
    ListAppend,
    /// Porcupine's kv: get/put/append on strings; a get returns the concatenation.
    KvAppend,
    /// add(value) and read -> the set, in any order.
    Set,
}

impl ModelKind {
    pub const ALL: [ModelKind; 6] = [
        ModelKind::Register,
        ModelKind::CasRegister,
        ModelKind::EtcdCasRegister,
        ModelKind::ListAppend,
        ModelKind::KvAppend,
        ModelKind::Set,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Register => "register",
            ModelKind::CasRegister => "cas-register",
            ModelKind::EtcdCasRegister => "etcd-cas-register",
            ModelKind::ListAppend => "list-append",
            ModelKind::KvAppend => "kv-append",
            ModelKind::Set => "set",
        }
    }

    /// The model a history of `format` is checked with when none is named: the etcd logs use the etcd
    /// register, the kv logs kv-append, Jepsen histories the cas register, and our JSON Lines list-append
    /// when any operation appends, the cas register otherwise.
    pub fn default_for(format: Format, ops: &[Operation]) -> ModelKind {
        match format {
            Format::PorcupineEtcd => ModelKind::EtcdCasRegister,
            Format::PorcupineKv => ModelKind::KvAppend,
            Format::Jepsen => ModelKind::CasRegister,
            Format::Jsonl if ops.iter().any(|o| o.f == "append") => ModelKind::ListAppend,
            Format::Jsonl => ModelKind::CasRegister,
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A model with all its options: which one, its initial value, the meaning of `fail` and of a `nil`
/// read, and whether the history is partitioned by key (P-compositionality: a map of independent keys is
/// linearizable iff each key is, Horn & Kroening 2015) or checked whole with a map state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub kind: ModelKind,
    /// Initial value of every key; `None` means absent (the empty string for kv-append, the empty list
    /// or set for list-append and set).
    pub initial: Option<Value>,
    pub fail: FailSemantics,
    pub nil_read: NilRead,
    pub partition_by_key: bool,
}

impl ModelSpec {
    /// The model with the defaults for histories of `format`.
    pub fn new(kind: ModelKind, format: Format) -> ModelSpec {
        let fail = match kind {
            ModelKind::EtcdCasRegister => FailSemantics::ObservedOtherValue,
            _ => format.default_fail(),
        };
        let nil_read = match kind {
            ModelKind::EtcdCasRegister => NilRead::Absent,
            _ => format.default_nil_read(),
        };
        ModelSpec { kind, initial: None, fail, nil_read, partition_by_key: true }
    }

    /// Parses a model name: the [`ModelKind`] names plus the names EXPECTED.tsv of the Porcupine data
    /// uses (`kv-partitioned`, `kv-nopartition(map state)`).
    pub fn parse(name: &str, format: Format) -> Result<ModelSpec, String> {
        let (kind, partition) = match name {
            "kv-partitioned" | "kv" => (ModelKind::KvAppend, true),
            "kv-nopartition(map state)" | "kv-nopartition" => (ModelKind::KvAppend, false),
            other => match ModelKind::ALL.into_iter().find(|k| k.name() == other) {
                Some(k) => (k, true),
                None => {
                    let names: Vec<&str> = ModelKind::ALL.iter().map(|k| k.name()).collect();
                    return Err(format!(
                        "unknown model `{name}`; expected one of {}, kv-nopartition",
                        names.join(", ")
                    ));
                }
            },
        };
        let mut spec = ModelSpec::new(kind, format);
        spec.partition_by_key = partition;
        Ok(spec)
    }

    /// The name shown in reports, e.g. `cas-register` or `kv-append (unpartitioned)`.
    pub fn display_name(&self) -> String {
        if self.partition_by_key {
            self.kind.name().to_string()
        } else {
            format!("{} (unpartitioned)", self.kind.name())
        }
    }
}

/// FxHash-style hasher with a final avalanche: fast on the small integer states models use, and
/// deterministic (no per-process random seed), so search order and figures are reproducible.
#[derive(Default, Clone, Copy, Debug)]
pub struct FastHasher {
    hash: u64,
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(buf));
        }
    }

    fn write_u64(&mut self, i: u64) {
        self.hash = (self.hash.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }

    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }

    fn finish(&self) -> u64 {
        mix64(self.hash)
    }
}

/// splitmix64's finalizer: spreads every input bit over the whole word.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The hash of any hashable value with [`FastHasher`].
pub fn fast_hash<T: Hash + ?Sized>(t: &T) -> u64 {
    let mut h = FastHasher::default();
    t.hash(&mut h);
    h.finish()
}
