//! The relay's side of one tunnel session: deliver the channel's queue in order, take acks.
//!
//! Up to [`WINDOW`] deliveries are in flight unacknowledged, so a client far away is not held
//! to one request per round trip. A newer session on the same channel (a client that
//! reconnected before this one noticed the old socket died) makes this one step down.
//!
//! The relay ends a session itself, with a reason in the websocket close frame, when the
//! session's token is revoked ([`CloseCode::Policy`]) and when the client breaks the protocol
//! ([`CloseCode::Protocol`]): an ack of a request it was never sent, which would drop requests
//! nobody has received.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::relay::protocol::{self, ClientMessage, ServerMessage};
use crate::relay::server::{Channel, Reply};
use crate::relay::token::{Token, Tokens};

/// The close frame's reason when the session's token is revoked.
pub const REVOKED: &str = "the token for this channel was revoked";

/// The token a session was opened with, and the relay's tokens in force, so the session ends
/// when its token is revoked.
pub struct Access {
    /// The token the client presented.
    pub token: Token,
    /// The tokens in force ([`crate::relay::token_file::TokenFile::subscribe`]).
    pub tokens: watch::Receiver<Arc<Tokens>>,
}

impl Access {
    /// Whether the token still grants `channel`, as of the latest change.
    fn granted(&mut self, channel: &str) -> bool {
        self.tokens.borrow_and_update().grants(channel, &self.token)
    }
}

/// How many deliveries may await their ack.
pub const WINDOW: u64 = 512;

/// Runs one session until the client leaves, goes silent, or a newer session replaces it.
pub async fn serve<S>(
    mut ws: WebSocketStream<S>,
    channel: Arc<Channel>,
    heartbeat: Duration,
    reply: bool,
    mut access: Access,
) -> anyhow::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let first = tokio::time::timeout(heartbeat * 3, ws.next())
        .await
        .context("no hello from the client")?;
    let resume_after = match read(first)? {
        Some((ClientMessage::Hello { resume_after }, _)) => resume_after,
        other => bail!("expected hello, got {other:?}"),
    };
    // Revoked between the check before the upgrade and the subscription, it would go unheard.
    if !access.granted(&channel.name) {
        return Err(close(&mut ws, CloseCode::Policy, REVOKED.to_owned()).await);
    }
    let mut generation = channel.session.subscribe();
    let mut mine = 0;
    channel.session.send_modify(|g| {
        *g += 1;
        mine = *g;
    });
    generation.mark_unchanged();
    let acked = channel.queue.acked();
    let mut cursor = if resume_after > channel.delivered.load(Ordering::Acquire) {
        // The client is ahead of every number this relay has delivered: the relay's data was
        // reset and it numbers from 1 again (or the client is broken). Its resume point means
        // nothing here; acking it would drop requests the client has never seen.
        tracing::warn!(
            resume_after,
            acked,
            "client ahead of the queue (data reset?); resending from the last ack"
        );
        acked
    } else {
        if resume_after > acked {
            // The client journaled these but its acks were lost: they are done.
            ack(&channel, resume_after)?;
        }
        resume_after.max(acked)
    };
    ws.send(frame(&ServerMessage::Welcome { resume_after: cursor }, b""))
        .await?;
    tracing::info!(cursor, "client connected");
    let mut queued = channel.queue.watch();
    let mut ticker = tokio::time::interval(heartbeat);
    let mut heard = Instant::now();
    loop {
        // Send what the window allows before waiting for anything.
        let room = WINDOW.saturating_sub(cursor.saturating_sub(channel.queue.acked()));
        if room > 0 {
            let batch = channel.queue.after(cursor, room as usize);
            for entry in &batch {
                let message = ServerMessage::Deliver {
                    seq: entry.seq,
                    reply,
                    request: (*entry.request).clone(),
                };
                ws.feed(frame(&message, &entry.body)).await?;
                cursor = entry.seq;
                channel.delivered.fetch_max(cursor, Ordering::AcqRel);
            }
            if !batch.is_empty() {
                ws.flush().await?;
                continue;
            }
        }
        tokio::select! {
            incoming = ws.next() => {
                heard = Instant::now();
                match read(incoming)? {
                    Some((ClientMessage::Ack { seq }, _)) => {
                        if seq > cursor {
                            let why = format!("ack {seq} is beyond the last delivery ({cursor})");
                            return Err(close(&mut ws, CloseCode::Protocol, why).await);
                        }
                        ack(&channel, seq)?;
                    }
                    Some((ClientMessage::Response { id, status, headers, .. }, body)) => {
                        channel.reply(&id, Reply { status, headers, body });
                    }
                    Some((ClientMessage::Heartbeat, _)) => {}
                    Some((ClientMessage::Hello { .. }, _)) => {
                        return Err(close(&mut ws, CloseCode::Protocol, "a second hello".into()).await);
                    }
                    None => return Ok(()),
                }
            }
            _ = queued.changed() => {}
            changed = access.tokens.changed() => {
                // Gone only when the relay shuts down.
                if changed.is_err() {
                    return Ok(());
                }
                if !access.granted(&channel.name) {
                    tracing::warn!("the session's token was revoked; closing the tunnel");
                    return Err(close(&mut ws, CloseCode::Policy, REVOKED.to_owned()).await);
                }
            }
            _ = generation.changed() => {
                if *generation.borrow() != mine {
                    tracing::info!("a newer session took over the channel");
                    return Ok(());
                }
            }
            _ = ticker.tick() => {
                if heard.elapsed() > heartbeat * 3 {
                    bail!("the client went silent");
                }
                ws.send(frame(&ServerMessage::Heartbeat, b"")).await?;
            }
        }
    }
}

/// Records an ack (a short unsynced write). When it leaves nothing pending, the queue file is
/// emptied on a blocking task, so its syncs do not hold up this session's deliveries.
fn ack(channel: &Arc<Channel>, seq: u64) -> anyhow::Result<()> {
    if channel.queue.ack(seq).context("cannot record the ack")? {
        let channel = channel.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(err) = channel.queue.compact() {
                tracing::warn!(%err, channel = %channel.name, "cannot empty the queue file");
            }
        });
    }
    Ok(())
}

/// Closes the session with `reason` in the close frame, which the client shows; returns the
/// reason as the session's error.
async fn close<S>(ws: &mut WebSocketStream<S>, code: CloseCode, reason: String) -> anyhow::Error
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: reason.as_str().into(),
    };
    if let Err(err) = ws.close(Some(frame)).await {
        tracing::debug!(%err, "the close frame could not be sent");
    }
    anyhow::anyhow!(reason)
}

fn frame(message: &ServerMessage, body: &[u8]) -> Message {
    Message::Binary(protocol::encode(message, body))
}

/// Reads a client frame; `None` when the client closed the connection.
fn read(
    incoming: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
) -> anyhow::Result<Option<(ClientMessage, bytes::Bytes)>> {
    match incoming {
        None | Some(Ok(Message::Close(_))) => Ok(None),
        Some(Err(err)) => Err(err.into()),
        Some(Ok(Message::Binary(frame))) => Ok(Some(protocol::decode(frame)?)),
        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {
            Ok(Some((ClientMessage::Heartbeat, bytes::Bytes::new())))
        }
        Some(Ok(Message::Text(_))) => bail!("text frames are not part of the protocol"),
    }
}
