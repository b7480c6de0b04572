//! Fault schedules: which fault, against what, and when.
//!
//! Two shapes. `--nemesis partition,kill,pause --nemesis-interval 10s` becomes a seeded alternating
//! [`schedule`]: at every interval it alternates between starting one fault (its kind and target
//! drawn from the seed) and healing everything. `--nemesis composed` (the default) becomes a composed
//! schedule of episodes aimed by role and spaced in elections ([`crate::compose`]); [`draw`] picks
//! the shape. Either way the last entry, at the end of the run phase, always heals. Targets that
//! depend on the cluster's state at that moment (the leader, the node that just won, the node just
//! restarted) stay symbolic here ([`Target`]) and are resolved by the harness with
//! [`Target::resolve`], a pure function of the nemesis's [`View`] it records the result of, so the
//! history says exactly which nodes were hit.

use crate::WorkloadError;
use crate::generator::Nanos;
use crate::topology::{Grudge, Topology, View};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A family of faults the user can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// Network partitions ([`Topology`]).
    Partition,
    /// SIGKILL, restarted at the next heal.
    Kill,
    /// SIGSTOP, continued at the next heal.
    Pause,
    /// Random packet loss on some links.
    Loss,
    /// Added latency on some links (through the harness's proxy).
    Latency,
    /// One kind of message dropped on some links, the others delivered: a kind of Raft message for
    /// raft-node (the harness's proxy reads its frames), a body type of `message_types` for
    /// Maelstrom nodes (the harness is their network).
    Drop,
    /// Some messages delivered twice on some links (message networks only: Maelstrom nodes).
    Duplicate,
    /// Messages held back by random times on some links, so they overtake one another (message
    /// networks only: Maelstrom nodes).
    Reorder,
    /// Power cut: SIGKILL, and every write not yet fsynced is lost (each node's data directory is
    /// mounted through the harness's lazyfs); restarted at the next heal.
    #[serde(rename = "power-loss")]
    PowerLoss,
    /// One of a stopped node's data files damaged (bits flipped, truncated, a range zeroed), then the
    /// node restarted. On a minority of nodes.
    Corrupt,
}

impl FaultKind {
    pub const ALL: [FaultKind; 10] = [
        FaultKind::Partition,
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::Loss,
        FaultKind::Latency,
        FaultKind::Drop,
        FaultKind::Duplicate,
        FaultKind::Reorder,
        FaultKind::PowerLoss,
        FaultKind::Corrupt,
    ];

    /// Whether this kind needs every peer link to pass through the harness's proxy.
    pub fn needs_proxy(self) -> bool {
        matches!(self, FaultKind::Latency | FaultKind::Drop)
    }

    /// Whether this kind needs each node's data directory mounted through the harness's lazyfs.
    pub fn needs_lazyfs(self) -> bool {
        self == FaultKind::PowerLoss
    }

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Partition => "partition",
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
            FaultKind::Loss => "loss",
            FaultKind::Latency => "latency",
            FaultKind::Drop => "drop",
            FaultKind::Duplicate => "duplicate",
            FaultKind::Reorder => "reorder",
            FaultKind::PowerLoss => "power-loss",
            FaultKind::Corrupt => "corrupt",
        }
    }

    /// Whether this kind acts on single messages (it needs a network that sees message boundaries).
    pub fn is_message_level(self) -> bool {
        matches!(self, FaultKind::Drop | FaultKind::Duplicate | FaultKind::Reorder)
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which nodes a process fault hits, resolved against the cluster when the fault starts.
///
/// The role targets (`leader`, `new-leader`, `previous-leader`, `leader-side`, `followers`) and the
/// history targets (`restarted`) read the [`View`] the nemesis builds at fire time
/// ([`crate::RoleHistory`]); when the role they name is not known at that moment (no leader answered,
/// nobody restarted yet) they fall back to one random node, and the harness records the outcome as
/// indeterminate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// One random node.
    One,
    /// The current leader (a random node when none is known).
    Leader,
    /// A random minority (at least one node).
    Minority,
    /// A random majority.
    Majority,
    /// Every node.
    All,
    /// The nodes the partition in force leaves connected to every other node in both directions (the
    /// bridge of a `bridge` partition); one random node when there is none. Lets a schedule hit the
    /// node a previous step made special, e.g. crash the bridge between two elections.
    Bridge,
    /// One side of the partition in force: a random node that some cut touches, with every such node
    /// it reaches and hears without a cut (for a `bridge` partition, one of the two halves). One
    /// random node when no partition is in force.
    Side,
    /// The leader if it won after the previous fault fired ("the node that just won"): after a
    /// partition, the leader the majority elected. Falls back to the current leader.
    NewLeader,
    /// The last leader before the current one (with no leader now, the last one known).
    PreviousLeader,
    /// The leader and every node on its side of the partition in force (the minority holding the
    /// leader after a `leader-minority` cut); the leader alone when no partition is in force.
    LeaderSide,
    /// Every node but the leader.
    Followers,
    /// The node the nemesis restarted or continued most recently.
    Restarted,
    /// The node whose event ended the last [`Fault::Await`] (the voter that just granted a vote, the
    /// node that just stood for election or won): a fault aimed within milliseconds of that moment,
    /// where status polls four times a second could not aim.
    Triggered,
    /// The other node that event names: the candidate a vote was granted to (a node elected or
    /// standing names none, and this falls back to a random node).
    TriggeredPeer,
}

