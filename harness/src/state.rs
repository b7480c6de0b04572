//! The state file: everything a run created on the host, so it can always be removed.
//!
//! Before the harness creates a namespace, a link or a process it records it here (written through a
//! temporary file and a rename, so a crash never leaves half a file). A normal run, an error and Ctrl-C
//! all end in the cluster's teardown, which removes the resources and then the file; if the harness
//! itself dies, `faultline cleanup` reads the files whose owner is gone and removes what they list.
//! Files live in `$FAULTLINE_STATE_DIR`, by default `<tmp>/faultline-state-<uid>`, so users never see
//! each other's runs.

use crate::netcmd;
use crate::signals;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A process recorded with its kernel start time, so a reused pid is never signalled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcRecord {
    pub node: String,
    pub pid: u32,
    pub start_time: Option<u64>,
}

/// What one run has created and not yet removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    pub run_id: String,
    pub owner_pid: u32,
    pub owner_start_time: Option<u64>,
    pub backend: String,
    pub namespaces: Vec<String>,
    /// Root-namespace links (bridge, host ends of veth pairs).
    pub links: Vec<String>,
    pub processes: Vec<ProcRecord>,
    /// lazyfs mount points (each node's data directory, for power loss).
    #[serde(default)]
    pub mounts: Vec<String>,
    /// What the run has on remote hosts (the ssh backend): nodes, our chain, its directory.
    #[serde(default)]
    pub remotes: Vec<crate::remote::RemoteRecord>,
}

/// The directory of state files for this user.
pub fn state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FAULTLINE_STATE_DIR") {
        return PathBuf::from(dir);
    }
    std::env::temp_dir().join(format!("faultline-state-{}", nix::unistd::getuid()))
}

/// The live state file of one run.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    pub state: RunState,
}

