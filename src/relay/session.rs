//! The relay's side of one tunnel session: deliver the channel's queue in order to one named
//! client, from its own position, and take its acks.
//!
//! Several clients of different names share a channel, each in its own session, each with its
//! own position ([`crate::relay::clients`]); the queue forgets a request once every known client
//! has acknowledged it. Up to [`WINDOW`] deliveries are in flight unacknowledged, so a client far
//! away is not held to one request per round trip.
//!
//! A newer session of the same client name takes over: the older one (a laptop whose socket the
//! relay has not seen die yet, or a second laptop given the same name) is closed with
//! [`protocol::TAKEN_OVER`] and the reason "another session named NAME took over", which that
//! client shows and does not fight.
//!
//! The relay ends a session itself, with a reason in the websocket close frame, also when the
//! session's token is revoked ([`CloseCode::Policy`]) and when the client breaks the protocol
//! ([`CloseCode::Protocol`]): an invalid name, or an ack of a request it was never sent, which
//! would drop requests nobody has received.

use std::sync::Arc;
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

use crate::relay::clients::{self, DEFAULT_NAME};
use crate::relay::protocol::{self, ClientMessage, ServerMessage};
use crate::relay::server::{Channel, Reply};
use crate::relay::token::{Token, Tokens};

/// The close frame's reason when the session's token is revoked.
pub const REVOKED: &str = "the token for this channel was revoked";

/// The close frame's reason when another session of the same client name took over.
pub fn taken_over(name: &str) -> String {
    format!("another session named {name} took over")
}

/// A client's membership of the channel while its session lasts: the session counts as
/// connected, and leaving is recorded whatever way the session ends.
struct Member {
    channel: Arc<Channel>,
    name: String,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.channel.book().leave(&self.name, chrono::Utc::now());
    }
}

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
    let (resume_after, name) = match read(first)? {
        Some((ClientMessage::Hello { resume_after, client }, _)) => {
            (resume_after, client.unwrap_or_else(|| DEFAULT_NAME.to_owned()))
        }
        other => bail!("expected hello, got {other:?}"),
    };
    // Hostile until checked; the refusal does not repeat it (a close reason is short).
    if clients::check_name(&name).is_err() {
        let why = format!("invalid client name: {}", clients::NAME_RULE);
        return Err(close(&mut ws, CloseCode::Protocol, why).await);
    }
    // Revoked between the check before the upgrade and the subscription, it would go unheard.
    if !access.granted(&channel.name) {
        return Err(close(&mut ws, CloseCode::Policy, REVOKED.to_owned()).await);
    }
    let joined = {
        let floor = channel.queue.acked();
        let last = channel.queue.last_seq();
        channel.book().join(&name, chrono::Utc::now(), floor, last)
    };
    let joined = match joined {
        Ok(joined) => joined,
        Err(full @ clients::JoinError::Full) => {
            return Err(close(&mut ws, CloseCode::Policy, full.to_string()).await);
        }
        Err(err) => return Err(anyhow::Error::new(err).context("the client could not join")),
    };
    let _member = Member {
        channel: channel.clone(),
        name: name.clone(),
    };
    let (mut generation, mine) = channel.take_over(&name);
    let mut acked = joined.acked;
    let mut cursor = if resume_after > joined.delivered {
        // The client is ahead of every number this relay has sent it: the relay's data was
        // reset and it numbers from 1 again (or the client is broken). Its resume point means
        // nothing here; acking it would drop requests the client has never seen.
        tracing::warn!(
            resume_after,
            acked,
            "client ahead of the queue (data reset?); resending from its last ack"
        );
        acked
    } else {
        if resume_after > acked {
            // The client journaled these but its acks were lost: they are done.
            ack(&channel, &name, resume_after)?;
            acked = resume_after;
        }
        acked
    };
    if joined.skipped > 0 {
        tracing::warn!(
            skipped = joined.skipped,
            "a forgotten client came back; the queue had let go of what it missed"
        );
    }
    let welcome = ServerMessage::Welcome {
        resume_after: cursor,
        skipped: joined.skipped,
    };
    ws.send(frame(&welcome, b"")).await?;
    tracing::info!(client = %name, cursor, new = joined.new, "client connected");
    let mut queued = channel.queue.watch();
    let mut ticker = tokio::time::interval(heartbeat);
    let mut heard = Instant::now();
    loop {
        // Send what the window allows before waiting for anything.
        let room = WINDOW.saturating_sub(cursor.saturating_sub(acked));
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
            }
            if let Some(last) = batch.last() {
                channel.book().delivered(&name, last.seq);
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
                        ack(&channel, &name, seq)?;
                        acked = acked.max(seq);
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
                    tracing::info!(client = %name, "a newer session of this client took over");
                    let why = taken_over(&name);
                    let _ = close(&mut ws, CloseCode::from(protocol::TAKEN_OVER), why).await;
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

/// Records `name`'s ack (a short unsynced write) and moves the queue's floor if every known
/// client now has more ([`Channel::settle`]).
fn ack(channel: &Arc<Channel>, name: &str, seq: u64) -> anyhow::Result<()> {
    let floor = channel
        .book()
        .ack(name, seq, chrono::Utc::now())
        .context("cannot record the ack")?;
    channel.settle(floor).context("cannot record the ack")
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
