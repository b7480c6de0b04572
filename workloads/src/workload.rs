//! The workloads: what the clients do and which checker models judge it.
//!
//! - `register`: reads, writes and compare-and-sets on a few keys at a time. Every written value is
//!   unique in the run (a counter), so a read names exactly the write it observed, and a cas expects
//!   the value this generator last wrote to that key (or absence), which keeps its success rate high
//!   enough to matter. Checked under the `cas-register` model.
//! - `append`: list-append with unique values and whole-list reads, checked under `list-append`.
//!   Appends make lost or reordered writes visible in every later read, the strongest signal for
//!   durability bugs.
//!
//! - `txn-append`: transactions of one to four micro-operations, each an append of a unique integer
//!   to a list or a read of a whole list, over the active keys (Elle's list-append). Checked by the
//!   transactional checker (`checker::txn`): every read shows the key's order of appends up to that
//!   point, so write-write, write-read and read-write dependencies are all inferable.
//! - `txn-rw`: the same with registers: writes of unique integers and reads (Elle's rw-register).
//!   Half of the writes to a key the transaction has not touched yet are preceded by a read of it,
//!   since a write that follows a read is what orders a register's versions.
//!
//! All draw keys from a [`KeyRotation`], so per-key histories stay bounded (for transactions a key is
//! retired after `ops_per_key` micro-operations, which bounds the length of its lists).

use crate::WorkloadError;
use crate::generator::{Context, Generator, MicroOp, Next, Once, Op, OpKind};
use crate::keys::KeyRotation;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// Which workload a run drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    Register,
    Append,
    #[serde(rename = "txn-append")]
    TxnAppend,
    #[serde(rename = "txn-rw")]
    TxnRw,
}

impl FromStr for Workload {
    type Err = WorkloadError;
    fn from_str(s: &str) -> Result<Workload, WorkloadError> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| WorkloadError::UnknownWorkload(s.to_string()))
    }
}

/// The most micro-operations a generated transaction has (the fewest is one).
pub const MAX_TXN_LEN: usize = 4;

/// Reads per transaction in the final-read phase of a transactional workload.
pub const FINAL_READS_PER_TXN: usize = 8;

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Tunables of a workload; [`WorkloadOptions::default`] is what `faultline run` uses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkloadOptions {
    /// Keys in use at a time.
    pub active_keys: usize,
    /// Operations a key receives before it is replaced by a fresh one.
    pub ops_per_key: usize,
    /// Relative weights of read, write and cas (register) or read and append (append; the write
    /// weight is the append weight, cas is ignored).
    pub read_weight: u32,
    pub write_weight: u32,
    pub cas_weight: u32,
    /// The first this many client slots only read (0: every slot draws from the weights). A
    /// process stuck on a write (at a leader that can no longer commit) reads nothing until its
    /// write times out, so the moments right after a partition are watched only by readers: a
    /// deposed leader still answering reads is seen only if some process keeps asking it.
    #[serde(default)]
    pub readers: usize,
}

impl Default for WorkloadOptions {
    fn default() -> WorkloadOptions {
        WorkloadOptions {
            active_keys: 3,
            ops_per_key: 100,
            read_weight: 2,
            write_weight: 1,
            cas_weight: 1,
            readers: 0,
        }
    }
}

impl WorkloadOptions {
    /// Rejects options no generator can run with.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        for (field, value) in [("active_keys", self.active_keys), ("ops_per_key", self.ops_per_key)] {
            if value == 0 {
                return Err(WorkloadError::NotPositive { field, value: value.to_string() });
            }
        }
        if self.read_weight + self.write_weight + self.cas_weight == 0 {
            return Err(WorkloadError::NotPositive { field: "operation weights", value: "0".into() });
        }
        Ok(())
    }
}

