//! The replicated key-value state machine and the commands that drive it.
//!
//! A [`Command`] is what a client write becomes in the log: the operation, the key and the optional
//! session `(client_id, seq)`. It is encoded as JSON in the entry payload, which keeps `/debug/log`
//! readable and costs little next to an fsync.
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
}

/// One client command as stored in the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    #[serde(flatten)]
    pub op: Op,
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

    /// The snapshot image of the whole state machine.
    pub fn snapshot(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("the state machine always serializes")
    }

    pub fn restore(bytes: &[u8]) -> Result<Kv, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
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

    #[test]
    fn snapshot_restores_data_sessions_and_applied_index() {
        let mut kv = Kv::default();
        kv.apply(1, 1, &Command { op: put("v"), key: "k".into(), client_id: Some("c".into()), seq: Some(1) });
        kv.apply(2, 1, &cmd(Op::Append { value: "a".into() }, "l"));
        let restored = Kv::restore(&kv.snapshot()).unwrap();
        assert_eq!(restored, kv);
    }
}
