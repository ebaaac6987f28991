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
pub mod state;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;

use crate::analysis::Analyzer;
use crate::cli::ListenArgs;
use crate::config::{self, CONFIG_FILE};
use crate::provider::Catalog;
use crate::public::{Public, PublicState};
use crate::sanitize;
use crate::verify::Secret;
use api::{Credentials, Events, Platform, Response, Step};

/// How long one API call may take.
pub const API_TIMEOUT: Duration = Duration::from_secs(15);
/// How long `listen` waits for a quick tunnel's URL before giving up on registering.
const TUNNEL_WAIT: Duration = Duration::from_secs(60);

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

    /// The public URL the platforms send to, when it is neither --relay's nor --public's
    /// (a reverse proxy, a tunnel of your own); each webhook gets URL/PLATFORM.
    #[arg(long, value_name = "URL", requires = "platforms")]
    pub public_url: Option<String>,

    /// Send a platform's API calls to this base URL instead of its documented one:
    /// PLATFORM=URL (repeatable), for a region or a stand-in.
    #[arg(long = "api-base", value_name = "PLATFORM=URL", value_parser = parse_api_base)]
    pub api_bases: Vec<(Platform, String)>,
}

/// Options of `hookscope registrations`.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistrationsArgs {
    /// Remove, at their platforms, the webhooks that sessions which ended without removing them
    /// left (OptiView: deactivated, then deleted); a running session's are never touched.
    #[arg(long)]
    pub cleanup: bool,

    /// Send a platform's API calls to this base URL instead of the one each webhook was
    /// registered through: PLATFORM=URL (repeatable).
    #[arg(long = "api-base", value_name = "PLATFORM=URL", value_parser = parse_api_base)]
    pub api_bases: Vec<(Platform, String)>,

    /// Configuration file with [api.PLATFORM] credentials (default: ./hookscope.toml if present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
}

/// Splits `--api-base PLATFORM=URL`.
fn parse_api_base(text: &str) -> Result<(Platform, String), String> {
    let (name, url) = text
        .split_once('=')
        .ok_or_else(|| "expected PLATFORM=URL (e.g. optiview=http://127.0.0.1:9000)".to_owned())?;
    let platform = Platform::from_name(name)
        .ok_or_else(|| format!("{name:?} is not a platform hookscope registers at (optiview, millicast)"))?;
    let url = checked_url(url).map_err(|why| format!("{url:?}: {why}"))?;
    Ok((platform, url))
}

/// `text` as an http(s) URL with a host, without a trailing `/`, or why not.
fn checked_url(text: &str) -> Result<String, String> {
    let uri: hyper::Uri = text.parse().map_err(|_| "not a URL".to_owned())?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none_or(str::is_empty) {
        return Err("expected an http:// or https:// URL with a host".into());
    }
    if uri.query().is_some() || text.contains('#') {
        return Err("a query or fragment cannot be extended with a path".into());
    }
    Ok(text.trim_end_matches('/').to_owned())
}

