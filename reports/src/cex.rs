//! A counterexample drawn as a small SVG timeline.
//!
//! Counterexamples are short (the checker shrinks them to a handful of operations), so they are drawn
//! on the server as SVG rather than by the page's script: the picture is in the file even with scripts
//! off, and golden tests can read it. One row per process, each operation a bar from invocation to
//! completion (an `info` or unfinished operation fades out to the right edge: it may take effect any
//! time later), the linearization the search found as numbered points joined by a line, and the
//! operation that broke it outlined in red.

use crate::data::value_text;
use crate::explain::secs;
use crate::results::{CexOp, Counterexample};
use checker::history::EventType;
use maud::{Markup, html};

const WIDTH: f64 = 820.0;
const LEFT: f64 = 92.0;
const RIGHT: f64 = 24.0;
const ROW: f64 = 46.0;
/// Bars start this far below their row's top, leaving room for the linearization points above.
const BAR_TOP: f64 = 14.0;
const BAR_H: f64 = 24.0;
const TOP: f64 = 18.0;
const AXIS: f64 = 26.0;

/// A short label for an operation: `w 5`, `r 12`, `cas 1→2`, `append x`.
pub fn op_label(op: &CexOp) -> String {
    let v = |x: &serde_json::Value| value_text(x).unwrap_or_else(|| "∅".to_owned());
    let label = match op.f.as_str() {
        "read" | "get" => {
            let out = if op.outcome == EventType::Ok { v(&op.output) } else { "?".to_owned() };
            format!("r {out}")
        }
        "write" | "put" => format!("w {}", v(&op.input)),
        "cas" => match op.input.as_array().map(Vec::as_slice) {
            Some([from, to]) => format!("cas {}→{}", v(from), v(to)),
            _ => format!("cas {}", v(&op.input)),
        },
        f => format!("{f} {}", v(&op.input)),
    };
    let mut short: String = label.chars().take(28).collect();
    if short.len() < label.len() {
        short.push('…');
    }
    short
}

fn outcome_class(op: &CexOp) -> &'static str {
    match op.outcome {
        EventType::Ok => "ok",
        EventType::Fail => "fail",
        EventType::Info | EventType::Invoke => "info",
    }
}

