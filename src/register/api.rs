//! The platforms' webhook APIs as their documentation gives them, and nothing else: each step's
//! request, and what its answer means. Pure: no sockets (the exchange is `register::http`'s).
//!
//! - OptiView (`../shared/providers/002_*.txt`): `POST /v2/webhooks` with `{name, url, events}`,
//!   `GET /v2/webhooks/{id}/secret`, `PATCH /v2/webhooks/{id}` with `{"active": false}`, then
//!   `DELETE /v2/webhooks/{id}` ("You must deactivate a webhook before deleting it"); HTTP Basic
//!   auth with an API token's key and secret.
//! - Millicast (`000_*.txt`): `POST /api/webhooks` with the URL and one boolean per hook type,
//!   the webhook's secret in the answer; `DELETE /api/webhooks/{id}`; `Authorization: Bearer`
//!   with the account's API secret.
//!
//! The answers' exact shapes are not in those pages: the id and the secret are read where the
//! examples and the usual envelopes put them (top level, or under `data`), and an answer without
//! them is reported with its status and a redacted body.

use std::fmt;

use base64::Engine as _;
use serde_json::Value;

use crate::sanitize;
use crate::verify::Secret;

mod answer;

pub use answer::{Failed, missing, redacted};

/// A platform hookscope can register a webhook at.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Dolby OptiView (THEOlive v2): `api.theo.live`.
    Optiview,
    /// Dolby.io Real-time Streaming (Millicast): `api.millicast.com`.
    Millicast,
}

impl Platform {
    /// Every platform, in the order they are listed.
    pub const ALL: [Platform; 2] = [Platform::Optiview, Platform::Millicast];

    /// Its name: the provider profile's, and the one on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Platform::Optiview => "optiview",
            Platform::Millicast => "millicast",
        }
    }

    /// The API's documented base URL.
    pub fn default_base(self) -> &'static str {
        match self {
            Platform::Optiview => "https://api.theo.live",
            Platform::Millicast => "https://api.millicast.com",
        }
    }

    /// The webhooks collection under the base URL.
    fn collection(self) -> &'static str {
        match self {
            Platform::Optiview => "/v2/webhooks",
            Platform::Millicast => "/api/webhooks",
        }
    }

    /// The platform's name from the command line or a state file.
    pub fn from_name(name: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Millicast's hook types (000: feeds, media/recording, thumbnail, transcoder, viewerConnection),
/// as `(name on the command line, field of the request)`.
pub const MILLICAST_HOOKS: [(&str, &str); 5] = [
    ("feeds", "isFeedHooks"),
    ("recording", "isRecordingHooks"),
    ("thumbnail", "isThumbnailHooks"),
    ("transcoder", "isTranscoderHooks"),
    ("viewerConnection", "isViewerConnectionHooks"),
];

/// What a webhook listens to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Events {
    /// Everything: OptiView's `["*"]`, every Millicast hook type on.
    All,
    /// These OptiView event types, or these Millicast hook types (names of [`MILLICAST_HOOKS`]).
    Only(Vec<String>),
}

impl fmt::Display for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Events::All => f.write_str("all events"),
            Events::Only(names) => f.write_str(&names.join(", ")),
        }
    }
}

/// The API credentials of one platform, from the environment or `hookscope.toml`; their
/// `Debug` shows only where they came from.
#[derive(Clone)]
pub struct Credentials {
    /// The `Authorization` header's value.
    authorization: Secret,
    /// The values themselves, to be kept out of anything shown.
    values: Vec<Secret>,
    /// Where they came from, to say what to check: `HOOKSCOPE_MILLICAST_API_SECRET`.
    pub source: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials(MASKED, from {})", self.source)
    }
}

impl Credentials {
    /// OptiView's HTTP Basic credentials: `base64(key:secret)` of an API token.
    pub fn optiview(key: &str, secret: &str, source: String) -> Self {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{key}:{secret}"));
        Self {
            authorization: Secret::new(format!("Basic {token}")),
            values: vec![Secret::new(key), Secret::new(secret), Secret::new(token)],
            source,
        }
    }

