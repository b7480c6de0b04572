//! Scripted interaction tests in the style of etcd-io/raft's `interaction_test.go`: a scenario is a
//! small script of commands (`tick 1 12`, `deliver`, `partition 1 | 2 3`, `propose 1 x`) and the file
//! holds, under each command, the trace it must produce: every message delivered, every Ready's
//! persistence and application. A change of behaviour shows up as a readable diff.
//!
//! Scripts live in `tests/sim/testdata/*.txt`. Lines starting with `> ` are commands, the lines after
//! one are its expected output, `#` lines are comments. Run with `UPDATE_SCRIPTS=1` to rewrite the
//! expected output after an intended change (then read the diff).
//!
//! Unlike the simulation, nothing here is random or timed: nodes tick only when told, and messages
//! wait in one queue until `deliver`.

use raft::{
    Config, Entry, HardState, Message, MessageBody, NodeId, Payload, Raft, Ready, Restored, Snapshot,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Default, Clone)]
struct Disk {
    hard_state: HardState,
    snapshot: Option<Snapshot>,
    entries: Vec<Entry>,
}

struct Script {
    nodes: BTreeMap<NodeId, Option<Raft>>,
    disks: BTreeMap<NodeId, Disk>,
    queue: Vec<Message>,
    cut: BTreeSet<(NodeId, NodeId)>,
    out: Vec<String>,
}

fn entry(e: &Entry) -> String {
    match &e.payload {
        Payload::Noop => format!("{}@{} noop", e.index, e.term),
        Payload::Command(c) => format!("{}@{} {}", e.index, e.term, String::from_utf8_lossy(c)),
    }
}

fn entries(es: &[Entry]) -> String {
    es.iter().map(entry).collect::<Vec<_>>().join(", ")
}

fn describe(m: &Message) -> String {
    let body = match &m.body {
        MessageBody::RequestVote { pre_vote, last_log_index, last_log_term } => format!(
            "{} last={}@{}",
            if *pre_vote { "PreVote" } else { "RequestVote" },
            last_log_index,
            last_log_term
        ),
        MessageBody::RequestVoteResponse { pre_vote, granted } => format!(
            "{} {}",
            if *pre_vote { "PreVoteResponse" } else { "RequestVoteResponse" },
            if *granted { "granted" } else { "rejected" }
        ),
        MessageBody::AppendEntries {
            prev_log_index,
            prev_log_term,
            entries: es,
            leader_commit,
            read_round,
        } => {
            format!(
                "AppendEntries prev={prev_log_index}@{prev_log_term} [{}] commit={leader_commit}{}",
                entries(es),
                if *read_round > 0 { format!(" read_round={read_round}") } else { String::new() }
            )
        }
        MessageBody::AppendEntriesResponse { success, match_index, conflict, read_round } => {
            let mut s = if *success {
                format!("AppendEntriesResponse ok match={match_index}")
            } else {
                "AppendEntriesResponse reject".to_string()
            };
            if let Some(c) = conflict {
                let term = c.term.map_or("none".to_string(), |t| t.to_string());
                s.push_str(&format!(" conflict(term={term} first={} last={})", c.first_index, c.last_index));
            }
            if *read_round > 0 {
                s.push_str(&format!(" read_round={read_round}"));
            }
            s
        }
        MessageBody::InstallSnapshot { snapshot } => {
            format!("InstallSnapshot {}@{}", snapshot.last_index, snapshot.last_term)
        }
        MessageBody::InstallSnapshotResponse { last_index } => {
            format!("InstallSnapshotResponse {last_index}")
        }
        MessageBody::TimeoutNow => "TimeoutNow".to_string(),
    };
    format!("{}->{} t{} {body}", m.from, m.to, m.term)
}

impl Script {
    fn new(n: u64) -> Script {
        let mut s = Script {
            nodes: BTreeMap::new(),
            disks: BTreeMap::new(),
            queue: Vec::new(),
            cut: BTreeSet::new(),
            out: vec![],
        };
        for i in 1..=n {
            s.disks.insert(NodeId(i), Disk::default());
            s.nodes.insert(NodeId(i), None);
        }
        for i in 1..=n {
            s.start(NodeId(i));
        }
        s
    }

