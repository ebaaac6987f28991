//! The listener: accepts any request on any path, captures it whole and answers the sender.
//!
//! One hyper connection task per TCP connection, HTTP/1.1 or HTTP/2 cleartext (prior knowledge)
//! on the same port, or HTTPS (HTTP/1.1 and h2 by ALPN) with `--tls-cert`, the TLS handshake on
//! the connection's own task. Each request becomes a [`Capture`]: the head as sent (recovered by the
//! [`Tap`]), the body as raw bytes. The sender is answered only after the hub has journaled the
//! capture, so an acknowledged webhook is on disk. Bad input is answered, journaled and
//! survived: a body over the limit is a 413, a request not complete within the read deadline a
//! 408, a journal failure a 503, and a head hyper refuses itself is journaled from what the tap
//! saw of it ([`refused`]). Each connection has a watchdog that closes it once idle for too
//! long, and the number open at once is capped ([`connections`]).

mod connections;
mod handshake_failures;
mod refused;

use std::convert::Infallible;
use std::error::Error as StdError;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use chrono::Utc;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::capture::{Capture, CaptureId, Derived, Header, Via};
use crate::hub::Hub;
use crate::limits::{self, AcceptErrors};
use crate::tap::{Activity, Heads, RawHead, Tap};
use connections::Connections;
use handshake_failures::{Failure, HandshakeFailures};

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
    /// How long a request's head and body may take to arrive, from its first byte; past it the
    /// sender is answered 408.
    pub read_timeout: Duration,
    /// How long a connection may stay open with no request on its way or being served.
    pub idle_timeout: Duration,
    /// The most connections open at once; `None`: derived from the descriptor limit.
    pub max_connections: Option<usize>,
    /// How long in-flight requests get to finish at shutdown.
    pub grace: Duration,
    /// The routes, when they decide some answers (else every sender hears `status`, `body`
    /// and `headers`).
    pub routes: Option<Arc<crate::routes::Router>>,
    /// The handshakes answered for the user (Slack, Zoom, Meta), before any route decides;
    /// `None` (`--no-handshakes`): they are requests like any other.
    pub handshakes: Option<Arc<crate::handshake::Handshakes>>,
    /// Serve HTTPS with this configuration (`--tls-cert`, `--tls-key`); `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            status: StatusCode::OK,
            body: Bytes::from_static(br#"{"ok":true}"#),
            headers: vec![(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            max_body: 10 * 1024 * 1024,
            read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: None,
            grace: Duration::from_secs(5),
            routes: None,
            handshakes: None,
            tls: None,
        }
    }
}

/// How much of an oversized body is read (and dropped) so the sender can read its 413; past
/// this the connection is closed instead.
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;
/// How long the listener's own last answer on a connection it closes may take to write.
const LAST_WORDS: Duration = Duration::from_secs(1);
/// How long a sender gets to complete the TLS handshake (at most --read-timeout).
const HANDSHAKE: Duration = Duration::from_secs(10);

type ConnectionError = Box<dyn StdError + Send + Sync>;

