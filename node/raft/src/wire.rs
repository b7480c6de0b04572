//! The layout of raft-node's peer frames, as far as anything outside the node needs to know it.
//!
//! raft-node's transport sends each [`Message`](crate::Message) as `[u32 little-endian length][payload]`,
//! and the payload starts with `from`, `to` and `term` (`u64` little-endian each) followed by one tag
//! byte naming the body's variant. The node's codec (`node/src/codec.rs`) writes and reads whole
//! messages with these constants; Faultline's fault proxy reads only the length and the tag, so it can
//! drop one kind of message on a link without decoding (or corrupting) the stream.

use crate::MessageBody;

/// Bytes of the length prefix in front of every payload.
pub const LEN_PREFIX: usize = 4;
/// Offset of the body's tag within a payload (after `from`, `to` and `term`).
pub const TAG_OFFSET: usize = 24;

pub const TAG_REQUEST_VOTE: u8 = 0;
pub const TAG_REQUEST_VOTE_RESPONSE: u8 = 1;
pub const TAG_APPEND_ENTRIES: u8 = 2;
pub const TAG_APPEND_ENTRIES_RESPONSE: u8 = 3;
pub const TAG_INSTALL_SNAPSHOT: u8 = 4;
pub const TAG_INSTALL_SNAPSHOT_RESPONSE: u8 = 5;
pub const TAG_TIMEOUT_NOW: u8 = 6;

/// The tag a body is encoded with.
pub fn tag(body: &MessageBody) -> u8 {
    match body {
        MessageBody::RequestVote { .. } => TAG_REQUEST_VOTE,
        MessageBody::RequestVoteResponse { .. } => TAG_REQUEST_VOTE_RESPONSE,
        MessageBody::AppendEntries { .. } => TAG_APPEND_ENTRIES,
        MessageBody::AppendEntriesResponse { .. } => TAG_APPEND_ENTRIES_RESPONSE,
        MessageBody::InstallSnapshot { .. } => TAG_INSTALL_SNAPSHOT,
        MessageBody::InstallSnapshotResponse { .. } => TAG_INSTALL_SNAPSHOT_RESPONSE,
        MessageBody::TimeoutNow => TAG_TIMEOUT_NOW,
    }
}

/// The tag of a whole frame (length prefix included), if the frame is long enough to have one.
pub fn frame_tag(frame: &[u8]) -> Option<u8> {
    frame.get(LEN_PREFIX + TAG_OFFSET).copied()
}
