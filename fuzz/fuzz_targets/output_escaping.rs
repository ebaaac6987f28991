//! Fuzzes what reaches a terminal or a JSON consumer: any capture (its fields cut from the input
//! at `0xfe`, as `export_quoting` cuts them) gives a journal line (`listen --json`, `log --json`)
//! that is one line, holds no raw C0 or C1 control, bidi control or line separator, and decodes
//! to the same capture; and a headless line (`listen`, `log`) with nothing a terminal would
//! interpret. Run: `cargo fuzz run output_escaping` (see README).
#![no_main]

use hookscope::codec::{Record, decode_line, encode_capture};
use hookscope::{headless, sanitize};
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/hostile/quoting.rs"]
#[allow(dead_code)]
mod quoting;

/// What JSON output must not hold raw: C0 (JSON's own rule), and C1, bidi controls and line
/// separators (hookscope's). DEL, which terminals ignore, stays as JSON leaves it.
fn raw_in_json(c: char) -> bool {
    c < ' ' || (!c.is_ascii() && sanitize::is_unsafe(c))
}

fuzz_target!(|data: &[u8]| {
    let capture = quoting::capture_from_bytes(data);
    let line = encode_capture(&capture);
    let text = std::str::from_utf8(&line).expect("a journal line is UTF-8");
    let record = text.strip_suffix('\n').expect("a line");
    assert!(!record.chars().any(raw_in_json), "a raw control in {text:?}");
    match decode_line(&line) {
        Ok(Record::Capture(back)) => assert_eq!(back, capture),
        other => panic!("{other:?} from {text:?}"),
    }
    let human = headless::human_line(&capture);
    assert!(
        !human.chars().any(sanitize::is_unsafe),
        "a raw control in {human:?}"
    );
});
