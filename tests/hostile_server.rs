//! Hostile input against `hookscope listen` (issue #13, the listener's side): what a sender
//! writes may not hide from the journal, starve other senders, or outlive its welcome.
//!
//! - Heads hyper refuses itself (431, 414, 400) and framing it cannot accept are journaled with
//!   what arrived, and answered as hyper always answered them; bodies cut short keep their bytes.
//! - CONNECT, absolute-form and HTTP/2 targets keep their authority.
//! - A head or body trickled a byte at a time is cut at the read deadline (408, journaled); a
//!   connection idle past --idle-timeout is closed, one between requests is not cut sooner.
//! - Hundreds of idle and trickling connections under a 256-descriptor limit leave room for a
//!   real sender; failed accepts are reported once a second, not per attempt.
//! - 100 MB bodies, with and without a length, are answered 413 in bounded memory.
//!
//! Every test drives the real binary over 127.0.0.1 and ends by checking that the listener still
//! serves a real sender, that every request it acknowledged is in the journal, and that it did
//! not panic.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{captures_in, post, send_raw};
use hookscope::capture::Capture;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A `hookscope listen` child, optionally under a lower open-files limit (`prlimit` execs the
/// binary, so the pid is the listener's own).
struct Spawned {
    addr: SocketAddr,
    journal: PathBuf,
    child: Child,
    stderr: common::Followed,
    _dir: tempfile::TempDir,
}

impl Spawned {
    fn start(nofile: Option<u32>, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let journal = dir.path().join("captures.jsonl");
        let binary = env!("CARGO_BIN_EXE_hookscope");
        let mut command = match nofile {
            Some(limit) => {
                let mut command = Command::new("prlimit");
                command
                    .arg(format!("--nofile={limit}:{limit}"))
                    .arg("--")
                    .arg(binary);
                command
            }
            None => Command::new(binary),
        };
        let mut child = command
            .args(["listen", "--headless", "--addr", "127.0.0.1:0", "--out"])
            .arg(&journal)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hookscope");
        let stderr = common::follow(&mut child);
        Self {
            addr: stderr.addr,
            journal,
            child,
            stderr,
            _dir: dir,
        }
    }

    fn captures(&self) -> Vec<Capture> {
        captures_in(&self.journal)
    }

    fn stderr_text(&self) -> String {
        self.stderr.text()
    }

    /// Resident memory now and at its peak, in KiB, from /proc.
    fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse().ok())
                .unwrap_or_else(|| panic!("{name} in /proc/PID/status"))
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// How many descriptors it holds.
    fn descriptors(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|entries| entries.count())
            .unwrap_or_default()
    }

    /// The end of every test: a real sender is still served and journaled, every acknowledged
    /// request is in the journal, and a SIGTERM ends the listener cleanly, without a panic.
    async fn assert_still_serving_and_stop(mut self, acknowledged: &[&str]) -> Vec<Capture> {
        let answer = send_raw(self.addr, &post("/real-sender", &[], b"{\"after\":true}"))
            .await
            .expect("the real sender's answer");
        assert_eq!(answer.status, 200, "the listener still serves");
        let captures = self.captures();
        for path in acknowledged.iter().chain(&["/real-sender"]) {
            assert!(
                captures
                    .iter()
                    .any(|c| c.path == *path && (200..300).contains(&c.status)),
                "acknowledged {path} is journaled"
            );
        }
        let (status, stderr) = self.stop();
        assert!(status.success(), "clean exit: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        captures
    }

    fn stop(&mut self) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(sent.success());
        let status = self.child.wait().expect("wait");
        // Its last lines (a panic after the summary too) may still be in the pipe.
        self.stderr.wait_ended(Duration::from_secs(10));
        let stderr = self.stderr_text();
        assert!(stderr.contains("captured "), "no summary: {stderr}");
        (status, stderr)
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One answer read off the wire: status and body.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Vec<u8>,
}

/// Reads one answer (a `Content-Length` body, or none) from `reader`, keeping what follows it
/// in `buffer`.
async fn read_answer(reader: &mut (impl AsyncRead + Unpin), buffer: &mut Vec<u8>) -> std::io::Result<Answer> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        if let Ok(httparse::Status::Complete(len)) = response.parse(buffer) {
            let status = response.code.unwrap_or_default();
            let length: usize = response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
                .unwrap_or(0);
            while buffer.len() < len + length {
                fill(reader, buffer).await?;
            }
            let body = buffer[len..len + length].to_vec();
            buffer.drain(..len + length);
            return Ok(Answer { status, body });
        }
        fill(reader, buffer).await?;
    }
}

