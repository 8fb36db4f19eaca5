//! The serve loop: our own accept loop over hyper, because axum's `serve` can bound neither
//! time nor count. Here every stage of a connection has a deadline and every resource a cap:
//!
//! | stage / resource              | bound                                                        |
//! |-------------------------------|--------------------------------------------------------------|
//! | TLS handshake                 | `handshake_timeout`, in the connection's own task            |
//! | request head; idle keep-alive | `header_timeout` (hyper restarts it after every answer)      |
//! | request body                  | `body_timeout` in total, `body_budget` bytes for all at once |
//! | handler                       | `request_timeout`; `max_requests` in flight, more are shed   |
//! | writing the answer            | `write_timeout` without progress                             |
//! | closing: the client's rest    | read and dropped, at most 5 s and 32 MiB (lingering close)   |
//! | connections                   | `max_connections`, below the file-descriptor limit           |
//!
//! Shutdown is graceful: stop accepting, close idle connections (lingering ones too), let
//! busy ones finish their answer and close without lingering, return when all are closed.
//!
//! - `connections`: the registry (cap, eviction of the longest-idle, unread answers).
//! - `admission`: the body and in-flight stages in front of the router.
//! - [`tls`]: [`ServerTls`] (rustls with ring).
//! - [`fd_limit`]: the process's file-descriptor limit.

mod admission;
mod connections;
pub mod fd_limit;
pub mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use admission::Admission;
use connections::{Admitted, Connection, Connections, Exchange, Watched};
pub use tls::{ServerTls, TlsError};

/// Descriptors kept free for everything but client connections: the store's files, the
/// listener, outgoing link connections, logs.
pub const RESERVED_FDS: u64 = 128;

/// How one server bounds its clients. The defaults suit a service on a network; tests
/// shorten the timeouts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Open connections at most (lowered to the file-descriptor limit less
    /// [`RESERVED_FDS`]). At the cap a new connection closes the longest-idle one.
    pub max_connections: usize,
    /// Requests being handled at once at most; more are answered 503 with `Retry-After`.
    pub max_requests: usize,
    /// Bytes of request bodies held at once at most (at least [`MAX_BODY_BYTES`]); a body
    /// that does not fit is answered 503 with `Retry-After`.
    ///
    /// [`MAX_BODY_BYTES`]: crate::MAX_BODY_BYTES
    pub body_budget: usize,
    /// From accepting a connection (or the end of the previous answer) to the end of the
    /// request head; also how long an idle keep-alive connection stays open.
    pub header_timeout: Duration,
    /// For the TLS handshake.
    pub handshake_timeout: Duration,
    /// For the whole request body, from the end of its head (408 after it).
    pub body_timeout: Duration,
    /// For the handler, once the body is read (503 after it).
    pub request_timeout: Duration,
    /// For the client to take any of an answer's bytes: a connection whose socket accepts
    /// none of them for this long is closed (a stall, like nginx's `send_timeout`; a client
    /// that keeps reading is never cut).
    pub write_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_connections: 1024,
            max_requests: 512,
            // Two largest bodies at once: parsed, a body can take ~15× its size (small
            // numbers), so this bounds request memory to about half a GiB.
            body_budget: 32 << 20,
            header_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
        }
    }
}

impl ServerLimits {
    /// The limits as served: caps at least 1, the budget at least one largest body, the
    /// connection cap below the file-descriptor limit (logged when lowered).
    fn effective(&self) -> ServerLimits {
        let mut limits = self.clone();
        limits.max_requests = limits.max_requests.max(1);
        limits.body_budget = limits.body_budget.max(crate::MAX_BODY_BYTES);
        if let Some(fds) = fd_limit::current() {
            let room = fds.soft.saturating_sub(RESERVED_FDS).max(1);
            if (limits.max_connections as u64) > room {
                tracing::warn!(
                    configured = limits.max_connections,
                    fd_limit = fds.soft,
                    max_connections = room,
                    "the connection cap is lowered to fit the file-descriptor limit"
                );
                limits.max_connections = room as usize;
            }
        }
        limits.max_connections = limits.max_connections.max(1);
        limits
    }
}

/// How to serve: plain HTTP or HTTPS, and the limits.
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    /// Serve HTTPS with this certificate; `None` serves plain HTTP.
    pub tls: Option<ServerTls>,
    pub limits: ServerLimits,
}

/// Serves `router` on `listener` with `options` until `shutdown` completes; then stops
/// accepting, closes idle connections, lets busy ones finish their answer, and returns once
/// every connection is closed.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = Arc::new(options.limits.effective());
    let address = listener.local_addr()?;
    tracing::info!(
        %address,
        tls = options.tls.is_some(),
        max_connections = limits.max_connections,
        max_requests = limits.max_requests,
        "listening"
    );
    let server = Arc::new(Server {
        admission: Admission::new(router, Arc::clone(&limits)),
        connections: Connections::new(limits.max_connections),
        tls: options.tls.as_ref().map(ServerTls::acceptor),
        limits,
        warned: Throttle::default(),
    });
    let (stop, stopping) = watch::channel(false);
    tokio::spawn(sweep(Arc::clone(&server), stopping.clone()));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => Arc::clone(&server).open(stream, peer, stopping.clone()),
                Err(error) => server.accept_failed(error).await,
            },
        }
    }
    drop(listener);
    let _ = stop.send(true);
    server.connections.all_closed().await;
    tracing::info!(%address, "server stopped");
    Ok(())
}

