//! What a route's sender hears: a stated answer, the local app's own, or a failure on purpose.
//!
//! ```toml
//! respond = { status = 503, body = "busy", headers = { "Retry-After" = "7" }, delay = "400ms" }
//! respond = "app"                                 # the first forward target's answer...
//! respond_timeout = "5s"                          # ...if it comes within this
//! fallback = { status = 202, body = "accepted" }  # ...else this
//! fail_first = 2                                  # the first 2 deliveries of each event fail
//! fail_rate = 0.3                                 # and then 30% of them
//! fail_status = 500                               # with this status (503 by default)
//! seed = 7                                        # which 30%: the same on every run
//! ```
//!
//! Everything is checked when the file is loaded: a status is 200 to 599, a header a valid
//! name and value (not one the transport sets: `Content-Length`, `Connection`...), a delay and
//! a timeout at most a minute (a sender's connection, and the listener's, is held meanwhile).

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::time::Duration;

use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;

use crate::capture::Capture;
use crate::units;

/// The longest `delay` and `respond_timeout`.
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// How long `respond = "app"` waits for the app when the route does not say.
pub const DEFAULT_RESPOND_TIMEOUT: Duration = Duration::from_secs(10);
/// How many events a failing route remembers; past it, it forgets them all and counts afresh
/// (a sender spraying distinct events must not grow it without end).
const REMEMBERED: usize = 100_000;

/// A stated answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Its status.
    pub status: StatusCode,
    /// Its headers, in name order (a `Content-Type` guessed from the body when not given).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Its body.
    pub body: Bytes,
    /// How long to wait, once the capture is journaled, before answering.
    pub delay: Duration,
}

/// What the sender hears from a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Always this.
    Fixed(Reply),
    /// The first forward target's first answer (status, headers, body), or `fallback` when it
    /// has not answered within `timeout` (or could not be reached).
    App {
        /// How long to wait for the app.
        timeout: Duration,
        /// What to answer without it.
        fallback: Reply,
    },
}

/// Deliveries failed on purpose, so the sender's retries can be watched.
#[derive(Debug, Clone, PartialEq)]
pub struct Failing {
    /// The first this many deliveries of each event fail.
    pub first: u32,
    /// Then this fraction of deliveries fails (0 to 1).
    pub rate: f64,
    /// The status they fail with.
    pub status: StatusCode,
    /// The seed choosing which deliveries `rate` fails; `None`: a fresh one each run.
    pub seed: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplySpec {
    status: Option<u16>,
    body: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    delay: Option<toml::Value>,
}

impl Answer {
    /// `503 "busy" after 400ms`, `app (fallback 504 after 10s)`.
    pub fn describe(&self) -> String {
        match self {
            Answer::Fixed(reply) => reply.describe(),
            Answer::App { timeout, fallback } => {
                format!("app (else {} after {timeout:?})", fallback.status.as_u16())
            }
        }
    }
}

impl Reply {
    fn describe(&self) -> String {
        let mut text = self.status.as_u16().to_string();
        if !self.body.is_empty() {
            let body = String::from_utf8_lossy(&self.body);
            let short: String = body.chars().take(24).collect();
            let cut = if short.len() < body.len() { "…" } else { "" };
            text.push_str(&format!(" {:?}", format!("{short}{cut}")));
        }
        if !self.delay.is_zero() {
            text.push_str(&format!(" after {:?}", self.delay));
        }
        text
    }
}

impl Failing {
    /// `fails the first 2 deliveries of each event with 503`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.first > 0 {
            parts.push(format!("the first {} deliveries of each event", self.first));
        }
        if self.rate > 0.0 {
            parts.push(format!("{}% of the rest", (self.rate * 100.0).round()));
        }
        if parts.is_empty() {
            return "fails no delivery (fail_first = 0)".to_owned();
        }
        format!("fails {} with {}", parts.join(" and "), self.status.as_u16())
    }
}

