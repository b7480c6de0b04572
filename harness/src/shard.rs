//! Campaigns split over machines by the engines teams already run (a CI matrix, a Kubernetes Indexed
//! Job), instead of a scheduler of our own.
//!
//! - Every planned run has a stable id ([`run_id`]): a hash of what the run *is* (system, workload,
//!   faults, sizes, seed, bugs, timings), not of where it runs (binary paths, store, backend) nor of
//!   its position in the file, so the same row has the same id on every machine and after edits
//!   elsewhere in the file. `faultline campaign plan FILE` prints the runs with their ids as JSON.
//! - A shard `I/N` runs the runs whose id falls to it ([`Shard::takes`]), deterministic by id.
//!   Its rows go to `store/campaigns/<name>/shards/<campaign id>/rows/<run id>.json` as each run
//!   ends, so a retried shard redoes only the runs that have no row yet (or whose row is a harness
//!   error: those have no results).
//! - `faultline campaign merge DIR...` reads the shards' rows back ([`read_shard`]) and builds one
//!   `summary.json` and `index.html` exactly as an unsharded campaign does, with the same exit code and
//!   the same comparison with the campaigns before it.

use crate::config::RunConfig;
use reports::campaign::CampaignRun;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The environment variable Kubernetes Indexed Jobs set to the pod's 0-based completion index.
pub const INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

/// What identifies a run, hashed into its id.
#[derive(Serialize)]
struct Identity<'a> {
    system: &'a str,
    etcd: Option<crate::etcd::EtcdOptions>,
    workload: String,
    workload_options: &'a workloads::WorkloadOptions,
    nemesis: &'a workloads::NemesisSpec,
    nodes: usize,
    time_limit_ms: u128,
    concurrency: usize,
    rate: Option<f64>,
    seed: u64,
    node_args: &'a [String],
    op_timeout_ms: u128,
    recover_timeout_ms: u128,
}

/// The stable id of a run: 8 hex digits of a CRC-32 over its identity (see the module documentation).
pub fn run_id(config: &RunConfig) -> String {
    let identity = Identity {
        system: config.system.name(),
        etcd: config.system.etcd_options(),
        workload: config.workload.to_string(),
        workload_options: &config.workload_options,
        nemesis: &config.nemesis,
        nodes: config.nodes,
        time_limit_ms: config.time_limit.as_millis(),
        concurrency: config.concurrency,
        rate: config.rate,
        seed: config.seed,
        node_args: &config.node_args,
        op_timeout_ms: config.op_timeout.as_millis(),
        recover_timeout_ms: config.recover_timeout.as_millis(),
    };
    let bytes = serde_json::to_vec(&identity).expect("a run identity always serializes");
    format!("{:08x}", crc32fast::hash(&bytes))
}

/// Ids for a whole plan: a run written twice (the same identity) gets `-2`, `-3` after its id, so
/// every planned run has its own.
pub fn run_ids<'a>(configs: impl IntoIterator<Item = &'a RunConfig>) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    configs
        .into_iter()
        .map(|c| {
            let id = run_id(c);
            let n = seen.entry(id.clone()).or_insert(0);
            *n += 1;
            if *n == 1 { id } else { format!("{id}-{n}") }
        })
        .collect()
}

/// One share of a campaign: shard `index` of `count` (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Parses `I/N`, or `N` alone with the index taken from `index_env` (the value of
    /// [`INDEX_ENV`], as Kubernetes Indexed Jobs set it).
    pub fn parse(s: &str, index_env: Option<&str>) -> Result<Shard, String> {
        let number = |what: &str, v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| format!("--shard {s:?}: {what} {v:?} is not a whole number"))
        };
        let (index, count) = match s.split_once('/') {
            Some((i, n)) => (number("the index", i)?, number("the count", n)?),
            None => {
                let count = number("the count", s)?;
                let Some(i) = index_env else {
                    return Err(format!(
                        "--shard {s}: no shard index; write --shard I/{count} or set {INDEX_ENV} (0-based)"
                    ));
                };
                (number(INDEX_ENV, i)?, count)
            }
        };
        if count == 0 || index >= count {
            return Err(format!("--shard {s}: the index must be 0 to {} (0-based)", count.saturating_sub(1)));
        }
        Ok(Shard { index, count })
    }

    /// Whether the run with this id belongs to this shard.
    pub fn takes(&self, run_id: &str) -> bool {
        let hex = run_id.split('-').next().unwrap_or(run_id);
        let h =
            u64::from_str_radix(hex, 16).unwrap_or_else(|_| u64::from(crc32fast::hash(run_id.as_bytes())));
        let dup = run_id.split_once('-').and_then(|(_, k)| k.parse::<u64>().ok()).unwrap_or(0);
        (h.wrapping_add(dup) % self.count as u64) as usize == self.index
    }

    pub fn label(&self) -> String {
        format!("{}/{}", self.index, self.count)
    }
}

/// One run of `faultline campaign plan`'s output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanRun {
    pub id: String,
    pub label: String,
    pub system: String,
    pub workload: String,
    pub nemesis: String,
    pub nodes: u32,
    pub seed: u64,
    pub bugs: Vec<String>,
    pub time_limit_s: f64,
    /// The line of the campaign file's matrix entry.
    pub line: usize,
    /// The `faultline run` command of this run alone.
    pub reproduce: String,
}

/// `faultline campaign plan`'s output, and what every shard records of the whole campaign.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub name: String,
    pub runs: Vec<PlanRun>,
}

