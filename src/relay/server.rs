//! The relay's HTTP side: public ingress at `/c/<channel>/...`, the tunnel at
//! `/tunnel/<channel>`, and `/healthz`, all on one hyper server.
//!
//! Ingress queues each request durably in its channel's [`ChannelQueue`] and answers `202`
//! (or, in sync mode, the local app's answer); a full queue is a `503` with `Retry-After`, an
//! oversized body a `413`. The tunnel endpoint checks the bearer token *before* upgrading, so a
//! wrong token is a plain `401` and the connection closes.
//!
//! A channel may be shared by several named clients (a team's laptops), each with its own
//! position ([`crate::relay::clients`]): a [`Channel`] holds their book and one session
//! generation per name, and a tick forgets the clients not seen for `--client-ttl`.
//!
//! Connections are capped, watched and shed by [`connections`]: a request must arrive whole
//! within `--read-timeout` of its first byte (`408`), an idle one is closed after
//! `--idle-timeout`, and at the cap the longest idle one makes room; tunnels are never shed.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONNECTION, CONTENT_LENGTH, HeaderValue, RETRY_AFTER, UPGRADE};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tracing::Instrument as _;

use crate::capture::{CaptureId, Header};
use crate::limits::{self, AcceptErrors};
use crate::relay::clients::ClientBook;
use crate::relay::connections::{Conn, Connections, Cut, Timeouts, Watched};
use crate::relay::protocol::WireRequest;
use crate::relay::queue::{ChannelQueue, PushError};
use crate::relay::token::{Token, valid_channel};
use crate::relay::token_file::{self, TokenFile};
use crate::relay::{private, session};
use crate::server::plain;
use crate::tap::{Heads, RawHead, Tap};

/// How the relay answers the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Respond {
    /// `202 Accepted` as soon as the request is queued on disk.
    Async,
    /// The local app's own answer, relayed through the client, or `504` after `--sync-timeout`.
    Sync,
}

/// The relay's settings.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Where channel queues live.
    pub data_dir: PathBuf,
    /// The token file (hashes only).
    pub tokens: PathBuf,
    /// The most undelivered requests one channel holds.
    pub queue_limit: usize,
    /// The most undelivered body bytes one channel holds.
    pub queue_bytes: u64,
    /// The largest body accepted.
    pub max_body: u64,
    /// How senders are answered.
    pub respond: Respond,
    /// How long a sync sender waits for the local app.
    pub sync_timeout: Duration,
    /// How often each side of the tunnel proves it is alive.
    pub heartbeat: Duration,
    /// Requests per second one channel accepts (bursts up to as many); 0: no limit.
    pub rate_limit: u32,
    /// Take the sender's address from `X-Forwarded-For` (behind a reverse proxy only).
    pub trust_proxy: bool,
    /// Serve HTTPS with this certificate and key; plain HTTP when `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// How long a request may take to arrive, and a connection sit idle.
    pub timeouts: Timeouts,
    /// The most connections open at once, tunnels included.
    pub max_connections: usize,
    /// A client not seen for this long is forgotten: it no longer holds the channel's queue.
    pub client_ttl: Duration,
}

/// A token bucket: refills `rate` per second, holds at most `rate`.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: std::time::Instant,
}

impl Bucket {
    /// Takes a token if there is one; `false` means over the limit.
    fn take(&mut self, rate: u32) -> bool {
        let now = std::time::Instant::now();
        let rate = f64::from(rate);
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * rate).min(rate);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return true;
        }
        false
    }
}

/// A response the client relayed from the local app.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: u16,
    /// The headers.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Bytes,
}

