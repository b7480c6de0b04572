//! `faultline explore`: greybox fuzzing of fault schedules within a time budget.
//!
//! Many short seeded runs, each with a composed fault schedule ([`workloads::compose`]). Each run's
//! observed behaviour becomes a coverage signature ([`crate::coverage`]); a schedule whose run
//! reached a fact no earlier run had is kept in the corpus, and later runs are either fresh draws or
//! mutations of kept schedules ([`workloads::compose::mutate`]: retime, re-aim, insert, delete,
//! splice, duplicate). The session stops at the first invalid run (`--keep-going` to go on), and
//! shrinks that run's schedule to the fewest faults that still reproduce its anomaly in k of n
//! replays ([`workloads::compose::Shrinker`]); the shrunk schedule is stored with the run
//! (`shrunk.json`) and shown in its report.
//!
//! What this takes from Mallory (Meng, Pirelli, Roychoudhury, Sergey et al., "Greybox Fuzzing of
//! Distributed Systems", CCS 2023):
//!
//! - **Feedback from observed behaviour, not code coverage**: Mallory abstracts each run's Lamport
//!   timeline into happens-before summaries and counts a run as progress when it shows a summary not
//!   seen before; here the summaries are the facts of [`crate::coverage::signature`] (role and term
//!   transitions, leader changes after each fault and after each pair of faults, stale leaders,
//!   truncations, replaced entries, dropped messages by kind).
//! - **Keep what reached something new, and mutate it**: the classic greybox loop Mallory brings to
//!   distributed systems. A kept schedule's energy (how often it is picked) grows with the new facts
//!   it found and decays with the times it was picked.
//! - **Learn which fault sequences pay off**: Mallory learns a fault-injection policy with
//!   Q-learning, rewarded by new summaries, and acts on it while the run goes on. Our schedules are
//!   drawn before a run (so a run can be replayed and shrunk from its `test.json`), and roles are
//!   still resolved at fire time, so the learning here is a bandit over the composed motifs: each
//!   motif's weight follows the new facts per run of the runs it was in.
//!
//! Unlike Mallory there is no instrumentation of the nodes: everything comes from what the harness
//! already records (status polls, the nemesis's faults, the proxy's counters, the log watcher), so
//! any system the harness can run can be explored, and message-level faults are drawn only when the
//! system's links carry frames the proxy can read ([`crate::system::Capabilities::message_drops`]).

use crate::config::{ConfigError, RunConfig, Setting};
use crate::coverage::{self, Observed};
use crate::run;
use crate::shrink::{self, ShrinkConfig, parse_reproduce};
pub use crate::shrunk::{Shrunk, describe};
use crate::store::{self, NodeFile, RunDir};
use crate::units::{format_duration, parse_duration};
use checker::Verdict;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use workloads::compose::{self, Motif, Plan, Timing, Weights};
use workloads::{Fault, ScheduledFault};

/// Why a session ended early.
#[derive(Debug, thiserror::Error)]
pub enum ExploreError {
    /// Ctrl-C: the run in progress tore its cluster down.
    #[error("interrupted (Ctrl-C)")]
    Interrupted,
    #[error("{0}")]
    Failed(String),
}

/// One exploration session.
#[derive(Clone, Debug)]
pub struct ExploreConfig {
    /// Every run's settings (validated); each run gets its own seed, and its schedule from the
    /// explorer, not from `base.nemesis` (whose kinds and interval the explorer draws with).
    pub base: RunConfig,
    /// The cluster sizes each run draws from (`base.nodes` alone unless given more): a bug that
    /// needs two candidates of one term and a voter between them shows far more often on three
    /// nodes than on five, one that needs a minority of two only on five.
    pub sizes: ClusterSizes,
    pub budget: Duration,
    pub keep_going: bool,
    pub seed: u64,
    pub shrink: Option<ShrinkConfig>,
}

/// One run of a session.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExploreRun {
    pub seed: u64,
    pub dir: String,
    pub verdict: Verdict,
    pub classes: Vec<String>,
    pub faults: usize,
    /// `fresh` or `mutant of #k` (k a run number).
    pub origin: String,
    /// The workload mix: default, read-heavy, write-heavy or split ([`MIXES`]).
    pub mix: String,
    /// Cluster size.
    #[serde(default)]
    pub nodes: usize,
    pub new_facts: usize,
    pub coverage: usize,
    /// Seconds into the session when the run ended.
    pub session_s: f64,
    pub error: Option<String>,
}

