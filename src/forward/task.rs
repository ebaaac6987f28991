//! The forwarding task of `listen --forward`: every capture the hub publishes is delivered once.
//!
//! The task only reads the hub's broadcast and spawns one delivery per capture, so capture never
//! waits for the local app; the forwarder's semaphore bounds the attempts in flight. If the task
//! falls behind the broadcast anyway, it says how many captures it missed (they are still in the
//! journal, and can be replayed). On shutdown it gives deliveries in progress a grace period to
//! finish and journal their attempts, then abandons the rest.

use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use super::Forwarder;
use crate::attempt::AttemptKind;
use crate::hub::{Hub, HubEvent};

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
    let (stop, stopped) = oneshot::channel();
    // Subscribe now, not when the task first runs: a capture recorded in between would be missed.
    let events = hub.subscribe();
    let task = tokio::spawn(run(forwarder, hub, events, stopped));
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
    forwarder: Forwarder,
    hub: Hub,
    mut events: broadcast::Receiver<HubEvent>,
    mut stopped: oneshot::Receiver<Duration>,
) -> Summary {
    let mut deliveries = JoinSet::new();
    let mut summary = Summary::default();
    let start = |deliveries: &mut JoinSet<()>, capture: std::sync::Arc<crate::capture::Capture>| {
        let forwarder = forwarder.clone();
        let hub = hub.clone();
        deliveries.spawn(async move {
            forwarder
                .deliver(&capture, AttemptKind::Forward, |attempt| {
                    let hub = hub.clone();
                    async move {
                        if let Err(err) = hub.record_attempt(attempt).await {
                            tracing::warn!(%err, "delivery attempt not journaled");
                        }
                    }
                })
                .await;
        });
    };
    let grace = loop {
        // Reap finished deliveries so the set holds only running ones.
        while deliveries.try_join_next().is_some() {}
        tokio::select! {
            grace = &mut stopped => break grace.unwrap_or_default(),
            event = events.recv() => match event {
                // A refused request (body over --max-body) was not received whole: sending what
                // was kept would show the app a request nobody made.
                Ok(HubEvent::Capture(capture, _)) if capture.note.is_some() => {
                    tracing::info!(id = %capture.id, "incomplete capture not forwarded");
                }
                Ok(HubEvent::Capture(capture, _)) => {
                    summary.deliveries += 1;
                    start(&mut deliveries, capture);
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
            && capture.note.is_none()
        {
            summary.deliveries += 1;
            start(&mut deliveries, capture);
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
