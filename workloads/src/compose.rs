//! Composed fault schedules: sequences of faults aimed by role, timed in elections.
//!
//! The alternating schedule ([`crate::nemesis::schedule`]) starts one fault, heals, starts another:
//! every fault meets a healthy cluster, and with a ten-second interval a short run sees one or two.
//! Bugs in consensus live in the moments *between* elections: the minority that still holds the old
//! leader while the majority elects a new one; the node that just won and is killed before its
//! entries spread; the voter that crashes and comes back within one election; a leader that wakes up
//! from a pause into a cluster that moved on. A composed schedule is a series of **episodes**, each a
//! short sequence drawn from a [`Motif`] ("partition, then kill the new leader, then heal"; "pause the
//! leader, then partition its followers, then continue it"; "restart a node alone"; "drop one kind
//! of message"), whose steps are spaced in election times ([`crate::ScheduledFault::after`], measured
//! from the run's own elections by the harness) and whose targets are roles and history
//! ([`crate::Target::NewLeader`], [`crate::Target::PreviousLeader`], [`crate::Target::Restarted`], the
//! minority holding the leader, the bridge) resolved when the step fires. Holds and quiet times are
//! drawn mostly around the election timeout and sometimes long (up to `--nemesis-interval`), so
//! slow effects (lazy flushes, catch-up after a long partition) get their chance too.
//!
//! Everything here is pure and seeded: [`compose`] draws a schedule, [`mutate`] changes one (for
//! `faultline explore`), [`Shrinker`] proposes ever smaller schedules that a caller replays. The
//! tests run them on a simulated clock and no cluster.

use crate::WorkloadError;
use crate::generator::{Nanos, SECOND};
use crate::nemesis::{Damage, Event, Fault, FaultKind, Messages, ScheduledFault, Target};
use crate::topology::Topology;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How a composed schedule is timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// One election time as configured for the system (the harness measures the real one).
    pub election: Nanos,
    /// The longest hold or quiet time (`--nemesis-interval`).
    pub long: Nanos,
}

/// The shapes of episode a composed schedule draws from. Each names the sequence and why it is
/// there; its steps are drawn when an episode is composed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Motif {
    /// Cut the leader off (alone, with a minority, or one way) for a while: a leader that keeps
    /// answering while the majority elects another.
    IsolateLeader,
    /// Partition (often the leader with a minority), then kill the leader the majority just
    /// elected, then heal: the stranded minority's log meets a third leader's.
    PartitionKillNewLeader,
    /// Pause the leader, split its followers in two halves that only it connects, continue it: it
    /// wakes up as a leader of an old term between two halves that each need its vote.
    PauseLeaderSplitFollowers,
    /// Pause the leader for about an election or longer, then continue it: requests queued while
    /// it slept meet a cluster that moved on.
    PauseLeader,
    /// Cut the leader off (alone or with a minority) and pause it at once; continue it, still cut
    /// off, after the majority has elected another: a process pause (GC, a VM migrated or
    /// descheduled) that outlasts the leader's lease. Its clock stopped with it, so it wakes up
    /// believing it still leads, and whatever it answers alone before it notices is old.
    PauseIsolatedLeader,
    /// Kill a node and restart it alone (the network stays as it is), sometimes twice in a row: a
    /// voter or follower that forgets what it had not made durable.
    RestartAlone,
    /// Kill a majority or everyone right after a burst of writes, then restart.
    CrashMany,
    /// Kill the leader, bring it back, kill the node that won meanwhile.
    LeaderChurn,
    /// The leader as the bridge between two halves; crash and restart the bridge.
    BridgeCrash,
    /// Drop one kind of message (appends or votes) on some links, sometimes with a process fault
    /// inside (raft-node only: the harness's proxy reads its frames).
    DropMessages,
    /// Slow some links by one to three elections, then kill a node and restart it before what was
    /// sent to it meanwhile arrives: requests and grants from before the crash reach a process
    /// that forgot whatever it had not made durable (a vote, a term, an acknowledged entry).
    SlowRestart,
    /// Slow the links into a node or a minority (or between halves; everywhere, by less), then two
    /// to four times: kill the leader, bring it back as a voter before the others time out, and
    /// crash a voter the moment it grants its vote (or, blind, some time into the election),
    /// restarting it within a fraction of an election: an election storm. With one side's requests
    /// or grants delayed, two candidates can hold grants for the same term at once; a voter that
    /// forgot its vote across a restart grants the second one too. (The simulation's election
    /// storms in `node/raft/tests/sim/defaults.rs` on a real cluster.)
    ElectionRestarts,
    /// One fault of the alternating kind, held long or short.
    Single,
}

impl Motif {
    pub const ALL: [Motif; 13] = [
        Motif::IsolateLeader,
        Motif::PartitionKillNewLeader,
        Motif::PauseLeaderSplitFollowers,
        Motif::PauseLeader,
        Motif::PauseIsolatedLeader,
        Motif::RestartAlone,
        Motif::CrashMany,
        Motif::LeaderChurn,
        Motif::BridgeCrash,
        Motif::DropMessages,
        Motif::SlowRestart,
        Motif::ElectionRestarts,
        Motif::Single,
    ];

