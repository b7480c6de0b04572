//! Reading histories: our JSON Lines, Jepsen's `history.edn`, and the two Porcupine test-log formats.
//!
//! Every reader turns text into [`Event`]s plus the source line of each, then [`History::from_events`]
//! pairs and validates them. Readers are strict: a line that does not have the expected shape is an
//! error naming the line and the field, never silently skipped (Porcupine's own parser skips lines its
//! regular expressions do not match, which can hide a truncated file).
//!
//! The formats differ in meaning as well as syntax, which is why the format picks the default
//! semantics of the model (see [`Format::default_fail`] and [`Format::default_nil_read`]):
//!
//! | format | `fail` cas | read of `nil` | order | time (display only) |
//! |---|---|---|---|---|
//! | `jsonl` (ours) | never happened | key absent | line | `time` field (ns) |
//! | `jepsen` (`history.edn`) | never happened | constrains nothing (Knossos) | `:index`, else line | `:time`, else position |
//! | `porcupine-etcd` (`etcd_*.log`) | a real cas that saw another value | key absent | line | position |
//! | `porcupine-kv` (`kv/*.txt`) | (none occur) | (none occur) | line | position |
//!
//! Real-time order is always the order of events (see [`crate::ops`]), never their timestamps. A Jepsen
//! history is ordered by position: its `:index` fields when the events carry them (sorted, so a file
//! whose lines were shuffled or merged still reads right), else the order the events are written in.
//! Its `:time` is a per-operation clock that may go backwards from one line to the next (Knossos's
//! `rethink-fail` histories do); it is kept for display and latency only.

use crate::history::{Event, EventType, NO_PROCESS, NemesisTag, Process};
use crate::model::{FailSemantics, NilRead};
use crate::ops::{History, HistoryError, Problem};
use clojure_reader::edn::{self, Edn};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// A history file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Our native JSON Lines: one [`Event`] object per line.
    Jsonl,
    /// Jepsen's `history.edn`: one EDN map per operation event (or one vector of them).
    Jepsen,
    /// The Jepsen etcd console logs Porcupine tests with (`INFO  jepsen.util - 3 :ok :read 2`).
    PorcupineEtcd,
    /// Porcupine's kv test logs: one EDN map per line with `:key`, functions get/put/append.
    PorcupineKv,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Jsonl, Format::Jepsen, Format::PorcupineEtcd, Format::PorcupineKv];

    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Jepsen => "jepsen",
            Format::PorcupineEtcd => "porcupine-etcd",
            Format::PorcupineKv => "porcupine-kv",
        }
    }

    /// What a `fail` completion means in histories of this format.
    pub fn default_fail(self) -> FailSemantics {
        match self {
            Format::PorcupineEtcd => FailSemantics::ObservedOtherValue,
            _ => FailSemantics::NeverHappened,
        }
    }

    /// What a read returning `nil` means in histories of this format.
    pub fn default_nil_read(self) -> NilRead {
        match self {
            Format::Jepsen => NilRead::ConstrainsNothing,
            _ => NilRead::Absent,
        }
    }

    /// Guesses the format from the first non-blank line that is not an EDN comment: JSON objects are
    /// ours, `INFO ... jepsen.util` lines are the etcd console logs, EDN maps are Porcupine kv logs when
    /// they carry `:key` and no `:time`, Jepsen histories otherwise (as are EDN vectors and lists). An
    /// empty input is an (empty) JSON Lines history.
    pub fn guess(text: &str) -> Result<Format, HistoryError> {
        // EDN comments (`;`) may precede a Jepsen history (Knossos's data files start with one).
        let Some((n, line)) = text.lines().enumerate().find(|(_, l)| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with(';')
        }) else {
            return Ok(Format::Jsonl);
        };
        let t = line.trim_start();
        if t.starts_with("{\"") || t.starts_with("{ \"") {
            Ok(Format::Jsonl)
        } else if t.starts_with("INFO") && t.contains("jepsen.util") {
            Ok(Format::PorcupineEtcd)
        } else if t.starts_with("{:") {
            if t.contains(":key ") && !t.contains(":time ") {
                Ok(Format::PorcupineKv)
            } else {
                Ok(Format::Jepsen)
            }
        } else if t.starts_with('[') || t.starts_with('(') || t.starts_with('{') {
            Ok(Format::Jepsen)
        } else {
            Err(HistoryError::new(
                "<input>",
                n + 1,
                None,
                Problem::UnknownFormat(
                    "expected JSON Lines, Jepsen EDN or a Porcupine log; name it with --format".into(),
                ),
            ))
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        Format::ALL.into_iter().find(|f| f.name() == s).ok_or_else(|| {
            format!("unknown format `{s}`; expected one of jsonl, jepsen, porcupine-etcd, porcupine-kv")
        })
    }
}

