//! Hostile input (issue #13): what a sender writes never runs and never reaches a terminal raw.
//!
//! - Exports: captures made to break quoting are journaled by the real `listen`, exported as a
//!   curl script and a `.http` file; bash runs the script (and each inspector `y` command)
//!   against a raw receiver on loopback, which must get every request byte for byte while no
//!   planted command leaves its marker file. Thousands of seeded random captures hold the
//!   quoting invariants (`hostile/quoting.rs`, also the fuzz target `export_quoting`), and bash
//!   itself parses a sample of them.
//! - Terminals: escape sequences (OSC 52, OSC 2, CSI), bidi controls and C1 controls in the
//!   path, a header, the content type and the event type are escaped in the headless line,
//!   `listen --json`, `log`, `log --json`, every export, the inspector, and the relay's log.
//!
//! Cases: `hostile/exports.rs` and `hostile/terminals.rs`; the raw receiver: `hostile/receiver.rs`.

mod common;
#[path = "hostile/exports.rs"]
mod exports;
#[path = "hostile/quoting.rs"]
mod quoting;
#[path = "hostile/receiver.rs"]
mod receiver;
#[path = "hostile/terminals.rs"]
mod terminals;

/// What follows `text/plain` in the hostile content type: every control before the first `;`.
const CONTENT_TYPE_TAIL: &str = "\u{202e}\u{2066}\u{9b}\u{9d}\u{200e}\u{1b}[2J\u{1b}]52;c;aGk=\u{7}";

/// What must never reach a terminal or a JSON consumer raw: OSC 52 (clipboard), OSC 2 (title),
/// CSI, RLO, LRI, C1 CSI, C1 OSC, LRM.
const RAW: [&str; 8] = [
    "\u{1b}]52;c;aGk=\u{7}",
    "\u{1b}]2;owned\u{7}",
    "\u{1b}[2J",
    "\u{202e}",
    "\u{2066}",
    "\u{9b}",
    "\u{9d}",
    "\u{200e}",
];

/// The characters of [`RAW`] that must not appear anywhere in an output.
const FORBIDDEN: [char; 7] = [
    '\u{1b}', '\u{7}', '\u{202e}', '\u{2066}', '\u{9b}', '\u{9d}', '\u{200e}',
];

/// All of [`RAW`] in one string, between words.
fn hostile_text() -> String {
    format!("a{}z", RAW.join("-"))
}

fn assert_clean(what: &str, text: &str) {
    if let Some(c) = text.chars().find(|c| FORBIDDEN.contains(c)) {
        panic!("{what} holds a raw {c:?}:\n{}", text.escape_debug());
    }
}

fn assert_shows(what: &str, text: &str, forms: &[&str]) {
    for form in forms {
        assert!(text.contains(form), "{what} does not show {form}:\n{text}");
    }
}

/// The escapes a terminal must show for [`RAW`] (the `sanitize` form).
const VISIBLE: [&str; 7] = [
    r"\x1b]52;c;aGk=\x07",
    r"\x1b]2;owned\x07",
    r"\x1b[2J",
    r"\u{202e}",
    r"\u{2066}",
    r"\x9b",
    r"\x9d",
];
/// The escapes JSON output must hold for [`RAW`].
const JSON: [&str; 8] = [
    r"\u001b]52;c;aGk=\u0007",
    r"\u001b]2;owned",
    r"\u202e",
    r"\u2066",
    r"\u009b",
    r"\u009d",
    r"\u200e",
    r"\u001b[2J",
];