    /// The fault kinds a motif needs (all of them must be allowed for it to be drawn).
    pub fn kinds(self) -> &'static [FaultKind] {
        use FaultKind::*;
        match self {
            Motif::IsolateLeader => &[Partition],
            Motif::PartitionKillNewLeader | Motif::BridgeCrash => &[Partition, Kill],
            Motif::PauseLeaderSplitFollowers | Motif::PauseIsolatedLeader => &[Pause, Partition],
            Motif::PauseLeader => &[Pause],
            Motif::RestartAlone | Motif::CrashMany | Motif::LeaderChurn => &[Kill],
            Motif::DropMessages => &[Drop],
            Motif::SlowRestart | Motif::ElectionRestarts => &[Latency, Kill],
            Motif::Single => &[],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Motif::IsolateLeader => "isolate-leader",
            Motif::PartitionKillNewLeader => "partition-kill-new-leader",
            Motif::PauseLeaderSplitFollowers => "pause-leader-split-followers",
            Motif::PauseLeader => "pause-leader",
            Motif::PauseIsolatedLeader => "pause-isolated-leader",
            Motif::RestartAlone => "restart-alone",
            Motif::CrashMany => "crash-many",
            Motif::LeaderChurn => "leader-churn",
            Motif::BridgeCrash => "bridge-crash",
            Motif::DropMessages => "drop-messages",
            Motif::SlowRestart => "slow-restart",
            Motif::ElectionRestarts => "election-restarts",
            Motif::Single => "single",
        }
    }

    /// The steps of one episode: `(elections after the previous step, fault)`, the first with 0.
    /// Every episode ends with a heal.
    fn steps(
        self,
        kinds: &[FaultKind],
        nodes: usize,
        timing: Timing,
        rng: &mut ChaCha8Rng,
    ) -> Vec<(f64, Fault)> {
        let mut s: Vec<(f64, Fault)> = Vec::new();
        let p = |t| Fault::Partition { topology: t };
        match self {
            Motif::IsolateLeader => {
                let t = *[
                    Topology::IsolateLeader,
                    Topology::IsolateLeader,
                    Topology::LeaderMinority,
                    Topology::FromLeader,
                ]
                .choose(rng)
                .expect("non-empty");
                s.push((0.0, p(t)));
                s.push((hold(rng, timing, 1.0, 8.0), Fault::Heal));
            }
            Motif::PartitionKillNewLeader => {
                let t = *[
                    Topology::LeaderMinority,
                    Topology::LeaderMinority,
                    Topology::IsolateLeader,
                    Topology::RandomHalves,
                ]
                .choose(rng)
                .expect("non-empty");
                s.push((0.0, p(t)));
                s.push((short(rng, 2.0, 8.0), Fault::Kill { target: Target::NewLeader }));
                s.push((short(rng, 0.3, 4.0), Fault::Heal));
            }
            Motif::PauseLeaderSplitFollowers => {
                s.push((0.0, Fault::Pause { target: Target::Leader }));
                s.push((short(rng, 0.3, 3.0), p(Topology::PreviousLeaderBridge)));
                s.push((short(rng, 1.0, 6.0), Fault::Restart { target: Target::PreviousLeader }));
                s.push((short(rng, 1.0, 4.0), Fault::Heal));
            }
            Motif::PauseLeader => {
                s.push((0.0, Fault::Pause { target: Target::Leader }));
                s.push((hold(rng, timing, 1.0, 12.0), Fault::Heal));
            }
            Motif::PauseIsolatedLeader => {
                // The cut first (it is aimed at the leader while that one still answers the polls),
                // the pause right after, before the majority can have elected anyone.
                let t = *[Topology::IsolateLeader, Topology::LeaderMinority].choose(rng).expect("non-empty");
                s.push((0.0, p(t)));
                s.push((0.0, Fault::Pause { target: Target::Leader }));
                s.push((short(rng, 2.0, 8.0), Fault::Restart { target: Target::PreviousLeader }));
                s.push((short(rng, 1.0, 4.0), Fault::Heal));
            }
            Motif::RestartAlone => {
                let t = *[Target::One, Target::Leader, Target::Minority, Target::Followers]
                    .choose(rng)
                    .expect("non-empty");
                s.push((0.0, Fault::Kill { target: t }));
                s.push((short(rng, 0.3, 6.0), Fault::Restart { target: Target::All }));
                if rng.random_bool(0.5) {
                    s.push((short(rng, 0.2, 3.0), Fault::Kill { target: Target::Restarted }));
                    s.push((short(rng, 0.3, 4.0), Fault::Restart { target: Target::All }));
                }
                s.push((short(rng, 1.0, 4.0), Fault::Heal));
            }
            Motif::CrashMany => {
                // Everyone more often than a majority: a whole-cluster crash (power loss) is what
                // finds acknowledgements that were never durable anywhere.
                let t = *[Target::Majority, Target::All, Target::All].choose(rng).expect("non-empty");
                s.push((0.0, Fault::Kill { target: t }));
                s.push((short(rng, 0.5, 6.0), Fault::Heal));
            }
            Motif::LeaderChurn => {
                s.push((0.0, Fault::Kill { target: Target::Leader }));
                s.push((short(rng, 1.0, 4.0), Fault::Restart { target: Target::PreviousLeader }));
                s.push((short(rng, 0.5, 4.0), Fault::Kill { target: Target::NewLeader }));
                s.push((short(rng, 1.0, 4.0), Fault::Heal));
            }
            Motif::BridgeCrash => {
                s.push((0.0, p(Topology::LeaderBridge)));
                s.push((short(rng, 0.5, 3.0), Fault::Kill { target: Target::Bridge }));
                s.push((short(rng, 0.2, 2.0), Fault::Restart { target: Target::Bridge }));
                if kinds.contains(&FaultKind::Pause) && rng.random_bool(0.5) {
                    s.push((short(rng, 0.3, 2.0), Fault::Pause { target: Target::Side }));
                    s.push((short(rng, 0.5, 3.0), Fault::Kill { target: Target::Bridge }));
                    s.push((short(rng, 0.2, 2.0), Fault::Restart { target: Target::Bridge }));
                }
                s.push((short(rng, 1.0, 4.0), Fault::Heal));
            }
            Motif::DropMessages => {
                let topology = *[
                    Topology::IntoLeader,
                    Topology::FromLeader,
                    Topology::AllLinks,
                    Topology::IsolateLeader,
                    Topology::RandomHalves,
                    Topology::LeaderToLaggard,
                ]
                .choose(rng)
                .expect("non-empty");
                let messages = *Messages::ALL.choose(rng).expect("non-empty");
                s.push((0.0, Fault::Drop { topology, messages }));
                if rng.random_bool(0.5) {
                    let inner = random_process_fault(kinds, rng);
                    if let Some(f) = inner {
                        s.push((short(rng, 0.5, 4.0), f));
                    }
                }
                s.push((hold(rng, timing, 1.0, 8.0), Fault::Heal));
            }
            Motif::SlowRestart => {
                let topology =
                    *[Topology::AllLinks, Topology::AllLinks, Topology::RandomHalves, Topology::IntoLeader]
                        .choose(rng)
                        .expect("non-empty");
                let delay_ms = latency_ms(short(rng, 1.0, 3.0), timing);
                s.push((0.0, Fault::Latency { topology, delay_ms, jitter_ms: jitter_ms(delay_ms, rng) }));
                let target = *[Target::Leader, Target::One, Target::One, Target::NewLeader]
                    .choose(rng)
                    .expect("non-empty");
                s.push((short(rng, 0.3, 2.0), Fault::Kill { target }));
                s.push((short(rng, 0.1, 1.0), Fault::Restart { target: Target::All }));
                s.push((hold(rng, timing, 1.0, 6.0), Fault::Heal));
            }
            Motif::ElectionRestarts => {
                // Messages into a node or a minority (or between halves) slowed by up to an
                // election and a half, long enough that a process restart fits between a request
                // or grant sent and its arrival, short enough that the slow side can still win;
                // slowed everywhere, by less, or nobody could. Or a congested network: every link
                // a little slow and very uneven, so that of two messages sent at once on two links
                // either may arrive a whole election before the other (a new leader's first append
                // still on its way while a rival's request and a voter's grant have come and gone).
                let latency = if rng.random_bool(0.4) {
                    let delay_ms = latency_ms(short(rng, 0.03, 0.15), timing);
                    let jitter_ms = latency_ms(short(rng, 0.5, 2.0), timing);
                    Fault::Latency { topology: Topology::AllLinks, delay_ms, jitter_ms }
                } else {
                    let topology =
                        *[Topology::OneWay, Topology::OneWay, Topology::RandomHalves, Topology::AllLinks]
                            .choose(rng)
                            .expect("non-empty");
                    let delay =
                        if topology == Topology::AllLinks { short(rng, 0.2, 0.6) } else { short(rng, 0.4, 1.5) };
                    let delay_ms = latency_ms(delay, timing);
                    Fault::Latency { topology, delay_ms, jitter_ms: jitter_ms(delay_ms, rng) }
                };
                s.push((0.0, latency));
                // Two to four elections, each opened by killing the leader.
                for round in 0..rng.random_range(2..=4) {
                    let wait = if round == 0 { short(rng, 0.1, 0.5) } else { short(rng, 0.5, 2.0) };
                    s.push((wait, Fault::Kill { target: Target::Leader }));
                    // Back before the others time out: a voter of the election to come that has
                    // not voted in its term yet.
                    s.push((short(rng, 0.05, 0.5), Fault::Restart { target: Target::PreviousLeader }));
                    if rng.random_bool(0.7) {
                        // The moment a voter grants its vote, crash it and bring it back within a
                        // fraction of an election: if a second candidate of the same term asks it
                        // now, only its durable vote says no. Half the time the candidate it voted
                        // for stalls at that moment too (a GC pause mid-election), continued a
                        // while later: its first appends, which would tell everyone who won, wait.
                        s.push((0.0, Fault::Await { event: Event::VoteGranted, within: 3.0 }));
                        let stall = kinds.contains(&FaultKind::Pause) && rng.random_bool(0.5);
                        if stall {
                            s.push((0.0, Fault::Pause { target: Target::TriggeredPeer }));
                        }
                        s.push((0.0, Fault::Kill { target: Target::Triggered }));
                        if stall {
                            s.push((short(rng, 0.02, 0.2), Fault::Restart { target: Target::Triggered }));
                            s.push((short(rng, 0.3, 1.5), Fault::Restart { target: Target::All }));
                            continue;
                        }
                    } else {
                        // Blind: a voter crashes some time into the election.
                        let voter = *[Target::One, Target::One, Target::Restarted, Target::Minority]
                            .choose(rng)
                            .expect("non-empty");
                        s.push((short(rng, 0.3, 3.0), Fault::Kill { target: voter }));
                    }
                    s.push((short(rng, 0.02, 0.2), Fault::Restart { target: Target::All }));
                }
                s.push((hold(rng, timing, 1.0, 4.0), Fault::Heal));
            }
            Motif::Single => {
                s.push((0.0, random_fault(kinds, nodes, rng).unwrap_or(Fault::Heal)));
                s.push((hold(rng, timing, 2.0, 10.0), Fault::Heal));
            }
        }
        s
    }
}

