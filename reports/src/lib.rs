//! `reports`: results in, one self-contained HTML file out.
//!
//! Given a run's history, its checker results and its metadata, this crate renders a single HTML file
//! with its CSS, script and data inside, so it opens from `file://` with no network. It depends only on
//! `checker` for the history and result types; the harness reads the run directory and writes the file.
//!
//! Two pages:
//!
//! - [`render_run`] draws one run from a [`RunReport`] ([`model`]): a header a person reads in five
//!   seconds (verdict, what was tested, outcome counts, the reproduce command), a timeline of every
//!   operation with the faults shaded, latency and throughput plots, the cluster's roles and terms, a
//!   minimal counterexample per invalid key ([`cex`], with a sentence from [`explain`]), the cycles of
//!   transactional anomalies ([`txn`]), durability findings and node log excerpts ([`logs`] cuts
//!   them). Operations travel as compact columns ([`data`]) and are drawn on `<canvas>` by an inline
//!   script, so 100,000 operations stay a few MB.
//! - [`render_campaign`] draws a campaign index from a [`CampaignIndex`] ([`campaign`]): the runs,
//!   failures grouped by fingerprint, the comparison with the previous campaign and a trend. The pure
//!   functions behind it (fingerprints, comparison, exit code) are public so the harness uses the
//!   same definitions for its exit code and `summary.json`.
//!
//! Wiring for the harness (`examples/render_run_dir.rs` does exactly this for a stored run): build a
//! [`RunMeta`] from `test.json`; parse `history.jsonl` with `checker::format::parse_events` and
//! `status.jsonl` with [`model::parse_status_lines`]; turn the checker's reports into [`Results`] with
//! [`Results::add_linearizability`], [`Results::add_txn`], [`Results::add_durability`],
//! [`Results::add_log_agreement`] and
//! [`Results::add_check`] ([`from_checker`] copies in the anomaly classes that `checker::anomaly`
//! decides and campaigns fingerprint; for a check of its own the harness names the class with
//! `checker::Anomaly`, e.g. `Anomaly::Panic.name()`); cut node logs with [`logs::excerpt`] around
//! [`Results::first_violation_time`]; call [`render_run`] and write `report.html`. For a campaign,
//! [`CampaignRun::from_report`] makes each run's row, and [`campaign::exit_code`] gives the exit code.
//! [`synthetic`] builds runs of any size for benchmarks and browser tests.
//!
//! Rendering never fails: a report of a broken run is exactly when one is needed, so malformed parts
//! (an unpaired completion, a poll that failed) are drawn as what they are rather than rejected.

pub mod campaign;
pub mod cex;
pub mod data;
pub mod explain;
pub mod from_checker;
pub mod logs;
pub mod model;
pub mod results;
pub mod run;
pub mod synthetic;
pub mod txn;

pub use campaign::{CampaignIndex, CampaignRun, CampaignSummary, render_campaign};
pub use model::{LogExcerpt, NodeStatus, RunMeta, RunReport, ShrunkSchedule, StatusSample};
pub use results::{
    CexOp, Check, Counterexample, DurabilityFinding, Results, TxnAnomaly, TxnNode, TxnStep, Verdict,
};
pub use run::render_run;
