//! The in-memory replicated log: the entries after the latest snapshot, with index arithmetic across
//! the snapshot offset (§7).
//!
//! Index `i` lives at `entries[i - snapshot_index - 1]`; every lookup goes through [`RaftLog::term`] or
//! [`RaftLog::entry`] so the offset is handled in one place. The log also remembers which suffix has not
//! yet been handed to the shell for persistence (`unstable_from`) and how far the shell has confirmed it
//! durable (`persisted`): a leader counts itself towards a commit quorum only for durable entries.

use crate::types::{Entry, LogIndex, Snapshot, Term};

#[derive(Debug, Clone)]
pub(crate) struct RaftLog {
    /// The latest snapshot, kept whole so a leader can send it to a follower that is too far behind.
    pub snapshot: Option<Snapshot>,
    pub snapshot_index: LogIndex,
    pub snapshot_term: Term,
    entries: Vec<Entry>,
    /// Highest index known to be committed (Figure 2, `commitIndex`).
    pub commit: LogIndex,
    /// First index not yet handed to the shell in a `Ready`.
    pub unstable_from: LogIndex,
    /// Highest index the shell has made durable.
    pub persisted: LogIndex,
}

impl RaftLog {
    /// A log restored from storage; everything in it is durable already.
    pub fn restore(snapshot: Option<Snapshot>, entries: Vec<Entry>, commit: LogIndex) -> RaftLog {
        let (snapshot_index, snapshot_term) =
            snapshot.as_ref().map_or((LogIndex(0), Term(0)), |s| (s.last_index, s.last_term));
        let mut log = RaftLog {
            snapshot,
            snapshot_index,
            snapshot_term,
            entries,
            commit,
            unstable_from: LogIndex(0),
            persisted: LogIndex(0),
        };
        log.unstable_from = log.last_index().next();
        log.persisted = log.last_index();
        log
    }

    pub fn last_index(&self) -> LogIndex {
        LogIndex(self.snapshot_index.0 + self.entries.len() as u64)
    }

    pub fn last_term(&self) -> Term {
        self.entries.last().map_or(self.snapshot_term, |e| e.term)
    }

    /// The term of the entry at `index`, if the log still knows it (the snapshot's last entry counts).
    pub fn term(&self, index: LogIndex) -> Option<Term> {
        if index == self.snapshot_index {
            return Some(self.snapshot_term);
        }
        self.entry(index).map(|e| e.term)
    }

    pub fn entry(&self, index: LogIndex) -> Option<&Entry> {
        if index <= self.snapshot_index {
            return None;
        }
        let pos = usize::try_from(index.0 - self.snapshot_index.0 - 1).ok()?;
        self.entries.get(pos)
    }

    /// Entries `from..=to`, clipped to what the log holds.
    pub fn slice(&self, from: LogIndex, to: LogIndex) -> &[Entry] {
        let from = from.max(self.snapshot_index.next());
        let to = to.min(self.last_index());
        if from > to {
            return &[];
        }
        let lo = (from.0 - self.snapshot_index.0 - 1) as usize;
        let hi = (to.0 - self.snapshot_index.0) as usize;
        &self.entries[lo..hi]
    }

    /// Appends one entry; its index must be the next one.
    pub fn append(&mut self, entry: Entry) {
        assert_eq!(entry.index, self.last_index().next(), "log append out of order: {entry:?}");
        self.entries.push(entry);
    }

    /// Drops every entry from `index` on (a follower resolving a conflict, §5.3).
    pub fn truncate_from(&mut self, index: LogIndex) {
        assert!(index > self.snapshot_index, "cannot truncate into the snapshot at {index}");
        self.entries.truncate((index.0 - self.snapshot_index.0 - 1) as usize);
        self.unstable_from = self.unstable_from.min(index);
        self.persisted = self.persisted.min(index.prev());
    }

    /// The first index of the run of entries that share the term of the entry at `index` (fast backup:
    /// the follower tells the leader where its conflicting term starts). Bounded by the snapshot.
    pub fn first_index_of_term_at(&self, index: LogIndex) -> LogIndex {
        let Some(term) = self.term(index) else { return index };
        let mut first = index;
        while first.prev() > self.snapshot_index && self.term(first.prev()) == Some(term) {
            first = first.prev();
        }
        first.max(self.snapshot_index.next())
    }

