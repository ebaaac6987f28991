//! The few JSON writing primitives the capture line needs, written for speed.
//!
//! Encoding the journal line is on every request's path. Through serde, escaping the body went a
//! fragment at a time through the generic writer, and the timestamp through `collect_str`; here
//! strings are escaped straight into the line's buffer, skipping eight clean bytes at a time.
//! The output is byte for byte what `serde_json` writes (the codec's tests compare the two).

/// What each byte becomes in a JSON string: 0 for itself, else the letter after the backslash
/// (`u` for `\u00XX`). The same choices as `serde_json`: short escapes where JSON has them.
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// A mask with the high bit set in (at least) the lowest byte of `word` that needs escaping (a
/// control byte, `"` or `\\`); 0 when none does. Bits above the lowest may be spurious (borrows),
/// never the lowest: only its position is used.
fn special(word: u64) -> u64 {
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    // A byte below 0x20 borrows into its high bit; bytes >= 0x80 are excluded by `!word`.
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    control | zero_bytes(word ^ (ONES * u64::from(b'"'))) | zero_bytes(word ^ (ONES * u64::from(b'\\')))
}

/// The index of the first byte at or after `from` that needs escaping: a control byte, `"` or
/// `\\`. Also what ends a run of plain text inside a JSON string, for the scanner that reads
/// bodies (`provider::select`).
pub(crate) fn next_special(bytes: &[u8], mut from: usize) -> Option<usize> {
    while let Some(word) = bytes.get(from..from + 8) {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        let mask = special(u64::from_le_bytes(eight));
        if mask != 0 {
            return Some(from + (mask.trailing_zeros() / 8) as usize);
        }
        from += 8;
    }
    let tail = bytes.get(from..)?;
    tail.iter()
        .position(|&byte| ESCAPE[usize::from(byte)] != 0)
        .map(|at| from + at)
}

/// Appends `text` as a JSON string, quotes included.
pub(super) fn string(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    while let Some(at) = next_special(bytes, start) {
        out.extend_from_slice(&bytes[start..at]);
        let byte = bytes[at];
        match ESCAPE[usize::from(byte)] {
            b'u' => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ]),
            letter => out.extend_from_slice(&[b'\\', letter]),
        }
        start = at + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends `"name":` after a comma (every field but an object's first is written this way).
pub(super) fn key(out: &mut Vec<u8>, name: &str) {
    out.push(b',');
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Appends `,"name":"text"`.
pub(super) fn field(out: &mut Vec<u8>, name: &str, text: &str) {
    key(out, name);
    string(out, text);
}

/// Appends `,"name":"text"` when there is a text.
pub(super) fn optional(out: &mut Vec<u8>, name: &str, text: Option<&str>) {
    if let Some(text) = text {
        field(out, name, text);
    }
}

/// Appends a number.
pub(super) fn number(out: &mut Vec<u8>, value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = value;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Appends a time as `serde` writes a `chrono::DateTime<Utc>`: RFC 3339, `Z`, and as many
/// fraction digits as it needs (0, 3, 6 or 9), a leap second as `:60`.
pub(super) fn time(out: &mut Vec<u8>, time: &chrono::DateTime<chrono::Utc>) {
    use chrono::{Datelike, Timelike};
    let year = time.year();
    if !(0..=9999).contains(&year) {
        // Five digits or a sign: chrono's own rules, off the hot path.
        let text = time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
        return;
    }
    let nanos = time.nanosecond();
    let (leap, nanos) = (nanos / 1_000_000_000, nanos % 1_000_000_000);
    let mut text = *b"\"0000-00-00T00:00:00";
    let mut put = |at: usize, value: u32, width: usize| {
        let mut value = value;
        for digit in text[at..at + width].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(1, year as u32, 4);
    put(6, time.month(), 2);
    put(9, time.day(), 2);
    put(12, time.hour(), 2);
    put(15, time.minute(), 2);
    put(18, time.second() + leap, 2);
    out.extend_from_slice(&text);
    let digits = match nanos {
        0 => 0,
        n if n % 1_000_000 == 0 => 3,
        n if n % 1_000 == 0 => 6,
        _ => 9,
    };
    if digits > 0 {
        let mut fraction = *b".000000000";
        let mut value = nanos;
        for digit in fraction[1..].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
        out.extend_from_slice(&fraction[..=digits]);
    }
    out.extend_from_slice(b"Z\"");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Times are written as serde writes a `DateTime<Utc>`, fraction, leap second and odd years
    /// included.
    #[test]
    fn times_are_written_as_serde_writes_them() {
        use chrono::{TimeZone, Utc};
        let mut times = Vec::new();
        for (year, month, day, hour, minute, second) in [
            (2026, 11, 23, 9, 5, 7),
            (1970, 1, 1, 0, 0, 0),
            (0, 1, 1, 0, 0, 0),
            (9999, 12, 31, 23, 59, 59),
            (10000, 1, 1, 0, 0, 0),
            (-1, 6, 15, 12, 30, 45),
        ] {
            let base = Utc
                .with_ymd_and_hms(year, month, day, hour, minute, second)
                .unwrap();
            for nanos in [
                0,
                1,
                999,
                1_000,
                120_000,
                1_000_000,
                7_000_000,
                123_456_789,
                999_999_999,
            ] {
                times.push(base + chrono::Duration::nanoseconds(nanos));
            }
        }
        // A leap second, as chrono represents one (nanoseconds past 1e9).
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|day| day.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .unwrap()
            .and_utc();
        times.push(leap);
        for time in times {
            let mut ours = Vec::new();
            super::time(&mut ours, &time);
            let theirs = serde_json::to_vec(&time).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs),
                "{time:?}"
            );
        }
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut samples: Vec<String> = vec![
            String::new(),
            "plain ascii that runs longer than one word of eight".into(),
            "\"quoted\" and \\back\\slashed\\".into(),
            "controls \u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1b}[31m\u{1f} del \u{7f}".into(),
            "unicode é ü 日本 🎉 and bidi \u{202e}".into(),
            "/slashes/are/not/escaped".into(),
        ];
        // Every byte value below 0x80 at every position of a word, among clean neighbours.
        for byte in 0u8..0x80 {
            for position in 0..17 {
                let mut text = "x".repeat(position);
                text.push(char::from(byte));
                text.push_str("yyyyyyyyy");
                samples.push(text);
            }
        }
        for text in samples {
            let mut ours = Vec::new();
            string(&mut ours, &text);
            let theirs = serde_json::to_vec(&text).expect("a string serializes");
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs),
                "{text:?}"
            );
        }
    }

    #[test]
    fn numbers_and_times_are_written_as_serde_writes_them() {
        for value in [0, 7, 10, 200, 1024, 65_535, u64::from(u32::MAX), u64::MAX] {
            let mut ours = Vec::new();
            number(&mut ours, value);
            assert_eq!(ours, value.to_string().into_bytes());
        }
        use chrono::TimeZone as _;
        let base = chrono::Utc
            .timestamp_opt(1_795_000_000, 0)
            .single()
            .expect("a valid time");
        for nanos in [0, 1, 1_000, 120_000, 123_000_000, 999_999_999, 1_500_000_000] {
            let at = base + chrono::Duration::nanoseconds(nanos);
            let mut ours = Vec::new();
            time(&mut ours, &at);
            assert_eq!(
                ours,
                serde_json::to_vec(&at).expect("a time serializes"),
                "{at:?}"
            );
        }
    }
}