impl Target {
    /// Every target, for generators that draw one.
    pub const ALL: [Target; 14] = [
        Target::One,
        Target::Leader,
        Target::Minority,
        Target::Majority,
        Target::All,
        Target::Bridge,
        Target::Side,
        Target::NewLeader,
        Target::PreviousLeader,
        Target::LeaderSide,
        Target::Followers,
        Target::Restarted,
        Target::Triggered,
        Target::TriggeredPeer,
    ];

    /// The node this target names in `view`, for the role and history targets; None for the others
    /// and when the role is unknown.
    fn role_node<'a>(self, view: &View<'a>) -> Option<&'a str> {
        match self {
            Target::Leader | Target::LeaderSide | Target::Followers => view.leader,
            Target::NewLeader => view.new_leader.or(view.leader),
            Target::PreviousLeader => view.previous_leader,
            Target::Restarted => view.restarted,
            Target::Triggered => view.triggered,
            Target::TriggeredPeer => view.triggered_peer,
            _ => None,
        }
    }

    /// Whether this target names a role or a history entry that `view` does not know (then it was
    /// resolved to a random node).
    pub fn unknown_in(self, view: &View<'_>) -> bool {
        let role = matches!(
            self,
            Target::Leader
                | Target::NewLeader
                | Target::PreviousLeader
                | Target::LeaderSide
                | Target::Followers
                | Target::Restarted
                | Target::Triggered
                | Target::TriggeredPeer
        );
        role && self.role_node(view).is_none()
    }

    /// The nodes to hit, in node order. `view` is what the nemesis knows of roles at this moment,
    /// `cut` is the partition in force (empty when the network is whole).
    pub fn resolve(
        self,
        nodes: &[String],
        view: View<'_>,
        cut: &Grudge,
        rng: &mut ChaCha8Rng,
    ) -> Vec<String> {
        let mut shuffled = nodes.to_vec();
        shuffled.shuffle(rng);
        let n = nodes.len();
        let known = |name: Option<&str>| name.filter(|l| nodes.iter().any(|n| n == l)).map(str::to_string);
        let role = known(self.role_node(&view));
        let one = |shuffled: Vec<String>| -> Vec<String> { shuffled.into_iter().take(1).collect() };
        let mut chosen = match self {
            Target::One => one(shuffled),
            Target::Leader
            | Target::NewLeader
            | Target::PreviousLeader
            | Target::Restarted
            | Target::Triggered
            | Target::TriggeredPeer => match role {
                Some(l) => vec![l],
                None => one(shuffled),
            },
            Target::Minority => {
                let k = rng.random_range(1..=((n - 1) / 2).max(1));
                shuffled.into_iter().take(k).collect()
            }
            Target::Majority => shuffled.into_iter().take(n / 2 + 1).collect(),
            Target::All => shuffled,
            Target::Bridge => {
                let whole: Vec<String> = shuffled.iter().filter(|n| !cut.touches(n)).cloned().collect();
                if whole.is_empty() || cut.is_empty() { one(shuffled) } else { whole }
            }
            Target::Side => match shuffled.iter().find(|n| cut.touches(n)) {
                None => one(shuffled),
                Some(first) => side_of(first, &shuffled, cut),
            },
            Target::LeaderSide => match role {
                Some(l) if cut.touches(&l) => side_of(&l, &shuffled, cut),
                Some(l) => vec![l],
                None => one(shuffled),
            },
            Target::Followers => match role {
                Some(l) => shuffled.into_iter().filter(|n| *n != l).collect(),
                None => shuffled.into_iter().take(n.saturating_sub(1).max(1)).collect(),
            },
        };
        // Reports and the history read better in node order.
        chosen.sort_by_key(|name: &String| (name.len(), name.clone()));
        chosen
    }

    pub fn name(self) -> &'static str {
        match self {
            Target::One => "one",
            Target::Leader => "leader",
            Target::Minority => "minority",
            Target::Majority => "majority",
            Target::All => "all",
            Target::Bridge => "bridge",
            Target::Side => "side",
            Target::NewLeader => "new-leader",
            Target::PreviousLeader => "previous-leader",
            Target::LeaderSide => "leader-side",
            Target::Followers => "followers",
            Target::Restarted => "restarted",
            Target::Triggered => "triggered",
            Target::TriggeredPeer => "triggered-peer",
        }
    }
}

