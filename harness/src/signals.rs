//! The one module that starts processes and sends signals, and signals only processes this harness
//! spawned.
//!
//! A [`Spawned`] can only be made by [`spawn`] or [`spawn_piped`], so holding one proves the pid is
//! ours; signals go to it and nowhere else. Each node leads a process group of its own, and signals
//! go to that group, so a node started through a wrapper (`sh -c`, a pyenv shim) is killed, paused
//! and resumed whole, helpers included. Shim clients ([`spawn_shim`]) are tokio children killed
//! when their handle drops. The pid and its kernel start time are recorded in the state file, so
//! `faultline cleanup` can tell a leftover node from an unrelated process that reused the pid.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::fs::File;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A child process we started.
#[derive(Debug)]
pub struct Spawned {
    child: Child,
    start_time: Option<u64>,
}

/// How to start a node process.
#[derive(Clone, Copy, Debug)]
pub struct Launch<'a> {
    pub argv: &'a [String],
    /// Added to the harness's own environment.
    pub env: &'a [(String, String)],
    pub cwd: Option<&'a Path>,
    pub stdout: &'a Path,
    pub stderr: &'a Path,
}

/// Starts a node with stdout and stderr appended to its files.
pub fn spawn(launch: Launch<'_>) -> std::io::Result<Spawned> {
    let open = |p: &Path| File::options().create(true).append(true).open(p);
    let child = command(launch).stdin(Stdio::null()).stdout(open(launch.stdout)?).spawn()?;
    let start_time = start_time(child.id());
    Ok(Spawned { child, start_time })
}

/// Starts a node whose stdin and stdout are pipes (a Maelstrom node: the harness is its network);
/// `launch.stdout` is not opened here (the network keeps the node's stray output there).
pub fn spawn_piped(launch: Launch<'_>) -> std::io::Result<(Spawned, ChildStdin, ChildStdout)> {
    let mut child = command(launch).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
    let (stdin, stdout) = (child.stdin.take(), child.stdout.take());
    let start_time = start_time(child.id());
    let spawned = Spawned { child, start_time };
    match (stdin, stdout) {
        (Some(i), Some(o)) => Ok((spawned, i, o)),
        _ => {
            let _ = spawned.kill();
            Err(std::io::Error::other("the node's pipes were not created"))
        }
    }
}

fn command(launch: Launch<'_>) -> Command {
    let (program, args) = launch.argv.split_first().expect("argv vectors always name a program");
    let mut cmd = Command::new(program);
    cmd.args(args).envs(launch.env.iter().map(|(k, v)| (k, v)));
    // Its own process group, led by the node: signals reach whatever it started too.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    if let Some(dir) = launch.cwd {
        cmd.current_dir(dir);
    }
    if let Ok(err) = File::options().create(true).append(true).open(launch.stderr) {
        cmd.stderr(err);
    }
    cmd
}

/// Starts a shim client (see [`crate::shim`]): stdin and stdout are pipes, stderr is appended to
/// `stderr`, and the process is killed when its handle is dropped.
pub fn spawn_shim(
    argv: &[String],
    env: &[(String, String)],
    stderr: &Path,
) -> std::io::Result<(tokio::process::Child, tokio::process::ChildStdin, tokio::process::ChildStdout)> {
    let (program, args) = argv.split_first().expect("argv vectors always name a program");
    if let Some(dir) = stderr.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(File::options().create(true).append(true).open(stderr)?)
        .kill_on_drop(true)
        .spawn()?;
    match (child.stdin.take(), child.stdout.take()) {
        (Some(i), Some(o)) => Ok((child, i, o)),
        _ => Err(std::io::Error::other("the shim's pipes were not created")),
    }
}

impl Spawned {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The kernel's start time of the process (clock ticks since boot), when /proc has it.
    pub fn start_time(&self) -> Option<u64> {
        self.start_time
    }

    /// Signals the node's process group (it leads one; see [`spawn`]).
    fn signal(&self, sig: Signal) -> nix::Result<()> {
        tracing::debug!(pid = self.pid(), signal = %sig, "signal");
        kill(Pid::from_raw(-(self.pid() as i32)), sig)
    }

    pub fn pause(&self) -> nix::Result<()> {
        self.signal(Signal::SIGSTOP)
    }

    pub fn resume(&self) -> nix::Result<()> {
        self.signal(Signal::SIGCONT)
    }

