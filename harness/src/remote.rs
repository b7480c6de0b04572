//! What the harness does on a remote host, over [`crate::ssh`]: check it, start a node and signal it,
//! keep our own iptables chain, and remove everything a run left there.
//!
//! The remote counterpart of [`crate::netcmd`] and [`crate::signals`], and as narrow: every action is
//! one argv vector or one constant script with its data as positional parameters. A node is started
//! with `setsid nohup` (its own session, so the SSH channel closing does not take it down) and is
//! known by its remote pid; before any signal the pid is checked to still be one of this run's nodes
//! (its command line names the run's directory on that host, and it is not a zombie), so a reused pid
//! is never signalled. A run's resources on a host are its [`RemoteRecord`] in the state file: the
//! chain, the directory, the node pids and the master connection, which [`remove_leftovers`] removes
//! after a crash (`faultline cleanup`).

use crate::ssh::{Host, SshError, script};
use serde::{Deserialize, Serialize};

/// What one run has (or may have) on one host, recorded before it exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteRecord {
    pub host: Host,
    /// Our iptables chain on the host, jumped to from INPUT.
    pub chain: String,
    /// The run's directory on the host (binary, logs, data).
    pub dir: String,
    /// Pids of node processes on the host.
    pub pids: Vec<u32>,
}

/// Starts a node: `$1` its directory, `$2` its data directory, `$3`/`$4` its stdout/stderr logs,
/// then its argv; prints the pid. Without job control the background job is not a process group
/// leader, so `setsid` does not fork and `$!` is the node itself (nohup and setsid exec).
const LAUNCH: &str = r#"mkdir -p -- "$2" && cd -- "$1" || exit 1
out=$3; err=$4; shift 4
setsid nohup "$@" </dev/null >>"$out" 2>>"$err" &
echo $!"#;

/// `$1` pid, `$2` signal name or `alive`, `$3` the run directory its command line must name. Prints
/// `gone` when the pid is not (or no longer) such a process, else `alive` or `done`. After KILL it
/// waits (up to 5 s) until the process is gone, so a restart finds its ports free.
const SIGNAL: &str = r#"ours() {
  st=$(sed -n 's/^[0-9]* (.*) \(.\) .*/\1/p' "/proc/$1/stat" 2>/dev/null)
  case "$st" in ''|Z|X) return 1;; esac
  tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}
ours "$1" "$3" || { echo gone; exit 0; }
[ "$2" = alive ] && { echo alive; exit 0; }
kill -s "$2" "$1" || exit 1
if [ "$2" = KILL ]; then
  n=0
  while ours "$1" "$3" && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done
fi
echo done"#;

/// Removes chain `$1`: every jump to it from INPUT, its rules, itself. Fails only if it is still there.
const REMOVE_CHAIN: &str = r#"command -v iptables >/dev/null 2>&1 || exit 0
while iptables -w -D INPUT -j "$1" 2>/dev/null; do :; done
iptables -w -F "$1" 2>/dev/null
iptables -w -X "$1" 2>/dev/null
if iptables -w -S "$1" >/dev/null 2>&1; then echo "chain $1 is still there" >&2; exit 1; fi"#;

/// Checks a host that answered ([`Host::open`]) before a run uses it: finds a working `iptables`
/// and creates the run's directory `dir`. Each failure says which of these.
pub fn check_host(host: &Host, dir: &str) -> Result<(), SshError> {
    if host.run("looking for iptables", &script("command -v iptables", &[])).is_err() {
        return Err(SshError {
            host: host.host.clone(),
            action: "looking for iptables".into(),
            detail: "`iptables` is not installed there (not on the PATH of commands run over ssh); \
                     partitions need it (Debian: apt-get install -y iptables)"
                .into(),
        });
    }
    host.run("trying iptables (root needed)", &["iptables", "-w", "-S", "INPUT"])?;
    host.run("creating the run's directory", &["mkdir", "-p", "--", dir])?;
    Ok(())
}

