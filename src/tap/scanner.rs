//! The scanner: an incremental parser of one HTTP/1 connection's request stream, fed the bytes
//! read from it. Pure: no sockets, and the time is passed in with the bytes.
//!
//! It parses each request head with `httparse`, then follows the body's framing
//! (`Content-Length` or chunked) to find where the next head starts. Body bytes are counted,
//! never buffered. It also remembers, within a bound, a head it could not parse: hyper refuses
//! such a head itself (400, 414, 431) without calling the service, and the listener journals
//! what arrived of it.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use crate::capture::Header;

/// A request head as it appeared on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawHead {
    /// The method token.
    pub method: String,
    /// The request target (path and query), as sent.
    pub target: String,
    /// The minor version: 1 for `HTTP/1.1`.
    pub version: u8,
    /// Headers in order, names in their original case.
    pub headers: Vec<Header>,
    /// When its first byte arrived: a request's deadline counts from there.
    pub started: Instant,
}

/// What arrived of a head that was never handed to the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unhandled {
    /// A head the scanner parsed (hyper refused it, or the connection ended before hyper read it).
    Parsed(RawHead),
    /// A head the scanner could not parse, or that never ended.
    Raw(RawBytes),
}

/// The first bytes of a head as received, at most [`KEEP`] of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawBytes {
    /// The bytes, from the head's first byte on.
    pub bytes: Bytes,
    /// How many bytes arrived in all from the head's first byte on (may exceed `bytes`).
    pub total: u64,
    /// When the first of them arrived.
    pub started: Instant,
}

/// The longest head the scanner buffers; hyper's own limit is larger, but webhooks' are small.
const MAX_HEAD: usize = 256 * 1024;
/// The most headers one head may have before the scanner gives up on the connection.
const MAX_HEADERS: usize = 256;
/// The longest chunk-size or trailer line accepted.
const MAX_LINE: usize = 4096;
/// How much of a head that was not handed over is kept for the journal.
pub const KEEP: usize = 64 * 1024;
/// How an HTTP/2 connection starts (RFC 9113 §3.4); hyper serves those, the scanner stands aside.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// An incremental parser of the request stream of one HTTP/1 connection.
#[derive(Debug, Default)]
pub struct Scanner {
    state: State,
    line: Vec<u8>,
    heads: VecDeque<RawHead>,
    /// When the first byte of the head being read arrived; `None` between heads.
    head_started: Option<Instant>,
    /// The start of a head the scanner gave up on, while it stays given up.
    refused: Option<Refused>,
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
    /// An HTTP/2 connection: hyper serves it, nothing here is an HTTP/1 head.
    Http2,
    /// Lost track of the stream (malformed): nothing more is recognised.
    Off,
}

/// The kept start of a head the scanner could not parse.
#[derive(Debug)]
struct Refused {
    bytes: Vec<u8>,
    total: u64,
    started: Instant,
}

impl Refused {
    fn new(bytes: &[u8], started: Instant) -> Self {
        let mut refused = Self {
            bytes: Vec::new(),
            total: 0,
            started,
        };
        refused.extend(bytes);
        refused
    }

    /// Counts `more` bytes, keeping them while under [`KEEP`].
    fn extend(&mut self, more: &[u8]) {
        let room = KEEP.saturating_sub(self.bytes.len());
        self.bytes.extend_from_slice(&more[..room.min(more.len())]);
        self.total += more.len() as u64;
    }
}

impl Scanner {
    /// Feeds the next bytes read from the connection.
    pub fn feed(&mut self, data: &[u8]) {
        self.feed_at(data, Instant::now());
    }

