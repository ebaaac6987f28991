//! Captures of requests the service never saw: heads hyper refused and answered itself (400,
//! 414, 431), heads cut off by the read deadline (408), and heads whose connection ended first.
//!
//! hyper answers a head it cannot accept without calling the service, then ends the connection
//! with an error saying why. The [`Tap`](crate::tap::Tap) saw every byte of it, so such a
//! request is journaled anyway, from what arrived: the parsed method, target and headers when
//! the scanner could parse the head, otherwise the method and target of its request line and
//! the raw head itself, byte for byte (its first [`KEEP`] bytes), as the capture's body.

use std::error::Error as StdError;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use hyper::StatusCode;

use crate::capture::{Capture, CaptureId, Derived, Via};
use crate::tap::{KEEP, RawBytes, RawHead, Unhandled};

/// Why a head never reached the service.
pub(super) enum Why<'a> {
    /// hyper ended the connection, with this error if it was one.
    Ended(Option<&'a (dyn StdError + 'static)>),
    /// The head was not complete within the read deadline; it is answered 408.
    Stalled(Duration),
}

/// The capture of a head that never reached the service, and the status it was answered with
/// (0 when it was not answered).
pub(super) fn capture(unhandled: Unhandled, why: Why<'_>, remote: &str) -> Capture {
    let (status, mut note) = match why {
        Why::Ended(err) => match err.and_then(hyper_answer) {
            Some(status) => (
                status.as_u16(),
                format!(
                    "refused before it was read: {} {} ({})",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or_default(),
                    err.map(ToString::to_string).unwrap_or_default()
                ),
            ),
            None => (0, format!("not answered: {}", unanswered(err))),
        },
        Why::Stalled(limit) => (
            StatusCode::REQUEST_TIMEOUT.as_u16(),
            format!("head stalled: not complete within --read-timeout {limit:?}"),
        ),
    };
    let (method, target, version, headers, body, started) = match unhandled {
        Unhandled::Parsed(RawHead {
            method,
            target,
            version,
            headers,
            started,
        }) => (
            method,
            target,
            format!("HTTP/1.{version}"),
            headers,
            Bytes::new(),
            started,
        ),
        Unhandled::Raw(RawBytes {
            bytes,
            total,
            started,
        }) => {
            let (method, target, version) = request_line(&bytes);
            note.push_str(&match bytes.len() as u64 == total {
                true => format!("; the body holds the {total} bytes of the head as received"),
                false => format!(
                    "; the body holds the first {} of {total} bytes of the head as received",
                    bytes.len()
                ),
            });
            (method, target, version, Vec::new(), bytes, started)
        }
    };
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (target, None),
    };
    let waited =
        chrono::Duration::from_std(Instant::now().saturating_duration_since(started)).unwrap_or_default();
    let received_at = Utc::now() - waited;
    Capture {
        id: CaptureId::generate_at(received_at.into()),
        received_at,
        remote_addr: remote.to_owned(),
        via: Via::Direct,
        method,
        path,
        query,
        version,
        headers,
        body,
        status,
        note: Some(note),
        derived: Derived::default(),
    }
}

/// The status hyper answered a connection with when it ended with `err`, if it answered: hyper
/// answers a head it cannot parse itself (`on_error` in its `proto::h1::role`), 414 for a URI
/// over its limit, 431 for any other head too large, 400 for the rest; nothing otherwise.
pub(super) fn hyper_answer(err: &(dyn StdError + 'static)) -> Option<StatusCode> {
    let err = hyper_error(err)?;
    if !err.is_parse() {
        return None;
    }
    let text = err.to_string();
    if err.is_parse_too_large() {
        return Some(match text.contains("URI") {
            true => StatusCode::URI_TOO_LONG,
            false => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        });
    }
    // hyper's own failure while parsing is the one parse error it does not answer.
    match text.contains("internal error") {
        true => None,
        false => Some(StatusCode::BAD_REQUEST),
    }
}

/// The hyper error in `err`'s chain, if there is one (hyper-util boxes it).
fn hyper_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a hyper::Error> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(hyper) = err.downcast_ref::<hyper::Error>() {
            return Some(hyper);
        }
        current = err.source();
    }
    None
}

/// Why a connection ended without an answer to a head that had arrived.
fn unanswered(err: Option<&(dyn StdError + 'static)>) -> String {
    match err {
        None => "the connection closed before this request was read".to_owned(),
        Some(err) if hyper_error(err).is_some_and(hyper::Error::is_incomplete_message) => {
            "the sender closed the connection before the head was complete".to_owned()
        }
        Some(err) => format!("the connection ended before the head was read: {err}"),
    }
}

/// Method, target and version of the request line at the start of `head`, as far as they can
/// be read: the method only if it is a token, the rest only after one, as lossy UTF-8.
fn request_line(head: &[u8]) -> (String, String, String) {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    let is_token = !method.is_empty()
        && method
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    let text = |part: Option<&[u8]>| String::from_utf8_lossy(part.unwrap_or_default()).into_owned();
    if !is_token {
        // Not a request line (a TLS hello, noise): nothing in it is a method or a target.
        return (String::new(), String::new(), String::new());
    }
    if line.len() == head.len() && head.len() == KEEP {
        // A line cut off by the bound: its target would look whole and not be.
        return (text(Some(method)), String::new(), String::new());
    }
    let target = text(parts.next());
    let version = text(parts.next()).chars().take(16).collect();
    (text(Some(method)), target, version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_line_is_read_as_far_as_it_goes() {
        let read = |head: &[u8]| request_line(head);
        let own = |(m, t, v): (&str, &str, &str)| (m.to_owned(), t.to_owned(), v.to_owned());
        assert_eq!(
            read(b"POST /caf\xe9?q=1 HTTP/1.1\r\nHost: x\r\n"),
            own(("POST", "/caf\u{fffd}?q=1", "HTTP/1.1"))
        );
        assert_eq!(
            read(b"GET /a\x01b HTTP/1.1\r\n"),
            own(("GET", "/a\x01b", "HTTP/1.1"))
        );
        assert_eq!(
            read(b"\x16\x03\x01\x00\xa5\x01"),
            own(("", "", "")),
            "a TLS hello"
        );
        assert_eq!(read(b"GET /only-a-beginn"), own(("GET", "/only-a-beginn", "")));
        let mut endless = b"GET /".to_vec();
        endless.resize(KEEP, b'a');
        assert_eq!(
            read(&endless),
            own(("GET", "", "")),
            "a line longer than what is kept"
        );
    }

    #[test]
    fn a_refused_raw_head_keeps_its_bytes_and_says_how_many_arrived() {
        let head = Bytes::from_static(b"POST /x?y HTTP/1.1\r\nX-Ctl: a\x01b\r\n");
        let unhandled = Unhandled::Raw(RawBytes {
            bytes: head.clone(),
            total: 1000,
            started: Instant::now(),
        });
        let capture = capture(unhandled, Why::Stalled(Duration::from_secs(30)), "127.0.0.1:1");
        assert_eq!((capture.method.as_str(), capture.path.as_str()), ("POST", "/x"));
        assert_eq!(capture.query.as_deref(), Some("y"));
        assert_eq!(capture.status, 408);
        assert_eq!(capture.body, head);
        assert_eq!(
            capture.note.as_deref(),
            Some(
                "head stalled: not complete within --read-timeout 30s; the body holds the first 32 of \
                 1000 bytes of the head as received"
            )
        );
    }
}
