//! The deterministic cluster simulation: N cores, a simulated network and clock, crash and restart
//! from persisted state only, and the Raft safety invariants checked after every step.
//!
//! Everything random (message loss, delay, duplication, which node the nemesis picks) comes from one
//! seeded ChaCha RNG, and every collection is ordered, so a seed replays the exact same run. Time is
//! counted in units: a node ticks every [`TICK`] units; a message is delivered after a random delay.
//!
//! Storage is exactly what the `Ready`s told the node to persist: a crash loses the in-memory core and
//! keeps the storage, so a planted bug that forgets to persist the vote really forgets it.
//!
//! The shell each node runs is the one documented on `Ready`: install the snapshot, append the
//! entries, write the hard state, send, apply, serve reads, advance.

use raft::{
    Bug, Config, Entry, HardState, LogIndex, Message, MessageBody, NodeId, Payload, Raft, Ready, Restored,
    Role, Snapshot, Status, Term,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::fmt::Write as _;

/// Decides which sent messages a scripted test holds back.
pub type HoldFn = Box<dyn FnMut(&Message) -> bool>;

/// Time units per tick.
pub const TICK: u64 = 10;

/// The seed for a test: `SIM_SEED` from the environment when set (to replay a failure), else `default`.
pub fn seed_or(default: u64) -> u64 {
    std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// How a cluster is built.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub nodes: u64,
    pub seed: u64,
    pub election_ticks: u32,
    pub heartbeat_ticks: u32,
    pub pre_vote: bool,
    pub check_quorum: bool,
    pub max_entries_per_append: usize,
    pub bugs: BTreeSet<Bug>,
    /// Take a snapshot whenever this many entries have been applied since the last one.
    pub snapshot_every: Option<u64>,
}

impl SimConfig {
    pub fn new(nodes: u64, seed: u64) -> SimConfig {
        SimConfig {
            nodes,
            seed,
            election_ticks: 10,
            heartbeat_ticks: 1,
            pre_vote: true,
            check_quorum: true,
            max_entries_per_append: 64,
            bugs: BTreeSet::new(),
            snapshot_every: None,
        }
    }
}

/// Network faults.
#[derive(Clone, Copy, Debug)]
pub struct NetConfig {
    pub drop: f64,
    pub duplicate: f64,
    pub min_delay: u64,
    pub max_delay: u64,
    /// Probability of a long delay (up to `long_delay` units): reordering across many heartbeats.
    pub long: f64,
    pub long_delay: u64,
}

impl NetConfig {
    pub fn reliable() -> NetConfig {
        NetConfig { drop: 0.0, duplicate: 0.0, min_delay: 1, max_delay: 3, long: 0.0, long_delay: 0 }
    }

    pub fn unreliable() -> NetConfig {
        NetConfig { drop: 0.1, duplicate: 0.05, min_delay: 1, max_delay: 25, long: 0.05, long_delay: 150 }
    }
}

/// What a node keeps across a crash.
#[derive(Clone, Debug, Default)]
pub struct Storage {
    pub hard_state: HardState,
    pub snapshot: Option<Snapshot>,
    pub entries: Vec<Entry>,
}

impl Storage {
    fn snapshot_index(&self) -> LogIndex {
        self.snapshot.as_ref().map_or(LogIndex(0), |s| s.last_index)
    }

    pub fn term_at(&self, index: LogIndex) -> Option<Term> {
        let si = self.snapshot_index();
        if index == si {
            return Some(self.snapshot.as_ref().map_or(Term(0), |s| s.last_term));
        }
        self.entry(index).map(|e| e.term)
    }

    pub fn entry(&self, index: LogIndex) -> Option<&Entry> {
        let si = self.snapshot_index();
        if index <= si {
            return None;
        }
        self.entries.get((index.0 - si.0 - 1) as usize)
    }

    pub fn last_index(&self) -> LogIndex {
        LogIndex(self.snapshot_index().0 + self.entries.len() as u64)
    }
}

/// The replicated state machine: one register (the last value written), plus bookkeeping for checks.
#[derive(Clone, Debug, Default)]
pub struct Register {
    pub applied: LogIndex,
    pub value: u64,
}

impl Register {
    fn encode(&self) -> Vec<u8> {
        let mut v = self.applied.0.to_le_bytes().to_vec();
        v.extend_from_slice(&self.value.to_le_bytes());
        v
    }

    fn decode(data: &[u8]) -> Register {
        let applied = u64::from_le_bytes(data[..8].try_into().unwrap());
        let value = u64::from_le_bytes(data[8..16].try_into().unwrap());
        Register { applied: LogIndex(applied), value }
    }
}

pub fn command(value: u64) -> Vec<u8> {
    value.to_le_bytes().to_vec()
}

fn command_value(payload: &Payload) -> Option<u64> {
    match payload {
        Payload::Command(c) if c.len() == 8 => Some(u64::from_le_bytes(c[..8].try_into().unwrap())),
        _ => None,
    }
}

/// One simulated server.
#[derive(Debug)]
pub struct Node {
    pub id: NodeId,
    pub raft: Option<Raft>,
    pub storage: Storage,
    pub sm: Register,
    /// Entries this node applied one by one (not those covered by an installed snapshot).
    pub applied: BTreeMap<LogIndex, Payload>,
    /// Reads released by the core, waiting for the state machine to reach their index.
    pending_reads: Vec<(u64, LogIndex)>,
}

/// A client operation in the history of the linearizability check.
#[derive(Clone, Debug)]
pub struct Op {
    pub node: NodeId,
    pub write: Option<u64>,
    pub invoke: u64,
    pub complete: Option<u64>,
    /// For writes: the log position it was accepted at. For reads: the value read.
    pub index: Option<(LogIndex, Term)>,
    pub read: Option<u64>,
    /// Completed with "not applied" / "not leader" / dropped.
    pub failed: bool,
}

#[derive(Debug, Default)]
struct Invariants {
    /// §5.2 Election Safety: the one leader of each term.
    leaders: BTreeMap<Term, NodeId>,
    /// §5.3 Log Matching: every (index, term) seen, with its payload and the term of its predecessor.
    entries: HashMap<(LogIndex, Term), (Payload, Option<Term>)>,
    /// Entries known committed (some node's commit index covered them).
    committed: BTreeMap<LogIndex, (Term, Payload)>,
    /// §5.4.3 State Machine Safety: what was applied at each index.
    applied: HashMap<LogIndex, Payload>,
    /// Figure 2: commitIndex only grows (it is persisted, so across restarts too).
    commit: BTreeMap<NodeId, LogIndex>,
    /// Highest commit index registered per node.
    registered: BTreeMap<NodeId, LogIndex>,
    /// Last role/term seen per node, to notice new leaders.
    roles: BTreeMap<NodeId, (Role, Term)>,
}

/// Counters of what went over the network.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub sent: u64,
    pub append: u64,
    pub append_with_entries: u64,
    pub append_rejected: u64,
    pub entry_bytes: u64,
    pub votes: u64,
    pub snapshots: u64,
    pub delivered: u64,
}

