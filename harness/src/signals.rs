//! The one module that sends signals, and only to processes this harness spawned.
//!
//! A [`Spawned`] can only be made by [`spawn`], so holding one proves the pid is ours; signals go to
//! it and nowhere else. The pid and its kernel start time are recorded in the state file, so
//! `faultline cleanup` can tell a leftover node from an unrelated process that reused the pid.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};

/// A child process we started.
#[derive(Debug)]
pub struct Spawned {
    child: Child,
    start_time: Option<u64>,
}

/// Starts `argv` with stdout and stderr appended to the given files.
pub fn spawn(argv: &[String], stdout: &Path, stderr: &Path) -> std::io::Result<Spawned> {
    let (program, args) = argv.split_first().expect("argv vectors always name a program");
    let open = |p: &Path| File::options().create(true).append(true).open(p);
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(open(stdout)?)
        .stderr(open(stderr)?)
        .spawn()?;
    let start_time = start_time(child.id());
    Ok(Spawned { child, start_time })
}

impl Spawned {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The kernel's start time of the process (clock ticks since boot), when /proc has it.
    pub fn start_time(&self) -> Option<u64> {
        self.start_time
    }

    fn signal(&self, sig: Signal) -> nix::Result<()> {
        tracing::debug!(pid = self.pid(), signal = %sig, "signal");
        kill(Pid::from_raw(self.pid() as i32), sig)
    }

    pub fn pause(&self) -> nix::Result<()> {
        self.signal(Signal::SIGSTOP)
    }

    pub fn resume(&self) -> nix::Result<()> {
        self.signal(Signal::SIGCONT)
    }

    /// SIGKILL and reap. Also continues a stopped process first (a stopped process dies on SIGKILL
    /// anyway; SIGCONT keeps its exit from looking like a stop to the reaper).
    pub fn kill(mut self) -> std::io::Result<ExitStatus> {
        if self.child.try_wait()?.is_none() {
            let _ = self.signal(Signal::SIGKILL);
            let _ = self.signal(Signal::SIGCONT);
        }
        self.child.wait()
    }

    /// The exit status if the process has ended (reaping it), None while it runs.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

/// Field 22 of /proc/PID/stat: the process start time in clock ticks since boot.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses; fields after the last ')' are safe.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `pid` is a live (not zombie) process that started at `recorded_start` (any start time
/// when none was recorded). A killed harness stays a zombie until its parent reaps it; it is dead.
pub fn is_alive(pid: u32, recorded_start: Option<u64>) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else { return false };
    let state = rest.split_whitespace().next().unwrap_or("X");
    if state == "Z" || state == "X" {
        return false;
    }
    recorded_start.is_none_or(|s| start_time(pid) == Some(s))
}

/// SIGKILL a process a crashed run left behind, only if it is still the process that run started
/// (same pid and same start time). Returns whether a signal was sent.
pub fn kill_leftover(pid: u32, recorded_start: Option<u64>) -> bool {
    let Some(now) = start_time(pid) else { return false };
    if recorded_start.is_some_and(|s| s != now) || recorded_start.is_none() {
        return false;
    }
    let pid = Pid::from_raw(pid as i32);
    let _ = kill(pid, Signal::SIGCONT);
    kill(pid, Signal::SIGKILL).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_resume_kill_a_child_we_spawned() {
        let dir = tempfile::tempdir().unwrap();
        let (out, err) = (dir.path().join("o"), dir.path().join("e"));
        let argv: Vec<String> = ["sleep", "30"].iter().map(|s| s.to_string()).collect();
        let mut p = spawn(&argv, &out, &err).unwrap();
        assert!(p.start_time().is_some());
        p.pause().unwrap();
        p.resume().unwrap();
        assert!(p.exited().is_none());
        let status = p.kill().unwrap();
        assert!(!status.success());
    }

    #[test]
    fn a_killed_harness_left_as_a_zombie_counts_as_dead() {
        let dir = tempfile::tempdir().unwrap();
        let argv: Vec<String> = vec!["true".to_string()];
        let mut p = spawn(&argv, &dir.path().join("o"), &dir.path().join("e")).unwrap();
        let pid = p.pid();
        // Not reaped yet: a zombie, which must not look like a live owner to `faultline cleanup`.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while is_alive(pid, None) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!is_alive(pid, None));
        assert!(p.exited().is_some());
        assert!(is_alive(std::process::id(), start_time(std::process::id())));
    }

    #[test]
    fn leftovers_are_killed_only_when_the_start_time_matches() {
        let dir = tempfile::tempdir().unwrap();
        let argv: Vec<String> = ["sleep", "30"].iter().map(|s| s.to_string()).collect();
        let p = spawn(&argv, &dir.path().join("o"), &dir.path().join("e")).unwrap();
        let pid = p.pid();
        let st = p.start_time();
        assert!(!kill_leftover(pid, st.map(|s| s + 1)));
        assert!(!kill_leftover(pid, None));
        assert!(kill_leftover(pid, st));
        p.kill().unwrap();
    }
}