/// The route's answer from its `respond`, `respond_timeout` and `fallback` keys.
pub(super) fn answer(
    respond: Option<toml::Value>,
    timeout: Option<toml::Value>,
    fallback: Option<toml::Value>,
    origin: &str,
) -> Result<Option<Answer>, String> {
    let at = |key: &str| format!("{origin}, `{key}`");
    let app = matches!(&respond, Some(toml::Value::String(s)) if s == "app");
    if !app {
        if timeout.is_some() || fallback.is_some() {
            let key = if timeout.is_some() {
                "respond_timeout"
            } else {
                "fallback"
            };
            return Err(format!("{}: only for respond = \"app\"", at(key)));
        }
        return match respond {
            None => Ok(None),
            Some(toml::Value::Table(table)) => {
                reply(toml::Value::Table(table), &at("respond")).map(|r| Some(Answer::Fixed(r)))
            }
            Some(_) => Err(format!(
                "{}: expected \"app\" or a table like {{ status = 503, body = \"busy\" }}",
                at("respond")
            )),
        };
    }
    let timeout = match timeout {
        Some(value) => bounded(value).map_err(|e| format!("{}: {e}", at("respond_timeout")))?,
        None => DEFAULT_RESPOND_TIMEOUT,
    };
    if timeout.is_zero() {
        return Err(format!(
            "{}: 0 would never wait for the app",
            at("respond_timeout")
        ));
    }
    let fallback = match fallback {
        Some(value) => reply(value, &at("fallback"))?,
        None => Reply {
            status: StatusCode::GATEWAY_TIMEOUT,
            headers: vec![(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            body: Bytes::from(format!(
                "hookscope: no answer from the app to pass on within {timeout:?} (too slow, \
                 unreachable, or a body past --forward-body-limit; its attempt says which)\n"
            )),
            delay: Duration::ZERO,
        },
    };
    if !fallback.delay.is_zero() {
        return Err(format!(
            "{}: a fallback has no `delay` (it comes after respond_timeout)",
            at("fallback")
        ));
    }
    Ok(Some(Answer::App { timeout, fallback }))
}

/// A stated answer from a table; `at` names it in errors.
fn reply(value: toml::Value, at: &str) -> Result<Reply, String> {
    if !value.is_table() {
        return Err(format!(
            "{at}: expected a table like {{ status = 202, body = \"accepted\" }}"
        ));
    }
    if let Some(body) = value.get("body").filter(|b| b.is_table() || b.is_array()) {
        return Err(format!(
            "{at}: a body is text; JSON goes in single quotes, like body = '{}'",
            serde_json::to_string(&body).unwrap_or_else(|_| "{\"error\":\"busy\"}".into())
        ));
    }
    let spec: ReplySpec = value
        .try_into()
        .map_err(|e| format!("{at}: {}", super::one_line(&e)))?;
    let status = match spec.status {
        None => StatusCode::OK,
        Some(code) => StatusCode::from_u16(code)
            .ok()
            .filter(|_| (200..=599).contains(&code))
            .ok_or_else(|| format!("{at}: status {code} is not 200 to 599"))?,
    };
    let body = Bytes::from(spec.body.unwrap_or_default());
    let mut headers = Vec::with_capacity(spec.headers.len() + 1);
    for (name, value) in spec.headers {
        let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            format!(
                "{at}: {:?} is not a valid header name",
                crate::sanitize::line(&name)
            )
        })?;
        if crate::export::is_hop_by_hop(parsed.as_str()) {
            return Err(format!(
                "{at}: {name:?} is set by the connection, not by a route (the body's length is its own)"
            ));
        }
        let value = HeaderValue::from_str(&value).map_err(|_| {
            format!("{at}: the value of {name:?} is not a valid header value (one line of visible text)")
        })?;
        headers.push((parsed, value));
    }
    if !body.is_empty() && !headers.iter().any(|(name, _)| name == CONTENT_TYPE) {
        let guess = match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(_) => "application/json",
            Err(_) => "text/plain; charset=utf-8",
        };
        headers.insert(0, (CONTENT_TYPE, HeaderValue::from_static(guess)));
    }
    let delay = match spec.delay {
        Some(value) => bounded(value).map_err(|e| format!("{at}: delay: {e}"))?,
        None => Duration::ZERO,
    };
    Ok(Reply {
        status,
        headers,
        body,
        delay,
    })
}