    /// The last index holding an entry of `term`, if the log has one (terms never decrease along the log,
    /// so a binary search finds it).
    pub fn last_index_of_term(&self, term: Term) -> Option<LogIndex> {
        let after = self.entries.partition_point(|e| e.term <= term);
        if after > 0 && self.entries[after - 1].term == term {
            return Some(self.entries[after - 1].index);
        }
        (after == 0 && self.snapshot_term == term && self.snapshot_index.0 > 0).then_some(self.snapshot_index)
    }

    /// §5.4.1: a candidate's log is at least as up to date as ours if its last term is higher, or the
    /// same with an index at least as high.
    pub fn is_up_to_date(&self, last_index: LogIndex, last_term: Term) -> bool {
        last_term > self.last_term() || (last_term == self.last_term() && last_index >= self.last_index())
    }

    /// Replaces the prefix up to `snapshot.last_index` by the snapshot, keeping the entries after it
    /// (§7: the application took a snapshot of applied state, or a follower received one that matches
    /// its log).
    pub fn compact(&mut self, snapshot: Snapshot) {
        let keep_from = (snapshot.last_index.0 - self.snapshot_index.0) as usize;
        self.entries.drain(..keep_from.min(self.entries.len()));
        self.snapshot_index = snapshot.last_index;
        self.snapshot_term = snapshot.last_term;
        self.snapshot = Some(snapshot);
        self.commit = self.commit.max(self.snapshot_index);
        self.unstable_from = self.unstable_from.max(self.snapshot_index.next());
    }

    /// Replaces the whole log by a snapshot that does not match it (§7: "discard the entire log").
    pub fn reset(&mut self, snapshot: Snapshot) {
        self.entries.clear();
        self.snapshot_index = snapshot.last_index;
        self.snapshot_term = snapshot.last_term;
        self.snapshot = Some(snapshot);
        self.commit = self.commit.max(self.snapshot_index);
        self.unstable_from = self.snapshot_index.next();
        self.persisted = self.persisted.min(self.snapshot_index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Payload;

    fn e(index: u64, term: u64) -> Entry {
        Entry { index: LogIndex(index), term: Term(term), payload: Payload::Noop }
    }

    fn snap(index: u64, term: u64) -> Snapshot {
        Snapshot { last_index: LogIndex(index), last_term: Term(term), data: vec![] }
    }

    #[test]
    fn indexes_stay_correct_across_the_snapshot_offset() {
        let mut log = RaftLog::restore(Some(snap(5, 2)), vec![e(6, 2), e(7, 3), e(8, 3)], LogIndex(5));
        assert_eq!(log.last_index(), LogIndex(8));
        assert_eq!(log.term(LogIndex(5)), Some(Term(2)));
        assert_eq!(log.term(LogIndex(4)), None);
        assert_eq!(log.term(LogIndex(9)), None);
        assert_eq!(log.entry(LogIndex(7)).map(|x| x.term), Some(Term(3)));
        assert_eq!(log.slice(LogIndex(1), LogIndex(7)).len(), 2);
        assert_eq!(log.first_index_of_term_at(LogIndex(8)), LogIndex(7));
        assert_eq!(log.first_index_of_term_at(LogIndex(6)), LogIndex(6));
        assert_eq!(log.last_index_of_term(Term(2)), Some(LogIndex(6)));
        assert_eq!(log.last_index_of_term(Term(3)), Some(LogIndex(8)));
        assert_eq!(log.last_index_of_term(Term(1)), None);
        log.compact(snap(7, 3));
        assert_eq!(log.last_index(), LogIndex(8));
        assert_eq!(log.slice(LogIndex(1), LogIndex(9)), &[e(8, 3)]);
        assert_eq!(log.last_index_of_term(Term(3)), Some(LogIndex(8)));
        log.truncate_from(LogIndex(8));
        assert_eq!(log.last_index(), LogIndex(7));
        assert_eq!(log.last_index_of_term(Term(3)), Some(LogIndex(7)));
        assert_eq!(log.unstable_from, LogIndex(8));
        assert_eq!(log.persisted, LogIndex(7));
    }

    #[test]
    fn up_to_date_compares_last_term_then_last_index() {
        let log = RaftLog::restore(None, vec![e(1, 1), e(2, 2)], LogIndex(0));
        assert!(log.is_up_to_date(LogIndex(1), Term(3)));
        assert!(log.is_up_to_date(LogIndex(2), Term(2)));
        assert!(!log.is_up_to_date(LogIndex(1), Term(2)));
        assert!(!log.is_up_to_date(LogIndex(9), Term(1)));
    }
}
