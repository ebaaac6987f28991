//! The relay's connections: how many it holds at once, which one gives way when that is too
//! many, how long each may take over a request or sit idle, and how failures to accept are told.
//!
//! Every open connection costs a file descriptor. Past the process's limit `accept` fails, real
//! senders time out in the kernel's backlog, and a queue file could not even be opened (20,600
//! idle sockets did this, issue #13). So the relay holds at most `--max-connections` (by
//! default the descriptor limit less a quarter of it, at most 256 kept back for queue files);
//! when it is full, the connection idle the longest is closed to make room. A connection in the
//! middle of a request is never closed for that, nor is a websocket tunnel: once upgraded it
//! holds its place until its session ends.
//!
//! Each connection is watched ([`Conn::watch`]): idle for `--idle-timeout` it is closed; a
//! request head not complete within `--read-timeout` of its first byte is answered `408` and
//! the connection closed. The body's share of the same deadline is the service's, which can
//! still answer ([`Conn::begin`] says when the head began).

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, oneshot};
// Tokio's clock, so the deadlines can be tested with time paused.
use tokio::time::Instant;

/// The cap when the descriptor limit cannot be read (not Linux) or is unlimited.
const FALLBACK_MAX: usize = 1024;
/// The most descriptors kept back from connections.
const MAX_RESERVE: u64 = 256;

/// How long connections may take and sit.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From a request's first byte to its last (`--read-timeout`).
    pub read: Duration,
    /// With nothing on its way (`--idle-timeout`).
    pub idle: Duration,
}

/// The connections open now, and room for more.
pub struct Connections {
    permits: Arc<Semaphore>,
    open: Mutex<HashMap<u64, Arc<Conn>>>,
    next: AtomicU64,
    /// Woken when a connection goes idle: it can make room.
    became_idle: Arc<Notify>,
}

impl Connections {
    /// Room for `max` connections at once.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            permits: Arc::new(Semaphore::new(max.clamp(1, Semaphore::MAX_PERMITS))),
            open: Mutex::default(),
            next: AtomicU64::new(0),
            became_idle: Arc::new(Notify::new()),
        })
    }

    /// Waits until one more connection may be accepted, closing idle ones to make room.
    pub async fn room(&self) -> OwnedSemaphorePermit {
        loop {
            if let Ok(permit) = self.permits.clone().try_acquire_owned() {
                return permit;
            }
            // Listen for idleness before looking, so none that begins meanwhile is missed.
            let idle = self.became_idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            self.shed_longest_idle();
            tokio::select! {
                permit = self.permits.clone().acquire_owned() => {
                    if let Ok(permit) = permit {
                        return permit;
                    }
                }
                () = idle => {}
            }
        }
    }

    /// Registers an accepted connection holding `permit`; it is forgotten when the returned
    /// [`Registered`] is dropped.
    pub fn opened(self: &Arc<Self>, permit: OwnedSemaphorePermit) -> Registered {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            state: Mutex::new(State {
                idle_since: Some(Instant::now()),
                ..State::default()
            }),
            changed: Notify::new(),
            became_idle: self.became_idle.clone(),
            permit: Mutex::new(Some(permit)),
        });
        self.lock().insert(id, conn.clone());
        Registered {
            connections: self.clone(),
            id,
            conn,
        }
    }

    /// Asks the connection idle the longest to close; whether one was asked.
    pub fn shed_longest_idle(&self) -> bool {
        let open = self.lock();
        let mut idle: Vec<(Instant, &Arc<Conn>)> = open
            .values()
            .filter_map(|conn| {
                let state = conn.lock();
                let since = state.idle_since.filter(|_| !state.shed)?;
                Some((since, conn))
            })
            .collect();
        idle.sort_unstable_by_key(|(since, _)| *since);
        // One may have begun a request since it was looked at: it refuses, the next is asked.
        let shed = idle.iter().any(|(_, conn)| conn.shed());
        if shed {
            tracing::debug!(
                open = open.len(),
                "at the connection limit; closing the longest idle"
            );
        }
        shed
    }

    /// How many connections are registered (upgraded tunnels are not, though they hold their
    /// place).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        // A map of handles: nothing a panic elsewhere could leave half-changed.
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A registered connection; dropping it forgets the connection (and gives its place back,
/// unless a tunnel took it).
pub struct Registered {
    connections: Arc<Connections>,
    id: u64,
    /// The connection's state.
    pub conn: Arc<Conn>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.connections.lock().remove(&self.id);
    }
}

/// What one connection is doing, shared by its reader ([`Watched`]), its requests
/// ([`Conn::begin`]) and its watchdog ([`Conn::watch`]).
pub struct Conn {
    state: Mutex<State>,
    /// Woken on every change of `state`.
    changed: Notify,
    became_idle: Arc<Notify>,
    /// Its place among the connections; a tunnel takes it along.
    permit: Mutex<Option<OwnedSemaphorePermit>>,
}

