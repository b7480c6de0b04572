//! The store: one directory per run, everything needed to re-check, report and replay it.
//!
//! Layout (CONTRACTS.md section 5): `store/<test-name>/<YYYYmmddTHHMMSS>/` holds `test.json` (every
//! input of the run plus, once it ended, what was executed), `history.jsonl`, `status.jsonl`,
//! `results.json`, `report.html`, `nodes/<name>/{stdout.log,stderr.log,data/,log.json,
//! log-changes.json}`, for shim clients `clients/c<slot>.stderr.log`, and for Maelstrom nodes
//! `network.json` (what the message network did); `store/latest` is a symlink to the newest run. Two runs starting in the same
//! second get `-1`, `-2` suffixes instead of sharing a directory.
//!
//! [`RunDir`] is the only place that knows these names: every reader and writer of a run directory
//! asks it for paths. JSON and HTML files are written whole and durably ([`crate::durable`]).

use crate::cluster::Backend;
use crate::etcd::EtcdOptions;
use crate::nodes::NodeSpec;
use crate::system::{System, SystemKind};
use crate::systemfile::{SystemFile, SystemFileError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use workloads::{FaultKind, Phase, ScheduledFault, Workload, WorkloadOptions};

/// A run directory and the names of everything in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

/// Files of one node's directory (`nodes/<name>/`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeFile {
    Stdout,
    Stderr,
    /// The union of the committed entries the log watcher saw ([`crate::logwatch`]).
    CommittedLog,
    /// Committed entries a node later replaced.
    LogChanges,
}

impl NodeFile {
    pub fn name(self) -> &'static str {
        match self {
            NodeFile::Stdout => crate::nodes::STDOUT_LOG,
            NodeFile::Stderr => crate::nodes::STDERR_LOG,
            NodeFile::CommittedLog => "log.json",
            NodeFile::LogChanges => "log-changes.json",
        }
    }
}

impl RunDir {
    /// Creates `store/<name>/<timestamp>[-k]/nodes` and points `store/latest` at it.
    pub fn create(store: &Path, name: &str) -> Result<RunDir, StoreError> {
        let parent = store.join(name);
        let root = create_stamped_dir(&parent)?;
        let run = RunDir { root };
        let nodes = run.nodes_dir();
        std::fs::create_dir_all(&nodes).map_err(|e| StoreError::Io { path: nodes, source: e })?;
        point_latest(store, run.path())?;
        Ok(run)
    }

    /// An existing run directory (`store/<test>/<time>` or `store/latest`); it must hold `test.json`.
    pub fn open(path: &Path) -> Result<RunDir, StoreError> {
        let root =
            std::fs::canonicalize(path).map_err(|e| StoreError::Io { path: path.into(), source: e })?;
        let run = RunDir { root };
        if !run.test_json().is_file() {
            return Err(StoreError::NotARun { path: path.into() });
        }
        Ok(run)
    }

    /// A run directory at `path` as it is, without checking it (tests of single files).
    pub fn at(path: &Path) -> RunDir {
        RunDir { root: path.to_path_buf() }
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The store this run lives in (`<store>/<test-name>/<timestamp>`).
    pub fn store(&self) -> Option<&Path> {
        self.root.parent()?.parent()
    }

    pub fn test_json(&self) -> PathBuf {
        self.root.join("test.json")
    }

    pub fn history(&self) -> PathBuf {
        self.root.join("history.jsonl")
    }

    pub fn status(&self) -> PathBuf {
        self.root.join("status.jsonl")
    }

    pub fn results(&self) -> PathBuf {
        self.root.join("results.json")
    }

    pub fn report(&self) -> PathBuf {
        self.root.join("report.html")
    }

    /// `shrunk.json`: the failure's schedule shrunk by `faultline explore` ([`crate::explore::Shrunk`]).
    pub fn shrunk(&self) -> PathBuf {
        self.root.join("shrunk.json")
    }

    pub fn nodes_dir(&self) -> PathBuf {
        self.root.join("nodes")
    }

    /// `clients/`: shim clients' stderr (`c<slot>.stderr.log`).
    pub fn clients_dir(&self) -> PathBuf {
        self.root.join("clients")
    }

    /// `network.json`: the message network's counters (Maelstrom nodes).
    pub fn network(&self) -> PathBuf {
        self.root.join("network.json")
    }

    /// `nodes/<name>/`.
    pub fn node_dir(&self, node: &str) -> PathBuf {
        self.nodes_dir().join(node)
    }

    pub fn node_file(&self, node: &str, file: NodeFile) -> PathBuf {
        self.node_dir(node).join(file.name())
    }

    /// The same path relative to the run directory, for messages and evidence (`nodes/n1/stderr.log`).
    pub fn relative<'p>(&self, path: &'p Path) -> &'p Path {
        path.strip_prefix(&self.root).unwrap_or(path)
    }

    pub fn load_spec(&self) -> Result<TestSpec, StoreError> {
        read_json(&self.test_json())
    }

    pub fn save_spec(&self, spec: &TestSpec) -> Result<(), StoreError> {
        write_json(&self.test_json(), spec)
    }
}