/// `elections` of `timing` as a link latency in whole milliseconds (at least one).
fn latency_ms(elections: f64, timing: Timing) -> u64 {
    ((elections * timing.election as f64 / 1e6) as u64).max(1)
}

/// Jitter for a link latency of `delay_ms`: none a third of the time, else up to half or all of it.
fn jitter_ms(delay_ms: u64, rng: &mut ChaCha8Rng) -> u64 {
    delay_ms * *[0, 1, 2].choose(rng).expect("non-empty") / 2
}

/// A delay in elections drawn log-uniformly from `[lo, hi]`.
fn short(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    let x: f64 = rng.random_range(lo.ln()..hi.ln());
    (x.exp() * 100.0).round() / 100.0
}

/// A hold: usually [`short`], one time in five long (a quarter to all of `timing.long`).
fn hold(rng: &mut ChaCha8Rng, timing: Timing, lo: f64, hi: f64) -> f64 {
    let long = timing.long as f64 / timing.election.max(1) as f64;
    if long > hi && rng.random_bool(0.2) {
        short(rng, (long / 4.0).max(hi), long)
    } else {
        short(rng, lo, hi)
    }
}

/// One process fault of the allowed kinds aimed at a role, or None when neither kill nor pause is
/// allowed.
fn random_process_fault(kinds: &[FaultKind], rng: &mut ChaCha8Rng) -> Option<Fault> {
    let targets = [Target::Leader, Target::NewLeader, Target::Restarted, Target::Side, Target::One];
    let target = *targets.choose(rng).expect("non-empty");
    let choices: Vec<Fault> = [
        kinds.contains(&FaultKind::Kill).then_some(Fault::Kill { target }),
        kinds.contains(&FaultKind::Pause).then_some(Fault::Pause { target }),
        kinds.contains(&FaultKind::Kill).then_some(Fault::Restart { target: Target::All }),
    ]
    .into_iter()
    .flatten()
    .collect();
    choices.choose(rng).cloned()
}

/// One fault of any allowed kind, with a target or topology from the whole vocabulary (the
/// mutations and the `single` motif draw these).
pub fn random_fault(kinds: &[FaultKind], nodes: usize, rng: &mut ChaCha8Rng) -> Option<Fault> {
    let kind = *kinds.choose(rng)?;
    let topologies: Vec<Topology> =
        Topology::ALL.into_iter().chain(Topology::TARGETED).filter(|t| t.min_nodes() <= nodes).collect();
    let topology = *topologies.choose(rng).expect("random-halves fits every n >= 2");
    let target = *Target::ALL.choose(rng).expect("non-empty");
    Some(match kind {
        FaultKind::Partition => Fault::Partition { topology },
        FaultKind::Kill => {
            if rng.random_bool(0.3) {
                Fault::Restart { target }
            } else {
                Fault::Kill { target }
            }
        }
        FaultKind::Pause => Fault::Pause { target },
        FaultKind::Loss => {
            Fault::Loss { topology, probability: *[0.1, 0.3, 0.5].choose(rng).expect("non-empty") }
        }
        FaultKind::Latency => {
            let delay_ms = *[20, 50, 100].choose(rng).expect("non-empty");
            Fault::Latency { topology, delay_ms, jitter_ms: jitter_ms(delay_ms, rng) }
        }
        FaultKind::Drop => Fault::Drop { topology, messages: *Messages::ALL.choose(rng).expect("non-empty") },
        FaultKind::Duplicate => {
            Fault::Duplicate { topology, probability: *[0.2, 0.5, 1.0].choose(rng).expect("non-empty") }
        }
        FaultKind::Reorder => {
            Fault::Reorder { topology, window_ms: *[20, 50, 100].choose(rng).expect("non-empty") }
        }
        // Disk faults are composed only when asked for (`composed,power-loss`): they need lazyfs
        // mounts (power loss) or damage a minority's files (corrupt), as their alternating draw does.
        FaultKind::PowerLoss => Fault::PowerLoss { target },
        FaultKind::Corrupt => Fault::Corrupt {
            target: *[Target::One, Target::Minority].choose(rng).expect("non-empty"),
            damage: *Damage::ALL.choose(rng).expect("non-empty"),
        },
    })
}

