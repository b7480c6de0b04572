//! List-append inference: what reads of lists tell about the order of appends, and the dependencies
//! and anomalies that follow (Elle's `list-append`, section 4 of the paper).
//!
//! Every appended value is unique per key, and a list only grows at its end, so one read holds the
//! whole history of its key up to that moment: `[1 2 3]` says 1 was appended first, then 2, then 3.
//! The longest read of a key is its known **version order**; every other read must be a prefix of it
//! (otherwise the two reads saw incompatible histories: `incompatible-order`). An append never seen in
//! any read still came after everything the longest read holds (a read that missed it was taken before
//! it), which gives it a place too: after the last known element.
//!
//! From the order, for each append of `v` to `k` by T, with `p` the element just before `v` (or the
//! initial empty state):
//!
//! - `ww`: the appender of `p` precedes T;
//! - `rw`: every transaction that read `k` ending at `p` (or empty, for the initial state) precedes T;
//! - `wr`: the appender of the last element of every read precedes the reader.
//!
//! Only `ok` and `info` transactions are vertices (a `fail` never happened); only `ok` transactions'
//! reads are observations. Anomalies found without any cycle:
//!
//! - `G1a`: a read holds a value appended only by a failed transaction;
//! - `G1b`: a read ends with a value that its appender followed with another append to the same key
//!   (an intermediate state: the appender's later append should be visible with it);
//! - `internal`: a read disagrees with the transaction's own earlier read or appends of that key;
//! - `G1c`: a transaction read a value it appends only later (a future read: it read from itself);
//! - `duplicate-elements`: a read holds one value twice;
//! - `garbage-read`: a read holds a value nobody appended.

use super::TxnHistory;
use super::explain::{Detail, Found};
use super::graph::{DepKind, EdgeSet, Why};
use super::mop::{ElemId, INIT, KeyId, Mop, Observed};
use crate::anomaly::Anomaly;
use crate::ops::{HistoryError, Outcome};
use std::collections::{HashMap, HashSet};

/// Infers the dependencies of a list-append history into `edges` and reports the anomalies found
/// without a cycle into `found`. Fails when a value is appended twice to one key (the inference
/// depends on appends being unique, as Elle's does).
pub fn infer(h: &TxnHistory, edges: &mut EdgeSet, found: &mut Vec<Found>) -> Result<(), HistoryError> {
    let keys = h.values.key_count();
    let appends = h.writers(
        |m| match *m {
            Mop::Append { key, elem } => Some((key, elem)),
            _ => None,
        },
        "list-append infers orders from unique appends",
        "appended",
    )?;
    let v = &h.values;

    // Per-read anomalies and the read index: (key, last element or INIT) -> readers.
    let mut readers: HashMap<(KeyId, ElemId), Vec<usize>> = HashMap::new();
    let mut longest: Vec<Option<(usize, &[ElemId])>> = vec![None; keys];
    let mut seen: HashSet<ElemId> = HashSet::new();
    for t in h.txns.iter().filter(|t| t.outcome == Outcome::Ok) {
        internal(h, t.id, found);
        for m in &t.mops {
            let Mop::Read { key, observed: Observed::List(list) } = m else { continue };
            let key = *key;
            let kname = v.key_name(key);
            readers.entry((key, list.last().copied().unwrap_or(INIT))).or_default().push(t.id);
            if longest[key as usize].is_none_or(|(_, l)| l.len() < list.len()) {
                longest[key as usize] = Some((t.id, list));
            }
            seen.clear();
            let mut dups = Vec::new();
            for &e in list {
                if !seen.insert(e) && !dups.contains(&e) {
                    dups.push(e);
                }
            }
            if !dups.is_empty() {
                found.push(Found {
                    anomaly: Anomaly::DuplicateElements,
                    txns: vec![t.id],
                    detail: Detail::Text(format!(
                        "T1 read {kname} = {}, which holds {} more than once",
                        v.show_list(key, list),
                        v.show_list(key, &dups)
                    )),
                });
            }
            for &e in list {
                match appends.get(&(key, e)) {
                    None => found.push(Found {
                        anomaly: Anomaly::GarbageRead,
                        txns: vec![t.id],
                        detail: Detail::Text(format!(
                            "T1 read {kname} = {}, but no transaction appended {} to {kname}",
                            v.show_list(key, list),
                            v.show(key, e)
                        )),
                    }),
                    Some(a) if h.txns[a.txn].outcome == Outcome::Fail => found.push(Found {
                        anomaly: Anomaly::G1a,
                        txns: vec![t.id, a.txn],
                        detail: Detail::Text(format!(
                            "T1 read {kname} = {}, which holds {}, appended only by T2, which failed",
                            v.show_list(key, list),
                            v.show(key, e)
                        )),
                    }),
                    Some(_) => {}
                }
            }
            if let Some(&last) = list.last()
                && let Some(a) = appends.get(&(key, last))
                && !a.last
                && a.txn != t.id
            {
                found.push(Found {
                    anomaly: Anomaly::G1b,
                    txns: vec![t.id, a.txn],
                    detail: Detail::Text(format!(
                        "T1 read {kname} = {}, ending with {}, which T2 followed with another append to \
                         {kname} in the same transaction: T1 saw an intermediate state of T2",
                        v.show_list(key, list),
                        v.show(key, last)
                    )),
                });
            }
        }
    }

    // Version orders: the longest read of each key, every other read a prefix of it.
    let mut order: Vec<Vec<ElemId>> = vec![Vec::new(); keys];
    let mut position: Vec<HashMap<ElemId, usize>> = vec![HashMap::new(); keys];
    for t in h.txns.iter().filter(|t| t.outcome == Outcome::Ok) {
        for m in &t.mops {
            let Mop::Read { key, observed: Observed::List(list) } = m else { continue };
            let Some((lt, long)) = longest[*key as usize] else { continue };
            if list.len() <= long.len() && long[..list.len()] != list[..] {
                let (k, kname) = (*key, v.key_name(*key));
                found.push(Found {
                    anomaly: Anomaly::IncompatibleOrder,
                    txns: vec![t.id, lt],
                    detail: Detail::Text(format!(
                        "T1 read {kname} = {} and T2 read {kname} = {}: the first is not a prefix of the \
                         second, so no one order of appends to {kname} gives both",
                        v.show_list(k, list),
                        v.show_list(k, long)
                    )),
                });
            }
        }
    }
    for (k, l) in longest.iter().enumerate() {
        let Some((_, list)) = l else { continue };
        for &e in list.iter() {
            if !position[k].contains_key(&e) {
                position[k].insert(e, order[k].len());
                order[k].push(e);
            }
        }
    }

    // wr: the appender of each read's last element precedes the reader.
    for t in h.txns.iter().filter(|t| t.outcome == Outcome::Ok) {
        for m in &t.mops {
            let Mop::Read { key, observed: Observed::List(list) } = m else { continue };
            let Some(&last) = list.last() else { continue };
            if let Some(a) = appends.get(&(*key, last))
                && h.txns[a.txn].possible()
            {
                edges.push(a.txn, t.id, DepKind::Wr, Some(Why { key: *key, before: last, after: INIT }));
            }
        }
    }
    // ww and rw: from the element just before each append.
    for t in h.possible() {
        for m in &t.mops {
            let Mop::Append { key, elem } = *m else { continue };
            let (o, pos) = (&order[key as usize], &position[key as usize]);
            let prev = match pos.get(&elem) {
                Some(0) => INIT,
                Some(&i) => o[i - 1],
                None => o.last().copied().unwrap_or(INIT),
            };
            let why = Some(Why { key, before: prev, after: elem });
            if prev != INIT
                && let Some(a) = appends.get(&(key, prev))
                && h.txns[a.txn].possible()
            {
                edges.push(a.txn, t.id, DepKind::Ww, why);
            }
            for &r in readers.get(&(key, prev)).map(Vec::as_slice).unwrap_or(&[]) {
                edges.push(r, t.id, DepKind::Rw, why);
            }
        }
    }
    Ok(())
}

