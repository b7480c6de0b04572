//! Campaigns: many runs, one index page, and how it compares with the campaigns before it.
//!
//! A campaign runs a matrix of configurations (system, workload, nemeses, node count, seed, planted
//! bugs). The harness records one [`CampaignRun`] per run in a [`CampaignSummary`] (its
//! `summary.json`), and hands this module the current summary plus the earlier summaries of the same
//! campaign name. Everything that decides something is a pure function here, so the exit code CI sees
//! and the page a person reads agree:
//!
//! - a failure's [`Fingerprint`] is (system, checker, anomaly class): ten runs that hit one bug are one
//!   row, whatever their seeds;
//! - [`compare`] classifies every fingerprint against the previous campaign as new, fixed, still
//!   failing, flaky (present, absent and present again across the campaigns kept, or the other way
//!   round) or not rerun (the configurations that produced it did not run this time, so absence proves
//!   nothing);
//! - [`trend`] counts verdicts per campaign, oldest first;
//! - [`exit_code`]: 1 when any run is invalid, else 3 when the harness failed on any run, else 2 when
//!   any run is unknown, else 0.

use crate::results::{Results, Verdict};
use crate::run::{duration, thousands};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

const JS: &str = include_str!("assets/campaign.js");

/// How one run of a campaign ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunOutcome {
    Valid,
    Unknown,
    Invalid,
    /// The harness itself failed (could not start the cluster, a rule could not be installed, ...).
    HarnessError,
}

impl RunOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Valid => "valid",
            RunOutcome::Unknown => "unknown",
            RunOutcome::Invalid => "invalid",
            RunOutcome::HarnessError => "harness-error",
        }
    }
}

impl From<Verdict> for RunOutcome {
    fn from(v: Verdict) -> RunOutcome {
        match v {
            Verdict::Valid => RunOutcome::Valid,
            Verdict::Unknown => RunOutcome::Unknown,
            Verdict::Invalid => RunOutcome::Invalid,
        }
    }
}

/// The class of a failure whose check named none: still a fingerprint, so the failure is counted.
/// Not a word of [`checker::Anomaly`]: it says the check did not classify, not what went wrong.
pub const UNCLASSIFIED: &str = "unclassified";

/// One anomaly a run found: which check, which class.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Anomaly {
    /// The check that found it, e.g. `linearizability`, `durability`.
    pub checker: String,
    /// The anomaly class, a word of [`checker::Anomaly`] (e.g. `stale-read`, `lost-append`), or
    /// [`UNCLASSIFIED`] when the check gave none. A string, not the enum: `summary.json` files of
    /// earlier campaigns must still read back, whatever words they hold.
    pub class: String,
}

/// The anomalies of a run's results: every class of every invalid check (a check that is invalid but
/// names no class yields `unclassified`, so the failure still has a fingerprint).
pub fn anomalies(results: &Results) -> Vec<Anomaly> {
    let mut out: Vec<Anomaly> = Vec::new();
    for c in results.checks.iter().filter(|c| c.verdict == Verdict::Invalid) {
        if c.anomalies.is_empty() {
            out.push(Anomaly { checker: c.name.clone(), class: UNCLASSIFIED.to_owned() });
        }
        for class in &c.anomalies {
            out.push(Anomaly { checker: c.name.clone(), class: class.clone() });
        }
    }
    out.sort();
    out.dedup();
    out
}

