//! The one module that runs `ssh` and `scp` (OpenSSH's clients; no SSH protocol code of ours).
//!
//! A [`Host`] is one remote machine with the options every command to it carries: `BatchMode=yes`
//! (a refused key is an error, never a password prompt), `StrictHostKeyChecking=accept-new` against a
//! run-private `known_hosts` file (the user's own is neither read nor written), `ConnectTimeout` and
//! keep-alives (a host that vanishes is an error within seconds, not a hang), and a `ControlPath`
//! shared with one master connection per host ([`Host::open`]), so the many short commands of a run
//! (start, signal, iptables) cost a channel each instead of a handshake each.
//!
//! Remote commands are argv vectors like [`crate::netcmd`]'s. SSH hands the remote side one string,
//! which the login shell splits again, so [`remote_command`] quotes every word (always, in single
//! quotes) and the remote shell gives back exactly the argv we built. Where a command needs a shell
//! (redirections, a background job), the shell script is a constant of the caller and the data
//! travels as its positional parameters (`sh -c SCRIPT sh ARG...`), never pasted into the script.
//!
//! Every failure is an [`SshError`] naming the host, what was being done and what went wrong
//! (ssh's own last words on a connection failure, the remote command's stderr otherwise).

use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// SSH's own exit status when the connection (not the remote command) failed.
const SSH_FAILED: i32 = 255;
/// Seconds to wait for a host's TCP connection and SSH handshake.
const CONNECT_TIMEOUT_SECS: u32 = 5;
/// How long one `ssh` or `scp` call may take in all. The connection has its own timeout and
/// keep-alives; this bounds a remote command that hangs on a live connection (an `iptables` waiting
/// for the xtables lock another program holds, a stuck filesystem), which would otherwise hang the
/// run. Uploads of a node binary and downloads of a node's data fit well inside it.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// How to reach the hosts of a run (`--hosts`, `--ssh-user`, `--ssh-key`, `--ssh-port`,
/// `--remote-dir`, `--remote-node-bin`); kept in `test.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshOptions {
    /// One node per host, in node order (`n1` on the first).
    pub hosts: Vec<String>,
    pub user: String,
    /// The private key; None: ssh's defaults (the agent, `~/.ssh/id_*`).
    pub key: Option<PathBuf>,
    pub port: u16,
    /// Where each host keeps a run's files: `<remote_dir>/faultline-<run id>-<node>/`.
    pub remote_dir: String,
    /// The node binary already on every host; None: upload the local one into the run's directory.
    pub remote_bin: Option<String>,
}

pub mod defaults {
    pub const USER: &str = "root";
    pub const PORT: u16 = 22;
    pub const REMOTE_DIR: &str = "/tmp";
}

/// Why a command on a host failed.
#[derive(Clone, Debug, thiserror::Error)]
#[error("host {host}: {action}: {detail}")]
pub struct SshError {
    pub host: String,
    /// What was being done (`connecting`, `uploading the node binary`, `iptables -N ...`).
    pub action: String,
    pub detail: String,
}

/// One remote host and the client options every command to it carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    pub host: String,
    pub user: String,
    pub port: u16,
    pub key: Option<PathBuf>,
    /// The master connection's socket (local).
    pub control: PathBuf,
    /// The run's own known_hosts file (local).
    pub known_hosts: PathBuf,
}

impl Host {
    /// The `-o` options (and identity) shared by `ssh` and `scp`.
    fn options(&self) -> Vec<String> {
        let mut o: Vec<String> = [
            "BatchMode=yes".to_string(),
            "StrictHostKeyChecking=accept-new".to_string(),
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            format!("ConnectTimeout={CONNECT_TIMEOUT_SECS}"),
            "ServerAliveInterval=5".to_string(),
            "ServerAliveCountMax=3".to_string(),
            format!("ControlPath={}", self.control.display()),
            "LogLevel=ERROR".to_string(),
        ]
        .into_iter()
        .flat_map(|o| ["-o".to_string(), o])
        .collect();
        if let Some(key) = &self.key {
            o.extend(["-o".into(), "IdentitiesOnly=yes".into(), "-i".into(), key.display().to_string()]);
        }
        o
    }

