//! The capture: one request exactly as it arrived, the project's one data model.
//!
//! A [`Capture`] is what the journal stores, what the headless printer shows and what every
//! later stage (verification, the TUI, forwarding, replay) reads. It keeps the bytes that
//! arrived: header names in their original case and order, header values and body as raw bytes.

use std::borrow::Cow;
use std::fmt;
use std::sync::Mutex;
use std::time::SystemTime;

use bytes::Bytes;
use chrono::{DateTime, Utc};

pub use crate::attempt::{Attempt, AttemptKind, Outcome};

/// One incoming request, exactly as received, and the status we answered it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// Unique across sessions and sortable by time (a monotonic ULID).
    pub id: CaptureId,
    /// When the request head arrived.
    pub received_at: DateTime<Utc>,
    /// The peer's address as `ip:port`.
    pub remote_addr: String,
    /// How it reached us: directly, or through a relay channel.
    pub via: Via,
    /// The request method, as sent (methods are case-sensitive).
    pub method: String,
    /// The path part of the request target, undecoded.
    pub path: String,
    /// The raw query string without the `?`, undecoded; `None` when the target had no `?`.
    pub query: Option<String>,
    /// `HTTP/1.0`, `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    /// Headers in arrival order with their original case; values are raw bytes.
    pub headers: Vec<Header>,
    /// The raw body, byte for byte (empty when the body was refused, see `note`).
    pub body: Bytes,
    /// The status we answered the sender with.
    pub status: u16,
    /// Why the capture is incomplete, when it is (e.g. the body exceeded `--max-body`).
    pub note: Option<String>,
    /// What analysis made of it: provider, event, verdict.
    pub derived: Derived,
}

/// What hookscope worked out about a capture; every field is absent when unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Derived {
    /// The sender's profile name.
    pub provider: Option<String>,
    /// The event type (`channel.stopped`, `feeds.started`).
    pub event_type: Option<String>,
    /// The event's own timestamp.
    pub event_time: Option<DateTime<Utc>>,
    /// The event's idempotency key.
    pub event_id: Option<String>,
    /// What the event is about (`ch_abc123`).
    pub object: Option<String>,
    /// The signature verdict's label (`valid`, `invalid`, `stale`...).
    pub verdict: Option<String>,
    /// The verdict's one-sentence reason.
    pub verdict_detail: Option<String>,
    /// The form of the body the signature matched (`raw`, `json-stringify`), when one did.
    pub signed_form: Option<String>,
    /// Why a valid signature may still be rejected by the receiver the sender's docs describe.
    pub caveat: Option<String>,
    /// The handshake the listener answered (or refused) for the sender, in one line:
    /// `slack url_verification: answered the challenge` ([`crate::handshake`]).
    pub handshake: Option<String>,
}

/// A header as it arrived: the name in its original case, the value as raw bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    /// The header name with the case the sender used.
    pub name: String,
    /// The value's bytes; not necessarily UTF-8.
    pub value: Bytes,
}

impl Header {
    /// Builds a header from a name and value.
    pub fn new(name: impl Into<String>, value: impl Into<Bytes>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {:?}", self.name, String::from_utf8_lossy(&self.value))
    }
}

/// How a capture reached hookscope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// Straight to the listener.
    Direct,
    /// Through a relay tunnel, on the named channel.
    Relay(String),
    /// From a smee.io channel (its name), which re-serializes JSON bodies.
    Smee(String),
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Via::Direct => f.write_str("direct"),
            Via::Relay(channel) => write!(f, "relay:{channel}"),
            Via::Smee(channel) => write!(f, "smee:{channel}"),
        }
    }
}

impl std::str::FromStr for Via {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            None if s == "direct" => Ok(Via::Direct),
            Some(("relay", channel)) if !channel.is_empty() => Ok(Via::Relay(channel.to_owned())),
            Some(("smee", channel)) if !channel.is_empty() => Ok(Via::Smee(channel.to_owned())),
            _ => Err(format!(
                "expected `direct`, `relay:CHANNEL` or `smee:CHANNEL`, got {s:?}"
            )),
        }
    }
}