/// How often each motif is drawn, relative to the others (1 each by default). `faultline explore`
/// raises the weight of motifs whose runs reached new behaviour.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Weights(pub BTreeMap<Motif, f64>);

impl Weights {
    pub fn of(&self, m: Motif) -> f64 {
        self.0.get(&m).copied().unwrap_or(1.0)
    }
}

/// The motifs that can be drawn with `kinds` on `nodes` nodes.
pub fn motifs(kinds: &[FaultKind], nodes: usize) -> Vec<Motif> {
    Motif::ALL
        .into_iter()
        .filter(|m| !kinds.is_empty() && m.kinds().iter().all(|k| kinds.contains(k)))
        // Halves of followers, a bridge and a leader with a minority need three nodes; a partition
        // of one node is nothing.
        .filter(|m| nodes >= 3 || !m.kinds().contains(&FaultKind::Partition))
        .filter(|m| {
            nodes >= 2 || m.kinds().is_empty() || *m == Motif::RestartAlone || *m == Motif::PauseLeader
        })
        .collect()
}

/// One episode: a sequence of faults that starts at `start`, each later step some elections after
/// the one before.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    pub start: Nanos,
    /// `(elections after the previous step, fault)`; the first step's delay is ignored.
    pub steps: Vec<(f64, Fault)>,
}

impl Episode {
    /// The planned length at `election` per election.
    pub fn length(&self, election: Nanos) -> Nanos {
        self.steps.iter().skip(1).map(|(k, _)| elections(*k, election)).sum()
    }
}

fn elections(k: f64, election: Nanos) -> Nanos {
    (k.max(0.0) * election as f64) as Nanos
}

/// A composed schedule as episodes, the form [`mutate`] and [`Shrinker`] work on; `end` is the end
/// of the run phase, where the final heal is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub episodes: Vec<Episode>,
    pub end: Nanos,
}

impl Plan {
    /// Reads a schedule back into episodes: an absolute entry starts an episode, a relative one
    /// (`after`) continues the current one; the last entry is the final heal.
    pub fn from_schedule(schedule: &[ScheduledFault]) -> Plan {
        let (end, body) = match schedule.split_last() {
            Some((last, body)) if last.is_heal() && last.after.is_none() => (last.at, body),
            _ => (schedule.iter().map(|f| f.at).max().unwrap_or(0), schedule),
        };
        let mut episodes: Vec<Episode> = Vec::new();
        for f in body {
            match (f.after, episodes.last_mut()) {
                (Some(k), Some(e)) => e.steps.push((k, f.fault.clone())),
                _ => episodes.push(Episode { start: f.at, steps: vec![(0.0, f.fault.clone())] }),
            }
        }
        Plan { episodes, end }
    }

    /// The schedule: episodes in order of their start, each starting no earlier than the previous
    /// one's planned end (so relative steps never interleave), cut where they reach `end`; then the
    /// final heal at `end`.
    pub fn to_schedule(&self, election: Nanos) -> Vec<ScheduledFault> {
        let mut episodes: Vec<&Episode> = self.episodes.iter().filter(|e| !e.steps.is_empty()).collect();
        episodes.sort_by_key(|e| e.start);
        let mut out = Vec::new();
        let mut free = 0;
        for e in episodes {
            let start = e.start.max(free);
            if start >= self.end {
                break;
            }
            let mut at = start;
            for (i, (k, fault)) in e.steps.iter().enumerate() {
                if i == 0 {
                    out.push(ScheduledFault::at(at, fault.clone()));
                } else {
                    at += elections(*k, election);
                    // Steps planned past the end are left out: the final heal ends everything.
                    if at >= self.end {
                        break;
                    }
                    out.push(ScheduledFault { at, fault: fault.clone(), after: Some(*k) });
                }
            }
            free = at + election / 2;
        }
        out.push(ScheduledFault::at(self.end, Fault::Heal));
        out
    }

    /// Faults in the plan: every step but the heals and the waits for events.
    pub fn faults(&self) -> usize {
        self.episodes.iter().flat_map(|e| &e.steps).filter(|(_, f)| is_fault(f)).count()
    }
}

/// Faults in a schedule: every entry but the heals and the waits for events.
pub fn fault_count(schedule: &[ScheduledFault]) -> usize {
    schedule.iter().filter(|f| f.is_fault()).count()
}

fn is_fault(f: &Fault) -> bool {
    !matches!(f, Fault::Heal | Fault::Await { .. })
}

/// A composed schedule over a run phase of `time_limit` on `nodes` nodes, from the motifs `kinds`
/// allow (weighted by `weights`); deterministic in `seed`. It always ends with a heal at
/// `time_limit`. With no kinds, that heal is all there is.
pub fn compose(
    kinds: &[FaultKind],
    nodes: usize,
    time_limit: Nanos,
    seed: u64,
    timing: Timing,
    weights: &Weights,
) -> Result<Vec<ScheduledFault>, WorkloadError> {
    if timing.election == 0 {
        return Err(WorkloadError::NotPositive { field: "election timeout", value: "0s".into() });
    }
    if kinds.contains(&FaultKind::Partition) && nodes < 2 {
        return Err(WorkloadError::TooFewNodes { what: "partitions", min: 2, nodes });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x636f_6d70_6f73_6564);
    // A long hold takes at most a sixth of the run, so a short run still sees several episodes.
    let timing = Timing { long: timing.long.min(time_limit / 6), ..timing };
    let choices = motifs(kinds, nodes);
    let mut plan = Plan { episodes: Vec::new(), end: time_limit };
    if !choices.is_empty() {
        // A second of writes before the first fault, so that crashes and partitions meet a log.
        let mut at = SECOND + elections(short(&mut rng, 0.5, 4.0), timing.election);
        loop {
            let motif = draw_motif(&choices, weights, &mut rng);
            let episode = Episode { start: at, steps: motif.steps(kinds, nodes, timing, &mut rng) };
            let end = at + episode.length(timing.election);
            if end + timing.election > time_limit {
                break;
            }
            plan.episodes.push(episode);
            at = end + elections(hold(&mut rng, timing, 2.0, 12.0), timing.election);
        }
    }
    Ok(plan.to_schedule(timing.election))
}

fn draw_motif(choices: &[Motif], weights: &Weights, rng: &mut ChaCha8Rng) -> Motif {
    let total: f64 = choices.iter().map(|m| weights.of(*m).max(0.01)).sum();
    let mut x = rng.random_range(0.0..total);
    for m in choices {
        x -= weights.of(*m).max(0.01);
        if x <= 0.0 {
            return *m;
        }
    }
    *choices.last().expect("choices is not empty here")
}

