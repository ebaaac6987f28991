//! `listen --register optiview|millicast` (#18): a webhook at the platform for the session,
//! pointing at its public URL, its signing secret used at once, removed at exit.
//!
//! The secret comes back from the platform only once the webhook exists, and the webhook needs
//! the public URL, which a quick tunnel (`--public`) gives only once its child runs. So `listen`
//! registers after the tunnel is up and before the analyzer is shared ([`Plan::register`] adds
//! the secret to its keys): the listener is bound by then and the kernel queues what arrives, so
//! the first capture, even one the platform sends the moment the webhook is created, is
//! verified with the secret. Keys that change under a running analyzer would need a swap on
//! every capture and would leave a window where captures show `no-secret`; this has neither.
//!
//! Nothing is left behind: each registration is recorded ([`state`]) before the session goes
//! on, removed at the platform and from the record at exit (also on an error exit, when the
//! [`Session`] is dropped), and what a crashed session left is listed by the next `listen
//! --register` and removed by `hookscope registrations --cleanup`. Credentials and secrets are
//! never shown: errors name where credentials came from, and bodies are redacted.

pub mod api;
mod http;
mod plan;
mod session;
pub mod state;

use std::time::Duration;

use crate::sanitize;
use api::Platform;

pub use plan::{Plan, credentials};
pub use session::Session;
pub(crate) use session::{Entry, remove};

/// How long one API call may take.
pub const API_TIMEOUT: Duration = Duration::from_secs(15);

/// `listen`'s registration options.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RegisterArgs {
    /// Register a webhook at this platform for the session (repeatable: optiview, millicast):
    /// it points at the public URL (--public-url, else --relay's channel, else --public's
    /// tunnel), its signing secret verifies captures at once, and it is removed at exit.
    /// Credentials: HOOKSCOPE_OPTIVIEW_API_KEY and HOOKSCOPE_OPTIVIEW_API_SECRET,
    /// HOOKSCOPE_MILLICAST_API_SECRET, or [api.PLATFORM] in hookscope.toml.
    #[arg(long = "register", value_enum, value_name = "PLATFORM")]
    pub platforms: Vec<Platform>,

    /// What the registered webhooks listen to, comma-separated: OptiView event types
    /// (channel.created, engine.error, or *) and Millicast hook types (feeds, recording,
    /// thumbnail, transcoder, viewerConnection); a platform none of them belongs to gets all.
    #[arg(long, value_name = "EVENTS", value_delimiter = ',', requires = "platforms")]
    pub events: Vec<String>,

    /// The public URL the platforms send to, instead of --relay's channel or --public's tunnel
    /// (a reverse proxy, a tunnel of your own); each webhook gets URL/PLATFORM.
    #[arg(long, value_name = "URL", requires = "platforms")]
    pub public_url: Option<String>,

    /// Send a platform's API calls to this base URL instead of its documented one:
    /// PLATFORM=URL (repeatable), for a region or a stand-in.
    #[arg(
        long = "api-base",
        value_name = "PLATFORM=URL",
        value_parser = parse_api_base,
        requires = "platforms"
    )]
    pub api_bases: Vec<(Platform, String)>,
}

/// Options of `hookscope registrations`.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistrationsArgs {
    /// Remove, at their platforms, the webhooks that sessions which ended without removing them
    /// left (OptiView: deactivated, then deleted); a running session's are never touched.
    #[arg(long)]
    pub cleanup: bool,

    /// Send a platform's API calls (and the credentials) to this base URL: PLATFORM=URL
    /// (repeatable). Without it, only the platform's documented API is called; a webhook
    /// recorded as registered through another one is refused, not sent your credentials.
    #[arg(long = "api-base", value_name = "PLATFORM=URL", value_parser = parse_api_base)]
    pub api_bases: Vec<(Platform, String)>,

    /// Configuration file with [api.PLATFORM] credentials (default: ./hookscope.toml if present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
}

/// Splits `--api-base PLATFORM=URL`.
pub(crate) fn parse_api_base(text: &str) -> Result<(Platform, String), String> {
    let (name, url) = text
        .split_once('=')
        .ok_or_else(|| "expected PLATFORM=URL (e.g. optiview=http://127.0.0.1:9000)".to_owned())?;
    let platform = Platform::from_name(name)
        .ok_or_else(|| format!("{name:?} is not a platform hookscope registers at (optiview, millicast)"))?;
    let url = checked_url(url).map_err(|why| format!("{url:?}: {why}"))?;
    Ok((platform, url))
}

/// `text` as an http(s) URL with a host, without a trailing `/`, or why not.
pub(crate) fn checked_url(text: &str) -> Result<String, String> {
    let uri: hyper::Uri = text.parse().map_err(|_| "not a URL".to_owned())?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none_or(str::is_empty) {
        return Err("expected an http:// or https:// URL with a host".into());
    }
    if uri.query().is_some() || text.contains('#') {
        return Err("a query or fragment cannot be extended with a path".into());
    }
    Ok(text.trim_end_matches('/').to_owned())
}

/// The user info of `url` (`user:password@`, `token@`), if it has any.
fn userinfo(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    authority.rsplit_once('@').map(|(info, _)| info)
}

/// `url` for a line, its user info whole (user and password, or a token as the user) shown as
/// `***`: `https://***@relay.example/`.
///
/// ```
/// use hookscope::register::without_userinfo;
/// assert_eq!(without_userinfo("wss://u:p@relay.example/x"), "wss://***@relay.example/x");
/// assert_eq!(without_userinfo("https://tok@r.example"), "https://***@r.example");
/// assert_eq!(without_userinfo("https://r.example/a@b"), "https://r.example/a@b");
/// ```
pub fn without_userinfo(url: &str) -> String {
    match (userinfo(url), url.split_once("://")) {
        (Some(info), Some((scheme, rest))) => {
            sanitize::line(&format!("{scheme}://***{}", &rest[info.len()..])).into_owned()
        }
        _ => sanitize::line(url).into_owned(),
    }
}

/// `optiview webhook wh_1 → https://…/optiview, all events, created 2026-12-01 20:00:00 UTC`.
pub fn describe_record(record: &state::Record) -> String {
    format!(
        "{} webhook {} → {}, {}, created {}",
        record.platform,
        sanitize::line(&record.id),
        sanitize::url(&record.url),
        sanitize::line(&record.events),
        record.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
    )
}

#[cfg(test)]
mod tests;
