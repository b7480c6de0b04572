//! The run report page.
//!
//! Server-side (here) go the parts that are text: the header, the checks, the counterexamples (as SVG,
//! see [`crate::cex`]), durability findings and log excerpts. The parts that scale with the run (the
//! timeline, latency, throughput and cluster plots) are drawn by the inline script on `<canvas>` from
//! the columns of [`crate::data::PageData`], embedded as one JSON `<script>` element.

use crate::cex;
use crate::data::{self, FaultPeriod, PageData};
use crate::explain;
use crate::model::{LogExcerpt, RunReport};
use crate::results::{Counterexample, Verdict, verdict_str};
use maud::{DOCTYPE, Markup, PreEscaped, html};

pub(crate) const CSS: &str = include_str!("assets/report.css");
const JS: &str = include_str!("assets/report.js");
/// The error collector every page loads before its own script (the browser test reads what it marks).
pub(crate) const ERRORS_JS: &str = include_str!("assets/errors.js");

/// Counts of client operations by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpCounts {
    pub ok: usize,
    pub fail: usize,
    pub info: usize,
    /// Invoked, never completed.
    pub pending: usize,
}

impl OpCounts {
    pub fn total(&self) -> usize {
        self.ok + self.fail + self.info + self.pending
    }

    pub fn of(data: &PageData) -> OpCounts {
        let mut c = OpCounts::default();
        for &o in &data.ops.o {
            match o {
                data::OK => c.ok += 1,
                data::FAIL => c.fail += 1,
                data::INFO => c.info += 1,
                _ => c.pending += 1,
            }
        }
        c
    }
}

/// `12345` as `12,345`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A duration for people: `850 ms`, `42.5 s`, `3 min 20 s`, `1 h 5 min`.
pub fn duration(ns: u64) -> String {
    let s = ns as f64 / 1e9;
    if s < 1.0 {
        format!("{:.0} ms", s * 1e3)
    } else if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{} min {} s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{} h {} min", (s / 3600.0) as u64, ((s % 3600.0) / 60.0) as u64)
    }
}

/// Renders the report of one run: one self-contained HTML document.
pub fn render_run(run: &RunReport) -> String {
    let data = data::page_data(run);
    let counts = OpCounts::of(&data);
    let verdict = run.results.verdict();
    let json = data::script_json(&data);
    let m = &run.meta;
    let title = format!("{} · {} · faultline", verdict_str(verdict).to_uppercase(), m.test_name);
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="generator" content="faultline reports";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body data-status="loading" {
                (header(run, verdict, counts))
                nav.toc {
                    a href="#checks" { "Checks" }
                    a href="#timeline" { "Timeline" }
                    a href="#latency" { "Latency & throughput" }
                    a href="#cluster" { "Cluster" }
                    @if !run.results.counterexamples.is_empty() { a href="#counterexamples" { "Counterexamples" } }
                    @if !run.results.txn_anomalies.is_empty() { a href="#transactions" { "Transactions" } }
                    @if !run.results.durability.is_empty() { a href="#durability" { "Durability" } }
                    @if !run.logs.is_empty() { a href="#logs" { "Node logs" } }
                    @if run.shrunk.is_some() { a href="#shrunk" { "Shrunk schedule" } }
                }
                main {
                    (checks(run))
                    (timeline_section(&data, counts))
                    section #latency {
                        h2 { "Latency" }
                        p.hint { "Every operation at its invocation time; log scale. Zoom and pan are shared by all plots." }
                        (legend())
                        div.plot { canvas #latency-canvas data-drawn="0" {} }
                        h2 #throughput { "Throughput" }
                        p.hint { "Completed operations per second, by outcome." }
                        div.plot { canvas #throughput-canvas data-drawn="0" {} }
                    }
                    section #cluster {
                        h2 { "Cluster state" }
                        p.hint { "Role and term of every node as polled from /status; grey where a poll failed." }
                        div.legend {
                            span.sw.role-leader {} "leader"
                            span.sw.role-follower {} "follower"
                            span.sw.role-candidate {} "candidate"
                            span.sw.role-down {} "down / unreachable"
                        }
                        div.plot { canvas #cluster-canvas data-drawn="0" {} }
                        @if run.status.is_empty() { p.empty { "No status samples were recorded for this run." } }
                    }
                    @if !run.results.counterexamples.is_empty() {
                        section #counterexamples {
                            h2 { "Counterexamples" }
                            p.hint { "Each invalid key shrunk to a short history that is still not linearizable. Numbered points: the order the checker could justify; ✗: the operation that no order allows." }
                            @for c in &run.results.counterexamples { (counterexample(c)) }
                        }
                    }
                    @if !run.results.txn_anomalies.is_empty() { (crate::txn::section(&run.results.txn_anomalies)) }
                    @if !run.results.durability.is_empty() { (durability(run)) }
                    @if !run.logs.is_empty() { (logs(&run.logs)) }
                    @if let Some(s) = &run.shrunk {
                        section #shrunk {
                            h2 { "Shrunk schedule" }
                            p.hint {
                                (s.faults) " of the original " (s.original_faults) " faults reproduce this failure in "
                                (s.reproduced) " of " (s.replays) " replays (targets are roles, resolved again in each replay)."
                            }
                            ol.steps { @for step in &s.steps { li { code { (step) } } } }
                            @if let Some(e) = &s.example { p.hint { "A replay that reproduced it: " code { (e) } } }
                        }
                    }
                }
                footer {
                    "faultline report · " (thousands(run.history.len())) " events · "
                    (m.test_name) " · seed " (m.seed)
                }
                div #tip.tip hidden {}
                pre #js-errors hidden {}
                script #faultline-data type="application/json" { (PreEscaped(json)) }
                script { (PreEscaped(ERRORS_JS)) }
                script { (PreEscaped(JS)) }
            }
        }
    };
    page.into_string()
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Valid => "VALID",
        Verdict::Invalid => "INVALID",
        Verdict::Unknown => "UNKNOWN",
    }
}

