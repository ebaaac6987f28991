//! Fuzzes the filter language: any text parses or gives a positioned error, never a panic, and
//! a parsed filter can be matched. Run: `cargo fuzz run filter_parser` (see README).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match hookscope::filter::Filter::parse(text) {
            Ok(filter) => {
                let _ = filter.is_empty();
            }
            Err(err) => assert!(err.position <= text.len()),
        }
    }
});
