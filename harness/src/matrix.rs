//! `faultline matrix`: detection power as a measured number.
//!
//! A checker that always says "valid" looks exactly like a perfect one until it meets a bug. The
//! matrix runs raft-node with each of its planted bugs (`--bug NAME`, see CONTRACTS.md section 2) and
//! once more with no bug at all, several seeded runs each, and tabulates how many runs were reported
//! invalid, how soon the evidence was complete, and which anomaly classes the checkers named. The row
//! of the correct node is the false-alarm rate; it must stay at zero.
//!
//! Each bug gets the fault schedule and node flags most likely to expose it ([`Scenario`]), written
//! out explicitly instead of drawn from `--nemesis` kinds, because the drawn mix spends most of a short
//! run on faults a given bug does not care about. A scenario is a cycle of fault steps at fixed offsets
//! (a step may follow another without a heal in between, so a cycle can say "partition, then kill the
//! new leader, then heal"), repeated over the run phase, which always ends healed. Flags that switch
//! off an optional Raft feature (`--no-check-quorum`, `--no-pre-vote`, `--max-entries-per-append`) are
//! deployment choices real clusters make (etcd 3.4 runs without check-quorum and pre-vote by default);
//! none of them changes what a planted bug does, they only stop a defence in depth from hiding it.
//!
//! - `stale-read` (the leader answers reads at once from local state, without a heartbeat round):
//!   `--no-check-quorum`, and the leader isolated for 2.5 s at a time under a read-heavy mix. Without
//!   check-quorum an isolated leader stays leader until it hears a higher term, so for the whole
//!   isolation it serves the state of the moment it was cut off, while the majority elects a new
//!   leader and completes writes; clients on the majority side are pointed at the old leader by their
//!   (stale) leader hints, so reads invoked after those writes completed return older values. With
//!   check-quorum the old leader stepped down at about the time the new one was elected and the stale
//!   window was a few milliseconds (2 of 7 runs were caught).
//! - `no-conflict-check` (followers append without comparing `prev_log_term`): the leader and one
//!   follower are cut off as a minority (`leader-minority`, with `--no-check-quorum` so the old leader
//!   keeps appending writes it cannot commit, to itself and that follower); the majority elects a new
//!   leader and commits writes at the same indexes; then that new leader is killed before the network
//!   heals. The election after the heal starts every follower's `next_index` at the new leader's log
//!   end, so the stranded follower's first AppendEntries (or the one after its "log too short" answer)
//!   names a `prev_log_index` inside its own uncommitted suffix of the older term. A correct follower
//!   refuses and backs up; the buggy one accepts, keeps the old entries below, and later applies them
//!   as committed. The committed logs then disagree at those indexes (and the node's state machine
//!   lost acknowledged writes). Healing without the kill lets the surviving leader probe from where
//!   it left off and repair the follower, which is why random churn found this bug only now and then.
//! - `early-ack` acknowledges writes the leader only appended: isolate or kill the leader under writes.
//! - `lazy-persist` acknowledges before the WAL write is durable (flushed every 500 ms): kill a
//!   majority or everything right after a burst of writes.
//! - `forget-vote` (a vote is not persisted, so a voter that restarts can vote again in the same
//!   term) needs a voter that votes, crashes before the winner's entries reach it, and is then asked
//!   again in the same term by a second candidate whose log is still as long as its own. Iptables and
//!   signals alone cannot aim at that one-round-trip window; messages of one kind dropped by the
//!   proxy can hold it open (see [`workloads::Messages`]). On 3 nodes, with `--no-pre-vote` (pre-vote
//!   refuses a second vote at the voter's own term structurally): the leader becomes the bridge
//!   between two one-node halves (`leader-bridge`) and hears no AppendEntries from now on (`drop
//!   appends` into it); it is crashed and restarted, so both halves lose their leader at the same
//!   moment and at the same term; one half is paused (SIGSTOP freezes its election timer) while the
//!   other half times out, asks the old leader for its vote and wins; the old leader, which voted but
//!   never heard the winner's no-op, is crashed and restarted again (the bug forgets the vote); then
//!   the paused half is continued, times out at the same term and asks the same voter, which grants
//!   it: two leaders of one term, and their writes diverge. Halves of one node cannot split their own
//!   vote (on 5 nodes both nodes of a continued half often time out in the same tick). The run's
//!   Election Safety check ([`crate::analysis::check_election_safety`]) reports the two leaders.
//! - `commit-old-term` (a leader commits an entry of an older term by counting replicas, the unsafe
//!   rule of the paper's Figure 8) needs an old-term entry acknowledged by a majority while the new
//!   leader's own entries are not, and another node that can still win with a conflicting entry of
//!   a newer term. The no-op every new leader appends normally travels in the same AppendEntries as
//!   the old entries. On 3 nodes, with `--max-entries-per-append 1` (the leader's catch-up sends
//!   one entry per message): AppendEntries are dropped on every link, so the leader's new writes
//!   stay on the leader (entries X, old term) and the follower elected next keeps its no-op to
//!   itself (Y at the same index, newer term); that new leader is killed, and the old one wins
//!   again with the vote of the third node, the laggard, which has neither. `--no-check-quorum`
//!   keeps that leader leading although nobody acknowledges it (with check-quorum it stepped down
//!   every election timeout, and about half the cycles found no leader at the moment the next step
//!   needed one). Then only the link from the leader to the laggard delivers AppendEntries, each
//!   delayed 150 ms: the laggard rejects the first, takes X alone (one entry per message) and
//!   acknowledges it, and the buggy leader now holds X on a majority and commits it; the leader is
//!   cut off before the next entry (its own-term no-op) arrives. The killed node returns, wins the
//!   laggard's vote with its newer-term Y and overwrites X, which the old leader had committed and
//!   applied: the committed-log check reports the divergence, and the writes in X are lost.
//! - `fsync-lag` (the WAL is written to the OS at once but fsynced every second, and writes are
//!   acknowledged before the fsync): lazy-persist's choreography with the power cut instead of the
//!   kill, of every node and of a majority, right after a burst of writes. A SIGKILL loses nothing
//!   here (the kernel holds the writes); the row `fsync-lag:kill` runs the same scenario with kills
//!   and shows it. Power loss needs root and /dev/fuse (each data directory is mounted through
//!   [`crate::lazyfs`]); without them the default matrix leaves both rows out and says so.
//! - `txn-local-read` (the leader answers a transaction's reads from its applied state when it
//!   proposes the transaction, not from the state at the transaction's place in the log): the
//!   `txn-append` workload, where concurrent transactions over a few keys read and append the same
//!   lists; one transaction commits after another it did not see, which its reads then contradict
//!   (G-single, G2-item, and their real-time variants). The leader is isolated or killed now and
//!   then, so new leaders, whose applied state lags the log, answer too.
//! - the correct node's run `k` replays the faults, node flags and workload of bug scenario `k mod 8`
//!   (without the bug; where power cannot be cut, of the seven others), so eight correct runs cover
//!   every scenario's faults under its own flags at least once: "0 false alarms" covers the
//!   non-default flags, the power loss of every node and the transactions too.
//!
//! Every run is paced to [`crate::config::MAX_OPS_PER_RUN`] client operations. raft-node snapshots and compacts its
//! log every 10 000 applied entries (`--snapshot-threshold`), and the committed-log comparison cannot
//! see into a compacted prefix: it says `unknown` for the writes there, and a divergence there is
//! invisible. Unpaced, a release build wrote 10 000 to 15 000 entries in a 15 s run and 7 of 10
//! `no-conflict-check` runs came out unknown instead of invalid; the runs that stayed under the
//! threshold were all caught.
//!
//! Time to detection is read back from the stored run ([`crate::findings`]); the median is over the
//! runs that detected the bug.
//!
//! `--generic` asks the other question: what does the tool find when nobody wrote a scenario? Each
//! row runs raft-node with the bug and its default flags only (pre-vote, check-quorum, 64 entries
//! per message), and `--runs` sessions of `faultline explore` ([`crate::explore`]) with `--budget`
//! each; a session stops at its first invalid run and shrinks it. The table ([`generic_table`])
//! prints sessions that found the bug, the median time into the session to the first invalid run,
//! the median length of the shrunk schedules, and beside them the flags the bug's tailored
//! scenario needs. The correct node's row gets the same total time and counts false alarms. The
//! scenarios above stay as regression tests of the checkers; `node/raft/tests/sim/defaults.rs`
//! shows why some bugs are rare or out of reach under the default flags.

