//! The platforms' webhook APIs as their documentation gives them, and nothing else: each step's
//! request, and what its answer means. Pure: no sockets (the exchange is [`super::http`]'s).
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
/// when it is a string, a JSON string, or a body of one word (a `text/plain` answer).
///
/// ```
/// use hookscope::register::api::read_secret;
/// assert_eq!(read_secret(br#"{"secret":"dolby_sec_a"}"#).as_deref(), Some("dolby_sec_a"));
/// assert_eq!(read_secret(br#"{"data":{"secret":"c2Vj"}}"#).as_deref(), Some("c2Vj"));
/// assert_eq!(read_secret(br#""dolby_sec_b""#).as_deref(), Some("dolby_sec_b"));
/// assert_eq!(read_secret(b"dolby_sec_c\n").as_deref(), Some("dolby_sec_c"));
/// assert_eq!(read_secret(br#"{"message":"not found"}"#), None);
/// ```
pub fn read_secret(body: &[u8]) -> Option<String> {
    let secret = match serde_json::from_slice::<Value>(body) {
        Ok(Value::String(secret)) => secret,
        Ok(value) => match field(&value, "secret").or_else(|| value.get("data")) {
            Some(Value::String(secret)) => secret.clone(),
            _ => return None,
        },
        Err(_) => std::str::from_utf8(body).ok()?.trim().to_owned(),
    };
    plausible(&secret).then_some(secret)
}

/// Whether a JSON field's name says its value is a credential.
fn sensitive(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "secret",
        "token",
        "key",
        "password",
        "auth",
        "signature",
        "credential",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// The most of a body shown in a message.
const SHOWN: usize = 300;

/// A body as a message may show it: one sanitized line, cut to [`SHOWN`] characters, with every
/// value of a field named like a credential, every `dolby_sec_` secret and every one of `hidden`
/// replaced by `***`.
///
/// ```
/// use hookscope::register::api::redacted;
/// let body = br#"{"id":"wh_1","secret":"dolby_sec_x","note":"key abc123"}"#;
/// assert_eq!(redacted(body, &["abc123"]), r#"{"id":"wh_1","secret":"***","note":"key ***"}"#);
/// assert_eq!(redacted(b"", &[]), "(empty)");
/// ```
pub fn redacted(body: &[u8], hidden: &[&str]) -> String {
    fn walk(value: &mut Value, hidden: &[&str]) {
        match value {
            Value::Object(map) => {
                for (name, value) in map.iter_mut() {
                    match value {
                        Value::String(_) | Value::Number(_) if sensitive(name) => *value = Value::from("***"),
                        other => walk(other, hidden),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, hidden)),
            Value::String(text) => *text = mask(text, hidden),
            _ => {}
        }
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return "(empty)".into();
    }
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(mut value) => {
            walk(&mut value, hidden);
            value.to_string()
        }
        Err(_) => mask(&String::from_utf8_lossy(body), hidden),
    };
    let line = sanitize::line(&text);
    match line.chars().count() > SHOWN {
        true => format!("{}…", line.chars().take(SHOWN).collect::<String>()),
        false => line.into_owned(),
    }
}

/// `text` with each of `hidden` and each `dolby_sec_…` word replaced by `***`.
fn mask(text: &str, hidden: &[&str]) -> String {
    let mut text = text.to_owned();
    for value in hidden.iter().filter(|v| !v.is_empty()) {
        text = text.replace(value, "***");
    }
    while let Some(at) = text.find("dolby_sec_") {
        let end = text[at..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .map_or(text.len(), |n| at + n);
        text.replace_range(at..end, "***");
    }
    text
}

/// The message an answer's body gives, where APIs usually put one (`message`, `error`,
/// `error.message`, `errors[0].message`, `detail`, `title`), redacted.
fn message(body: &[u8], hidden: &[&str]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let candidates = [
        value.get("message"),
        value.get("error").filter(|e| e.is_string()),
        value.get("error").and_then(|e| e.get("message")),
        value
            .get("errors")
            .and_then(|e| e.get(0))
            .and_then(|e| e.get("message").or(Some(e))),
        value.get("detail"),
        value.get("title"),
    ];
    let text = candidates.into_iter().flatten().find_map(Value::as_str)?;
    let text = redacted(&serde_json::to_vec(text).ok()?, hidden);
    Some(text.trim_matches('"').to_owned())
}

/// The status's reason phrase, when it has one.
fn reason(status: u16) -> String {
    hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!("{status} {r}"))
        .unwrap_or_else(|| status.to_string())
}

/// Everything needed to say what a failed answer means.
pub struct Failed<'a> {
    /// The platform.
    pub platform: Platform,
    /// The step that failed.
    pub step: Step,
    /// The webhook, when the step is about one.
    pub id: Option<&'a str>,
    /// The request sent.
    pub request: &'a Request,
    /// The answer.
    pub response: &'a Response,
    /// The credentials used (their source is named, their values hidden).
    pub credentials: &'a Credentials,
    /// What `--api-base` means for this platform now.
    pub base: &'a str,
}

impl Failed<'_> {
    /// One line: the step, the request, the status, what it means and what to check.
    pub fn line(&self) -> String {
        let Failed {
            platform,
            step,
            id,
            request,
            response,
            credentials,
            base,
        } = self;
        let hidden = credentials.hidden();
        let said = message(&response.body, &hidden)
            .map(|m| format!(" (it said: {m})"))
            .unwrap_or_default();
        let meaning = match response.status {
            401 => format!(
                "{platform} refused the API credentials from {}{said}: check that they are a current API {}",
                credentials.source,
                match platform {
                    Platform::Optiview => "token's key and secret",
                    Platform::Millicast => "secret of the account",
                }
            ),
            403 => format!(
                "the API credentials from {} may not manage webhooks{said}: give them that permission in the {platform} dashboard",
                credentials.source
            ),
            404 if *step == Step::Create => format!(
                "there is no webhooks API at {}{said}: check --api-base {platform}=URL (now {base})",
                request.url
            ),
            404 => format!("{platform} has no such webhook (removed already?){said}"),
            409 | 422 | 400 => format!(
                "{platform} refused what was sent{said}: check --events and that the webhook URL is public (https://)"
            ),
            429 => format!("{platform} is rate-limiting these credentials{said}: try again in a minute"),
            500..=599 => format!("{platform} failed on its side{said}: try again in a moment"),
            _ => format!("unexpected answer: {}", redacted(&response.body, &hidden)),
        };
        format!(
            "{}: {} {} answered {}: {meaning}",
            step.describe(*platform, *id),
            request.method.as_str(),
            sanitize::url(&request.url),
            reason(response.status),
        )
    }
}

/// The line for an answer that succeeded but lacks what it should hold (`what`: "an id").
pub fn missing(
    platform: Platform,
    step: Step,
    id: Option<&str>,
    what: &str,
    response: &Response,
    hidden: &[&str],
) -> String {
    format!(
        "{}: the answer ({}) holds no {what} where {platform}'s documentation and the usual envelopes put it (top level or under \"data\"); it was: {}",
        step.describe(platform, id),
        reason(response.status),
        redacted(&response.body, hidden)
    )
}

#[cfg(test)]
mod tests;
