//! Observers: what the harness learns about the cluster while a run goes on, without touching it.
//!
//! - [`Observer`] asks every node for its status at once (in raft-node's `/status` shape whatever the
//!   system, through [`StatusReader`]) and tells who leads ([`leader_of`]) and who lags
//!   ([`laggard_of`]);
//! - [`poll_status`] records every answer in `status.jsonl` four times a second and publishes the
//!   leader on a watch channel, which the nemesis reads when a fault fires;
//! - [`watch_logs`] follows every node's committed log ([`crate::logwatch`]) for systems that serve one.
//!
//! Each stops when the run's [`Stop`] fires.

use crate::client::Client;
use crate::logwatch::NodeWatch;
use crate::nodes::NodeSpec;
use crate::recorder::Recorder;
use crate::stop::Stop;
use crate::system::{StatusReader, System};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Time between two status polls (and between two looks of the leader wait).
const STATUS_EVERY: Duration = Duration::from_millis(250);
/// Time between two looks at each node's committed log.
const LOG_EVERY: Duration = Duration::from_millis(200);

/// Reads every node's status.
#[derive(Debug)]
pub struct Observer {
    client: Client,
    reader: StatusReader,
    names: Vec<String>,
    urls: Vec<String>,
}

impl Observer {
    /// An observer of `nodes` whose requests give up after `timeout` (a paused node must not hold
    /// up a look at the others for long).
    pub fn new(system: System, nodes: &[NodeSpec], timeout: Duration) -> Result<Observer, reqwest::Error> {
        Ok(Observer {
            reader: StatusReader::new(system.clone(), nodes),
            client: Client::new(system, timeout, Value::Null)?,
            names: nodes.iter().map(|n| n.name.clone()).collect(),
            urls: nodes.iter().map(NodeSpec::url).collect(),
        })
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// One status of every node (None: no answer, or a system without a status), asked of all
    /// nodes at once.
    pub async fn poll(&mut self) -> Vec<Option<Value>> {
        if !self.reader.has_status() {
            return vec![None; self.urls.len()];
        }
        let futures = self.urls.iter().map(|u| {
            let (client, url) = (self.client.clone(), u.clone());
            async move { client.raw_status(&url).await }
        });
        let raw = join_all(futures).await;
        self.reader.read(raw)
    }

    /// Waits until every node names the same leader in the same term (or, at the deadline, at least a
    /// majority does). Returns the leader. A status without a term (a system file's roles may give
    /// none) counts as term 0.
    pub async fn wait_for_leader(&mut self, timeout: Duration, stop: &Stop) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let n = self.urls.len();
        let mut best: Option<String> = None;
        while Instant::now() < deadline && !stop.is_stopped() {
            let statuses = self.poll().await;
            let views: Vec<(u64, u64)> = statuses
                .iter()
                .flatten()
                .filter_map(|s| Some((s["leader"].as_u64()?, s["term"].as_u64().unwrap_or(0))))
                .collect();
            if let Some(&first) = views.first() {
                let agree = views.iter().filter(|v| **v == first).count();
                let name = format!("n{}", first.0);
                if agree == n {
                    return Some(name);
                }
                if agree > n / 2 {
                    best = Some(name);
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = stop.stopped() => {}
            }
        }
        best
    }
}

/// Polls every node's status until `stop`, appending each answer to `path` (`status.jsonl`) and
/// publishing the current leader on `leader`. A status file that cannot be written stops the run.
pub async fn poll_status(
    mut observer: Observer,
    recorder: Arc<Recorder>,
    path: PathBuf,
    leader: watch::Sender<Option<String>>,
    stop: Stop,
) {
    let mut file = match std::fs::File::create(&path) {
        Ok(f) => std::io::BufWriter::new(f),
        Err(e) => {
            stop.fail(format!("create {}: {e}", path.display()));
            return;
        }
    };
    loop {
        let statuses = observer.poll().await;
        let mut written = Ok(());
        for (i, s) in statuses.iter().enumerate() {
            if let Some(s) = s {
                let line = json!({ "time": recorder.now(), "node": observer.names()[i], "status": s });
                written = written.and_then(|()| writeln!(file, "{line}"));
            }
        }
        if let Err(e) = written.and_then(|()| file.flush()) {
            stop.fail(format!("writing {}: {e}", path.display()));
            return;
        }
        leader.send_replace(leader_of(&statuses, observer.names()));
        tokio::select! {
            _ = tokio::time::sleep(STATUS_EVERY) => {}
            _ = stop.stopped() => return,
        }
    }
}

/// Watches every node's committed log until `stop` (see [`crate::logwatch`]), one task per node so
/// that a paused or partitioned node's timeouts never hold up the others; a node that does not answer
/// is simply asked again at its next round. A body that is not a log stops the run.
pub async fn watch_logs(
    nodes: Vec<NodeSpec>,
    client: Client,
    recorder: Arc<Recorder>,
    stop: Stop,
) -> Vec<NodeWatch> {
    let tasks = nodes.into_iter().map(|node| {
        let (client, recorder, stop) = (client.clone(), recorder.clone(), stop.clone());
        async move {
            let mut watch = NodeWatch::default();
            loop {
                let url = format!("{}/debug/log?from={}", node.url(), watch.next_from());
                if let Ok(body) = client.get_text(&url).await
                    && let Err(e) = watch.observe(&body, recorder.now())
                {
                    stop.fail(format!("{}: /debug/log: {e}", node.name));
                }
                tokio::select! {
                    _ = tokio::time::sleep(LOG_EVERY) => {}
                    _ = stop.stopped() => return watch,
                }
            }
        }
    });
    join_all(tasks).await
}

/// Runs futures concurrently, one task each, and collects their results in order (one per node:
/// status requests, log watchers).
pub async fn join_all<F: std::future::Future<Output = T> + Send + 'static, T: Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<T> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("observer tasks do not panic"));
    }
    out
}

