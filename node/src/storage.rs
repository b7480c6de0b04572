//! Durable storage of one server: the write-ahead log, the hard state and the snapshot.
//!
//! # The contract
//!
//! Everything the core hands over in a `Ready` is durable when [`Storage::sync`] returns, and only then
//! may the shell send the Ready's `persisted_messages` (votes, append acknowledgements). The layout of a
//! data directory:
//!
//! ```text
//! DIR/hardstate          term, vote, commit: one framed record, replaced atomically
//! DIR/snapshot           the latest snapshot: one framed record, replaced atomically
//! DIR/wal/NNNNNNNNNNNNNNNNNNNN.log   append-only segments, numbered in write order
//! ```
//!
//! A framed record is `[u32 length][u32 CRC-32 of the payload][payload]`, little-endian. WAL payloads are
//! a tag byte and a body: an entry, a commit index, or a boundary `(index, term)` that says "the log
//! restarts after this point" (written first in the segment that follows a snapshot).
//!
//! - **Group commit.** [`Storage::append`] and [`Storage::set_hard_state`] only buffer; one
//!   [`Storage::sync`] writes the buffer and calls `sync_data` once for a whole batch of proposals.
//! - **Hard state** changes of term or vote (rare, and they must be durable before a vote is sent) are
//!   written to a temp file, fsynced, renamed over `hardstate` and the directory fsynced. A change of the
//!   commit index alone (every batch) is a commit record in the WAL instead, so a batch costs one fsync.
//!   Losing commit records is harmless: the commit index is re-learned from the leader.
//! - **Snapshots** are written the same atomic way; then a new segment starting with a boundary record
//!   and the surviving suffix of the log is made durable, and only then are the older segments deleted.
//!   A crash between the steps leaves either the old segments (and recovery applies §7's rule: keep the
//!   log after the snapshot only if it holds the snapshot's last entry with the same term) or both.
//! - **Recovery.** A torn record at the very end of the newest segment (short header, length past the
//!   end, bad CRC on the last record, or a zero-filled tail) is the write a crash interrupted: it is
//!   truncated away with a warning. Anything else that does not decode is corruption: [`Storage::open`]
//!   returns [`StorageError::Corrupt`] naming the file and byte offset, and deletes nothing.
//!
//! The storage also keeps the live log in memory (the core owns its own copy, but the shell needs the
//! committed entries for `/debug/log`), trimmed at each snapshot.

use crate::codec::{DecodeError, Decoder, Encoder};
use raft::{Entry, HardState, LogIndex, Snapshot, Term};
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;
use tracing::{debug, info, warn};

const HEADER: usize = 8;
/// No record is larger than this; a length field above it is corruption (or a torn header).
const MAX_RECORD: usize = 256 << 20;

const TAG_ENTRY: u8 = 1;
const TAG_COMMIT: u8 = 2;
const TAG_BOUNDARY: u8 = 3;

/// Why storage could not be opened or written.
#[derive(Debug, Error)]
pub enum StorageError {
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: io::Error },
    #[error(
        "{path}: corrupt record at byte {offset}: {reason}; refusing to start (nothing was deleted: \
         inspect the file, or move the data directory away to rejoin as an empty node)"
    )]
    Corrupt { path: PathBuf, offset: u64, reason: String },
    #[error("{path}: inconsistent data directory: {reason}; refusing to start (nothing was deleted)")]
    Inconsistent { path: PathBuf, reason: String },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StorageError + 'a {
    move |source| StorageError::Io { op, path: path.to_path_buf(), source }
}

/// Tunables of the storage; the defaults are the production values.
#[derive(Clone, Debug)]
pub struct StorageOptions {
    /// Start a new WAL segment once the active one exceeds this many bytes.
    pub segment_bytes: u64,
    /// The planted `lazy-persist` bug: `sync` does nothing, [`Storage::flush`] (called every 500 ms)
    /// writes and fsyncs. Acknowledged votes and appends can be lost by a SIGKILL.
    pub lazy: bool,
    /// The planted `fsync-lag` bug: `sync` writes the WAL records to the OS at once but does not
    /// fsync them; [`Storage::flush`] (called every second) does. A SIGKILL loses nothing (the
    /// kernel holds the writes), a power loss loses what was acknowledged in the last second. Term
    /// and vote changes are still written atomically with fsync.
    pub fsync_lag: bool,
}

