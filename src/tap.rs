//! Recovering HTTP/1 request heads exactly as they were sent, and what each connection is doing.
//!
//! hyper parses headers into a `HeaderMap`, which lowercases names and groups repeated names
//! together; the case it can preserve is kept in a type private to hyper. A webhook inspector
//! must show what the sender sent, so [`Tap`] wraps the connection's read side and feeds every
//! byte hyper reads to a [`Scanner`]. hyper serves the requests of one connection in order, so
//! the server takes one head from the queue per request and checks that it is the same request
//! (method and target) before using it; anything the scanner cannot follow (HTTP/2, a malformed
//! stream) switches it off, and the server falls back to hyper's `HeaderMap`.
//!
//! The same bytes tell the server what hyper does not: whether a connection is idle (no request
//! begun, none being served) or when the head in progress began, and what arrived of a head
//! hyper refused without calling the service ([`Heads::take_unhandled`]).

mod scanner;

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, oneshot};

pub use scanner::{KEEP, RawBytes, RawHead, Scanner, Unhandled};

/// A connection's read side, with every byte read also fed to a [`Scanner`].
pub struct Tap<S> {
    /// The connection; taken only when the tap is dropped and hands it back.
    inner: Option<S>,
    link: Arc<Link>,
    give_back: Option<oneshot::Sender<S>>,
}

/// The server's end of a [`Tap`]: the heads the scanner recognised, in order, and what the
/// connection is doing.
#[derive(Clone)]
pub struct Heads(Arc<Link>);

/// What a connection is doing, as of one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    /// Since when nothing has been on its way or being served; `None` while something is.
    pub idle_since: Option<Instant>,
    /// When the first byte of a head not yet handed over arrived.
    pub head_started: Option<Instant>,
    /// Whether the service is handling a request of this connection.
    pub serving: bool,
    /// Whether the server asked for the connection to be closed while it was idle.
    pub shed: bool,
}

/// Marks one request as being served until dropped (see [`Heads::begin`]).
pub struct Serving(Arc<Link>);

struct Link {
    shared: Mutex<Shared>,
    /// Woken when a shed is asked for, or a head that waited behind a request starts to count.
    changed: Notify,
}

struct Shared {
    scanner: Scanner,
    in_flight: u32,
    idle_since: Option<Instant>,
    shed: bool,
}

impl Shared {
    fn idle(&self) -> bool {
        self.in_flight == 0 && !self.scanner.pending()
    }
}

