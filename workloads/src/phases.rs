//! The phases of a run, as data the harness walks through in order.
//!
//! Jepsen runs a test as phases separated by barriers: the main phase with clients and nemesis, then
//! the nemesis's final heal and a recovery wait, then final reads through every node. Keeping the plan
//! as a value lets the store record it and `repro` replay it.

use crate::generator::Nanos;
use serde::{Deserialize, Serialize};

/// One phase of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "kebab-case")]
pub enum Phase {
    /// Clients run the workload for `time_limit` while the nemesis follows its schedule.
    Run { time_limit: Nanos },
    /// Heal every fault, restart what is down, and wait up to `timeout` for a leader that every node
    /// agrees on.
    Recover { timeout: Nanos },
    /// Read every key the run touched from every node.
    FinalReads,
}

/// The standard plan: run, recover, final reads.
pub fn plan(time_limit: Nanos, recover_timeout: Nanos) -> Vec<Phase> {
    vec![Phase::Run { time_limit }, Phase::Recover { timeout: recover_timeout }, Phase::FinalReads]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_ends_with_recovery_then_final_reads() {
        let p = plan(10, 20);
        assert_eq!(p.len(), 3);
        assert!(matches!(p[1], Phase::Recover { timeout: 20 }));
        assert_eq!(p[2], Phase::FinalReads);
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains(r#""phase":"final-reads""#), "{json}");
    }
}
