//! The relay's connections: how many it holds at once, which one gives way when that is too
//! many, and how long each may take over a request or sit idle (the default cap and the telling
//! of failed accepts are `limits`'s).
//!
//! Every open connection costs a file descriptor. Past the process's limit `accept` fails, real
//! senders time out in the kernel's backlog, and a queue file could not even be opened (20,600
//! idle sockets did this, issue #13). So the relay holds at most `--max-connections` (by
//! default the descriptor limit less a quarter of it, at most 256 kept back for queue files);
//! when it is full, the connection idle the longest (for at least
//! [`crate::limits::SHED_GRACE`]) is closed to make room. A connection in the middle of a
//! request is never closed for that, nor is a websocket tunnel: once upgraded it holds its
//! place until its session ends.
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

/// How often a full relay looks again for a connection that may now be closed.
const LOOK_AGAIN: Duration = Duration::from_millis(50);

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
                // One idle but too young to close (SHED_GRACE) comes of age unannounced.
                () = tokio::time::sleep(LOOK_AGAIN) => {}
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
                // Not one just accepted, whose request is on its way (see SHED_GRACE).
                (since.elapsed() >= crate::limits::SHED_GRACE).then_some(())?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
        // Once it has been idle SHED_GRACE (a fresh connection's request may be on its way).
        let cut = tokio::time::timeout(Duration::from_secs(5), async {
            tokio::select! {
                cut = open[2].conn.watch(timeouts) => cut,
                _ = full.as_mut() => panic!("room before the longest idle gave way"),
            }
        })
        .await;
        assert_eq!(cut, Ok(Cut::Shed), "the longest idle was asked to close");
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