    /// Millicast's bearer credentials: the account's API secret.
    pub fn millicast(secret: &str, source: String) -> Self {
        Self {
            authorization: Secret::new(format!("Bearer {secret}")),
            values: vec![Secret::new(secret)],
            source,
        }
    }

    /// The `Authorization` header's value; only for the request.
    pub fn authorization(&self) -> &str {
        self.authorization.expose()
    }

    /// The values never to show, longest first (so a value holding another is masked whole).
    pub fn hidden(&self) -> Vec<&str> {
        let mut hidden: Vec<&str> = self
            .values
            .iter()
            .map(Secret::expose)
            .filter(|v| !v.is_empty())
            .collect();
        hidden.sort_by_key(|v| std::cmp::Reverse(v.len()));
        hidden
    }
}

/// The HTTP methods the APIs use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Read.
    Get,
    /// Create.
    Post,
    /// Update.
    Patch,
    /// Remove.
    Delete,
}

impl Method {
    /// As on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// One request to a platform's API (the credentials are added when it is sent).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The whole URL.
    pub url: String,
    /// A JSON body, when there is one.
    pub body: Option<Value>,
}

/// What one exchange with a platform's API gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body, as far as it was read.
    pub body: Vec<u8>,
    /// Its `Content-Type`, when it said one.
    pub content_type: Option<String>,
}

/// The steps of a registration's life, for requests and for what is said when one fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Creating the webhook.
    Create,
    /// Reading its signing secret (OptiView).
    Secret,
    /// Deactivating it, which OptiView requires before deleting (OptiView).
    Deactivate,
    /// Deleting it.
    Delete,
}

impl Step {
    /// The step in words: `deleting optiview webhook wh_1`.
    pub fn describe(self, platform: Platform, id: Option<&str>) -> String {
        let id = id
            .map(|id| format!(" {}", sanitize::line(id)))
            .unwrap_or_default();
        match self {
            Step::Create => format!("creating the {platform} webhook"),
            Step::Secret => format!("reading the secret of {platform} webhook{id}"),
            Step::Deactivate => format!("deactivating {platform} webhook{id}"),
            Step::Delete => format!("deleting {platform} webhook{id}"),
        }
    }
}

/// `base` without a trailing `/`, then `path`.
fn join(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

/// The webhook's own URL: the collection, then its id as one path segment (percent-escaped: an
/// id is the platform's text and must not become a path of its own, `../` or `?`).
fn item(platform: Platform, base: &str, id: &str) -> String {
    let mut segment = String::with_capacity(id.len());
    for byte in id.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'~' => segment.push(char::from(byte)),
            // `.` alone or doubled would be a dot segment; escaping every dot is always right.
            _ => segment.push_str(&format!("%{byte:02X}")),
        }
    }
    join(base, &format!("{}/{segment}", platform.collection()))
}

/// The request that creates a webhook named `name` sending `events` to `url`.
pub fn create(platform: Platform, base: &str, name: &str, url: &str, events: &Events) -> Request {
    let body = match platform {
        Platform::Optiview => {
            let events: Vec<&str> = match events {
                Events::All => vec!["*"],
                Events::Only(names) => names.iter().map(String::as_str).collect(),
            };
            serde_json::json!({ "name": name, "url": url, "events": events })
        }
        Platform::Millicast => {
            let mut body = serde_json::Map::new();
            body.insert("url".into(), Value::from(url));
            for (hook, field) in MILLICAST_HOOKS {
                let on = match events {
                    Events::All => true,
                    Events::Only(names) => names.iter().any(|n| n == hook),
                };
                body.insert(field.into(), Value::from(on));
            }
            Value::Object(body)
        }
    };
    Request {
        method: Method::Post,
        url: join(base, platform.collection()),
        body: Some(body),
    }
}

/// The request that reads webhook `id`'s signing secret, for a platform that does not give it
/// in the creation's answer (OptiView).
pub fn secret(platform: Platform, base: &str, id: &str) -> Option<Request> {
    (platform == Platform::Optiview).then(|| Request {
        method: Method::Get,
        url: format!("{}/secret", item(platform, base, id)),
        body: None,
    })
}