/// One run of a campaign: a row of `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignRun {
    /// The run's test name (its store directory name).
    pub test_name: String,
    /// The system under test, e.g. `raft-node`.
    pub system: String,
    pub workload: String,
    #[serde(default)]
    pub nemeses: Vec<String>,
    pub nodes: u32,
    pub seed: u64,
    /// Planted bugs (`--bug` flags) of this run.
    #[serde(default)]
    pub bugs: Vec<String>,
    pub outcome: RunOutcome,
    /// What the checks found (see [`anomalies`]); empty unless invalid.
    #[serde(default)]
    pub anomalies: Vec<Anomaly>,
    /// Wall time of the run, ns.
    #[serde(default)]
    pub duration_ns: u64,
    /// Client operations in the history.
    #[serde(default)]
    pub ops: u64,
    /// Link to the run's `report.html`, relative to the campaign's `index.html`.
    #[serde(default)]
    pub report: String,
    /// The harness error, for [`RunOutcome::HarnessError`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CampaignRun {
    /// The campaign row of a finished run: outcome from the results' verdict, anomalies from its
    /// invalid checks, operations counted from the history. `report` is the link to its `report.html`
    /// relative to the campaign's `index.html`.
    pub fn from_report(run: &crate::RunReport, report: &str) -> CampaignRun {
        let ops = run
            .history
            .iter()
            .filter(|e| {
                e.kind == checker::history::EventType::Invoke
                    && e.process != checker::history::Process::NEMESIS
            })
            .count();
        let m = &run.meta;
        CampaignRun {
            test_name: m.test_name.clone(),
            system: m.system.clone(),
            workload: m.workload.clone(),
            nemeses: m.nemeses.clone(),
            nodes: u32::try_from(m.nodes.len()).unwrap_or(u32::MAX),
            seed: m.seed,
            bugs: m.bugs.clone(),
            outcome: run.results.verdict().into(),
            anomalies: anomalies(&run.results),
            duration_ns: m.duration_ns,
            ops: ops as u64,
            report: report.to_owned(),
            error: None,
        }
    }

    /// The matrix cell this run belongs to: everything but the seed.
    pub fn cell(&self) -> Cell {
        let mut nemeses = self.nemeses.clone();
        nemeses.sort();
        let mut bugs = self.bugs.clone();
        bugs.sort();
        Cell {
            system: self.system.clone(),
            workload: self.workload.clone(),
            nemeses,
            nodes: self.nodes,
            bugs,
        }
    }

    /// The fingerprints of this run's failures.
    pub fn fingerprints(&self) -> Vec<Fingerprint> {
        if self.outcome != RunOutcome::Invalid {
            return Vec::new();
        }
        let mut fps: Vec<Fingerprint> = self
            .anomalies
            .iter()
            .map(|a| Fingerprint {
                system: self.system.clone(),
                checker: a.checker.clone(),
                class: a.class.clone(),
            })
            .collect();
        if fps.is_empty() {
            fps.push(Fingerprint {
                system: self.system.clone(),
                checker: "unknown".to_owned(),
                class: UNCLASSIFIED.to_owned(),
            });
        }
        fps.sort();
        fps.dedup();
        fps
    }
}

/// A configuration of the campaign matrix, without the seed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Cell {
    pub system: String,
    pub workload: String,
    pub nemeses: Vec<String>,
    pub nodes: u32,
    pub bugs: Vec<String>,
}

/// What identifies "the same failure" across runs and campaigns.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Fingerprint {
    pub system: String,
    pub checker: String,
    pub class: String,
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} / {} / {}", self.system, self.checker, self.class)
    }
}

/// One campaign: its `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignSummary {
    /// The campaign's name (from its file), e.g. `nightly`.
    pub name: String,
    /// When it started, as the harness formats it (the store directory's timestamp).
    pub started_at: String,
    pub runs: Vec<CampaignRun>,
    /// Matrix entries not run because the time budget ran out.
    #[serde(default)]
    pub skipped: usize,
}

/// An earlier campaign and where its index is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlierCampaign {
    /// Link to its `index.html`, relative to the current index (e.g. `../20261121T020000/index.html`).
    #[serde(default)]
    pub link: String,
    pub summary: CampaignSummary,
}

/// Everything the campaign index shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignIndex {
    pub current: CampaignSummary,
    /// Earlier campaigns of the same name, newest first (the first one is "the previous campaign").
    #[serde(default)]
    pub earlier: Vec<EarlierCampaign>,
}

