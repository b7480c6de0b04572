//! Shrinking a failing run's fault schedule, for `faultline explore` and as `faultline shrink
//! RUN_DIR` on any stored invalid run (from `run`, `campaign`, `matrix` or an explorer session that
//! ran out of shrink budget).
//!
//! The candidates come from [`workloads::compose::Shrinker`] (cut what came after the failure, the
//! last episode alone, delta debugging over episodes, then single steps); each is replayed with
//! the failing run's seed and settings, so the operation stream is the same, until `k` of `n`
//! replays showed one of its anomaly classes or too few replays are left to get there. The best
//! candidate is then replayed `n` more times, none stopped early, for the rate it is stored with
//! (`shrunk.json` in the failing run's directory, and a section of its report).

use crate::config::RunConfig;
use crate::findings::findings;
use crate::run;
use crate::shrunk::{Shrunk, describe};
use crate::store::{self, RunDir};
use crate::units::parse_duration;
use anyhow::Context;
use checker::Verdict;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use workloads::ScheduledFault;
use workloads::compose::{self, Shrinker, Timing};

/// How a failure is shrunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShrinkConfig {
    /// A candidate reproduces when at least `k` of `n` replays show one of the original's anomaly
    /// classes.
    pub k: usize,
    pub n: usize,
    /// Time for all replays of one shrink.
    pub budget: Duration,
}

/// Parses `K/N`.
pub fn parse_reproduce(s: &str) -> Result<(usize, usize), String> {
    let (k, n) = s.split_once('/').ok_or_else(|| format!("{s:?}: expected K/N, e.g. 2/3"))?;
    let (k, n): (usize, usize) = (
        k.trim().parse().map_err(|_| format!("{s:?}: K is not a number"))?,
        n.trim().parse().map_err(|_| format!("{s:?}: N is not a number"))?,
    );
    if k == 0 || k > n {
        return Err(format!("{s:?}: need 1 <= K <= N"));
    }
    Ok((k, n))
}

/// What one checked run showed.
#[derive(Debug)]
pub struct Replayed {
    pub verdict: Verdict,
    pub classes: Vec<String>,
    /// When the evidence was complete (ns into the run phase).
    pub detected_ns: Option<u64>,
    pub summary: run::RunSummary,
}

/// Runs `config` with `schedule` and checks it.
pub async fn replay(config: RunConfig, schedule: Vec<ScheduledFault>) -> Result<Replayed, run::RunError> {
    let summary = run::run_with_schedule(config, Some(schedule)).await?;
    let spec = summary.dir.load_spec()?;
    let Some(results) = &summary.results else {
        return Err(run::RunError::Failed("the run was not checked".into()));
    };
    let found = findings(&summary.dir, &spec, results);
    Ok(Replayed {
        verdict: results.verdict,
        detected_ns: found.first_time_ns(),
        classes: found.classes,
        summary,
    })
}

/// Shrinks `schedule`, which failed with `classes` (evidence complete at `detected_ns`) under
/// `base` with `seed`; replays go to `<base.store>/shrink`. None when interrupted (Ctrl-C).
pub async fn shrink_failure(
    base: &RunConfig,
    seed: u64,
    schedule: &[ScheduledFault],
    classes: &[String],
    detected_ns: Option<u64>,
    shrink: ShrinkConfig,
    timing: Timing,
) -> Option<Shrunk> {
    let started = Instant::now();
    let original_faults = compose::fault_count(schedule);
    let mut shrinker = Shrinker::new(schedule, detected_ns, timing.election, 5_000_000_000);
    let store = base.store.join("shrink");
    let replay_config = |candidate: &[ScheduledFault]| {
        let mut c = base.clone();
        c.seed = seed;
        c.progress = false;
        c.store = store.clone();
        let end = candidate.last().map_or(base.time_limit, |f| Duration::from_nanos(f.at));
        c.time_limit = end.max(Duration::from_secs(1)).min(base.time_limit);
        c
    };
    let reproduces =
        |r: &Replayed| r.verdict == Verdict::Invalid && r.classes.iter().any(|c| classes.contains(c));
    while started.elapsed() < shrink.budget {
        let Some(candidate) = shrinker.next_candidate() else { break };
        let faults = compose::fault_count(&candidate);
        let (mut hits, mut tries, mut last_dir) = (0, 0, None);
        while tries < shrink.n && hits < shrink.k && shrink.n - tries + hits >= shrink.k {
            tries += 1;
            match replay(replay_config(&candidate), candidate.clone()).await {
                Ok(r) if reproduces(&r) => {
                    hits += 1;
                    last_dir = Some(r.summary.dir.path().display().to_string());
                }
                Ok(_) => {}
                Err(run::RunError::Interrupted) => return None,
                Err(e) => println!("shrink: replay: harness error: {e}"),
            }
        }
        let kept = hits >= shrink.k;
        println!(
            "shrink: candidate {}: {faults} faults: reproduced {hits} of {tries}{}",
            shrinker.trials(),
            if kept { ", kept" } else { "" }
        );
        shrinker.report(kept);
        if let (true, Some(dir)) = (kept, last_dir) {
            println!("shrink:   {dir}");
        }
    }
    let best = shrinker.best();
    let (mut reproduced, mut example) = (0, None);
    for _ in 0..shrink.n {
        match replay(replay_config(&best), best.clone()).await {
            Ok(r) if reproduces(&r) => {
                reproduced += 1;
                example.get_or_insert_with(|| r.summary.dir.path().display().to_string());
            }
            Ok(_) => {}
            Err(run::RunError::Interrupted) => return None,
            Err(e) => println!("shrink: replay: harness error: {e}"),
        }
    }
    println!("shrink: the shrunk schedule reproduced in {reproduced} of {} replays", shrink.n);
    Some(Shrunk {
        original_faults,
        faults: compose::fault_count(&best),
        reproduced,
        replays: shrink.n,
        trials: shrinker.trials(),
        schedule: best,
        example,
        classes: classes.to_vec(),
    })
}

