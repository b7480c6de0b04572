//! Wall-clock time as node logs and run records write it: RFC 3339 stamps in, UTC calendar text out.
//!
//! Node logs stamp their lines with wall-clock time and runs record when they started; the checks
//! that place a log line on a history's timeline (the Election Safety check, the report's log
//! excerpts) read those stamps here. Without a date crate: the calendar arithmetic is Howard
//! Hinnant's `days_from_civil` and its inverse, a dozen lines each.

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

/// UTC `YYYYmmddTHHMMSS` (or `YYYY-mm-ddTHH:MM:SSZ` when `iso`) of a Unix time, without a date crate
/// (Howard Hinnant's days-to-civil algorithm).
pub fn format_utc(unix: u64, iso: bool) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    if iso {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
    } else {
        format!("{year:04}{month:02}{day:02}T{h:02}{m:02}{s:02}")
    }
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
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(format_utc(0, false), "19700101T000000");
        assert_eq!(format_utc(1_709_251_199, true), "2024-02-29T23:59:59Z");
        assert_eq!(format_utc(1_795_305_600, false), "20261122T000000");
    }
}
