//! The binary encoding of the core's types, shared by the WAL and the peer transport.
//!
//! The wire types derive serde, but the workspace carries no binary serde format, and JSON would turn
//! every command byte into a decimal number in an array. This module is a small, explicit, versionless
//! little-endian encoding instead: fixed-width integers, `u32` length prefixes for byte strings and
//! vectors, and one tag byte per enum variant. Decoding never panics: every read checks the remaining
//! length and every tag is matched, so a corrupt or hostile frame is a [`DecodeError`], not a crash.
//!
//! Framing (length + CRC for the WAL, length for the transport) is the caller's business; this module
//! only turns one value into bytes and back.

use raft::{
    Conflict, Entry, HardState, LogIndex, Message, MessageBody, NodeId, Payload, Snapshot, Term, wire,
};
use thiserror::Error;

/// Why bytes could not be decoded into a value.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("truncated input: needed {needed} more bytes for {what} at byte {at}")]
    Truncated { what: &'static str, at: usize, needed: usize },
    #[error("unknown {what} tag {tag} at byte {at}")]
    BadTag { what: &'static str, tag: u8, at: usize },
    #[error("{extra} trailing bytes after the value")]
    Trailing { extra: usize },
}

/// Appends encoded values to a byte vector.
#[derive(Debug, Default)]
pub struct Encoder {
    pub buf: Vec<u8>,
}

impl Encoder {
    pub fn new() -> Encoder {
        Encoder::default()
    }

    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }

    /// A length-prefixed byte string. Lengths are `u32`: the HTTP body limit keeps commands far below.
    pub fn bytes(&mut self, v: &[u8]) {
        self.u32(u32::try_from(v.len()).expect("byte strings are bounded by the request size limit"));
        self.buf.extend_from_slice(v);
    }

    pub fn entry(&mut self, e: &Entry) {
        self.u64(e.term.0);
        self.u64(e.index.0);
        match &e.payload {
            Payload::Noop => self.u8(0),
            Payload::Command(c) => {
                self.u8(1);
                self.bytes(c);
            }
        }
    }

    pub fn hard_state(&mut self, hs: &HardState) {
        self.u64(hs.term.0);
        self.opt_u64(hs.vote.map(|v| v.0));
        self.u64(hs.commit.0);
    }

    pub fn snapshot(&mut self, s: &Snapshot) {
        self.u64(s.last_index.0);
        self.u64(s.last_term.0);
        self.bytes(&s.data);
    }

    fn opt_u64(&mut self, v: Option<u64>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.u64(v);
            }
        }
    }

    pub fn message(&mut self, m: &Message) {
        self.u64(m.from.0);
        self.u64(m.to.0);
        self.u64(m.term.0);
        self.u8(wire::tag(&m.body));
        match &m.body {
            MessageBody::RequestVote { pre_vote, last_log_index, last_log_term } => {
                self.bool(*pre_vote);
                self.u64(last_log_index.0);
                self.u64(last_log_term.0);
            }
            MessageBody::RequestVoteResponse { pre_vote, granted } => {
                self.bool(*pre_vote);
                self.bool(*granted);
            }
            MessageBody::AppendEntries {
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                read_round,
            } => {
                self.u64(prev_log_index.0);
                self.u64(prev_log_term.0);
                self.u32(
                    u32::try_from(entries.len()).expect("appends are bounded by max_entries_per_append"),
                );
                for e in entries {
                    self.entry(e);
                }
                self.u64(leader_commit.0);
                self.u64(*read_round);
            }
            MessageBody::AppendEntriesResponse { success, match_index, conflict, read_round } => {
                self.bool(*success);
                self.u64(match_index.0);
                match conflict {
                    None => self.u8(0),
                    Some(c) => {
                        self.u8(1);
                        self.opt_u64(c.term.map(|t| t.0));
                        self.u64(c.first_index.0);
                        self.u64(c.last_index.0);
                    }
                }
                self.u64(*read_round);
            }
            MessageBody::InstallSnapshot { snapshot } => {
                self.snapshot(snapshot);
            }
            MessageBody::InstallSnapshotResponse { last_index } => {
                self.u64(last_index.0);
            }
            MessageBody::TimeoutNow => {}
        }
    }
}

