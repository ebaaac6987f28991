//! `JSON.stringify(JSON.parse(body))`, byte for byte as JavaScript (node) produces it: the form
//! a receiver written from OptiView's and Dyte's documentation hashes.
//!
//! A JSON library cannot give this form: JavaScript strings are UTF-16 (so `"\ud83d\ude00"` is
//! the same string as a literal 😀, and a lone `"\ud800"` survives), objects list integer-like
//! keys first in numeric order, a duplicated key keeps its first place and its last value, and
//! numbers print as ECMAScript's `Number::toString` (`1.0` is `1`, `1e21` is `1e+21`). So this is
//! a small parser of exactly the `JSON.parse` grammar into a JavaScript-like value, and a writer
//! of exactly the `JSON.stringify` output. It runs on every captured body, so a string without
//! escapes (nearly all of them) is kept as a slice of the body and copied out as it is.
//!
//! Limit: arrays and objects nested deeper than [`MAX_DEPTH`] give `None`, although node would
//! accept somewhat deeper ones; parsing, writing and dropping the value recurse once per level,
//! and a hostile body must not overflow a 2 MiB worker stack.

use std::borrow::Cow;
use std::cmp::Ordering;

use number::write_number;
use parse::Parser;

mod number;
mod parse;

/// The deepest nesting of arrays and objects [`stringify`] accepts; a deeper body gives `None`
/// (node accepts more, up to its own stack limit). At this depth parsing, the deepest of the
/// recursions, uses under 128 KiB of stack optimized and under 512 KiB in a debug build, well
/// within a tokio worker's 2 MiB (a test holds it to 1 MiB).
pub const MAX_DEPTH: usize = 512;

/// What `JSON.stringify(JSON.parse(text))` gives in node for `body` read as UTF-8 (invalid
/// sequences replaced as node's `Buffer#toString` does, a leading BOM stripped as body-parser
/// does), or `None` when `JSON.parse` would throw or the nesting exceeds [`MAX_DEPTH`].
///
/// ```
/// use hookscope::verify::stringify::stringify;
///
/// let body = br#"{ "b": 2.0, "1": "\u00e9", "a": [1e21, -0], "b": "\ud800" }"#;
/// assert_eq!(
///     stringify(body).as_deref(),
///     Some(r#"{"1":"é","b":"\ud800","a":[1e+21,0]}"#.as_bytes())
/// );
/// assert_eq!(stringify(b"[1,]"), None);
/// ```
pub fn stringify(body: &[u8]) -> Option<Vec<u8>> {
    // std's validation is word-at-a-time; the lossy decoder (U+FFFD for each maximal invalid
    // subpart, as node's) only runs for a body that needs it.
    let text = match std::str::from_utf8(body) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(body),
    };
    // body-parser decodes through iconv-lite, which strips one leading BOM; JSON.parse itself
    // would reject it.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let value = Parser { text, pos: 0 }.document()?;
    let mut out = Vec::with_capacity(text.len());
    write_value(&value, &mut out, &mut String::new());
    Some(out)
}

/// A parsed JSON value, as JavaScript holds it.
enum Value<'a> {
    Null,
    Bool(bool),
    Number(f64),
    String(Text<'a>),
    Array(Vec<Value<'a>>),
    /// Properties in JavaScript's enumeration order, keys unique.
    Object(Vec<(Text<'a>, Value<'a>)>),
}

/// A JavaScript string. Two are equal when their UTF-16 code units are, whichever form they
/// are held in.
enum Text<'a> {
    /// A string literal without escapes: its text, as the body has it.
    Literal(&'a str),
    /// A string literal with escapes: its UTF-16 code units, lone surrogates included.
    Units(Vec<u16>),
}

impl Text<'_> {
    /// Orders by UTF-16 code units, as JavaScript compares strings.
    fn cmp_units(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Text::Literal(a), Text::Literal(b)) if a == b => Ordering::Equal,
            (Text::Literal(a), Text::Literal(b)) => a.encode_utf16().cmp(b.encode_utf16()),
            (Text::Literal(a), Text::Units(b)) => a.encode_utf16().cmp(b.iter().copied()),
            (Text::Units(a), Text::Literal(b)) => a.iter().copied().cmp(b.encode_utf16()),
            (Text::Units(a), Text::Units(b)) => a.cmp(b),
        }
    }
}

impl PartialEq for Text<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            // UTF-8 and UTF-16 spell each string one way only.
            (Text::Literal(a), Text::Literal(b)) => a == b,
            (Text::Units(a), Text::Units(b)) => a == b,
            _ => self.cmp_units(other) == Ordering::Equal,
        }
    }
}

/// Orders an object's properties as JavaScript enumerates them: a duplicated key keeps its first
/// place and takes its last value; array indices come first, in numeric order, then the other
/// keys in the order they first appeared.
fn js_order<'a>(mut entries: Vec<(Text<'a>, Value<'a>)>) -> Vec<(Text<'a>, Value<'a>)> {
    dedupe(&mut entries);
    if entries.iter().any(|(key, _)| array_index(key).is_some()) {
        // Stable: the other keys keep their order.
        entries.sort_by_key(|(key, _)| array_index(key).map_or((1, 0), |index| (0, index)));
    }
    entries
}

