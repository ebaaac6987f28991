//! The forwarding task of `listen --forward`: every capture the hub publishes is delivered once.
//!
//! The task only reads the hub's broadcast and spawns one delivery per capture, so capture never
//! waits for the local app; the forwarder's semaphore bounds the attempts in flight. If the task
//! falls behind the broadcast anyway, it says how many captures it missed (they are still in the
//! journal, and can be replayed). On shutdown it gives deliveries in progress a grace period to
//! finish and journal their attempts, then abandons the rest.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use super::Forwarder;
use crate::attempt::{Attempt, AttemptKind};
use crate::capture::Capture;
use crate::hub::{Hub, HubEvent};

/// Where each capture is delivered: one forwarder (`--forward`), or the routes' targets.
pub trait Dispatch: Send + Sync + 'static {
    /// The deliveries to make of `capture` (none, one, or a fan-out).
    fn deliveries(&self, capture: &Capture) -> Vec<Delivery>;
}

/// One delivery of a capture: to one target, with its own attempts.
pub struct Delivery {
    /// Delivers it, under its retry policy.
    pub forwarder: Forwarder,
    /// The route that sends it, recorded in each attempt.
    pub route: Option<Arc<str>>,
    /// Given the first attempt, before it is journaled (a sender waiting for the app's answer).
    pub first: Option<oneshot::Sender<Attempt>>,
}

impl Delivery {
    /// A delivery by `forwarder` for `route`.
    pub fn new(forwarder: Forwarder, route: Option<Arc<str>>) -> Self {
        Self {
            forwarder,
            route,
            first: None,
        }
    }
}

impl Dispatch for Forwarder {
    fn deliveries(&self, _: &Capture) -> Vec<Delivery> {
        vec![Delivery::new(self.clone(), None)]
    }
}

/// A running forwarding task; [`Forwarding::finish`] stops it.
pub struct Forwarding {
    stop: oneshot::Sender<Duration>,
    task: JoinHandle<Summary>,
}

/// What the forwarding task did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Captures whose delivery was started.
    pub deliveries: u64,
    /// Captures not forwarded because the task fell behind the hub.
    pub missed: u64,
    /// Deliveries still running (or waiting to retry) when the grace period ended.
    pub abandoned: u64,
}

/// Starts forwarding every capture recorded on `hub` from now on.
pub fn spawn(forwarder: Forwarder, hub: Hub) -> Forwarding {
    spawn_dispatch(Arc::new(forwarder), hub)
}

/// Like [`spawn`], delivering each capture where `dispatch` says.
pub fn spawn_dispatch(dispatch: Arc<dyn Dispatch>, hub: Hub) -> Forwarding {
    let (stop, stopped) = oneshot::channel();
    // Subscribe now, not when the task first runs: a capture recorded in between would be missed.
    let events = hub.subscribe();
    let task = tokio::spawn(run(dispatch, hub, events, stopped));
    Forwarding { stop, task }
}

impl Forwarding {
    /// Forwards what was already published, waits up to `grace` for deliveries in progress, and
    /// stops. The task's hub handle is dropped when this returns.
    pub async fn finish(self, grace: Duration) -> Summary {
        let _ = self.stop.send(grace);
        match self.task.await {
            Ok(summary) => summary,
            Err(err) => {
                tracing::error!(%err, "the forwarding task failed");
                Summary::default()
            }
        }
    }
}

async fn run(
    dispatch: Arc<dyn Dispatch>,
    hub: Hub,
    mut events: broadcast::Receiver<HubEvent>,
    mut stopped: oneshot::Receiver<Duration>,
) -> Summary {
    let mut deliveries = JoinSet::new();
    let mut summary = Summary::default();
    // Whether any delivery of the capture started (a route may forward it nowhere).
    let start = |deliveries: &mut JoinSet<()>, capture: Arc<Capture>| -> bool {
        let planned = dispatch.deliveries(&capture);
        let started = !planned.is_empty();
        for delivery in planned {
            let (hub, capture) = (hub.clone(), capture.clone());
            let Delivery {
                forwarder,
                route,
                mut first,
            } = delivery;
            deliveries.spawn(async move {
                forwarder
                    .deliver(&capture, AttemptKind::Forward, |mut attempt| {
                        attempt.route = route.as_deref().map(str::to_owned);
                        if let Some(first) = first.take() {
                            let _ = first.send(attempt.clone());
                        }
                        let hub = hub.clone();
                        async move {
                            if let Err(err) = hub.record_attempt(attempt).await {
                                tracing::warn!(%err, "delivery attempt not journaled");
                            }
                        }
                    })
                    .await;
            });
        }
        started
    };
    let grace = loop {
        // Reap finished deliveries so the set holds only running ones.
        while deliveries.try_join_next().is_some() {}
        tokio::select! {
            grace = &mut stopped => break grace.unwrap_or_default(),
            event = events.recv() => match event {
                // A refused request (body over --max-body) was not received whole: sending what
                // was kept would show the app a request nobody made.
                Ok(HubEvent::Capture(capture, _)) if capture.incomplete() => {
                    tracing::info!(id = %capture.id, "incomplete capture not forwarded");
                }
                Ok(HubEvent::Capture(capture, _)) => {
                    summary.deliveries += u64::from(start(&mut deliveries, capture));
                }
                Ok(HubEvent::Attempt(_)) => {}
                Err(RecvError::Lagged(missed)) => {
                    summary.missed += missed;
                    tracing::warn!(missed, "forwarding fell behind: captures not forwarded (they are in the journal; replay them)");
                }
                Err(RecvError::Closed) => break Duration::ZERO,
            },
        }
    };
    // Captures published before the stop are still forwarded.
    while let Ok(event) = events.try_recv() {
        if let HubEvent::Capture(capture, _) = event
            && !capture.incomplete()
        {
            summary.deliveries += u64::from(start(&mut deliveries, capture));
        }
    }
    drop(events);
    let drained =
        tokio::time::timeout(grace, async { while deliveries.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        summary.abandoned = deliveries.len() as u64;
        deliveries.shutdown().await;
    }
    summary
}
