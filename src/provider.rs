//! Provider profiles: who sent a webhook, how it is signed, and what it is about.
//!
//! A profile (`assets/providers/*.toml`, described in `assets/providers/README.md`) says how to
//! recognise a sender by its headers, which signature scheme it uses, where the event type, the
//! event's own timestamp, its idempotency key and its subject are, the sender's retry policy,
//! and a catalog of sample events. The built-in profiles are embedded in the binary; a user's
//! own, in `~/.config/hookscope/providers/`, add to them or replace one of the same name.
//! Parsing and extraction are pure: no I/O but reading the profile files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;

use crate::capture::Capture;
use crate::units;
use crate::verify::{Algorithm, DEFAULT_TOLERANCE, Encoding, HmacParams, KeyDecoding, Scheme, SignedForm};

/// The profiles compiled into the binary, as (file name, TOML).
const BUILTIN: &[(&str, &str)] = &[
    (
        "millicast.toml",
        include_str!("../assets/providers/millicast.toml"),
    ),
    ("optiview.toml", include_str!("../assets/providers/optiview.toml")),
    ("dyte.toml", include_str!("../assets/providers/dyte.toml")),
    ("aioz.toml", include_str!("../assets/providers/aioz.toml")),
    ("github.toml", include_str!("../assets/providers/github.toml")),
    ("stripe.toml", include_str!("../assets/providers/stripe.toml")),
    (
        "standard-webhooks.toml",
        include_str!("../assets/providers/standard-webhooks.toml"),
    ),
    ("slack.toml", include_str!("../assets/providers/slack.toml")),
    ("shopify.toml", include_str!("../assets/providers/shopify.toml")),
    ("zoom.toml", include_str!("../assets/providers/zoom.toml")),
    ("meta.toml", include_str!("../assets/providers/meta.toml")),
];

/// One sender's profile.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The identifier used on the command line.
    pub name: String,
    /// The name for people.
    pub display: String,
    /// Where the sender documents its webhooks.
    pub docs: Option<String>,
    /// Headers whose presence identifies the sender.
    pub detect_headers: Vec<String>,
    /// How it signs.
    pub scheme: Scheme,
    /// The replay window for timestamped schemes.
    pub tolerance: Duration,
    /// Where the sender documents the form its receiver hashes (`signature.signed_form_source`);
    /// the form itself is `scheme.documented_form()`.
    pub signed_form_source: Option<String>,
    /// Where the event's facts are; read-only, because `reads` is derived from it.
    event: EventSpec,
    /// The sender's retry policy, as written in the profile (`none`, `fixed:3x3s`, `exp:5`).
    pub retry: String,
    /// Whether the sender retries any answer but a 2xx (`[retry] on = "non-2xx"`), rather than
    /// only errors, timeouts and 5xx.
    pub retry_non_2xx: bool,
    /// Sample events, one per documented event type.
    pub samples: Vec<Sample>,
    /// Every JSON pointer `event` reads, parsed when the profile is loaded.
    reads: select::Pointers,
}

/// Where a profile finds an event's facts.
#[derive(Debug, Clone, Default)]
pub struct EventSpec {
    /// Templates of the event type, tried in order until one has all its fields:
    /// `{/type}.{/event}`, `{header:X-GitHub-Event}.{/action}`.
    pub type_templates: Vec<String>,
    /// The event type of a body that is not JSON (Millicast thumbnails are images).
    pub non_json_type: Option<String>,
    /// The event's own timestamp.
    pub timestamp: Option<Field>,
    /// Whether that timestamp counts milliseconds.
    pub timestamp_in_ms: bool,
    /// The idempotency key.
    pub id: Option<Field>,
    /// What the event is about (for ordering checks).
    pub object: Option<Field>,
}

/// A value read from a request: a JSON pointer into the body, or a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// A JSON pointer (`/data/object/id`).
    Pointer(String),
    /// A header's value.
    Header(String),
}

/// A sample event from a profile's catalog.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The event type.
    pub event_type: String,
    /// What it means.
    pub description: String,
    /// Its content type.
    pub content_type: String,
    /// Extra headers the sender sends with it (may hold placeholders).
    pub headers: Vec<(String, String)>,
    /// The body template (may hold placeholders), or the bytes of a binary body.
    pub body: SampleBody,
}