/// `first` and every node that some cut touches and that `first` reaches and hears without a cut.
fn side_of(first: &str, nodes: &[String], cut: &Grudge) -> Vec<String> {
    nodes
        .iter()
        .filter(|n| n.as_str() == first || (cut.touches(n) && !cut.is_cut(first, n) && !cut.is_cut(n, first)))
        .cloned()
        .collect()
}

/// One fault as scheduled (symbolic targets), or the heal that ends it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "lowercase")]
pub enum Fault {
    Partition {
        topology: Topology,
    },
    Kill {
        target: Target,
    },
    Pause {
        target: Target,
    },
    /// Drop each packet on the topology's links with this probability.
    Loss {
        topology: Topology,
        probability: f64,
    },
    /// Delay traffic on the topology's links by this many milliseconds, plus up to `jitter_ms` more
    /// drawn for each chunk of a stream (order within a connection is kept, as TCP keeps it) or each
    /// message. Jitter is what real slow links have (Jepsen's `slow` nemesis asks netem for it):
    /// two links slowed alike still deliver at different moments, so a message sent later on one
    /// link can arrive before one sent earlier on another.
    Latency {
        topology: Topology,
        delay_ms: u64,
        #[serde(default, skip_serializing_if = "is_zero")]
        jitter_ms: u64,
    },
    /// Drop every message of one kind on the topology's links and deliver the rest.
    Drop {
        topology: Topology,
        messages: Messages,
    },
    /// Drop every message whose body `type` is `body_type` on the topology's links and deliver the
    /// rest (message networks: Maelstrom nodes).
    #[serde(rename = "drop-type")]
    DropType {
        topology: Topology,
        body_type: String,
    },
    /// Deliver each message on the topology's links a second time with this probability (message
    /// networks only).
    Duplicate {
        topology: Topology,
        probability: f64,
    },
    /// Hold each message on the topology's links back by a random time up to `window_ms`, so later
    /// messages overtake earlier ones (message networks only).
    Reorder {
        topology: Topology,
        window_ms: u64,
    },
    /// Stop dropping messages on the topology's links (undoes `drop` there; cuts, loss and latency stay).
    Deliver {
        topology: Topology,
    },
    /// Cut the power of the target's nodes: SIGKILL, and what they wrote but did not fsync is lost.
    /// They stay down until a heal or restart, like killed nodes.
    #[serde(rename = "power-loss")]
    PowerLoss {
        target: Target,
    },
    /// Stop each of the target's nodes, damage one of its data files (drawn from the seed), and
    /// start it again. Schedules drawn from `--nemesis corrupt` aim at one node or a minority; a
    /// given schedule (a matrix scenario) may aim wider.
    Corrupt {
        target: Target,
        damage: Damage,
    },
    /// Bring the target's nodes back (restart the ones that are down, continue the paused ones) and
    /// leave the network faults in force, so a crashed node comes back into the partition it crashed
    /// in. Nodes outside the target stay down or paused.
    Restart {
        target: Target,
    },
    /// End every fault: remove cuts, loss and latency, continue paused and restart killed nodes.
    Heal,
    /// Not a fault: wait until a node reports `event` (at most `within` election times), so that the
    /// next step (usually `after: 0`, aimed at [`Target::Triggered`]) fires the moment it happens.
    /// The harness learns of events from the nodes' own log lines, within milliseconds; when none
    /// comes in time (the system logs no such events, or none happened) the wait ends unmet and
    /// the next step's `triggered` target falls back to a random node, as an unknown role does.
    Await {
        event: Event,
        within: f64,
    },
}

/// A moment in a node's elections that a [`Fault::Await`] waits for, as the node's own log tells it.
///
/// Why: the windows some bugs live in are a few milliseconds wide and open at a moment nobody can
/// schedule in advance (a voter that forgot its vote across a restart grants a second candidate of
/// the same term only if it crashed *after* its first grant and came back before the second
/// request). Mallory (CCS 2023) steers faults by the events it observes as the system runs; the
/// schedule here stays a value drawn before the run (so it replays and shrinks), and only the
/// moment of a step is taken from the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    /// A node stood for election (a real candidacy, not a pre-vote round); the node is the candidate.
    Candidate,
    /// A node granted its vote to a candidate; the node is the voter.
    VoteGranted,
    /// A node became leader; the node is the new leader.
    Elected,
}

impl Event {
    pub const ALL: [Event; 3] = [Event::Candidate, Event::VoteGranted, Event::Elected];

    pub fn name(self) -> &'static str {
        match self {
            Event::Candidate => "candidate",
            Event::VoteGranted => "vote-granted",
            Event::Elected => "elected",
        }
    }
}