/// What a session found.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Failure {
    /// Index into the session's runs.
    pub run: usize,
    pub dir: String,
    pub classes: Vec<String>,
    /// Seconds into the session when the failing run ended (and its evidence was in).
    pub found_after_s: f64,
    pub shrunk: Option<Shrunk>,
}

/// A whole session, also written to `<store>/explore.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Session {
    pub runs: Vec<ExploreRun>,
    pub failures: Vec<Failure>,
    pub coverage: usize,
    pub corpus: usize,
}

/// A kept schedule.
#[derive(Clone, Debug)]
struct Entry {
    run: usize,
    schedule: Vec<ScheduledFault>,
    mix: Mix,
    new_facts: usize,
    picks: usize,
}

/// A run's workload mix: weights of read, write and cas, how many client slots only read, and
/// how patient clients are. The explorer varies the mix as it varies faults: a write-heavy run
/// grows logs that partitions make diverge. A split run is for what happens right after a fault:
/// half the slots only read, and every client gives up after two elections. A client that follows
/// a follower's leader hint to a leader that was just cut off waits there until that leader steps
/// down, and so do the writes that would show its reads to be old; impatient clients move on to
/// whoever leads now, and readers keep asking every node (a deposed leader answering reads is seen
/// only then).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mix {
    pub name: &'static str,
    pub weights: (u32, u32, u32),
    /// Slots that only read, as a share of the concurrency: `readers_per_10` tenths.
    pub readers_per_10: usize,
    /// The client timeout in elections (None: the configured `--op-timeout`).
    pub op_timeout_elections: Option<f64>,
}

/// The mixes a run draws from.
pub const MIXES: [Mix; 4] = [
    Mix { name: "default", weights: (2, 1, 1), readers_per_10: 0, op_timeout_elections: None },
    Mix { name: "read-heavy", weights: (8, 1, 1), readers_per_10: 0, op_timeout_elections: None },
    Mix { name: "write-heavy", weights: (1, 3, 1), readers_per_10: 0, op_timeout_elections: None },
    Mix { name: "split", weights: (1, 2, 1), readers_per_10: 5, op_timeout_elections: Some(2.0) },
];

impl Mix {
    /// Sets `c`'s workload options and client timeout to this mix, with `election` nanoseconds
    /// per election (the run's test.json then records them, so replays and `faultline repro` run
    /// the same mix).
    fn apply(self, c: &mut RunConfig, election: u64) {
        let o = &mut c.workload_options;
        (o.read_weight, o.write_weight, o.cas_weight) = self.weights;
        o.readers = c.concurrency * self.readers_per_10 / 10;
        if let Some(k) = self.op_timeout_elections {
            c.op_timeout = c.op_timeout.min(Duration::from_nanos((k * election as f64) as u64));
        }
    }
}

/// Rewards per motif, Mallory's learning reduced to a bandit (see the module documentation).
#[derive(Clone, Debug, Default)]
struct Bandit {
    reward: BTreeMap<Motif, f64>,
    runs: BTreeMap<Motif, f64>,
}

impl Bandit {
    fn record(&mut self, schedule: &[ScheduledFault], new_facts: usize) {
        let motifs: BTreeSet<Motif> =
            Plan::from_schedule(schedule).episodes.iter().filter_map(compose::motif_of).collect();
        for m in motifs {
            *self.reward.entry(m).or_default() += new_facts as f64;
            *self.runs.entry(m).or_default() += 1.0;
        }
    }

