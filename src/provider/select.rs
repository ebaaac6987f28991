//! Reading a few scalars out of a JSON body in one pass, without building the document.
//!
//! A profile reads three or four fields of every body (event type, time, id, subject). Building
//! a `serde_json::Value` for that allocates every key and string of the body; even serde's
//! streaming visitor spent most of a capture's analysis (in the ingest benchmark) checking
//! strings it did not keep. [`select`] is a small scanner instead: one UTF-8 check of the whole
//! body (outside strings JSON is ASCII, so that stands for every string's check), then one walk
//! that skips through strings eight bytes at a time and builds only the values the pointers
//! reach. It refuses what `serde_json` refuses, so a body is JSON here exactly when `Value` would
//! parse it: bad escapes and lone surrogates, control characters in strings, numbers outside
//! `f64`'s range, nesting past serde_json's limit, trailing commas or characters. Its answers are
//! those of `serde_json::Value::pointer` on the whole document, duplicate keys included (the last
//! occurrence wins); a body using serde_json's private `RawValue` key is left to serde_json. The
//! tests hold both properties against serde_json, on hand-written bodies and on thousands of
//! mutated ones.

use std::borrow::Cow;

use serde_json::Value;

use crate::codec::next_special;

/// JSON pointers (RFC 6901) read once into their reference tokens, to be answered over many
/// bodies: a profile's are read when it is loaded, not for every capture.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pointers {
    texts: Vec<String>,
    /// Each pointer's tokens, unescaped; `None` for a text that is not a pointer.
    paths: Vec<Option<Vec<String>>>,
}

impl Pointers {
    /// `pointers`, each once, in order.
    pub(crate) fn new<'a>(pointers: impl IntoIterator<Item = &'a str>) -> Self {
        let mut texts: Vec<String> = Vec::new();
        for pointer in pointers {
            if !texts.iter().any(|known| known == pointer) {
                texts.push(pointer.to_owned());
            }
        }
        let paths = texts.iter().map(|pointer| tokens(pointer)).collect();
        Self { texts, paths }
    }

    /// Where `pointer`'s answer is in what [`select`] returns.
    pub(crate) fn slot(&self, pointer: &str) -> Option<usize> {
        self.texts.iter().position(|known| known == pointer)
    }
}

/// The scalar at each of `pointers` as text, in order; `None` for a pointer that leads nowhere
/// or to an object, array or null. `None` as a whole when `body` is not JSON.
pub(crate) fn select(body: &[u8], pointers: &Pointers) -> Option<Vec<Option<String>>> {
    let text = std::str::from_utf8(body).ok()?;
    let targets: Vec<Target<'_>> = pointers
        .paths
        .iter()
        .enumerate()
        .filter_map(|(slot, path)| {
            Some(Target {
                slot,
                rest: path.as_deref()?,
            })
        })
        .collect();
    let mut found = vec![None; pointers.texts.len()];
    let mut scan = Scan {
        text,
        bytes: body,
        at: 0,
        depth: 0,
        raw_value: false,
    };
    scan.whitespace();
    let scanned = scan.value(&targets, &mut found);
    if scan.raw_value {
        // serde_json's private `RawValue` key, which `Value` reads as a document of its own:
        // let serde_json read the body (no webhook carries it; only a sender playing games).
        let whole: Value = serde_json::from_slice(body).ok()?;
        return Some(
            pointers
                .texts
                .iter()
                .map(|pointer| whole.pointer(pointer).and_then(scalar))
                .collect(),
        );
    }
    scanned?;
    scan.whitespace();
    (scan.at == body.len()).then_some(found)
}

/// The first key of an object that `serde_json::Value` (with the `raw_value` feature) reads
/// as "this object is the JSON text in my value", not as a key.
const RAW_VALUE_KEY: &str = "$serde_json::private::RawValue";

/// A pointer's reference tokens, unescaped (`~1` is `/`, `~0` is `~`); `None` if it is not a
/// pointer (neither empty nor starting with `/`).
fn tokens(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let tokens = pointer
        .strip_prefix('/')?
        .split('/')
        .map(|token| token.replace("~1", "/").replace("~0", "~"));
    Some(tokens.collect())
}

/// A JSON scalar as text; objects, arrays and null are not facts.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// [`scalar`] of one value given as its JSON text (already checked).
fn scalar_of(token: &str) -> Option<String> {
    match token.as_bytes().first()? {
        b'"' if !token.contains('\\') => Some(token[1..token.len() - 1].to_owned()),
        b't' => Some("true".to_owned()),
        b'f' => Some("false".to_owned()),
        b'{' | b'[' | b'n' => None,
        // Numbers and escaped strings as serde_json reads them (`1E2` is `100.0`).
        _ => scalar(&serde_json::from_str(token).ok()?),
    }
}

