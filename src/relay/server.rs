//! The relay's HTTP side: public ingress at `/c/<channel>/...`, the tunnel at
//! `/tunnel/<channel>`, and `/healthz`, all on one hyper server.
//!
//! Ingress queues each request durably in its channel's [`ChannelQueue`] and answers `202`
//! (or, in sync mode, the local app's answer); a full queue is a `503` with `Retry-After`, an
//! oversized body a `413`. The tunnel endpoint checks the bearer token *before* upgrading, so a
//! wrong token is a plain `401` and the connection closes.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONNECTION, CONTENT_LENGTH, HeaderValue, RETRY_AFTER, UPGRADE};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tracing::Instrument as _;

use crate::capture::{CaptureId, Header};
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
    /// Bumped by each new tunnel session so an older one for the same channel steps down.
    pub session: tokio::sync::watch::Sender<u64>,
    /// The highest sequence number delivered to a client. At start the last one queued: an
    /// earlier run may have delivered any of them. A client's resume point beyond it is not
    /// taken as an ack.
    pub delivered: AtomicU64,
    /// The channel's rate limit's state.
    bucket: Mutex<Bucket>,
}

impl Channel {
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
        let channel = Arc::new(Channel {
            name: name.to_owned(),
            delivered: AtomicU64::new(queue.last_seq()),
            queue,
            waiting: Mutex::default(),
            session: tokio::sync::watch::Sender::new(0),
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
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    relay: Arc<Relay>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let tls = relay.config.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let mut connections = JoinSet::new();
    // Hits do not look at the token file; this does, so a removed token stops working (and its
    // sessions end) within about a second.
    let mut token_check = tokio::time::interval(token_file::TICK);
    token_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            _ = token_check.tick() => {
                relay.tokens.refresh();
                continue;
            }
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let (relay, builder, watcher, tls) =
            (relay.clone(), builder.clone(), graceful.watcher(), tls.clone());
        connections.spawn(
            async move {
                // The TLS handshake runs on the connection's task, so a slow client holds up
                // only itself.
                let ended = match tls {
                    None => serve_connection(stream, remote, relay, &builder, watcher).await,
                    Some(tls) => match tokio::time::timeout(HANDSHAKE, tls.accept(stream)).await {
                        Ok(Ok(stream)) => serve_connection(stream, remote, relay, &builder, watcher).await,
                        Ok(Err(err)) => return tracing::debug!(%err, "TLS handshake failed"),
                        Err(_) => return tracing::debug!("TLS handshake timed out"),
                    },
                };
                if let Err(err) = ended {
                    tracing::debug!(%err, "connection ended with an error");
                }
            }
            .instrument(tracing::debug_span!("connection", %remote)),
        );
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
    connections.shutdown().await;
}

/// How long a client gets to complete the TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// How long a sender may take to deliver a request body.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves HTTP on one connection, plain or TLS.
async fn serve_connection<S>(
    stream: S,
    remote: SocketAddr,
    relay: Arc<Relay>,
    builder: &auto::Builder<TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (tap, heads) = Tap::new(stream);
    let service = service_fn(move |request| {
        let (relay, heads) = (relay.clone(), heads.clone());
        async move { Ok::<_, Infallible>(handle(&relay, request, remote, &heads).await) }
    });
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(tap), service);
    watcher.watch(connection.into_owned()).await
}

async fn handle(
    relay: &Arc<Relay>,
    request: Request<Incoming>,
    remote: SocketAddr,
    heads: &Heads,
) -> Response<Full<Bytes>> {
    // Every request's recorded head is taken, whatever the answer: left behind, it would grow
    // the connection's queue and be paired with a later request of the same method and target.
    let head = heads.next();
    let path = request.uri().path().to_owned();
    if path == "/healthz" {
        return plain(StatusCode::OK, "ok");
    }
    if let Some(channel) = path.strip_prefix("/tunnel/") {
        return tunnel(relay, request, channel.to_owned());
    }
    if let Some(rest) = path.strip_prefix("/c/") {
        let (channel, inner) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        if valid_channel(channel) && relay.knows(channel) {
            let (channel, inner) = (channel.to_owned(), inner.to_owned());
            return ingress(relay, request, remote, head, channel, inner).await;
        }
        return plain(StatusCode::NOT_FOUND, "no such channel");
    }
    plain(
        StatusCode::NOT_FOUND,
        "not found: senders post to /c/<channel>/...",
    )
}

/// Checks the token and upgrades to a websocket; the session runs on its own task.
fn tunnel(relay: &Arc<Relay>, mut request: Request<Incoming>, channel: String) -> Response<Full<Bytes>> {
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
    // A sender that stalls mid-body is cut off, as `listen` does, rather than holding its
    // buffered body (up to --max-body) for ever.
    let collect = Limited::new(body, usize::try_from(max).unwrap_or(usize::MAX)).collect();
    let body = match tokio::time::timeout(BODY_TIMEOUT, collect).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(err)) if err.is::<http_body_util::LengthLimitError>() => return too_large(),
        Ok(Err(err)) => return plain(StatusCode::BAD_REQUEST, &format!("body could not be read: {err}")),
        Err(_) => return plain(StatusCode::REQUEST_TIMEOUT, "the body took too long to arrive"),
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
