//! Real-process tests of the ssh backend (`--hosts`): the "remote hosts" are network namespaces on a
//! bridge of the test's own, each running Debian's `sshd` on its namespace address only, with a host
//! key and an authorized client key the test generates. They share this machine's filesystem, which
//! is why every run keeps its remote files under a directory named after the run and the node.
//!
//! 1. A 3-host raft-node run under partitions and kills comes out valid, its nodes' logs and data
//!    are collected into the run directory, and nothing is left on any host: no node process, no
//!    iptables chain, no remote directory, no master connection, no state file.
//! 2. A harness killed mid-run (nodes started from a binary already on the hosts,
//!    `--remote-node-bin`) leaves its nodes, chains and directories on the hosts, and
//!    `faultline cleanup` removes all of them from the state file's records.
//! 3. Bad hosts are refused before any node starts (so before any fault), with exit code 3 and
//!    the host and what failed: an address nobody answers on, a key the hosts refuse, a host
//!    without `iptables` on the PATH of ssh commands (its sshd sets a PATH without the sbin
//!    directories).
//!
//! Every namespace, the bridge and every sshd (by its pid) are removed by a guard's `Drop`, also
//! when an assertion fails. The tests run one at a time (a lock), since each runs a cluster.

#![allow(clippy::unwrap_used, reason = "the helpers panic, like the tests, on what they cannot set up")]

mod common;

use common::{capability, node_bin, processes_mentioning, read_json};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

const SSHD: &str = "/usr/sbin/sshd";

/// None when this machine can host the test, else why not.
fn missing() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("the ssh tests make network namespaces and need root".into());
    }
    for (program, package) in [
        ("ip", "iproute2"),
        ("iptables", "iptables"),
        ("ssh", "openssh-client"),
        ("scp", "openssh-client"),
        ("ssh-keygen", "openssh-client"),
    ] {
        if !on_path(program) {
            return Some(format!("`{program}` is not installed (apt-get install -y {package})"));
        }
    }
    if !Path::new(SSHD).is_file() {
        return Some(format!("{SSHD} is not installed (apt-get install -y openssh-server)"));
    }
    None
}

fn run(argv: &[&str]) {
    let out = Command::new(argv[0]).args(&argv[1..]).output().unwrap();
    assert!(out.status.success(), "{}: {}", argv.join(" "), String::from_utf8_lossy(&out.stderr));
}

