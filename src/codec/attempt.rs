//! The journal line of an [`Attempt`]: a delivery of a capture to the local app.
//!
//! ```text
//! {"v":1,"kind":"attempt","capture":"01JD…","mode":"forward","number":1,
//!  "target":"http://127.0.0.1:3000/hooks","started_at":"2026-11-22T17:27:12.401Z","latency_us":12345,
//!  "status":200,"headers":[["content-type","application/json"]],"body_encoding":"utf8",
//!  "body":"{\"ok\":true}","body_size":11,"truncated":false}
//! ```
//!
//! A failed attempt has `"error":"connection refused"` instead of the response fields. A re-signed
//! or edited delivery also has `signed_headers`: the signature headers it was sent with; a routed
//! one has `route`, the route's name (or match); one sent to `https://` without the certificate
//! verified (`--insecure`) has `"insecure":true`. Headers
//! and bodies use the capture's encodings (text where UTF-8, base64 otherwise). The attempt's own
//! kind is `mode`, because `kind` already says which record this is.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    BodyEncoding, DecodeError, HeaderOut, HeaderValueIn, VERSION, body_bytes, body_text, headers_in,
};
use crate::attempt::{Attempt, AttemptKind, Outcome};

/// Encodes an attempt as one journal line, newline included.
pub fn encode_attempt(attempt: &Attempt) -> Vec<u8> {
    let mut wire = AttemptOut {
        v: VERSION,
        kind: "attempt",
        capture: attempt.capture.to_string(),
        mode: attempt.kind.name(),
        number: attempt.number,
        target: &attempt.target,
        started_at: &attempt.started_at,
        latency_us: u64::try_from(attempt.latency.as_micros()).unwrap_or(u64::MAX),
        status: None,
        headers: None,
        body_encoding: None,
        body: None,
        body_size: None,
        truncated: None,
        error: None,
        signed_headers: match attempt.signed_headers.is_empty() {
            true => None,
            false => Some(attempt.signed_headers.iter().map(HeaderOut).collect()),
        },
        route: attempt.route.as_deref(),
        insecure: attempt.insecure.then_some(true),
    };
    match &attempt.outcome {
        Outcome::Response {
            status,
            headers,
            body,
            truncated,
        } => {
            let (encoding, text) = body_text(body);
            wire.status = Some(*status);
            wire.headers = Some(headers.iter().map(HeaderOut).collect());
            wire.body_encoding = Some(encoding);
            wire.body = Some(text);
            wire.body_size = Some(body.len());
            wire.truncated = Some(*truncated);
        }
        Outcome::Failed(error) => wire.error = Some(error),
    }
    let mut line = Vec::with_capacity(512);
    // Serializing plain data into a Vec cannot fail: no I/O, no maps with non-string keys.
    if let Err(err) = super::write::json_into(&mut line, &wire) {
        unreachable!("serializing an attempt to memory failed: {err}");
    }
    line.push(b'\n');
    line
}

#[derive(Serialize)]
struct AttemptOut<'a> {
    v: u32,
    kind: &'static str,
    capture: String,
    mode: &'static str,
    number: u32,
    target: &'a str,
    started_at: &'a DateTime<Utc>,
    latency_us: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<Vec<HeaderOut<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_encoding: Option<BodyEncoding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    truncated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signed_headers: Option<Vec<HeaderOut<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    insecure: Option<bool>,
}

#[derive(Deserialize)]
pub(super) struct AttemptIn {
    v: u32,
    capture: String,
    mode: String,
    number: u32,
    target: String,
    started_at: DateTime<Utc>,
    latency_us: u64,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    headers: Vec<(String, HeaderValueIn)>,
    #[serde(default)]
    body_encoding: Option<BodyEncoding>,
    #[serde(default)]
    body: String,
    #[serde(default)]
    truncated: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    signed_headers: Vec<(String, HeaderValueIn)>,
    /// Absent in journals from before routes.
    #[serde(default)]
    route: Option<String>,
    /// Absent unless the certificate went unverified (and in journals from before `--insecure`).
    #[serde(default)]
    insecure: bool,
}

