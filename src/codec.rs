//! The journal's line format: one versioned JSON object per line.
//!
//! ```text
//! {"v":1,"kind":"capture","id":"01JD…","received_at":"2026-11-22T17:27:12.345678Z",
//!  "remote_addr":"127.0.0.1:50412","via":"direct","method":"POST","path":"/hooks",
//!  "query":"a=1","version":"HTTP/1.1","headers":[["Content-Type","application/json"]],
//!  "body_encoding":"utf8","body":"{\"ok\":true}","body_size":11,"status":200}
//! ```
//!
//! Bodies are stored as text when they are valid UTF-8 and as base64 otherwise, so a journal
//! stays readable with `jq` and `grep` yet keeps binary payloads byte-identical. A header value
//! that is not UTF-8 is written as `{"base64":"…"}` in place of the string. Readers ignore
//! fields they do not know, so later versions can add fields without breaking older readers.
//! This module is pure: no I/O.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Serialize, Serializer};

use crate::capture::{Capture, CaptureId, Derived, Header, Via};

pub(crate) mod attempt;
mod write;

pub use self::attempt::encode_attempt;
pub(crate) use self::write::next_special;
pub use self::write::{json_into, json_pretty};

/// The format version this build writes and the newest it reads.
pub const VERSION: u32 = 1;

/// One decoded journal line.
// Most records are captures, read one at a time: boxing them would cost an allocation each to
// save space only on the rarer attempts.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A request as it arrived.
    Capture(Capture),
    /// A delivery of a capture to the local app (see [`encode_attempt`] for its line).
    Attempt(crate::attempt::Attempt),
}