/// A parsed and validated history with the format it was read as.
#[derive(Clone, Debug)]
pub struct ParsedHistory {
    pub format: Format,
    pub history: History,
}

/// Parses `text` (named `source` in messages) as `format`, or as the guessed format when `None`.
pub fn parse_history(
    text: &str,
    format: Option<Format>,
    source: &str,
) -> Result<ParsedHistory, HistoryError> {
    let format = match format {
        Some(f) => f,
        None => Format::guess(text).map_err(|mut e| {
            e.source_name = source.to_string();
            e
        })?,
    };
    let (events, lines) = parse_events(text, format, source)?;
    let history = History::from_events(source, &events, Some(&lines))?;
    Ok(ParsedHistory { format, history })
}

/// Parses `text` into events and the 1-based source line of each, without pairing them.
pub fn parse_events(
    text: &str,
    format: Format,
    source: &str,
) -> Result<(Vec<Event>, Vec<usize>), HistoryError> {
    match format {
        Format::Jsonl => parse_jsonl(text, source),
        Format::Jepsen => {
            let (mut events, lines) = order_by_index(parse_edn(text, source)?, source)?;
            decode_independent(&mut events);
            Ok((events, lines))
        }
        Format::PorcupineKv => {
            let edn = parse_edn(text, source)?;
            Ok((edn.events, edn.lines))
        }
        Format::PorcupineEtcd => parse_etcd_log(text, source),
    }
}

/// Jepsen's `independent` generator runs one register per key and writes each operation's value as a
/// tuple `[key value]` (a read invokes `[k nil]`, a cas is `[k [from to]]`). Such a history is checked
/// key by key, like ours: this moves the tuple's key into [`Event::key`] and its value into
/// [`Event::value`].
///
/// The file does not say that it is independent, so the shape decides: no event carries `:key`, every
/// client event is a register operation (`read`, `write` or `cas`) whose value is a two-element vector,
/// and at least one of them is a read or a write. A plain register history never has that shape: its
/// reads invoke with `nil` and its writes carry a single value. (A history of nothing but plain cas
/// operations `[from to]` would, so the read-or-write condition keeps such a file as it is.)
fn decode_independent(events: &mut [Event]) {
    let register_f = |f: &str| matches!(f, "read" | "write" | "cas");
    let client = || events.iter().filter(|e| matches!(e.process, Process::Client(_)));
    let tuple = |v: &Value| matches!(v, Value::Array(items) if items.len() == 2);
    let independent = events.iter().all(|e| e.key.is_none())
        && client().next().is_some()
        && client().all(|e| register_f(&e.f) && tuple(&e.value))
        && client().any(|e| e.f != "cas");
    if !independent {
        return;
    }
    for e in events.iter_mut().filter(|e| matches!(e.process, Process::Client(_))) {
        // Every client value is a two-element array (checked above).
        if let Value::Array(mut items) = std::mem::take(&mut e.value)
            && let (Some(v), Some(k)) = (items.pop(), items.pop())
        {
            e.key = Some(match k {
                Value::String(s) => s,
                other => other.to_string(),
            });
            e.value = v;
        }
    }
}

fn bad(source: &str, line: usize, field: &str, expected: &str, found: &Value) -> HistoryError {
    HistoryError::new(
        source,
        line,
        Some(field),
        Problem::BadValue { expected: expected.to_string(), found: found.to_string() },
    )
}

fn missing(source: &str, line: usize, field: &str, expected: &str) -> HistoryError {
    HistoryError::new(source, line, Some(field), Problem::Missing { expected: expected.to_string() })
}

fn parse_kind(s: &str) -> Option<EventType> {
    match s {
        "invoke" => Some(EventType::Invoke),
        "ok" => Some(EventType::Ok),
        "fail" => Some(EventType::Fail),
        "info" => Some(EventType::Info),
        _ => None,
    }
}

