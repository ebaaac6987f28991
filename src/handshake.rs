//! Handshakes answered for you: the checks a sender makes of a URL before it sends events to it,
//! so a URL can be registered before the app behind it exists.
//!
//! - **Slack** Events API `url_verification` (a POST of `{"type":"url_verification",
//!   "challenge":"…"}`): answered 200 `{"challenge":"…"}`, whatever the signature's verdict (the
//!   challenge proves only that the URL is reachable, and Slack's docs say to echo it; the
//!   verdict is recorded as for any capture).
//! - **Zoom** `endpoint.url_validation` (a POST of `{"event":"endpoint.url_validation",
//!   "payload":{"plainToken":"…"}}`): answered 200 `{"plainToken":"…","encryptedToken":"<hex
//!   HMAC-SHA256(secret, plainToken)>"}` with the configured Zoom secret (`--secret zoom=…`), only
//!   when the request's signature is valid with that secret, as Zoom's sample receiver does:
//!   the token is an HMAC with the secret, and answering anyone would let them have any text
//!   signed with it (a Zoom signature is one). Without a secret: 403, saying what to pass.
//! - **Meta** (WhatsApp, Messenger, Instagram) verification, `GET
//!   ?hub.mode=subscribe&hub.challenge=C&hub.verify_token=T`: answered 200 with `C` as
//!   `text/plain` only when `T` is the configured verify token (`--verify-token meta=T`);
//!   otherwise 403.
//!
//! Each is decided from the captured, analyzed request before routes are consulted, and the
//! capture records it ([`Handshake::what`] becomes `derived.handshake`, the status what the
//! sender heard). A challenge is echoed only when it looks like one: 1 to 1024 printable ASCII
//! characters (real ones are a few dozen); anything else (a megabyte, CR/LF, bytes that are not
//! UTF-8) is refused with 400 and never reflected, and a JSON body or a query naming a field
//! twice is refused rather than guessed at. A refusal carries `X-Content-Type-Options: nosniff`
//! and is plain text; so is Meta's echoed challenge, so no browser reads it as HTML.
//!
//! Pure: no I/O; the server carries out the answer once the capture is journaled.

use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use hyper::StatusCode;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::analysis::Analyzer;
use crate::capture::Capture;
use crate::forward::task::{Delivery, Dispatch};
use crate::routes::Reply;
use crate::verify::{self, Key, Request, Scheme, Secret, Verdict};

/// The longest challenge echoed (Slack's are about 50 characters, Zoom's 22, Meta's 10).
pub const MAX_CHALLENGE: usize = 1024;

/// What a listener needs to answer handshakes: Zoom's secrets and scheme, Meta's verify tokens.
#[derive(Debug, Clone, Default)]
pub struct Handshakes {
    /// Zoom's scheme and tolerance (from its profile), and its configured secrets.
    zoom: Option<(Scheme, Duration)>,
    zoom_secrets: Vec<Secret>,
    /// Meta's configured verify tokens (several: any matches).
    meta_tokens: Vec<Secret>,
}

/// A handshake recognised in a capture, and what its sender hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// What the sender hears, at once.
    pub reply: Reply,
    /// What it was and what was answered, one line without anything the sender wrote:
    /// `slack url_verification: answered the challenge`.
    pub what: String,
    /// The provider it comes from (for a capture no profile recognised: Meta's GET is unsigned).
    pub provider: &'static str,
    /// Its event type, for a capture without one.
    pub event_type: &'static str,
}

impl Handshakes {
    /// The handshakes `analyzer`'s keys can answer: its Zoom secrets, its Meta verify tokens.
    pub fn new(analyzer: &Analyzer) -> Self {
        let keys = analyzer.keys();
        let zoom = analyzer
            .catalog()
            .get("zoom")
            .map(|profile| (profile.scheme.clone(), profile.tolerance));
        let zoom_secrets = keys
            .for_provider("zoom")
            .iter()
            .filter_map(|key| match key {
                Key::Secret(secret) => Some(secret.clone()),
                Key::RsaPublic(_) => None,
            })
            .collect();
        Self {
            zoom,
            zoom_secrets,
            meta_tokens: keys.verify_tokens("meta").to_vec(),
        }
    }