/// The simulated cluster.
pub struct Sim {
    pub name: String,
    pub cfg: SimConfig,
    pub net: NetConfig,
    pub now: u64,
    next_tick: u64,
    rng: ChaCha8Rng,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    in_flight: HashMap<usize, Message>,
    pub nodes: BTreeMap<NodeId, Node>,
    /// Nodes attached to the network (6.824's connect / disconnect).
    connected: BTreeSet<NodeId>,
    /// Directed links that are cut.
    blocked: BTreeSet<(NodeId, NodeId)>,
    inv: Invariants,
    pub violation: Option<String>,
    pub stats: Stats,
    pub history: Vec<Op>,
    /// Open client operations per (node, ctx or index).
    open_writes: BTreeMap<(NodeId, LogIndex), usize>,
    open_reads: BTreeMap<(NodeId, u64), usize>,
    next_ctx: u64,
    next_value: u64,
    /// Orders client events exactly (several can happen at one simulated instant).
    op_clock: u64,
    trace: Vec<String>,
    pub keep_trace: bool,
    recent: VecDeque<String>,
    /// Messages the test wants to hold back (scripted scenarios): matching sends go to `held` instead of
    /// the network, and the test delivers them when it likes with `deliver_now`.
    pub hold: Option<HoldFn>,
    pub held: Vec<Message>,
    /// A crash loses every message in flight to the crashed node, as raft-node's TCP transport does
    /// (the connection dies with the process; the senders reconnect and send only new messages).
    /// Off by default: a datagram network, where a message may outlive its receiver's crash.
    pub crash_loses_in_flight: bool,
}

impl Sim {
    pub fn new(name: &str, cfg: SimConfig) -> Sim {
        let mut sim = Sim {
            name: name.to_string(),
            net: NetConfig::reliable(),
            now: 0,
            next_tick: TICK,
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            seq: 0,
            queue: BinaryHeap::new(),
            in_flight: HashMap::new(),
            nodes: BTreeMap::new(),
            connected: BTreeSet::new(),
            blocked: BTreeSet::new(),
            inv: Invariants::default(),
            violation: None,
            stats: Stats::default(),
            history: Vec::new(),
            open_writes: BTreeMap::new(),
            open_reads: BTreeMap::new(),
            next_ctx: 1,
            next_value: 1,
            op_clock: 0,
            trace: Vec::new(),
            keep_trace: false,
            recent: VecDeque::new(),
            hold: None,
            held: Vec::new(),
            crash_loses_in_flight: false,
            cfg,
        };
        for i in 1..=sim.cfg.nodes {
            let id = NodeId(i);
            sim.nodes.insert(
                id,
                Node {
                    id,
                    raft: None,
                    storage: Storage::default(),
                    sm: Register::default(),
                    applied: BTreeMap::new(),
                    pending_reads: Vec::new(),
                },
            );
            sim.connected.insert(id);
        }
        for id in sim.ids() {
            sim.start(id);
        }
        sim
    }