/// What a shard directory holds besides its rows: which campaign, which share, the whole plan's ids.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardMeta {
    pub name: String,
    /// The campaign instance the shards belong to (`--id`).
    pub campaign_id: String,
    pub shard: String,
    /// Every run id of the campaign, in plan order.
    pub plan: Vec<String>,
}

/// `store/campaigns/<name>/shards/<campaign id>/`.
pub fn shard_dir(store: &Path, name: &str, campaign_id: &str) -> PathBuf {
    store.join("campaigns").join(name).join("shards").join(campaign_id)
}

/// The row file of a run in a shard directory.
pub fn row_path(dir: &Path, run_id: &str) -> PathBuf {
    dir.join("rows").join(format!("{run_id}.json"))
}

pub const META_FILE: &str = "campaign.json";

/// What a shard directory holds: its meta and its rows by run id.
#[derive(Debug)]
pub struct ShardContents {
    pub meta: ShardMeta,
    pub rows: BTreeMap<String, CampaignRun>,
}

/// Reads a shard directory; an error names the file that is missing or malformed.
pub fn read_shard(dir: &Path) -> Result<ShardContents, crate::store::StoreError> {
    let meta: ShardMeta = crate::store::read_json(&dir.join(META_FILE))?;
    let mut rows = BTreeMap::new();
    let rows_dir = dir.join("rows");
    let entries = match std::fs::read_dir(&rows_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ShardContents { meta, rows }),
        Err(e) => return Err(crate::store::StoreError::Io { path: rows_dir, source: e }),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let Some(id) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else { continue };
        rows.insert(id, crate::store::read_json(&path)?);
    }
    Ok(ShardContents { meta, rows })
}

/// The rows of every shard in plan order, a row with results preferred over a harness error when two
/// shards ran the same run; returns the rows and how many planned runs have none.
pub fn merge_rows(shards: &[ShardContents]) -> Result<(Vec<CampaignRun>, usize), String> {
    let Some(first) = shards.first() else { return Err("no shard directory given".into()) };
    for s in shards {
        if (s.meta.name.as_str(), s.meta.campaign_id.as_str(), &s.meta.plan)
            != (first.meta.name.as_str(), first.meta.campaign_id.as_str(), &first.meta.plan)
        {
            return Err(format!(
                "shards of different campaigns: {} {} (shard {}) and {} {} (shard {})",
                first.meta.name,
                first.meta.campaign_id,
                first.meta.shard,
                s.meta.name,
                s.meta.campaign_id,
                s.meta.shard
            ));
        }
    }
    let mut rows = Vec::new();
    let mut missing = 0;
    for id in &first.meta.plan {
        let candidates: Vec<&CampaignRun> = shards.iter().filter_map(|s| s.rows.get(id)).collect();
        let best = candidates
            .iter()
            .find(|r| r.outcome != reports::campaign::RunOutcome::HarnessError)
            .or(candidates.first());
        match best {
            Some(r) => rows.push((*r).clone()),
            None => missing += 1,
        }
    }
    Ok((rows, missing))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::System;

    fn config(seed: u64) -> RunConfig {
        let mut c = RunConfig::new(System::RaftNode);
        c.seed = seed;
        c
    }

    #[test]
    fn ids_depend_on_what_a_run_is_not_where_it_runs() {
        let a = config(1);
        let mut b = config(1);
        b.node_bin = PathBuf::from("/elsewhere/raft-node");
        b.store = PathBuf::from("/other/store");
        b.net = crate::cluster::Backend::Loopback;
        b.progress = !a.progress;
        assert_eq!(run_id(&a), run_id(&b));
        assert_ne!(run_id(&a), run_id(&config(2)));
        let mut c = config(1);
        c.node_args = vec!["--bug".into(), "stale-read".into()];
        assert_ne!(run_id(&a), run_id(&c));
        assert_eq!(run_id(&a).len(), 8);
    }

    #[test]
    fn a_run_written_twice_gets_two_ids() {
        let (a, b) = (config(1), config(1));
        let ids = run_ids([&a, &b, &config(2)]);
        assert_eq!(ids[1], format!("{}-2", ids[0]));
        assert_ne!(ids[2], ids[0]);
    }

    #[test]
    fn shards_split_every_run_exactly_once() {
        let configs: Vec<RunConfig> = (0..60).map(config).collect();
        let mut ids = run_ids(configs.iter());
        ids.push(format!("{}-2", ids[0]));
        for count in [1, 2, 3, 7] {
            let shards: Vec<Shard> = (0..count).map(|index| Shard { index, count }).collect();
            for id in &ids {
                assert_eq!(shards.iter().filter(|s| s.takes(id)).count(), 1, "{id} in {count} shards");
            }
            if count == 3 {
                // Not all in one shard.
                assert!(shards.iter().all(|s| ids.iter().any(|id| s.takes(id))));
            }
        }
    }

    #[test]
    fn shards_parse_with_an_index_or_from_the_job_index() {
        assert_eq!(Shard::parse("1/3", None), Ok(Shard { index: 1, count: 3 }));
        assert_eq!(Shard::parse("3", Some("2")), Ok(Shard { index: 2, count: 3 }));
        assert!(Shard::parse("3", None).unwrap_err().contains(INDEX_ENV));
        assert!(Shard::parse("3/3", None).unwrap_err().contains("0 to 2"));
        assert!(Shard::parse("a/3", None).unwrap_err().contains("\"a\""));
        assert!(Shard::parse("0/0", None).is_err());
    }
}
