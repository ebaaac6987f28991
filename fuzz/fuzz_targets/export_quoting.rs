//! Fuzzes export quoting: any capture (its fields cut from the input at `0xfe`) exported as a
//! curl script, a curl command and a `.http` file keeps every invariant of
//! `tests/hostile/quoting.rs`: shell words decode to exactly their bytes, comments cannot end,
//! no line starts with sender text, the script reads back to the same request, and the `.http`
//! file shows no control character. Run: `cargo fuzz run export_quoting` (see README).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/hostile/quoting.rs"]
mod quoting;

fuzz_target!(|data: &[u8]| {
    quoting::check(&quoting::capture_from_bytes(data));
});