    pub fn ids(&self) -> Vec<NodeId> {
        self.nodes.keys().copied().collect()
    }

    /// The command that replays this run.
    pub fn replay(&self) -> String {
        let test = self.name.rsplit("::").next().unwrap_or(&self.name);
        format!("SIM_SEED={} cargo test -p raft --test sim {test} -- --exact --nocapture", self.cfg.seed)
    }

    fn config_for(&self, id: NodeId) -> Config {
        let mut c = Config::new(id, self.ids());
        c.election_ticks = self.cfg.election_ticks;
        c.heartbeat_ticks = self.cfg.heartbeat_ticks;
        c.seed = self.cfg.seed.wrapping_add(self.now);
        c.pre_vote = self.cfg.pre_vote;
        c.check_quorum = self.cfg.check_quorum;
        c.max_entries_per_append = self.cfg.max_entries_per_append;
        c.bugs = self.cfg.bugs.clone();
        c
    }

    fn start(&mut self, id: NodeId) {
        let config = self.config_for(id);
        let node = self.nodes.get_mut(&id).unwrap();
        let restored = Restored {
            hard_state: node.storage.hard_state,
            snapshot: node.storage.snapshot.clone(),
            entries: node.storage.entries.clone(),
        };
        // The state machine restarts from the snapshot; the core re-hands the committed entries after it.
        node.sm =
            node.storage.snapshot.as_ref().map_or_else(Register::default, |s| Register::decode(&s.data));
        node.applied.clear();
        node.pending_reads.clear();
        match Raft::new(config, restored) {
            Ok(r) => node.raft = Some(r),
            Err(e) => self.violate(format!("n{} cannot restart from its own storage: {e}", id.0)),
        }
        self.record(format!("start n{}", id.0));
        self.drain(id);
    }