#[derive(Debug, Default)]
struct State {
    /// Requests being served.
    serving: usize,
    /// Since when nothing has been on its way or being served.
    idle_since: Option<Instant>,
    /// When the first byte of a head not yet being served arrived.
    head_started: Option<Instant>,
    /// Asked to close to make room.
    shed: bool,
    /// Upgraded to a websocket: none of the HTTP deadlines apply any more.
    tunnel: bool,
    /// Whether any byte has arrived, and whether the first ones were HTTP/2's preface.
    heard: bool,
    http2: bool,
}

/// Why the watchdog closes a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Idle for `--idle-timeout`.
    Idle,
    /// Idle while the relay is full.
    Shed,
    /// A head not complete within `--read-timeout` of its first byte.
    HeadStalled,
}

impl Conn {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Bytes arrived: a head has begun if nothing was on its way.
    fn heard(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut state = self.lock();
        if !state.heard {
            state.heard = true;
            state.http2 = bytes.starts_with(b"PRI ");
        }
        // HTTP/2's frames between requests (settings, pings) begin no head: such a connection
        // stays idle, and its requests' deadlines count from when each is served.
        if state.serving == 0 && state.head_started.is_none() && !state.tunnel && !state.http2 {
            state.head_started = Some(Instant::now());
            state.idle_since = None;
            drop(state);
            self.changed.notify_waiters();
        }
    }

    /// A request is being served until the returned guard is dropped. Also returns when its
    /// head began, from which `--read-timeout` counts (now, for HTTP/2, whose streams share the
    /// connection's bytes).
    pub fn begin(self: &Arc<Self>) -> (Serving, Instant) {
        let mut state = self.lock();
        state.serving += 1;
        state.idle_since = None;
        let now = Instant::now();
        let started = match state.http2 {
            true => now,
            false => state.head_started.unwrap_or(now),
        };
        drop(state);
        self.changed.notify_waiters();
        (Serving(self.clone()), started)
    }

    /// The connection becomes a websocket tunnel: never idle, never cut by these deadlines;
    /// returns its place among the connections, for the tunnel to hold.
    pub fn upgrade(&self) -> Option<OwnedSemaphorePermit> {
        self.lock().tunnel = true;
        self.changed.notify_waiters();
        self.permit.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Asks an idle connection to close; `false` if it is not idle (any more).
    fn shed(&self) -> bool {
        let mut state = self.lock();
        if state.idle_since.is_none() || state.shed || state.tunnel {
            return false;
        }
        state.shed = true;
        drop(state);
        self.changed.notify_waiters();
        true
    }

    /// Whether the connection speaks HTTP/2 (no `408` can be written on it by hand).
    pub fn is_http2(&self) -> bool {
        self.lock().http2
    }

    /// Completes when the connection must be closed, and says why.
    pub async fn watch(&self, timeouts: Timeouts) -> Cut {
        loop {
            // Listen for changes before looking, so none between the look and the wait is missed.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let deadline = {
                let state = self.lock();
                match *state {
                    State { tunnel: true, .. } => None,
                    State { shed: true, .. } => return Cut::Shed,
                    State {
                        idle_since: Some(since),
                        ..
                    } => Some((since + timeouts.idle, Cut::Idle)),
                    State {
                        head_started: Some(started),
                        serving: 0,
                        ..
                    } => Some((started + timeouts.read, Cut::HeadStalled)),
                    _ => None,
                }
            };
            match deadline {
                Some((at, cut)) if at <= Instant::now() => return cut,
                Some((at, _)) => tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = changed => {}
                },
                None => changed.await,
            }
        }
    }
}

/// Marks one request as being served until dropped ([`Conn::begin`]).
pub struct Serving(Arc<Conn>);

impl Drop for Serving {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.serving = state.serving.saturating_sub(1);
        let idle = state.serving == 0 && !state.tunnel;
        if idle {
            state.head_started = None;
            state.idle_since = Some(Instant::now());
        }
        drop(state);
        self.0.changed.notify_waiters();
        if idle {
            self.0.became_idle.notify_waiters();
        }
    }
}

/// A connection's stream as hyper gets it: every byte read tells its [`Conn`] what the
/// connection is doing, and when hyper drops it the stream is handed back, so the relay can
/// still answer `408` to a head hyper never finished.
pub struct Watched<S> {
    inner: Option<S>,
    conn: Arc<Conn>,
    give_back: Option<oneshot::Sender<S>>,
}

impl<S> Watched<S> {
    /// Watches `inner` for `conn`; the receiver gets `inner` back when this is dropped.
    pub fn new(inner: S, conn: Arc<Conn>) -> (Self, oneshot::Receiver<S>) {
        let (give_back, handed_back) = oneshot::channel();
        let watched = Self {
            inner: Some(inner),
            conn,
            give_back: Some(give_back),
        };
        (watched, handed_back)
    }

    fn inner(&mut self) -> io::Result<&mut S> {
        self.inner
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "the stream was handed back"))
    }
}

