//! The tunnel client behind `listen --relay`: receives a channel's requests and records them.
//!
//! Each delivery becomes a [`Capture`] with `via: relay:<channel>` and goes through
//! [`Hub::record`] like a direct request (verified, journaled, shown, forwarded). Only once
//! `record` returns — the capture is in the journal — is it acknowledged. The relay resends
//! whatever was not acknowledged, so the client drops any delivery it has seen before: by
//! sequence number within a run, and by capture id (the relay assigns it) across restarts, the
//! ids being read back from the journal. At-least-once on the wire, exactly once in the journal.
//! Deliveries that arrive together are journaled with one write ([`Hub::record_all`]), in
//! sequence order, and acknowledged with one cumulative ack.
//!
//! A lost connection is retried with exponential backoff and jitter ([`Backoff`]); the backoff
//! starts over once a connection has stayed up for a healthy period. What a quick retry cannot
//! mend — a refused token (`401`), a tunnel the relay closed because the token was revoked, a
//! relay certificate this client does not trust — is retried slowly, every `max_backoff` (the
//! token may be granted again, the certificate replaced), and its state is shown once, not once
//! per try. The reason the relay gives in its close frame is shown as the state. The connection
//! itself is made by [`dial`], which keeps the token out of every log.
//!
//! The client has a name on the channel (`--client-name`, by default the host name): teammates'
//! laptops share a channel, each name receiving every request once. When another session of
//! the same name takes over, the relay says so ([`protocol::TAKEN_OVER`]); the client shows it
//! and stops trying ([`TunnelState::Displaced`]), so two laptops given one name do not take the
//! channel from each other in turn.

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use rand::Rng as _;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::capture::{Capture, CaptureId, Derived, Header, Outcome, Via};
use crate::hub::{Hub, HubEvent};
use crate::relay::clients::{self, DEFAULT_NAME};
use crate::relay::dial::{self, DialError};
use crate::relay::protocol::{self, ClientMessage, ServerMessage, WireRequest};
use crate::relay::token::Token;

/// Where and how the client connects.
#[derive(Debug, Clone)]
pub struct TunnelConfig {
    /// The relay's base URL (`https://relay.example.com`, `ws://127.0.0.1:7000`).
    pub relay: String,
    /// The channel to receive.
    pub channel: String,
    /// This client's name on the channel ([`crate::relay::clients::check_name`]).
    pub client_name: String,
    /// Whether that name is the host name (no `--client-name`): two laptops of one host name
    /// (`ubuntu`, `localhost.localdomain`) collide, and a takeover says so.
    pub named_by_host: bool,
    /// The channel's token.
    pub token: Token,
    /// How often to prove the connection alive; silence for three times this drops it.
    pub heartbeat: Duration,
    /// The first reconnect delay; it doubles up to `max_backoff`.
    pub min_backoff: Duration,
    /// The longest reconnect delay.
    pub max_backoff: Duration,
    /// A connection up this long resets the backoff.
    pub healthy_after: Duration,
    /// How sync-mode deliveries are answered.
    pub answer: Answer,
    /// An extra CA certificate (PEM) to trust for `https://` / `wss://` relays.
    pub ca: Option<std::path::PathBuf>,
}

/// How a delivery the sender waits on (`relay --respond sync`) is answered.
#[derive(Debug, Clone)]
pub enum Answer {
    /// With this fixed response (listen's own `--respond-*`), once journaled.
    Fixed {
        /// Status.
        status: u16,
        /// Headers.
        headers: Vec<(String, Vec<u8>)>,
        /// Body.
        body: Bytes,
    },
    /// With the local app's response to the first forwarding attempt.
    Forwarded,
}