use crate::cluster::Backend;
use crate::config::pace;
use crate::config::{ConfigError, RunConfig};
use crate::findings::findings;
use crate::raftnode::PLANTED_BUGS as BUGS;
use crate::run::{self, RunError};
use crate::system::System;
use crate::units::parse_duration;
use checker::Verdict;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use workloads::{
    Fault, FaultKind, Messages, NemesisSpec, ScheduledFault, Target, Topology, Workload, WorkloadOptions,
};

/// The name of the correct node's row.
pub const CORRECT: &str = "none";

/// One fault of a scenario's cycle, at an offset from the cycle's start.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub at: Duration,
    pub fault: Fault,
}

/// How one row of the matrix runs: a cycle of fault steps, node flags and the workload mix.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// A planted bug name, or [`CORRECT`].
    pub bug: String,
    /// Faults at offsets from the cycle's start, in order; the last one is a heal.
    pub cycle: Vec<Step>,
    /// Length of one cycle (the last step's offset plus the quiet time after it).
    pub cycle_len: Duration,
    /// The workload (register for every bug but `txn-local-read`, whose reads only transactions make).
    pub workload: Workload,
    /// Weights of read, write, cas.
    pub mix: (u32, u32, u32),
    /// raft-node flags besides `--bug` (see the module documentation for why each is there).
    pub node_args: Vec<String>,
    /// Cluster size when the scenario needs its own (instead of the matrix's `--nodes`).
    pub nodes: Option<usize>,
    /// Every power loss of the bug's scenario replaced by a kill (the row `BUG:kill`).
    pub kill_only: bool,
}

/// The suffix of a row that runs a bug's scenario with kills where it cuts the power
/// (`fsync-lag:kill`): what a kill-only nemesis can find.
pub const KILL_ONLY: &str = ":kill";

fn isolate_leader() -> Fault {
    Fault::Partition { topology: Topology::IsolateLeader }
}

