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
//! Both draw keys from a [`KeyRotation`], so per-key histories stay bounded.

use crate::WorkloadError;
use crate::generator::{Context, Generator, Next, Once, Op, OpKind};
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
}

impl FromStr for Workload {
    type Err = WorkloadError;
    fn from_str(s: &str) -> Result<Workload, WorkloadError> {
        match s {
            "register" => Ok(Workload::Register),
            "append" => Ok(Workload::Append),
            other => Err(WorkloadError::UnknownWorkload(other.to_string())),
        }
    }
}

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
}

impl Default for WorkloadOptions {
    fn default() -> WorkloadOptions {
        WorkloadOptions { active_keys: 3, ops_per_key: 100, read_weight: 2, write_weight: 1, cas_weight: 1 }
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
    pub fn name(self) -> &'static str {
        match self {
            Workload::Register => "register",
            Workload::Append => "append",
        }
    }

    /// The checker models this workload's history is checked under.
    pub fn models(self) -> &'static [checker::ModelKind] {
        match self {
            Workload::Register => &[checker::ModelKind::CasRegister],
            Workload::Append => &[checker::ModelKind::ListAppend],
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
            }),
            Workload::Append => Box::new(AppendGen {
                keys,
                rng,
                next_value: 1,
                weights: [options.read_weight, options.write_weight.max(1)],
            }),
        })
    }

    /// The final-read phase: every key read once from every node (register reads and list reads are
    /// both `read`).
    pub fn final_reads(self, keys: &[String], nodes: usize) -> Once {
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
}

impl RegisterGen {
    fn value(&mut self) -> String {
        let v = self.next_value.to_string();
        self.next_value += 1;
        v
    }
}

impl Generator for RegisterGen {
    fn next(&mut self, _ctx: &Context) -> Next {
        let key = self.keys.pick(&mut self.rng);
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
}

impl Generator for AppendGen {
    fn next(&mut self, _ctx: &Context) -> Next {
        let key = self.keys.pick(&mut self.rng);
        let kind = if weighted(&mut self.rng, &self.weights) == 0 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::{SECOND, SimOutcome, TimeLimit, simulate};
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
    fn register_written_values_are_unique_and_all_kinds_appear() {
        let ops = run(Workload::Register, 3);
        let mut seen = HashSet::new();
        for op in &ops {
            match &op.kind {
                OpKind::Write(v) | OpKind::Cas { to: v, .. } => assert!(seen.insert(v.clone()), "{v} twice"),
                OpKind::Read => {}
                OpKind::Append(_) => panic!("register workload appended"),
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
    fn models_and_names() {
        assert_eq!("append".parse::<Workload>().unwrap().models(), &[checker::ModelKind::ListAppend]);
        assert_eq!(Workload::Register.models(), &[checker::ModelKind::CasRegister]);
        assert!(matches!("queue".parse::<Workload>(), Err(WorkloadError::UnknownWorkload(_))));
    }
}