/// Why a journal line could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON, or JSON of the wrong shape.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// Written by a newer hookscope than this one.
    #[error("record version {0} is newer than this hookscope understands ({VERSION})")]
    UnsupportedVersion(u32),
    /// A field holds a value that cannot be right (a bad id, bad base64...).
    #[error("field `{field}`: {reason}")]
    BadField {
        /// The field's name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// Encodes a capture as one journal line, newline included.
///
/// Written by hand rather than through serde: it runs for every request before the sender is
/// answered (see `write.rs`). The bytes are those [`json_into`] writes for the record's fields
/// in this order (`serde_json`'s, with C1 and bidi controls escaped too); a test holds the two
/// to it.
pub fn encode_capture(capture: &Capture) -> Vec<u8> {
    let (body_encoding, body) = body_text(&capture.body);
    // Room for the body with an escape every fourth byte (JSON bodies are dense in quotes) and
    // for the headers, so the line is allocated once.
    let headers: usize = capture
        .headers
        .iter()
        .map(|h| h.name.len() + h.value.len() + 8)
        .sum();
    let mut line = Vec::with_capacity(body.len() + body.len() / 4 + headers + 640);
    let mut id = [0u8; CaptureId::TEXT_LEN];
    line.extend_from_slice(b"{\"v\":");
    write::number(&mut line, u64::from(VERSION));
    write::field(&mut line, "kind", "capture");
    write::field(&mut line, "id", capture.id.encode(&mut id));
    write::key(&mut line, "received_at");
    write::time(&mut line, &capture.received_at);
    write::field(&mut line, "remote_addr", &capture.remote_addr);
    match &capture.via {
        Via::Direct => write::field(&mut line, "via", "direct"),
        via => write::field(&mut line, "via", &via.to_string()),
    }
    write::field(&mut line, "method", &capture.method);
    write::field(&mut line, "path", &capture.path);
    write::optional(&mut line, "query", capture.query.as_deref());
    write::field(&mut line, "version", &capture.version);
    write::key(&mut line, "headers");
    line.push(b'[');
    for (index, header) in capture.headers.iter().enumerate() {
        if index > 0 {
            line.push(b',');
        }
        line.push(b'[');
        write::string(&mut line, &header.name);
        line.push(b',');
        match std::str::from_utf8(&header.value) {
            Ok(text) => write::string(&mut line, text),
            Err(_) => {
                line.extend_from_slice(b"{\"base64\":");
                write::string(&mut line, &BASE64.encode(&header.value));
                line.push(b'}');
            }
        }
        line.push(b']');
    }
    line.push(b']');
    let encoding = match body_encoding {
        BodyEncoding::Utf8 => "utf8",
        BodyEncoding::Base64 => "base64",
    };
    write::field(&mut line, "body_encoding", encoding);
    write::field(&mut line, "body", &body);
    write::key(&mut line, "body_size");
    write::number(&mut line, capture.body.len() as u64);
    write::key(&mut line, "status");
    write::number(&mut line, u64::from(capture.status));
    write::optional(&mut line, "note", capture.note.as_deref());
    let derived = &capture.derived;
    write::optional(&mut line, "provider", derived.provider.as_deref());
    write::optional(&mut line, "event_type", derived.event_type.as_deref());
    if let Some(time) = &derived.event_time {
        write::key(&mut line, "event_time");
        write::time(&mut line, time);
    }
    write::optional(&mut line, "event_id", derived.event_id.as_deref());
    write::optional(&mut line, "object", derived.object.as_deref());
    write::optional(&mut line, "verdict", derived.verdict.as_deref());
    write::optional(&mut line, "verdict_detail", derived.verdict_detail.as_deref());
    write::optional(&mut line, "signed_form", derived.signed_form.as_deref());
    write::optional(&mut line, "caveat", derived.caveat.as_deref());
    write::optional(&mut line, "handshake", derived.handshake.as_deref());
    line.extend_from_slice(b"}\n");
    line
}

/// Decodes one journal line (with or without its trailing newline).
pub fn decode_line(line: &[u8]) -> Result<Record, DecodeError> {
    match serde_json::from_slice::<RecordIn>(line)? {
        RecordIn::Capture(wire) => wire.into_capture().map(Record::Capture),
        RecordIn::Attempt(wire) => wire.into_attempt().map(Record::Attempt),
    }
}

/// A body as journal text: itself when it is UTF-8, base64 otherwise.
fn body_text(body: &[u8]) -> (BodyEncoding, Cow<'_, str>) {
    match std::str::from_utf8(body) {
        Ok(text) => (BodyEncoding::Utf8, Cow::Borrowed(text)),
        Err(_) => (BodyEncoding::Base64, Cow::Owned(BASE64.encode(body))),
    }
}

/// The body bytes back from their journal text.
fn body_bytes(encoding: BodyEncoding, text: String) -> Result<Bytes, DecodeError> {
    match encoding {
        BodyEncoding::Utf8 => Ok(Bytes::from(text)),
        BodyEncoding::Base64 => BASE64
            .decode(text)
            .map(Bytes::from)
            .map_err(|e| DecodeError::BadField {
                field: "body",
                reason: e.to_string(),
            }),
    }
}

/// Headers back from their journal form.
fn headers_in(headers: Vec<(String, HeaderValueIn)>) -> Result<Vec<Header>, DecodeError> {
    headers
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                HeaderValueIn::Text(text) => Bytes::from(text),
                HeaderValueIn::Bytes { base64 } => {
                    BASE64
                        .decode(base64)
                        .map(Bytes::from)
                        .map_err(|e| DecodeError::BadField {
                            field: "headers",
                            reason: format!("{name}: {e}"),
                        })?
                }
            };
            Ok(Header { name, value })
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum BodyEncoding {
    Utf8,
    Base64,
}

#[cfg(test)]
#[derive(Serialize)]
struct CaptureOut<'a> {
    v: u32,
    kind: &'static str,
    id: String,
    received_at: &'a DateTime<Utc>,
    remote_addr: &'a str,
    via: String,
    method: &'a str,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<&'a str>,
    version: &'a str,
    headers: Vec<HeaderOut<'a>>,
    body_encoding: BodyEncoding,
    body: Cow<'a, str>,
    body_size: usize,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_time: Option<&'a DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    object: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict_detail: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signed_form: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caveat: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    handshake: Option<&'a str>,
}

