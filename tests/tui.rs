//! The inspector in a real pseudo-terminal: `hookscope listen` started on a pty, webhooks sent
//! to it, a filter typed, and the screen read back through a terminal emulator (vt100), as a
//! person would see it.

mod common;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::pty::Terminal;

fn send(url: &str, provider: &str, event: &str, secret: &str) {
    let status = common::binary()
        .args(["send", provider, event, "--to", url, "--secret", secret])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run hookscope send");
    assert!(status.success());
}

#[test]
fn listen_shows_captures_live_and_filters_as_you_type() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut term = Terminal::start(
        &[
            "listen",
            "--addr",
            "127.0.0.1:0",
            "--secret",
            "optiview=dolby_sec_test",
        ],
        dir.path(),
        130,
        36,
    );
    let screen = term.wait_for("the status bar", |s| s.contains("● http://127.0.0.1:"));
    let url = address_on(&screen);
    assert!(screen.contains("Waiting for webhooks"), "{screen}");

    send(
        &format!("{url}/hooks"),
        "optiview",
        "channel.stopped",
        "dolby_sec_test",
    );
    send(
        &format!("{url}/hooks"),
        "optiview",
        "engine.error",
        "a-wrong-secret",
    );
    let hostile = common::post(
        "/evil",
        &[("Content-Type", "text/plain")],
        b"before\x1b[2J\x1b]0;pwned\x07after",
    );
    let addr = url.trim_start_matches("http://").parse().expect("an address");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime
        .block_on(common::send_raw(addr, &hostile))
        .expect("send the hostile request");

    let screen = term.wait_for("three captures", |s| s.contains("captured 3"));
    assert!(
        screen.contains("channel.stopped") && screen.contains("✓ valid"),
        "{screen}"
    );
    assert!(
        screen.contains("engine.error") && screen.contains("✗ invalid"),
        "{screen}"
    );
    // The newest is followed: its body is in the detail pane, escapes shown, not obeyed.
    assert!(screen.contains(r"before\x1b[2J\x1b]0;pwned\x07after"), "{screen}");
    assert!(screen.contains("/evil"), "the screen was not cleared: {screen}");

    term.type_keys("/sig:invalid\r");
    // The filter applies as it is typed: `shown 1` can be drawn while the prompt is still open,
    // before Enter puts the filter in the status bar. Wait for both.
    let screen = term.wait_for("the filter to apply", |s| {
        s.contains("shown 1") && s.contains("filter sig:invalid")
    });
    assert!(screen.contains("engine.error"), "{screen}");
    assert!(!screen.contains("channel.stopped"), "{screen}");
    assert!(screen.contains("filter sig:invalid"), "{screen}");

    // The signature tab explains the verdict.
    term.type_keys("3");
    let screen = term.wait_for("the signature tab", |s| s.contains("why"));
    assert!(
        screen.contains("HMAC-SHA256") && screen.contains("wrong secret"),
        "{screen}"
    );

    // A mistake in the filter is pointed at, and nothing breaks.
    term.type_keys("/ sig:bogus");
    let screen = term.wait_for("the parse error", |s| s.contains("no verdict is `bogus`"));
    assert!(screen.contains("at column"), "{screen}");
    term.type_keys("\x1b"); // Esc clears the filter
    term.wait_for("the filter cleared", |s| s.contains("shown 3"));

    term.type_keys("q");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = term.child.try_wait().expect("wait for hookscope") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "hookscope did not quit; the screen:\n{}",
            term.contents()
        );
        thread::sleep(Duration::from_millis(25));
    };
    assert!(status.success(), "exit status {status:?}");
    let screen = term.wait_for("the summary on the normal screen", |s| {
        s.contains("captured 3 requests")
    });
    assert!(
        !screen.contains("Captures"),
        "the inspector left the alternate screen: {screen}"
    );
    let captures = common::captures_in(&dir.path().join("captures.jsonl"));
    assert_eq!(captures.len(), 3);
}