/// The API credentials of `platform`: its environment variables first, then `[api.PLATFORM]`
/// in the configuration file. Errors name the variables and the file, never a value.
pub fn credentials(platform: Platform, config_path: Option<&Path>) -> anyhow::Result<Credentials> {
    let file = config::api_values(config_path).map_err(|e| anyhow::anyhow!(e))?;
    let file_name = config_path.map_or_else(|| CONFIG_FILE.to_owned(), |p| p.display().to_string());
    let table = file.get(platform.name()).cloned().unwrap_or_default();
    let upper = platform.name().to_ascii_uppercase();
    // One credential: (its value, where it came from), or None.
    let one = |part: &str, from_file: Option<String>| -> anyhow::Result<Option<(String, String)>> {
        let var = format!("HOOKSCOPE_{upper}_API_{}", part.to_ascii_uppercase());
        let (value, source) = match (std::env::var(&var), from_file) {
            (Ok(value), _) => (value, var),
            (Err(_), Some(value)) => {
                let source = format!("{file_name} [api.{platform}] {part}");
                let value = config::expand(&value).map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
                (value, source)
            }
            (Err(_), None) => return Ok(None),
        };
        anyhow::ensure!(
            !value.trim().is_empty(),
            "{source} is empty (an unset variable, an empty file?)"
        );
        Ok(Some((value.trim().to_owned(), source)))
    };
    match platform {
        Platform::Optiview => {
            let key = one("key", table.key)?;
            let secret = one("secret", table.secret)?;
            match (key, secret) {
                (Some((key, key_source)), Some((secret, secret_source))) => Ok(Credentials::optiview(
                    &key,
                    &secret,
                    format!("{key_source} and {secret_source}"),
                )),
                _ => anyhow::bail!(
                    "--register optiview needs an OptiView API token: set HOOKSCOPE_OPTIVIEW_API_KEY and \
                     HOOKSCOPE_OPTIVIEW_API_SECRET (the token's key and secret, from the OptiView dashboard), \
                     or key and secret under [api.optiview] in {file_name}"
                ),
            }
        }
        Platform::Millicast => {
            anyhow::ensure!(
                table.key.is_none(),
                "{file_name} [api.millicast] key: Millicast's API takes only a secret (Bearer); remove the key"
            );
            match one("secret", table.secret)? {
                Some((secret, source)) => Ok(Credentials::millicast(&secret, source)),
                None => anyhow::bail!(
                    "--register millicast needs a Millicast API secret: set HOOKSCOPE_MILLICAST_API_SECRET \
                     (from the Streaming Dashboard's API settings), or secret under [api.millicast] in {file_name}"
                ),
            }
        }
    }
}

/// Which events each platform's webhook gets from `--events`: each name goes to the platform it
/// belongs to, and a platform none belongs to gets all.
fn events_for(
    platforms: &[Platform],
    names: &[String],
    catalog: &Catalog,
) -> anyhow::Result<HashMap<Platform, Events>> {
    let optiview_types: Vec<&str> = catalog
        .get("optiview")
        .map(|p| p.samples.iter().map(|s| s.event_type.as_str()).collect())
        .unwrap_or_default();
    let mut chosen: HashMap<Platform, Vec<String>> = HashMap::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let hook = api::MILLICAST_HOOKS.iter().map(|(hook, _)| *hook).find(|hook| {
            hook.eq_ignore_ascii_case(name) || (*hook == "recording" && name.eq_ignore_ascii_case("media"))
        });
        let (platform, name) = match hook {
            Some(hook) => (Platform::Millicast, hook.to_owned()),
            None if name == "*" || optiview_types.contains(&name) => (Platform::Optiview, name.to_owned()),
            None => anyhow::bail!(
                "--events {:?} is neither an OptiView event type (`hookscope providers optiview` lists them; * is all) \
                 nor a Millicast hook type (feeds, recording, thumbnail, transcoder, viewerConnection)",
                sanitize::line(name)
            ),
        };
        anyhow::ensure!(
            platforms.contains(&platform),
            "--events {name}: that is {platform}'s, and there is no --register {platform}"
        );
        let list = chosen.entry(platform).or_default();
        if !list.contains(&name) {
            list.push(name);
        }
    }
    Ok(platforms
        .iter()
        .map(|&platform| {
            let events = match chosen.remove(&platform) {
                Some(names) if !names.iter().any(|n| n == "*") => Events::Only(names),
                _ => Events::All,
            };
            (platform, events)
        })
        .collect())
}

/// Where the webhooks point.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// A URL known now (`--public-url`, the relay channel's).
    Url(String),
    /// The quick tunnel's, once it has one.
    Tunnel,
}

/// The relay channel's public URL: `<relay>/c/<channel>`, over http(s) whatever `--relay` said.
fn relay_url(relay: &str, channel: &str) -> anyhow::Result<String> {
    let http = match relay.split_once("://") {
        Some(("ws", rest)) => format!("http://{rest}"),
        Some(("wss", rest)) => format!("https://{rest}"),
        _ => relay.to_owned(),
    };
    let base = checked_url(&http).map_err(|why| anyhow::anyhow!("--relay {relay}: {why}"))?;
    Ok(format!("{base}/c/{channel}"))
}

/// One platform to register at.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) platform: Platform,
    pub(crate) events: Events,
    pub(crate) credentials: Credentials,
    pub(crate) base: String,
    /// How long one call may take ([`API_TIMEOUT`]).
    pub(crate) timeout: Duration,
}

