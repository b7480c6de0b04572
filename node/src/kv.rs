//! The replicated key-value state machine and the commands that drive it.
//!
//! A [`Command`] is what a client write becomes in the log: the operation, the key and the optional
//! session `(client_id, seq)`. It is encoded as JSON in the entry payload, which keeps `/debug/log`
//! readable and costs little next to an fsync. A transaction ([`Op::Txn`]) is one command with no key
//! of its own: a list of micro-operations ([`TxnMop`]) over any keys, applied by one entry, so every
//! replica applies all of it or nothing, at one point of the log, with its reads seeing the state
//! just before it plus its own earlier writes.
//!
//! [`Kv`] applies commands deterministically, so every replica that applies the same log holds the same
//! map. Values are strings; `append` turns a key into a list of strings. Exactly-once semantics follow
//! the Raft thesis (§6.3): each client session remembers the sequence number and result of its latest
//! command; a command whose `seq` equals it is a retry and returns the stored result without applying
//! again; an older `seq` is answered with [`Outcome::StaleSession`] (its result is gone, so whether it
//! applied is unknown to us). The sessions are part of the snapshot, so a restarted or lagging replica
//! deduplicates the same way.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// A write operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Op {
    Put {
        value: String,
    },
    /// Set `to` if the current value is the string `from` (or the key is absent when `from` is None).
    Cas {
        from: Option<String>,
        to: String,
    },
    Append {
        value: String,
    },
    Delete,
    /// A transaction: micro-operations applied atomically, in order.
    Txn {
        ops: Vec<TxnMop>,
    },
}

/// One micro-operation of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", deny_unknown_fields)]
pub enum TxnMop {
    /// Read the key's value (a string, a list, or nothing).
    #[serde(rename = "r", alias = "read")]
    Read { key: String },
    /// Set the key to a string.
    #[serde(rename = "w", alias = "write")]
    Write { key: String, value: String },
    /// Append a string to the key's list.
    #[serde(rename = "append")]
    Append { key: String, value: String },
}

impl TxnMop {
    pub fn key(&self) -> &str {
        match self {
            TxnMop::Read { key } | TxnMop::Write { key, .. } | TxnMop::Append { key, .. } => key,
        }
    }
}

/// One client command as stored in the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    #[serde(flatten)]
    pub op: Op,
    /// The key of a single-key command; empty (and not written) for a transaction.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

impl Command {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a command always serializes")
    }

    pub fn decode(bytes: &[u8]) -> Result<Command, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// The value stored under a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Str(String),
    List(Vec<String>),
}

/// The result of applying one command, as the client sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// put / append / delete took effect at (index, term).
    Written { index: u64, term: u64 },
    /// cas was evaluated at (index, term); `value` is the key's value afterwards.
    Cas { applied: bool, value: Option<Value>, index: u64, term: u64 },
    /// A transaction applied at (index, term): one result per micro-operation, the value read for a
    /// read (None: the key had none), None for a write.
    Txn { results: Vec<Option<Value>>, index: u64, term: u64 },
    /// The session has already moved past this `seq`; the original result is gone.
    StaleSession { last_seq: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Session {
    seq: u64,
    outcome: Outcome,
}

/// The state machine: the map, the client sessions and how far the log has been applied.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kv {
    data: BTreeMap<String, Value>,
    sessions: HashMap<String, Session>,
    applied_index: u64,
    applied_term: u64,
}

