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

mod common;
#[path = "hostile/quoting.rs"]
mod quoting;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::{Listener, announced_address, binary, send_raw, wait_for};
use hookscope::capture::Capture;

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

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 receiver: what curl sends, byte for byte.

/// Records each request's head and body as they arrived; answers 200 and closes.
struct Receiver {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Receiver {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        let addr = listener.local_addr().expect("addr");
        let requests: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let log = requests.clone();
        thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                receive(stream, &log);
            }
        });
        Self { addr, requests }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn take(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *self.requests.lock().expect("lock"))
    }
}

/// Reads one request, records it, then answers (so that once curl has its answer, the request
/// is in the log).
fn receive(mut stream: TcpStream, log: &Mutex<Vec<Vec<u8>>>) -> Option<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut data = Vec::new();
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&chunk[..n]);
    }
    log.lock().expect("lock").push(data);
    stream
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .ok()
}

/// A received request read back as the essence of a capture: the request line's method and
/// target, the headers but `Host` and `Content-Length` (curl's own), the body.
fn received_essence(raw: &[u8]) -> quoting::Essence {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
    let mut lines = raw[..head_end - 4]
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let request_line = lines.next().expect("a request line");
    let method_end = request_line.iter().position(|&b| b == b' ').expect("method");
    let target = request_line[method_end + 1..]
        .strip_suffix(b" HTTP/1.1")
        .expect("HTTP/1.1");
    let headers = lines
        .map(|line| {
            let colon = line.iter().position(|&b| b == b':').expect("name: value");
            let value = &line[colon + 1..];
            let start = value
                .iter()
                .position(|&b| b != b' ' && b != b'\t')
                .unwrap_or(value.len());
            (line[..colon].to_vec(), value[start..].to_vec())
        })
        .filter(|(name, _)| {
            !name.eq_ignore_ascii_case(b"host") && !name.eq_ignore_ascii_case(b"content-length")
        })
        .collect();
    (
        request_line[..method_end].to_vec(),
        target.to_vec(),
        headers,
        raw[head_end..].to_vec(),
    )
}

fn show(essence: &quoting::Essence) -> String {
    let text = |b: &[u8]| String::from_utf8_lossy(b).escape_debug().to_string();
    let headers: Vec<String> = essence
        .2
        .iter()
        .map(|(n, v)| format!("{}: {}", text(n), text(v)))
        .collect();
    format!(
        "{} {}\n{}\n\n{}",
        text(&essence.0),
        text(&essence.1),
        headers.join("\n"),
        text(&essence.3)
    )
}