/// A cycle of `faults`, each held for `fault_for` and followed by a heal and `heal_for` of quiet.
fn alternate(faults: Vec<Fault>, fault_for: Duration, heal_for: Duration) -> (Vec<Step>, Duration) {
    let mut steps = Vec::new();
    let mut at = Duration::ZERO;
    for fault in faults {
        steps.push(Step { at, fault });
        steps.push(Step { at: at + fault_for, fault: Fault::Heal });
        at += fault_for + heal_for;
    }
    (steps, at)
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl Scenario {
    /// The scenario for `bug` (a name from [`BUGS`] or [`CORRECT`]). The correct node's row uses
    /// [`Scenario::for_run`].
    pub fn for_bug(bug: &str) -> Result<Scenario, String> {
        Scenario::for_run(bug, 0)
    }

    /// The scenario of run `k` of the row `bug`: the bug's own, or for [`CORRECT`] the faults and
    /// flags of bug scenario `k mod 8` without the bug.
    pub fn for_run(bug: &str, k: usize) -> Result<Scenario, String> {
        if let Some(base) = bug.strip_suffix(KILL_ONLY) {
            let mut s = Scenario::for_run(base, k)?;
            for step in &mut s.cycle {
                if let Fault::PowerLoss { target } = step.fault {
                    step.fault = Fault::Kill { target };
                }
            }
            s.kill_only = true;
            return Ok(s);
        }
        if bug == CORRECT {
            let mut s = Scenario::for_run(BUGS[k % BUGS.len()], 0)?;
            s.bug = CORRECT.to_string();
            return Ok(s);
        }
        Scenario::own(bug)
    }

    /// [`Scenario::for_run`] where power cannot be cut (no root or no /dev/fuse): the correct row
    /// cycles through the scenarios without power loss.
    pub fn for_run_without_power_loss(bug: &str, k: usize) -> Result<Scenario, String> {
        if bug != CORRECT {
            return Scenario::for_run(bug, k);
        }
        let usable: Vec<&str> =
            BUGS.iter().copied().filter(|b| Scenario::for_bug(b).is_ok_and(|s| !s.needs_lazyfs())).collect();
        let mut s = Scenario::for_run(usable[k % usable.len()], 0)?;
        s.bug = CORRECT.to_string();
        Ok(s)
    }

    /// Whether a step cuts the power (the run then mounts lazyfs: root and /dev/fuse).
    pub fn needs_lazyfs(&self) -> bool {
        self.cycle.iter().any(|s| matches!(s.fault, Fault::PowerLoss { .. }))
    }

    /// The scenario of a planted bug's own row.
    fn own(bug: &str) -> Result<Scenario, String> {
        let ms = Duration::from_millis;
        let ((cycle, cycle_len), mix, node_args) = match bug {
            "stale-read" => (
                alternate(vec![isolate_leader()], ms(2500), ms(1000)),
                (4, 2, 1),
                args(&["--no-check-quorum"]),
            ),
            "no-conflict-check" => (
                (
                    vec![
                        Step { at: ms(0), fault: Fault::Partition { topology: Topology::LeaderMinority } },
                        Step { at: ms(1500), fault: Fault::Kill { target: Target::Leader } },
                        Step { at: ms(1800), fault: Fault::Heal },
                    ],
                    ms(3300),
                ),
                (1, 3, 1),
                args(&["--no-check-quorum"]),
            ),
            "forget-vote" => {
                // Offsets from the old leader's crash; see the module documentation for the why.
                let crash = 200;
                let revote = crash + 290;
                (
                    (
                        vec![
                            Step { at: ms(0), fault: Fault::Partition { topology: Topology::LeaderBridge } },
                            Step {
                                at: ms(0),
                                fault: Fault::Drop {
                                    topology: Topology::IntoLeader,
                                    messages: Messages::Appends,
                                },
                            },
                            Step { at: ms(crash), fault: Fault::Kill { target: Target::Bridge } },
                            Step { at: ms(crash + 100), fault: Fault::Restart { target: Target::Bridge } },
                            Step { at: ms(crash + 120), fault: Fault::Pause { target: Target::Side } },
                            Step { at: ms(revote), fault: Fault::Kill { target: Target::Bridge } },
                            Step { at: ms(revote + 20), fault: Fault::Restart { target: Target::Bridge } },
                            Step { at: ms(revote + 30), fault: Fault::Restart { target: Target::All } },
                            Step { at: ms(1100), fault: Fault::Heal },
                        ],
                        ms(2500),
                    ),
                    (2, 1, 1),
                    args(&["--no-pre-vote"]),
                )
            }
            "commit-old-term" => {
                // The leader-to-laggard link opens at `open` with `delay` each way of the catch-up, so
                // the old-term entry is acknowledged at about open + 2 * delay and what follows it would
                // arrive a delay later; the cut lands in between (heartbeats add up to 30 ms).
                let (open, delay) = (900, 150);
                let cut = open + 2 * delay + 60;
                let all = Topology::AllLinks;
                let to_laggard = Topology::LeaderToLaggard;
                (
                    (
                        vec![
                            Step {
                                at: ms(0),
                                fault: Fault::Drop { topology: all, messages: Messages::Appends },
                            },
                            Step { at: ms(310), fault: Fault::Kill { target: Target::Leader } },
                            Step {
                                at: ms(open),
                                fault: Fault::Latency { topology: to_laggard, delay_ms: delay, jitter_ms: 0 },
                            },
                            Step { at: ms(open), fault: Fault::Deliver { topology: to_laggard } },
                            Step { at: ms(cut), fault: isolate_leader() },
                            Step { at: ms(cut + 20), fault: Fault::Restart { target: Target::All } },
                            Step { at: ms(cut + 20), fault: Fault::Deliver { topology: all } },
                            Step { at: ms(2000), fault: Fault::Heal },
                        ],
                        ms(3000),
                    ),
                    (1, 3, 1),
                    args(&["--no-check-quorum", "--max-entries-per-append", "1"]),
                )
            }
            "early-ack" => (
                alternate(vec![isolate_leader(), Fault::Kill { target: Target::Leader }], ms(2000), ms(1000)),
                (2, 3, 1),
                Vec::new(),
            ),
            "lazy-persist" => (
                alternate(
                    vec![Fault::Kill { target: Target::All }, Fault::Kill { target: Target::Majority }],
                    ms(400),
                    ms(1500),
                ),
                (1, 3, 1),
                Vec::new(),
            ),
            // The same choreography as lazy-persist with the power cut instead of the kill: the
            // acknowledged writes of the last second are in the kernel's page cache on every node,
            // and only a power loss of them all (or of a majority that then elects one of its own)
            // takes them away. Its `:kill` twin shows that kill-only schedules cannot.
            "fsync-lag" => (
                alternate(
                    vec![
                        Fault::PowerLoss { target: Target::All },
                        Fault::PowerLoss { target: Target::Majority },
                    ],
                    ms(400),
                    ms(1500),
                ),
                (1, 3, 1),
                Vec::new(),
            ),
            "txn-local-read" => (
                alternate(vec![isolate_leader(), Fault::Kill { target: Target::Leader }], ms(1500), ms(1500)),
                (1, 1, 0),
                Vec::new(),
            ),
            other => {
                return Err(format!(
                    "unknown bug {other:?}; planted bugs are {} (and {CORRECT:?} for the correct node)",
                    BUGS.join(", ")
                ));
            }
        };
        // Both choreographies cast three roles. forget-vote's halves must be single nodes: a half of
        // two can split its own vote and elect nobody; commit-old-term needs exactly an old leader,
        // a next leader and a laggard.
        let nodes = matches!(bug, "forget-vote" | "commit-old-term").then_some(3);
        let workload = if bug == "txn-local-read" { Workload::TxnAppend } else { Workload::Register };
        Ok(Scenario {
            bug: bug.to_string(),
            cycle,
            cycle_len,
            workload,
            mix,
            node_args,
            nodes,
            kill_only: false,
        })
    }

    /// The fault schedule over a run phase of `time_limit`: one second of quiet, then whole cycles
    /// while one still fits, then a heal at the time limit.
    pub fn schedule(&self, time_limit: Duration) -> Vec<ScheduledFault> {
        let limit = time_limit.as_nanos() as u64;
        let cycle = self.cycle_len.as_nanos() as u64;
        let last = self.cycle.last().map_or(0, |s| s.at.as_nanos() as u64);
        let mut out = Vec::new();
        let mut start = Duration::from_secs(1).as_nanos() as u64;
        while cycle > 0 && start + last < limit {
            for step in &self.cycle {
                out.push(ScheduledFault::at(start + step.at.as_nanos() as u64, step.fault.clone()));
            }
            start += cycle;
        }
        out.push(ScheduledFault::at(limit, Fault::Heal));
        out
    }

    /// The matrix row this scenario is run for (`BUG`, or `BUG:kill`).
    pub fn row(&self) -> String {
        if self.kill_only { format!("{}{KILL_ONLY}", self.bug) } else { self.bug.clone() }
    }

    /// The fault kinds this scenario uses (recorded in `test.json` and the test's name).
    pub fn kinds(&self) -> Vec<FaultKind> {
        let mut kinds = Vec::new();
        for k in self.cycle.iter().filter_map(|step| step.fault.kind()) {
            if !kinds.contains(&k) {
                kinds.push(k);
            }
        }
        kinds
    }
}

/// What the matrix needs besides the scenarios.
#[derive(Clone, Debug)]
pub struct MatrixConfig {
    /// Rows to run: bug names and/or [`CORRECT`].
    pub bugs: Vec<String>,
    pub runs: usize,
    pub time_limit: Duration,
    pub nodes: usize,
    pub concurrency: usize,
    /// Seed of the first run; run `k` of every row uses `seed + k`.
    pub seed: u64,
    pub node_bin: PathBuf,
    pub store: PathBuf,
    pub net: Backend,
    pub op_timeout: Duration,
    pub recover_timeout: Duration,
    /// Stop a bug's row at its first detection (the CI form); the correct row always runs all runs.
    pub until_detected: bool,
    /// Whether power can be cut here (lazyfs mounts); without, the correct row skips power-loss
    /// scenarios.
    pub power_loss: bool,
}

/// One run of a row.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RunRow {
    pub seed: u64,
    pub dir: String,
    pub verdict: Verdict,
    /// Seconds from the start of the run phase until the evidence was complete.
    pub detected_after_s: Option<f64>,
    pub classes: Vec<String>,
    /// A harness error that made this run count as undetected.
    pub error: Option<String>,
}

