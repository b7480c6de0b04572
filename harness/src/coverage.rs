//! Coverage of a distributed run: what `faultline explore` counts as "reached something new".
//!
//! A fuzzer of sequential programs counts branches; a cluster's code is not ours to instrument, but
//! its observable protocol state is. Following Mallory (Meng et al., "Greybox Fuzzing of Distributed
//! Systems", CCS 2023), a run's behaviour is abstracted into a set of small facts about its timeline,
//! each an event or a happens-before pair of events, and a run is interesting when it adds a fact no
//! earlier run had. Mallory builds Lamport timelines from instrumented nodes; the harness sees less
//! (status polls four times a second, the faults it fired, what the proxy dropped, the committed
//! logs it follows), so the facts here are the ones those sources support:
//!
//! - role transitions of each node (`follower>candidate`, `leader>follower`, ...) and term jumps;
//! - the leader changes that followed each fault (`kill/new-leader>lc:2`), and the same keyed by the
//!   fault before it (`partition/leader-minority>kill/new-leader>lc:1`): Mallory's happens-before
//!   summaries, cut down to "this fault, after that one, led to this much election churn";
//! - leaders that kept leading at an older term while another node led a newer one (the window a
//!   stale read needs), two nodes leading one term, and the longest time without a leader;
//! - log truncations (a node's last index going down: uncommitted entries replaced) and committed
//!   entries replaced (the log watcher's `log-changes.json`);
//! - messages dropped by kind (appends, votes) and how many client operations ended unknown;
//! - where the nodes log their elections ([`crate::elections`], raft-node's core): terms with two
//!   or more candidates, a voter restarted while its term was still contested, a vote granted twice
//!   in one term. The polls are too slow to see these; they are what a forgotten vote needs.
//!
//! Counts are bucketed as AFL buckets its hit counts (1, 2, 3, 4-7, 8-15, ...), so "one more
//! election" is not new but "twice as many" is. Everything here is a pure function of the parsed run.

use crate::proxy::DroppedMessages;
use crate::store::ExecutedFault;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// One `/status` answer from `status.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Poll {
    /// Nanoseconds since the start of the run.
    pub time: u64,
    pub node: String,
    pub role: String,
    pub term: u64,
    pub last_index: u64,
}

/// Reads `status.jsonl` (lines that are not status answers are skipped: the file may end torn).
pub fn parse_polls(text: &str) -> Vec<Poll> {
    text.lines()
        .filter_map(|line| {
            let v: Value = serde_json::from_str(line).ok()?;
            let s = &v["status"];
            Some(Poll {
                time: v["time"].as_u64()?,
                node: v["node"].as_str()?.to_string(),
                role: s["role"].as_str().unwrap_or("unknown").to_string(),
                term: s["term"].as_u64().unwrap_or(0),
                last_index: s["last_index"].as_u64().unwrap_or(0),
            })
        })
        .collect()
}

/// Everything of a run the signature is drawn from.
#[derive(Clone, Debug, Default)]
pub struct Observed<'a> {
    pub polls: &'a [Poll],
    /// The nemesis's executed faults (`test.json`'s `outcome.executed`).
    pub faults: &'a [ExecutedFault],
    /// Committed entries that some node later replaced.
    pub replaced_committed: usize,
    pub dropped: Option<DroppedMessages>,
    /// Client operations that ended unknown (`info`).
    pub infos: u64,
    /// Election events from the nodes' logs (none for systems that log none).
    pub elections: &'a [crate::elections::ElectionEvent],
}

/// AFL's hit-count buckets.
pub fn bucket(n: u64) -> &'static str {
    match n {
        0 => "0",
        1 => "1",
        2 => "2",
        3 => "3",
        4..=7 => "4-7",
        8..=15 => "8-15",
        16..=31 => "16-31",
        32..=127 => "32-127",
        _ => "128+",
    }
}

/// A fault as a short label: its name and what it aimed at (`kill/new-leader`,
/// `partition/leader-minority`, `drop/appends`), with `?` when it was skipped or indeterminate.
pub fn fault_label(f: &ExecutedFault) -> String {
    let v = &f.value;
    let aim = v["target"]
        .as_str()
        .or_else(|| v["messages"].as_str())
        .or_else(|| v["topology"].as_str())
        .map(|a| format!("/{a}"))
        .unwrap_or_default();
    let unsure = if v.get("skipped").is_some() || v.get("indeterminate").is_some() { "?" } else { "" };
    format!("{}{aim}{unsure}", f.f)
}

