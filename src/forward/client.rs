//! One HTTP exchange with the local app: build the request from a capture, read the answer
//! within the timeout, and name what went wrong in words a developer recognises.

use std::error::Error as StdError;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue};

use super::ForwardConfig;
use crate::attempt::{Attempt, AttemptKind, Outcome};
use crate::capture::{Capture, CaptureId, Header};
use crate::export::is_hop_by_hop;
use crate::http_client::HttpClient;

/// What one exchange gave, before it is numbered as an attempt.
pub(super) struct Exchange {
    target: String,
    started_at: DateTime<Utc>,
    latency: Duration,
    outcome: Outcome,
}

impl Exchange {
    pub(super) fn into_attempt(
        self,
        capture: CaptureId,
        kind: AttemptKind,
        number: u32,
        insecure: bool,
    ) -> Attempt {
        // Only a delivery over TLS skipped a verification.
        let insecure = insecure
            && self
                .target
                .get(..8)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"));
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
            insecure,
        }
    }
}

/// Sends `capture` to `target` and reads the answer, all within `config.timeout`.
pub(super) async fn send(
    client: &HttpClient,
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
                Ok(Err(err)) => Outcome::Failed(describe(&*err, target, &config.tls)),
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
    client: &HttpClient,
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

/// Names an error as a developer would ([`crate::http_client::describe`]), for the target's host.
fn describe(err: &(dyn StdError + 'static), target: &str, tls: &crate::http_client::TlsOptions) -> String {
    let host = target
        .parse::<hyper::Uri>()
        .ok()
        .and_then(|uri| uri.host().map(str::to_owned))
        .unwrap_or_default();
    crate::http_client::describe(err, &host, tls)
}

#[cfg(test)]
mod tests {
    use super::*;

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
