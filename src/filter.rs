//! The filter language shared by `listen --filter`, `log --filter` and (later) the TUI,
//! `replay` and `export`.
//!
//! Space-separated terms, all of which must hold; `!term` negates one. `field:pattern` matches a
//! field with `*` globs (case-insensitive); a bare word searches the path, the event type and the
//! body. Values with spaces are quoted: `body:"stream ended"`.
//!
//! | term | holds when |
//! | --- | --- |
//! | `type:engine.*` `provider:optiview` `method:post` `path:/hooks/*` `via:relay:*` | the field matches the glob |
//! | `sig:invalid` | the verdict is that one (`valid`, `invalid`, `stale`, `unsigned`, `no-secret`, `none-documented`) |
//! | `form:json-stringify` | the signature matched that form of the body (`raw`, `json-stringify`) |
//! | `caveat` | the signature is valid, but only in the form the sender's documented receiver does not hash |
//! | `status:5xx` `status:404` `status:none` | the last delivery to the local app had that status (or there was none) |
//! | `header:name` `header:name=value` | the header is present (with a value matching the glob) |
//! | `body:text` | the body contains the text (case-insensitive) |
//! | `json:/pointer` `json:/pointer=value` | the JSON body has that field (with a scalar value matching the glob) |
//! | `dup` | the same idempotency key (or the same event and body) was seen before |
//! | `late` | the event is older than one already received about the same object |
//! | `handshake` | the listener answered (or refused) a sender's handshake for you (Slack, Zoom, Meta) |
//!
//! Parsing reports the first error with its byte position, so an editor can point at it. The
//! module is pure: no I/O.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::BuildHasher;

use chrono::{DateTime, Utc};

use crate::capture::Capture;
use crate::config::glob_match;

/// The verdict labels `sig:` accepts.
const VERDICTS: [&str; 6] = [
    "valid",
    "invalid",
    "stale",
    "unsigned",
    "no-secret",
    "none-documented",
];
/// What journals written before 0.2 call `none-documented`; still accepted.
const OLD_NONE_DOCUMENTED: &str = "not-signed-by-design";
/// The fields, for error messages.
const FIELDS: &str =
    "type, provider, method, path, sig, form, status, header, body, json, via, dup, late, caveat, handshake";

/// A parsed filter: every term must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    terms: Vec<Term>,
    /// The text it was parsed from.
    text: String,
}

/// One term, possibly negated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    negated: bool,
    predicate: Predicate,
}

/// What a term tests.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Predicate {
    Type(String),
    Provider(String),
    Method(String),
    Path(String),
    Via(String),
    Sig(String),
    Form(String),
    Status(StatusPattern),
    Header { name: String, value: Option<String> },
    Body(String),
    Json { pointer: String, value: Option<String> },
    Dup,
    Late,
    Caveat,
    Handshake,
    Word(String),
}

/// A delivery status pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusPattern {
    /// `2xx`: the hundreds digit.
    Class(u16),
    /// `404`.
    Exact(u16),
    /// `none`: never delivered.
    None,
}

/// Where and why a filter does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset in the filter text where the problem starts.
    pub position: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at column {}: {}", self.position + 1, self.message)
    }
}

impl std::error::Error for ParseError {}

/// What the matcher needs to know beyond the capture itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Marks {
    /// Seen before (same idempotency key, or same event and body).
    pub dup: bool,
    /// Older than an event already received about the same object.
    pub late: bool,
    /// The status of the last delivery to the local app, if any.
    pub delivery: Option<u16>,
}

impl Filter {
    /// Parses a filter; an empty text matches everything.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let terms = tokens(text)?
            .into_iter()
            .map(|(position, token)| term(position, &token))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            terms,
            text: text.to_owned(),
        })
    }

    /// The text the filter was parsed from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the filter has no terms.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether any term needs `dup` or `late`, so callers can skip the [`Tracker`] otherwise.
    pub fn needs_tracker(&self) -> bool {
        self.terms
            .iter()
            .any(|t| matches!(t.predicate, Predicate::Dup | Predicate::Late))
    }

    /// Whether any term reads the delivery status, which changes as attempts come in.
    pub fn reads_deliveries(&self) -> bool {
        self.terms
            .iter()
            .any(|t| matches!(t.predicate, Predicate::Status(_)))
    }

    /// Whether any term reads the headers or the body, which a compact index (the TUI's, at
    /// scale) does not hold: such a filter needs the whole capture.
    pub fn needs_request(&self) -> bool {
        self.terms.iter().any(|t| {
            matches!(
                t.predicate,
                Predicate::Header { .. } | Predicate::Body(_) | Predicate::Json { .. } | Predicate::Word(_)
            )
        })
    }

    /// Whether any term reads what analysis derives (provider, event type, verdict, signed
    /// form, caveat), which a request does not carry as it arrives (routes that name a
    /// provider are matched before analysis).
    pub fn reads_analysis(&self) -> bool {
        self.terms.iter().any(|t| {
            matches!(
                t.predicate,
                Predicate::Type(_)
                    | Predicate::Provider(_)
                    | Predicate::Sig(_)
                    | Predicate::Form(_)
                    | Predicate::Caveat
                    | Predicate::Handshake
            )
        })
    }

    /// Whether `capture` (with its `marks`) satisfies every term.
    pub fn matches(&self, capture: &impl Subject, marks: &Marks) -> bool {
        self.terms
            .iter()
            .all(|term| term.predicate.holds(capture, marks) != term.negated)
    }
}