impl Fault {
    /// The history's `f` for the nemesis event that starts this fault.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Partition { .. } => "partition",
            Fault::Kill { .. } => "kill",
            Fault::Pause { .. } => "pause",
            Fault::Loss { .. } => "loss",
            Fault::Latency { .. } => "latency",
            Fault::Drop { .. } | Fault::DropType { .. } => "drop",
            Fault::Duplicate { .. } => "duplicate",
            Fault::Reorder { .. } => "reorder",
            Fault::Deliver { .. } => "deliver",
            Fault::PowerLoss { .. } => "power-loss",
            Fault::Corrupt { .. } => "corrupt",
            Fault::Restart { .. } => "restart",
            Fault::Heal => "heal",
            Fault::Await { .. } => "await",
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Which Raft messages a [`Fault::Drop`] drops. The names are what a node sends in each role, so a
/// schedule can say "this node hears no leader" or "nobody hears this node campaign".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Messages {
    /// What only a leader sends: AppendEntries (heartbeats included), InstallSnapshot, TimeoutNow.
    /// A node that receives none of these keeps granting votes but never learns who won.
    Appends,
    /// Vote requests, pre-votes included (the answers still flow).
    Votes,
}

impl Messages {
    pub const ALL: [Messages; 2] = [Messages::Appends, Messages::Votes];
}

/// How a [`Fault::Corrupt`] damages a file: at an offset the harness draws from the seed among the
/// file's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Damage {
    /// Flip one bit in each of a few bytes from the offset on (bit rot, a bad sector read back).
    FlipBits,
    /// Cut the file at the offset (a lost tail).
    Truncate,
    /// Overwrite a range from the offset with zeros (a write that never reached the platter).
    Zero,
}

impl Damage {
    pub const ALL: [Damage; 3] = [Damage::FlipBits, Damage::Truncate, Damage::Zero];
}

impl Fault {
    /// Whether this fault needs every peer link to pass through the harness's proxy.
    pub fn needs_proxy(&self) -> bool {
        matches!(self, Fault::Latency { .. } | Fault::Drop { .. } | Fault::Deliver { .. })
    }

    /// The kind of fault this is (None for restarts and heals, which undo faults).
    pub fn kind(&self) -> Option<FaultKind> {
        Some(match self {
            Fault::Partition { .. } => FaultKind::Partition,
            Fault::Kill { .. } => FaultKind::Kill,
            Fault::Pause { .. } => FaultKind::Pause,
            Fault::Loss { .. } => FaultKind::Loss,
            Fault::Latency { .. } => FaultKind::Latency,
            Fault::Drop { .. } | Fault::DropType { .. } | Fault::Deliver { .. } => FaultKind::Drop,
            Fault::Duplicate { .. } => FaultKind::Duplicate,
            Fault::Reorder { .. } => FaultKind::Reorder,
            Fault::PowerLoss { .. } => FaultKind::PowerLoss,
            Fault::Corrupt { .. } => FaultKind::Corrupt,
            Fault::Restart { .. } | Fault::Heal | Fault::Await { .. } => return None,
        })
    }

    /// How resolving this fault depends on the roles (see [`Aim`]).
    pub fn aim(&self) -> Aim {
        match self {
            Fault::Partition { topology }
            | Fault::Loss { topology, .. }
            | Fault::Latency { topology, .. }
            | Fault::Drop { topology, .. }
            | Fault::DropType { topology, .. }
            | Fault::Duplicate { topology, .. }
            | Fault::Reorder { topology, .. }
            | Fault::Deliver { topology } => match topology {
                // Aimed at the previous leader, the current one only as a fallback.
                Topology::PreviousLeaderBridge => Aim::Roles,
                t if t.needs_leader() => Aim::Leader,
                _ => Aim::Fixed,
            },
            Fault::Kill { target }
            | Fault::Pause { target }
            | Fault::Restart { target }
            | Fault::PowerLoss { target }
            | Fault::Corrupt { target, .. } => match target {
                Target::Leader | Target::NewLeader | Target::LeaderSide | Target::Followers => Aim::Leader,
                Target::PreviousLeader => Aim::Roles,
                _ => Aim::Fixed,
            },
            Fault::Heal | Fault::Await { .. } => Aim::Fixed,
        }
    }

    /// Whether this fault is aimed at the node that leads now (so the harness waits a little for a
    /// leader to emerge when none answers), rather than at a role in the history.
    pub fn aims_at_leader(&self) -> bool {
        self.aim() == Aim::Leader
    }

    /// Whether resolving this fault depends on which node leads (so the harness should look at the
    /// cluster right before it acts, not trust a status poll that may be a few hundred ms old).
    pub fn needs_leader(&self) -> bool {
        self.aim() != Aim::Fixed
    }
}

/// How a fault's nodes depend on the roles when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aim {
    /// Not at all (random nodes drawn with the run's seed, the bridge, the restarted node).
    Fixed,
    /// On who led before, with who leads now as the fallback.
    Roles,
    /// On who leads now.
    Leader,
}

/// A fault with the run-relative time it is due at.
///
/// A step of a composed sequence is timed relative to the step before it, in elections: `after`
/// says "this many election times after the previous fault fired", where one election time is
/// measured from the run's own elections ([`crate::RoleHistory::election_time`]). `at` is then the
/// plan at the configured election timeout, and what a reader of `test.json` sees; the history has
/// when each fault really fired.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduledFault {
    pub at: Nanos,
    pub fault: Fault,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<f64>,
}

