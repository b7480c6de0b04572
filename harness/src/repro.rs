//! `faultline repro RUN_DIR`: replay a stored run and measure how often its anomaly comes back.
//!
//! Everything needed is in the run's `test.json`: the system's binary and arguments, the workload and
//! its options, the seed (which fixes the operation stream and every random choice of the nemesis),
//! and the fault schedule as it was due, at times relative to the start of the run phase. A replay
//! runs exactly that schedule through [`run::run_with_schedule`] with the configuration
//! [`RunConfig::from_spec`] gives back, so matrix runs with hand-written
//! schedules replay as faithfully as runs with drawn ones. Symbolic targets (`leader`, `majority`)
//! resolve again at replay time: "kill the leader" means the leader of the replay.
//!
//! Real processes are not deterministic (scheduling, elections, TCP timing), so a replay is an
//! experiment, not a rerun: each is stored as a run of its own, and the command reports how many of
//! the N replays showed one of the original run's anomaly classes (for a valid original: how many
//! replays came out valid too).

use crate::analysis::{self, RunResults};
use crate::config::RunConfig;
use crate::findings::findings;
use crate::run;
use crate::store::{RunDir, TestSpec};
use anyhow::Context;
use checker::Verdict;
use std::path::{Path, PathBuf};

/// `faultline repro` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ReproArgs {
    /// A stored run directory (store/<test>/<timestamp>, or store/latest).
    pub run_dir: PathBuf,
    /// How many replays.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Where replays are stored [default: the store the original run is in].
    #[arg(long)]
    pub store: Option<PathBuf>,
}

/// What one replay showed.
#[derive(Clone, Debug)]
pub struct Replay {
    pub dir: PathBuf,
    pub verdict: Verdict,
    pub classes: Vec<String>,
    /// Whether it showed the original's anomaly (one of its classes; for a valid original, valid).
    pub same: bool,
}

/// Replays `run_dir` `runs` times; returns the original's classes and each replay.
pub async fn replay(
    run_dir: &Path,
    runs: usize,
    store: Option<PathBuf>,
) -> anyhow::Result<(Vec<String>, Verdict, Vec<Replay>)> {
    let original_dir = RunDir::open(run_dir)?;
    let spec = original_dir.load_spec()?;
    // Fail before any replay starts when the stored configuration cannot run here.
    let config = replay_config(&original_dir, &spec, store)?;
    let original = load_or_check(&original_dir)?;
    let target = findings(&original_dir, &spec, &original).classes;
    let mut out = Vec::new();
    for k in 0..runs {
        let summary = run::run_with_schedule(config.clone(), Some(spec.schedule.clone()))
            .await
            .with_context(|| format!("replay {} of {}", k + 1, run_dir.display()))?;
        let results = summary.results.as_ref().context("the replay was not checked")?;
        let replay_spec = summary.dir.load_spec()?;
        let classes = findings(&summary.dir, &replay_spec, results).classes;
        let same = if target.is_empty() {
            results.verdict == original.verdict
        } else {
            classes.iter().any(|c| target.contains(c))
        };
        println!(
            "repro: replay {}/{runs}: {:?}{} -> {}  ({})",
            k + 1,
            results.verdict,
            if classes.is_empty() { String::new() } else { format!(" ({})", classes.join(", ")) },
            if same { "same" } else { "different" },
            summary.dir.path().display()
        );
        out.push(Replay { dir: summary.dir.path().to_path_buf(), verdict: results.verdict, classes, same });
    }
    Ok((target, original.verdict, out))
}

/// The configuration that replays the run in `dir` (whose `test.json` is `spec`), its replays
/// stored in `store` or, by default, the store the run is in.
pub fn replay_config(dir: &RunDir, spec: &TestSpec, store: Option<PathBuf>) -> anyhow::Result<RunConfig> {
    let store = match store.or_else(|| dir.store().map(Path::to_path_buf)) {
        Some(s) => s,
        None => anyhow::bail!("{}: cannot tell which store it is in; pass --store", dir.path().display()),
    };
    RunConfig::from_spec(spec, store)
        .with_context(|| format!("{}: the stored run cannot be replayed", dir.test_json().display()))
}

/// The run's stored results, or a check of it when it has none yet.
pub fn load_or_check(run: &RunDir) -> anyhow::Result<RunResults> {
    if run.results().is_file() {
        return Ok(analysis::load_results(run)?);
    }
    analysis::check_run_dir(run.path()).with_context(|| format!("checking {}", run.path().display()))
}

/// The `faultline repro` command: exit 0 when every replay showed the same anomaly, 1 otherwise.
pub fn main(args: ReproArgs) -> anyhow::Result<i32> {
    if args.runs == 0 {
        anyhow::bail!("--runs must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let (target, verdict, replays) = runtime.block_on(replay(&args.run_dir, args.runs, args.store))?;
    let same = replays.iter().filter(|r| r.same).count();
    let what = if target.is_empty() { format!("{verdict:?}").to_lowercase() } else { target.join(", ") };
    println!("repro: {same} of {} replays showed the original's {what}", replays.len());
    Ok(if same == replays.len() { 0 } else { 1 })
}
