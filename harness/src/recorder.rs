//! The history recorder: every invocation, completion and fault, one JSON line each, flushed at once.
//!
//! The time of an event is taken while holding the writer's lock, so the file is in time order and a
//! completion can never precede its invocation. Each line is flushed as it is written: a harness that
//! crashes mid-run still leaves a checkable history (all its open operations simply read as `info`).
//! [`Recorder::disabled`] keeps the timing and the counters but writes nothing, which is how the
//! benchmark measures the cost of recording.

use checker::history::{Event, EventType, Process};
use serde_json::Value;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Counts of completions, for the progress display and the summary.
#[derive(Debug, Default)]
pub struct Counts {
    pub ok: AtomicU64,
    pub fail: AtomicU64,
    pub info: AtomicU64,
}

impl Counts {
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.ok.load(Ordering::Relaxed),
            self.fail.load(Ordering::Relaxed),
            self.info.load(Ordering::Relaxed),
        )
    }
}

/// Writes `history.jsonl`.
#[derive(Debug)]
pub struct Recorder {
    out: Option<Mutex<BufWriter<File>>>,
    /// Serializes timestamps even when nothing is written.
    clock: Mutex<()>,
    start: Instant,
    pub counts: Counts,
}

/// One event before its time is stamped.
#[derive(Clone, Debug)]
pub struct Draft {
    pub process: Process,
    pub kind: EventType,
    pub f: String,
    pub key: Option<String>,
    pub value: Value,
    pub node: Option<String>,
    pub error: Option<String>,
}

impl Recorder {
    /// Creates (truncates) the history file at `path`; times count from `start`.
    pub fn create(path: &Path, start: Instant) -> std::io::Result<Recorder> {
        let file = File::create(path)?;
        Ok(Recorder {
            out: Some(Mutex::new(BufWriter::new(file))),
            clock: Mutex::new(()),
            start,
            counts: Counts::default(),
        })
    }

    /// A recorder that stamps and counts but writes nothing.
    pub fn disabled(start: Instant) -> Recorder {
        Recorder { out: None, clock: Mutex::new(()), start, counts: Counts::default() }
    }

    /// Nanoseconds since the start of the run.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    pub fn start(&self) -> Instant {
        self.start
    }

    /// Stamps and writes one event; returns its time.
    pub fn record(&self, d: Draft) -> std::io::Result<u64> {
        match d.kind {
            EventType::Ok => self.counts.ok.fetch_add(1, Ordering::Relaxed),
            EventType::Fail => self.counts.fail.fetch_add(1, Ordering::Relaxed),
            EventType::Info if d.process != Process::NEMESIS => {
                self.counts.info.fetch_add(1, Ordering::Relaxed)
            }
            _ => 0,
        };
        let Some(out) = &self.out else {
            let _guard = self.clock.lock().expect("recorder clock lock is never held across a panic");
            return Ok(self.now());
        };
        let mut w = out.lock().expect("recorder lock is never held across a panic");
        let time = self.now();
        let event = Event {
            process: d.process,
            kind: d.kind,
            f: d.f,
            key: d.key,
            value: d.value,
            time,
            node: d.node,
            error: d.error,
        };
        serde_json::to_writer(&mut *w, &event).map_err(std::io::Error::other)?;
        w.write_all(b"\n")?;
        w.flush()?;
        Ok(time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_flushed_as_written_and_times_do_not_go_backwards() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let r = Recorder::create(&path, Instant::now()).unwrap();
        for (i, kind) in [EventType::Invoke, EventType::Ok].into_iter().enumerate() {
            r.record(Draft {
                process: Process::Client(0),
                kind,
                f: "write".into(),
                key: Some("k0".into()),
                value: Value::String("1".into()),
                node: Some("n1".into()),
                error: None,
            })
            .unwrap();
            // Readable before the recorder is dropped: each line is already on disk.
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(text.lines().count(), i + 1);
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let events: Vec<Event> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert!(events[0].time <= events[1].time);
        assert_eq!(r.counts.snapshot(), (1, 0, 0));
    }
}
