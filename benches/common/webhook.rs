//! The webhook the ingest benches send: shared by `ingest.rs` (over the network) and
//! `capture_path.rs` (in process), so both measure the very same request.

use bytes::Bytes;
use hmac::{Hmac, Mac};
use hyper::header::HeaderValue;
use sha2::Sha256;

/// The exact size of every request body.
pub const BODY_SIZE: usize = 1024;

/// The path every webhook is posted to.
pub const HOOK_PATH: &str = "/hooks/optiview";

/// The (test) secret the webhooks are signed with, as an OptiView `dolby_sec_...` secret.
pub const SIGNING_SECRET: &str = "dolby_sec_bench_0123456789abcdef";

/// A realistic webhook: a Dolby OptiView `channel.started` event in the documented envelope
/// (`type`, `created`, `object`, `data`), compact JSON as OptiView sends it, padded to exactly
/// [`BODY_SIZE`] bytes by a free-text `description`.
pub fn payload(created: u64) -> Bytes {
    let head = format!(
        concat!(
            r#"{{"type":"channel.started","created":{created},"#,
            r#""object":{{"type":"channel","id":"ch_9b1e77aa0c42"}},"#,
            r#""data":{{"name":"Main stage","status":"playing","createdAt":"2025-11-22T16:47:12.000Z","#,
            r#""timeout":3600,"perpetual":false,"region":"europe-west","#,
            r#""engines":[{{"id":"eng_4f2a9c1b7d3e","region":"europe-west","priority":0,"status":"playing"}},"#,
            r#"{{"id":"eng_7c0d5e8a1f96","region":"us-east","priority":1,"status":"waiting"}}],"#,
            r#""ingest":{{"id":"ing_31d0b6f2e8a4","type":"rtmp-push","url":"rtmps://rtmp.theo.live:443/live"}},"#,
            r#""description":""#
        ),
        created = created
    );
    let tail = r#""}}"#;
    let filler = "Weekly town hall, streamed to every office; recorded for the archive. ";
    let mut body = head;
    for c in filler.chars().cycle() {
        if body.len() + tail.len() >= BODY_SIZE {
            break;
        }
        body.push(c);
    }
    body.push_str(tail);
    assert_eq!(
        body.len(),
        BODY_SIZE,
        "the payload must be exactly {BODY_SIZE} bytes"
    );
    assert!(
        serde_json::from_str::<serde_json::Value>(&body).is_ok(),
        "the payload must be valid JSON: {body}"
    );
    Bytes::from(body)
}

/// The `Dolby-Signature` header OptiView sends: `t=<unix s>,h=<hex HMAC-SHA256("t.body")>`.
pub fn dolby_signature(created: u64, body: &[u8]) -> HeaderValue {
    let mut mac = Hmac::<Sha256>::new_from_slice(SIGNING_SECRET.as_bytes()).expect("HMAC takes any key size");
    mac.update(format!("{created}.").as_bytes());
    mac.update(body);
    let value = format!("t={created},h={}", hex::encode(mac.finalize().into_bytes()));
    HeaderValue::from_str(&value).expect("a signature is ASCII")
}