impl Default for StorageOptions {
    fn default() -> StorageOptions {
        StorageOptions { segment_bytes: 64 << 20, lazy: false, fsync_lag: false }
    }
}

/// What recovery found, to hand to the core (`raft::Restored`) and the state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    pub hard_state: HardState,
    pub snapshot: Option<Snapshot>,
    pub entries: Vec<Entry>,
}

#[derive(Debug)]
struct Segment {
    seq: u64,
    path: PathBuf,
}

/// The durable state of one server. See the module documentation for the contract.
#[derive(Debug)]
pub struct Storage {
    dir: PathBuf,
    wal_dir: PathBuf,
    opts: StorageOptions,
    /// Closed segments, oldest first, then the active one last.
    segments: Vec<Segment>,
    active: File,
    active_len: u64,
    /// Encoded records not yet written to the active segment.
    buf: Vec<u8>,
    /// The hard state whose term and vote are in the `hardstate` file.
    durable_hs: HardState,
    /// A term/vote change waiting for the next sync (set only under `lazy`).
    pending_hs: Option<HardState>,
    /// Bytes written to the active segment but not yet fsynced (only under `fsync_lag`).
    unsynced: bool,
    /// The latest commit index handed in (persisted as a WAL record when it changes).
    commit: LogIndex,
    snapshot_index: LogIndex,
    snapshot_term: Term,
    /// The live log after the snapshot, mirrored for `/debug/log`.
    log: VecDeque<Entry>,
}

fn frame(payload: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len()).expect("records are bounded by MAX_RECORD");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

fn segment_path(wal_dir: &Path, seq: u64) -> PathBuf {
    wal_dir.join(format!("{seq:020}.log"))
}

fn fsync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err("fsync directory", dir))
}

/// Writes `payload` framed to `dir/name` atomically: temp file, fsync, rename, directory fsync.
fn write_atomic(dir: &Path, name: &str, payload: &[u8]) -> Result<(), StorageError> {
    let tmp = dir.join(format!("{name}.tmp"));
    let dst = dir.join(name);
    let mut framed = Vec::with_capacity(payload.len() + HEADER);
    frame(payload, &mut framed);
    let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
    f.write_all(&framed).map_err(io_err("write", &tmp))?;
    f.sync_all().map_err(io_err("fsync", &tmp))?;
    drop(f);
    fs::rename(&tmp, &dst).map_err(io_err("rename", &dst))?;
    fsync_dir(dir)
}

/// Reads a file written by [`write_atomic`]; `None` if it does not exist. A rename is atomic, so any
/// damage here is corruption, never a torn write.
fn read_atomic(path: &Path) -> Result<Option<Vec<u8>>, StorageError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::Io { op: "read", path: path.to_path_buf(), source: e }),
    };
    match parse_record(&bytes, 0) {
        Parsed::Record { payload, next } if next == bytes.len() => Ok(Some(payload.to_vec())),
        Parsed::Record { next, .. } => Err(StorageError::Corrupt {
            path: path.to_path_buf(),
            offset: next as u64,
            reason: format!("{} unexpected bytes after the record", bytes.len() - next),
        }),
        Parsed::Bad { reason } | Parsed::Torn { reason } => {
            Err(StorageError::Corrupt { path: path.to_path_buf(), offset: 0, reason })
        }
    }
}

enum Parsed<'a> {
    Record {
        payload: &'a [u8],
        next: usize,
    },
    /// Cannot be a complete record because the data ends first.
    Torn {
        reason: String,
    },
    /// Complete but wrong (bad CRC, impossible length).
    Bad {
        reason: String,
    },
}

fn parse_record(buf: &[u8], at: usize) -> Parsed<'_> {
    let rest = &buf[at..];
    if rest.len() < HEADER {
        return Parsed::Torn { reason: format!("{} bytes, shorter than a record header", rest.len()) };
    }
    let len = u32::from_le_bytes(rest[0..4].try_into().expect("slice of 4")) as usize;
    let crc = u32::from_le_bytes(rest[4..8].try_into().expect("slice of 4"));
    if len == 0 || len > MAX_RECORD {
        return Parsed::Bad { reason: format!("impossible record length {len}") };
    }
    if rest.len() < HEADER + len {
        return Parsed::Torn { reason: format!("record of {len} bytes runs past the end of the file") };
    }
    let payload = &rest[HEADER..HEADER + len];
    let actual = crc32fast::hash(payload);
    if actual != crc {
        return Parsed::Bad {
            reason: format!("checksum mismatch (stored {crc:08x}, computed {actual:08x})"),
        };
    }
    Parsed::Record { payload, next: at + HEADER + len }
}

