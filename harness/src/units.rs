//! Human units on the command line and in campaign files: durations (`500ms`, `10s`, `2m`, `1h`, plain
//! seconds) and byte sizes (`512M`, `2G`).
//!
//! Both parsers refuse what they cannot represent (negative, not finite, or larger than a `Duration`
//! or a `usize` holds) with a message naming the input, so a bad flag is a clear error (exit 3) and
//! never a panic further in.

use std::time::Duration;

/// Parses `500ms`, `10s`, `2m`, `1h` or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("{s:?} is not a duration like 500ms, 10s or 2m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        other => return Err(format!("{s:?}: unknown unit {other:?} (use ms, s, m or h)")),
    };
    // `Duration::from_secs_f64` panics on what it cannot hold; `try_` says so instead.
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is not a duration this tool can wait for"))
}

/// A duration as the shortest text [`parse_duration`] reads back (`1500ms`, `30s`, `2m`); exact to the
/// millisecond, which is the finest grain any setting uses.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        return format!("{}s", d.as_secs_f64());
    }
    if ms.is_multiple_of(3_600_000) && ms > 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Parses a byte size: a number with an optional unit B, K, M or G (binary multiples).
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num.parse().map_err(|_| format!("`{s}`: expected a size such as 512M or 2G"))?;
    let mult: usize = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(format!("`{s}`: unknown unit {unit:?}; use K, M or G")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("`{s}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_reject_junk() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("10 parsecs").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("soon").is_err());
    }

    /// `Duration::from_secs_f64` panics past u64 seconds; these were panics before.
    #[test]
    fn out_of_range_durations_are_errors_not_panics() {
        for s in ["99999999999999999999s", "1e30s", "99999999999999999999999h", "1e400"] {
            let e = parse_duration(s).unwrap_err();
            assert!(e.contains(s.trim()), "{s}: {e}");
        }
    }

    #[test]
    fn formatted_durations_read_back_exactly() {
        for d in [
            Duration::from_millis(1500),
            Duration::from_secs(30),
            Duration::from_secs(120),
            Duration::from_secs(7200),
            Duration::ZERO,
        ] {
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d, "{}", format_duration(d));
        }
        assert_eq!(format_duration(Duration::from_secs(60)), "1m");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
    }

    #[test]
    fn byte_sizes_parse_with_binary_units() {
        assert_eq!(parse_bytes("2G"), Ok(2 << 30));
        assert_eq!(parse_bytes("512M"), Ok(512 << 20));
        assert_eq!(parse_bytes("100"), Ok(100));
        assert!(parse_bytes("2X").is_err());
        assert!(parse_bytes("lots").is_err());
    }
}