/// Reads encoded values from a byte slice, front to back.
#[derive(Debug)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(buf: &'a [u8]) -> Decoder<'a> {
        Decoder { buf, pos: 0 }
    }

    /// Fails unless every byte was consumed: a frame with garbage after the value is corrupt.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.buf.len() - self.pos {
            0 => Ok(()),
            extra => Err(DecodeError::Trailing { extra }),
        }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let rest = self.buf.len() - self.pos;
        if rest < n {
            return Err(DecodeError::Truncated { what, at: self.pos, needed: n - rest });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes(b.try_into().expect("take returned exactly 4 bytes")))
    }

    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let b = self.take(8, what)?;
        Ok(u64::from_le_bytes(b.try_into().expect("take returned exactly 8 bytes")))
    }

    pub fn bool(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        let at = self.pos;
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::BadTag { what, tag, at }),
        }
    }

    pub fn bytes(&mut self, what: &'static str) -> Result<Vec<u8>, DecodeError> {
        let len = self.u32(what)? as usize;
        Ok(self.take(len, what)?.to_vec())
    }

    fn opt_u64(&mut self, what: &'static str) -> Result<Option<u64>, DecodeError> {
        let at = self.pos;
        match self.u8(what)? {
            0 => Ok(None),
            1 => Ok(Some(self.u64(what)?)),
            tag => Err(DecodeError::BadTag { what, tag, at }),
        }
    }

    pub fn entry(&mut self) -> Result<Entry, DecodeError> {
        let term = Term(self.u64("entry term")?);
        let index = LogIndex(self.u64("entry index")?);
        let at = self.pos;
        let payload = match self.u8("entry payload")? {
            0 => Payload::Noop,
            1 => Payload::Command(self.bytes("entry command")?),
            tag => return Err(DecodeError::BadTag { what: "entry payload", tag, at }),
        };
        Ok(Entry { term, index, payload })
    }

    pub fn hard_state(&mut self) -> Result<HardState, DecodeError> {
        Ok(HardState {
            term: Term(self.u64("hard state term")?),
            vote: self.opt_u64("hard state vote")?.map(NodeId),
            commit: LogIndex(self.u64("hard state commit")?),
        })
    }

    pub fn snapshot(&mut self) -> Result<Snapshot, DecodeError> {
        Ok(Snapshot {
            last_index: LogIndex(self.u64("snapshot index")?),
            last_term: Term(self.u64("snapshot term")?),
            data: self.bytes("snapshot data")?,
        })
    }

    pub fn message(&mut self) -> Result<Message, DecodeError> {
        let from = NodeId(self.u64("message from")?);
        let to = NodeId(self.u64("message to")?);
        let term = Term(self.u64("message term")?);
        let at = self.pos;
        let body = match self.u8("message kind")? {
            wire::TAG_REQUEST_VOTE => MessageBody::RequestVote {
                pre_vote: self.bool("pre_vote")?,
                last_log_index: LogIndex(self.u64("last_log_index")?),
                last_log_term: Term(self.u64("last_log_term")?),
            },
            wire::TAG_REQUEST_VOTE_RESPONSE => MessageBody::RequestVoteResponse {
                pre_vote: self.bool("pre_vote")?,
                granted: self.bool("granted")?,
            },
            wire::TAG_APPEND_ENTRIES => {
                let prev_log_index = LogIndex(self.u64("prev_log_index")?);
                let prev_log_term = Term(self.u64("prev_log_term")?);
                let n = self.u32("entry count")? as usize;
                // Every entry takes at least 17 bytes, so a corrupt count cannot make us allocate much.
                let mut entries = Vec::with_capacity(n.min(self.buf.len() / 17));
                for _ in 0..n {
                    entries.push(self.entry()?);
                }
                MessageBody::AppendEntries {
                    prev_log_index,
                    prev_log_term,
                    entries,
                    leader_commit: LogIndex(self.u64("leader_commit")?),
                    read_round: self.u64("read_round")?,
                }
            }
            wire::TAG_APPEND_ENTRIES_RESPONSE => {
                let success = self.bool("success")?;
                let match_index = LogIndex(self.u64("match_index")?);
                let cat = self.pos;
                let conflict = match self.u8("conflict")? {
                    0 => None,
                    1 => Some(Conflict {
                        term: self.opt_u64("conflict term")?.map(Term),
                        first_index: LogIndex(self.u64("conflict first_index")?),
                        last_index: LogIndex(self.u64("conflict last_index")?),
                    }),
                    tag => return Err(DecodeError::BadTag { what: "conflict", tag, at: cat }),
                };
                MessageBody::AppendEntriesResponse {
                    success,
                    match_index,
                    conflict,
                    read_round: self.u64("read_round")?,
                }
            }
            wire::TAG_INSTALL_SNAPSHOT => MessageBody::InstallSnapshot { snapshot: self.snapshot()? },
            wire::TAG_INSTALL_SNAPSHOT_RESPONSE => {
                MessageBody::InstallSnapshotResponse { last_index: LogIndex(self.u64("last_index")?) }
            }
            wire::TAG_TIMEOUT_NOW => MessageBody::TimeoutNow,
            tag => return Err(DecodeError::BadTag { what: "message kind", tag, at }),
        };
        Ok(Message { from, to, term, body })
    }
}

