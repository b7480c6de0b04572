//! The nemesis's memory of roles: who led before, who just won, who just came back, and how long
//! this cluster takes to elect a leader.
//!
//! A composed schedule says "partition, then kill *the new leader*" or "restart the node that *just
//! restarted*" without knowing which node that will be: targets are resolved when the fault fires
//! ([`crate::Target::resolve`]) against a [`View`] that this history builds from what the harness saw
//! (leader sightings from its status polls) and did (faults fired, nodes restarted). It is pure: the
//! harness feeds it sightings with run-relative times, and the tests feed it a simulated clock.
//!
//! It also measures elections. Steps of a composed sequence are spaced in election timeouts
//! ([`crate::ScheduledFault::after`]), and what one election takes is measured from the run's own
//! elections: the time between the last sighting of a leader and the first sighting of its successor
//! (a new node, or the same node at a higher term). The polls are a fraction of a second apart, so
//! one sample is coarse; the estimate is the median of the samples, kept within a factor of the
//! configured timeout so that one stall of the harness cannot stretch a whole schedule.

use crate::generator::Nanos;
use crate::topology::View;

/// One leadership as the harness saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leadership {
    pub node: String,
    pub term: u64,
    /// When it was first seen.
    pub since: Nanos,
    /// When it was last seen.
    pub last_seen: Nanos,
}

/// What the nemesis remembers about roles; see the module documentation.
#[derive(Clone, Debug, Default)]
pub struct RoleHistory {
    /// Leaderships in the order they were first seen.
    leaders: Vec<Leadership>,
    /// Whether the last sighting found a leader (the last of `leaders`).
    leading_now: bool,
    /// When the previous fault fired.
    last_fault_at: Option<Nanos>,
    /// The node restarted or continued most recently.
    restarted: Option<String>,
    /// Measured election times.
    elections: Vec<Nanos>,
    /// The node whose event ended the last wait for one, and the other node it named.
    triggered: Option<String>,
    triggered_peer: Option<String>,
}

impl RoleHistory {
    pub fn new() -> RoleHistory {
        RoleHistory::default()
    }

    /// A look at the cluster at `at`: `leader` is the node that leads and its term (None: nobody
    /// answered as leader). A sighting of a lower term than the last leadership's is an old
    /// leader that has not heard the news yet, and is ignored.
    pub fn observe(&mut self, at: Nanos, leader: Option<(&str, u64)>) {
        let Some((node, term)) = leader else {
            self.leading_now = false;
            return;
        };
        match self.leaders.last_mut() {
            Some(last) if last.node == node && last.term == term => {
                last.last_seen = last.last_seen.max(at);
                self.leading_now = true;
            }
            Some(last) if term < last.term => {}
            last => {
                if let Some(prev) = last {
                    self.elections.push(at.saturating_sub(prev.last_seen));
                }
                self.leaders.push(Leadership { node: node.to_string(), term, since: at, last_seen: at });
                self.leading_now = true;
            }
        }
    }

    /// The first election of the run took `took` (from starting the nodes to a leader).
    pub fn first_election(&mut self, took: Nanos) {
        self.elections.push(took);
    }

    /// A fault fired at `at`.
    pub fn fault_fired(&mut self, at: Nanos) {
        self.last_fault_at = Some(at);
    }

    /// The nemesis restarted or continued `node`.
    pub fn restarted(&mut self, node: &str) {
        self.restarted = Some(node.to_string());
    }

    /// A wait for an event ended with `node`'s event, which named `peer` (None: it ended unmet).
    pub fn triggered(&mut self, node: Option<&str>, peer: Option<&str>) {
        self.triggered = node.map(str::to_string);
        self.triggered_peer = peer.map(str::to_string);
    }

    /// The current leader, if the last sighting found one.
    pub fn leader(&self) -> Option<&str> {
        self.leaders.last().filter(|_| self.leading_now).map(|l| l.node.as_str())
    }

    /// The last leader before the current one; with no leader now, the last one known.
    pub fn previous_leader(&self) -> Option<&str> {
        let current = self.leader();
        self.leaders.iter().rev().map(|l| l.node.as_str()).find(|n| Some(*n) != current)
    }