    pub fn crash(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).unwrap();
        if node.raft.take().is_some() {
            self.record(format!("crash n{}", id.0));
        }
        if self.crash_loses_in_flight {
            self.in_flight.retain(|_, m| m.to != id);
        }
        // Its clients learn nothing: their operations stay open (indeterminate).
        let reads: Vec<_> = self.open_reads.keys().filter(|(n, _)| *n == id).copied().collect();
        for k in reads {
            self.open_reads.remove(&k);
        }
        let writes: Vec<_> = self.open_writes.keys().filter(|(n, _)| *n == id).copied().collect();
        for k in writes {
            self.open_writes.remove(&k);
        }
    }

    pub fn restart(&mut self, id: NodeId) {
        self.crash(id);
        self.start(id);
    }

    pub fn is_up(&self, id: NodeId) -> bool {
        self.nodes[&id].raft.is_some()
    }

    pub fn disconnect(&mut self, id: NodeId) {
        self.record(format!("disconnect n{}", id.0));
        self.connected.remove(&id);
    }

    pub fn connect(&mut self, id: NodeId) {
        self.record(format!("connect n{}", id.0));
        self.connected.insert(id);
    }

    pub fn is_connected(&self, id: NodeId) -> bool {
        self.connected.contains(&id)
    }

    /// Cuts every link between different groups (and from nodes in no group to anyone).
    pub fn partition(&mut self, groups: &[&[u64]]) {
        self.record(format!("partition {groups:?}"));
        self.blocked.clear();
        let group_of = |id: NodeId| groups.iter().position(|g| g.contains(&id.0));
        for a in self.ids() {
            for b in self.ids() {
                if a != b && (group_of(a).is_none() || group_of(a) != group_of(b)) {
                    self.blocked.insert((a, b));
                }
            }
        }
    }

    /// Cuts one directed link.
    pub fn cut(&mut self, from: u64, to: u64) {
        self.blocked.insert((NodeId(from), NodeId(to)));
    }

    pub fn heal(&mut self) {
        self.record("heal".to_string());
        self.blocked.clear();
        self.connected = self.ids().into_iter().collect();
    }

    fn link_up(&self, from: NodeId, to: NodeId) -> bool {
        self.connected.contains(&from) && self.connected.contains(&to) && !self.blocked.contains(&(from, to))
    }

    pub fn status(&self, id: NodeId) -> Option<Status> {
        self.nodes[&id].raft.as_ref().map(|r| r.status())
    }

    /// The live leader with the highest term, if any.
    pub fn leader(&self) -> Option<NodeId> {
        self.nodes
            .values()
            .filter_map(|n| n.raft.as_ref().map(|r| r.status()))
            .filter(|s| s.role == Role::Leader)
            .max_by_key(|s| s.term)
            .map(|s| s.id)
    }

    /// Like 6.824's checkOneLeader: the leader of the highest term among connected live nodes.
    pub fn connected_leader(&self) -> Option<NodeId> {
        self.nodes
            .values()
            .filter(|n| self.connected.contains(&n.id))
            .filter_map(|n| n.raft.as_ref().map(|r| r.status()))
            .filter(|s| s.role == Role::Leader)
            .max_by_key(|s| s.term)
            .map(|s| s.id)
    }

    pub fn leaders_by_term(&self) -> BTreeMap<Term, Vec<NodeId>> {
        let mut m: BTreeMap<Term, Vec<NodeId>> = BTreeMap::new();
        for n in self.nodes.values().filter(|n| self.connected.contains(&n.id)) {
            if let Some(s) = n.raft.as_ref().map(|r| r.status())
                && s.role == Role::Leader
            {
                m.entry(s.term).or_default().push(s.id);
            }
        }
        m
    }

    pub fn term(&self, id: NodeId) -> Term {
        self.status(id).map_or(Term(0), |s| s.term)
    }

    // ----- the event loop ---------------------------------------------------------------------------

    fn record(&mut self, line: String) {
        if self.keep_trace {
            self.trace.push(format!("{} {line}", self.now));
        }
        if self.recent.len() >= 40 {
            self.recent.pop_front();
        }
        self.recent.push_back(format!("{} {line}", self.now));
    }

    pub fn trace(&self) -> &[String] {
        &self.trace
    }

    fn send(&mut self, m: Message) {
        self.stats.sent += 1;
        match &m.body {
            MessageBody::AppendEntries { entries, .. } => {
                self.stats.append += 1;
                if !entries.is_empty() {
                    self.stats.append_with_entries += 1;
                }
                for e in entries {
                    if let Payload::Command(c) = &e.payload {
                        self.stats.entry_bytes += c.len() as u64;
                    }
                }
            }
            MessageBody::AppendEntriesResponse { success: false, .. } => self.stats.append_rejected += 1,
            MessageBody::RequestVote { .. } => self.stats.votes += 1,
            MessageBody::InstallSnapshot { .. } => self.stats.snapshots += 1,
            _ => {}
        }
        if !self.link_up(m.from, m.to) {
            return;
        }
        if let Some(f) = self.hold.as_mut()
            && f(&m)
        {
            self.held.push(m);
            return;
        }
        let net = self.net;
        if net.drop > 0.0 && self.rng.random_bool(net.drop) {
            return;
        }
        let copies = if net.duplicate > 0.0 && self.rng.random_bool(net.duplicate) { 2 } else { 1 };
        for _ in 0..copies {
            let mut delay = self.rng.random_range(net.min_delay..=net.max_delay);
            if net.long > 0.0 && self.rng.random_bool(net.long) {
                delay += self.rng.random_range(0..=net.long_delay);
            }
            self.seq += 1;
            let key = self.seq as usize;
            self.in_flight.insert(key, m.clone());
            self.queue.push(Reverse((self.now + delay, self.seq, key)));
        }
    }

    /// Runs one event (a delivery or a round of ticks). Returns false once a violation was found.
    pub fn step(&mut self) -> bool {
        if self.violation.is_some() {
            return false;
        }
        let next_msg = self.queue.peek().map(|Reverse((t, _, _))| *t);
        if next_msg.is_some_and(|t| t <= self.next_tick) {
            let Reverse((t, _, key)) = self.queue.pop().unwrap();
            self.now = t;
            // Gone when its receiver crashed meanwhile (`crash_loses_in_flight`).
            let Some(m) = self.in_flight.remove(&key) else { return true };
            // A partition that appeared while the message was in flight drops it too.
            if self.link_up(m.from, m.to) && self.is_up(m.to) {
                self.stats.delivered += 1;
                let to = m.to;
                if self.keep_trace {
                    self.record(format!(
                        "deliver n{}->n{} t{} {}",
                        m.from.0,
                        m.to.0,
                        m.term.0,
                        kind(&m.body)
                    ));
                }
                self.nodes.get_mut(&to).unwrap().raft.as_mut().unwrap().step(m);
                self.drain(to);
            }
        } else {
            self.now = self.next_tick;
            self.next_tick += TICK;
            for id in self.ids() {
                if let Some(r) = self.nodes.get_mut(&id).unwrap().raft.as_mut() {
                    r.tick();
                    self.drain(id);
                }
            }
        }
        self.violation.is_none()
    }

    /// Delivers a message at once (a held one, typically), if its destination is up.
    pub fn deliver_now(&mut self, m: Message) {
        let to = m.to;
        if self.is_up(to) {
            self.record(format!("deliver now n{}->n{} t{} {}", m.from.0, m.to.0, m.term.0, kind(&m.body)));
            self.nodes.get_mut(&to).unwrap().raft.as_mut().unwrap().step(m);
            self.drain(to);
        }
    }

    /// Runs for `ticks` ticks of simulated time.
    pub fn run_ticks(&mut self, ticks: u64) -> bool {
        let end = self.now + ticks * TICK;
        while self.now < end {
            if !self.step() {
                return false;
            }
        }
        true
    }

    /// Runs until `cond` holds (true) or `ticks` ticks pass (false).
    pub fn run_until(&mut self, ticks: u64, mut cond: impl FnMut(&Sim) -> bool) -> bool {
        let end = self.now + ticks * TICK;
        while self.now < end {
            if cond(self) {
                return true;
            }
            if !self.step() {
                return false;
            }
        }
        cond(self)
    }

    /// Panics with the replay command if an invariant was violated.
    pub fn assert_ok(&self) {
        if let Some(v) = &self.violation {
            panic!(
                "{v}\nrecent events:\n  {}\nreplay with: {}",
                self.recent.iter().cloned().collect::<Vec<_>>().join("\n  "),
                self.replay()
            );
        }
    }

    /// Panics with the replay command.
    pub fn fail(&self, what: &str) -> ! {
        panic!("{what}\nseed {}; replay with: {}", self.cfg.seed, self.replay());
    }

    // ----- the shell ----------------------------------------------------------------------------------

    fn drain(&mut self, id: NodeId) {
        loop {
            let node = self.nodes.get_mut(&id).unwrap();
            let Some(raft) = node.raft.as_mut() else { return };
            if !raft.has_ready() {
                break;
            }
            let rd = raft.ready();
            self.handle_ready(id, rd);
            if let Some(r) = self.nodes.get_mut(&id).unwrap().raft.as_mut() {
                r.advance();
            }
            self.maybe_snapshot(id);
        }
        self.check_node(id);
    }

    fn handle_ready(&mut self, id: NodeId, rd: Ready) {
        let Ready {
            messages,
            persisted_messages,
            hard_state,
            entries,
            snapshot,
            committed_entries,
            read_states,
            dropped_reads,
        } = rd;
        let is_leader = self.status(id).is_some_and(|s| s.role == Role::Leader);
        // 1. Persist.
        {
            let node = self.nodes.get_mut(&id).unwrap();
            if let Some(s) = snapshot {
                let keep = node.storage.term_at(s.last_index) == Some(s.last_term);
                if keep {
                    let si = node.storage.snapshot_index();
                    let drop = (s.last_index.0 - si.0) as usize;
                    node.storage.entries.drain(..drop.min(node.storage.entries.len()));
                } else {
                    node.storage.entries.clear();
                }
                node.sm = Register::decode(&s.data);
                node.storage.snapshot = Some(s);
            }
        }
        if let Some(first) = entries.first() {
            let node = self.nodes.get_mut(&id).unwrap();
            let last = node.storage.last_index();
            if is_leader && first.index <= last {
                self.violate(format!(
                    "§5.3 Leader Append-Only: leader n{} overwrites its entries from {} (last {last})",
                    id.0, first.index
                ));
            }
            let node = self.nodes.get_mut(&id).unwrap();
            let si = node.storage.snapshot_index();
            assert!(
                first.index > si && first.index.0 <= last.0 + 1,
                "n{}: entries from {} after {last}",
                id.0,
                first.index
            );
            node.storage.entries.truncate((first.index.0 - si.0 - 1) as usize);
            node.storage.entries.extend(entries.iter().cloned());
            for e in &entries {
                self.check_log_matching(id, e);
            }
        }
        if let Some(hs) = hard_state {
            self.nodes.get_mut(&id).unwrap().storage.hard_state = hs;
        }
        // 2. Send.
        for m in messages.into_iter().chain(persisted_messages) {
            self.send(m);
        }
        // 3. Apply.
        for e in committed_entries {
            self.apply(id, e);
        }
        // 4. Reads: release once applied far enough.
        for ctx in dropped_reads {
            if let Some(op) = self.open_reads.remove(&(id, ctx)) {
                let t = self.op_time();
                self.history[op].complete = Some(t);
                self.history[op].failed = true;
            }
        }
        let node = self.nodes.get_mut(&id).unwrap();
        node.pending_reads.extend(read_states.iter().map(|r| (r.ctx, r.index)));
        self.serve_reads(id);
    }

    fn apply(&mut self, id: NodeId, e: Entry) {
        let node = self.nodes.get_mut(&id).unwrap();
        if e.index <= node.sm.applied {
            return; // covered by a snapshot installed in the same Ready
        }
        if e.index != node.sm.applied.next() {
            let msg = format!("n{} applies entry {} after {}: a gap", id.0, e.index, node.sm.applied);
            self.violate(msg);
            return;
        }
        node.sm.applied = e.index;
        if let Some(v) = command_value(&e.payload) {
            node.sm.value = v;
        }
        node.applied.insert(e.index, e.payload.clone());
        // §5.4.3 State Machine Safety: no two servers apply different commands at one index.
        match self.inv.applied.get(&e.index) {
            Some(p) if *p != e.payload => {
                let msg = format!(
                    "§5.4.3 State Machine Safety violated: n{} applies {:?} at index {} where another server applied {:?}",
                    id.0, e.payload, e.index, p
                );
                self.violate(msg);
            }
            Some(_) => {}
            None => {
                self.inv.applied.insert(e.index, e.payload.clone());
            }
        }
        if let Some(op) = self.open_writes.remove(&(id, e.index)) {
            let t = self.op_time();
            self.history[op].complete = Some(t);
            if self.history[op].index.map(|(_, t)| t) != Some(e.term) {
                self.history[op].failed = true; // another entry committed at its index: not applied
            }
        }
    }

    fn serve_reads(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).unwrap();
        let applied = node.sm.applied;
        let value = node.sm.value;
        let (ready, wait): (Vec<_>, Vec<_>) = node.pending_reads.drain(..).partition(|(_, i)| *i <= applied);
        node.pending_reads = wait;
        for (ctx, _) in ready {
            if let Some(op) = self.open_reads.remove(&(id, ctx)) {
                let t = self.op_time();
                self.history[op].complete = Some(t);
                self.history[op].read = Some(value);
            }
        }
    }

    fn maybe_snapshot(&mut self, id: NodeId) {
        let Some(every) = self.cfg.snapshot_every else { return };
        let node = self.nodes.get_mut(&id).unwrap();
        let Some(raft) = node.raft.as_mut() else { return };
        let si = node.storage.snapshot_index();
        if node.sm.applied.0 < si.0 + every {
            return;
        }
        let index = node.sm.applied;
        let data = node.sm.encode();
        let term = node.storage.term_at(index).unwrap();
        raft.compact(index, data.clone()).unwrap();
        let drop = (index.0 - si.0) as usize;
        node.storage.entries.drain(..drop);
        node.storage.snapshot = Some(Snapshot { last_index: index, last_term: term, data });
    }

    // ----- invariants ---------------------------------------------------------------------------------

    fn violate(&mut self, what: String) {
        if self.violation.is_none() {
            self.record(format!("VIOLATION {what}"));
            self.violation = Some(format!("seed {}: {what}", self.cfg.seed));
        }
    }

    /// §5.3 Log Matching Property, incrementally: an entry with a given index and term always carries the
    /// same command and follows an entry of the same term, so by induction two logs that share an entry
    /// share the whole prefix before it.
    fn check_log_matching(&mut self, id: NodeId, e: &Entry) {
        let storage = &self.nodes[&id].storage;
        let prev = if e.index.0 == 1 { Some(Term(0)) } else { storage.term_at(e.index.prev()) };
        match self.inv.entries.get(&(e.index, e.term)) {
            Some((payload, prev_term)) => {
                let bad_prev = prev.is_some() && prev_term.is_some() && prev != *prev_term;
                if *payload != e.payload || bad_prev {
                    let msg = format!(
                        "§5.3 Log Matching violated at n{} index {} term {}: {:?} after term {:?}, elsewhere {:?} after term {:?}",
                        id.0, e.index, e.term, e.payload, prev, payload, prev_term
                    );
                    self.violate(msg);
                }
            }
            None => {
                self.inv.entries.insert((e.index, e.term), (e.payload.clone(), prev));
            }
        }
    }

    fn check_node(&mut self, id: NodeId) {
        let Some(status) = self.status(id) else { return };
        // §5.2 Election Safety: at most one leader per term.
        if status.role == Role::Leader {
            match self.inv.leaders.get(&status.term) {
                Some(l) if *l != id => {
                    let msg = format!(
                        "§5.2 Election Safety violated: n{} and n{} both lead term {}",
                        l.0, id.0, status.term
                    );
                    self.violate(msg);
                }
                Some(_) => {}
                None => {
                    self.inv.leaders.insert(status.term, id);
                }
            }
            let was = self.inv.roles.get(&id).copied();
            if was != Some((Role::Leader, status.term)) {
                self.record(format!("n{} leads term {}", id.0, status.term.0));
                self.check_leader_completeness(id, status.term);
            }
        }
        self.inv.roles.insert(id, (status.role, status.term));
        // Figure 2: commitIndex increases monotonically (it is in the persisted hard state).
        let last = self.inv.commit.get(&id).copied().unwrap_or_default();
        if status.commit < last {
            let msg = format!(
                "Figure 2 monotonic commit violated: n{} commit went from {last} to {}",
                id.0, status.commit
            );
            self.violate(msg);
        }
        self.inv.commit.insert(id, status.commit);
        // Register newly committed entries.
        let from = self
            .inv
            .registered
            .get(&id)
            .copied()
            .unwrap_or_default()
            .max(self.nodes[&id].storage.snapshot_index());
        let mut i = from.next();
        while i <= status.commit {
            let Some(e) = self.nodes[&id].storage.entry(i).cloned() else { break };
            match self.inv.committed.get(&i) {
                Some((t, p)) if *t != e.term || *p != e.payload => {
                    let msg = format!(
                        "§5.4 committed entry changed: n{} committed ({}, term {}) {:?} but ({}, term {}) {:?} was committed",
                        id.0, i, e.term, e.payload, i, t, p
                    );
                    self.violate(msg);
                }
                Some(_) => {}
                None => {
                    self.inv.committed.insert(i, (e.term, e.payload));
                }
            }
            i = i.next();
        }
        self.inv.registered.insert(id, status.commit);
    }

    /// §5.4 Leader Completeness: a leader's log holds every entry committed before its election.
    fn check_leader_completeness(&mut self, id: NodeId, term: Term) {
        let storage = &self.nodes[&id].storage;
        let si = storage.snapshot_index();
        let missing = self.inv.committed.iter().find(|(i, (t, p))| {
            **i > si && storage.entry(**i).is_none_or(|e| e.term != *t || e.payload != *p)
        });
        if let Some((i, (t, _))) = missing {
            let msg = format!(
                "§5.4 Leader Completeness violated: n{} leads term {term} without committed entry ({i}, term {t})",
                id.0
            );
            self.violate(msg);
        }
    }

    // ----- clients ------------------------------------------------------------------------------------

    /// The real-time position of a client event. The simulation is sequential, so a counter orders
    /// events exactly, even several at one simulated instant.
    fn op_time(&mut self) -> u64 {
        self.op_clock += 1;
        self.op_clock
    }

    /// Proposes a raw command at `id`; returns where it was accepted.
    pub fn propose(&mut self, id: NodeId, cmd: Vec<u8>) -> Option<(LogIndex, Term)> {
        let r = self.nodes.get_mut(&id).unwrap().raft.as_mut()?.propose(cmd).ok();
        self.drain(id);
        r
    }

    /// Asks `id` to hand leadership to `to`.
    pub fn transfer_leadership(&mut self, id: NodeId, to: NodeId) {
        if self.is_up(id) {
            self.record(format!("transfer n{} -> n{}", id.0, to.0));
            self.nodes.get_mut(&id).unwrap().raft.as_mut().unwrap().transfer_leadership(to);
            self.drain(id);
        }
    }

    /// A register write of a fresh unique value through `id`, recorded in the history.
    pub fn client_write(&mut self, id: NodeId) -> Option<u64> {
        let value = self.next_value;
        self.next_value += 1;
        let at = self.propose(id, command(value))?;
        let invoke = self.op_time();
        self.history.push(Op {
            node: id,
            write: Some(value),
            invoke,
            complete: None,
            index: Some(at),
            read: None,
            failed: false,
        });
        self.open_writes.insert((id, at.0), self.history.len() - 1);
        Some(value)
    }

    /// A linearizable read through `id`, recorded in the history.
    pub fn client_read(&mut self, id: NodeId) -> bool {
        let ctx = self.next_ctx;
        self.next_ctx += 1;
        let Some(raft) = self.nodes.get_mut(&id).unwrap().raft.as_mut() else { return false };
        if raft.read_index(ctx).is_err() {
            return false;
        }
        let invoke = self.op_time();
        self.history.push(Op {
            node: id,
            write: None,
            invoke,
            complete: None,
            index: None,
            read: None,
            failed: false,
        });
        self.open_reads.insert((id, ctx), self.history.len() - 1);
        self.drain(id);
        true
    }

    /// How many servers applied `index`, and the command they applied (6.824's nCommitted).
    pub fn n_committed(&self, index: LogIndex) -> (usize, Option<Payload>) {
        let mut count = 0;
        let mut cmd = None;
        for n in self.nodes.values() {
            if n.sm.applied < index {
                continue;
            }
            let p = n.applied.get(&index).cloned().or_else(|| self.inv.applied.get(&index).cloned());
            if let Some(p) = p {
                count += 1;
                cmd = Some(p);
            }
        }
        (count, cmd)
    }

    /// 6.824's `one()`: submit `cmd` until `expected` servers applied it; returns its index.
    pub fn one(&mut self, cmd: Vec<u8>, expected: usize, retry: bool) -> LogIndex {
        let start = self.now;
        while self.now < start + 1000 * TICK {
            let mut at = None;
            for id in self.ids() {
                if self.is_connected(id)
                    && self.status(id).is_some_and(|s| s.role == Role::Leader)
                    && let Some(x) = self.propose(id, cmd.clone())
                {
                    at = Some(x);
                    break;
                }
            }
            if let Some((index, _)) = at {
                let t0 = self.now;
                while self.now < t0 + 200 * TICK {
                    let (n, c) = self.n_committed(index);
                    if n >= expected && c == Some(Payload::Command(cmd.clone())) {
                        return index;
                    }
                    if !self.step() {
                        self.assert_ok();
                    }
                }
                if !retry {
                    self.fail(&format!("one({cmd:?}) failed to reach agreement"));
                }
            } else if !self.run_ticks(5) {
                self.assert_ok();
            }
        }
        self.fail(&format!("one({cmd:?}) failed to reach agreement"))
    }

    /// Checks the read/write history of the register for linearizability (see `check_register`).
    pub fn check_linearizable(&self) -> Result<(), String> {
        check_register(&self.history)
    }

    pub fn report(&self) -> String {
        let mut s = String::new();
        for n in self.nodes.values() {
            let _ = writeln!(s, "n{}: {:?}", n.id.0, n.raft.as_ref().map(|r| r.status()));
        }
        s
    }
}