/// What a filter reads of a capture. [`Capture`] is one; so is a compact index row that keeps
/// the summary fields but not the headers and body (it answers `None`, and a filter that
/// [`needs_request`](Filter::needs_request) must then be given the whole capture).
pub trait Subject {
    /// The request method.
    fn method(&self) -> &str;
    /// The path, without the query.
    fn path(&self) -> &str;
    /// `direct` or `relay:CHANNEL`.
    fn via(&self) -> std::borrow::Cow<'_, str>;
    /// The provider's name.
    fn provider(&self) -> Option<&str>;
    /// The event type.
    fn event_type(&self) -> Option<&str>;
    /// The verdict's label.
    fn verdict(&self) -> Option<&str>;
    /// The form of the body the signature matched (`raw`, `json-stringify`).
    fn signed_form(&self) -> Option<&str>;
    /// Whether the verdict carries a caveat.
    fn has_caveat(&self) -> bool;
    /// Whether the listener answered (or refused) a handshake.
    fn is_handshake(&self) -> bool;
    /// The headers, when held.
    fn headers(&self) -> Option<&[crate::capture::Header]>;
    /// The body, when held.
    fn body(&self) -> Option<&[u8]>;
}

impl Subject for Capture {
    fn method(&self) -> &str {
        &self.method
    }
    fn path(&self) -> &str {
        &self.path
    }
    fn via(&self) -> std::borrow::Cow<'_, str> {
        match &self.via {
            crate::capture::Via::Direct => "direct".into(),
            via => via.to_string().into(),
        }
    }
    fn provider(&self) -> Option<&str> {
        self.derived.provider.as_deref()
    }
    fn event_type(&self) -> Option<&str> {
        self.derived.event_type.as_deref()
    }
    fn verdict(&self) -> Option<&str> {
        self.derived.verdict.as_deref()
    }
    fn signed_form(&self) -> Option<&str> {
        self.derived.signed_form.as_deref()
    }
    fn has_caveat(&self) -> bool {
        self.derived.caveat.is_some()
    }
    fn is_handshake(&self) -> bool {
        self.derived.handshake.is_some()
    }
    fn headers(&self) -> Option<&[crate::capture::Header]> {
        Some(&self.headers)
    }
    fn body(&self) -> Option<&[u8]> {
        Some(&self.body)
    }
}

/// Splits on whitespace, keeping quoted runs together and unquoting them; each token comes with
/// the byte position where it starts.
fn tokens(text: &str) -> Result<Vec<(usize, String)>, ParseError> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut token = String::new();
        while let Some(&(at, c)) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            if c != '"' {
                token.push(c);
                continue;
            }
            // A quoted run: up to the closing quote, `\"` and `\\` escaped.
            loop {
                match chars.next() {
                    Some((_, '"')) => break,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, escaped)) => token.push(escaped),
                        None => return Err(error(at, "unclosed quote")),
                    },
                    Some((_, c)) => token.push(c),
                    None => return Err(error(at, "unclosed quote")),
                }
            }
        }
        out.push((start, token));
    }
    Ok(out)
}

fn error(position: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        position,
        message: message.into(),
    }
}

/// Parses one token (already unquoted) that starts at `position`.
fn term(position: usize, token: &str) -> Result<Term, ParseError> {
    let (negated, body, at) = match token.strip_prefix('!') {
        Some(rest) => (true, rest, position + 1),
        None => (false, token, position),
    };
    if body.is_empty() {
        return Err(error(at, "`!` needs a term after it"));
    }
    let predicate = match body {
        "dup" => Predicate::Dup,
        "late" => Predicate::Late,
        "caveat" => Predicate::Caveat,
        "handshake" => Predicate::Handshake,
        _ => match body.split_once(':') {
            None => Predicate::Word(body.to_lowercase()),
            Some((field, value)) => field_term(at, field, value)?,
        },
    };
    Ok(Term { negated, predicate })
}