/// One row of the matrix.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Row {
    pub bug: String,
    pub runs: Vec<RunRow>,
}

impl Row {
    pub fn detected(&self) -> usize {
        self.runs.iter().filter(|r| r.verdict == Verdict::Invalid).count()
    }

    /// Median seconds to detection over the detecting runs.
    pub fn median_detection_s(&self) -> Option<f64> {
        let mut t: Vec<f64> = self.runs.iter().filter_map(|r| r.detected_after_s).collect();
        if t.is_empty() {
            return None;
        }
        t.sort_by(f64::total_cmp);
        let n = t.len();
        Some(if n % 2 == 1 { t[n / 2] } else { (t[n / 2 - 1] + t[n / 2]) / 2.0 })
    }

    pub fn classes(&self) -> BTreeSet<String> {
        self.runs.iter().flat_map(|r| r.classes.iter().cloned()).collect()
    }

    /// Whether this row meets the target: a bug found in at least 90% of its runs (or, with
    /// `until_detected`, at all); the correct node never reported invalid.
    pub fn passes(&self, until_detected: bool) -> bool {
        if self.bug == CORRECT {
            return self.detected() == 0 && self.runs.iter().all(|r| r.error.is_none());
        }
        if self.bug.ends_with(KILL_ONLY) {
            // A demonstration of what kill-only schedules miss, not a detection target.
            return self.runs.iter().all(|r| r.error.is_none());
        }
        if until_detected {
            return self.detected() >= 1;
        }
        self.detected() * 10 >= self.runs.len() * 9
    }
}

/// Runs the matrix row by row, printing each run as it ends; returns the rows (also written to
/// `<store>/matrix.json`).
pub async fn run_matrix(config: &MatrixConfig) -> Result<Vec<Row>, RunError> {
    let mut rows = Vec::new();
    for bug in &config.bugs {
        let mut row = Row { bug: bug.clone(), runs: Vec::new() };
        for k in 0..config.runs {
            let scenario = if config.power_loss {
                Scenario::for_run(bug, k)
            } else {
                Scenario::for_run_without_power_loss(bug, k)
            };
            let scenario = scenario.map_err(RunError::Failed)?;
            let seed = config.seed.wrapping_add(k as u64);
            let run = one_run(config, &scenario, seed).await;
            println!(
                "matrix: {bug} run {}/{}: seed {seed}: {:?}{}{}",
                k + 1,
                config.runs,
                run.verdict,
                run.detected_after_s.map(|t| format!(" after {t:.1}s")).unwrap_or_default(),
                if run.classes.is_empty() { String::new() } else { format!(" ({})", run.classes.join(", ")) },
            );
            if let Some(e) = &run.error {
                println!("matrix:   error: {e}");
            }
            let found = run.verdict == Verdict::Invalid;
            row.runs.push(run);
            if config.until_detected && found && bug != CORRECT {
                break;
            }
        }
        rows.push(row);
        save(&config.store, &rows)?;
    }
    Ok(rows)
}

fn save(store: &Path, rows: &[Row]) -> Result<(), RunError> {
    std::fs::create_dir_all(store)
        .map_err(|e| crate::store::StoreError::Io { path: store.to_path_buf(), source: e })?;
    Ok(crate::store::write_json(&store.join("matrix.json"), rows)?)
}

/// The run configuration of one matrix run.
pub fn run_config(config: &MatrixConfig, scenario: &Scenario, seed: u64) -> Result<RunConfig, ConfigError> {
    let mut node_args = Vec::new();
    if scenario.bug != CORRECT {
        node_args.extend(["--bug".to_string(), scenario.bug.clone()]);
    }
    node_args.extend(scenario.node_args.iter().cloned());
    let (read_weight, write_weight, cas_weight) = scenario.mix;
    let mut c = RunConfig::new(System::RaftNode);
    c.nodes = scenario.nodes.unwrap_or(config.nodes);
    c.time_limit = config.time_limit;
    c.workload = scenario.workload;
    c.workload_options =
        WorkloadOptions { read_weight, write_weight, cas_weight, ..WorkloadOptions::default() };
    c.nemesis = NemesisSpec {
        kinds: scenario.kinds(),
        interval: scenario.cycle_len.as_nanos() as u64,
        message_types: Vec::new(),
        composed: false,
    };
    c.concurrency = config.concurrency;
    c.rate = Some(pace(config.time_limit));
    c.seed = seed;
    c.node_bin = config.node_bin.clone();
    c.node_args = node_args;
    c.store = config.store.join(scenario.row());
    c.net = config.net;
    c.op_timeout = config.op_timeout;
    c.recover_timeout = config.recover_timeout;
    c.progress = false;
    c.validate()
}

