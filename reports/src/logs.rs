//! Cutting node log excerpts for the report.
//!
//! The harness has the log files; this module picks the lines worth showing, so the choice is the
//! same for `faultline run` and `faultline report` and is unit-tested without files. Lines are chosen
//! by, in order of preference: the first panic (`raft-node: PANIC` or a Rust `panicked at`) with the
//! lines before it; the lines whose leading timestamp (RFC 3339, as `tracing-subscriber` writes it) falls
//! in a window around the first violation; the log's last lines.

use crate::model::LogExcerpt;
pub use checker::timestamp::{leading_timestamp, strip_ansi};

/// Where to look in a log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Wall-clock time the run started, ns since the Unix epoch: maps log timestamps to run time.
    pub run_start_unix_ns: Option<u64>,
    /// The time of interest, ns since the run started (usually [`crate::Results::first_violation_time`]).
    pub focus_ns: Option<u64>,
    /// How far before and after the focus to show.
    pub before_ns: u64,
    pub after_ns: u64,
    /// At most this many lines.
    pub max_lines: usize,
}

impl Default for Window {
    fn default() -> Window {
        Window {
            run_start_unix_ns: None,
            focus_ns: None,
            before_ns: 2_000_000_000,
            after_ns: 1_000_000_000,
            max_lines: 40,
        }
    }
}

/// Picks the lines of `text` (the whole log of `node`, at `path` relative to the report) to show.
pub fn excerpt(node: &str, path: &str, text: &str, window: Window) -> LogExcerpt {
    let lines: Vec<&str> = text.lines().collect();
    let max = window.max_lines.max(1);
    let make = |from: usize, to: usize, note: String| LogExcerpt {
        node: node.to_owned(),
        path: path.to_owned(),
        first_line: from as u64 + 1,
        lines: lines[from..to].iter().map(|l| strip_ansi(l)).collect(),
        note,
    };
    if let Some(i) = lines.iter().position(|l| l.contains("PANIC") || l.contains("panicked at")) {
        let from = (i + 1).saturating_sub((max * 3).div_ceil(4));
        let to = (from + max).min(lines.len());
        return make(from, to, format!("the first panic, line {}", i + 1));
    }
    if let (Some(start), Some(focus)) = (window.run_start_unix_ns, window.focus_ns) {
        let lo = (start + focus).saturating_sub(window.before_ns);
        let hi = start + focus + window.after_ns;
        let inside: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| leading_timestamp(l).filter(|t| (lo..=hi).contains(t)).map(|_| i))
            .collect();
        if let (Some(&first), Some(&last)) = (inside.first(), inside.last()) {
            // Centre on the focus when the window holds more lines than we show.
            let focus_line = lines
                .iter()
                .position(|l| leading_timestamp(l).is_some_and(|t| t >= start + focus))
                .unwrap_or(last);
            let from = focus_line.saturating_sub(max / 2).max(first);
            let to = (from + max).min(last + 1);
            return make(from, to, format!("around {:.3} s, the first violation", focus as f64 / 1e9));
        }
    }
    let from = lines.len().saturating_sub(max);
    make(from, lines.len(), "the last lines".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_prefers_the_panic_then_the_window_then_the_tail() {
        let panic_log = "a\nb\nraft-node: PANIC at x\nc\n";
        let x = excerpt("n1", "nodes/n1/stderr.log", panic_log, Window { max_lines: 2, ..Window::default() });
        assert_eq!(x.lines, vec!["b", "raft-node: PANIC at x"]);
        assert_eq!(x.first_line, 2);

        let log = "1970-01-01T00:00:10Z a\n1970-01-01T00:00:11Z b\n1970-01-01T00:00:12Z c\n1970-01-01T00:00:20Z d\n";
        let w = Window {
            run_start_unix_ns: Some(10_000_000_000),
            focus_ns: Some(1_500_000_000),
            before_ns: 1_000_000_000,
            after_ns: 1_000_000_000,
            max_lines: 10,
        };
        let x = excerpt("n1", "p", log, w);
        assert_eq!(x.first_line, 2);
        assert_eq!(x.lines.len(), 2);
        assert!(x.note.contains("1.500 s"), "{}", x.note);

        let x = excerpt("n1", "p", log, Window { max_lines: 1, ..Window::default() });
        assert_eq!(x.lines, vec!["1970-01-01T00:00:20Z d"]);
    }
}