/// The leader with the highest term among the nodes that say they lead.
pub fn leader_of(statuses: &[Option<Value>], names: &[String]) -> Option<String> {
    statuses
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)))
        .filter(|(_, s)| s["role"] == "leader")
        .max_by_key(|(_, s)| s["term"].as_u64().unwrap_or(0))
        .map(|(i, _)| names[i].clone())
}

/// The node other than `leader` with the shortest log among those that answered (ties: node order).
pub fn laggard_of(statuses: &[Option<Value>], names: &[String], leader: Option<&str>) -> Option<String> {
    statuses
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(names[*i].as_str()) != leader)
        .filter_map(|(i, s)| Some((i, s.as_ref()?["last_index"].as_u64()?)))
        .min_by_key(|&(i, last)| (last, i))
        .map(|(i, _)| names[i].clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leader_is_the_highest_term_self_declared_leader() {
        let names: Vec<String> = vec!["n1".into(), "n2".into(), "n3".into()];
        let s = vec![
            Some(json!({"role": "leader", "term": 2})),
            None,
            Some(json!({"role": "leader", "term": 3})),
        ];
        assert_eq!(leader_of(&s, &names), Some("n3".into()));
        assert_eq!(leader_of(&[None, None, Some(json!({"role": "follower", "term": 3}))], &names), None);
    }

    #[test]
    fn the_laggard_is_the_shortest_log_besides_the_leader() {
        let names: Vec<String> = vec!["n1".into(), "n2".into(), "n3".into(), "n4".into()];
        let s = vec![
            Some(json!({"role": "leader", "last_index": 5})),
            Some(json!({"role": "follower", "last_index": 40})),
            None,
            Some(json!({"role": "follower", "last_index": 12})),
        ];
        // The leader's own short log does not count, nor does a node that did not answer.
        assert_eq!(laggard_of(&s, &names, Some("n1")), Some("n4".into()));
        assert_eq!(laggard_of(&s, &names, None), Some("n1".into()));
        assert_eq!(laggard_of(&[None, None, None, None], &names, None), None);
    }
}