    /// The handshake `capture` is, if it is one, and its answer. `None`: an ordinary request.
    pub fn answer(&self, capture: &Capture) -> Option<Handshake> {
        if capture.method == "GET" {
            return self.meta(capture);
        }
        if capture.method != "POST" {
            return None;
        }
        let derived = &capture.derived;
        match (derived.provider.as_deref(), derived.event_type.as_deref()) {
            (None | Some("slack"), Some("url_verification")) => slack(capture),
            (None | Some("zoom"), Some("endpoint.url_validation")) => self.zoom(capture),
            _ => None,
        }
    }

    fn zoom(&self, capture: &Capture) -> Option<Handshake> {
        #[derive(Deserialize)]
        struct Body {
            event: String,
            payload: Option<Payload>,
        }
        #[derive(Deserialize)]
        struct Payload {
            #[serde(rename = "plainToken")]
            plain_token: Option<serde_json::Value>,
        }
        let refuse = |status, why: &str| Some(refused(status, ZOOM, why));
        let body: Body = match serde_json::from_slice(&capture.body) {
            Ok(body) => body,
            Err(err) => return refuse(StatusCode::BAD_REQUEST, &not_as_sent(&err)),
        };
        if body.event != "endpoint.url_validation" {
            return None;
        }
        let plain = body.payload.and_then(|p| p.plain_token);
        let token = match challenge(plain.as_ref(), "payload.plainToken") {
            Ok(token) => token,
            Err(why) => return refuse(StatusCode::BAD_REQUEST, &why),
        };
        let Some((scheme, tolerance)) = &self.zoom else {
            return refuse(
                StatusCode::FORBIDDEN,
                "there is no zoom profile to check its signature with",
            );
        };
        if self.zoom_secrets.is_empty() {
            return refuse(
                StatusCode::FORBIDDEN,
                "no zoom secret is configured, and the answer is an HMAC with it: pass \
                 --secret zoom=SECRET_TOKEN (the app's Secret Token, under Features → Access) and \
                 validate again",
            );
        }
        // The secret that signed the request is the one Zoom checks the answer with.
        let request = Request::from(capture);
        let now = capture.received_at.timestamp();
        let signer = self.zoom_secrets.iter().find(|secret| {
            let key = [Key::Secret((*secret).clone())];
            verify::verdict(scheme, &request, &key, *tolerance, now).verdict == Verdict::Valid
        });
        let Some(secret) = signer else {
            let verdict = capture.derived.verdict.as_deref().unwrap_or("unsigned");
            let detail = capture
                .derived
                .verdict_detail
                .as_deref()
                .unwrap_or("no signature");
            return refuse(
                StatusCode::UNAUTHORIZED,
                &format!(
                    "its signature is not valid with the configured zoom secret ({verdict}: {detail}); \
                     only a request Zoom signed is answered, since the answer is an HMAC with the secret"
                ),
            );
        };
        let encrypted = encrypted_token(secret.expose(), token);
        let answer = serde_json::json!({ "plainToken": token, "encryptedToken": encrypted });
        Some(Handshake {
            reply: reply(
                StatusCode::OK,
                "application/json",
                Bytes::from(answer.to_string()),
            ),
            what: "zoom endpoint.url_validation: answered plainToken and encryptedToken".into(),
            provider: ZOOM.0,
            event_type: ZOOM.1,
        })
    }