/// The tunnel's state, shown in the status bar and on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelState {
    /// Dialing the relay.
    Connecting,
    /// Receiving.
    Connected,
    /// Receiving, after the relay let go of requests this client will never receive: it was
    /// forgotten (not seen for the relay's `--client-ttl`) while they were queued.
    ConnectedAfterGap {
        /// How many.
        skipped: u64,
    },
    /// Waiting to dial again after a failure.
    Reconnecting {
        /// How long until the next try.
        after: Duration,
        /// What went wrong.
        reason: String,
    },
    /// The relay refused the token (still retried, slowly: the token may be added later).
    Unauthorized,
    /// The relay closed the tunnel for a reason that a quick retry would not change (the token
    /// was revoked); retried slowly all the same.
    Refused {
        /// The relay's reason, from its close frame, made safe to print.
        reason: String,
        /// How long until the next try.
        after: Duration,
    },
    /// Another session of this client's name took the channel over: the client stopped, and
    /// does not try again (it would only take the channel back).
    Displaced {
        /// The relay's words ("another session named NAME took over"), made safe to print.
        reason: String,
        /// This client's name was the host name: most likely another laptop of the same host
        /// name, not this laptop again.
        named_by_host: bool,
    },
    /// The relay's certificate was refused (self-signed, unknown CA, wrong name, expired):
    /// someone has to act, so it is retried slowly.
    Untrusted {
        /// Why, and what to do ([`dial::certificate_advice`]).
        advice: String,
        /// How long until the next try.
        after: Duration,
    },
}

impl TunnelState {
    /// Whether a quick retry would not change it: then the next tries happen under it, and it
    /// is shown once.
    fn lasts(&self) -> bool {
        matches!(
            self,
            TunnelState::Unauthorized
                | TunnelState::Refused { .. }
                | TunnelState::Untrusted { .. }
                | TunnelState::Displaced { .. }
        )
    }
}

impl fmt::Display for TunnelState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TunnelState::Connecting => f.write_str("connecting"),
            TunnelState::Connected => f.write_str("connected"),
            TunnelState::ConnectedAfterGap { skipped } => write!(
                f,
                "connected, but {skipped} request{} queued while this client was forgotten (not \
                 seen for the relay's --client-ttl) will not come",
                if *skipped == 1 { "" } else { "s" }
            ),
            TunnelState::Reconnecting { after, reason } => {
                write!(f, "reconnecting in {:.1}s ({reason})", after.as_secs_f64())
            }
            TunnelState::Unauthorized => f.write_str("unauthorized (wrong token for this channel)"),
            TunnelState::Refused { reason, after } => {
                write!(f, "refused: {reason} (next try in {:.0}s)", after.as_secs_f64())
            }
            TunnelState::Displaced {
                reason,
                named_by_host: false,
            } => write!(
                f,
                "{reason}; not reconnecting (give each laptop its own --client-name, or restart \
                 this listen to take the channel back)"
            ),
            TunnelState::Displaced {
                reason,
                named_by_host: true,
            } => write!(
                f,
                "{reason}; not reconnecting: the client names collided, this one being the host \
                 name, which another laptop (or another listen here) has too; restart this \
                 listen with --client-name and a name of this laptop's own"
            ),
            TunnelState::Untrusted { advice, after } => write!(
                f,
                "certificate refused: {advice} (next try in {:.0}s)",
                after.as_secs_f64()
            ),
        }
    }
}

/// A running client; dropping it does not stop it, [`Tunnel::stop`] does.
pub struct Tunnel {
    /// The current state.
    pub state: watch::Receiver<TunnelState>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Tunnel {
    /// Stops the client; a delivery being journaled finishes first.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(err) = self.task.await {
            tracing::error!(%err, "the tunnel task failed");
        }
    }
}

/// Starts the client. `seen` holds the ids of captures already journaled from this channel.
pub fn spawn(config: TunnelConfig, hub: Hub, seen: HashSet<CaptureId>) -> Tunnel {
    let (state_tx, state) = watch::channel(TunnelState::Connecting);
    let (stop, stopping) = watch::channel(false);
    let task = tokio::spawn(run(config, hub, seen, state_tx, stopping));
    Tunnel { state, stop, task }
}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    /// The relay answered 401.
    #[error("unauthorized")]
    Unauthorized,
    /// The relay closed the tunnel with a policy reason (the token was revoked).
    #[error("{0}")]
    Refused(String),
    /// The relay's certificate was refused; what to do about it.
    #[error("certificate refused: {0}")]
    Certificate(String),
    /// Another session of this client's name took over; the relay's words.
    #[error("{0}")]
    Displaced(String),
    /// Anything else: network, protocol, journal.
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