/// A sample's body.
#[derive(Debug, Clone)]
pub enum SampleBody {
    /// Text with placeholders.
    Template(String),
    /// Fixed bytes (images).
    Bytes(Vec<u8>),
}

/// What a profile says about one capture.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The event type.
    pub event_type: Option<String>,
    /// The event's own time.
    pub event_time: Option<DateTime<Utc>>,
    /// The idempotency key.
    pub event_id: Option<String>,
    /// What the event is about.
    pub object: Option<String>,
}

/// All known profiles.
#[derive(Debug, Clone)]
pub struct Catalog {
    profiles: Vec<Profile>,
}

impl Catalog {
    /// The built-in profiles only.
    pub fn builtin() -> Self {
        let profiles = BUILTIN
            .iter()
            .map(|(file, text)| match Profile::parse(text) {
                Ok(profile) => profile,
                // Built-in profiles are checked by the test suite; a broken one is a build defect.
                Err(err) => panic!("built-in profile {file} is invalid: {err}"),
            })
            .collect();
        Self { profiles }
    }

    /// The built-in profiles plus the user's own from `dir` (a missing directory is fine).
    /// A user profile with a built-in's name replaces it.
    pub fn load(dir: Option<&Path>) -> Result<Self, String> {
        let mut catalog = Self::builtin();
        let Some(dir) = dir else { return Ok(catalog) };
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(catalog),
            // The built-in profiles still work: say so, and go on without the user's.
            Err(err) => {
                tracing::warn!(
                    "cannot read your profiles in {}: {err}; using the built-in ones",
                    dir.display()
                );
                return Ok(catalog);
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for path in paths {
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(err) => {
                    tracing::warn!("cannot read {}: {err}; profile skipped", path.display());
                    continue;
                }
            };
            let profile = Profile::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            catalog.profiles.retain(|p| p.name != profile.name);
            catalog.profiles.push(profile);
        }
        Ok(catalog)
    }

    /// Every profile, built-in first.
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// The profile called `name`.
    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    /// The profile whose identifying headers the request carries, if any.
    pub fn detect(&self, capture: &Capture) -> Option<&Profile> {
        self.profiles
            .iter()
            .find(|p| p.detect_headers.iter().any(|h| capture.header(h).is_some()))
    }
}

/// The user's profile directory: `$XDG_CONFIG_HOME/hookscope/providers` or
/// `~/.config/hookscope/providers`.
pub fn user_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(base.join("hookscope").join("providers"))
}

impl Profile {
    /// Where the event's facts are.
    pub fn event(&self) -> &EventSpec {
        &self.event
    }

    /// Parses and validates a profile.
    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: RawProfile = toml::from_str(text).map_err(|e| e.to_string())?;
        raw.validate()
    }

    /// What this profile reads from `capture`.
    pub fn facts(&self, capture: &Capture) -> Facts {
        // Every pointer the profile may read, answered in one pass over the body.
        let json = select::select(&capture.body, &self.reads);
        let read = |field: &Field| -> Option<String> {
            match field {
                Field::Header(name) => capture
                    .header(name)
                    .map(|v| String::from_utf8_lossy(v).into_owned()),
                Field::Pointer(pointer) => {
                    let slot = self.reads.slot(pointer)?;
                    json.as_ref()?[slot].clone()
                }
            }
        };
        let from_templates = || {
            self.event
                .type_templates
                .iter()
                .find_map(|template| fill_template(template, &read))
        };
        let event_type = match &json {
            Some(_) => from_templates(),
            None => self.event.non_json_type.clone().or_else(from_templates),
        };
        let event_time = self.event.timestamp.as_ref().and_then(&read).and_then(|text| {
            let text = text.trim();
            match text.parse::<i64>() {
                Ok(number) if self.event.timestamp_in_ms => Utc.timestamp_millis_opt(number).single(),
                Ok(number) => Utc.timestamp_opt(number, 0).single(),
                Err(_) => DateTime::parse_from_rfc3339(text)
                    .ok()
                    .map(|t| t.with_timezone(&Utc)),
            }
        });
        Facts {
            event_type,
            event_time,
            event_id: self.event.id.as_ref().and_then(&read),
            object: self.event.object.as_ref().and_then(&read),
        }
    }
}