    fn meta(&self, capture: &Capture) -> Option<Handshake> {
        let query = capture.query.as_deref()?;
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (form_decode(name), form_decode(value))
            })
            .collect();
        let named = |name: &str| -> Vec<&[u8]> {
            pairs
                .iter()
                .filter(|(n, _)| n == name.as_bytes())
                .map(|(_, v)| v.as_slice())
                .collect()
        };
        let (mode, given, token) = (
            named("hub.mode"),
            named("hub.challenge"),
            named("hub.verify_token"),
        );
        if mode.is_empty() && given.is_empty() {
            return None;
        }
        // A WebSub hub's verification (YouTube's PubSubHubbub) names its topic; Meta's never
        // does. Not Meta's to answer, nor to refuse.
        if !named("hub.topic").is_empty() {
            return None;
        }
        // A route naming another provider for this path: its sender's, not Meta's.
        if capture.derived.provider.as_deref().is_some_and(|p| p != "meta") {
            return None;
        }
        let refuse = |status, why: &str| Some(refused(status, META, why));
        for (name, values) in [
            ("hub.mode", &mode),
            ("hub.challenge", &given),
            ("hub.verify_token", &token),
        ] {
            if values.len() > 1 {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "the query gives {name} {} times; Meta gives it once",
                        values.len()
                    ),
                );
            }
        }
        if mode.first() != Some(&&b"subscribe"[..]) {
            return refuse(
                StatusCode::BAD_REQUEST,
                "hub.mode is not subscribe (the only mode Meta sends)",
            );
        }
        let challenge = match given.first() {
            None => return refuse(StatusCode::BAD_REQUEST, "the query has no hub.challenge"),
            Some(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => match self::challenge(Some(&serde_json::Value::from(text)), "hub.challenge") {
                    Ok(text) => text.to_owned(),
                    Err(why) => return refuse(StatusCode::BAD_REQUEST, &why),
                },
                Err(_) => {
                    return refuse(
                        StatusCode::BAD_REQUEST,
                        "hub.challenge is not text (its bytes are not UTF-8); it is not echoed",
                    );
                }
            },
        };
        if self.meta_tokens.is_empty() {
            return refuse(
                StatusCode::FORBIDDEN,
                "no verify token is configured for meta: pass --verify-token meta=TOKEN (the Verify \
                 Token typed in the app's Webhooks settings), or set [verify_tokens] meta in hookscope.toml",
            );
        }
        let Some(token) = token.first() else {
            return refuse(StatusCode::FORBIDDEN, "the query has no hub.verify_token");
        };
        let matches = self
            .meta_tokens
            .iter()
            .any(|known| bool::from(known.expose().as_bytes().ct_eq(token)));
        if !matches {
            return refuse(
                StatusCode::FORBIDDEN,
                "hub.verify_token is not the configured verify token (--verify-token meta=…); the \
                 challenge is answered only to the token typed in the app's Webhooks settings",
            );
        }
        let mut reply = reply(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            Bytes::from(challenge),
        );
        reply
            .headers
            .push((NOSNIFF.0, HeaderValue::from_static(NOSNIFF.1)));
        Some(Handshake {
            reply,
            what: "meta verification: answered the challenge (the verify token matched)".into(),
            provider: META.0,
            event_type: META.1,
        })
    }
}

/// Slack's `url_verification`: the challenge echoed as JSON.
fn slack(capture: &Capture) -> Option<Handshake> {
    #[derive(Deserialize)]
    struct Body {
        #[serde(rename = "type")]
        kind: String,
        challenge: Option<serde_json::Value>,
    }
    let refuse = |status, why: &str| Some(refused(status, SLACK, why));
    let body: Body = match serde_json::from_slice(&capture.body) {
        Ok(body) => body,
        Err(err) => return refuse(StatusCode::BAD_REQUEST, &not_as_sent(&err)),
    };
    // The type may have come from `event.type`: only the top-level one is the handshake.
    if body.kind != "url_verification" {
        return None;
    }
    let challenge = match challenge(body.challenge.as_ref(), "challenge") {
        Ok(challenge) => challenge,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, &why),
    };
    let answer = serde_json::json!({ "challenge": challenge });
    Some(Handshake {
        reply: reply(
            StatusCode::OK,
            "application/json",
            Bytes::from(answer.to_string()),
        ),
        what: "slack url_verification: answered the challenge".into(),
        provider: SLACK.0,
        event_type: SLACK.1,
    })
}

/// Whether `provider`'s `event_type` is a handshake `listen` answers itself (a sample of it
/// checks the listener, not the app: `send --all` leaves it out).
pub fn is_handshake(provider: &str, event_type: &str) -> bool {
    [SLACK, ZOOM, META].contains(&(provider, event_type))
}

/// What `listen` does with `provider`'s handshake, for `hookscope providers NAME`.
pub fn described(provider: &str) -> Option<&'static str> {
    Some(match provider {
        "slack" => "url_verification answered by listen with its challenge",
        "zoom" => {
            "endpoint.url_validation answered by listen with plainToken and encryptedToken, when \
             signed with the secret given by --secret zoom=…"
        }
        "meta" => {
            "GET ?hub.mode=subscribe&hub.challenge=… answered by listen with the challenge, to the \
             verify token given by --verify-token meta=…"
        }
        _ => return None,
    })
}