/// Runs grouped by fingerprint, in fingerprint order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FailureGroup {
    pub fingerprint: Fingerprint,
    /// Indices into the campaign's `runs`.
    pub runs: Vec<usize>,
}

/// Groups the invalid runs of a campaign by fingerprint.
pub fn failure_groups(c: &CampaignSummary) -> Vec<FailureGroup> {
    let mut groups: BTreeMap<Fingerprint, Vec<usize>> = BTreeMap::new();
    for (i, run) in c.runs.iter().enumerate() {
        for fp in run.fingerprints() {
            groups.entry(fp).or_default().push(i);
        }
    }
    groups.into_iter().map(|(fingerprint, runs)| FailureGroup { fingerprint, runs }).collect()
}

/// How a fingerprint changed since the previous campaign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// Found now; the last campaign that ran its configurations did not find it (or none did).
    New,
    /// Found now and by the last campaign that ran its configurations.
    StillFailing,
    /// Comes and goes across the campaigns kept: it changed presence at least twice.
    Flaky,
    /// Found before; the configurations that found it ran again and did not find it.
    Fixed,
    /// Found in the previous campaign; none of the configurations that found it ran this time.
    NotRerun,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::New => "new",
            Change::StillFailing => "still failing",
            Change::Flaky => "flaky",
            Change::Fixed => "fixed",
            Change::NotRerun => "not rerun",
        }
    }
}

/// One fingerprint's comparison.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FingerprintChange {
    pub fingerprint: Fingerprint,
    pub change: Change,
    /// Runs with this fingerprint now and in the previous campaign.
    pub runs_now: usize,
    pub runs_before: usize,
    /// Presence over the campaigns, oldest first, ending with the current one: `Some(true)` found,
    /// `Some(false)` a configuration that found it ran and did not, `None` none of them ran.
    pub history: Vec<Option<bool>>,
}

/// Compares the current campaign with the earlier ones (newest first; `earlier[0]` is the previous).
/// Covers every fingerprint found now or in the previous campaign, sorted by change then fingerprint.
pub fn compare(current: &CampaignSummary, earlier: &[&CampaignSummary]) -> Vec<FingerprintChange> {
    let previous = earlier.first().copied();
    let mut all: BTreeSet<Fingerprint> = BTreeSet::new();
    for c in std::iter::once(current).chain(previous) {
        all.extend(c.runs.iter().flat_map(CampaignRun::fingerprints));
    }
    // Every campaign, oldest first, ending with the current one.
    let timeline: Vec<&CampaignSummary> =
        earlier.iter().rev().copied().chain(std::iter::once(current)).collect();
    let mut out: Vec<FingerprintChange> = all
        .into_iter()
        .map(|fp| {
            // The cells that ever produced this fingerprint: their runs decide presence.
            let cells: BTreeSet<Cell> = timeline
                .iter()
                .flat_map(|c| c.runs.iter())
                .filter(|r| r.fingerprints().contains(&fp))
                .map(CampaignRun::cell)
                .collect();
            let history: Vec<Option<bool>> = timeline
                .iter()
                .map(|c| {
                    let relevant: Vec<&CampaignRun> =
                        c.runs.iter().filter(|r| cells.contains(&r.cell())).collect();
                    if relevant.iter().any(|r| r.fingerprints().contains(&fp)) {
                        Some(true)
                    } else if relevant
                        .iter()
                        .any(|r| matches!(r.outcome, RunOutcome::Valid | RunOutcome::Invalid))
                    {
                        Some(false)
                    } else {
                        None
                    }
                })
                .collect();
            let count =
                |c: &CampaignSummary| c.runs.iter().filter(|r| r.fingerprints().contains(&fp)).count();
            let runs_now = count(current);
            let runs_before = previous.map_or(0, count);
            let known: Vec<bool> = history.iter().flatten().copied().collect();
            let flips = known.windows(2).filter(|w| w[0] != w[1]).count();
            let (now, before) = history.split_last().map_or((None, &[][..]), |(n, b)| (*n, b));
            // Campaigns that did not run the fingerprint's configurations say nothing either way, so
            // "before" is the last campaign that did.
            let last_known = before.iter().rev().find_map(|h| *h);
            let change = match (now, last_known) {
                _ if flips >= 2 => Change::Flaky,
                (Some(true), Some(true)) => Change::StillFailing,
                (Some(true), _) => Change::New,
                (Some(false), _) => Change::Fixed,
                (None, _) => Change::NotRerun,
            };
            FingerprintChange { fingerprint: fp, change, runs_now, runs_before, history }
        })
        .collect();
    out.sort_by(|a, b| (a.change, &a.fingerprint).cmp(&(b.change, &b.fingerprint)));
    out
}

