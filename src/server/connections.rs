//! How many connections the listener holds at once, and which one gives way when that is too
//! many (the default cap and the telling of failed accepts are [`crate::limits`]'s).
//!
//! Every open connection costs a file descriptor. Past the process's limit `accept` fails, real
//! senders wait in the kernel's backlog and time out, and the journal could not even be
//! reopened. So the listener holds at most `--max-connections` (by default three quarters of
//! the descriptor limit, at most 256 kept back for the journal, forwarding and the relay
//! tunnel). When it is full, the connection idle the longest (for at least
//! [`crate::limits::SHED_GRACE`]) is closed to make room; connections in the middle of a
//! request are never cut for that. When none is idle, newcomers wait in the
//! kernel's backlog until one closes or goes idle.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::tap::Heads;

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
                // Not one just accepted, whose request is on its way (see SHED_GRACE).
                (since.elapsed() >= crate::limits::SHED_GRACE).then_some(())?;
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