fn header(run: &RunReport, verdict: Verdict, counts: OpCounts) -> Markup {
    let m = &run.meta;
    let nodes = match m.nodes.as_slice() {
        [] => "nodes unknown".to_owned(),
        [one] => format!("1 node ({one})"),
        many => format!("{} nodes ({})", many.len(), many.join(" ")),
    };
    let faults = if m.nemeses.is_empty() {
        "no faults".to_owned()
    } else {
        format!("faults: {}", m.nemeses.join(", "))
    };
    html! {
        header class=(format!("top v-{}", verdict_str(verdict))) {
            div.verdict #verdict data-verdict=(verdict_str(verdict)) { (verdict_word(verdict)) }
            div.what {
                h1 { (m.test_name) }
                p.facts {
                    span { b { (m.system) } }
                    span { (nodes) }
                    span { b { (m.workload) } " workload" }
                    @if m.concurrency > 0 { span { (m.concurrency) " clients" } }
                    span { (faults) }
                    span { (duration(m.duration_ns)) }
                    span { "seed " b { (m.seed) } }
                    @if !m.bugs.is_empty() { span.bugs { "planted bugs: " (m.bugs.join(", ")) } }
                    @if !m.started_at.is_empty() { span.muted { "started " (m.started_at) } }
                }
                div.repro {
                    code #repro { (m.reproduce) }
                    button.copy type="button" data-copy="repro" { "copy" }
                }
            }
            div.counts #counts {
                div.count.ok { b { (thousands(counts.ok)) } span { "ok" } }
                div.count.fail { b { (thousands(counts.fail)) } span { "fail" } }
                div.count.info { b { (thousands(counts.info)) } span { "info" } }
                @if counts.pending > 0 { div.count.pending { b { (thousands(counts.pending)) } span { "pending" } } }
            }
        }
    }
}