#[test]
fn open_browses_a_saved_journal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("saved.jsonl");
    let mut listener = common::Listener::start_with_journal(&journal, &["--headless"]);
    let url = format!("http://{}/hooks", listener.addr);
    for event in ["channel.stopped", "channel.created", "engine.error"] {
        send(&url, "optiview", event, "dolby_sec_test");
    }
    listener.stop();
    // A damaged line is reported, not fatal.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .expect("journal");
    file.write_all(b"{\"v\":1,\"kind\":\"capture\",\"id\":\"broken\n")
        .expect("damage it");

    let mut term = Terminal::start(
        &[
            "open",
            journal.to_str().expect("utf-8 path"),
            "--secret",
            "optiview=dolby_sec_test",
        ],
        dir.path(),
        130,
        36,
    );
    let screen = term.wait_for("the journal's captures", |s| s.contains("captured 3"));
    assert!(screen.contains("1 damaged line skipped"), "{screen}");
    assert!(
        screen.contains("Captures 1/3"),
        "a saved journal opens at its first capture: {screen}"
    );
    assert!(screen.contains("\"type\": \"channel.stopped\""), "{screen}");
    term.type_keys("/type:engine.*\r");
    term.wait_for("the filter", |s| {
        s.contains("shown 1") && s.contains("Captures 1/1")
    });
    term.quit();
}

#[test]
fn forwarded_then_replayed_resigned_and_edited_from_the_inspector() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The app fails the first delivery, then is fixed.
    let app = common::LocalApp::start_on(
        "127.0.0.1:0".parse().expect("address"),
        Arc::new(|_, n| (if n == 0 { 500 } else { 200 }, Duration::ZERO)),
    );
    let target = app.url();
    let mut term = Terminal::start_with(
        &[
            "listen",
            "--addr",
            "127.0.0.1:0",
            "--forward",
            &target,
            "--secret",
            "optiview=dolby_sec_test",
        ],
        dir.path(),
        130,
        36,
        // The "editor" changes the event's type in place, as a person would.
        &[
            ("EDITOR", "sed -i s/channel.stopped/channel.EDITED/"),
            ("VISUAL", ""),
        ],
    );
    let screen = term.wait_for("the status bar", |s| s.contains("● http://127.0.0.1:"));
    assert!(
        screen.contains(&format!("→ {target}")),
        "the forward target is shown: {screen}"
    );
    let url = address_on(&screen);
    send(
        &format!("{url}/hooks"),
        "optiview",
        "channel.stopped",
        "dolby_sec_test",
    );
    term.type_keys("4");
    let screen = term.wait_for("the failed forward", |s| s.contains("→ 500  forward"));
    assert!(screen.contains(" 500 "), "the App column shows it: {screen}");

    term.type_keys("r");
    term.wait_for("the replay", |s| s.contains("→ 200  replay"));
    term.type_keys("R");
    term.wait_for("the re-signed replay", |s| s.contains("→ 200  resigned"));
    term.type_keys("e");
    term.wait_for("the edited replay", |s| s.contains("→ 200  edited"));

    let seen = common::wait_for("four requests at the app", Duration::from_secs(20), || {
        let seen = app.seen();
        (seen.len() == 4).then_some(seen)
    });
    assert_eq!(seen[0].body, seen[1].body, "a replay is byte-identical");
    assert_eq!(
        seen[0].header("dolby-signature"),
        seen[1].header("dolby-signature")
    );
    assert!(
        String::from_utf8_lossy(&seen[3].body).contains("channel.EDITED"),
        "the edit was sent"
    );
    assert_ne!(
        seen[3].header("dolby-signature"),
        seen[0].header("dolby-signature"),
        "re-signed after the edit"
    );

    term.quit();
    let attempts = common::attempts_in(&dir.path().join("captures.jsonl"));
    let kinds: Vec<&str> = attempts.iter().map(|a| a.kind.name()).collect();
    assert_eq!(kinds, ["forward", "replay", "resigned", "edited"]);
}

/// The senders' documented receivers under node (`tests/crosscheck/senders.js`), killed on drop.
struct DocsReceiver(std::process::Child, u16);

impl DocsReceiver {
    fn start(provider: &str, key: &str) -> Self {
        let mut child = std::process::Command::new("node")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/crosscheck/senders.js"
            ))
            .args(["serve", provider, key])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("node runs the docs' receiver");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("its port");
        let port = line.trim().parse().expect("a port");
        Self(child, port)
    }
}