/// One channel: its queue and the senders waiting for a sync reply.
pub struct Channel {
    /// The name.
    pub name: String,
    /// Requests not yet acknowledged.
    pub queue: ChannelQueue,
    /// Sync senders waiting, by request id (known before the request is queued, so a reply
    /// can never arrive before its waiter).
    pub waiting: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
    /// The clients sharing the channel, each with its position ([`ClientBook`]).
    pub clients: Mutex<ClientBook>,
    /// Per client name, bumped by each new session of that name so an older one steps down.
    sessions: Mutex<HashMap<String, watch::Sender<u64>>>,
    /// The channel's rate limit's state.
    bucket: Mutex<Bucket>,
}

impl Channel {
    /// The clients' book, locked.
    pub fn book(&self) -> MutexGuard<'_, ClientBook> {
        // Positions only ever rise; a panic elsewhere leaves nothing half-changed worth refusing.
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new session of client `name` takes over from any older one of that name; returns the
    /// generation to watch and this session's own.
    pub fn take_over(&self, name: &str) -> (watch::Receiver<u64>, u64) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        // Names with no session left are dropped, so the map stays the size of what is open.
        sessions.retain(|_, generation| generation.receiver_count() > 0);
        let generation = sessions
            .entry(name.to_owned())
            .or_insert_with(|| watch::Sender::new(0));
        let mut watching = generation.subscribe();
        let mut mine = 0;
        generation.send_modify(|g| {
            *g += 1;
            mine = *g;
        });
        watching.mark_unchanged();
        (watching, mine)
    }

    /// Moves the queue's floor to `floor` (every known client has everything up to it); once
    /// nothing is left pending, the queue file is emptied on a blocking task, so its syncs hold
    /// up no session.
    pub fn settle(self: &Arc<Self>, floor: Option<u64>) -> std::io::Result<()> {
        let Some(floor) = floor else {
            return Ok(()); // no known client: everything waits for the next one
        };
        if self.queue.ack(floor)? {
            let channel = self.clone();
            tokio::task::spawn_blocking(move || {
                if let Err(err) = channel.queue.compact() {
                    tracing::warn!(%err, channel = %channel.name, "cannot empty the queue file");
                }
            });
        }
        Ok(())
    }

    /// Hands a relayed reply to the sender waiting for it, if it still waits.
    pub fn reply(&self, id: &str, reply: Reply) {
        let waiter = self.waiting.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        if let Some(waiter) = waiter {
            let _ = waiter.send(reply);
        }
    }
}

/// Everything the connection tasks share.
pub struct Relay {
    config: RelayConfig,
    tokens: TokenFile,
    channels: Mutex<HashMap<String, Arc<Channel>>>,
}

