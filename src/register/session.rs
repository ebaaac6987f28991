//! The session's webhooks: each API call and what its failure says, and their removal at exit,
//! on an error exit too (when the [`Session`] is dropped).

use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;

use super::api::{self, Credentials, Events, Platform, Response, Step};
use super::{http, state};
use crate::analysis::Analyzer;
use crate::sanitize;
use crate::verify::Secret;

/// One platform to register at.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) platform: Platform,
    pub(crate) events: Events,
    pub(crate) credentials: Credentials,
    pub(crate) base: String,
    /// How long one call may take ([`super::API_TIMEOUT`]).
    pub(crate) timeout: Duration,
}

/// A failed call: the line to show, and the status when there was an answer.
pub(super) struct CallError {
    pub(super) status: Option<u16>,
    pub(super) line: String,
}

/// One call of `step`; a failure is one line naming the step and what to check.
pub(super) async fn call(
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
        Err(http::Failure::TooLarge(why)) => Err(CallError {
            status: None,
            line: format!(
                "{}: {} {} {why}",
                step.describe(entry.platform, id),
                request.method.as_str(),
                sanitize::url(&request.url),
            ),
        }),
        Err(http::Failure::Network(why)) => Err(CallError {
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
pub(super) struct Registered {
    entry: Entry,
    id: String,
    url: String,
}

/// The session's registrations; [`Session::finish`] removes them, and so does dropping it.
#[derive(Debug)]
pub struct Session {
    registered: Vec<Registered>,
    state: state::SessionState,
    finished: bool,
}

impl Session {
    /// A session with nothing registered yet, recording in `state`.
    pub(super) fn new(state: state::SessionState) -> Self {
        Self {
            registered: Vec::new(),
            state,
            finished: false,
        }
    }

    /// Registers `entry`'s webhook to `base`/PLATFORM, records it, and adds its secret to
    /// `analyzer`.
    pub(super) async fn register(
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
        let recorded = self
            .state
            .add(record)
            .map_err(|e| format!("cannot record it in {}: {e}", state::shown(self.state.path())));
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
        let Some(secret) = api::read_secret(&secret_from.body, secret_from.content_type.as_deref()) else {
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
    /// record, all platforms at once, saying on stderr what it waits for, what was done, or what
    /// failed and how to remove it later. A Ctrl-C (or SIGTERM) meanwhile leaves what is not
    /// removed yet recorded for `hookscope registrations --cleanup`. The error says how many
    /// webhooks stay registered.
    pub async fn finish(mut self) -> Result<(), String> {
        self.remove_all().await
    }

    /// Gives up on the webhooks without removing them: they stay recorded for `hookscope
    /// registrations --cleanup` (a second Ctrl-C while registering).
    pub(super) fn abandon(mut self) -> usize {
        self.finished = true;
        std::mem::take(&mut self.registered).len()
    }

    async fn remove_all(&mut self) -> Result<(), String> {
        use futures_util::StreamExt as _;
        self.finished = true;
        let registered = std::mem::take(&mut self.registered);
        if registered.is_empty() {
            return Ok(());
        }
        // Watched before the first line is shown, so a Ctrl-C right after it counts.
        let interrupted = crate::commands::listen::shutdown_signal();
        tokio::pin!(interrupted);
        for r in &registered {
            eprintln!(
                "removing the {} webhook {} (Ctrl-C again to leave it for `hookscope registrations --cleanup`)",
                r.entry.platform,
                sanitize::line(&r.id)
            );
        }
        let mut removals: futures_util::stream::FuturesUnordered<_> = registered
            .iter()
            .map(|r| async move { (r, remove(&r.entry, &r.id).await) })
            .collect();
        let mut left = 0;
        loop {
            let next = tokio::select! {
                next = removals.next() => next,
                () = &mut interrupted => {
                    left += removals.len();
                    break;
                }
            };
            let Some((registered, result)) = next else {
                break;
            };
            let id = sanitize::line(&registered.id).into_owned();
            let platform = registered.entry.platform;
            match result {
                Ok(done) => {
                    if let Err(err) = self.state.remove(platform, &registered.id) {
                        tracing::warn!(%err, "cannot update the registrations record");
                    }
                    eprintln!("removed {platform} webhook {id} ({done})");
                }
                Err(line) => {
                    left += 1;
                    eprintln!(
                        "{line}; it is still registered: `hookscope registrations --cleanup` removes it"
                    );
                }
            }
        }
        match left {
            0 => Ok(()),
            n => Err(format!(
                "{n} webhook{} left registered, recorded for `hookscope registrations --cleanup`, which removes {}",
                if n == 1 { "" } else { "s" },
                if n == 1 { "it" } else { "them" }
            )),
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
                Ok(runtime) => {
                    if let Err(line) = runtime.block_on(self.remove_all()) {
                        eprintln!("{line}");
                    }
                }
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