impl Link {
    /// Applies `change`, keeping `idle_since` up to date.
    ///
    /// The watchdog is not woken for a head that begins or a connection that goes idle: the
    /// deadlines those set are never sooner than its next look (see the server's `watch`). A
    /// head that began while a request was being served is the exception: its deadline starts
    /// to count when that request is done, and began before the watchdog last looked.
    fn update<T>(&self, change: impl FnOnce(&mut Shared) -> T) -> T {
        let mut shared = lock(&self.shared);
        let (was_idle, was_serving) = (shared.idle(), shared.in_flight > 0);
        let out = change(&mut shared);
        let idle = shared.idle();
        if idle != was_idle {
            shared.idle_since = idle.then(Instant::now);
        }
        let waited = was_serving && shared.in_flight == 0 && shared.scanner.head_started().is_some();
        drop(shared);
        if waited {
            self.changed.notify_one();
        }
        out
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // The state has no invariant a panic elsewhere could break halfway.
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<S> Tap<S> {
    /// Wraps a connection; the returned [`Heads`] yields its request heads.
    pub fn new(inner: S) -> (Self, Heads) {
        let link = Arc::new(Link {
            shared: Mutex::new(Shared {
                scanner: Scanner::default(),
                in_flight: 0,
                idle_since: Some(Instant::now()),
                shed: false,
            }),
            changed: Notify::new(),
        });
        (
            Self {
                inner: Some(inner),
                link: link.clone(),
                give_back: None,
            },
            Heads(link),
        )
    }

    /// Hands the connection back when the tap is dropped (as hyper's connection is), so the
    /// server can still answer on it after cutting hyper off.
    pub fn give_back_on_drop(&mut self) -> oneshot::Receiver<S> {
        let (sender, receiver) = oneshot::channel();
        self.give_back = Some(sender);
        receiver
    }
}

impl<S> Drop for Tap<S> {
    fn drop(&mut self) {
        if let (Some(inner), Some(give_back)) = (self.inner.take(), self.give_back.take()) {
            // Nobody waiting for it: it is simply closed.
            let _ = give_back.send(inner);
        }
    }
}

impl Heads {
    /// The head of the next request hyper hands to the service, if the scanner followed it.
    pub fn next(&self) -> Option<RawHead> {
        lock(&self.0.shared).scanner.next_head()
    }

    /// Like [`Heads::next`], and marks the request as being served until the guard is dropped:
    /// a connection serving a request is not idle.
    pub fn begin(&self) -> (Option<RawHead>, Serving) {
        let head = self.0.update(|shared| {
            shared.in_flight += 1;
            let head = shared.scanner.next_head();
            if head.is_none() {
                // hyper handed over a request whose head the scanner gave up on: not refused.
                shared.scanner.forget_refused();
            }
            head
        });
        (head, Serving(self.0.clone()))
    }

    /// What the connection is doing now.
    pub fn activity(&self) -> Activity {
        let shared = lock(&self.0.shared);
        Activity {
            idle_since: shared.idle_since,
            head_started: shared.scanner.head_started(),
            serving: shared.in_flight > 0,
            shed: shared.shed,
        }
    }

    /// Completes when a shed was asked for, or a head that waited behind a request starts to
    /// count against its deadline (at once if that happened since the last wait).
    pub async fn changed(&self) {
        self.0.changed.notified().await;
    }

    /// Asks for the connection to be closed if it is idle; whether it was.
    pub fn shed(&self) -> bool {
        let shed = {
            let mut shared = lock(&self.0.shared);
            shared.shed |= shared.idle();
            shared.shed
        };
        if shed {
            self.0.changed.notify_one();
        }
        shed
    }

    /// The first head that arrived on the connection but was never handed to the service.
    pub fn take_unhandled(&self) -> Option<Unhandled> {
        lock(&self.0.shared).scanner.take_unhandled()
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.0
            .update(|shared| shared.in_flight = shared.in_flight.saturating_sub(1));
    }
}

/// The error of a tap whose connection was handed back (never seen: hyper is gone by then).
fn handed_back() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection was handed back")
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(Err(handed_back()));
        };
        let before = buf.filled().len();
        ready!(Pin::new(inner).poll_read(cx, buf))?;
        let fresh = &buf.filled()[before..];
        if !fresh.is_empty() {
            this.link.update(|shared| shared.scanner.feed(fresh));
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> Tap<S> {
    fn inner(self: Pin<&mut Self>) -> io::Result<Pin<&mut S>> {
        self.get_mut()
            .inner
            .as_mut()
            .map(Pin::new)
            .ok_or_else(handed_back)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.inner()?.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.inner()?.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.as_ref().is_some_and(S::is_write_vectored)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner()?.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner()?.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    /// Sends `bytes` from the client and reads them all through the tap.
    async fn pass(client: &mut DuplexStream, tap: &mut Tap<DuplexStream>, bytes: &[u8]) {
        client.write_all(bytes).await.expect("write");
        let mut read = vec![0u8; bytes.len()];
        tap.read_exact(&mut read).await.expect("read");
    }

    #[tokio::test]
    async fn a_connection_is_idle_between_requests_only() {
        let (mut client, server) = tokio::io::duplex(1024);
        let (mut tap, heads) = Tap::new(server);
        assert!(
            heads.activity().idle_since.is_some(),
            "a fresh connection is idle"
        );
        pass(&mut client, &mut tap, b"POST / HT").await;
        let activity = heads.activity();
        assert_eq!(activity.idle_since, None);
        assert!(activity.head_started.is_some());
        assert!(!heads.shed(), "a connection with a head on its way is not shed");
        pass(&mut client, &mut tap, b"TP/1.1\r\nContent-Length: 2\r\n\r\n{}").await;
        let (head, serving) = heads.begin();
        assert_eq!(head.map(|h| h.target), Some("/".to_owned()));
        assert!(heads.activity().serving);
        assert_eq!(heads.activity().idle_since, None);
        drop(serving);
        assert!(heads.activity().idle_since.is_some());
        assert!(heads.shed());
        assert!(heads.activity().shed);
    }

    #[tokio::test]
    async fn the_watchdog_is_woken_only_for_a_head_that_waited_or_a_shed() {
        let (mut client, server) = tokio::io::duplex(1024);
        let (mut tap, heads) = Tap::new(server);
        let woken = |heads: &Heads| {
            let heads = heads.clone();
            async move {
                tokio::time::timeout(std::time::Duration::from_millis(50), heads.changed())
                    .await
                    .is_ok()
            }
        };
        pass(&mut client, &mut tap, b"GET /a HTTP/1.1\r\n\r\n").await;
        assert!(
            !woken(&heads).await,
            "a head beginning sets no deadline sooner than the next look"
        );
        let (_, serving) = heads.begin();
        // The next head begins while the first request is served: its deadline counts from its
        // first byte, which the watchdog saw masked by the request being served.
        pass(&mut client, &mut tap, b"GET /b HT").await;
        assert!(!woken(&heads).await);
        drop(serving);
        assert!(woken(&heads).await, "the waiting head now counts");
        pass(&mut client, &mut tap, b"TP/1.1\r\n\r\n").await;
        drop(heads.begin());
        assert!(
            !woken(&heads).await,
            "going idle sets no deadline sooner than the next look"
        );
        assert!(heads.shed());
        assert!(woken(&heads).await, "a shed is at once");
    }

    #[tokio::test]
    async fn a_dropped_tap_hands_its_connection_back() {
        let (mut client, server) = tokio::io::duplex(1024);
        let (mut tap, _heads) = Tap::new(server);
        let back = tap.give_back_on_drop();
        drop(tap);
        let mut server = back.await.expect("handed back");
        server.write_all(b"still open").await.expect("write");
        let mut buf = [0u8; 10];
        client.read_exact(&mut buf).await.expect("read");
        assert_eq!(&buf, b"still open");
    }
}
