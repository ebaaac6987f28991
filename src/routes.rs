//! Routes: which provider a capture comes from, which local apps it goes to, and what its
//! sender hears.
//!
//! A route is a `match` (the [filter language](crate::filter), or today's `path = "/glob"`)
//! and what holds when it matches: `provider`, `forward` (one URL or several: fan-out, each
//! target with its own attempts under the route's `retry`), and what the sender hears
//! (`respond`, `fail_first`, `fail_rate`; see [`respond`]). `--route 'MATCH => URL, URL'` on
//! `listen` adds routes before the file's.
//!
//! Two decisions, each by the first route that holds:
//! - the **provider**, by the first route naming one whose match holds on the request as it
//!   arrived (path, method, headers, body), before analysis; else the headers decide. Such a
//!   route cannot match on what analysis decides (`provider:`, `type:`, `sig:`...).
//! - **delivery and answer**, by the first route that states one (`forward`, `respond` or a
//!   `fail_*`) whose match holds on the analyzed capture. Without `forward` its captures go to
//!   `--forward` (when given); `forward = []` sends them nowhere. Without `respond` the sender
//!   hears the listener's answer (`--respond-*`). A route that only names a provider decides
//!   nothing else.
//!
//! ```toml
//! [[routes]]
//! match = "path:/fail/*"
//! respond = { status = 503, body = "busy", headers = { "Retry-After" = "7" }, delay = "400ms" }
//!
//! [[routes]]
//! match = "provider:optiview"
//! forward = ["http://127.0.0.1:3000/optiview", "http://127.0.0.1:4000"]
//! ```
//!
//! Parsing is pure; [`Router`] runs the routes in `listen`.

pub mod respond;
mod router;

use serde::Deserialize;

use crate::capture::Capture;
use crate::config::glob_match;
use crate::filter::{Filter, Marks};
use crate::forward::RetryPolicy;
use crate::provider::{Catalog, OneOrMany};
pub use respond::{Answer, Failing, Reply};
pub use router::{Plan, Router, Waiter};

/// One route, validated.
#[derive(Debug, Clone)]
pub struct Route {
    /// Its `name`, else its match text: what attempt records and the start-up lines call it.
    pub label: String,
    /// Where it was given, for messages: `route 2 of hookscope.toml`, `--route 1`.
    pub origin: String,
    /// When it applies.
    pub matcher: Match,
    /// The provider it assigns.
    pub provider: Option<String>,
    /// The targets its captures are delivered to: `None`, the default (`--forward`); empty,
    /// nowhere.
    pub forward: Option<Vec<String>>,
    /// The retry policy of each of its targets; `None`: `--retry`.
    pub retry: Option<RetryPolicy>,
    /// What the sender hears; `None`: the listener's answer.
    pub answer: Option<Answer>,
    /// Deliveries failed on purpose.
    pub failing: Option<Failing>,
}

/// When a route applies.
#[derive(Debug, Clone)]
pub enum Match {
    /// `path = "/glob"`: a case-sensitive glob on the path, as routes always were.
    Path(String),
    /// `match = "EXPR"`: a filter expression.
    Filter(Filter),
}

impl Match {
    /// Whether it holds for `capture` (taken alone: no `dup`, `late` or delivery status).
    pub fn holds(&self, capture: &Capture) -> bool {
        match self {
            Match::Path(glob) => glob_match(glob, &capture.path),
            Match::Filter(filter) => filter.matches(capture, &Marks::default()),
        }
    }

    /// The match as written: `path:/hooks/*` for a path route.
    pub fn text(&self) -> String {
        match self {
            Match::Path(glob) => format!("path = {glob:?}"),
            Match::Filter(filter) => filter.text().to_owned(),
        }
    }
}

/// A route as `hookscope.toml` writes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    name: Option<String>,
    #[serde(rename = "match")]
    matches: Option<String>,
    path: Option<String>,
    provider: Option<String>,
    forward: Option<OneOrMany>,
    retry: Option<String>,
    respond: Option<toml::Value>,
    respond_timeout: Option<toml::Value>,
    fallback: Option<toml::Value>,
    fail_first: Option<u32>,
    fail_rate: Option<f64>,
    fail_status: Option<u16>,
    seed: Option<u64>,
}