async fn fill(reader: &mut (impl AsyncRead + Unpin), buffer: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 16 * 1024];
    match reader.read(&mut chunk).await? {
        0 => Err(std::io::ErrorKind::UnexpectedEof.into()),
        read => {
            buffer.extend_from_slice(&chunk[..read]);
            Ok(())
        }
    }
}

/// Writes `request` while reading the answer (a listener may answer before reading all of a
/// large request, and the sender must still see it); write errors after that are expected.
async fn exchange(addr: SocketAddr, request: Vec<u8>) -> std::io::Result<Answer> {
    let stream = TcpStream::connect(addr).await?;
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        let _ = writer.write_all(&request).await;
        writer // kept open until the answer is read
    });
    let answer = read_answer(&mut reader, &mut Vec::new()).await;
    drop(writing);
    answer
}

/// Reads until the listener closes the connection, up to `limit`; when it did.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Instant> {
    let mut sink = Vec::new();
    tokio::time::timeout(limit, stream.read_to_end(&mut sink))
        .await
        .ok()
        .map(|_| Instant::now())
}

fn capture_at<'a>(captures: &'a [Capture], path: &str) -> &'a Capture {
    captures
        .iter()
        .find(|c| c.path == path)
        .unwrap_or_else(|| panic!("{path} is journaled; journal: {captures:#?}"))
}