/// The SVG picture of one counterexample.
pub fn svg(c: &Counterexample) -> Markup {
    let mut procs: Vec<u64> = c.ops.iter().map(|o| o.process).collect();
    procs.sort_unstable();
    procs.dedup();
    // The axis is the order of events, evenly spaced: only order matters to linearizability, and a
    // real-time axis squeezes a 1 ms read next to a 1 s timeout into an invisible sliver.
    let mut times: Vec<u64> = c.ops.iter().flat_map(|o| std::iter::once(o.start).chain(o.end)).collect();
    times.sort_unstable();
    times.dedup();
    let t_min = times.first().copied().unwrap_or(0);
    let plot_w = WIDTH - LEFT - RIGHT;
    // One more slot at the right for operations that never completed.
    let slot = plot_w / (times.len() as f64 + 1.0);
    let rank = |t: u64| times.partition_point(|&x| x < t) as f64;
    let x = |t: u64| LEFT + (rank(t) + 0.5) * slot;
    let height = TOP + ROW * procs.len() as f64 + AXIS;
    let row_of = |p: u64| procs.iter().position(|&q| q == p).unwrap_or(0) as f64;

    // Linearization points: each as early as its invocation allows, never before the previous point.
    let mut points: Vec<(f64, f64, usize)> = Vec::new();
    let mut last = t_min;
    for (n, &i) in c.linearization.iter().enumerate() {
        let Some(op) = c.ops.get(i) else { continue };
        let mut t = op.start.max(last);
        if let Some(end) = op.end {
            t = t.min(end);
        }
        last = t;
        // On the bar's top edge, so the point never hides the bar's label; nudged right when two
        // operations are linearized at the same event.
        let mut px = x(t);
        if let Some((prev, _, _)) = points.last() {
            px = px.max(prev + 12.0);
        }
        points.push((px, TOP + row_of(op.process) * ROW + BAR_TOP, n + 1));
    }
    let path: String = points
        .iter()
        .enumerate()
        .map(|(i, (px, py, _))| format!("{}{px:.1},{py:.1}", if i == 0 { "M" } else { " L" }))
        .collect();

    // Time labels at most every 80 px.
    let label_every = ((80.0 / slot).ceil() as usize).max(1);
    html! {
        svg.cex-svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {WIDTH} {height}"))
            width=(WIDTH) height=(height) role="img" aria-label=(format!("counterexample for key {}", c.key)) {
            defs {
                linearGradient #fade x1="0" x2="1" y1="0" y2="0" {
                    stop offset="0" stop-color="#f0a020" stop-opacity="0.9" {}
                    stop offset="1" stop-color="#f0a020" stop-opacity="0.05" {}
                }
            }
            @for (r, p) in procs.iter().enumerate() {
                @let y = TOP + r as f64 * ROW;
                rect.cex-row x="0" y=(y) width=(WIDTH) height=(ROW) {}
                text.cex-proc x="8" y=(y + BAR_TOP + 16.5) { "process " (p) }
            }
            @for (i, t) in times.iter().enumerate() {
                @let tx = x(*t);
                line.cex-tick x1=(tx) x2=(tx) y1=(TOP) y2=(height - AXIS + 4.0) {}
                @if i % label_every == 0 {
                    text.cex-axis x=(tx) y=(height - 8.0) text-anchor="middle" { (secs(*t)) }
                }
            }
            @for (i, op) in c.ops.iter().enumerate() {
                @let y = TOP + row_of(op.process) * ROW + BAR_TOP;
                @let x0 = x(op.start);
                @let open = op.end.is_none() || op.outcome == EventType::Info;
                @let x1 = if open { WIDTH - RIGHT } else { x(op.end.unwrap_or(op.start)) };
                @let w = (x1 - x0).max(3.0);
                @let culprit = c.culprit == Some(i);
                g.cex-op data-op=(i) {
                    title { (op_title(op)) }
                    rect class=(format!("cex-bar {}{}", outcome_class(op), if culprit { " culprit" } else { "" }))
                        x=(x0) y=(y) width=(w) height=(BAR_H) rx="3"
                        fill=[open.then_some("url(#fade)")] {}
                    @let label = op_label(op);
                    @if w >= label.chars().count() as f64 * 7.5 + 10.0 {
                        text.cex-label x=(x0 + 6.0) y=(y + 16.5) { (label) }
                    } @else {
                        text.cex-label-out x=(x0 + w + 4.0) y=(y + 16.5) { (label) }
                    }
                }
            }
            @if !path.is_empty() {
                path.cex-lin d=(path) {}
            }
            @for (px, py, n) in &points {
                circle.cex-point cx=(px) cy=(py) r="8" {}
                text.cex-num x=(px) y=(py + 4.0) text-anchor="middle" { (n) }
            }
            @if let Some(op) = c.culprit.and_then(|i| c.ops.get(i)) {
                @let cy = TOP + row_of(op.process) * ROW + BAR_TOP;
                @let cx = x(op.start.max(last));
                circle.cex-x cx=(cx) cy=(cy) r="9" {}
                text.cex-xmark x=(cx) y=(cy + 4.5) text-anchor="middle" { "✗" }
            }
        }
    }
}

/// The hover text of an operation in a counterexample.
pub fn op_title(op: &CexOp) -> String {
    let end = match op.end {
        Some(e) => format!("completed {}", secs(e)),
        None => "never completed".to_owned(),
    };
    let node = op.node.as_ref().map(|n| format!(" via {n}")).unwrap_or_default();
    format!(
        "process {} {} {}{node}: invoked {}, {end}, {}",
        op.process,
        op.f,
        value_text(&op.input).unwrap_or_default(),
        secs(op.start),
        op.outcome
    )
}