    /// Each motif's mean new facts per run it was in, relative to the mean over all motifs. A motif
    /// not tried yet counts as good as the best tried one: optimism keeps every motif in play. (It
    /// once counted as one fact per run, while the first runs of a session find dozens each, so
    /// the motifs a session's first draws missed sank to the floor weight and a whole session
    /// could go by without one whole-cluster crash.)
    fn weights(&self) -> Weights {
        let tried = |m: &Motif| {
            let runs = self.runs.get(m).copied().unwrap_or(0.0);
            (runs > 0.0).then(|| self.reward.get(m).copied().unwrap_or(0.0) / runs)
        };
        let best = Motif::ALL.iter().filter_map(tried).fold(0.0, f64::max);
        let mean = |m: &Motif| tried(m).unwrap_or(best);
        let overall = Motif::ALL.iter().map(mean).sum::<f64>() / Motif::ALL.len() as f64;
        if overall <= 0.0 {
            // Nothing found anything yet: every motif alike.
            return Weights::default();
        }
        Weights(Motif::ALL.iter().map(|m| (*m, (mean(m) / overall).clamp(0.25, 4.0))).collect())
    }
}

/// The explorer's state between runs.
struct Explorer<'a> {
    config: &'a ExploreConfig,
    rng: ChaCha8Rng,
    corpus: Vec<Entry>,
    coverage: BTreeSet<String>,
    bandit: Bandit,
    timing: Timing,
    started: Instant,
    session: Session,
}

impl Explorer<'_> {
    /// The next schedule to run, its workload mix and where it came from.
    fn next_schedule(&mut self, run_seed: u64, nodes: usize) -> (Vec<ScheduledFault>, Mix, String) {
        let base = &self.config.base;
        let limit = base.time_limit.as_nanos() as u64;
        let fresh = self.corpus.is_empty() || self.rng.random_bool(0.35);
        let drawn_mix = *MIXES.choose(&mut self.rng).expect("non-empty");
        if fresh {
            let weights = self.bandit.weights();
            let s = compose::compose(&base.nemesis.kinds, nodes, limit, run_seed, self.timing, &weights)
                .unwrap_or_else(|_| vec![ScheduledFault::at(limit, Fault::Heal)]);
            return (s, drawn_mix, "fresh".into());
        }
        // Energy: new facts found, worn down by the times picked.
        let energy: Vec<f64> =
            self.corpus.iter().map(|e| (1.0 + e.new_facts as f64) / (1.0 + e.picks as f64)).collect();
        let total: f64 = energy.iter().sum();
        let mut x = self.rng.random_range(0.0..total);
        let mut pick = 0;
        for (i, e) in energy.iter().enumerate() {
            x -= e;
            if x <= 0.0 {
                pick = i;
                break;
            }
        }
        self.corpus[pick].picks += 1;
        let donor = self.corpus.choose(&mut self.rng).map(|e| e.schedule.clone());
        let parent = &self.corpus[pick];
        let s = compose::mutate(
            &parent.schedule,
            donor.as_deref(),
            &base.nemesis.kinds,
            nodes,
            self.timing,
            run_seed,
        );
        // A mutant mostly keeps its parent's mix.
        let mix = if self.rng.random_bool(0.8) { parent.mix } else { drawn_mix };
        (s, mix, format!("mutant of #{}", parent.run + 1))
    }

    fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// The facts of a stored run (see [`crate::coverage`]).
pub fn run_signature(dir: &RunDir, spec: &store::TestSpec, infos: u64) -> BTreeSet<String> {
    let polls = coverage::parse_polls(&std::fs::read_to_string(dir.status()).unwrap_or_default());
    let outcome = spec.outcome.clone().unwrap_or_default();
    let replaced = spec
        .node_names()
        .iter()
        .filter_map(|n| crate::logwatch::read_changes(&dir.node_file(n, NodeFile::LogChanges))?.ok())
        .map(|c| c.len())
        .sum();
    let elections: Vec<_> = spec
        .node_names()
        .iter()
        .flat_map(|n| {
            let text = std::fs::read(dir.node_file(n, NodeFile::Stderr)).unwrap_or_default();
            crate::elections::parse_log(n, &String::from_utf8_lossy(&text))
        })
        .collect();
    coverage::signature(&Observed {
        polls: &polls,
        faults: &outcome.executed,
        replaced_committed: replaced,
        dropped: outcome.messages_dropped,
        infos,
        elections: &elections,
    })
}

/// What one run showed: verdict, classes, when the evidence was complete (ns into the run phase).
struct Checked {
    verdict: Verdict,
    classes: Vec<String>,
    detected_ns: Option<u64>,
    facts: BTreeSet<String>,
    dir: RunDir,
}

