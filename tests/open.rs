//! `hookscope open` on a pseudo-terminal while a journal loads: a progress line on stderr,
//! rewritten in place and cleared before the inspector takes the screen, only when stderr is a
//! terminal; damaged lines still reported and skipped.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hookscope::capture::CaptureId;
use hookscope::codec;
use hookscope::units::format_size;
use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

/// Captures in the test journal: past four of the loader's reports (every 1,024 records).
const CAPTURES: usize = 4500;
/// The environment knob that redraws the loading line at every report instead of every 100 ms.
const REDRAW_ENV: &str = "HOOKSCOPE_LOADING_REDRAW_MS";
/// Where the inspector switches to the alternate screen.
const ALTERNATE_SCREEN: &str = "\x1b[?1049h";

/// A program on a pty: every byte it wrote, and the screen those bytes draw.
struct Terminal {
    output: Arc<Mutex<Vec<u8>>>,
    screen: Arc<Mutex<vt100::Parser>>,
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    child: Box<dyn Child + Send + Sync>,
    _master: Box<dyn MasterPty + Send>,
}

impl Terminal {
    fn start(program: &str, args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Self {
        let (rows, cols) = (30, 120);
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("a pty");
        let mut command = CommandBuilder::new(program);
        command.args(args);
        command.cwd(dir);
        command.env("TERM", "xterm-256color");
        command.env("XDG_STATE_HOME", dir);
        for (name, value) in env {
            command.env(name, value);
        }
        let child = pair.slave.spawn_command(command).expect("spawn on the pty");
        drop(pair.slave);
        let size = |n: u16| std::num::NonZeroU16::new(n).expect("a non-zero size");
        let screen = Arc::new(Mutex::new(vt100::Parser::new(size(rows), size(cols), 0)));
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let writer = Arc::new(Mutex::new(pair.master.take_writer().expect("pty writer")));
        let (parser, raw, answer) = (screen.clone(), output.clone(), writer.clone());
        thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                raw.lock().expect("output lock").extend_from_slice(&buffer[..n]);
                let mut screen = parser.lock().expect("screen lock");
                screen.process(&buffer[..n]);
                // Answer a cursor position query as a real terminal does (crossterm asks).
                if buffer[..n].windows(4).any(|w| w == b"\x1b[6n") {
                    let (row, col) = screen.screen().cursor_position();
                    let reply = format!("\x1b[{};{}R", row + 1, col + 1);
                    let _ = answer.lock().expect("writer lock").write_all(reply.as_bytes());
                }
            }
        });
        Self {
            output,
            screen,
            writer,
            child,
            _master: pair.master,
        }
    }

    fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().expect("output lock")).into_owned()
    }

    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen.lock().expect("screen lock").screen().contents();
            if ready(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{screen}"
            );
            thread::sleep(Duration::from_millis(25));
        }
    }

    fn quit(mut self) {
        let mut writer = self.writer.lock().expect("writer lock");
        writer.write_all(b"q").expect("type");
        writer.flush().expect("flush");
        drop(writer);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().expect("wait").is_none() {
            assert!(Instant::now() < deadline, "open did not quit");
            thread::sleep(Duration::from_millis(25));
        }
    }
}

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
    let term = Terminal::start(
        env!("CARGO_BIN_EXE_hookscope"),
        &["open", "saved.jsonl"],
        dir.path(),
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
    let term = Terminal::start(
        "sh",
        &[
            "-c",
            "exec \"$0\" open saved.jsonl 2>stderr.txt",
            env!("CARGO_BIN_EXE_hookscope"),
        ],
        dir.path(),
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