/// Our JSON Lines. Fields are decoded one by one (rather than through serde's derive) so an error names
/// the field and what it should have held.
fn parse_jsonl(text: &str, source: &str) -> Result<(Vec<Event>, Vec<usize>), HistoryError> {
    let mut events = Vec::new();
    let mut lines = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(raw)
            .map_err(|e| HistoryError::new(source, line, None, Problem::Syntax(e.to_string())))?;
        let Value::Object(obj) = &v else {
            return Err(bad(source, line, "(line)", "a JSON object", &v));
        };
        let process = match obj.get("process") {
            Some(Value::Number(n)) if n.as_u64().is_some() => Process::Client(n.as_u64().unwrap_or(0)),
            Some(Value::String(s)) if s == "nemesis" => Process::Nemesis(NemesisTag::Nemesis),
            Some(other) => {
                return Err(bad(source, line, "process", "a non-negative integer or \"nemesis\"", other));
            }
            None => return Err(missing(source, line, "process", "a non-negative integer or \"nemesis\"")),
        };
        let kind = match obj.get("type") {
            Some(Value::String(s)) => parse_kind(s).ok_or_else(|| {
                bad(source, line, "type", "one of invoke, ok, fail, info", &Value::String(s.clone()))
            })?,
            Some(other) => return Err(bad(source, line, "type", "one of invoke, ok, fail, info", other)),
            None => return Err(missing(source, line, "type", "one of invoke, ok, fail, info")),
        };
        let f = match obj.get("f") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(other) => return Err(bad(source, line, "f", "a function name string", other)),
            None => return Err(missing(source, line, "f", "a function name string")),
        };
        let time = match obj.get("time") {
            Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64().unwrap_or(0),
            Some(other) => return Err(bad(source, line, "time", "non-negative integer nanoseconds", other)),
            None => return Err(missing(source, line, "time", "non-negative integer nanoseconds")),
        };
        let opt_string = |field: &str| -> Result<Option<String>, HistoryError> {
            match obj.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(bad(source, line, field, "a string", other)),
            }
        };
        let key = opt_string("key")?;
        let node = opt_string("node")?;
        let error = opt_string("error")?;
        let value = obj.get("value").cloned().unwrap_or(Value::Null);
        events.push(Event { process, kind, f, key, value, time, node, error });
        lines.push(line);
    }
    Ok((events, lines))
}

/// Converts EDN to JSON: keywords and symbols become strings without the colon, `nil` null, vectors,
/// lists and sets arrays, maps objects with their keys rendered as strings.
pub fn edn_to_json(e: &Edn<'_>) -> Value {
    match e {
        Edn::Nil => Value::Null,
        Edn::Bool(b) => Value::Bool(*b),
        Edn::Int(i) => Value::from(*i),
        Edn::Str(s) | Edn::Key(s) | Edn::Symbol(s) => Value::String(s.to_string()),
        Edn::Char(c) => Value::String(c.to_string()),
        Edn::Vector(items) | Edn::List(items) => Value::Array(items.iter().map(edn_to_json).collect()),
        Edn::Set(items) => Value::Array(items.iter().map(edn_to_json).collect()),
        Edn::Map(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let key = match edn_to_json(k) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, edn_to_json(v))
                })
                .collect(),
        ),
        Edn::Tagged(_, inner) => edn_to_json(inner),
        Edn::Rational((a, b)) => {
            serde_json::Number::from_f64(*a as f64 / *b as f64).map_or(Value::Null, Value::Number)
        }
        other => Value::String(format!("{other:?}")),
    }
}

/// Events read from EDN, with the source line and the `:index` field (if any) of each.
struct EdnEvents {
    events: Vec<Event>,
    lines: Vec<usize>,
    indices: Vec<Option<u64>>,
}