fn field_term(at: usize, field: &str, value: &str) -> Result<Predicate, ParseError> {
    let value_at = at + field.len() + 1;
    if value.is_empty() {
        return Err(error(value_at, format!("`{field}:` needs a value")));
    }
    let glob = || value.to_lowercase();
    Ok(match field {
        "type" => Predicate::Type(glob()),
        "provider" => Predicate::Provider(glob()),
        "method" => Predicate::Method(glob()),
        "path" => Predicate::Path(glob()),
        "via" => Predicate::Via(glob()),
        "sig" => {
            let label = match value.to_lowercase() {
                old if old == OLD_NONE_DOCUMENTED => VERDICTS[5].to_owned(),
                label => label,
            };
            if !VERDICTS.iter().any(|v| glob_match(&label, v)) {
                return Err(error(
                    value_at,
                    format!("no verdict is `{value}`; verdicts: {}", VERDICTS.join(", ")),
                ));
            }
            Predicate::Sig(label)
        }
        "form" => {
            let label = value.to_lowercase();
            if !["raw", "json-stringify"].iter().any(|f| glob_match(&label, f)) {
                return Err(error(
                    value_at,
                    format!("no signed form is `{value}`; forms: raw, json-stringify"),
                ));
            }
            Predicate::Form(label)
        }
        "status" => Predicate::Status(status(value_at, value)?),
        "header" => {
            let (name, value) = split_value(value);
            if name.is_empty() {
                return Err(error(value_at, "`header:` needs a header name"));
            }
            Predicate::Header {
                name: name.to_lowercase(),
                value: value.map(str::to_lowercase),
            }
        }
        "body" => Predicate::Body(value.to_lowercase()),
        "json" => {
            let (pointer, value) = split_value(value);
            if !pointer.starts_with('/') {
                return Err(error(value_at, "`json:` needs a JSON pointer, like /data/status"));
            }
            Predicate::Json {
                pointer: pointer.to_owned(),
                value: value.map(str::to_lowercase),
            }
        }
        other => return Err(error(at, format!("unknown field `{other}`; fields: {FIELDS}"))),
    })
}

/// `name=value` into its parts; no `=`: just the name.
fn split_value(text: &str) -> (&str, Option<&str>) {
    match text.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (text, None),
    }
}