    /// The current leader if it won after the previous fault fired.
    pub fn new_leader(&self) -> Option<&str> {
        let last = self.leaders.last().filter(|_| self.leading_now)?;
        match self.last_fault_at {
            Some(t) if last.since >= t => Some(last.node.as_str()),
            _ => None,
        }
    }

    /// Every leadership seen so far, in order.
    pub fn leaderships(&self) -> &[Leadership] {
        &self.leaders
    }

    /// The view targets are resolved against, with the harness's `laggard`.
    pub fn view<'a>(&'a self, laggard: Option<&'a str>) -> View<'a> {
        View {
            leader: self.leader(),
            laggard,
            previous_leader: self.previous_leader(),
            new_leader: self.new_leader(),
            restarted: self.restarted.as_deref(),
            triggered: self.triggered.as_deref(),
            triggered_peer: self.triggered_peer.as_deref(),
        }
    }

    /// What one election takes in this run: the median measured election, within half and four
    /// times `configured` (the system's configured election timeout); `configured` before any
    /// election was measured.
    pub fn election_time(&self, configured: Nanos) -> Nanos {
        if self.elections.is_empty() {
            return configured;
        }
        let mut e = self.elections.clone();
        e.sort_unstable();
        e[e.len() / 2].clamp(configured / 2, configured.saturating_mul(4))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Nanos = 1_000_000;

    #[test]
    fn previous_and_new_leaders_follow_the_sightings_and_the_faults() {
        let mut h = RoleHistory::new();
        h.observe(0, Some(("n1", 1)));
        h.observe(250 * MS, Some(("n1", 1)));
        assert_eq!((h.leader(), h.previous_leader(), h.new_leader()), (Some("n1"), None, None));
        // A partition fires; the old leader still answers as leader of term 1 for a while, the
        // majority elects n3 at term 2.
        h.fault_fired(300 * MS);
        h.observe(500 * MS, Some(("n3", 2)));
        h.observe(600 * MS, Some(("n1", 1)));
        let v = h.view(Some("n4"));
        assert_eq!(v.leader, Some("n3"));
        assert_eq!(v.previous_leader, Some("n1"));
        assert_eq!(v.new_leader, Some("n3"), "n3 won after the partition");
        assert_eq!(v.laggard, Some("n4"));
        // The next fault (kill the new leader) fires; n3 no longer won *after the previous fault*.
        h.fault_fired(700 * MS);
        assert_eq!(h.new_leader(), None);
        // Nobody leads: the previous leader is the last one known.
        h.observe(800 * MS, None);
        assert_eq!((h.leader(), h.previous_leader()), (None, Some("n3")));
        h.observe(1000 * MS, Some(("n3", 3)));
        assert_eq!(h.new_leader(), Some("n3"), "re-elected at a higher term counts as a win");
        assert_eq!(h.previous_leader(), Some("n1"));
        h.restarted("n2");
        assert_eq!(h.view(None).restarted, Some("n2"));
    }

    #[test]
    fn elections_are_measured_from_the_last_sighting_of_the_old_leader() {
        let mut h = RoleHistory::new();
        assert_eq!(h.election_time(150 * MS), 150 * MS);
        h.first_election(400 * MS);
        h.observe(1000 * MS, Some(("n1", 1)));
        h.observe(1250 * MS, Some(("n1", 1)));
        h.observe(1500 * MS, None);
        h.observe(1750 * MS, Some(("n2", 2)));
        h.observe(2000 * MS, Some(("n2", 2)));
        h.observe(2250 * MS, Some(("n4", 3)));
        // Samples: 400 (start), 1000 (first sighting after start counts from nothing: none), 500, 250.
        assert_eq!(h.leaderships().len(), 3);
        assert_eq!(h.election_time(150 * MS), 400 * MS);
        // Clamped to four configured timeouts.
        h.first_election(10_000 * MS);
        h.first_election(10_000 * MS);
        h.first_election(10_000 * MS);
        assert_eq!(h.election_time(150 * MS), 600 * MS);
    }
}