async fn one_run(config: &MatrixConfig, scenario: &Scenario, seed: u64) -> RunRow {
    let schedule = scenario.schedule(config.time_limit);
    let result = match run_config(config, scenario, seed) {
        Ok(c) => run::run_with_schedule(c, Some(schedule)).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(summary) => match &summary.results {
            Some(results) => {
                let found = summary.dir.load_spec().map(|spec| findings(&summary.dir, &spec, results));
                let found = match found {
                    Ok(f) => f,
                    Err(e) => {
                        return RunRow {
                            seed,
                            dir: summary.dir.path().display().to_string(),
                            verdict: results.verdict,
                            detected_after_s: None,
                            classes: Vec::new(),
                            error: Some(e.to_string()),
                        };
                    }
                };
                RunRow {
                    seed,
                    dir: summary.dir.path().display().to_string(),
                    verdict: results.verdict,
                    detected_after_s: found.first_time_s,
                    classes: found.classes,
                    error: None,
                }
            }
            None => RunRow {
                seed,
                dir: summary.dir.path().display().to_string(),
                verdict: Verdict::Unknown,
                detected_after_s: None,
                classes: Vec::new(),
                error: Some("the run was not checked".into()),
            },
        },
        Err(e) => RunRow {
            seed,
            dir: String::new(),
            verdict: Verdict::Unknown,
            detected_after_s: None,
            classes: Vec::new(),
            error: Some(e.to_string()),
        },
    }
}

/// The matrix as a text table.
pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<18} {:>5} {:>9} {:>16}  {}\n",
        "bug", "runs", "detected", "median detect s", "anomaly classes"
    );
    for r in rows {
        let classes = r.classes().into_iter().collect::<Vec<_>>().join(", ");
        out.push_str(&format!(
            "{:<18} {:>5} {:>9} {:>16}  {}\n",
            if r.bug == CORRECT { "none (correct)" } else { &r.bug },
            r.runs.len(),
            r.detected(),
            r.median_detection_s().map_or("-".to_string(), |t| format!("{t:.1}")),
            if classes.is_empty() { "-".to_string() } else { classes },
        ));
    }
    out
}

/// `faultline matrix` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct MatrixArgs {
    /// Rows: planted bug names and/or `none` (the correct node), comma-separated
    /// [default: every planted bug, then none].
    #[arg(long, value_delimiter = ',')]
    pub bugs: Vec<String>,
    /// Seeded runs per row.
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
    /// Length of each run's run phase (at most 60s is the target).
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub time_limit: Duration,
    #[arg(long, default_value_t = 5)]
    pub nodes: usize,
    #[arg(long, default_value_t = 10)]
    pub concurrency: usize,
    /// Seed of the first run of every row (run k uses seed + k).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The raft-node binary (default: raft-node next to this executable).
    #[arg(long)]
    pub node_bin: Option<PathBuf>,
    /// Store directory; rows go to <store>/<bug>/, the table to <store>/matrix.json.
    #[arg(long, default_value = "store/matrix")]
    pub store: PathBuf,
    #[arg(long, value_enum)]
    pub net: Option<Backend>,
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub op_timeout: Duration,
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub recover_timeout: Duration,
    /// Stop a bug's row at its first detection (a row then passes with one detection).
    #[arg(long)]
    pub until_detected: bool,
    /// No scenarios: every bug with raft-node's default flags, found (or not) by `faultline
    /// explore` sessions alone; --runs sessions per row, each with --budget. The correct node's row
    /// gets the same total time and counts false alarms.
    #[arg(long)]
    pub generic: bool,
    /// With --generic: the time of one explorer session (stopped at its first invalid run).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub budget: Duration,
    /// With --generic: shrink each found failure (K/N replays, see `faultline explore --reproduce`).
    #[arg(long, default_value = "2/3")]
    pub reproduce: String,
    /// With --generic: time for shrinking one failure; 0s: do not shrink.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub shrink_budget: Duration,
    /// With --generic: the cluster sizes each explorer run draws from (as `faultline explore
    /// --nodes`); the tailored rows use --nodes.
    #[arg(long, default_value = "3,5", value_parser = crate::explore::ClusterSizes::parse)]
    pub generic_nodes: crate::explore::ClusterSizes,
}

/// One explorer session of a `--generic` row.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct GenericSession {
    pub seed: u64,
    pub runs: usize,
    /// Invalid runs (for a bug the session stops at the first; for the correct node, false alarms).
    pub invalid: usize,
    /// Seconds into the session when the first invalid run ended.
    pub found_after_s: Option<f64>,
    pub classes: Vec<String>,
    /// Faults of the shrunk schedule, and the replays of it that reproduced, of how many.
    pub shrunk_faults: Option<usize>,
    pub shrunk_rate: Option<(usize, usize)>,
    pub dir: Option<String>,
    pub coverage: usize,
    pub error: Option<String>,
}

/// One `--generic` row.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct GenericRow {
    pub bug: String,
    pub budget_s: f64,
    pub sessions: Vec<GenericSession>,
}

impl GenericRow {
    pub fn found(&self) -> usize {
        self.sessions.iter().filter(|s| s.invalid > 0).count()
    }

    fn median(mut v: Vec<f64>) -> Option<f64> {
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
    }

    pub fn median_found_s(&self) -> Option<f64> {
        GenericRow::median(self.sessions.iter().filter_map(|s| s.found_after_s).collect())
    }

    pub fn median_shrunk(&self) -> Option<f64> {
        GenericRow::median(self.sessions.iter().filter_map(|s| s.shrunk_faults.map(|f| f as f64)).collect())
    }

    /// The target of issue 15: a bug found in at least 8 of 10 sessions (80%), shrunk to at most 5
    /// faults; the correct node never invalid.
    pub fn passes(&self) -> bool {
        if self.bug == CORRECT {
            return self.sessions.iter().all(|s| s.invalid == 0 && s.error.is_none());
        }
        self.found() * 10 >= self.sessions.len() * 8 && self.median_shrunk().is_none_or(|m| m <= 5.0)
    }
}

