//! A shrunk failing schedule as the explorer stores it (`shrunk.json` in the failing run's
//! directory) and as its report lists it. Its own module so that the explorer, which writes it, and
//! the report, which reads it, need not know each other.

use crate::store::{self, RunDir};
use serde::{Deserialize, Serialize};
use workloads::{Fault, ScheduledFault};

/// A shrunk failure, as stored in the failing run's `shrunk.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shrunk {
    pub original_faults: usize,
    pub faults: usize,
    /// Replays of `schedule` that reproduced the failure, of `replays`.
    pub reproduced: usize,
    pub replays: usize,
    /// Candidates tried.
    pub trials: usize,
    pub schedule: Vec<ScheduledFault>,
    /// A replay of `schedule` that reproduced it.
    pub example: Option<String>,
    /// The original's anomaly classes it was shrunk against.
    pub classes: Vec<String>,
}

/// One step of a schedule as the report lists it: `1.25s partition leader-minority`, with the
/// elections after the previous step for relative steps.
pub fn describe(f: &ScheduledFault) -> String {
    let what = match &f.fault {
        Fault::Partition { topology } => format!("partition {topology}"),
        Fault::Kill { target } => format!("kill {}", target.name()),
        Fault::Pause { target } => format!("pause {}", target.name()),
        Fault::Restart { target } => format!("restart {}", target.name()),
        Fault::Loss { topology, probability } => format!("loss {probability} on {topology}"),
        Fault::Latency { topology, delay_ms, jitter_ms: 0 } => format!("latency {delay_ms}ms on {topology}"),
        Fault::Latency { topology, delay_ms, jitter_ms } => {
            format!("latency {delay_ms}ms (+{jitter_ms}ms jitter) on {topology}")
        }
        Fault::Drop { topology, messages } => {
            format!(
                "drop {} on {topology}",
                serde_json::to_value(messages).unwrap_or_default().as_str().unwrap_or("")
            )
        }
        Fault::DropType { topology, body_type } => format!("drop {body_type} messages on {topology}"),
        Fault::Duplicate { topology, probability } => format!("duplicate {probability} on {topology}"),
        Fault::Reorder { topology, window_ms } => format!("reorder within {window_ms}ms on {topology}"),
        Fault::Deliver { topology } => format!("deliver on {topology}"),
        Fault::PowerLoss { target } => format!("power-loss {}", target.name()),
        Fault::Corrupt { target, damage } => format!(
            "corrupt {} ({})",
            target.name(),
            serde_json::to_value(damage).unwrap_or_default().as_str().unwrap_or("")
        ),
        Fault::Heal => "heal".into(),
        Fault::Await { event, within } => format!("await {} (at most {within} elections)", event.name()),
    };
    let when = match f.after {
        Some(k) => format!("{:.2}s (+{k} elections)", f.at as f64 / 1e9),
        None => format!("{:.2}s", f.at as f64 / 1e9),
    };
    format!("{when} {what}")
}

/// The shrunk schedule of a run for its report, if the explorer stored one.
pub fn load_shrunk(run: &RunDir) -> Option<reports::ShrunkSchedule> {
    let shrunk: Shrunk = store::read_json(&run.shrunk()).ok()?;
    Some(reports::ShrunkSchedule {
        original_faults: shrunk.original_faults,
        faults: shrunk.faults,
        reproduced: shrunk.reproduced,
        replays: shrunk.replays,
        steps: shrunk.schedule.iter().map(describe).collect(),
        example: shrunk.example,
    })
}