impl Kv {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.data.get(key)
    }

    /// The index and term of the last applied entry (noops included).
    pub fn applied(&self) -> (u64, u64) {
        (self.applied_index, self.applied_term)
    }

    /// Records that an entry without a command (a leader's noop) was applied.
    pub fn apply_noop(&mut self, index: u64, term: u64) {
        self.applied_index = index;
        self.applied_term = term;
    }

    /// Applies the command of the entry at (index, term) and returns what the client is told.
    pub fn apply(&mut self, index: u64, term: u64, cmd: &Command) -> Outcome {
        self.applied_index = index;
        self.applied_term = term;
        if let (Some(client), Some(seq)) = (&cmd.client_id, cmd.seq) {
            if let Some(s) = self.sessions.get(client) {
                if seq == s.seq {
                    return s.outcome.clone();
                }
                if seq < s.seq {
                    return Outcome::StaleSession { last_seq: s.seq };
                }
            }
            let outcome = self.execute(index, term, cmd);
            self.sessions.insert(client.clone(), Session { seq, outcome: outcome.clone() });
            return outcome;
        }
        self.execute(index, term, cmd)
    }

    fn execute(&mut self, index: u64, term: u64, cmd: &Command) -> Outcome {
        let written = Outcome::Written { index, term };
        match &cmd.op {
            Op::Put { value } => {
                self.data.insert(cmd.key.clone(), Value::Str(value.clone()));
                written
            }
            Op::Append { value } => {
                match self.data.get_mut(&cmd.key) {
                    Some(Value::List(l)) => l.push(value.clone()),
                    // A register that is appended to becomes a list that starts with its value.
                    Some(Value::Str(s)) => {
                        let first = std::mem::take(s);
                        self.data.insert(cmd.key.clone(), Value::List(vec![first, value.clone()]));
                    }
                    None => {
                        self.data.insert(cmd.key.clone(), Value::List(vec![value.clone()]));
                    }
                }
                written
            }
            Op::Delete => {
                self.data.remove(&cmd.key);
                written
            }
            Op::Txn { ops } => {
                let (results, writes) = run_txn(ops, |k| self.data.get(k).cloned());
                self.data.extend(writes);
                Outcome::Txn { results, index, term }
            }
            Op::Cas { from, to } => {
                let current = self.data.get(&cmd.key);
                let matches = match (from, current) {
                    (None, None) => true,
                    (Some(f), Some(Value::Str(c))) => f == c,
                    _ => false,
                };
                if matches {
                    self.data.insert(cmd.key.clone(), Value::Str(to.clone()));
                }
                Outcome::Cas { applied: matches, value: self.data.get(&cmd.key).cloned(), index, term }
            }
        }
    }

    /// What a transaction's reads would return if it were applied now, without applying it: the
    /// state as applied so far, with the transaction's own earlier writes visible to its later reads.
    /// (The planted `txn-local-read` bug answers with this instead of the state at the transaction's
    /// place in the log.)
    pub fn read_txn_locally(&self, ops: &[TxnMop]) -> Vec<Option<Value>> {
        run_txn(ops, |k| self.data.get(k).cloned()).0
    }

    /// The snapshot image of the whole state machine.
    pub fn snapshot(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("the state machine always serializes")
    }

    pub fn restore(bytes: &[u8]) -> Result<Kv, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// Runs a transaction's micro-operations in order against the state `get` reads. Returns one result
