//! The store: one directory per run, everything needed to re-check, report and replay it.
//!
//! Layout (CONTRACTS.md section 5): `store/<test-name>/<YYYYmmddTHHMMSS>/` holds `test.json` (every
//! input of the run plus, once it ended, what was executed), `history.jsonl`, `status.jsonl`,
//! `results.json`, `report.html` and `nodes/<name>/{stdout.log,stderr.log,data/,log.json}`;
//! `store/latest` is a symlink to the newest run. Two runs starting in the same second get `-1`, `-2`
//! suffixes instead of sharing a directory.

use crate::cluster::{Backend, NodeSpec};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use workloads::{FaultKind, Phase, ScheduledFault, Workload, WorkloadOptions};

/// `test.json`: the inputs of a run, and after it ends, what was executed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestSpec {
    /// `<system>-<workload>-<nemeses>`, the store's directory name.
    pub name: String,
    /// The system under test (`raft-node` or `etcd`).
    pub system: String,
    /// etcd's options when the system is etcd (absent in older runs and raft-node runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd: Option<crate::etcd::EtcdOptions>,
    pub workload: Workload,
    /// Checker models the history is checked under.
    pub models: Vec<String>,
    pub workload_options: WorkloadOptions,
    pub nodes: usize,
    pub time_limit_ms: u64,
    pub nemesis: Vec<FaultKind>,
    pub nemesis_interval_ms: u64,
    pub concurrency: usize,
    /// Operations per second over all processes; None = as fast as the clients go.
    pub rate: Option<f64>,
    pub seed: u64,
    pub op_timeout_ms: u64,
    pub recover_timeout_ms: u64,
    pub net: Backend,
    /// The system's binary (raft-node or etcd).
    pub node_bin: String,
    /// CRC-32 of the node binary (hex), so a replay can tell it runs the same build.
    pub node_bin_crc32: Option<String>,
    pub node_args: Vec<String>,
    /// The planned fault schedule (symbolic targets; the history has what each fault hit).
    pub schedule: Vec<ScheduledFault>,
    pub plan: Vec<Phase>,
    /// The command that reproduces this run.
    pub reproduce: String,
    pub faultline_version: String,
    /// UTC start, `YYYY-mm-ddTHH:MM:SSZ`.
    pub started_at: String,
    /// Filled in when the run ends.
    #[serde(default)]
    pub outcome: Option<RunOutcome>,
}

/// What happened, written into test.json at the end of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    /// The nodes with their addresses and commands' arguments.
    pub cluster: Vec<NodeSpec>,
    /// Faults as executed: run-relative time (ns), name and what was done (same as the history's
    /// nemesis `info` events).
    pub executed: Vec<ExecutedFault>,
    /// Phase boundaries, ns since the start of the run.
    pub run_start: u64,
    pub run_end: u64,
    pub recovered_at: Option<u64>,
    /// Final reads are the reads invoked at or after this time.
    pub final_reads_start: u64,
    pub final_reads_end: u64,
    pub operations: u64,
    /// A harness error that cut the run short, if any.
    pub error: Option<String>,
}

/// One executed fault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutedFault {
    pub time: u64,
    pub f: String,
    pub value: serde_json::Value,
}

impl TestSpec {
    pub fn load(run_dir: &Path) -> Result<TestSpec, StoreError> {
        let path = run_dir.join("test.json");
        let text =
            std::fs::read_to_string(&path).map_err(|e| StoreError::Io { path: path.clone(), source: e })?;
        serde_json::from_str(&text).map_err(|e| StoreError::Json { path, source: e })
    }

    pub fn save(&self, run_dir: &Path) -> Result<(), StoreError> {
        write_json(&run_dir.join("test.json"), self)
    }
}

/// Why the store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not valid JSON for this file: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
}

/// Writes pretty JSON through a temporary file and a rename.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), StoreError> {
    let tmp = path.with_extension("json.tmp");
    let text =
        serde_json::to_string_pretty(value).map_err(|e| StoreError::Json { path: path.into(), source: e })?;
    std::fs::write(&tmp, text).map_err(|e| StoreError::Io { path: tmp.clone(), source: e })?;
    std::fs::rename(&tmp, path).map_err(|e| StoreError::Io { path: path.into(), source: e })
}

/// Creates `store/<name>/<timestamp>[-k]/nodes` and points `store/latest` at it.
pub fn create_run_dir(store: &Path, name: &str) -> Result<PathBuf, StoreError> {
    let parent = store.join(name);
    std::fs::create_dir_all(&parent).map_err(|e| StoreError::Io { path: parent.clone(), source: e })?;
    let stamp = timestamp(unix_now(), false);
    let mut k = 0;
    let dir = loop {
        let leaf = if k == 0 { stamp.clone() } else { format!("{stamp}-{k}") };
        let dir = parent.join(&leaf);
        match std::fs::create_dir(&dir) {
            Ok(()) => break dir,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => k += 1,
            Err(e) => return Err(StoreError::Io { path: dir, source: e }),
        }
    };
    let nodes = dir.join("nodes");
    std::fs::create_dir_all(&nodes).map_err(|e| StoreError::Io { path: nodes, source: e })?;
    point_latest(store, &dir)?;
    Ok(dir)
}

/// `store/latest` -> the run directory (relative), replaced atomically.
fn point_latest(store: &Path, dir: &Path) -> Result<(), StoreError> {
    let target = dir.strip_prefix(store).unwrap_or(dir);
    let latest = store.join("latest");
    let tmp = store.join(format!(".latest.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(|e| StoreError::Io { path: tmp.clone(), source: e })?;
    std::fs::rename(&tmp, &latest).map_err(|e| StoreError::Io { path: latest, source: e })
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// UTC `YYYYmmddTHHMMSS` (or `YYYY-mm-ddTHH:MM:SSZ` when `iso`) of a Unix time, without a date crate
/// (Howard Hinnant's days-to-civil algorithm).
pub fn timestamp(unix: u64, iso: bool) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    if iso {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
    } else {
        format!("{year:04}{month:02}{day:02}T{h:02}{m:02}{s:02}")
    }
}

/// CRC-32 of a file, hex.
pub fn file_crc32(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    Some(format!("{:08x}", crc32fast::hash(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(timestamp(0, false), "19700101T000000");
        assert_eq!(timestamp(1_709_251_199, true), "2024-02-29T23:59:59Z");
        assert_eq!(timestamp(1_795_305_600, false), "20261122T000000");
    }

    #[test]
    fn runs_in_the_same_second_get_distinct_dirs_and_latest_follows() {
        let store = tempfile::tempdir().unwrap();
        let a = create_run_dir(store.path(), "t").unwrap();
        let b = create_run_dir(store.path(), "t").unwrap();
        assert_ne!(a, b);
        assert!(b.join("nodes").is_dir());
        let latest = std::fs::canonicalize(store.path().join("latest")).unwrap();
        assert_eq!(latest, std::fs::canonicalize(&b).unwrap());
    }
}