/// Verdict counts of one campaign.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TrendPoint {
    pub started_at: String,
    pub link: String,
    pub runs: usize,
    pub valid: usize,
    pub invalid: usize,
    pub unknown: usize,
    pub errors: usize,
    /// Distinct failure fingerprints.
    pub fingerprints: usize,
}

fn trend_point(c: &CampaignSummary, link: &str) -> TrendPoint {
    let n = |o: RunOutcome| c.runs.iter().filter(|r| r.outcome == o).count();
    TrendPoint {
        started_at: c.started_at.clone(),
        link: link.to_owned(),
        runs: c.runs.len(),
        valid: n(RunOutcome::Valid),
        invalid: n(RunOutcome::Invalid),
        unknown: n(RunOutcome::Unknown),
        errors: n(RunOutcome::HarnessError),
        fingerprints: failure_groups(c).len(),
    }
}

/// Verdict counts per campaign, oldest first, ending with the current one (link empty).
pub fn trend(index: &CampaignIndex) -> Vec<TrendPoint> {
    index
        .earlier
        .iter()
        .rev()
        .map(|e| trend_point(&e.summary, &e.link))
        .chain(std::iter::once(trend_point(&index.current, "")))
        .collect()
}

/// The campaign's exit code for CI: 1 any invalid run, else 3 any harness error, else 2 any unknown,
/// else 0. An invalid run outranks a harness error because a found bug is the news either way.
pub fn exit_code(c: &CampaignSummary) -> i32 {
    let any = |o: RunOutcome| c.runs.iter().any(|r| r.outcome == o);
    if any(RunOutcome::Invalid) {
        1
    } else if any(RunOutcome::HarnessError) {
        3
    } else if any(RunOutcome::Unknown) {
        2
    } else {
        0
    }
}

/// The campaign's overall word: the worst outcome among its runs.
fn overall(c: &CampaignSummary) -> RunOutcome {
    match exit_code(c) {
        1 => RunOutcome::Invalid,
        3 => RunOutcome::HarnessError,
        2 => RunOutcome::Unknown,
        _ => RunOutcome::Valid,
    }
}

