//! One smee.io event made into a [`Capture`], as smee-client would deliver it.
//!
//! smee.io's server (probot/smee.io, `lib/server.js`) sends each webhook it received as
//! `data: JSON.stringify({...req.headers, body: req.body, query: req.query, timestamp})`: the
//! headers are the object's other keys (lowercased by node), `body` is the JSON node parsed, and
//! `query` an object. smee-client posts `JSON.stringify(body)` with `content-type:
//! application/json` and the right `content-length`; so does this. The bytes the sender signed
//! are gone: the body is re-serialized, which every capture made here says in its note.
//!
//! Pure: no sockets.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;

use crate::capture::{Capture, CaptureId, Derived, Header, Via};
use crate::verify::stringify::stringify;

/// What every smee capture's note says.
pub const NOTE: &str = "through smee.io: the JSON body is JSON.stringify(body) as smee re-serialized it, \
                        not the sender's bytes (see the Signature tab)";

/// Why an event could not be made into a capture.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    /// The data is not a JSON object.
    #[error("its data is not a JSON object ({0})")]
    NotAnObject(String),
}

/// The capture smee-client would deliver for event `data` from `channel`, received from
/// `server` (host:port) at `now`.
pub fn capture(data: &str, channel: &str, server: &str, now: DateTime<Utc>) -> Result<Capture, EventError> {
    let fields: Vec<(String, Box<RawValue>)> = serde_json::from_str::<Fields>(data)
        .map_err(|err| EventError::NotAnObject(crate::sanitize::line(&err.to_string()).into_owned()))?
        .0;
    let mut headers = Vec::new();
    let mut body = Bytes::new();
    let mut query = None;
    let mut received_at = now;
    let mut dropped = 0;
    for (key, value) in fields {
        match key.as_str() {
            "body" => {
                // As smee-client: JSON.stringify(data.body), which is what JSON.parse then
                // JSON.stringify of its text gives.
                body = match stringify(value.get().as_bytes()) {
                    Some(text) => Bytes::from(text),
                    None => Bytes::copy_from_slice(value.get().as_bytes()),
                }
            }
            "query" => query = query_string(value.get()),
            "timestamp" => received_at = timestamp(value.get(), now),
            _ => {
                for text in header_values(value.get()) {
                    // What HTTP could not have carried (a line break, a control) is left out.
                    let name = hyper::header::HeaderName::from_bytes(key.as_bytes());
                    match (name, hyper::header::HeaderValue::from_str(&text)) {
                        (Ok(_), Ok(_)) => headers.push(Header::new(key.clone(), Bytes::from(text))),
                        _ => dropped += 1,
                    }
                }
            }
        }
    }
    // What smee-client sends along with the re-serialized body.
    headers.retain(|h| {
        !h.name.eq_ignore_ascii_case("content-length") && !h.name.eq_ignore_ascii_case("content-type")
    });
    headers.push(Header::new("content-type", "application/json"));
    headers.push(Header::new("content-length", body.len().to_string()));
    let mut note = NOTE.to_owned();
    if dropped > 0 {
        note.push_str(&format!(
            "; {dropped} header{} that HTTP cannot carry left out",
            if dropped == 1 { "" } else { "s" }
        ));
    }
    Ok(Capture {
        id: CaptureId::generate_at(received_at.into()),
        received_at,
        remote_addr: server.to_owned(),
        via: Via::Smee(channel.to_owned()),
        method: "POST".into(),
        path: "/".into(),
        query,
        version: "HTTP/1.1".into(),
        headers,
        body,
        status: 200,
        note: Some(note),
        derived: Derived::default(),
    })
}

/// A JSON object's members in order, values unparsed.
struct Fields(Vec<(String, Box<RawValue>)>);

impl<'de> serde::Deserialize<'de> for Fields {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Fields;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    fields.push(entry);
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// A header's values: a string, each string of an array (node gives `set-cookie` so), or any
/// other JSON as its text.
fn header_values(raw: &str) -> Vec<String> {
    match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(serde_json::Value::String(text)) => vec![text],
        Ok(serde_json::Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                serde_json::Value::String(text) => text,
                other => other.to_string(),
            })
            .collect(),
        _ => vec![raw.to_owned()],
    }
}