    fn start(&mut self, id: NodeId) {
        let mut config = Config::new(id, self.nodes.keys().copied().collect());
        config.seed = 1;
        let d = self.disks[&id].clone();
        let restored = Restored { hard_state: d.hard_state, snapshot: d.snapshot, entries: d.entries };
        self.nodes.insert(id, Some(Raft::new(config, restored).expect("a valid restored state")));
    }

    fn ids(s: &str) -> Vec<NodeId> {
        s.split([',', ' ']).filter(|x| !x.is_empty()).map(|x| NodeId(x.parse().expect("a node id"))).collect()
    }

    fn raft(&mut self, id: NodeId) -> &mut Raft {
        self.nodes.get_mut(&id).and_then(|r| r.as_mut()).expect("the node is up")
    }

    fn handle(&mut self, id: NodeId, rd: Ready) {
        let disk = self.disks.get_mut(&id).expect("a disk per node");
        if let Some(s) = &rd.snapshot {
            self.out.push(format!("{id}: install snapshot {}@{}", s.last_index, s.last_term));
            disk.entries.retain(|e| e.index > s.last_index);
            disk.snapshot = Some(s.clone());
        }
        if let Some(first) = rd.entries.first() {
            disk.entries.retain(|e| e.index < first.index);
            disk.entries.extend(rd.entries.iter().cloned());
        }
        if let Some(hs) = rd.hard_state {
            disk.hard_state = hs;
        }
        if rd.hard_state.is_some() || !rd.entries.is_empty() {
            let hs = rd.hard_state.map_or(String::new(), |h| {
                format!(
                    " term={} vote={} commit={}",
                    h.term,
                    h.vote.map_or("none".to_string(), |v| v.to_string()),
                    h.commit
                )
            });
            let es =
                if rd.entries.is_empty() { String::new() } else { format!(" [{}]", entries(&rd.entries)) };
            self.out.push(format!("{id}: persist{hs}{es}"));
        }
        if !rd.committed_entries.is_empty() {
            self.out.push(format!("{id}: apply [{}]", entries(&rd.committed_entries)));
        }
        for r in &rd.read_states {
            self.out.push(format!("{id}: read ctx={} ready at index {}", r.ctx, r.index));
        }
        for ctx in &rd.dropped_reads {
            self.out.push(format!("{id}: read ctx={ctx} dropped"));
        }
        // Both kinds go out after persistence here, in order.
        self.queue.extend(rd.messages);
        self.queue.extend(rd.persisted_messages);
    }