/// Jepsen `history.edn` and Porcupine kv logs: a sequence of EDN maps (one per line in practice), or a
/// single vector or list of maps, with `;` comments anywhere between them. Process `:nemesis` (or any
/// keyword process) is the nemesis.
fn parse_edn(text: &str, source: &str) -> Result<EdnEvents, HistoryError> {
    let mut out = EdnEvents { events: Vec::new(), lines: Vec::new(), indices: Vec::new() };
    let mut rest = text;
    let mut line = 1usize;
    // The closing bracket of the collection the whole history is written as, once inside it. Its
    // elements are read one at a time (not as one form) so each keeps its own source line, however
    // many lines the maps before it and the comments between them take.
    let mut inside: Option<char> = None;
    loop {
        let trimmed = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        line += rest[..rest.len() - trimmed.len()].matches('\n').count();
        rest = trimmed;
        if rest.starts_with(';') {
            rest = &rest[rest.find('\n').unwrap_or(rest.len())..];
            continue;
        }
        let Some(c) = rest.chars().next() else {
            return match inside {
                Some(close) => Err(HistoryError::new(
                    source,
                    line,
                    None,
                    Problem::Syntax(format!("the history ends without its closing `{close}`")),
                )),
                None => Ok(out),
            };
        };
        match (inside, c) {
            (None, '[' | '(') => {
                inside = Some(if c == '[' { ']' } else { ')' });
                rest = &rest[1..];
                continue;
            }
            (Some(close), _) if c == close => {
                inside = None;
                rest = &rest[1..];
                continue;
            }
            _ => {}
        }
        let start_line = line;
        let (form, remaining) = edn::read(rest).map_err(|e| {
            let at = start_line + e.line.unwrap_or(1) - 1;
            HistoryError::new(source, at, None, Problem::Syntax(format!("{:?}", e.code)))
        })?;
        line += rest[..rest.len() - remaining.len()].matches('\n').count();
        rest = remaining;
        out.push(&form, start_line, source)?;
    }
}

impl EdnEvents {
    fn push(&mut self, form: &Edn<'_>, line: usize, source: &str) -> Result<(), HistoryError> {
        // Without `:time`, an event's time is its position (1-based), for display.
        let fallback = (self.events.len() + 1) as u64;
        let (event, index) = edn_event(form, line, source, fallback)?;
        self.events.push(event);
        self.lines.push(line);
        self.indices.push(index);
        Ok(())
    }
}

/// Puts a Jepsen history in position order: by `:index` when the events carry it (Jepsen numbers every
/// event of a history 0, 1, 2, ... in the order it happened), else as written. Either every event has an
/// `:index` or none has, and no two share one: anything else is an error naming the line, since the
/// order is the one thing a linearizability check cannot guess.
fn order_by_index(edn: EdnEvents, source: &str) -> Result<(Vec<Event>, Vec<usize>), HistoryError> {
    let EdnEvents { events, lines, indices } = edn;
    if indices.iter().all(Option::is_none) {
        return Ok((events, lines));
    }
    if let Some(i) = indices.iter().position(Option::is_none) {
        return Err(missing(
            source,
            lines[i],
            ":index",
            "an :index, as the other events of the history have",
        ));
    }
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| (indices[i], lines[i]));
    for w in order.windows(2) {
        if indices[w[0]] == indices[w[1]] {
            let (first, again) = if lines[w[0]] <= lines[w[1]] { (w[0], w[1]) } else { (w[1], w[0]) };
            return Err(HistoryError::new(
                source,
                lines[again],
                Some(":index"),
                Problem::DuplicateIndex { index: indices[again].unwrap_or(0), first_line: lines[first] },
            ));
        }
    }
    if order.iter().enumerate().all(|(k, &i)| k == i) {
        return Ok((events, lines));
    }
    let mut slots: Vec<Option<Event>> = events.into_iter().map(Some).collect();
    let sorted =
        order.iter().map(|&i| slots[i].take().expect("a permutation visits each event once")).collect();
    Ok((sorted, order.iter().map(|&i| lines[i]).collect()))
}

