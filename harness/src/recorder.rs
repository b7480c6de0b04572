//! The history recorder: every invocation, completion and fault, one JSON line each, flushed at once.
//!
//! The time of an event is taken while holding the writer's lock, so the file is in time order and a
//! completion can never precede its invocation. Each line is flushed as it is written: a harness that
//! crashes mid-run still leaves a checkable history (all its open operations simply read as `info`).
//! [`Recorder::disabled`] keeps the timing and the counters but writes nothing, which is how the
//! benchmark measures the cost of recording.
//!
//! The recorder also keeps every event in memory, so the run hands the history to the checks and the
//! report without reading the file back ([`Recorder::take_events`]); only `faultline check` and
//! `faultline report` read `history.jsonl`. A write that fails is a [`RecordError`] naming the file:
//! a history with a hole in it could not be trusted, so the run stops (exit 3).

use checker::history::{Event, EventType, Process};
use serde_json::Value;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
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

/// Why an event could not be recorded.
#[derive(Debug, thiserror::Error)]
#[error("writing the history {path}: {source}")]
pub struct RecordError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// The open history file and the events written to it so far.
#[derive(Debug)]
struct Out {
    path: PathBuf,
    writer: BufWriter<File>,
    events: Vec<Event>,
}

/// Writes `history.jsonl`.
#[derive(Debug)]
pub struct Recorder {
    out: Option<Mutex<Out>>,
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
    pub fn create(path: &Path, start: Instant) -> Result<Recorder, RecordError> {
        let file = File::create(path).map_err(|e| RecordError { path: path.into(), source: e })?;
        Ok(Recorder {
            out: Some(Mutex::new(Out {
                path: path.into(),
                writer: BufWriter::new(file),
                events: Vec::new(),
            })),
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
    pub fn record(&self, d: Draft) -> Result<u64, RecordError> {
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
        let mut out = out.lock().expect("recorder lock is never held across a panic");
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
        let Out { path, writer, events } = &mut *out;
        serde_json::to_writer(&mut *writer, &event)
            .map_err(std::io::Error::other)
            .and_then(|()| writer.write_all(b"\n"))
            .and_then(|()| writer.flush())
            .map_err(|e| RecordError { path: path.clone(), source: e })?;
        events.push(event);
        Ok(time)
    }

    /// The events recorded so far, in file order, leaving none behind (empty for a disabled recorder).
    pub fn take_events(&self) -> Vec<Event> {
        match &self.out {
            Some(out) => {
                std::mem::take(&mut out.lock().expect("recorder lock is never held across a panic").events)
            }
            None => Vec::new(),
        }
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
        // What the run hands to the checks in memory is exactly what the file holds.
        assert_eq!(r.take_events(), events);
    }

    #[test]
    fn a_write_that_fails_names_the_file() {
        // /dev/full accepts the open and fails every write with ENOSPC.
        let r = Recorder::create(Path::new("/dev/full"), Instant::now()).unwrap();
        let e = r
            .record(Draft {
                process: Process::NEMESIS,
                kind: EventType::Info,
                f: "kill".into(),
                key: None,
                value: Value::Null,
                node: None,
                error: None,
            })
            .unwrap_err();
        assert!(e.to_string().contains("/dev/full"), "{e}");
    }
}