impl Workload {
    pub const ALL: [Workload; 4] =
        [Workload::Register, Workload::Append, Workload::TxnAppend, Workload::TxnRw];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Register => "register",
            Workload::Append => "append",
            Workload::TxnAppend => "txn-append",
            Workload::TxnRw => "txn-rw",
        }
    }

    /// The checker models this workload's history is checked under for linearizability (none for
    /// the transactional workloads, which [`Workload::txn_kind`] names a checker for).
    pub fn models(self) -> &'static [checker::ModelKind] {
        match self {
            Workload::Register => &[checker::ModelKind::CasRegister],
            Workload::Append => &[checker::ModelKind::ListAppend],
            Workload::TxnAppend | Workload::TxnRw => &[],
        }
    }

    /// The transactional checker's kind for this workload, if it is transactional.
    pub fn txn_kind(self) -> Option<checker::txn::TxnKind> {
        match self {
            Workload::TxnAppend => Some(checker::txn::TxnKind::ListAppend),
            Workload::TxnRw => Some(checker::txn::TxnKind::RwRegister),
            Workload::Register | Workload::Append => None,
        }
    }

    /// What a read of a key that was never written returns: null for registers, `[]` for lists.
    pub fn empty_read(self) -> serde_json::Value {
        match self {
            Workload::Append | Workload::TxnAppend => serde_json::json!([]),
            Workload::Register | Workload::TxnRw => serde_json::Value::Null,
        }
    }

    /// The endless, seeded operation stream of this workload (bound it with the combinators).
    pub fn generator(
        self,
        options: &WorkloadOptions,
        seed: u64,
    ) -> Result<Box<dyn Generator>, WorkloadError> {
        options.validate()?;
        let keys = KeyRotation::new(options.active_keys, options.ops_per_key);
        let rng = ChaCha8Rng::seed_from_u64(seed);
        Ok(match self {
            Workload::Register => Box::new(RegisterGen {
                keys,
                rng,
                next_value: 1,
                last_written: HashMap::new(),
                weights: [options.read_weight, options.write_weight, options.cas_weight],
                readers: options.readers,
            }),
            Workload::Append => Box::new(AppendGen {
                keys,
                rng,
                next_value: 1,
                weights: [options.read_weight, options.write_weight.max(1)],
                readers: options.readers,
            }),
            Workload::TxnAppend | Workload::TxnRw => Box::new(TxnGen {
                keys,
                rng,
                next_value: 1,
                weights: [options.read_weight, options.write_weight.max(1)],
                registers: self == Workload::TxnRw,
                readers: options.readers,
            }),
        })
    }

    /// The final-read phase: every key read once from every node (register reads and list reads are
    /// both `read`; a transactional workload reads [`FINAL_READS_PER_TXN`] keys per transaction).
    pub fn final_reads(self, keys: &[String], nodes: usize) -> Once {
        if self.txn_kind().is_some() {
            let ops = (0..nodes)
                .flat_map(|node| {
                    keys.chunks(FINAL_READS_PER_TXN).map(move |chunk| {
                        let reads = chunk.iter().map(|k| MicroOp::Read { key: k.clone() }).collect();
                        Op { node: Some(node), ..Op::txn(reads) }
                    })
                })
                .collect();
            return Once::new(ops);
        }
        let ops = keys
            .iter()
            .flat_map(|key| {
                (0..nodes).map(move |node| Op { key: key.clone(), kind: OpKind::Read, node: Some(node) })
            })
            .collect();
        Once::new(ops)
    }
}

/// Index of a weighted choice among `weights` (not all zero).
fn weighted(rng: &mut ChaCha8Rng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut x = rng.random_range(0..total);
    for (i, &w) in weights.iter().enumerate() {
        if x < w {
            return i;
        }
        x -= w;
    }
    unreachable!("x < total = sum of weights")
}

#[derive(Debug)]
struct RegisterGen {
    keys: KeyRotation,
    rng: ChaCha8Rng,
    next_value: u64,
    last_written: HashMap<String, String>,
    weights: [u32; 3],
    readers: usize,
}

impl RegisterGen {
    fn value(&mut self) -> String {
        let v = self.next_value.to_string();
        self.next_value += 1;
        v
    }
}

impl Generator for RegisterGen {
    fn next(&mut self, ctx: &Context) -> Next {
        let key = self.keys.pick(&mut self.rng);
        if ctx.slot < self.readers {
            return Next::Op(Op { key, kind: OpKind::Read, node: None });
        }
        let kind = match weighted(&mut self.rng, &self.weights) {
            0 => OpKind::Read,
            1 => {
                let v = self.value();
                self.last_written.insert(key.clone(), v.clone());
                OpKind::Write(v)
            }
            _ => {
                let to = self.value();
                let from = self.last_written.insert(key.clone(), to.clone());
                OpKind::Cas { from, to }
            }
        };
        Next::Op(Op { key, kind, node: None })
    }
    fn keys(&self) -> Vec<String> {
        self.keys.used().to_vec()
    }
}

#[derive(Debug)]
struct AppendGen {
    keys: KeyRotation,
    rng: ChaCha8Rng,
    next_value: u64,
    weights: [u32; 2],
    readers: usize,
}

impl Generator for AppendGen {
    fn next(&mut self, ctx: &Context) -> Next {
        let key = self.keys.pick(&mut self.rng);
        let kind = if ctx.slot < self.readers || weighted(&mut self.rng, &self.weights) == 0 {
            OpKind::Read
        } else {
            let v = self.next_value.to_string();
            self.next_value += 1;
            OpKind::Append(v)
        };
        Next::Op(Op { key, kind, node: None })
    }
    fn keys(&self) -> Vec<String> {
        self.keys.used().to_vec()
    }
}

