//! What a platform's answer says when it is not what was asked for: a body shown redacted (no
//! credential, no secret, one sanitized line), the message it gives, and the one line each
//! failed status gets, naming the step and what to check.

use serde_json::Value;

use super::{Credentials, Platform, Request, Response, Step};
use crate::sanitize;

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
        "hmac",
        "passwd",
        "private",
        "cookie",
        "bearer",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// The most of a body shown in a message.
pub(super) const SHOWN: usize = 300;

/// A body as a message may show it: one sanitized line, cut to `SHOWN` characters, with the
/// whole value of a field named like a credential (a string, a number, an object, an array),
/// every `dolby_sec_` or `whsec_` secret and every one of `hidden` replaced by `***`. A body that
/// is not JSON gets the same: each `"name": value`, `name=value` or `name: value` whose name
/// is a credential's has its value masked.
///
/// ```
/// use hookscope::register::api::redacted;
/// let body = br#"{"id":"wh_1","secret":"dolby_sec_x","note":"key abc123"}"#;
/// assert_eq!(redacted(body, &["abc123"]), r#"{"id":"wh_1","secret":"***","note":"key ***"}"#);
/// assert_eq!(redacted(br#"{"signingKey":["a","b"]}"#, &[]), r#"{"signingKey":"***"}"#);
/// assert_eq!(redacted(br#"{"id": NaN, "secret": "plain"}"#, &[]), r#"{"id": NaN, "secret": "***"}"#);
/// assert_eq!(redacted(b"error token=abc&x=1", &[]), "error token=***&x=1");
/// assert_eq!(redacted(b"", &[]), "(empty)");
/// ```
pub fn redacted(body: &[u8], hidden: &[&str]) -> String {
    fn walk(value: &mut Value, hidden: &[&str]) {
        match value {
            Value::Object(map) => {
                for (name, value) in map.iter_mut() {
                    match sensitive(name) && !value.is_null() {
                        true => *value = Value::from("***"),
                        false => walk(value, hidden),
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
        Err(_) => mask(&pairs_masked(&String::from_utf8_lossy(body)), hidden),
    };
    let line = sanitize::line(&text);
    match line.chars().count() > SHOWN {
        true => format!("{}…", line.chars().take(SHOWN).collect::<String>()),
        false => line.into_owned(),
    }
}

/// The prefixes of signing secrets the platforms (and Svix-style senders) hand out.
const SECRET_PREFIXES: [&str; 2] = ["dolby_sec_", "whsec_"];

/// `text` with each of `hidden` and each `dolby_sec_…` or `whsec_…` word replaced by `***`.
fn mask(text: &str, hidden: &[&str]) -> String {
    let mut text = text.to_owned();
    for value in hidden.iter().filter(|v| !v.is_empty()) {
        text = text.replace(value, "***");
    }
    for prefix in SECRET_PREFIXES {
        let mut from = 0;
        while let Some(at) = text[from..].find(prefix).map(|n| from + n) {
            let end = text[at..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '/' | '=')))
                .map_or(text.len(), |n| at + n);
            text.replace_range(at..end, "***");
            from = at + 3;
        }
    }
    text
}

/// Text that is not JSON with the value of each `"name": value`, `name=value` or `name: value`
/// whose name is a credential's replaced by `***` (a quoted value keeps its quotes, a bracketed
/// one is masked to its closing bracket).
fn pairs_masked(text: &str) -> String {
    let is_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(is_name) {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let name_end = rest.find(|c: char| !is_name(c)).unwrap_or(rest.len());
        let (name, after) = rest.split_at(name_end);
        out.push_str(name);
        rest = after;
        // `"name": `, `name=`, `name :`: an optional closing quote, blanks, the separator, blanks.
        let quote = rest.strip_prefix(['"', '\'']).unwrap_or(rest);
        let spaced = quote.trim_start_matches([' ', '\t']);
        let Some(value) = spaced.strip_prefix([':', '=']) else {
            continue;
        };
        if !sensitive(name) {
            continue;
        }
        let value = value.trim_start_matches([' ', '\t']);
        out.push_str(&rest[..rest.len() - value.len()]);
        let (masked, left) = match value.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let mut escaped = false;
                let end = value[1..]
                    .char_indices()
                    .find(|&(_, c)| {
                        let closes = c == q && !escaped;
                        escaped = c == '\\' && !escaped;
                        closes
                    })
                    .map_or(value.len(), |(n, _)| 1 + n + 1);
                (format!("{q}***{q}"), &value[end..])
            }
            Some(open @ ('{' | '[')) => {
                let close = if open == '{' { '}' } else { ']' };
                let mut depth = 0usize;
                let end = value
                    .char_indices()
                    .find(|&(_, c)| {
                        if c == open {
                            depth += 1;
                        } else if c == close {
                            depth = depth.saturating_sub(1);
                        }
                        depth == 0
                    })
                    .map_or(value.len(), |(n, _)| n + 1);
                ("***".to_owned(), &value[end..])
            }
            _ => {
                let end = value
                    .find(|c: char| {
                        c.is_whitespace() || matches!(c, ',' | ';' | '&' | '}' | ']' | '"' | '\'')
                    })
                    .unwrap_or(value.len());
                let masked = if end == 0 { String::new() } else { "***".to_owned() };
                (masked, &value[end..])
            }
        };
        out.push_str(&masked);
        rest = left;
    }
    out.push_str(rest);
    out
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
