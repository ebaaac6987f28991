//! Recovering HTTP/1 request heads exactly as they were sent: header order and original case.
//!
//! hyper parses headers into a `HeaderMap`, which lowercases names and groups repeated names
//! together; the case it can preserve is kept in a type private to hyper. A webhook inspector
//! must show what the sender sent, so [`Tap`] wraps the connection's read side and feeds every
//! byte hyper reads to a small [`Scanner`]: it parses each request head with `httparse`, then
//! follows the body's framing (`Content-Length` or chunked) to find where the next head starts.
//! Body bytes are counted, never buffered. hyper serves the requests of one connection in order,
//! so the server takes one head from the queue per request and checks that it is the same
//! request (method and target) before using it; anything the scanner cannot follow (HTTP/2, a
//! malformed stream) switches it off, and the server falls back to hyper's `HeaderMap`.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::capture::Header;

/// A request head as it appeared on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawHead {
    /// The method token.
    pub method: String,
    /// The request target (path and query), as sent.
    pub target: String,
    /// Headers in order, names in their original case.
    pub headers: Vec<Header>,
}

/// The longest head the scanner buffers; hyper's own limit is larger, but webhooks' are small.
const MAX_HEAD: usize = 256 * 1024;
/// The most headers one head may have before the scanner gives up on the connection.
const MAX_HEADERS: usize = 256;
/// The longest chunk-size or trailer line accepted.
const MAX_LINE: usize = 4096;

/// An incremental parser of the request stream of one HTTP/1 connection.
#[derive(Debug, Default)]
pub struct Scanner {
    state: State,
    line: Vec<u8>,
    heads: VecDeque<RawHead>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a request head (buffered in `line`).
    #[default]
    Head,
    /// Skipping a body of known length.
    Body(u64),
    /// Reading a chunk-size line (buffered in `line`).
    ChunkSize,
    /// Skipping chunk data.
    ChunkData(u64),
    /// Skipping the line end after chunk data.
    ChunkEnd,
    /// Reading trailer lines until an empty one.
    Trailers,
    /// Lost track of the stream (not HTTP/1, or malformed): nothing more is recognised.
    Off,
}

impl Scanner {
    /// Feeds the next bytes read from the connection.
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            data = match self.state {
                State::Off => return,
                State::Head => self.feed_head(data),
                State::Body(remaining) => self.skip(data, remaining, State::Head, State::Body),
                State::ChunkSize => match self.take_line(data) {
                    Some((line, rest)) => {
                        self.state = chunk_size(&line).map_or(State::Off, |size| match size {
                            0 => State::Trailers,
                            n => State::ChunkData(n),
                        });
                        rest
                    }
                    None => return,
                },
                State::ChunkData(remaining) => self.skip(data, remaining, State::ChunkEnd, State::ChunkData),
                State::ChunkEnd => match self.take_line(data) {
                    Some((_, rest)) => {
                        self.state = State::ChunkSize;
                        rest
                    }
                    None => return,
                },
                State::Trailers => match self.take_line(data) {
                    Some((line, rest)) => {
                        if line.trim_ascii().is_empty() {
                            self.state = State::Head;
                        }
                        rest
                    }
                    None => return,
                },
            };
        }
    }

    /// The oldest head not yet taken.
    pub fn next_head(&mut self) -> Option<RawHead> {
        self.heads.pop_front()
    }

    /// Skips up to `remaining` body bytes; moves to `done` when they are all seen, or to
    /// `more(left)` when the data ran out first. Returns the bytes after the skipped ones.
    fn skip<'a>(&mut self, data: &'a [u8], remaining: u64, done: State, more: fn(u64) -> State) -> &'a [u8] {
        let taken = remaining.min(data.len() as u64);
        self.state = match remaining - taken {
            0 => done,
            left => more(left),
        };
        &data[taken as usize..]
    }

    /// Buffers up to a newline; returns the line (without it) and the bytes after it.
    fn take_line<'a>(&mut self, data: &'a [u8]) -> Option<(Vec<u8>, &'a [u8])> {
        match data.iter().position(|&b| b == b'\n') {
            Some(end) => {
                self.line.extend_from_slice(&data[..end]);
                let line = std::mem::take(&mut self.line);
                Some((line, &data[end + 1..]))
            }
            None => {
                self.line.extend_from_slice(data);
                if self.line.len() > MAX_LINE {
                    self.state = State::Off;
                }
                None
            }
        }
    }

    fn feed_head<'a>(&mut self, data: &'a [u8]) -> &'a [u8] {
        if self.line.is_empty() {
            // The usual case: the head starts this read, whole. Parse it where it lies.
            return match parse_head(data) {
                Head::Complete(head, len) => {
                    self.queue(head);
                    &data[len..]
                }
                Head::Partial => {
                    self.line.extend_from_slice(data);
                    &[]
                }
                Head::Invalid => self.give_up(),
            };
        }
        let before = self.line.len();
        self.line.extend_from_slice(data);
        // A head can only be complete once its blank line has arrived; parsing sooner would make
        // a head sent a byte at a time cost quadratic time.
        if !ends_a_head(&self.line[before.saturating_sub(2)..]) {
            if self.line.len() > MAX_HEAD {
                return self.give_up();
            }
            return &[];
        }
        match parse_head(&self.line) {
            Head::Complete(head, len) => {
                self.queue(head);
                self.line.clear();
                // `len` counts bytes of the buffered head; those past it belong to the body.
                &data[len.saturating_sub(before).min(data.len())..]
            }
            Head::Partial => &[],
            Head::Invalid => self.give_up(),
        }
    }

    /// Queues a complete head and follows its body.
    fn queue(&mut self, head: RawHead) {
        self.state = body_framing(&head.headers);
        self.heads.push_back(head);
    }

    /// Stops following a stream that is not (or no longer) HTTP/1 requests; nothing read is left.
    fn give_up<'a>(&mut self) -> &'a [u8] {
        self.state = State::Off;
        self.line = Vec::new();
        &[]
    }
}