/// Puts the node binary on the host: uploads `local` to `dir/<its name>`, or checks that `remote`
/// (a binary already there) is executable. Returns its path on the host.
pub fn install_binary(
    host: &Host,
    dir: &str,
    local: &std::path::Path,
    remote: Option<&str>,
) -> Result<String, SshError> {
    if let Some(path) = remote {
        host.run("checking --remote-node-bin", &["test", "-x", path]).map_err(|mut e| {
            e.detail = format!("{path} is not an executable file there ({})", e.detail);
            e
        })?;
        return Ok(path.to_string());
    }
    let name = local.file_name().map_or("node".into(), |n| n.to_string_lossy().into_owned());
    let path = format!("{dir}/{name}");
    host.upload(local, &path)?;
    host.run("uploading the node binary", &["chmod", "755", "--", &path])?;
    Ok(path)
}

/// Starts `argv` in `node_dir` (stdout and stderr appended to logs there); returns the remote pid.
pub fn launch(host: &Host, node_dir: &str, data_dir: &str, argv: &[String]) -> Result<u32, SshError> {
    let (out, err) = (
        format!("{node_dir}/{}", crate::nodes::STDOUT_LOG),
        format!("{node_dir}/{}", crate::nodes::STDERR_LOG),
    );
    let mut args: Vec<&str> = vec![node_dir, data_dir, &out, &err];
    args.extend(argv.iter().map(String::as_str));
    let printed = host.run("starting a node", &script(LAUNCH, &args))?;
    printed.lines().last().and_then(|l| l.trim().parse().ok()).ok_or_else(|| SshError {
        host: host.host.clone(),
        action: "starting a node".into(),
        detail: format!("no pid in the answer {printed:?}"),
    })
}

/// What [`signal`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signalled {
    /// The signal was sent (for `alive`: the process runs).
    Done,
    /// The pid is no longer one of this run's nodes.
    Gone,
}

/// Sends `signal` (`KILL`, `STOP`, `CONT`, or `alive` to only look) to `pid` if it is still a node
/// of the run whose directory on the host is `run_dir`.
pub fn signal(host: &Host, pid: u32, signal: &str, run_dir: &str) -> Result<Signalled, SshError> {
    let pid = pid.to_string();
    let out =
        host.run(&format!("signal {signal} to pid {pid}"), &script(SIGNAL, &[&pid, signal, run_dir]))?;
    Ok(if out.lines().last().map(str::trim) == Some("gone") { Signalled::Gone } else { Signalled::Done })
}

/// Creates chain `chain` and jumps to it first thing in INPUT.
pub fn create_chain(host: &Host, chain: &str) -> Result<(), SshError> {
    host.run(&format!("iptables -N {chain}"), &["iptables", "-w", "-N", chain])?;
    host.run(&format!("iptables -I INPUT -j {chain}"), &["iptables", "-w", "-I", "INPUT", "-j", chain])?;
    Ok(())
}

/// `$1` the chain, `$2` a probability or `all`, then the sources whose packets to drop: one DROP rule
/// each (in one SSH round trip however many links are cut).
const DROP_FROM: &str = r#"chain=$1; p=$2; shift 2
for s in "$@"; do
  if [ "$p" = all ]; then
    iptables -w -A "$chain" -s "$s" -j DROP || exit 1
  else
    iptables -w -A "$chain" -s "$s" -m statistic --mode random --probability "$p" -j DROP || exit 1
  fi
done"#;

/// Drops what each of `sources` sends to this host (with `probability`, or all of it).
pub fn drop_from(
    host: &Host,
    chain: &str,
    sources: &[String],
    probability: Option<f64>,
) -> Result<(), SshError> {
    let p = probability.map_or("all".to_string(), |p| format!("{p:.4}"));
    let mut args = vec![chain, p.as_str()];
    args.extend(sources.iter().map(String::as_str));
    host.run(&format!("iptables -A {chain} (drop from {})", sources.join(", ")), &script(DROP_FROM, &args))
        .map(drop)
}