/// The request that deactivates webhook `id` before it is deleted, where the platform requires
/// it (OptiView).
pub fn deactivate(platform: Platform, base: &str, id: &str) -> Option<Request> {
    (platform == Platform::Optiview).then(|| Request {
        method: Method::Patch,
        url: item(platform, base, id),
        body: Some(serde_json::json!({ "active": false })),
    })
}

/// The request that deletes webhook `id`.
pub fn delete(platform: Platform, base: &str, id: &str) -> Request {
    Request {
        method: Method::Delete,
        url: item(platform, base, id),
        body: None,
    }
}

/// The longest id or secret taken from an answer; anything longer is not what it seems.
const LONGEST_VALUE: usize = 512;

/// A value fit to be an id or a secret: printable ASCII without blanks, not too long.
fn plausible(text: &str) -> bool {
    !text.is_empty() && text.len() <= LONGEST_VALUE && text.bytes().all(|b| b.is_ascii_graphic())
}

/// `field` of `value`, or of its `data` object.
fn field<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    value
        .get(name)
        .or_else(|| value.get("data").and_then(|data| data.get(name)))
}

/// The webhook's id in a creation's answer: `id` at the top level or under `data`, a string or
/// a whole number.
///
/// ```
/// use hookscope::register::api::read_id;
/// assert_eq!(read_id(br#"{"id":"wh_1","name":"x"}"#).as_deref(), Some("wh_1"));
/// assert_eq!(read_id(br#"{"status":"success","data":{"id":42}}"#).as_deref(), Some("42"));
/// assert_eq!(read_id(br#"{"data":{"webhook":"wh_1"}}"#), None);
/// ```
pub fn read_id(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let id = match field(&value, "id")? {
        Value::String(id) => id.clone(),
        Value::Number(n) if n.is_u64() || n.is_i64() => n.to_string(),
        _ => return None,
    };
    plausible(&id).then_some(id)
}

/// The signing secret in an answer: `secret` at the top level or under `data`, `data` itself
/// when it is a string, a JSON string, or a body of one word when the answer is `text/plain`
/// (or says no type). Never from an HTML page (a proxy's or a captive portal's, answered 200).
///
/// ```
/// use hookscope::register::api::read_secret;
/// let json = Some("application/json");
/// assert_eq!(read_secret(br#"{"secret":"dolby_sec_a"}"#, json).as_deref(), Some("dolby_sec_a"));
/// assert_eq!(read_secret(br#"{"data":{"secret":"c2Vj"}}"#, json).as_deref(), Some("c2Vj"));
/// assert_eq!(read_secret(br#""dolby_sec_b""#, json).as_deref(), Some("dolby_sec_b"));
/// assert_eq!(read_secret(b"dolby_sec_c\n", Some("text/plain; charset=utf-8")).as_deref(), Some("dolby_sec_c"));
/// assert_eq!(read_secret(b"<html>login</html>", Some("text/html")), None);
/// assert_eq!(read_secret(br#"{"message":"not found"}"#, json), None);
/// ```
pub fn read_secret(body: &[u8], content_type: Option<&str>) -> Option<String> {
    let essence = content_type
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase());
    let plain = essence
        .as_deref()
        .is_none_or(|t| t.is_empty() || t == "text/plain");
    if essence.as_deref().is_some_and(|t| t.contains("html")) {
        return None;
    }
    let secret = match serde_json::from_slice::<Value>(body) {
        Ok(Value::String(secret)) => secret,
        Ok(value) => match field(&value, "secret").or_else(|| value.get("data")) {
            Some(Value::String(secret)) => secret.clone(),
            _ => return None,
        },
        Err(_) if plain => std::str::from_utf8(body).ok()?.trim().to_owned(),
        Err(_) => return None,
    };
    plausible(&secret).then_some(secret)
}

#[cfg(test)]
mod tests;
