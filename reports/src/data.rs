//! The data embedded in a run report, in compact columns.
//!
//! A 100,000-operation run must stay a file a browser opens at once, so operations are not objects
//! with long keys (Porcupine's visualizer wrote gigabytes that way) but parallel arrays of small
//! integers: process row, invocation time as a delta from the previous operation, duration, outcome,
//! and indices into tables of distinct functions, keys, nodes and value texts. Times are microseconds
//! since the run started, which is finer than anything a person can see on a plot and keeps numbers
//! short. The page's script decodes the columns into typed arrays and draws on `<canvas>`.
//!
//! Everything in this module is pure and deterministic (tables are in first-seen order, operations
//! sorted by invocation time with the history order breaking ties), so golden tests can snapshot it.

use crate::model::{RunReport, StatusSample};
use checker::history::{Event, EventType, Process};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Longest value text kept per operation; longer values (list-append reads of long lists) are cut
/// with a note of the full length, so the file does not grow with the square of the run length.
pub const MAX_VALUE_CHARS: usize = 80;

/// Everything the page's script draws.
#[derive(Debug, Serialize, PartialEq)]
pub struct PageData {
    /// The end of the time axis, µs: the run's duration or the last event, whichever is later.
    pub end: u64,
    pub ops: OpColumns,
    pub faults: Vec<FaultPeriod>,
    pub cluster: ClusterData,
    /// Op indices (into `ops`) of the operations that appear in counterexamples, outlined on the
    /// timeline.
    pub marks: Vec<u32>,
    /// Client slots (the run's concurrency; 0 unknown): process `p` ran in slot `p % slots`, so the
    /// timeline can draw one row per slot.
    pub slots: u32,
    /// µs of the first violation (see [`crate::Results::first_violation_time`]), drawn as a red line.
    pub violation: Option<u64>,
}

/// Outcome codes of [`OpColumns::o`].
pub const OK: u8 = 0;
pub const FAIL: u8 = 1;
pub const INFO: u8 = 2;
/// Invoked and never completed (the history ends first).
pub const PENDING: u8 = 3;

/// Client operations, one entry per operation in every column, sorted by invocation time.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct OpColumns {
    /// Row labels: the client processes in numeric order.
    pub procs: Vec<u64>,
    /// Distinct function names.
    pub fs: Vec<String>,
    /// Distinct keys.
    pub keys: Vec<String>,
    /// Distinct node names.
    pub nodes: Vec<String>,
    /// Distinct value and error texts.
    pub strs: Vec<String>,
    /// Row (index into `procs`).
    pub p: Vec<u32>,
    /// Invocation time, µs, as a delta from the previous operation's invocation.
    pub t: Vec<u64>,
    /// Duration, µs; -1 when the operation never completed.
    pub d: Vec<i64>,
    /// Outcome: 0 ok, 1 fail, 2 info, 3 pending.
    pub o: Vec<u8>,
    /// Index into `fs`.
    pub f: Vec<u32>,
    /// Index into `keys`, -1 when the operation has no key.
    pub k: Vec<i32>,
    /// Index into `nodes`, -1 when unknown.
    pub n: Vec<i32>,
    /// Index into `strs` of the invocation's value, -1 for null.
    pub vi: Vec<i32>,
    /// Index into `strs` of the completion's value, -1 for null.
    pub vo: Vec<i32>,
    /// Index into `strs` of the completion's error, -1 for none.
    pub e: Vec<i32>,
}

/// A fault drawn as a shaded band across the time plots.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FaultPeriod {
    /// Family: `partition`, `kill`, `pause`, `loss`, `delay`, or the nemesis function's own name.
    pub kind: String,
    /// What was done, e.g. `partition n1 | n2 n3`.
    pub label: String,
    /// µs since the run started.
    pub start: u64,
    /// µs; equal to `start` for an instantaneous event; the end of the run when never healed.
    pub end: u64,
    /// Whether a matching heal was seen (false: the fault lasted until the end of the history).
    pub healed: bool,
}

/// Cluster state from `/status` polls, compressed to segments of unchanged role, term and leader.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct ClusterData {
    /// Node names, one row each.
    pub nodes: Vec<String>,
    /// Role names; `down` is always index 0 (a failed poll).
    pub roles: Vec<String>,
    /// Segments `[node row, start µs, end µs, role index, term, leader id (-1 none), first commit,
    /// last commit]`.
    pub segs: Vec<[i64; 8]>,
}