/// One EDN map as an event, with its `:index` if it has one.
fn edn_event(
    form: &Edn<'_>,
    line: usize,
    source: &str,
    fallback_time: u64,
) -> Result<(Event, Option<u64>), HistoryError> {
    let Edn::Map(_) = form else {
        return Err(bad(
            source,
            line,
            "(form)",
            "an EDN map {:process .. :type .. :f ..}",
            &edn_to_json(form),
        ));
    };
    let get = |k: &'static str| form.get(&Edn::Key(k.into()));
    let process = match get("process") {
        Some(Edn::Int(p)) if *p >= 0 => Process::Client(*p as u64),
        Some(Edn::Key(_)) | Some(Edn::Symbol(_)) => Process::Nemesis(NemesisTag::Nemesis),
        Some(other) => {
            return Err(bad(
                source,
                line,
                ":process",
                "a non-negative integer or :nemesis",
                &edn_to_json(other),
            ));
        }
        // Elle's hand-written histories omit the process (see `history::NO_PROCESS`).
        None => Process::Client(NO_PROCESS),
    };
    let kind = match get("type") {
        Some(Edn::Key(k)) => parse_kind(k).ok_or_else(|| {
            bad(source, line, ":type", "one of :invoke, :ok, :fail, :info", &Value::String(k.to_string()))
        })?,
        Some(other) => {
            return Err(bad(source, line, ":type", "one of :invoke, :ok, :fail, :info", &edn_to_json(other)));
        }
        None => return Err(missing(source, line, ":type", "one of :invoke, :ok, :fail, :info")),
    };
    let f = match get("f") {
        Some(Edn::Key(k)) | Some(Edn::Symbol(k)) | Some(Edn::Str(k)) => k.to_string(),
        // Elle's examples leave `:f` out of transactions (`:f nil` in its printed histories).
        None | Some(Edn::Nil) if get("value").is_some_and(is_transaction) => "txn".to_string(),
        Some(other) => return Err(bad(source, line, ":f", "a keyword such as :read", &edn_to_json(other))),
        None => return Err(missing(source, line, ":f", "a keyword such as :read")),
    };
    let time = match get("time") {
        Some(Edn::Int(t)) if *t >= 0 => *t as u64,
        Some(other) => {
            return Err(bad(source, line, ":time", "non-negative integer nanoseconds", &edn_to_json(other)));
        }
        None => fallback_time,
    };
    let key = match get("key") {
        None | Some(Edn::Nil) => None,
        Some(k) => Some(match edn_to_json(k) {
            Value::String(s) => s,
            other => other.to_string(),
        }),
    };
    let value = get("value").map(edn_to_json).unwrap_or(Value::Null);
    let index = match get("index") {
        None | Some(Edn::Nil) => None,
        Some(Edn::Int(i)) if *i >= 0 => Some(*i as u64),
        Some(other) => {
            return Err(bad(source, line, ":index", "a non-negative integer position", &edn_to_json(other)));
        }
    };
    // Jepsen writes `:error nil` on completions that have none.
    let error = get("error").and_then(|e| match edn_to_json(e) {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    });
    let node = get("node").map(|e| match edn_to_json(e) {
        Value::String(s) => s,
        other => other.to_string(),
    });
    Ok((Event { process, kind, f, key, value, time, node, error }, index))
}

/// Whether an EDN value is a transaction: a non-empty vector of micro-operations `[:f key value]`.
fn is_transaction(v: &Edn<'_>) -> bool {
    let Edn::Vector(mops) = v else { return false };
    !mops.is_empty()
        && mops
            .iter()
            .all(|m| matches!(m, Edn::Vector(parts) if parts.len() == 3 && matches!(parts[0], Edn::Key(_))))
}

/// The Jepsen etcd console logs: `INFO  jepsen.util - PROCESS\t:TYPE\t:F\tVALUE` where VALUE is `nil`,
/// an integer, `[FROM TO]` or `:timed-out` (an error, not a value). Time is the line position.
fn parse_etcd_log(text: &str, source: &str) -> Result<(Vec<Event>, Vec<usize>), HistoryError> {
    let mut events = Vec::new();
    let mut lines = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let Some(body) = raw.trim_start().strip_prefix("INFO").map(str::trim_start) else {
            return Err(HistoryError::new(
                source,
                line,
                None,
                Problem::Syntax("expected a line starting with `INFO  jepsen.util -`".into()),
            ));
        };
        let Some(body) =
            body.strip_prefix("jepsen.util").map(str::trim_start).and_then(|b| b.strip_prefix('-'))
        else {
            return Err(HistoryError::new(
                source,
                line,
                None,
                Problem::Syntax("expected `jepsen.util -` after INFO".into()),
            ));
        };
        let mut parts = body.split_whitespace();
        let process = parts.next().ok_or_else(|| missing(source, line, "process", "an integer"))?;
        let process: u64 = process.parse().map_err(|_| {
            bad(source, line, "process", "a non-negative integer", &Value::String(process.into()))
        })?;
        let kind_s =
            parts.next().ok_or_else(|| missing(source, line, "type", "one of :invoke, :ok, :fail, :info"))?;
        let kind = kind_s.strip_prefix(':').and_then(parse_kind).ok_or_else(|| {
            bad(source, line, "type", "one of :invoke, :ok, :fail, :info", &Value::String(kind_s.into()))
        })?;
        let f_s = parts.next().ok_or_else(|| missing(source, line, "f", "one of :read, :write, :cas"))?;
        let f = f_s
            .strip_prefix(':')
            .ok_or_else(|| bad(source, line, "f", "a keyword such as :read", &Value::String(f_s.into())))?
            .to_string();
        let rest: Vec<&str> = parts.collect();
        let rest = rest.join(" ");
        let (value, error) = parse_etcd_value(&rest).ok_or_else(|| {
            bad(
                source,
                line,
                "value",
                "nil, an integer, [from to] or :timed-out",
                &Value::String(rest.clone()),
            )
        })?;
        events.push(Event {
            process: Process::Client(process),
            kind,
            f,
            key: None,
            value,
            time: line as u64,
            node: None,
            error,
        });
        lines.push(line);
    }
    Ok((events, lines))
}

