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

/// A recursive-descent parser of the `JSON.parse` grammar (ECMA-404, nothing more).
struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    /// One value, surrounded only by JSON whitespace.
    fn document(mut self) -> Option<Value<'a>> {
        let value = self.value(0)?;
        self.skip_whitespace();
        (self.pos == self.text.len()).then_some(value)
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.pos += 1;
        Some(byte)
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.pos += usize::from(found);
        found
    }

    /// JSON whitespace is these four only: no form feed, no U+00A0, no BOM.
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// `depth` counts the arrays and objects around this value.
    fn value(&mut self, depth: usize) -> Option<Value<'a>> {
        self.skip_whitespace();
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => self.string().map(Value::String),
            b't' => self.literal("true", Value::Bool(true)),
            b'f' => self.literal("false", Value::Bool(false)),
            b'n' => self.literal("null", Value::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &str, value: Value<'a>) -> Option<Value<'a>> {
        let rest = self.text.get(self.pos..)?;
        rest.starts_with(word).then(|| {
            self.pos += word.len();
            value
        })
    }

    fn array(&mut self, depth: usize) -> Option<Value<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.eat(b']') {
            return Some(Value::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.skip_whitespace();
            match self.next()? {
                b',' => {}
                b']' => return Some(Value::Array(items)),
                _ => return None,
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<Value<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        let mut entries = Vec::new();
        self.skip_whitespace();
        if self.eat(b'}') {
            return Some(Value::Object(entries));
        }
        loop {
            self.skip_whitespace();
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            self.skip_whitespace();
            if !self.eat(b':') {
                return None;
            }
            let value = self.value(depth)?;
            entries.push((key, value));
            self.skip_whitespace();
            match self.next()? {
                b',' => {}
                b'}' => break,
                _ => return None,
            }
        }
        Some(Value::Object(js_order(entries)))
    }

    /// A string literal, at its opening quote.
    fn string(&mut self) -> Option<Text<'a>> {
        self.pos += 1;
        let start = self.pos;
        let (end, _) = plain_run(self.text.as_bytes(), start);
        self.pos = end;
        match self.next()? {
            b'"' => return self.text.get(start..end).map(Text::Literal),
            b'\\' => {}
            // A raw control character: JSON.parse rejects it.
            _ => return None,
        }
        // Escapes: the string becomes code units.
        let mut units: Vec<u16> = self.text.get(start..end)?.encode_utf16().collect();
        units.push(self.escape()?);
        loop {
            let start = self.pos;
            let (end, ascii) = plain_run(self.text.as_bytes(), start);
            self.pos = end;
            // The run ends before an ASCII byte or at the end, so on a char boundary.
            let run = self.text.get(start..end)?;
            if ascii {
                units.extend(run.bytes().map(u16::from));
            } else {
                units.extend(run.encode_utf16());
            }
            match self.next()? {
                b'"' => return Some(Text::Units(units)),
                b'\\' => units.push(self.escape()?),
                _ => return None,
            }
        }
    }

    /// The code unit an escape (after its backslash) stands for.
    fn escape(&mut self) -> Option<u16> {
        Some(match self.next()? {
            b'"' => 0x22,
            b'\\' => 0x5c,
            b'/' => 0x2f,
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => 0x0a,
            b'r' => 0x0d,
            b't' => 0x09,
            b'u' => {
                let hex = self.text.as_bytes().get(self.pos..self.pos + 4)?;
                self.pos += 4;
                hex.iter().try_fold(0u16, |unit, &digit| {
                    let digit = char::from(digit).to_digit(16)?;
                    Some(unit << 4 | digit as u16)
                })?
            }
            _ => return None,
        })
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, to the nearest double.
    fn number(&mut self) -> Option<Value<'a>> {
        let start = self.pos;
        self.eat(b'-');
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.eat(b'.') && self.digits() == 0 {
            return None;
        }
        if self.eat(b'e') || self.eat(b'E') {
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if self.digits() == 0 {
                return None;
            }
        }
        // std's parse is correctly rounded for any number of digits, saturates huge exponents
        // to infinity or zero, and accepts every literal of the grammar above.
        let literal = self.text.get(start..self.pos)?;
        literal.parse().ok().map(Value::Number)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }
}

/// Where the run of string bytes taken as they are (not `"`, `\` or a control character) that
/// starts at `from` ends, and whether it is all ASCII.
fn plain_run(bytes: &[u8], from: usize) -> (usize, bool) {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // Eight bytes at a time while none of them ends the run (the classic "has a zero byte" and
    // "has a byte below n" word tests), then byte by byte.
    let mut pos = from;
    let mut seen: u64 = 0;
    while let Some(chunk) = bytes.get(pos..pos + 8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_ne_bytes(word);
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        let special = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(ONES * 0x20) & !word);
        if special & HIGHS != 0 {
            break;
        }
        seen |= word;
        pos += 8;
    }
    while let Some(&byte) = bytes.get(pos) {
        if byte == b'"' || byte == b'\\' || byte < 0x20 {
            break;
        }
        seen |= u64::from(byte);
        pos += 1;
    }
    (pos, seen & HIGHS == 0)
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

/// A number as ECMAScript's `Number::toString` writes it (`JSON.stringify` writes infinities
/// as `null`).
fn write_number(number: f64, out: &mut Vec<u8>, scratch: &mut String) {
    if !number.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    if number == 0.0 {
        // -0 too.
        out.push(b'0');
        return;
    }
    if number < 0.0 {
        out.push(b'-');
    }
    let magnitude = number.abs();
    if magnitude.fract() == 0.0 && magnitude < 9_007_199_254_740_992.0 {
        // Below 2^53 every integer is a double, so its shortest digits are all of its digits.
        write_integer(magnitude as u64, out);
        return;
    }
    let (digits, n) = js_digits(magnitude, scratch);
    let mut buffer = [0u8; 20];
    let digits = integer_text(digits, &mut buffer);
    // ECMAScript's k (digit count) and n (position of the decimal point), laid out as
    // Number::toString lays them out.
    let k = digits.len() as i32;
    if k <= n && n <= 21 {
        out.extend_from_slice(digits);
        out.extend(std::iter::repeat_n(b'0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        let (whole, fraction) = digits.split_at(n as usize);
        out.extend_from_slice(whole);
        out.push(b'.');
        out.extend_from_slice(fraction);
    } else if -6 < n && n <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', n.unsigned_abs() as usize));
        out.extend_from_slice(digits);
    } else {
        let (first, rest) = digits.split_at(1);
        out.extend_from_slice(first);
        if !rest.is_empty() {
            out.push(b'.');
            out.extend_from_slice(rest);
        }
        out.push(b'e');
        out.push(if n > 0 { b'+' } else { b'-' });
        write_integer(u64::from((n - 1).unsigned_abs()), out);
    }
}

/// The digits `s` (at most 17 of them, no trailing zero) and the exponent `n` of a positive
/// finite double as ECMAScript chooses them: the fewest digits that read back as the same
/// double, the closest such to it, and the even one of two equally close.
fn js_digits(magnitude: f64, scratch: &mut String) -> (u64, i32) {
    use std::fmt::Write as _;

    // std's `{:e}` gives the shortest round-trip digits as `d.ddde-N`, the closest such; only
    // an exact tie between two of them is broken differently (upwards, where JS takes the
    // even one), so that case is looked for below.
    scratch.clear();
    // Writing to a String cannot fail.
    let _ = write!(scratch, "{magnitude:e}");
    let (mantissa, exponent) = scratch.split_once('e').unwrap_or((scratch.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let mut digits: u64 = 0;
    let mut k = 0;
    for digit in mantissa.bytes().filter(u8::is_ascii_digit) {
        digits = digits * 10 + u64::from(digit - b'0');
        k += 1;
    }
    let n = exponent + 1;
    if digits % 2 == 1 {
        for neighbour in [digits - 1, digits + 1] {
            let same_length = (10u64.pow(k - 1)..10u64.pow(k)).contains(&neighbour);
            // Midway between the two, in units of 10^(n - k - 1).
            let midpoint = 5 * (digits + neighbour);
            if same_length
                && equals_decimal(magnitude, midpoint, n - k as i32 - 1)
                && reads_back(neighbour, n - k as i32, magnitude, scratch)
            {
                return (neighbour, n);
            }
        }
    }
    (digits, n)
}

/// Whether `value` is exactly `significand` × 10^`exponent`, for a significand below 10^18.
fn equals_decimal(value: f64, significand: u64, exponent: i32) -> bool {
    // A double equal to a decimal of at most 18 digits ending in 5 has an exponent in this range
    // (a larger power of 5 than 5^25 cannot divide into, nor 5^22 out of, a 53-bit mantissa),
    // and within it every product below fits in 128 bits.
    if !(-25..=22).contains(&exponent) {
        return false;
    }
    let bits = value.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (mantissa, binary_exponent) = match biased {
        0 => (fraction, -1074),
        _ => (fraction | 1 << 52, biased - 1075),
    };
    // significand × 5^e × 2^e = mantissa × 2^binary_exponent, with the powers of 5 moved to
    // whichever side keeps them positive.
    let five = 5u128.pow(exponent.unsigned_abs());
    let (left, right) = if exponent >= 0 {
        (u128::from(significand) * five, u128::from(mantissa))
    } else {
        (u128::from(significand), u128::from(mantissa) * five)
    };
    let shifted = |x: u128, by: i32| {
        let by = by.unsigned_abs();
        (by < 128 && x.leading_zeros() >= by).then(|| x << by)
    };
    let (left, right) = if exponent >= binary_exponent {
        (shifted(left, exponent - binary_exponent), Some(right))
    } else {
        (Some(left), shifted(right, binary_exponent - exponent))
    };
    left.is_some() && left == right
}

/// Whether `digits` × 10^`exponent` reads back as `value`.
fn reads_back(digits: u64, exponent: i32, value: f64, scratch: &mut String) -> bool {
    use std::fmt::Write as _;

    scratch.clear();
    let _ = write!(scratch, "{digits}e{exponent}");
    scratch.parse::<f64>() == Ok(value)
}

/// `value` in decimal, in the end of `buffer`.
fn integer_text(mut value: u64, buffer: &mut [u8; 20]) -> &[u8] {
    let mut start = buffer.len();
    loop {
        start -= 1;
        buffer[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    &buffer[start..]
}

fn write_integer(value: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(integer_text(value, &mut [0; 20]));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `stringify` as text, or `None`; every output must be UTF-8.
    fn s(body: &[u8]) -> Option<String> {
        stringify(body).map(|out| String::from_utf8(out).expect("output is UTF-8"))
    }

    fn table(cases: &[(&str, &str)]) {
        for (body, expected) in cases {
            assert_eq!(s(body.as_bytes()).as_deref(), Some(*expected), "body {body:?}");
        }
    }

    #[test]
    fn numbers_print_as_number_to_string() {
        table(&[
            ("2.0", "2"),
            ("1e6", "1000000"),
            ("1E+2", "100"),
            ("1e-2", "0.01"),
            ("1.5e-7", "1.5e-7"),
            ("0.000001", "0.000001"),
            ("0.0000012", "0.0000012"),
            ("1e-7", "1e-7"),
            ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"),
            ("123456789012345678901", "123456789012345680000"),
            ("1.5e21", "1.5e+21"),
            ("-0.0", "0"),
            ("-0", "0"),
            ("0e5", "0"),
            ("-1", "-1"),
            ("-1.25e-9", "-1.25e-9"),
            ("12345678901234567890", "12345678901234567000"),
            ("123e-20", "1.23e-18"),
            // Two shortest forms equally close (…234.25): the even one.
            ("2204451448845234.25", "2204451448845234.2"),
            ("9007199254740993", "9007199254740992"),
            ("0.1", "0.1"),
            ("0.30000000000000004", "0.30000000000000004"),
            ("3.14159", "3.14159"),
            ("100.5", "100.5"),
            ("1e400", "null"),
            ("-1e400", "null"),
            ("1e-400", "0"),
            ("1e99999999999999999999", "null"),
            ("5e-324", "5e-324"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"),
            ("123456.789e3", "123456789"),
            ("[0.5,-0.5,1e-6,1e-5]", "[0.5,-0.5,0.000001,0.00001]"),
        ]);
    }

    #[test]
    fn strings_escape_only_what_json_stringify_escapes() {
        table(&[
            (r#""a\/b""#, r#""a/b""#),
            (r#""\"\\""#, r#""\"\\""#),
            (r#""\b\f\n\r\t""#, r#""\b\f\n\r\t""#),
            (r#""\u0000\u001F\u007f""#, "\"\\u0000\\u001f\u{7f}\""),
            (r#""\u00e9\u00E9é""#, r#""ééé""#),
            (r#""\ud83d\ude00""#, r#""😀""#),
            (r#""\uD83D\uDE00""#, r#""😀""#),
            (r#""\ud800""#, r#""\ud800""#),
            (r#""\uDFFF\uD800""#, r#""\udfff\ud800""#),
            (r#""\ude00\ud83d""#, r#""\ude00\ud83d""#),
            (r#""\ud83d😀""#, r#""\ud83d😀""#),
            (r#""\u2028\u2029""#, "\"\u{2028}\u{2029}\""),
            ("\"\u{2028}<\u{7f}>\"", "\"\u{2028}<\u{7f}>\""),
            (r#""\u0041bc""#, r#""Abc""#),
        ]);
    }

    #[test]
    fn keys_follow_javascript_property_order() {
        table(&[
            (r#"{"b":1,"a":2}"#, r#"{"b":1,"a":2}"#),
            (r#"{"b":1,"2":2,"1":3,"a":4}"#, r#"{"1":3,"2":2,"b":1,"a":4}"#),
            (r#"{"10":1,"9":2,"0":3}"#, r#"{"0":3,"9":2,"10":1}"#),
            (
                r#"{"01":1,"1":2,"-1":3,"1.0":4}"#,
                r#"{"1":2,"01":1,"-1":3,"1.0":4}"#,
            ),
            (
                r#"{"4294967295":1,"4294967294":2}"#,
                r#"{"4294967294":2,"4294967295":1}"#,
            ),
            (r#"{"99999999999":1,"5":2}"#, r#"{"5":2,"99999999999":1}"#),
            (r#"{"\u0031":1,"0":2}"#, r#"{"0":2,"1":1}"#),
            (r#"{"a":1,"b":2,"a":3}"#, r#"{"a":3,"b":2}"#),
            (r#"{"1":1,"a":2,"1":3}"#, r#"{"1":3,"a":2}"#),
            (r#"{"😀":1,"\ud83d\ude00":2}"#, r#"{"😀":2}"#),
            (
                r#"{"__proto__":1,"a":{"__proto__":[]}}"#,
                r#"{"__proto__":1,"a":{"__proto__":[]}}"#,
            ),
            (r#"{"":1,"":2}"#, r#"{"":2}"#),
        ]);
    }

    #[test]
    fn large_objects_dedupe_like_small_ones() {
        // 40 keys, every fourth a repeat of an earlier one: past the linear search.
        let mut body = String::from("{");
        let mut expected: Vec<(String, usize)> = Vec::new();
        for i in 0..40 {
            let key = if i % 4 == 3 {
                format!("k{}", i / 2)
            } else {
                format!("k{i}")
            };
            body.push_str(&format!("\"{key}\":{i},"));
            match expected.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = i,
                None => expected.push((key, i)),
            }
        }
        body.pop();
        body.push('}');
        let expected: Vec<String> = expected.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        assert_eq!(s(body.as_bytes()), Some(format!("{{{}}}", expected.join(","))));
    }

    #[test]
    fn whitespace_and_structure() {
        table(&[
            (
                " \t\r\n[ 1 , { \"a\" : [ ] , \"b\" : { } } ,true,false,null ] \n",
                r#"[1,{"a":[],"b":{}},true,false,null]"#,
            ),
            ("\u{feff}{\"a\":1}", r#"{"a":1}"#),
            ("\"\"", "\"\""),
        ]);
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        let cases: &[(&[u8], &str)] = &[
            (b"\"a\xffb\"", "\"a\u{fffd}b\""),
            (b"\"\xe2\x82\"", "\"\u{fffd}\""),
            (b"\"\xed\xa0\x80\"", "\"\u{fffd}\u{fffd}\u{fffd}\""),
            (b"\"\xf0\x9f\x98\"", "\"\u{fffd}\""),
            (b"\xef\xbb\xbf\"x\"", "\"x\""),
        ];
        for (body, expected) in cases {
            assert_eq!(s(body).as_deref(), Some(*expected), "body {body:?}");
        }
        // Invalid bytes outside a string are a syntax error, as in node.
        assert_eq!(s(b"[1,\xff]"), None);
    }

    #[test]
    fn what_json_parse_rejects_is_none() {
        let rejected = [
            "",
            " ",
            "[1,]",
            "{\"a\":1,}",
            "[01]",
            "01",
            "-",
            "-a",
            "1.",
            ".5",
            "1e",
            "1e+",
            "+1",
            "0x10",
            "NaN",
            "Infinity",
            "[1 2]",
            "{\"a\" 1}",
            "{a:1}",
            "{'a':1}",
            "'a'",
            "\"a",
            "\"\\x41\"",
            "\"\\u12\"",
            "\"\\u12g4\"",
            "\"a\tb\"",
            "\"a\nb\"",
            "tru",
            "nul",
            "truex",
            "[1]]",
            "{}{}",
            "1 2",
            "\u{feff}\u{feff}1",
            "\u{a0}1",
            "\u{c}1",
            "[1,,2]",
            "[,1]",
            "{,}",
            "{\"a\":}",
            "\"\\\"",
            "\"\\'\"",
            "1e5.5",
            "--1",
            "-01",
            "[",
            "{",
        ];
        for body in rejected {
            assert_eq!(s(body.as_bytes()), None, "body {body:?}");
        }
    }

    #[test]
    fn nesting_is_capped_at_max_depth_within_a_small_stack() {
        let arrays = |depth: usize| "[".repeat(depth) + &"]".repeat(depth);
        let objects = |depth: usize| "{\"a\":".repeat(depth) + "1" + &"}".repeat(depth);
        // Half of a tokio worker's 2 MiB: the cap leaves room to spare even unoptimized, where
        // the deepest body uses under 512 KiB. A stack overflow aborts the whole test run.
        let outcome = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || {
                [
                    s(arrays(MAX_DEPTH).as_bytes()) == Some(arrays(MAX_DEPTH)),
                    s(objects(MAX_DEPTH).as_bytes()) == Some(objects(MAX_DEPTH)),
                    s(arrays(MAX_DEPTH + 1).as_bytes()).is_none(),
                    s(objects(MAX_DEPTH + 1).as_bytes()).is_none(),
                    s(arrays(100_000).as_bytes()).is_none(),
                ]
            })
            .expect("spawn")
            .join()
            .expect("no panic");
        assert_eq!(outcome, [true; 5]);
    }

    #[test]
    fn array_indices_are_canonical_and_below_the_array_length_limit() {
        let units = |text: &str| Text::Units(text.encode_utf16().collect());
        for (key, expected) in [
            ("0", Some(0)),
            ("7", Some(7)),
            ("4294967294", Some(4_294_967_294)),
            ("4294967295", None),
            ("00", None),
            ("07", None),
            ("", None),
            ("-0", None),
            ("1e3", None),
            ("12345678901", None),
            ("١", None),
        ] {
            assert_eq!(array_index(&units(key)), expected, "key {key:?}");
            assert_eq!(array_index(&Text::Literal(key)), expected, "key {key:?}");
        }
    }
}
