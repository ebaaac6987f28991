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
    /// Captures read back from the journal, dropped by the broadcast while deliveries were
    /// at their limit.
    pub read_back: u64,
    /// The most deliveries held at once.
    pub peak_held: u64,
}

/// Starts forwarding every capture recorded on `hub` from now on.
pub fn spawn(forwarder: Forwarder, hub: Hub) -> Forwarding {
    spawn_dispatch(Arc::new(forwarder), hub)
}

/// Like [`spawn`], delivering each capture where `dispatch` says.
pub fn spawn_dispatch(dispatch: Arc<dyn Dispatch>, hub: Hub) -> Forwarding {
    spawn_with(dispatch, hub, Limits::default())
}

/// Like [`spawn_dispatch`], with `limits` on what the deliveries hold.
pub fn spawn_with(dispatch: Arc<dyn Dispatch>, hub: Hub, limits: Limits) -> Forwarding {
    let (stop, stopped) = oneshot::channel();
    // Subscribe now, not when the task first runs: a capture recorded in between would be missed.
    let events = hub.subscribe();
    let floor = std::fs::metadata(hub.journal_path()).map_or(0, |m| m.len());
    let task = tokio::spawn(run(dispatch, hub, events, stopped, limits, floor));
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

/// What the deliveries waiting or in progress may hold at once: beyond it, captures wait in
/// the journal (and are read back from it in their turn) instead of in memory. A slow app
/// under a fast sender otherwise held every capture that arrived meanwhile (743 MB seen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deliveries at once (each is a task holding its capture, retries included).
    pub deliveries: usize,
    /// Bytes of captures those deliveries hold, as [`Capture::footprint`] estimates them.
    pub bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deliveries: 4096,
            bytes: 32 * 1024 * 1024,
        }
    }
}

/// How many of the offsets taken last are remembered, to pass over a capture both read back
/// from the journal and published: more than the captures whose publications can overtake one
/// another (those of one group commit, published by their own request tasks).
const REMEMBERED: usize = 4096;

/// Which journaled captures the task has taken: those at the offsets it remembers, and every
/// one before `below`.
struct Taken {
    recent: std::collections::BTreeSet<u64>,
    below: u64,
    /// Where reading back starts when nothing is remembered yet: the journal's length when the
    /// task subscribed (what was there before is another session's).
    floor: u64,
}

impl Taken {
    /// Whether the capture at `offset` is new; then it is taken.
    fn take(&mut self, offset: u64) -> bool {
        if offset < self.below || !self.recent.insert(offset) {
            return false;
        }
        while self.recent.len() > REMEMBERED {
            if let Some(oldest) = self.recent.pop_first() {
                self.below = self.below.max(oldest + 1);
            }
        }
        true
    }

    /// Where reading back what the broadcast dropped starts.
    fn resume_at(&self) -> u64 {
        self.recent.first().copied().unwrap_or(self.below.max(self.floor))
    }
}

/// What the deliveries in progress hold.
#[derive(Default)]
struct Held {
    deliveries: usize,
    bytes: u64,
}