enum WalRecord {
    Entry(Entry),
    Commit(LogIndex),
    Boundary(LogIndex, Term),
}

fn decode_wal_record(payload: &[u8]) -> Result<WalRecord, DecodeError> {
    let mut d = Decoder::new(payload);
    let at = 0;
    let rec = match d.u8("wal record tag")? {
        TAG_ENTRY => WalRecord::Entry(d.entry()?),
        TAG_COMMIT => WalRecord::Commit(LogIndex(d.u64("commit index")?)),
        TAG_BOUNDARY => {
            WalRecord::Boundary(LogIndex(d.u64("boundary index")?), Term(d.u64("boundary term")?))
        }
        tag => return Err(DecodeError::BadTag { what: "wal record", tag, at }),
    };
    d.finish()?;
    Ok(rec)
}

/// The log as recovery rebuilds it: everything after `base`.
#[derive(Default)]
struct Replay {
    base: (LogIndex, Term),
    entries: VecDeque<Entry>,
    commit: LogIndex,
}

impl Replay {
    fn last_index(&self) -> LogIndex {
        self.entries.back().map_or(self.base.0, |e| e.index)
    }

    fn apply(&mut self, rec: WalRecord, path: &Path, offset: u64) -> Result<(), StorageError> {
        match rec {
            WalRecord::Boundary(index, term) => {
                self.base = (index, term);
                self.entries.clear();
            }
            WalRecord::Commit(c) => self.commit = self.commit.max(c),
            WalRecord::Entry(e) => {
                let last = self.last_index();
                if e.index > last.next() && !(self.entries.is_empty() && self.base.0 == LogIndex(0)) {
                    return Err(StorageError::Corrupt {
                        path: path.to_path_buf(),
                        offset,
                        reason: format!("entry {} follows entry {last}: a gap in the log", e.index),
                    });
                }
                if e.index <= self.base.0 {
                    return Err(StorageError::Corrupt {
                        path: path.to_path_buf(),
                        offset,
                        reason: format!("entry {} is at or before the log boundary {}", e.index, self.base.0),
                    });
                }
                if self.entries.is_empty() && self.base.0 == LogIndex(0) {
                    // The first segment of a log never compacted may start anywhere only if older
                    // segments were removed; record where this one starts.
                    self.base = (e.index.prev(), Term(0));
                }
                // An entry at or before the end replaces that suffix (the leader overwrote it).
                while self.entries.back().is_some_and(|b| b.index >= e.index) {
                    self.entries.pop_back();
                }
                self.entries.push_back(e);
            }
        }
        Ok(())
    }
}

