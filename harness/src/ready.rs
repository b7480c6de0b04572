//! Readiness: when the nodes of a system that is not raft-node's kind of Raft can take operations.
//!
//! raft-node and etcd are ready when they agree on a leader ([`crate::observe::Observer::wait_for_leader`]).
//! A system file may say more ([`crate::systemfile::Probe`]): a TCP port that accepts, an HTTP path
//! that answers 2xx, or a command that exits 0, tried every 100 ms on every node until all pass or the
//! timeout ends. Maelstrom nodes are ready when they have answered `init`. A node that never gets
//! ready is a [`NotReady`] error naming it, with what the last try said and the end of its stderr,
//! so the user sees why without opening the run directory.

use crate::msgnet::Network;
use crate::nodes::NodeSpec;
use crate::stop::Stop;
use crate::systemfile::Probe;
use std::time::Duration;
use tokio::time::Instant;

/// Lines of a node's stderr an error shows.
pub const STDERR_TAIL: usize = 12;

/// A node that did not get ready in time.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error(
    "node {node} was not ready within {secs:.1}s: {why}; the end of its stderr ({stderr_path}):\n{stderr_tail}"
)]
pub struct NotReady {
    pub node: String,
    pub secs: f64,
    pub why: String,
    pub stderr_path: String,
    pub stderr_tail: String,
}

impl NotReady {
    fn of(node: &NodeSpec, timeout: Duration, why: String) -> NotReady {
        NotReady {
            node: node.name.clone(),
            secs: timeout.as_secs_f64(),
            why,
            stderr_path: node.stderr_log().display().to_string(),
            stderr_tail: tail(&node.stderr_log(), STDERR_TAIL),
        }
    }
}

/// The last `n` lines of a file, indented, or a note that it is empty or missing.
pub fn tail(path: &std::path::Path, n: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) if !bytes.is_empty() => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..]
                .iter()
                .map(|l| format!("  | {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        }
        Ok(_) => "  (empty)".into(),
        Err(e) => format!("  ({e})"),
    }
}

/// One try of `probe` against `node`; Err says what happened.
async fn try_once(
    probe: &Probe,
    node: &NodeSpec,
    command: &[String],
    http: &reqwest::Client,
) -> Result<(), String> {
    match probe {
        Probe::Tcp { peer } => {
            let addr = if *peer { node.listen_peer } else { node.listen_client };
            match tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("tcp {addr}: {e}")),
                Err(_) => Err(format!("tcp {addr}: no answer within 1s")),
            }
        }
        Probe::Http { path } => {
            let url = format!("{}{path}", node.url());
            match http.get(&url).send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(format!("GET {url}: http {}", r.status())),
                Err(e) => Err(format!("GET {url}: {e}")),
            }
        }
        Probe::Command(_) => {
            let (program, args) = command.split_first().ok_or("an empty command")?;
            let run = tokio::process::Command::new(program).args(args).kill_on_drop(true).output();
            match tokio::time::timeout(Duration::from_secs(5), run).await {
                Ok(Ok(out)) if out.status.success() => Ok(()),
                Ok(Ok(out)) => Err(format!(
                    "{} exited with {}: {}",
                    command.join(" "),
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
                Ok(Err(e)) => Err(format!("{}: {e}", command.join(" "))),
                Err(_) => Err(format!("{} did not exit within 5s", command.join(" "))),
            }
        }
    }
}

/// Waits until `probe` passes on every node (`commands[i]` is node i's expanded command for a
/// command probe), or the first node that did not pass by `timeout`.
pub async fn wait_probe(
    probe: &Probe,
    nodes: &[NodeSpec],
    commands: &[Vec<String>],
    timeout: Duration,
    stop: &Stop,
) -> Result<(), NotReady> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .map_err(|e| NotReady::of(&nodes[0], timeout, format!("could not set up an HTTP client: {e}")))?;
    let deadline = Instant::now() + timeout;
    let mut ready = vec![false; nodes.len()];
    let mut last = vec![String::from("never tried"); nodes.len()];
    loop {
        for (i, node) in nodes.iter().enumerate() {
            if ready[i] {
                continue;
            }
            let command = commands.get(i).map_or(&[][..], Vec::as_slice);
            match try_once(probe, node, command, &http).await {
                Ok(()) => ready[i] = true,
                Err(why) => last[i] = why,
            }
        }
        if ready.iter().all(|r| *r) {
            return Ok(());
        }
        if Instant::now() >= deadline || stop.is_stopped() {
            let i = ready.iter().position(|r| !r).expect("some node is not ready");
            return Err(NotReady::of(&nodes[i], timeout, last[i].clone()));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = stop.stopped() => {}
        }
    }
}

/// Waits until every Maelstrom node answered its `init`, or names the first that did not.
pub async fn wait_init(network: &Network, nodes: &[NodeSpec], timeout: Duration) -> Result<(), NotReady> {
    let waits = nodes.iter().map(|n| {
        let (net, i) = (network.clone(), n.index);
        async move { net.wait_init(i, timeout).await }
    });
    let answered = crate::observe::join_all(waits).await;
    match answered.iter().position(|a| !a) {
        None => Ok(()),
        Some(i) => Err(NotReady::of(
            &nodes[i],
            timeout,
            "it never answered init with init_ok (is it a Maelstrom node? its stdout must carry only \
             JSON envelopes)"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(dir: &std::path::Path, client: std::net::SocketAddr) -> NodeSpec {
        NodeSpec {
            index: 0,
            name: "n1".into(),
            id: 1,
            listen_peer: client,
            advertise_peer: None,
            listen_client: client,
            peer_addrs: Vec::new(),
            peers_arg: String::new(),
            client_addrs_arg: String::new(),
            dir: dir.to_path_buf(),
            netns: None,
        }
    }

    #[tokio::test]
    async fn probes_pass_when_the_node_answers_and_errors_show_its_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = node(dir.path(), listener.local_addr().unwrap());
        let stop = Stop::new();
        wait_probe(
            &Probe::Tcp { peer: false },
            std::slice::from_ref(&up),
            &[],
            Duration::from_secs(2),
            &stop,
        )
        .await
        .unwrap();
        drop(listener);
        std::fs::write(dir.path().join("stderr.log"), "starting\nerror: cannot bind port\n").unwrap();
        let e = wait_probe(
            &Probe::Tcp { peer: false },
            std::slice::from_ref(&up),
            &[],
            Duration::from_millis(300),
            &stop,
        )
        .await
        .unwrap_err();
        assert_eq!(e.node, "n1");
        assert!(e.to_string().contains("  | error: cannot bind port"), "{e}");
        let commands = vec![vec!["sh".to_string(), "-c".to_string(), "exit 3".to_string()]];
        let e = wait_probe(
            &Probe::Command(Vec::new()),
            std::slice::from_ref(&up),
            &commands,
            Duration::from_millis(200),
            &stop,
        )
        .await
        .unwrap_err();
        assert!(e.why.contains("exit status: 3"), "{e}");
        let ok = vec![vec!["true".to_string()]];
        wait_probe(&Probe::Command(Vec::new()), &[up], &ok, Duration::from_secs(1), &stop).await.unwrap();
    }
}
