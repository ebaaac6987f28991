//! Terminals, JSON and logs: escape sequences, bidi and C1 controls in a capture reach none of
//! them raw, and each shows them escaped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use crate::common::{self, Listener, announced_address, binary, send_raw, wait_for};
use crate::{CONTENT_TYPE_TAIL, JSON, VISIBLE, assert_clean, assert_shows, hostile_text, quoting};

/// A capture written straight to a journal (as any file may hold it) with [`RAW`] in its path,
/// a header value, its content type and its event type.
fn hostile_journal(dir: &Path) -> std::path::PathBuf {
    let hostile = hostile_text();
    let mut capture = quoting::capture(
        "POST",
        &format!("/hooks/{hostile}"),
        Some(&format!("q={hostile}")),
        vec![
            // Parameters are cut at the first `;` where a content type is shown: the controls
            // go first.
            (
                "Content-Type".into(),
                format!("text/plain{CONTENT_TYPE_TAIL}").into_bytes(),
            ),
            ("X-Evil".into(), hostile.clone().into_bytes()),
        ],
        b"plain text body".to_vec(),
        Some("milli\u{202e}\u{9b}cast"),
        Some(&format!("feeds.{hostile}")),
    );
    capture.derived.verdict = Some("no-secret".into());
    capture.version = "HTTP/1.1\u{202e}\u{9b}".into();
    let journal = dir.join("hostile.jsonl");
    std::fs::write(&journal, hookscope::codec::encode_capture(&capture)).expect("journal");
    journal
}

fn run(args: &[&str]) -> String {
    let output = binary().args(args).output().expect("run hookscope");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

#[test]
fn log_and_exports_escape_every_control_and_bidi_character() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = hostile_journal(dir.path());
    assert_clean(
        "the journal line",
        &std::fs::read_to_string(&journal).expect("journal"),
    );
    let path = journal.to_str().expect("utf-8");

    let human = run(&["log", path]);
    assert_clean("log", &human);
    assert_shows("log", &human, &VISIBLE);

    let json = run(&["log", "--json", path]);
    assert_clean("log --json", &json);
    assert_shows("log --json", &json, &JSON);
    let decoded = hookscope::codec::decode_line(json.as_bytes()).expect("log --json is a journal line");
    let hookscope::codec::Record::Capture(decoded) = decoded else {
        panic!("a capture")
    };
    assert_eq!(
        decoded.path,
        format!("/hooks/{}", hostile_text()),
        "escaped, not changed"
    );

    let har = run(&["export", path, "--format", "har"]);
    assert_clean("HAR", &har);
    assert_shows("HAR", &har, &JSON);
    let har: serde_json::Value = serde_json::from_str(&har).expect("HAR is JSON");
    assert!(
        har["log"]["entries"][0]["request"]["url"]
            .as_str()
            .expect("url")
            .contains(&hostile_text())
    );

    for format in ["curl", "http"] {
        let text = run(&["export", path, "--format", format]);
        assert_clean(format, &text);
        assert!(
            text.bytes()
                .all(|b| b == b'\n' || b == b'\t' || (0x20..0x7f).contains(&b)),
            "{text}"
        );
    }
}