impl Storage {
    /// Opens (creating if needed) the data directory and recovers its contents.
    pub fn open(dir: &Path, opts: StorageOptions) -> Result<(Storage, Recovered), StorageError> {
        let wal_dir = dir.join("wal");
        fs::create_dir_all(&wal_dir).map_err(io_err("create directory", &wal_dir))?;

        let hs_path = dir.join("hardstate");
        let hard_state = match read_atomic(&hs_path)? {
            None => HardState::default(),
            Some(p) => {
                let mut d = Decoder::new(&p);
                let hs = d.hard_state().and_then(|hs| d.finish().map(|()| hs));
                hs.map_err(|e| StorageError::Corrupt {
                    path: hs_path.clone(),
                    offset: HEADER as u64,
                    reason: e.to_string(),
                })?
            }
        };
        let snap_path = dir.join("snapshot");
        let snapshot = match read_atomic(&snap_path)? {
            None => None,
            Some(p) => {
                let mut d = Decoder::new(&p);
                let s = d.snapshot().and_then(|s| d.finish().map(|()| s));
                Some(s.map_err(|e| StorageError::Corrupt {
                    path: snap_path.clone(),
                    offset: HEADER as u64,
                    reason: e.to_string(),
                })?)
            }
        };

        let mut seqs = Vec::new();
        for ent in fs::read_dir(&wal_dir).map_err(io_err("list", &wal_dir))? {
            let ent = ent.map_err(io_err("list", &wal_dir))?;
            let name = ent.file_name();
            let name = name.to_string_lossy();
            if let Some(seq) = name.strip_suffix(".log").and_then(|s| s.parse::<u64>().ok()) {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();

        let mut replay = Replay::default();
        let n = seqs.len();
        for (i, &seq) in seqs.iter().enumerate() {
            let path = segment_path(&wal_dir, seq);
            replay_segment(&path, i + 1 == n, &mut replay)?;
        }

        // §7: keep the log after the snapshot only if it holds the snapshot's last entry with its term.
        let (snapshot_index, snapshot_term) =
            snapshot.as_ref().map_or((LogIndex(0), Term(0)), |s| (s.last_index, s.last_term));
        if replay.base.0 > snapshot_index {
            let oldest = seqs.first().map_or_else(|| wal_dir.clone(), |&s| segment_path(&wal_dir, s));
            return Err(StorageError::Inconsistent {
                path: oldest,
                reason: format!(
                    "the WAL starts after index {} but the snapshot ends at index {snapshot_index} \
                     (is {} missing?)",
                    replay.base.0,
                    snap_path.display()
                ),
            });
        }
        if replay.base.0 < snapshot_index {
            let holds = replay.entries.iter().any(|e| e.index == snapshot_index && e.term == snapshot_term);
            if holds {
                replay.entries.retain(|e| e.index > snapshot_index);
            } else {
                replay.entries.clear();
            }
        }
        let last = replay.entries.back().map_or(snapshot_index, |e| e.index);
        let commit = hard_state.commit.max(replay.commit).max(snapshot_index).min(last.max(snapshot_index));
        let hard_state = HardState { commit, ..hard_state };

        let (active, active_len, segments) = match seqs.last() {
            Some(&seq) => {
                let path = segment_path(&wal_dir, seq);
                let f = OpenOptions::new().append(true).open(&path).map_err(io_err("open", &path))?;
                let len = f.metadata().map_err(io_err("stat", &path))?.len();
                (f, len, seqs.iter().map(|&s| Segment { seq: s, path: segment_path(&wal_dir, s) }).collect())
            }
            None => {
                let path = segment_path(&wal_dir, 1);
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(io_err("create", &path))?;
                fsync_dir(&wal_dir)?;
                (f, 0, vec![Segment { seq: 1, path }])
            }
        };
        info!(
            dir = %dir.display(),
            term = hard_state.term.0,
            commit = commit.0,
            snapshot_index = snapshot_index.0,
            entries = replay.entries.len(),
            segments = segments.len(),
            "storage recovered"
        );
        let recovered = Recovered { hard_state, snapshot, entries: replay.entries.iter().cloned().collect() };
        let storage = Storage {
            dir: dir.to_path_buf(),
            wal_dir,
            opts,
            segments,
            active,
            active_len,
            buf: Vec::new(),
            durable_hs: hard_state,
            pending_hs: None,
            unsynced: false,
            commit,
            snapshot_index,
            snapshot_term,
            log: replay.entries,
        };
        Ok((storage, recovered))
    }

    /// Buffers entries for the next sync. Entries that start at or before the end of the log replace
    /// that suffix (Ready's contract).
    pub fn append(&mut self, entries: &[Entry]) {
        for e in entries {
            while self.log.back().is_some_and(|b| b.index >= e.index) {
                self.log.pop_back();
            }
            self.log.push_back(e.clone());
            let mut enc = Encoder::new();
            enc.u8(TAG_ENTRY);
            enc.entry(e);
            frame(&enc.buf, &mut self.buf);
        }
    }

    /// Records a new hard state. A changed term or vote is written atomically at once (it must be durable
    /// before a vote leaves); a changed commit index becomes a WAL record made durable by the next sync.
    pub fn set_hard_state(&mut self, hs: HardState) -> Result<(), StorageError> {
        if hs.term != self.durable_hs.term || hs.vote != self.durable_hs.vote {
            if self.opts.lazy {
                self.pending_hs = Some(hs);
            } else {
                self.write_hard_state(hs)?;
            }
        }
        if hs.commit > self.commit {
            self.commit = hs.commit;
            let mut enc = Encoder::new();
            enc.u8(TAG_COMMIT);
            enc.u64(hs.commit.0);
            frame(&enc.buf, &mut self.buf);
        }
        Ok(())
    }

    fn write_hard_state(&mut self, hs: HardState) -> Result<(), StorageError> {
        let mut enc = Encoder::new();
        enc.hard_state(&hs);
        write_atomic(&self.dir, "hardstate", &enc.buf)?;
        debug!(term = hs.term.0, vote = ?hs.vote, "hard state written");
        self.durable_hs = hs;
        Ok(())
    }

    /// Makes everything buffered durable: one write and one `sync_data` for the whole batch. Under the
    /// planted `lazy-persist` bug this does nothing, under `fsync-lag` it writes without the
    /// `sync_data`; [`Storage::flush`] does the rest later.
    pub fn sync(&mut self) -> Result<(), StorageError> {
        if self.opts.lazy {
            Ok(())
        } else if self.opts.fsync_lag {
            self.write_out(false)
        } else {
            self.flush()
        }
    }

    /// Writes and fsyncs whatever is buffered or written but not synced, whatever the options say.
    pub fn flush(&mut self) -> Result<(), StorageError> {
        self.write_out(true)
    }

    fn write_out(&mut self, fsync: bool) -> Result<(), StorageError> {
        if let Some(hs) = self.pending_hs.take() {
            self.write_hard_state(hs)?;
        }
        let path = &self.segments.last().expect("there is always an active segment").path;
        if !self.buf.is_empty() {
            self.active.write_all(&self.buf).map_err(io_err("write", path))?;
            self.active_len += self.buf.len() as u64;
            self.buf.clear();
            self.unsynced = true;
        }
        if fsync && self.unsynced {
            self.active.sync_data().map_err(io_err("fsync", path))?;
            self.unsynced = false;
        }
        if self.active_len >= self.opts.segment_bytes {
            self.rotate(None)?;
        }
        Ok(())
    }

    /// Closes the active segment and starts a new one, optionally beginning with a boundary record and
    /// the surviving log (after a snapshot). The new segment is durable when this returns.
    fn rotate(&mut self, boundary: Option<(LogIndex, Term)>) -> Result<(), StorageError> {
        let seq = self.segments.last().map_or(1, |s| s.seq + 1);
        let path = segment_path(&self.wal_dir, seq);
        let mut f =
            OpenOptions::new().create(true).append(true).open(&path).map_err(io_err("create", &path))?;
        let mut head = Vec::new();
        if let Some((index, term)) = boundary {
            let mut enc = Encoder::new();
            enc.u8(TAG_BOUNDARY);
            enc.u64(index.0);
            enc.u64(term.0);
            frame(&enc.buf, &mut head);
            for e in &self.log {
                let mut enc = Encoder::new();
                enc.u8(TAG_ENTRY);
                enc.entry(e);
                frame(&enc.buf, &mut head);
            }
            let mut enc = Encoder::new();
            enc.u8(TAG_COMMIT);
            enc.u64(self.commit.0);
            frame(&enc.buf, &mut head);
        }
        f.write_all(&head).map_err(io_err("write", &path))?;
        f.sync_data().map_err(io_err("fsync", &path))?;
        fsync_dir(&self.wal_dir)?;
        self.active = f;
        self.active_len = head.len() as u64;
        self.segments.push(Segment { seq, path });
        debug!(seq, "new WAL segment");
        Ok(())
    }

    /// Persists a snapshot (taken by this node at an applied index, or installed from the leader), drops
    /// the log it covers and deletes the WAL segments it makes unnecessary. Anything buffered is flushed
    /// first so it is not lost with the old segment.
    pub fn save_snapshot(&mut self, snap: &Snapshot) -> Result<(), StorageError> {
        self.flush()?;
        let mut enc = Encoder::new();
        enc.snapshot(snap);
        write_atomic(&self.dir, "snapshot", &enc.buf)?;
        let keep = self.log.iter().any(|e| e.index == snap.last_index && e.term == snap.last_term);
        if keep {
            self.log.retain(|e| e.index > snap.last_index);
        } else {
            self.log.clear();
        }
        self.snapshot_index = snap.last_index;
        self.snapshot_term = snap.last_term;
        self.commit = self.commit.max(snap.last_index);
        self.rotate(Some((snap.last_index, snap.last_term)))?;
        let active = self.segments.len() - 1;
        for old in self.segments.drain(..active) {
            fs::remove_file(&old.path).map_err(io_err("remove", &old.path))?;
            debug!(path = %old.path.display(), "removed WAL segment covered by the snapshot");
        }
        fsync_dir(&self.wal_dir)?;
        info!(index = snap.last_index.0, term = snap.last_term.0, bytes = snap.data.len(), "snapshot saved");
        Ok(())
    }

    pub fn snapshot_index(&self) -> LogIndex {
        self.snapshot_index
    }

    pub fn snapshot_term(&self) -> Term {
        self.snapshot_term
    }

    /// The entries of the live log with index >= `from`, up to and including `to`.
    pub fn entries(&self, from: LogIndex, to: LogIndex) -> impl Iterator<Item = &Entry> {
        let first = self.log.front().map_or(0, |e| e.index.0);
        let skip = from.0.saturating_sub(first) as usize;
        self.log.iter().skip(skip).take_while(move |e| e.index <= to)
    }

    /// The paths of the WAL segments, oldest first (for tests and diagnostics).
    pub fn segment_paths(&self) -> Vec<PathBuf> {
        self.segments.iter().map(|s| s.path.clone()).collect()
    }
}

fn replay_segment(path: &Path, newest: bool, replay: &mut Replay) -> Result<(), StorageError> {
    let mut bytes = Vec::new();
    File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(io_err("read", path))?;
    let mut at = 0;
    while at < bytes.len() {
        let tail_torn = |reason: String| -> Result<(), StorageError> {
            if newest {
                warn!(
                    path = %path.display(),
                    offset = at,
                    dropped_bytes = bytes.len() - at,
                    reason,
                    "truncating a torn record at the end of the WAL (a write interrupted by a crash)"
                );
                let f = OpenOptions::new().write(true).open(path).map_err(io_err("open", path))?;
                f.set_len(at as u64).map_err(io_err("truncate", path))?;
                f.sync_all().map_err(io_err("fsync", path))?;
                Ok(())
            } else {
                Err(StorageError::Corrupt { path: path.to_path_buf(), offset: at as u64, reason })
            }
        };
        match parse_record(&bytes, at) {
            Parsed::Record { payload, next } => {
                let rec = decode_wal_record(payload).map_err(|e| StorageError::Corrupt {
                    path: path.to_path_buf(),
                    offset: at as u64,
                    reason: e.to_string(),
                })?;
                replay.apply(rec, path, at as u64)?;
                at = next;
            }
            Parsed::Torn { reason } => return tail_torn(reason),
            Parsed::Bad { reason } => {
                // A bad last record, or a zero-filled tail, is a torn write; a bad record with valid data
                // after it is not.
                let last = match parse_len(&bytes, at) {
                    Some(len) => at + HEADER + len == bytes.len(),
                    None => false,
                };
                if last || bytes[at..].iter().all(|&b| b == 0) {
                    return tail_torn(reason);
                }
                return Err(StorageError::Corrupt { path: path.to_path_buf(), offset: at as u64, reason });
            }
        }
    }
    Ok(())
}

fn parse_len(buf: &[u8], at: usize) -> Option<usize> {
    buf.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().expect("slice of 4")) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::{NodeId, Payload};

    fn entry(i: u64, t: u64) -> Entry {
        Entry { term: Term(t), index: LogIndex(i), payload: Payload::Command(format!("cmd{i}").into_bytes()) }
    }

    fn open(dir: &Path) -> (Storage, Recovered) {
        Storage::open(dir, StorageOptions::default()).unwrap()
    }

    fn only_segment(dir: &Path) -> PathBuf {
        let mut segs: Vec<_> = fs::read_dir(dir.join("wal")).unwrap().map(|e| e.unwrap().path()).collect();
        segs.sort();
        segs.pop().unwrap()
    }

    #[test]
    fn entries_hard_state_and_commit_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, rec) = open(dir.path());
        assert_eq!(rec, Recovered { hard_state: HardState::default(), snapshot: None, entries: vec![] });
        s.append(&[entry(1, 1), entry(2, 1), entry(3, 1)]);
        s.set_hard_state(HardState { term: Term(1), vote: Some(NodeId(2)), commit: LogIndex(2) }).unwrap();
        s.sync().unwrap();
        drop(s);
        let (_, rec) = open(dir.path());
        assert_eq!(rec.entries, vec![entry(1, 1), entry(2, 1), entry(3, 1)]);
        assert_eq!(rec.hard_state, HardState { term: Term(1), vote: Some(NodeId(2)), commit: LogIndex(2) });
    }

    #[test]
    fn appending_before_the_end_replaces_the_suffix_also_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = open(dir.path());
        s.append(&[entry(1, 1), entry(2, 1), entry(3, 1)]);
        s.sync().unwrap();
        s.append(&[entry(2, 2)]);
        s.sync().unwrap();
        let live: Vec<_> = s.entries(LogIndex(1), LogIndex(10)).cloned().collect();
        assert_eq!(live, vec![entry(1, 1), entry(2, 2)]);
        drop(s);
        assert_eq!(open(dir.path()).1.entries, vec![entry(1, 1), entry(2, 2)]);
    }

    #[test]
    fn unsynced_entries_are_not_durable() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = open(dir.path());
        s.append(&[entry(1, 1)]);
        s.sync().unwrap();
        s.append(&[entry(2, 1)]);
        drop(s);
        assert_eq!(open(dir.path()).1.entries, vec![entry(1, 1)]);
    }

    #[test]
    fn torn_tail_is_truncated_and_later_appends_follow_it() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = open(dir.path());
        s.append(&[entry(1, 1), entry(2, 1)]);
        s.sync().unwrap();
        drop(s);
        let seg = only_segment(dir.path());
        let full = fs::read(&seg).unwrap();
        // Every cut inside the last record is recovered as "entry 1 only".
        let second_start = full.len() - (HEADER + 1 + 17 + 4 + 4);
        for cut in second_start + 1..full.len() {
            fs::write(&seg, &full[..cut]).unwrap();
            let (_, rec) = open(dir.path());
            assert_eq!(rec.entries, vec![entry(1, 1)], "cut at {cut}");
            assert_eq!(fs::metadata(&seg).unwrap().len() as usize, second_start, "truncated at {cut}");
        }
        // A flipped bit in the last record is a torn write too.
        let mut flipped = full.clone();
        *flipped.last_mut().unwrap() ^= 1;
        fs::write(&seg, &flipped).unwrap();
        let (mut s, rec) = open(dir.path());
        assert_eq!(rec.entries, vec![entry(1, 1)]);
        s.append(&[entry(2, 2)]);
        s.sync().unwrap();
        drop(s);
        assert_eq!(open(dir.path()).1.entries, vec![entry(1, 1), entry(2, 2)]);
    }

    #[test]
    fn zero_filled_tail_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = open(dir.path());
        s.append(&[entry(1, 1)]);
        s.sync().unwrap();
        drop(s);
        let seg = only_segment(dir.path());
        let mut bytes = fs::read(&seg).unwrap();
        let len = bytes.len();
        bytes.extend_from_slice(&[0; 4096]);
        fs::write(&seg, &bytes).unwrap();
        assert_eq!(open(dir.path()).1.entries, vec![entry(1, 1)]);
        assert_eq!(fs::metadata(&seg).unwrap().len() as usize, len);
    }

    #[test]
    fn corruption_before_the_end_names_file_and_offset_and_deletes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = open(dir.path());
        s.append(&[entry(1, 1), entry(2, 1), entry(3, 1)]);
        s.sync().unwrap();
        drop(s);
        let seg = only_segment(dir.path());
        let mut bytes = fs::read(&seg).unwrap();
        let record = bytes.len() / 3;
        bytes[record + HEADER + 3] ^= 0xff; // inside entry 2's payload
        fs::write(&seg, &bytes).unwrap();
        let err = Storage::open(dir.path(), StorageOptions::default()).unwrap_err();
        match &err {
            StorageError::Corrupt { path, offset, .. } => {
                assert_eq!(path, &seg);
                assert_eq!(*offset, record as u64);
            }
            other => panic!("expected corruption, got {other}"),
        }
        let msg = err.to_string();
        assert!(msg.contains(&seg.display().to_string()) && msg.contains(&format!("byte {record}")), "{msg}");
        assert_eq!(fs::read(&seg).unwrap(), bytes, "the corrupt file must be left untouched");
    }

    #[test]
    fn snapshot_drops_covered_log_and_old_segments() {
        let dir = tempfile::tempdir().unwrap();
        let opts = StorageOptions { segment_bytes: 100, ..StorageOptions::default() };
        let (mut s, _) = Storage::open(dir.path(), opts.clone()).unwrap();
        for i in 1..=10 {
            s.append(&[entry(i, 1)]);
            s.set_hard_state(HardState { term: Term(1), vote: None, commit: LogIndex(i - 1) }).unwrap();
            s.sync().unwrap();
        }
        assert!(s.segment_paths().len() > 3);
        let snap = Snapshot { last_index: LogIndex(8), last_term: Term(1), data: b"image".to_vec() };
        s.save_snapshot(&snap).unwrap();
        assert_eq!(s.segment_paths().len(), 1);
        s.append(&[entry(11, 2)]);
        s.sync().unwrap();
        drop(s);
        let (s, rec) = Storage::open(dir.path(), opts).unwrap();
        assert_eq!(rec.snapshot, Some(snap));
        assert_eq!(rec.entries, vec![entry(9, 1), entry(10, 1), entry(11, 2)]);
        assert_eq!(rec.hard_state.commit, LogIndex(9));
        assert_eq!(s.snapshot_index(), LogIndex(8));
    }

    #[test]
    fn snapshot_that_conflicts_with_the_log_discards_it_even_after_a_crash_before_segment_cleanup() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = open(dir.path());
        s.append(&[entry(1, 1), entry(2, 1), entry(3, 1)]);
        s.sync().unwrap();
        drop(s);
        // Simulate a crash right after the snapshot file was renamed into place, before the new segment.
        let snap = Snapshot { last_index: LogIndex(2), last_term: Term(5), data: vec![] };
        let mut enc = Encoder::new();
        enc.snapshot(&snap);
        write_atomic(dir.path(), "snapshot", &enc.buf).unwrap();
        let (_, rec) = open(dir.path());
        assert_eq!(rec.entries, vec![], "entry 3 followed a conflicting entry 2 and must go");
        assert_eq!(rec.hard_state.commit, LogIndex(2));
    }

    #[test]
    fn missing_snapshot_behind_a_compacted_wal_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = open(dir.path());
        s.append(&[entry(1, 1), entry(2, 1)]);
        s.sync().unwrap();
        s.save_snapshot(&Snapshot { last_index: LogIndex(1), last_term: Term(1), data: vec![] }).unwrap();
        drop(s);
        fs::remove_file(dir.path().join("snapshot")).unwrap();
        let err = Storage::open(dir.path(), StorageOptions::default()).unwrap_err();
        assert!(matches!(err, StorageError::Inconsistent { .. }), "{err}");
    }

    #[test]
    fn lazy_storage_loses_unflushed_state_until_flush() {
        let dir = tempfile::tempdir().unwrap();
        let opts = StorageOptions { lazy: true, ..StorageOptions::default() };
        let (mut s, _) = Storage::open(dir.path(), opts.clone()).unwrap();
        s.append(&[entry(1, 1)]);
        s.set_hard_state(HardState { term: Term(3), vote: Some(NodeId(1)), commit: LogIndex(0) }).unwrap();
        s.sync().unwrap();
        let (_, rec) = Storage::open(dir.path(), opts.clone()).unwrap();
        assert_eq!(rec, Recovered { hard_state: HardState::default(), snapshot: None, entries: vec![] });
        s.flush().unwrap();
        let (_, rec) = Storage::open(dir.path(), opts).unwrap();
        assert_eq!(rec.entries, vec![entry(1, 1)]);
        assert_eq!(rec.hard_state.term, Term(3));
    }

    #[test]
    fn fsync_lag_writes_at_once_and_fsyncs_only_at_flush() {
        let dir = tempfile::tempdir().unwrap();
        let opts = StorageOptions { fsync_lag: true, ..StorageOptions::default() };
        let (mut s, _) = Storage::open(dir.path(), opts.clone()).unwrap();
        s.append(&[entry(1, 1)]);
        s.sync().unwrap();
        // The OS has the record (a SIGKILL would not lose it), the disk may not.
        assert_eq!(Storage::open(dir.path(), opts.clone()).unwrap().1.entries, vec![entry(1, 1)]);
        assert!(s.unsynced, "written but not fsynced");
        s.flush().unwrap();
        assert!(!s.unsynced);
        s.flush().unwrap();
    }

    #[test]
    fn corrupt_hard_state_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = open(dir.path());
        s.set_hard_state(HardState { term: Term(2), vote: None, commit: LogIndex(0) }).unwrap();
        drop(s);
        let p = dir.path().join("hardstate");
        let mut b = fs::read(&p).unwrap();
        b[HEADER] ^= 1;
        fs::write(&p, &b).unwrap();
        let err = Storage::open(dir.path(), StorageOptions::default()).unwrap_err();
        assert!(err.to_string().contains("hardstate"), "{err}");
    }
}