impl Route {
    /// A route assigning `provider` to the paths `glob` matches (what `verify --provider` and
    /// `path = "/glob"` routes are).
    pub fn by_path(glob: &str, provider: &str) -> Self {
        Route {
            label: glob.to_owned(),
            origin: "--provider".into(),
            matcher: Match::Path(glob.to_owned()),
            provider: Some(provider.to_owned()),
            forward: None,
            retry: None,
            answer: None,
            failing: None,
        }
    }

    /// Route `number` (from 1) of the configuration file, validated: every error names the
    /// route and the key.
    pub fn from_toml(number: usize, value: toml::Value, catalog: &Catalog) -> Result<Self, String> {
        let origin = format!("route {number}");
        let spec: Spec = value
            .try_into()
            .map_err(|e| format!("{origin}: {}", one_line(&e)))?;
        let at = |key: &str| format!("{origin}, `{key}`");
        let matcher = match (spec.matches, spec.path) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "{origin}: give `match` or `path`, not both (`path = \"/x/*\"` is `match = \"path:/x/*\"`)"
                ));
            }
            (None, None) => return Err(format!("{origin}: needs `match` (or `path`)")),
            (None, Some(glob)) => Match::Path(glob),
            (Some(text), None) => {
                Match::Filter(parse_match(&text).map_err(|e| format!("{}: {e}", at("match")))?)
            }
        };
        if let Some(provider) = &spec.provider {
            if catalog.get(provider).is_none() {
                return Err(format!(
                    "{}: unknown provider {provider:?} (see `hookscope providers`)",
                    at("provider")
                ));
            }
            if let Match::Filter(filter) = &matcher
                && filter.reads_analysis()
            {
                return Err(format!(
                    "{}: a route naming a provider matches the request as it arrived (path, method, \
                     header, body, via), not what the provider decides (provider, type, sig, form, caveat)",
                    at("match")
                ));
            }
        }
        if let Match::Filter(filter) = &matcher {
            known_providers(filter, catalog).map_err(|e| format!("{}: {e}", at("match")))?;
        }
        let forward = spec.forward.map(OneOrMany::into_vec);
        for target in forward.iter().flatten() {
            check_target(target).map_err(|e| format!("{}: {e}", at("forward")))?;
        }
        let retry = match spec.retry {
            Some(text) => Some(
                text.parse::<RetryPolicy>()
                    .map_err(|e| format!("{}: {e}", at("retry")))?,
            ),
            None => None,
        };
        if retry.is_some() && forward.as_ref().is_none_or(Vec::is_empty) {
            return Err(format!(
                "{}: applies to the route's `forward` targets, and it has none (without \
                 `forward` its captures go to --forward, under --retry)",
                at("retry")
            ));
        }
        let answer = respond::answer(spec.respond, spec.respond_timeout, spec.fallback, &origin)?;
        if matches!(answer, Some(Answer::App { .. })) && forward.as_ref().is_none_or(Vec::is_empty) {
            return Err(format!(
                "{}: \"app\" answers with the first forward target's response; the route has no `forward`",
                at("respond")
            ));
        }
        let failing = respond::failing(
            spec.fail_first,
            spec.fail_rate,
            spec.fail_status,
            spec.seed,
            &origin,
        )?;
        if let Some(name) = &spec.name
            && (name.trim().is_empty() || name.chars().any(char::is_control) || name.chars().count() > 64)
        {
            return Err(format!("{}: one line of 1 to 64 characters", at("name")));
        }
        let label = spec.name.unwrap_or_else(|| matcher.text());
        let route = Route {
            label,
            origin,
            matcher,
            provider: spec.provider,
            forward,
            retry,
            answer,
            failing,
        };
        if route.provider.is_none() && !route.decides() {
            return Err(format!(
                "{}: does nothing when it matches: give it `provider`, `forward`, `respond` or `fail_first`",
                route.origin
            ));
        }
        Ok(route)
    }

    /// Whether the route decides deliveries and answers (rather than only naming a provider).
    pub fn decides(&self) -> bool {
        self.forward.is_some() || self.answer.is_some() || self.failing.is_some()
    }

    /// The route for the start-up lines and the help overlay, e.g.
    /// `provider:optiview → http://127.0.0.1:3000, http://127.0.0.1:4000 (retry exp:3) · answers app (fallback 504 after 10s)`.
    pub fn describe(&self) -> String {
        let mut text = self.label.clone();
        if self.label != self.matcher.text() {
            text.push_str(&format!(" ({})", self.matcher.text()));
        }
        if let Some(provider) = &self.provider {
            text.push_str(&format!(" · provider {provider}"));
        }
        match &self.forward {
            Some(targets) if targets.is_empty() => text.push_str(" → not forwarded"),
            Some(targets) => {
                let shown: Vec<_> = targets.iter().map(|t| crate::sanitize::url(t)).collect();
                text.push_str(&format!(" → {}", shown.join(", ")));
            }
            None if self.decides() => text.push_str(" → --forward"),
            None => {}
        }
        if let Some(retry) = &self.retry {
            text.push_str(&format!(" (retry {retry})"));
        }
        if let Some(answer) = &self.answer {
            text.push_str(&format!(" · answers {}", answer.describe()));
        }
        if let Some(failing) = &self.failing {
            text.push_str(&format!(" · {}", failing.describe()));
        }
        crate::sanitize::line(&text).into_owned()
    }
}

