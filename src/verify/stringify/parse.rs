//! Parsing exactly the `JSON.parse` grammar into a JavaScript-like value.

use super::{MAX_DEPTH, Text, Value, js_order};

/// A recursive-descent parser of the `JSON.parse` grammar (ECMA-404, nothing more).
pub(super) struct Parser<'a> {
    pub(super) text: &'a str,
    pub(super) pos: usize,
}

impl<'a> Parser<'a> {
    /// One value, surrounded only by JSON whitespace.
    pub(super) fn document(mut self) -> Option<Value<'a>> {
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
pub(super) fn plain_run(bytes: &[u8], from: usize) -> (usize, bool) {
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