impl ScheduledFault {
    /// A fault due at `at`.
    pub fn at(at: Nanos, fault: Fault) -> ScheduledFault {
        ScheduledFault { at, fault, after: None }
    }

    /// Whether this is the heal that ends every schedule (or any heal).
    pub fn is_heal(&self) -> bool {
        self.fault == Fault::Heal
    }

    /// Whether this entry injects a fault (not a heal, not a wait for an event).
    pub fn is_fault(&self) -> bool {
        !matches!(self.fault, Fault::Heal | Fault::Await { .. })
    }
}

/// The user's nemesis choice: which kinds of fault, how often, alternating or composed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NemesisSpec {
    pub kinds: Vec<FaultKind>,
    /// Alternating schedules: time between a fault and its heal, and between a heal and the next
    /// fault. Composed schedules: the longest hold or quiet time ([`crate::compose`]).
    pub interval: Nanos,
    /// Body types of a message network's messages (Maelstrom nodes): a `drop` fault drops one of
    /// these, drawn from the seed. Empty: `drop` drops a kind of Raft message (raft-node).
    #[serde(default)]
    pub message_types: Vec<String>,
    /// Draw composed sequences ([`crate::compose`]) instead of alternating one fault with a heal.
    #[serde(default)]
    pub composed: bool,
}

/// The word of `--nemesis` that asks for composed sequences.
pub const COMPOSED: &str = "composed";

impl NemesisSpec {
    /// Parses `--nemesis`: `partition,kill,pause` (alternating), `composed` or
    /// `composed,partition,kill` (composed sequences of those kinds; `composed` alone: every kind the
    /// system supports, filled in by the caller), or `none` / empty for no faults.
    pub fn parse(s: &str, interval: Nanos) -> Result<NemesisSpec, WorkloadError> {
        let composed = s.split(',').any(|p| p.trim() == COMPOSED);
        let rest: Vec<&str> = s.split(',').filter(|p| p.trim() != COMPOSED).collect();
        Ok(NemesisSpec {
            kinds: NemesisSpec::parse_kinds(&rest.join(","))?,
            interval,
            message_types: Vec::new(),
            composed,
        })
    }

    /// The `--nemesis` words that give back this spec.
    pub fn words(&self, sep: &str) -> String {
        let mut words: Vec<&str> = Vec::new();
        if self.composed {
            words.push(COMPOSED);
        }
        words.extend(self.kinds.iter().map(|k| k.name()));
        if words.is_empty() { "none".to_string() } else { words.join(sep) }
    }

    /// Parses `partition,kill,pause` (or `none` / empty for no faults).
    pub fn parse_kinds(s: &str) -> Result<Vec<FaultKind>, WorkloadError> {
        let mut kinds = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty() && *p != "none") {
            let kind = FaultKind::ALL
                .into_iter()
                .find(|k| k.name() == part)
                .ok_or_else(|| WorkloadError::UnknownNemesis(part.to_string()))?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        Ok(kinds)
    }
}

impl FromStr for FaultKind {
    type Err = WorkloadError;
    fn from_str(s: &str) -> Result<FaultKind, WorkloadError> {
        FaultKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| WorkloadError::UnknownNemesis(s.into()))
    }
}

/// The fault schedule of `spec` over a run phase of `time_limit` on `nodes` nodes: composed sequences
/// ([`crate::compose::compose`], spaced in `election_timeout`s) or alternating faults ([`schedule`]).
pub fn draw(
    spec: &NemesisSpec,
    nodes: usize,
    time_limit: Nanos,
    seed: u64,
    election_timeout: Nanos,
) -> Result<Vec<ScheduledFault>, WorkloadError> {
    if spec.composed {
        let timing = crate::compose::Timing { election: election_timeout, long: spec.interval };
        crate::compose::compose(
            &spec.kinds,
            nodes,
            time_limit,
            seed,
            timing,
            &crate::compose::Weights::default(),
        )
    } else {
        schedule(spec, nodes, time_limit, seed)
    }
}