struct Server {
    admission: Admission,
    connections: Arc<Connections>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Arc<ServerLimits>,
    warned: Throttle,
}

impl Server {
    fn open(self: Arc<Self>, stream: TcpStream, peer: SocketAddr, stopping: watch::Receiver<bool>) {
        let registration = match self.connections.admit() {
            Admitted::Open {
                registration,
                evicted,
            } => {
                if evicted {
                    tracing::debug!(%peer, "at the connection cap: closed the longest-idle one");
                }
                registration
            }
            Admitted::Full => {
                if self.warned.allow() {
                    tracing::warn!(
                        %peer,
                        max_connections = self.limits.max_connections,
                        "every connection is busy: refusing new ones"
                    );
                }
                return; // dropping the stream closes it
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let connection = Arc::clone(registration.connection());
            match &self.tls {
                None => self.drive(stream, &connection, stopping).await,
                Some(acceptor) => {
                    let mut stopped = stopping.clone();
                    let handshake = tokio::time::timeout(
                        self.limits.handshake_timeout,
                        acceptor.accept(stream),
                    );
                    let tls = tokio::select! {
                        done = handshake => match done {
                            Ok(Ok(tls)) => tls,
                            Ok(Err(error)) => {
                                tracing::debug!(%peer, %error, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        },
                        () = connection.closed() => return,
                        _ = stopped.wait_for(|stop| *stop) => return,
                    };
                    self.drive(tls, &connection, stopping).await;
                }
            }
            drop(registration);
        });
    }

    /// Serves HTTP/1.1 on one connection until it ends, is told to close, or the server stops.
    async fn drive<I>(
        &self,
        io: I,
        connection: &Arc<Connection>,
        mut stopping: watch::Receiver<bool>,
    ) where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let service = {
            let admission = self.admission.clone();
            let connection = Arc::clone(connection);
            hyper::service::service_fn(move |request: Request<Incoming>| {
                let admission = admission.clone();
                let exchange = connection.begin();
                async move {
                    let response = admission.handle(request).await;
                    Ok::<_, Infallible>(response.map(|body| {
                        Body::new(Answer {
                            body,
                            _exchange: exchange,
                        })
                    }))
                }
            })
        };
        let served = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout)
            .keep_alive(true)
            .serve_connection(
                TokioIo::new(Watched::new(io, Arc::clone(connection), stopping.clone())),
                service,
            );
        tokio::pin!(served);
        let mut draining = false;
        loop {
            tokio::select! {
                result = served.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "connection ended");
                    }
                    return;
                }
                () = connection.closed() => return,
                _ = stopping.wait_for(|stop| *stop), if !draining => {
                    draining = true;
                    if connection.is_idle() {
                        return;
                    }
                    served.as_mut().graceful_shutdown();
                }
            }
        }
    }

    async fn accept_failed(&self, error: std::io::Error) {
        if is_resource_exhaustion(&error) {
            // Closing an idle connection gives a descriptor back; the pause keeps the loop
            // from spinning while the kernel has none to give.
            let freed = self.connections.evict_idle();
            if self.warned.allow() {
                tracing::warn!(%error, freed_an_idle_connection = freed, "cannot accept");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        } else {
            tracing::debug!(%error, "accept failed");
        }
    }
}

fn is_resource_exhaustion(error: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(
            error.raw_os_error(),
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
        )
    }
    #[cfg(not(unix))]
    {
        let _ = error;
        true
    }
}

/// Every so often, cuts clients that do not read their answers (see
/// [`ServerLimits::write_timeout`]);
/// ends once the server stops (or its loop is dropped) and its last connection is closed.
async fn sweep(server: Arc<Server>, stopping: watch::Receiver<bool>) {
    let every =
        (server.limits.write_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let cut = server
            .connections
            .cut_stalled_writers(server.limits.write_timeout);
        if cut > 0 {
            tracing::debug!(cut, "closed connections whose answers went unread");
        }
        let stopped = stopping.has_changed().is_err() || *stopping.borrow();
        if stopped && server.connections.live() == 0 {
            return;
        }
    }
}

/// An answer's body, holding its exchange (busy) until hyper lets go of it.
struct Answer {
    body: Body,
    _exchange: Exchange,
}

impl http_body::Body for Answer {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Lets a warning through at most once a second, so a flood is logged, not mirrored.
#[derive(Default)]
struct Throttle {
    last: AtomicU64,
}

impl Throttle {
    fn allow(&self) -> bool {
        static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        let now = EPOCH.get_or_init(Instant::now).elapsed().as_secs() + 1;
        self.last.swap(now, Ordering::AcqRel) != now
    }
}