    /// Feeds the next bytes read from the connection, read at `now`.
    pub fn feed_at(&mut self, mut data: &[u8], now: Instant) {
        while !data.is_empty() {
            data = match self.state {
                State::Http2 => return,
                State::Off => {
                    if let Some(refused) = &mut self.refused {
                        refused.extend(data);
                    }
                    return;
                }
                State::Head => self.feed_head(data, now),
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

    /// Whether a request is on its way: a head begun or queued, or a body being read. An
    /// HTTP/2 connection, or one the scanner lost track of in a body, never counts as such.
    pub fn pending(&self) -> bool {
        !self.heads.is_empty()
            || self.head_started.is_some()
            || matches!(
                self.state,
                State::Body(_) | State::ChunkSize | State::ChunkData(_) | State::ChunkEnd | State::Trailers
            )
    }

    /// When the first byte of a head not yet complete (or not parsed) arrived.
    pub fn head_started(&self) -> Option<Instant> {
        self.head_started
    }

    /// Forgets a head the scanner gave up on: hyper read it after all and handed it over.
    pub fn forget_refused(&mut self) {
        if self.refused.take().is_some() {
            self.head_started = None;
        }
    }

    /// The first head that arrived but was never taken, if any: queued, given up on, or begun.
    pub fn take_unhandled(&mut self) -> Option<Unhandled> {
        if let Some(head) = self.heads.pop_front() {
            return Some(Unhandled::Parsed(head));
        }
        if let Some(refused) = self.refused.take() {
            self.head_started = None;
            return Some(Unhandled::Raw(RawBytes {
                bytes: refused.bytes.into(),
                total: refused.total,
                started: refused.started,
            }));
        }
        let started = self.head_started.take()?;
        let line = std::mem::take(&mut self.line);
        Some(Unhandled::Raw(RawBytes {
            total: line.len() as u64,
            bytes: Bytes::copy_from_slice(&line[..KEEP.min(line.len())]),
            started,
        }))
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
                    self.line = Vec::new();
                }
                None
            }
        }
    }