/// A pointer being followed: where its answer goes and the tokens left of it (none at its
/// value).
#[derive(Clone, Copy)]
struct Target<'p> {
    slot: usize,
    rest: &'p [String],
}

/// The array index `token` names, if it is one as RFC 6901 writes them (decimal, no sign, no
/// leading zeros), which is how `Value::pointer` reads them.
fn index_of(token: &str) -> Option<usize> {
    let digits = token.bytes().all(|b| b.is_ascii_digit()) && (token == "0" || !token.starts_with('0'));
    digits.then(|| token.parse().ok()).flatten()
}

/// serde_json's nesting limit: an array or object inside 127 others is refused.
const MAX_DEPTH: usize = 128;

/// An integer part this long may exceed `f64`'s range (about 1.8e308), which serde_json refuses;
/// a shorter one without an exponent never does.
const SAFE_DIGITS: usize = 300;

/// A walk over a JSON text; every method returns `None` where the text stops being JSON, or
/// where it meets [`RAW_VALUE_KEY`] (and says so in `raw_value`).
struct Scan<'b> {
    text: &'b str,
    bytes: &'b [u8],
    at: usize,
    depth: usize,
    raw_value: bool,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// Skips JSON's whitespace (the four bytes serde_json skips).
    fn whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// Reads one value: answers the targets that end at it, follows those that go through it.
    fn value(&mut self, targets: &[Target<'_>], found: &mut [Option<String>]) -> Option<()> {
        let start = self.at;
        match self.peek()? {
            b'{' => self.object(targets, found)?,
            b'[' => self.array(targets, found)?,
            b'"' => {
                self.string()?;
            }
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            b'n' => self.literal(b"null")?,
            b'-' | b'0'..=b'9' => self.number()?,
            _ => return None,
        }
        for target in targets.iter().filter(|target| target.rest.is_empty()) {
            found[target.slot] = scalar_of(&self.text[start..self.at]);
        }
        Some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.bytes.get(self.at..end)? == word).then(|| self.at = end)
    }

    /// Steps into an array or object, within serde_json's nesting limit.
    fn enter(&mut self) -> Option<()> {
        self.at += 1;
        self.depth += 1;
        (self.depth < MAX_DEPTH).then_some(())
    }

    /// After a member or element: `true` past a `,`, `false` past the closing `close`.
    fn more(&mut self, close: u8) -> Option<bool> {
        self.whitespace();
        let byte = self.peek()?;
        self.at += 1;
        match byte {
            b',' => {
                self.whitespace();
                Some(true)
            }
            _ if byte == close => Some(false),
            _ => None,
        }
    }

    fn object(&mut self, targets: &[Target<'_>], found: &mut [Option<String>]) -> Option<()> {
        self.enter()?;
        self.whitespace();
        if self.peek()? == b'}' {
            self.at += 1;
        } else {
            let through = targets.iter().any(|target| !target.rest.is_empty());
            let mut next: Vec<Target<'_>> = Vec::new();
            let mut first = true;
            loop {
                let key_start = self.at;
                if self.peek()? != b'"' {
                    return None;
                }
                let escaped = self.string()?;
                let key = &self.text[key_start..self.at];
                if std::mem::take(&mut first) {
                    let raw_value = match escaped {
                        true => serde_json::from_str::<String>(key).ok()? == RAW_VALUE_KEY,
                        false => key[1..key.len() - 1] == *RAW_VALUE_KEY,
                    };
                    if raw_value {
                        self.raw_value = true;
                        return None;
                    }
                }
                self.whitespace();
                if self.peek()? != b':' {
                    return None;
                }
                self.at += 1;
                self.whitespace();
                next.clear();
                if through {
                    let key: Cow<'_, str> = match escaped {
                        true => Cow::Owned(serde_json::from_str(key).ok()?),
                        false => Cow::Borrowed(&key[1..key.len() - 1]),
                    };
                    next.extend(targets.iter().filter_map(|target| {
                        let (token, rest) = target.rest.split_first()?;
                        (token.as_str() == key).then_some(Target {
                            slot: target.slot,
                            rest,
                        })
                    }));
                    // A repeated key replaces what an earlier occurrence answered, as in a
                    // parsed map.
                    for target in &next {
                        found[target.slot] = None;
                    }
                }
                self.value(&next, found)?;
                if !self.more(b'}')? {
                    break;
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    fn array(&mut self, targets: &[Target<'_>], found: &mut [Option<String>]) -> Option<()> {
        self.enter()?;
        self.whitespace();
        if self.peek()? == b']' {
            self.at += 1;
        } else {
            let through = targets.iter().any(|target| !target.rest.is_empty());
            let mut next: Vec<Target<'_>> = Vec::new();
            let mut index = 0usize;
            loop {
                next.clear();
                if through {
                    next.extend(targets.iter().filter_map(|target| {
                        let (token, rest) = target.rest.split_first()?;
                        (index_of(token) == Some(index)).then_some(Target {
                            slot: target.slot,
                            rest,
                        })
                    }));
                }
                self.value(&next, found)?;
                if !self.more(b']')? {
                    break;
                }
                index += 1;
            }
        }
        self.depth -= 1;
        Some(())
    }

    /// Skips a string from its opening quote; whether it holds escapes.
    fn string(&mut self) -> Option<bool> {
        let mut escaped = false;
        let mut from = self.at + 1;
        loop {
            // Unclosed (`None`), closed, an escape, or a control character (refused).
            let at = next_special(self.bytes, from)?;
            match self.bytes[at] {
                b'"' => {
                    self.at = at + 1;
                    return Some(escaped);
                }
                b'\\' => {
                    escaped = true;
                    from = self.escape(at + 1)?;
                }
                _ => return None,
            }
        }
    }

    /// Checks the escape whose letter is at `at` as serde_json checks text (a `\u` surrogate
    /// must be a leading one followed by a trailing one); where it ends.
    fn escape(&self, at: usize) -> Option<usize> {
        match *self.bytes.get(at)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(at + 1),
            b'u' => match self.hex(at + 1)? {
                0xDC00..=0xDFFF => None,
                0xD800..=0xDBFF => {
                    if self.bytes.get(at + 5..at + 7)? != b"\\u" {
                        return None;
                    }
                    (0xDC00..=0xDFFF).contains(&self.hex(at + 7)?).then_some(at + 11)
                }
                _ => Some(at + 5),
            },
            _ => None,
        }
    }

    /// The four hex digits at `at`.
    fn hex(&self, at: usize) -> Option<u32> {
        self.bytes.get(at..at + 4)?.iter().try_fold(0, |value, &digit| {
            Some(value << 4 | char::from(digit).to_digit(16)?)
        })
    }

    /// Skips decimal digits; how many.
    fn digits(&mut self) -> usize {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        self.at - start
    }

    /// Skips a number, `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, within `f64`'s
    /// range.
    fn number(&mut self) -> Option<()> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let integer = match self.peek()? {
            b'0' => {
                self.at += 1;
                1
            }
            b'1'..=b'9' => self.digits(),
            _ => return None,
        };
        if self.peek() == Some(b'.') {
            self.at += 1;
            (self.digits() > 0).then_some(())?;
        }
        let exponent = matches!(self.peek(), Some(b'e' | b'E'));
        if exponent {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            (self.digits() > 0).then_some(())?;
        }
        if exponent || integer >= SAFE_DIGITS {
            // Rare in webhooks: serde_json itself says whether it is in range.
            serde_json::from_str::<Value>(&self.text[start..self.at]).ok()?;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`select`] with an answer for each of `pointers`, repeated ones included.
    fn select_each(body: &[u8], pointers: &[&str]) -> Option<Vec<Option<String>>> {
        let parsed = Pointers::new(pointers.iter().copied());
        let found = select(body, &parsed)?;
        Some(
            pointers
                .iter()
                .map(|pointer| parsed.slot(pointer).and_then(|slot| found[slot].clone()))
                .collect(),
        )
    }

    /// `select` answers what `Value::pointer` on the whole document answers, for every pointer.
    #[test]
    fn agrees_with_value_pointer() {
        let literal: &[&[u8]] = &[
            br#"{"type":"a.b","created":1700000000,"object":{"type":"engine","id":"eng_1"},"list":[{"x":1},{"x":"two"}]}"#,
            br#"{"esc\u0061ped":{"k":"v"},"o":{"n\u0065sted":{"deep":true}},"a/b":{"m~n":5},"a":{"a":{"b":"twice"}}}"#,
            br#"[{"type":"top-level array"}]"#,
            br#"{"s":"caf\u00e9 \"q\"","n":-1.5e3,"nul":null,"t":true,"big":18446744073709551616}"#,
            br#"{"type":"first","type":"second","object":{"id":1},"object":2,"list":[0],"list":{"1":{"x":"map"}}}"#,
            br#"{"list":["a","b","c","d","e","f","g","h","i","j","k"],"0":"zero"}"#,
            br#"  "just a string"  "#,
            b"not json",
            br#"{"type":"truncated""#,
            // What skipping without parsing would let through: each is not JSON to `Value`.
            b"{\"type\":\"x\",\"pad\":\"\xff\"}",
            br#"{"type":"x","pad":"\ud800"}"#,
            br#"{"type":"x","pad":1e999}"#,
            br#"{"type":"x","pad":[1,{"deep":[-0.0,1E+2,true,null,"\u00e9\ud83c\udf89"]}]}"#,
            // serde_json's private RawValue key, which `Value` reads as a nested document.
            br#"{"$serde_json::private::RawValue":1}"#,
            br#"{"$serde_json::private::RawValue":"{}","type":"a"}"#,
            br#"{"type":{"$serde_json::private::RawValue":"\"x\""}}"#,
            br#"{"$serde_json::private::Raw\u0056alue":"[{\"type\":\"inner\"}]"}"#,
            br#"{"type":"t","$serde_json::private::RawValue":"not first, so a key"}"#,
        ];
        let mut bodies: Vec<Vec<u8>> = literal.iter().map(|body| body.to_vec()).collect();
        // Nesting past serde_json's limit (128) is not JSON to `Value`; within it, it is.
        for depth in [100, 126, 127, 128, 200] {
            let mut body = r#"{"type":"nested","pad":"#.to_owned();
            body.push_str(&"[".repeat(depth));
            body.push_str(&"]".repeat(depth));
            body.push('}');
            bodies.push(body.into_bytes());
        }
        let pointers = [
            "",
            "/type",
            "/created",
            "/object/id",
            "/object",
            "/list/1/x",
            "/list/0/x",
            "/list/9/x",
            "/list/10",
            "/list/01",
            "/list/+1",
            "/list/-",
            "/escaped/k",
            "/o/nested/deep",
            "/a~1b/m~0n",
            "/a/a/b",
            "/0/type",
            "/0",
            "/s",
            "/n",
            "/big",
            "/nul",
            "/t",
            "/missing",
            "/type/deeper",
            "no-slash",
            "/",
        ];
        // All at once, then without "" (which builds the whole document and so checks it all),
        // then one at a time.
        let mut sets: Vec<Vec<&str>> = vec![pointers.to_vec(), pointers[1..].to_vec()];
        sets.extend(pointers.iter().map(|pointer| vec![*pointer]));
        for body in &bodies {
            let body = body.as_slice();
            let whole: Option<Value> = serde_json::from_slice(body).ok();
            let text = String::from_utf8_lossy(body);
            for set in &sets {
                let selected = select_each(body, set);
                assert_eq!(selected.is_some(), whole.is_some(), "{set:?} in {text}");
                let (Some(whole), Some(selected)) = (&whole, selected) else {
                    continue;
                };
                for (pointer, got) in set.iter().zip(selected) {
                    let expected = whole.pointer(pointer).and_then(scalar);
                    assert_eq!(got, expected, "{pointer:?} in {text}");
                }
            }
        }
    }

    /// Bodies that are almost JSON, made by mutating real ones at random: `select` refuses
    /// exactly what `serde_json` refuses and answers what `Value::pointer` answers.
    #[test]
    fn agrees_with_serde_json_on_mutated_bodies() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};

        let seeds: &[&[u8]] = &[
            br#"{"type":"channel.started","data":{"id":"ch_1","n":[1,-2.5e3,0,true,null]},"ts":1700000000}"#,
            br#"{"event":"x","payload":{"s":"caf\u00e9 \ud83c\udf89 \"q\" \\ \/ \b\f\n\r\t","e":1E+2,"z":-0}}"#,
            br#"[{"type":"a"},{"type":"b","list":[[],{},""]}]"#,
            b"{\"type\":\"multi\xc3\xa9byte \xe2\x82\xac \xf0\x9f\x8e\x89\",\"k\":[0.5, 10 ,\t\"v\"\r\n]}",
        ];
        // Bytes that matter to a JSON parser, and some that do not.
        let alphabet: &[u8] =
            b"{}[]:,\\\"'/ \t\n\r0123456789.eE+-truefalsnu\x00\x1f\x7f\xc3\xa9\xff\xed\xa0\x80abcdDFx";
        let pointers = [
            "/type",
            "/data/id",
            "/data/n/1",
            "/payload/s",
            "/payload/e",
            "/0/type",
            "/1/list/2",
            "/k/2",
            "/ts",
            "",
        ];
        let mut rng = StdRng::seed_from_u64(0x5e1ec7);
        let (mut json, mut not_json) = (0, 0);
        for round in 0..20_000 {
            let mut body = seeds[round % seeds.len()].to_vec();
            for _ in 0..rng.gen_range(1..=3) {
                let at = rng.gen_range(0..=body.len());
                let byte = alphabet[rng.gen_range(0..alphabet.len())];
                match rng.gen_range(0..4) {
                    0 if at < body.len() => body[at] = byte,
                    1 if at < body.len() => {
                        body.remove(at);
                    }
                    2 => body.truncate(at),
                    _ => body.insert(at, byte),
                }
            }
            let whole: Option<Value> = serde_json::from_slice(&body).ok();
            let selected = select_each(&body, &pointers);
            let text = String::from_utf8_lossy(&body);
            assert_eq!(selected.is_some(), whole.is_some(), "is it JSON: {text}");
            let (Some(whole), Some(selected)) = (whole, selected) else {
                not_json += 1;
                continue;
            };
            json += 1;
            for (pointer, got) in pointers.iter().zip(selected) {
                assert_eq!(
                    got,
                    whole.pointer(pointer).and_then(scalar),
                    "{pointer:?} in {text}"
                );
            }
        }
        // Both kinds were exercised, not just one.
        assert!(json > 1_000 && not_json > 1_000, "{json} JSON, {not_json} not");
    }

    /// Numbers at the edges of serde_json's rules: leading zeros, lone signs and dots, and
    /// `f64`'s range.
    #[test]
    fn numbers_are_refused_where_serde_json_refuses_them() {
        let long = "9".repeat(400);
        let cases = [
            "0".to_owned(),
            "-0".into(),
            "01".into(),
            "-01".into(),
            "1.".into(),
            ".5".into(),
            "-".into(),
            "+1".into(),
            "1e".into(),
            "1e+".into(),
            "1.5e-3".into(),
            "2E308".into(),
            "1e308".into(),
            "1.7976931348623157e308".into(),
            "1.7976931348623159e308".into(),
            "-1e999".into(),
            "0e999999999999".into(),
            "1e-999".into(),
            "9".repeat(299),
            "9".repeat(300),
            "9".repeat(309),
            long.clone(),
            format!("{long}.5"),
            format!("0.{long}"),
            "18446744073709551616".into(),
            "-9223372036854775809".into(),
            "1_0".into(),
            "0x10".into(),
            "NaN".into(),
            "Infinity".into(),
        ];
        for case in &cases {
            for body in [case.clone(), format!("{{\"n\":{case}}}"), format!("[{case},1]")] {
                let whole: Option<Value> = serde_json::from_str(&body).ok();
                let selected = select_each(body.as_bytes(), &["", "/n", "/0"]);
                assert_eq!(selected.is_some(), whole.is_some(), "{body}");
                if let (Some(whole), Some(selected)) = (whole, selected) {
                    assert_eq!(selected[1], whole.pointer("/n").and_then(scalar), "{body}");
                    assert_eq!(selected[2], whole.pointer("/0").and_then(scalar), "{body}");
                }
            }
        }
    }

    /// Only nesting counts toward serde_json's limit: a value after many closed siblings (objects
    /// and arrays, each one level deep) is read like any other.
    #[test]
    fn closed_siblings_do_not_count_toward_the_nesting_limit() {
        let objects = vec![r#"{"k":[]}"#; 200].join(",");
        let arrays = vec!["[{}]"; 200].join(",");
        let body = format!(r#"{{"objects":[{objects}],"arrays":[{arrays}],"type":"after"}}"#);
        assert!(serde_json::from_str::<Value>(&body).is_ok());
        assert_eq!(
            select_each(body.as_bytes(), &["/type"]),
            Some(vec![Some("after".into())])
        );
    }

    /// The same pointer twice, and pointers through one another, each get their answer.
    #[test]
    fn overlapping_pointers() {
        let body = br#"{"object":{"id":"o_1","kind":"k"},"type":"t"}"#;
        let got = select_each(body, &["/object/id", "/object", "/object/id", "/type"]);
        assert_eq!(
            got,
            Some(vec![
                Some("o_1".into()),
                None,
                Some("o_1".into()),
                Some("t".into())
            ])
        );
    }
}
