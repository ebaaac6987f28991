//! The hub: where every capture and every delivery attempt goes once it has happened.
//!
//! The server (and later the relay client) hands each capture to [`Hub::record`], which analyzes
//! it (provider, event, signature verdict), writes it to the journal and only then publishes it
//! to subscribers (the headless printer, the TUI, the forwarder). The forwarder hands back each
//! delivery attempt through [`Hub::record_attempt`], journaled and published the same way.
//! Nothing is published that is not durable, and no subscriber can slow capture down: a
//! subscriber that falls behind is told how many events it missed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::broadcast;

use crate::analysis::Analyzer;
use crate::attempt::Attempt;
use crate::capture::Capture;
use crate::codec;
use crate::journal::{AppendError, Appender};
use crate::summary::Summary;

/// How many events a subscriber may fall behind before it starts missing some.
const BACKLOG: usize = 16 * 1024;

/// What the hub publishes.
#[derive(Debug, Clone)]
pub enum HubEvent {
    /// A capture, once journaled, and the byte offset of its line in the journal (by which a
    /// subscriber that keeps only an index reads it back).
    Capture(Arc<Capture>, u64),
    /// A delivery attempt of a capture to the local app, once journaled.
    Attempt(Arc<Attempt>),
    /// A capture once journaled, as the inspector's list holds it (only to subscribers of
    /// [`Hub::subscribe_listed`], which get this instead of [`HubEvent::Capture`]).
    Listed(Arc<Summary>),
}

/// Journals captures, then publishes them.
#[derive(Clone)]
pub struct Hub {
    appender: Appender,
    analyzer: Arc<Analyzer>,
    published: broadcast::Sender<HubEvent>,
    /// Summaries and attempts, for the inspector: made only while it subscribes.
    listed: broadcast::Sender<HubEvent>,
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    captures: AtomicU64,
    attempts: AtomicU64,
    body_bytes: AtomicU64,
}

/// What a hub recorded so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Captures journaled.
    pub captures: u64,
    /// Body bytes of those captures.
    pub body_bytes: u64,
    /// Delivery attempts journaled.
    pub attempts: u64,
}

impl Hub {
    /// A hub analyzing with `analyzer` and writing to the journal behind `appender`.
    pub fn new(appender: Appender, analyzer: Arc<Analyzer>) -> Self {
        Self::with_backlog(appender, analyzer, BACKLOG)
    }

    /// Like [`Hub::new`], with room for `backlog` unread events per subscriber (tests make it
    /// tiny to make a subscriber fall behind).
    pub fn with_backlog(appender: Appender, analyzer: Arc<Analyzer>, backlog: usize) -> Self {
        let (published, _) = broadcast::channel(backlog.max(1));
        let (listed, _) = broadcast::channel(backlog.max(1));
        Self {
            appender,
            analyzer,
            published,
            listed,
            counts: Arc::default(),
        }
    }

    /// Analyzes and journals `capture` and, once it is durable, publishes it to every subscriber.
    pub async fn record(&self, capture: Capture) -> Result<Arc<Capture>, AppendError> {
        self.record_with(capture, |_| ())
            .await
            .map(|(capture, ())| capture)
    }

    /// Like [`Hub::record`], with `decide` called on the analyzed capture before it is
    /// journaled: what it sets (the status a route answers with, a note) is what the journal
    /// records. Returns what `decide` returned too.
    pub async fn record_with<T>(
        &self,
        mut capture: Capture,
        decide: impl FnOnce(&mut Capture) -> T,
    ) -> Result<(Arc<Capture>, T), AppendError> {
        capture.derived = self.analyzer.derive(&capture);
        let decided = decide(&mut capture);
        let offset = self.appender.append(codec::encode_capture(&capture)).await?;
        self.counts.captures.fetch_add(1, Ordering::Relaxed);
        self.counts
            .body_bytes
            .fetch_add(capture.body.len() as u64, Ordering::Relaxed);
        let capture = Arc::new(capture);
        self.publish(&capture, offset);
        Ok((capture, decided))
    }

    /// Like [`Hub::record`] for several captures at once: one journal write for all, in order,
    /// then each is published. For the relay client, which receives requests in sequence and
    /// must journal them in that order however many arrive at once.
    pub async fn record_all(&self, captures: Vec<Capture>) -> Result<Vec<Arc<Capture>>, AppendError> {
        let mut lines = Vec::new();
        let mut starts = Vec::with_capacity(captures.len());
        let captures: Vec<Capture> = captures
            .into_iter()
            .map(|mut capture| {
                capture.derived = self.analyzer.derive(&capture);
                starts.push(lines.len() as u64);
                lines.extend_from_slice(&codec::encode_capture(&capture));
                capture
            })
            .collect();
        if captures.is_empty() {
            return Ok(Vec::new());
        }
        let offset = self.appender.append(lines).await?;
        self.counts
            .captures
            .fetch_add(captures.len() as u64, Ordering::Relaxed);
        let bytes: usize = captures.iter().map(|c| c.body.len()).sum();
        self.counts.body_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        Ok(captures
            .into_iter()
            .zip(starts)
            .map(|(capture, start)| {
                let capture = Arc::new(capture);
                self.publish(&capture, offset + start);
                capture
            })
            .collect())
    }

    /// Journals `attempt` and, once it is durable, publishes it to every subscriber.
    pub async fn record_attempt(&self, attempt: Attempt) -> Result<Arc<Attempt>, AppendError> {
        self.appender.append(codec::encode_attempt(&attempt)).await?;
        self.counts.attempts.fetch_add(1, Ordering::Relaxed);
        let attempt = Arc::new(attempt);
        // In this order, as captures: the inspector's row is there before its attempts.
        let _ = self.listed.send(HubEvent::Attempt(attempt.clone()));
        let _ = self.published.send(HubEvent::Attempt(attempt.clone()));
        Ok(attempt)
    }

    /// Publishes `capture`, journaled at `offset`: its summary to the inspector (first, so that
    /// its row is there before any attempt a subscriber of the captures makes), the capture to
    /// the others. No subscriber is not an error: capture-to-file alone is a valid session.
    fn publish(&self, capture: &Arc<Capture>, offset: u64) {
        if self.listed.receiver_count() > 0 {
            let summary = Summary::of(capture, Some(offset));
            let _ = self.listed.send(HubEvent::Listed(Arc::new(summary)));
        }
        let _ = self.published.send(HubEvent::Capture(capture.clone(), offset));
    }

    /// The journal file the hub records to (where a subscriber that fell behind reads back
    /// what it missed).
    pub fn journal_path(&self) -> &std::path::Path {
        self.appender.path()
    }

    /// Receives every capture and attempt recorded from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<HubEvent> {
        self.published.subscribe()
    }

    /// Receives the summary ([`HubEvent::Listed`]) of every capture recorded from now on, and
    /// every attempt: what the live inspector lists. Its summaries are made on the recording
    /// thread while the capture is in its cache, and the captures themselves are freed there,
    /// not on the inspector's thread.
    pub fn subscribe_listed(&self) -> broadcast::Receiver<HubEvent> {
        self.listed.subscribe()
    }

    /// What was recorded so far.
    pub fn totals(&self) -> Totals {
        Totals {
            captures: self.counts.captures.load(Ordering::Relaxed),
            body_bytes: self.counts.body_bytes.load(Ordering::Relaxed),
            attempts: self.counts.attempts.load(Ordering::Relaxed),
        }
    }
}
