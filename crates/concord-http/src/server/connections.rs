//! The open connections of one server: the cap on how many there are, and the bookkeeping
//! that lets the serve loop close the right one.
//!
//! Each connection is *busy* from the moment hyper hands over a request until the last byte
//! of its answer is written, and *idle* otherwise (waiting for a first or next request, or
//! in its TLS handshake). When the cap is reached, a new connection evicts the one idle for
//! longest — as nginx reuses keep-alive connections — so idle and trickling clients cannot
//! lock others out; only when every connection is busy is the newcomer refused. A client that
//! stops reading its answer is cut once writing to it has made no progress for the write
//! timeout (the sweeper; nginx's `send_timeout`), so a busy connection cannot stay busy
//! forever either. Writes are watched on the socket itself ([`Watched`]): hyper lets go of an
//! answer's body as soon as it has queued the last bytes, long before they are sent.

use std::collections::HashMap;
use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{watch, Notify};

/// "Not waiting to write" in [`Connection::write_blocked_since`].
const NOT_BLOCKED: u64 = u64::MAX;

/// One open connection, shared by its task, its requests' answers and the registry.
pub(crate) struct Connection {
    epoch: Instant,
    /// Requests between hand-over and the end of their answer (HTTP/1: 0 or 1).
    busy: AtomicUsize,
    /// Nanoseconds after `epoch` when it last became idle (accepted, or an answer ended).
    idle_since: AtomicU64,
    /// Nanoseconds after `epoch` since when the socket has taken none of the bytes waiting
    /// to be written; [`NOT_BLOCKED`] while writes go through (or nothing waits).
    write_blocked_since: AtomicU64,
    /// Tells the connection's task to drop the connection now.
    close: Notify,
}