/// Encodes one message as a transport frame payload.
pub fn encode_message(m: &Message) -> Vec<u8> {
    let mut e = Encoder::new();
    e.message(m);
    e.buf
}

/// Decodes one transport frame payload; the whole payload must be one message.
pub fn decode_message(buf: &[u8]) -> Result<Message, DecodeError> {
    let mut d = Decoder::new(buf);
    let m = d.message()?;
    d.finish()?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u64, t: u64, cmd: Option<&[u8]>) -> Entry {
        Entry {
            term: Term(t),
            index: LogIndex(i),
            payload: cmd.map_or(Payload::Noop, |c| Payload::Command(c.to_vec())),
        }
    }

    fn every_message() -> Vec<Message> {
        let bodies = vec![
            MessageBody::RequestVote { pre_vote: true, last_log_index: LogIndex(7), last_log_term: Term(3) },
            MessageBody::RequestVoteResponse { pre_vote: false, granted: true },
            MessageBody::AppendEntries {
                prev_log_index: LogIndex(4),
                prev_log_term: Term(2),
                entries: vec![entry(5, 2, None), entry(6, 3, Some(b"{\"op\":\"put\"}"))],
                leader_commit: LogIndex(4),
                read_round: 9,
            },
            MessageBody::AppendEntriesResponse {
                success: false,
                match_index: LogIndex(0),
                conflict: Some(Conflict {
                    term: Some(Term(2)),
                    first_index: LogIndex(3),
                    last_index: LogIndex(8),
                }),
                read_round: 1,
            },
            MessageBody::AppendEntriesResponse {
                success: true,
                match_index: LogIndex(6),
                conflict: None,
                read_round: 0,
            },
            MessageBody::InstallSnapshot {
                snapshot: Snapshot { last_index: LogIndex(100), last_term: Term(4), data: vec![1, 2, 3] },
            },
            MessageBody::InstallSnapshotResponse { last_index: LogIndex(100) },
            MessageBody::TimeoutNow,
        ];
        bodies
            .into_iter()
            .map(|body| Message { from: NodeId(1), to: NodeId(2), term: Term(5), body })
            .collect()
    }

    #[test]
    fn every_message_kind_round_trips() {
        for m in every_message() {
            let bytes = encode_message(&m);
            assert_eq!(decode_message(&bytes), Ok(m));
        }
    }

    /// Faultline's proxy finds a frame's kind at a fixed offset (`raft::wire`); the codec must put it there.
    #[test]
    fn the_tag_sits_where_raft_wire_says() {
        let mut tags = std::collections::BTreeSet::new();
        for m in every_message() {
            let payload = encode_message(&m);
            let mut frame = (payload.len() as u32).to_le_bytes().to_vec();
            frame.extend_from_slice(&payload);
            assert_eq!(wire::frame_tag(&frame), Some(wire::tag(&m.body)), "{m:?}");
            tags.insert(wire::tag(&m.body));
        }
        assert_eq!(tags.len(), 7, "every kind has its own tag");
    }

    #[test]
    fn every_truncation_of_every_message_is_an_error_not_a_panic() {
        for m in every_message() {
            let bytes = encode_message(&m);
            for cut in 0..bytes.len() {
                assert!(decode_message(&bytes[..cut]).is_err(), "cut at {cut} of {m:?}");
            }
        }
    }

    #[test]
    fn trailing_bytes_and_bad_tags_are_rejected() {
        let m = Message { from: NodeId(1), to: NodeId(2), term: Term(1), body: MessageBody::TimeoutNow };
        let mut bytes = encode_message(&m);
        bytes.push(0);
        assert_eq!(decode_message(&bytes), Err(DecodeError::Trailing { extra: 1 }));
        bytes.pop();
        *bytes.last_mut().unwrap() = 99;
        assert!(matches!(decode_message(&bytes), Err(DecodeError::BadTag { tag: 99, .. })));
    }

    #[test]
    fn hard_state_and_snapshot_round_trip() {
        let hs = HardState { term: Term(3), vote: Some(NodeId(2)), commit: LogIndex(9) };
        let snap = Snapshot { last_index: LogIndex(9), last_term: Term(3), data: b"image".to_vec() };
        let mut e = Encoder::new();
        e.hard_state(&hs);
        e.snapshot(&snap);
        let mut d = Decoder::new(&e.buf);
        assert_eq!(d.hard_state(), Ok(hs));
        assert_eq!(d.snapshot(), Ok(snap));
        assert_eq!(d.finish(), Ok(()));
    }
}