/// The motif an episode was drawn from, recognised by its first steps (for the explorer's
/// per-motif rewards); None when a mutation made it something else.
pub fn motif_of(episode: &Episode) -> Option<Motif> {
    use Fault::*;
    let first = &episode.steps.first()?.1;
    let second = episode.steps.get(1).map(|s| &s.1);
    let third = episode.steps.get(2).map(|s| &s.1);
    if let (
        Latency { .. },
        Some(Kill { target: Target::Leader }),
        Some(Restart { target: Target::PreviousLeader }),
    ) = (first, second, third)
    {
        return Some(Motif::ElectionRestarts);
    }
    Some(match (first, second) {
        (Partition { topology: Topology::LeaderBridge }, _) => Motif::BridgeCrash,
        (Partition { .. }, Some(Kill { target: Target::NewLeader })) => Motif::PartitionKillNewLeader,
        (Partition { .. }, Some(Pause { target: Target::Leader })) => Motif::PauseIsolatedLeader,
        (Partition { .. }, Some(Heal)) => Motif::IsolateLeader,
        (Pause { target: Target::Leader }, Some(Partition { .. })) => Motif::PauseLeaderSplitFollowers,
        (Pause { target: Target::Leader }, Some(Heal)) => Motif::PauseLeader,
        (Kill { target: Target::Leader }, Some(Restart { target: Target::PreviousLeader })) => {
            Motif::LeaderChurn
        }
        (Kill { .. }, Some(Restart { .. })) => Motif::RestartAlone,
        (Kill { target: Target::Majority | Target::All }, Some(Heal)) => Motif::CrashMany,
        (Drop { .. }, _) => Motif::DropMessages,
        (Latency { .. }, Some(Kill { .. })) => Motif::SlowRestart,
        (_, Some(Heal)) => Motif::Single,
        _ => return None,
    })
}

/// A mutation of `schedule` (greybox fuzzing's havoc stage, on episodes): one to three of retime a
/// step, re-aim a step (another target, topology or message kind), insert a fault into an episode,
/// delete a step, splice in an episode from `donor` (another kept schedule) or from a fresh draw,
/// or duplicate an episode. Deterministic in `seed`; the result always ends with the final heal.
pub fn mutate(
    schedule: &[ScheduledFault],
    donor: Option<&[ScheduledFault]>,
    kinds: &[FaultKind],
    nodes: usize,
    timing: Timing,
    seed: u64,
) -> Vec<ScheduledFault> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6d75_7461_7465);
    let mut plan = Plan::from_schedule(schedule);
    let rounds = rng.random_range(1..=3);
    for _ in 0..rounds {
        mutate_once(&mut plan, donor, kinds, nodes, timing, &mut rng);
    }
    plan.to_schedule(timing.election)
}

fn mutate_once(
    plan: &mut Plan,
    donor: Option<&[ScheduledFault]>,
    kinds: &[FaultKind],
    nodes: usize,
    timing: Timing,
    rng: &mut ChaCha8Rng,
) {
    let n = plan.episodes.len();
    let op = if n == 0 { 4 } else { rng.random_range(0..6) };
    match op {
        // Retime: one step's delay (or an episode's start) scaled by up to ~3x either way.
        0 => {
            let e = &mut plan.episodes[rng.random_range(0..n)];
            let i = rng.random_range(0..e.steps.len());
            let factor = 2f64.powf(rng.random_range(-1.6..1.6));
            if i == 0 {
                let shift = (factor - 1.0) * 4.0 * timing.election as f64;
                e.start = (e.start as f64 + shift).clamp(0.0, plan.end as f64) as Nanos;
            } else {
                e.steps[i].0 = (e.steps[i].0 * factor).clamp(0.05, 40.0);
            }
        }
        // Re-aim one step.
        1 => {
            let e = &mut plan.episodes[rng.random_range(0..n)];
            let i = rng.random_range(0..e.steps.len());
            reaim(&mut e.steps[i].1, nodes, rng);
        }
        // Insert a fault into an episode, right after one of its steps.
        2 => {
            if let Some(f) = random_fault(kinds, nodes, rng) {
                let e = &mut plan.episodes[rng.random_range(0..n)];
                let i = rng.random_range(0..e.steps.len());
                e.steps.insert(i + 1, (short(rng, 0.2, 4.0), f));
            }
        }
        // Delete one step (an emptied episode disappears).
        3 => {
            let ei = rng.random_range(0..n);
            let e = &mut plan.episodes[ei];
            let i = rng.random_range(0..e.steps.len());
            e.steps.remove(i);
            if e.steps.is_empty() {
                plan.episodes.remove(ei);
            }
        }
        // Splice in an episode from the donor or a fresh draw, at a random time.
        4 => {
            let fresh;
            let source = match donor {
                Some(d) if rng.random_bool(0.5) => d,
                _ => {
                    let weights = Weights::default();
                    fresh =
                        compose(kinds, nodes, plan.end, rng.random(), timing, &weights).unwrap_or_default();
                    &fresh
                }
            };
            let from = Plan::from_schedule(source);
            if let Some(e) = from.episodes.choose(rng) {
                let mut e = e.clone();
                e.start = rng.random_range(0..plan.end.max(1));
                plan.episodes.push(e);
            }
        }
        // Duplicate an episode later in the run.
        _ => {
            let mut e = plan.episodes[rng.random_range(0..n)].clone();
            e.start = rng.random_range(e.start..plan.end.max(e.start + 1));
            plan.episodes.push(e);
        }
    }
}

/// Another target, topology or message kind for `fault`, of the same kind of fault.
fn reaim(fault: &mut Fault, nodes: usize, rng: &mut ChaCha8Rng) {
    let topologies: Vec<Topology> =
        Topology::ALL.into_iter().chain(Topology::TARGETED).filter(|t| t.min_nodes() <= nodes).collect();
    let target = *Target::ALL.choose(rng).expect("non-empty");
    let topo = *topologies.choose(rng).expect("non-empty");
    match fault {
        Fault::Kill { target: t }
        | Fault::Pause { target: t }
        | Fault::Restart { target: t }
        | Fault::PowerLoss { target: t } => *t = target,
        // Corruption stays on one node or a minority (never a majority's disks).
        Fault::Corrupt { target: t, .. } => {
            *t = *[Target::One, Target::Minority, Target::Leader, Target::Restarted]
                .choose(rng)
                .expect("non-empty")
        }
        Fault::Partition { topology }
        | Fault::Loss { topology, .. }
        | Fault::Latency { topology, .. }
        | Fault::DropType { topology, .. }
        | Fault::Duplicate { topology, .. }
        | Fault::Reorder { topology, .. }
        | Fault::Deliver { topology } => *topology = topo,
        Fault::Drop { topology, messages } => {
            if rng.random_bool(0.5) {
                *topology = topo;
            } else {
                *messages = if *messages == Messages::Appends { Messages::Votes } else { Messages::Appends };
            }
        }
        Fault::Await { event, .. } => *event = *Event::ALL.choose(rng).expect("non-empty"),
        Fault::Heal => {}
    }
}