/// A request head parsed from the start of some bytes.
enum Head {
    /// The head, and its length in those bytes.
    Complete(RawHead, usize),
    /// Not all of it yet.
    Partial,
    /// Not a request head, or longer than [`MAX_HEAD`].
    Invalid,
}

/// Parses the head at the start of `bytes`.
fn parse_head(bytes: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => {
            // One copy of the head; every header value is a slice of it.
            let head = Bytes::copy_from_slice(&bytes[..len]);
            let value = |value: &[u8]| {
                // httparse's values are slices of `bytes`; a copy if that ever changed.
                let start = (value.as_ptr() as usize).checked_sub(bytes.as_ptr() as usize);
                match start.filter(|start| start + value.len() <= head.len()) {
                    Some(start) => head.slice(start..start + value.len()),
                    None => Bytes::copy_from_slice(value),
                }
            };
            let head = RawHead {
                method: request.method.unwrap_or_default().to_owned(),
                target: request.path.unwrap_or_default().to_owned(),
                headers: request
                    .headers
                    .iter()
                    .map(|h| Header::new(h.name, value(h.value)))
                    .collect(),
            };
            Head::Complete(head, len)
        }
        Ok(httparse::Status::Partial) if bytes.len() <= MAX_HEAD => Head::Partial,
        _ => Head::Invalid,
    }
}

/// Whether `bytes` contain the blank line that ends a head (`\n\n` or `\n\r\n`).
fn ends_a_head(bytes: &[u8]) -> bool {
    bytes
        .windows(2)
        .enumerate()
        .any(|(i, w)| w[0] == b'\n' && (w[1] == b'\n' || (w[1] == b'\r' && bytes.get(i + 2) == Some(&b'\n'))))
}

/// How the body after a request head is framed (RFC 9112 §6.3, for requests).
fn body_framing(headers: &[Header]) -> State {
    let values = |name: &'static str| {
        headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.trim_ascii())
    };
    if let Some(codings) = values("transfer-encoding").last() {
        let last = codings
            .rsplit(|&b| b == b',')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        return match last.eq_ignore_ascii_case(b"chunked") {
            true => State::ChunkSize,
            // A request whose final coding is not chunked cannot be framed: hyper rejects it.
            false => State::Off,
        };
    }
    // Digits only, as hyper reads a length (`parse` alone would take a `+`).
    let length = |value: &[u8]| match !value.is_empty() && value.iter().all(u8::is_ascii_digit) {
        true => std::str::from_utf8(value).ok()?.parse::<u64>().ok(),
        false => None,
    };
    match values("content-length").next().map(length) {
        None | Some(Some(0)) => State::Head,
        Some(Some(n)) => State::Body(n),
        // Not a length hyper would read: it refuses the request, and the tap stops following.
        Some(None) => State::Off,
    }
}

/// Parses a chunk-size line: hex digits, optionally followed by `;extensions`.
fn chunk_size(line: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(line).ok()?;
    let digits = text.split(';').next()?.trim();
    u64::from_str_radix(digits, 16).ok()
}

/// A connection's read side, with every byte read also fed to a [`Scanner`].
pub struct Tap<S> {
    inner: S,
    scanner: Arc<Mutex<Scanner>>,
}

/// The server's end of a [`Tap`]: takes the heads the scanner recognised, in order.
#[derive(Clone)]
pub struct Heads(Arc<Mutex<Scanner>>);