impl Connection {
    fn nanos(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Neither handling a request nor sending an answer.
    pub(crate) fn is_idle(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0
            && self.write_blocked_since.load(Ordering::Acquire) == NOT_BLOCKED
    }

    fn wrote(&self) {
        self.write_blocked_since
            .store(NOT_BLOCKED, Ordering::Release);
    }

    fn write_blocked(&self) {
        let now = self.nanos();
        // Only the first refusal in a row starts the clock.
        let _ = self.write_blocked_since.compare_exchange(
            NOT_BLOCKED,
            now,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Its answers are done and it is only draining its client before it closes: the first
    /// to make room when the cap is reached.
    fn lingering(&self) {
        self.idle_since.store(0, Ordering::Release);
    }

    /// Completes when the registry wants this connection closed (evicted, or its answer
    /// went unread for too long).
    pub(crate) async fn closed(&self) {
        self.close.notified().await;
    }

    /// A request has been handed over: busy until the returned guard is dropped (with the
    /// answer's body, or with the request if the connection goes first).
    pub(crate) fn begin(self: &Arc<Self>) -> Exchange {
        self.busy.fetch_add(1, Ordering::AcqRel);
        Exchange {
            connection: Arc::clone(self),
        }
    }
}

/// One request's hold on its connection; see [`Connection::begin`].
pub(crate) struct Exchange {
    connection: Arc<Connection>,
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let connection = &self.connection;
        connection
            .idle_since
            .store(connection.nanos(), Ordering::Release);
        connection.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How long a closing connection keeps reading what its client still sends, at most.
const LINGER_TIME: Duration = Duration::from_secs(5);
/// How much a closing connection reads and drops, at most: the rest of the largest body a
/// client may send, with room to spare.
const LINGER_BYTES: usize = 2 * crate::MAX_BODY_BYTES;

/// A connection's socket (plain or TLS), telling its [`Connection`] whether writes go through.
///
/// It also closes the way a client can read: when hyper shuts a connection down — after an
/// answer that refused a body it did not read (413, 503, 408), say — the socket's write half
/// is shut (the client sees the answer, then the end), and what the client still sends is
/// read and dropped until it stops, for at most [`LINGER_TIME`] and [`LINGER_BYTES`]
/// (Apache's and nginx's lingering close). Closing at once with unread bytes makes the kernel
/// reset the connection, and a client still writing its body then loses the answer too.
pub(crate) struct Watched<I> {
    io: I,
    connection: Arc<Connection>,
    /// Whether the server is stopping: then a connection closes at once, so that no client
    /// holds the server's stop for the lingering time.
    stopping: watch::Receiver<bool>,
    lingering: Option<Lingering>,
}

/// A shut-down connection's drain: until when, and how much was dropped.
struct Lingering {
    until: Pin<Box<tokio::time::Sleep>>,
    dropped: usize,
}

impl<I> Watched<I> {
    pub(crate) fn new(io: I, connection: Arc<Connection>, stopping: watch::Receiver<bool>) -> Self {
        Watched {
            io,
            connection,
            stopping,
            lingering: None,
        }
    }

    fn observe<T>(&self, poll: Poll<std::io::Result<T>>) -> Poll<std::io::Result<T>> {
        match &poll {
            Poll::Pending => self.connection.write_blocked(),
            Poll::Ready(_) => self.connection.wrote(),
        }
        poll
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write(cx, buf);
        self.observe(poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.observe(poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_flush(cx);
        self.observe(poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.lingering.is_none() {
            let stopping = *this.stopping.borrow();
            if !stopping {
                // Before the client can see the end and come back: it must find this
                // connection already the first to make room.
                this.connection.lingering();
            }
            std::task::ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
            if stopping {
                return Poll::Ready(Ok(()));
            }
            this.lingering = Some(Lingering {
                until: Box::pin(tokio::time::sleep(LINGER_TIME)),
                dropped: 0,
            });
        }
        let lingering = this.lingering.as_mut().expect("set just above");
        let mut scratch = [0u8; 8192];
        loop {
            if lingering.until.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.io).poll_read(cx, &mut buf) {
                Poll::Pending => return Poll::Pending,
                // The client's end, or its reset: nothing more will come.
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {
                    lingering.dropped += buf.filled().len();
                    if lingering.dropped > LINGER_BYTES {
                        return Poll::Ready(Ok(()));
                    }
                }
            }
        }
    }
}

/// The registry of one server's connections.
pub(crate) struct Connections {
    epoch: Instant,
    max: usize,
    state: Mutex<State>,
    /// Tasks still running (including evicted connections on their way out).
    live: AtomicUsize,
    all_closed: Notify,
}

#[derive(Default)]
struct State {
    next_id: u64,
    /// Connections counted against the cap: open and not yet evicted.
    open: HashMap<u64, Arc<Connection>>,
}

/// A connection's place in the registry, held by its task; leaving it on drop.
pub(crate) struct Registration {
    id: u64,
    connection: Arc<Connection>,
    registry: Arc<Connections>,
}

impl Registration {
    pub(crate) fn connection(&self) -> &Arc<Connection> {
        &self.connection
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.lock().open.remove(&self.id);
        if self.registry.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.registry.all_closed.notify_waiters();
        }
    }
}

/// What [`Connections::admit`] did.
pub(crate) enum Admitted {
    /// Registered; `evicted` says whether an idle connection made room.
    Open {
        registration: Registration,
        evicted: bool,
    },
    /// At the cap with every connection busy.
    Full,
}

impl Connections {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Connections {
            epoch: Instant::now(),
            max: max.max(1),
            state: Mutex::new(State::default()),
            live: AtomicUsize::new(0),
            all_closed: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many connections count against the cap now.
    #[cfg(test)]
    pub(crate) fn open(&self) -> usize {
        self.lock().open.len()
    }

    /// How many connections' tasks still run.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Registers a new connection, evicting the longest-idle one if the cap is reached.
    pub(crate) fn admit(self: &Arc<Self>) -> Admitted {
        let mut state = self.lock();
        let mut evicted = false;
        if state.open.len() >= self.max {
            if !Self::evict_longest_idle(&mut state) {
                return Admitted::Full;
            }
            evicted = true;
        }
        let id = state.next_id;
        state.next_id += 1;
        let connection = Arc::new(Connection {
            epoch: self.epoch,
            busy: AtomicUsize::new(0),
            idle_since: AtomicU64::new(self.epoch.elapsed().as_nanos() as u64),
            write_blocked_since: AtomicU64::new(NOT_BLOCKED),
            close: Notify::new(),
        });
        state.open.insert(id, Arc::clone(&connection));
        self.live.fetch_add(1, Ordering::AcqRel);
        Admitted::Open {
            registration: Registration {
                id,
                connection,
                registry: Arc::clone(self),
            },
            evicted,
        }
    }

    /// Closes the connection idle for longest, if any is idle (to free a descriptor when the
    /// process has none left); returns whether one was.
    pub(crate) fn evict_idle(&self) -> bool {
        Self::evict_longest_idle(&mut self.lock())
    }

    fn evict_longest_idle(state: &mut State) -> bool {
        let oldest = state
            .open
            .iter()
            .filter(|(_, c)| c.is_idle())
            .min_by_key(|(_, c)| c.idle_since.load(Ordering::Acquire))
            .map(|(id, _)| *id);
        let Some(id) = oldest else { return false };
        if let Some(connection) = state.open.remove(&id) {
            connection.close.notify_one();
        }
        true
    }

    /// Closes every connection whose socket has taken none of its waiting bytes for longer
    /// than `write_timeout` (a client that does not read); returns how many.
    pub(crate) fn cut_stalled_writers(&self, write_timeout: Duration) -> usize {
        let now = self.epoch.elapsed().as_nanos() as u64;
        let limit = write_timeout.as_nanos() as u64;
        let state = self.lock();
        let mut cut = 0;
        for connection in state.open.values() {
            let since = connection.write_blocked_since.load(Ordering::Acquire);
            if since != NOT_BLOCKED && now.saturating_sub(since) > limit {
                connection.close.notify_one();
                cut += 1;
            }
        }
        cut
    }

    /// Completes when every connection's task has ended.
    pub(crate) async fn all_closed(&self) {
        loop {
            let notified = self.all_closed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.live.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(registry: &Arc<Connections>) -> Registration {
        match registry.admit() {
            Admitted::Open { registration, .. } => registration,
            Admitted::Full => panic!("full"),
        }
    }

    #[tokio::test]
    async fn at_the_cap_the_longest_idle_connection_makes_room() {
        let registry = Connections::new(3);
        let first = open(&registry);
        let second = open(&registry);
        let third = open(&registry);
        // The first is busy, the second has been idle for longest of the rest.
        let busy = first.connection().begin();
        std::thread::sleep(Duration::from_millis(2));
        let touched = third.connection().begin();
        drop(touched); // the third was idle more recently than the second
        let fourth = match registry.admit() {
            Admitted::Open {
                registration,
                evicted,
            } => {
                assert!(evicted);
                registration
            }
            Admitted::Full => panic!("an idle connection could make room"),
        };
        assert_eq!(registry.open(), 3);
        tokio::time::timeout(Duration::from_secs(1), second.connection().closed())
            .await
            .expect("the longest-idle connection is told to close");
        // Everything else busy: the next one is refused.
        let _busy = [third.connection().begin(), fourth.connection().begin()];
        assert!(matches!(registry.admit(), Admitted::Full));
        drop(busy);
        drop(second);
        assert_eq!(registry.live.load(Ordering::Acquire), 3);
        drop((first, third, fourth));
        tokio::time::timeout(Duration::from_secs(1), registry.all_closed())
            .await
            .expect("all closed");
    }

    #[tokio::test]
    async fn a_socket_that_takes_nothing_is_cut_after_the_write_timeout() {
        let registry = Connections::new(2);
        let reader = open(&registry);
        let connection = reader.connection();
        assert!(connection.is_idle());
        connection.write_blocked();
        assert!(!connection.is_idle(), "sending an answer is not idle");
        assert_eq!(registry.cut_stalled_writers(Duration::from_secs(60)), 0);
        std::thread::sleep(Duration::from_millis(2));
        connection.write_blocked(); // still blocked: the clock keeps running
        assert_eq!(registry.cut_stalled_writers(Duration::from_millis(1)), 1);
        tokio::time::timeout(Duration::from_secs(1), connection.closed())
            .await
            .expect("told to close");
        connection.wrote();
        assert_eq!(registry.cut_stalled_writers(Duration::ZERO), 0, "written");
        assert!(connection.is_idle());
    }
}
