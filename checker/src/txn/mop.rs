//! Micro-operations: the steps of a transaction, and the interning of their keys and values.
//!
//! A transaction's value is a list of micro-operations in Jepsen's shape, `[f key value]`:
//!
//! | micro-op | JSON (ours) | EDN (Jepsen, Elle) | means |
//! |---|---|---|---|
//! | append | `["append", "x", 1]` | `[:append :x 1]` | append 1 to the list at x |
//! | read of a list | `["r", "x", [1, 2]]` | `[:r :x [1 2]]` | x held the list [1 2] |
//! | write | `["w", "x", 3]` | `[:w :x 3]` | set the register x to 3 |
//! | read of a register | `["r", "x", 3]` | `[:r :x 3]` | x held 3 |
//!
//! An invocation reads `nil` (`["r", "x", null]`); so does the completion of a transaction whose outcome
//! is not `ok`, which tells nothing about what it would have read. In an `ok` completion `nil` is an
//! observation: the initial state (the empty list, or the register that was never written).
//!
//! Keys and values are compared often (every element of every read), so both are interned: a key
//! becomes a [`KeyId`], a value an [`ElemId`] numbered per key. Keys may be strings or integers (Elle's
//! histories use integer keys, ours strings; `253` and `"253"` name the same key). Values may be any
//! JSON scalar; integers and strings are looked up without allocating.

use serde_json::Value;
use std::collections::HashMap;

/// An interned key.
pub type KeyId = u32;

/// An interned value of one key.
pub type ElemId = u32;

/// The initial state of a key (the empty list, the unwritten register), where an [`ElemId`] is expected.
pub const INIT: ElemId = u32::MAX;

/// What a read observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    /// Nothing known: an invocation, or a transaction that did not complete `ok`.
    Unknown,
    /// A list, oldest element first (the empty list is the initial state).
    List(Vec<ElemId>),
    /// A register's value; `None` is the initial (never written) state.
    Register(Option<ElemId>),
}

/// One micro-operation, interned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mop {
    Append { key: KeyId, elem: ElemId },
    Write { key: KeyId, elem: ElemId },
    Read { key: KeyId, observed: Observed },
}

impl Mop {
    pub fn key(&self) -> KeyId {
        match self {
            Mop::Append { key, .. } | Mop::Write { key, .. } | Mop::Read { key, .. } => *key,
        }
    }
}

/// Whether reads hold lists (list-append) or single values (registers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadShape {
    List,
    Register,
}

/// Why a micro-operation could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MopError {
    /// Which micro-operation (0-based) of the transaction.
    pub index: usize,
    pub problem: String,
}

/// Interned keys and values, with their original JSON for explanations.
#[derive(Clone, Debug, Default)]
pub struct Values {
    key_ids: HashMap<String, KeyId>,
    keys: Vec<String>,
    elems: Vec<KeyElems>,
}

/// The values of one key.
#[derive(Clone, Debug, Default)]
struct KeyElems {
    ints: HashMap<i64, ElemId>,
    strs: HashMap<String, ElemId>,
    /// Anything else, by its JSON text.
    other: HashMap<String, ElemId>,
    shown: Vec<Value>,
}

impl Values {
    /// The key's id, interning it on first sight.
    pub fn key(&mut self, k: &Value) -> Result<KeyId, String> {
        let name = match k {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => return Err(format!("a key must be a string or an integer, found {other}")),
        };
        if let Some(&id) = self.key_ids.get(&name) {
            return Ok(id);
        }
        let id = self.keys.len() as KeyId;
        self.key_ids.insert(name.clone(), id);
        self.keys.push(name);
        self.elems.push(KeyElems::default());
        Ok(id)
    }

    /// The value's id under `key`, interning it on first sight. `null` is not a value.
    pub fn elem(&mut self, key: KeyId, v: &Value) -> Result<ElemId, String> {
        let e = &mut self.elems[key as usize];
        let next = e.shown.len() as ElemId;
        let id = match v {
            Value::Number(n) if n.as_i64().is_some() => {
                *e.ints.entry(n.as_i64().unwrap_or_default()).or_insert(next)
            }
            Value::String(s) => match e.strs.get(s.as_str()) {
                Some(&id) => id,
                None => {
                    e.strs.insert(s.clone(), next);
                    next
                }
            },
            Value::Null => return Err("null is not a value (only a read may hold nil)".into()),
            Value::Array(_) | Value::Object(_) => {
                return Err(format!("a value must be a scalar, found {v}"));
            }
            other => *e.other.entry(other.to_string()).or_insert(next),
        };
        if id == next {
            e.shown.push(v.clone());
        }
        Ok(id)
    }

    /// The key's name.
    pub fn key_name(&self, key: KeyId) -> &str {
        &self.keys[key as usize]
    }

    /// The value as it was written in the history (`null` for [`INIT`]).
    pub fn value(&self, key: KeyId, elem: ElemId) -> Value {
        if elem == INIT { Value::Null } else { self.elems[key as usize].shown[elem as usize].clone() }
    }

    /// A value for a sentence: strings without quotes, the initial state as `nil`.
    pub fn show(&self, key: KeyId, elem: ElemId) -> String {
        crate::ops::compact(&self.value(key, elem))
    }

