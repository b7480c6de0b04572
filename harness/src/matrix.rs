//! `faultline matrix`: detection power as a measured number.
//!
//! A checker that always says "valid" looks exactly like a perfect one until it meets a bug. The
//! matrix runs raft-node with each of its planted bugs (`--bug NAME`, see CONTRACTS.md section 2) and
//! once more with no bug at all, several seeded runs each, and tabulates how many runs were reported
//! invalid, how soon the evidence was complete, and which anomaly classes the checkers named. The row
//! of the correct node is the false-alarm rate; it must stay at zero.
//!
//! Each bug gets the fault schedule most likely to expose it ([`Scenario`]), written out explicitly
//! instead of drawn from `--nemesis` kinds, because the drawn mix spends most of a short run on faults
//! a given bug does not care about:
//!
//! - `stale-read` (the leader answers reads at once, without a heartbeat round and without waiting
//!   for an entry of its term to commit): isolate and pause the leader, often and briefly, under a
//!   read-heavy mix. An isolated old leader keeps answering until check-quorum deposes it, and a fresh
//!   leader's commit index lags until its first entry commits; both windows serve old state. (Killing
//!   the leader instead was measured worse: 0 of 5 runs.)
//! - `commit-old-term` and `no-conflict-check` need a leader that appended entries it could not commit,
//!   a successor that overwrites them, and the old leader coming back; `forget-vote` needs a node to
//!   vote, crash, restart and vote again in the same term. All three get the same churn: leader
//!   isolation, random halves and kills of the leader, a minority and a majority, in cycles shorter
//!   than a second under a write-heavy mix, so restarts and heals land inside elections.
//! - `early-ack` acknowledges writes the leader only appended: isolate or kill the leader under writes.
//! - `lazy-persist` acknowledges before the WAL write is durable (flushed every 500 ms): kill a
//!   majority or everything right after a burst of writes.
//! - the correct node gets every one of these faults, so its row tests all of them for false alarms.
//!
//! Time to detection is read back from the stored run: for a linearizability counterexample, the
//! latest completion among its operations (the moment the evidence was complete); for durability and
//! log findings, the start of the final reads (they are only visible there); relative to the start of
//! the run phase. The median is over the runs that detected the bug.

use crate::analysis::RunResults;
use crate::cluster::Backend;
use crate::run::{self, RunConfig, RunError};
use crate::store::TestSpec;
use checker::Verdict;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use workloads::{Fault, FaultKind, NemesisSpec, ScheduledFault, Target, Topology, Workload, WorkloadOptions};

/// The planted bugs of raft-node, in the matrix's order.
pub const BUGS: [&str; 6] =
    ["stale-read", "commit-old-term", "no-conflict-check", "forget-vote", "early-ack", "lazy-persist"];

/// The name of the correct node's row.
pub const CORRECT: &str = "none";

/// How one row of the matrix runs: faults in a cycle, and the workload mix.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// A planted bug name, or [`CORRECT`].
    pub bug: String,
    /// The faults, used in turn (each followed by a heal).
    pub faults: Vec<Fault>,
    /// How long each fault lasts.
    pub fault_for: Duration,
    /// How long the cluster stays healed between faults.
    pub heal_for: Duration,
    /// Weights of read, write, cas.
    pub mix: (u32, u32, u32),
}

fn isolate_leader() -> Fault {
    Fault::Partition { topology: Topology::IsolateLeader }
}

impl Scenario {
    /// The scenario for `bug` (a name from [`BUGS`] or [`CORRECT`]).
    pub fn for_bug(bug: &str) -> Result<Scenario, String> {
        let ms = Duration::from_millis;
        let (faults, fault_for, heal_for, mix) = match bug {
            "stale-read" => (
                vec![isolate_leader(), Fault::Pause { target: Target::Leader }, isolate_leader()],
                ms(1000),
                ms(500),
                (4, 2, 1),
            ),
            "commit-old-term" | "no-conflict-check" | "forget-vote" => (
                vec![
                    isolate_leader(),
                    Fault::Kill { target: Target::Leader },
                    Fault::Kill { target: Target::Minority },
                    Fault::Partition { topology: Topology::RandomHalves },
                    isolate_leader(),
                    Fault::Kill { target: Target::Majority },
                ],
                ms(600),
                ms(400),
                (1, 3, 1),
            ),
            "early-ack" => (
                vec![isolate_leader(), Fault::Kill { target: Target::Leader }],
                ms(2000),
                ms(1000),
                (2, 3, 1),
            ),
            "lazy-persist" => (
                vec![Fault::Kill { target: Target::All }, Fault::Kill { target: Target::Majority }],
                ms(400),
                ms(1500),
                (1, 3, 1),
            ),
            CORRECT => (
                vec![
                    Fault::Pause { target: Target::Leader },
                    isolate_leader(),
                    Fault::Kill { target: Target::Leader },
                    Fault::Partition { topology: Topology::RandomHalves },
                    Fault::Kill { target: Target::Majority },
                    Fault::Kill { target: Target::All },
                ],
                ms(1500),
                ms(1000),
                (2, 2, 1),
            ),
            other => {
                return Err(format!(
                    "unknown bug {other:?}; planted bugs are {} (and {CORRECT:?} for the correct node)",
                    BUGS.join(", ")
                ));
            }
        };
        Ok(Scenario { bug: bug.to_string(), faults, fault_for, heal_for, mix })
    }