impl From<DialError> for SessionError {
    fn from(err: DialError) -> Self {
        match err {
            DialError::Unauthorized => SessionError::Unauthorized,
            DialError::Certificate(advice) => SessionError::Certificate(advice),
            DialError::Failed(err) => SessionError::Other(err),
        }
    }
}

struct Progress {
    last_acked: u64,
    seen: HashSet<CaptureId>,
}

async fn run(
    config: TunnelConfig,
    hub: Hub,
    seen: HashSet<CaptureId>,
    state: watch::Sender<TunnelState>,
    mut stopping: watch::Receiver<bool>,
) {
    let mut progress = Progress { last_acked: 0, seen };
    let mut backoff = Backoff::new(config.min_backoff, config.max_backoff);
    loop {
        if !state.borrow().lasts() {
            state.send_replace(TunnelState::Connecting);
        }
        let started = Instant::now();
        let ended = session(&config, &hub, &mut progress, &state, &mut stopping).await;
        if *stopping.borrow() {
            return;
        }
        if started.elapsed() >= config.healthy_after {
            backoff.reset();
        }
        let slowly = config.max_backoff;
        let (next, delay) = match ended {
            Err(SessionError::Displaced(reason)) => {
                tracing::warn!(%reason, "taken over; the tunnel stops");
                state.send_replace(TunnelState::Displaced {
                    reason,
                    named_by_host: config.named_by_host,
                });
                return;
            }
            Err(SessionError::Unauthorized) => (TunnelState::Unauthorized, slowly),
            Err(SessionError::Refused(reason)) => (
                TunnelState::Refused {
                    reason,
                    after: slowly,
                },
                slowly,
            ),
            Err(SessionError::Certificate(advice)) => (
                TunnelState::Untrusted {
                    advice,
                    after: slowly,
                },
                slowly,
            ),
            Err(SessionError::Other(err)) => {
                let delay = backoff.next(jitter_factor());
                let reason = format!("{err:#}");
                (TunnelState::Reconnecting { after: delay, reason }, delay)
            }
            Ok(()) => {
                let delay = backoff.next(jitter_factor());
                let reason = "the relay closed the connection".to_owned();
                (TunnelState::Reconnecting { after: delay, reason }, delay)
            }
        };
        // The same lasting state again is not news: it was shown when it began.
        let changed = state.send_if_modified(|current| {
            let changed = *current != next;
            if changed {
                *current = next.clone();
            }
            changed
        });
        if changed {
            tracing::info!(state = %next, "tunnel down");
        } else {
            tracing::debug!(state = %next, "tunnel still down");
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = until_stopped(&mut stopping) => return,
        }
    }
}

/// Reconnect delays: from `min`, doubling after each failed try up to `max`, each scaled by a
/// jitter factor so clients cut off together do not all come back in the same instant (and
/// never longer than `max`). [`Backoff::reset`] starts over after a healthy connection.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    base: Duration,
}

impl Backoff {
    /// Delays from `min` up to `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self { min, max, base: min }
    }

    /// The delay before the next try, scaled by `factor` (from [`jitter_factor`]); the one after
    /// will be based on twice as long.
    pub fn next(&mut self, factor: f64) -> Duration {
        let delay = self.base.mul_f64(factor).min(self.max);
        self.base = (self.base * 2).min(self.max);
        delay
    }

    /// Starts over from `min`.
    pub fn reset(&mut self) {
        self.base = self.min;
    }
}

/// A random factor in [0.5, 1.5).
pub fn jitter_factor() -> f64 {
    rand::thread_rng().gen_range(0.5..1.5)
}

/// What the relay's close frame means: a clean end, a refusal to retry slowly, or an error.
fn closed(frame: Option<CloseFrame>) -> Result<(), SessionError> {
    let Some(frame) = frame else {
        return Ok(());
    };
    let reason = crate::sanitize::line(&frame.reason).into_owned();
    match frame.code {
        CloseCode::Normal if reason.is_empty() => Ok(()),
        CloseCode::Policy => Err(SessionError::Refused(reason)),
        CloseCode::Library(protocol::TAKEN_OVER) => Err(SessionError::Displaced(reason)),
        code if reason.is_empty() => Err(anyhow::anyhow!("the relay closed the tunnel (code {code})").into()),
        code => Err(anyhow::anyhow!("the relay closed the tunnel: {reason} (code {code})").into()),
    }
}