async fn run_one(config: RunConfig, schedule: Vec<ScheduledFault>) -> Result<Checked, run::RunError> {
    let r = shrink::replay(config, schedule).await?;
    let spec = r.summary.dir.load_spec()?;
    let facts = run_signature(&r.summary.dir, &spec, r.summary.counts.2);
    Ok(Checked {
        verdict: r.verdict,
        classes: r.classes,
        detected_ns: r.detected_ns,
        facts,
        dir: r.summary.dir,
    })
}

/// Runs a session until its budget is spent or (without `keep_going`) the first invalid run; prints
/// a line per run and writes `<store>/explore.json` after each.
pub async fn explore(config: &ExploreConfig) -> Result<Session, ExploreError> {
    let base = &config.base;
    let mut ex = Explorer {
        config,
        rng: ChaCha8Rng::seed_from_u64(config.seed ^ 0x0065_7870_6c6f_7265),
        corpus: Vec::new(),
        coverage: BTreeSet::new(),
        bandit: Bandit::default(),
        timing: Timing { election: base.election_timeout().as_nanos() as u64, long: base.nemesis.interval },
        started: Instant::now(),
        session: Session::default(),
    };
    let mut errors_in_a_row = 0;
    println!(
        "explore: budget {}, runs of {}, {} nodes, kinds {}, seed {}",
        format_duration(config.budget),
        format_duration(base.time_limit),
        config.sizes,
        base.nemesis.words(","),
        config.seed
    );
    while ex.elapsed() + base.time_limit / 2 < config.budget {
        let k = ex.session.runs.len();
        let run_seed = ex.rng.random::<u32>() as u64;
        let nodes = config.sizes.draw(&mut ex.rng);
        let (schedule, mix, origin) = ex.next_schedule(run_seed, nodes);
        let mut c = base.clone();
        c.nodes = nodes;
        c.seed = run_seed;
        c.progress = false;
        mix.apply(&mut c, ex.timing.election);
        let faults = compose::fault_count(&schedule);
        let result = run_one(c, schedule.clone()).await;
        let session_s = ex.elapsed().as_secs_f64();
        let mut row = ExploreRun {
            seed: run_seed,
            dir: String::new(),
            verdict: Verdict::Unknown,
            classes: Vec::new(),
            faults,
            origin,
            mix: mix.name.to_string(),
            nodes,
            new_facts: 0,
            coverage: ex.coverage.len(),
            session_s,
            error: None,
        };
        let checked = match result {
            Ok(c) => {
                errors_in_a_row = 0;
                c
            }
            // Ctrl-C ends the session (the run tore its cluster down).
            Err(run::RunError::Interrupted) => {
                save(&base.store, &ex.session)?;
                return Err(ExploreError::Interrupted);
            }
            Err(e) => {
                errors_in_a_row += 1;
                println!("explore: run {} seed {run_seed}: harness error: {e}", k + 1);
                row.error = Some(e.to_string());
                ex.session.runs.push(row);
                if errors_in_a_row >= 3 {
                    return Err(ExploreError::Failed("three runs in a row ended in a harness error".into()));
                }
                continue;
            }
        };
        let mut facts = checked.facts.clone();
        facts.insert(format!("mix:{}", mix.name));
        let new: Vec<String> = facts.difference(&ex.coverage).cloned().collect();
        ex.coverage.extend(new.iter().cloned());
        ex.bandit.record(&schedule, new.len());
        if !new.is_empty() {
            ex.corpus.push(Entry { run: k, schedule: schedule.clone(), mix, new_facts: new.len(), picks: 0 });
        }
        row.dir = checked.dir.path().display().to_string();
        row.verdict = checked.verdict;
        row.classes = checked.classes.clone();
        row.new_facts = new.len();
        row.coverage = ex.coverage.len();
        println!(
            "explore: run {} [{} of {}] seed {run_seed} ({}, {} mix, {nodes} nodes): {faults} faults, {}{}, +{} facts (coverage {}, corpus {})",
            k + 1,
            format_duration(Duration::from_secs(session_s as u64)),
            format_duration(config.budget),
            row.origin,
            mix.name,
            format!("{:?}", checked.verdict).to_lowercase(),
            if checked.classes.is_empty() {
                String::new()
            } else {
                format!(" ({})", checked.classes.join(", "))
            },
            new.len(),
            ex.coverage.len(),
            ex.corpus.len(),
        );
        ex.session.runs.push(row);
        ex.session.coverage = ex.coverage.len();
        ex.session.corpus = ex.corpus.len();
        if checked.verdict == Verdict::Invalid {
            println!("explore: found {} in {}", checked.classes.join(", "), checked.dir.path().display());
            let mut failure = Failure {
                run: k,
                dir: checked.dir.path().display().to_string(),
                classes: checked.classes.clone(),
                found_after_s: session_s,
                shrunk: None,
            };
            if let Some(shrink) = config.shrink {
                let mut failing = base.clone();
                failing.nodes = nodes;
                mix.apply(&mut failing, ex.timing.election);
                let Some(shrunk) = shrink::shrink_failure(
                    &failing,
                    run_seed,
                    &schedule,
                    &checked.classes,
                    checked.detected_ns,
                    shrink,
                    ex.timing,
                )
                .await
                else {
                    save(&base.store, &ex.session)?;
                    return Err(ExploreError::Interrupted);
                };
                println!(
                    "explore: shrunk {} faults to {} (reproduced in {} of {} replays, {} candidates tried)",
                    shrunk.original_faults, shrunk.faults, shrunk.reproduced, shrunk.replays, shrunk.trials
                );
                shrink::store_shrunk(&checked.dir, &shrunk)
                    .map_err(|e| ExploreError::Failed(e.to_string()))?;
                failure.shrunk = Some(shrunk);
            }
            ex.session.failures.push(failure);
            save(&base.store, &ex.session)?;
            if !config.keep_going {
                break;
            }
        }
        save(&base.store, &ex.session)?;
    }
    save(&base.store, &ex.session)?;
    Ok(ex.session)
}