/// Removes every rule of our chain.
pub fn flush_chain(host: &Host, chain: &str) -> Result<(), SshError> {
    host.run(&format!("iptables -F {chain}"), &["iptables", "-w", "-F", chain]).map(drop)
}

pub fn remove_chain(host: &Host, chain: &str) -> Result<(), SshError> {
    host.run(&format!("removing chain {chain}"), &script(REMOVE_CHAIN, &[chain])).map(drop)
}

/// Removes the run's directory on the host (only ever one of ours: its name starts `faultline-`).
pub fn remove_dir(host: &Host, dir: &str) -> Result<(), SshError> {
    let ours = dir.rsplit('/').next().is_some_and(|name| name.starts_with("faultline-"));
    assert!(ours, "remote run directories are named faultline-*, not {dir}");
    host.run("removing the run's directory", &["rm", "-rf", "--", dir]).map(drop)
}

/// Removes what a crashed run left on one host: its nodes, its chain, its directory, the master
/// connection. Carries on past failures (an unreachable host is logged); returns how many of the
/// four were removed.
pub fn remove_leftovers(r: &RemoteRecord) -> usize {
    let mut removed = 0;
    let mut note = |what: &str, result: Result<(), SshError>| match result {
        Ok(()) => removed += 1,
        Err(e) => tracing::warn!(error = %e, "could not remove {what}"),
    };
    let killed = r.pids.iter().try_for_each(|&pid| signal(&r.host, pid, "KILL", &r.dir).map(drop));
    note("the run's nodes", killed);
    note("the run's chain", remove_chain(&r.host, &r.chain));
    note("the run's directory", remove_dir(&r.host, &r.dir));
    r.host.close();
    // The run's private ssh directory (its known_hosts and master sockets) goes with its last host.
    let _ = std::fs::remove_file(&r.host.control);
    if let Some(private) = r.host.known_hosts.parent()
        && std::fs::read_dir(private)
            .is_ok_and(|mut d| d.all(|e| e.is_ok_and(|e| e.path() == r.host.known_hosts)))
    {
        let _ = std::fs::remove_file(&r.host.known_hosts);
        let _ = std::fs::remove_dir(private);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// The scripts run here in a local `sh` exactly as the remote login shell runs them.
    fn sh(script_text: &str, args: &[&str]) -> String {
        let argv = script(script_text, args);
        let out = Command::new(argv[0]).args(&argv[1..]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn a_launched_node_is_its_own_pid_and_is_signalled_only_while_it_is_ours() {
        let dir = tempfile::tempdir().unwrap();
        let run_dir = dir.path().join("faultline-abc-n1");
        let d = run_dir.display().to_string();
        let data = format!("{d}/data");
        let (out, err) = (format!("{d}/stdout.log"), format!("{d}/stderr.log"));
        // `sleep` does not name the directory: the marker is an argument of the node's command line.
        let printed = sh(LAUNCH, &[&d, &data, &out, &err, "sh", "-c", "sleep 30; true", &data]);
        let pid: u32 = printed.trim().parse().unwrap();
        assert!(std::path::Path::new(&data).is_dir());
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        assert!(String::from_utf8_lossy(&cmdline).contains(&data));
        let p = pid.to_string();
        assert_eq!(sh(SIGNAL, &[&p, "alive", "/elsewhere/faultline-x-n1"]).trim(), "gone");
        assert_eq!(sh(SIGNAL, &[&p, "alive", &d]).trim(), "alive");
        assert_eq!(sh(SIGNAL, &[&p, "KILL", &d]).trim(), "done");
        assert_eq!(sh(SIGNAL, &[&p, "alive", &d]).trim(), "gone");
    }
}
