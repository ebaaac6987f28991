//! The descriptor limit both servers size themselves by, and how both tell failed accepts.
//!
//! Every open connection costs a file descriptor. Past the process's limit `accept` fails and
//! real senders wait in the kernel's backlog until they time out, so `hookscope listen` and
//! `hookscope relay` hold at most `--max-connections` at once, by default the limit less a
//! quarter of it ([`default_max`]). Accepts that fail anyway (a `--max-connections` above the
//! limit) are told once per burst with a count, and paused between ([`AcceptErrors`]).

use std::io;
use std::time::Duration;

// Tokio's clock, so the relay's deadlines and these can be tested with time paused.
use tokio::time::Instant;

/// The cap when the descriptor limit cannot be read (not Linux) or is unlimited.
/// How long a connection must have been idle before a full listener may close it to make room.
/// A connection is idle from the moment it is accepted until its first byte is read, so without
/// this a full listener shed every sender it had just accepted, before their requests were read,
/// to make room for the next (a route's `delay` made that cheap to provoke; seen as requests
/// closed unanswered). A real sender writes its request as soon as it has connected, within a
/// fraction of this; a silent connection still gives way once it is this old.
pub const SHED_GRACE: Duration = Duration::from_secs(1);

const FALLBACK_MAX: usize = 1024;
/// The most descriptors kept back from connections (for the journal, forwarding, queue files).
const MAX_RESERVE: u64 = 256;

/// The process's soft limit on open files, from `/proc/self/limits` (Linux); `None` elsewhere
/// or when unlimited.
pub(crate) fn descriptor_limit() -> Option<u64> {
    soft_open_files(&std::fs::read_to_string("/proc/self/limits").ok()?)
}

/// The soft `Max open files` of a `/proc/PID/limits` text.
fn soft_open_files(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?;
    line.split_whitespace().next()?.parse().ok()
}

/// How many connections to hold when `--max-connections` is not given.
pub(crate) fn default_max(descriptor_limit: Option<u64>) -> usize {
    match descriptor_limit {
        Some(limit) => {
            let reserve = (limit / 4).min(MAX_RESERVE);
            usize::try_from(limit - reserve).unwrap_or(usize::MAX).max(1)
        }
        None => FALLBACK_MAX,
    }
}

/// Whether an accept failed for want of descriptors (EMFILE, ENFILE), which closing an idle
/// connection helps with.
pub(crate) fn out_of_descriptors(err: &io::Error) -> bool {
    // The values are the same on Linux, the BSDs and macOS.
    matches!(err.raw_os_error(), Some(23 | 24))
}

/// What to say about failed accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AcceptReport {
    /// The first failure of a burst.
    Began,
    /// A burst goes on: `failures` since the last report.
    Lasting {
        /// Failures since the last report.
        failures: u64,
    },
    /// Accepting has worked for a while again after `failures` in all.
    Ended {
        /// Failures in the whole burst.
        failures: u64,
        /// From its first failure to its last.
        lasted: Duration,
    },
}

/// Failed accepts, told once per burst with a count (and every [`LASTING`] while one lasts,
/// however fast they come and however they alternate with successes), and the pause before the
/// next try, doubling from 5 ms to half a second. A burst ends only after [`QUIET`] without a
/// failure, so bursts begin (and "accept failed" is logged) at most once a second.
#[derive(Debug, Default)]
pub(crate) struct AcceptErrors {
    burst: Option<Burst>,
    pause: Duration,
}

#[derive(Debug)]
struct Burst {
    began: Instant,
    last_failure: Instant,
    reported_at: Instant,
    unreported: u64,
    failures: u64,
}

/// The shortest and longest pause after a failed accept.
const PAUSE: (Duration, Duration) = (Duration::from_millis(5), Duration::from_millis(500));
/// A burst is over once accepting has worked this long without a failure.
const QUIET: Duration = Duration::from_secs(1);
/// How often a burst that goes on is told.
const LASTING: Duration = Duration::from_secs(10);

impl AcceptErrors {
    /// A successful accept: logs the end of a burst of failures, once accepting has worked for
    /// a while.
    pub(crate) fn accepted(&mut self) {
        if let Some(AcceptReport::Ended { failures, lasted }) = self.succeeded(Instant::now()) {
            tracing::warn!(failures, ?lasted, "accepting again after failures");
        }
    }

    /// A failed accept: logs it when a burst begins and every [`LASTING`] while it lasts;
    /// returns how long to pause before the next try.
    pub(crate) fn refused(&mut self, err: &io::Error) -> Duration {
        let (report, pause) = self.failed(Instant::now());
        match report {
            Some(AcceptReport::Began) => tracing::warn!(
                %err,
                "accept failed; pausing, closing idle connections, and counting failures until it works again"
            ),
            Some(AcceptReport::Lasting { failures }) => {
                tracing::warn!(%err, failures, "accept still failing (failures since the last report)");
            }
            _ => {}
        }
        pause
    }

