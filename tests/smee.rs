//! `listen --smee URL` against a local server speaking smee.io's protocol, as its open-source
//! server (probot/smee.io, `lib/server.js`) does: `GET /CHANNEL` with `Accept:
//! text/event-stream` answers a chunked event stream that opens with `event: ready`, pings with
//! `event: ping`, and sends each webhook as `id: N` and `data: JSON.stringify({...headers, body,
//! query, timestamp})`; `GET /new` redirects (307) to a fresh channel. Over 127.0.0.1 only.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use common::{Listener, wait_for};
use hmac::{Hmac, Mac};
use hookscope::capture::{Capture, Via};

const SECRET: &str = "It's a Secret to Everybody";

/// A smee.io stand-in: each accepted stream is handed to the test.
struct SmeeServer {
    addr: SocketAddr,
    streams: mpsc::Receiver<Stream>,
}

/// One client's event stream.
struct Stream {
    tcp: TcpStream,
    /// The request line and headers the client sent.
    request: String,
    id: u64,
}

impl SmeeServer {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (sender, streams) = mpsc::channel();
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(mut tcp) = tcp else { return };
                let mut request = String::new();
                let mut reader = BufReader::new(tcp.try_clone().expect("clone"));
                while reader.read_line(&mut request).is_ok_and(|n| n > 0) && !request.ends_with("\r\n\r\n") {}
                let first = request.lines().next().unwrap_or_default().to_owned();
                if first.starts_with("GET /new ") {
                    let answer = format!(
                        "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://{addr}/fresh_Chan-1\r\ncontent-length: 0\r\n\r\n"
                    );
                    let _ = tcp.write_all(answer.as_bytes());
                    continue;
                }
                let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
                            Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n";
                let _ = tcp.write_all(head.as_bytes());
                let mut stream = Stream { tcp, request, id: 0 };
                stream.raw("id: 0\nevent: ready\ndata: {}\n\n");
                if sender.send(stream).is_err() {
                    return;
                }
            }
        });
        Self { addr, streams }
    }

    fn url(&self, channel: &str) -> String {
        format!("http://{}/{channel}", self.addr)
    }

    fn next_stream(&self) -> Stream {
        self.streams
            .recv_timeout(Duration::from_secs(20))
            .expect("hookscope connects to the channel")
    }
}

impl Stream {
    /// Writes `text` as one chunk.
    fn raw(&mut self, text: &str) {
        self.bytes(text.as_bytes());
    }

    fn bytes(&mut self, bytes: &[u8]) {
        let mut chunk = format!("{:x}\r\n", bytes.len()).into_bytes();
        chunk.extend_from_slice(bytes);
        chunk.extend_from_slice(b"\r\n");
        self.tcp.write_all(&chunk).expect("write to hookscope");
    }