/// What `--register` asks for, checked before anything starts: credentials found, events known,
/// a public URL to be had.
#[derive(Debug)]
pub struct Plan {
    entries: Vec<Entry>,
    target: Target,
}

impl Plan {
    /// The plan of `listen`'s arguments; `None` without `--register`.
    pub fn from_args(args: &ListenArgs, catalog: &Catalog) -> anyhow::Result<Option<Plan>> {
        let register = &args.register;
        let mut platforms = register.platforms.clone();
        platforms.dedup();
        platforms.sort();
        platforms.dedup();
        if platforms.is_empty() {
            return Ok(None);
        }
        let names: Vec<&str> = platforms.iter().map(|p| p.name()).collect();
        let target = match (&register.public_url, &args.relay, &args.channel, args.public) {
            (Some(url), ..) => {
                Target::Url(checked_url(url).map_err(|why| anyhow::anyhow!("--public-url {url}: {why}"))?)
            }
            (None, Some(relay), Some(channel), _) => Target::Url(relay_url(relay, channel)?),
            (None, _, _, Some(_)) => Target::Tunnel,
            _ => anyhow::bail!(
                "--register {} needs a public URL the platform can reach: add --public cloudflared \
                 (a quick tunnel, no account), --relay URL --channel NAME (your relay), or --public-url URL \
                 (one you already have)",
                names.join(" --register ")
            ),
        };
        let mut events = events_for(&platforms, &register.events, catalog)?;
        let mut entries = Vec::new();
        for platform in platforms {
            let base = register
                .api_bases
                .iter()
                .rev()
                .find(|(p, _)| *p == platform)
                .map_or_else(|| platform.default_base().to_owned(), |(_, url)| url.clone());
            entries.push(Entry {
                platform,
                events: events.remove(&platform).unwrap_or(Events::All),
                credentials: credentials(platform, args.keys.config.as_deref())?,
                base,
                timeout: API_TIMEOUT,
            });
        }
        Ok(Some(Plan { entries, target }))
    }

    /// Registers every webhook of the plan, says what an earlier session left, and adds each
    /// webhook's signing secret to `analyzer`'s keys. On an error, what was registered so far is
    /// removed again before the error is returned.
    pub async fn register(self, public: Option<&Public>, analyzer: &mut Analyzer) -> anyhow::Result<Session> {
        let dir = state::dir();
        let platforms: Vec<Platform> = self.entries.iter().map(|e| e.platform).collect();
        for line in leftovers(&dir, &platforms) {
            eprintln!("{line}");
        }
        let base = match self.target {
            Target::Url(url) => url,
            Target::Tunnel => tunnel_url(public).await?,
        };
        let state = state::SessionState::create(&dir)
            .with_context(|| format!("cannot record registrations in {}", dir.display()))?;
        let mut session = Session {
            registered: Vec::new(),
            state: Some(state),
            finished: false,
        };
        let name = format!("hookscope {} {}", host(), Utc::now().format("%Y-%m-%dT%H:%M:%SZ"));
        for entry in self.entries {
            if let Err(err) = session.register(entry, &base, &name, analyzer).await {
                session.finish().await;
                return Err(err);
            }
        }
        Ok(session)
    }
}