/// Every JSON pointer `event` reads: those of its type templates, then its named fields.
fn reads(event: &EventSpec) -> select::Pointers {
    let named = [&event.timestamp, &event.id, &event.object];
    let named = named.into_iter().filter_map(|field| match field {
        Some(Field::Pointer(pointer)) => Some(pointer.as_str()),
        _ => None,
    });
    let in_templates = event.type_templates.iter().flat_map(|t| template_pointers(t));
    select::Pointers::new(in_templates.chain(named))
}

/// A `{` in a type template without its `}`.
struct Unclosed;

/// The next `{...}` field of a template as (text before it, the field, text after it); `None`
/// when no field is left. A field runs from a `{` to the first `}` after it, whatever it holds.
fn next_field(rest: &str) -> Result<Option<(&str, &str, &str)>, Unclosed> {
    let Some(start) = rest.find('{') else {
        return Ok(None);
    };
    let end = rest[start..].find('}').ok_or(Unclosed)? + start;
    Ok(Some((&rest[..start], &rest[start + 1..end], &rest[end + 1..])))
}

/// The JSON pointers among a type template's fields.
fn template_pointers(template: &str) -> impl Iterator<Item = &str> {
    let mut rest = template;
    std::iter::from_fn(move || {
        let (_, field, after) = next_field(rest).ok()??;
        rest = after;
        Some(field)
    })
    .filter(|field| matches!(parse_field(field), Ok(Field::Pointer(_))))
}

/// Fills `{/pointer}` and `{header:Name}` fields; `None` if any field is missing.
fn fill_template(template: &str, read: &dyn Fn(&Field) -> Option<String>) -> Option<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some((before, field, after)) = next_field(rest).ok()? {
        out.push_str(before);
        out.push_str(&read(&parse_field(field).ok()?)?);
        rest = after;
    }
    out.push_str(rest);
    (!out.is_empty()).then_some(out)
}

