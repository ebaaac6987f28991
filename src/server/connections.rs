//! How many connections the listener holds at once, which one gives way when that is too many,
//! and how failures to accept are reported.
//!
//! Every open connection costs a file descriptor. Past the process's limit `accept` fails, real
//! senders wait in the kernel's backlog and time out, and the journal could not even be
//! reopened. So the listener holds at most `--max-connections` (by default three quarters of
//! the descriptor limit, at most 256 kept back for the journal, forwarding and the relay
//! tunnel). When it is full, the connection idle the longest is closed to make room; connections
//! in the middle of a request are never cut for that. When none is idle, newcomers wait in the
//! kernel's backlog until one closes or goes idle.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::tap::Heads;

/// The cap when the descriptor limit cannot be read (not Linux) or is unlimited.
const FALLBACK_MAX: usize = 1024;
/// The most descriptors kept back from connections.
const MAX_RESERVE: u64 = 256;
/// How often a full listener looks for a connection that went idle.
const LOOK_AGAIN: Duration = Duration::from_millis(50);

/// The connections open now, and room for more.
pub(super) struct Connections {
    permits: Arc<Semaphore>,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    next: u64,
    by_id: HashMap<u64, Heads>,
}

impl Connections {
    /// Room for `max` connections at once.
    pub(super) fn new(max: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max.clamp(1, Semaphore::MAX_PERMITS))),
            open: Mutex::default(),
        }
    }

    /// Waits until one more connection may be accepted, shedding idle ones to make room.
    pub(super) async fn room(&self) -> OwnedSemaphorePermit {
        loop {
            if let Ok(permit) = self.permits.clone().try_acquire_owned() {
                return permit;
            }
            self.shed_longest_idle();
            // A connection busy now may go idle: look again now and then while full (never
            // otherwise), rather than have every request say when it is done.
            tokio::select! {
                permit = self.permits.clone().acquire_owned() => {
                    if let Ok(permit) = permit {
                        return permit;
                    }
                }
                () = tokio::time::sleep(LOOK_AGAIN) => {}
            }
        }
    }

    /// Registers an accepted connection; returns its key for [`Connections::closed`].
    pub(super) fn opened(&self, heads: Heads) -> u64 {
        let mut open = self.lock();
        let id = open.next;
        open.next += 1;
        open.by_id.insert(id, heads);
        id
    }

    /// Forgets a connection that ended.
    pub(super) fn closed(&self, id: u64) {
        self.lock().by_id.remove(&id);
    }

    /// Asks the connection idle the longest to close; whether one was.
    pub(super) fn shed_longest_idle(&self) -> bool {
        let open = self.lock();
        let mut idle: Vec<(Instant, &Heads)> = open
            .by_id
            .values()
            .filter_map(|heads| {
                let activity = heads.activity();
                let since = activity.idle_since.filter(|_| !activity.shed)?;
                Some((since, heads))
            })
            .collect();
        idle.sort_unstable_by_key(|(since, _)| *since);
        // One may have begun a request since it was looked at: it refuses, the next is asked.
        let shed = idle.iter().any(|(_, heads)| heads.shed());
        if shed {
            tracing::debug!(
                open = open.by_id.len(),
                "at the connection limit; closing the longest idle"
            );
        }
        shed
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        // A map of handles: nothing a panic elsewhere could leave half-changed.
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The process's soft limit on open files, from `/proc/self/limits` (Linux); `None` elsewhere
/// or when unlimited.
pub(super) fn descriptor_limit() -> Option<u64> {
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
pub(super) fn default_max(descriptor_limit: Option<u64>) -> usize {
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
pub(super) fn out_of_descriptors(err: &io::Error) -> bool {
    // The values are the same on Linux, the BSDs and macOS.
    matches!(err.raw_os_error(), Some(23 | 24))
}

/// Failed accepts, reported once a second at most however fast they come (and however they
/// alternate with successes), and the pause before the next try.
#[derive(Debug, Default)]
pub(super) struct AcceptErrors {
    unreported: u64,
    reported_at: Option<Instant>,
    pause: Duration,
}

/// The shortest and longest pause after a failed accept.
const PAUSE: (Duration, Duration) = (Duration::from_millis(5), Duration::from_millis(500));
/// How often failures are reported at most.
const REPORT_EVERY: Duration = Duration::from_secs(1);

impl AcceptErrors {
    /// Counts a failure at `now`; returns how many failures to report now, if a report is due,
    /// and how long to pause before accepting again (longer for each failure in a row).
    pub(super) fn failed(&mut self, now: Instant) -> (Option<u64>, Duration) {
        self.unreported += 1;
        self.pause = (self.pause * 2).clamp(PAUSE.0, PAUSE.1);
        (self.report(now), self.pause)
    }

    /// After a successful accept at `now`: how many failures to report now, if some went
    /// unreported and a report is due.
    pub(super) fn succeeded(&mut self, now: Instant) -> Option<u64> {
        self.pause = Duration::ZERO;
        match self.unreported {
            0 => None,
            _ => self.report(now),
        }
    }

    fn report(&mut self, now: Instant) -> Option<u64> {
        let due = self
            .reported_at
            .is_none_or(|at| now.saturating_duration_since(at) >= REPORT_EVERY);
        due.then(|| {
            self.reported_at = Some(now);
            std::mem::take(&mut self.unreported)
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
    fn failures_are_reported_once_a_second_at_most() {
        let mut errors = AcceptErrors::default();
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut reports = Vec::new();
        let mut pauses = Vec::new();
        // 2,500 failures over 2.5 s, one a millisecond, each followed by a success (an idle
        // connection shed gives one descriptor back): still one report a second.
        for n in 0..2500u64 {
            let (report, pause) = errors.failed(at(n));
            reports.extend(report);
            reports.extend(errors.succeeded(at(n)));
            pauses.push(pause);
        }
        assert_eq!(reports, [1, 1000, 1000]);
        assert_eq!(pauses, vec![PAUSE.0; 2500], "a success resets the pause");
        assert_eq!(errors.succeeded(at(2999)), None, "not due yet");
        assert_eq!(errors.succeeded(at(3000)), Some(499), "the rest of the burst");
        assert_eq!(errors.succeeded(at(5000)), None, "nothing left to report");
        // Failures in a row pause longer each time, up to a bound.
        let pauses: Vec<Duration> = (0..10).map(|n| errors.failed(at(6000 + n)).1).collect();
        assert_eq!(pauses[..3], [PAUSE.0, PAUSE.0 * 2, PAUSE.0 * 4]);
        assert_eq!(pauses.last(), Some(&PAUSE.1));
    }
}
