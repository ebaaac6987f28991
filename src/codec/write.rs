//! The few JSON writing primitives the capture line needs, written for speed, and the one JSON
//! writer for every other record hookscope prints or saves.
//!
//! Encoding the journal line is on every request's path. Through serde, escaping the body went a
//! fragment at a time through the generic writer, and the timestamp through `collect_str`; here
//! strings are escaped straight into the line's buffer, skipping eight clean bytes at a time.
//!
//! JSON output escapes more than JSON requires: besides C0 controls, C1 controls, bidi controls
//! and U+2028/U+2029 are written `\u009b`, `\u202e` (lowercase hex), so that `jq`, `cat` or
//! `grep` of a journal cannot put them on a terminal (see `sanitize::is_unsafe`). The text
//! decodes to the same string. Otherwise the output is byte for byte what `serde_json` writes
//! through [`Escaping`] (the tests compare the two).

use std::io;

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};

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

/// The lead bytes of every character outside ASCII that JSON output escapes: C1 controls
/// (`C2 80`..`C2 9F`), U+061C (`D8 9C`), and U+200E, U+200F, U+2028..U+202E, U+2066..U+2069
/// (`E2 80 ..`, `E2 81 ..`). Any other byte at or above 0x80 is copied without a look.
const LEADS: [u8; 3] = [0xc2, 0xd8, 0xe2];

/// Whether `c`, which JSON lets through as is, is escaped in hookscope's JSON output.
fn hidden(c: char) -> bool {
    !c.is_ascii() && crate::sanitize::is_unsafe(c)
}

/// A mask with the high bit set in (at least) the lowest byte of `word` that is one of
/// [`LEADS`]; as [`special`], only the lowest is exact. Out of line, so that its constants stay
/// out of the loop over ASCII words, which never call it.
#[inline(never)]
fn lead(word: u64) -> u64 {
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    LEADS.iter().fold(0, |mask, &byte| {
        mask | zero_bytes(word ^ (ONES * u64::from(byte)))
    })
}

/// The index of the first byte at or after `from` that [`string`] escapes: what [`next_special`]
/// finds, or the lead byte of a character [`lead_char`] names. A word of ASCII costs one test
/// more than [`next_special`]; the other characters starting with one of [`LEADS`] are stepped
/// over here, without returning to the caller.
fn next_escape(bytes: &[u8], mut from: usize) -> Option<usize> {
    while let Some(word) = bytes.get(from..from + 8) {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        let word = u64::from_le_bytes(eight);
        let mut mask = special(word);
        if word & HIGHS == 0 {
            if mask != 0 {
                return Some(from + (mask.trailing_zeros() / 8) as usize);
            }
            from += 8;
            continue;
        }
        mask |= lead(word);
        if mask == 0 {
            from += 8;
            continue;
        }
        let at = from + (mask.trailing_zeros() / 8) as usize;
        if bytes[at] < 0x80 || lead_char(bytes, at).1.is_some() {
            return Some(at);
        }
        // A 2- or 3-byte character let through: the bytes after its lead up to here are
        // continuation bytes, none of which is a stop.
        from = at + 2;
    }
    while let Some(&byte) = bytes.get(from) {
        if STOP[usize::from(byte)] && (byte < 0x80 || lead_char(bytes, from).1.is_some()) {
            return Some(from);
        }
        from += 1;
    }
    None
}

/// The bytes [`next_escape`] looks at: those [`ESCAPE`] names, and [`LEADS`].
static STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = ESCAPE[byte] != 0 || byte == 0xc2 || byte == 0xd8 || byte == 0xe2;
        byte += 1;
    }
    table
};