/// Transactions over the active keys (see the module documentation).
#[derive(Debug)]
struct TxnGen {
    keys: KeyRotation,
    rng: ChaCha8Rng,
    next_value: u64,
    /// Relative weights of a read and a write (append).
    weights: [u32; 2],
    /// Registers (txn-rw) rather than lists (txn-append).
    registers: bool,
    readers: usize,
}

impl Generator for TxnGen {
    fn next(&mut self, ctx: &Context) -> Next {
        let len = self.rng.random_range(1..=MAX_TXN_LEN);
        let mut mops: Vec<MicroOp> = Vec::with_capacity(len + 1);
        for _ in 0..len {
            let key = self.keys.pick(&mut self.rng);
            if ctx.slot < self.readers || weighted(&mut self.rng, &self.weights) == 0 {
                mops.push(MicroOp::Read { key });
                continue;
            }
            let value = self.next_value;
            self.next_value += 1;
            if !self.registers {
                mops.push(MicroOp::Append { key, value });
                continue;
            }
            // A write after a read of the same key orders the register's versions (writes follow
            // reads); without any, only the initial state orders them.
            if !mops.iter().any(|m| m.key() == key) && self.rng.random_bool(0.5) {
                mops.push(MicroOp::Read { key: key.clone() });
            }
            mops.push(MicroOp::Write { key, value });
        }
        Next::Op(Op::txn(mops))
    }
    fn keys(&self) -> Vec<String> {
        self.keys.used().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::{SECOND, SimOp, SimOutcome, TimeLimit, simulate};
    use std::collections::HashSet;

    fn run(workload: Workload, seed: u64) -> Vec<Op> {
        let g = workload.generator(&WorkloadOptions::default(), seed).unwrap();
        let mut g = TimeLimit::new(g, 10 * SECOND);
        simulate(&mut g, 10, 5, 60 * SECOND, |_, _| SimOutcome { latency: SECOND / 50, indeterminate: false })
            .into_iter()
            .map(|o| o.op)
            .collect()
    }

    #[test]
    fn reader_slots_only_read_and_the_others_still_write() {
        for workload in [Workload::Register, Workload::Append, Workload::TxnAppend, Workload::TxnRw] {
            let options = WorkloadOptions { readers: 4, ..WorkloadOptions::default() };
            let g = workload.generator(&options, 9).unwrap();
            let mut g = TimeLimit::new(g, 10 * SECOND);
            // Every seventh operation is indeterminate: a retired process's successor keeps its slot.
            let mut n = 0;
            let ops = simulate(&mut g, 10, 5, 60 * SECOND, |_, _| {
                n += 1;
                SimOutcome { latency: SECOND / 50, indeterminate: n % 7 == 0 }
            });
            let writes = |o: &SimOp| match &o.op.kind {
                OpKind::Read => false,
                OpKind::Txn(mops) => mops.iter().any(|m| !matches!(m, MicroOp::Read { .. })),
                _ => true,
            };
            assert!(ops.iter().filter(|o| o.slot < 4).count() > 100, "{workload}: readers ran");
            assert!(ops.iter().filter(|o| o.slot < 4).all(|o| !writes(o)), "{workload}: a reader wrote");
            assert!(ops.iter().any(|o| o.slot >= 4 && writes(o)), "{workload}: nobody wrote");
            assert!(ops.iter().any(|o| o.slot < 4 && o.process >= 10), "{workload}: no reader was retired");
        }
    }

    #[test]
    fn register_written_values_are_unique_and_all_kinds_appear() {
        let ops = run(Workload::Register, 3);
        let mut seen = HashSet::new();
        for op in &ops {
            match &op.kind {
                OpKind::Write(v) | OpKind::Cas { to: v, .. } => assert!(seen.insert(v.clone()), "{v} twice"),
                OpKind::Read => {}
                OpKind::Append(_) | OpKind::Txn(_) => panic!("register workload appended"),
            }
        }
        for f in ["read", "write", "cas"] {
            assert!(ops.iter().any(|o| o.f() == f), "no {f}");
        }
    }

    #[test]
    fn register_cas_expects_the_last_value_written_to_its_key() {
        let ops = run(Workload::Register, 4);
        let mut last: HashMap<&str, &str> = HashMap::new();
        for op in &ops {
            match &op.kind {
                OpKind::Write(v) => {
                    last.insert(&op.key, v);
                }
                OpKind::Cas { from, to } => {
                    assert_eq!(from.as_deref(), last.get(op.key.as_str()).copied());
                    last.insert(&op.key, to);
                }
                _ => {}
            }
        }
    }

    #[test]
    fn append_values_are_unique_and_keys_rotate() {
        let ops = run(Workload::Append, 5);
        let mut seen = HashSet::new();
        for op in &ops {
            if let OpKind::Append(v) = &op.kind {
                assert!(seen.insert(v.clone()));
            }
        }
        assert!(ops.iter().any(|o| o.f() == "read"));
        let keys: HashSet<&str> = ops.iter().map(|o| o.key.as_str()).collect();
        assert!(keys.len() > 3, "keys never rotated: {keys:?}");
    }

    #[test]
    fn same_seed_same_stream() {
        assert_eq!(run(Workload::Register, 11), run(Workload::Register, 11));
        assert_ne!(run(Workload::Register, 11), run(Workload::Register, 12));
    }

    #[test]
    fn final_reads_cover_every_key_on_every_node() {
        let mut g = Workload::Append.final_reads(&["a".into(), "b".into()], 3);
        let ops = simulate(&mut g, 2, 3, SECOND, |_, _| SimOutcome { latency: 5, indeterminate: false });
        let pairs: HashSet<(String, usize)> = ops.iter().map(|o| (o.op.key.clone(), o.node)).collect();
        assert_eq!(pairs.len(), 6);
    }

    #[test]
    fn transactions_touch_several_keys_with_unique_values_and_no_key_of_their_own() {
        for (workload, write_f) in [(Workload::TxnAppend, "append"), (Workload::TxnRw, "w")] {
            let ops = run(workload, 9);
            let mut values = HashSet::new();
            let mut lengths = HashSet::new();
            let mut multi_key = 0;
            for op in &ops {
                let OpKind::Txn(mops) = &op.kind else { panic!("{workload}: not a transaction: {op:?}") };
                assert_eq!((op.f(), op.history_key()), ("txn", None));
                lengths.insert(mops.iter().filter(|m| !matches!(m, MicroOp::Read { .. })).count());
                let keys: HashSet<&str> = mops.iter().map(MicroOp::key).collect();
                multi_key += usize::from(keys.len() > 1);
                for m in mops {
                    if let MicroOp::Append { value, .. } | MicroOp::Write { value, .. } = m {
                        assert!(values.insert(*value), "{value} written twice");
                    }
                }
                let v = op.invoke_value();
                assert!(
                    v.as_array().unwrap().iter().all(|m| m[0] == "r" && m[2].is_null() || m[0] == write_f)
                );
            }
            assert!(multi_key > ops.len() / 4, "{workload}: {multi_key} of {} multi-key", ops.len());
            assert!(lengths.len() >= 3, "{workload}: write counts per transaction {lengths:?}");
        }
    }

    #[test]
    fn register_transactions_often_read_before_they_write() {
        let ops = run(Workload::TxnRw, 10);
        let read_then_write = ops
            .iter()
            .filter(|op| {
                let OpKind::Txn(mops) = &op.kind else { return false };
                mops.windows(2).any(|w| {
                    matches!((&w[0], &w[1]), (MicroOp::Read { key: a }, MicroOp::Write { key: b, .. }) if a == b)
                })
            })
            .count();
        assert!(read_then_write * 5 > ops.len(), "{read_then_write} of {}", ops.len());
    }

    #[test]
    fn transactional_final_reads_read_every_key_on_every_node_in_chunks() {
        let keys: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
        let mut g = Workload::TxnAppend.final_reads(&keys, 3);
        let ops = simulate(&mut g, 2, 3, SECOND, |_, _| SimOutcome { latency: 5, indeterminate: false });
        // 20 keys in chunks of 8: 3 transactions per node.
        assert_eq!(ops.len(), 9);
        let mut pairs = HashSet::new();
        for o in &ops {
            let OpKind::Txn(mops) = &o.op.kind else { panic!("{o:?}") };
            assert!(mops.len() <= FINAL_READS_PER_TXN);
            for m in mops {
                assert!(matches!(m, MicroOp::Read { .. }));
                pairs.insert((m.key().to_string(), o.node));
            }
        }
        assert_eq!(pairs.len(), 60);
        assert_eq!(g.keys().len(), 20, "the final reads' keys are the micro-operations' keys");
    }

    #[test]
    fn models_and_names() {
        assert_eq!("append".parse::<Workload>().unwrap().models(), &[checker::ModelKind::ListAppend]);
        assert_eq!(Workload::Register.models(), &[checker::ModelKind::CasRegister]);
        assert!(matches!("queue".parse::<Workload>(), Err(WorkloadError::UnknownWorkload(_))));
        for w in Workload::ALL {
            assert_eq!(w.name().parse::<Workload>(), Ok(w));
            assert_eq!(serde_json::to_value(w).unwrap(), serde_json::json!(w.name()));
        }
        assert!(Workload::TxnAppend.models().is_empty());
        assert_eq!(Workload::TxnRw.txn_kind(), Some(checker::txn::TxnKind::RwRegister));
        assert_eq!(Workload::Register.txn_kind(), None);
    }
}
