//! `hookscope replay FILE --to URL`: deliver saved captures to the local app again.
//!
//! Reads the journal, keeps the captures the filter lets through (`status:` sees each capture's
//! last delivery), and delivers them through a [`Forwarder`] with the chosen concurrency, rate
//! and retry policy, re-signing each just before it is sent with `--resign`. Every attempt is
//! appended to the same journal. A progress bar runs on a terminal (nothing in a pipe); the
//! summary says what was sent, the answers by status, the failures and the latency.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use chrono::Utc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::analysis::Analyzer;
use crate::attempt::{Attempt, AttemptKind};
use crate::capture::{Capture, CaptureId, Header};
use crate::cli::ReplayArgs;
use crate::codec::{self, Record};
use crate::config::Keys;
use crate::filter::Tracker;
use crate::forward::{ForwardConfig, Forwarder};
use crate::journal::{self, Appender, Journal, WriteOptions};
use crate::provider::{Catalog, user_dir};
use crate::replay::{self, ResignError};
use crate::sanitize;

mod progress;

/// Replays the matching captures; fails if a delivery failed, unless `--allow-failures`.
pub async fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let catalog = Catalog::load(user_dir().as_deref()).map_err(|e| anyhow!(e))?;
    let mut keys =
        Keys::load(&catalog, &args.keys.secrets, args.keys.config.as_deref()).map_err(|e| anyhow!(e))?;
    keys.add_signing_flags(&catalog, &args.keys.signing_keys)
        .map_err(|e| anyhow!(e))?;
    let analyzer = Arc::new(Analyzer::new(catalog, keys));
    let captures = select(&args)?;
    let concurrency = match args.in_order {
        true => 1,
        false => args.concurrency as usize,
    };
    let config = ForwardConfig {
        exact: args.exact,
        preserve_host: args.preserve_host,
        timeout: args.timeout,
        retry: args.retry.clone(),
        max_in_flight: concurrency,
        tls: args.tls.clone(),
        ..ForwardConfig::new(args.to.clone())
    };
    let forwarder = Forwarder::new(config, analyzer.catalog()).context("--to")?;
    if args.tls.insecure {
        eprintln!("{}", crate::http_client::INSECURE);
    }
    if captures.is_empty() {
        eprintln!("nothing to replay: no capture in {} matches", args.file.display());
        return Ok(());
    }
    // With --resign, a capture that cannot be re-signed (no secret, no private key, a body its
    // scheme cannot sign) is refused on its own and counted; the others go out. Checked before
    // anything is sent, so the reasons are printed first, once each.
    let (captures, refused) = match args.resign {
        true => refuse_unsignable(captures, &analyzer),
        false => (captures, Vec::new()),
    };
    let journal = Journal::open(&args.file, WriteOptions::default())
        .with_context(|| format!("cannot open {} to journal the attempts", args.file.display()))?;
    let mut report = deliver_all(&args, captures, forwarder, analyzer, journal.appender()).await;
    report.refused = refused.len() as u64;
    let stats = journal.close().await;
    if stats.failed > 0 {
        eprintln!("warning: {} attempts could not be journaled", stats.failed);
    }
    eprintln!("{}", report.summary(&args.to));
    match (report.failed, report.refused) {
        (0, 0) => Ok(()),
        _ if args.allow_failures => Ok(()),
        (0, refused) => bail!(
            "{refused} of {} captures were not re-signed, so not sent (--allow-failures to exit 0 anyway)",
            report.sent + refused
        ),
        (n, _) => bail!(
            "{n} of {} deliveries failed (--allow-failures to exit 0 anyway)",
            report.sent
        ),
    }
}

/// Splits `captures` into those `--resign` can send and the ids of those it refuses, printing
/// each distinct reason once with how many captures it stops.
fn refuse_unsignable(captures: Vec<Capture>, analyzer: &Analyzer) -> (Vec<Capture>, Vec<CaptureId>) {
    let mut reasons: BTreeMap<String, Vec<CaptureId>> = BTreeMap::new();
    let mut sendable = Vec::with_capacity(captures.len());
    for capture in captures {
        match replay::resign(&capture, analyzer, Utc::now()) {
            // Senders with no known signature are replayed as captured.
            Ok(_) | Err(ResignError::NoneDocumented(_) | ResignError::UnknownSender) => {
                sendable.push(capture)
            }
            Err(err) => reasons.entry(err.to_string()).or_default().push(capture.id),
        }
    }
    for (reason, ids) in &reasons {
        let which = match ids.as_slice() {
            [one] => format!("capture {one}"),
            [first, ..] => format!("{} captures (the first {first})", ids.len()),
            [] => continue,
        };
        eprintln!("not re-signed, not sent: {which}: {}", sanitize::line(reason));
    }
    (sendable, reasons.into_values().flatten().collect())
}

