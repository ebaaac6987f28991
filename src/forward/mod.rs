//! Forwarding: delivering captures to the local app, and recording what it answered.
//!
//! A [`Forwarder`] sends a capture as it arrived (method, path and query appended to the
//! target, headers in order minus hop-by-hop ones, the body byte for byte) and turns the answer,
//! or the reason there was none, into an [`Attempt`]. [`Forwarder::deliver`] runs the retry
//! policy and reports every attempt; `listen --forward` ([`task`]), `hookscope replay` and the
//! TUI all deliver through it. The local app being down is normal while developing: it is an
//! outcome (`connection refused`), never an error.

mod client;
mod retry;
pub mod task;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::Uri;
use tokio::sync::Semaphore;

pub use self::retry::{EXP_CAP, EXP_FIRST, RetryOn, RetryPolicy};
use crate::attempt::{Attempt, AttemptKind};
use crate::capture::Capture;
use crate::http_client::{HttpClient, TlsOptions};
use crate::provider::Catalog;

/// How a [`Forwarder`] delivers.
#[derive(Debug, Clone)]
pub struct ForwardConfig {
    /// The local app's URL, `http://127.0.0.1:3000/api`.
    pub target: String,
    /// Send to `target` as given instead of appending the captured path and query.
    pub exact: bool,
    /// Pass on the captured `Host` header instead of the target's.
    pub preserve_host: bool,
    /// How long one attempt may take, response body included.
    pub timeout: Duration,
    /// How failed deliveries are retried.
    pub retry: RetryPolicy,
    /// How many attempts may be in flight at once.
    pub max_in_flight: usize,
    /// How much of a response body is kept in the attempt record.
    pub body_limit: usize,
    /// How `https://` targets are trusted (`--ca`, `--insecure`).
    pub tls: TlsOptions,
}

impl ForwardConfig {
    /// The defaults for delivering to `target`: 30 s timeout, no retries, 64 in flight, 64 KiB
    /// of response body kept.
    pub fn new(target: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            exact: false,
            preserve_host: false,
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::None,
            max_in_flight: 64,
            body_limit: 64 * 1024,
            tls: TlsOptions::default(),
        }
    }
}

/// Why a forwarder cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The target is not a URL.
    #[error("{target:?} is not a URL: {reason}")]
    BadTarget {
        /// The target as given.
        target: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The target's scheme is neither `http` nor `https`.
    #[error("{0}:// targets are not supported: forward to the local app over http:// or https://")]
    UnsupportedScheme(String),
    /// `--ca` cannot be read.
    #[error("{0:#}")]
    Tls(anyhow::Error),
}

/// Delivers captures to one target; cheap to clone (clones share connections and the limit on
/// attempts in flight).
#[derive(Clone)]
pub struct Forwarder {
    inner: Arc<Inner>,
}

struct Inner {
    config: ForwardConfig,
    client: HttpClient,
    slots: Semaphore,
    /// Each sender's documented policy, for `--retry provider`.
    senders: HashMap<String, (String, RetryOn)>,
}

