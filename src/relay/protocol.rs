//! The tunnel's wire protocol: one message enum per direction, one frame layout.
//!
//! Every message travels as one websocket *binary* frame:
//!
//! ```text
//! +----------------------+----------------------------+------------------------+
//! | u32, big endian: N   | N bytes: the message, JSON | the rest: a raw body   |
//! +----------------------+----------------------------+------------------------+
//! ```
//!
//! The JSON part is a [`ServerMessage`] or a [`ClientMessage`]; the rest is the body the message
//! carries (a request's for [`ServerMessage::Deliver`], a response's for
//! [`ClientMessage::Response`], empty otherwise). Bodies never pass through JSON, so they cross
//! byte for byte without base64's third more. Header values are small and kept as byte arrays,
//! because senders do send non-UTF-8 bytes in them.
//!
//! The conversation: the client upgrades `GET /tunnel/<channel>` with `Authorization: Bearer`,
//! sends [`ClientMessage::Hello`] with the last sequence number it acknowledged, and the relay
//! sends every queued request after it as [`ServerMessage::Deliver`], in order. The client
//! acknowledges each one with [`ClientMessage::Ack`] once it is journaled; the relay forgets a
//! request only once every client of the channel has it ([`crate::relay::clients`]). Both sides
//! send heartbeats so a dead peer is noticed.
//!
//! Versions: there is no version number; the protocol grows by optional fields only, which the
//! other side ignores when it does not know them (serde skips unknown fields). A hello without
//! `client` (a client from before channels were shared) is the client named
//! [`crate::relay::clients::DEFAULT_NAME`]; an older relay ignores the name and treats every
//! client as the channel's one. A welcome's `skipped` is absent when zero.
//!
//! The relay ends a session with a websocket close frame whose reason says why: [`TAKEN_OVER`]
//! when another session of the same client name took over (the client stops: reconnecting would
//! only take the channel back and forth), `1008` (policy) when its token was revoked, `1002`
//! (protocol) when the client broke the protocol.

use bytes::{BufMut, Bytes, BytesMut};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The close code of a session another session of the same client name took over.
pub const TAKEN_OVER: u16 = 4000;

/// What the relay sends the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The handshake is accepted; deliveries after `resume_after` follow.
    Welcome {
        /// The sequence number deliveries resume after (the larger of the client's and the
        /// relay's last acknowledged one).
        resume_after: u64,
        /// Requests this client will never receive: the queue forgot them while the client was
        /// forgotten (not seen for the relay's `--client-ttl`).
        #[serde(default, skip_serializing_if = "is_zero")]
        skipped: u64,
    },
    /// A request that arrived on the channel; its body is the frame's body.
    Deliver {
        /// The channel's sequence number of this request, increasing by one per request.
        seq: u64,
        /// Whether the sender waits for the local app's response (`--respond sync`).
        reply: bool,
        /// The request's head.
        request: WireRequest,
    },
    /// The relay is alive.
    Heartbeat,
}

/// What the client sends the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// The first message: who the client is and where to resume.
    Hello {
        /// The last sequence number this client acknowledged (0: none).
        resume_after: u64,
        /// The client's name on the channel (`listen --client-name`); each name has its own
        /// position. None: [`crate::relay::clients::DEFAULT_NAME`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client: Option<String>,
    },
    /// Every delivery up to and including `seq` is journaled; the relay may forget them.
    Ack {
        /// The highest sequence number journaled, in order.
        seq: u64,
    },
    /// The local app's response to a delivery with `reply`; its body is the frame's body.
    Response {
        /// The delivery this answers.
        seq: u64,
        /// That delivery's request id.
        id: String,
        /// The local app's status code.
        status: u16,
        /// The local app's response headers (name, value bytes).
        headers: Vec<(String, Vec<u8>)>,
    },
    /// The client is alive.
    Heartbeat,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A request's head as the relay received it; the body travels beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireRequest {
    /// The capture id the relay gave it (a ULID): the same id on every redelivery, so the
    /// client can tell a duplicate from a new request.
    pub id: String,
    /// When the relay received the head.
    pub received_at: DateTime<Utc>,
    /// The sender's address as the relay saw it.
    pub remote_addr: String,
    /// The method as sent.
    pub method: String,
    /// The path after `/c/<channel>`, always starting with `/`.
    pub path: String,
    /// The raw query without `?`, if there was one.
    pub query: Option<String>,
    /// `HTTP/1.1` and the like.
    pub version: String,
    /// Headers in arrival order and original case (name, value bytes).
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Fewer bytes than the length prefix says.
    #[error("frame of {0} bytes is shorter than its header")]
    Truncated(usize),
    /// The JSON part is not a message of this protocol.
    #[error("frame header is not a protocol message: {0}")]
    Message(#[from] serde_json::Error),
}