/// Renders a campaign's `index.html`: one self-contained document.
pub fn render_campaign(index: &CampaignIndex) -> String {
    let c = &index.current;
    let earlier: Vec<&CampaignSummary> = index.earlier.iter().map(|e| &e.summary).collect();
    let groups = failure_groups(c);
    let changes = compare(c, &earlier);
    let points = trend(index);
    let outcome = overall(c);
    let count = |o: RunOutcome| c.runs.iter().filter(|r| r.outcome == o).count();
    let total_ops: u64 = c.runs.iter().map(|r| r.ops).sum();
    let total_ns: u64 = c.runs.iter().map(|r| r.duration_ns).sum();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (outcome.as_str().to_uppercase()) " · campaign " (c.name) " · faultline" }
                style { (PreEscaped(crate::run::CSS)) }
            }
            body data-status="loading" {
                header class=(format!("top v-{}", outcome.as_str())) {
                    div.verdict #verdict data-verdict=(outcome.as_str()) { (outcome.as_str().to_uppercase()) }
                    div.what {
                        h1 { "campaign " (c.name) }
                        p.facts {
                            span { (c.runs.len()) " runs" }
                            span { (thousands(usize::try_from(total_ops).unwrap_or(usize::MAX))) " operations" }
                            span { (duration(total_ns)) " of runs" }
                            @if c.skipped > 0 { span.bugs { (c.skipped) " skipped (time budget)" } }
                            span.muted { "started " (c.started_at) }
                            span.muted { "exit code " (exit_code(c)) }
                        }
                    }
                    div.counts {
                        div.count.ok { b { (count(RunOutcome::Valid)) } span { "valid" } }
                        div.count.fail { b { (count(RunOutcome::Invalid)) } span { "invalid" } }
                        div.count.info { b { (count(RunOutcome::Unknown)) } span { "unknown" } }
                        @if count(RunOutcome::HarnessError) > 0 {
                            div.count.pending { b { (count(RunOutcome::HarnessError)) } span { "errors" } }
                        }
                    }
                }
                main {
                    (comparison_section(&changes, earlier.first().copied()))
                    (groups_section(c, &groups))
                    (trend_section(&points))
                    (runs_section(c))
                }
                footer { "faultline campaign index · " (c.name) " · " (c.started_at) }
                pre #js-errors hidden {}
                script { (PreEscaped(crate::run::ERRORS_JS)) }
                script { (PreEscaped(JS)) }
            }
        }
    };
    page.into_string()
}