/// Accepts connections until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    config: ServerConfig,
    hub: Hub,
    shutdown: impl Future<Output = ()>,
) {
    let max = config
        .max_connections
        .unwrap_or_else(|| limits::default_max(limits::descriptor_limit()));
    tracing::debug!(max, "connection limit");
    let context = Arc::new(Context {
        config,
        hub,
        connections: Connections::new(max),
        handshake_failures: HandshakeFailures::default(),
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // No header timeout of hyper's: in hyper 1.x it also runs while a keep-alive connection
    // waits for its next request, cutting idle connections at --read-timeout without a word.
    // Each connection's watchdog enforces both deadlines instead (`watch`).
    builder.http1().timer(TokioTimer::new()).header_read_timeout(None);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let tls = context.config.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let mut tasks = JoinSet::new();
    let mut errors = AcceptErrors::default();
    tokio::pin!(shutdown);
    loop {
        let room = tokio::select! {
            room = context.connections.room() => room,
            () = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        // Reap finished connection tasks so the set stays the size of what is open.
        while tasks.try_join_next().is_some() {}
        let (stream, remote) = match accepted {
            Ok(accepted) => {
                errors.accepted();
                accepted
            }
            Err(err) => {
                // Out of descriptors and the like: told once per burst, a pause instead of a
                // spin, and an idle connection closed to give its descriptor back.
                let pause = errors.refused(&err);
                if limits::out_of_descriptors(&err) {
                    context.connections.shed_longest_idle();
                }
                drop(room);
                tokio::select! {
                    () = tokio::time::sleep(pause) => continue,
                    () = &mut shutdown => break,
                }
            }
        };
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%err, "set_nodelay failed");
        }
        let peer = remote;
        // Formatted once per connection rather than per request.
        let remote: Arc<str> = remote.to_string().into();
        let span = tracing::debug_span!("connection", remote = %remote);
        let (context, builder, watcher, tls) =
            (context.clone(), builder.clone(), graceful.watcher(), tls.clone());
        tasks.spawn(
            async move {
                match tls {
                    None => context.serve_stream(stream, remote, &builder, watcher).await,
                    Some(tls) => {
                        // On the connection's own task, so a slow handshake holds up only
                        // itself; and counted as idle, so with the listener full it gives way
                        // (after SHED_GRACE) like an idle connection: senders that never finish
                        // one cannot hold the listener.
                        let (placeholder, handshaking) = Tap::new(());
                        let id = context.connections.opened(handshaking.clone());
                        let limit = HANDSHAKE.min(context.config.read_timeout);
                        let shaken = tokio::select! {
                            shaken = tokio::time::timeout(limit, handshake(&tls, stream)) => Some(shaken),
                            () = given_way(&handshaking) => None,
                        };
                        context.connections.closed(id);
                        drop(placeholder);
                        match shaken {
                            Some(Ok(Ok(stream))) => {
                                context.serve_stream(stream, remote, &builder, watcher).await
                            }
                            Some(Ok(Err(Handshake::Plain(stream)))) => {
                                let why = "this listener serves HTTPS (--tls-cert): send to https:// \
                                           instead of http://";
                                last_words(stream, StatusCode::BAD_REQUEST, why).await;
                            }
                            Some(Ok(Err(Handshake::Failed(err, stream)))) => {
                                // Said before the connection closes: a sender that waits for
                                // the close finds it said.
                                let failure = Failure::of(&err);
                                match context.handshake_failures.line(peer, &failure, Instant::now()) {
                                    Some(line) => tracing::warn!("{line}"),
                                    None => tracing::debug!(%err, "TLS handshake failed"),
                                }
                                drop(stream);
                            }
                            Some(Ok(Err(Handshake::Closed))) => {
                                tracing::debug!("closed before its TLS handshake began")
                            }
                            Some(Err(_)) => tracing::debug!("TLS handshake not done in time"),
                            None => tracing::debug!("closed during its TLS handshake to make room"),
                        }
                    }
                }
                drop(room);
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
    tasks.shutdown().await;
}

/// Why a connection to the HTTPS listener did not become TLS.
enum Handshake {
    /// It began as plain HTTP (its first byte is not a TLS record's): it is told to use https://.
    Plain(tokio::net::TcpStream),
    /// It closed before sending anything (a port check): nothing to say.
    Closed,
    /// The handshake failed; the connection, still open.
    Failed(std::io::Error, tokio::net::TcpStream),
}

/// The TLS handshake on `stream`, unless the sender speaks plain HTTP to it.
async fn handshake(
    tls: &tokio_rustls::TlsAcceptor,
    stream: tokio::net::TcpStream,
) -> Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>, Handshake> {
    /// The first byte of a TLS handshake record.
    const HANDSHAKE_RECORD: u8 = 0x16;
    let mut first = [0u8; 1];
    match stream.peek(&mut first).await {
        Ok(0) => return Err(Handshake::Closed),
        Ok(_) if first[0] != HANDSHAKE_RECORD => return Err(Handshake::Plain(stream)),
        _ => {}
    }
    tls.accept(stream)
        .into_fallible()
        .await
        .map_err(|(err, stream)| Handshake::Failed(err, stream))
}

/// Completes once the listener asked `heads`' connection to give way.
async fn given_way(heads: &Heads) {
    while !heads.activity().shed {
        heads.changed().await;
    }
}

struct Context {
    config: ServerConfig,
    hub: Hub,
    connections: Connections,
    handshake_failures: HandshakeFailures,
}

/// How reading a request body ended; what arrived of an unfinished body is kept.
enum BodyOutcome {
    Complete(Bytes),
    TooLarge(String),
    Stalled(Bytes, u64),
    Broken(hyper::Error, Bytes, u64),
}

/// Why the watchdog closes a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Idle for --idle-timeout.
    Idle,
    /// Idle while the listener is full.
    Shed,
    /// A head not complete within --read-timeout of its first byte.
    HeadStalled,
}

impl Context {
    /// Serves one connection, plain or TLS (after its handshake), through the tap that sees its
    /// heads as sent.
    async fn serve_stream<S>(
        self: &Arc<Self>,
        stream: S,
        remote: Arc<str>,
        builder: &auto::Builder<TokioExecutor>,
        watcher: Watcher,
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut tap, heads) = Tap::new(stream);
        let handed_back = tap.give_back_on_drop();
        let service = {
            let (context, heads, remote) = (self.clone(), heads.clone(), remote.clone());
            service_fn(move |request| {
                let (context, heads, remote) = (context.clone(), heads.clone(), remote.clone());
                async move { Ok::<_, Infallible>(context.handle(request, &remote, &heads).await) }
            })
        };
        let connection = builder.serve_connection(TokioIo::new(tap), service).into_owned();
        let connection = watcher.watch(connection);
        let id = self.connections.opened(heads.clone());
        self.run(connection, &heads, handed_back, &remote).await;
        self.connections.closed(id);
    }

    /// Serves one connection until it ends or its watchdog cuts it; journals what arrived of
    /// a head the service never saw.
    async fn run<S>(
        &self,
        connection: impl Future<Output = Result<(), ConnectionError>>,
        heads: &Heads,
        handed_back: oneshot::Receiver<S>,
        remote: &str,
    ) where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut connection = Box::pin(connection);
        let cut = tokio::select! {
            ended = &mut connection => {
                if let Err(err) = &ended {
                    tracing::debug!(%err, "connection ended with an error");
                }
                if let Some(unhandled) = heads.take_unhandled() {
                    let err = ended.as_ref().err().map(|err| &**err as &(dyn StdError + 'static));
                    let capture = refused::capture(unhandled, refused::Why::Ended(err), remote);
                    if let Err(err) = self.hub.record(capture).await {
                        tracing::error!(%err, "a refused request was not journaled");
                    }
                }
                return;
            }
            cut = self.watch(heads) => cut,
        };
        match cut {
            Cut::Idle | Cut::Shed => {
                tracing::debug!(?cut, "closing an idle connection");
            }
            Cut::HeadStalled => {
                let unhandled = heads.take_unhandled();
                drop(connection); // hands the stream back
                let limit = self.config.read_timeout;
                let mut answer = (
                    StatusCode::REQUEST_TIMEOUT,
                    format!("request head not complete within {limit:?}"),
                );
                if let Some(unhandled) = unhandled {
                    let capture = refused::capture(unhandled, refused::Why::Stalled(limit), remote);
                    if let Err(err) = self.hub.record(capture).await {
                        tracing::error!(%err, "a stalled request was not journaled; answering 503");
                        answer = (
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!("hookscope could not journal this request: {err}"),
                        );
                    }
                }
                if let Ok(stream) = handed_back.await {
                    last_words(stream, answer.0, &answer.1).await;
                }
            }
        }
    }

    /// Completes when the connection must be closed: idle past --idle-timeout (or shed to make
    /// room), or a head on its way for longer than --read-timeout. A body's deadline is the
    /// service's, which can still answer.
    async fn watch(&self, heads: &Heads) -> Cut {
        // Whatever the connection does next, the deadline it gets is no sooner than the shorter
        // timeout from now (a head starting now has --read-timeout, an idle spell starting now
        // --idle-timeout): looking again that often, the watchdog needs no wake-up per request.
        let look = self.config.read_timeout.min(self.config.idle_timeout);
        loop {
            let now = Instant::now();
            let deadline = match heads.activity() {
                Activity { shed: true, .. } => return Cut::Shed,
                Activity {
                    idle_since: Some(since),
                    ..
                } => Some((since + self.config.idle_timeout, Cut::Idle)),
                Activity {
                    head_started: Some(started),
                    serving: false,
                    ..
                } => Some((started + self.config.read_timeout, Cut::HeadStalled)),
                _ => None,
            };
            if let Some((at, cut)) = deadline
                && at <= now
            {
                return cut;
            }
            let next = deadline.map_or(now + look, |(at, _)| at.min(now + look));
            tokio::select! {
                () = tokio::time::sleep_until(next.into()) => {}
                () = heads.changed() => {}
            }
        }
    }

    async fn handle(&self, request: Request<Incoming>, remote: &str, heads: &Heads) -> Response<Full<Bytes>> {
        let received_at = Utc::now();
        let id = CaptureId::generate_at(received_at.into());
        let (parts, body) = request.into_parts();
        // Not idle until the answer is handed over.
        let (raw, _serving) = heads.begin();
        let raw =
            raw.filter(|head| head.method == parts.method.as_str() && parts.uri == *head.target.as_str());
        // The deadline counts from the head's first byte (HTTP/1), or from now (HTTP/2).
        let deadline = raw.as_ref().map_or_else(Instant::now, |head| head.started) + self.config.read_timeout;
        let mut headers = match raw {
            Some(RawHead { headers, .. }) => headers,
            // HTTP/2, or a stream the tap could not follow: hyper's map, lowercase, grouped by name.
            None => parts
                .headers
                .iter()
                .map(|(name, value)| Header::new(name.as_str(), Bytes::copy_from_slice(value.as_bytes())))
                .collect(),
        };
        let (path, query, authority) = target_of(&parts.method, &parts.uri);
        if let Some(authority) = authority {
            headers.insert(0, Header::new(":authority", authority));
        }
        let (status, body, note) = match self.read_body(&parts.headers, body, deadline).await {
            BodyOutcome::Complete(body) => (self.config.status, body, None),
            BodyOutcome::TooLarge(note) => (StatusCode::PAYLOAD_TOO_LARGE, Bytes::new(), Some(note)),
            BodyOutcome::Stalled(kept, received) => {
                let note = format!(
                    "body stalled: not complete within --read-timeout {:?} of the head's first \
                     byte; {}",
                    self.config.read_timeout,
                    kept_text(kept.len(), received)
                );
                (StatusCode::REQUEST_TIMEOUT, kept, Some(note))
            }
            BodyOutcome::Broken(err, kept, received) => {
                let note = format!(
                    "body could not be read: {}; {}",
                    error_chain(&err),
                    kept_text(kept.len(), received)
                );
                (StatusCode::BAD_REQUEST, kept, Some(note))
            }
        };
        let capture = Capture {
            id,
            received_at,
            remote_addr: remote.to_owned(),
            via: Via::Direct,
            method: parts.method.as_str().to_owned(),
            path,
            query,
            version: version_text(parts.version),
            headers,
            body,
            status: status.as_u16(),
            note: note.clone(),
            derived: Derived::default(),
        };
        // Registered before the capture is journaled, so the app's answer cannot come first.
        let waiter = self.config.routes.as_ref().and_then(|routes| routes.expect(id));
        // A route decides what the sender hears once the capture is analyzed, before it is
        // journaled, so the journal's `status` is what the sender heard (or, for the app's own
        // answer, a note says so).
        let routes = self
            .config
            .routes
            .as_deref()
            .filter(|_| status == self.config.status);
        let handshakes = self
            .config
            .handshakes
            .as_deref()
            .filter(|_| status == self.config.status);
        let recorded = self
            .hub
            .record_with(capture, |capture| {
                // A handshake is answered for the user before any route decides, and the
                // capture says so (the forwarder leaves it alone: its sender has its answer).
                if let Some(handshake) = handshakes.and_then(|h| h.answer(capture)) {
                    return Some(handshake_plan(capture, handshake));
                }
                let plan = routes.and_then(|routes| routes.plan(capture));
                match plan.as_ref().map(|plan| (plan.status(), plan)) {
                    Some((Some(status), _)) => capture.status = status,
                    Some((None, crate::routes::Plan::App { timeout, fallback })) => {
                        capture.note.get_or_insert_with(|| {
                            format!(
                                "answered with the app's own response, or {} after {}",
                                fallback.status.as_u16(),
                                crate::units::format_duration(*timeout)
                            )
                        });
                    }
                    _ => {}
                }
                plan
            })
            .await;
        match recorded {
            // A route's answer too comes only once the capture is journaled.
            Ok((_, Some(plan))) => plan.carry_out(waiter).await,
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

    /// Reads the whole body, within the size limit and before `deadline`.
    async fn read_body(
        &self,
        headers: &hyper::HeaderMap,
        mut body: Incoming,
        deadline: Instant,
    ) -> BodyOutcome {
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
        // Room grows with what arrives (doubling), never ahead of it: a client that declares
        // 10 MiB and trickles must not make us hold 10 MiB, or even 64 KiB, per connection.
        let mut chunks = BytesMut::new();
        let mut received: u64 = 0;
        // What arrived of a body that did not finish, unless it was already past the limit.
        let kept = |chunks: BytesMut, received: u64| match received > max {
            true => Bytes::new(),
            false => chunks.freeze(),
        };
        loop {
            let frame = match tokio::time::timeout_at(deadline.into(), body.frame()).await {
                Err(_) => return BodyOutcome::Stalled(kept(chunks, received), received),
                Ok(None) => break,
                Ok(Some(Err(err))) => return BodyOutcome::Broken(err, kept(chunks, received), received),
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

/// Marks `capture` with `handshake` (its status, provider and event type where analysis found
/// none, and what was answered), and plans its answer: at once, whatever a route says.
fn handshake_plan(capture: &mut Capture, handshake: crate::handshake::Handshake) -> crate::routes::Plan {
    capture.status = handshake.reply.status.as_u16();
    let derived = &mut capture.derived;
    derived
        .provider
        .get_or_insert_with(|| handshake.provider.to_owned());
    derived
        .event_type
        .get_or_insert_with(|| handshake.event_type.to_owned());
    if !handshake.reply.status.is_success() {
        tracing::warn!(id = %capture.id, "{}", handshake.what);
    }
    derived.handshake = Some(handshake.what);
    crate::routes::Plan::Reply {
        reply: handshake.reply,
        wait: false,
    }
}

/// Path, query and authority of a request target as a capture keeps them. A CONNECT's target
/// (`host:port`) is its path. An absolute-form target (`POST http://host/p?q`) and HTTP/2's
/// `:authority` keep the authority apart, for a `:authority` header entry, so that path and
/// query read as for any other request.
fn target_of(method: &Method, uri: &Uri) -> (String, Option<String>, Option<String>) {
    let authority = uri.authority().map(|a| a.as_str().to_owned());
    match (method == Method::CONNECT, uri.path_and_query()) {
        (true, None) => (authority.unwrap_or_default(), None, None),
        _ => (uri.path().to_owned(), uri.query().map(str::to_owned), authority),
    }
}

/// `kept the 10 bytes that arrived` or `kept none of the 20 bytes that arrived (over --max-body)`.
fn kept_text(kept: usize, received: u64) -> String {
    match kept as u64 == received {
        true => format!("kept the {received} bytes that arrived"),
        false => format!("kept none of the {received} bytes that arrived (over --max-body)"),
    }
}

/// An error and its causes, `outer: inner`.
fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(err) = cause {
        text.push_str(": ");
        text.push_str(&err.to_string());
        cause = err.source();
    }
    text
}

/// Writes the listener's own last answer on a connection hyper no longer serves, then closes
/// it, reading what the sender still sends for a moment so the answer is not lost to a reset.
async fn last_words<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, status: StatusCode, text: &str) {
    let body = format!("{text}\n");
    let answer = format!(
        "HTTP/1.1 {} {}\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\n\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default(),
        body.len()
    );
    let written = tokio::time::timeout(LAST_WORDS, async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
    if let Ok(Err(err)) = written {
        tracing::debug!(%err, "the last answer could not be written");
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
mod tests;
