//! The listener: accepts any request on any path, captures it whole and answers the sender.
//!
//! One hyper connection task per TCP connection, HTTP/1.1 or HTTP/2 cleartext (prior knowledge)
//! on the same port. Each request becomes a [`Capture`]: the head as sent (recovered by the
//! [`Tap`]), the body as raw bytes. The sender is answered only after the hub has journaled the
//! capture, so an acknowledged webhook is on disk. Bad input is answered, journaled and
//! survived: a body over the limit is a 413, a stalled body a 408, a journal failure a 503.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use chrono::Utc;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::capture::{Capture, CaptureId, Derived, Header, Via};
use crate::hub::Hub;
use crate::tap::{Heads, RawHead, Tap};

/// How a listener answers and what it accepts.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The status every captured request is answered with.
    pub status: StatusCode,
    /// The body of that answer.
    pub body: Bytes,
    /// Extra headers of that answer, in order.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The largest body accepted; a larger one is answered 413.
    pub max_body: u64,
    /// How long a client may leave the head or body stalled before it is answered 408 / cut.
    pub read_timeout: Duration,
    /// How long in-flight requests get to finish at shutdown.
    pub grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            status: StatusCode::OK,
            body: Bytes::from_static(br#"{"ok":true}"#),
            headers: vec![(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            max_body: 10 * 1024 * 1024,
            read_timeout: Duration::from_secs(30),
            grace: Duration::from_secs(5),
        }
    }
}

/// How much of an oversized body is read (and dropped) so the sender can read its 413; past
/// this the connection is closed instead.
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;

/// Accepts connections until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    config: ServerConfig,
    hub: Hub,
    shutdown: impl Future<Output = ()>,
) {
    let context = Arc::new(Context { config, hub });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(context.config.read_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        // Reap finished connection tasks so the set stays the size of what is open.
        while connections.try_join_next().is_some() {}
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: wait a little instead of spinning.
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%err, "set_nodelay failed");
        }
        let (tap, heads) = Tap::new(stream);
        let context = context.clone();
        // Formatted once per connection rather than per request.
        let remote: Arc<str> = remote.to_string().into();
        let span = tracing::debug_span!("connection", remote = %remote);
        let service = service_fn(move |request| {
            let context = context.clone();
            let heads = heads.clone();
            let remote = remote.clone();
            async move { Ok::<_, Infallible>(context.handle(request, &remote, &heads).await) }
        });
        let connection = builder.serve_connection(TokioIo::new(tap), service).into_owned();
        let connection = graceful.watch(connection);
        connections.spawn(
            async move {
                if let Err(err) = connection.await {
                    tracing::debug!(err = %err, "connection ended with an error");
                }
            }
            .instrument(span),
        );
    }
    drop(listener);
    let grace = context.config.grace;
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(
            ?grace,
            "connections still open after the grace period; closing them"
        );
    }
    connections.shutdown().await;
}

struct Context {
    config: ServerConfig,
    hub: Hub,
}

/// How reading a request body ended.
enum BodyOutcome {
    Complete(Bytes),
    TooLarge(String),
    Stalled,
    Broken(hyper::Error),
}