fn parse_field(text: &str) -> Result<Field, String> {
    match text.strip_prefix("header:") {
        Some(name) if !name.is_empty() => Ok(Field::Header(name.to_owned())),
        Some(_) => Err("`header:` needs a header name".into()),
        None if text.starts_with('/') => Ok(Field::Pointer(text.to_owned())),
        None => Err(format!(
            "{text:?} is neither a JSON pointer (/a/b) nor header:NAME"
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: String,
    display: String,
    #[serde(default)]
    docs: Option<String>,
    #[serde(default)]
    detect: RawDetect,
    signature: RawSignature,
    event: RawEvent,
    #[serde(default)]
    retry: RawRetry,
    #[serde(default)]
    events: Vec<RawSample>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDetect {
    #[serde(default)]
    headers: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSignature {
    scheme: String,
    #[serde(default)]
    tolerance: Option<String>,
    #[serde(default)]
    header: Option<String>,
    #[serde(default)]
    algorithm: Option<Algorithm>,
    #[serde(default)]
    encoding: Option<Encoding>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    template: Option<String>,
    #[serde(default)]
    timestamp_header: Option<String>,
    #[serde(default)]
    id_header: Option<String>,
    #[serde(default)]
    key: Option<KeyDecoding>,
    #[serde(default)]
    signed_form: Option<SignedForm>,
    #[serde(default)]
    signed_form_source: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    #[serde(rename = "type")]
    type_templates: OneOrMany,
    #[serde(default)]
    non_json_type: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    timestamp_unit: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    object: Option<String>,
}

/// A string, or a list of them (in profiles and `hookscope.toml`).
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    /// The strings, in order.
    pub(crate) fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    policy: String,
    #[serde(default)]
    on: Option<String>,
}

impl Default for RawRetry {
    fn default() -> Self {
        Self {
            policy: "none".into(),
            on: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSample {
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    headers: toml::Table,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    body_base64: Option<String>,
}

/// A field given as `header:NAME` or a JSON pointer.
fn field(text: Option<String>, what: &str) -> Result<Option<Field>, String> {
    text.map(|t| parse_field(&t).map_err(|e| format!("event.{what}: {e}")))
        .transpose()
}

impl RawProfile {
    fn validate(self) -> Result<Profile, String> {
        if self.name.is_empty()
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!(
                "name {:?} must be lowercase letters, digits and dashes",
                self.name
            ));
        }
        let s = self.signature;
        let scheme = match s.scheme.as_str() {
            "millicast" => Scheme::Millicast,
            "optiview" => Scheme::Optiview,
            "github" => Scheme::Github,
            "stripe" => Scheme::Stripe,
            "standard-webhooks" => Scheme::StandardWebhooks,
            "slack" => Scheme::Slack,
            "shopify" => Scheme::Shopify,
            "dyte" => Scheme::Dyte,
            "none" => Scheme::None,
            "hmac" => Scheme::Hmac(HmacParams {
                header: s
                    .header
                    .ok_or("signature.header is required for scheme = \"hmac\"")?,
                algorithm: s.algorithm.unwrap_or(Algorithm::Sha256),
                encoding: s.encoding.unwrap_or(Encoding::Hex),
                prefix: s.prefix.unwrap_or_default(),
                template: s.template.unwrap_or_else(|| "{body}".into()),
                timestamp_header: s.timestamp_header,
                id_header: s.id_header,
                key: s.key.unwrap_or(KeyDecoding::Raw),
                form: s.signed_form.unwrap_or(SignedForm::Raw),
            }),
            other => return Err(format!("unknown signature scheme {other:?}")),
        };
        if let Some(form) = s.signed_form
            && form != scheme.documented_form()
        {
            return Err(format!(
                "signature.signed_form = {:?}, but the {} scheme's documented receiver hashes {}",
                form.label(),
                scheme.name(),
                scheme.documented_form().label()
            ));
        }
        let tolerance = match s.tolerance {
            Some(text) => units::parse_duration(&text).map_err(|e| format!("signature.tolerance: {e}"))?,
            None => DEFAULT_TOLERANCE,
        };
        let e = self.event;
        let type_templates = e.type_templates.into_vec();
        if type_templates.is_empty() {
            return Err("event.type: give at least one template".into());
        }
        // Check the templates' fields once here, so extraction never meets a bad one.
        for template in &type_templates {
            let mut rest = template.as_str();
            while let Some((_, field, after)) =
                next_field(rest).map_err(|Unclosed| "event.type: unclosed `{`")?
            {
                parse_field(field).map_err(|err| format!("event.type: {err}"))?;
                rest = after;
            }
        }
        let timestamp_in_ms = match e.timestamp_unit.as_deref() {
            None | Some("s") => false,
            Some("ms") => true,
            Some(other) => return Err(format!("event.timestamp_unit {other:?} is not s or ms")),
        };
        let event = EventSpec {
            type_templates,
            non_json_type: e.non_json_type,
            timestamp: field(e.timestamp, "timestamp")?,
            timestamp_in_ms,
            id: field(e.id, "id")?,
            object: field(e.object, "object")?,
        };
        let samples = self
            .events
            .into_iter()
            .map(|raw| {
                let body = match (raw.body, raw.body_base64) {
                    (Some(text), None) => SampleBody::Template(text.trim().to_owned()),
                    (None, Some(b64)) => SampleBody::Bytes(
                        base64::engine::general_purpose::STANDARD
                            .decode(b64.split_whitespace().collect::<String>())
                            .map_err(|e| format!("event {}: body_base64: {e}", raw.event_type))?,
                    ),
                    _ => {
                        return Err(format!(
                            "event {}: give exactly one of body, body_base64",
                            raw.event_type
                        ));
                    }
                };
                let headers = raw
                    .headers
                    .into_iter()
                    .map(|(name, value)| match value {
                        toml::Value::String(v) => Ok((name, v)),
                        other => Ok((name, other.to_string())),
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                Ok(Sample {
                    event_type: raw.event_type,
                    description: raw.description,
                    content_type: raw.content_type.unwrap_or_else(|| "application/json".into()),
                    headers,
                    body,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Profile {
            reads: reads(&event),
            name: self.name,
            display: self.display,
            docs: self.docs,
            detect_headers: self.detect.headers,
            scheme,
            tolerance,
            signed_form_source: s.signed_form_source,
            event,
            retry_non_2xx: match self.retry.on.as_deref() {
                None | Some("5xx") => false,
                Some("non-2xx") => true,
                Some(other) => return Err(format!("retry.on: expected 5xx or non-2xx, got {other:?}")),
            },
            retry: self.retry.policy,
            samples,
        })
    }
}

mod select;

#[cfg(test)]
mod tests;