impl Forwarder {
    /// A forwarder for `config`; `catalog` supplies the senders' own policies for
    /// `--retry provider`.
    pub fn new(config: ForwardConfig, catalog: &Catalog) -> Result<Self, ForwardError> {
        let bad = |reason: String| ForwardError::BadTarget {
            target: config.target.clone(),
            reason,
        };
        let uri: Uri = config.target.parse().map_err(|e| bad(format!("{e}")))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            Some(other) => return Err(ForwardError::UnsupportedScheme(other.to_owned())),
            None => {
                return Err(bad(
                    "it needs a scheme and host, like http://127.0.0.1:3000 or https://localhost:3443".into(),
                ));
            }
        }
        if uri.host().is_none() {
            return Err(bad("it has no host".into()));
        }
        let senders = catalog
            .profiles()
            .iter()
            .map(|p| {
                let on = match p.retry_non_2xx {
                    true => RetryOn::Non2xx,
                    false => RetryOn::ServerErrors,
                };
                (p.name.clone(), (p.retry.clone(), on))
            })
            .collect();
        let client = crate::http_client::client(&config.tls).map_err(ForwardError::Tls)?;
        Ok(Self {
            inner: Arc::new(Inner {
                slots: Semaphore::new(config.max_in_flight.max(1)),
                config,
                client,
                senders,
            }),
        })
    }

    /// The configuration this forwarder was built with.
    pub fn config(&self) -> &ForwardConfig {
        &self.inner.config
    }

    /// The URL `capture` is delivered to.
    pub fn target_for(&self, capture: &Capture) -> String {
        let config = &self.inner.config;
        join_target(
            &config.target,
            &capture.path,
            capture.query.as_deref(),
            config.exact,
        )
    }

    /// The waits before each retry of `capture`, and which answers are retried.
    pub fn schedule(&self, capture: &Capture) -> (Vec<Duration>, RetryOn) {
        let sender = capture
            .derived
            .provider
            .as_deref()
            .and_then(|name| self.inner.senders.get(name));
        match &self.inner.config.retry {
            RetryPolicy::Provider => match sender {
                Some((policy, on)) => (RetryPolicy::Provider.for_sender(Some(policy)).delays(), *on),
                None => (Vec::new(), RetryOn::ServerErrors),
            },
            own => (own.delays(), RetryOn::ServerErrors),
        }
    }

    /// Sends `request` once (attempt number 1), waiting for a free slot first.
    pub async fn send_once(&self, request: &Capture, kind: AttemptKind) -> Attempt {
        self.send_attempt(request, kind, 1).await
    }

    /// Sends `request` as attempt `number`, waiting for a free slot first.
    pub async fn send_attempt(&self, request: &Capture, kind: AttemptKind, number: u32) -> Attempt {
        // The semaphore is never closed, so acquiring only fails if that changes: then go on.
        let _slot = self.inner.slots.acquire().await.ok();
        client::send(
            &self.inner.client,
            &self.inner.config,
            request,
            &self.target_for(request),
        )
        .await
        .into_attempt(request.id, kind, number, self.inner.config.tls.insecure)
    }

    /// Delivers `capture` under the retry policy: attempts it, hands each attempt to
    /// `on_attempt` (to journal or show it) and, while the policy allows and the outcome is worth
    /// it, waits and tries again. Returns the last attempt.
    pub async fn deliver<F, Fut>(&self, capture: &Capture, kind: AttemptKind, mut on_attempt: F) -> Attempt
    where
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = ()>,
    {
        let (delays, on) = self.schedule(capture);
        let mut number = 1u32;
        loop {
            let attempt = self.send_attempt(capture, kind, number).await;
            let again = on.should_retry(attempt.status());
            on_attempt(attempt.clone()).await;
            match delays.get(number as usize - 1) {
                Some(delay) if again => tokio::time::sleep(*delay).await,
                _ => return attempt,
            }
            number += 1;
        }
    }
}