async fn run(
    dispatch: Arc<dyn Dispatch>,
    hub: Hub,
    mut events: broadcast::Receiver<HubEvent>,
    mut stopped: oneshot::Receiver<Duration>,
    limits: Limits,
    floor: u64,
) -> Summary {
    let mut deliveries: JoinSet<u64> = JoinSet::new();
    let mut summary = Summary::default();
    let mut held = Held::default();
    let mut taken = Taken {
        recent: std::collections::BTreeSet::new(),
        below: 0,
        floor,
    };
    // Captures the broadcast dropped while deliveries were full are read back from the journal,
    // when it is a file that can be read back (not `/dev/null`).
    let journal = hub.journal_path().to_owned();
    let readable = std::fs::metadata(&journal).is_ok_and(|m| m.is_file());
    let mut behind = false;
    // Starts the deliveries of the capture, unless a route forwards it nowhere.
    let start = |deliveries: &mut JoinSet<u64>, held: &mut Held, capture: Arc<Capture>| -> bool {
        let planned = dispatch.deliveries(&capture);
        let started = !planned.is_empty();
        let footprint = capture.footprint();
        for delivery in planned {
            let (hub, capture) = (hub.clone(), capture.clone());
            let Delivery {
                forwarder,
                route,
                mut first,
            } = delivery;
            held.deliveries += 1;
            held.bytes += footprint;
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
                footprint
            });
        }
        started
    };
    let release = |held: &mut Held, done: Result<u64, tokio::task::JoinError>| {
        held.deliveries = held.deliveries.saturating_sub(1);
        held.bytes = held.bytes.saturating_sub(done.unwrap_or(0));
    };
    let grace = loop {
        // Reap finished deliveries so the set holds only running ones.
        while let Some(done) = deliveries.try_join_next() {
            release(&mut held, done);
        }
        summary.peak_held = summary.peak_held.max(held.deliveries as u64);
        let full = held.deliveries >= limits.deliveries || held.bytes >= limits.bytes;
        if behind && !full {
            match read_back(&journal, &mut taken, &limits, &held) {
                Ok((captures, done)) => {
                    summary.read_back += captures.len() as u64;
                    for capture in captures {
                        summary.deliveries += u64::from(start(&mut deliveries, &mut held, capture));
                    }
                    behind = !done;
                }
                Err(err) => {
                    behind = false;
                    tracing::warn!(%err, "cannot read back the journal: captures not forwarded (replay them)");
                }
            }
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            grace = &mut stopped => break grace.unwrap_or_default(),
            Some(done) = deliveries.join_next(), if full => release(&mut held, done),
            event = events.recv(), if !full => match event {
                // A refused request (body over --max-body) was not received whole: sending what
                // was kept would show the app a request nobody made.
                Ok(HubEvent::Capture(capture, offset)) => {
                    if !taken.take(offset) {
                        // Read back from the journal already.
                    } else if capture.incomplete() {
                        tracing::info!(id = %capture.id, "incomplete capture not forwarded");
                    } else {
                        summary.deliveries += u64::from(start(&mut deliveries, &mut held, capture));
                    }
                }
                // Summaries go only to the inspector's subscription.
                Ok(HubEvent::Attempt(_) | HubEvent::Listed(_)) => {}
                Err(RecvError::Lagged(missed)) if readable => {
                    // Not lost: they are in the journal, read back in their turn.
                    tracing::debug!(missed, "forwarding fell behind the hub: reading back from the journal");
                    behind = true;
                }
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
        if let HubEvent::Capture(capture, offset) = event
            && taken.take(offset)
            && !capture.incomplete()
        {
            summary.deliveries += u64::from(start(&mut deliveries, &mut held, capture));
        }
    }
    drop(events);
    if behind {
        // Stopping while captures wait in the journal: they were never attempted.
        summary.missed += count_unread(&journal, &taken);
    }
    let drained =
        tokio::time::timeout(grace, async { while deliveries.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        summary.abandoned = deliveries.len() as u64;
        deliveries.shutdown().await;
    }
    summary
}

/// How many captures a read-back takes at most before the task looks at its events again.
const READ_BACK_SLICE: usize = 256;

/// Reads back, from the journal, captures the task has not taken, as many as `limits` leave
/// room for (at most a slice): those the broadcast dropped while the deliveries were full.
/// Returns them and whether the end of the journal was reached (a line being written is left
/// to the broadcast, which publishes it once it is whole).
fn read_back(
    journal: &std::path::Path,
    taken: &mut Taken,
    limits: &Limits,
    held: &Held,
) -> std::io::Result<(Vec<Arc<Capture>>, bool)> {
    let mut reader = crate::journal::JournalReader::open_at(journal, taken.resume_at())?;
    let room = limits
        .deliveries
        .saturating_sub(held.deliveries)
        .min(READ_BACK_SLICE);
    let mut bytes = held.bytes;
    let mut captures = Vec::new();
    loop {
        if captures.len() >= room || bytes >= limits.bytes {
            return Ok((captures, false));
        }
        let entry = match reader.next_entry()? {
            None => return Ok((captures, true)),
            Some(Ok(entry)) => entry,
            Some(Err(problem)) if matches!(problem.kind, crate::journal::ProblemKind::Torn(_)) => {
                return Ok((captures, true));
            }
            // A damaged line is passed over, as every reader of the journal does.
            Some(Err(_)) => continue,
        };
        if let crate::codec::Record::Capture(capture) = entry.record
            && taken.take(entry.offset)
            && !capture.incomplete()
        {
            bytes += capture.footprint();
            captures.push(Arc::new(capture));
        }
    }
}

/// How many captures after what the task took are in the journal: those a stop left unread.
fn count_unread(journal: &std::path::Path, taken: &Taken) -> u64 {
    let Ok(mut reader) = crate::journal::JournalReader::open_at(journal, taken.resume_at()) else {
        return 0;
    };
    let mut unread = 0;
    while let Ok(Some(entry)) = reader.next_entry() {
        if let Ok(entry) = entry
            && let crate::codec::Record::Capture(capture) = &entry.record
            && !capture.incomplete()
            && entry.offset >= taken.below
            && !taken.recent.contains(&entry.offset)
        {
            unread += 1;
        }
    }
    unread
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
    use tokio::net::TcpListener;
    use tokio::sync::watch;

    use super::*;
    use crate::analysis::Analyzer;
    use crate::capture::CaptureId;
    use crate::config::Keys;
    use crate::forward::{ForwardConfig, Forwarder};
    use crate::journal::{Journal, WriteOptions};
    use crate::provider::Catalog;

    /// A local app that reads each request, notes its path, and answers 200 only once `open`
    /// says so: a slow app, for as long as the test wants.
    async fn slow_app(open: watch::Receiver<bool>) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let heard = Arc::new(Mutex::new(Vec::new()));
        let noted = heard.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (noted, mut open) = (noted.clone(), open.clone());
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut read = BufReader::new(read);
                    loop {
                        let mut line = String::new();
                        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
                        let mut length = 0;
                        loop {
                            let mut header = String::new();
                            if read.read_line(&mut header).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if header.trim().is_empty() {
                                break;
                            }
                            if let Some((name, value)) = header.split_once(':')
                                && name.eq_ignore_ascii_case("content-length")
                            {
                                length = value.trim().parse().unwrap_or(0);
                            }
                        }
                        let mut body = vec![0; length];
                        if read.read_exact(&mut body).await.is_err() {
                            return;
                        }
                        noted.lock().expect("not poisoned").push(path);
                        if open.wait_for(|open| *open).await.is_err() {
                            return;
                        }
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                        if write.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, heard)
    }

    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        // A bound on a hang, not a measure of speed.
        let waited = tokio::time::timeout(Duration::from_secs(60), async {
            while !done() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(waited.is_ok(), "gave up waiting until {what}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_app_holds_at_most_the_limit_and_every_capture_is_delivered_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("captures.jsonl");
        // An earlier session's capture: it is in the journal, and it is not this session's.
        let mut old = crate::codec::tests::sample_capture();
        old.path = "/earlier-session".into();
        std::fs::write(&path, crate::codec::encode_capture(&old)).expect("seed");
        let journal = Journal::open(&path, WriteOptions::default()).expect("journal");
        let catalog = Catalog::builtin();
        let keys = Keys::load(&catalog, &[], None).expect("keys");
        // A backlog of 4: the forwarding task falls behind the broadcast at once.
        let hub = Hub::with_backlog(journal.appender(), Arc::new(Analyzer::new(catalog, keys)), 4);
        let (open, opened) = watch::channel(false);
        let (url, heard) = slow_app(opened).await;
        let mut config = ForwardConfig::new(url);
        config.max_in_flight = 2;
        let forwarder = Forwarder::new(config, &Catalog::builtin()).expect("a forwarder");
        let limits = Limits {
            deliveries: 8,
            bytes: u64::MAX,
        };
        let forwarding = spawn_with(Arc::new(forwarder), hub.clone(), limits);
        let mut sent = Vec::new();
        let record = |n: usize| {
            let mut capture = crate::codec::tests::sample_capture();
            capture.id = CaptureId::generate();
            capture.path = format!("/hooks/{n}");
            capture.query = None;
            capture
        };
        for n in 0..20 {
            let capture = record(n);
            sent.push(capture.path.clone());
            hub.record(capture).await.expect("journaled");
        }
        // The app holds two answers, the other deliveries wait: the task holds the limit, and
        // takes nothing more until one is done.
        until("the app has two requests", || {
            heard.lock().expect("lock").len() == 2
        })
        .await;
        // So these overflow the broadcast's 4, and come back from the journal.
        for n in 20..300 {
            let capture = record(n);
            sent.push(capture.path.clone());
            hub.record(capture).await.expect("journaled");
        }
        open.send_replace(true);
        until("the app has every capture", || {
            heard.lock().expect("lock").len() >= 300
        })
        .await;
        let summary = forwarding.finish(Duration::from_secs(10)).await;
        let mut got = heard.lock().expect("lock").clone();
        got.sort_by_key(|p| p.trim_start_matches("/hooks/").parse::<u32>().unwrap_or(u32::MAX));
        assert_eq!(got, sent, "every capture of this session once, none from before");
        assert_eq!(summary.deliveries, 300);
        assert_eq!(summary.missed, 0);
        assert!(
            summary.read_back > 0,
            "the broadcast dropped some, read back: {summary:?}"
        );
        assert!(
            summary.peak_held <= 8,
            "at most the limit held at once: {summary:?}"
        );
    }
}