    /// `ssh` with the host's options; `master` says whether this one is the master connection.
    /// (SSH keeps the first value it is given for an option, so each call says it exactly once.)
    fn ssh(&self, master: bool) -> Command {
        let mut cmd = Command::new("ssh");
        // Commands use the master when it is up and connect on their own when not; only
        // [`Host::open`] makes one.
        let control: &[&str] = if master {
            &["-o", "ControlMaster=yes", "-o", "ControlPersist=600"]
        } else {
            &["-o", "ControlMaster=no"]
        };
        cmd.args(control)
            .args(self.options())
            .args(["-p", &self.port.to_string(), "-l", &self.user])
            .stdin(Stdio::null());
        cmd
    }

    fn error(&self, action: &str, detail: impl Into<String>) -> SshError {
        SshError { host: self.host.clone(), action: action.to_string(), detail: detail.into() }
    }

    /// Runs `argv` on the host; returns its stdout. `action` names it in errors.
    pub fn run(&self, action: &str, argv: &[&str]) -> Result<String, SshError> {
        let mut cmd = self.ssh(false);
        cmd.arg("--").arg(&self.host).arg(remote_command(argv));
        tracing::debug!(host = %self.host, command = %argv.join(" "), "ssh");
        self.output(action, cmd)
    }

    fn output(&self, action: &str, cmd: Command) -> Result<String, SshError> {
        let program = cmd.get_program().to_string_lossy().into_owned();
        let out = output_within(cmd, COMMAND_TIMEOUT).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                self.error(
                    action,
                    format!("`{program}` is not installed here (Debian: apt-get install -y openssh-client)"),
                )
            } else {
                self.error(action, format!("could not start `{program}`: {e}"))
            }
        })?;
        let Some(out) = out else {
            return Err(self.error(
                action,
                format!("no answer within {} s (`{program}` was stopped)", COMMAND_TIMEOUT.as_secs()),
            ));
        };
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let detail = if out.status.code() == Some(SSH_FAILED) {
            connection_problem(&stderr)
        } else if stderr.is_empty() {
            format!("exited with {}", out.status)
        } else {
            format!("{stderr} ({})", out.status)
        };
        Err(self.error(action, detail))
    }

    /// Connects and authenticates (a command that does nothing), then starts the master connection
    /// that later commands share; it lives until [`Host::close`] or 10 idle minutes.
    pub fn open(&self) -> Result<(), SshError> {
        self.run("connecting", &["true"])?;
        let mut cmd = self.ssh(true);
        // `-f` backgrounds the master once it is authenticated; its output goes nowhere, so nothing
        // waits for pipes the master keeps open.
        cmd.args(["-N", "-f", "--", &self.host]).stdout(Stdio::null()).stderr(Stdio::null());
        let status = cmd.status().map_err(|e| self.error("opening the master connection", e.to_string()))?;
        if !status.success() {
            return Err(self.error("opening the master connection", format!("ssh exited with {status}")));
        }
        Ok(())
    }

    /// Stops the master connection (nothing happens when there is none).
    pub fn close(&self) {
        let mut cmd = self.ssh(false);
        cmd.args(["-O", "exit", "--", &self.host]).stdout(Stdio::null()).stderr(Stdio::null());
        let _ = cmd.status();
    }

    /// Copies a local file to `remote` (a path on the host).
    pub fn upload(&self, local: &Path, remote: &str) -> Result<(), SshError> {
        let mut cmd = self.scp();
        cmd.arg(local).arg(format!("{}:{remote}", self.scp_host()));
        self.output("uploading the node binary", cmd).map(drop)
    }

    /// Copies the remote directory `remote`'s contents into the local directory `local`.
    pub fn download_dir(&self, remote: &str, local: &Path) -> Result<(), SshError> {
        std::fs::create_dir_all(local)
            .map_err(|e| self.error("collecting the node's files", format!("{}: {e}", local.display())))?;
        let mut cmd = self.scp();
        cmd.arg("-r").arg(format!("{}:{remote}/.", self.scp_host())).arg(local);
        self.output("collecting the node's files", cmd).map(drop)
    }

    fn scp(&self) -> Command {
        let mut cmd = Command::new("scp");
        // -q: no progress meter; -p: keep modes and times; -P: scp's spelling of the port.
        cmd.args(["-o", "ControlMaster=no"])
            .args(self.options())
            .args(["-q", "-p", "-P", &self.port.to_string()])
            .stdin(Stdio::null());
        cmd
    }

    /// `user@host` for scp, with brackets around an IPv6 address.
    fn scp_host(&self) -> String {
        if self.host.contains(':') {
            format!("{}@[{}]", self.user, self.host)
        } else {
            format!("{}@{}", self.user, self.host)
        }
    }
}