impl Drop for DocsReceiver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn r_re_signs_what_the_docs_receiver_recomputes() {
    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = "dolby_sec_myverylittlesecret";
    for (provider, their_key, our_flags, signing_key) in [
        (
            "optiview",
            secret.to_owned(),
            vec!["--secret".to_owned(), format!("optiview={secret}")],
            secret.to_owned(),
        ),
        (
            "dyte",
            format!("{FIXTURES}/dyte-public.pem"),
            vec![
                "--secret".to_owned(),
                format!("dyte=file:{FIXTURES}/dyte-public.pem"),
                "--key".to_owned(),
                format!("{FIXTURES}/dyte-private.pem"),
            ],
            format!("{FIXTURES}/dyte-private.pem"),
        ),
    ] {
        let receiver = DocsReceiver::start(provider, &their_key);
        let target = format!("http://127.0.0.1:{}/webhooks", receiver.1);
        let mut args = vec![
            "listen",
            "--addr",
            "127.0.0.1:0",
            "--out",
            "r.jsonl",
            "--forward",
            &target,
        ];
        args.extend(our_flags.iter().map(String::as_str));
        let mut term = Terminal::start(&args, dir.path(), 140, 36);
        let screen = term.wait_for("the status bar", |s| s.contains("● http://127.0.0.1:"));
        let url = address_on(&screen);
        // Spaced, with number forms and keys JSON.stringify rewrites, signed as the docs sign
        // (over JSON.stringify of the parsed body) an hour ago.
        let body = dir.path().join(format!("{provider}.json"));
        std::fs::write(
            &body,
            r#"{"type": "channel.stopped", "event": "meeting.started", "n": [2.0, 1E+2], "10": 1, "1": 2}"#,
        )
        .expect("write body");
        let sent = std::process::Command::new("node")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/crosscheck/senders.js"
            ))
            .args(["send-file", provider, &signing_key, &format!("{url}/hooks")])
            .arg(&body)
            .arg("3600")
            .status()
            .expect("node sends");
        assert!(sent.success());
        term.type_keys("4");
        term.wait_for("the forward, as captured", |s| s.contains("  forward"));
        term.type_keys("R");
        let screen = term.wait_for("the re-signed replay's answer", |s| s.contains("  resigned"));
        assert!(
            screen.contains("→ 200  resigned"),
            "{provider}: the docs' receiver rejected what R sent:\n{screen}"
        );
        term.quit();
    }
}

/// An event name of 45 characters: more than the Event column gets below 160 columns.
const LONG_EVENT: &str = "distribution.security.keys.rotated.everywhere";
/// A path longer than the Path column gets when narrow.
const LONG_PATH: &str = "/webhooks/acme/production/eu-west-1/deliveries";