fn checks(run: &RunReport) -> Markup {
    html! {
        section #checks {
            h2 { "Checks" }
            @if run.results.checks.is_empty() {
                p.empty { "No checker results were recorded for this run." }
            } @else {
                table.checks {
                    thead { tr { th { "check" } th { "verdict" } th { "anomalies" } th { "summary" } } }
                    tbody {
                        @for c in &run.results.checks {
                            tr {
                                td { (c.name) }
                                td { span class=(format!("badge v-{}", verdict_str(c.verdict))) { (verdict_str(c.verdict)) } }
                                td { (c.anomalies.join(", ")) }
                                td { (c.summary) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn legend() -> Markup {
    html! {
        div.legend {
            span.sw.o-ok {} "ok"
            span.sw.o-fail {} "fail"
            span.sw.o-info {} "info (unknown)"
            span.sw.o-pending {} "never completed"
            span.sw.f-partition {} "partition"
            span.sw.f-kill {} "kill"
            span.sw.f-pause {} "pause"
            span.sw.f-power {} "power loss"
            span.sw.f-corrupt {} "corrupt"
            span.sw.f-other {} "other fault"
        }
    }
}

fn timeline_section(data: &PageData, counts: OpCounts) -> Markup {
    html! {
        section #timeline {
            h2 { "Timeline" }
            p.hint {
                (thousands(counts.total())) " operations on " (data.ops.procs.len()) " processes. "
                "Scroll to zoom, drag to pan, double-click to reset; hover for details."
                " " button #reset-zoom type="button" { "reset zoom" }
                @if data.slots > 0 {
                    " " label.rowmode {
                        "rows: "
                        select #row-mode {
                            option value="slot" { "one per client slot (" (data.slots) ")" }
                            option value="process" { "one per process" }
                        }
                    }
                }
            }
            (legend())
            div.plot.timeline-plot { canvas #timeline-canvas data-drawn="0" {} }
            @if !data.faults.is_empty() { (fault_table(&data.faults)) }
        }
    }
}

fn fault_table(faults: &[FaultPeriod]) -> Markup {
    let s = |us: u64| format!("{:.3} s", us as f64 / 1e6);
    html! {
        details.faults {
            summary { (faults.len()) @if faults.len() == 1 { " nemesis action" } @else { " nemesis actions" } }
            table {
                thead { tr { th { "from" } th { "to" } th { "kind" } th { "what" } } }
                tbody {
                    @for f in faults {
                        tr {
                            td { (s(f.start)) }
                            td { @if f.healed || f.end == f.start { (s(f.end)) } @else { "end of run (never healed)" } }
                            td { span class=(format!("sw f-{}", fault_class(&f.kind))) {} (f.kind) }
                            td { (f.label) }
                        }
                    }
                }
            }
        }
    }
}

/// The CSS class suffix of a fault family (the script uses the same mapping for its colours).
fn fault_class(kind: &str) -> &str {
    match kind {
        "partition" | "kill" | "pause" => kind,
        _ => "other",
    }
}

fn counterexample(c: &Counterexample) -> Markup {
    let lin: Vec<String> = c
        .linearization
        .iter()
        .filter_map(|&i| c.ops.get(i))
        .map(|op| format!("{} (p{})", cex::op_label(op), op.process))
        .collect();
    html! {
        article.cex data-key=(c.key) {
            h3 {
                "key " code { (c.key) }
                @if !c.anomaly.is_empty() { span.badge.v-invalid { (c.anomaly) } }
                @if !c.model.is_empty() { span.muted { " · model " (c.model) } }
                span.muted {
                    " · " (c.ops.len()) " operations"
                    @if c.original_ops > 0 { " (shrunk from " (thousands(c.original_ops)) ")" }
                }
            }
            p.sentence { (explain::sentence(c)) }
            div.cex-figure { (cex::svg(c)) }
            p.cex-caption { "Events in the order they happened, evenly spaced (not to scale); hover a bar for its times." }
            dl.cex-facts {
                dt { "possible order" }
                dd { @if lin.is_empty() { "none: not even the first operation can go first" } @else { (lin.join(" → ")) } }
                @if let Some(op) = c.culprit.and_then(|i| c.ops.get(i)) {
                    dt { "broke it" }
                    dd.culprit-text { (cex::op_title(op)) }
                }
                @if let Some(state) = &c.state {
                    dt { "state it saw" }
                    dd { code { (state) } }
                }
            }
        }
    }
}

fn durability(run: &RunReport) -> Markup {
    html! {
        section #durability {
            h2 { "Durability" }
            table.durability {
                thead { tr { th { "finding" } th { "key" } th { "value" } th { "acknowledged" } th { "what happened" } } }
                tbody {
                    @for d in &run.results.durability {
                        tr {
                            td { span.badge.v-invalid { (d.kind) } }
                            td { (d.key.clone().unwrap_or_default()) }
                            td { code { (data::value_text(&d.value).unwrap_or_default()) } }
                            td { @if let Some(t) = d.ack_time { (explain::secs(t)) } @else { "—" } }
                            td { (explain::durability_sentence(d)) }
                        }
                    }
                }
            }
        }
    }
}

fn logs(excerpts: &[LogExcerpt]) -> Markup {
    html! {
        section #logs {
            h2 { "Node logs" }
            @for x in excerpts {
                details.log open {
                    summary {
                        b { (x.node) } " · " a href=(x.path) { (x.path) }
                        @if !x.note.is_empty() { span.muted { " · " (x.note) } }
                    }
                    pre {
                        @for (i, line) in x.lines.iter().enumerate() {
                            @let class = log_class(line);
                            span class=(class) {
                                span.ln { (x.first_line + i as u64) }
                                (line) "\n"
                            }
                        }
                    }
                }
            }
        }
    }
}

fn log_class(line: &str) -> &'static str {
    if line.contains("PANIC") || line.contains("panicked") {
        "l-panic"
    } else if line.contains("ERROR") {
        "l-error"
    } else if line.contains("WARN") {
        "l-warn"
    } else {
        "l"
    }
}