/// Keeps each key's first entry, holding the key's last value.
fn dedupe(entries: &mut Vec<(Text<'_>, Value<'_>)>) {
    // Small objects (nearly all webhooks) are searched directly; larger ones are sorted, so a
    // body with many keys costs n log n and not n².
    if entries.len() <= 16 {
        let mut i = 1;
        while i < entries.len() {
            match entries[..i].iter().position(|(key, _)| *key == entries[i].0) {
                Some(first) => entries[first].1 = entries.remove(i).1,
                None => i += 1,
            }
        }
        return;
    }
    let mut order: Vec<usize> = (0..entries.len()).collect();
    // Stable, so equal keys stay in the order they appeared.
    order.sort_by(|&a, &b| entries[a].0.cmp_units(&entries[b].0));
    let mut keep = vec![true; entries.len()];
    let mut moves = Vec::new();
    for group in order.chunk_by(|&a, &b| entries[a].0 == entries[b].0) {
        if let [first, .., last] = *group {
            moves.push((first, last));
            for &later in &group[1..] {
                keep[later] = false;
            }
        }
    }
    let duplicated = !moves.is_empty();
    for (first, last) in moves {
        entries[first].1 = std::mem::replace(&mut entries[last].1, Value::Null);
    }
    if duplicated {
        let mut index = 0;
        entries.retain(|_| {
            index += 1;
            keep[index - 1]
        });
    }
}

/// The index a key names when it is an array index: the canonical decimal form of an integer
/// from 0 to 2³² − 2.
fn array_index(key: &Text<'_>) -> Option<u32> {
    let digits = |units: &mut dyn Iterator<Item = u16>, len: usize| {
        if len == 0 || len > 10 {
            return None;
        }
        let mut index: u64 = 0;
        for (i, unit) in units.enumerate() {
            let digit = u8::try_from(unit).ok().filter(u8::is_ascii_digit)? - b'0';
            if digit == 0 && i == 0 && len > 1 {
                return None;
            }
            index = index * 10 + u64::from(digit);
        }
        u32::try_from(index).ok().filter(|&index| index != u32::MAX)
    };
    match key {
        Text::Literal(text) => digits(&mut text.bytes().map(u16::from), text.len()),
        Text::Units(units) => digits(&mut units.iter().copied(), units.len()),
    }
}

/// Appends `value` as `JSON.stringify` writes it; `scratch` is reused for number formatting.
fn write_value(value: &Value<'_>, out: &mut Vec<u8>, scratch: &mut String) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => write_number(*number, out, scratch),
        Value::String(text) => write_text(text, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out, scratch);
            }
            out.push(b']');
        }
        Value::Object(entries) => {
            out.push(b'{');
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_text(key, out);
                out.push(b':');
                write_value(item, out, scratch);
            }
            out.push(b'}');
        }
    }
}

/// A string as well-formed `JSON.stringify` writes it.
fn write_text(text: &Text<'_>, out: &mut Vec<u8>) {
    match text {
        // Without escapes the literal holds no `"`, `\` or control character, and everything
        // else is written as it is: the body's own bytes are the output.
        Text::Literal(text) => {
            out.push(b'"');
            out.extend_from_slice(text.as_bytes());
            out.push(b'"');
        }
        Text::Units(units) => write_units(units, out),
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Code units as well-formed `JSON.stringify` writes them: `"`, `\` and control characters
/// escaped, lone surrogates as `\udxxx`, everything else as UTF-8.
fn write_units(units: &[u16], out: &mut Vec<u8>) {
    out.push(b'"');
    let mut i = 0;
    while i < units.len() {
        // Printable ASCII needing no escape, copied as one run.
        let run = units[i..]
            .iter()
            .take_while(|&&unit| (0x20..0x80).contains(&unit) && unit != 0x22 && unit != 0x5c)
            .count();
        out.extend(units[i..i + run].iter().map(|&unit| unit as u8));
        i += run;
        let Some(&unit) = units.get(i) else { break };
        i += 1;
        match unit {
            0x22 => out.extend_from_slice(b"\\\""),
            0x5c => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0x0a => out.extend_from_slice(b"\\n"),
            0x0d => out.extend_from_slice(b"\\r"),
            0x09 => out.extend_from_slice(b"\\t"),
            0x00..=0x1f => write_unit_escape(unit, out),
            0xd800..=0xdbff if matches!(units.get(i), Some(0xdc00..=0xdfff)) => {
                let low = units[i];
                i += 1;
                let code = 0x10000 + ((u32::from(unit) - 0xd800) << 10) + (u32::from(low) - 0xdc00);
                push_utf8(code, out);
            }
            0xd800..=0xdfff => write_unit_escape(unit, out),
            _ => push_utf8(u32::from(unit), out),
        }
    }
    out.push(b'"');
}

fn write_unit_escape(unit: u16, out: &mut Vec<u8>) {
    out.extend_from_slice(b"\\u");
    out.extend(
        (0..4)
            .rev()
            .map(|nibble| HEX[usize::from(unit >> (nibble * 4) & 0xf)]),
    );
}

/// UTF-8 for a code point that is not a surrogate.
fn push_utf8(code: u32, out: &mut Vec<u8>) {
    // The casts keep the low bits on purpose: each byte holds its six (or fewer) bits.
    match code {
        0..=0x7f => out.push(code as u8),
        0x80..=0x7ff => out.extend_from_slice(&[0xc0 | (code >> 6) as u8, 0x80 | (code & 0x3f) as u8]),
        0x800..=0xffff => out.extend_from_slice(&[
            0xe0 | (code >> 12) as u8,
            0x80 | (code >> 6 & 0x3f) as u8,
            0x80 | (code & 0x3f) as u8,
        ]),
        _ => out.extend_from_slice(&[
            0xf0 | (code >> 18) as u8,
            0x80 | (code >> 12 & 0x3f) as u8,
            0x80 | (code >> 6 & 0x3f) as u8,
            0x80 | (code & 0x3f) as u8,
        ]),
    }
}
#[cfg(test)]
mod tests;