impl<S> Drop for Watched<S> {
    fn drop(&mut self) {
        if let (Some(inner), Some(give_back)) = (self.inner.take(), self.give_back.take()) {
            // Nobody waiting for it: it is simply closed.
            let _ = give_back.send(inner);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(self.inner()?).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.conn.heard(&buf.filled()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(self.inner()?).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.inner()?).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.inner()?).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.inner()?).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.as_ref().is_some_and(AsyncWrite::is_write_vectored)
    }
}

/// The process's soft limit on open files, from `/proc/self/limits` (Linux); `None` elsewhere
/// or when unlimited.
pub fn descriptor_limit() -> Option<u64> {
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
pub fn default_max(descriptor_limit: Option<u64>) -> usize {
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
pub fn out_of_descriptors(err: &io::Error) -> bool {
    // The values are the same on Linux, the BSDs and macOS.
    matches!(err.raw_os_error(), Some(23 | 24))
}

/// What to say about failed accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptReport {
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
/// next try, doubling from 5 ms to half a second.
#[derive(Debug, Default)]
pub struct AcceptErrors {
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
pub const LASTING: Duration = Duration::from_secs(10);

impl AcceptErrors {
    /// Counts a failure at `now`: what to tell now, if anything, and how long to pause.
    pub fn failed(&mut self, now: Instant) -> (Option<AcceptReport>, Duration) {
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
    pub fn succeeded(&mut self, now: Instant) -> Option<AcceptReport> {
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

    /// Real time, short timeouts: a cut never comes before its deadline (a loaded machine can
    /// only make it later).
    #[tokio::test]
    async fn the_watchdog_cuts_idle_connections_and_stalled_heads_but_not_requests_or_tunnels() {
        let timeouts = Timeouts {
            read: Duration::from_millis(200),
            idle: Duration::from_millis(400),
        };
        let connections = Connections::new(2);
        let permit = connections.room().await;
        let registered = connections.opened(permit);
        let conn = registered.conn.clone();
        async fn within(conn: &Conn, timeouts: Timeouts, limit: Duration) -> Cut {
            let started = Instant::now();
            let cut = tokio::time::timeout(Duration::from_secs(20), conn.watch(timeouts))
                .await
                .expect("cut in the end");
            let took = started.elapsed();
            assert!(
                took >= limit.mul_f64(0.95),
                "{cut:?} after {took:?}, before {limit:?}"
            );
            cut
        }
        // A fresh connection that says nothing is idle.
        assert_eq!(within(&conn, timeouts, timeouts.idle).await, Cut::Idle);
        // A byte begins a head: the read deadline counts from it.
        conn.heard(b"P");
        assert_eq!(within(&conn, timeouts, timeouts.read).await, Cut::HeadStalled);
        // Being served, it is never cut, and the body's deadline counts from the head's first
        // byte; once answered it is idle again.
        let (serving, started) = conn.begin();
        assert!(
            started.elapsed() >= timeouts.read.mul_f64(0.95),
            "the deadline counts from the head"
        );
        let watch = conn.watch(timeouts);
        tokio::pin!(watch);
        assert!(
            tokio::time::timeout(timeouts.idle * 3, watch.as_mut())
                .await
                .is_err(),
            "cut while serving"
        );
        let answered = Instant::now();
        drop(serving);
        assert_eq!(watch.await, Cut::Idle);
        assert!(answered.elapsed() >= timeouts.idle.mul_f64(0.95));
        // A tunnel is never cut, and takes its place along.
        assert!(conn.upgrade().is_some());
        assert!(
            tokio::time::timeout(timeouts.idle * 3, conn.watch(timeouts))
                .await
                .is_err()
        );
        assert!(!conn.shed(), "a tunnel is not shed");
    }

    #[tokio::test]
    async fn at_the_cap_the_longest_idle_connection_gives_way_and_a_busy_one_never() {
        let timeouts = Timeouts {
            read: Duration::from_secs(3600),
            idle: Duration::from_secs(3600),
        };
        let connections = Connections::new(4);
        let mut open = Vec::new();
        for _ in 0..4 {
            let permit = connections.room().await;
            open.push(connections.opened(permit));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The oldest is busy, the second has begun a head, the last two are idle.
        let _busy = open[0].conn.begin();
        open[1].conn.heard(b"POST /c/a HTTP/1.1\r\n");
        let full = connections.room();
        tokio::pin!(full);
        assert!(
            tokio::time::timeout(Duration::from_millis(100), full.as_mut())
                .await
                .is_err(),
            "no room until a connection is gone"
        );
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(5), open[2].conn.watch(timeouts)).await,
            Ok(Cut::Shed),
            "the longest idle was asked to close"
        );
        let shed: Vec<bool> = open.iter().map(|r| r.conn.lock().shed).collect();
        assert_eq!(shed, [false, false, true, false], "only the longest idle");
        drop(open.remove(2));
        let permit = tokio::time::timeout(Duration::from_secs(5), full)
            .await
            .expect("room");
        drop(permit);
        assert_eq!(connections.len(), 3);
    }
}