/// What `listen` prints on stderr at start about delivery: the `--forward` line (when given),
/// then a line per route, `route 1: provider:dyte → http://127.0.0.1:5000`.
pub fn start_up_lines(forward: Option<String>, router: Option<&Router>) -> Option<String> {
    let lines: Vec<String> = forward
        .into_iter()
        .chain(
            router
                .iter()
                .flat_map(|r| r.routes())
                .map(|route| format!("{}: {}", route.origin, route.describe())),
        )
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// Parses a `--route 'MATCH => URL[, URL...]'` flag (flag number `number`, from 1, is given by
/// the caller when it knows it; clap's value parser does not).
///
/// ```
/// let route = hookscope::routes::parse_cli_route("provider:dyte => http://127.0.0.1:5000, http://127.0.0.1:5001").unwrap();
/// assert_eq!(route.forward.unwrap().len(), 2);
/// assert!(hookscope::routes::parse_cli_route("provider:dyte").is_err());
/// ```
pub fn parse_cli_route(text: &str) -> Result<Route, String> {
    // The last `=>`: a URL has no `>`, a match may (`json:/a=>b`).
    let (matches, targets) = text.rsplit_once("=>").ok_or_else(|| {
        "expected 'MATCH => URL[, URL...]', e.g. 'provider:dyte => http://127.0.0.1:5000'".to_owned()
    })?;
    let matches = matches.trim();
    if matches.is_empty() {
        return Err("the match before `=>` is empty (`*` would be `path:*`)".into());
    }
    let filter = parse_match(matches)?;
    let targets: Vec<String> = targets.split(',').map(|t| t.trim().to_owned()).collect();
    if targets.iter().any(String::is_empty) {
        return Err("expected one URL or several, separated by commas, after `=>`".into());
    }
    for target in &targets {
        check_target(target)?;
    }
    Ok(Route {
        label: matches.to_owned(),
        origin: "--route".into(),
        matcher: Match::Filter(filter),
        provider: None,
        forward: Some(targets),
        retry: None,
        answer: None,
        failing: None,
    })
}

/// A match expression: the filter language, minus the terms that read other captures.
fn parse_match(text: &str) -> Result<Filter, String> {
    let filter = Filter::parse(text).map_err(|e| format!("{text:?}: {e}"))?;
    if filter.is_empty() {
        return Err("the match is empty (`path:*` matches everything)".into());
    }
    // The listener answers handshakes before any route decides, and forwards none of them.
    if terms(text)
        .iter()
        .any(|t| t.trim_start_matches('!') == "handshake")
    {
        return Err(format!(
            "{text:?}: a handshake is answered by the listener before any route decides, and is \
             not forwarded; with --no-handshakes they are ordinary requests a route can match \
             (by `type:url_verification`, `type:endpoint.url_validation`, `method:get`...)"
        ));
    }
    // A bare word searches the path, the type and the body, which the sender writes: `/hooks/*`
    // would send any request whose body says "/hooks/" down this route, and `or` is a word too.
    if let Some(word) = terms(text).into_iter().find_map(|term| {
        let term = term.strip_prefix('!').unwrap_or(&term).to_owned();
        (!term.contains(':') && !["dup", "late", "caveat", "handshake"].contains(&term.as_str()))
            .then_some(term)
    }) {
        let hint = match word.to_lowercase().as_str() {
            "and" | "&&" => "every term must hold already: leave out the `and`".to_owned(),
            "not" => "a term is negated with `!`, like `!path:/test/*`".to_owned(),
            "or" | "||" | "(" | ")" => {
                "every term must hold, and there is no `or`: give each alternative a route of its own"
                    .to_owned()
            }
            _ if word.starts_with('/') => format!("a path is `path:{word}`"),
            _ => format!("name the field, e.g. `body:{word}` or `type:{word}`"),
        };
        return Err(format!(
            "{text:?}: `{word}` alone would search the path, the event type and the body (what \
             the sender writes); {hint}",
            word = crate::sanitize::line(&word)
        ));
    }
    if filter.needs_tracker() || filter.reads_deliveries() {
        return Err(format!(
            "{text:?}: a route matches each capture alone, so `dup`, `late` and `status:` (which \
             depend on other captures and on deliveries) cannot be used"
        ));
    }
    Ok(filter)
}

/// The terms of a match that parsed, unquoted (as the filter reads them).
fn terms(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut chars = text.chars();
    let mut term = String::new();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => terms.extend((!term.is_empty()).then(|| std::mem::take(&mut term))),
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => term.extend(chars.next()),
                        c => term.push(c),
                    }
                }
            }
            c => term.push(c),
        }
    }
    terms.extend((!term.is_empty()).then_some(term));
    terms
}