impl Context {
    async fn handle(&self, request: Request<Incoming>, remote: &str, heads: &Heads) -> Response<Full<Bytes>> {
        let received_at = Utc::now();
        let id = CaptureId::generate_at(received_at.into());
        let (parts, body) = request.into_parts();
        let raw = heads
            .next()
            .filter(|head| head.method == parts.method.as_str() && parts.uri == *head.target.as_str());
        let headers = match raw {
            Some(RawHead { headers, .. }) => headers,
            // HTTP/2, or a stream the tap could not follow: hyper's map, lowercase, grouped by name.
            None => parts
                .headers
                .iter()
                .map(|(name, value)| Header::new(name.as_str(), Bytes::copy_from_slice(value.as_bytes())))
                .collect(),
        };
        let (status, body, note) = match self.read_body(&parts.headers, body).await {
            BodyOutcome::Complete(body) => (self.config.status, body, None),
            BodyOutcome::TooLarge(note) => (StatusCode::PAYLOAD_TOO_LARGE, Bytes::new(), Some(note)),
            BodyOutcome::Stalled => (
                StatusCode::REQUEST_TIMEOUT,
                Bytes::new(),
                Some(format!("body stalled for {:?}", self.config.read_timeout)),
            ),
            BodyOutcome::Broken(err) => (
                StatusCode::BAD_REQUEST,
                Bytes::new(),
                Some(format!("body could not be read: {err}")),
            ),
        };
        let capture = Capture {
            id,
            received_at,
            remote_addr: remote.to_owned(),
            via: Via::Direct,
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            version: version_text(parts.version),
            headers,
            body,
            status: status.as_u16(),
            note: note.clone(),
            derived: Derived::default(),
        };
        match self.hub.record(capture).await {
            Ok(_) if status == self.config.status => self.answer(),
            Ok(_) => plain(status, note.as_deref().unwrap_or_default()),
            Err(err) => {
                tracing::error!(%err, %id, "capture not journaled; answering 503");
                plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("hookscope could not journal this request: {err}"),
                )
            }
        }
    }

    /// Reads the whole body, within the size limit and without stalling longer than allowed.
    async fn read_body(&self, headers: &hyper::HeaderMap, mut body: Incoming) -> BodyOutcome {
        let max = self.config.max_body;
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let too_large = |size: String| format!("body of {size} exceeds --max-body {max} bytes; not kept");
        if let Some(size) = declared.filter(|&size| size > max) {
            // A client waiting for `100 Continue` never sends the body if we answer first, and a
            // body far past the limit is not worth draining: answer 413 without reading it.
            let expects_continue = headers
                .get(hyper::header::EXPECT)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
            if expects_continue || size > max.saturating_add(DRAIN_LIMIT) {
                return BodyOutcome::TooLarge(too_large(format!("{size} bytes")));
            }
        }
        // Reserve for what is likely to arrive, not for what is declared: a client that declares
        // 10 MiB and stalls must not make us hold 10 MiB per connection.
        const RESERVE: u64 = 64 * 1024;
        let mut chunks = BytesMut::with_capacity(declared.unwrap_or(0).min(max).min(RESERVE) as usize);
        let mut received: u64 = 0;
        loop {
            let frame = match tokio::time::timeout(self.config.read_timeout, body.frame()).await {
                Err(_) => return BodyOutcome::Stalled,
                Ok(None) => break,
                Ok(Some(Err(err))) => return BodyOutcome::Broken(err),
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(data) = frame.into_data() else { continue }; // trailers
            received += data.len() as u64;
            if received > max {
                // Keep reading (and dropping) so the sender can read its answer, up to a point.
                if received > max.saturating_add(DRAIN_LIMIT) {
                    return BodyOutcome::TooLarge(too_large(format!("over {received} bytes")));
                }
                chunks = BytesMut::new();
                continue;
            }
            if chunks.is_empty() && declared == Some(data.len() as u64) {
                return BodyOutcome::Complete(data); // the whole body in one frame: no copy
            }
            chunks.extend_from_slice(&data);
        }
        match received > max {
            true => BodyOutcome::TooLarge(too_large(format!("{received} bytes"))),
            false => BodyOutcome::Complete(chunks.freeze()),
        }
    }

    fn answer(&self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(self.config.body.clone()));
        *response.status_mut() = self.config.status;
        for (name, value) in &self.config.headers {
            response.headers_mut().append(name.clone(), value.clone());
        }
        response
    }
}

/// `HTTP/1.1` and the like, as the journal writes a request's version.
fn version_text(version: hyper::Version) -> String {
    let known = match version {
        hyper::Version::HTTP_09 => "HTTP/0.9",
        hyper::Version::HTTP_10 => "HTTP/1.0",
        hyper::Version::HTTP_11 => "HTTP/1.1",
        hyper::Version::HTTP_2 => "HTTP/2.0",
        hyper::Version::HTTP_3 => "HTTP/3.0",
        other => return format!("{other:?}"),
    };
    known.to_owned()
}

/// A short `text/plain` answer, newline added: what the listener and the relay say when they
/// refuse or acknowledge a request themselves.
pub(crate) fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{text}\n"))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_written_as_hyper_names_them() {
        use hyper::Version;
        for version in [
            Version::HTTP_09,
            Version::HTTP_10,
            Version::HTTP_11,
            Version::HTTP_2,
            Version::HTTP_3,
        ] {
            assert_eq!(version_text(version), format!("{version:?}"));
        }
    }
}