impl Capture {
    /// The first value of header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_ref())
    }

    /// The request target as sent: path plus `?query` when there was one.
    pub fn target(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{}", self.path, q),
            None => self.path.clone(),
        }
    }

    /// Whether the request did not arrive whole: the listener refused it (a 4xx) and its note
    /// says what is missing (a body over `--max-body`, cut short, trickled past the deadline, a
    /// head hyper refused). Such a capture is not forwarded: it would show the app a request
    /// nobody made. A note alone is not enough: smee's captures and those a route answers with
    /// the app's response carry notes too, and are whole.
    pub fn incomplete(&self) -> bool {
        self.note.is_some() && self.status >= 400
    }

    /// About how many bytes of memory the capture takes: its bytes, and the allocations
    /// around them. What the inspector and the forwarder count against their memory budgets.
    pub fn footprint(&self) -> u64 {
        let headers: usize = self
            .headers
            .iter()
            .map(|h| h.name.len() + h.value.len() + 64)
            .sum();
        let text = self.path.len()
            + self.query.as_ref().map_or(0, String::len)
            + self.remote_addr.len()
            + self.method.len()
            + self.note.as_ref().map_or(0, String::len);
        (self.body.len() + headers + text + 512) as u64
    }

    /// The media type of the body without parameters, lowercase, if the sender declared one;
    /// borrowed from the header when it is already written that way.
    pub fn content_type(&self) -> Option<Cow<'_, str>> {
        let raw = self.header("content-type")?;
        // `;` is ASCII: the part before it decodes as it would within the whole value.
        let before = raw.split(|&b| b == b';').next().unwrap_or_default();
        let essence = match String::from_utf8_lossy(before) {
            Cow::Borrowed(text) => Cow::Borrowed(text.trim()),
            Cow::Owned(text) => Cow::Owned(text.trim().to_owned()),
        };
        match essence.is_empty() {
            true => None,
            false if essence.bytes().any(|b| b.is_ascii_uppercase()) => {
                Some(Cow::Owned(essence.to_ascii_lowercase()))
            }
            false => Some(essence),
        }
    }
}

/// A capture's identity: a ULID, 26 Crockford base32 characters, ordered by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CaptureId(ulid::Ulid);

impl CaptureId {
    /// The length of an id's text.
    pub const TEXT_LEN: usize = ulid::ULID_LEN;

    /// The id's text, written into `buf` instead of a new string.
    pub fn encode<'b>(&self, buf: &'b mut [u8; Self::TEXT_LEN]) -> &'b str {
        self.0.array_to_str(buf)
    }

    /// A fresh id, greater than every id this process made before.
    pub fn generate() -> Self {
        Self::generate_at(SystemTime::now())
    }

    /// A fresh id for something that happened at `time` (the server reads the clock once per
    /// request), greater than every id this process made before.
    pub fn generate_at(time: SystemTime) -> Self {
        // One generator for the process makes ids monotonic even within one millisecond.
        static GENERATOR: Mutex<ulid::Generator> = Mutex::new(ulid::Generator::new());
        let mut generator = GENERATOR.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let id = match generator.generate_from_datetime(time) {
            Ok(id) => id,
            // 2^80 ids in one millisecond: keep ordering by bumping the timestamp part.
            Err(overflow) => overflow.commit_overflow_increment(),
        };
        Self(id)
    }
}

impl fmt::Display for CaptureId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::str::FromStr for CaptureId {
    type Err = ulid::DecodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ulid::Ulid::from_string(s).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_sorted_by_creation() {
        let ids: Vec<CaptureId> = (0..10_000).map(|_| CaptureId::generate()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn id_round_trips_through_text() {
        let id = CaptureId::generate();
        let parsed: CaptureId = id.to_string().parse().expect("a generated id parses");
        assert_eq!(parsed, id);
        assert_eq!(id.to_string().len(), 26);
    }

    #[test]
    fn only_a_refused_capture_with_a_note_is_incomplete() {
        let mut capture = crate::codec::tests::sample_capture();
        for (status, note, incomplete) in [
            (413, Some("body over --max-body"), true),
            (400, Some("body cut short"), true),
            (413, None, false),
            // smee's re-serialized bodies, the app answering through a route: whole.
            (200, Some("re-serialized by smee"), false),
            (503, None, false),
        ] {
            capture.status = status;
            capture.note = note.map(str::to_owned);
            assert_eq!(capture.incomplete(), incomplete, "{status} {note:?}");
        }
    }

    #[test]
    fn content_type_drops_parameters_and_case() {
        let mut capture = crate::codec::tests::sample_capture();
        capture.headers = vec![Header::new("Content-Type", "Application/JSON; charset=utf-8")];
        assert_eq!(capture.content_type().as_deref(), Some("application/json"));
        for (value, expected) in [
            (&b"text/plain"[..], Some("text/plain")),
            (b"  text/plain \t; q=1", Some("text/plain")),
            (b"text/\xff\xfePLAIN;x", Some("text/\u{fffd}\u{fffd}plain")),
            (b"\xe2\x80\x83text/html\xe2\x80\x83", Some("text/html")),
            (b" ; charset=utf-8", None),
            (b"", None),
        ] {
            capture.headers = vec![Header::new("content-type", Bytes::copy_from_slice(value))];
            assert_eq!(capture.content_type().as_deref(), expected, "{value:?}");
        }
        capture.headers.clear();
        assert_eq!(capture.content_type(), None);
    }
}