/// The character that starts at `at` with a lead byte of [`LEADS`], in valid UTF-8: its length,
/// and its code point when it is one JSON output escapes. Read from the bytes, without decoding
/// the characters that are let through (most of what starts with `E2`: punctuation, arrows...).
fn lead_char(bytes: &[u8], at: usize) -> (usize, Option<u32>) {
    let next = |i: usize| bytes.get(at + i).copied().unwrap_or(0);
    let (second, third) = (next(1), next(2));
    match bytes[at] {
        // C1 controls: C2 80..C2 9F are U+0080..U+009F.
        0xc2 => (2, (second <= 0x9f).then_some(u32::from(second))),
        // U+061C, the arabic letter mark.
        0xd8 => (2, (second == 0x9c).then_some(0x061c)),
        // E2 80 8E/8F (LRM, RLM), E2 80 A8..AE (separators, embeddings, overrides), E2 81 A6..A9
        // (isolates).
        _ => {
            let hidden = matches!(
                (second, third),
                (0x80, 0x8e | 0x8f | 0xa8..=0xae) | (0x81, 0xa6..=0xa9)
            );
            (
                3,
                hidden.then(|| 0x2000 | (u32::from(second & 0x3f) << 6) | u32::from(third & 0x3f)),
            )
        }
    }
}

/// Appends `\u` and the four lowercase hex digits of `code`.
fn unicode_escape(out: &mut Vec<u8>, code: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX[((code >> shift) & 0xf) as usize]);
    }
}

/// Appends the escape of the character at `at`, one [`next_escape`] found among those starting
/// with one of [`LEADS`]; returns the index after it. Out of line, so that the loop over ASCII
/// text keeps its registers.
#[inline(never)]
fn escape_hidden(out: &mut Vec<u8>, bytes: &[u8], at: usize) -> usize {
    let (len, code) = lead_char(bytes, at);
    unicode_escape(out, code.unwrap_or(u32::from(bytes[at])));
    at + len
}

