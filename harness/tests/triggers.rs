//! The nemesis's waits for an election event, on a real raft-node cluster: a step that waits for a
//! vote to be granted ends when a node logs one, and the step after it, aimed at `triggered`, hits
//! exactly that voter; a wait for an event that never comes ends unmet and the run goes on.
//!
//! Runs on the netns backend as root and on loopback otherwise (no capability is needed).

mod common;

use common::{raft_run, read_json, run_schedule};
use workloads::{Event, Fault, FaultKind, NemesisSpec, ScheduledFault, Target, WorkloadOptions};

const SECOND: u64 = 1_000_000_000;

/// One cluster at a time: runs compete for the two cores otherwise.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run(store: &std::path::Path, schedule: Vec<ScheduledFault>, seed: u64) -> harness::run::RunSummary {
    let mut c = raft_run(store, 3, 6, seed);
    c.workload_options = WorkloadOptions { read_weight: 1, write_weight: 2, ..Default::default() };
    c.nemesis = NemesisSpec {
        kinds: vec![FaultKind::Kill],
        interval: SECOND,
        message_types: Vec::new(),
        composed: true,
    };
    c.concurrency = 4;
    run_schedule(c, schedule)
}

/// The nemesis `info` events of the run, in order: `(f, value)`.
fn executed(summary: &harness::run::RunSummary) -> Vec<(String, serde_json::Value)> {
    let test = read_json(&summary.dir.path().join("test.json"));
    test["outcome"]["executed"]
        .as_array()
        .expect("executed faults recorded")
        .iter()
        .map(|e| (e["f"].as_str().unwrap_or_default().to_string(), e["value"].clone()))
        .collect()
}

fn step(after: f64, fault: Fault) -> ScheduledFault {
    ScheduledFault { at: 0, fault, after: Some(after) }
}

#[test]
fn a_kill_aimed_at_the_triggered_node_hits_the_voter_that_just_granted_its_vote() {
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let store = tempfile::tempdir().unwrap();
    let schedule = vec![
        ScheduledFault::at(2 * SECOND, Fault::Kill { target: Target::Leader }),
        step(0.0, Fault::Await { event: Event::VoteGranted, within: 20.0 }),
        step(0.0, Fault::Kill { target: Target::Triggered }),
        step(0.1, Fault::Restart { target: Target::All }),
        ScheduledFault::at(6 * SECOND, Fault::Heal),
    ];
    let summary = run(store.path(), schedule, 7);
    let done = executed(&summary);
    let (_, wait) = done.iter().find(|(f, _)| f == "await").expect("the wait is recorded");
    let voter = wait["node"].as_str().unwrap_or_else(|| panic!("the wait ended unmet: {wait}"));
    assert_eq!(wait["event"], "vote-granted");
    let what = wait["what"].as_str().unwrap();
    assert!(what.starts_with("vote for n"), "{what}");
    // The kill right after it hit that voter, and no other node.
    let after: Vec<&(String, serde_json::Value)> =
        done.iter().skip_while(|(f, _)| f != "await").skip(1).collect();
    let (f, kill) = after.first().expect("a step after the wait");
    assert_eq!(f, "kill");
    assert_eq!(kill["target"], "triggered");
    let hit: Vec<&str> = kill["nodes"].as_array().unwrap().iter().filter_map(|n| n["node"].as_str()).collect();
    assert_eq!(hit, [voter], "{kill}");
    assert!(kill.get("indeterminate").is_none(), "{kill}");
    // The voter's own log says it granted that vote.
    let log = std::fs::read_to_string(summary.dir.path().join("nodes").join(voter).join("stderr.log")).unwrap();
    let term = what.rsplit(' ').next().unwrap();
    let candidate = what.split(' ').nth(2).unwrap();
    let line = format!("vote node={voter} candidate={candidate} term={term} granted=true");
    assert!(log.contains(&line), "{line} not in {voter}'s log");
    let results = summary.results.as_ref().expect("the run was checked");
    assert_eq!(results.verdict, checker::Verdict::Valid, "{}", summary.dir.path().display());
}

#[test]
fn a_wait_for_an_event_that_never_comes_ends_unmet_and_the_run_goes_on() {
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let store = tempfile::tempdir().unwrap();
    // A healthy cluster elects nobody new: no node stands for election within the wait (a few
    // milliseconds, so that a stray election on a loaded machine cannot end it).
    let schedule = vec![
        ScheduledFault::at(2 * SECOND, Fault::Await { event: Event::Candidate, within: 0.05 }),
        step(0.0, Fault::Kill { target: Target::Triggered }),
        step(0.5, Fault::Restart { target: Target::All }),
        ScheduledFault::at(6 * SECOND, Fault::Heal),
    ];
    let summary = run(store.path(), schedule, 8);
    let done = executed(&summary);
    let (_, wait) = done.iter().find(|(f, _)| f == "await").expect("the wait is recorded");
    let skipped = wait["skipped"].as_str().unwrap_or_else(|| panic!("the wait was met: {wait}"));
    assert!(skipped.contains("no node reported candidate within 0.05 elections"), "{skipped}");
    // The kill still fired, on a node drawn at random, and says so.
    let (_, kill) = done.iter().find(|(f, _)| f == "kill").expect("the kill after the wait");
    assert!(kill["indeterminate"].as_str().is_some(), "{kill}");
    let results = summary.results.as_ref().expect("the run was checked");
    assert_eq!(results.verdict, checker::Verdict::Valid, "{}", summary.dir.path().display());
}