/// Runs the `--generic` rows: for each bug, `config.runs` explorer sessions with raft-node's default
/// flags and `--bug` alone; rows are written to `<store>/generic.json` as they end.
pub async fn run_generic(
    config: &MatrixConfig,
    sizes: &crate::explore::ClusterSizes,
    budget: Duration,
    shrink: Option<crate::shrink::ShrinkConfig>,
) -> Result<Vec<GenericRow>, RunError> {
    let mut rows = Vec::new();
    for bug in &config.bugs {
        let mut row = GenericRow { bug: bug.clone(), budget_s: budget.as_secs_f64(), sessions: Vec::new() };
        for k in 0..config.runs {
            let seed = config.seed.wrapping_add(k as u64);
            let node_args = if bug == CORRECT { Vec::new() } else { vec!["--bug".to_string(), bug.clone()] };
            let store = config.store.join("generic").join(bug).join(format!("session-{seed}"));
            let mut c = RunConfig::new(System::RaftNode);
            c.nodes = sizes.largest();
            c.time_limit = config.time_limit;
            c.node_bin = config.node_bin.clone();
            c.node_args = node_args;
            c.store = store;
            c.net = config.net;
            c.concurrency = config.concurrency;
            c.op_timeout = config.op_timeout;
            c.recover_timeout = config.recover_timeout;
            let base = crate::explore::base_config(c, crate::config::defaults::NEMESIS, GENERIC_INTERVAL)?;
            sizes.validate(&base)?;
            let explore = crate::explore::ExploreConfig {
                base,
                sizes: sizes.clone(),
                budget,
                // The correct node's sessions run their whole budget: every run is a chance of a
                // false alarm.
                keep_going: bug == CORRECT,
                seed,
                shrink: if bug == CORRECT { None } else { shrink },
            };
            println!("matrix: generic {bug} session {}/{}: seed {seed}", k + 1, config.runs);
            let session = match crate::explore::explore(&explore).await {
                Ok(s) => s,
                Err(crate::explore::ExploreError::Interrupted) => return Err(RunError::Interrupted),
                Err(e) => {
                    row.sessions.push(GenericSession {
                        seed,
                        runs: 0,
                        invalid: 0,
                        found_after_s: None,
                        classes: Vec::new(),
                        shrunk_faults: None,
                        shrunk_rate: None,
                        dir: None,
                        coverage: 0,
                        error: Some(e.to_string()),
                    });
                    continue;
                }
            };
            let first = session.failures.first();
            let result = GenericSession {
                seed,
                runs: session.runs.len(),
                invalid: session.failures.len(),
                found_after_s: first.map(|f| f.found_after_s),
                classes: first.map(|f| f.classes.clone()).unwrap_or_default(),
                shrunk_faults: first.and_then(|f| f.shrunk.as_ref()).map(|s| s.faults),
                shrunk_rate: first.and_then(|f| f.shrunk.as_ref()).map(|s| (s.reproduced, s.replays)),
                dir: first.map(|f| f.dir.clone()),
                coverage: session.coverage,
                error: None,
            };
            println!(
                "matrix: generic {bug} session {}/{}: {} runs, {}{}",
                k + 1,
                config.runs,
                result.runs,
                match result.found_after_s {
                    Some(t) => format!("invalid after {t:.0}s ({})", result.classes.join(", ")),
                    None => "nothing found".into(),
                },
                result.shrunk_faults.map(|f| format!(", shrunk to {f} faults")).unwrap_or_default(),
            );
            row.sessions.push(result);
        }
        rows.push(row);
        std::fs::create_dir_all(&config.store)
            .map_err(|e| crate::store::StoreError::Io { path: config.store.clone(), source: e })?;
        crate::store::write_json(&config.store.join("generic.json"), &rows)?;
    }
    Ok(rows)
}

/// Planted bugs the `--generic` rows leave out unless named in `--bugs`, and why: the explorer
/// cannot reach them by construction (which says nothing about how rare they are).
pub const GENERIC_OUT_OF_SCOPE: [(&str, &str); 2] = [
    (
        "fsync-lag",
        "only a power cut loses what was written but not fsynced, and the composed default draws no \
         power loss (it needs root and /dev/fuse for the lazyfs mounts)",
    ),
    ("txn-local-read", "it lives in raft-node's /txn endpoint, and the explorer drives register workloads"),
];

/// The longest hold of the explorer's composed schedules in `--generic` rows.
const GENERIC_INTERVAL: Duration = Duration::from_secs(5);

/// The `--generic` table, with the flags each bug's tailored scenario needs beside it and, when
/// `tailored` rows are given (a `matrix.json` of the same store), what the scenario detected.
pub fn generic_table(rows: &[GenericRow], tailored: &[Row]) -> String {
    let mut out = format!(
        "{:<18} {:>9} {:>14} {:>13} {:>6}  {:>16}  {}\n",
        "bug",
        "found",
        "median find s",
        "shrunk faults",
        "runs",
        "tailored found",
        "tailored scenario's flags"
    );
    for r in rows {
        let runs: usize = r.sessions.iter().map(|s| s.runs).sum();
        let flags = match Scenario::for_bug(&r.bug) {
            Ok(s) if r.bug != CORRECT => {
                if s.node_args.is_empty() {
                    "(defaults)".to_string()
                } else {
                    s.node_args.join(" ")
                }
            }
            _ => "-".to_string(),
        };
        let found = if r.bug == CORRECT {
            format!("{} false", r.sessions.iter().map(|s| s.invalid).sum::<usize>())
        } else {
            format!("{}/{}", r.found(), r.sessions.len())
        };
        let scripted = tailored
            .iter()
            .find(|t| t.bug == r.bug)
            .map_or("-".to_string(), |t| format!("{}/{}", t.detected(), t.runs.len()));
        // Replays of the shrunk schedules that reproduced the failure, over every session.
        let rates: Vec<(usize, usize)> = r.sessions.iter().filter_map(|s| s.shrunk_rate).collect();
        let repro = if rates.is_empty() {
            "-".to_string()
        } else {
            format!(
                "{}/{}",
                rates.iter().map(|r| r.0).sum::<usize>(),
                rates.iter().map(|r| r.1).sum::<usize>()
            )
        };
        out.push_str(&format!(
            "{:<18} {:>9} {:>14} {:>13} {:>12} {:>6}  {:>14}  {}\n",
            if r.bug == CORRECT { "none (correct)" } else { &r.bug },
            found,
            r.median_found_s().map_or("-".to_string(), |t| format!("{t:.0}")),
            r.median_shrunk().map_or("-".to_string(), |f| format!("{f:.0}")),
            repro,
            runs,
            scripted,
            flags,
        ));
    }
    out
}

