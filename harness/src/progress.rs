//! The progress display of a run: a bar on a terminal, a line every five seconds otherwise.
//!
//! It reads the recorder's counters once a second and the current fault from a watch channel the
//! nemesis writes to; it never touches the run's state.

use crate::recorder::Recorder;
use crate::stop::Stop;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Shows progress until `stop`. `faults` says what is broken now (empty: nothing).
pub async fn show(
    recorder: Arc<Recorder>,
    time_limit: Duration,
    faults: watch::Receiver<String>,
    stop: Stop,
) {
    let start = Instant::now();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(time_limit.as_secs().max(1));
        bar.set_style(
            indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {msg}")
                .expect("the progress template is valid")
                .progress_chars("=> "),
        );
        bar
    });
    let mut last_ops = 0u64;
    let mut last_log = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.stopped() => break,
        }
        let (ok, fail, info) = recorder.counts.snapshot();
        let ops = ok + fail + info;
        let now = faults.borrow().clone();
        let msg = format!(
            "{} ops/s  ok {ok} fail {fail} info {info}  faults: {}",
            ops - last_ops,
            if now.is_empty() { "none" } else { &now }
        );
        last_ops = ops;
        match &bar {
            Some(bar) => {
                bar.set_position(start.elapsed().as_secs());
                bar.set_message(msg);
            }
            None if last_log.elapsed() >= Duration::from_secs(5) => {
                eprintln!("faultline: {:>4}s  {msg}", start.elapsed().as_secs());
                last_log = Instant::now();
            }
            None => {}
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}
