//! The rules of `JSON.stringify`, one table each; `tests/stringify.rs` holds it all to node.
//! The expected outputs in the tables are node 20's `JSON.stringify(JSON.parse(body))` for each
//! body (and `None` where its `JSON.parse` throws), checked once with node for every body and
//! written in: these tests hold the rules without node.

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
fn a_tie_between_two_shortest_forms_takes_the_even_one_in_any_binade() {
    table(&[
        // 2^-25: exactly midway between …312 and …313 (std takes the odd one, upwards).
        ("2.98023223876953125e-8", "2.9802322387695312e-8"),
        // Midway again, the upper one even this time: nothing to change.
        ("2204451448845234.75", "2204451448845234.8"),
    ]);
}

/// `value`'s exact decimal digits (no trailing zero) and the power of ten of the first one.
fn exact_decimal(value: f64) -> (String, i32) {
    // 1100 places hold every digit of any double.
    let text = format!("{value:.1100e}");
    let (mantissa, exponent) = text.split_once('e').expect("an exponent");
    let digits = mantissa.replace('.', "").trim_end_matches('0').to_owned();
    (digits, exponent.parse().expect("a number"))
}

#[test]
fn equals_decimal_says_whether_a_double_is_exactly_a_decimal() {
    // Values each side of every branch: both sides of the binary point, powers of two (whose
    // mantissa is one bit), 10^22 (the largest exact power of ten), ties, and a subnormal.
    let mut values = vec![
        0.5,
        0.25,
        2204451448845234.0 + 0.25,
        2204451448845234.0 + 0.75,
        1e22,
        1e21,
        123456789.0,
        5e-324,
        0.1,
        1e23,
    ];
    values.extend((-90..90).map(|power| 2f64.powi(power)));
    values.extend((-25..=22).map(|power| 10f64.powi(power)));
    values.extend((-60..60).map(|power| 3.0 * 2f64.powi(power)));
    let mut checked = [0; 2];
    for value in values {
        let (digits, first) = exact_decimal(value);
        let mut claims = Vec::new();
        if digits.len() <= 18 {
            // value = digits × 10^(first − len + 1), exactly: that, the same with a zero more,
            // and its neighbours in either place.
            let significand: u64 = digits.parse().expect("digits");
            let exponent = first - digits.len() as i32 + 1;
            claims.extend([
                (significand, exponent),
                (significand * 10, exponent - 1),
                (significand + 1, exponent),
                (significand - 1, exponent),
                (significand, exponent + 1),
                (significand, exponent - 1),
            ]);
        }
        // The first 17 digits, which are the value only when it has no more.
        let seventeen: u64 = format!("{digits:0<17}")[..17].parse().expect("digits");
        claims.push((seventeen, first - 16));
        for (significand, exponent) in claims {
            if significand == 0 || significand >= 1_000_000_000_000_000_000 {
                continue;
            }
            let text = significand.to_string();
            let trimmed = text.trim_end_matches('0');
            let expected = (-25..=22).contains(&exponent)
                && (trimmed.to_owned(), exponent + text.len() as i32 - 1) == (digits.clone(), first);
            assert_eq!(
                number::equals_decimal(value, significand, exponent),
                expected,
                "{value:e} = {significand}e{exponent}?"
            );
            checked[usize::from(expected)] += 1;
        }
    }
    // Both answers were asked for, many times.
    assert!(checked[0] > 500 && checked[1] > 100, "{checked:?}");
}

#[test]
fn reads_back_says_whether_digits_parse_to_the_same_double() {
    let mut scratch = String::new();
    for (digits, exponent, value, expected) in [
        (1, 0, 1.0, true),
        (2, 0, 1.0, false),
        (1, -1, 0.1, true),
        (1, -1, 0.2, false),
        (22044514488452342, -1, 2204451448845234.0 + 0.25, true),
        (22044514488452341, -1, 2204451448845234.0 + 0.25, false),
        (29802322387695312, -24, 2f64.powi(-25), true),
        (29802322387695309, -24, 2f64.powi(-25), false),
    ] {
        assert_eq!(
            number::reads_back(digits, exponent, value, &mut scratch),
            expected,
            "{digits}e{exponent} as {value:e}"
        );
    }
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
        // Every width of UTF-8 from escapes, with bits set in each byte a character has (€, and
        // U+10FFFF, U+12000 past the first plane), and each width's first and last character.
        (
            r#""\u20ac\udbff\udfff\u00e9\ud808\udc00""#,
            "\"\u{20ac}\u{10ffff}\u{e9}\u{12000}\"",
        ),
        (
            r#""\u0080\u07ff\u0800\uffff""#,
            "\"\u{80}\u{7ff}\u{800}\u{ffff}\"",
        ),
    ]);
}