/// Refuses a `provider:NAME` term no provider answers to: a typo would never match, silently.
fn known_providers(filter: &Filter, catalog: &Catalog) -> Result<(), String> {
    for term in terms(filter.text()) {
        let Some(pattern) = term.strip_prefix('!').unwrap_or(&term).strip_prefix("provider:") else {
            continue;
        };
        let pattern = pattern.to_lowercase();
        if !catalog
            .profiles()
            .iter()
            .any(|p| glob_match(&pattern, &p.name.to_lowercase()))
        {
            let names: Vec<&str> = catalog.profiles().iter().map(|p| p.name.as_str()).collect();
            return Err(format!(
                "`provider:{}`: no provider is named that; they are {} (`hookscope providers`)",
                crate::sanitize::line(&pattern),
                names.join(", ")
            ));
        }
    }
    Ok(())
}

/// A forward target: an absolute `http://` (or `https://`) URL with a host.
fn check_target(target: &str) -> Result<(), String> {
    if target.contains(char::is_whitespace) {
        return Err(format!(
            "{target:?} is not a URL (several targets are separated by commas)"
        ));
    }
    let uri: hyper::Uri = target
        .parse()
        .map_err(|e| format!("{target:?} is not a URL: {e}"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(_)) => Ok(()),
        _ => Err(format!(
            "{target:?}: expected an http:// URL with a host, like http://127.0.0.1:3000"
        )),
    }
}

/// A deserialization error on one line (toml's may span several).
fn one_line(err: &impl std::fmt::Display) -> String {
    err.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests;