/// Completes once `stopping` turns true (or its sender is gone).
async fn until_stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|&stop| stop).await;
}

/// This client's name on the channel: `given` (`--client-name`) if valid, else the host name.
/// A given name that is not valid is refused; a host name that is not is made one (its other
/// characters as `-`, cut to the length), and a machine without one is [`DEFAULT_NAME`].
pub fn client_name(given: Option<&str>) -> anyhow::Result<String> {
    if let Some(given) = given {
        clients::check_name(given).map_err(|why| anyhow::anyhow!("--client-name: {why}"))?;
        return Ok(given.to_owned());
    }
    Ok(name_of_host(host_name().as_deref()))
}

/// The line said at start when the client's name is the host name (`given` is `None`).
pub fn host_name_notice(given: Option<&str>, name: &str) -> Option<String> {
    let whence = match name {
        DEFAULT_NAME => "no usable host name, so the default, which a listen from before names has too",
        _ => "the host name",
    };
    given.is_none().then(|| {
        format!(
            "relay client name: {} ({whence}; give each laptop its own with --client-name)",
            crate::sanitize::line(name)
        )
    })
}

/// A valid client name made of `host`.
fn name_of_host(host: Option<&str>) -> String {
    let name: String = host
        .unwrap_or_default()
        .trim()
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                true => c,
                false => '-',
            },
        )
        .take(clients::MAX_NAME)
        .collect();
    let name = name.trim_start_matches(['.', '-']);
    match clients::check_name(name) {
        Ok(()) => name.to_owned(),
        Err(_) => DEFAULT_NAME.to_owned(),
    }
}

/// The machine's host name: the kernel's on Linux, else what `hostname` prints (macOS, BSDs,
/// Windows all have it).
fn host_name() -> Option<String> {
    if let Ok(name) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        return Some(name);
    }
    let output = std::process::Command::new("hostname")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The websocket URL of `channel` on the relay at `base`.
pub fn tunnel_url(base: &str, channel: &str) -> String {
    let base = base.trim_end_matches('/');
    let base = match base.split_once("://") {
        Some(("http", rest)) => format!("ws://{rest}"),
        Some(("https", rest)) => format!("wss://{rest}"),
        _ => base.to_owned(),
    };
    format!("{base}/tunnel/{channel}")
}

/// The most deliveries journaled with one write.
const BATCH: usize = 256;

/// A sync reply to send once the delivery is journaled.
struct PendingReply {
    seq: u64,
    wire_id: String,
    id: CaptureId,
    /// Subscribed before recording, so the forwarder's attempt cannot be missed.
    attempts: Option<tokio::sync::broadcast::Receiver<HubEvent>>,
}

/// Deliveries that arrived together, journaled with one write and acknowledged with one ack.
#[derive(Default)]
struct Batch {
    captures: Vec<Capture>,
    replies: Vec<PendingReply>,
    /// The highest sequence number in it, duplicates included.
    last_seq: u64,
}