/// Poll rounds: polls less than 100 ms apart belong to one look at the cluster.
fn rounds(polls: &[Poll]) -> Vec<Vec<&Poll>> {
    let mut sorted: Vec<&Poll> = polls.iter().collect();
    sorted.sort_by_key(|p| p.time);
    let mut out: Vec<Vec<&Poll>> = Vec::new();
    for p in sorted {
        match out.last_mut() {
            Some(r) if p.time.saturating_sub(r[0].time) < 100_000_000 => r.push(p),
            _ => out.push(vec![p]),
        }
    }
    out
}

/// The behaviour of one run as a set of facts; see the module documentation.
pub fn signature(o: &Observed<'_>) -> BTreeSet<String> {
    let mut facts = BTreeSet::new();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut count = |k: String| *counts.entry(k).or_default() += 1;

    // Per node: role transitions, term jumps, truncations.
    let mut by_node: BTreeMap<&str, Vec<&Poll>> = BTreeMap::new();
    for p in o.polls {
        by_node.entry(p.node.as_str()).or_default().push(p);
    }
    for polls in by_node.values_mut() {
        polls.sort_by_key(|p| p.time);
        for w in polls.windows(2) {
            let (a, b) = (w[0], w[1]);
            if a.role != b.role {
                count(format!("role:{}>{}", a.role, b.role));
            }
            if b.term > a.term {
                facts.insert(format!("term-jump:{}", bucket(b.term - a.term)));
            }
            if b.last_index < a.last_index {
                count(format!("truncate:{}", b.role));
            }
        }
    }

    // Per round: who leads, stale leaders, two leaders of one term, leaderless streaks.
    let mut leaders: Vec<(u64, Option<(String, u64)>)> = Vec::new();
    let mut leaderless = 0u64;
    let mut longest_leaderless = 0u64;
    let mut max_term = 0;
    let mut seen_leaders: BTreeMap<u64, BTreeSet<&str>> = BTreeMap::new();
    for r in rounds(o.polls) {
        let top = r.iter().filter(|p| p.role == "leader").max_by_key(|p| p.term);
        let newest = r.iter().map(|p| p.term).max().unwrap_or(0);
        max_term = max_term.max(newest);
        for p in r.iter().filter(|p| p.role == "leader") {
            seen_leaders.entry(p.term).or_default().insert(p.node.as_str());
            if top.is_some_and(|t| t.term > p.term) {
                count("stale-leader-beside-new".into());
            } else if p.term < newest {
                count("stale-leader".into());
            }
        }
        if top.is_none() {
            leaderless += 1;
            longest_leaderless = longest_leaderless.max(leaderless);
        } else {
            leaderless = 0;
        }
        leaders.push((r[0].time, top.map(|t| (t.node.clone(), t.term))));
    }
    facts.insert(format!("max-term:{}", bucket(max_term)));
    facts.insert(format!("leaderless-rounds:{}", bucket(longest_leaderless)));
    if seen_leaders.values().any(|l| l.len() > 1) {
        facts.insert("two-leaders-one-term".into());
    }
    facts.insert(format!("leaderships:{}", bucket(seen_leaders.values().map(|l| l.len() as u64).sum())));

    // Leader changes after each fault, alone and after the fault before it.
    let changes_between = |from: u64, to: u64| -> u64 {
        let mut last: Option<&(String, u64)> = None;
        let mut n = 0;
        for (t, l) in &leaders {
            let Some(l) = l else { continue };
            if *t >= from && *t < to && last.is_some_and(|p| p != l) {
                n += 1;
            }
            if *t < to {
                last = Some(l);
            }
        }
        n
    };
    let faults: Vec<&ExecutedFault> = o.faults.iter().collect();
    for (i, f) in faults.iter().enumerate() {
        let next = faults.get(i + 1).map_or(u64::MAX, |n| n.time);
        let lc = bucket(changes_between(f.time, next));
        let label = fault_label(f);
        facts.insert(format!("{label}>lc:{lc}"));
        if i > 0 {
            facts.insert(format!("{}>{label}>lc:{lc}", fault_label(faults[i - 1])));
        }
    }

    for (k, n) in counts {
        facts.insert(format!("{k}:{}", bucket(n)));
    }
    if o.replaced_committed > 0 {
        facts.insert(format!("replaced-committed:{}", bucket(o.replaced_committed as u64)));
    }
    if let Some(d) = o.dropped {
        facts.insert(format!("dropped-appends:{}", bucket(d.appends)));
        facts.insert(format!("dropped-votes:{}", bucket(d.votes)));
    }
    facts.insert(format!("info-ops:{}", bucket(o.infos)));
    facts.extend(crate::elections::facts(o.elections));
    facts
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MS: u64 = 1_000_000;

    fn poll(time: u64, node: &str, role: &str, term: u64, last_index: u64) -> Poll {
        Poll { time: time * MS, node: node.into(), role: role.into(), term, last_index }
    }

    fn fault(time: u64, f: &str, value: Value) -> ExecutedFault {
        ExecutedFault { time: time * MS, f: f.into(), value }
    }

    #[test]
    fn status_lines_parse_and_torn_lines_are_skipped() {
        let text = concat!(
            r#"{"time":5,"node":"n1","status":{"role":"leader","term":2,"last_index":9}}"#,
            "\n",
            r#"{"time":6,"node":"n2","status":{"ro"#
        );
        assert_eq!(
            parse_polls(text),
            vec![Poll { time: 5, node: "n1".into(), role: "leader".into(), term: 2, last_index: 9 }]
        );
    }

    #[test]
    fn a_partition_that_strands_a_leader_reads_as_its_facts() {
        let polls = vec![
            poll(0, "n1", "leader", 1, 10),
            poll(1, "n2", "follower", 1, 10),
            poll(2, "n3", "follower", 1, 10),
            // Partitioned: n1 still leads term 1 while n2 leads term 2.
            poll(250, "n1", "leader", 1, 12),
            poll(251, "n2", "leader", 2, 11),
            poll(252, "n3", "follower", 2, 11),
            // Healed: n1 steps down and loses its uncommitted tail.
            poll(500, "n1", "follower", 2, 11),
            poll(501, "n2", "leader", 2, 11),
            poll(502, "n3", "follower", 2, 11),
        ];
        let faults = vec![
            fault(100, "partition", json!({"topology": "leader-minority", "cuts": []})),
            fault(400, "heal", json!({"network": true})),
        ];
        let sig = signature(&Observed { polls: &polls, faults: &faults, ..Observed::default() });
        for fact in [
            "role:follower>leader:1",
            "role:leader>follower:1",
            "truncate:follower:1",
            "stale-leader-beside-new:1",
            "partition/leader-minority>lc:1",
            "partition/leader-minority>heal>lc:0",
            "max-term:2",
            "term-jump:1",
        ] {
            assert!(sig.contains(fact), "{fact} not in {sig:#?}");
        }
        assert!(!sig.contains("two-leaders-one-term"));
        // The same run is nothing new; twice the truncations are.
        let again = signature(&Observed { polls: &polls, faults: &faults, ..Observed::default() });
        assert!(again.is_subset(&sig));
        let mut more = polls.clone();
        more.push(poll(750, "n3", "follower", 2, 3));
        let sig2 = signature(&Observed { polls: &more, faults: &faults, ..Observed::default() });
        assert!(sig2.contains("truncate:follower:2"), "{sig2:#?}");
    }

    #[test]
    fn dropped_messages_and_replaced_entries_are_facts() {
        let sig = signature(&Observed {
            dropped: Some(DroppedMessages { appends: 40, votes: 2 }),
            replaced_committed: 1,
            infos: 5,
            ..Observed::default()
        });
        for fact in ["dropped-appends:32-127", "dropped-votes:2", "replaced-committed:1", "info-ops:4-7"] {
            assert!(sig.contains(fact), "{fact} not in {sig:#?}");
        }
        let skipped = fault(1, "kill", json!({"target": "new-leader", "indeterminate": "no leader"}));
        assert_eq!(fault_label(&skipped), "kill/new-leader?");
        assert_eq!(
            fault_label(&fault(1, "drop", json!({"messages": "votes", "topology": "all-links"}))),
            "drop/votes"
        );
    }
}
