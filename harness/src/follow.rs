//! The nodes' logs followed while the run goes on, for the nemesis's waits for an event
//! ([`workloads::Fault::Await`]).
//!
//! A thread reads what each node appended to its `stderr.log` every [`EVERY`] and hands each
//! election line ([`crate::elections::parse_line`]: a candidacy, a vote granted, a leader elected)
//! to the nemesis, stamped with when it was read. The nemesis then fires the step that waited for it
//! within a few milliseconds of the moment the node logged it.
//!
//! Why a polling thread and not file notifications: the node's log is appended by a process the
//! harness restarts (a new writer, the same file), on whatever file system the run directory is on;
//! reading a few bytes of five files every two milliseconds costs nothing measurable and needs no
//! platform-specific watcher crate. Nodes whose logs are not on this machine (the ssh backend keeps
//! them remote until the end) produce nothing here, and the waits end unmet.

use crate::elections::{ElectionEvent, parse_line};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How often each log is read for new lines.
pub const EVERY: Duration = Duration::from_millis(2);

/// An election line a node logged, and when the follower read it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub event: ElectionEvent,
    pub at: Instant,
}

/// Starts following `logs` (`(node name, stderr.log)`) from their current ends: only lines logged
/// from now on are reported. The thread ends when the receiver is dropped.
pub fn follow(logs: Vec<(String, PathBuf)>) -> mpsc::UnboundedReceiver<Seen> {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut tails: Vec<Tail> = logs.into_iter().map(|(node, path)| Tail::at_end(node, path)).collect();
    std::thread::Builder::new()
        .name("faultline-follow".into())
        .spawn(move || {
            while !tx.is_closed() {
                for t in &mut tails {
                    for event in t.read_new() {
                        if tx.send(Seen { event, at: Instant::now() }).is_err() {
                            return;
                        }
                    }
                }
                std::thread::sleep(EVERY);
            }
        })
        .expect("spawning a thread fails only when the process is out of resources");
    rx
}

/// One log being followed: how far it was read, and the start of a line not yet complete.
struct Tail {
    node: String,
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl Tail {
    fn at_end(node: String, path: PathBuf) -> Tail {
        let offset = std::fs::metadata(&path).map_or(0, |m| m.len());
        Tail { node, path, offset, partial: Vec::new() }
    }

    /// The election events of the lines completed since the last read. A log that does not exist
    /// (yet) or cannot be read is read again next time; one that shrank (replaced) is read from its
    /// start.
    fn read_new(&mut self) -> Vec<ElectionEvent> {
        let Ok(mut file) = std::fs::File::open(&self.path) else { return Vec::new() };
        let len = file.metadata().map_or(0, |m| m.len());
        if len < self.offset {
            self.offset = 0;
            self.partial.clear();
        }
        if len == self.offset || file.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut bytes = Vec::new();
        let Ok(n) = file.take(len - self.offset).read_to_end(&mut bytes) else { return Vec::new() };
        self.offset += n as u64;
        self.partial.extend_from_slice(&bytes);
        let Some(last_newline) = self.partial.iter().rposition(|b| *b == b'\n') else { return Vec::new() };
        let rest = self.partial.split_off(last_newline + 1);
        let complete = std::mem::replace(&mut self.partial, rest);
        String::from_utf8_lossy(&complete).lines().filter_map(|l| parse_line(&self.node, l)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elections::What;
    use std::io::Write;

    #[test]
    fn lines_appended_after_the_start_are_reported_once_complete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stderr.log");
        std::fs::write(&path, "2026-12-03T10:00:00Z  INFO raft::raft: vote node=n1 candidate=n2 term=3 granted=true\n")
            .unwrap();
        let mut t = Tail::at_end("n1".into(), path.clone());
        assert!(t.read_new().is_empty(), "what was there before is not news");
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"2026-12-03T10:00:01Z  INFO raft::raft: vote node=n1 candidate=n3 term=4 gra").unwrap();
        assert!(t.read_new().is_empty(), "half a line waits for its end");
        f.write_all(b"nted=true\nunrelated\n2026-12-03T10:00:02Z  INFO raft::raft: became leader node=n1 term=5\n")
            .unwrap();
        let e = t.read_new();
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!(e[0].what, What::Vote { term: 4, candidate: "n3".into(), granted: true });
        assert_eq!(e[1].what, What::Elected { term: 5 });
        assert!(t.read_new().is_empty());
        // A replaced (shorter) file is read from its start.
        std::fs::write(&path, "2026-12-03T10:00:03Z  INFO raft::raft: starting election node=n1 term=6 pre_vote=false\n")
            .unwrap();
        assert_eq!(t.read_new()[0].what, What::Candidate { term: 6 });
    }

    #[tokio::test]
    async fn the_thread_reports_events_and_a_missing_log_is_no_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stderr.log");
        let mut rx = follow(vec![("n2".into(), path.clone()), ("n9".into(), dir.path().join("missing.log"))]);
        std::fs::write(&path, "2026-12-03T10:00:00Z  INFO raft::raft: vote node=n2 candidate=n1 term=7 granted=true\n")
            .unwrap();
        let seen = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
        assert_eq!(seen.event.node, "n2");
        assert_eq!(seen.event.what.event(), Some(workloads::Event::VoteGranted));
    }
}
