//! The routes at work in `listen`: each capture's deliveries, and the answer its sender hears.
//!
//! The server asks [`Router::answer`] once the capture is journaled (never before: an answered
//! webhook is on disk). The forwarding task asks [`Router::deliveries`] for the same capture;
//! both find the same route, since a route matches the capture alone. For `respond = "app"` the
//! server registers a [`Waiter`] before journaling, and the delivery to the route's first
//! target hands its first attempt to it.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use hyper::header::{HeaderName, HeaderValue};
use tokio::sync::oneshot;

use super::respond::FailState;
use super::{Answer, Reply, Route};
use crate::attempt::{Attempt, Outcome};
use crate::capture::{Capture, CaptureId};
use crate::forward::task::{Delivery, Dispatch};
use crate::forward::{ForwardConfig, Forwarder};
use crate::provider::Catalog;

/// The routes of a listener, with their forwarders.
pub struct Router {
    routes: Vec<Active>,
    /// `--forward`: for captures no route forwards.
    default: Option<Forwarder>,
    /// Whether any route answers with the app's response (only then are waiters registered).
    answers_from_app: bool,
    /// Captures whose sender waits for the app's answer, by id.
    waiting: Arc<Mutex<HashMap<CaptureId, oneshot::Sender<Attempt>>>>,
}

struct Active {
    route: Route,
    label: Arc<str>,
    targets: Vec<Forwarder>,
    failing: Option<Mutex<FailState>>,
}

/// A sender waiting for the app's answer; leaves the table when dropped.
pub struct Waiter {
    id: CaptureId,
    answer: oneshot::Receiver<Attempt>,
    waiting: Arc<Mutex<HashMap<CaptureId, oneshot::Sender<Attempt>>>>,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        lock(&self.waiting).remove(&self.id);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field(
                "routes",
                &self.routes.iter().map(|r| &r.route).collect::<Vec<_>>(),
            )
            .field("default", &self.default.as_ref().map(|d| &d.config().target))
            .finish()
    }
}

impl Router {
    /// A router over `routes` (in order), delivering what none forwards to `default`. Each
    /// target gets a forwarder of its own from `config` (the route's `retry` in place of the
    /// configured one); errors name the route and the target.
    pub fn new(
        routes: Vec<Route>,
        default: Option<Forwarder>,
        config: impl Fn(&str) -> ForwardConfig,
        catalog: &Catalog,
    ) -> Result<Self, String> {
        let mut active = Vec::with_capacity(routes.len());
        for route in routes {
            // `--route` is parsed before the catalog is loaded: its provider names are checked here.
            if let super::Match::Filter(filter) = &route.matcher {
                super::known_providers(filter, catalog)
                    .map_err(|e| format!("{} ({}), `match`: {e}", route.origin, route.label))?;
            }
            // Attempts name the route that sent them: two of one name could not be told apart
            // (one match twice is an override, `--route` before the file: the first decides).
            if let Some(same) = active.iter().find(|a: &&Active| {
                route.decides()
                    && a.route.decides()
                    && a.route.label == route.label
                    && a.route.matcher.text() != route.matcher.text()
            }) {
                return Err(format!(
                    "{} and {} are both called {:?}: attempts record the route by its name; give \
                     one a `name` of its own",
                    same.route.origin, route.origin, route.label
                ));
            }
            let mut targets = Vec::new();
            for target in route.forward.iter().flatten() {
                let mut config = config(target);
                if let Some(retry) = &route.retry {
                    config.retry = retry.clone();
                }
                let forwarder = Forwarder::new(config, catalog)
                    .map_err(|e| format!("{} ({}), `forward`: {e}", route.origin, route.label))?;
                targets.push(forwarder);
            }
            active.push(Active {
                label: route.label.as_str().into(),
                failing: route.failing.clone().map(|f| Mutex::new(FailState::new(f))),
                targets,
                route,
            });
        }
        Ok(Self {
            answers_from_app: active
                .iter()
                .any(|a| matches!(a.route.answer, Some(Answer::App { .. }))),
            routes: active,
            default,
            waiting: Arc::default(),
        })
    }

    /// The routes, in order.
    pub fn routes(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter().map(|a| &a.route)
    }

    /// The first route deciding `capture`'s deliveries and answer.
    fn decide(&self, capture: &Capture) -> Option<&Active> {
        self.routes
            .iter()
            .find(|a| a.route.decides() && a.route.matcher.holds(capture))
    }

    /// Registers capture `id`'s sender as waiting for the app's answer, when a route may give
    /// it one. Called before the capture is journaled, so no delivery can come first.
    pub fn expect(&self, id: CaptureId) -> Option<Waiter> {
        if !self.answers_from_app {
            return None;
        }
        let (sender, answer) = oneshot::channel();
        lock(&self.waiting).insert(id, sender);
        Some(Waiter {
            id,
            answer,
            waiting: self.waiting.clone(),
        })
    }

