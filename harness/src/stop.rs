//! The run's stop signal: a cancellation token that also carries why.
//!
//! Every task of a run (the interpreter, its workers, the nemesis, the observers, progress) holds a
//! clone and selects on [`Stop::stopped`]; the first failure ([`Stop::fail`]) or the end of a phase
//! ([`Stop::finish`]) wakes them all at once, so nothing polls a flag or naps to notice. Built on a
//! tokio watch channel rather than tokio-util's `CancellationToken` because the first error's text
//! must travel with the signal, and this is the only thing the harness would take from that crate.

use tokio::sync::watch;

/// Why a run's tasks were told to stop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The phase ended normally.
    Finished,
    /// A task failed; the first failure's description.
    Failed(String),
}

/// A clonable stop signal. See the module documentation.
#[derive(Clone, Debug)]
pub struct Stop {
    tx: watch::Sender<Option<Reason>>,
    rx: watch::Receiver<Option<Reason>>,
}

impl Default for Stop {
    fn default() -> Stop {
        Stop::new()
    }
}

impl Stop {
    pub fn new() -> Stop {
        let (tx, rx) = watch::channel(None);
        Stop { tx, rx }
    }

    /// Stops everything because of `what`, unless something stopped it already (the first reason wins).
    pub fn fail(&self, what: String) {
        self.tx.send_if_modified(|r| {
            if r.is_some() {
                return false;
            }
            tracing::error!(error = %what, "run error");
            *r = Some(Reason::Failed(what));
            true
        });
    }

    /// Stops everything because the phase is over (unless it already stopped).
    pub fn finish(&self) {
        self.tx.send_if_modified(|r| {
            if r.is_some() {
                return false;
            }
            *r = Some(Reason::Finished);
            true
        });
    }

    pub fn is_stopped(&self) -> bool {
        self.rx.borrow().is_some()
    }

    /// The first failure, if the run failed.
    pub fn failure(&self) -> Option<String> {
        match &*self.rx.borrow() {
            Some(Reason::Failed(what)) => Some(what.clone()),
            _ => None,
        }
    }

    /// Resolves once the run is told to stop (at once if it already was).
    pub async fn stopped(&self) {
        let mut rx = self.rx.clone();
        // The sender lives in `self`, so the channel cannot close while this waits.
        let _ = rx.wait_for(Option::is_some).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_failure_wins_and_wakes_every_waiter() {
        let stop = Stop::new();
        let waiter = {
            let stop = stop.clone();
            tokio::spawn(async move { stop.stopped().await })
        };
        assert!(!stop.is_stopped());
        stop.fail("first".into());
        stop.fail("second".into());
        stop.finish();
        waiter.await.unwrap();
        assert_eq!(stop.failure().as_deref(), Some("first"));
        // Already stopped: resolves at once.
        stop.stopped().await;
    }

    #[tokio::test]
    async fn a_finished_phase_is_no_failure() {
        let stop = Stop::new();
        stop.finish();
        stop.fail("late".into());
        assert!(stop.is_stopped());
        assert_eq!(stop.failure(), None);
    }
}