/// A journal of three captures: a sender hookscope does not know with the long event name in
/// `type` on a long path, OptiView signed with the same long name, and OptiView with a short one.
fn journal_of_long_names(dir: &Path) -> std::path::PathBuf {
    let journal = dir.join("widths.jsonl");
    let mut listener = common::Listener::start_with_journal(
        &journal,
        &["--headless", "--secret", "optiview=dolby_sec_test"],
    );
    let body = format!(r#"{{"type":"{LONG_EVENT}","id":"evt_1","data":{{"key":"k1"}}}}"#);
    let request = common::post(
        LONG_PATH,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime
        .block_on(common::send_raw(listener.addr, &request))
        .expect("send the unknown sender's request");
    let url = format!("http://{}/hooks", listener.addr);
    let set = format!("/type={LONG_EVENT}");
    for extra in [vec!["--set", set.as_str()], vec![]] {
        let status = common::binary()
            .args(["send", "optiview", "channel.stopped", "--to", &url])
            .args(["--secret", "dolby_sec_test"])
            .args(extra)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run hookscope send");
        assert!(status.success());
    }
    listener.stop();
    assert_eq!(common::captures_in(&journal).len(), 3);
    journal
}

/// The inspector over those captures in a real terminal of each width the issue names, 24
/// rows: the event name whole where it fits, `…` where anything is cut, nothing drawn past
/// the right edge, and a status bar that reads whole.
#[test]
fn the_inspector_fits_long_event_names_at_every_width() {
    let dir = tempfile::tempdir().expect("temp dir");
    journal_of_long_names(dir.path());
    for cols in [40u16, 80, 120, 160, 250] {
        let term = Terminal::start(
            &["open", "widths.jsonl", "--secret", "optiview=dolby_sec_test"],
            dir.path(),
            cols,
            24,
        );
        // The list's title, then the hints on the last row: the first frame is all there.
        term.wait_for("the first frame", |s| {
            s.contains("Captures 1/3") && s.lines().last().is_some_and(|l| l.contains("q quit"))
        });
        let (screen, rows, wrapped, edges) = term.with_screen(|screen| {
            let rows: Vec<String> = screen.rows(0, cols).collect();
            let wrapped: Vec<u16> = (0..24).filter(|&r| screen.row_wrapped(r)).collect();
            let cell = |row, col| screen.cell(row, col).map(|c| c.contents().to_owned());
            let edges: Vec<(Option<String>, Option<String>)> =
                (1..23).map(|row| (cell(row, 0), cell(row, cols - 1))).collect();
            (screen.contents(), rows, wrapped, edges)
        });
        // Nothing wider than the terminal: no row ran on into the next, and every row of the
        // panes has its borders at both edges, where they belong.
        assert!(wrapped.is_empty(), "{cols}: rows {wrapped:?} wrapped:\n{screen}");
        for (row, (left, right)) in edges.iter().enumerate() {
            let (left, right) = (left.as_deref().unwrap_or(""), right.as_deref().unwrap_or(""));
            assert!(
                ["┌", "│", "└"].contains(&left) && ["┐", "│", "┘"].contains(&right),
                "{cols}: row {} has {left:?} … {right:?}:\n{screen}",
                row + 1
            );
        }
        // The list's rows start with their time; at 160 and more the detail pane is beside
        // them, and only the list's part of the row is looked at.
        let list: Vec<&str> = rows
            .iter()
            .filter_map(|r| r.split('│').nth(1))
            .filter(|r| r.chars().nth(2) == Some(':'))
            .collect();
        assert_eq!(list.len(), 3, "{cols}: three captures listed:\n{screen}");
        for row in &list {
            // Whatever shows of the long name is whole or ends with … to say it was cut.
            for word in row.split_whitespace() {
                if word.len() >= 6 && LONG_EVENT.starts_with(word.trim_end_matches('…')) {
                    assert!(word == LONG_EVENT || word.ends_with('…'), "{cols}: {row}");
                }
                if word.len() >= 6 && LONG_PATH.starts_with(word.trim_end_matches('…')) {
                    assert!(word == LONG_PATH || word.ends_with('…'), "{cols}: {row}");
                }
            }
        }
        if cols >= 160 {
            let whole = list.iter().filter(|r| r.contains(LONG_EVENT)).count();
            assert_eq!(whole, 2, "{cols}: the whole name on both rows:\n{screen}");
            // The signature as its symbol at 160, in words at 250.
            let signature = if cols >= 250 { "✓ valid" } else { "✓" };
            assert!(
                list.iter()
                    .any(|r| r.contains("optiview") && r.contains(LONG_EVENT) && r.contains(signature)),
                "{cols}: the provider and the signature beside it:\n{screen}"
            );
        } else {
            assert!(
                list.iter().any(|r| r.contains('…')),
                "{cols}: something is cut, and says so:\n{screen}"
            );
        }
        // The status bar: its words whole, the journal and the counts on it.
        let status = &rows[0];
        for word in status.split_whitespace() {
            assert!(
                [
                    "hookscope",
                    "journal",
                    "widths.jsonl",
                    "→",
                    "no",
                    "forward",
                    "captured",
                    "shown",
                    "3",
                    "3/3"
                ]
                .contains(&word)
                    || word.ends_with('…'),
                "{cols}: {word:?} in the status bar {status:?}"
            );
        }
        assert!(
            status.contains("widths.jsonl")
                && (status.contains("shown 3/3") || status.contains("captured 3  shown 3")),
            "{cols}: {status:?}"
        );
        insta::with_settings!({
            filters => vec![
                (r"\d\d:\d\d:\d\d\.\d{3}", "hh:mm:ss.mmm"),
                (r"\b\d\d:\d\d:\d\d\b", "hh:mm:ss"),
                (r"\b[0-9A-HJKMNP-TV-Z]{26}\b", "[ULID....................]"),
                (r"127\.0\.0\.1:\d+", "127.0.0.1:PORT"),
            ],
            snapshot_path => "../src/tui/snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(format!("pty_long_events_{cols}"), screen);
        });
        term.quit();
    }
}

/// The listen address on the inspector's status bar.
fn address_on(screen: &str) -> String {
    screen
        .split("● ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the listen address on the status bar")
        .to_owned()
}

/// `listen`'s inspector lists a live capture from the summary the hub makes and reads the
/// capture back from the journal when it shows it: its body, its headers and a valid verdict
/// explained, in a journal that already held an earlier session (never listed, never searched).
/// A bare word searches bodies as it is typed. With `--out /dev/null` there is no journal to
/// read back from: the captures are shown all the same.
#[test]
fn a_live_capture_is_shown_whole_with_or_without_a_journal_to_read_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    // An earlier session: three captures, two of them `channel.stopped`.
    journal_of_long_names(dir.path());
    let mut term = Terminal::start(
        &[
            "listen",
            "--addr",
            "127.0.0.1:0",
            "--out",
            "widths.jsonl",
            "--secret",
            "optiview=dolby_sec_test",
        ],
        dir.path(),
        130,
        36,
    );
    let url = address_on(&term.wait_for("the status bar", |s| s.contains("● http://127.0.0.1:")));
    send(
        &format!("{url}/hooks"),
        "optiview",
        "channel.stopped",
        "dolby_sec_test",
    );
    send(
        &format!("{url}/hooks"),
        "optiview",
        "engine.error",
        "dolby_sec_test",
    );
    let screen = term.wait_for("the newest capture's body", |s| {
        s.contains("captured 2") && s.contains("\"type\": \"engine.error\"")
    });
    assert!(screen.contains("Captures 2/2"), "{screen}");
    term.type_keys("g");
    term.wait_for("the first capture's body", |s| {
        s.contains("\"type\": \"channel.stopped\"") && s.contains("Captures 1/2")
    });
    term.type_keys("2");
    term.wait_for("its headers", |s| s.contains("Dolby-Signature: t="));
    term.type_keys("3");
    let screen = term.wait_for("its verdict explained", |s| s.contains("authentic and fresh"));
    assert!(screen.contains("HMAC-SHA256"), "{screen}");
    assert!(!screen.contains("cannot read"), "{screen}");
    term.type_keys("\t\t/stopped");
    let screen = term.wait_for("the word searched as it is typed", |s| {
        s.contains("/stopped") && s.contains("shown 1")
    });
    assert!(!screen.contains("Enter searches"), "{screen}");
    term.type_keys("\r");
    term.wait_for("the filter applied", |s| s.contains("filter stopped"));
    term.quit();

    let mut term = Terminal::start(
        &[
            "listen",
            "--addr",
            "127.0.0.1:0",
            "--out",
            "/dev/null",
            "--secret",
            "optiview=dolby_sec_test",
        ],
        dir.path(),
        130,
        36,
    );
    let url = address_on(&term.wait_for("the status bar", |s| s.contains("● http://127.0.0.1:")));
    send(
        &format!("{url}/hooks"),
        "optiview",
        "channel.stopped",
        "dolby_sec_test",
    );
    let screen = term.wait_for("the capture", |s| s.contains("captured 1"));
    let screen = match screen.contains("\"type\": \"channel.stopped\"") {
        true => screen,
        // The list may be drawn a frame before the detail.
        false => term.wait_for("its body", |s| {
            s.contains("\"type\": \"channel.stopped\"") || s.contains("cannot read")
        }),
    };
    assert!(screen.contains("\"type\": \"channel.stopped\""), "{screen}");
    term.type_keys("3");
    term.wait_for("its verdict explained", |s| s.contains("authentic and fresh"));
    term.quit();
}