/// Runs one connection until it fails or `stopping` turns true.
async fn session(
    config: &TunnelConfig,
    hub: &Hub,
    progress: &mut Progress,
    state: &watch::Sender<TunnelState>,
    stopping: &mut watch::Receiver<bool>,
) -> Result<(), SessionError> {
    // A relay that takes the connection and never answers is given up on like a silent one.
    let url = tunnel_url(&config.relay, &config.channel);
    let connecting = tokio::time::timeout(
        config.heartbeat * 3,
        dial::connect(&url, &config.token, config.ca.as_deref()),
    );
    let mut ws = tokio::select! {
        connected = connecting => match connected {
            Ok(connected) => connected?,
            Err(_) => return Err(anyhow::anyhow!("the relay did not complete the handshake").into()),
        },
        () = until_stopped(stopping) => return Ok(()),
    };
    send(
        &mut ws,
        &ClientMessage::Hello {
            resume_after: progress.last_acked,
            client: Some(config.client_name.clone()),
        },
        b"",
    )
    .await?;
    let (replies_tx, mut replies) = mpsc::unbounded_channel::<(ClientMessage, Bytes)>();
    let mut ticker = tokio::time::interval(config.heartbeat);
    let mut heard = Instant::now();
    let mut welcomed = false;
    loop {
        tokio::select! {
            incoming = ws.next() => {
                heard = Instant::now();
                let mut batch = Batch::default();
                let mut next = Some(incoming);
                // Take every frame already here (up to a batch) before journaling: one write
                // for all of them, in order.
                while let Some(incoming) = next.take() {
                    let (message, body) = match incoming {
                        None => {
                            finish(config, hub, progress, batch, &replies_tx).await?;
                            return Ok(());
                        }
                        Some(Ok(Message::Close(frame))) => {
                            // What came before the close is journaled; its ack cannot be sent.
                            finish(config, hub, progress, batch, &replies_tx).await?;
                            return closed(frame);
                        }
                        Some(Err(err)) => return Err(anyhow::Error::new(err).context("the tunnel broke").into()),
                        Some(Ok(Message::Binary(frame))) => {
                            protocol::decode::<ServerMessage>(frame).context("bad frame from the relay")?
                        }
                        Some(Ok(_)) => (ServerMessage::Heartbeat, Bytes::new()),
                    };
                    match message {
                        ServerMessage::Welcome { resume_after, skipped } => {
                            welcomed = true;

                            if resume_after < progress.last_acked {
                                // The relay's numbering went back (its data directory was
                                // reset): follow it, or its new requests would be dropped as
                                // already seen. Capture ids still catch true duplicates.
                                tracing::warn!(
                                    resume_after,
                                    last_acked = progress.last_acked,
                                    "the relay's sequence went back; resuming from its number"
                                );
                                progress.last_acked = resume_after;
                            }
                            tracing::info!(resume_after, skipped, "tunnel connected");
                            state.send_replace(match skipped {
                                0 => TunnelState::Connected,
                                skipped => TunnelState::ConnectedAfterGap { skipped },
                            });
                        }
                        ServerMessage::Heartbeat => {}
                        ServerMessage::Deliver { seq, reply, request } => {
                            if !welcomed {
                                return Err(anyhow::anyhow!("delivery before welcome").into());
                            }
                            add(config, hub, progress, &mut batch, seq, reply, request, body)?;
                        }
                    }
                    if batch.captures.len() < BATCH {
                        next = futures_util::FutureExt::now_or_never(ws.next());
                    }
                }
                if batch.last_seq > 0 {
                    finish(config, hub, progress, batch, &replies_tx).await?;
                    send(&mut ws, &ClientMessage::Ack { seq: progress.last_acked }, b"").await?;
                }
            }
            Some((message, body)) = replies.recv() => send(&mut ws, &message, &body).await?,
            _ = ticker.tick() => {
                if heard.elapsed() > config.heartbeat * 3 {
                    return Err(anyhow::anyhow!("the relay went silent").into());
                }
                send(&mut ws, &ClientMessage::Heartbeat, b"").await?;
            }
            () = until_stopped(stopping) => {
                let _ = ws.close(None).await;
                return Ok(());
            }
        }
    }
}

async fn send<S>(ws: &mut S, message: &ClientMessage, body: &[u8]) -> anyhow::Result<()>
where
    S: futures_util::Sink<Message, Error = tungstenite::Error> + Unpin,
{
    ws.send(Message::Binary(protocol::encode(message, body)))
        .await
        .context("cannot write to the relay")
}