impl Relay {
    /// A relay with `config`; opens the queue of every channel found in the data directory.
    /// The directory is made private (`0700`), and so is the token file (`0600`).
    pub fn open(config: RelayConfig) -> anyhow::Result<Arc<Self>> {
        use anyhow::Context as _;
        private::create_dir(&config.data_dir)
            .with_context(|| format!("cannot create the data directory {}", config.data_dir.display()))?;
        private::tighten(&config.data_dir);
        private::tighten(&config.tokens);
        let tokens = TokenFile::open(&config.tokens)
            .with_context(|| format!("cannot read the token file {}", config.tokens.display()))?;
        let relay = Arc::new(Self {
            config,
            tokens,
            channels: Mutex::default(),
        });
        let entries = std::fs::read_dir(&relay.config.data_dir).context("cannot list the data directory")?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(channel) = name.strip_suffix(".queue").filter(|c| valid_channel(c)) {
                let channel = relay.channel(channel)?;
                tracing::info!(channel = %channel.name, pending = channel.queue.len(), "queue reopened");
            }
        }
        Ok(relay)
    }

    /// The channel named `name`, its queue opened on first use.
    fn channel(&self, name: &str) -> std::io::Result<Arc<Channel>> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(channel) = channels.get(name) {
            return Ok(channel.clone());
        }
        let queue = ChannelQueue::open(&self.config.data_dir, name, self.config.queue_limit)?
            .with_byte_limit(self.config.queue_bytes);
        let clients = ClientBook::open(&self.config.data_dir, name, queue.acked(), queue.last_seq())?;
        let channel = Arc::new(Channel {
            name: name.to_owned(),
            queue,
            clients: Mutex::new(clients),
            waiting: Mutex::default(),
            sessions: Mutex::default(),
            bucket: Mutex::new(Bucket {
                tokens: f64::from(self.config.rate_limit),
                last: std::time::Instant::now(),
            }),
        });
        channels.insert(name.to_owned(), channel.clone());
        Ok(channel)
    }

    /// Whether `token` grants `channel` (a miss looks at the token file first).
    fn grants(&self, channel: &str, token: &Token) -> bool {
        self.tokens.grants(channel, token)
    }

    /// Whether any token grants `channel` (ingress to other channels is refused).
    fn knows(&self, channel: &str) -> bool {
        self.tokens.knows(channel)
    }

    /// Forgets the clients not seen for `--client-ttl`, in every channel, and lets the queues
    /// go of what only they held.
    fn expire_clients(&self) {
        let channels: Vec<Arc<Channel>> = self
            .channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        for channel in channels {
            let expired = {
                let mut book = channel.book();
                book.expire(Utc::now(), self.config.client_ttl)
                    .map(|forgotten| (forgotten, book.floor()))
            };
            match expired {
                Ok((forgotten, floor)) if !forgotten.is_empty() => {
                    for name in &forgotten {
                        tracing::info!(
                            channel = %channel.name,
                            client = %name,
                            ttl = %crate::units::format_duration(self.config.client_ttl),
                            "client not seen for --client-ttl; forgotten, it no longer holds the queue"
                        );
                    }
                    if let Err(err) = channel.settle(floor) {
                        tracing::warn!(%err, channel = %channel.name, "cannot record the queue's new floor");
                    }
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(%err, channel = %channel.name, "cannot write the clients file"),
            }
        }
    }
}

/// How often clients are looked at for `--client-ttl`: a quarter of it, within 100 ms and a
/// minute.
fn expiry_tick(ttl: Duration) -> Duration {
    (ttl / 4).clamp(Duration::from_millis(100), Duration::from_secs(60))
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    relay: Arc<Relay>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // No header timeout of hyper's: it also runs while a keep-alive connection waits for its
    // next request, cutting it without a word; each connection's watchdog keeps both deadlines.
    builder.http1().timer(TokioTimer::new()).header_read_timeout(None);
    builder.http2().timer(TokioTimer::new());
    let tls = relay.config.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let connections = Connections::new(relay.config.max_connections);
    let (stop, stopping) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut errors = AcceptErrors::default();
    // Hits do not look at the token file; this does, so a removed token stops working (and its
    // sessions end) within about a second.
    let tokens = {
        let relay = relay.clone();
        tokio::spawn(async move {
            let mut check = tokio::time::interval(token_file::TICK);
            check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                check.tick().await;
                relay.tokens.refresh();
            }
        })
    };
    let expiry = {
        let relay = relay.clone();
        tokio::spawn(async move {
            let mut check = tokio::time::interval(expiry_tick(relay.config.client_ttl));
            check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                check.tick().await;
                relay.expire_clients();
            }
        })
    };
    tokio::pin!(shutdown);
    loop {
        let room = tokio::select! {
            room = connections.room() => room,
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
                    connections.shed_longest_idle();
                }
                drop(room);
                tokio::select! {
                    () = tokio::time::sleep(pause) => continue,
                    () = &mut shutdown => break,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let registered = connections.opened(room);
        let (relay, builder, tls, stopping) = (relay.clone(), builder.clone(), tls.clone(), stopping.clone());
        tasks.spawn(
            async move {
                let conn = registered.conn.clone();
                connection(stream, remote, relay, &builder, tls, conn, stopping).await;
                drop(registered);
            }
            .instrument(tracing::debug_span!("connection", %remote)),
        );
    }
    drop(listener);
    tokens.abort();
    expiry.abort();
    // In-flight requests get a few seconds to finish; idle connections close at once.
    let _ = stop.send(true);
    let drained = tokio::time::timeout(Duration::from_secs(5), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = tasks.len(),
            "connections still open after the grace period; closing them"
        );
    }
    tasks.shutdown().await;
}