    /// A list of values for a sentence: `[1 2 3]`.
    pub fn show_list(&self, key: KeyId, list: &[ElemId]) -> String {
        let parts: Vec<String> = list.iter().map(|&e| self.show(key, e)).collect();
        format!("[{}]", parts.join(" "))
    }

    /// How many keys were seen.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }
}

/// Reads the micro-operations of one transaction value. `observed` says whether reads carry
/// observations (an `ok` completion) or not (an invocation, an `info` or `fail` completion).
pub fn parse_txn(
    value: &Value,
    shape: ReadShape,
    observed: bool,
    values: &mut Values,
) -> Result<Vec<Mop>, MopError> {
    let Value::Array(mops) = value else {
        return Err(MopError {
            index: 0,
            problem: format!("a transaction is a list of micro-operations [f key value], found {value}"),
        });
    };
    mops.iter()
        .enumerate()
        .map(|(index, m)| {
            parse_mop(m, shape, observed, values).map_err(|problem| MopError { index, problem })
        })
        .collect()
}

fn parse_mop(m: &Value, shape: ReadShape, observed: bool, values: &mut Values) -> Result<Mop, String> {
    let Some([f, k, v]) = m.as_array().map(Vec::as_slice).and_then(|a| <&[Value; 3]>::try_from(a).ok())
    else {
        return Err(format!("a micro-operation is [f key value], found {m}"));
    };
    let f = f.as_str().ok_or_else(|| format!("a micro-operation's f is a name such as \"r\", found {f}"))?;
    let key = values.key(k)?;
    match (f, shape) {
        ("append", ReadShape::List) => Ok(Mop::Append { key, elem: values.elem(key, v)? }),
        ("w" | "write", ReadShape::Register) => Ok(Mop::Write { key, elem: values.elem(key, v)? }),
        ("r" | "read", _) => {
            let observed = match (observed, shape, v) {
                (false, _, _) => Observed::Unknown,
                (true, ReadShape::List, Value::Null) => Observed::List(Vec::new()),
                (true, ReadShape::List, Value::Array(items)) => Observed::List(
                    items.iter().map(|e| values.elem(key, e)).collect::<Result<Vec<ElemId>, String>>()?,
                ),
                (true, ReadShape::List, other) => {
                    return Err(format!("a list read returns a list or nil, found {other}"));
                }
                (true, ReadShape::Register, Value::Null) => Observed::Register(None),
                (true, ReadShape::Register, v) => Observed::Register(Some(values.elem(key, v)?)),
            };
            Ok(Mop::Read { key, observed })
        }
        (other, ReadShape::List) => {
            Err(format!("unknown micro-operation {other:?} for list-append; expected \"append\" or \"r\""))
        }
        (other, ReadShape::Register) => {
            Err(format!("unknown micro-operation {other:?} for registers; expected \"w\" or \"r\""))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_and_values_intern_across_spellings() {
        let mut v = Values::default();
        let x = v.key(&json!("x")).unwrap();
        assert_eq!(v.key(&json!("x")).unwrap(), x);
        let n = v.key(&json!(253)).unwrap();
        assert_eq!(v.key(&json!("253")).unwrap(), n);
        assert_ne!(x, n);
        let one = v.elem(x, &json!(1)).unwrap();
        let s = v.elem(x, &json!("1")).unwrap();
        assert_ne!(one, s, "the integer 1 and the string \"1\" are different values");
        assert_eq!(v.elem(x, &json!(1)).unwrap(), one);
        assert_eq!(v.show(x, s), "1");
        assert_eq!(v.value(x, INIT), Value::Null);
        assert!(v.elem(x, &Value::Null).is_err());
    }

    #[test]
    fn reads_observe_only_in_ok_completions() {
        let mut v = Values::default();
        let txn = json!([["append", "x", 1], ["r", "x", [1]], ["r", "y", null]]);
        let mops = parse_txn(&txn, ReadShape::List, true, &mut v).unwrap();
        assert_eq!(mops[1], Mop::Read { key: 0, observed: Observed::List(vec![0]) });
        assert_eq!(mops[2], Mop::Read { key: 1, observed: Observed::List(vec![]) });
        let mops = parse_txn(&txn, ReadShape::List, false, &mut v).unwrap();
        assert_eq!(mops[2], Mop::Read { key: 1, observed: Observed::Unknown });
        let reg = parse_txn(&json!([["w", "x", 3], ["r", "x", null]]), ReadShape::Register, true, &mut v);
        assert_eq!(reg.unwrap()[1], Mop::Read { key: 0, observed: Observed::Register(None) });
    }

    #[test]
    fn malformed_micro_operations_name_their_index() {
        let mut v = Values::default();
        let e = parse_txn(&json!([["r", "x", null], ["w", "x", 1]]), ReadShape::List, true, &mut v);
        assert_eq!(e.unwrap_err().index, 1);
        let e = parse_txn(&json!([["append", "x"]]), ReadShape::List, true, &mut v).unwrap_err();
        assert!(e.problem.contains("[f key value]"), "{e:?}");
        let e = parse_txn(&json!([["r", "x", 3]]), ReadShape::List, true, &mut v).unwrap_err();
        assert!(e.problem.contains("a list or nil"), "{e:?}");
        assert!(parse_txn(&json!({"r": 1}), ReadShape::List, true, &mut v).is_err());
    }
}