    /// Sends a webhook event as smee's server does.
    fn event(&mut self, data: &serde_json::Value) {
        self.id += 1;
        let text = format!("id: {}\ndata: {}\n\n", self.id, data);
        self.raw(&text);
    }
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A GitHub push as smee's server sends it: the headers node saw, the parsed body, the query.
fn github_event(body: &serde_json::Value, signature: &str) -> serde_json::Value {
    serde_json::json!({
        "host": "smee.io",
        "user-agent": "GitHub-Hookshot/abc1234",
        "content-type": "application/json",
        "content-length": "9999",
        "x-github-event": "push",
        "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "x-hub-signature-256": signature,
        "body": body,
        "query": {"source": "ci run", "n": ["1", "2"]},
        "timestamp": chrono::Utc::now().timestamp_millis(),
    })
}

fn captures_via(listener: &Listener, count: usize) -> Vec<Capture> {
    wait_for(&format!("{count} captures"), Duration::from_secs(20), || {
        let captures = listener.captures();
        (captures.len() >= count).then_some(captures)
    })
}

#[test]
fn headers_query_and_body_arrive_as_a_capture_via_smee_and_signatures_are_explained() {
    let server = SmeeServer::start();
    let secret = format!("github={SECRET}");
    let mut listener = Listener::start(&["--smee", &server.url("AbC123"), "--secret", &secret]);
    let mut stream = server.next_stream();
    assert!(
        stream.request.starts_with("GET /AbC123 HTTP/1.1\r\n"),
        "{}",
        stream.request
    );
    assert!(
        stream
            .request
            .to_ascii_lowercase()
            .contains("accept: text/event-stream"),
        "{}",
        stream.request
    );
    stream.raw("id: 1\nevent: ping\ndata: {}\n\n");
    let body = serde_json::json!({"ref": "refs/heads/main", "size": 1.0, "note": "é"});
    // What smee-client posts: JSON.stringify(body), and what GitHub signed when it sent
    // compact JSON written as JavaScript writes it.
    let stringified = r#"{"ref":"refs/heads/main","size":1,"note":"é"}"#.as_bytes().to_vec();
    stream.event(&github_event(&body, &sign(&stringified)));
    // The same event as a sender that signed its own pretty-printed bytes.
    let pretty = serde_json::to_vec_pretty(&body).expect("json");
    stream.event(&github_event(&body, &sign(&pretty)));
    let captures = captures_via(&listener, 2);
    let capture = &captures[0];
    assert_eq!(capture.via, Via::Smee("AbC123".into()));
    assert_eq!(capture.method, "POST");
    assert_eq!(capture.body.as_ref(), &stringified[..]);
    assert_eq!(capture.query.as_deref(), Some("source=ci+run&n=1&n=2"));
    assert_eq!(capture.header("x-github-event"), Some(&b"push"[..]));
    assert_eq!(capture.header("content-type"), Some(&b"application/json"[..]));
    let length = stringified.len().to_string();
    assert_eq!(capture.header("content-length"), Some(length.as_bytes()));
    assert!(
        capture
            .note
            .as_deref()
            .is_some_and(|n| n.contains("JSON.stringify(body)"))
    );
    assert_eq!(capture.derived.provider.as_deref(), Some("github"));
    assert_eq!(
        capture.derived.verdict.as_deref(),
        Some("valid"),
        "{:?}",
        capture.derived
    );
    let reserialized = &captures[1];
    assert_eq!(reserialized.derived.verdict.as_deref(), Some("invalid"));
    let detail = reserialized.derived.verdict_detail.as_deref().unwrap_or_default();
    assert!(detail.contains("it came through smee.io"), "{detail}");
    let (status, stdout, _) = listener.stop();
    assert!(status.success());
    assert!(stdout.contains("via smee:AbC123"), "{stdout}");
}

#[test]
fn a_dropped_stream_is_dialed_again() {
    let server = SmeeServer::start();
    let mut listener = Listener::start(&["--smee", &server.url("chan")]);
    let mut first = server.next_stream();
    first.event(&github_event(&serde_json::json!({"n": 1}), "sha256=00"));
    captures_via(&listener, 1);
    first.raw(""); // the last chunk: smee ends the stream
    drop(first);
    let mut second = server.next_stream();
    second.event(&github_event(&serde_json::json!({"n": 2}), "sha256=00"));
    let captures = captures_via(&listener, 2);
    assert_eq!(captures[1].body.as_ref(), br#"{"n":2}"#);
    let stderr = wait_for("the reconnection on stderr", Duration::from_secs(10), || {
        let text = listener.stderr_text();
        text.contains("smee: reconnecting in").then_some(text)
    });
    assert!(stderr.contains("smee: connected"), "{stderr}");
    assert!(listener.stop().0.success());
}

#[test]
fn hostile_events_are_reported_and_skipped() {
    let server = SmeeServer::start();
    // Events are held up to twice --max-body plus 1 MiB.
    let mut listener = Listener::start(&["--smee", &server.url("chan"), "--max-body", "1KiB"]);
    let mut stream = server.next_stream();
    stream.raw("data: {\"body\":\"");
    for _ in 0..48 {
        stream.bytes(&[b'x'; 64 * 1024]);
    }
    stream.raw("\"}\n\n");
    stream.raw("data: {not json\n\n");
    stream.raw("data: [1,2]\n\n");
    stream.raw("data: {\"x-evil\":\"\\u001b]0;owned\\u0007\",\"body\":{\"ok\":true}}\n\n");
    let captures = captures_via(&listener, 1);
    assert_eq!(captures.len(), 1);
    assert_eq!(captures[0].body.as_ref(), br#"{"ok":true}"#);
    let stderr = wait_for("three skipped events", Duration::from_secs(10), || {
        let text = listener.stderr_text();
        text.contains("(3 so far)").then_some(text)
    });
    // Each one is reported with its reason: on its own status line, or (the status lines show
    // the latest state, and a busy machine can make one of two skips in a row) in the warning
    // logged for every skipped event.
    for reason in ["an event over", "an event: its data is not a JSON object"] {
        assert!(
            stderr.contains(&format!("smee: skipped {reason}"))
                || stderr.contains(&format!("smee event skipped problem={reason}")),
            "{reason}: {stderr}"
        );
    }
    assert!(!stderr.contains("reconnecting"), "the stream survives: {stderr}");
    let (status, stdout, stderr) = listener.stop();
    assert!(status.success(), "{stderr}");
    assert!(!stdout.contains('\u{1b}') && !stderr.contains('\u{1b}'));
}

#[test]
fn smee_new_creates_a_channel_prints_it_and_receives_it() {
    let server = SmeeServer::start();
    let new = format!("http://{}/new", server.addr);
    let mut listener = Listener::start(&["--smee", &new]);
    let mut stream = server.next_stream();
    assert!(
        stream.request.starts_with("GET /fresh_Chan-1 "),
        "{}",
        stream.request
    );
    // The line may still be on its way through the pipe to the thread reading it.
    let said = format!("smee channel: http://{}/fresh_Chan-1", server.addr);
    wait_for("the channel on stderr", Duration::from_secs(10), || {
        listener.stderr_text().contains(&said).then_some(())
    });
    stream.event(&github_event(&serde_json::json!({}), "sha256=00"));
    let captures = captures_via(&listener, 1);
    assert_eq!(captures[0].via, Via::Smee("fresh_Chan-1".into()));
    assert!(listener.stop().0.success());
}

/// smee's captures are whole requests (their note says the body was re-serialized): they are
/// forwarded like direct ones. The forwarder passed over every capture with a note, as it does
/// the incomplete ones, so `--smee` with `--forward` delivered nothing.
#[test]
fn captures_via_smee_are_forwarded() {
    let app = common::LocalApp::start();
    let server = SmeeServer::start();
    let listener = Listener::start(&["--smee", &server.url("Fwd1"), "--forward", &app.url()]);
    let mut stream = server.next_stream();
    let body = serde_json::json!({"action": "opened"});
    stream.event(&github_event(&body, &sign(br#"{"action":"opened"}"#)));
    let captures = captures_via(&listener, 1);
    assert!(captures[0].note.is_some(), "smee's note is there");
    let seen = wait_for("the delivery to the app", Duration::from_secs(20), || {
        app.seen().into_iter().next()
    });
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.body, br#"{"action":"opened"}"#);
}