/// Nanoseconds to the report's microseconds.
fn us(ns: u64) -> u64 {
    ns / 1_000
}

/// Builds every embedded array from a run.
pub fn page_data(run: &RunReport) -> PageData {
    let last_event = run.history.iter().map(|e| e.time).max().unwrap_or(0);
    let last_status = run.status.iter().map(|s| s.time).max().unwrap_or(0);
    let end_ns = run.meta.duration_ns.max(last_event).max(last_status);
    let end = us(end_ns).max(1);
    let pairs = pair_ops(&run.history);
    let marks = marked_ops(run, &pairs);
    PageData {
        end,
        ops: op_columns(&pairs),
        faults: fault_periods(&run.history, end_ns),
        cluster: cluster_data(&run.meta.nodes, &run.status, end_ns),
        marks,
        violation: run.results.first_violation_time().map(us),
        slots: run.meta.concurrency,
    }
}

/// A client operation: its invocation and, when seen, its completion.
#[derive(Debug)]
pub struct OpPair<'a> {
    pub invoke: &'a Event,
    pub completion: Option<&'a Event>,
}

/// Pairs each client invocation with the next completion of the same process, and returns the
/// operations sorted by invocation time (stable, so history order breaks ties). A completion with no
/// open invocation is not drawable and is skipped; a second invocation on a process with one still
/// open closes the first as pending (the checker reports such histories as malformed).
pub fn pair_ops(history: &[Event]) -> Vec<OpPair<'_>> {
    let mut open: HashMap<u64, usize> = HashMap::new();
    let mut ops: Vec<OpPair<'_>> = Vec::new();
    for ev in history {
        let Process::Client(p) = ev.process else { continue };
        match ev.kind {
            EventType::Invoke => {
                open.insert(p, ops.len());
                ops.push(OpPair { invoke: ev, completion: None });
            }
            EventType::Ok | EventType::Fail | EventType::Info => {
                if let Some(i) = open.remove(&p) {
                    ops[i].completion = Some(ev);
                }
            }
        }
    }
    ops.sort_by_key(|op| op.invoke.time);
    ops
}

/// Interns strings into a table, remembering first-seen order.
#[derive(Default)]
struct Interner {
    index: HashMap<String, u32>,
    table: Vec<String>,
}

impl Interner {
    fn get(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = u32::try_from(self.table.len()).expect("fewer than 2^32 distinct strings in one report");
        self.index.insert(s.to_owned(), i);
        self.table.push(s.to_owned());
        i
    }

    fn opt(&mut self, s: Option<&str>) -> i32 {
        match s {
            None => -1,
            Some(s) => i32::try_from(self.get(s)).unwrap_or(i32::MAX),
        }
    }
}

