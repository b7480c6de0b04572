//! Cutting node log excerpts for the report.
//!
//! The harness has the log files; this module picks the lines worth showing, so the choice is the
//! same for `faultline run` and `faultline report` and is unit-tested without files. Lines are chosen
//! by, in order of preference: the first panic (`raft-node: PANIC` or a Rust `panicked at`) with the
//! lines before it; the lines whose leading timestamp (RFC 3339, as `tracing-subscriber` writes it) falls
//! in a window around the first violation; the log's last lines.

use crate::model::LogExcerpt;

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

/// Removes terminal colour codes (`ESC [ ... m`), which tracing writes when it thinks it has a terminal.
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The RFC 3339 timestamp a log line starts with, as ns since the Unix epoch.
pub fn leading_timestamp(line: &str) -> Option<u64> {
    let line = strip_ansi(line);
    let s = line.trim_start();
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (h, mi, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let mut i = 19;
    let mut frac_ns: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &s[start..i];
        let padded: String = digits.chars().chain(std::iter::repeat('0')).take(9).collect();
        frac_ns = padded.parse().ok()?;
    }
    let offset_s: i64 = match b.get(i) {
        Some(b'Z') | Some(b'z') => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let oh = num(i + 1, 2)?;
            let om = num(i + 4, 2)?;
            let o = oh * 3600 + om * 60;
            if sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
    u64::try_from(secs).ok()?.checked_mul(1_000_000_000)?.checked_add(u64::try_from(frac_ns).ok()?)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_with_fraction_zone_and_colour() {
        assert_eq!(leading_timestamp("1970-01-01T00:00:01Z x"), Some(1_000_000_000));
        assert_eq!(
            leading_timestamp("2026-11-22T00:57:51.5Z  INFO node: hi"),
            Some(1_795_309_071_500_000_000)
        );
        assert_eq!(
            leading_timestamp("\u{1b}[2m2026-11-22T01:57:51.5+01:00\u{1b}[0m INFO"),
            Some(1_795_309_071_500_000_000)
        );
        assert_eq!(leading_timestamp("INFO no time"), None);
        assert_eq!(leading_timestamp("2026-13-xxT00:00:00Z"), None);
    }

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