/// Deliveries as `0` decides them, but none of a handshake the listener answered (or refused):
/// its sender has its answer, and the app would answer a question already answered. With
/// `--no-handshakes` the listener answers none and this is not used.
pub struct NotForwarded(pub std::sync::Arc<dyn Dispatch>);

impl Dispatch for NotForwarded {
    fn deliveries(&self, capture: &Capture) -> Vec<Delivery> {
        match capture.derived.handshake {
            Some(_) => Vec::new(),
            None => self.0.deliveries(capture),
        }
    }
}

/// `hex(HMAC-SHA256(secret, plain_token))`: Zoom's `encryptedToken`.
///
/// ```
/// // Made with node: crypto.createHmac('sha256', 'zoom-secret').update('qgg8vlvZRS6UYooatFL8Aw').digest('hex')
/// assert_eq!(
///     hookscope::handshake::encrypted_token("zoom-secret", "qgg8vlvZRS6UYooatFL8Aw"),
///     "b17f0320a1322a509340a1a835b3d9edbc491f0b0790ed2d20d0604d39dfe922"
/// );
/// ```
pub fn encrypted_token(secret: &str, plain_token: &str) -> String {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(plain_token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A challenge worth echoing: a string of 1 to [`MAX_CHALLENGE`] printable ASCII characters.
fn challenge<'a>(value: Option<&'a serde_json::Value>, name: &str) -> Result<&'a str, String> {
    let text = match value {
        None | Some(serde_json::Value::Null) => return Err(format!("it has no {name}")),
        Some(serde_json::Value::String(text)) => text.as_str(),
        Some(_) => return Err(format!("its {name} is not a string")),
    };
    if text.is_empty() {
        return Err(format!("its {name} is empty"));
    }
    if text.len() > MAX_CHALLENGE {
        return Err(format!(
            "its {name} is {} bytes long; a real one is a few dozen (at most {MAX_CHALLENGE} are echoed)",
            text.len()
        ));
    }
    if let Some((at, byte)) = text.bytes().enumerate().find(|(_, b)| !(0x21..=0x7e).contains(b)) {
        return Err(format!(
            "its {name} holds byte 0x{byte:02x} at {at}, not printable ASCII; it is not echoed"
        ));
    }
    Ok(text)
}

/// Why a body that names a handshake cannot be read as its sender writes it (a field named
/// twice, a field of the wrong kind): one line.
fn not_as_sent(err: &serde_json::Error) -> String {
    format!("its JSON is not what the sender sends ({err}); it is not guessed at")
}

/// `X-Content-Type-Options: nosniff`: a browser never reads the answer as anything but its type.
/// A handshake's provider and event type.
type Kind = (&'static str, &'static str);
const SLACK: Kind = ("slack", "url_verification");
const ZOOM: Kind = ("zoom", "endpoint.url_validation");
const META: Kind = ("meta", "verification");

const NOSNIFF: (HeaderName, &str) = (HeaderName::from_static("x-content-type-options"), "nosniff");

fn reply(status: StatusCode, content_type: &'static str, body: Bytes) -> Reply {
    Reply {
        status,
        headers: vec![(CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
        delay: Duration::ZERO,
    }
}

/// A handshake hookscope does not answer, with why: plain text, never reflecting the request.
fn refused(status: StatusCode, (provider, event_type): Kind, why: &str) -> Handshake {
    let what = format!("{provider} {event_type}");
    let mut reply = reply(
        status,
        "text/plain; charset=utf-8",
        Bytes::from(format!("hookscope did not answer this {what}: {why}\n")),
    );
    reply
        .headers
        .push((NOSNIFF.0, HeaderValue::from_static(NOSNIFF.1)));
    Handshake {
        reply,
        what: format!("{what}: NOT answered ({}): {why}", status.as_u16()),
        provider,
        event_type,
    }
}

/// A query component decoded as `application/x-www-form-urlencoded`: `+` is a space, `%XX` a
/// byte; a `%` not followed by two hex digits stays as it is (as browsers and servers read it).
fn form_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let hex = |at: usize| bytes.get(at).and_then(|&b| (b as char).to_digit(16));
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        match (byte, hex(at + 1), hex(at + 2)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                at += 3;
                continue;
            }
            (b'+', ..) => out.push(b' '),
            (byte, ..) => out.push(byte),
        }
        at += 1;
    }
    out
}

#[cfg(test)]
mod tests;