    fn drain(&mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            while let Some(r) = self.nodes.get_mut(&id).and_then(|r| r.as_mut())
                && r.has_ready()
            {
                let rd = r.ready();
                self.handle(id, rd);
                self.raft(id).advance();
            }
        }
    }

    fn deliver(&mut self, rounds: usize) {
        for _ in 0..rounds {
            if self.queue.is_empty() {
                return;
            }
            for m in std::mem::take(&mut self.queue) {
                if self.cut.contains(&(m.from, m.to)) || self.nodes[&m.to].is_none() {
                    self.out.push(format!("dropped {}", describe(&m)));
                    continue;
                }
                self.out.push(describe(&m));
                let to = m.to;
                self.raft(to).step(m);
                self.drain();
            }
        }
    }

    fn run(&mut self, cmd: &str) {
        let (verb, rest) = cmd.split_once(' ').unwrap_or((cmd, ""));
        match verb {
            "tick" => {
                // tick IDS [N]
                let mut parts = rest.rsplitn(2, ' ');
                let last = parts.next().unwrap_or("");
                let (ids, n) = match (parts.next(), last.parse::<u32>()) {
                    (Some(ids), Ok(n)) => (Self::ids(ids), n),
                    _ => (Self::ids(rest), 1),
                };
                for _ in 0..n {
                    for &id in &ids {
                        self.raft(id).tick();
                        self.drain();
                    }
                }
            }
            "deliver" => self.deliver(1),
            "stabilize" => self.deliver(1000),
            "propose" => {
                let (id, text) = rest.split_once(' ').expect("propose ID TEXT");
                let id = Self::ids(id)[0];
                let r = self.raft(id).propose(text.as_bytes().to_vec());
                self.out.push(match r {
                    Ok((i, t)) => format!("{id}: accepted at {i}@{t}"),
                    Err(e) => format!("{id}: {e}"),
                });
                self.drain();
            }
            "read" => {
                let (id, ctx) = rest.split_once(' ').expect("read ID CTX");
                let id = Self::ids(id)[0];
                let r = self.raft(id).read_index(ctx.parse().expect("a number"));
                if let Err(e) = r {
                    self.out.push(format!("{id}: {e}"));
                }
                self.drain();
            }
            "transfer" => {
                let ids = Self::ids(rest);
                self.raft(ids[0]).transfer_leadership(ids[1]);
                self.drain();
            }
            "partition" => {
                self.cut.clear();
                let groups: Vec<Vec<NodeId>> = rest.split('|').map(Self::ids).collect();
                for a in self.nodes.keys() {
                    for b in self.nodes.keys() {
                        let ga = groups.iter().position(|g| g.contains(a));
                        if a != b && ga != groups.iter().position(|g| g.contains(b)) {
                            self.cut.insert((*a, *b));
                        }
                    }
                }
            }
            "heal" => self.cut.clear(),
            "crash" => {
                for id in Self::ids(rest) {
                    self.nodes.insert(id, None);
                }
            }
            "restart" => {
                for id in Self::ids(rest) {
                    self.start(id);
                    self.drain();
                }
            }
            "status" => {
                let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
                for id in ids {
                    let line = match self.nodes[&id].as_ref() {
                        None => format!("{id}: down"),
                        Some(r) => {
                            let s = r.status();
                            format!(
                                "{id}: {} term={} leader={} commit={} applied={} last={}",
                                s.role,
                                s.term,
                                s.leader.map_or("none".to_string(), |l| l.to_string()),
                                s.commit,
                                s.applied,
                                s.last_index
                            )
                        }
                    };
                    self.out.push(line);
                }
            }
            other => panic!("unknown script command {other:?}"),
        }
    }
}

/// Runs one script file and returns the transcript it produces.
fn transcript(text: &str) -> String {
    let mut script: Option<Script> = None;
    let mut out = String::new();
    for line in text.lines() {
        if let Some(cmd) = line.strip_prefix("> ") {
            let s = script.get_or_insert_with(|| Script::new(3));
            if let Some(n) = cmd.strip_prefix("cluster ") {
                *s = Script::new(n.trim().parse().expect("cluster N"));
            } else {
                s.run(cmd.trim());
            }
            out.push_str(line);
            out.push('\n');
            for l in s.out.drain(..) {
                out.push_str(&l);
                out.push('\n');
            }
        } else if line.starts_with('#') || (line.is_empty() && !out.ends_with("\n\n")) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
#[allow(clippy::disallowed_methods)] // the test reads its scripts; the core itself never touches files
fn scripted_interactions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sim/testdata");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty(), "no scripts in {}", dir.display());
    let update = std::env::var("UPDATE_SCRIPTS").is_ok();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let got = transcript(&text);
        if update {
            std::fs::write(&f, &got).unwrap();
        } else if got != text {
            let diff: Vec<String> = text
                .lines()
                .zip(got.lines())
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .take(5)
                .map(|(i, (a, b))| format!("line {}:\n  expected: {a}\n  got:      {b}", i + 1))
                .collect();
            panic!(
                "{} does not match its trace (re-run with UPDATE_SCRIPTS=1 to rewrite it after an intended change):\n{}\n{}",
                f.display(),
                diff.join("\n"),
                if diff.is_empty() { format!("(lengths differ)\n{got}") } else { String::new() }
            );
        }
    }
}