fn save(store: &Path, session: &Session) -> Result<(), ExploreError> {
    std::fs::create_dir_all(store).map_err(|e| ExploreError::Failed(format!("{}: {e}", store.display())))?;
    store::write_json(&store.join("explore.json"), session).map_err(|e| ExploreError::Failed(e.to_string()))
}

#[derive(Debug, Clone, clap::Args)]
pub struct ExploreArgs {
    /// The system under test (message drops are drawn only where the proxy can read its frames:
    /// raft-node).
    #[arg(long, value_enum, default_value_t = crate::system::SystemKind::default())]
    pub system: crate::system::SystemKind,
    /// etcd only: the etcd binary (default: `etcd` on PATH).
    #[arg(long)]
    pub etcd_bin: Option<PathBuf>,
    /// Time for the whole session (runs, and shrinking a failure).
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    pub budget: Duration,
    /// Length of each run's run phase.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub time_limit: Duration,
    /// Cluster size, or sizes that each run draws from (`3,5`).
    #[arg(long, default_value = "5", value_parser = ClusterSizes::parse)]
    pub nodes: ClusterSizes,
    /// Fault kinds to compose (`composed` is implied): default every kind the system supports.
    #[arg(long, default_value = crate::config::defaults::NEMESIS)]
    pub nemesis: String,
    /// The longest hold or quiet time of a composed schedule.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub nemesis_interval: Duration,
    /// Go on after an invalid run (each failure is shrunk and stored).
    #[arg(long)]
    pub keep_going: bool,
    /// Do not shrink failures.
    #[arg(long)]
    pub no_shrink: bool,
    /// A shrink candidate counts as reproducing when K of N replays show the anomaly (K/N).
    #[arg(long, default_value = "2/3")]
    pub reproduce: String,
    /// Time for shrinking one failure (replays of candidates).
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    pub shrink_budget: Duration,
    /// Seed of the session (each run's seed is drawn from it).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The raft-node binary (default: raft-node next to this executable).
    #[arg(long)]
    pub node_bin: Option<PathBuf>,
    /// An extra argument for every node (repeatable), e.g. --node-arg=--bug --node-arg=stale-read.
    #[arg(long = "node-arg", allow_hyphen_values = true)]
    pub node_args: Vec<String>,
    /// Store directory; the session writes explore.json there.
    #[arg(long, default_value = "store/explore")]
    pub store: PathBuf,
    #[arg(long, value_enum)]
    pub net: Option<crate::cluster::Backend>,
    #[arg(long, default_value_t = crate::config::defaults::CONCURRENCY)]
    pub concurrency: usize,
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub op_timeout: Duration,
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub recover_timeout: Duration,
}

