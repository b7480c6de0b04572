//! Elections as the nodes' own logs tell them: who stood as candidate in which term, who granted
//! whom, and when a process started. Coverage for `faultline explore` ([`crate::coverage`]).
//!
//! The status polls see a cluster four times a second; an election is over in milliseconds, so two
//! candidates of one term, or a voter that crashed between two requests of one term, never show in
//! them. Where a system logs its elections, those moments become facts the explorer can climb
//! towards (Mallory's instrumented timelines, from what the node already prints). Only raft-node's
//! core log lines are read here (`raft::raft`: `starting election node=n2 term=5 pre_vote=false`,
//! `vote node=n1 candidate=n2 term=5 granted=true`, `became leader node=n2 term=5`, `raft core
//! started node=n1`); a system that prints none of them contributes no election facts. The same
//! lines, followed live ([`crate::follow`]), end the nemesis's waits for an event
//! ([`workloads::Fault::Await`]).

use std::collections::{BTreeMap, BTreeSet};

/// One election event of one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElectionEvent {
    /// The line's leading RFC 3339 stamp (fixed width, so it orders as text); events of one node
    /// without a stamp keep their file order after the stamped ones before them.
    pub stamp: String,
    pub node: String,
    pub what: What,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum What {
    /// The process (re)started.
    Started,
    /// Stood for election in `term` (a real candidacy, not a pre-vote round).
    Candidate { term: u64 },
    /// Answered `candidate`'s vote request of `term`.
    Vote { term: u64, candidate: String, granted: bool },
    /// Became leader of `term`.
    Elected { term: u64 },
}

/// `key=value` of a log line's fields.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.split_whitespace().find_map(|w| w.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
}

/// The election events of one node's log (`node` names it; the log's own `node=` fields agree).
pub fn parse_log(node: &str, text: &str) -> Vec<ElectionEvent> {
    text.lines().filter_map(|line| parse_line(node, line)).collect()
}

/// The election event of one log line of `node`, if it is one.
pub fn parse_line(node: &str, line: &str) -> Option<ElectionEvent> {
    let term = || field(line, "term").and_then(|t| t.parse().ok());
    let what = if line.contains("raft core started") {
        What::Started
    } else if line.contains("starting election") && field(line, "pre_vote") == Some("false") {
        What::Candidate { term: term()? }
    } else if line.contains(" vote node=") {
        What::Vote {
            term: term()?,
            candidate: field(line, "candidate")?.to_string(),
            granted: field(line, "granted")?.parse().ok()?,
        }
    } else if line.contains("became leader") {
        What::Elected { term: term()? }
    } else {
        return None;
    };
    let stamp = line.split_whitespace().next().filter(|s| s.starts_with(|c: char| c.is_ascii_digit()));
    Some(ElectionEvent { stamp: stamp.unwrap_or_default().to_string(), node: node.to_string(), what })
}

impl What {
    /// A few words for the history: `vote for n3 in term 5`.
    pub fn describe(&self) -> String {
        match self {
            What::Started => "process started".into(),
            What::Candidate { term } => format!("candidate in term {term}"),
            What::Vote { term, candidate, granted: true } => format!("vote for {candidate} in term {term}"),
            What::Vote { term, candidate, granted: false } => {
                format!("vote refused to {candidate} in term {term}")
            }
            What::Elected { term } => format!("leader of term {term}"),
        }
    }

    /// The other node this event names: the candidate of a vote.
    pub fn peer(&self) -> Option<&str> {
        match self {
            What::Vote { candidate, .. } => Some(candidate),
            _ => None,
        }
    }

    /// The event a nemesis wait can be waiting for, if this is one.
    pub fn event(&self) -> Option<workloads::Event> {
        match self {
            What::Started | What::Vote { granted: false, .. } => None,
            What::Candidate { .. } => Some(workloads::Event::Candidate),
            What::Vote { granted: true, .. } => Some(workloads::Event::VoteGranted),
            What::Elected { .. } => Some(workloads::Event::Elected),
        }
    }
}

