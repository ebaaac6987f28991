//! Turning a catalog sample into a concrete request: fresh ids and timestamps, `--set` edits.

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;

use crate::capture::Header;
use crate::provider::{Sample, SampleBody};

/// A sample made concrete: the headers the sender adds (not yet signed) and the body.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Content type and the sample's own headers.
    pub headers: Vec<Header>,
    /// The body bytes to send (and sign).
    pub body: Bytes,
}

/// Renders `sample` at time `now`, applying each `(pointer, value)` edit to a JSON body.
pub fn render(sample: &Sample, now: DateTime<Utc>, edits: &[(String, String)]) -> Result<Rendered, String> {
    let mut rng = rand::thread_rng();
    let mut headers = vec![Header::new("Content-Type", sample.content_type.clone())];
    for (name, value) in &sample.headers {
        headers.push(Header::new(name.clone(), substitute(value, now, &mut rng)?));
    }
    let body = match &sample.body {
        SampleBody::Template(template) => substitute(template, now, &mut rng)?.into_bytes(),
        SampleBody::Bytes(bytes) => bytes.clone(),
    };
    let body = match edits.is_empty() {
        true => body,
        false => apply_edits(&body, edits)?,
    };
    Ok(Rendered {
        headers,
        body: Bytes::from(body),
    })
}

/// Sets each JSON pointer to a value (parsed as JSON when it is, a string otherwise); the body
/// is written back compact.
fn apply_edits(body: &[u8], edits: &[(String, String)]) -> Result<Vec<u8>, String> {
    let mut json: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("--set needs a JSON body: {e}"))?;
    for (pointer, value) in edits {
        let value = serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.clone()));
        let slot = json.pointer_mut(pointer).ok_or_else(|| {
            format!("--set {pointer}: no such field in this event (see `hookscope providers NAME`)")
        })?;
        *slot = value;
    }
    serde_json::to_vec(&json).map_err(|e| e.to_string())
}

/// Replaces every `{{placeholder}}` (see `assets/providers/README.md`).
pub fn substitute(template: &str, now: DateTime<Utc>, rng: &mut impl Rng) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .ok_or_else(|| format!("unclosed placeholder in {:?}", &rest[start..]))?
            + start;
        let name = &rest[start + 2..end];
        match name.split_once(':') {
            None if name == "now" => out.push_str(&now.timestamp().to_string()),
            None if name == "now_ms" => out.push_str(&now.timestamp_millis().to_string()),
            None if name == "now_iso" => out.push_str(&now.to_rfc3339_opts(SecondsFormat::Millis, true)),
            None if name == "uuid" => out.push_str(&uuid_v4(rng)),
            // One per process, so one `send` run: an id of the sender's endpoint, not the event.
            None if name == "webhook_id" => {
                static WEBHOOK_ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
                out.push_str(WEBHOOK_ID.get_or_init(|| uuid_v4(&mut rand::thread_rng())));
            }
            Some(("hex", n)) => {
                let n: usize = n
                    .parse()
                    .map_err(|_| format!("{{{{hex:N}}}} needs a number, got {n:?}"))?;
                out.extend((0..n).map(|_| char::from(b"0123456789abcdef"[rng.gen_range(0..16)])));
            }
            Some(("int", range)) => {
                let (low, high) = range
                    .split_once('-')
                    .and_then(|(a, b)| Some((a.parse::<i64>().ok()?, b.parse::<i64>().ok()?)))
                    .filter(|(a, b)| a <= b)
                    .ok_or_else(|| format!("{{{{int:A-B}}}} needs a range like 1-100, got {range:?}"))?;
                out.push_str(&rng.gen_range(low..=high).to_string());
            }
            _ => return Err(format!("unknown placeholder {{{{{name}}}}}")),
        }
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A random (version 4) UUID.
fn uuid_v4(rng: &mut impl Rng) -> String {
    let mut b: [u8; 16] = rng.r#gen();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_700_000_000_123)
            .single()
            .expect("valid time")
    }

    #[test]
    fn placeholders_are_replaced() {
        let mut rng = rand::thread_rng();
        let text = "{{now}} {{now_ms}} {{now_iso}} {{hex:6}} {{int:5-5}} {{uuid}} {{webhook_id}}";
        let out = substitute(text, at(), &mut rng).expect("valid");
        let parts: Vec<&str> = out.split(' ').collect();
        assert_eq!(
            &parts[..3],
            ["1700000000", "1700000000123", "2023-11-14T22:13:20.123Z"]
        );
        assert!(parts[3].len() == 6 && parts[3].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(parts[4], "5");
        let uuid = parts[5];
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4", "{uuid}");
        assert!(matches!(&uuid[19..20], "8" | "9" | "a" | "b"), "{uuid}");
        let again = substitute("{{webhook_id}} {{uuid}}", at(), &mut rng).expect("valid");
        let (webhook_id, fresh) = again.split_once(' ').expect("two");
        assert_eq!(webhook_id, parts[6], "one webhook id for the whole run");
        assert_ne!(fresh, uuid, "a uuid is fresh each time");
    }

    #[test]
    fn bad_placeholders_are_errors() {
        let mut rng = rand::thread_rng();
        for bad in ["{{nope}}", "{{hex:x}}", "{{int:9-1}}", "{{now"] {
            assert!(substitute(bad, at(), &mut rng).is_err(), "{bad}");
        }
    }

    #[test]
    fn edits_set_json_values() {
        let body = br#"{"type":"engine.error","data":{"status":"ok","count":1}}"#;
        let edited = apply_edits(
            body,
            &[
                ("/data/status".into(), "OFFLINE".into()),
                ("/data/count".into(), "7".into()),
            ],
        )
        .expect("valid edits");
        assert_eq!(
            edited,
            br#"{"type":"engine.error","data":{"status":"OFFLINE","count":7}}"#
        );
        assert!(apply_edits(body, &[("/missing".into(), "1".into())]).is_err());
        assert!(apply_edits(b"\xff\xd8 jpeg", &[("/a".into(), "1".into())]).is_err());
    }
}