    fn feed_head<'a>(&mut self, data: &'a [u8], now: Instant) -> &'a [u8] {
        if self.line.is_empty() {
            // Empty lines before a request are skipped, as hyper skips them (RFC 9112 §2.2).
            let start = data.iter().position(|&b| b != b'\r' && b != b'\n');
            let Some(start) = start else { return &[] };
            let data = &data[start..];
            let started = *self.head_started.get_or_insert(now);
            // The usual case: the head starts this read, whole. Parse it where it lies.
            return match parse_head(data, started) {
                Head::Complete(head, len) => {
                    self.queue(head);
                    &data[len..]
                }
                Head::Partial => {
                    self.line.extend_from_slice(data);
                    &[]
                }
                Head::Invalid => self.give_up(data),
            };
        }
        let before = self.line.len();
        self.line.extend_from_slice(data);
        let started = *self.head_started.get_or_insert(now);
        // A head can only be complete once its blank line has arrived; parsing sooner would make
        // a head sent a byte at a time cost quadratic time.
        if !ends_a_head(&self.line[before.saturating_sub(2)..]) {
            if self.line.len() > MAX_HEAD {
                let line = std::mem::take(&mut self.line);
                return self.give_up(&line);
            }
            return &[];
        }
        match parse_head(&self.line, started) {
            Head::Complete(head, len) => {
                self.queue(head);
                self.line.clear();
                // `len` counts bytes of the buffered head; those past it belong to the body.
                &data[len.saturating_sub(before).min(data.len())..]
            }
            Head::Partial => &[],
            Head::Invalid => {
                let line = std::mem::take(&mut self.line);
                self.give_up(&line)
            }
        }
    }

    /// Queues a complete head and follows its body.
    fn queue(&mut self, head: RawHead) {
        self.state = body_framing(&head.headers);
        self.head_started = None;
        self.heads.push_back(head);
    }

    /// Stops following a stream that is not (or no longer) HTTP/1 requests, keeping the start
    /// of the head that could not be parsed (`head`, and what arrives after it). The bytes fed
    /// are all consumed.
    fn give_up<'a>(&mut self, head: &[u8]) -> &'a [u8] {
        self.line = Vec::new();
        if head.starts_with(H2_PREFACE) {
            self.state = State::Http2;
            self.head_started = None;
            return &[];
        }
        self.state = State::Off;
        if let Some(started) = self.head_started {
            self.refused = Some(Refused::new(head, started));
        }
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

/// Parses the head at the start of `bytes`, whose first byte arrived at `started`.
fn parse_head(bytes: &[u8], started: Instant) -> Head {
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
                version: request.version.unwrap_or(1),
                headers: request
                    .headers
                    .iter()
                    .map(|h| Header::new(h.name, value(h.value)))
                    .collect(),
                started,
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
            &b"POST / HTTP/1.1\r\nContent-Length: nope\r\n\r\nGET / HTTP/1.1\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET / HTTP/1.1\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            b"POST /caf\xe9 HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        ] {
            let mut scanner = Scanner::default();
            scanner.feed(stream);
            scanner.next_head();
            assert_eq!(scanner.state, State::Off, "{:?}", String::from_utf8_lossy(stream));
            assert_eq!(scanner.next_head(), None);
        }
    }

    #[test]
    fn stands_aside_for_http2_and_keeps_nothing_of_it() {
        let mut scanner = Scanner::default();
        for piece in [&b"PRI * HT"[..], b"TP/2.0\r\n\r\nSM\r\n\r\n", b"\x00\x00\x12\x04"] {
            scanner.feed(piece);
        }
        assert_eq!(scanner.state, State::Http2);
        assert!(!scanner.pending());
        assert_eq!(scanner.take_unhandled(), None);
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
        // What is kept of it for the journal is bounded too, and counts every byte.
        let Some(Unhandled::Raw(raw)) = scanner.take_unhandled() else {
            panic!("the refused head is kept")
        };
        assert_eq!(raw.bytes.len(), KEEP);
        assert!(raw.bytes.starts_with(b"POST / HTTP/1.1\r\naaa"));
        assert_eq!(raw.total, 17 + 8 * 64 * 1024);
    }

    #[test]
    fn a_refused_head_is_kept_from_its_first_byte_whatever_the_pieces() {
        let stream = b"POST /ok HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}\r\n\
POST /bad HTTP/1.1\r\nX-Ctl: a\x01b\r\nContent-Length: 0\r\n\r\n";
        // Where the second head starts, after the blank line hyper ignores too.
        let second = stream
            .windows(9)
            .position(|w| w == b"POST /bad")
            .expect("a second head");
        for piece in 1..=stream.len() {
            let mut scanner = Scanner::default();
            for chunk in stream.chunks(piece) {
                scanner.feed(chunk);
            }
            assert_eq!(scanner.next_head().map(|h| h.target), Some("/ok".to_owned()));
            assert!(scanner.pending(), "the refused head is still on its way");
            let Some(Unhandled::Raw(raw)) = scanner.take_unhandled() else {
                panic!("piece {piece}: the refused head is kept")
            };
            assert_eq!(&raw.bytes[..], &stream[second..], "piece {piece}");
            assert_eq!(raw.total, (stream.len() - second) as u64);
        }
    }

    #[test]
    fn a_head_not_yet_taken_or_not_finished_is_unhandled() {
        let mut scanner = Scanner::default();
        scanner.feed(b"GET /queued HTTP/1.1\r\n\r\nPOST /half HTTP/1.1\r\nHo");
        let Some(Unhandled::Parsed(head)) = scanner.take_unhandled() else {
            panic!("the queued head first")
        };
        assert_eq!(head.target, "/queued");
        let Some(Unhandled::Raw(raw)) = scanner.take_unhandled() else {
            panic!("then the begun one")
        };
        assert_eq!(&raw.bytes[..], b"POST /half HTTP/1.1\r\nHo");
        assert_eq!(scanner.take_unhandled(), None);
    }

    #[test]
    fn blank_lines_between_requests_start_nothing() {
        let mut scanner = Scanner::default();
        scanner.feed(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}");
        scanner.next_head();
        scanner.feed(b"\r\n");
        assert!(!scanner.pending());
        assert_eq!(scanner.take_unhandled(), None);
    }

    #[test]
    fn a_head_counts_from_its_first_byte() {
        let start = Instant::now();
        let later = start + std::time::Duration::from_secs(5);
        let mut scanner = Scanner::default();
        scanner.feed_at(b"GET / HT", start);
        assert_eq!(scanner.head_started(), Some(start));
        scanner.feed_at(b"TP/1.1\r\n\r\n", later);
        assert_eq!(scanner.head_started(), None);
        assert_eq!(scanner.next_head().map(|h| h.started), Some(start));
    }
}