/// A header on the wire: `["Name","value"]`, or `["Name",{"base64":"…"}]` for non-UTF-8 values.
struct HeaderOut<'a>(&'a Header);

impl Serialize for HeaderOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut pair = serializer.serialize_tuple(2)?;
        pair.serialize_element(&self.0.name)?;
        match std::str::from_utf8(&self.0.value) {
            Ok(text) => pair.serialize_element(text)?,
            Err(_) => pair.serialize_element(&HeaderValueIn::Bytes {
                base64: BASE64.encode(&self.0.value),
            })?,
        }
        pair.end()
    }
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
#[allow(clippy::large_enum_variant)] // decoded one at a time and converted at once
enum RecordIn {
    Capture(CaptureIn),
    Attempt(attempt::AttemptIn),
}

#[derive(Deserialize)]
struct CaptureIn {
    v: u32,
    id: String,
    received_at: DateTime<Utc>,
    remote_addr: String,
    via: String,
    method: String,
    path: String,
    #[serde(default)]
    query: Option<String>,
    version: String,
    headers: Vec<(String, HeaderValueIn)>,
    body_encoding: BodyEncoding,
    body: String,
    status: u16,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    event_type: Option<String>,
    #[serde(default)]
    event_time: Option<DateTime<Utc>>,
    #[serde(default)]
    event_id: Option<String>,
    #[serde(default)]
    object: Option<String>,
    #[serde(default)]
    verdict: Option<String>,
    #[serde(default)]
    verdict_detail: Option<String>,
    #[serde(default)]
    signed_form: Option<String>,
    #[serde(default)]
    caveat: Option<String>,
    #[serde(default)]
    handshake: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum HeaderValueIn {
    Text(String),
    Bytes { base64: String },
}

impl CaptureIn {
    fn into_capture(self) -> Result<Capture, DecodeError> {
        if self.v > VERSION {
            return Err(DecodeError::UnsupportedVersion(self.v));
        }
        let bad = |field: &'static str| move |reason: String| DecodeError::BadField { field, reason };
        let id: CaptureId = self.id.parse().map_err(|e| bad("id")(format!("{e}")))?;
        let via: Via = self.via.parse().map_err(bad("via"))?;
        let headers = headers_in(self.headers)?;
        let body = body_bytes(self.body_encoding, self.body)?;
        Ok(Capture {
            id,
            received_at: self.received_at,
            remote_addr: self.remote_addr,
            via,
            method: self.method,
            path: self.path,
            query: self.query,
            version: self.version,
            headers,
            body,
            status: self.status,
            note: self.note,
            derived: Derived {
                provider: self.provider,
                event_type: self.event_type,
                event_time: self.event_time,
                event_id: self.event_id,
                object: self.object,
                verdict: self.verdict,
                verdict_detail: self.verdict_detail,
                signed_form: self.signed_form,
                caveat: self.caveat,
                handshake: self.handshake,
            },
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample_capture() -> Capture {
        Capture {
            id: CaptureId::generate(),
            received_at: Utc::now(),
            remote_addr: "127.0.0.1:50412".into(),
            via: Via::Direct,
            method: "POST".into(),
            path: "/hooks/dolby".into(),
            query: Some("a=1&b=%20".into()),
            version: "HTTP/1.1".into(),
            headers: vec![
                Header::new("Content-Type", "application/json"),
                Header::new("X-Millicast-Signature", "sha1=abc"),
            ],
            body: Bytes::from_static(br#"{"type":"feeds","event":"started"}"#),
            status: 200,
            note: None,
            derived: Derived::default(),
        }
    }

    /// The line as serde writes the record: the reference the hand-written encoder must match.
    fn encode_capture_serde(capture: &Capture) -> Vec<u8> {
        let (body_encoding, body) = body_text(&capture.body);
        let wire = CaptureOut {
            v: VERSION,
            kind: "capture",
            id: capture.id.to_string(),
            received_at: &capture.received_at,
            remote_addr: &capture.remote_addr,
            via: capture.via.to_string(),
            method: &capture.method,
            path: &capture.path,
            query: capture.query.as_deref(),
            version: &capture.version,
            headers: capture.headers.iter().map(HeaderOut).collect(),
            body_encoding,
            body,
            body_size: capture.body.len(),
            status: capture.status,
            note: capture.note.as_deref(),
            provider: capture.derived.provider.as_deref(),
            event_type: capture.derived.event_type.as_deref(),
            event_time: capture.derived.event_time.as_ref(),
            event_id: capture.derived.event_id.as_deref(),
            object: capture.derived.object.as_deref(),
            verdict: capture.derived.verdict.as_deref(),
            verdict_detail: capture.derived.verdict_detail.as_deref(),
            signed_form: capture.derived.signed_form.as_deref(),
            caveat: capture.derived.caveat.as_deref(),
            handshake: capture.derived.handshake.as_deref(),
        };
        let mut line = Vec::new();
        write::json_into(&mut line, &wire).expect("a capture serializes");
        line.push(b'\n');
        line
    }

    #[test]
    fn the_line_is_what_serde_writes() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let texts = [
            "",
            "a",
            "ünï 日本",
            "\"q\" \\ \u{1b}[2J\u{7}",
            "line\nbreak\ttab",
            "\u{202e}bidi",
        ];
        let mut captures = vec![sample_capture()];
        for round in 0..200 {
            let mut capture = sample_capture();
            let mut pick = || crate::testing::pick(&mut state, &texts).to_owned();
            capture.method = pick();
            capture.path = format!("/{}", pick());
            capture.query = (round % 3 != 0).then(&mut pick);
            capture.remote_addr = pick();
            capture.version = pick();
            capture.via = match round % 4 {
                0 => Via::Relay(pick() + "x"),
                _ => Via::Direct,
            };
            capture.headers = (0..round % 5)
                .map(|i| match i % 3 {
                    2 => Header::new(pick(), &b"caf\xe9 \x00\xff"[..]),
                    _ => Header::new(pick(), pick()),
                })
                .collect();
            capture.body = match round % 3 {
                0 => Bytes::from(pick().repeat(round)),
                1 => Bytes::from_static(&[0, 159, 146, 150, 255, b'\n', 0x1b]),
                _ => Bytes::new(),
            };
            capture.status = [200, 413, 503, 0, u16::MAX][round % 5];
            capture.note = (round % 2 == 0).then(&mut pick);
            capture.received_at += chrono::Duration::nanoseconds(round as i64 * 7_919_993);
            if round % 2 == 1 {
                capture.derived = Derived {
                    provider: Some(pick()),
                    event_type: Some(pick()),
                    event_time: Some(capture.received_at - chrono::Duration::milliseconds(round as i64)),
                    event_id: (round % 3 == 0).then(&mut pick),
                    object: Some(pick()),
                    verdict: Some(pick()),
                    verdict_detail: (round % 5 != 0).then(&mut pick),
                    signed_form: (round % 3 != 0).then(&mut pick),
                    caveat: (round % 7 == 1).then(&mut pick),
                    handshake: (round % 11 == 3).then(&mut pick),
                };
            }
            captures.push(capture);
        }
        for capture in captures {
            assert_eq!(
                String::from_utf8_lossy(&encode_capture(&capture)),
                String::from_utf8_lossy(&encode_capture_serde(&capture)),
                "{capture:?}"
            );
        }
    }

    fn round_trip(capture: &Capture) -> Capture {
        let line = encode_capture(capture);
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1, "one line");
        match decode_line(&line) {
            Ok(Record::Capture(c)) => c,
            other => panic!("decoding our own line gave {other:?}"),
        }
    }

    #[test]
    fn text_capture_round_trips_and_stays_readable() {
        let capture = sample_capture();
        assert_eq!(round_trip(&capture), capture);
        let line = String::from_utf8(encode_capture(&capture)).expect("utf-8 line");
        assert!(line.starts_with(r#"{"v":1,"kind":"capture","#), "{line}");
        assert!(line.contains(r#""body_encoding":"utf8""#), "{line}");
        assert!(line.contains(r#"["X-Millicast-Signature","sha1=abc"]"#), "{line}");
    }

    #[test]
    fn binary_body_and_header_round_trip_as_base64() {
        let mut capture = sample_capture();
        capture.body = Bytes::from_static(&[0, 159, 146, 150, 255, b'\n', 0x1b]);
        capture.headers.push(Header::new("X-Latin1", &b"caf\xe9"[..]));
        capture.query = None;
        capture.via = Via::Relay("team-a".into());
        capture.note = Some("body exceeded 10 MiB".into());
        assert_eq!(round_trip(&capture), capture);
        let line = String::from_utf8(encode_capture(&capture)).expect("utf-8 line");
        assert!(line.contains(r#""body_encoding":"base64""#), "{line}");
        assert!(line.contains(r#"["X-Latin1",{"base64":"Y2Fm6Q=="}]"#), "{line}");
    }

    #[test]
    fn derived_facts_round_trip() {
        let mut capture = sample_capture();
        capture.derived = Derived {
            provider: Some("optiview".into()),
            event_type: Some("channel.stopped".into()),
            event_time: Some(Utc::now()),
            event_id: Some("evt_1".into()),
            object: Some("ch_abc123".into()),
            verdict: Some("valid".into()),
            verdict_detail: Some("authentic".into()),
            signed_form: Some("raw".into()),
            caveat: Some("matched the raw bytes only".into()),
            handshake: Some("slack url_verification: answered the challenge".into()),
        };
        assert_eq!(round_trip(&capture), capture);
        let line = String::from_utf8(encode_capture(&capture)).expect("utf-8");
        assert!(
            line.contains(
                r#""signed_form":"raw","caveat":"matched the raw bytes only","handshake":"slack url_verification: answered the challenge"}"#
            ),
            "{line}"
        );
    }

    #[test]
    fn empty_body_round_trips() {
        let mut capture = sample_capture();
        capture.body = Bytes::new();
        assert_eq!(round_trip(&capture), capture);
    }

    #[test]
    fn unknown_fields_are_ignored_for_forward_compatibility() {
        let line = String::from_utf8(encode_capture(&sample_capture())).expect("utf-8");
        let extended = line.replacen(r#""kind":"capture","#, r#""kind":"capture","later":[1,2],"#, 1);
        assert!(matches!(decode_line(extended.as_bytes()), Ok(Record::Capture(_))));
    }

    #[test]
    fn bad_lines_are_errors_not_panics() {
        let good = String::from_utf8(encode_capture(&sample_capture())).expect("utf-8");
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "EOF"),
            ("not json".into(), "expected"),
            (good[..good.len() / 2].into(), "EOF"),
            (r#"{"v":1,"kind":"mystery"}"#.into(), "unknown variant"),
            (good.replacen(r#""v":1"#, r#""v":9"#, 1), "newer"),
            (
                good.replacen(r#""via":"direct""#, r#""via":"carrier-pigeon""#, 1),
                "via",
            ),
            (good.replacen(r#""id":""#, r#""id":"x"#, 1), "id"),
            (
                good.replacen(r#""body_encoding":"utf8""#, r#""body_encoding":"base64""#, 1),
                "body",
            ),
        ];
        for (line, expected) in cases {
            match decode_line(line.as_bytes()) {
                Ok(record) => panic!("{line:?} decoded as {record:?}"),
                Err(err) => assert!(
                    err.to_string().contains(expected),
                    "{line:?}: error {err:?} should mention {expected:?}"
                ),
            }
        }
    }
}