impl StateFile {
    /// Creates the state file of a new run.
    pub fn create(dir: &Path, run_id: &str, backend: &str) -> std::io::Result<StateFile> {
        std::fs::create_dir_all(dir)?;
        let pid = std::process::id();
        let state = RunState {
            run_id: run_id.to_string(),
            owner_pid: pid,
            owner_start_time: signals::start_time(pid),
            backend: backend.to_string(),
            ..RunState::default()
        };
        let file = StateFile { path: dir.join(format!("{run_id}.json")), state };
        file.save()?;
        Ok(file)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the state file whole and durably: after a crash, `faultline cleanup` finds every
    /// resource recorded before it.
    pub fn save(&self) -> std::io::Result<()> {
        crate::durable::write_json(&self.path, &self.state).map_err(|(_, e)| e)
    }

    pub fn add_namespace(&mut self, ns: &str) -> std::io::Result<()> {
        self.state.namespaces.push(ns.to_string());
        self.save()
    }

    pub fn add_link(&mut self, link: &str) -> std::io::Result<()> {
        self.state.links.push(link.to_string());
        self.save()
    }

    pub fn add_process(&mut self, rec: ProcRecord) -> std::io::Result<()> {
        self.state.processes.push(rec);
        self.save()
    }

    pub fn add_mount(&mut self, path: &Path) -> std::io::Result<()> {
        self.state.mounts.push(path.display().to_string());
        self.save()
    }

    pub fn remove_mount(&mut self, path: &Path) -> std::io::Result<()> {
        let path = path.display().to_string();
        self.state.mounts.retain(|m| *m != path);
        self.save()
    }

    pub fn add_remote(&mut self, remote: crate::remote::RemoteRecord) -> std::io::Result<()> {
        self.state.remotes.push(remote);
        self.save()
    }

    /// Changes the record of remote host `host` (a node started or stopped there).
    pub fn update_remote(
        &mut self,
        host: &str,
        f: impl FnOnce(&mut crate::remote::RemoteRecord),
    ) -> std::io::Result<()> {
        if let Some(r) = self.state.remotes.iter_mut().find(|r| r.host.host == host) {
            f(r);
        }
        self.save()
    }

    /// Forgets remote host `host` (everything the run had there is gone).
    pub fn remove_remote(&mut self, host: &str) -> std::io::Result<()> {
        self.state.remotes.retain(|r| r.host.host != host);
        self.save()
    }

    pub fn remove_process(&mut self, pid: u32) -> std::io::Result<()> {
        self.state.processes.retain(|p| p.pid != pid);
        self.save()
    }

    /// Removes whatever the file still lists, then the file (end of a run, also after errors).
    pub fn teardown(self) -> std::io::Result<()> {
        remove_resources(&self.state);
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Removes everything listed: what the run has on remote hosts (its nodes, chain and directory
/// there), then local processes (they live in the namespaces and use the mounts), then mounts
/// (detached: a dead harness's lazyfs has no server left), then namespaces (which takes their veth
/// ends and iptables rules with them), then root-namespace links.
pub fn remove_resources(state: &RunState) -> usize {
    let mut removed = 0;
    for r in &state.remotes {
        removed += crate::remote::remove_leftovers(r);
    }
    for p in &state.processes {
        if signals::kill_leftover(p.pid, p.start_time) {
            removed += 1;
        }
    }
    for m in &state.mounts {
        if crate::lazyfs::detach(Path::new(m)) {
            removed += 1;
        }
    }
    for ns in &state.namespaces {
        if netcmd::run_quiet(&netcmd::ip(&["netns", "del", ns])) {
            removed += 1;
        }
    }
    for link in &state.links {
        if netcmd::run_quiet(&netcmd::ip(&["link", "del", link])) {
            removed += 1;
        }
    }
    removed
}

/// What `faultline cleanup` did.
#[derive(Debug, Default)]
pub struct CleanupReport {
    pub runs: Vec<String>,
    pub resources: usize,
    pub skipped_live: Vec<String>,
}

/// Removes what every crashed run in `dir` left behind. Runs whose harness is still alive are left
/// alone (they will clean up after themselves).
pub fn cleanup_leftovers(dir: &Path) -> std::io::Result<CleanupReport> {
    let mut report = CleanupReport::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(report),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        let state: RunState = match serde_json::from_str(&text) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "unreadable state file left in place");
                continue;
            }
        };
        let owner_alive = signals::is_alive(state.owner_pid, state.owner_start_time);
        if owner_alive && state.owner_pid != std::process::id() {
            report.skipped_live.push(state.run_id);
            continue;
        }
        report.resources += remove_resources(&state);
        std::fs::remove_file(&path)?;
        report.runs.push(state.run_id);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_owners_processes_are_cleaned_up_and_a_live_owners_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let argv: Vec<String> = ["sleep", "30"].iter().map(|s| s.to_string()).collect();
        let (out, err) = (dir.path().join("o"), dir.path().join("e"));
        let launch = signals::Launch { argv: &argv, env: &[], cwd: None, stdout: &out, stderr: &err };
        let child = signals::spawn(launch).unwrap();

        // A live run (this test process) is left alone.
        let mut live = StateFile::create(dir.path(), "live", "loopback").unwrap();
        live.add_process(ProcRecord { node: "n1".into(), pid: child.pid(), start_time: child.start_time() })
            .unwrap();
        live.state.owner_pid = 1; // pid 1 is alive and is not us
        live.state.owner_start_time = signals::start_time(1);
        live.save().unwrap();
        let report = cleanup_leftovers(dir.path()).unwrap();
        assert_eq!(report.skipped_live, vec!["live".to_string()]);

        // The same run with a dead owner: its process is killed and the file removed.
        live.state.owner_pid = u32::MAX / 2;
        live.save().unwrap();
        let report = cleanup_leftovers(dir.path()).unwrap();
        assert_eq!(report.runs, vec!["live".to_string()]);
        assert_eq!(report.resources, 1);
        assert!(!live.path().exists());
        let status = child.kill().unwrap();
        assert!(!status.success());
    }
}