/// How long a client gets to complete the TLS handshake (at most --read-timeout).
const HANDSHAKE: Duration = Duration::from_secs(10);
/// How long the relay's own last answer on a connection it closes may take to write, and an
/// idle connection asked to close may take to do so.
const LAST_WORDS: Duration = Duration::from_secs(1);
/// How long in-flight requests get when the relay stops.
const GRACE: Duration = Duration::from_secs(5);

/// One accepted connection: the TLS handshake if any, then HTTP until it ends or is cut.
async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    relay: Arc<Relay>,
    builder: &auto::Builder<TokioExecutor>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    conn: Arc<Conn>,
    stopping: watch::Receiver<bool>,
) {
    let timeouts = relay.config.timeouts;
    let Some(tls) = tls else {
        return serve_connection(stream, remote, relay, builder, conn, stopping).await;
    };
    // The handshake runs on the connection's task, so a slow client holds up only itself; a
    // connection shed or idle meanwhile is given up on.
    let handshake = tokio::time::timeout(HANDSHAKE.min(timeouts.read), tls.accept(stream));
    tokio::select! {
        shaken = handshake => match shaken {
            Ok(Ok(stream)) => serve_connection(stream, remote, relay, builder, conn, stopping).await,
            Ok(Err(err)) => tracing::debug!(%err, "TLS handshake failed"),
            Err(_) => tracing::debug!("TLS handshake timed out"),
        },
        cut = conn.watch(timeouts) => tracing::debug!(?cut, "closed during the TLS handshake"),
    }
}

/// How serving a connection ended.
enum Ended {
    /// hyper is done with it (closed, upgraded, or an error).
    Done(Result<(), Box<dyn std::error::Error + Send + Sync>>),
    /// A head not complete within --read-timeout: hyper is dropped and the relay answers.
    Stalled,
}