/// Adds one delivery to `batch`, unless it is a duplicate.
#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
fn add(
    config: &TunnelConfig,
    hub: &Hub,
    progress: &Progress,
    batch: &mut Batch,
    seq: u64,
    reply: bool,
    request: WireRequest,
    body: Bytes,
) -> anyhow::Result<()> {
    let id: CaptureId = request.id.parse().context("delivery with an invalid id")?;
    batch.last_seq = batch.last_seq.max(seq);
    let in_batch = batch.captures.iter().any(|c| c.id == id);
    if seq <= progress.last_acked || progress.seen.contains(&id) || in_batch {
        tracing::debug!(seq, %id, "duplicate delivery dropped");
        return Ok(());
    }
    if reply {
        batch.replies.push(PendingReply {
            seq,
            wire_id: request.id.clone(),
            id,
            attempts: matches!(config.answer, Answer::Forwarded).then(|| hub.subscribe()),
        });
    }
    batch.captures.push(Capture {
        id,
        received_at: request.received_at,
        remote_addr: request.remote_addr,
        via: Via::Relay(config.channel.clone()),
        method: request.method,
        path: request.path,
        query: request.query,
        version: request.version,
        headers: request
            .headers
            .into_iter()
            .map(|(name, value)| Header::new(name, value))
            .collect(),
        body,
        status: 202,
        note: None,
        derived: Derived::default(),
    });
    Ok(())
}

/// Journals a batch; once it is durable, notes it as seen and starts its sync replies.
async fn finish(
    config: &TunnelConfig,
    hub: &Hub,
    progress: &mut Progress,
    batch: Batch,
    replies: &mpsc::UnboundedSender<(ClientMessage, Bytes)>,
) -> anyhow::Result<()> {
    let Batch {
        captures,
        replies: pending,
        last_seq,
    } = batch;
    let ids: Vec<CaptureId> = captures.iter().map(|c| c.id).collect();
    hub.record_all(captures)
        .await
        .context("cannot journal deliveries")?;
    progress.seen.extend(ids);
    progress.last_acked = progress.last_acked.max(last_seq);
    for PendingReply {
        seq,
        wire_id,
        id,
        attempts,
    } in pending
    {
        let replies = replies.clone();
        match (&config.answer, attempts) {
            (
                Answer::Fixed {
                    status,
                    headers,
                    body,
                },
                _,
            ) => {
                let message = ClientMessage::Response {
                    seq,
                    id: wire_id,
                    status: *status,
                    headers: headers.clone(),
                };
                let _ = replies.send((message, body.clone()));
            }
            (Answer::Forwarded, Some(attempts)) => {
                tokio::spawn(relay_attempt(attempts, seq, id, wire_id, replies));
            }
            (Answer::Forwarded, None) => {}
        }
    }
    Ok(())
}