/// Appends `text` as a JSON string, quotes included.
pub(super) fn string(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    while let Some(at) = next_escape(bytes, start) {
        out.extend_from_slice(&bytes[start..at]);
        let byte = bytes[at];
        if byte >= 0x80 {
            start = escape_hidden(out, bytes, at);
            continue;
        }
        match ESCAPE[usize::from(byte)] {
            b'u' => unicode_escape(out, u32::from(byte)),
            letter => out.extend_from_slice(&[b'\\', letter]),
        }
        start = at + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// A `serde_json` formatter that escapes what [`string`] escapes: JSON's own escapes, plus C1
/// controls, bidi controls and U+2028/U+2029 as `\uXXXX`. Wraps the compact or the pretty
/// formatter, whose layout it keeps.
pub struct Escaping<F>(F);

impl<F: Formatter> Formatter for Escaping<F> {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (at, c) in fragment.char_indices() {
            if hidden(c) {
                writer.write_all(&fragment.as_bytes()[start..at])?;
                let mut escaped = Vec::with_capacity(6);
                unicode_escape(&mut escaped, u32::from(c));
                writer.write_all(&escaped)?;
                start = at + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    // The layout: what the pretty formatter changes from the defaults, passed on.
    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_array(writer)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_array(writer)
    }
    fn begin_array_value<W: ?Sized + io::Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(writer, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_array_value(writer)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_object(writer)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object(writer)
    }
    fn begin_object_key<W: ?Sized + io::Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(writer, first)
    }
    fn end_object_key<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object_key(writer)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_object_value(writer)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object_value(writer)
    }
}

/// Writes `value` as compact JSON into `out`, escaped as every JSON output of hookscope is.
pub fn json_into<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> serde_json::Result<()> {
    value.serialize(&mut serde_json::Serializer::with_formatter(
        out,
        Escaping(CompactFormatter),
    ))
}

/// `value` as indented JSON (two spaces), escaped as every JSON output of hookscope is.
pub fn json_pretty<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::with_capacity(4096);
    let formatter = Escaping(PrettyFormatter::new());
    value.serialize(&mut serde_json::Serializer::with_formatter(&mut out, formatter))?;
    // The serializer writes only UTF-8: the input's strings and ASCII.
    Ok(String::from_utf8(out).unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned()))
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

    /// The reference the hand-written string escaper is held to: `serde_json` through
    /// [`Escaping`].
    fn reference(text: &str) -> Vec<u8> {
        let mut line = Vec::new();
        json_into(&mut line, text).expect("a string serializes");
        line
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
        // Every character that shares a lead byte with one that is escaped, at every position.
        let neighbours = (0x80..0x800u32)
            .chain(0x600..0x640)
            .chain(0x2000..0x2100)
            .filter_map(char::from_u32);
        for c in neighbours {
            for position in [0, 3, 7, 8, 9] {
                let mut text = "x".repeat(position);
                text.push(c);
                text.push_str("yyyyyyyy");
                samples.push(text);
            }
        }
        for text in samples {
            let mut ours = Vec::new();
            string(&mut ours, &text);
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&reference(&text)),
                "{text:?}"
            );
            let back: String = serde_json::from_slice(&ours).expect("valid JSON");
            assert_eq!(back, text, "decodes to the same text");
        }
    }

    /// Output that reaches a terminal through `jq` or `cat` holds no C1 control, bidi control or
    /// line separator: they are escaped as `\u` and four lowercase digits.
    #[test]
    fn hidden_characters_are_escaped_in_lowercase() {
        let text = "a\u{202e}b\u{2066}c\u{9b}d\u{9d}e\u{200e}f\u{200f}g\u{61c}h\u{2028}i\u{2029}j\u{85}";
        let mut ours = Vec::new();
        string(&mut ours, text);
        assert_eq!(
            String::from_utf8_lossy(&ours),
            r#""a\u202eb\u2066c\u009bd\u009de\u200ef\u200fg\u061ch\u2028i\u2029j\u0085""#
        );
        assert_eq!(reference(text), ours);
        let pretty = json_pretty(&serde_json::json!({ text: [text] })).expect("pretty");
        assert!(!pretty.chars().any(hidden), "{pretty}");
        assert!(pretty.contains(r"a\u202eb"), "{pretty}");
    }

    /// Runs of characters the scanner steps over, next to ones it escapes, in and out of whole
    /// words: the same as the reference on seeded random mixes.
    #[test]
    fn mixed_text_is_escaped_as_the_reference_escapes_it() {
        let pieces = [
            "a", "\"", "\\", "\n", "é", "—", "“", "✓", "\u{202e}", "\u{9b}", "\u{85}", "\u{a0}", "\u{61c}",
            "؛", "\u{2028}", "\u{2069}", "日本", "\u{7f}", "\u{1f}", "😀",
        ];
        let mut state = 0x853c_49e6_748f_ea9b_u64;
        for _ in 0..3000 {
            let len = crate::testing::pick(&mut state, &[0usize, 1, 5, 9, 17, 40]);
            let text: String = (0..len)
                .map(|_| crate::testing::pick(&mut state, &pieces))
                .collect();
            let mut ours = Vec::new();
            string(&mut ours, &text);
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&reference(&text)),
                "{text:?}"
            );
        }
    }

    /// [`LEADS`] holds the lead byte of every character [`hidden`] names.
    #[test]
    fn every_hidden_character_starts_with_a_listed_lead() {
        let mut found = 0;
        for c in (0x80..=0x10ffffu32)
            .filter_map(char::from_u32)
            .filter(|&c| hidden(c))
        {
            let mut utf8 = [0u8; 4];
            let lead = c.encode_utf8(&mut utf8).as_bytes()[0];
            assert!(LEADS.contains(&lead), "{c:?} starts with {lead:#x}");
            found += 1;
        }
        assert_eq!(
            found,
            32 + 1 + 2 + 2 + 5 + 4,
            "C1, ALM, LRM/RLM, separators, embeddings, isolates"
        );
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
