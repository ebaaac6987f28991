//! A raw HTTP/1.1 receiver on loopback: what curl sends, byte for byte, and the capture
//! essence read back from it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use hookscope::capture::Capture;

use crate::quoting;

/// Records each request's head and body as they arrived; answers 200 and closes.
pub struct Receiver {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Receiver {
    pub fn start() -> Self {
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

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn take(&self) -> Vec<Vec<u8>> {
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
pub fn received_essence(raw: &[u8]) -> quoting::Essence {
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

/// Asserts the receiver got exactly the requests of `captures`, in order.
pub fn assert_replayed(receiver: &Receiver, captures: &[Capture]) {
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