/// Waits for the forwarder's first attempt at capture `id` and sends its outcome as the reply.
async fn relay_attempt(
    mut attempts: tokio::sync::broadcast::Receiver<HubEvent>,
    seq: u64,
    id: CaptureId,
    wire_id: String,
    replies: mpsc::UnboundedSender<(ClientMessage, Bytes)>,
) {
    use tokio::sync::broadcast::error::RecvError;
    let (status, headers, body) = loop {
        match attempts.recv().await {
            Ok(HubEvent::Attempt(attempt)) if attempt.capture == id => match &attempt.outcome {
                Outcome::Response {
                    status,
                    headers,
                    body,
                    ..
                } => {
                    let headers = headers
                        .iter()
                        .map(|h| (h.name.clone(), h.value.to_vec()))
                        .collect();
                    break (*status, headers, body.clone());
                }
                Outcome::Failed(why) => break (502, vec![], Bytes::from(format!("{why}\n"))),
            },
            Ok(_) | Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        }
    };
    let _ = replies.send((
        ClientMessage::Response {
            seq,
            id: wire_id,
            status,
            headers,
        },
        body,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_websocket_urls() {
        assert_eq!(
            tunnel_url("http://127.0.0.1:7000/", "a"),
            "ws://127.0.0.1:7000/tunnel/a"
        );
        assert_eq!(
            tunnel_url("https://relay.example", "b"),
            "wss://relay.example/tunnel/b"
        );
        assert_eq!(tunnel_url("ws://r", "c"), "ws://r/tunnel/c");
    }

    #[test]
    fn a_host_name_becomes_a_valid_client_name_and_a_given_one_is_checked() {
        assert_eq!(name_of_host(Some("laptop.local\n")), "laptop.local");
        assert_eq!(name_of_host(Some("Ana's MacBook Pro")), "Ana-s-MacBook-Pro");
        assert_eq!(name_of_host(Some("-.x")), "x");
        assert_eq!(name_of_host(Some(&"h".repeat(100))), "h".repeat(64));
        assert_eq!(name_of_host(Some("\u{202e}")), DEFAULT_NAME);
        assert_eq!(name_of_host(None), DEFAULT_NAME);
        assert_eq!(client_name(Some("alice")).expect("valid"), "alice");
        let refused = client_name(Some("../x")).expect_err("invalid").to_string();
        assert_eq!(
            refused,
            format!(
                "--client-name: invalid client name \"../x\": {}",
                clients::NAME_RULE
            )
        );
        let own = client_name(None).expect("the host's");
        assert_eq!(clients::check_name(&own), Ok(()), "{own}");
    }

    #[test]
    fn jitter_spreads_over_half_either_side() {
        let factors: Vec<f64> = (0..1000).map(|_| jitter_factor()).collect();
        assert!(factors.iter().all(|f| (0.5..1.5).contains(f)));
        let (low, high) = factors
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), &f| (l.min(f), h.max(f)));
        assert!(low < 0.6 && high > 1.4, "not spread: {low}..{high}");
    }

    #[test]
    fn the_backoff_doubles_up_to_its_cap_scaled_by_the_jitter_and_starts_over() {
        let ms = Duration::from_millis;
        let mut backoff = Backoff::new(ms(250), Duration::from_secs(30));
        let plain: Vec<Duration> = (0..10).map(|_| backoff.next(1.0)).collect();
        let doubling = [250, 500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000];
        assert_eq!(plain, doubling.map(ms));
        backoff.reset();
        assert_eq!(backoff.next(0.5), ms(125), "the jitter scales the delay");
        assert_eq!(backoff.next(1.5), ms(750));
        for _ in 0..10 {
            backoff.next(1.0);
        }
        assert_eq!(backoff.next(1.49), Duration::from_secs(30), "never past the cap");
        assert_eq!(backoff.next(0.5), Duration::from_secs(15));
        backoff.reset();
        assert_eq!(
            backoff.next(1.0),
            ms(250),
            "after a healthy connection, from the start"
        );
    }

    #[test]
    fn states_read_well() {
        let state = TunnelState::Reconnecting {
            after: Duration::from_millis(1500),
            reason: "refused".into(),
        };
        assert_eq!(state.to_string(), "reconnecting in 1.5s (refused)");
        let state = TunnelState::Untrusted {
            advice: "self-signed; trust it with --relay-ca".into(),
            after: Duration::from_secs(30),
        };
        assert_eq!(
            state.to_string(),
            "certificate refused: self-signed; trust it with --relay-ca (next try in 30s)"
        );
        assert!(state.lasts() && !TunnelState::Connected.lasts());
        assert_eq!(
            TunnelState::ConnectedAfterGap { skipped: 1 }.to_string(),
            "connected, but 1 request queued while this client was forgotten (not seen for the \
             relay's --client-ttl) will not come"
        );
    }

    #[test]
    fn a_takeover_of_the_host_name_says_the_names_collided_and_what_to_pass() {
        let reason = "another session named ubuntu took over".to_owned();
        let state = |named_by_host| TunnelState::Displaced {
            reason: reason.clone(),
            named_by_host,
        };
        assert_eq!(
            state(true).to_string(),
            "another session named ubuntu took over; not reconnecting: the client names collided, \
             this one being the host name, which another laptop (or another listen here) has too; \
             restart this listen with --client-name and a name of this laptop's own"
        );
        assert_eq!(
            state(false).to_string(),
            "another session named ubuntu took over; not reconnecting (give each laptop its own \
             --client-name, or restart this listen to take the channel back)"
        );
        assert_eq!(
            host_name_notice(None, "ubuntu").as_deref(),
            Some("relay client name: ubuntu (the host name; give each laptop its own with --client-name)")
        );
        assert_eq!(
            host_name_notice(Some("ubuntu"), "ubuntu"),
            None,
            "given, even if the same"
        );
        assert_eq!(
            host_name_notice(None, DEFAULT_NAME).as_deref(),
            Some(
                "relay client name: default (no usable host name, so the default, which a listen \
                 from before names has too; give each laptop its own with --client-name)"
            )
        );
    }

    #[test]
    fn close_frames_say_why_and_revocation_is_a_refusal() {
        let frame = |code, reason: &str| {
            Some(CloseFrame {
                code,
                reason: reason.into(),
            })
        };
        assert!(closed(None).is_ok());
        assert!(closed(frame(CloseCode::Normal, "")).is_ok());
        match closed(frame(CloseCode::Policy, "revoked\u{1b}[2J")) {
            Err(SessionError::Refused(reason)) => assert_eq!(reason, "revoked\\x1b[2J"),
            other => panic!("{other:?}"),
        }
        let err = closed(frame(CloseCode::Protocol, "ack 9 is beyond")).expect_err("an error");
        assert!(err.to_string().contains("ack 9 is beyond"), "{err}");
    }

    /// A relay whose certificate this client does not trust: the state says what to do once,
    /// however many tries, and the tries come `max_backoff` apart, not in a tight loop.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_certificate_is_shown_once_and_retried_slowly() {
        use std::sync::{Arc, Mutex};
        // Self-signed and marked as a CA, as `openssl req -x509` makes it; not given as --relay-ca.
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("certificate");
        let server =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_no_client_auth()
                .with_single_cert(
                    vec![cert.der().clone()],
                    rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
                )
                .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (tries_tx, mut tries) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = tries_tx.send(Instant::now());
                let _ = acceptor.accept(stream).await;
            }
        });
        let dir = tempfile::tempdir().expect("dir");
        let journal =
            crate::journal::Journal::open(&dir.path().join("j.jsonl"), Default::default()).expect("journal");
        let analyzer = crate::analysis::Analyzer::new(
            crate::provider::Catalog::builtin(),
            crate::config::Keys::default(),
        );
        let hub = Hub::new(journal.appender(), std::sync::Arc::new(analyzer));
        let slowly = Duration::from_millis(300);
        let config = TunnelConfig {
            relay: format!("https://localhost:{port}"),
            channel: "alpha".into(),
            client_name: "test".into(),
            named_by_host: false,
            token: Token::new("hst_test"),
            heartbeat: Duration::from_secs(5),
            min_backoff: Duration::from_millis(5),
            max_backoff: slowly,
            healthy_after: Duration::from_secs(60),
            answer: Answer::Fixed {
                status: 200,
                headers: Vec::new(),
                body: Bytes::new(),
            },
            ca: None,
        };
        let tunnel = spawn(config, hub, HashSet::new());
        // Every state the client shows, as a watcher (the status bar, stderr) sees them.
        let shown: Arc<Mutex<Vec<TunnelState>>> = Arc::default();
        let mut states = tunnel.state.clone();
        let seen = shown.clone();
        tokio::spawn(async move {
            while states.changed().await.is_ok() {
                let state = states.borrow_and_update().clone();
                seen.lock().expect("lock").push(state);
            }
        });
        let mut at = Vec::new();
        while at.len() < 4 {
            let next = tokio::time::timeout(Duration::from_secs(20), tries.recv()).await;
            at.push(next.expect("the client tries again").expect("the server runs"));
        }
        let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            gaps.iter().all(|gap| *gap >= slowly.mul_f64(0.95)),
            "retried faster than max_backoff: {gaps:?}"
        );
        let shown = shown.lock().expect("lock").clone();
        let refused: Vec<&TunnelState> = shown
            .iter()
            .filter(|s| matches!(s, TunnelState::Untrusted { .. }))
            .collect();
        assert_eq!(refused.len(), 1, "shown once over {} tries: {shown:?}", at.len());
        let text = refused[0].to_string();
        assert!(
            text.starts_with("certificate refused: self-signed; trust it with --relay-ca CERT.pem"),
            "{text}"
        );
        assert!(
            !shown.iter().skip_while(|s| !s.lasts()).any(|s| !s.lasts()),
            "the refusal stays shown while the client tries again: {shown:?}"
        );
        tunnel.stop().await;
    }
}