impl<S> Tap<S> {
    /// Wraps a connection; the returned [`Heads`] yields its request heads.
    pub fn new(inner: S) -> (Self, Heads) {
        let scanner = Arc::new(Mutex::new(Scanner::default()));
        (
            Self {
                inner,
                scanner: scanner.clone(),
            },
            Heads(scanner),
        )
    }
}

fn lock(scanner: &Mutex<Scanner>) -> MutexGuard<'_, Scanner> {
    // The scanner has no invariant a panic elsewhere could break halfway.
    scanner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Heads {
    /// The head of the next request hyper hands to the service, if the scanner followed it.
    pub fn next(&self) -> Option<RawHead> {
        lock(&self.0).next_head()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        let fresh = &buf.filled()[before..];
        if !fresh.is_empty() {
            lock(&self.scanner).feed(fresh);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(head: &RawHead) -> Vec<&str> {
        head.headers.iter().map(|h| h.name.as_str()).collect()
    }

    /// Feeds `stream` in pieces of every size from 1 byte up and checks the heads found.
    fn scan_in_pieces(stream: &[u8], check: impl Fn(Vec<RawHead>)) {
        for piece in 1..=stream.len() {
            let mut scanner = Scanner::default();
            for chunk in stream.chunks(piece) {
                scanner.feed(chunk);
            }
            check(std::iter::from_fn(|| scanner.next_head()).collect());
        }
    }

    #[test]
    fn keeps_order_and_case_across_pipelined_requests() {
        let stream = b"POST /a?x=1 HTTP/1.1\r\nHost: h\r\nX-Zeta: 1\r\nx-alpha: 2\r\nX-Zeta: 3\r\nContent-Length: 5\r\n\r\nhello\
GET /b HTTP/1.1\r\nHOST: h\r\n\r\n";
        scan_in_pieces(stream, |heads| {
            assert_eq!(heads.len(), 2);
            assert_eq!(
                (heads[0].method.as_str(), heads[0].target.as_str()),
                ("POST", "/a?x=1")
            );
            assert_eq!(
                names(&heads[0]),
                ["Host", "X-Zeta", "x-alpha", "X-Zeta", "Content-Length"]
            );
            assert_eq!(heads[0].headers[3].value, "3");
            assert_eq!(names(&heads[1]), ["HOST"]);
        });
    }

    #[test]
    fn follows_chunked_bodies_with_extensions_and_trailers() {
        let stream = b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
5;ext=1\r\nGET /\r\n6\r\n HTTP/\r\n0\r\nX-Trailer: t\r\n\r\n\
PUT /next HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
        scan_in_pieces(stream, |heads| {
            let targets: Vec<_> = heads.iter().map(|h| h.target.as_str()).collect();
            assert_eq!(targets, ["/c", "/next"]);
        });
    }

    #[test]
    fn a_body_that_looks_like_a_request_is_not_a_head() {
        let body = b"GET /fake HTTP/1.1\r\nX: y\r\n\r\n";
        let mut stream =
            format!("POST /real HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        stream.extend_from_slice(body);
        scan_in_pieces(&stream, |heads| {
            assert_eq!(heads.len(), 1);
            assert_eq!(heads[0].target, "/real");
        });
    }

    #[test]
    fn non_utf8_values_are_kept_as_bytes() {
        let mut scanner = Scanner::default();
        scanner.feed(b"POST / HTTP/1.1\r\nX-Latin1: caf\xe9\r\n\r\n");
        let head = scanner.next_head().expect("a head");
        assert_eq!(head.headers[0].value, &b"caf\xe9"[..]);
    }

    #[test]
    fn gives_up_on_what_it_cannot_follow() {
        for stream in [
            &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nContent-Length: nope\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET / HTTP/1.1\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        ] {
            let mut scanner = Scanner::default();
            scanner.feed(stream);
            scanner.next_head();
            assert_eq!(scanner.state, State::Off, "{:?}", String::from_utf8_lossy(stream));
            assert_eq!(scanner.next_head(), None);
        }
    }

    #[test]
    fn a_head_split_inside_its_blank_line_is_found() {
        let mut scanner = Scanner::default();
        for piece in [&b"GET / HTTP/1.1\r\nA: b\r"[..], b"\n", b"\r", b"\n"] {
            scanner.feed(piece);
        }
        assert_eq!(scanner.next_head().map(|h| h.target), Some("/".to_owned()));
    }

    #[test]
    fn an_endless_head_is_abandoned_not_buffered() {
        let mut scanner = Scanner::default();
        scanner.feed(b"POST / HTTP/1.1\r\n");
        let filler = vec![b'a'; 64 * 1024];
        for _ in 0..8 {
            scanner.feed(&filler);
        }
        assert_eq!(scanner.state, State::Off);
        assert!(scanner.line.capacity() < MAX_HEAD);
    }
}
