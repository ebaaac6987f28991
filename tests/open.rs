//! `hookscope open` on a pseudo-terminal while a journal loads: a progress line on stderr,
//! rewritten in place and cleared before the inspector takes the screen, only when stderr is a
//! terminal; damaged lines still reported and skipped.

mod common;

use std::path::Path;

use common::pty::Terminal;
use hookscope::capture::CaptureId;
use hookscope::codec;
use hookscope::units::format_size;

/// Captures in the test journal: past four of the loader's reports (every 1,024 records).
const CAPTURES: usize = 4500;
/// The environment knob that redraws the loading line at every report instead of every 100 ms.
const REDRAW_ENV: &str = "HOOKSCOPE_LOADING_REDRAW_MS";
/// Where the inspector switches to the alternate screen.
const ALTERNATE_SCREEN: &str = "\x1b[?1049h";

/// Writes `saved.jsonl` in `dir`: one real capture (sent to a listener) copied `CAPTURES` times
/// under fresh ids, with a damaged line as the 10th. Returns its bytes.
fn journal(dir: &Path) -> Vec<u8> {
    let path = dir.join("saved.jsonl");
    let mut listener = common::Listener::start_with_journal(&path, &["--headless"]);
    let status = common::binary()
        .args([
            "send",
            "optiview",
            "channel.stopped",
            "--secret",
            "dolby_sec_test",
            "--to",
        ])
        .arg(format!("http://{}/hooks", listener.addr))
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run hookscope send");
    assert!(status.success());
    listener.stop();
    let sent = common::captures_in(&path).pop().expect("the capture sent");
    let mut lines = Vec::new();
    for n in 0..CAPTURES {
        if n == 9 {
            lines.extend_from_slice(b"{\"v\":1,\"kind\":\"capture\",\"id\":\"broken\n");
        }
        let mut copy = sent.clone();
        copy.id = CaptureId::generate();
        lines.extend(codec::encode_capture(&copy));
    }
    std::fs::write(&path, &lines).expect("write the journal");
    lines
}

#[test]
fn a_loading_journal_shows_its_progress_then_clears_it_for_the_inspector() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bytes = journal(dir.path());
    let term = Terminal::program(
        env!("CARGO_BIN_EXE_hookscope"),
        &["open", "saved.jsonl"],
        dir.path(),
        (120, 30),
        &[(REDRAW_ENV, "0")],
    );
    let screen = term.wait_for("the inspector", |s| s.contains("Captures 1/4500"));
    assert!(screen.contains("1 damaged line skipped"), "{screen}");
    let output = term.output();
    let (before, _) = output
        .split_once(ALTERNATE_SCREEN)
        .expect("the inspector took the alternate screen");
    // A report every 1,024 records read (the 10th is damaged), rewritten in place.
    let read = |records: usize| -> u64 {
        let ends = bytes.iter().enumerate().filter(|(_, b)| **b == b'\n');
        ends.map(|(at, _)| at as u64 + 1)
            .nth(records - 1)
            .expect("so many lines")
    };
    let expected: Vec<String> = [(1024, "1,023"), (2048, "2,047"), (3072, "3,071"), (4096, "4,095")]
        .into_iter()
        .map(|(records, captures)| {
            format!(
                "loading saved.jsonl: {captures} captures, {} of {}, 1 damaged line skipped…",
                format_size(read(records)),
                format_size(bytes.len() as u64),
            )
        })
        .collect();
    let drawn: Vec<&str> = before
        .split("\r\x1b[2K")
        .filter(|line| line.starts_with("loading"))
        .collect();
    assert_eq!(drawn, expected, "{before:?}");
    let last = before.rfind("loading").expect("drawn");
    assert!(
        before[last..].contains("\r\x1b[2K"),
        "the line is cleared before the inspector starts: {before:?}"
    );
    term.quit();
}

#[test]
fn no_progress_line_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().expect("temp dir");
    journal(dir.path());
    let term = Terminal::program(
        "sh",
        &[
            "-c",
            "exec \"$0\" open saved.jsonl 2>stderr.txt",
            env!("CARGO_BIN_EXE_hookscope"),
        ],
        dir.path(),
        (120, 30),
        &[(REDRAW_ENV, "0")],
    );
    let screen = term.wait_for("the inspector", |s| s.contains("Captures 1/4500"));
    assert!(screen.contains("1 damaged line skipped"), "{screen}");
    let output = term.output();
    assert!(
        output.contains(ALTERNATE_SCREEN) && !output.contains("loading"),
        "{output:?}"
    );
    term.quit();
    let stderr = std::fs::read_to_string(dir.path().join("stderr.txt")).expect("stderr");
    assert!(!stderr.contains("loading"), "{stderr:?}");
}