    /// What `capture`'s sender hears, decided once, as soon as the capture is analyzed and
    /// before it is journaled (so that the journal records the answer): `None` for the
    /// listener's own. A failure on purpose counts as one of the event's deliveries here.
    pub fn plan(&self, capture: &Capture) -> Option<Plan> {
        let active = self.decide(capture)?;
        if let Some(failing) = &active.failing {
            let failed = lock(failing).fail(capture);
            if let Some(reply) = failed {
                // Failures come at once, whatever the route's delay.
                return Some(Plan::Reply { reply, wait: false });
            }
        }
        match active.route.answer.as_ref()? {
            Answer::Fixed(reply) => Some(Plan::Reply {
                reply: reply.clone(),
                wait: true,
            }),
            Answer::App { timeout, fallback } => Some(Plan::App {
                timeout: *timeout,
                fallback: fallback.clone(),
            }),
        }
    }

    /// What `capture`'s sender hears, once it is journaled: `None` for the listener's own
    /// answer. Waits for a route's `delay`, or for the app (within the route's timeout).
    pub async fn answer(&self, capture: &Capture, waiter: Option<Waiter>) -> Option<Response<Full<Bytes>>> {
        let plan = self.plan(capture)?;
        Some(plan.carry_out(waiter).await)
    }
}

/// What a route decided its capture's sender hears ([`Router::plan`]).
#[derive(Debug, Clone)]
pub enum Plan {
    /// This reply, after the route's delay when `wait`.
    Reply {
        /// The reply.
        reply: Reply,
        /// Whether its delay applies (not to a failure on purpose).
        wait: bool,
    },
    /// The app's own answer, or `fallback` after `timeout`.
    App {
        /// How long to wait for the app.
        timeout: Duration,
        /// What to answer without it.
        fallback: Reply,
    },
}

impl Plan {
    /// The status the sender hears, when it is known before the app answers.
    pub fn status(&self) -> Option<u16> {
        match self {
            Plan::Reply { reply, .. } => Some(reply.status.as_u16()),
            Plan::App { .. } => None,
        }
    }

    /// Answers as planned, once the capture is journaled: after the delay, or with the app's
    /// answer (within the timeout) that `waiter` brings.
    pub async fn carry_out(self, waiter: Option<Waiter>) -> Response<Full<Bytes>> {
        match self {
            Plan::Reply { reply, wait } => {
                if wait && !reply.delay.is_zero() {
                    tokio::time::sleep(reply.delay).await;
                }
                respond(&reply)
            }
            Plan::App { timeout, fallback } => {
                let waited = match waiter {
                    Some(mut waiter) => tokio::time::timeout(timeout, &mut waiter.answer).await.ok(),
                    None => None,
                };
                match waited {
                    Some(Ok(attempt)) => from_app(&attempt).unwrap_or_else(|| respond(&fallback)),
                    _ => respond(&fallback),
                }
            }
        }
    }
}

impl Dispatch for Router {
    fn deliveries(&self, capture: &Capture) -> Vec<Delivery> {
        let Some(active) = self.decide(capture).filter(|a| a.route.forward.is_some()) else {
            return self
                .default
                .iter()
                .map(|f| Delivery::new(f.clone(), None))
                .collect();
        };
        let app = matches!(active.route.answer, Some(Answer::App { .. }));
        active
            .targets
            .iter()
            .enumerate()
            .map(|(index, forwarder)| {
                let mut delivery = Delivery::new(forwarder.clone(), Some(active.label.clone()));
                if app && index == 0 {
                    delivery.first = lock(&self.waiting).remove(&capture.id);
                }
                delivery
            })
            .collect()
    }
}

/// A stated answer as a response.
fn respond(reply: &Reply) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(reply.body.clone()));
    *response.status_mut() = reply.status;
    for (name, value) in &reply.headers {
        response.headers_mut().append(name.clone(), value.clone());
    }
    response
}

/// The app's answer as the sender's: its status, headers (minus those of its connection) and
/// body. `None` when there was no answer, only part of its body was kept, or it is not a final
/// answer (a `101` would switch the sender's connection to a protocol nobody speaks on it).
fn from_app(attempt: &Attempt) -> Option<Response<Full<Bytes>>> {
    let Outcome::Response {
        status,
        headers,
        body,
        truncated: false,
    } = &attempt.outcome
    else {
        return None;
    };
    let mut response = Response::new(Full::new(body.clone()));
    *response.status_mut() = hyper::StatusCode::from_u16(*status)
        .ok()
        .filter(|status| !status.is_informational())?;
    for header in headers {
        if crate::export::is_hop_by_hop(&header.name) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(header.name.as_bytes()),
            HeaderValue::from_maybe_shared(header.value.clone()),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    Some(response)
}