    /// SIGKILL and reap. Also continues a stopped process first (a stopped process dies on SIGKILL
    /// anyway; SIGCONT keeps its exit from looking like a stop to the reaper).
    /// The whole group is signalled even when the node itself has exited: its helpers may not have
    /// (a group id is not reused while the group has members, so this reaches only ours).
    pub fn kill(mut self) -> std::io::Result<ExitStatus> {
        let _ = self.signal(Signal::SIGKILL);
        let _ = self.signal(Signal::SIGCONT);
        self.child.wait()
    }

    /// Sends `signal` (a system's stop signal), waits up to `grace` for the process to exit, then
    /// SIGKILLs it; reaps it either way.
    pub fn stop(mut self, signal: Signal, grace: Duration) -> std::io::Result<ExitStatus> {
        if self.child.try_wait()?.is_none() {
            let _ = self.signal(Signal::SIGCONT);
            let _ = self.signal(signal);
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                if let Some(status) = self.child.try_wait()? {
                    return Ok(status);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.kill()
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
    let group = Pid::from_raw(-(pid as i32));
    let _ = kill(group, Signal::SIGCONT);
    let _ = kill(group, Signal::SIGKILL);
    let pid = Pid::from_raw(pid as i32);
    let _ = kill(pid, Signal::SIGCONT);
    kill(pid, Signal::SIGKILL).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch<'a>(argv: &'a [String], out: &'a Path, err: &'a Path) -> Launch<'a> {
        Launch { argv, env: &[], cwd: None, stdout: out, stderr: err }
    }

    #[test]
    fn a_stop_signal_ends_a_node_that_obeys_it_before_the_grace_runs_out() {
        let dir = tempfile::tempdir().unwrap();
        let (out, err) = (dir.path().join("o"), dir.path().join("e"));
        let argv: Vec<String> = ["sleep", "30"].iter().map(|s| s.to_string()).collect();
        let env = [("FL_TEST".to_string(), "1".to_string())];
        let p = spawn(Launch { argv: &argv, env: &env, cwd: Some(dir.path()), stdout: &out, stderr: &err })
            .unwrap();
        let started = Instant::now();
        let status = p.stop(Signal::SIGTERM, Duration::from_secs(10)).unwrap();
        assert!(started.elapsed() < Duration::from_secs(5) && !status.success());
        // One that ignores it is killed after the grace.
        let argv: Vec<String> =
            ["sh", "-c", "trap '' TERM; sleep 30"].iter().map(|s| s.to_string()).collect();
        let p = spawn(launch(&argv, &out, &err)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let started = Instant::now();
        p.stop(Signal::SIGTERM, Duration::from_millis(300)).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    #[test]
    fn a_kill_takes_the_nodes_helpers_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let (out, err) = (dir.path().join("o"), dir.path().join("e"));
        // A helper with a command line no other process has: `sleep 31.<our pid>`.
        let marker = format!("31.{}", std::process::id());
        let script = format!("sleep {marker} & wait");
        let argv: Vec<String> = vec!["sh".into(), "-c".into(), script];
        let p = spawn(launch(&argv, &out, &err)).unwrap();
        let helper = || {
            std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
                std::fs::read(e.path().join("cmdline")).is_ok_and(|c| {
                    String::from_utf8_lossy(&c).replace('\0', " ") == format!("sleep {marker} ")
                })
            })
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !helper() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(helper(), "the helper never started");
        p.kill().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while helper() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!helper(), "the node's helper outlived it");
    }

    #[test]
    fn pause_resume_kill_a_child_we_spawned() {
        let dir = tempfile::tempdir().unwrap();
        let (out, err) = (dir.path().join("o"), dir.path().join("e"));
        let argv: Vec<String> = ["sleep", "30"].iter().map(|s| s.to_string()).collect();
        let mut p = spawn(launch(&argv, &out, &err)).unwrap();
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
        let mut p = spawn(launch(&argv, &dir.path().join("o"), &dir.path().join("e"))).unwrap();
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
        let p = spawn(launch(&argv, &dir.path().join("o"), &dir.path().join("e"))).unwrap();
        let pid = p.pid();
        let st = p.start_time();
        assert!(!kill_leftover(pid, st.map(|s| s + 1)));
        assert!(!kill_leftover(pid, None));
        assert!(kill_leftover(pid, st));
        p.kill().unwrap();
    }
}
