//! What `--register` asks for, checked before anything starts (credentials, events, where the
//! webhooks point), and the registration itself once the public URL is known.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;

use super::api::{self, Credentials, Events, Platform};
use super::session::{Entry, Session};
use super::{API_TIMEOUT, checked_url, describe_record, state};
use crate::analysis::Analyzer;
use crate::cli::ListenArgs;
use crate::config::{self, CONFIG_FILE};
use crate::provider::Catalog;
use crate::public::{Public, PublicState};
use crate::sanitize;

/// How long `listen` waits for a quick tunnel's URL before giving up on registering.
const TUNNEL_WAIT: Duration = Duration::from_secs(60);

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
                    "no OptiView API token for optiview's webhooks: set HOOKSCOPE_OPTIVIEW_API_KEY and \
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
                    "no Millicast API secret for millicast's webhooks: set HOOKSCOPE_MILLICAST_API_SECRET \
                     (from the Streaming Dashboard's API settings), or secret under [api.millicast] in {file_name}"
                ),
            }
        }
    }
}

/// Which events each platform's webhook gets from `--events`: each name goes to the platform it
/// belongs to, and a platform none belongs to gets all.
pub(super) fn events_for(
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
pub(super) enum Target {
    /// A URL known now (`--public-url`, the relay channel's).
    Url(String),
    /// The quick tunnel's, once it has one.
    Tunnel,
}

/// The relay channel's public URL: `<relay>/c/<channel>`, over http(s) whatever `--relay` said.
/// A `--relay` URL with a user and password is refused: the platform would be given them.
pub(super) fn relay_url(relay: &str, channel: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        super::userinfo(relay).is_none(),
        "--relay {} holds a user or password, which --register would hand to the platform in the webhook's URL: \
         give --public-url with the URL the platform is to send to (the relay's /c/CHANNEL needs none)",
        super::without_userinfo(relay)
    );
    let http = match relay.split_once("://") {
        Some(("ws", rest)) => format!("http://{rest}"),
        Some(("wss", rest)) => format!("https://{rest}"),
        _ => relay.to_owned(),
    };
    let base = checked_url(&http).map_err(|why| anyhow::anyhow!("--relay {relay}: {why}"))?;
    Ok(format!("{base}/c/{channel}"))
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
        // Ctrl-C and SIGTERM are watched from here on: one that comes while waiting for the
        // tunnel ends the wait, and one during a call lets the call finish (a webhook created
        // and not recorded would be left behind), then removes what was registered.
        let interrupted = crate::commands::listen::shutdown_signal();
        tokio::pin!(interrupted);
        let dir = state::dir().map_err(anyhow::Error::msg)?;
        let platforms: Vec<Platform> = self.entries.iter().map(|e| e.platform).collect();
        for line in leftovers(&dir, &platforms) {
            eprintln!("{line}");
        }
        let base = match self.target {
            Target::Url(url) => url,
            Target::Tunnel => tokio::select! {
                url = tunnel_url(public) => url?,
                () = &mut interrupted => anyhow::bail!("interrupted while waiting for the tunnel's URL; nothing was registered"),
            },
        };
        let state = state::SessionState::create(&dir)
            .with_context(|| format!("cannot record registrations in {}", state::shown(&dir)))?;
        let mut session = Session::new(state);
        let name = format!("hookscope {} {}", host(), Utc::now().format("%Y-%m-%dT%H:%M:%SZ"));
        for entry in self.entries {
            let platform = entry.platform;
            // A Ctrl-C during a call lets it finish (a webhook created and not recorded would be
            // left unknown), saying so; a second one gives up at once, leaving what is recorded.
            let outcome = {
                let registering = session.register(entry, &base, &name, analyzer);
                tokio::pin!(registering);
                tokio::select! {
                    biased;
                    result = &mut registering => Registering::Done(result),
                    () = &mut interrupted => {
                        eprintln!(
                            "interrupted: waiting for {platform}'s API to answer (up to {} a call), then removing \
                             what was registered; Ctrl-C again to leave at once",
                            crate::units::format_duration(API_TIMEOUT)
                        );
                        let again = crate::commands::listen::shutdown_signal();
                        tokio::select! {
                            result = &mut registering => Registering::Interrupted(result),
                            () = again => Registering::Abandoned,
                        }
                    }
                }
            };
            let stop = match outcome {
                Registering::Done(Err(err)) | Registering::Interrupted(Err(err)) => Some(err),
                Registering::Interrupted(Ok(())) => Some(anyhow::anyhow!("interrupted while registering")),
                Registering::Abandoned => {
                    let left = session.abandon();
                    let recorded = match left {
                        0 => String::new(),
                        1 => "; the one registered before stays recorded for `hookscope registrations --cleanup`".into(),
                        n => format!("; the {n} registered before stay recorded for `hookscope registrations --cleanup`"),
                    };
                    anyhow::bail!(
                        "interrupted twice while registering: the {platform} webhook being created may stay at \
                         {platform} unrecorded (check its dashboard for webhooks named \"{name}\"){recorded}"
                    );
                }
                Registering::Done(Ok(())) => tokio::select! {
                    biased;
                    () = &mut interrupted => Some(anyhow::anyhow!("interrupted while registering")),
                    () = std::future::ready(()) => None,
                },
            };
            if let Some(err) = stop {
                if let Err(line) = session.finish().await {
                    eprintln!("{line}");
                }
                return Err(err);
            }
        }
        Ok(session)
    }
}

/// How one registration ended, with Ctrl-C watched.
enum Registering {
    /// As the calls went.
    Done(anyhow::Result<()>),
    /// A Ctrl-C came meanwhile; the calls went on to their end.
    Interrupted(anyhow::Result<()>),
    /// A second Ctrl-C: given up in the middle.
    Abandoned,
}

/// What earlier sessions left at `platforms`, as lines to show: each webhook, and how to remove
/// them. Nothing is removed here.
pub(super) fn leftovers(dir: &Path, platforms: &[Platform]) -> Vec<String> {
    let Ok(found) = state::scan(dir, state::Access::List) else {
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

/// Waits for the quick tunnel's URL.
pub(super) async fn tunnel_url(public: Option<&Public>) -> anyhow::Result<String> {
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
pub(super) fn host() -> String {
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
