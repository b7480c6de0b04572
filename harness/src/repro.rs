//! `faultline repro RUN_DIR`: replay a stored run and measure how often its anomaly comes back.
//!
//! Everything needed is in the run's `test.json`: the system's binary and arguments, the workload and
//! its options, the seed (which fixes the operation stream and every random choice of the nemesis),
//! and the fault schedule as it was due, at times relative to the start of the run phase. A replay
//! runs exactly that schedule through [`run::run_with_schedule`], so matrix runs with hand-written
//! schedules replay as faithfully as runs with drawn ones. Symbolic targets (`leader`, `majority`)
//! resolve again at replay time: "kill the leader" means the leader of the replay.
//!
//! Real processes are not deterministic (scheduling, elections, TCP timing), so a replay is an
//! experiment, not a rerun: each is stored as a run of its own, and the command reports how many of
//! the N replays showed one of the original run's anomaly classes (for a valid original: how many
//! replays came out valid too).

use crate::analysis::{self, RunResults};
use crate::cluster::System;
use crate::matrix;
use crate::run::{self, RunConfig};
use crate::store::TestSpec;
use anyhow::Context;
use checker::Verdict;
use std::path::{Path, PathBuf};
use std::time::Duration;
use workloads::NemesisSpec;

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

/// The replay's configuration, from a stored `test.json`.
pub fn config_from_spec(spec: &TestSpec, store: PathBuf) -> anyhow::Result<RunConfig> {
    let system = System::from_name(&spec.system, spec.etcd).with_context(|| {
        format!("test.json: system {:?} cannot be replayed by this faultline", spec.system)
    })?;
    Ok(RunConfig {
        nodes: spec.nodes,
        system,
        time_limit: Duration::from_millis(spec.time_limit_ms),
        workload: spec.workload,
        workload_options: spec.workload_options.clone(),
        nemesis: NemesisSpec { kinds: spec.nemesis.clone(), interval: spec.nemesis_interval_ms * 1_000_000 },
        concurrency: spec.concurrency,
        rate: spec.rate,
        seed: spec.seed,
        node_bin: PathBuf::from(&spec.node_bin),
        node_args: spec.node_args.clone(),
        store,
        net: spec.net,
        op_timeout: Duration::from_millis(spec.op_timeout_ms),
        recover_timeout: Duration::from_millis(spec.recover_timeout_ms),
        record: true,
        check: true,
        progress: false,
    })
}

/// The store a run directory lives in (`<store>/<test-name>/<timestamp>`).
fn store_of(run_dir: &Path) -> Option<PathBuf> {
    Some(run_dir.parent()?.parent()?.to_path_buf())
}

/// The exact command that replays `run_dir` (printed in a run's summary).
pub fn command(run_dir: &Path) -> String {
    format!("faultline repro {} --runs 3", crate::run::shell_quote(&run_dir.display().to_string()))
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
    let run_dir = std::fs::canonicalize(run_dir).with_context(|| format!("{}", run_dir.display()))?;
    let spec =
        TestSpec::load(&run_dir).with_context(|| format!("loading {}/test.json", run_dir.display()))?;
    // Fail before any replay starts when the system is unknown.
    config_from_spec(&spec, PathBuf::new()).with_context(|| format!("{}", run_dir.display()))?;
    let original = load_or_check(&run_dir)?;
    let target = matrix::findings(&run_dir, &original).classes;
    let store = match store.or_else(|| store_of(&run_dir)) {
        Some(s) => s,
        None => anyhow::bail!("{}: cannot tell which store it is in; pass --store", run_dir.display()),
    };
    let mut out = Vec::new();
    for k in 0..runs {
        let config = config_from_spec(&spec, store.clone())?;
        let summary = run::run_with_schedule(config, Some(spec.schedule.clone()))
            .await
            .with_context(|| format!("replay {} of {}", k + 1, run_dir.display()))?;
        let results = summary.results.context("the replay was not checked")?;
        let classes = matrix::findings(&summary.dir, &results).classes;
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
            summary.dir.display()
        );
        out.push(Replay { dir: summary.dir, verdict: results.verdict, classes, same });
    }
    Ok((target, original.verdict, out))
}

fn load_or_check(run_dir: &Path) -> anyhow::Result<RunResults> {
    let path = run_dir.join("results.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display())),
        Err(_) => analysis::check_run_dir(run_dir).with_context(|| format!("checking {}", run_dir.display())),
    }
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