fn stdout(argv: &[&str]) -> String {
    let out = Command::new(argv[0]).args(&argv[1..]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Three hosts: namespaces on a bridge, each with an sshd. Removed on drop.
struct Hosts {
    dir: tempfile::TempDir,
    bridge: String,
    namespaces: Vec<String>,
    /// The host-side ends of the veth pairs.
    veths: Vec<String>,
    sshds: Vec<Child>,
    ips: Vec<String>,
    /// An address on the bridge's subnet where nothing answers.
    nobody: String,
}

impl Hosts {
    /// `n` hosts; `no_iptables(i)` gives host `i` an sshd whose sessions cannot find iptables.
    fn new(n: usize, no_iptables: impl Fn(usize) -> bool) -> Hosts {
        // A new tag for every set of hosts in this process: deleting a namespace frees its veth pair
        // in the kernel's own time, so the next test must not need the same names.
        static SETS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let set = SETS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tag = format!("{:05x}{set:x}", std::process::id() & 0xfffff);
        let used = stdout(&["ip", "-4", "-o", "addr", "show"])
            + &stdout(&["ip", "-4", "route", "show", "table", "all"]);
        let b = (0..250u32)
            .map(|k| 10 + (std::process::id() + k) % 240)
            .find(|b| !used.contains(&format!("10.254.{b}.")))
            .expect("a free 10.254.x.0/24");
        let dir = tempfile::tempdir().unwrap();
        let mut hosts = Hosts {
            dir,
            bridge: format!("flsb{tag}"),
            namespaces: Vec::new(),
            veths: Vec::new(),
            sshds: Vec::new(),
            ips: Vec::new(),
            nobody: format!("10.254.{b}.99"),
        };
        let d = hosts.dir.path().to_path_buf();
        run(&["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", d.join("host_key").to_str().unwrap()]);
        for key in ["client_key", "other_key"] {
            run(&["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", d.join(key).to_str().unwrap()]);
        }
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        // sshd's privilege separation directory, made by the package's service at boot; it is left
        // in place (a real sshd on this machine needs it too).
        std::fs::create_dir_all("/run/sshd").unwrap();
        std::fs::create_dir_all(d.join("remote")).unwrap();
        run(&["ip", "link", "add", &hosts.bridge, "type", "bridge"]);
        run(&["ip", "addr", "add", &format!("10.254.{b}.1/24"), "dev", &hosts.bridge]);
        run(&["ip", "link", "set", &hosts.bridge, "up"]);
        for i in 0..n {
            let ns = format!("flsh{tag}-{i}");
            let ip = format!("10.254.{b}.{}", 11 + i);
            let (outside, inside) = (format!("flsv{tag}h{i}"), format!("flsv{tag}p{i}"));
            hosts.namespaces.push(ns.clone());
            run(&["ip", "netns", "add", &ns]);
            run(&["ip", "link", "add", &outside, "type", "veth", "peer", "name", &inside]);
            hosts.veths.push(outside.clone());
            run(&["ip", "link", "set", &inside, "netns", &ns]);
            run(&["ip", "link", "set", &outside, "master", &hosts.bridge]);
            run(&["ip", "link", "set", &outside, "up"]);
            run(&["ip", "netns", "exec", &ns, "ip", "addr", "add", &format!("{ip}/24"), "dev", &inside]);
            run(&["ip", "netns", "exec", &ns, "ip", "link", "set", &inside, "up"]);
            run(&["ip", "netns", "exec", &ns, "ip", "link", "set", "lo", "up"]);
            let config = d.join(format!("sshd_config.{i}"));
            let mut text = format!(
                "ListenAddress {ip}:22\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nSubsystem sftp internal-sftp\n",
                d.join("host_key").display(),
                d.join(format!("sshd.{i}.pid")).display(),
                d.join("authorized_keys").display(),
            );
            if no_iptables(i) {
                text.push_str("SetEnv PATH=/usr/local/bin:/usr/bin:/bin\n");
            }
            std::fs::write(&config, text).unwrap();
            let log = d.join(format!("sshd.{i}.log"));
            // `ip netns exec` execs sshd: the child's pid is sshd's.
            let sshd = Command::new("ip")
                .args(["netns", "exec", &ns, SSHD, "-D", "-f"])
                .arg(&config)
                .arg("-E")
                .arg(&log)
                .spawn()
                .unwrap();
            hosts.sshds.push(sshd);
            hosts.ips.push(ip);
        }
        for ip in &hosts.ips {
            let addr: SocketAddr = format!("{ip}:22").parse().unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
                assert!(Instant::now() < deadline, "sshd on {ip} never listened; see {}", d.display());
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        hosts
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `faultline run --hosts ...` with the test's key and remote directory and `extra` flags.
    fn faultline(&self, hosts: &[&str], key: &str, state: &Path, store: &Path, extra: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_faultline"));
        cmd.args(["run", "--hosts", &hosts.join(","), "--ssh-key"])
            .arg(self.path(key))
            .arg("--remote-dir")
            .arg(self.path("remote"))
            .arg("--node-bin")
            .arg(node_bin())
            .arg("--store")
            .arg(store)
            .args(extra)
            .env("FAULTLINE_STATE_DIR", state);
        cmd
    }

    /// Asserts nothing of any run is left on the hosts: no process under the remote directory, no
    /// chain of ours, no run directory.
    fn assert_clean(&self) {
        let remote = self.path("remote");
        let left = processes_mentioning(&remote.display().to_string());
        assert!(left.is_empty(), "node processes left on the hosts: {left:?}");
        for ns in &self.namespaces {
            let rules = stdout(&["ip", "netns", "exec", ns, "iptables", "-w", "-S"]);
            assert!(!rules.contains("FAULTLINE"), "a chain left in {ns}:\n{rules}");
        }
        let dirs: Vec<_> = std::fs::read_dir(&remote).unwrap().flatten().map(|e| e.file_name()).collect();
        assert!(dirs.is_empty(), "run directories left on the hosts: {dirs:?}");
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for sshd in &mut self.sshds {
            let _ = sshd.kill();
            let _ = sshd.wait();
        }
        // What else runs in our namespaces was started by this test: sshd's sessions, and the nodes
        // of a run that failed half-way.
        for ns in &self.namespaces {
            for pid in stdout(&["ip", "netns", "pids", ns]).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
        // A veth pair goes at once when one end is deleted; with its namespace it would go later.
        for veth in &self.veths {
            let _ = Command::new("ip").args(["link", "del", veth]).status();
        }
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = Command::new("ip").args(["link", "del", &self.bridge]).status();
    }
}

fn text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// No state file and no ssh master connection (its command line names the state directory) left.
fn assert_no_state(state: &Path) {
    let files: Vec<_> = std::fs::read_dir(state).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(files.is_empty(), "state left behind: {files:?}");
    let masters = processes_mentioning(&state.display().to_string());
    assert!(masters.is_empty(), "ssh master connections left: {masters:?}");
}

#[test]
fn a_three_host_run_under_partitions_and_kills_is_valid_and_leaves_nothing_on_the_hosts() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !capability(missing()) {
        return;
    }
    let hosts = Hosts::new(3, |_| false);
    let (store, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ips: Vec<&str> = hosts.ips.iter().map(String::as_str).collect();
    let started = Instant::now();
    let out = hosts
        .faultline(
            &ips,
            "client_key",
            state.path(),
            store.path(),
            &[
                "--time-limit",
                "15s",
                "--nemesis",
                "partition,kill",
                "--nemesis-interval",
                "3s",
                // A seed whose schedule has both a kill and a partition in 15 s (schedules depend on the
                // seed, the nodes, the time limit and the interval only).
                "--seed",
                "104166899",
                "--recover-timeout",
                "20s",
            ],
        )
        .output()
        .unwrap();
    eprintln!("the 15 s run took {:.1} s", started.elapsed().as_secs_f64());
    hosts.assert_clean();
    assert_no_state(state.path());

    let run = std::fs::canonicalize(store.path().join("latest")).unwrap();
    let results = read_json(&run.join("results.json"));
    assert_eq!(results["verdict"], "valid", "{}", text(&out));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let test = read_json(&run.join("test.json"));
    assert_eq!(test["net"], "ssh");
    assert_eq!(test["ssh"]["hosts"], serde_json::json!(ips));
    let reproduce = test["reproduce"].as_str().unwrap();
    assert!(reproduce.contains(&format!("--hosts {}", ips.join(","))), "{reproduce}");
    let executed: Vec<String> = test["outcome"]["executed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["f"].as_str().unwrap_or_default().to_string())
        .collect();
    for f in ["partition", "kill", "heal"] {
        assert!(executed.iter().any(|e| e == f), "no {f} executed: {executed:?}");
    }
    assert!(results["counts"]["ok"].as_u64().unwrap_or(0) > 20, "hardly any operation succeeded: {results}");
    // The nodes' files came home.
    for n in ["n1", "n2", "n3"] {
        let log = run.join("nodes").join(n).join("stderr.log");
        assert!(
            std::fs::metadata(&log).map(|m| m.len() > 0).unwrap_or(false),
            "{} empty or missing",
            log.display()
        );
        assert!(run.join("nodes").join(n).join("data").is_dir(), "{n}'s data not collected");
    }
}

#[test]
fn cleanup_removes_what_a_killed_harness_left_on_every_host() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !capability(missing()) {
        return;
    }
    let hosts = Hosts::new(3, |_| false);
    let (store, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ips: Vec<&str> = hosts.ips.iter().map(String::as_str).collect();
    // The hosts share this filesystem, so the local binary is also "a binary already on the hosts":
    // this run uses it in place (--remote-node-bin) instead of uploading it.
    let in_place = node_bin().display().to_string();
    let mut harness = hosts
        .faultline(
            &ips,
            "client_key",
            state.path(),
            store.path(),
            &[
                "--remote-node-bin",
                &in_place,
                "--time-limit",
                "60s",
                "--nemesis",
                "partition",
                "--nemesis-interval",
                "1s",
            ],
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until every node runs and a partition is in force, then kill the harness outright.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let recorded = std::fs::read_dir(state.path())
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| {
                serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(e.path()).ok()?).ok()
            })
            .any(|s| {
                let remotes = s["remotes"].as_array().cloned().unwrap_or_default();
                remotes.len() == 3
                    && remotes.iter().all(|r| r["pids"].as_array().is_some_and(|p| !p.is_empty()))
            });
        let cut = hosts
            .namespaces
            .iter()
            .any(|ns| stdout(&["ip", "netns", "exec", ns, "iptables", "-w", "-S"]).contains("-j DROP"));
        if recorded && cut {
            break;
        }
        assert!(Instant::now() < deadline, "the run never got going");
        std::thread::sleep(Duration::from_millis(200));
    }
    harness.kill().unwrap();
    harness.wait().unwrap();
    assert!(
        !processes_mentioning(&hosts.path("remote").display().to_string()).is_empty(),
        "no node left to clean up"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("cleanup")
        .env("FAULTLINE_STATE_DIR", state.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("cleaned 1 crashed run(s)"), "{}", text(&out));
    hosts.assert_clean();
    assert_no_state(state.path());
}

#[test]
fn bad_hosts_are_refused_before_any_fault_naming_the_host_and_what_failed() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !capability(missing()) {
        return;
    }
    let hosts = Hosts::new(3, |i| i == 2);
    let (h1, h2, h3) = (hosts.ips[0].as_str(), hosts.ips[1].as_str(), hosts.ips[2].as_str());
    let cases: [(&str, Vec<&str>, &str, Vec<String>); 3] = [
        (
            "unreachable",
            vec![h1, h2, hosts.nobody.as_str()],
            "client_key",
            vec![format!("host {}: connecting: unreachable", hosts.nobody)],
        ),
        (
            "refused key",
            vec![h1, h2, h3],
            "other_key",
            vec![
                format!("host {h1}: connecting: the host refused the key"),
                format!("host {h2}: connecting: the host refused the key"),
            ],
        ),
        (
            "no iptables",
            vec![h1, h2, h3],
            "client_key",
            vec![format!("host {h3}: looking for iptables: `iptables` is not installed there")],
        ),
    ];
    for (what, names, key, expected) in cases {
        let (store, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let started = Instant::now();
        let out = hosts
            .faultline(
                &names,
                key,
                state.path(),
                store.path(),
                &["--time-limit", "10s", "--nemesis", "partition,kill"],
            )
            .output()
            .unwrap();
        eprintln!("{what}: refused after {:.1} s", started.elapsed().as_secs_f64());
        assert_eq!(out.status.code(), Some(3), "{what}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        for e in &expected {
            assert!(stderr.contains(e.as_str()), "{what}: {e:?} not in\n{}", text(&out));
        }
        assert!(!stderr.contains("panicked"), "{what}: {}", text(&out));
        // Nothing started, so nothing was injected: no node ever ran, the history has no fault.
        let run = std::fs::canonicalize(store.path().join("latest")).unwrap();
        let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap_or_default();
        assert!(!history.contains("nemesis"), "{what}: a fault was recorded:\n{history}");
        hosts.assert_clean();
        assert_no_state(state.path());
    }
}