/// What earlier sessions left at `platforms`, as lines to show: each webhook, and how to remove
/// them. Nothing is removed here.
fn leftovers(dir: &Path, platforms: &[Platform]) -> Vec<String> {
    let Ok(found) = state::scan(dir) else {
        return Vec::new();
    };
    let left: Vec<String> = found
        .iter()
        .filter_map(|f| match f {
            state::Found::Left(left) => Some(left.records()),
            _ => None,
        })
        .flatten()
        .filter(|r| platforms.contains(&r.platform))
        .map(|r| format!("  {}", describe_record(r)))
        .collect();
    match left.is_empty() {
        true => Vec::new(),
        false => std::iter::once(
            "an earlier hookscope session ended without removing its webhooks (`hookscope registrations --cleanup` removes them):"
                .to_owned(),
        )
        .chain(left)
        .collect(),
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

/// Waits for the quick tunnel's URL.
async fn tunnel_url(public: Option<&Public>) -> anyhow::Result<String> {
    let public = public.context("--register needs --public's tunnel, which did not start")?;
    let tool = public.tool.program();
    let mut states = public.state.clone();
    eprintln!("waiting for {tool}'s public URL to register the webhook…");
    let wait = async {
        loop {
            let state = states.borrow_and_update().clone();
            match state {
                PublicState::Ready(url) => {
                    return checked_url(&url).map_err(|why| anyhow::anyhow!("{tool} gave {url}: {why}"));
                }
                PublicState::Died { status, last } => {
                    let mut text = format!(
                        "{tool} exited ({status}) before it gave a public URL; nothing was registered"
                    );
                    if let Some(line) = last.last() {
                        text.push_str(&format!("; its last line: {line}"));
                    }
                    anyhow::bail!(text)
                }
                PublicState::Starting => {}
            }
            if states.changed().await.is_err() {
                anyhow::bail!("{tool} stopped before it gave a public URL; nothing was registered");
            }
        }
    };
    tokio::time::timeout(TUNNEL_WAIT, wait).await.map_err(|_| {
        anyhow::anyhow!(
            "{tool} gave no public URL within {}; nothing was registered",
            crate::units::format_duration(TUNNEL_WAIT)
        )
    })?
}

/// This machine's name, for the webhook's (`hookscope HOST TIME`): letters, digits, `.`, `-`
/// and `_` only, at most 63 of them.
fn host() -> String {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let name = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| read("/proc/sys/kernel/hostname"))
        .or_else(|| read("/etc/hostname"))
        .or_else(|| {
            std::process::Command::new("hostname")
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        })
        .unwrap_or_default();
    let name: String = name
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(63)
        .collect();
    match name.is_empty() {
        true => "localhost".into(),
        false => name,
    }
}

/// A failed call: the line to show, and the status when there was an answer.
struct CallError {
    status: Option<u16>,
    line: String,
}

/// One call of `step`; a failure is one line naming the step and what to check.
async fn call(
    entry: &Entry,
    step: Step,
    id: Option<&str>,
    request: api::Request,
) -> Result<Response, CallError> {
    match http::exchange(&request, &entry.credentials, entry.timeout).await {
        Ok(response) if (200..300).contains(&response.status) => Ok(response),
        Ok(response) => Err(CallError {
            status: Some(response.status),
            line: api::Failed {
                platform: entry.platform,
                step,
                id,
                request: &request,
                response: &response,
                credentials: &entry.credentials,
                base: &entry.base,
            }
            .line(),
        }),
        Err(why) => Err(CallError {
            status: None,
            line: format!(
                "{}: {} {}: {why}: check the network, or --api-base {}=URL (now {})",
                step.describe(entry.platform, id),
                request.method.as_str(),
                sanitize::url(&request.url),
                entry.platform,
                sanitize::url(&entry.base),
            ),
        }),
    }
}

/// A webhook this session registered.
#[derive(Debug)]
struct Registered {
    entry: Entry,
    id: String,
    url: String,
}

/// The session's registrations; [`Session::finish`] removes them, and so does dropping it.
#[derive(Debug)]
pub struct Session {
    registered: Vec<Registered>,
    state: Option<state::SessionState>,
    finished: bool,
}

impl Session {
    /// Registers `entry`'s webhook to `base`/PLATFORM, records it, and adds its secret to
    /// `analyzer`.
    async fn register(
        &mut self,
        entry: Entry,
        base: &str,
        name: &str,
        analyzer: &mut Analyzer,
    ) -> anyhow::Result<()> {
        let platform = entry.platform;
        let url = format!("{base}/{platform}");
        let request = api::create(platform, &entry.base, name, &url, &entry.events);
        let created = call(&entry, Step::Create, None, request)
            .await
            .map_err(|e| anyhow::anyhow!(e.line))?;
        let Some(id) = api::read_id(&created.body) else {
            anyhow::bail!(
                "{}; if it was created, remove it in the {platform} dashboard",
                api::missing(
                    platform,
                    Step::Create,
                    None,
                    "webhook id",
                    &created,
                    &entry.credentials.hidden()
                )
            );
        };
        let record = state::Record {
            platform,
            id: id.clone(),
            url: url.clone(),
            name: name.to_owned(),
            events: entry.events.to_string(),
            api_base: entry.base.clone(),
            created_at: Utc::now(),
        };
        let recorded = match &mut self.state {
            Some(state) => state
                .add(record)
                .map_err(|e| format!("cannot record it in {}: {e}", state.path().display())),
            None => Err("no record of this session's registrations".into()),
        };
        self.registered.push(Registered { entry, id, url });
        // Registered from here on: an error below removes it with the rest.
        let registered = self.registered.last().context("just pushed")?;
        if let Err(why) = recorded {
            anyhow::bail!("{platform} webhook {}: {why}", sanitize::line(&registered.id));
        }
        let secret_from = match api::secret(platform, &registered.entry.base, &registered.id) {
            Some(request) => call(&registered.entry, Step::Secret, Some(&registered.id), request)
                .await
                .map_err(|e| anyhow::anyhow!(e.line))?,
            None => created,
        };
        let Some(secret) = api::read_secret(&secret_from.body) else {
            let step = match platform {
                Platform::Optiview => Step::Secret,
                Platform::Millicast => Step::Create,
            };
            anyhow::bail!(api::missing(
                platform,
                step,
                Some(&registered.id),
                "signing secret",
                &secret_from,
                &registered.entry.credentials.hidden()
            ));
        };
        analyzer
            .keys_mut()
            .add_secret(platform.name(), Secret::new(secret));
        Ok(())
    }

    /// One line per webhook: `optiview webhook wh_1 → https://…/optiview, all events`.
    pub fn lines(&self) -> Vec<String> {
        self.registered
            .iter()
            .map(|r| {
                format!(
                    "{} webhook {} → {}, {}",
                    r.entry.platform,
                    sanitize::line(&r.id),
                    sanitize::url(&r.url),
                    r.entry.events
                )
            })
            .collect()
    }

    /// The status bar's text of the registrations.
    pub fn status_line(&self) -> tokio::sync::watch::Receiver<String> {
        tokio::sync::watch::channel(self.lines().join("  ")).1
    }

    /// Removes every webhook at its platform (OptiView: deactivated, then deleted) and from the
    /// record, saying on stderr what was done, or what failed and how to remove it later.
    pub async fn finish(mut self) {
        self.remove_all().await;
    }

    async fn remove_all(&mut self) {
        self.finished = true;
        for registered in std::mem::take(&mut self.registered) {
            let id = sanitize::line(&registered.id).into_owned();
            let platform = registered.entry.platform;
            match remove(&registered.entry, &registered.id).await {
                Ok(done) => {
                    if let Some(state) = &mut self.state
                        && let Err(err) = state.remove(platform, &registered.id)
                    {
                        tracing::warn!(%err, "cannot update the registrations record");
                    }
                    eprintln!("removed {platform} webhook {id} ({done})");
                }
                Err(line) => eprintln!(
                    "{line}; it is still registered: `hookscope registrations --cleanup` removes it"
                ),
            }
        }
    }
}

impl Drop for Session {
    /// An exit on an error, past the point where [`Session::finish`] is called: the webhooks are
    /// removed all the same, on a thread of its own (the runtime may be going away).
    fn drop(&mut self) {
        if self.finished || self.registered.is_empty() {
            return;
        }
        std::thread::scope(|scope| {
            scope.spawn(|| match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(self.remove_all()),
                Err(err) => eprintln!(
                    "cannot remove the session's webhooks ({err}): `hookscope registrations --cleanup` removes them"
                ),
            });
        });
    }
}

/// Removes webhook `id` at `entry`'s platform: what was done, or the line saying what failed.
/// A webhook the platform no longer has is removed already.
pub(crate) async fn remove(entry: &Entry, id: &str) -> Result<&'static str, String> {
    let mut done = "deleted";
    if let Some(request) = api::deactivate(entry.platform, &entry.base, id) {
        match call(entry, Step::Deactivate, Some(id), request).await {
            Ok(_) => done = "deactivated, deleted",
            Err(CallError {
                status: Some(404), ..
            }) => return Ok("gone already"),
            Err(err) => return Err(err.line),
        }
    }
    match call(
        entry,
        Step::Delete,
        Some(id),
        api::delete(entry.platform, &entry.base, id),
    )
    .await
    {
        Ok(_) => Ok(done),
        Err(CallError {
            status: Some(404), ..
        }) => Ok("gone already"),
        Err(err) => Err(err.line),
    }
}

#[cfg(test)]
mod tests;
