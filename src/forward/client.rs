//! One HTTP exchange with the local app: build the request from a capture, read the answer
//! within the timeout, and name what went wrong in words a developer recognises.

use std::error::Error as StdError;
use std::io;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

use super::ForwardConfig;
use crate::attempt::{Attempt, AttemptKind, Outcome};
use crate::capture::{Capture, CaptureId, Header};
use crate::export::is_hop_by_hop;

/// What one exchange gave, before it is numbered as an attempt.
pub(super) struct Exchange {
    target: String,
    started_at: DateTime<Utc>,
    latency: Duration,
    outcome: Outcome,
}

impl Exchange {
    pub(super) fn into_attempt(self, capture: CaptureId, kind: AttemptKind, number: u32) -> Attempt {
        Attempt {
            capture,
            kind,
            number,
            target: self.target,
            started_at: self.started_at,
            latency: self.latency,
            outcome: self.outcome,
            signed_headers: Vec::new(),
            route: None,
        }
    }
}

/// Sends `capture` to `target` and reads the answer, all within `config.timeout`.
pub(super) async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    config: &ForwardConfig,
    capture: &Capture,
    target: &str,
) -> Exchange {
    let started_at = Utc::now();
    let started = Instant::now();
    let outcome = match build(config, capture, target) {
        Err(reason) => Outcome::Failed(reason),
        Ok(request) => {
            match tokio::time::timeout(config.timeout, exchange(client, request, config.body_limit)).await {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(err)) => Outcome::Failed(describe(&*err)),
                Err(_) => Outcome::Failed(format!(
                    "timed out after {}",
                    crate::units::format_duration(config.timeout)
                )),
            }
        }
    };
    Exchange {
        target: target.to_owned(),
        started_at,
        latency: started.elapsed(),
        outcome,
    }
}

type BoxError = Box<dyn StdError + Send + Sync>;

async fn exchange(
    client: &Client<HttpConnector, Full<Bytes>>,
    request: hyper::Request<Full<Bytes>>,
    limit: usize,
) -> Result<Outcome, BoxError> {
    let response = client.request(request).await?;
    let status = response.status().as_u16();
    let mut headers = Vec::with_capacity(response.headers().len());
    for (name, value) in response.headers() {
        headers.push(Header::new(
            name.as_str(),
            Bytes::copy_from_slice(value.as_bytes()),
        ));
    }
    let mut body = response.into_body();
    let mut kept = BytesMut::new();
    let mut truncated = false;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue; // trailers
        };
        let room = limit - kept.len();
        if data.len() > room {
            kept.extend_from_slice(&data[..room]);
            // Stop reading: the rest is not kept, and a huge answer must not hold the attempt.
            truncated = true;
            break;
        }
        kept.extend_from_slice(&data);
    }
    Ok(Outcome::Response {
        status,
        headers,
        body: kept.freeze(),
        truncated,
    })
}

/// The request the local app gets: the captured one minus what the transport sets anew.
fn build(
    config: &ForwardConfig,
    capture: &Capture,
    target: &str,
) -> Result<hyper::Request<Full<Bytes>>, String> {
    let method = hyper::Method::from_bytes(capture.method.as_bytes())
        .map_err(|_| format!("cannot send method {:?}", capture.method))?;
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(target)
        .body(Full::new(capture.body.clone()))
        .map_err(|e| format!("cannot build a request to {target:?}: {e}"))?;
    // `Connection: close, X-Private` makes X-Private hop-by-hop too (RFC 9110 §7.6.1).
    let listed: Vec<String> = capture
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| {
            String::from_utf8_lossy(&h.value)
                .split(',')
                .map(|n| n.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .collect();
    let headers = request.headers_mut();
    for header in &capture.headers {
        let passed_on =
            !is_hop_by_hop(&header.name) && !listed.iter().any(|n| header.name.eq_ignore_ascii_case(n));
        let keep_host = config.preserve_host && header.name.eq_ignore_ascii_case("host");
        if !(passed_on || keep_host) {
            continue;
        }
        // What hyper accepted from the sender it accepts again; anything else is skipped, not fatal.
        match (
            HeaderName::from_bytes(header.name.as_bytes()),
            HeaderValue::from_maybe_shared(header.value.clone()),
        ) {
            (Ok(name), Ok(value)) => {
                headers.append(name, value);
            }
            _ => {
                tracing::warn!(header = %crate::sanitize::line(&header.name), "header not forwarded: not valid HTTP")
            }
        }
    }
    Ok(request)
}

/// Names an error as a developer would: `connection refused`, `connection reset`...
fn describe(err: &(dyn StdError + 'static)) -> String {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            let known = match io.kind() {
                io::ErrorKind::ConnectionRefused => Some("connection refused"),
                io::ErrorKind::ConnectionReset => Some("connection reset"),
                io::ErrorKind::ConnectionAborted => Some("connection aborted"),
                io::ErrorKind::TimedOut => Some("connection timed out"),
                io::ErrorKind::AddrNotAvailable => Some("address not available"),
                _ => None,
            };
            return known.map_or_else(|| io.to_string(), str::to_owned);
        }
        if let Some(hyper) = err.downcast_ref::<hyper::Error>()
            && hyper.is_incomplete_message()
        {
            return "connection closed before a complete response".into();
        }
        current = err.source();
    }
    // Nothing better known: the whole chain, outermost first.
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(next) = source {
        text.push_str(": ");
        text.push_str(&next.to_string());
        source = next.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_named_plainly() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(describe(&refused), "connection refused");
        let wrapped: BoxError = Box::new(io::Error::other(io::Error::from(io::ErrorKind::ConnectionReset)));
        // An io::Error wrapping another is named by the outer one's kind (Other): its text,
        // which is the inner error's.
        assert_eq!(describe(&*wrapped), "connection reset");
        // A refusal found under other errors is named as such.
        #[derive(Debug)]
        struct Outer(io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("client error (Connect)")
            }
        }
        impl StdError for Outer {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        let nested = Outer(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(describe(&nested), "connection refused");
        // Nothing known: the whole chain, outermost first.
        let unknown = Outer(io::Error::new(io::ErrorKind::InvalidData, "bad"));
        assert_eq!(describe(&unknown), "bad");
    }

    #[test]
    fn timeouts_read_as_typed() {
        assert_eq!(crate::units::format_duration(Duration::from_secs(30)), "30s");
        assert_eq!(crate::units::format_duration(Duration::from_millis(200)), "200ms");
        assert_eq!(crate::units::format_duration(Duration::from_millis(1500)), "1.5s");
    }

    #[test]
    fn hop_by_hop_and_connection_listed_headers_are_dropped() {
        let mut capture = crate::codec::tests::sample_capture();
        capture.headers = vec![
            Header::new("Host", "public.example"),
            Header::new("Connection", "keep-alive, X-Private"),
            Header::new("X-Private", "1"),
            Header::new("Transfer-Encoding", "chunked"),
            Header::new("X-B", "2"),
            Header::new("X-A", "1"),
        ];
        let config = ForwardConfig::new("http://127.0.0.1:1");
        let request = build(&config, &capture, "http://127.0.0.1:1/x").expect("builds");
        let names: Vec<&str> = request.headers().keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["x-b", "x-a"]);
        let config = ForwardConfig {
            preserve_host: true,
            ..config
        };
        let request = build(&config, &capture, "http://127.0.0.1:1/x").expect("builds");
        assert_eq!(request.headers()["host"], "public.example");
    }
}