fn parse_etcd_value(s: &str) -> Option<(Value, Option<String>)> {
    let s = s.trim();
    if s == "nil" {
        return Some((Value::Null, None));
    }
    if let Some(err) = s.strip_prefix(':') {
        return Some((Value::Null, Some(err.to_string())));
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let items: Option<Vec<Value>> =
            inner.split_whitespace().map(|x| x.parse::<i64>().ok().map(Value::from)).collect();
        return items.map(|v| (Value::Array(v), None));
    }
    s.parse::<i64>().ok().map(|i| (Value::from(i), None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Outcome;

    #[test]
    fn guesses_each_format_from_its_first_line() {
        assert_eq!(
            Format::guess(r#"{"process":1,"type":"invoke","f":"read","time":1}"#).unwrap(),
            Format::Jsonl
        );
        assert_eq!(
            Format::guess("INFO  jepsen.util - 0\t:invoke\t:read\tnil").unwrap(),
            Format::PorcupineEtcd
        );
        assert_eq!(
            Format::guess(r#"{:process 9, :type :invoke, :f :append, :key "0", :value "x"}"#).unwrap(),
            Format::PorcupineKv
        );
        assert_eq!(Format::guess("{:type :invoke, :f :read, :process 0, :time 12}").unwrap(), Format::Jepsen);
        assert_eq!(Format::guess("\n\n").unwrap(), Format::Jsonl);
        // Knossos's data files: a comment first, a list of maps.
        assert_eq!(
            Format::guess("; a comment\n({:process 0, :type :invoke, :f :read})").unwrap(),
            Format::Jepsen
        );
        assert!(Format::guess("hello").is_err());
    }

    #[test]
    fn reads_etcd_console_lines_including_timeouts() {
        let text = "INFO  jepsen.util - 0\t:invoke\t:cas\t[3 0]\nINFO  jepsen.util - 0\t:fail\t:cas\t[3 0]\n\
                    INFO  jepsen.util - 1\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:fail\t:read\t:timed-out\n";
        let p = parse_history(text, None, "e.log").unwrap();
        assert_eq!(p.format, Format::PorcupineEtcd);
        let ops = &p.history.ops;
        assert_eq!(ops[0].input, serde_json::json!([3, 0]));
        assert_eq!(ops[0].outcome, Outcome::Fail);
        assert_eq!(ops[1].error.as_deref(), Some("timed-out"));
        assert_eq!(ops[1].complete_line, Some(4));
    }

    #[test]
    fn reads_jepsen_edn_with_nemesis_and_vector_form() {
        let text = "[{:type :invoke, :f :write, :value 3, :process 0, :time 5}\n\
                    {:type :info, :f :start, :value nil, :process :nemesis, :time 6}\n\
                    {:type :ok, :f :write, :value 3, :process 0, :time 7}]";
        let p = parse_history(text, None, "h.edn").unwrap();
        assert_eq!(p.format, Format::Jepsen);
        assert_eq!(p.history.ops.len(), 1);
        assert_eq!(p.history.nemesis.len(), 1);
        assert_eq!(p.history.ops[0].complete_line, Some(3));
    }

    #[test]
    fn edn_lines_stay_exact_across_comments_and_multi_line_maps() {
        let text = "; a history as one list\n\
                    ({:type :invoke, :f :write, :value 3, :process 0}\n\
                    ; a comment between events\n\
                    {:type :ok,\n :f :write,\n :value 3,\n :process 0}\n\
                    {:type :invoke, :f :read, :value nil, :process 1})\n";
        let p = parse_history(text, None, "h.edn").unwrap();
        let ops = &p.history.ops;
        assert_eq!((ops[0].invoke_line, ops[0].complete_line, ops[1].invoke_line), (2, Some(4), 8));
        let err = parse_history("[{:type :invoke, :f :read, :process 1}\n", None, "h.edn").unwrap_err();
        assert!(matches!(*err.problem, Problem::Syntax(_)), "{err}");
    }

    #[test]
    fn jepsen_independent_tuples_become_keys() {
        let text = "{:type :invoke, :f :write, :value [1 3], :process 0, :time 5}\n\
                    {:type :invoke, :f :read, :value [2 nil], :process 1, :time 6}\n\
                    {:type :info, :f :start, :value nil, :process :nemesis, :time 7}\n\
                    {:type :ok, :f :write, :value [1 3], :process 0, :time 8}\n\
                    {:type :ok, :f :read, :value [2 4], :process 1, :time 9}\n\
                    {:type :invoke, :f :cas, :value [1 [3 5]], :process 0, :time 10}\n\
                    {:type :fail, :f :cas, :value [1 [3 5]], :process 0, :time 11}";
        let p = parse_history(text, Some(Format::Jepsen), "h.edn").unwrap();
        let ops = &p.history.ops;
        assert_eq!(ops.len(), 3);
        let key_values: Vec<(Option<&str>, &Value)> =
            ops.iter().map(|o| (o.key.as_deref(), &o.input)).collect();
        let (three, null, cas) = (serde_json::json!(3), Value::Null, serde_json::json!([3, 5]));
        assert_eq!(key_values, vec![(Some("1"), &three), (Some("2"), &null), (Some("1"), &cas)]);
        assert_eq!(ops[1].output, serde_json::json!(4));
    }

    #[test]
    fn plain_jepsen_registers_are_not_taken_for_independent_ones() {
        // Reads invoke with nil: a plain register, whatever the writes look like.
        let plain = "{:type :invoke, :f :write, :value [1 3], :process 0, :time 5}\n\
                     {:type :ok, :f :write, :value [1 3], :process 0, :time 6}\n\
                     {:type :invoke, :f :read, :value nil, :process 1, :time 7}\n\
                     {:type :ok, :f :read, :value [1 3], :process 1, :time 8}";
        let p = parse_history(plain, Some(Format::Jepsen), "h.edn").unwrap();
        assert!(p.history.ops.iter().all(|o| o.key.is_none()));
        assert_eq!(p.history.ops[0].input, serde_json::json!([1, 3]));
        // Only cas operations: [from to] and [key value] cannot be told apart, so nothing changes.
        let cas_only = "{:type :invoke, :f :cas, :value [1 3], :process 0, :time 5}\n\
                        {:type :ok, :f :cas, :value [1 3], :process 0, :time 6}";
        let p = parse_history(cas_only, Some(Format::Jepsen), "h.edn").unwrap();
        assert_eq!(
            (p.history.ops[0].key.as_deref(), &p.history.ops[0].input),
            (None, &serde_json::json!([1, 3]))
        );
    }

    #[test]
    fn jsonl_errors_name_line_and_field() {
        let text = "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"time\":1}\n\
                    {\"process\":1,\"type\":\"done\",\"f\":\"read\",\"time\":2}\n";
        let err = parse_history(text, None, "h.jsonl").unwrap_err();
        assert_eq!((err.line, err.field.as_deref()), (2, Some("type")));
        let err = parse_history("{\"process\":-1,\"type\":\"ok\",\"f\":\"read\",\"time\":2}", None, "h")
            .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("process"));
        let err = parse_history("{\"process\":1,\"type\":\"ok\",\"f\":\"read\"}", None, "h").unwrap_err();
        assert!(matches!(*err.problem, Problem::Missing { .. }), "{err}");
        let err = parse_history("{\"process\":1,", Some(Format::Jsonl), "h").unwrap_err();
        assert!(matches!(*err.problem, Problem::Syntax(_)));
    }

    #[test]
    fn edn_syntax_errors_name_the_line() {
        let text = "{:process 0, :type :invoke, :f :get, :key \"1\", :value nil}\n{:process 0, :type :ok";
        let err = parse_history(text, Some(Format::PorcupineKv), "kv.txt").unwrap_err();
        assert_eq!(err.line, 2, "{err}");
    }
}