fn note(capture: &Capture) -> &str {
    capture.note.as_deref().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_hyper_refuses_are_answered_as_before_and_journaled_with_what_arrived() {
    let listener = Spawned::start(None, &[]);
    let mut big_header = b"POST /big-header HTTP/1.1\r\nHost: t\r\nX-Big: ".to_vec();
    big_header.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    big_header.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
    let mut many_headers = b"POST /many-headers HTTP/1.1\r\nHost: t\r\n".to_vec();
    for n in 0..10_000 {
        many_headers.extend_from_slice(format!("X-H{n}: v\r\n").as_bytes());
    }
    many_headers.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    let mut long_uri = b"GET /long".to_vec();
    long_uri.extend(std::iter::repeat_n(b'a', 70_000));
    long_uri.extend_from_slice(b" HTTP/1.1\r\nHost: t\r\n\r\n");
    let tls_hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("/big-header", big_header, 431),
        ("/many-headers", many_headers, 431),
        ("/longaaaa", long_uri, 414),
        (
            "/caf\u{fffd}",
            b"POST /caf\xe9 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n".to_vec(),
            400,
        ),
        (
            "/ctl\x01path",
            b"POST /ctl\x01path HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
            400,
        ),
        (
            "/ctl-header",
            b"POST /ctl-header HTTP/1.1\r\nHost: t\r\nX-A: a\x01b\r\n\r\n".to_vec(),
            400,
        ),
        (
            "/esc-header",
            b"POST /esc-header HTTP/1.1\r\nX-A: \x1b]52;c;cHduZWQ=\x07\r\n\r\n".to_vec(),
            400,
        ),
        (
            "/latin1-name",
            b"POST /latin1-name HTTP/1.1\r\nX-Caf\xe9: 1\r\n\r\n".to_vec(),
            400,
        ),
        ("", tls_hello.clone(), 400),
    ];
    for (what, request, status) in &cases {
        let answer = exchange(listener.addr, request.clone())
            .await
            .unwrap_or_else(|err| panic!("{what:?}: an answer, not {err}"));
        assert_eq!(answer.status, *status, "{what:?}: answered as hyper answers it");
    }
    // A refusal is journaled just after hyper has answered it: wait for the records, then count.
    let captures = common::wait_for("every refused request journaled", Duration::from_secs(10), || {
        let captures = listener.captures();
        (captures.len() >= cases.len()).then_some(captures)
    });
    assert_eq!(
        captures.len(),
        cases.len(),
        "each refused request is journaled once"
    );
    for (path, request, status) in &cases {
        let capture = captures
            .iter()
            .find(|c| {
                c.status == *status && (c.path == *path || !path.is_empty() && c.path.starts_with(path))
            })
            .unwrap_or_else(|| panic!("{path:?} ({status}) journaled: {captures:#?}"));
        assert!(
            note(capture).starts_with("refused before it was read"),
            "{}",
            note(capture)
        );
        match capture.headers.is_empty() {
            // Unparsable: its raw head is the body, byte for byte, within the bound.
            true => {
                assert!(!capture.body.is_empty(), "{path:?}");
                assert!(capture.body.len() <= 64 * 1024, "{path:?}");
                assert!(request.starts_with(&capture.body), "{path:?}: the bytes as sent");
            }
            // Parsed: the head as the scanner read it.
            false => assert_eq!(capture.header("Host"), Some(&b"t"[..]), "{path:?}"),
        }
    }
    let longest = captures.iter().find(|c| c.status == 431).expect("a 431");
    assert!(
        note(longest).contains("the body holds the first 65536 of"),
        "{}",
        note(longest)
    );
    assert_eq!(
        capture_at(&captures, "").body,
        tls_hello,
        "a TLS hello is kept whole"
    );
    listener.assert_still_serving_and_stop(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_framing_is_journaled_and_bodies_cut_short_keep_what_arrived() {
    let listener = Spawned::start(None, &[]);
    let chunked = |path: &str, head_extra: &str, body: &str| {
        format!("POST {path} HTTP/1.1\r\nHost: t\r\n{head_extra}Transfer-Encoding: chunked\r\n\r\n{body}")
            .into_bytes()
    };
    let answered: Vec<(&str, Vec<u8>, u16)> = vec![
        // Both lengths: hyper reads the chunks and closes the connection after (RFC 9112 §6.3).
        ("/cl-then-te", chunked("/cl-then-te", "Content-Length: 5\r\n", "5\r\nhello\r\n0\r\n\r\n"), 200),
        (
            "/te-then-cl",
            b"POST /te-then-cl HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n5\r\nhello\r\n0\r\n\r\n".to_vec(),
            200,
        ),
        (
            "/two-lengths",
            b"POST /two-lengths HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!".to_vec(),
            400,
        ),
        ("/signed-length", b"POST /signed-length HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello".to_vec(), 400),
        ("/gzip-last", b"POST /gzip-last HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\nhello".to_vec(), 400),
        ("/bad-size", chunked("/bad-size", "", "zz\r\nhello\r\n0\r\n\r\n"), 400),
        ("/overflow", chunked("/overflow", "", "5\r\nhello\r\nfffffffffffffffff\r\nxx\r\n0\r\n\r\n"), 400),
    ];
    for (path, request, status) in &answered {
        let answer = exchange(listener.addr, request.clone()).await.expect("an answer");
        assert_eq!(answer.status, *status, "{path}");
    }
    // A chunk cut short by a half-close, and a body cut short by a close.
    let mut short = TcpStream::connect(listener.addr).await.expect("connect");
    short
        .write_all(&chunked("/short-chunk", "", "5\r\nhel"))
        .await
        .expect("write");
    short.shutdown().await.expect("half-close");
    let answer = read_answer(&mut short, &mut Vec::new()).await.expect("an answer");
    assert_eq!(answer.status, 400);
    let mut gone = TcpStream::connect(listener.addr).await.expect("connect");
    gone.write_all(b"POST /gone HTTP/1.1\r\nContent-Length: 100\r\n\r\nonly ten b")
        .await
        .expect("write");
    drop(gone);
    // A head abandoned halfway: not answered, still journaled.
    let abandoned = b"POST /abandoned?x=1 HTTP/1.1\r\nHost: t\r\nX-Half: ha";
    let mut half = TcpStream::connect(listener.addr).await.expect("connect");
    half.write_all(abandoned).await.expect("write");
    drop(half);
    let captures = common::wait_for("the cut requests", Duration::from_secs(10), || {
        let captures = listener.captures();
        let cut = |path| captures.iter().any(|c: &Capture| c.path == path);
        (cut("/gone") && cut("/abandoned")).then_some(captures)
    });
    let half = capture_at(&captures, "/abandoned");
    assert_eq!((half.status, half.query.as_deref()), (0, Some("x=1")));
    assert_eq!(&half.body[..], abandoned, "what arrived of the head, as sent");
    assert!(
        note(half).starts_with("not answered: the sender closed the connection before the head was complete"),
        "{}",
        note(half)
    );
    let kept = |path: &str| {
        let capture = capture_at(&captures, path);
        (
            capture.status,
            String::from_utf8_lossy(&capture.body).into_owned(),
        )
    };
    assert_eq!(kept("/cl-then-te"), (200, "hello".to_owned()));
    assert_eq!(kept("/te-then-cl"), (200, "hello".to_owned()));
    assert_eq!(kept("/bad-size"), (400, String::new()));
    assert_eq!(kept("/overflow"), (400, "hello".to_owned()));
    assert_eq!(kept("/short-chunk"), (400, "hel".to_owned()));
    assert_eq!(kept("/gone").1, "only ten b");
    assert!(note(capture_at(&captures, "/gone")).contains("kept the 10 bytes that arrived"));
    assert!(note(capture_at(&captures, "/overflow")).contains("chunk size"));
    for path in ["/two-lengths", "/signed-length", "/gzip-last"] {
        let capture = capture_at(&captures, path);
        assert_eq!(capture.status, 400, "{path}");
        assert!(note(capture).starts_with("refused before it was read"), "{path}");
    }
    let lengths: Vec<&[u8]> = capture_at(&captures, "/two-lengths")
        .headers
        .iter()
        .filter(|h| h.name == "Content-Length")
        .map(|h| &h.value[..])
        .collect();
    assert_eq!(lengths, [&b"5"[..], b"6"], "the conflicting lengths are visible");
    listener
        .assert_still_serving_and_stop(&["/cl-then-te", "/te-then-cl"])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order_and_a_refused_one_is_journaled() {
    let listener = Spawned::start(None, &[]);
    let mut stream = TcpStream::connect(listener.addr).await.expect("connect");
    let mut requests = post("/pipe/1", &[], b"{\"n\":1}");
    requests.extend_from_slice(
        b"POST /pipe/2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"n\r\n4\r\n\":2}\r\n0\r\n\r\n",
    );
    requests.extend_from_slice(b"GET /pipe/3?x=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    stream.write_all(&requests).await.expect("write");
    let mut buffer = Vec::new();
    for _ in 0..3 {
        let answer = read_answer(&mut stream, &mut buffer).await.expect("an answer");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, br#"{"ok":true}"#);
    }
    // A request hyper refuses between two good ones: the first is served, the second refused.
    let mut stream = TcpStream::connect(listener.addr).await.expect("connect");
    let mut requests = post("/pipe/4", &[], b"{}");
    let refused_at = requests.len();
    requests.extend_from_slice(b"POST /pipe/5\xff HTTP/1.1\r\nHost: t\r\n\r\n");
    requests.extend_from_slice(&post("/pipe/6", &[], b"{}"));
    stream.write_all(&requests).await.expect("write");
    let mut buffer = Vec::new();
    let statuses = [
        read_answer(&mut stream, &mut buffer).await.expect("first").status,
        read_answer(&mut stream, &mut buffer)
            .await
            .expect("second")
            .status,
    ];
    assert_eq!(statuses, [200, 400]);
    assert!(
        closed_within(&mut stream, Duration::from_secs(10))
            .await
            .is_some()
    );

    // The refused request is journaled just after hyper answered it.
    let captures = common::wait_for("the refused request journaled", Duration::from_secs(10), || {
        let captures = listener.captures();
        captures.iter().any(|c| c.status == 400).then_some(captures)
    });
    let bodies: Vec<(&str, &[u8])> = captures
        .iter()
        .filter(|c| c.status == 200)
        .map(|c| (c.path.as_str(), &c.body[..]))
        .collect();
    assert_eq!(
        bodies,
        [
            ("/pipe/1", &b"{\"n\":1}"[..]),
            ("/pipe/2", b"{\"n\":2}"),
            ("/pipe/3", b""),
            ("/pipe/4", b"{}"),
        ]
    );
    let refused = captures
        .iter()
        .find(|c| c.status == 400)
        .expect("the refused one is journaled");
    assert_eq!(refused.path, "/pipe/5\u{fffd}");
    assert!(
        requests[refused_at..].starts_with(&refused.body),
        "its raw head, and what followed it, as sent"
    );
    assert!(
        !captures.iter().any(|c| c.path == "/pipe/6"),
        "never read, never answered"
    );
    listener
        .assert_still_serving_and_stop(&["/pipe/1", "/pipe/2", "/pipe/3", "/pipe/4"])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_absolute_form_and_http2_targets_keep_their_authority() {
    use http_body_util::Full;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let listener = Spawned::start(None, &[]);
    let connect = exchange(
        listener.addr,
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n".to_vec(),
    )
    .await
    .expect("an answer");
    assert_eq!(connect.status, 200);
    let absolute = send_raw(
        listener.addr,
        b"POST http://evil.example:8080/hook?q=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}",
    )
    .await
    .expect("an answer");
    assert_eq!(absolute.status, 200);
    let stream = TcpStream::connect(listener.addr).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("h2 handshake");
    tokio::spawn(connection);
    let request = hyper::Request::post("http://h2.example:9000/h2?x=1")
        .body(Full::new(bytes::Bytes::from_static(b"{}")))
        .expect("request");
    assert_eq!(
        sender.send_request(request).await.expect("h2 answer").status(),
        200
    );

    let captures = listener.captures();
    let connect = captures.iter().find(|c| c.method == "CONNECT").expect("CONNECT");
    assert_eq!(
        (connect.path.as_str(), connect.query.as_deref()),
        ("example.com:443", None)
    );
    let absolute = capture_at(&captures, "/hook");
    assert_eq!(absolute.query.as_deref(), Some("q=1"));
    assert_eq!(absolute.headers[0].name, ":authority");
    assert_eq!(absolute.headers[0].value, "evil.example:8080");
    assert_eq!(
        absolute.header("Host"),
        Some(&b"t"[..]),
        "the Host header stays as sent"
    );
    let h2 = capture_at(&captures, "/h2");
    assert_eq!(h2.version, "HTTP/2.0");
    assert_eq!(h2.header(":authority"), Some(&b"h2.example:9000"[..]));
    listener.assert_still_serving_and_stop(&["/hook", "/h2"]).await;
}

/// Sends the first `at_once` of `bytes`, then the rest one at a time, `every` apart, until the
/// listener answers; the answer, when it came after the first byte, and how many were sent.
async fn trickle(
    addr: SocketAddr,
    bytes: &[u8],
    at_once: usize,
    every: Duration,
    limit: Duration,
) -> (Option<Answer>, Duration, usize) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let start = Instant::now();
    writer.write_all(&bytes[..at_once]).await.expect("write");
    let mut buffer = Vec::new();
    let answer = read_answer(&mut reader, &mut buffer);
    tokio::pin!(answer);
    let mut sent = at_once;
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            answer = &mut answer => return (answer.ok(), start.elapsed(), sent),
            _ = tick.tick(), if sent < bytes.len() => {
                if writer.write_all(&bytes[sent..=sent]).await.is_err() {
                    return (None, start.elapsed(), sent);
                }
                sent += 1;
            }
            () = tokio::time::sleep(limit.saturating_sub(start.elapsed())) => return (None, start.elapsed(), sent),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_head_or_body_is_cut_at_the_read_deadline_and_journaled() {
    let listener = Spawned::start(None, &["--read-timeout", "1s"]);
    let head =
        b"POST /slow-head HTTP/1.1\r\nHost: t\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut body_request = b"POST /slow-body HTTP/1.1\r\nHost: t\r\nContent-Length: 40\r\n\r\n".to_vec();
    let head_len = body_request.len();
    body_request.extend(std::iter::repeat_n(b'x', 40));
    // One byte every 200 ms: each well within the deadline, all of them far past it.
    let every = Duration::from_millis(200);
    let limit = Duration::from_secs(6);
    let (addr, body_bytes) = (listener.addr, body_request.clone());
    // The body's head arrives at once; then its bytes trickle.
    let body = tokio::spawn(async move {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (mut reader, mut writer) = stream.into_split();
        writer.write_all(&body_bytes[..head_len]).await.expect("head");
        let start = Instant::now();
        let trickling = tokio::spawn(async move {
            for byte in &body_bytes[head_len..] {
                tokio::time::sleep(every).await;
                if writer.write_all(std::slice::from_ref(byte)).await.is_err() {
                    break;
                }
            }
            writer
        });
        let answer = tokio::time::timeout(limit, read_answer(&mut reader, &mut Vec::new())).await;
        trickling.abort();
        (answer.ok().and_then(Result::ok), start.elapsed())
    });
    let (head_answer, head_took, head_sent) = trickle(listener.addr, head, 20, every, limit).await;
    let (body_answer, body_took) = body.await.expect("joined");

    let head_answer = head_answer.expect("the trickled head is answered");
    assert_eq!(head_answer.status, 408);
    assert!(String::from_utf8_lossy(&head_answer.body).contains("request head not complete within 1s"));
    assert!(
        head_took < Duration::from_secs(4),
        "cut at the deadline, not after {head_took:?}"
    );
    assert!(head_sent < head.len(), "cut before the head was complete");
    let body_answer = body_answer.expect("the trickled body is answered");
    assert_eq!(body_answer.status, 408);
    assert!(
        body_took < Duration::from_secs(4),
        "cut at the deadline, not after {body_took:?}"
    );

    let captures = common::wait_for("both cut requests journaled", Duration::from_secs(10), || {
        let captures = listener.captures();
        let has = |path: &str| captures.iter().any(|c| c.path == path);
        (has("/slow-head") && has("/slow-body")).then_some(captures)
    });
    let slow_head = capture_at(&captures, "/slow-head");
    assert_eq!(slow_head.status, 408);
    assert!(note(slow_head).starts_with("head stalled"), "{}", note(slow_head));
    assert!(
        head.starts_with(&slow_head.body) && slow_head.body.len() > 20,
        "what arrived, as sent"
    );
    let slow_body = capture_at(&captures, "/slow-body");
    assert_eq!(slow_body.status, 408);
    assert!(note(slow_body).starts_with("body stalled"), "{}", note(slow_body));
    assert!(!slow_body.body.is_empty() && slow_body.body.iter().all(|&b| b == b'x'));
    listener.assert_still_serving_and_stop(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_close_at_the_idle_timeout_and_not_at_the_read_timeout() {
    let listener = Spawned::start(None, &["--read-timeout", "1s", "--idle-timeout", "3s"]);
    // Never a byte: closed once idle for 3 s. The clocks start before what they time (the
    // connect, the request), so a loaded machine running this task late can only make the idle
    // times measured here longer than the listener's own, never shorter.
    let opened = Instant::now();
    let mut silent = TcpStream::connect(listener.addr).await.expect("connect");
    // A keep-alive connection waits for its next request longer than --read-timeout.
    let mut kept = TcpStream::connect(listener.addr).await.expect("connect");
    let mut buffer = Vec::new();
    kept.write_all(&post("/keep/1", &[], b"{}")).await.expect("write");
    assert_eq!(
        read_answer(&mut kept, &mut buffer).await.expect("first").status,
        200
    );
    tokio::time::sleep(Duration::from_millis(1800)).await;
    // The listener's idle time starts once it has answered, after this.
    let idle_from = Instant::now();
    kept.write_all(&post("/keep/2", &[], b"{}")).await.expect("write");
    let second = read_answer(&mut kept, &mut buffer).await;
    assert_eq!(
        second.map(|a| a.status).ok(),
        Some(200),
        "still open after 1.8 s idle with --read-timeout 1s"
    );
    let silent_closed = closed_within(&mut silent, Duration::from_secs(10)).await;
    let kept_closed = closed_within(&mut kept, Duration::from_secs(10)).await;
    let silent_idle = silent_closed.expect("a silent connection is closed") - opened;
    assert!(
        silent_idle >= Duration::from_millis(2900),
        "not before 3 s: {silent_idle:?}"
    );
    let kept_idle = kept_closed.expect("an idle keep-alive connection is closed") - idle_from;
    assert!(
        kept_idle >= Duration::from_millis(2900),
        "not before 3 s: {kept_idle:?}"
    );
    let captures = listener
        .assert_still_serving_and_stop(&["/keep/1", "/keep/2"])
        .await;
    assert_eq!(
        captures.len(),
        3,
        "an idle connection leaves no capture: {captures:#?}"
    );
}

/// Opens `count` connections that never send a byte, all at once; those the listener has not
/// let in after 3 s (it is starved) are given up.
async fn open_idle(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut connecting = tokio::task::JoinSet::new();
    for _ in 0..count {
        connecting.spawn(TcpStream::connect(addr));
    }
    let mut open = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(connected) = connecting.join_next().await {
            open.extend(connected.ok().and_then(Result::ok));
        }
    })
    .await;
    open
}

/// Keeps `count` connections trickling: a head, or a body after a head, one byte every
/// `every`; each one the listener cuts is opened again, until `until`.
fn spawn_tricklers(addr: SocketAddr, count: usize, body: bool, every: Duration, until: Instant) {
    for n in 0..count {
        tokio::spawn(async move {
            while Instant::now() < until {
                let Ok(mut stream) = TcpStream::connect(addr).await else {
                    tokio::time::sleep(every).await;
                    continue;
                };
                let mut pending: Vec<u8> = match body {
                    true => {
                        let head = format!("POST /trickle/{n} HTTP/1.1\r\nContent-Length: 100000\r\n\r\n");
                        if stream.write_all(head.as_bytes()).await.is_err() {
                            continue;
                        }
                        vec![b'x'; 100_000]
                    }
                    false => {
                        format!("POST /slowloris/{n} HTTP/1.1\r\nX-Pad: {}", "a".repeat(10_000)).into_bytes()
                    }
                };
                while Instant::now() < until && !pending.is_empty() {
                    if stream.write_all(&pending[..1]).await.is_err() {
                        break;
                    }
                    pending.remove(0);
                    tokio::time::sleep(every).await;
                }
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_trickling_connections_under_256_descriptors_leave_room_for_a_real_sender() {
    let listener = Spawned::start(Some(256), &["--read-timeout", "2s", "--idle-timeout", "60s"]);
    let (_, baseline) = listener.memory_kib();
    let attack = Instant::now() + Duration::from_secs(8);
    let idle = open_idle(listener.addr, 400).await;
    spawn_tricklers(listener.addr, 20, true, Duration::from_millis(100), attack);
    spawn_tricklers(listener.addr, 20, false, Duration::from_millis(100), attack);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut acknowledged = Vec::new();
    let mut most_descriptors = 0;
    for n in 0..16 {
        let path = format!("/real/{n}");
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            send_raw(listener.addr, &post(&path, &[], b"{}")),
        )
        .await;
        let status = answer.ok().and_then(Result::ok).map(|a| a.status);
        assert_eq!(status, Some(200), "{path} answered while under attack");
        acknowledged.push(path);
        most_descriptors = most_descriptors.max(listener.descriptors());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(most_descriptors <= 256, "{most_descriptors}");
    let (_, peak) = listener.memory_kib();
    assert!(
        peak < baseline + 64 * 1024,
        "peak RSS {peak} KiB against {baseline} KiB at start"
    );
    drop(idle);
    let stderr = listener.stderr_text();
    assert!(
        !stderr.contains("accept failed"),
        "no descriptor ever ran out: {stderr}"
    );
    // The tricklers get in behind the idle flood and are cut 2 s later: on a busy machine that
    // can be after the real senders are done. They go on until the attack ends (8 s).
    // Read as it is written: a line being written now may show torn (it is read whole below).
    common::wait_for("trickled heads and bodies cut", Duration::from_secs(20), || {
        let loaded = hookscope::journal::load(&listener.journal).ok()?;
        let cut = |prefix: &str| {
            loaded.entries.iter().any(|entry| {
                matches!(&entry.record, hookscope::codec::Record::Capture(c)
                    if c.status == 408 && c.path.starts_with(prefix))
            })
        };
        (cut("/slowloris/") && cut("/trickle/")).then_some(())
    });
    let acknowledged: Vec<&str> = acknowledged.iter().map(String::as_str).collect();
    let captures = listener.assert_still_serving_and_stop(&acknowledged).await;
    assert!(
        captures
            .iter()
            .any(|c| c.status == 408 && c.path.starts_with("/slowloris/")),
        "the slow heads were cut and journaled"
    );
    assert!(
        captures
            .iter()
            .any(|c| c.status == 408 && c.path.starts_with("/trickle/"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_failures_are_reported_once_a_second_and_idle_connections_give_way() {
    // A cap above the descriptor limit: accept runs out of descriptors.
    let listener = Spawned::start(Some(128), &["--max-connections", "1000", "--idle-timeout", "60s"]);
    let start = Instant::now();
    let idle = open_idle(listener.addr, 300).await;
    let mut acknowledged = Vec::new();
    for n in 0..10 {
        let path = format!("/real/{n}");
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            send_raw(listener.addr, &post(&path, &[], b"{}")),
        )
        .await;
        assert_eq!(
            answer.ok().and_then(Result::ok).map(|a| a.status),
            Some(200),
            "{path}"
        );
        acknowledged.push(path);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = start.elapsed().as_secs() + 1;
    let stderr = listener.stderr_text();
    let warnings = stderr.lines().filter(|l| l.contains("accept failed")).count() as u64;
    assert!(warnings >= 1, "the failures are reported: {stderr}");
    assert!(
        warnings <= elapsed + 1,
        "{warnings} warnings in {elapsed} s: {stderr}"
    );
    drop(idle);
    let acknowledged: Vec<&str> = acknowledged.iter().map(String::as_str).collect();
    listener.assert_still_serving_and_stop(&acknowledged).await;
}

/// Streams `total` bytes of `x` as the body of a request to `path`, chunked or with a length,
/// while reading the answer; the answer's status.
async fn send_huge(addr: SocketAddr, path: &str, total: usize, chunked: bool) -> u16 {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let head = match chunked {
        true => format!("POST {path} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"),
        false => format!("POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {total}\r\n\r\n"),
    };
    let writing = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        let piece = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < total {
            match chunked {
                true => {
                    writer
                        .write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                        .await?;
                    writer.write_all(&piece).await?;
                    writer.write_all(b"\r\n").await?;
                }
                false => writer.write_all(&piece).await?,
            }
            sent += piece.len();
        }
        if chunked {
            writer.write_all(b"0\r\n\r\n").await?;
        }
        Ok::<_, std::io::Error>(writer)
    });
    let answer = tokio::time::timeout(Duration::from_secs(30), read_answer(&mut reader, &mut Vec::new()))
        .await
        .expect("answered in time")
        .expect("an answer, not a reset");
    writing.abort();
    answer.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_megabyte_bodies_are_413_in_bounded_memory() {
    let listener = Spawned::start(None, &["--max-body", "1MiB"]);
    let (_, baseline) = listener.memory_kib();
    const HUNDRED_MB: usize = 100 * 1024 * 1024;
    assert_eq!(
        send_huge(listener.addr, "/huge-length", HUNDRED_MB, false).await,
        413
    );
    assert_eq!(
        send_huge(listener.addr, "/huge-chunked", HUNDRED_MB, true).await,
        413
    );
    let (_, peak) = listener.memory_kib();
    assert!(
        peak < baseline + 48 * 1024,
        "peak RSS {peak} KiB against {baseline} KiB at start"
    );
    let captures = listener.assert_still_serving_and_stop(&[]).await;
    for path in ["/huge-length", "/huge-chunked"] {
        let capture = capture_at(&captures, path);
        assert_eq!((capture.status, capture.body.len()), (413, 0), "{path}");
        assert!(note(capture).contains("exceeds --max-body"), "{path}");
    }
}

/// A full listener does not close the senders it has just accepted to make room for the next:
/// a connection whose request has not been read yet is not "idle" (it was: with every slot
/// busy, each newcomer was accepted, then closed unanswered for the one after it). With four
/// slots held by requests a route answers after 300 ms, sixteen senders at once are all
/// answered, in turns, and all journaled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_listener_answers_every_sender_it_accepts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("hookscope.toml");
    std::fs::write(
        &config,
        "[[routes]]\nmatch = \"path:/slow\"\nforward = []\nrespond = { status = 202, body = \"later\", delay = \"300ms\" }\n",
    )
    .expect("config");
    let config = config.to_string_lossy().into_owned();
    let listener = Spawned::start(None, &["--max-connections", "4", "--config", &config]);
    let addr = listener.addr;
    let senders: Vec<_> = (0..16)
        .map(|n| {
            tokio::spawn(async move {
                let body = format!("{{\"n\":{n}}}");
                let request = format!(
                    "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                tokio::time::timeout(Duration::from_secs(30), exchange(addr, request.into_bytes())).await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for sender in senders {
        match sender.await.expect("sender task") {
            Ok(Ok(answer)) => statuses.push(answer.status),
            Ok(Err(err)) => panic!(
                "a sender was not answered: {err}; stderr: {}",
                listener.stderr_text()
            ),
            Err(_) => panic!("a sender waited 30 s"),
        }
    }
    assert_eq!(statuses, [202; 16]);
    assert_eq!(listener.captures().len(), 16);
}