/// The `faultline matrix` command: prints the table; exit 0 when every row meets its target, 1
/// otherwise.
pub fn main(args: MatrixArgs) -> anyhow::Result<i32> {
    use anyhow::Context;
    let power_loss = crate::lazyfs::unavailable();
    let bugs: Vec<String> = if args.bugs.is_empty() && args.generic {
        let mut rows: Vec<String> = Vec::new();
        for b in BUGS {
            match GENERIC_OUT_OF_SCOPE.iter().find(|(bug, _)| *bug == b) {
                Some((_, why)) => println!("matrix: generic rows leave out {b}: {why} (--bugs {b} runs it)"),
                None => rows.push(b.to_string()),
            }
        }
        rows.push(CORRECT.to_string());
        rows
    } else if args.bugs.is_empty() {
        let mut rows: Vec<String> = BUGS.iter().map(|b| b.to_string()).collect();
        rows.push(format!("fsync-lag{KILL_ONLY}"));
        rows.push(CORRECT.to_string());
        // By default, rows that cut the power are left out where that cannot be done, and said so.
        if let Some(reason) = &power_loss {
            rows.retain(|b| {
                let skip = Scenario::for_bug(b).is_ok_and(|s| s.needs_lazyfs());
                if skip {
                    println!("matrix: skipping the {b} row: power-loss: {reason}");
                }
                !skip
            });
        }
        rows
    } else {
        args.bugs.iter().map(|b| b.trim().to_string()).collect()
    };
    for b in &bugs {
        Scenario::for_bug(b).map_err(|e| anyhow::anyhow!("--bugs: {e}"))?;
        if args.generic && b.ends_with(KILL_ONLY) {
            anyhow::bail!(
                "--bugs: {b} is a tailored row (a scenario with kills instead of power cuts); --generic runs \
                 a planted bug under the explorer's own nemesis: use {}",
                b.trim_end_matches(KILL_ONLY)
            );
        }
    }
    if args.runs == 0 {
        anyhow::bail!("--runs must be at least 1");
    }
    let shrink = if args.shrink_budget.is_zero() {
        None
    } else {
        let (k, n) = crate::shrink::parse_reproduce(&args.reproduce)
            .map_err(|e| anyhow::anyhow!("--reproduce: {e}"))?;
        Some(crate::shrink::ShrinkConfig { k, n, budget: args.shrink_budget })
    };
    let node_bin = args.node_bin.or_else(|| System::RaftNode.default_binary()).unwrap_or_default();
    let config = MatrixConfig {
        bugs,
        runs: args.runs,
        time_limit: args.time_limit,
        nodes: args.nodes,
        concurrency: args.concurrency,
        seed: args.seed,
        node_bin,
        store: args.store,
        net: args.net.unwrap_or_else(Backend::auto),
        op_timeout: args.op_timeout,
        recover_timeout: args.recover_timeout,
        until_detected: args.until_detected,
        power_loss: power_loss.is_none(),
    };
    if args.generic {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let rows = runtime.block_on(run_generic(&config, &args.generic_nodes, args.budget, shrink))?;
        // The tailored rows of the same store, if `faultline matrix` ran there, go beside them.
        let tailored: Vec<Row> =
            crate::store::read_json(&config.store.join("matrix.json")).unwrap_or_default();
        print!("{}", generic_table(&rows, &tailored));
        println!("matrix: {}", config.store.join("generic.json").display());
        return Ok(if rows.iter().all(GenericRow::passes) { 0 } else { 1 });
    }
    // Every row's runs are validated before the first cluster starts.
    for b in &config.bugs {
        let scenario = Scenario::for_bug(b).map_err(|e| anyhow::anyhow!("--bugs: {e}"))?;
        run_config(&config, &scenario, config.seed).with_context(|| format!("the {b} row"))?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let rows = runtime.block_on(run_matrix(&config))?;
    print!("{}", table(&rows));
    println!("matrix: {}", config.store.join("matrix.json").display());
    Ok(if rows.iter().all(|r| r.passes(config.until_detected)) { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MAX_OPS_PER_RUN;

    /// A matrix configuration for checking run configurations (nothing is run).
    fn config() -> MatrixConfig {
        MatrixConfig {
            bugs: vec![CORRECT.into()],
            runs: 1,
            time_limit: Duration::from_secs(10),
            nodes: 5,
            concurrency: 5,
            seed: 1,
            node_bin: std::env::current_exe().unwrap(),
            store: PathBuf::from("store"),
            net: Backend::Loopback,
            op_timeout: Duration::from_secs(1),
            recover_timeout: Duration::from_secs(1),
            until_detected: false,
            power_loss: false,
        }
    }

    #[test]
    fn every_bug_has_a_scenario_and_unknown_names_are_refused() {
        for bug in BUGS.iter().chain([&CORRECT]) {
            let s = Scenario::for_bug(bug).unwrap();
            assert!(!s.cycle.is_empty(), "{bug}");
            assert_eq!(s.cycle.last().unwrap().fault, Fault::Heal, "{bug}: a cycle ends healed");
            assert!(s.cycle.windows(2).all(|w| w[0].at <= w[1].at), "{bug}");
            assert!(s.cycle.last().unwrap().at < s.cycle_len, "{bug}");
            assert!(!s.kinds().is_empty(), "{bug}");
        }
        assert!(Scenario::for_bug("sloppy-quorum").unwrap_err().contains("stale-read"));
    }

    #[test]
    fn the_correct_row_cycles_through_every_scenario_with_its_flags_and_without_a_bug() {
        for (k, bug) in BUGS.iter().enumerate() {
            let correct = Scenario::for_run(CORRECT, k).unwrap();
            let buggy = Scenario::for_bug(bug).unwrap();
            assert_eq!((&correct.cycle, &correct.node_args), (&buggy.cycle, &buggy.node_args), "{bug}");
            if correct.needs_lazyfs() && crate::lazyfs::unavailable().is_some() {
                // Validation refuses power loss here (config.rs tests that refusal).
                continue;
            }
            let config = config();
            let args = run_config(&config, &correct, 1).unwrap().node_args;
            assert!(!args.iter().any(|a| a == "--bug"), "{args:?}");
            assert_eq!(args, buggy.node_args);
            let args = run_config(&config, &buggy, 1).unwrap().node_args;
            assert_eq!(args[..2], ["--bug".to_string(), bug.to_string()]);
        }
    }

    /// The two choreographies drop messages by kind, which only the proxy can do, and are written for
    /// one-node halves.
    #[test]
    fn message_dropping_scenarios_ask_for_the_proxy_and_three_nodes() {
        let config = config();
        for bug in ["commit-old-term", "forget-vote"] {
            let s = Scenario::for_bug(bug).unwrap();
            let run = run_config(&config, &s, 1).unwrap();
            assert_eq!(run.nodes, 3, "{bug}");
            assert!(run.nemesis.kinds.iter().any(|k| k.needs_proxy()), "{bug}: {:?}", run.nemesis.kinds);
            assert!(s.cycle.iter().any(|st| matches!(st.fault, Fault::Drop { .. })), "{bug}");
        }
        let others = run_config(&config, &Scenario::for_bug("early-ack").unwrap(), 1).unwrap();
        assert_eq!(others.nodes, 5);
        assert_eq!(others.workload, Workload::Register);
        let txn = run_config(&config, &Scenario::for_bug("txn-local-read").unwrap(), 1).unwrap();
        assert_eq!(txn.workload, Workload::TxnAppend);
    }

    #[test]
    fn fsync_lag_cuts_the_power_and_its_kill_twin_only_kills() {
        let config = config();
        let s = Scenario::for_bug("fsync-lag").unwrap();
        assert!(s.needs_lazyfs());
        let twin = Scenario::for_bug("fsync-lag:kill").unwrap();
        assert!(!twin.needs_lazyfs() && twin.kill_only);
        assert_eq!(twin.cycle.len(), s.cycle.len());
        assert!(twin.cycle.iter().any(|st| matches!(st.fault, Fault::Kill { target: Target::All })));
        assert_eq!(twin.row(), "fsync-lag:kill");
        let run = run_config(&config, &twin, 1).unwrap();
        assert_eq!(run.node_args[..2], ["--bug".to_string(), "fsync-lag".to_string()]);
        assert!(run.store.ends_with("fsync-lag:kill"));
        assert!(run.nemesis.kinds == vec![FaultKind::Kill], "{:?}", run.nemesis.kinds);
        // Where power cannot be cut, the correct row never asks for it.
        for k in 0..20 {
            assert!(!Scenario::for_run_without_power_loss(CORRECT, k).unwrap().needs_lazyfs());
        }
        assert!((0..8).any(|k| Scenario::for_run(CORRECT, k).unwrap().needs_lazyfs()));
        let row = Row { bug: "fsync-lag:kill".into(), runs: vec![] };
        assert!(row.passes(false), "a kill twin demonstrates, it has no detection target");
    }

    #[test]
    fn runs_are_paced_to_stay_below_the_snapshot_threshold() {
        for secs in [5, 12, 15, 20, 60] {
            let limit = Duration::from_secs(secs);
            let total = pace(limit) * limit.as_secs_f64();
            assert!(total <= MAX_OPS_PER_RUN + 1e-6, "{secs}s: {total}");
            assert!(pace(limit) >= 100.0, "{secs}s: too slow to exercise anything");
        }
    }

    #[test]
    fn schedules_repeat_whole_cycles_and_end_healed_within_the_limit() {
        let s = Scenario::for_bug("no-conflict-check").unwrap();
        let limit = Duration::from_secs(12);
        let sched = s.schedule(limit);
        let last = sched.last().unwrap();
        assert_eq!(last.fault, Fault::Heal);
        assert_eq!(last.at, limit.as_nanos() as u64);
        assert!(sched.windows(2).all(|w| w[0].at <= w[1].at));
        let body = &sched[..sched.len() - 1];
        assert_eq!(body.len() % s.cycle.len(), 0);
        // Cycles start after 1 s and every 3.3 s while their last step fits: 1, 4.3, 7.6, (10.9 + 1.8 > 12).
        assert_eq!(body.len() / s.cycle.len(), 3);
        for (i, f) in body.iter().enumerate() {
            assert_eq!(f.fault, s.cycle[i % s.cycle.len()].fault);
        }
        // A partition is followed by the kill of the leader before any heal.
        assert_eq!(body[1].fault, Fault::Kill { target: Target::Leader });
    }

    #[test]
    fn rows_count_detections_and_medians() {
        let run = |v, t: Option<f64>| RunRow {
            seed: 1,
            dir: String::new(),
            verdict: v,
            detected_after_s: t,
            classes: vec!["stale-read".into()],
            error: None,
        };
        let row = Row {
            bug: "stale-read".into(),
            runs: vec![
                run(Verdict::Invalid, Some(3.0)),
                run(Verdict::Valid, None),
                run(Verdict::Invalid, Some(1.0)),
            ],
        };
        assert_eq!(row.detected(), 2);
        assert_eq!(row.median_detection_s(), Some(2.0));
        assert!(!row.passes(false));
        assert!(row.passes(true));
        let correct = Row { bug: CORRECT.into(), runs: vec![run(Verdict::Invalid, Some(1.0))] };
        assert!(!correct.passes(false));
        assert!(table(std::slice::from_ref(&row)).contains("stale-read"));
        let session = |found: Option<f64>, shrunk: Option<usize>| GenericSession {
            seed: 1,
            runs: 4,
            invalid: usize::from(found.is_some()),
            found_after_s: found,
            classes: Vec::new(),
            shrunk_faults: shrunk,
            shrunk_rate: shrunk.map(|_| (2, 3)),
            dir: None,
            coverage: 50,
            error: None,
        };
        let generic = GenericRow {
            bug: "stale-read".into(),
            budget_s: 600.0,
            sessions: vec![session(Some(100.0), Some(3)), session(None, None), session(Some(50.0), Some(5))],
        };
        assert_eq!(
            (generic.found(), generic.median_found_s(), generic.median_shrunk()),
            (2, Some(75.0), Some(4.0))
        );
        assert!(!generic.passes(), "2 of 3 is below 8 of 10");
        let text = generic_table(&[generic], &[row]);
        assert!(text.contains("2/3") && text.contains("4/6") && text.contains("--no-check-quorum"), "{text}");
    }
}