/// Stores `shrunk` with the failing run (`shrunk.json`) and renders its report again.
pub fn store_shrunk(dir: &RunDir, shrunk: &Shrunk) -> anyhow::Result<()> {
    store::write_json(&dir.shrunk(), shrunk)?;
    if let Err(e) = crate::report::write_report(dir.path()) {
        println!("shrink: report.html not re-rendered: {e}");
    }
    Ok(())
}

/// `faultline shrink` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ShrinkArgs {
    /// A stored invalid run directory (store/<test>/<timestamp>, or store/latest).
    pub run_dir: PathBuf,
    /// A candidate counts as reproducing when K of N replays show the anomaly (K/N).
    #[arg(long, default_value = "2/3")]
    pub reproduce: String,
    /// Time for replaying candidates (the N replays of the result come after it).
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    pub budget: Duration,
    /// Where replays are stored [default: the store the run is in].
    #[arg(long)]
    pub store: Option<PathBuf>,
}

/// The `faultline shrink` command: exit 0 when the shrunk schedule reproduced in at least K of its
/// N final replays, 1 when it did not, 3 when the run cannot be shrunk (valid, no schedule, not
/// replayable here).
pub fn main(args: ShrinkArgs) -> anyhow::Result<i32> {
    let (k, n) = parse_reproduce(&args.reproduce).map_err(|e| anyhow::anyhow!("--reproduce: {e}"))?;
    let dir = RunDir::open(&args.run_dir)?;
    let spec = dir.load_spec()?;
    let config = crate::repro::replay_config(&dir, &spec, args.store)?;
    let results = crate::repro::load_or_check(&dir)?;
    let found = findings(&dir, &spec, &results);
    if results.verdict != Verdict::Invalid || found.classes.is_empty() {
        anyhow::bail!(
            "{}: nothing to shrink: the run is {}",
            dir.path().display(),
            format!("{:?}", results.verdict).to_lowercase()
        );
    }
    let faults = compose::fault_count(&spec.schedule);
    if faults == 0 {
        anyhow::bail!("{}: nothing to shrink: the run had no faults", dir.path().display());
    }
    let timing =
        Timing { election: config.election_timeout().as_nanos() as u64, long: config.nemesis.interval };
    println!(
        "shrink: {} ({}), {} faults, reproduce {k}/{n}, budget {}",
        dir.path().display(),
        found.classes.join(", "),
        faults,
        crate::units::format_duration(args.budget)
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let shrink = ShrinkConfig { k, n, budget: args.budget };
    let Some(shrunk) = runtime.block_on(shrink_failure(
        &config,
        config.seed,
        &spec.schedule,
        &found.classes,
        found.first_time_ns(),
        shrink,
        timing,
    )) else {
        anyhow::bail!("interrupted (Ctrl-C)");
    };
    store_shrunk(&dir, &shrunk)?;
    println!(
        "shrink: {} faults to {} (reproduced in {} of {} replays, {} candidates tried); stored in {}",
        shrunk.original_faults,
        shrunk.faults,
        shrunk.reproduced,
        shrunk.replays,
        shrunk.trials,
        dir.shrunk().display()
    );
    for step in &shrunk.schedule {
        println!("shrink:   {}", describe(step));
    }
    Ok(if shrunk.reproduced >= k { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduce_rates_parse() {
        assert_eq!(parse_reproduce("2/3"), Ok((2, 3)));
        assert!(parse_reproduce("4/3").is_err());
        assert!(parse_reproduce("0/3").is_err());
        assert!(parse_reproduce("2").is_err());
    }
}
