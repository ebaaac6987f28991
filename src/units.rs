//! Sizes and durations as people type and read them (`10MiB`, `1.2 KB`, `30s`, `500ms`).

use std::time::Duration;

/// Splits `12.5 MiB` into its number and its unit (trimmed; empty when there is none).
fn number_and_unit<'a>(text: &'a str, what: &str) -> Result<(f64, &'a str), String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number = number.parse().map_err(|_| format!("{text:?} is not {what}"))?;
    Ok((number, unit.trim()))
}

/// Parses a byte size: a number with an optional unit `B`, `K`/`KB`/`KiB`, `M`/`MB`/`MiB`,
/// `G`/`GB`/`GiB` (case-insensitive). Decimal units are powers of 1000, binary ones of 1024.
///
/// ```
/// assert_eq!(hookscope::units::parse_size("10MiB"), Ok(10 * 1024 * 1024));
/// assert_eq!(hookscope::units::parse_size("1.5kb"), Ok(1500));
/// assert!(hookscope::units::parse_size("ten").is_err());
/// ```
pub fn parse_size(text: &str) -> Result<u64, String> {
    let (number, unit) = number_and_unit(text, "a size (try 10MiB, 512KB or 1048576)")?;
    let scale: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1000 * 1000,
        "mib" => 1 << 20,
        "g" | "gb" => 1000 * 1000 * 1000,
        "gib" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?} in {text:?}")),
    };
    let bytes = (number * scale as f64).round();
    if bytes >= u64::MAX as f64 {
        return Err(format!("{text:?} is too large a size"));
    }
    Ok(bytes as u64)
}

/// The largest body hookscope takes in (a body is held whole in memory, and the relay's queue
/// records lengths in 32 bits).
pub const MAX_BODY_LIMIT: u64 = 4 * 1024 * 1024 * 1024 - 1;

/// Parses a size limit: a size of at least one byte and at most [`MAX_BODY_LIMIT`] (a limit of
/// 0 refuses everything, and one past memory is no limit at all).
///
/// ```
/// assert!(hookscope::units::parse_limit("0").is_err());
/// assert!(hookscope::units::parse_limit("99999999999999999999999").is_err());
/// assert_eq!(hookscope::units::parse_limit("1KiB"), Ok(1024));
/// ```
pub fn parse_limit(text: &str) -> Result<u64, String> {
    match parse_size(text)? {
        0 => Err(format!(
            "{text:?}: a limit of 0 refuses everything; give at least 1 byte"
        )),
        size if size > MAX_BODY_LIMIT => Err(format!(
            "{text:?} is more than hookscope can hold; at most {}",
            format_size(MAX_BODY_LIMIT)
        )),
        size => Ok(size),
    }
}

/// Parses a timeout: a duration above zero (a timeout of 0 fails everything at once).
///
/// ```
/// assert!(hookscope::units::parse_timeout("0s").is_err());
/// assert_eq!(hookscope::units::parse_timeout("1.5s"), Ok(std::time::Duration::from_millis(1500)));
/// ```
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        Duration::ZERO => Err(format!(
            "{text:?}: a timeout of 0 would fail everything; give more"
        )),
        duration => Ok(duration),
    }
}

/// Parses a duration: a number with a unit `ms`, `s`, `m`, `h` or `d` (a bare number is seconds).
///
/// ```
/// use std::time::Duration;
/// assert_eq!(hookscope::units::parse_duration("500ms"), Ok(Duration::from_millis(500)));
/// assert_eq!(hookscope::units::parse_duration("30"), Ok(Duration::from_secs(30)));
/// assert_eq!(hookscope::units::parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = number_and_unit(text, "a duration (try 30s, 500ms or 2m)")?;
    let seconds = match unit {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        "d" => number * 86_400.0,
        other => return Err(format!("unknown duration unit {other:?} in {text:?}")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|err| format!("{text:?}: {err}"))
}

/// `30s`, `1.5s`, `200ms`: a duration as the user typed it.
pub fn format_duration(duration: Duration) -> String {
    match duration.subsec_millis() {
        0 => format!("{}s", duration.as_secs()),
        _ if duration < Duration::from_secs(1) => format!("{}ms", duration.as_millis()),
        _ => format!("{:.1}s", duration.as_secs_f64()),
    }
}

/// Formats a byte count for people: `512 B`, `1.2 KB`, `10.5 MB` (powers of 1000).
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        for (text, expected) in [
            ("0", 0),
            ("1024", 1024),
            ("10 MiB", 10 << 20),
            ("10MB", 10_000_000),
            ("2k", 2000),
            ("1GiB", 1 << 30),
        ] {
            assert_eq!(parse_size(text), Ok(expected), "{text}");
        }
        for bad in ["", "MB", "10 parsecs", "-1"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        for bad in ["", "s", "3 fortnights"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formatted_sizes() {
        for (bytes, expected) in [
            (0, "0 B"),
            (999, "999 B"),
            (1000, "1.0 KB"),
            (1234, "1.2 KB"),
            (999_960, "1.0 MB"),
            (10_485_760, "10.5 MB"),
        ] {
            assert_eq!(format_size(bytes), expected, "{bytes}");
        }
    }
}