/// What the events say, as coverage facts: how many terms had two or more candidates, how often a
/// voter restarted after granting a vote while its term was still being contested (another node
/// stood or asked in that term after the restart), and a vote granted to two candidates of one
/// term (Election Safety's precondition; the run's check decides whether two leaders came of it).
pub fn facts(events: &[ElectionEvent]) -> BTreeSet<String> {
    let mut sorted: Vec<&ElectionEvent> = events.iter().collect();
    sorted.sort_by(|a, b| a.stamp.cmp(&b.stamp));
    let mut candidates: BTreeMap<u64, BTreeSet<&str>> = BTreeMap::new();
    let mut granted: BTreeMap<(&str, u64), BTreeSet<&str>> = BTreeMap::new();
    // (voter, term) granted, then restarted: waiting for a later event of that term elsewhere.
    let mut forgot: BTreeSet<(&str, u64)> = BTreeSet::new();
    let mut restarted_mid_term = BTreeSet::new();
    for e in &sorted {
        let term = match &e.what {
            What::Started => {
                for ((voter, term), _) in granted.iter().filter(|((v, _), _)| *v == e.node) {
                    forgot.insert((voter, *term));
                }
                continue;
            }
            What::Candidate { term } => {
                candidates.entry(*term).or_default().insert(&e.node);
                *term
            }
            What::Elected { term } => *term,
            What::Vote { term, candidate, granted: g } => {
                if *g {
                    granted.entry((&e.node, *term)).or_default().insert(candidate);
                }
                *term
            }
        };
        for (voter, t) in &forgot {
            if *t == term && *voter != e.node {
                restarted_mid_term.insert((*voter, *t));
            }
        }
    }
    let contested = candidates.values().filter(|c| c.len() > 1).count() as u64;
    let mut out = BTreeSet::new();
    if contested > 0 {
        out.insert(format!("contested-terms:{}", crate::coverage::bucket(contested)));
    }
    if !restarted_mid_term.is_empty() {
        out.insert(format!(
            "voter-restarted-mid-term:{}",
            crate::coverage::bucket(restarted_mid_term.len() as u64)
        ));
    }
    if granted.values().any(|c| c.len() > 1) {
        out.insert("vote-granted-twice-in-a-term".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(lines: &[&str]) -> String {
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    #[test]
    fn the_core_lines_parse_and_others_are_ignored() {
        let text = log(&[
            "2026-12-03T17:48:17.084509Z  INFO raft::raft: raft core started node=n1 term=0 last_index=0 commit=0",
            "2026-12-03T17:48:17.262436Z  INFO raft::raft: starting election node=n1 term=1 pre_vote=true",
            "2026-12-03T17:48:17.266000Z  INFO raft::raft: starting election node=n1 term=1 pre_vote=false",
            "2026-12-03T17:48:17.268763Z  INFO raft::raft: vote node=n1 candidate=n3 term=1 granted=true",
            "2026-12-03T17:48:17.268763Z  INFO raft::raft: vote node=n1 candidate=n3 term=x granted=true",
            "2026-12-03T17:48:17.269000Z  INFO raft::raft: became leader node=n1 term=2 noop_index=4",
            "some other line",
        ]);
        let e = parse_log("n1", &text);
        assert_eq!(e.len(), 4, "{e:?}");
        assert_eq!(e[3].what, What::Elected { term: 2 });
        assert_eq!(e[3].what.event(), Some(workloads::Event::Elected));
        assert_eq!(e[2].what.event(), Some(workloads::Event::VoteGranted));
        assert_eq!(e[0].what.event(), None);
        assert_eq!(e[0].what, What::Started);
        assert_eq!(e[1].what, What::Candidate { term: 1 });
        assert_eq!(e[2].what, What::Vote { term: 1, candidate: "n3".into(), granted: true });
        assert_eq!(e[2].stamp, "2026-12-03T17:48:17.268763Z");
    }

    #[test]
    fn a_voter_restarting_inside_a_contested_term_is_seen() {
        let n1 = log(&[
            "2026-12-03T10:00:00.100000Z  INFO raft::raft: vote node=n1 candidate=n2 term=4 granted=true",
            "2026-12-03T10:00:00.150000Z  INFO raft::raft: raft core started node=n1 term=4",
            "2026-12-03T10:00:00.200000Z  INFO raft::raft: vote node=n1 candidate=n3 term=4 granted=true",
        ]);
        let n2 = log(&[
            "2026-12-03T10:00:00.090000Z  INFO raft::raft: starting election node=n2 term=4 pre_vote=false",
        ]);
        let n3 = log(&[
            "2026-12-03T10:00:00.190000Z  INFO raft::raft: starting election node=n3 term=4 pre_vote=false",
        ]);
        let mut events = parse_log("n1", &n1);
        events.extend(parse_log("n2", &n2));
        events.extend(parse_log("n3", &n3));
        let f = facts(&events);
        for fact in ["contested-terms:1", "voter-restarted-mid-term:1", "vote-granted-twice-in-a-term"] {
            assert!(f.contains(fact), "{fact} not in {f:?}");
        }
        // The same voter restarting after the term was over is nothing.
        let quiet = log(&[
            "2026-12-03T10:00:00.100000Z  INFO raft::raft: vote node=n1 candidate=n2 term=4 granted=true",
            "2026-12-03T10:00:00.150000Z  INFO raft::raft: raft core started node=n1 term=4",
        ]);
        let mut events = parse_log("n1", &quiet);
        events.extend(parse_log("n2", &n2));
        assert!(facts(&events).is_empty(), "{:?}", facts(&events));
    }
}
