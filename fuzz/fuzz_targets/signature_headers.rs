//! Fuzzes every signature scheme's header parsing and verification: arbitrary header values and
//! bodies must give a verdict, never a panic. Run: `cargo fuzz run signature_headers` (see README).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hookscope::verify::fuzz_one(data);
});