#[tokio::test]
async fn listen_prints_escaped_lines_and_json() {
    // What HTTP/1.1 can carry: bidi and C1 as UTF-8 in the path and headers; escape sequences
    // only in the body, as JSON escapes, from which the event type is read.
    let path = "/hooks/\u{202e}\u{2066}\u{9b}\u{9d}\u{200e}";
    let body = r#"{"type":"feeds\u001b]52;c;aGk=\u0007\u001b]2;owned\u0007\u001b[2J\u202e\u2066\u009b\u009d\u200e","event":"x"}"#;
    let mut request = format!("POST {path}?q=\u{202e} HTTP/1.1\r\nHost: t\r\n").into_bytes();
    request.extend_from_slice(
        format!(
            "Content-Type: application/json; \u{202e}\u{2066}\u{9b}\u{9d}\u{200e}\r\nX-Evil: \u{202e}\u{9b}\r\n\
             X-Millicast-Signature: sha1=0123456789abcdef0123456789abcdef01234567\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    for (flag, forms) in [("--headless", &VISIBLE[..]), ("--json", &JSON[..])] {
        let mut listener = Listener::start(&[flag]);
        assert_eq!(
            send_raw(listener.addr, &request).await.expect("an answer").status,
            200
        );
        let (_, stdout, stderr) = listener.stop();
        let capture = &listener.captures()[0];
        assert!(
            capture.path.contains('\u{202e}'),
            "kept as sent: {:?}",
            capture.path
        );
        assert!(
            capture
                .derived
                .event_type
                .as_deref()
                .unwrap_or_default()
                .contains('\u{1b}')
        );
        assert_clean(flag, &stdout);
        assert_clean("stderr", &stderr);
        assert_shows(flag, &stdout, forms);
        assert_clean(
            "the journal",
            &std::fs::read_to_string(&listener.journal).expect("journal"),
        );
    }
}

#[test]
fn the_inspector_shows_visible_escapes() {
    use hookscope::tui::{App, Context, Effect, store::Store, ui};
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    let dir = tempfile::tempdir().expect("temp dir");
    let journal = hostile_journal(dir.path());
    let capture = common::captures_in(&journal).remove(0);
    let catalog = hookscope::provider::Catalog::builtin();
    let keys = hookscope::config::Keys::load(&catalog, &[], None).expect("keys");
    let analyzer = Arc::new(hookscope::analysis::Analyzer::new(catalog, keys));
    let mut app = App::new(Store::new(None), analyzer, Context::default());
    app.on_capture(Arc::new(capture.clone()));
    app.on_key(KeyEvent::new(KeyCode::Char('g'), KeyModifiers::NONE));
    let mut screens = String::new();
    for tab in ['1', '2', '3', '4'] {
        app.on_key(KeyEvent::new(KeyCode::Char(tab), KeyModifiers::NONE));
        app.on_resize(200, 40);
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(200, 40)).expect("terminal");
        app.before_draw();
        terminal.draw(|frame| ui::render(frame, &app)).expect("draws");
        let buffer = terminal.backend().buffer();
        // Every cell, as it would be written to the terminal.
        let cells: String = buffer.content().iter().map(|cell| cell.symbol()).collect();
        screens.push_str(&cells);
        screens.push('\n');
    }
    assert_clean("the inspector", &screens);
    // The headers (the content type whole, as sent: the pane's title cuts it with … since the
    // list got the wider share), the list, the request line and the event type.
    assert_shows(
        "the inspector",
        &screens,
        &[
            r"text/plain\u{202e}\u{2066}\x9b\x9d\u{200e}\x1b[2J\x1b]52",
            r"/hooks/a\x1b]52;c;aGk=\x07-\x1b]2;owned\x07",
            r"HTTP/1.1\u{202e}\x9b",
        ],
    );
    assert!(screens.contains("X-Evil:"), "the headers tab:\n{screens}");

    // `y` copies a command with nothing raw in it.
    app.on_key(KeyEvent::new(KeyCode::Char('y'), KeyModifiers::NONE));
    let copied = app.take_effects().into_iter().find_map(|e| match e {
        Effect::Copy(text) => Some(text),
        _ => None,
    });
    let copied = copied.expect("y copies");
    assert_eq!(copied, hookscope::export::curl_command(&capture));
    assert!(
        copied.bytes().all(|b| b == b'\n' || (0x20..0x7f).contains(&b)),
        "{copied}"
    );
}

#[test]
fn a_refused_tunnel_is_logged_escaped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = binary()
        .args(["relay", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("relay"))
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the relay");
    let (addr, stderr) = announced_address(&mut child);
    let mut stream = TcpStream::connect(addr).expect("connect");
    let request =
        "GET /tunnel/\u{202e}\u{2066}\u{9b}\u{9d}\u{200e}x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    assert!(
        answer.starts_with(b"HTTP/1.1 401"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let line = wait_for("the refusal to be logged", Duration::from_secs(10), || {
        let lines = stderr.lock().expect("lock");
        lines.iter().find(|l| l.contains("tunnel refused")).cloned()
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_clean("the relay's log", &line);
    assert_shows(
        "the relay's log",
        &line,
        &[r"\u{202e}", r"\u{2066}", r"\x9b", r"\x9d", r"\u{200e}"],
    );
}