/// `test.json`: the inputs of a run, and after it ends, what was executed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestSpec {
    /// `<system>-<workload>-<nemeses>`, the store's directory name.
    pub name: String,
    /// The system under test (`raft-node`, `etcd`, `maelstrom` or `file`); see [`TestSpec::system`].
    pub system: SystemKind,
    /// etcd's options when the system is etcd (absent in older runs and raft-node runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd: Option<EtcdOptions>,
    /// The system file of a `file` system: where it was and its whole text (a replay runs this text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_file: Option<SystemFileRecord>,
    /// Body types the message faults act on (Maelstrom nodes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub message_types: Vec<String>,
    pub workload: Workload,
    /// Checker models the history is checked under.
    pub models: Vec<checker::ModelKind>,
    pub workload_options: WorkloadOptions,
    pub nodes: usize,
    pub time_limit_ms: u64,
    pub nemesis: Vec<FaultKind>,
    pub nemesis_interval_ms: u64,
    /// Composed sequences rather than alternating faults (absent in older runs: alternating).
    #[serde(default)]
    pub nemesis_composed: bool,
    /// `--election-timeout`, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub election_timeout_ms: Option<u64>,
    pub concurrency: usize,
    /// Operations per second over all processes; None = as fast as the clients go.
    pub rate: Option<f64>,
    pub seed: u64,
    pub op_timeout_ms: u64,
    pub recover_timeout_ms: u64,
    pub net: Backend,
    /// The remote hosts and how they were reached (`net` is `ssh`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<crate::ssh::SshOptions>,
    /// When lazyfs made name changes durable (runs with power loss).
    #[serde(default)]
    pub lazyfs_metadata: crate::lazyfs::Metadata,
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

/// A system file as `test.json` keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemFileRecord {
    /// Absolute path it was read from (relative paths in it are relative to its directory).
    pub path: String,
    pub text: String,
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
    /// Raft messages the proxy left out, by kind (absent when no link went through the proxy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages_dropped: Option<crate::proxy::DroppedMessages>,
}

/// One executed fault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutedFault {
    pub time: u64,
    pub f: String,
    pub value: serde_json::Value,
}

impl TestSpec {
    /// The system with its options; a system file is parsed again from its recorded text.
    pub fn system(&self) -> Result<System, SystemFileError> {
        match (self.system, &self.system_file) {
            (SystemKind::File, Some(f)) => {
                Ok(System::described(SystemFile::parse(&f.text, Path::new(&f.path))?))
            }
            (SystemKind::File, None) => Err(SystemFileError {
                path: PathBuf::from("test.json"),
                line: 0,
                key: "system_file".into(),
                message: "a run of a system file must record the file's text".into(),
            }),
            (kind, _) => Ok(System::new(kind, self.etcd)),
        }
    }

    /// The node names of this run (`n1` ... `nN`).
    pub fn node_names(&self) -> Vec<String> {
        (1..=self.nodes).map(|i| format!("n{i}")).collect()
    }
}

/// Why the store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not valid JSON for this file: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("{path}: not a run directory (no test.json in it)")]
    NotARun { path: PathBuf },
}

/// Reads a JSON file of the store.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, StoreError> {
    let text = std::fs::read_to_string(path).map_err(|e| StoreError::Io { path: path.into(), source: e })?;
    serde_json::from_str(&text).map_err(|e| StoreError::Json { path: path.into(), source: e })
}

/// Writes pretty JSON atomically and durably ([`crate::durable`]).
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<(), StoreError> {
    crate::durable::write_json(path, value).map_err(|(path, source)| StoreError::Io { path, source })
}

/// Writes bytes atomically and durably ([`crate::durable`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    crate::durable::write(path, bytes).map_err(|(path, source)| StoreError::Io { path, source })
}

/// Creates `<parent>/<timestamp>[-k]` (the parent too), a fresh directory even when another run
/// started in the same second.
pub fn create_stamped_dir(parent: &Path) -> Result<PathBuf, StoreError> {
    std::fs::create_dir_all(parent).map_err(|e| StoreError::Io { path: parent.into(), source: e })?;
    let stamp = timestamp(unix_now(), false);
    let mut k = 0;
    loop {
        let leaf = if k == 0 { stamp.clone() } else { format!("{stamp}-{k}") };
        let dir = parent.join(&leaf);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => k += 1,
            Err(e) => return Err(StoreError::Io { path: dir, source: e }),
        }
    }
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

pub use checker::timestamp::format_utc as timestamp;

pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
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
    fn runs_in_the_same_second_get_distinct_dirs_and_latest_follows() {
        let store = tempfile::tempdir().unwrap();
        let a = RunDir::create(store.path(), "t").unwrap();
        let b = RunDir::create(store.path(), "t").unwrap();
        assert_ne!(a, b);
        assert!(b.nodes_dir().is_dir());
        let latest = std::fs::canonicalize(store.path().join("latest")).unwrap();
        assert_eq!(latest, std::fs::canonicalize(b.path()).unwrap());
        assert_eq!(b.store(), Some(store.path()));
    }

    #[test]
    fn a_directory_without_test_json_is_not_a_run() {
        let dir = tempfile::tempdir().unwrap();
        let e = RunDir::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not a run directory"), "{e}");
    }
}