impl AttemptIn {
    pub(super) fn into_attempt(self) -> Result<Attempt, DecodeError> {
        if self.v > VERSION {
            return Err(DecodeError::UnsupportedVersion(self.v));
        }
        let bad = |field: &'static str| move |reason: String| DecodeError::BadField { field, reason };
        let capture = self.capture.parse().map_err(|e| bad("capture")(format!("{e}")))?;
        let kind: AttemptKind = self.mode.parse().map_err(bad("mode"))?;
        let outcome = match (self.status, self.error) {
            (Some(status), None) => Outcome::Response {
                status,
                headers: headers_in(self.headers)?,
                body: body_bytes(self.body_encoding.unwrap_or(BodyEncoding::Utf8), self.body)?,
                truncated: self.truncated,
            },
            (None, Some(error)) => Outcome::Failed(error),
            _ => {
                return Err(bad("status")(
                    "an attempt has a status or an error, not both or neither".into(),
                ));
            }
        };
        Ok(Attempt {
            capture,
            kind,
            number: self.number,
            target: self.target,
            started_at: self.started_at,
            latency: std::time::Duration::from_micros(self.latency_us),
            outcome,
            signed_headers: headers_in(self.signed_headers)?,
            route: self.route,
            insecure: self.insecure,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use bytes::Bytes;

    use super::*;
    use crate::capture::{CaptureId, Header};
    use crate::codec::{Record, decode_line};

    pub(crate) fn sample_attempt() -> Attempt {
        Attempt {
            capture: CaptureId::generate(),
            kind: AttemptKind::Forward,
            number: 2,
            target: "http://127.0.0.1:3000/api/hooks?a=1".into(),
            started_at: Utc::now(),
            latency: Duration::from_micros(12_345),
            outcome: Outcome::Response {
                status: 503,
                headers: vec![
                    Header::new("content-type", "application/json"),
                    Header::new("x-bin", &b"\xff\x00"[..]),
                ],
                body: Bytes::from_static(b"{\"ok\":false}"),
                truncated: true,
            },
            signed_headers: Vec::new(),
            route: None,
            insecure: false,
        }
    }

    fn round_trip(attempt: &Attempt) -> Attempt {
        let line = encode_attempt(attempt);
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1, "one line");
        match decode_line(&line) {
            Ok(Record::Attempt(a)) => a,
            other => panic!("decoding our own line gave {other:?}"),
        }
    }

    #[test]
    fn answered_attempt_round_trips() {
        let attempt = sample_attempt();
        assert_eq!(round_trip(&attempt), attempt);
        let line = String::from_utf8(encode_attempt(&attempt)).expect("utf-8");
        let prefix = format!(
            r#"{{"v":1,"kind":"attempt","capture":"{}","mode":"forward""#,
            attempt.capture
        );
        assert!(line.starts_with(&prefix), "{line}");
    }

    #[test]
    fn the_signature_headers_of_a_resigned_attempt_round_trip() {
        let mut attempt = sample_attempt();
        attempt.kind = AttemptKind::Resigned;
        attempt.signed_headers = vec![Header::new("Dolby-Signature", "t=1,h=ab")];
        assert_eq!(round_trip(&attempt), attempt);
        let line = String::from_utf8(encode_attempt(&attempt)).expect("utf-8");
        assert!(
            line.contains(r#""signed_headers":[["Dolby-Signature","t=1,h=ab"]]"#),
            "{line}"
        );
        assert!(!String::from_utf8_lossy(&encode_attempt(&sample_attempt())).contains("signed_headers"));
    }

    #[test]
    fn the_route_of_a_routed_attempt_round_trips_and_old_lines_have_none() {
        let mut attempt = sample_attempt();
        attempt.route = Some("provider:optiview".into());
        assert_eq!(round_trip(&attempt), attempt);
        let line = String::from_utf8(encode_attempt(&attempt)).expect("utf-8");
        assert!(line.contains(r#""route":"provider:optiview""#), "{line}");
        let old = String::from_utf8(encode_attempt(&sample_attempt())).expect("utf-8");
        assert!(!old.contains("route"), "{old}");
        assert_eq!(round_trip(&sample_attempt()).route, None);
    }

    #[test]
    fn an_unverified_attempt_says_so_and_old_lines_were_verified() {
        let mut attempt = sample_attempt();
        attempt.insecure = true;
        assert_eq!(round_trip(&attempt), attempt);
        let line = String::from_utf8(encode_attempt(&attempt)).expect("utf-8");
        assert!(line.contains(r#""insecure":true"#), "{line}");
        let old = String::from_utf8(encode_attempt(&sample_attempt())).expect("utf-8");
        assert!(!old.contains("insecure"), "{old}");
        assert!(!round_trip(&sample_attempt()).insecure);
    }

    #[test]
    fn failed_and_binary_attempts_round_trip() {
        let mut attempt = sample_attempt();
        attempt.kind = AttemptKind::Resigned;
        attempt.outcome = Outcome::Failed("connection refused".into());
        assert_eq!(round_trip(&attempt), attempt);
        let line = String::from_utf8(encode_attempt(&attempt)).expect("utf-8");
        assert!(line.contains(r#""error":"connection refused""#), "{line}");
        assert!(!line.contains("status"), "{line}");

        attempt.outcome = Outcome::Response {
            status: 200,
            headers: vec![],
            body: Bytes::from_static(&[0, 159, 255]),
            truncated: false,
        };
        assert_eq!(round_trip(&attempt), attempt);
    }

    #[test]
    fn attempts_without_status_or_error_are_refused() {
        let line = String::from_utf8(encode_attempt(&sample_attempt())).expect("utf-8");
        let broken = line.replacen(r#""status":503,"#, "", 1);
        assert!(decode_line(broken.as_bytes()).is_err(), "{broken}");
        let bad_mode = line.replacen(r#""mode":"forward""#, r#""mode":"teleport""#, 1);
        assert!(decode_line(bad_mode.as_bytes()).is_err());
    }
}