/// Runs bash on `script` with `args` and `env`; asserts it succeeded.
fn bash(script: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let output = Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg("bash")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run bash");
    assert!(
        output.status.success(),
        "bash failed: {}\n{script}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts the receiver got exactly the requests of `captures`, in order.
fn assert_replayed(receiver: &Receiver, captures: &[Capture]) {
    let got = receiver.take();
    assert_eq!(got.len(), captures.len(), "one request per capture");
    for (raw, capture) in got.iter().zip(captures) {
        let (received, expected) = (received_essence(raw), quoting::essence(capture));
        assert!(
            received == expected,
            "received\n{}\ninstead of\n{}",
            show(&received),
            show(&expected)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Exports

/// Requests made to break a script or a `.http` file: commands in the event type (which became
/// a comment line), the path, a header and the body; a body that names a file for curl to read;
/// a target curl would glob and normalise; an empty header value; a binary body; a HEAD.
fn hostile_requests(marks: &Path) -> Vec<Vec<u8>> {
    let mark = |n: u32| marks.join(format!("PWNED{n}")).display().to_string();
    let secret = marks.join("secret");
    std::fs::write(&secret, "a local file curl must not send").expect("secret");
    let mut requests = Vec::new();
    let event = format!(
        r#"{{"type":"x\ntouch {}\n#\u001b]52;c;aGk=\u0007","event":"y $(touch {}) `touch {}`"}}"#,
        mark(1),
        mark(2),
        mark(3)
    );
    let head = |target: &str, headers: &[(&str, &[u8])], body: &[u8]| {
        let mut request = format!("POST {target} HTTP/1.1\r\nHost: test\r\n").into_bytes();
        for (name, value) in headers {
            request.extend_from_slice(format!("{name}: ").as_bytes());
            request.extend_from_slice(value);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        request.extend_from_slice(body);
        request
    };
    let evil_header = format!("$(touch {})'\"`touch {}`;\\ !! \u{202e}\u{9b}", mark(4), mark(5));
    requests.push(head(
        &format!(
            "/hooks/\u{202e}\u{2066}\u{9b}\u{9d}\u{200e}?q=$(touch%20{})&r=`id`;x|y",
            mark(6)
        ),
        &[
            (
                "Content-Type",
                "application/json\u{202e}\u{2066}\u{9b}".as_bytes(),
            ),
            (
                "X-Millicast-Signature",
                b"sha1=0123456789abcdef0123456789abcdef01234567",
            ),
            ("X-Evil", evil_header.as_bytes()),
            ("X-Empty", b""),
            ("x-lower-Case", b"{{$processEnv HOME}}"),
        ],
        event.as_bytes(),
    ));
    requests.push(head(
        "/hooks/../x/[1-3]/{a,b}?p=%0a#frag",
        &[("Content-Type", b"text/plain")],
        format!("@{}", secret.display()).as_bytes(),
    ));
    let mut text_body = format!(
        "line\n### not a request\n< {}\n> {{% client.exit() %}}\n#!!\n",
        secret.display()
    );
    text_body.push_str(&format!("'$(touch {})' \\ \"\" ` \t \r\n", mark(7)));
    requests.push(head(
        "/hooks/text",
        &[("Content-Type", b"text/plain")],
        text_body.as_bytes(),
    ));
    requests.push(head(
        "/hooks/binary",
        &[("Content-Type", b"application/octet-stream")],
        &(0..=255u8).collect::<Vec<_>>(),
    ));
    requests.push(b"HEAD /hooks/head HTTP/1.1\r\nHost: test\r\nX-A: 1\r\n\r\n".to_vec());
    requests
}

#[tokio::test]
async fn exported_scripts_run_nothing_and_replay_every_capture_byte_for_byte() {
    let marks = tempfile::tempdir().expect("temp dir");
    let mut listener = Listener::start(&["--headless"]);
    let requests = hostile_requests(marks.path());
    for request in &requests {
        assert_eq!(
            status_of(listener.addr, request),
            200,
            "{}",
            String::from_utf8_lossy(request)
        );
    }
    listener.stop();
    let captures = listener.captures();
    assert_eq!(captures.len(), requests.len());
    // The planted newline did reach the event type, which the script writes as a comment.
    let event = captures[0].derived.event_type.as_deref().expect("an event type");
    assert!(event.contains("\ntouch "), "{event:?}");
    let dir = tempfile::tempdir().expect("temp dir");
    let marked = || {
        std::fs::read_dir(marks.path())
            .expect("marks")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("PWNED"))
            .collect::<Vec<_>>()
    };

    // The curl script, as `bash replay.sh BASE_URL` runs it.
    let receiver = Receiver::start();
    let script = dir.path().join("replay.sh");
    export(&listener.journal, "curl", &script);
    let text = std::fs::read_to_string(&script).expect("script");
    let output = Command::new("bash")
        .arg(&script)
        .arg(receiver.url())
        .stdin(Stdio::null())
        .output()
        .expect("run bash");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(marked(), Vec::<String>::new(), "a command ran:\n{text}");
    assert_replayed(&receiver, &captures);
    for capture in &captures {
        quoting::check(capture);
    }

    // A path in the base URL goes before each target.
    bash(&text, &[&format!("{}/api/", receiver.url())], &[]);
    let got = receiver.take();
    assert!(
        received_essence(&got[0]).1.starts_with(b"/api/hooks/"),
        "{:?}",
        String::from_utf8_lossy(&got[0])
    );

    // What the inspector's `y` copies, pasted into bash with a BASE set.
    for capture in &captures {
        bash(
            &hookscope::export::curl_command(capture),
            &[],
            &[("BASE", &receiver.url())],
        );
    }
    assert_eq!(marked(), Vec::<String>::new(), "a command ran");
    assert_replayed(&receiver, &captures);

    // The .http file: every request line is hookscope's, no body line is misread, nothing runs.
    let http = dir.path().join("hooks.http");
    export(&listener.journal, "http", &http);
    let text = std::fs::read_to_string(&http).expect("http file");
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("touch") || l.starts_with("> ") || l.starts_with("< /")),
        "{text}"
    );
    assert_eq!(text.matches("\n### ").count(), captures.len(), "{text}");
    assert_eq!(
        text.matches("{{").count(),
        text.matches("{{base}}").count(),
        "{text}"
    );
    assert_clean(".http file", &text);
    assert_eq!(marked(), Vec::<String>::new());
}

/// Sends `request` on a new connection and reads the status of the answer (whose body a HEAD
/// does not get).
fn status_of(addr: SocketAddr, request: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.write_all(request).expect("send");
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).expect("an answer");
    String::from_utf8_lossy(&head[9..12]).parse().expect("a status")
}

fn export(journal: &Path, format: &str, out: &Path) {
    let output = binary()
        .args([
            "export",
            journal.to_str().expect("utf-8"),
            "--format",
            format,
            "--out",
        ])
        .arg(out)
        .output()
        .expect("run export");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Seeded random captures from pieces that break quoting; every one holds the invariants of
/// `hostile/quoting.rs`, bash reads back a sample of the shell words exactly, parses a sample of
/// the scripts, and runs a sample against the receiver.
#[test]
fn quoting_holds_for_thousands_of_random_captures_and_bash_agrees() {
    const PIECES: [&str; 44] = [
        "a",
        "Z",
        "0",
        " ",
        "'",
        "\"",
        "\\",
        "$",
        "$(touch PWNED)",
        "`touch PWNED`",
        "!",
        "!!",
        "\n",
        "\r",
        "\t",
        "#",
        "###",
        "<",
        ">",
        "{{",
        "}}",
        "{{$processEnv HOME}}",
        "@",
        "%",
        "%0A",
        "..",
        "/",
        ";",
        "|",
        "&",
        "*",
        "?",
        "[1-2]",
        "\u{1b}]52;c;aGk=\u{7}",
        "\u{1b}[2J",
        "\u{202e}",
        "\u{2066}",
        "\u{9b}",
        "\u{9d}",
        "\u{200e}",
        "\u{2028}",
        "é",
        "\u{0}",
        "\u{7f}",
    ];
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let text = |next: &mut dyn FnMut(usize) -> usize, most: usize| -> String {
        (0..next(most)).map(|_| PIECES[next(PIECES.len())]).collect()
    };
    let mut captures = Vec::new();
    for round in 0..3000 {
        let method = match next(4) {
            0 => text(&mut next, 4),
            _ => ["POST", "PUT", "PATCH", "DELETE", "GET", "HEAD", "X-CUSTOM"][next(7)].to_owned(),
        };
        let path = format!("/{}", text(&mut next, 8));
        let query = (next(2) == 0).then(|| text(&mut next, 6));
        let headers = (0..next(5))
            .map(|_| {
                let name = match next(3) {
                    0 => text(&mut next, 3),
                    _ => ["X-A", "x-sig", "Content-Type", "Accept", "X-Empty", "Host"][next(6)].to_owned(),
                };
                let mut value = text(&mut next, 6).into_bytes();
                if next(5) == 0 {
                    value.push(0xff);
                }
                (name, value)
            })
            .collect();
        let mut body = text(&mut next, 12).into_bytes();
        if round % 7 == 0 {
            body.extend_from_slice(&[0xc3, 0x28, 0, 0xff]);
        }
        let provider = (next(2) == 0).then(|| text(&mut next, 3));
        let event = (next(2) == 0).then(|| text(&mut next, 6));
        captures.push(quoting::capture(
            &method,
            &path,
            query.as_deref(),
            headers,
            body,
            provider.as_deref(),
            event.as_deref(),
        ));
    }
    for capture in &captures {
        quoting::check(capture);
    }

    // bash reads every shell word of a sample back as the bytes it was made of; a command that
    // escaped its quotes would leave PWNED in the working directory.
    let workdir = tempfile::tempdir().expect("temp dir");
    let mut words = Vec::new();
    for capture in captures.iter().step_by(10) {
        let mut texts = vec![
            capture.method.clone().into_bytes(),
            capture.target().into_bytes(),
            capture.body.to_vec(),
        ];
        texts.extend(capture.headers.iter().map(|h| h.value.to_vec()));
        words.extend(texts.into_iter().filter(|t| !t.contains(&0)));
    }
    for batch in words.chunks(200) {
        let quoted: Vec<String> = batch
            .iter()
            .map(|w| hookscope::export::quote::shell_word(w).expect("no NUL"))
            .collect();
        let output = Command::new("bash")
            .arg("-c")
            .arg(format!("printf '%s\\0' {}", quoted.join(" ")))
            .current_dir(workdir.path())
            .output()
            .expect("run bash");
        assert!(output.status.success());
        let printed: Vec<&[u8]> = output.stdout.split(|&b| b == 0).collect();
        assert_eq!(printed.len(), batch.len() + 1);
        for (word, back) in batch.iter().zip(printed) {
            assert_eq!(
                back,
                &word[..],
                "bash read {:?} back differently",
                String::from_utf8_lossy(word)
            );
        }
    }

    // bash parses a sample of scripts and commands.
    let dir = tempfile::tempdir().expect("temp dir");
    for (n, capture) in captures.iter().step_by(25).enumerate() {
        for text in [
            hookscope::export::curl_script(std::slice::from_ref(capture)),
            hookscope::export::curl_command(capture),
        ] {
            let file = dir.path().join(format!("{n}.sh"));
            std::fs::write(&file, &text).expect("write");
            let status = Command::new("bash")
                .arg("-n")
                .arg(&file)
                .current_dir(workdir.path())
                .status()
                .expect("bash -n");
            assert!(status.success(), "bash cannot parse:\n{text}");
        }
    }

    // And runs those curl can send as HTTP/1.1 (no line break or NUL in the head), in one script.
    let sendable: Vec<Capture> = captures
        .iter()
        .filter(|c| {
            let head_safe = |b: &[u8]| !b.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0));
            // Whitespace around a value is not part of it in HTTP (a capture never has any).
            let trimmed = |b: &[u8]| b.trim_ascii() == b;
            let token =
                |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || "-".contains(c));
            token(&c.method)
                && c.method != "HEAD"
                && head_safe(c.target().as_bytes())
                && !c.target().contains(' ')
                && c.headers.iter().all(|h| {
                    (quoting::replayable(h) && trimmed(&h.value)) || hookscope::export::is_hop_by_hop(&h.name)
                })
        })
        .step_by(20)
        .take(40)
        .cloned()
        .collect();
    assert!(sendable.len() >= 20, "only {} sendable", sendable.len());
    let receiver = Receiver::start();
    let script = hookscope::export::curl_script(&sendable);
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .arg("bash")
        .arg(receiver.url())
        .current_dir(workdir.path())
        .output()
        .expect("run bash");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        std::fs::read_dir(workdir.path()).expect("dir").next().is_none(),
        "a command ran"
    );
    assert_replayed(&receiver, &sendable);
}

// ---------------------------------------------------------------------------------------------
// Terminals, JSON and logs

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
        terminal.draw(|frame| ui::render(frame, &app)).expect("draws");
        let buffer = terminal.backend().buffer();
        // Every cell, as it would be written to the terminal.
        let cells: String = buffer.content().iter().map(|cell| cell.symbol()).collect();
        screens.push_str(&cells);
        screens.push('\n');
    }
    assert_clean("the inspector", &screens);
    // The title (content type), the list, the request line, the headers and the event type.
    assert_shows(
        "the inspector",
        &screens,
        &[
            r"text/plain\u{202e}\u{2066}\x9b\x9d\u{200e}\x1b[2j\x1b]52",
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