/// What a transaction expects a key to hold, from its own earlier micro-operations.
enum Expect {
    /// The whole list (it read it, then maybe appended).
    Known(Vec<ElemId>),
    /// An unknown prefix followed by these, its own appends.
    Suffix(Vec<ElemId>),
}

/// Internal consistency and future reads of one `ok` transaction.
fn internal(h: &TxnHistory, txn: usize, found: &mut Vec<Found>) {
    let v = &h.values;
    let t = &h.txns[txn];
    let mut state: HashMap<KeyId, Expect> = HashMap::new();
    let mut read_before: HashMap<KeyId, HashSet<ElemId>> = HashMap::new();
    for m in &t.mops {
        match m {
            Mop::Append { key, elem } => {
                if read_before.get(key).is_some_and(|s| s.contains(elem)) {
                    let kname = v.key_name(*key);
                    found.push(Found {
                        anomaly: Anomaly::G1c,
                        txns: vec![txn],
                        detail: Detail::Text(format!(
                            "T1 read {kname} holding {} before it appended {} itself: it observed its own \
                             future (a future read; a cycle of one transaction, T1 < T1)",
                            v.show(*key, *elem),
                            v.show(*key, *elem)
                        )),
                    });
                    return;
                }
                match state.entry(*key).or_insert_with(|| Expect::Suffix(Vec::new())) {
                    Expect::Known(l) | Expect::Suffix(l) => l.push(*elem),
                }
            }
            Mop::Read { key, observed: Observed::List(list) } => {
                let bad = match state.get(key) {
                    None => None,
                    Some(Expect::Known(e)) => (e != list).then(|| v.show_list(*key, e)),
                    Some(Expect::Suffix(s)) => (!list.ends_with(s))
                        .then(|| format!("[... {}]", v.show_list(*key, s).trim_matches(['[', ']']))),
                };
                if let Some(expected) = bad {
                    let kname = v.key_name(*key);
                    found.push(Found {
                        anomaly: Anomaly::Internal,
                        txns: vec![txn],
                        detail: Detail::Text(format!(
                            "T1 read {kname} = {}, but its own earlier reads and appends of {kname} say \
                             {expected}",
                            v.show_list(*key, list)
                        )),
                    });
                    return;
                }
                read_before.entry(*key).or_default().extend(list.iter().copied());
                state.insert(*key, Expect::Known(list.clone()));
            }
            _ => {}
        }
    }
}