/// The URL a capture of `path` and `query` is delivered to: the path appended to `base`'s path
/// and the queries joined, or `base` as given when `exact`.
///
/// ```
/// use hookscope::forward::join_target;
/// assert_eq!(
///     join_target("http://localhost:3000/api", "/hooks", Some("a=1"), false),
///     "http://localhost:3000/api/hooks?a=1"
/// );
/// assert_eq!(join_target("http://localhost:3000/api", "/hooks", None, true), "http://localhost:3000/api");
/// ```
pub fn join_target(base: &str, path: &str, query: Option<&str>, exact: bool) -> String {
    if exact {
        return base.to_owned();
    }
    let base = base.split('#').next().unwrap_or_default();
    let (base, base_query) = match base.split_once('?') {
        Some((before, q)) => (before, Some(q).filter(|q| !q.is_empty())),
        None => (base, None),
    };
    // The base path starts at the first `/` after `scheme://authority`.
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let (origin, base_path) = match base[authority_start..].find('/') {
        Some(i) => base.split_at(authority_start + i),
        None => (base, ""),
    };
    let mut out = String::with_capacity(base.len() + path.len() + 16);
    out.push_str(origin);
    out.push_str(base_path.trim_end_matches('/'));
    if !path.starts_with('/') {
        out.push('/');
    }
    out.push_str(path);
    let queries: Vec<&str> = base_query.into_iter().chain(query).collect();
    if !queries.is_empty() || query.is_some() {
        out.push('?');
        out.push_str(&queries.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_join_paths_and_queries() {
        let cases = [
            (
                "http://localhost:3000/api",
                "/hooks",
                Some("a=1"),
                "http://localhost:3000/api/hooks?a=1",
            ),
            (
                "http://localhost:3000/api/",
                "/hooks",
                None,
                "http://localhost:3000/api/hooks",
            ),
            (
                "http://localhost:3000",
                "/hooks",
                None,
                "http://localhost:3000/hooks",
            ),
            ("http://localhost:3000/", "/", None, "http://localhost:3000/"),
            (
                "http://localhost:3000?k=v",
                "/h",
                Some("a=1"),
                "http://localhost:3000/h?k=v&a=1",
            ),
            (
                "http://localhost:3000/api?k=v",
                "/h",
                None,
                "http://localhost:3000/api/h?k=v",
            ),
            (
                "http://localhost:3000/api#frag",
                "/h",
                None,
                "http://localhost:3000/api/h",
            ),
            // An empty query (`/h?`) stays as sent.
            (
                "http://localhost:3000",
                "/h",
                Some(""),
                "http://localhost:3000/h?",
            ),
            ("http://localhost:3000", "*", None, "http://localhost:3000/*"),
            (
                "http://[::1]:3000/x",
                "/a%2Fb",
                Some("q=%20"),
                "http://[::1]:3000/x/a%2Fb?q=%20",
            ),
        ];
        for (base, path, query, expected) in cases {
            assert_eq!(join_target(base, path, query, false), expected, "{base} + {path}");
        }
        assert_eq!(
            join_target("http://localhost:3000/only", "/hooks", Some("a=1"), true),
            "http://localhost:3000/only"
        );
    }

    #[test]
    fn only_http_and_https_targets_are_accepted() {
        let catalog = Catalog::builtin();
        assert!(Forwarder::new(ForwardConfig::new("http://127.0.0.1:3000"), &catalog).is_ok());
        assert!(Forwarder::new(ForwardConfig::new("https://localhost:3443"), &catalog).is_ok());
        for bad in ["ftp://example.com", "127.0.0.1:3000", "/just/a/path", "http://"] {
            assert!(
                Forwarder::new(ForwardConfig::new(bad), &catalog).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn provider_policy_follows_the_sender() {
        let mut config = ForwardConfig::new("http://127.0.0.1:3000");
        config.retry = RetryPolicy::Provider;
        let forwarder = Forwarder::new(config, &Catalog::builtin()).expect("valid");
        let mut capture = crate::codec::tests::sample_capture();
        let schedule = |provider: &str, capture: &mut Capture| {
            capture.derived.provider = Some(provider.into());
            forwarder.schedule(capture)
        };
        assert_eq!(
            schedule("millicast", &mut capture),
            (vec![], RetryOn::ServerErrors)
        );
        // 004: "If your server does not return a 2xx status code, our service will retry".
        assert_eq!(
            schedule("aioz", &mut capture),
            (vec![Duration::from_secs(3); 3], RetryOn::Non2xx)
        );
        assert_eq!(schedule("dyte", &mut capture).1, RetryOn::Non2xx);
        // AIOZ retries a 400 and a 302 as it retries a 503; a 2xx ends it.
        let (_, aioz) = schedule("aioz", &mut capture);
        for status in [Some(400), Some(302), Some(503), None] {
            assert!(aioz.should_retry(status), "{status:?}");
        }
        assert!(!aioz.should_retry(Some(204)));
        assert_eq!(schedule("dyte", &mut capture).0.len(), 5);
        assert_eq!(schedule("nobody", &mut capture), (vec![], RetryOn::ServerErrors));
    }
}
