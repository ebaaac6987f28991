//! `hookscope::verify::stringify` held to node itself: a corpus of tricky bodies and a few
//! thousand random ones go through `JSON.stringify(JSON.parse(body))` in one node process
//! (`tests/crosscheck/stringify.js`), and every answer must match ours byte for byte.

use std::fmt::Write as _;
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hookscope::verify::stringify::stringify;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/crosscheck/stringify.js");

/// How many random bodies are compared.
const RANDOM_BODIES: usize = 5000;

/// Whether node is on PATH; without it the test is skipped, loudly, except in CI.
fn node_available() -> bool {
    let found = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !found {
        assert!(std::env::var_os("CI").is_none(), "CI must have node on PATH");
        eprintln!("SKIPPED: node is not on PATH");
    }
    found
}

/// node's `JSON.stringify(JSON.parse(body))` for each body, `None` where `JSON.parse` throws.
fn node_stringify(bodies: &[Vec<u8>]) -> Vec<Option<Vec<u8>>> {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("bodies.b64");
    let mut lines = String::new();
    for body in bodies {
        lines.push_str(&STANDARD.encode(body));
        lines.push('\n');
    }
    std::fs::write(&input, lines).expect("write bodies");
    let output = Command::new("node")
        .arg(SCRIPT)
        .arg(&input)
        .output()
        .expect("run node");
    assert!(
        output.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("node prints ASCII");
    let answers: Vec<Option<Vec<u8>>> = stdout
        .lines()
        .map(|line| match line.split_at(1) {
            ("=", b64) => Some(STANDARD.decode(b64).expect("node's base64")),
            ("!", _) => None,
            _ => panic!("node: unexpected error {line:?}"),
        })
        .collect();
    assert_eq!(answers.len(), bodies.len(), "one answer per body");
    answers
}

/// Runs every body through both sides; returns how many node accepted. Panics listing the first
/// differences.
fn compare(bodies: &[Vec<u8>]) -> usize {
    let theirs = node_stringify(bodies);
    let mut report = String::new();
    let mut differences = 0;
    for (body, theirs) in bodies.iter().zip(&theirs) {
        let ours = stringify(body);
        if ours != *theirs {
            differences += 1;
            if differences <= 10 {
                let _ = writeln!(report, "{}", describe(body, theirs, &ours));
            }
        }
    }
    assert_eq!(
        differences,
        0,
        "{differences} of {} bodies differ:\n{report}",
        bodies.len()
    );
    theirs.iter().filter(|answer| answer.is_some()).count()
}

/// A difference, shown around where the two outputs part (random bodies can be long).
fn describe(body: &[u8], theirs: &Option<Vec<u8>>, ours: &Option<Vec<u8>>) -> String {
    let clip = |bytes: &[u8], from: usize| {
        let end = bytes.len().min(from + 120);
        bytes[from.min(end)..end].escape_ascii().to_string()
    };
    let mut text = format!("body ({} bytes): {}", body.len(), clip(body, 0));
    match (theirs, ours) {
        (Some(theirs), Some(ours)) => {
            let at = theirs.iter().zip(ours).take_while(|(a, b)| a == b).count();
            let from = at.saturating_sub(40);
            let _ = write!(
                text,
                "\n  outputs part at byte {at}:\n  node: …{}\n  ours: …{}",
                clip(theirs, from),
                clip(ours, from)
            );
        }
        (Some(_), None) => text.push_str("\n  node accepts it, ours gives None"),
        _ => text.push_str("\n  node throws, ours gives a value"),
    }
    text
}

/// Bodies that each exercise one rule, or one way to get it wrong.
fn corpus() -> Vec<Vec<u8>> {
    let texts: &[&str] = &[
        // Numbers.
        "2.0",
        "1e6",
        "1E+2",
        "1e-2",
        "1.5e-7",
        "0.000001",
        "0.0000012",
        "1e-7",
        "1e21",
        "1e20",
        "123456789012345678901",
        "1.5e21",
        "-0.0",
        "-0",
        "0e5",
        "-1",
        "-1.25e-9",
        "12345678901234567890",
        "123e-20",
        "9007199254740993",
        "0.1",
        "0.30000000000000004",
        "100.5",
        "1e400",
        "-1e400",
        "1e-400",
        "1e99999999999999999999",
        "5e-324",
        "2.4703282292062327e-324",
        "2.4703282292062328e-324",
        "1.7976931348623157e308",
        "1.7976931348623158e308",
        "1.7976931348623159e308",
        "123456.789e3",
        "0.1e1",
        "1e+0",
        "1E-0",
        "1e007",
        "4.35",
        "0.000001234",
        "1234567890123456789012345678901234567890e-30",
        "9.999999999999999e22",
        "1e23",
        "8.41e21",
        "2.2250738585072014e-308",
        "0.000000000000000000000000000000000000000000000000000000000000000001",
        "[0.5,-0.5,1e-6,1e-5,-1e-7,1e15,1e16,1e17]",
        // Strings.
        r#""a\/b""#,
        r#""\"\\""#,
        r#""\b\f\n\r\t""#,
        r#""\u0000\u001F\u007f\u0080\u009b""#,
        r#""\u00e9\u00E9é""#,
        r#""\ud83d\ude00""#,
        r#""\uD83D\uDE00""#,
        r#""\ud800""#,
        r#""\uDFFF\uD800""#,
        r#""\ude00\ud83d""#,
        r#""\ud83d😀""#,
        r#""\u2028\u2029\u202e""#,
        "\"\u{2028}<\u{7f}>\u{feff}\"",
        r#""\u0041bc""#,
        r#""""#,
        "\"\u{10ffff}\u{fffd}\"",
        // Keys.
        r#"{"b":1,"a":2}"#,
        r#"{"b":1,"2":2,"1":3,"a":4}"#,
        r#"{"10":1,"9":2,"0":3}"#,
        r#"{"01":1,"1":2,"-1":3,"1.0":4," 1":5}"#,
        r#"{"4294967295":1,"4294967294":2}"#,
        r#"{"4294967296":1,"99999999999":1,"5":2}"#,
        r#"{"\u0031":1,"0":2}"#,
        r#"{"a":1,"b":2,"a":3}"#,
        r#"{"1":1,"a":2,"1":3}"#,
        r#"{"😀":1,"\ud83d\ude00":2}"#,
        r#"{"__proto__":1,"a":{"__proto__":[]}}"#,
        r#"{"__proto__":{"x":1},"__proto__":2}"#,
        r#"{"":1,"":2}"#,
        r#"{"toJSON":1,"constructor":2,"length":3}"#,
        r#"[{"a":[{"b":1,"0":2}],"0":[]}]"#,
        // Whitespace and structure.
        " \t\r\n[ 1 , { \"a\" : [ ] , \"b\" : { } } ,true,false,null ] \n",
        "\u{feff}{\"a\":1}",
        "true",
        "null",
        "[[[[[]]]]]",
        // Rejected.
        "",
        " ",
        "[1,]",
        "{\"a\":1,}",
        "[01]",
        "01",
        "-",
        "1.",
        ".5",
        "1e",
        "+1",
        "0x10",
        "NaN",
        "Infinity",
        "-Infinity",
        "[1 2]",
        "{a:1}",
        "{'a':1}",
        "\"a",
        "\"\\x41\"",
        "\"\\u12\"",
        "\"\\u12g4\"",
        "\"a\tb\"",
        "\"a\nb\"",
        "tru",
        "truex",
        "[1]]",
        "1 2",
        "\u{feff}\u{feff}1",
        "\u{a0}1",
        "\u{c}1",
        "1\u{b}",
        "[1,,2]",
        "\"\\'\"",
        "-01",
        "[",
        "\"\\U0041\"",
        "\u{2028}1",
        "True",
        "nulls",
    ];
    let mut bodies: Vec<Vec<u8>> = texts.iter().map(|text| text.as_bytes().to_vec()).collect();
    // Invalid UTF-8, inside and outside strings.
    bodies.extend(
        [
            &b"\"a\xffb\""[..],
            b"\"\xe2\x82\"",
            b"\"\xed\xa0\x80\"",
            b"\"\xf0\x9f\x98\"",
            b"\"\xc0\xaf\xf4\x90\x80\x80\xf8\x88\x80\x80\x80\"",
            b"\"\xe0\x80\x80\xef\xbf\xbf\"",
            b"\xef\xbb\xbf\"x\"",
            b"\xef\xbb\"x\"",
            b"[1,\xff]",
            b"{\"k\xff\":\"\xfe\"}",
        ]
        .map(<[u8]>::to_vec),
    );
    // Nesting well past what a webhook needs, within our cap.
    bodies.push(format!("{}1{}", "[".repeat(500), "]".repeat(500)).into_bytes());
    bodies.push(format!("{}1{}", "{\"a\":".repeat(300), "}".repeat(300)).into_bytes());
    bodies
}

#[test]
fn the_corpus_matches_node() {
    if !node_available() {
        return;
    }
    let bodies = corpus();
    let accepted = compare(&bodies);
    assert!(
        accepted > 50 && accepted < bodies.len() - 30,
        "both outcomes are covered"
    );
}

#[test]
fn random_bodies_match_node() {
    if !node_available() {
        return;
    }
    let mut generator = Generator {
        rng: Rng(0x9e37_79b9_7f4a_7c15),
        out: Vec::new(),
    };
    let bodies: Vec<Vec<u8>> = (0..RANDOM_BODIES).map(|_| generator.body()).collect();
    let accepted = compare(&bodies);
    eprintln!("{RANDOM_BODIES} random bodies compared, {accepted} accepted by JSON.parse");
    // Mostly valid (so the printing is compared), but the rejections are exercised too.
    assert!(accepted > RANDOM_BODIES / 2 && accepted < RANDOM_BODIES - RANDOM_BODIES / 20);
}

/// xorshift64: reproducible without a crate's version deciding the sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Writes random JSON-ish bodies: mostly valid, sometimes broken on purpose.
struct Generator {
    rng: Rng,
    out: Vec<u8>,
}

impl Generator {
    fn body(&mut self) -> Vec<u8> {
        self.out.clear();
        if self.rng.chance(3) {
            self.out.extend_from_slice("\u{feff}".as_bytes());
        }
        if self.rng.chance(1) {
            self.out.extend_from_slice("\u{feff}".as_bytes());
        }
        if self.rng.chance(2) {
            // A deep wrapping around an ordinary value.
            let depth = 20 + self.rng.below(300);
            let objects = self.rng.chance(50);
            for _ in 0..depth {
                self.out
                    .extend_from_slice(if objects { b"{\"k\":" } else { b"[" });
            }
            self.value(2);
            for _ in 0..depth {
                self.out.push(if objects { b'}' } else { b']' });
            }
        } else if self.rng.chance(1) {
            for _ in 0..self.rng.below(12) {
                let byte = self.rng.next() as u8;
                self.out.push(byte);
            }
        } else {
            self.value(0);
        }
        if self.rng.chance(12) {
            self.mutate();
        }
        self.out.clone()
    }

    /// One random edit, which usually breaks the body.
    fn mutate(&mut self) {
        let at = self.rng.below(self.out.len() + 1);
        match self.rng.below(3) {
            0 => self.out.truncate(at),
            1 if at < self.out.len() => {
                self.out.remove(at);
            }
            _ => {
                let byte = self.rng.pick(&[
                    b',', b']', b'}', b'0', b'"', b'\\', b'-', b'.', b'e', 0, 0x0b, 0x0c, 0xa0, 0xff, b' ',
                    b':',
                ]);
                self.out.insert(at, byte);
            }
        }
    }

    fn whitespace(&mut self) {
        if self.rng.chance(25) {
            for _ in 0..=self.rng.below(3) {
                let byte = self.rng.pick(b" \t\n\r");
                self.out.push(byte);
            }
        }
    }

    fn value(&mut self, depth: usize) {
        self.whitespace();
        let kinds = if depth >= 5 { 4 } else { 7 };
        match self.rng.below(kinds) {
            0 | 1 => self.number(),
            2 => self.string(),
            3 => {
                let word = self.rng.pick(&["true", "false", "null"]);
                self.out.extend_from_slice(word.as_bytes());
            }
            4 | 5 => self.object(depth + 1),
            _ => self.array(depth + 1),
        }
        self.whitespace();
    }

    fn array(&mut self, depth: usize) {
        self.out.push(b'[');
        self.whitespace();
        for i in 0..self.rng.below(6) {
            if i > 0 {
                self.out.push(b',');
            }
            self.value(depth);
        }
        self.out.push(b']');
    }

    fn object(&mut self, depth: usize) {
        self.out.push(b'{');
        self.whitespace();
        // Some objects are large, past the linear duplicate search.
        let count = if self.rng.chance(10) {
            self.rng.below(40)
        } else {
            self.rng.below(7)
        };
        for i in 0..count {
            if i > 0 {
                self.out.push(b',');
            }
            self.whitespace();
            self.key();
            self.whitespace();
            self.out.push(b':');
            self.value(depth);
        }
        self.out.push(b'}');
    }

    fn key(&mut self) {
        match self.rng.below(10) {
            // A small pool, so keys repeat.
            0..=3 => {
                let key = self
                    .rng
                    .pick(&["a", "b", "id", "__proto__", "type", "", "\\u0061"]);
                write!(self.out, "\"{key}\"");
            }
            4..=6 => {
                let key = self.rng.pick(&[
                    "0",
                    "1",
                    "2",
                    "9",
                    "10",
                    "42",
                    "007",
                    "01",
                    "-1",
                    "-0",
                    "1.0",
                    "1e3",
                    " 1",
                    "4294967294",
                    "4294967295",
                    "4294967296",
                    "\\u0031",
                    "\\u0030",
                ]);
                write!(self.out, "\"{key}\"");
            }
            7 => {
                let index = self.rng.below(100_000);
                write!(self.out, "\"{index}\"");
            }
            _ => self.string(),
        }
    }

    fn number(&mut self) {
        match self.rng.below(7) {
            0 => {
                let sign = if self.rng.chance(30) { "-" } else { "" };
                let magnitude = self.rng.below(1000);
                write!(self.out, "{sign}{magnitude}");
            }
            1 | 2 => {
                // The grammar's every part, with long digit strings.
                if self.rng.chance(30) {
                    self.out.push(b'-');
                }
                if self.rng.chance(20) {
                    self.out.push(b'0');
                } else {
                    self.out.push(b'1' + self.rng.below(9) as u8);
                    let count = self.rng.pick(&[0, 1, 3, 8, 15, 16, 17, 20, 25, 40]);
                    self.digits(count);
                }
                if self.rng.chance(50) {
                    self.out.push(b'.');
                    let count = self.rng.pick(&[1, 2, 5, 10, 17, 25, 60]);
                    self.digits(count);
                }
                if self.rng.chance(50) {
                    let e = self.rng.pick(&["e", "E", "e+", "E-", "e-", "e0"]);
                    self.out.extend_from_slice(e.as_bytes());
                    let count = 1 + self.rng.below(3);
                    self.digits(count);
                }
            }
            3 => {
                // The shortest digits of any double, as Rust writes them, sometimes lengthened
                // to sit near a rounding boundary.
                let double = f64::from_bits(self.rng.next());
                if !double.is_finite() {
                    self.out.push(b'7');
                    return;
                }
                let text = match self.rng.below(3) {
                    0 => format!("{double:e}"),
                    1 => format!("{double:?}"),
                    _ => format!("{double}"),
                };
                match text.split_once('e') {
                    Some((mantissa, exponent)) if self.rng.chance(30) => {
                        let mantissa = if mantissa.contains('.') {
                            mantissa.to_owned()
                        } else {
                            format!("{mantissa}.")
                        };
                        let tail = self.rng.pick(&["5", "49999999999999999999", "50000000000001"]);
                        write!(self.out, "{mantissa}{tail}e{exponent}");
                    }
                    _ => self.out.extend_from_slice(text.as_bytes()),
                }
            }
            4 => {
                let edge = self.rng.pick(&[
                    "1e21",
                    "1e-7",
                    "1e-6",
                    "999999999999999999999",
                    "999999999999999999999.5",
                    "0.000001",
                    "0.0000001",
                    "5e-324",
                    "2.4703282292062327e-324",
                    "1.7976931348623157e308",
                    "1.7976931348623158e308",
                    "1e309",
                    "-1e309",
                    "9007199254740993",
                    "-0",
                    "-0.0",
                    "0.0e0",
                    "123e-20",
                    "1e22",
                    "1e-323",
                    "4.9406564584124654e-324",
                    "2.225073858507201e-308",
                    "1e100000",
                ]);
                self.out.extend_from_slice(edge.as_bytes());
            }
            5 => {
                // Exactly midway between two shortest forms (…234.25 lies as close to …234.2 as
                // to …234.3), where JS takes the even one: written out in full.
                let whole = (1u64 << 50) + self.rng.next() % (1 << 50);
                let quarter = self.rng.pick(&[0.25, 0.5, 0.75]);
                let scale = 2f64.powi(self.rng.below(60) as i32 - 30);
                let tie = (whole as f64 + quarter) * scale;
                write!(self.out, "{tie:.40e}");
            }
            _ => {
                let int = 1 + self.rng.below(1_000_000);
                let exponent = self.rng.below(700) as i64 - 350;
                write!(self.out, "{int}e{exponent}");
            }
        }
    }

    fn digits(&mut self, count: usize) {
        for _ in 0..count {
            let digit = b'0' + self.rng.below(10) as u8;
            self.out.push(digit);
        }
    }

    fn string(&mut self) {
        self.out.push(b'"');
        for _ in 0..self.rng.below(8) {
            match self.rng.below(8) {
                0 => {
                    for _ in 0..self.rng.below(12) {
                        let byte = loop {
                            let byte = 0x20 + self.rng.below(0x5f) as u8;
                            if byte != b'"' && byte != b'\\' {
                                break byte;
                            }
                        };
                        self.out.push(byte);
                    }
                }
                1 => {
                    let escape = self
                        .rng
                        .pick(&["\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"]);
                    self.out.extend_from_slice(escape.as_bytes());
                }
                2 => {
                    let unit = self.rng.next() as u16;
                    self.unit_escape(unit);
                }
                3 => {
                    let high = 0xd800 + self.rng.below(0x400) as u16;
                    let low = 0xdc00 + self.rng.below(0x400) as u16;
                    match self.rng.below(4) {
                        0 => self.unit_escape(high),
                        1 => self.unit_escape(low),
                        2 => {
                            self.unit_escape(high);
                            self.unit_escape(low);
                        }
                        _ => {
                            self.unit_escape(low);
                            self.unit_escape(high);
                        }
                    }
                }
                4 => {
                    let unit = self.rng.below(0x20) as u16;
                    self.unit_escape(unit);
                }
                5 => {
                    let c = char::from_u32(self.rng.below(0x11_0000) as u32)
                        .filter(|c| !c.is_ascii())
                        .unwrap_or('é');
                    write!(self.out, "{c}");
                }
                6 => {
                    let c = self.rng.pick(&[
                        'é',
                        '😀',
                        '\u{2028}',
                        '\u{2029}',
                        '\u{7f}',
                        '\u{feff}',
                        '\u{fffd}',
                        '\u{80}',
                        '\u{9b}',
                        '\u{202e}',
                        '\u{10ffff}',
                        '/',
                    ]);
                    write!(self.out, "{c}");
                }
                _ => {
                    // Bytes that are not UTF-8: node reads them as U+FFFD.
                    let bytes = self.rng.pick(&[
                        &b"\xff"[..],
                        b"\x80",
                        b"\xc3",
                        b"\xe2\x82",
                        b"\xed\xa0\x80",
                        b"\xed\xbf\xbf",
                        b"\xf0\x9f\x98",
                        b"\xc0\xaf",
                        b"\xf4\x90\x80\x80",
                        b"\xf8\x88\x80\x80\x80",
                        b"\xe0\x9f\xbf",
                        b"\xf0\x8f\xbf\xbf",
                    ]);
                    self.out.extend_from_slice(bytes);
                }
            }
        }
        self.out.push(b'"');
    }

    fn unit_escape(&mut self, unit: u16) {
        if self.rng.chance(50) {
            write!(self.out, "\\u{unit:04x}");
        } else {
            write!(self.out, "\\u{unit:04X}");
        }
    }
}

/// `write!` into the body (a `Vec<u8>` cannot fail to grow but for allocation).
trait WriteBody {
    fn write_fmt(&mut self, args: std::fmt::Arguments<'_>);
}

impl WriteBody for Vec<u8> {
    fn write_fmt(&mut self, args: std::fmt::Arguments<'_>) {
        self.extend_from_slice(args.to_string().as_bytes());
    }
}
