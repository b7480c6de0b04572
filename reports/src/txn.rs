//! Transactional anomalies: each cycle drawn as a small SVG ring, with its story in words beside it.
//!
//! A cycle is short (the checker looks for the shortest), so it is drawn on the server like the
//! counterexamples ([`crate::cex`]): the transactions T1, T2, ... evenly round a circle, each step an
//! arrow from the transaction that must come first to the one that must come after, bent slightly so
//! the two arrows of a two-transaction cycle do not overlap, coloured and labelled by its kind (`ww`,
//! `wr`, `rw`, `process`, `realtime`) and key. A cycle that cannot be, since every arrow is a "must
//! precede", is the anomaly; the words below the picture say why each arrow is there.

use crate::results::TxnAnomaly;
use maud::{Markup, html};

const SIZE: f64 = 300.0;
const RING: f64 = 100.0;
const NODE: f64 = 22.0;
/// How far an arrow's middle bends off the straight line between its ends.
const BEND: f64 = 36.0;

/// The picture of one anomaly's cycle (empty for an anomaly without steps).
pub fn svg(a: &TxnAnomaly) -> Markup {
    let n = a.txns.len().max(1);
    let centre = SIZE / 2.0;
    let at = |i: usize| {
        // The first transaction at the top, then clockwise.
        let angle = -std::f64::consts::FRAC_PI_2 + 2.0 * std::f64::consts::PI * i as f64 / n as f64;
        if n == 1 { (centre, centre) } else { (centre + RING * angle.cos(), centre + RING * angle.sin()) }
    };
    let arrows: Vec<(String, (f64, f64), String, String)> = a
        .steps
        .iter()
        .filter(|s| s.from < n && s.to < n && s.from != s.to)
        .map(|s| {
            let ((x1, y1), (x2, y2)) = (at(s.from), at(s.to));
            let (dx, dy) = (x2 - x1, y2 - y1);
            let len = (dx * dx + dy * dy).sqrt().max(1.0);
            let (ux, uy) = (dx / len, dy / len);
            // Leave the circles' edges, bend to the left of the direction of travel.
            let (sx, sy) = (x1 + ux * NODE, y1 + uy * NODE);
            let (ex, ey) = (x2 - ux * (NODE + 4.0), y2 - uy * (NODE + 4.0));
            let (cx, cy) = ((x1 + x2) / 2.0 + uy * BEND, (y1 + y2) / 2.0 - ux * BEND);
            let path = format!("M{sx:.1},{sy:.1} Q{cx:.1},{cy:.1} {ex:.1},{ey:.1}");
            let label = match &s.key {
                Some(k) => format!("{} {k}", s.kind),
                None => s.kind.clone(),
            };
            // The label sits just outside the curve's middle, on the side it bends to.
            let (lx, ly) =
                ((x1 + x2) / 2.0 + uy * (BEND * 0.5 + 14.0), (y1 + y2) / 2.0 - ux * (BEND * 0.5 + 14.0));
            (path, (lx, ly + 4.0), s.kind.clone(), label)
        })
        .collect();
    html! {
        svg.txn-svg viewBox=(format!("0 0 {SIZE} {SIZE}")) width=(SIZE) height=(SIZE) role="img"
            aria-label=(format!("{} cycle of {} transactions", a.anomaly, a.txns.len())) {
            defs {
                marker #txn-arrow viewBox="0 0 10 10" refX="8" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse" {
                    path d="M0,0 L10,5 L0,10 z" fill="context-stroke" {}
                }
            }
            @for (path, _, kind, _) in &arrows {
                path class=(format!("txn-edge k-{kind}")) d=(path) marker-end="url(#txn-arrow)" {}
            }
            @for (_, (lx, ly), kind, label) in &arrows {
                text class=(format!("txn-edge-label k-{kind}")) x=(format!("{lx:.1}")) y=(format!("{ly:.1}")) text-anchor="middle" { (label) }
            }
            @for (i, t) in a.txns.iter().enumerate() {
                @let (x, y) = at(i);
                g.txn-node {
                    title { (t.name) ": " (t.value) }
                    circle cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r=(NODE) {}
                    text x=(format!("{x:.1}")) y=(format!("{:.1}", y + 4.5)) text-anchor="middle" { (t.name) }
                }
            }
        }
    }
}

/// The section listing every drawn anomaly, forbidden ones first.
pub fn section(anomalies: &[TxnAnomaly]) -> Markup {
    html! {
        section #transactions {
            h2 { "Transactional anomalies" }
            p.hint { "Each cycle is a set of transactions that must each precede the next, which no order can satisfy. ww: overwrote; wr: read what the other wrote; rw: missed what the other wrote; process, realtime: came later on the same process, or began after the other completed." }
            div.legend {
                span.sw.k-ww {} "ww" span.sw.k-wr {} "wr" span.sw.k-rw {} "rw" span.sw.k-process {} "process" span.sw.k-realtime {} "realtime"
            }
            @for a in anomalies {
                article.txn-anomaly {
                    h3 {
                        (a.anomaly) " "
                        @if a.forbidden { span.badge.v-invalid { "forbidden" } } @else { span.badge.v-valid { "allowed" } }
                    }
                    div.txn-body {
                        @if !a.steps.is_empty() { figure.txn-figure { (svg(a)) } }
                        pre.txn-story { (a.explanation) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{TxnNode, TxnStep};

    fn anomaly(n: usize, steps: &[(usize, usize, &str)]) -> TxnAnomaly {
        TxnAnomaly {
            anomaly: "G-single-realtime".into(),
            forbidden: true,
            time: Some(5),
            explanation: "T1 < T2 ...".into(),
            txns: (0..n)
                .map(|i| TxnNode {
                    name: format!("T{}", i + 1),
                    process: Some(i as u64),
                    value: "[[r x []]]".into(),
                })
                .collect(),
            steps: steps
                .iter()
                .map(|&(from, to, kind)| TxnStep { from, to, kind: kind.into(), key: Some("x".into()) })
                .collect(),
        }
    }

    #[test]
    fn a_cycle_is_a_ring_of_labelled_arrows() {
        let a = anomaly(2, &[(0, 1, "rw"), (1, 0, "realtime")]);
        let svg = svg(&a).into_string();
        assert_eq!(svg.matches("<circle").count(), 2);
        assert_eq!(svg.matches("class=\"txn-edge k-").count(), 2);
        assert!(svg.contains(">rw x<") && svg.contains(">realtime x<"), "{svg}");
        assert!(svg.contains("<title>T1: [[r x []]]</title>"), "{svg}");
        // The two arrows of a pair bend apart: their paths differ.
        let paths: Vec<&str> = svg.split("d=\"M").skip(2).collect();
        assert_eq!(paths.len(), 2);
        assert_ne!(paths[0], paths[1]);
    }

    #[test]
    fn the_section_says_forbidden_or_allowed_and_tells_the_story() {
        let mut allowed = anomaly(1, &[]);
        allowed.forbidden = false;
        allowed.anomaly = "G2-item".into();
        let html = section(&[anomaly(3, &[(0, 1, "ww"), (1, 2, "wr"), (2, 0, "rw")]), allowed]).into_string();
        assert!(html.contains("forbidden") && html.contains("allowed"), "{html}");
        assert_eq!(html.matches("<figure").count(), 1, "an anomaly without steps has no drawing");
        assert!(html.contains("T1 &lt; T2"), "{html}");
    }
}