/// per micro-operation (what a read saw; None for writes) and the keys it wrote with their final
/// values, for the caller to apply or to drop.
fn run_txn(
    ops: &[TxnMop],
    get: impl Fn(&str) -> Option<Value>,
) -> (Vec<Option<Value>>, HashMap<String, Value>) {
    let mut results = Vec::with_capacity(ops.len());
    // The transaction's own writes so far, which its later reads (and appends) build on.
    let mut own: HashMap<String, Value> = HashMap::new();
    for m in ops {
        let current = |own: &HashMap<String, Value>, k: &str| own.get(k).cloned().or_else(|| get(k));
        match m {
            TxnMop::Read { key } => results.push(current(&own, key)),
            TxnMop::Write { key, value } => {
                own.insert(key.clone(), Value::Str(value.clone()));
                results.push(None);
            }
            TxnMop::Append { key, value } => {
                let list = match current(&own, key) {
                    Some(Value::List(mut l)) => {
                        l.push(value.clone());
                        l
                    }
                    // A register that is appended to becomes a list that starts with its value.
                    Some(Value::Str(s)) => vec![s, value.clone()],
                    None => vec![value.clone()],
                };
                own.insert(key.clone(), Value::List(list));
                results.push(None);
            }
        }
    }
    (results, own)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(op: Op, key: &str) -> Command {
        Command { op, key: key.into(), client_id: None, seq: None }
    }

    fn put(v: &str) -> Op {
        Op::Put { value: v.into() }
    }

    #[test]
    fn command_json_has_the_debug_log_shape_and_round_trips() {
        let c = Command {
            op: Op::Cas { from: None, to: "b".into() },
            key: "k".into(),
            client_id: Some("c1".into()),
            seq: Some(3),
        };
        let v: serde_json::Value = serde_json::from_slice(&c.encode()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"op":"cas","key":"k","from":null,"to":"b","client_id":"c1","seq":3})
        );
        assert_eq!(Command::decode(&c.encode()).unwrap(), c);
        let d = cmd(Op::Delete, "x");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&d.encode()).unwrap(),
            serde_json::json!({"op":"delete","key":"x"})
        );
    }

    #[test]
    fn put_get_delete_and_append() {
        let mut kv = Kv::default();
        assert_eq!(kv.apply(1, 1, &cmd(put("a"), "k")), Outcome::Written { index: 1, term: 1 });
        assert_eq!(kv.get("k"), Some(&Value::Str("a".into())));
        kv.apply(2, 1, &cmd(Op::Append { value: "b".into() }, "k"));
        kv.apply(3, 1, &cmd(Op::Append { value: "c".into() }, "k"));
        assert_eq!(kv.get("k"), Some(&Value::List(vec!["a".into(), "b".into(), "c".into()])));
        kv.apply(4, 2, &cmd(Op::Append { value: "x".into() }, "l"));
        assert_eq!(kv.get("l"), Some(&Value::List(vec!["x".into()])));
        kv.apply(5, 2, &cmd(Op::Delete, "k"));
        assert_eq!(kv.get("k"), None);
        assert_eq!(kv.applied(), (5, 2));
    }

    #[test]
    fn cas_compares_against_the_current_string_or_absence() {
        let mut kv = Kv::default();
        let cas =
            |from: Option<&str>, to: &str| cmd(Op::Cas { from: from.map(Into::into), to: to.into() }, "k");
        assert_eq!(
            kv.apply(1, 1, &cas(Some("a"), "b")),
            Outcome::Cas { applied: false, value: None, index: 1, term: 1 }
        );
        assert_eq!(
            kv.apply(2, 1, &cas(None, "a")),
            Outcome::Cas { applied: true, value: Some(Value::Str("a".into())), index: 2, term: 1 }
        );
        assert_eq!(
            kv.apply(3, 1, &cas(None, "z")),
            Outcome::Cas { applied: false, value: Some(Value::Str("a".into())), index: 3, term: 1 }
        );
        assert_eq!(
            kv.apply(4, 1, &cas(Some("a"), "b")),
            Outcome::Cas { applied: true, value: Some(Value::Str("b".into())), index: 4, term: 1 }
        );
    }

    #[test]
    fn a_retried_session_command_returns_the_first_result_without_applying_twice() {
        let mut kv = Kv::default();
        let app = |seq| Command {
            op: Op::Append { value: "x".into() },
            key: "k".into(),
            client_id: Some("c".into()),
            seq: Some(seq),
        };
        let first = kv.apply(1, 1, &app(1));
        assert_eq!(kv.apply(2, 1, &app(1)), first);
        assert_eq!(kv.get("k"), Some(&Value::List(vec!["x".into()])));
        assert_eq!(kv.apply(3, 1, &app(2)), Outcome::Written { index: 3, term: 1 });
        assert_eq!(kv.apply(4, 1, &app(1)), Outcome::StaleSession { last_seq: 2 });
        assert_eq!(kv.get("k"), Some(&Value::List(vec!["x".into(), "x".into()])));
    }

    fn txn(ops: Vec<TxnMop>) -> Command {
        Command { op: Op::Txn { ops }, key: String::new(), client_id: None, seq: None }
    }

    fn r(k: &str) -> TxnMop {
        TxnMop::Read { key: k.into() }
    }

    fn a(k: &str, v: &str) -> TxnMop {
        TxnMop::Append { key: k.into(), value: v.into() }
    }

    fn list(items: &[&str]) -> Option<Value> {
        Some(Value::List(items.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn a_transaction_applies_in_order_and_reads_its_own_writes() {
        let mut kv = Kv::default();
        kv.apply(1, 1, &cmd(Op::Append { value: "1".into() }, "x"));
        let t = txn(vec![
            r("x"),
            a("x", "2"),
            r("x"),
            r("y"),
            TxnMop::Write { key: "y".into(), value: "5".into() },
            r("y"),
        ]);
        let out = kv.apply(2, 1, &t);
        assert_eq!(
            out,
            Outcome::Txn {
                results: vec![
                    list(&["1"]),
                    None,
                    list(&["1", "2"]),
                    None,
                    None,
                    Some(Value::Str("5".into()))
                ],
                index: 2,
                term: 1
            }
        );
        assert_eq!(kv.get("x"), list(&["1", "2"]).as_ref());
        assert_eq!(kv.get("y"), Some(&Value::Str("5".into())));
    }

    #[test]
    fn reading_a_transaction_locally_changes_nothing() {
        let mut kv = Kv::default();
        kv.apply(1, 1, &cmd(Op::Append { value: "1".into() }, "x"));
        let before = kv.clone();
        assert_eq!(kv.read_txn_locally(&[a("x", "2"), r("x"), r("z")]), vec![None, list(&["1", "2"]), None]);
        assert_eq!(kv, before);
    }

    #[test]
    fn a_transaction_command_has_no_key_in_the_log() {
        let t = txn(vec![r("x"), a("y", "3")]);
        let v: serde_json::Value = serde_json::from_slice(&t.encode()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"op": "txn", "ops": [{"f": "r", "key": "x"}, {"f": "append", "key": "y", "value": "3"}]})
        );
        assert_eq!(Command::decode(&t.encode()).unwrap(), t);
    }

    #[test]
    fn snapshot_restores_data_sessions_and_applied_index() {
        let mut kv = Kv::default();
        kv.apply(1, 1, &Command { op: put("v"), key: "k".into(), client_id: Some("c".into()), seq: Some(1) });
        kv.apply(2, 1, &cmd(Op::Append { value: "a".into() }, "l"));
        let restored = Kv::restore(&kv.snapshot()).unwrap();
        assert_eq!(restored, kv);
    }
}
