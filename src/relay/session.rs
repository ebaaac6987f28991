//! The relay's side of one tunnel session: deliver the channel's queue in order, take acks.
//!
//! Up to [`WINDOW`] deliveries are in flight unacknowledged, so a client far away is not held
//! to one request per round trip. A newer session on the same channel (a client that
//! reconnected before this one noticed the old socket died) makes this one step down.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::relay::protocol::{self, ClientMessage, ServerMessage};
use crate::relay::server::{Channel, Reply};

/// How many deliveries may await their ack.
pub const WINDOW: u64 = 512;

/// Runs one session until the client leaves, goes silent, or a newer session replaces it.
pub async fn serve<S>(
    mut ws: WebSocketStream<S>,
    channel: Arc<Channel>,
    heartbeat: Duration,
    reply: bool,
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
    let mut generation = channel.session.subscribe();
    let mut mine = 0;
    channel.session.send_modify(|g| {
        *g += 1;
        mine = *g;
    });
    generation.mark_unchanged();
    let acked = channel.queue.acked();
    let mut cursor = if resume_after > channel.queue.last_seq() {
        // The client is ahead of every number this relay has given: the relay's data was reset
        // and it numbers from 1 again. Its client's resume point means nothing here; acking it
        // would drop requests the client has never seen.
        tracing::warn!(
            resume_after,
            acked,
            "client ahead of the queue (data reset?); resending from the last ack"
        );
        acked
    } else {
        if resume_after > acked {
            // The client journaled these but its acks were lost: they are done.
            channel.queue.ack(resume_after).context("cannot record the ack")?;
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
                        // A short unsynced write; only compaction syncs, once per few megabytes.
                        channel.queue.ack(seq).context("cannot record the ack")?;
                    }
                    Some((ClientMessage::Response { id, status, headers, .. }, body)) => {
                        channel.reply(&id, Reply { status, headers, body });
                    }
                    Some((ClientMessage::Heartbeat, _)) => {}
                    Some((ClientMessage::Hello { .. }, _)) => bail!("a second hello"),
                    None => return Ok(()),
                }
            }
            _ = queued.changed() => {}
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