/// Serves HTTP on one connection, plain or TLS, until it ends, its watchdog cuts it, or the
/// relay stops.
async fn serve_connection<S>(
    stream: S,
    remote: SocketAddr,
    relay: Arc<Relay>,
    builder: &auto::Builder<TokioExecutor>,
    conn: Arc<Conn>,
    mut stopping: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let timeouts = relay.config.timeouts;
    let (watched, handed_back) = Watched::new(stream, conn.clone());
    let (tap, heads) = Tap::new(watched);
    let service = {
        let conn = conn.clone();
        service_fn(move |request| {
            let (relay, heads, conn) = (relay.clone(), heads.clone(), conn.clone());
            async move { Ok::<_, Infallible>(handle(&relay, request, remote, &heads, &conn).await) }
        })
    };
    let mut connection = Box::pin(builder.serve_connection_with_upgrades(TokioIo::new(tap), service));
    // Asked to close (idle, shed, or the relay stopping), hyper finishes what is in flight and
    // closes; one that takes longer than it was given is dropped.
    let mut closing: Option<tokio::time::Instant> = None;
    let ended = loop {
        let given_up = async {
            match closing {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ended = connection.as_mut() => break Ended::Done(ended),
            _ = stopping.changed(), if closing.is_none() => {
                connection.as_mut().graceful_shutdown();
                closing = Some(tokio::time::Instant::now() + GRACE);
            }
            cut = conn.watch(timeouts), if closing.is_none() => match cut {
                Cut::Idle | Cut::Shed => {
                    tracing::debug!(?cut, "closing an idle connection");
                    connection.as_mut().graceful_shutdown();
                    closing = Some(tokio::time::Instant::now() + LAST_WORDS);
                }
                Cut::HeadStalled => break Ended::Stalled,
            },
            () = given_up => break Ended::Done(Ok(())),
        }
    };
    match ended {
        Ended::Done(Ok(())) => {}
        Ended::Done(Err(err)) => tracing::debug!(%err, "connection ended with an error"),
        Ended::Stalled => {
            // Nothing was handed to the service: dropping hyper loses nothing, and gives the
            // stream back for the answer hyper would not write.
            drop(connection);
            let limit = timeouts.read;
            tracing::debug!(?limit, "request not complete in time; answering 408");
            if let Ok(stream) = handed_back.await
                && !conn.is_http2()
            {
                let text = format!("the request did not arrive within {limit:?} of its first byte");
                last_words(stream, StatusCode::REQUEST_TIMEOUT, &text).await;
            }
        }
    }
}

/// Writes a whole response by hand and closes, within [`LAST_WORDS`].
async fn last_words<S: AsyncWrite + Unpin>(mut stream: S, status: StatusCode, text: &str) {
    let response = format!(
        "HTTP/1.1 {} {}\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\n\r\n{text}\n",
        status.as_str(),
        status.canonical_reason().unwrap_or_default(),
        text.len() + 1
    );
    let written = tokio::time::timeout(LAST_WORDS, async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
    if let Ok(Err(err)) = written {
        tracing::debug!(%err, "the last answer could not be written");
    }
}

async fn handle(
    relay: &Arc<Relay>,
    request: Request<Incoming>,
    remote: SocketAddr,
    heads: &Heads,
    conn: &Arc<Conn>,
) -> Response<Full<Bytes>> {
    // Busy (never idle, never shed) until the answer is handed over; the body must be in by
    // --read-timeout after the head's first byte.
    let (_serving, started) = conn.begin();
    let deadline = started + relay.config.timeouts.read;
    // Every request's recorded head is taken, whatever the answer: left behind, it would grow
    // the connection's queue and be paired with a later request of the same method and target.
    let head = heads.next();
    let path = request.uri().path().to_owned();
    if path == "/healthz" {
        return plain(StatusCode::OK, "ok");
    }
    if let Some(channel) = path.strip_prefix("/tunnel/") {
        return tunnel(relay, request, channel.to_owned(), conn);
    }
    if let Some(rest) = path.strip_prefix("/c/") {
        let (channel, inner) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        if valid_channel(channel) && relay.knows(channel) {
            let (channel, inner) = (channel.to_owned(), inner.to_owned());
            return ingress(relay, request, remote, head, channel, inner, deadline).await;
        }
        return plain(StatusCode::NOT_FOUND, "no such channel");
    }
    plain(
        StatusCode::NOT_FOUND,
        "not found: senders post to /c/<channel>/...",
    )
}

/// Checks the token and upgrades to a websocket; the session runs on its own task.
fn tunnel(
    relay: &Arc<Relay>,
    mut request: Request<Incoming>,
    channel: String,
    conn: &Conn,
) -> Response<Full<Bytes>> {
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| Token::new(t.trim()));
    let granted = valid_channel(&channel) && token.as_ref().is_some_and(|t| relay.grants(&channel, t));
    if !granted {
        // The channel is the sender's text: logged as the terminal may show it.
        tracing::warn!(channel = %crate::sanitize::line(&channel), "tunnel refused: missing or wrong token");
        let mut response = plain(
            StatusCode::UNAUTHORIZED,
            "missing or wrong token for this channel",
        );
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    let key = request
        .headers()
        .get("sec-websocket-key")
        .map(|k| derive_accept_key(k.as_bytes()));
    let is_websocket = request
        .headers()
        .get(UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let Some(accept) = key.filter(|_| is_websocket) else {
        return plain(StatusCode::BAD_REQUEST, "the tunnel is a websocket");
    };
    let channel = match relay.channel(&channel) {
        Ok(channel) => channel,
        Err(err) => {
            tracing::error!(%err, %channel, "cannot open the channel's queue");
            return plain(StatusCode::SERVICE_UNAVAILABLE, "cannot open the channel's queue");
        }
    };
    let upgrade = hyper::upgrade::on(&mut request);
    // From here it is a tunnel: never idle, never shed, and it keeps its place among the
    // connections until the session ends.
    let place = conn.upgrade();
    let access = session::Access {
        token: token.unwrap_or_else(|| Token::new("")),
        tokens: relay.tokens.subscribe(),
    };
    let heartbeat = relay.config.heartbeat;
    let reply = relay.config.respond == Respond::Sync;
    let span = tracing::info_span!("tunnel", channel = %channel.name);
    tokio::spawn(
        async move {
            match upgrade.await {
                Ok(upgraded) => {
                    let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                        TokioIo::new(upgraded),
                        Role::Server,
                        None,
                    )
                    .await;
                    if let Err(err) = session::serve(ws, channel, heartbeat, reply, access).await {
                        tracing::info!(err = %format!("{err:#}"), "tunnel session ended");
                    }
                    drop(place);
                }
                Err(err) => tracing::warn!(%err, "websocket upgrade failed"),
            }
        }
        .instrument(span),
    );
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert("sec-websocket-accept", accept);
    }
    response
}

/// Queues a sender's request durably, then answers it.
async fn ingress(
    relay: &Arc<Relay>,
    request: Request<Incoming>,
    remote: SocketAddr,
    head: Option<RawHead>,
    channel: String,
    path: String,
    deadline: tokio::time::Instant,
) -> Response<Full<Bytes>> {
    let received_at = Utc::now();
    let channel = match relay.channel(&channel) {
        Ok(channel) => channel,
        Err(err) => {
            tracing::error!(%err, %channel, "cannot open the channel's queue");
            return plain(StatusCode::SERVICE_UNAVAILABLE, "cannot open the channel's queue");
        }
    };
    let rate = relay.config.rate_limit;
    if rate > 0
        && !channel
            .bucket
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(rate)
    {
        tracing::warn!(channel = %channel.name, rate, "rate limit; answering 429");
        let mut response = plain(
            StatusCode::TOO_MANY_REQUESTS,
            "over the channel's rate limit; retry later",
        );
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    }
    let (parts, body) = request.into_parts();
    let raw = head.filter(|head| head.method == parts.method.as_str() && parts.uri == *head.target.as_str());
    let headers: Vec<(String, Vec<u8>)> = match raw {
        Some(head) => head
            .headers
            .into_iter()
            .map(|Header { name, value }| (name, value.to_vec()))
            .collect(),
        None => parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect(),
    };
    let max = relay.config.max_body;
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let too_large = || {
        plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("body exceeds {max} bytes"),
        )
    };
    if declared.is_some_and(|size| size > max) {
        return too_large();
    }
    // A sender that stalls mid-body is answered 408 once --read-timeout has passed since its
    // head's first byte, rather than holding its buffered body (up to --max-body) for ever.
    let collect = Limited::new(body, usize::try_from(max).unwrap_or(usize::MAX)).collect();
    let body = match tokio::time::timeout_at(deadline, collect).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(err)) if err.is::<http_body_util::LengthLimitError>() => return too_large(),
        Ok(Err(err)) => return plain(StatusCode::BAD_REQUEST, &format!("body could not be read: {err}")),
        Err(_) => {
            let limit = relay.config.timeouts.read;
            let text = format!("the request did not arrive within {limit:?} of its first byte");
            let mut response = plain(StatusCode::REQUEST_TIMEOUT, &text);
            // The rest of a stalled body is not waited for on this connection.
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            return response;
        }
    };
    let id = CaptureId::generate().to_string();
    let wire = WireRequest {
        id: id.clone(),
        received_at,
        remote_addr: sender_address(&parts.headers, remote, relay.config.trust_proxy),
        method: parts.method.as_str().to_owned(),
        path,
        query: parts.uri.query().map(str::to_owned),
        version: format!("{:?}", parts.version),
        headers,
    };
    let sync = relay.config.respond == Respond::Sync;
    let (reply_tx, reply_rx) = oneshot::channel();
    if sync {
        channel
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), reply_tx);
    }
    let pusher = channel.clone();
    let pushed = tokio::task::spawn_blocking(move || {
        let seq = pusher.queue.push(wire, body)?;
        Ok::<_, PushError>(seq)
    })
    .await;
    let forget = || {
        channel
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id)
    };
    match pushed {
        Ok(Ok(_seq)) => {}
        Ok(Err(full @ (PushError::Full(_) | PushError::FullBytes(_)))) => {
            forget();
            tracing::warn!(channel = %channel.name, %full, "queue full; answering 503");
            let mut response = plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the channel's queue is full; retry later",
            );
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("5"));
            return response;
        }
        Ok(Err(err)) => {
            forget();
            tracing::error!(%err, channel = %channel.name, "request not queued");
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the relay could not store this request",
            );
        }
        Err(err) => {
            forget();
            tracing::error!(%err, "the queueing task failed");
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the relay could not store this request",
            );
        }
    }
    if !sync {
        return plain(StatusCode::ACCEPTED, "queued");
    }
    let answered = tokio::time::timeout(relay.config.sync_timeout, reply_rx).await;
    forget();
    match answered {
        Ok(Ok(reply)) => {
            let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut response = Response::new(Full::new(reply.body));
            *response.status_mut() = status;
            for (name, value) in reply.headers {
                let hop_by_hop = ["connection", "transfer-encoding", "content-length", "keep-alive"]
                    .iter()
                    .any(|h| name.eq_ignore_ascii_case(h));
                if hop_by_hop {
                    continue;
                }
                if let (Ok(name), Ok(value)) = (
                    hyper::header::HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_bytes(&value),
                ) {
                    response.headers_mut().append(name, value);
                }
            }
            response
        }
        _ => plain(
            StatusCode::GATEWAY_TIMEOUT,
            "queued, but the local app did not answer within --sync-timeout",
        ),
    }
}

