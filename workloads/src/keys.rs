//! Independent keys: a bounded number of operations per key, then fresh keys.
//!
//! Linearizability checking is exponential in the concurrency of one key's history, so a long run on
//! one key becomes uncheckable. Like Jepsen's `independent` generator, the workload works on a few
//! keys at a time; each key receives at most `ops_per_key` operations and is then retired for a fresh
//! key. The checker partitions the history by key, so each per-key history stays small however long
//! the run is.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// The active key set and the keys handed out so far.
#[derive(Clone, Debug)]
pub struct KeyRotation {
    active: Vec<(String, usize)>,
    ops_per_key: usize,
    next_id: u64,
    used: Vec<String>,
}

impl KeyRotation {
    /// `active_keys` keys in use at a time, each retired after `ops_per_key` operations (both >= 1;
    /// the workload validates user input).
    pub fn new(active_keys: usize, ops_per_key: usize) -> KeyRotation {
        assert!(active_keys > 0 && ops_per_key > 0, "key rotation needs a key and an operation per key");
        let mut rotation = KeyRotation { active: Vec::new(), ops_per_key, next_id: 0, used: Vec::new() };
        for _ in 0..active_keys {
            let key = rotation.fresh();
            rotation.active.push((key, 0));
        }
        rotation
    }

    fn fresh(&mut self) -> String {
        let key = format!("k{}", self.next_id);
        self.next_id += 1;
        key
    }

    /// A key for the next operation, chosen uniformly among the active keys. Counts the operation and
    /// replaces the key with a fresh one once it has had its share.
    pub fn pick(&mut self, rng: &mut ChaCha8Rng) -> String {
        let i = rng.random_range(0..self.active.len());
        let (key, count) = &mut self.active[i];
        *count += 1;
        let key = key.clone();
        if !self.used.contains(&key) {
            self.used.push(key.clone());
        }
        if self.active[i].1 >= self.ops_per_key {
            let fresh = self.fresh();
            self.active[i] = (fresh, 0);
        }
        key
    }

    /// Every key handed out so far, in first-use order.
    pub fn used(&self) -> &[String] {
        &self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::BTreeMap;

    #[test]
    fn each_key_gets_at_most_its_share_then_fresh_keys_follow() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut keys = KeyRotation::new(3, 10);
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for _ in 0..1000 {
            *counts.entry(keys.pick(&mut rng)).or_default() += 1;
        }
        assert!(counts.values().all(|&c| c <= 10));
        // 1000 operations at 10 per key: at least 100 distinct keys, at most 100 + the 3 open ones.
        assert!((100..=103).contains(&counts.len()), "{} keys", counts.len());
        assert_eq!(keys.used().len(), counts.len());
    }

    #[test]
    fn same_seed_same_keys() {
        let run = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut keys = KeyRotation::new(4, 5);
            (0..50).map(|_| keys.pick(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(9), run(9));
        assert_ne!(run(9), run(10));
    }
}