/// The cluster sizes a session's runs draw from, each run one of them (`5`, or `3,5`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterSizes(Vec<usize>);

impl ClusterSizes {
    pub fn one(nodes: usize) -> ClusterSizes {
        ClusterSizes(vec![nodes])
    }

    /// `5` or `3,5` (sizes in any order; repeats count once).
    pub fn parse(s: &str) -> Result<ClusterSizes, String> {
        let mut sizes = Vec::new();
        for part in s.split(',').map(str::trim) {
            let n: usize = part
                .parse()
                .map_err(|_| format!("{part:?} is not a cluster size (a whole number of nodes, or a list: 3,5)"))?;
            if n == 0 {
                return Err("a cluster needs at least one node".into());
            }
            if !sizes.contains(&n) {
                sizes.push(n);
            }
        }
        sizes.sort_unstable();
        Ok(ClusterSizes(sizes))
    }

    pub fn largest(&self) -> usize {
        *self.0.last().expect("parse never makes an empty list")
    }

    /// Every size must make a valid run of `base` (the nemesis's kinds may need more nodes).
    pub fn validate(&self, base: &RunConfig) -> Result<(), ConfigError> {
        for &n in &self.0 {
            let mut c = base.clone();
            c.nodes = n;
            c.validate()?;
        }
        Ok(())
    }

    fn draw(&self, rng: &mut ChaCha8Rng) -> usize {
        *self.0.choose(rng).expect("parse never makes an empty list")
    }
}

impl std::fmt::Display for ClusterSizes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let words: Vec<String> = self.0.iter().map(usize::to_string).collect();
        f.write_str(&words.join(" or "))
    }
}

/// The run configuration every run of a session starts from: `c` with composed schedules of the
/// kinds in `nemesis` (every kind the system supports for `composed`), holds up to `interval`, and
/// runs paced to stay below raft-node's snapshot threshold (see the matrix's pacing).
pub fn base_config(mut c: RunConfig, nemesis: &str, interval: Duration) -> Result<RunConfig, ConfigError> {
    let mut spec = workloads::NemesisSpec::parse(nemesis, interval.as_nanos() as u64)
        .map_err(|e| ConfigError { setting: Setting::Nemesis, message: e.to_string() })?;
    spec.composed = true;
    c.nemesis = spec;
    c.rate = Some(crate::config::pace(c.time_limit));
    c.progress = false;
    c.validate()
}