/// The captures to replay, in journal order, with the filter applied.
fn select(args: &ReplayArgs) -> anyhow::Result<Vec<Capture>> {
    let loaded = journal::load(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    for problem in &loaded.problems {
        eprintln!("warning: {}: {problem}", args.file.display());
    }
    let mut last_status = HashMap::new();
    for entry in &loaded.entries {
        if let Record::Attempt(attempt) = &entry.record {
            last_status.insert(attempt.capture, attempt.status());
        }
    }
    let mut tracker = Tracker::default();
    let mut captures = Vec::new();
    for entry in loaded.entries {
        if let Record::Capture(capture) = entry.record {
            let mut marks = tracker.observe(&capture);
            marks.delivery = last_status.get(&capture.id).copied().flatten();
            if args.filter.matches(&capture, &marks) {
                captures.push(capture);
            }
        }
    }
    Ok(captures)
}

/// What the deliveries came to.
#[derive(Debug, Default)]
struct Report {
    sent: u64,
    failed: u64,
    /// Captures `--resign` could not sign, so did not send.
    refused: u64,
    /// Final answers by status; failures without an answer by their error.
    outcomes: BTreeMap<String, u64>,
    latencies: Vec<Duration>,
    attempts: u64,
    elapsed: Duration,
}

async fn deliver_all(
    args: &ReplayArgs,
    captures: Vec<Capture>,
    forwarder: Forwarder,
    analyzer: Arc<Analyzer>,
    appender: Appender,
) -> Report {
    let started = Instant::now();
    let total = captures.len() as u64;
    let report = Arc::new(Mutex::new(Report::default()));
    let bar = progress::Bar::start(total, std::io::stderr().is_terminal());
    let slots = Arc::new(Semaphore::new(forwarder.config().max_in_flight));
    let mut pace = args.rate.filter(|r| *r > 0.0).map(|rate| {
        let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    });
    let mut running = JoinSet::new();
    for capture in captures {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break; // never closed
        };
        if let Some(pace) = &mut pace {
            pace.tick().await;
        }
        let (forwarder, analyzer, appender) = (forwarder.clone(), analyzer.clone(), appender.clone());
        let (report, bar, resign) = (report.clone(), bar.clone(), args.resign);
        running.spawn(async move {
            let (request, kind, signature) = prepare(capture, &analyzer, resign);
            let record = |mut attempt: Attempt| {
                let (appender, report) = (appender.clone(), report.clone());
                attempt.signed_headers = signature.clone();
                async move {
                    lock(&report).note_attempt(&attempt);
                    if let Err(err) = appender.append(codec::encode_attempt(&attempt)).await {
                        tracing::warn!(%err, "attempt not journaled");
                    }
                }
            };
            let last = forwarder.deliver(&request, kind, record).await;
            lock(&report).note_delivery(&last);
            bar.advance();
            drop(slot);
        });
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
    bar.finish();
    let mut report = std::mem::take(&mut *lock(&report));
    report.elapsed = started.elapsed();
    report
}

/// The request to send for `capture`: re-signed now with `--resign` (when its sender signs).
/// Also the signature headers to journal with its attempts.
fn prepare(capture: Capture, analyzer: &Analyzer, resign: bool) -> (Capture, AttemptKind, Vec<Header>) {
    if !resign {
        return (capture, AttemptKind::Replay, Vec::new());
    }
    match replay::resign(&capture, analyzer, Utc::now()) {
        Ok(fresh) => (fresh.request, AttemptKind::Resigned, fresh.signature),
        // Checked before sending: only captures of senders with no known signature get here.
        Err(_) => (capture, AttemptKind::Replay, Vec::new()),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Report {
    fn note_attempt(&mut self, attempt: &Attempt) {
        self.attempts += 1;
        self.latencies.push(attempt.latency);
    }

    fn note_delivery(&mut self, last: &Attempt) {
        self.sent += 1;
        if !last.succeeded() {
            self.failed += 1;
        }
        let key = match (last.status(), &last.outcome) {
            (Some(status), _) => status.to_string(),
            (None, crate::attempt::Outcome::Failed(error)) => sanitize::line(error).into_owned(),
            (None, _) => "?".into(),
        };
        *self.outcomes.entry(key).or_default() += 1;
    }

    /// `replayed 3 captures to URL in 1.2s (2.5/s): 2 × 200, 1 × connection refused; 1 failed;
    /// latency p50 3ms p99 9ms`
    fn summary(&self, target: &str) -> String {
        let rate = self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9);
        let outcomes: Vec<String> = self.outcomes.iter().map(|(k, n)| format!("{n} × {k}")).collect();
        let retries = match self.attempts.saturating_sub(self.sent) {
            0 => String::new(),
            n => format!(", {n} retries"),
        };
        let mut latencies = self.latencies.clone();
        latencies.sort();
        let at = |q: f64| -> Duration {
            let index = ((latencies.len() as f64 - 1.0) * q).round() as usize;
            latencies.get(index).copied().unwrap_or_default()
        };
        let refused = match self.refused {
            0 => String::new(),
            n => format!("; {n} not re-signed, not sent"),
        };
        format!(
            "replayed {} capture{} to {} in {:.1?} ({rate:.1}/s{retries}): {}; {} failed{refused}; latency p50 {:.1?} p99 {:.1?}",
            self.sent,
            if self.sent == 1 { "" } else { "s" },
            sanitize::line(target),
            self.elapsed,
            outcomes.join(", "),
            self.failed,
            at(0.5),
            at(0.99),
        )
    }
}