    /// Counts a failure at `now`: what to tell now, if anything, and how long to pause.
    fn failed(&mut self, now: Instant) -> (Option<AcceptReport>, Duration) {
        self.pause = (self.pause * 2).clamp(PAUSE.0, PAUSE.1);
        let report = match &mut self.burst {
            None => {
                self.burst = Some(Burst {
                    began: now,
                    last_failure: now,
                    reported_at: now,
                    unreported: 0,
                    failures: 1,
                });
                Some(AcceptReport::Began)
            }
            Some(burst) => {
                burst.last_failure = now;
                burst.failures += 1;
                burst.unreported += 1;
                (now.saturating_duration_since(burst.reported_at) >= LASTING).then(|| {
                    burst.reported_at = now;
                    AcceptReport::Lasting {
                        failures: std::mem::take(&mut burst.unreported),
                    }
                })
            }
        };
        (report, self.pause)
    }

    /// A successful accept at `now`: the burst's end, once accepting has worked for a while.
    fn succeeded(&mut self, now: Instant) -> Option<AcceptReport> {
        self.pause = Duration::ZERO;
        let burst = self
            .burst
            .take_if(|b| now.saturating_duration_since(b.last_failure) >= QUIET)?;
        Some(AcceptReport::Ended {
            failures: burst.failures,
            lasted: burst.last_failure - burst.began,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_open_files_limit_is_read() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
Max cpu time              unlimited            unlimited            seconds   \n\
Max open files            256                  1048576              files     \n";
        assert_eq!(soft_open_files(limits), Some(256));
        let unlimited = limits.replace("256 ", "unlimited");
        assert_eq!(soft_open_files(&unlimited), None);
        assert_eq!(soft_open_files("nothing here"), None);
        assert!(descriptor_limit().is_some(), "this is Linux");
    }

    #[test]
    fn the_default_cap_leaves_descriptors_for_the_rest() {
        assert_eq!(default_max(Some(256)), 192);
        assert_eq!(default_max(Some(1024)), 768);
        assert_eq!(default_max(Some(65_536)), 65_280);
        assert_eq!(default_max(Some(1)), 1);
        assert_eq!(default_max(None), FALLBACK_MAX);
    }

    #[test]
    fn failed_accepts_are_told_once_per_burst_with_a_count() {
        let mut errors = AcceptErrors::default();
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut reports = Vec::new();
        // 2,500 failures over 2.5 s, each followed by a success (an idle connection shed gives
        // a descriptor back): one burst, told when it begins and when it is over.
        for n in 0..2500u64 {
            let (report, pause) = errors.failed(at(n));
            reports.extend(report);
            reports.extend(errors.succeeded(at(n)));
            assert_eq!(pause, PAUSE.0, "a success resets the pause");
        }
        assert_eq!(reports, [AcceptReport::Began]);
        assert_eq!(errors.succeeded(at(3000)), None, "not quiet for long enough yet");
        assert_eq!(
            errors.succeeded(at(3499)),
            Some(AcceptReport::Ended {
                failures: 2500,
                lasted: Duration::from_millis(2499)
            })
        );
        assert_eq!(errors.succeeded(at(5000)), None, "nothing left to tell");
        // A long burst is told every LASTING; failures in a row pause longer each time.
        let (began, first) = errors.failed(at(10_000));
        assert_eq!(began, Some(AcceptReport::Began));
        let mut pauses = vec![first];
        let mut told = Vec::new();
        for n in 1..=25u64 {
            let (report, pause) = errors.failed(at(10_000 + n * 1000));
            told.extend(report);
            pauses.push(pause);
        }
        assert_eq!(
            told,
            [
                AcceptReport::Lasting { failures: 10 },
                AcceptReport::Lasting { failures: 10 }
            ]
        );
        assert_eq!(pauses[..3], [PAUSE.0, PAUSE.0 * 2, PAUSE.0 * 4]);
        assert_eq!(pauses.last(), Some(&PAUSE.1));
    }

    /// What `listen` promises (README, `tests/hostile_server.rs`): "accept failed" at most once
    /// a second, however failures and successes alternate.
    #[test]
    fn bursts_begin_at_most_once_a_second() {
        let mut errors = AcceptErrors::default();
        let start = Instant::now();
        let mut began = Vec::new();
        // A success every millisecond for 10 s, failures at ever longer gaps (0.1 s to 2 s).
        let mut next_failure = 0;
        let mut gap = 100;
        for ms in 0..10_000u64 {
            let now = start + Duration::from_millis(ms);
            errors.succeeded(now);
            if ms == next_failure {
                if let (Some(AcceptReport::Began), _) = errors.failed(now) {
                    began.push(ms);
                }
                next_failure += gap;
                gap += 100;
            }
        }
        assert!(began.len() > 1, "{began:?}");
        assert!(
            began.windows(2).all(|pair| pair[1] - pair[0] >= 1000),
            "{began:?}"
        );
    }
}