/// The `faultline explore` command: exit 1 when a run was invalid, 0 when the budget ran out
/// without one.
pub fn main(args: ExploreArgs) -> anyhow::Result<i32> {
    use anyhow::Context;
    let (k, n) = parse_reproduce(&args.reproduce).map_err(|e| anyhow::anyhow!("--reproduce: {e}"))?;
    let mut c = RunConfig::new(crate::system::System::new(args.system, None));
    c.nodes = args.nodes.largest();
    c.time_limit = args.time_limit;
    if let Some(bin) = args.node_bin.or(args.etcd_bin) {
        c.node_bin = bin;
    }
    c.node_args = args.node_args;
    c.store = args.store;
    if let Some(net) = args.net {
        c.net = net;
    }
    c.concurrency = args.concurrency;
    c.op_timeout = args.op_timeout;
    c.recover_timeout = args.recover_timeout;
    let base = base_config(c, &args.nemesis, args.nemesis_interval)?;
    args.nodes.validate(&base)?;
    let config = ExploreConfig {
        base,
        sizes: args.nodes,
        budget: args.budget,
        keep_going: args.keep_going,
        seed: args.seed.unwrap_or_else(crate::config::fresh_seed),
        shrink: (!args.no_shrink).then_some(ShrinkConfig { k, n, budget: args.shrink_budget }),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let session = runtime.block_on(explore(&config))?;
    println!(
        "explore: {} runs, coverage {} facts, corpus {}, {} invalid; session in {}",
        session.runs.len(),
        session.coverage,
        session.corpus,
        session.failures.len(),
        config.base.store.join("explore.json").display()
    );
    for f in &session.failures {
        println!("explore: invalid after {:.0}s: {} ({})", f.found_after_s, f.dir, f.classes.join(", "));
        if let Some(s) = &f.shrunk {
            println!(
                "explore:   shrunk to {} faults (reproduced {} of {}):",
                s.faults, s.reproduced, s.replays
            );
            for step in &s.schedule {
                println!("explore:     {}", describe(step));
            }
            println!("explore:   replay with: {}", crate::config::replay_command(Path::new(&f.dir)));
        }
    }
    Ok(if session.failures.is_empty() { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_sizes_are_one_number_or_a_list() {
        assert_eq!(ClusterSizes::parse("5").unwrap(), ClusterSizes::one(5));
        let both = ClusterSizes::parse("5, 3,5").unwrap();
        assert_eq!((both.largest(), both.to_string()), (5, "3 or 5".to_string()));
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let drawn: BTreeSet<usize> = (0..50).map(|_| both.draw(&mut rng)).collect();
        assert_eq!(drawn, [3, 5].into_iter().collect());
        assert!(ClusterSizes::parse("3,x").unwrap_err().contains("\"x\" is not a cluster size"));
        assert!(ClusterSizes::parse("0").is_err());
        // Every size must make a valid run: partitions need two nodes.
        let base = base_config(RunConfig::new(crate::system::System::RaftNode), "partition", Duration::from_secs(5))
            .unwrap();
        assert!(ClusterSizes::parse("1,3").unwrap().validate(&base).is_err());
    }

    #[test]
    fn message_drops_are_explored_only_where_the_proxy_reads_the_frames() {
        let mut c = RunConfig::new(crate::system::System::RaftNode);
        c.node_bin = std::env::current_exe().unwrap();
        c.net = crate::cluster::Backend::Loopback;
        let raft = base_config(c.clone(), "composed", Duration::from_secs(5)).unwrap();
        assert!(raft.nemesis.composed && raft.nemesis.kinds.contains(&workloads::FaultKind::Drop));
        c.system = crate::system::System::Etcd(crate::etcd::EtcdOptions::default());
        let etcd = base_config(c, "composed", Duration::from_secs(5)).unwrap();
        assert!(!etcd.nemesis.kinds.contains(&workloads::FaultKind::Drop), "{:?}", etcd.nemesis.kinds);
        assert!(etcd.rate.is_some(), "runs are paced");
    }

    #[test]
    fn the_bandit_favours_motifs_that_found_new_facts() {
        use workloads::Target;
        let episode = |first: Fault| {
            vec![
                ScheduledFault::at(1_000_000_000, first),
                ScheduledFault { at: 1_300_000_000, fault: Fault::Heal, after: Some(2.0) },
                ScheduledFault::at(15_000_000_000, Fault::Heal),
            ]
        };
        let crash = episode(Fault::Kill { target: Target::Majority });
        let pause = episode(Fault::Pause { target: Target::Leader });
        let mut b = Bandit::default();
        for _ in 0..5 {
            b.record(&crash, 10);
            b.record(&pause, 0);
        }
        let w = b.weights();
        assert!(w.of(Motif::CrashMany) > 2.0 * w.of(Motif::PauseLeader), "{w:?}");
        assert_eq!(
            w.of(Motif::BridgeCrash),
            w.of(Motif::CrashMany),
            "untried motifs count as the best: {w:?}"
        );
        // Early runs find dozens of facts: the motifs they happened to hold must not bury the
        // others.
        let mut b = Bandit::default();
        b.record(&pause, 40);
        let w = b.weights();
        assert!(w.of(Motif::CrashMany) >= w.of(Motif::PauseLeader), "{w:?}");
        assert_eq!(Bandit::default().weights().of(Motif::CrashMany), 1.0);
    }

    #[test]
    fn steps_are_described_for_the_report() {
        let f = ScheduledFault {
            at: 1_250_000_000,
            fault: Fault::Kill { target: workloads::Target::NewLeader },
            after: Some(2.5),
        };
        assert_eq!(describe(&f), "1.25s (+2.5 elections) kill new-leader");
        let d = ScheduledFault::at(
            2_000_000_000,
            Fault::Drop { topology: workloads::Topology::IntoLeader, messages: workloads::Messages::Votes },
        );
        assert_eq!(describe(&d), "2.00s drop votes on into-leader");
    }
}