/// Runs `cmd` to its end like [`Command::output`], but gives up after `limit`: then the process (our
/// own child, `ssh` or `scp`) is killed and the answer is None.
fn output_within(mut cmd: Command, limit: Duration) -> std::io::Result<Option<Output>> {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    // Both pipes are drained while the process runs, so a chatty command cannot block on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            // The readers end when the pipes close; nothing waits for them.
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    Ok(Some(Output { status, stdout, stderr }))
}

/// What ssh's last words say went wrong with the connection.
fn connection_problem(stderr: &str) -> String {
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    let why = if stderr.contains("Permission denied") {
        "the host refused the key (check --ssh-user and --ssh-key)"
    } else if stderr.contains("Host key verification failed")
        || stderr.contains("HOST IDENTIFICATION HAS CHANGED")
    {
        "the host's key does not match the one it showed earlier in this run"
    } else if [
        "timed out",
        "refused",
        "No route to host",
        "unreachable",
        "Could not resolve",
        "Name or service",
    ]
    .iter()
    .any(|s| stderr.contains(s))
    {
        "unreachable"
    } else {
        "ssh failed"
    };
    if last.is_empty() { why.to_string() } else { format!("{why}: {last}") }
}

/// The one string SSH sends for `argv`: each word single-quoted, so the remote shell splits it back
/// into exactly `argv`. (Unlike [`crate::config::shell_quote`], which leaves plain words bare for
/// humans, this always quotes: it is read only by the remote shell.)
pub fn remote_command(argv: &[&str]) -> String {
    argv.iter().map(|w| format!("'{}'", w.replace('\'', r"'\''"))).collect::<Vec<_>>().join(" ")
}

/// `sh -c SCRIPT sh ARGS...`: a constant script with its data as positional parameters.
pub fn script<'a>(script: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut argv = vec!["sh", "-c", script, "sh"];
    argv.extend_from_slice(args);
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_commands_quote_every_word() {
        assert_eq!(remote_command(&["kill", "-9", "12"]), "'kill' '-9' '12'");
        assert_eq!(remote_command(&["echo", "it's $HOME; rm -rf /"]), r"'echo' 'it'\''s $HOME; rm -rf /'");
        let argv = script("echo \"$1\"", &["a b"]);
        assert_eq!(argv, ["sh", "-c", "echo \"$1\"", "sh", "a b"]);
    }

    #[test]
    fn the_remote_shell_reads_back_the_same_words() {
        let words = ["printf", "%s|", "a b", "it's", "$x", "`y`", "\\z", ""];
        let out = Command::new("sh").arg("-c").arg(remote_command(&words)).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a b|it's|$x|`y`|\\z||");
    }

    #[test]
    fn a_command_that_outlasts_its_limit_is_stopped() {
        let mut slow = Command::new("sh");
        slow.args(["-c", "echo started; exec sleep 30"]);
        let began = Instant::now();
        assert!(output_within(slow, Duration::from_millis(300)).unwrap().is_none());
        assert!(began.elapsed() < Duration::from_secs(10), "{:?}", began.elapsed());
        let mut quick = Command::new("sh");
        quick.args(["-c", "echo out; echo err >&2; exit 3"]);
        let out = output_within(quick, Duration::from_secs(30)).unwrap().expect("it ends in time");
        assert_eq!((out.stdout.as_slice(), out.stderr.as_slice()), (&b"out\n"[..], &b"err\n"[..]));
        assert_eq!(out.status.code(), Some(3));
    }

    #[test]
    fn connection_failures_say_what_kind() {
        let refused = "root@10.0.0.2: Permission denied (publickey).";
        assert!(connection_problem(refused).starts_with("the host refused the key"));
        let down = "ssh: connect to host 10.0.0.3 port 22: Connection timed out";
        assert_eq!(connection_problem(down), format!("unreachable: {down}"));
        assert_eq!(connection_problem(""), "ssh failed");
    }
}