/// The fault schedule of a run phase of `time_limit` over `nodes` nodes: a fault at `interval`, a heal
/// at `2 * interval`, and so on, ending with a heal at `time_limit` (always present, so the run phase
/// ends healed even without faults). Deterministic in `seed`.
pub fn schedule(
    spec: &NemesisSpec,
    nodes: usize,
    time_limit: Nanos,
    seed: u64,
) -> Result<Vec<ScheduledFault>, WorkloadError> {
    if spec.interval == 0 && !spec.kinds.is_empty() {
        return Err(WorkloadError::NotPositive { field: "nemesis interval", value: "0s".into() });
    }
    if spec.kinds.contains(&FaultKind::Partition) && nodes < 2 {
        return Err(WorkloadError::TooFewNodes { what: "partitions", min: 2, nodes });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x004e_454d_4553_4953);
    let topologies: Vec<Topology> = Topology::ALL.into_iter().filter(|t| t.min_nodes() <= nodes).collect();
    let mut out = Vec::new();
    if !spec.kinds.is_empty() {
        let mut at = spec.interval;
        let mut faulty = false;
        while at < time_limit {
            let fault = if faulty {
                Fault::Heal
            } else {
                let kind = *spec.kinds.choose(&mut rng).expect("kinds is not empty here");
                let topology = *topologies.choose(&mut rng).expect("random-halves fits every n >= 2");
                match kind {
                    FaultKind::Partition => Fault::Partition { topology },
                    FaultKind::Kill => Fault::Kill {
                        target: *[
                            Target::One,
                            Target::Leader,
                            Target::Minority,
                            Target::Majority,
                            Target::All,
                        ]
                        .choose(&mut rng)
                        .expect("non-empty"),
                    },
                    FaultKind::Pause => Fault::Pause {
                        target: *[Target::One, Target::Leader, Target::Minority, Target::Majority]
                            .choose(&mut rng)
                            .expect("non-empty"),
                    },
                    FaultKind::Loss => Fault::Loss {
                        topology,
                        probability: *[0.1, 0.3, 0.5].choose(&mut rng).expect("non-empty"),
                    },
                    FaultKind::Latency => Fault::Latency {
                        topology,
                        delay_ms: *[20, 50, 100].choose(&mut rng).expect("non-empty"),
                        jitter_ms: 0,
                    },
                    FaultKind::Drop => match spec.message_types.choose(&mut rng) {
                        Some(body_type) => Fault::DropType { topology, body_type: body_type.clone() },
                        None => Fault::Drop {
                            topology,
                            messages: *Messages::ALL.choose(&mut rng).expect("non-empty"),
                        },
                    },
                    FaultKind::Duplicate => Fault::Duplicate {
                        topology,
                        probability: *[0.2, 0.5, 1.0].choose(&mut rng).expect("non-empty"),
                    },
                    FaultKind::Reorder => Fault::Reorder {
                        topology,
                        window_ms: *[20, 50, 200].choose(&mut rng).expect("non-empty"),
                    },
                    FaultKind::PowerLoss => Fault::PowerLoss {
                        target: *[Target::One, Target::Minority, Target::Majority, Target::All]
                            .choose(&mut rng)
                            .expect("non-empty"),
                    },
                    FaultKind::Corrupt => Fault::Corrupt {
                        target: *[Target::One, Target::Minority].choose(&mut rng).expect("non-empty"),
                        damage: *Damage::ALL.choose(&mut rng).expect("non-empty"),
                    },
                }
            };
            out.push(ScheduledFault::at(at, fault));
            faulty = !faulty;
            at += spec.interval;
        }
    }
    out.push(ScheduledFault::at(time_limit, Fault::Heal));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::SECOND;

    fn lead(leader: &str) -> View<'_> {
        View { leader: Some(leader), ..View::default() }
    }

    fn spec(kinds: &str) -> NemesisSpec {
        NemesisSpec {
            kinds: NemesisSpec::parse_kinds(kinds).unwrap(),
            interval: 10 * SECOND,
            message_types: Vec::new(),
            composed: false,
        }
    }

    #[test]
    fn schedule_alternates_fault_and_heal_and_ends_healed() {
        let s = schedule(&spec("partition,kill,pause"), 5, 60 * SECOND, 1).unwrap();
        let times: Vec<Nanos> = s.iter().map(|f| f.at / SECOND).collect();
        assert_eq!(times, vec![10, 20, 30, 40, 50, 60]);
        for (i, f) in s.iter().enumerate() {
            assert_eq!(matches!(f.fault, Fault::Heal), i % 2 == 1, "{s:?}");
        }
        assert_eq!(s.last().unwrap().fault, Fault::Heal);
    }

    #[test]
    fn schedule_uses_only_the_requested_kinds_and_all_of_them_eventually() {
        let s = schedule(&spec("kill,pause"), 5, 1000 * SECOND, 2).unwrap();
        let names: std::collections::BTreeSet<&str> = s.iter().map(|f| f.fault.name()).collect();
        assert_eq!(names, ["heal", "kill", "pause"].into_iter().collect());
    }

    #[test]
    fn no_nemesis_means_one_final_heal() {
        let s = schedule(&spec("none"), 3, 30 * SECOND, 1).unwrap();
        assert_eq!(s, vec![ScheduledFault::at(30 * SECOND, Fault::Heal)]);
    }

    #[test]
    fn schedules_are_seeded() {
        let a = schedule(&spec("partition,kill,pause,loss,latency"), 5, 300 * SECOND, 7).unwrap();
        let b = schedule(&spec("partition,kill,pause,loss,latency"), 5, 300 * SECOND, 7).unwrap();
        let c = schedule(&spec("partition,kill,pause,loss,latency"), 5, 300 * SECOND, 8).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn disk_faults_parse_by_name_and_corruption_stays_on_a_minority() {
        let s = schedule(&spec("power-loss,corrupt"), 5, 2000 * SECOND, 4).unwrap();
        let mut targets = std::collections::BTreeSet::new();
        for f in &s {
            match &f.fault {
                Fault::Corrupt { target, .. } => assert!(matches!(target, Target::One | Target::Minority)),
                Fault::PowerLoss { target } => {
                    targets.insert(format!("{target:?}"));
                }
                Fault::Heal => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(targets.len(), 4, "power loss hits one, a minority, a majority and all: {targets:?}");
        assert!(FaultKind::PowerLoss.needs_lazyfs() && !FaultKind::Corrupt.needs_lazyfs());
        let json = serde_json::to_value(Fault::PowerLoss { target: Target::All }).unwrap();
        assert_eq!(json, serde_json::json!({"f": "power-loss", "target": "all"}));
        assert_eq!(serde_json::to_value(FaultKind::PowerLoss).unwrap(), "power-loss");
        let back: Fault = serde_json::from_value(
            serde_json::json!({"f": "corrupt", "target": "one", "damage": "flip-bits"}),
        )
        .unwrap();
        assert_eq!(back, Fault::Corrupt { target: Target::One, damage: Damage::FlipBits });
    }

    #[test]
    fn bad_nemesis_names_are_rejected_by_name() {
        assert_eq!(
            NemesisSpec::parse_kinds("partition,bogus"),
            Err(WorkloadError::UnknownNemesis("bogus".into()))
        );
    }

    #[test]
    fn targets_resolve_to_the_right_number_of_nodes() {
        let nodes: Vec<String> = (1..=5).map(|i| format!("n{i}")).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let whole = Grudge::default();
        assert_eq!(Target::One.resolve(&nodes, View::default(), &whole, &mut rng).len(), 1);
        assert_eq!(Target::Leader.resolve(&nodes, lead("n4"), &whole, &mut rng), vec!["n4".to_string()]);
        for _ in 0..20 {
            let m = Target::Minority.resolve(&nodes, View::default(), &whole, &mut rng).len();
            assert!((1..=2).contains(&m));
        }
        assert_eq!(Target::Majority.resolve(&nodes, View::default(), &whole, &mut rng).len(), 3);
        assert_eq!(Target::All.resolve(&nodes, View::default(), &whole, &mut rng), nodes);
    }

    #[test]
    fn the_side_target_is_one_half_of_a_bridge_partition() {
        let nodes: Vec<String> = (1..=5).map(|i| format!("n{i}")).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let g = Topology::LeaderBridge.grudge(&nodes, Some("n3"), &mut ChaCha8Rng::seed_from_u64(1));
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..20 {
            let side = Target::Side.resolve(&nodes, lead("n3"), &g, &mut rng);
            assert_eq!(side.len(), 2, "{side:?} of {g:?}");
            assert!(!side.contains(&"n3".to_string()));
            assert!(!g.is_cut(&side[0], &side[1]) && !g.is_cut(&side[1], &side[0]));
            seen.insert(side);
        }
        assert_eq!(seen.len(), 2, "both halves get picked: {seen:?}");
        assert_eq!(Target::Side.resolve(&nodes, View::default(), &Grudge::default(), &mut rng).len(), 1);
    }

    #[test]
    fn faults_say_whether_they_need_the_leader() {
        assert!(Fault::Kill { target: Target::Leader }.needs_leader());
        assert!(!Fault::Kill { target: Target::Bridge }.needs_leader());
        assert!(Fault::Deliver { topology: Topology::LeaderToLaggard }.needs_leader());
        assert!(!Fault::Drop { topology: Topology::AllLinks, messages: Messages::Appends }.needs_leader());
        assert!(!Fault::Heal.needs_leader());
        assert!(Fault::Kill { target: Target::NewLeader }.aims_at_leader());
        assert!(!Fault::Restart { target: Target::PreviousLeader }.aims_at_leader());
        assert!(Fault::Restart { target: Target::PreviousLeader }.needs_leader());
        assert!(!Fault::Partition { topology: Topology::PreviousLeaderBridge }.aims_at_leader());
        assert!(FaultKind::Drop.needs_proxy() && FaultKind::Latency.needs_proxy());
        assert!(!FaultKind::Partition.needs_proxy());
        // Drawn schedules can drop messages too when asked to.
        let s = schedule(&spec("drop"), 3, 100 * SECOND, 3).unwrap();
        assert!(s.iter().any(|f| matches!(f.fault, Fault::Drop { .. })));
    }

    #[test]
    fn message_networks_drop_one_body_type_at_a_time() {
        let mut with_types = spec("drop,duplicate,reorder");
        with_types.message_types = vec!["replicate".into(), "forward".into()];
        let s = schedule(&with_types, 3, 300 * SECOND, 5).unwrap();
        let dropped: std::collections::BTreeSet<&str> = s
            .iter()
            .filter_map(|f| match &f.fault {
                Fault::DropType { body_type, .. } => Some(body_type.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(dropped, ["forward", "replicate"].into_iter().collect());
        assert!(!s.iter().any(|f| matches!(f.fault, Fault::Drop { .. })));
        assert!(s.iter().any(|f| matches!(f.fault, Fault::Duplicate { .. })));
        assert!(s.iter().any(|f| matches!(f.fault, Fault::Reorder { .. })));
        // The record names the body type under its own tag.
        let drop = s.iter().find(|f| f.fault.name() == "drop").unwrap();
        let json = serde_json::to_value(&drop.fault).unwrap();
        assert_eq!(json["f"], "drop-type");
        assert!(FaultKind::Duplicate.is_message_level() && !FaultKind::Loss.is_message_level());
    }

    #[test]
    fn the_bridge_target_is_the_node_no_cut_touches() {
        let nodes: Vec<String> = (1..=5).map(|i| format!("n{i}")).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        for seed in 0..20 {
            let mut topo_rng = ChaCha8Rng::seed_from_u64(seed);
            let g = Topology::Bridge.grudge(&nodes, None, &mut topo_rng);
            let bridge = Target::Bridge.resolve(&nodes, View::default(), &g, &mut rng);
            assert_eq!(bridge.len(), 1, "{g:?}");
            assert!(
                nodes.iter().all(|n| n == &bridge[0] || !g.is_cut(&bridge[0], n) && !g.is_cut(n, &bridge[0]))
            );
            assert!(nodes.iter().filter(|n| **n != bridge[0]).all(|n| g.cuts.iter().any(|(a, _)| a == n)));
        }
        // No partition, or one that touches every node: one random node, like `one`.
        assert_eq!(Target::Bridge.resolve(&nodes, View::default(), &Grudge::default(), &mut rng).len(), 1);
        let ring = Topology::AllLinks.grudge(&nodes, None, &mut rng);
        assert_eq!(Target::Bridge.resolve(&nodes, View::default(), &ring, &mut rng).len(), 1);
    }

    #[test]
    fn role_and_history_targets_resolve_against_the_view() {
        let nodes: Vec<String> = (1..=5).map(|i| format!("n{i}")).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let whole = Grudge::default();
        let view = View {
            leader: Some("n4"),
            laggard: None,
            previous_leader: Some("n1"),
            new_leader: Some("n4"),
            restarted: Some("n2"),
            triggered: Some("n5"),
            triggered_peer: Some("n3"),
        };
        let one = |t: Target, v: View<'_>, g: &Grudge, rng: &mut ChaCha8Rng| t.resolve(&nodes, v, g, rng);
        assert_eq!(one(Target::NewLeader, view, &whole, &mut rng), ["n4"]);
        assert_eq!(one(Target::PreviousLeader, view, &whole, &mut rng), ["n1"]);
        assert_eq!(one(Target::Restarted, view, &whole, &mut rng), ["n2"]);
        assert_eq!(one(Target::Triggered, view, &whole, &mut rng), ["n5"]);
        assert_eq!(one(Target::TriggeredPeer, view, &whole, &mut rng), ["n3"]);
        assert_eq!(one(Target::Followers, view, &whole, &mut rng), ["n1", "n2", "n3", "n5"]);
        assert_eq!(one(Target::LeaderSide, view, &whole, &mut rng), ["n4"]);
        // The minority holding the leader: n4 and the one follower it keeps.
        let g = Topology::LeaderMinority.grudge(&nodes, Some("n4"), &mut ChaCha8Rng::seed_from_u64(2));
        let side = one(Target::LeaderSide, view, &g, &mut rng);
        assert_eq!(side.len(), 2, "{side:?} of {g:?}");
        assert!(side.contains(&"n4".to_string()));
        // A new leader not known: the current leader; nothing known: one random node, flagged.
        let no_new = View { new_leader: None, ..view };
        assert_eq!(one(Target::NewLeader, no_new, &whole, &mut rng), ["n4"]);
        assert!(!Target::NewLeader.unknown_in(&no_new));
        let blind = View::default();
        for t in
            [Target::NewLeader, Target::PreviousLeader, Target::Restarted, Target::LeaderSide, Target::TriggeredPeer]
        {
            assert_eq!(one(t, blind, &whole, &mut rng).len(), 1, "{t:?}");
            assert!(t.unknown_in(&blind), "{t:?}");
        }
        assert_eq!(one(Target::Followers, blind, &whole, &mut rng).len(), 4);
        assert!(!Target::Majority.unknown_in(&blind));
        for t in Target::ALL {
            let json = serde_json::to_value(t).unwrap();
            assert_eq!(json, serde_json::json!(t.name()));
        }
    }

    #[test]
    fn nemesis_words_parse_back() {
        for words in ["composed", "composed,partition,kill", "partition,kill,pause", "none"] {
            let spec = NemesisSpec::parse(words, SECOND).unwrap();
            assert_eq!(spec.words(","), words);
            assert_eq!(spec.composed, words.starts_with("composed"));
        }
        assert!(NemesisSpec::parse("composed,meteor", SECOND).is_err());
    }
}