/// The sender's address: the peer's, or behind a trusted proxy the last `X-Forwarded-For` hop.
/// The proxy appends the address it took the request from; every hop before it is whatever the
/// sender wrote, so the first one can be anything. Spoofable without a proxy, hence only with
/// `--trust-proxy`. (Behind two proxies the last hop is the outer proxy's address.)
fn sender_address(headers: &hyper::HeaderMap, remote: SocketAddr, trust_proxy: bool) -> String {
    let forwarded = trust_proxy
        .then(|| headers.get_all("x-forwarded-for").iter().next_back())
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(str::trim)
        .filter(|v| v.parse::<std::net::IpAddr>().is_ok());
    match forwarded {
        Some(ip) => ip.to_owned(),
        None => remote.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let mut bucket = Bucket {
            tokens: 3.0,
            last: std::time::Instant::now(),
        };
        assert!((0..3).all(|_| bucket.take(3)));
        assert!(!bucket.take(3));
        bucket.last -= Duration::from_secs(1);
        assert!((0..3).all(|_| bucket.take(3)));
        assert!(!bucket.take(3));
    }

    #[test]
    fn forwarded_addresses_are_used_only_when_trusted() {
        let mut headers = hyper::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.7, 10.0.0.1"),
        );
        let peer: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        // The proxy appended 10.0.0.1; the sender wrote 203.0.113.7 itself.
        assert_eq!(sender_address(&headers, peer, true), "10.0.0.1");
        assert_eq!(sender_address(&headers, peer, false), "127.0.0.1:5000");
        headers.append("x-forwarded-for", HeaderValue::from_static("198.51.100.2"));
        assert_eq!(
            sender_address(&headers, peer, true),
            "198.51.100.2",
            "the last header line"
        );
        headers.insert("x-forwarded-for", HeaderValue::from_static("not an ip"));
        assert_eq!(sender_address(&headers, peer, true), "127.0.0.1:5000");
    }
}