/// Proposes ever smaller versions of a failing schedule for a caller that replays each and says
/// whether the failure came back ([`Shrinker::report`]); the smallest schedule that did is
/// [`Shrinker::best`]. In order: cut everything planned after the failure was detected; remove
/// episodes by delta debugging (Zeller's ddmin: halves first, then quarters, down to single
/// episodes, so a failure that needs one episode of twenty costs a handful of replays, not twenty);
/// remove single steps (heals included, as a fault left in force can matter).
/// Each removal that still reproduces is kept and the search goes on from there, so the result
/// is 1-minimal with respect to steps (removing any one more step lost the failure) if the budget
/// lasts. Removing the first step of an episode keeps the rest at their planned times.
#[derive(Clone, Debug)]
pub struct Shrinker {
    best: Plan,
    election: Nanos,
    /// Time kept after the last step (the run phase of a candidate ends there).
    tail: Nanos,
    stage: Stage,
    /// The candidate out for replay and the stage that proposed it.
    pending: Option<(Plan, Stage)>,
    trials: usize,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Stage {
    Truncate(Nanos),
    /// Only the last `k` episodes kept (the ones nearest the failure), for k = 1 and 2: a failure
    /// usually needs the episode it happened in and little else, and one candidate that says so
    /// saves the many halvings of delta debugging over a dozen episodes.
    Last(usize),
    /// Delta debugging over episodes: the episodes split into `parts` chunks, chunk `chunk` removed.
    Episodes {
        parts: usize,
        chunk: usize,
    },
    Steps {
        episode: usize,
        step: usize,
    },
    Done,
}

/// The episode range of chunk `chunk` when `n` episodes are split into `parts` chunks.
fn chunk_range(n: usize, parts: usize, chunk: usize) -> std::ops::Range<usize> {
    let size = n.div_ceil(parts.max(1));
    (chunk * size).min(n)..((chunk + 1) * size).min(n)
}

impl Shrinker {
    /// Shrinks `schedule`, which failed with evidence complete at `detected` (run-relative; None
    /// when unknown). Candidates end `tail` after their last planned step.
    pub fn new(
        schedule: &[ScheduledFault],
        detected: Option<Nanos>,
        election: Nanos,
        tail: Nanos,
    ) -> Shrinker {
        let best = Plan::from_schedule(schedule);
        let stage = match detected {
            Some(t) => Stage::Truncate(t),
            None => Stage::Episodes { parts: 2, chunk: 0 },
        };
        Shrinker { best, election, tail, stage, pending: None, trials: 0 }
    }

    /// The smallest schedule that reproduced so far (the original until one did).
    pub fn best(&self) -> Vec<ScheduledFault> {
        self.best.to_schedule(self.election)
    }

    /// Candidates proposed so far.
    pub fn trials(&self) -> usize {
        self.trials
    }

    /// The next candidate to replay, or None when nothing smaller is left to try.
    pub fn next_candidate(&mut self) -> Option<Vec<ScheduledFault>> {
        loop {
            let proposer = self.stage;
            let candidate = match proposer {
                Stage::Done => return None,
                Stage::Truncate(t) => {
                    self.stage = Stage::Last(1);
                    let mut p = self.best.clone();
                    let election = self.election;
                    p.episodes.retain(|e| e.start <= t);
                    for e in &mut p.episodes {
                        let mut at = e.start;
                        let mut keep = 0;
                        for (i, (k, _)) in e.steps.iter().enumerate() {
                            if i > 0 {
                                at += elections(*k, election);
                            }
                            if at > t {
                                break;
                            }
                            keep = i + 1;
                        }
                        e.steps.truncate(keep);
                    }
                    if p.faults() == self.best.faults() {
                        continue;
                    }
                    p
                }
                Stage::Last(k) => {
                    let n = self.best.episodes.len();
                    if k >= n || k > 2 {
                        self.stage = Stage::Episodes { parts: 2, chunk: 0 };
                        continue;
                    }
                    let mut p = self.best.clone();
                    p.episodes.drain(..n - k);
                    p
                }
                Stage::Episodes { parts, chunk } => {
                    let n = self.best.episodes.len();
                    if n <= 1 {
                        self.stage = Stage::Steps { episode: 0, step: 0 };
                        continue;
                    }
                    let range = chunk_range(n, parts, chunk);
                    if range.is_empty() {
                        // Every chunk at this granularity stayed: finer, or on to single steps.
                        self.stage = if n.div_ceil(parts) <= 1 {
                            Stage::Steps { episode: 0, step: 0 }
                        } else {
                            Stage::Episodes { parts: (parts * 2).min(n), chunk: 0 }
                        };
                        continue;
                    }
                    let mut p = self.best.clone();
                    p.episodes.drain(range);
                    p
                }
                Stage::Steps { episode, step } => {
                    let Some(e) = self.best.episodes.get(episode) else {
                        self.stage = Stage::Done;
                        continue;
                    };
                    if step >= e.steps.len() {
                        self.stage = Stage::Steps { episode: episode + 1, step: 0 };
                        continue;
                    }
                    let mut p = self.best.clone();
                    remove_step(&mut p, episode, step, self.election);
                    if p.faults() == 0 {
                        self.advance();
                        continue;
                    }
                    p
                }
            };
            let candidate = self.fit(candidate);
            self.pending = Some((candidate.clone(), proposer));
            self.trials += 1;
            return Some(candidate.to_schedule(self.election));
        }
    }

    /// Whether the last candidate reproduced the failure.
    pub fn report(&mut self, reproduced: bool) {
        let Some((candidate, proposer)) = self.pending.take() else { return };
        if reproduced {
            self.best = candidate;
            // ddmin: a smaller schedule is split a little more coarsely again; a removed step's
            // position now names the next step.
            match proposer {
                Stage::Episodes { parts, .. } => {
                    self.stage = Stage::Episodes { parts: (parts - 1).max(2), chunk: 0 };
                }
                Stage::Last(_) => self.stage = Stage::Episodes { parts: 2, chunk: 0 },
                _ => {}
            }
        } else {
            self.advance();
        }
    }

    fn advance(&mut self) {
        self.stage = match self.stage {
            Stage::Episodes { parts, chunk } => Stage::Episodes { parts, chunk: chunk + 1 },
            Stage::Steps { episode, step } => Stage::Steps { episode, step: step + 1 },
            Stage::Last(k) => Stage::Last(k + 1),
            s => s,
        };
    }