fn comparison_section(changes: &[FingerprintChange], previous: Option<&CampaignSummary>) -> Markup {
    let n = |ch: Change| changes.iter().filter(|c| c.change == ch).count();
    html! {
        section #comparison {
            h2 { "Since the previous campaign" }
            @match previous {
                None => p.empty { "This is the first campaign of this name: every failure below is new." },
                Some(p) => p.hint { "Compared with the campaign of " (p.started_at) " (" (p.runs.len()) " runs)." },
            }
            div.chips {
                @for ch in [Change::New, Change::StillFailing, Change::Flaky, Change::Fixed, Change::NotRerun] {
                    span class=(format!("chip ch-{}", ch.as_str().replace(' ', "-"))) { b { (n(ch)) } " " (ch.as_str()) }
                }
            }
            @if !changes.is_empty() {
                table.changes {
                    thead { tr { th { "change" } th { "system" } th { "checker" } th { "anomaly" } th { "runs now" } th { "runs before" } th { "history (oldest → now)" } } }
                    tbody {
                        @for ch in changes {
                            tr {
                                td { span class=(format!("chip ch-{}", ch.change.as_str().replace(' ', "-"))) { (ch.change.as_str()) } }
                                td { (ch.fingerprint.system) }
                                td { (ch.fingerprint.checker) }
                                td { b { (ch.fingerprint.class) } }
                                td.num { (ch.runs_now) }
                                td.num { (ch.runs_before) }
                                td.dots {
                                    @for h in &ch.history {
                                        @match h {
                                            Some(true) => span.dot.d-fail title="found" {},
                                            Some(false) => span.dot.d-ok title="ran, not found" {},
                                            None => span.dot.d-none title="not run" {},
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn groups_section(c: &CampaignSummary, groups: &[FailureGroup]) -> Markup {
    html! {
        section #failures {
            h2 { "Failures by fingerprint" }
            @if groups.is_empty() {
                p.empty { "No run found a violation." }
            } @else {
                table.groups {
                    thead { tr { th { "system" } th { "checker" } th { "anomaly" } th { "runs" } th { "reports" } } }
                    tbody {
                        @for g in groups {
                            tr {
                                td { (g.fingerprint.system) }
                                td { (g.fingerprint.checker) }
                                td { span.badge.v-invalid { (g.fingerprint.class) } }
                                td.num { (g.runs.len()) }
                                td {
                                    @for &i in g.runs.iter().take(12) {
                                        @let r = &c.runs[i];
                                        a.runlink href=(r.report) title=(format!("{} seed {}", r.test_name, r.seed)) { "seed " (r.seed) }
                                        " "
                                    }
                                    @if g.runs.len() > 12 { span.muted { "and " (g.runs.len() - 12) " more" } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn trend_section(points: &[TrendPoint]) -> Markup {
    let max = points.iter().map(|p| p.runs).max().unwrap_or(1).max(1) as f64;
    let bar_w = 28.0;
    let gap = 10.0;
    let h = 120.0;
    let w = (bar_w + gap) * points.len() as f64 + gap;
    html! {
        section #trend {
            h2 { "Trend" }
            p.hint { "Runs per campaign by verdict, oldest on the left; the last bar is this campaign." }
            svg.trend xmlns="http://www.w3.org/2000/svg" width=(w) height=(h + 20.0) viewBox=(format!("0 0 {w} {}", h + 20.0)) {
                @for (i, p) in points.iter().enumerate() {
                    @let x = gap + i as f64 * (bar_w + gap);
                    @let segs = [(p.valid, "t-ok"), (p.unknown, "t-info"), (p.errors, "t-err"), (p.invalid, "t-fail")];
                    @let mut y = h;
                    g {
                        title { (p.started_at) ": " (p.valid) " valid, " (p.invalid) " invalid, " (p.unknown) " unknown, " (p.errors) " errors" }
                        @for (n, class) in segs {
                            @let sh = n as f64 / max * (h - 10.0);
                            @let top = { y -= sh; y };
                            @if n > 0 { rect class=(class) x=(x) y=(top) width=(bar_w) height=(sh) {} }
                        }
                        text.trend-label x=(x + bar_w / 2.0) y=(h + 14.0) text-anchor="middle" { (p.fingerprints) }
                    }
                }
            }
            table.trend-table {
                thead { tr { th { "campaign" } th { "runs" } th { "valid" } th { "invalid" } th { "unknown" } th { "errors" } th { "fingerprints" } } }
                tbody {
                    @for p in points.iter().rev() {
                        tr {
                            td { @if p.link.is_empty() { b { (p.started_at) " (this one)" } } @else { a href=(p.link) { (p.started_at) } } }
                            td.num { (p.runs) } td.num { (p.valid) } td.num { (p.invalid) } td.num { (p.unknown) } td.num { (p.errors) } td.num { (p.fingerprints) }
                        }
                    }
                }
            }
        }
    }
}

fn runs_section(c: &CampaignSummary) -> Markup {
    html! {
        section #runs {
            h2 { "Runs" }
            p.hint { "Click a column to sort." }
            table.runs.sortable {
                thead {
                    tr {
                        th { "#" } th { "verdict" } th { "anomaly" } th { "system" } th { "workload" } th { "nemeses" }
                        th { "nodes" } th { "bugs" } th { "seed" } th { "duration" } th { "ops" } th { "report" }
                    }
                }
                tbody {
                    @for (i, r) in c.runs.iter().enumerate() {
                        tr class=(format!("r-{}", r.outcome.as_str())) {
                            td.num data-sort=(i) { (i + 1) }
                            td data-sort=(r.outcome.as_str()) { span class=(format!("badge v-{}", r.outcome.as_str())) { (r.outcome.as_str()) } }
                            td {
                                (r.anomalies.iter().map(|a| a.class.as_str()).collect::<Vec<_>>().join(", "))
                                @if let Some(e) = &r.error { span.muted { (e) } }
                            }
                            td { (r.system) } td { (r.workload) } td { (r.nemeses.join(", ")) }
                            td.num { (r.nodes) } td { (r.bugs.join(", ")) } td.num { (r.seed) }
                            td.num data-sort=(r.duration_ns) { (duration(r.duration_ns)) }
                            td.num data-sort=(r.ops) { (thousands(usize::try_from(r.ops).unwrap_or(usize::MAX))) }
                            td { @if r.report.is_empty() { "—" } @else { a href=(r.report) { "report" } } }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        system: &str,
        bugs: &[&str],
        seed: u64,
        outcome: RunOutcome,
        anomalies: &[(&str, &str)],
    ) -> CampaignRun {
        CampaignRun {
            test_name: format!("{system}-register"),
            system: system.to_owned(),
            workload: "register".to_owned(),
            nemeses: vec!["partition".to_owned()],
            nodes: 5,
            seed,
            bugs: bugs.iter().map(|b| (*b).to_owned()).collect(),
            outcome,
            anomalies: anomalies
                .iter()
                .map(|(c, k)| Anomaly { checker: (*c).to_owned(), class: (*k).to_owned() })
                .collect(),
            duration_ns: 1,
            ops: 10,
            report: String::new(),
            error: None,
        }
    }

    fn campaign(started_at: &str, runs: Vec<CampaignRun>) -> CampaignSummary {
        CampaignSummary { name: "nightly".to_owned(), started_at: started_at.to_owned(), runs, skipped: 0 }
    }

    const SR: (&str, &str) = ("linearizability", checker::Anomaly::StaleRead.name());
    use RunOutcome::{HarnessError, Invalid, Unknown, Valid};

    fn change_of(changes: &[FingerprintChange], class: &str) -> Change {
        changes.iter().find(|c| c.fingerprint.class == class).map(|c| c.change).expect("fingerprint listed")
    }

    #[test]
    fn ten_runs_of_one_bug_are_one_failure_group() {
        let runs = (0..10).map(|s| run("raft-node", &["stale-read"], s, Invalid, &[SR])).collect();
        let groups = failure_groups(&campaign("t", runs));
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].runs.len(), 10);
        assert_eq!(groups[0].fingerprint.to_string(), "raft-node / linearizability / stale-read");
    }

    #[test]
    fn an_invalid_run_without_classes_still_has_a_fingerprint() {
        let r = run("etcd", &[], 1, Invalid, &[]);
        assert_eq!(r.fingerprints()[0].class, "unclassified");
        assert!(run("etcd", &[], 1, Unknown, &[SR]).fingerprints().is_empty());
    }

    #[test]
    fn new_fixed_still_failing_and_not_rerun() {
        let prev = campaign(
            "1",
            vec![
                run("a", &[], 1, Invalid, &[SR]),
                run("b", &[], 1, Invalid, &[SR]),
                run("c", &[], 1, Invalid, &[SR]),
            ],
        );
        let cur = campaign(
            "2",
            vec![
                run("a", &[], 1, Invalid, &[SR]),
                run("b", &[], 2, Valid, &[]),
                run("d", &[], 1, Invalid, &[SR]),
            ],
        );
        let changes = compare(&cur, &[&prev]);
        let by_system = |s: &str| changes.iter().find(|c| c.fingerprint.system == s).map(|c| c.change);
        assert_eq!(by_system("a"), Some(Change::StillFailing));
        assert_eq!(by_system("b"), Some(Change::Fixed));
        assert_eq!(by_system("c"), Some(Change::NotRerun));
        assert_eq!(by_system("d"), Some(Change::New));
        // Sorted by change: new first.
        assert_eq!(changes[0].change, Change::New);
    }

    #[test]
    fn a_failure_that_comes_back_is_flaky_and_a_skipped_campaign_is_no_evidence() {
        let found = |t: &str| campaign(t, vec![run("a", &[], 1, Invalid, &[SR])]);
        let clean = |t: &str| campaign(t, vec![run("a", &[], 1, Valid, &[])]);
        let other = |t: &str| campaign(t, vec![run("z", &[], 1, Valid, &[])]);
        // found, clean, found: flaky.
        let (e2, e1, cur) = (found("1"), clean("2"), found("3"));
        assert_eq!(change_of(&compare(&cur, &[&e1, &e2]), "stale-read"), Change::Flaky);
        // found, (not run), found: still failing, and the history says why.
        let (e2, e1) = (found("1"), other("2"));
        let changes = compare(&cur, &[&e1, &e2]);
        assert_eq!(change_of(&changes, "stale-read"), Change::StillFailing);
        assert_eq!(changes[0].history, vec![Some(true), None, Some(true)]);
        // First campaign ever: new.
        assert_eq!(change_of(&compare(&cur, &[]), "stale-read"), Change::New);
    }

    #[test]
    fn exit_code_ranks_invalid_then_harness_error_then_unknown() {
        let c = |outcomes: &[RunOutcome]| {
            campaign(
                "t",
                outcomes.iter().enumerate().map(|(i, &o)| run("a", &[], i as u64, o, &[])).collect(),
            )
        };
        assert_eq!(exit_code(&c(&[Valid, Valid])), 0);
        assert_eq!(exit_code(&c(&[Valid, Unknown])), 2);
        assert_eq!(exit_code(&c(&[Unknown, HarnessError])), 3);
        assert_eq!(exit_code(&c(&[HarnessError, Invalid, Unknown])), 1);
        assert_eq!(exit_code(&c(&[])), 0);
    }

    #[test]
    fn trend_is_oldest_first_and_ends_with_the_current_campaign() {
        let index = CampaignIndex {
            current: campaign("3", vec![run("a", &[], 1, Invalid, &[SR])]),
            earlier: vec![
                EarlierCampaign {
                    link: "../2/index.html".to_owned(),
                    summary: campaign("2", vec![run("a", &[], 1, Valid, &[])]),
                },
                EarlierCampaign { link: "../1/index.html".to_owned(), summary: campaign("1", vec![]) },
            ],
        };
        let t = trend(&index);
        let order: Vec<&str> = t.iter().map(|p| p.started_at.as_str()).collect();
        assert_eq!(order, ["1", "2", "3"]);
        assert_eq!((t[1].valid, t[2].invalid, t[2].fingerprints), (1, 1, 1));
        assert_eq!(t[2].link, "");
    }

    #[test]
    fn a_run_report_becomes_a_campaign_row() {
        let run: crate::RunReport = serde_json::from_str(include_str!("../tests/fixtures/run.json")).unwrap();
        let row = CampaignRun::from_report(&run, "../../fixture-register/x/report.html");
        assert_eq!((row.outcome, row.nodes, row.seed, row.ops), (Invalid, 3, 7, 10));
        let fps: Vec<String> = row.fingerprints().iter().map(ToString::to_string).collect();
        assert_eq!(fps, ["raft-node / durability / lost-write", "raft-node / linearizability / stale-read"]);
        assert_eq!(row.cell().bugs, ["stale-read"]);
    }

    #[test]
    fn anomalies_come_from_invalid_checks_only() {
        let results = Results {
            checks: vec![
                crate::Check {
                    name: "linearizability".into(),
                    verdict: Verdict::Invalid,
                    summary: String::new(),
                    anomalies: vec!["stale-read".into()],
                },
                crate::Check {
                    name: "durability".into(),
                    verdict: Verdict::Invalid,
                    summary: String::new(),
                    anomalies: vec![],
                },
                crate::Check {
                    name: "panics".into(),
                    verdict: Verdict::Valid,
                    summary: String::new(),
                    anomalies: vec!["x".into()],
                },
            ],
            ..Results::default()
        };
        let a = anomalies(&results);
        let classes: Vec<(&str, &str)> = a.iter().map(|a| (a.checker.as_str(), a.class.as_str())).collect();
        assert_eq!(classes, [("durability", "unclassified"), ("linearizability", "stale-read")]);
    }
}
