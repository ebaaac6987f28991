//! End-to-end tests of `hookscope listen`: the real binary, real sockets on 127.0.0.1.

mod common;

use std::collections::HashMap;

use common::{Listener, noise, post, read_response, send_raw};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test]
async fn binary_and_large_bodies_are_journaled_byte_identical() {
    let listener = Listener::start(&[]);
    let every_byte: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let megabyte = noise(1024 * 1024, 7);
    let text = "{\"type\":\"feeds\",\"event\":\"started\",\"note\":\"caf\u{e9} \u{1F3A5}\"}\n".as_bytes();
    for (path, body) in [
        ("/binary", &every_byte[..]),
        ("/large", &megabyte[..]),
        ("/text", text),
    ] {
        let response = send_raw(listener.addr, &post(path, &[], body))
            .await
            .expect("response");
        assert_eq!(response.status, 200);
        assert_eq!(response.body, br#"{"ok":true}"#);
    }
    // The same megabyte again, chunked in uneven pieces.
    let mut stream = TcpStream::connect(listener.addr).await.expect("connect");
    stream
        .write_all(b"PUT /chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .expect("head");
    for piece in megabyte.chunks(100_003) {
        stream
            .write_all(format!("{:x}\r\n", piece.len()).as_bytes())
            .await
            .expect("size");
        stream.write_all(piece).await.expect("data");
        stream.write_all(b"\r\n").await.expect("crlf");
    }
    stream.write_all(b"0\r\n\r\n").await.expect("last chunk");
    assert_eq!(read_response(&mut stream).await.expect("response").status, 200);

    let captures = listener.captures();
    let by_path: HashMap<&str, &[u8]> = captures.iter().map(|c| (c.path.as_str(), &c.body[..])).collect();
    assert_eq!(by_path.len(), 4);
    assert!(by_path["/binary"] == every_byte, "binary body changed");
    assert!(by_path["/large"] == megabyte, "1 MB body changed");
    assert!(by_path["/chunked"] == megabyte, "chunked body changed");
    assert_eq!(by_path["/text"], text);
    // Text stays readable in the file, binary is base64.
    let raw = std::fs::read_to_string(&listener.journal).expect("journal is UTF-8");
    assert!(raw.contains(r#""body_encoding":"base64""#));
    assert!(raw.contains("caf\u{e9} \u{1F3A5}"), "text body stored as text");
}

#[tokio::test]
async fn header_order_case_and_bytes_are_preserved() {
    let listener = Listener::start(&[]);
    let mut request = b"POST /hooks/optiview?b=2&a=1 HTTP/1.1\r\n\
Host: example.test\r\n\
X-Zeta: last-alphabetically\r\n\
dolby-signature: t=1700000000,h=abc\r\n\
X-MiXeD-CaSe: yes\r\n\
X-Zeta: second value\r\n\
x-latin1: caf"
        .to_vec();
    request.extend_from_slice(b"\xe9\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    let response = send_raw(listener.addr, &request).await.expect("response");
    assert_eq!(response.status, 200);

    let captures = listener.captures();
    let capture = &captures[0];
    let headers: Vec<(&str, &[u8])> = capture
        .headers
        .iter()
        .map(|h| (h.name.as_str(), &h.value[..]))
        .collect();
    assert_eq!(
        headers,
        [
            ("Host", &b"example.test"[..]),
            ("X-Zeta", b"last-alphabetically"),
            ("dolby-signature", b"t=1700000000,h=abc"),
            ("X-MiXeD-CaSe", b"yes"),
            ("X-Zeta", b"second value"),
            ("x-latin1", b"caf\xe9"),
            ("Content-Type", b"application/json"),
            ("Content-Length", b"2"),
        ]
    );
    assert_eq!(
        (capture.method.as_str(), capture.path.as_str()),
        ("POST", "/hooks/optiview")
    );
    assert_eq!(capture.query.as_deref(), Some("b=2&a=1"));
    assert_eq!(capture.version, "HTTP/1.1");
    assert!(capture.remote_addr.starts_with("127.0.0.1:"));
}

#[tokio::test]
async fn keep_alive_requests_each_get_their_own_headers() {
    let listener = Listener::start(&[]);
    let mut stream = TcpStream::connect(listener.addr).await.expect("connect");
    for n in 0..5 {
        let request = post(
            &format!("/k/{n}"),
            &[(&format!("X-Seq-{n}"), &n.to_string())],
            b"{}",
        );
        stream.write_all(&request).await.expect("write");
        assert_eq!(read_response(&mut stream).await.expect("response").status, 200);
    }
    for (n, capture) in listener.captures().iter().enumerate() {
        assert_eq!(capture.path, format!("/k/{n}"));
        assert_eq!(
            capture.headers[1].name,
            format!("X-Seq-{n}"),
            "{:?}",
            capture.headers
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_requests_are_journaled_exactly_once() {
    let listener = Listener::start(&[]);
    let addr = listener.addr;
    let tasks: Vec<_> = (0..1000)
        .map(|n| {
            tokio::spawn(async move {
                let body = format!("{{\"n\":{n}}}");
                send_raw(addr, &post(&format!("/c/{n}"), &[], body.as_bytes())).await
            })
        })
        .collect();
    for task in tasks {
        let response = task.await.expect("task").expect("response");
        assert_eq!(response.status, 200);
    }
    let captures = listener.captures();
    assert_eq!(captures.len(), 1000);
    let mut seen: Vec<u32> = captures
        .iter()
        .map(|c| c.path.trim_start_matches("/c/").parse().expect("a number"))
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..1000).collect::<Vec<_>>(), "each request exactly once");
    for capture in &captures {
        assert_eq!(
            capture.body,
            format!("{{\"n\":{}}}", &capture.path[3..]).as_bytes()
        );
    }
    let mut ids: Vec<_> = captures.iter().map(|c| c.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 1000, "ids are unique");
}

#[tokio::test]
async fn an_oversized_body_is_413_and_the_server_keeps_serving() {
    let listener = Listener::start(&["--max-body", "1KiB"]);
    // Without `Expect: 100-continue` the body is sent at once: the server must still answer.
    let response = send_raw(listener.addr, &post("/too-big", &[], &[b'x'; 4096]))
        .await
        .expect("a 413, not a reset");
    assert_eq!(response.status, 413);
    assert!(String::from_utf8_lossy(&response.body).contains("exceeds --max-body 1024 bytes"));
    // Declared too large and waiting for 100-continue: answered without sending the body.
    let response = send_raw(
        listener.addr,
        b"POST /expect HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n",
    )
    .await
    .expect("response");
    assert_eq!(response.status, 413);
    // Chunked with no declared size: found out while reading.
    let mut chunked =
        b"POST /chunked-too-big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    chunked.extend_from_slice(format!("{:x}\r\n", 3000).as_bytes());
    chunked.extend_from_slice(&[b'y'; 3000]);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    assert_eq!(
        send_raw(listener.addr, &chunked).await.expect("response").status,
        413
    );

    let fits = send_raw(listener.addr, &post("/fits", &[], &[b'z'; 1024]))
        .await
        .expect("response");
    assert_eq!(fits.status, 200);

    let captures = listener.captures();
    let statuses: Vec<(&str, u16, usize)> = captures
        .iter()
        .map(|c| (c.path.as_str(), c.status, c.body.len()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("/too-big", 413, 0),
            ("/expect", 413, 0),
            ("/chunked-too-big", 413, 0),
            ("/fits", 200, 1024)
        ]
    );
    assert!(
        captures[0]
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("exceeds --max-body")
    );
}

#[tokio::test]
async fn acknowledged_requests_survive_sigkill() {
    let mut listener = Listener::start(&[]);
    let mut stream = TcpStream::connect(listener.addr).await.expect("connect");
    const N: usize = 300;
    for n in 0..N {
        let body = noise(512 + n, n as u64);
        stream
            .write_all(&post(&format!("/ack/{n}"), &[], &body))
            .await
            .expect("write");
        assert_eq!(
            read_response(&mut stream).await.expect("acknowledged").status,
            200
        );
    }
    listener.kill9();
    let captures = listener.captures();
    assert_eq!(captures.len(), N, "every acknowledged request is in the journal");
    for (n, capture) in captures.iter().enumerate() {
        assert_eq!(capture.path, format!("/ack/{n}"));
        assert!(capture.body == noise(512 + n, n as u64));
    }
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_and_others_are_served() {
    let listener = Listener::start(&["--read-timeout", "300ms"]);
    let mut stalled = TcpStream::connect(listener.addr).await.expect("connect");
    stalled
        .write_all(b"POST /stalled HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly ten b")
        .await
        .expect("write");
    let ok = send_raw(listener.addr, &post("/meanwhile", &[], b"{}"))
        .await
        .expect("response");
    assert_eq!(ok.status, 200);
    let response = read_response(&mut stalled).await.expect("a 408");
    assert_eq!(response.status, 408);
    let captures = listener.captures();
    let stalled = captures.iter().find(|c| c.path == "/stalled").expect("journaled");
    assert_eq!(stalled.status, 408);
    assert!(stalled.note.as_deref().unwrap_or_default().contains("stalled"));
}

#[tokio::test]
async fn a_stalled_head_is_cut_off() {
    let listener = Listener::start(&["--read-timeout", "300ms"]);
    let mut stalled = TcpStream::connect(listener.addr).await.expect("connect");
    stalled
        .write_all(b"POST /never-finished HTTP/1.1\r\nHo")
        .await
        .expect("write");
    let mut rest = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        tokio::io::AsyncReadExt::read_to_end(&mut stalled, &mut rest),
    )
    .await;
    assert!(read.is_ok(), "the connection was not closed");
    let ok = send_raw(listener.addr, &post("/after", &[], b"{}"))
        .await
        .expect("response");
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn response_is_configurable() {
    let listener = Listener::start(&[
        "--respond-status",
        "202",
        "--respond-body",
        "queued",
        "--respond-header",
        "X-Env: dev",
    ]);
    let response = send_raw(listener.addr, &post("/", &[], b"{}"))
        .await
        .expect("response");
    assert_eq!(response.status, 202);
    assert_eq!(response.body, b"queued");
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("x-env"), Some("dev"));
    assert_eq!(header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(listener.captures()[0].status, 202);
}

#[tokio::test]
async fn headless_output_is_one_sanitized_line_per_capture_and_a_summary() {
    let mut listener = Listener::start(&["--headless"]);
    let hostile = "text/plain\u{9b}31m\u{202e}gnp.exe";
    let request = post(
        "/hostile?q=1",
        &[("Content-Type", hostile)],
        b"\x1b]0;pwned\x07\x1b[2J",
    );
    assert_eq!(
        send_raw(listener.addr, &request).await.expect("response").status,
        200
    );
    assert_eq!(
        send_raw(listener.addr, &post("/second", &[], b"{}"))
            .await
            .expect("response")
            .status,
        200
    );
    let (status, stdout, stderr) = listener.stop();
    assert!(status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout:?}");
    assert!(
        lines[0].contains("POST    /hostile?q=1  14 B  text/plain\\x9b31m\\u{202e}gnp.exe"),
        "{stdout:?}"
    );
    assert!(
        !stdout
            .chars()
            .any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
        "{stdout:?}"
    );
    assert!(
        stderr.contains("captured 2 requests (16 B of bodies)"),
        "{stderr}"
    );
}

#[tokio::test]
async fn json_output_prints_the_journal_records() {
    let mut listener = Listener::start(&["--json"]);
    for n in 0..3 {
        send_raw(listener.addr, &post(&format!("/j/{n}"), &[], b"{}"))
            .await
            .expect("response");
    }
    let journal = listener.journal.clone();
    let (status, stdout, _) = listener.stop();
    assert!(status.success());
    let mut printed: Vec<&str> = stdout.lines().collect();
    let written = std::fs::read_to_string(journal).expect("journal");
    let mut journaled: Vec<&str> = written.lines().collect();
    // Printing order may differ from commit order under concurrency; the records may not.
    printed.sort_unstable();
    journaled.sort_unstable();
    assert_eq!(printed, journaled);
}

#[tokio::test]
async fn http2_prior_knowledge_is_captured() {
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let listener = Listener::start(&[]);
    let stream = TcpStream::connect(listener.addr).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("h2 handshake");
    tokio::spawn(connection);
    let request = hyper::Request::post(format!("http://{}/h2/hook?x=1", listener.addr))
        .header("webhook-id", "msg_1")
        .body(Full::new(bytes::Bytes::from_static(b"\x00\x01binary")))
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(&body[..], br#"{"ok":true}"#);

    let captures = listener.captures();
    assert_eq!(captures[0].version, "HTTP/2.0");
    assert_eq!(captures[0].path, "/h2/hook");
    assert_eq!(captures[0].header("webhook-id"), Some(&b"msg_1"[..]));
    assert_eq!(&captures[0].body[..], b"\x00\x01binary");
}

/// Every file under `dir`, recursively, with its bytes.
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        match path.is_dir() {
            true => files.extend(files_under(&path)),
            false => files.push((path.clone(), std::fs::read(&path).unwrap_or_default())),
        }
    }
    files
}

/// Sends `provider`'s `event` signed with `secret` to `url`, as a sender would.
fn send_signed(url: &str, provider: &str, event: &str, secret: &str) {
    let output = common::binary()
        .args(["send", provider, event, "--to", url, "--secret", secret])
        .output()
        .expect("run hookscope send");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn secrets_are_in_no_log_output_or_journal_even_at_trace() {
    // One secret from each source: a flag, the environment, the config file.
    const FLAG: &str = "dolby_sec_flag_5e2b91";
    const ENV: &str = "gh_env_secret_8d14c7";
    const FILE: &str = "whsec_file_secret_a9f03b";
    let dir = tempfile::tempdir().expect("temp dir");
    let (state, home) = (dir.path().join("state"), dir.path().join("home"));
    let config = dir.path().join("hookscope.toml");
    std::fs::write(&config, format!("[secrets]\nstripe = \"{FILE}\"\n")).expect("config");
    let journal = dir.path().join("captures.jsonl");
    let mut child = common::binary()
        .args(["listen", "--addr", "127.0.0.1:0", "--headless", "--out"])
        .arg(&journal)
        .args(["--secret", &format!("optiview={FLAG}"), "--config"])
        .arg(&config)
        .env("RUST_LOG", "trace")
        .env("HOOKSCOPE_SECRET_GITHUB", ENV)
        .env("XDG_STATE_HOME", &state)
        .env("HOME", &home)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn listen");
    let followed = common::follow(&mut child);
    let addr = followed.addr;
    let mut out = child.stdout.take().expect("piped stdout");
    let stdout = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut bytes);
        bytes
    });
    let url = format!("http://{addr}/hooks");
    send_signed(&url, "optiview", "channel.stopped", FLAG);
    send_signed(&url, "github", "push", ENV);
    send_signed(&url, "stripe", "invoice.paid", FILE);
    // A wrong secret: the diagnosis is computed with the configured one.
    send_signed(&url, "optiview", "engine.error", "not-the-configured-one");

    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    assert!(child.wait().expect("wait").success());
    let stdout = String::from_utf8_lossy(&stdout.join().expect("stdout")).into_owned();
    // Every line, those after the summary too, before looking for a leak in them.
    followed.wait_ended(std::time::Duration::from_secs(10));
    let stderr = followed.text();
    assert!(stderr.lines().any(|l| l.starts_with("captured ")), "{stderr}");

    // The secrets were in use (else nothing could leak), and tracing was on.
    let verdicts: Vec<Option<String>> = common::captures_in(&journal)
        .into_iter()
        .map(|c| c.derived.verdict)
        .collect();
    let valid = Some("valid".to_owned());
    let invalid = Some("invalid".to_owned());
    assert_eq!(verdicts, [valid.clone(), valid.clone(), valid, invalid]);
    assert!(stderr.contains("TRACE") || stderr.contains("DEBUG"), "{stderr}");
    let mut outputs = vec![
        ("stderr".into(), stderr.into_bytes()),
        ("stdout".into(), stdout.into_bytes()),
        ("the journal".into(), std::fs::read(&journal).expect("journal")),
    ];
    for (path, bytes) in files_under(&state).into_iter().chain(files_under(&home)) {
        outputs.push((path.display().to_string(), bytes));
    }
    for (name, bytes) in &outputs {
        let text = String::from_utf8_lossy(bytes);
        for secret in [FLAG, ENV, FILE] {
            let leak = text.lines().find(|line| line.contains(secret));
            assert!(leak.is_none(), "{name} holds a secret: {leak:?}");
        }
    }
}

/// Whether `strace` runs here; in CI its absence is a failure, elsewhere a skip.
fn strace_available() -> bool {
    let found = std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "strace is needed to see --fsync sync"
        );
        eprintln!("SKIPPED: strace not found");
    }
    found
}

#[tokio::test]
async fn fsync_syncs_the_journal_after_writing_and_before_answering() {
    if !strace_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let dir_path = dir.path().canonicalize().expect("canonical");
    let journal = dir_path.join("captures.jsonl");
    let trace = dir_path.join("strace.txt");
    let child = std::process::Command::new("strace")
        .args(["-f", "-qq", "-y", "-s", "64", "-o"])
        .arg(&trace)
        .args([
            "-e",
            "trace=write,writev,pwrite64,pwritev,sendto,sendmsg,fsync,fdatasync",
        ])
        .arg(env!("CARGO_BIN_EXE_hookscope"))
        .args([
            "listen",
            "--addr",
            "127.0.0.1:0",
            "--headless",
            "--fsync",
            "--out",
        ])
        .arg(&journal)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn strace");
    // strace runs hookscope as its child: signals go to hookscope itself, and whatever happens
    // both are ended.
    struct Traced(std::process::Child);
    impl Traced {
        fn tracee(&self) -> Option<String> {
            let pid = self.0.id();
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
            children.split_whitespace().next().map(str::to_owned)
        }
        fn signal(&self, signal: &str) {
            if let Some(pid) = self.tracee() {
                let _ = std::process::Command::new("kill").args([signal, &pid]).status();
            }
        }
    }
    impl Drop for Traced {
        fn drop(&mut self) {
            self.signal("-KILL");
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut traced = Traced(child);
    let (addr, _stderr) = common::announced_address(&mut traced.0);
    let response = send_raw(addr, &post("/synced", &[], b"{\"n\":1}"))
        .await
        .expect("send");
    assert_eq!(response.status, 200, "listen --fsync answers");
    // Answered, so journaled.
    let captures = common::captures_in(&journal);
    assert_eq!(captures.len(), 1);
    assert_eq!(captures[0].path, "/synced");
    traced.signal("-TERM");
    assert!(traced.0.wait().expect("wait for strace").success());

    // In the system calls, in order: the line written to the journal, the journal synced, then
    // the answer written to the socket.
    let trace = std::fs::read_to_string(&trace).expect("strace output");
    let lines: Vec<&str> = trace.lines().collect();
    let on_journal = format!("<{}>", journal.display());
    let written = lines
        .iter()
        .position(|l| l.contains(&on_journal) && l.contains("write") && l.contains("capture"))
        .unwrap_or_else(|| panic!("no write to the journal:\n{trace}"));
    let sync_starts = written
        + lines[written..]
            .iter()
            .position(|l| (l.contains("fdatasync(") || l.contains("fsync(")) && l.contains(&on_journal))
            .unwrap_or_else(|| panic!("the journal was not synced after the write:\n{trace}"));
    let pid = lines[sync_starts].split_whitespace().next().unwrap_or_default();
    let synced = match lines[sync_starts].contains("<unfinished ...>") {
        false => sync_starts,
        true => {
            sync_starts
                + lines[sync_starts..]
                    .iter()
                    .position(|l| l.split_whitespace().next() == Some(pid) && l.contains("sync resumed>"))
                    .unwrap_or_else(|| panic!("the sync does not return:\n{trace}"))
        }
    };
    assert!(
        lines[synced].ends_with("= 0"),
        "the sync failed: {}",
        lines[synced]
    );
    let answered = lines
        .iter()
        .position(|l| l.contains("HTTP/1.1 200"))
        .unwrap_or_else(|| panic!("no answer written:\n{trace}"));
    assert!(
        written < synced && synced < answered,
        "written at line {written}, synced at {synced}, answered at {answered}:\n{trace}"
    );
}

/// A second `listen` on a journal another one is writing is refused in words, before it
/// touches the file: two listeners interleaving captures in one journal would each read back
/// (and forward, and list) the other's, and the second's "torn tail" repair could land in the
/// middle of the first's line. The first keeps its journal, whole. Not a regular file
/// (`/dev/null`) is not locked: two listeners may both throw their captures away.
#[tokio::test]
async fn a_second_listener_on_the_same_journal_is_refused_and_the_first_keeps_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("captures.jsonl");
    let mut first = Listener::start_with_journal(&journal, &["--headless"]);
    let answer = send_raw(first.addr, &post("/hooks/first", &[], b"{\"n\":1}")).await;
    assert_eq!(answer.expect("an answer").status, 200);
    let before = std::fs::read(&journal).expect("the first's journal");
    let mut second = Killed::headless(&journal);
    let Some(status) = second.exited_within(std::time::Duration::from_secs(30)) else {
        panic!("the second listener on the same journal is still running");
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.0.stderr.take().expect("stderr"), &mut stderr)
        .expect("read stderr");
    assert!(!status.success());
    assert!(
        stderr.contains(&format!(
            "cannot open journal {}: another hookscope listen is writing to it (one journal per \
             listener): give this one its own --out FILE",
            journal.display()
        )),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&journal).expect("journal"), before, "not touched");
    // `replay` appends its attempts to the journal meanwhile: it is no listener.
    let replay = common::binary()
        .arg("replay")
        .arg(&journal)
        .args(["--to", "http://127.0.0.1:1"])
        .output()
        .expect("run replay");
    let said = String::from_utf8_lossy(&replay.stderr);
    assert!(!said.contains("another hookscope listen"), "{said}");
    assert_eq!(common::attempts_in(&journal).len(), 1, "{said}");
    // The first goes on, and stops cleanly with its two captures.
    let answer = send_raw(first.addr, &post("/hooks/after", &[], b"{\"n\":2}")).await;
    assert_eq!(answer.expect("an answer").status, 200);
    let (status, _, _) = first.stop();
    assert!(status.success());
    let paths: Vec<String> = common::captures_in(&journal)
        .into_iter()
        .map(|c| c.path)
        .collect();
    assert_eq!(paths, ["/hooks/first", "/hooks/after"]);
    // Once the first has stopped, the journal is free again.
    let mut third = Listener::start_with_journal(&journal, &["--headless"]);
    assert!(third.stop().0.success());

    let devnull = std::path::Path::new("/dev/null");
    let (mut a, mut b) = (
        Listener::start_with_journal(devnull, &["--headless"]),
        Listener::start_with_journal(devnull, &["--headless"]),
    );
    assert!(a.stop().0.success() && b.stop().0.success());
}

/// A headless listener whose stdout nobody reads (a pipe into a stuck `| less`, a full terminal
/// buffer) keeps acknowledging and journaling every request: the printer falls behind on its
/// own thread and capture never waits for it (#17). And SIGTERM still ends it, with the pipe
/// still full.
#[tokio::test]
async fn a_stalled_printer_does_not_hold_up_acknowledgements() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("captures.jsonl");
    let mut child = Killed::headless(&journal);
    let stderr = common::follow(&mut child.0);
    let addr = stderr.addr;
    // Held, never read: once its 64 KiB are full, every write to it blocks.
    let stdout = child.0.stdout.take().expect("piped stdout");
    // Each headless line is over 60 bytes: 3000 of them are three times the pipe's room.
    for n in 0..3000 {
        let request = post(&format!("/hooks/stalled/{n}"), &[], b"{\"n\":1}");
        // A bound on a hang (a request waiting for the printer), not a measure of speed.
        let answer = tokio::time::timeout(std::time::Duration::from_secs(30), send_raw(addr, &request))
            .await
            .unwrap_or_else(|_| panic!("request {n} not answered: capture waits for the printer"))
            .expect("an answer");
        assert_eq!(answer.status, 200, "request {n}");
    }
    assert_eq!(common::captures_in(&journal).len(), 3000);
    let pid = child.0.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let exited = child.exited_within(std::time::Duration::from_secs(30));
    drop(stdout);
    if exited.is_some() {
        // Its last lines may still be in the pipe to the thread reading them.
        stderr.wait_ended(std::time::Duration::from_secs(10));
        let said = stderr.text();
        assert!(
            said.contains(
                "stdout is not being read: its last lines were not printed (every capture is in the journal)"
            ),
            "{said}"
        );
    }
    if exited.is_none() {
        panic!(
            "SIGTERM did not end a listener whose stdout is full; stderr: {}",
            stderr.text()
        );
    }
}

/// A `listen --headless` on `journal` started here (its stdout and stderr piped, not read),
/// killed on drop, so that a failing test leaves no listener behind.
struct Killed(std::process::Child);

impl Killed {
    fn headless(journal: &std::path::Path) -> Self {
        Self(
            common::binary()
                .args(["listen", "--headless", "--addr", "127.0.0.1:0", "--out"])
                .arg(journal)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn hookscope"),
        )
    }

    /// Its exit status, if it exits within `limit` (a bound on a hang, not a measure).
    fn exited_within(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.0.try_wait().expect("wait") {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
