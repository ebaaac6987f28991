//! Exports of hostile captures: the curl script, each `y` command and the `.http` file run or
//! read nothing a sender planted, and replay every capture byte for byte.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};

use hookscope::capture::Capture;

use crate::common::{Listener, binary};
use crate::receiver::{Receiver, assert_replayed, received_essence};
use crate::{assert_clean, quoting};

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