/// Encodes a message and its body into one frame.
pub fn encode<M: Serialize>(message: &M, body: &[u8]) -> Bytes {
    // Serializing these plain structs cannot fail: no maps with non-string keys, no I/O.
    let head = serde_json::to_vec(message).unwrap_or_default();
    let mut frame = BytesMut::with_capacity(4 + head.len() + body.len());
    frame.put_u32(u32::try_from(head.len()).unwrap_or(u32::MAX));
    frame.put_slice(&head);
    frame.put_slice(body);
    frame.freeze()
}

/// Decodes a frame into its message and body; the body shares the frame's memory.
pub fn decode<M: for<'de> Deserialize<'de>>(frame: Bytes) -> Result<(M, Bytes), FrameError> {
    let truncated = || FrameError::Truncated(frame.len());
    let prefix: [u8; 4] = frame
        .get(..4)
        .and_then(|p| p.try_into().ok())
        .ok_or_else(truncated)?;
    let length = u32::from_be_bytes(prefix) as usize;
    let end = 4usize
        .checked_add(length)
        .filter(|&end| end <= frame.len())
        .ok_or_else(truncated)?;
    let message = serde_json::from_slice(&frame[4..end])?;
    Ok((message, frame.slice(end..)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> WireRequest {
        WireRequest {
            id: "01HZY0000000000000000000AB".into(),
            received_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
            remote_addr: "203.0.113.9:51234".into(),
            method: "POST".into(),
            path: "/hooks/a".into(),
            query: Some("x=1".into()),
            version: "HTTP/1.1".into(),
            headers: vec![("X-Latin1".into(), b"caf\xe9".to_vec())],
        }
    }

    #[test]
    fn every_message_round_trips_with_its_body() {
        let body: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let server = [
            ServerMessage::Welcome {
                resume_after: 7,
                skipped: 0,
            },
            ServerMessage::Welcome {
                resume_after: 7,
                skipped: 3,
            },
            ServerMessage::Deliver {
                seq: 8,
                reply: true,
                request: request(),
            },
            ServerMessage::Heartbeat,
        ];
        for message in server {
            let (back, rest) = decode::<ServerMessage>(encode(&message, &body)).expect("decodes");
            assert_eq!((back, &rest[..]), (message, &body[..]));
        }
        let client = [
            ClientMessage::Hello {
                resume_after: 3,
                client: None,
            },
            ClientMessage::Hello {
                resume_after: 3,
                client: Some("alice".into()),
            },
            ClientMessage::Ack { seq: 9 },
            ClientMessage::Response {
                seq: 9,
                id: "x".into(),
                status: 418,
                headers: vec![("X-A".into(), b"b".to_vec())],
            },
            ClientMessage::Heartbeat,
        ];
        for message in client {
            let (back, rest) = decode::<ClientMessage>(encode(&message, b"")).expect("decodes");
            assert_eq!((back, rest.len()), (message, 0));
        }
    }

    #[test]
    fn the_layout_is_length_json_body() {
        let frame = encode(&ClientMessage::Ack { seq: 5 }, b"\x00\xff");
        let json = br#"{"type":"ack","seq":5}"#;
        assert_eq!(&frame[..4], (json.len() as u32).to_be_bytes());
        assert_eq!(&frame[4..4 + json.len()], json);
        assert_eq!(&frame[4 + json.len()..], b"\x00\xff");
    }

    #[test]
    fn old_and_new_peers_understand_each_other() {
        // A client from before names: its hello has no name.
        let old_hello = encode(&serde_json::json!({"type": "hello", "resume_after": 4}), b"");
        let (hello, _) = decode::<ClientMessage>(old_hello).expect("decodes");
        assert_eq!(
            hello,
            ClientMessage::Hello {
                resume_after: 4,
                client: None
            }
        );
        // What an older relay reads of a new hello: the fields it knows, the rest ignored.
        #[derive(Deserialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        enum OldClientMessage {
            Hello { resume_after: u64 },
        }
        let new_hello = ClientMessage::Hello {
            resume_after: 9,
            client: Some("alice".into()),
        };
        let (OldClientMessage::Hello { resume_after }, _) =
            decode::<OldClientMessage>(encode(&new_hello, b"")).expect("an old relay reads it");
        assert_eq!(resume_after, 9);
        // And a welcome with nothing skipped is written as before.
        let welcome = encode(
            &ServerMessage::Welcome {
                resume_after: 2,
                skipped: 0,
            },
            b"",
        );
        assert_eq!(&welcome[4..], br#"{"type":"welcome","resume_after":2}"#);
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        for bad in [&b""[..], b"\x00\x00", b"\x00\x00\x00\x09{}", b"\xff\xff\xff\xff"] {
            assert!(matches!(
                decode::<ClientMessage>(Bytes::copy_from_slice(bad)),
                Err(FrameError::Truncated(_))
            ));
        }
        let not_json = Bytes::from_static(b"\x00\x00\x00\x02{x");
        assert!(matches!(
            decode::<ClientMessage>(not_json),
            Err(FrameError::Message(_))
        ));
        let unknown = encode(&serde_json::json!({"type": "launch"}), b"");
        assert!(decode::<ServerMessage>(unknown).is_err());
    }
}