    /// The run phase of a candidate ends `tail` after its last planned step (never later than the
    /// original's).
    fn fit(&self, mut plan: Plan) -> Plan {
        let last = plan.to_schedule(self.election).iter().rev().nth(1).map(|f| f.at);
        if let Some(last) = last {
            plan.end = (last + self.tail).min(self.best.end);
        }
        plan
    }
}

/// Removes one step; when it is an episode's first, the next step becomes the first at its own
/// planned time.
fn remove_step(plan: &mut Plan, episode: usize, step: usize, election: Nanos) {
    let e = &mut plan.episodes[episode];
    if step == 0 && e.steps.len() > 1 {
        e.start += elections(e.steps[1].0, election);
    }
    e.steps.remove(step);
    if e.steps.is_empty() {
        plan.episodes.remove(episode);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Nanos = 1_000_000;
    const TIMING: Timing = Timing { election: 150 * MS, long: 10 * SECOND };

    fn all_kinds() -> Vec<FaultKind> {
        vec![FaultKind::Partition, FaultKind::Kill, FaultKind::Pause, FaultKind::Drop, FaultKind::Latency]
    }

    #[test]
    fn composed_schedules_are_seeded_fit_the_run_and_end_healed() {
        for seed in 0..30 {
            let s = compose(&all_kinds(), 5, 30 * SECOND, seed, TIMING, &Weights::default()).unwrap();
            assert_eq!(s, compose(&all_kinds(), 5, 30 * SECOND, seed, TIMING, &Weights::default()).unwrap());
            let last = s.last().unwrap();
            assert_eq!((last.at, &last.fault, last.after), (30 * SECOND, &Fault::Heal, None));
            assert!(s.windows(2).all(|w| w[0].at <= w[1].at), "seed {seed}: {s:?}");
            assert!(s.iter().rev().nth(1).is_none_or(|f| f.at < 30 * SECOND));
            // Several episodes in a short run, each ending healed.
            let plan = Plan::from_schedule(&s);
            assert!(plan.episodes.len() >= 3, "seed {seed}: {} episodes", plan.episodes.len());
            assert!(plan.episodes.iter().all(|e| e.steps.last().unwrap().1 == Fault::Heal));
            assert_eq!(plan.to_schedule(TIMING.election), s, "seed {seed}: episodes round-trip");
        }
        let other = compose(&all_kinds(), 5, 30 * SECOND, 1, TIMING, &Weights::default()).unwrap();
        assert_ne!(compose(&all_kinds(), 5, 30 * SECOND, 2, TIMING, &Weights::default()).unwrap(), other);
    }

    /// Disk faults have no motif of their own: named in `--nemesis composed,power-loss,corrupt`, they
    /// come as single faults, and corruption stays on one node or a minority.
    #[test]
    fn disk_faults_are_composed_as_single_faults_when_named() {
        let kinds = [FaultKind::Kill, FaultKind::PowerLoss, FaultKind::Corrupt];
        let (mut power, mut corrupt) = (0, 0);
        for seed in 0..60 {
            let s = compose(&kinds, 5, 60 * SECOND, seed, TIMING, &Weights::default()).unwrap();
            for f in &s {
                match &f.fault {
                    Fault::PowerLoss { .. } => power += 1,
                    Fault::Corrupt { target, .. } => {
                        assert!(matches!(target, Target::One | Target::Minority), "{target:?}");
                        corrupt += 1;
                    }
                    _ => {}
                }
            }
        }
        assert!(power > 0 && corrupt > 0, "power losses {power}, corruptions {corrupt}");
        // The default kinds draw neither.
        let s = compose(&all_kinds(), 5, 60 * SECOND, 1, TIMING, &Weights::default()).unwrap();
        assert!(!s.iter().any(|f| matches!(f.fault, Fault::PowerLoss { .. } | Fault::Corrupt { .. })));
    }

    #[test]
    fn steps_inside_an_episode_are_spaced_in_elections_mostly_near_one() {
        let mut delays = Vec::new();
        for seed in 0..50 {
            let s = compose(&all_kinds(), 5, 60 * SECOND, seed, TIMING, &Weights::default()).unwrap();
            // Steps at once by design (a wait for an event and what it triggers, a pause right
            // after a cut) are not timed.
            delays.extend(s.iter().filter_map(|f| f.after).filter(|k| *k > 0.0));
        }
        assert!(delays.len() > 300, "{}", delays.len());
        let near = delays.iter().filter(|k| (0.2..=12.0).contains(*k)).count();
        let long = delays.iter().filter(|k| **k > 12.0).count();
        assert!(near * 10 >= delays.len() * 8, "{near} of {}", delays.len());
        assert!(long > 0, "some holds are long");
    }

    #[test]
    fn every_motif_is_drawn_and_uses_only_allowed_kinds() {
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..60 {
            let s = compose(&all_kinds(), 5, 60 * SECOND, seed, TIMING, &Weights::default()).unwrap();
            for e in Plan::from_schedule(&s).episodes {
                seen.insert(motif_of(&e).expect("a fresh episode is recognised"));
            }
        }
        assert_eq!(seen.len(), Motif::ALL.len(), "{seen:?}");
        // Without drop and pause: no drop and no pause anywhere.
        let kinds = [FaultKind::Partition, FaultKind::Kill];
        for seed in 0..30 {
            let s = compose(&kinds, 5, 60 * SECOND, seed, TIMING, &Weights::default()).unwrap();
            assert!(s.iter().all(|f| !matches!(f.fault, Fault::Drop { .. } | Fault::Pause { .. })), "{s:?}");
        }
        assert_eq!(compose(&[], 5, 30 * SECOND, 1, TIMING, &Weights::default()).unwrap().len(), 1);
    }

    #[test]
    fn the_motifs_aim_by_role_and_history() {
        let mut targets = std::collections::BTreeSet::new();
        for seed in 0..60 {
            let s = compose(&all_kinds(), 5, 60 * SECOND, seed, TIMING, &Weights::default()).unwrap();
            for f in s {
                if let Fault::Kill { target } | Fault::Pause { target } | Fault::Restart { target } = f.fault
                {
                    targets.insert(target.name());
                }
            }
        }
        for t in ["leader", "new-leader", "previous-leader", "restarted", "bridge", "side", "majority", "triggered"] {
            assert!(targets.contains(t), "{t} never aimed at: {targets:?}");
        }
    }

    #[test]
    fn election_restarts_crash_a_voter_the_moment_it_grants_its_vote() {
        let mut triggered = 0;
        for seed in 0..200 {
            let kinds = [FaultKind::Latency, FaultKind::Kill];
            let s = compose(&kinds, 3, 60 * SECOND, seed, TIMING, &Weights::default()).unwrap();
            for (i, f) in s.iter().enumerate() {
                if let Fault::Await { event, within } = f.fault {
                    // The wait follows the restart of the previous leader, and the kill of the voter
                    // follows the wait at once.
                    assert_eq!((event, within), (Event::VoteGranted, 3.0));
                    assert!(matches!(s[i - 1].fault, Fault::Restart { target: Target::PreviousLeader }));
                    // Without pause among the kinds, the candidate is never stalled.
                    assert_eq!((&s[i + 1].fault, s[i + 1].after), (&Fault::Kill { target: Target::Triggered }, Some(0.0)));
                    assert!(matches!(s[i + 2].fault, Fault::Restart { target: Target::All }));
                    assert!(s[i + 2].after.unwrap() <= 0.2);
                    triggered += 1;
                }
            }
            // A wait is no fault: the count of faults leaves it out.
            assert_eq!(fault_count(&s), s.iter().filter(|f| !matches!(f.fault, Fault::Heal | Fault::Await { .. })).count());
        }
        assert!(triggered > 50, "{triggered}");
        // With pause: sometimes the candidate that got the vote is paused at once, the voter is
        // brought back alone, and the candidate continued later.
        let mut stalled = 0;
        for seed in 0..200 {
            let kinds = [FaultKind::Latency, FaultKind::Kill, FaultKind::Pause];
            let s = compose(&kinds, 3, 60 * SECOND, seed, TIMING, &Weights::default()).unwrap();
            for (i, f) in s.iter().enumerate() {
                if f.fault == (Fault::Pause { target: Target::TriggeredPeer })
                    && matches!(s[i - 1].fault, Fault::Await { .. })
                {
                    assert_eq!(s[i + 1].fault, Fault::Kill { target: Target::Triggered });
                    assert_eq!(s[i + 2].fault, Fault::Restart { target: Target::Triggered });
                    assert_eq!(s[i + 3].fault, Fault::Restart { target: Target::All });
                    stalled += 1;
                }
            }
        }
        assert!(stalled > 20, "{stalled}");
    }

    #[test]
    fn weights_shift_what_is_drawn() {
        let mut w = Weights::default();
        for m in Motif::ALL {
            w.0.insert(m, 0.0);
        }
        w.0.insert(Motif::CrashMany, 1.0);
        let s = compose(&all_kinds(), 5, 60 * SECOND, 3, TIMING, &w).unwrap();
        let plan = Plan::from_schedule(&s);
        let crash = plan.episodes.iter().filter(|e| motif_of(e) == Some(Motif::CrashMany)).count();
        assert!(crash * 10 >= plan.episodes.len() * 8, "{crash} of {}", plan.episodes.len());
    }

    #[test]
    fn mutations_are_seeded_and_keep_schedules_well_formed() {
        let base = compose(&all_kinds(), 5, 30 * SECOND, 9, TIMING, &Weights::default()).unwrap();
        let donor = compose(&all_kinds(), 5, 30 * SECOND, 10, TIMING, &Weights::default()).unwrap();
        let mut changed = 0;
        for seed in 0..100 {
            let m = mutate(&base, Some(&donor), &all_kinds(), 5, TIMING, seed);
            assert_eq!(m, mutate(&base, Some(&donor), &all_kinds(), 5, TIMING, seed));
            let last = m.last().unwrap();
            assert_eq!((last.at, &last.fault), (30 * SECOND, &Fault::Heal));
            assert!(m.windows(2).all(|w| w[0].at <= w[1].at), "{m:?}");
            assert!(m.iter().all(|f| f.at <= 30 * SECOND));
            changed += usize::from(m != base);
        }
        assert!(changed >= 90, "{changed} of 100 mutations changed something");
        // An empty schedule grows.
        let empty = vec![ScheduledFault::at(30 * SECOND, Fault::Heal)];
        assert!((0..10).any(|seed| mutate(&empty, None, &all_kinds(), 5, TIMING, seed).len() > 1));
    }

    /// A simulated failure: reproduced when the schedule still has a kill of the new leader after a
    /// leader-minority partition (and, to make the order matter, the partition comes first).
    fn fails(s: &[ScheduledFault]) -> bool {
        let p = s.iter().position(|f| f.fault == Fault::Partition { topology: Topology::LeaderMinority });
        let k = s.iter().position(|f| f.fault == Fault::Kill { target: Target::NewLeader });
        matches!((p, k), (Some(p), Some(k)) if p < k)
    }

    #[test]
    fn shrinking_keeps_only_what_reproduces() {
        let mut original = None;
        for seed in 0..200 {
            let s = compose(&all_kinds(), 5, 60 * SECOND, seed, TIMING, &Weights::default()).unwrap();
            if fails(&s) && fault_count(&s) > 12 {
                original = Some(s);
                break;
            }
        }
        let original = original.expect("some seed composes the failing pair among many faults");
        let mut shrinker = Shrinker::new(&original, None, TIMING.election, 5 * SECOND);
        while let Some(c) = shrinker.next_candidate() {
            assert!(c.len() < original.len() || fault_count(&c) < fault_count(&original));
            shrinker.report(fails(&c));
        }
        let best = shrinker.best();
        assert!(fails(&best), "{best:?}");
        assert_eq!(fault_count(&best), 2, "{best:#?}");
        assert!(best.last().unwrap().at < 60 * SECOND, "the run phase was shortened");
        assert!(
            shrinker.trials() < original.len(),
            "{} trials for {} steps",
            shrinker.trials(),
            original.len()
        );
    }

    #[test]
    fn shrinking_tries_the_episode_of_the_failure_alone_right_after_the_cut() {
        let s = compose(&all_kinds(), 5, 60 * SECOND, 7, TIMING, &Weights::default()).unwrap();
        let plan = Plan::from_schedule(&s);
        assert!(plan.episodes.len() >= 6, "{} episodes", plan.episodes.len());
        let culprit = plan.episodes[4].clone();
        let detected = culprit.start + culprit.length(TIMING.election);
        let holds =
            |c: &[ScheduledFault]| Plan::from_schedule(c).episodes.iter().any(|e| e.steps == culprit.steps);
        let mut shrinker = Shrinker::new(&s, Some(detected), TIMING.election, 5 * SECOND);
        let cut = shrinker.next_candidate().unwrap();
        assert_eq!(Plan::from_schedule(&cut).episodes.len(), 5, "cut after the failure: {cut:?}");
        shrinker.report(holds(&cut));
        let alone = shrinker.next_candidate().unwrap();
        assert_eq!(Plan::from_schedule(&alone).episodes, vec![culprit.clone()], "the last episode alone");
        shrinker.report(holds(&alone));
        while let Some(c) = shrinker.next_candidate() {
            shrinker.report(holds(&c));
        }
        let best = shrinker.best();
        assert!(holds(&best));
        assert_eq!(fault_count(&best), culprit.steps.iter().filter(|(_, f)| *f != Fault::Heal).count());
        assert!(shrinker.trials() <= 2 + culprit.steps.len(), "{} trials", shrinker.trials());
    }

    #[test]
    fn shrinking_first_cuts_what_came_after_the_detection() {
        let s = compose(&all_kinds(), 5, 60 * SECOND, 4, TIMING, &Weights::default()).unwrap();
        let mut shrinker = Shrinker::new(&s, Some(10 * SECOND), TIMING.election, 5 * SECOND);
        let first = shrinker.next_candidate().unwrap();
        assert!(first.iter().rev().skip(1).all(|f| f.at <= 10 * SECOND), "{first:?}");
        assert_eq!(first.last().unwrap().at, first.iter().rev().nth(1).unwrap().at + 5 * SECOND);
        // Nothing reproduces: the best stays the original.
        shrinker.report(false);
        while let Some(_c) = shrinker.next_candidate() {
            shrinker.report(false);
        }
        assert_eq!(shrinker.best(), s);
    }
}