fn status(at: usize, text: &str) -> Result<StatusPattern, ParseError> {
    let lower = text.to_ascii_lowercase();
    let bad = || error(at, format!("`{text}` is not a status: use 2xx, 5xx, 404 or none"));
    if lower == "none" {
        return Ok(StatusPattern::None);
    }
    match lower.as_bytes() {
        [class @ b'1'..=b'5', b'x', b'x'] => Ok(StatusPattern::Class(u16::from(class - b'0'))),
        [b'1'..=b'5', b'0'..=b'9', b'0'..=b'9'] => lower.parse().map(StatusPattern::Exact).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// Case-insensitive glob over optional text: no text never matches.
fn glob(pattern: &str, text: Option<&str>) -> bool {
    text.is_some_and(|t| glob_match(pattern, &t.to_lowercase()))
}

/// Case-insensitive substring search in bytes (`needle` is already lowercase).
fn contains(haystack: &[u8], needle: &str) -> bool {
    if !needle.is_ascii() {
        // `é` against `É`: letters outside ASCII are folded the slow way (needles are lowercase).
        return String::from_utf8_lossy(haystack).to_lowercase().contains(needle);
    }
    let needle = needle.as_bytes();
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window.eq_ignore_ascii_case(needle))
}

impl Predicate {
    fn holds(&self, capture: &impl Subject, marks: &Marks) -> bool {
        let body = || capture.body().unwrap_or_default();
        match self {
            Predicate::Type(p) => glob(p, capture.event_type()),
            Predicate::Provider(p) => glob(p, capture.provider()),
            Predicate::Method(p) => glob(p, Some(capture.method())),
            Predicate::Path(p) => glob(p, Some(capture.path())),
            Predicate::Via(p) => glob(p, Some(&capture.via())),
            Predicate::Sig(p) => glob(
                p,
                capture.verdict().map(|v| match v {
                    OLD_NONE_DOCUMENTED => VERDICTS[5],
                    v => v,
                }),
            ),
            Predicate::Form(p) => glob(p, capture.signed_form()),
            Predicate::Caveat => capture.has_caveat(),
            Predicate::Handshake => capture.is_handshake(),
            Predicate::Status(pattern) => match (pattern, marks.delivery) {
                (StatusPattern::None, delivery) => delivery.is_none(),
                (StatusPattern::Class(class), Some(status)) => status / 100 == *class,
                (StatusPattern::Exact(exact), Some(status)) => status == *exact,
                (_, None) => false,
            },
            Predicate::Header { name, value } => capture
                .headers()
                .unwrap_or_default()
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
                .any(|h| match value {
                    None => true,
                    Some(p) => glob_match(p, &String::from_utf8_lossy(&h.value).to_lowercase()),
                }),
            Predicate::Body(text) => contains(body(), text),
            Predicate::Json { pointer, value } => serde_json::from_slice::<serde_json::Value>(body())
                .ok()
                .and_then(|json| json.pointer(pointer).cloned())
                .is_some_and(|found| match value {
                    None => true,
                    Some(p) => {
                        let text = match found {
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        };
                        glob_match(p, &text.to_lowercase())
                    }
                }),
            Predicate::Dup => marks.dup,
            Predicate::Late => marks.late,
            Predicate::Word(word) => {
                contains(capture.path().as_bytes(), word)
                    || capture.event_type().is_some_and(|t| contains(t.as_bytes(), word))
                    || contains(body(), word)
            }
        }
    }
}

/// Works out `dup` and `late` as captures arrive, in order.
///
/// It sees every capture of a live session, so it keeps fingerprints ([`Fingerprints`]) rather
/// than strings and bodies, hashed with foldhash (seeded afresh in each process, so a sender
/// cannot aim collisions at it) rather than SipHash, which took a tenth of the inspector's time
/// under load hashing bodies.
#[derive(Debug, Default)]
pub struct Tracker {
    /// Fingerprints of the events seen: their ids, or their type and body.
    seen: HashSet<u64, foldhash::fast::RandomState>,
    /// The newest event time seen for each (provider, object), by their fingerprint.
    newest: HashMap<u64, DateTime<Utc>, foldhash::fast::RandomState>,
}

/// What the [`Tracker`] needs of a capture, in a few bytes: worked out where the capture is
/// recorded, while its body is still in the cache (the live inspector gets these with each
/// row, and never reads the capture itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprints {
    /// The event's: its provider and id, or its type and body. `None` for a capture that is
    /// not an event (no id, no type): identical pings are not dups.
    pub event: Option<u64>,
    /// The (provider, object) the event is about, and the event's own time.
    pub object: Option<(u64, DateTime<Utc>)>,
}

/// The fingerprints' hasher: 64 bits of a hash seeded once per process (a collision, which
/// would mark a capture `dup` wrongly, takes about 2^32 distinct events). One for the whole
/// process, so a fingerprint made on the recording thread and one made from the journal agree.
static FINGERPRINT: std::sync::LazyLock<foldhash::quality::RandomState> =
    std::sync::LazyLock::new(foldhash::quality::RandomState::default);

impl Fingerprints {
    /// The fingerprints of `capture`.
    pub fn of(capture: &Capture) -> Self {
        let derived = &capture.derived;
        let identifiable = derived.event_id.is_some() || derived.event_type.is_some();
        let event = identifiable.then(|| match &derived.event_id {
            Some(id) => FINGERPRINT.hash_one((0u8, &derived.provider, id)),
            None => FINGERPRINT.hash_one((1u8, &derived.event_type, &capture.body[..])),
        });
        let object = match (&derived.object, derived.event_time) {
            (Some(object), Some(time)) => Some((FINGERPRINT.hash_one((&derived.provider, object)), time)),
            _ => None,
        };
        Self { event, object }
    }
}

impl Tracker {
    /// The marks of `capture`, given everything observed before it; then remembers it.
    pub fn observe(&mut self, capture: &Capture) -> Marks {
        self.observe_fingerprints(&Fingerprints::of(capture))
    }

    /// [`Tracker::observe`] for a capture known by its fingerprints.
    pub fn observe_fingerprints(&mut self, fingerprints: &Fingerprints) -> Marks {
        let dup = fingerprints
            .event
            .is_some_and(|fingerprint| !self.seen.insert(fingerprint));
        let late = match fingerprints.object {
            Some((key, time)) => {
                let newest = self.newest.entry(key).or_insert(time);
                let late = time < *newest;
                if time > *newest {
                    *newest = time;
                }
                late
            }
            None => false,
        };
        Marks {
            dup,
            late,
            delivery: None,
        }
    }
}

#[cfg(test)]
mod tests;