fn kind(b: &MessageBody) -> String {
    match b {
        MessageBody::RequestVote { pre_vote, .. } => format!("RequestVote pre={pre_vote}"),
        MessageBody::RequestVoteResponse { pre_vote, granted } => {
            format!("VoteResp pre={pre_vote} granted={granted}")
        }
        MessageBody::AppendEntries { prev_log_index, entries, leader_commit, .. } => {
            format!("Append prev={} n={} commit={}", prev_log_index.0, entries.len(), leader_commit.0)
        }
        MessageBody::AppendEntriesResponse { success, match_index, .. } => {
            format!("AppendResp ok={success} match={}", match_index.0)
        }
        MessageBody::InstallSnapshot { snapshot } => format!("Snapshot {}", snapshot.last_index.0),
        MessageBody::InstallSnapshotResponse { last_index } => format!("SnapshotResp {}", last_index.0),
        MessageBody::TimeoutNow => "TimeoutNow".into(),
    }
}

/// A linearizability check for one register whose writes carry unique values.
///
/// Writes are totally ordered by their log index (the log is the linearization of writes). A history
/// is linearizable iff every read can be placed after the write it observed and before any later write:
/// - a read may not return a value whose write started after the read finished;
/// - a read may not return a value older than a write that completed before the read started;
/// - of two reads in real-time order, the second may not observe an older write.
pub fn check_register(history: &[Op]) -> Result<(), String> {
    let mut write_at: HashMap<u64, (LogIndex, &Op)> = HashMap::new();
    for op in history {
        if let (Some(v), Some((i, _))) = (op.write, op.index)
            && !op.failed
        {
            write_at.insert(v, (i, op));
        }
    }
    let reads: Vec<&Op> = history.iter().filter(|o| o.write.is_none() && o.read.is_some()).collect();
    let source = |v: u64| -> Result<LogIndex, String> {
        if v == 0 {
            return Ok(LogIndex(0));
        }
        write_at.get(&v).map(|(i, _)| *i).ok_or_else(|| format!("a read returned {v}, which no write wrote"))
    };
    for r in &reads {
        let v = r.read.unwrap();
        let i = source(v)?;
        let done = r.complete.unwrap();
        if v != 0 && write_at[&v].1.invoke > done {
            return Err(format!("read at n{} returned {v} before its write started", r.node.0));
        }
        for (w, (j, op)) in &write_at {
            if *j > i && op.complete.is_some_and(|c| c < r.invoke) && !op.failed {
                return Err(format!(
                    "stale read: read at n{} (invoked t={}) returned {v} (index {i}) but write {w} (index {j}) completed at t={}",
                    r.node.0,
                    r.invoke,
                    op.complete.unwrap()
                ));
            }
        }
    }
    for a in &reads {
        for b in &reads {
            if a.complete.unwrap() < b.invoke && source(a.read.unwrap())? > source(b.read.unwrap())? {
                return Err(format!(
                    "non-monotonic reads: a read at n{} saw {:?}, a later read at n{} saw the older {:?}",
                    a.node.0, a.read, b.node.0, b.read
                ));
            }
        }
    }
    Ok(())
}