/// A duration of at most [`MAX_WAIT`], written as a string with its unit.
fn bounded(value: toml::Value) -> Result<Duration, String> {
    let text = match value {
        toml::Value::String(text) => text,
        toml::Value::Integer(n) => {
            return Err(format!("{n} has no unit: write \"{n}ms\" or \"{n}s\""));
        }
        other => return Err(format!("expected a duration like \"400ms\", not {other}")),
    };
    let text = text.as_str();
    let duration = units::parse_duration(text)?;
    match duration > MAX_WAIT {
        true => Err(format!("{text:?} is longer than the most, {MAX_WAIT:?}")),
        false => Ok(duration),
    }
}

/// The route's failures on purpose from its `fail_*` and `seed` keys.
pub(super) fn failing(
    first: Option<u32>,
    rate: Option<f64>,
    status: Option<u16>,
    seed: Option<u64>,
    origin: &str,
) -> Result<Option<Failing>, String> {
    let at = |key: &str| format!("{origin}, `{key}`");
    if first.is_none() && rate.is_none() {
        for (key, given) in [("fail_status", status.is_some()), ("seed", seed.is_some())] {
            if given {
                return Err(format!("{}: only with fail_first or fail_rate", at(key)));
            }
        }
        return Ok(None);
    }
    let rate = rate.unwrap_or(0.0);
    if !(0.0..=1.0).contains(&rate) {
        return Err(format!("{}: a fraction from 0 to 1, like 0.3", at("fail_rate")));
    }
    if seed.is_some() && rate == 0.0 {
        return Err(format!(
            "{}: chooses which deliveries fail_rate fails; there is no fail_rate",
            at("seed")
        ));
    }
    let status = match status {
        None => StatusCode::SERVICE_UNAVAILABLE,
        Some(code) => StatusCode::from_u16(code)
            .ok()
            .filter(|_| (300..=599).contains(&code))
            .ok_or_else(|| {
                format!(
                    "{}: {code} is not a failing status (300 to 599)",
                    at("fail_status")
                )
            })?,
    };
    Ok(Some(Failing {
        first: first.unwrap_or(0),
        rate,
        status,
        seed,
    }))
}

/// A failing route's memory: how many deliveries of each event it has seen.
pub(super) struct FailState {
    failing: Failing,
    /// Deliveries seen, by the event's fingerprint.
    seen: HashMap<u64, u32>,
    /// The fingerprints' hasher, seeded afresh in each process as the dup tracker's is.
    fingerprint: foldhash::quality::RandomState,
    random: StdRng,
}

impl FailState {
    pub(super) fn new(failing: Failing) -> Self {
        let random = match failing.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        Self {
            failing,
            seen: HashMap::new(),
            fingerprint: foldhash::quality::RandomState::default(),
            random,
        }
    }

    /// Counts a delivery of `capture`'s event; the answer to fail it with, if it fails.
    pub(super) fn fail(&mut self, capture: &Capture) -> Option<Reply> {
        // The event's identity as the dup tracker (`filter::Tracker`) keys it, so the deliveries
        // failed here and the retries that follow are the ones marked `dup`; a request that is
        // no event (no id, no type) by its method, path and body.
        let derived = &capture.derived;
        let key = match (&derived.event_id, &derived.event_type) {
            (Some(id), _) => self.fingerprint.hash_one((0u8, &derived.provider, id)),
            (None, Some(kind)) => self.fingerprint.hash_one((1u8, kind, &capture.body[..])),
            (None, None) => {
                self.fingerprint
                    .hash_one((2u8, &capture.method, &capture.path, &capture.body[..]))
            }
        };
        if self.seen.len() >= REMEMBERED && !self.seen.contains_key(&key) {
            self.seen.clear();
        }
        let delivery = self.seen.entry(key).or_insert(0);
        *delivery = delivery.saturating_add(1);
        let delivery = *delivery;
        let why = if delivery <= self.failing.first {
            format!(
                "delivery {delivery} of this event, and fail_first = {}",
                self.failing.first
            )
        } else if self.failing.rate > 0.0 && self.random.gen_bool(self.failing.rate) {
            format!("fail_rate = {}", self.failing.rate)
        } else {
            return None;
        };
        Some(Reply {
            status: self.failing.status,
            headers: vec![(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            body: Bytes::from(format!("hookscope failed this delivery on purpose: {why}\n")),
            delay: Duration::ZERO,
        })
    }
}