    /// The fault schedule over a run phase of `time_limit`: the first fault after one heal period,
    /// each fault healed after `fault_for`, the run ending healed.
    pub fn schedule(&self, time_limit: Duration) -> Vec<ScheduledFault> {
        let limit = time_limit.as_nanos() as u64;
        let (fault_for, heal_for) = (self.fault_for.as_nanos() as u64, self.heal_for.as_nanos() as u64);
        let mut out = Vec::new();
        let mut at = heal_for;
        for fault in self.faults.iter().cycle() {
            if at + fault_for >= limit {
                break;
            }
            out.push(ScheduledFault { at, fault: fault.clone() });
            out.push(ScheduledFault { at: at + fault_for, fault: Fault::Heal });
            at += fault_for + heal_for;
        }
        out.push(ScheduledFault { at: limit, fault: Fault::Heal });
        out
    }

    /// The fault kinds this scenario uses (recorded in `test.json` and the test's name).
    pub fn kinds(&self) -> Vec<FaultKind> {
        let mut kinds = Vec::new();
        for f in &self.faults {
            let k = match f {
                Fault::Partition { .. } => FaultKind::Partition,
                Fault::Kill { .. } => FaultKind::Kill,
                Fault::Pause { .. } => FaultKind::Pause,
                Fault::Loss { .. } => FaultKind::Loss,
                Fault::Latency { .. } => FaultKind::Latency,
                Fault::Heal => continue,
            };
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
        let scenario = Scenario::for_bug(bug).map_err(RunError::Config)?;
        let mut row = Row { bug: bug.clone(), runs: Vec::new() };
        for k in 0..config.runs {
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
    let path = store.join("matrix.json");
    std::fs::create_dir_all(store)
        .and_then(|()| {
            std::fs::write(&path, serde_json::to_vec_pretty(rows).expect("matrix rows always serialize"))
        })
        .map_err(|e| RunError::Io { what: format!("write {}", path.display()), source: e })
}

/// The run configuration of one matrix run.
pub fn run_config(config: &MatrixConfig, scenario: &Scenario, seed: u64) -> RunConfig {
    let mut node_args = Vec::new();
    if scenario.bug != CORRECT {
        node_args.extend(["--bug".to_string(), scenario.bug.clone()]);
    }
    let (read_weight, write_weight, cas_weight) = scenario.mix;
    RunConfig {
        nodes: config.nodes,
        system: crate::cluster::System::RaftNode,
        time_limit: config.time_limit,
        workload: Workload::Register,
        workload_options: WorkloadOptions {
            read_weight,
            write_weight,
            cas_weight,
            ..WorkloadOptions::default()
        },
        nemesis: NemesisSpec {
            kinds: scenario.kinds(),
            interval: (scenario.fault_for + scenario.heal_for).as_nanos() as u64,
        },
        concurrency: config.concurrency,
        rate: None,
        seed,
        node_bin: config.node_bin.clone(),
        node_args,
        store: config.store.join(&scenario.bug),
        net: config.net,
        op_timeout: config.op_timeout,
        recover_timeout: config.recover_timeout,
        record: true,
        check: true,
        progress: false,
    }
}

async fn one_run(config: &MatrixConfig, scenario: &Scenario, seed: u64) -> RunRow {
    let run_config = run_config(config, scenario, seed);
    let schedule = scenario.schedule(config.time_limit);
    match run::run_with_schedule(run_config, Some(schedule)).await {
        Ok(summary) => match &summary.results {
            Some(results) => {
                let found = findings(&summary.dir, results);
                RunRow {
                    seed,
                    dir: summary.dir.display().to_string(),
                    verdict: results.verdict,
                    detected_after_s: found.first_time_s,
                    classes: found.classes,
                    error: None,
                }
            }
            None => RunRow {
                seed,
                dir: summary.dir.display().to_string(),
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

/// The anomaly classes of a checked run and when the first one's evidence was complete.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Findings {
    /// Sorted, without duplicates (the words of `reports::from_checker`, plus `panic`).
    pub classes: Vec<String>,
    /// Seconds after the start of the run phase.
    pub first_time_s: Option<f64>,
}

/// Reads the anomaly classes and the first detection time out of a run's results (see the module
/// documentation for how the time is defined).
pub fn findings(dir: &Path, results: &RunResults) -> Findings {
    let outcome = TestSpec::load(dir).ok().and_then(|s| s.outcome);
    let run_start = outcome.as_ref().map_or(0, |o| o.run_start);
    let finals = outcome.as_ref().map(|o| o.final_reads_start);
    let mut classes = BTreeSet::new();
    let mut times: Vec<u64> = Vec::new();
    for report in &results.linearizability {
        for key in report.invalid_keys() {
            let Some(e) = &key.explanation else {
                classes.insert("nonlinearizable".to_string());
                continue;
            };
            let cex = reports::from_checker::counterexample(key, &report.model, e);
            classes.insert(cex.anomaly.clone());
            let done =
                e.counterexample.ops.iter().filter_map(|op| op.complete_time.or(Some(op.invoke_time))).max();
            times.extend(done);
        }
    }
    let mut late = false;
    if let Some(d) = &results.durability {
        if !d.lost.is_empty() {
            classes.insert("lost-write".into());
            late = true;
        }
        if !d.phantom.is_empty() {
            classes.insert("phantom-value".into());
            late = true;
        }
        if !d.duplicated.is_empty() {
            classes.insert("duplicate-append".into());
            late = true;
        }
    }
    if let Some(l) = &results.committed_logs {
        if !l.divergences.is_empty() {
            classes.insert("divergent-commit".into());
            late = true;
        }
        if !l.absent_writes.is_empty() {
            classes.insert("absent-from-log".into());
            late = true;
        }
    }
    if !results.panics.found.is_empty() {
        classes.insert("panic".into());
        late = true;
    }
    if late {
        times.extend(finals);
    }
    let first_time_s = times.into_iter().min().map(|t| t.saturating_sub(run_start) as f64 / 1e9);
    Findings { classes: classes.into_iter().collect(), first_time_s }
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
    #[arg(long, default_value = "20s", value_parser = crate::cli::parse_duration)]
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
    #[arg(long, default_value = "2s", value_parser = crate::cli::parse_duration)]
    pub op_timeout: Duration,
    #[arg(long, default_value = "30s", value_parser = crate::cli::parse_duration)]
    pub recover_timeout: Duration,
    /// Stop a bug's row at its first detection (a row then passes with one detection).
    #[arg(long)]
    pub until_detected: bool,
}

/// The `faultline matrix` command: prints the table; exit 0 when every row meets its target, 1
/// otherwise.
pub fn main(args: MatrixArgs) -> anyhow::Result<i32> {
    use anyhow::Context;
    let bugs: Vec<String> = if args.bugs.is_empty() {
        BUGS.iter().chain([&CORRECT]).map(|b| b.to_string()).collect()
    } else {
        args.bugs.iter().map(|b| b.trim().to_string()).collect()
    };
    for b in &bugs {
        Scenario::for_bug(b).map_err(|e| anyhow::anyhow!("--bugs: {e}"))?;
    }
    if args.runs == 0 {
        anyhow::bail!("--runs must be at least 1");
    }
    let node_bin = match args.node_bin {
        Some(p) => p,
        None => crate::cli::default_node_bin().context(
            "no raft-node binary next to faultline; build it (cargo build -p node --bin raft-node) or pass --node-bin",
        )?,
    };
    let node_bin =
        std::fs::canonicalize(&node_bin).with_context(|| format!("--node-bin {}", node_bin.display()))?;
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
    };
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

    #[test]
    fn every_bug_has_a_scenario_and_unknown_names_are_refused() {
        for bug in BUGS.iter().chain([&CORRECT]) {
            let s = Scenario::for_bug(bug).unwrap();
            assert!(!s.faults.is_empty(), "{bug}");
            assert!(!s.kinds().is_empty(), "{bug}");
        }
        assert!(Scenario::for_bug("sloppy-quorum").unwrap_err().contains("stale-read"));
    }

    #[test]
    fn schedules_alternate_fault_and_heal_and_end_healed_within_the_limit() {
        let s = Scenario::for_bug("stale-read").unwrap();
        let limit = Duration::from_secs(20);
        let sched = s.schedule(limit);
        let last = sched.last().unwrap();
        assert_eq!(last.fault, Fault::Heal);
        assert_eq!(last.at, limit.as_nanos() as u64);
        for pair in sched[..sched.len() - 1].chunks(2) {
            assert_ne!(pair[0].fault, Fault::Heal);
            assert_eq!(pair[1].fault, Fault::Heal);
            assert_eq!(pair[1].at - pair[0].at, s.fault_for.as_nanos() as u64);
        }
        assert!(sched.windows(2).all(|w| w[0].at <= w[1].at));
        // A heal period, then fault + heal cycles while a fault still ends within the limit.
        let cycle = s.fault_for + s.heal_for;
        let fits = (limit.as_nanos() - s.heal_for.as_nanos() - s.fault_for.as_nanos()) / cycle.as_nanos() + 1;
        assert_eq!(sched.len() as u128, 2 * fits + 1);
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
        assert!(table(&[row]).contains("stale-read"));
    }
}