/// A value as a person reads it: strings bare, null as nothing, everything else compact JSON, cut at
/// [`MAX_VALUE_CHARS`] with the full size noted.
pub fn value_text(v: &serde_json::Value) -> Option<String> {
    let text = match v {
        serde_json::Value::Null => return None,
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() <= MAX_VALUE_CHARS {
        return Some(text);
    }
    let cut: String = text.chars().take(MAX_VALUE_CHARS).collect();
    let size = match v {
        serde_json::Value::Array(items) => format!("{} items", items.len()),
        _ => format!("{} chars", text.chars().count()),
    };
    Some(format!("{cut}… ({size})"))
}

fn op_columns(pairs: &[OpPair<'_>]) -> OpColumns {
    let mut procs: Vec<u64> = pairs
        .iter()
        .filter_map(|op| match op.invoke.process {
            Process::Client(p) => Some(p),
            Process::Nemesis(_) => None,
        })
        .collect();
    procs.sort_unstable();
    procs.dedup();
    let row: HashMap<u64, u32> = procs
        .iter()
        .enumerate()
        .map(|(i, &p)| (p, u32::try_from(i).expect("fewer than 2^32 processes")))
        .collect();

    let mut fs = Interner::default();
    let mut keys = Interner::default();
    let mut nodes = Interner::default();
    let mut strs = Interner::default();
    let mut c = OpColumns { procs: procs.clone(), ..OpColumns::default() };
    let mut prev = 0u64;
    for op in pairs {
        let Process::Client(p) = op.invoke.process else { continue };
        let start = us(op.invoke.time);
        c.p.push(row[&p]);
        c.t.push(start.saturating_sub(prev));
        prev = start;
        let (outcome, duration) = match op.completion {
            None => (PENDING, -1),
            Some(done) => {
                let code = match done.kind {
                    EventType::Ok => OK,
                    EventType::Fail => FAIL,
                    _ => INFO,
                };
                let d = us(done.time).saturating_sub(start);
                (code, i64::try_from(d).unwrap_or(i64::MAX))
            }
        };
        c.o.push(outcome);
        c.d.push(duration);
        c.f.push(fs.get(&op.invoke.f));
        c.k.push(keys.opt(op.invoke.key.as_deref()));
        let node = op.invoke.node.as_deref().or(op.completion.and_then(|d| d.node.as_deref()));
        c.n.push(nodes.opt(node));
        c.vi.push(strs.opt(value_text(&op.invoke.value).as_deref()));
        c.vo.push(strs.opt(op.completion.and_then(|d| value_text(&d.value)).as_deref()));
        c.e.push(strs.opt(op.completion.and_then(|d| d.error.as_deref())));
    }
    c.fs = fs.table;
    c.keys = keys.table;
    c.nodes = nodes.table;
    c.strs = strs.table;
    c
}

/// Operations named by counterexamples, found in the full history by process and invocation time.
fn marked_ops(run: &RunReport, pairs: &[OpPair<'_>]) -> Vec<u32> {
    let mut by_start: HashMap<(u64, u64), u32> = HashMap::new();
    let mut i = 0u32;
    for op in pairs {
        if let Process::Client(p) = op.invoke.process {
            by_start.insert((p, op.invoke.time), i);
            i += 1;
        }
    }
    let mut marks: Vec<u32> = run
        .results
        .counterexamples
        .iter()
        .flat_map(|c| c.ops.iter())
        .filter_map(|op| by_start.get(&(op.process, op.start)).copied())
        .collect();
    marks.sort_unstable();
    marks.dedup();
    marks
}

/// The family a nemesis function belongs to, and whether it ends faults of that family rather than
/// starting one. The vocabulary is ours (`partition`, `kill`, `pause`, `loss`, `latency`, `drop`
/// (ended by `deliver`), `restart`, and `heal`, which ends everything) plus Jepsen's:
/// `start-partition`/`stop-partition`, `kill`/`restart` (or `start`), `pause`/`resume`,
/// `heal-network` (network faults only); `heal-all`, `recover` and a bare `stop` end everything
/// open.
fn classify(f: &str) -> (String, Role) {
    let f = f.to_ascii_lowercase();
    let ends_all = matches!(f.as_str(), "stop" | "heal-all" | "recover" | "heal-everything" | "reset");
    if ends_all {
        return ("*".to_owned(), Role::End);
    }
    if f == "heal" {
        // Our harness's heal (and most Jepsen suites') repairs the network, continues paused nodes and
        // restarts killed ones: it ends everything open.
        return ("*".to_owned(), Role::End);
    }
    if matches!(f.as_str(), "heal-network" | "heal-net" | "heal-partition") {
        return ("net".to_owned(), Role::End);
    }
    for prefix in ["stop-", "heal-", "end-", "undo-"] {
        if let Some(rest) = f.strip_prefix(prefix) {
            return (family(rest), Role::End);
        }
    }
    match f.as_str() {
        "restart" | "start-node" | "start-process" | "revive" => return ("kill".to_owned(), Role::End),
        "resume" | "cont" | "continue" | "unpause" => return ("pause".to_owned(), Role::End),
        // Our `deliver` undoes `drop` (messages of one kind dropped on some links; shaded as loss).
        "deliver" => return ("loss".to_owned(), Role::End),
        "start" => return ("kill".to_owned(), Role::EndOrStart),
        _ => {}
    }
    let rest = f.strip_prefix("start-").unwrap_or(&f);
    (family(rest), Role::Start)
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Role {
    Start,
    End,
    /// Jepsen's `start`: restarts killed nodes when a kill is open, else begins the classic nemesis.
    EndOrStart,
}

fn family(f: &str) -> String {
    let has = |words: &[&str]| words.iter().any(|w| f.contains(w));
    if has(&["power"]) {
        // A power loss (our lazyfs, Jepsen's lazyfs) is a crash that loses unsynced writes, not packet loss.
        "power-loss".to_owned()
    } else if has(&["corrupt", "bitflip", "bit-flip", "truncate-file"]) {
        "corrupt".to_owned()
    } else if has(&["partition", "isolate", "cut", "split", "ring", "bridge", "one-way", "halves"]) {
        "partition".to_owned()
    } else if has(&["kill", "crash"]) {
        "kill".to_owned()
    } else if has(&["pause", "sigstop", "freeze"]) {
        "pause".to_owned()
    } else if has(&["loss", "drop"]) {
        "loss".to_owned()
    } else if has(&["delay", "latency", "slow"]) {
        "delay".to_owned()
    } else {
        f.to_owned()
    }
}

/// Whether a heal of `ender` family closes an open fault of `open` family.
fn closes(ender: &str, open: &str) -> bool {
    ender == "*"
        || ender == open
        || (ender == "net" && matches!(open, "partition" | "loss" | "delay"))
        // A restart brings back nodes whose power was cut as it does killed ones.
        || (ender == "kill" && open == "power-loss")
}

/// A short text of what a nemesis event did, from the harness's record of it: the topology, the
/// nodes hit, how many links were cut, the delay or loss probability, what a heal restarted; any other
/// value as compact JSON.
fn fault_label(f: &str, value: &serde_json::Value) -> String {
    let detail = match value {
        serde_json::Value::Object(map) => {
            let mut parts: Vec<String> = Vec::new();
            if let Some(s) = map.get("skipped").and_then(|v| v.as_str()) {
                parts.push(format!("skipped: {s}"));
            }
            if let Some(t) = map.get("topology").and_then(|v| v.as_str()) {
                parts.push(t.to_owned());
            }
            if let Some(t) = map.get("target").and_then(|v| v.as_str()) {
                parts.push(t.to_owned());
            }
            if let Some(d) = map.get("damage").and_then(|v| v.as_str()) {
                parts.push(d.to_owned());
            }
            // Our nemesis's wait for an event: the node and what it did (`n2 vote for n3 in term 5`).
            if let (Some(node), Some(what)) =
                (map.get("node").and_then(|v| v.as_str()), map.get("what").and_then(|v| v.as_str()))
            {
                parts.push(format!("{node} {what}"));
            }
            for (field, verb) in [("nodes", ""), ("restarted", "restarted "), ("resumed", "resumed ")] {
                if let Some(names) = map.get(field).and_then(node_names).filter(|n| !n.is_empty()) {
                    parts.push(format!("{verb}{names}"));
                }
            }
            for field in ["cuts", "links"] {
                if let Some(n) = map.get(field).and_then(|v| v.as_array()).map(Vec::len) {
                    parts.push(format!("{n} link{} cut", if n == 1 { "" } else { "s" }));
                }
            }
            if let Some(ms) = map.get("delay_ms").and_then(|v| v.as_u64()) {
                match map.get("jitter_ms").and_then(|v| v.as_u64()).filter(|j| *j > 0) {
                    Some(j) => parts.push(format!("+{ms}-{} ms", ms + j)),
                    None => parts.push(format!("+{ms} ms")),
                }
            }
            if let Some(p) = map.get("probability").and_then(|v| v.as_f64()) {
                parts.push(format!("{:.0}% loss", p * 100.0));
            }
            // Our corrupt fault: which file, from which byte.
            for n in map.get("nodes").and_then(|v| v.as_array()).into_iter().flatten() {
                if let (Some(file), Some(at)) = (
                    n.pointer("/corrupted/file").and_then(|v| v.as_str()),
                    n.pointer("/corrupted/offset").and_then(|v| v.as_u64()),
                ) {
                    parts.push(format!("{file}@{at}"));
                }
            }
            // The harness stamps each fault with when it was due and when it fired; the label
            // says what the fault did, the stamps are for a reader of the history.
            let mut rest = map.clone();
            rest.remove("due");
            rest.remove("fired");
            if parts.is_empty() && rest.len() == 1 {
                rest.values().next().and_then(short_list).unwrap_or_else(|| value.to_string())
            } else if parts.is_empty() {
                value_text(&serde_json::Value::Object(rest)).unwrap_or_default()
            } else {
                parts.join(", ")
            }
        }
        other => short_list(other).or_else(|| value_text(other)).unwrap_or_default(),
    };
    let label = if detail.is_empty() { f.to_owned() } else { format!("{f} {detail}") };
    label.chars().take(MAX_VALUE_CHARS).collect()
}

/// Node names from a list of names or of `{"node": name, ...}` records.
fn node_names(v: &serde_json::Value) -> Option<String> {
    let items = v.as_array()?;
    let names: Vec<&str> = items
        .iter()
        .filter_map(|item| item.as_str().or_else(|| item.get("node").and_then(|n| n.as_str())))
        .collect();
    Some(names.join(" "))
}

/// `["n1","n2"]` as `n1 n2`; nested lists (partition halves) as `n1 | n2 n3`.
fn short_list(v: &serde_json::Value) -> Option<String> {
    let items = v.as_array()?;
    let parts: Option<Vec<String>> = items
        .iter()
        .map(|item| match item {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Array(inner) => {
                let names: Option<Vec<String>> =
                    inner.iter().map(|x| x.as_str().map(str::to_owned)).collect();
                names.map(|n| format!("[{}]", n.join(" ")))
            }
            _ => None,
        })
        .collect();
    let parts = parts?;
    if parts.iter().all(|p| p.starts_with('[')) {
        let halves: Vec<String> = parts.iter().map(|p| p.trim_matches(['[', ']']).to_owned()).collect();
        return Some(halves.join(" | "));
    }
    Some(parts.join(" "))
}

/// Turns nemesis events into shaded periods. A nemesis action recorded as an invocation and a
/// completion counts from the invocation; an action recorded as a single event counts from it. The
/// completion's value (what was actually done) labels the band when present. A heal closes every open
/// fault of its family at the heal's completion; faults never healed last until `end_ns`; nemesis
/// events that neither start nor end a known family (a leader transfer, say) are drawn as instants.
pub fn fault_periods(history: &[Event], end_ns: u64) -> Vec<FaultPeriod> {
    // Fold invoke/completion pairs of the nemesis into actions: (start, end, f, value).
    let mut actions: Vec<(u64, u64, &str, &serde_json::Value)> = Vec::new();
    let mut pending: Option<&Event> = None;
    for ev in history.iter().filter(|e| e.process == Process::NEMESIS) {
        match (ev.kind, pending) {
            (EventType::Invoke, Some(prev)) => {
                actions.push((prev.time, prev.time, &prev.f, &prev.value));
                pending = Some(ev);
            }
            (EventType::Invoke, None) => pending = Some(ev),
            (_, Some(inv)) if inv.f == ev.f => {
                let value = if ev.value.is_null() { &inv.value } else { &ev.value };
                actions.push((inv.time, ev.time, &ev.f, value));
                pending = None;
            }
            (_, Some(inv)) => {
                actions.push((inv.time, inv.time, &inv.f, &inv.value));
                actions.push((ev.time, ev.time, &ev.f, &ev.value));
                pending = None;
            }
            (_, None) => actions.push((ev.time, ev.time, &ev.f, &ev.value)),
        }
    }
    if let Some(inv) = pending {
        actions.push((inv.time, inv.time, &inv.f, &inv.value));
    }

    let mut out: Vec<FaultPeriod> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    for (start, done, f, value) in actions {
        let (fam, role) = classify(f);
        let is_end = match role {
            Role::End => true,
            Role::Start => false,
            Role::EndOrStart => open.iter().any(|&i| out[i].kind == "kill"),
        };
        if is_end {
            let before = open.len();
            open.retain(|&i| {
                if closes(&fam, &out[i].kind) {
                    out[i].end = us(done).max(out[i].start);
                    out[i].healed = true;
                    false
                } else {
                    true
                }
            });
            if open.len() == before {
                // A heal with nothing open (the final "heal everything" phase): show it as an instant.
                out.push(FaultPeriod {
                    kind: "heal".to_owned(),
                    label: fault_label(f, value),
                    start: us(start),
                    end: us(start),
                    healed: true,
                });
            }
            continue;
        }
        if f == "await" {
            // Our nemesis waiting for a node's election event: nothing was broken; an instant
            // where the event came (or the wait gave up), naming it.
            out.push(FaultPeriod {
                kind: "await".to_owned(),
                label: fault_label(f, value),
                start: us(done),
                end: us(done),
                healed: true,
            });
            continue;
        }
        if value.get("skipped").is_some() {
            // Nothing was done (the backend could not inject it): an instant with the reason.
            out.push(FaultPeriod {
                kind: "skipped".to_owned(),
                label: fault_label(f, value),
                start: us(start),
                end: us(start),
                healed: true,
            });
            continue;
        }
        let kind = if role == Role::EndOrStart { "fault".to_owned() } else { fam };
        open.push(out.len());
        out.push(FaultPeriod {
            kind,
            label: fault_label(f, value),
            start: us(start),
            end: us(end_ns),
            healed: false,
        });
    }
    out
}

/// Compresses status polls into per-node segments. A segment lasts from its first sample to the next
/// sample of that node that differs (or, for the last one, to that node's last poll). A failed poll
/// (no `status`) is drawn as down, and so is a silence longer than three typical poll intervals (the
/// harness may not record polls that got no answer). Polls of nodes not in `nodes` get their own rows.
pub fn cluster_data(nodes: &[String], samples: &[StatusSample], end_ns: u64) -> ClusterData {
    let mut names: Vec<String> = nodes.to_vec();
    let mut by_node: BTreeMap<usize, Vec<&StatusSample>> = BTreeMap::new();
    for s in samples {
        let row = match names.iter().position(|n| *n == s.node) {
            Some(r) => r,
            None => {
                names.push(s.node.clone());
                names.len() - 1
            }
        };
        by_node.entry(row).or_default().push(s);
    }
    let mut roles = Interner::default();
    roles.get("down");
    let mut segs: Vec<[i64; 8]> = Vec::new();
    let to_i = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
    for (row, mut list) in by_node {
        list.sort_by_key(|s| s.time);
        // A poll that got no answer may leave no line at all: a gap of more than three typical poll
        // intervals is drawn as down from one interval after the last answer.
        let mut intervals: Vec<u64> = list.windows(2).map(|w| w[1].time - w[0].time).collect();
        intervals.sort_unstable();
        let typical = intervals.get(intervals.len() / 2).copied().unwrap_or(0);
        let mut cur: Option<[i64; 8]> = None;
        let mut prev_time: Option<u64> = None;
        let last_time = list.last().map_or(end_ns, |s| s.time);
        for s in &list {
            if let (Some(prev), Some(seg)) = (prev_time, cur.as_mut())
                && typical > 0
                && s.time - prev > 3 * typical
                && seg[3] != 0
            {
                let silent_from = to_i(us(prev + typical));
                seg[2] = silent_from;
                segs.push(*seg);
                let row = i64::try_from(row).expect("fewer than 2^63 nodes");
                cur = Some([row, silent_from, silent_from, 0, -1, -1, -1, -1]);
            }
            prev_time = Some(s.time);
            let (role, term, leader, commit) = match &s.status {
                Some(st) => (roles.get(&st.role), to_i(st.term), st.leader.map_or(-1, to_i), to_i(st.commit)),
                None => (0, -1, -1, -1),
            };
            let t = to_i(us(s.time));
            match cur.as_mut() {
                Some(seg) if seg[3] == i64::from(role) && seg[4] == term && seg[5] == leader => {
                    seg[2] = t;
                    seg[7] = commit;
                }
                _ => {
                    if let Some(mut seg) = cur.take() {
                        seg[2] = t;
                        segs.push(seg);
                    }
                    let row = i64::try_from(row).expect("fewer than 2^63 nodes");
                    cur = Some([row, t, t, i64::from(role), term, leader, commit, commit]);
                }
            }
        }
        if let Some(mut seg) = cur {
            seg[2] = to_i(us(last_time));
            segs.push(seg);
        }
    }
    ClusterData { nodes: names, roles: roles.table, segs }
}

/// The embedded JSON, safe inside a `<script>` element: every `<` becomes `\u003c` (it can only
/// occur inside JSON strings, where the escape means the same), so no `</script>` can end the element.
pub fn script_json<T: Serialize>(value: &T) -> String {
    let json = serde_json::to_string(value)
        .expect("report data serializes: plain structs, no maps with non-string keys");
    json.replace('<', "\\u003c")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nem(kind: EventType, f: &str, value: serde_json::Value, ms: u64) -> Event {
        Event {
            process: Process::NEMESIS,
            kind,
            f: f.to_owned(),
            key: None,
            value,
            time: ms * 1_000_000,
            node: None,
            error: None,
        }
    }

    #[test]
    fn the_harness_nemesis_vocabulary_becomes_labelled_periods_and_heal_ends_them_all() {
        use EventType::{Info, Invoke};
        let history = vec![
            nem(Invoke, "partition", json!({"topology": "isolate-leader"}), 100),
            nem(
                Info,
                "partition",
                json!({"topology": "isolate-leader", "leader": "n1", "cuts": [["n1", "n2"], ["n1", "n3"]]}),
                101,
            ),
            nem(Invoke, "kill", json!({"target": "minority"}), 200),
            nem(
                Info,
                "kill",
                json!({"target": "minority", "signal": "SIGKILL", "nodes": [{"node": "n2", "pid": 7}]}),
                202,
            ),
            nem(Invoke, "latency", json!({}), 250),
            nem(Info, "latency", json!({"skipped": "latency needs the proxy"}), 251),
            nem(Invoke, "heal", serde_json::Value::Null, 300),
            nem(
                Info,
                "heal",
                json!({"network": true, "resumed": [], "restarted": [{"node": "n2", "pid": 9}]}),
                305,
            ),
            nem(Invoke, "pause", json!({}), 400),
            nem(Info, "pause", json!({"target": "one", "nodes": [{"node": "n3", "pid": 8}]}), 401),
        ];
        let periods = fault_periods(&history, 1_000_000_000);
        let summary: Vec<(&str, &str, u64, u64, bool)> =
            periods.iter().map(|p| (p.kind.as_str(), p.label.as_str(), p.start, p.end, p.healed)).collect();
        assert_eq!(
            summary,
            [
                ("partition", "partition isolate-leader, 2 links cut", 100_000, 305_000, true),
                ("kill", "kill minority, n2", 200_000, 305_000, true),
                ("skipped", "latency skipped: latency needs the proxy", 250_000, 250_000, true),
                ("pause", "pause one, n3", 400_000, 1_000_000, false),
            ]
        );
    }

    #[test]
    fn dropped_messages_end_at_deliver_and_a_targeted_restart_ends_the_kill() {
        use EventType::{Info, Invoke};
        let links = json!([["n1", "n2"], ["n2", "n1"]]);
        let history = vec![
            nem(Invoke, "drop", json!({"topology": "all-links", "messages": "appends"}), 100),
            nem(Info, "drop", json!({"topology": "all-links", "messages": "appends", "links": links}), 101),
            nem(Invoke, "kill", json!({"target": "leader"}), 150),
            nem(Info, "kill", json!({"target": "leader", "nodes": [{"node": "n2", "pid": 7}]}), 151),
            nem(Invoke, "restart", json!({"target": "all"}), 200),
            nem(Info, "restart", json!({"target": "all", "restarted": [{"node": "n2", "pid": 9}]}), 201),
            nem(Invoke, "deliver", json!({"topology": "all-links"}), 300),
            nem(Info, "deliver", json!({"topology": "all-links", "links": links}), 301),
        ];
        let periods = fault_periods(&history, 1_000_000_000);
        let spans: Vec<(&str, u64, u64, bool)> =
            periods.iter().map(|p| (p.kind.as_str(), p.start, p.end, p.healed)).collect();
        assert_eq!(spans, [("loss", 100_000, 301_000, true), ("kill", 150_000, 201_000, true)]);
    }

    #[test]
    fn a_wait_for_an_event_is_an_instant_naming_it_and_leaves_the_kill_open() {
        use EventType::{Info, Invoke};
        let vote = json!({"event": "vote-granted", "node": "n2", "what": "vote for n3 in term 5"});
        let history = vec![
            nem(Invoke, "await", json!({"f": "await", "event": "vote-granted", "within": 3.0}), 100),
            nem(Info, "await", vote, 180),
            nem(Invoke, "kill", json!({"target": "triggered"}), 181),
            nem(Info, "kill", json!({"target": "triggered", "nodes": [{"node": "n2", "pid": 7}]}), 182),
            nem(Invoke, "await", json!({"event": "vote-granted"}), 300),
            nem(Info, "await", json!({"skipped": "no node reported vote-granted within 3 elections"}), 900),
        ];
        let periods = fault_periods(&history, 1_000_000_000);
        let summary: Vec<(&str, &str, u64, u64)> =
            periods.iter().map(|p| (p.kind.as_str(), p.label.as_str(), p.start, p.end)).collect();
        assert_eq!(
            summary,
            [
                ("await", "await n2 vote for n3 in term 5", 180_000, 180_000),
                ("kill", "kill triggered, n2", 181_000, 1_000_000),
                ("await", "await skipped: no node reported vote-granted within 3 elections", 900_000, 900_000),
            ]
        );
    }

    #[test]
    fn power_loss_and_corruption_are_their_own_kinds_and_say_what_they_hit() {
        use EventType::{Info, Invoke};
        let lost = json!({"target": "all", "nodes": [{"node": "n1", "pid": 7, "lost_bytes": 40}]});
        let corrupted = json!({"target": "one", "damage": "zero", "nodes": [
            {"node": "n2", "pid": 8, "corrupted": {"file": "wal/1.log", "offset": 96, "bytes": 512}}]});
        let history = vec![
            nem(Invoke, "power-loss", json!({"target": "all"}), 100),
            nem(Info, "power-loss", lost, 101),
            nem(Invoke, "restart", json!({"target": "all"}), 200),
            nem(Info, "restart", json!({"target": "all", "restarted": [{"node": "n1", "pid": 9}]}), 201),
            nem(Invoke, "corrupt", json!({"target": "one"}), 300),
            nem(Info, "corrupt", corrupted, 301),
        ];
        let periods = fault_periods(&history, 1_000_000_000);
        let spans: Vec<(&str, &str, u64, bool)> =
            periods.iter().map(|p| (p.kind.as_str(), p.label.as_str(), p.end, p.healed)).collect();
        assert_eq!(
            spans,
            [
                ("power-loss", "power-loss all, n1", 201_000, true),
                ("corrupt", "corrupt one, zero, n2, wal/1.log@96", 1_000_000, false),
            ]
        );
    }

    #[test]
    fn values_are_cut_with_their_size_noted() {
        let long: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        let text = value_text(&json!(long)).unwrap();
        assert!(text.ends_with("… (100 items)"), "{text}");
        assert_eq!(value_text(&json!("5")).as_deref(), Some("5"));
        assert_eq!(value_text(&serde_json::Value::Null), None);
    }
}

#[cfg(test)]
mod cluster_tests {
    use super::*;
    use crate::model::NodeStatus;

    fn sample(ms: u64, role: &str, term: u64) -> StatusSample {
        StatusSample {
            time: ms * 1_000_000,
            node: "n1".to_owned(),
            status: Some(NodeStatus { role: role.to_owned(), term, leader: Some(1), commit: ms }),
            error: None,
        }
    }

    #[test]
    fn a_silent_node_is_drawn_down_and_a_changed_role_starts_a_segment() {
        let mut samples: Vec<StatusSample> = (0..5).map(|i| sample(i * 100, "leader", 1)).collect();
        // Silent from 400 ms to 2000 ms (killed), then back as a follower in term 2.
        samples.extend((20..23).map(|i| sample(i * 100, "follower", 2)));
        let c = cluster_data(&["n1".to_owned()], &samples, 3_000_000_000);
        let segs: Vec<(i64, i64, &str, i64)> = c
            .segs
            .iter()
            .map(|s| (s[1] / 1000, s[2] / 1000, c.roles[s[3] as usize].as_str(), s[4]))
            .collect();
        assert_eq!(segs, [(0, 500, "leader", 1), (500, 2000, "down", -1), (2000, 2200, "follower", 2)]);
    }
}