/// The query object as a query string (`URLSearchParams`' form encoding), `None` when empty.
fn query_string(raw: &str) -> Option<String> {
    let Ok(serde_json::Value::Object(members)) = serde_json::from_str::<serde_json::Value>(raw) else {
        return None;
    };
    let mut pairs = Vec::new();
    for (key, value) in members {
        let values = match value {
            serde_json::Value::Array(items) => items,
            one => vec![one],
        };
        for value in values {
            let value = match value {
                serde_json::Value::String(text) => text,
                other => other.to_string(),
            };
            pairs.push(format!("{}={}", form_encode(&key), form_encode(&value)));
        }
    }
    (!pairs.is_empty()).then(|| pairs.join("&"))
}

/// `application/x-www-form-urlencoded` encoding, as `URLSearchParams` writes it.
fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => out.push(byte as char),
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// smee's `timestamp` (milliseconds) when it is within a day of `now`, else `now`: a server's
/// clock, or its lie, does not move a capture far from when it arrived.
fn timestamp(raw: &str, now: DateTime<Utc>) -> DateTime<Utc> {
    raw.parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .filter(|at| (*at - now).num_seconds().abs() <= 86_400)
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_700_000_000_000).expect("a time")
    }

    #[test]
    fn headers_query_and_body_come_out_as_smee_client_sends_them() {
        let data = r#"{"host":"smee.io","x-github-event":"push","content-type":"application/json; charset=utf-8","content-length":"999","set-cookie":["a=1","b=2"],"body":{"b":1.0,"1":"é","z":[1e21]},"query":{"a b":"1&2","n":["x","y"]},"timestamp":1700000000500}"#;
        let capture = capture(data, "abc", "smee.io:443", now()).expect("a capture");
        assert_eq!(capture.via, Via::Smee("abc".into()));
        assert_eq!(capture.method, "POST");
        assert_eq!(capture.body.as_ref(), r#"{"1":"é","b":1,"z":[1e+21]}"#.as_bytes());
        assert_eq!(capture.query.as_deref(), Some("a+b=1%262&n=x&n=y"));
        assert_eq!(capture.received_at.timestamp_millis(), 1_700_000_000_500);
        let headers: Vec<(String, String)> = capture
            .headers
            .iter()
            .map(|h| (h.name.clone(), String::from_utf8_lossy(&h.value).into_owned()))
            .collect();
        let expected: Vec<(String, String)> = [
            ("host", "smee.io"),
            ("x-github-event", "push"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("content-type", "application/json"),
            ("content-length", &capture.body.len().to_string()),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        assert_eq!(headers, expected);
        assert!(
            capture
                .note
                .as_deref()
                .is_some_and(|n| n.contains("JSON.stringify"))
        );
    }

    #[test]
    fn hostile_events_are_errors_or_escaped_never_panics() {
        for data in ["", "[]", "\"x\"", "{", "{\"body\":}", "null", "{\"a\":1,}"] {
            assert!(capture(data, "c", "s", now()).is_err(), "{data:?}");
        }
        let odd = r#"{"bad name":"x","x-ok":"line\r\nInjected: 1","x-num":5,"timestamp":"soon","query":[1],"body":"text"}"#;
        let capture = capture(odd, "c", "s", now()).expect("a capture");
        assert_eq!(capture.received_at, now());
        assert_eq!(capture.query, None);
        assert_eq!(capture.body.as_ref(), b"\"text\"");
        assert!(capture.header("x-num").is_some_and(|v| v == b"5"));
        assert!(capture.header("x-ok").is_none() && capture.header("bad name").is_none());
        assert!(
            capture
                .note
                .as_deref()
                .is_some_and(|n| n.contains("2 headers that HTTP cannot carry"))
        );
        let deep = format!("{{\"body\":{}{}}}", "[".repeat(600), "]".repeat(600));
        assert!(super::capture(&deep, "c", "s", now()).is_ok());
    }

    #[test]
    fn the_readmes_filter_finds_smee_captures() {
        use crate::filter::{Filter, Marks};
        let capture = capture(r#"{"body":{}}"#, "AbC123xyz", "smee.io:443", now()).expect("a capture");
        let marks = Marks::default();
        assert!(
            Filter::parse("via:smee:*")
                .expect("parses")
                .matches(&capture, &marks)
        );
        assert!(
            Filter::parse("via:smee:AbC123xyz")
                .expect("parses")
                .matches(&capture, &marks)
        );
        assert!(
            !Filter::parse("via:relay:*")
                .expect("parses")
                .matches(&capture, &marks)
        );
    }

    #[test]
    fn a_timestamp_far_from_now_is_not_believed() {
        assert_eq!(timestamp("1", now()), now());
        assert_eq!(timestamp("99999999999999999999", now()), now());
        assert_eq!(timestamp("1699999990000", now()).timestamp(), 1_699_999_990);
    }
}