#[test]
fn long_strings_end_where_their_first_quote_backslash_or_control_character_is() {
    // Past eight bytes the string is scanned a word at a time: what ends it must be found in
    // any place of a word, and a space, which does not end it, in none.
    table(&[
        (r#""a b""#, r#""a b""#),
        (r#"{" 1":5,"1":6}"#, r#"{"1":6," 1":5}"#),
        (r#""\nééééé€€""#, r#""\nééééé€€""#),
        (
            r#""\u0041 long plain text after an escape, past a word\t and past another one""#,
            r#""A long plain text after an escape, past a word\t and past another one""#,
        ),
        (r#""abcdefgh\\ijklmnop""#, r#""abcdefgh\\ijklmnop""#),
        (r#""abcdefgh\"ijklmnop""#, r#""abcdefgh\"ijklmnop""#),
        (
            r#"["abcdefghijklmnop","abcdefghijk"]"#,
            r#"["abcdefghijklmnop","abcdefghijk"]"#,
        ),
    ]);
    for rejected in [
        r#""""""""""""#,
        "\"abcdefghij\u{1}klmnop\"",
        "\"abcdefghijklmn\u{1f}op\"",
    ] {
        assert_eq!(s(rejected.as_bytes()), None, "body {rejected:?}");
    }
}

/// What `plain_run` answers, byte by byte: where the run from `from` ends (at a `"`, a `\` or a
/// byte below 0x20), and whether the run is all ASCII.
fn plain_run_byte_by_byte(bytes: &[u8], from: usize) -> (usize, bool) {
    let end = bytes[from..]
        .iter()
        .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)
        .map_or(bytes.len(), |at| from + at);
    (end, bytes[from..end].is_ascii())
}

#[test]
fn the_word_at_a_time_scan_answers_as_the_byte_loop() {
    // The bytes at the edges the word tests draw: the three specials and their neighbours (a
    // borrow from the byte below can make 0x23 look like 0x22), both ends of the control range,
    // both ends of ASCII, and bytes that XOR with 0x22 or 0x5c to 0x80 or 0x7f.
    const EDGES: [u8; 20] = [
        0x00, 0x01, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x61, 0x7e, 0x7f, 0x80, 0x81, 0xa0, 0xa2,
        0xdc, 0xfe, 0xff,
    ];
    // Every word of two of them, in each of the 256 ways to place them; as the first word, and
    // after a word that does not end the run (one ASCII, one not), then bytes for the byte loop.
    let prefixes: [&[u8]; 3] = [b"", b"abcdefgh", "\u{e9}abcdef".as_bytes()];
    let mut bytes = Vec::with_capacity(24);
    for (i, &x) in EDGES.iter().enumerate() {
        for &y in &EDGES[i + 1..] {
            for places in 0u32..256 {
                for prefix in prefixes {
                    bytes.clear();
                    bytes.extend_from_slice(prefix);
                    bytes.extend((0..8).map(|bit| if places >> bit & 1 == 1 { x } else { y }));
                    bytes.extend_from_slice(b"a\"");
                    assert_eq!(
                        parse::plain_run(&bytes, 0),
                        plain_run_byte_by_byte(&bytes, 0),
                        "bytes {bytes:02x?}"
                    );
                }
            }
        }
    }
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
        // Two keys written with escapes: equal by their code units, or not.
        (r#"{"\u0061":1,"\u0061":2}"#, r#"{"a":2}"#),
        (r#"{"\u0061":1,"\u0062":2}"#, r#"{"a":1,"b":2}"#),
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
