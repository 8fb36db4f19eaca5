//! Connections to PostgreSQL that synchronous code on any thread can use.
//!
//! tokio-postgres splits a connection in two: a `Connection` future that owns the socket and
//! must be polled on a tokio runtime, and a `Client` whose query futures only talk to that
//! `Connection` through channels. So each store owns a small runtime on a thread of its own
//! that drives the sockets (and opens them), and every query is polled on the *caller's*
//! thread by [`block_on`], a minimal executor that parks the thread while it waits.
//!
//! That is safe from a plain thread, a `spawn_blocking` closure and even a tokio worker: it
//! never enters the caller's runtime (unlike `Handle::block_on` or the `postgres` crate,
//! which panic there); it only blocks the thread for the round trip, as a synchronous
//! SQLite call does. And because nothing crosses threads but protocol messages, a store
//! method borrows its arguments and its connection freely (a read keeps one connection for a
//! whole snapshot, a replay feeds a `!Send` sink as rows stream in).
//!
//! A pool keeps the connections: at most [`MAX_CONNECTIONS`] per store, idle ones reused with
//! their prepared statements, a connection that failed (or was in use when a caller
//! panicked) closed rather than reused.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, JoinHandle, Thread};
use std::time::Duration;

use tokio::sync::{oneshot, Notify};
use tokio_postgres::{Client, Config, NoTls, Statement};

use concord_core::store::StoreError;

use crate::backend;

/// Connections one store opens at most; callers beyond that wait for a free one.
pub const MAX_CONNECTIONS: usize = 8;
/// How long a caller waits for a free connection before failing.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long opening a connection may take (an unreachable server fails within it).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// On drop, how long the store waits for its connections to say goodbye to the server.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Polls `future` to completion on this thread, parking it while the future waits.
pub fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            // A stray unpark only costs one more poll.
            Poll::Pending => thread::park(),
        }
    }
}

/// The store's own runtime: one thread that opens connections and drives their sockets.
struct Runtime {
    handle: tokio::runtime::Handle,
    /// Connection tasks still running, and a signal each time one ends.
    live: Arc<(AtomicUsize, Notify)>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Runtime {
    fn start() -> Result<Self, StoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                StoreError::Backend(format!("cannot start the PostgreSQL runtime: {e}"))
            })?;
        let handle = runtime.handle().clone();
        let live = Arc::new((AtomicUsize::new(0), Notify::new()));
        let (stop, stopped) = oneshot::channel::<()>();
        let waiting = Arc::clone(&live);
        let thread = thread::Builder::new()
            .name("concord-postgres".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let _ = stopped.await;
                    // The clients are gone by now; let each connection send its Terminate
                    // and close, so the server sees a clean goodbye, not a reset.
                    let drained = async {
                        loop {
                            let ended = waiting.1.notified();
                            if waiting.0.load(Ordering::Acquire) == 0 {
                                return;
                            }
                            ended.await;
                        }
                    };
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, drained).await;
                });
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the PostgreSQL thread: {e}")))?;
        Ok(Runtime {
            handle,
            live,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Opens a connection (on the runtime) and starts driving it there.
    fn connect(&self, config: &Config) -> Result<Client, String> {
        let (reply, answer) = mpsc::sync_channel(1);
        let config = config.clone();
        let live = Arc::clone(&self.live);
        self.handle.spawn(async move {
            let opened = config.connect(NoTls).await.map(|(client, connection)| {
                live.0.fetch_add(1, Ordering::AcqRel);
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "PostgreSQL connection ended with an error");
                    }
                    live.0.fetch_sub(1, Ordering::AcqRel);
                    live.1.notify_waiters();
                });
                client
            });
            let _ = reply.send(opened.map_err(|e| crate::with_causes(&e)));
        });
        answer
            .recv()
            .unwrap_or_else(|_| Err("the store's PostgreSQL thread has stopped".to_owned()))
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // Quick: the thread only waits (briefly) for connections to close. Joining is a
            // plain blocking wait, so dropping a store inside an async task is fine too.
            let _ = thread.join();
        }
    }
}

/// One connection and the statements prepared on it.
pub struct Conn {
    pub client: Client,
    statements: HashMap<String, Statement>,
}

impl Conn {
    /// The prepared statement for `sql`, prepared on first use.
    pub fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = block_on(self.client.prepare(sql)).map_err(backend)?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

pub struct Pool {
    config: Config,
    state: Mutex<State>,
    freed: Condvar,
    /// Declared last: dropped after the idle clients, so their connections can close.
    runtime: Runtime,
}

struct State {
    idle: Vec<Conn>,
    open: usize,
}

impl Pool {
    pub fn new(config: Config) -> Result<Self, StoreError> {
        Ok(Pool {
            config,
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
            runtime: Runtime::start()?,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `work` on a pooled connection. A connection whose work failed, or that was in
    /// use when a panic unwound, is closed rather than reused: it may be inside a failed
    /// transaction or half-way through a result.
    pub fn with<T>(
        &self,
        work: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut lease = Lease {
            pool: self,
            conn: Some(self.checkout()?),
            broken: true,
        };
        let result = work(lease.conn.as_mut().expect("present until dropped"));
        lease.broken = result.is_err();
        result
    }

    fn checkout(&self) -> Result<Conn, StoreError> {
        let mut state = self.state();
        loop {
            if let Some(conn) = state.idle.pop() {
                if conn.client.is_closed() {
                    state.open -= 1;
                    continue;
                }
                return Ok(conn);
            }
            if state.open < MAX_CONNECTIONS {
                state.open += 1;
                drop(state);
                let opened = self.open();
                if opened.is_err() {
                    self.state().open -= 1;
                    self.freed.notify_one();
                }
                return opened;
            }
            let (next, waited) = self
                .freed
                .wait_timeout(state, CHECKOUT_TIMEOUT)
                .unwrap_or_else(|p| p.into_inner());
            state = next;
            if waited.timed_out() && state.idle.is_empty() && state.open >= MAX_CONNECTIONS {
                return Err(StoreError::Backend(format!(
                    "all {MAX_CONNECTIONS} PostgreSQL connections stayed busy for {}s",
                    CHECKOUT_TIMEOUT.as_secs()
                )));
            }
        }
    }

    fn open(&self) -> Result<Conn, StoreError> {
        let client = self.runtime.connect(&self.config).map_err(|e| {
            StoreError::Backend(format!(
                "cannot connect to PostgreSQL at {}: {e}",
                describe(&self.config)
            ))
        })?;
        // Every statement of a store finds its rows through an index (the sequence, the id,
        // the link): an append probes the id index once per new event, a read or replay walks
        // the sequence index from a cursor. The planner does not always see that: a store
        // starts empty (and prepared statements keep plans made then), and its cost model
        // takes a thousand cached index probes for more work than hashing the whole table.
        // Either way an append would read the entire table, growing slower with every event.
        // So these connections, which run nothing but these statements, turn the plans off
        // that only pay for whole-table work.
        //
        // Durable when acknowledged: a server configured with synchronous_commit=off would
        // acknowledge commits before their WAL reached disk. Any other setting is durable
        // locally, and a stricter one (remote_apply, …) is kept.
        block_on(client.batch_execute(
            "SET enable_seqscan = off; SET enable_hashjoin = off; SET enable_mergejoin = off; \
             SELECT CASE WHEN current_setting('synchronous_commit') = 'off' \
                    THEN set_config('synchronous_commit', 'on', false) END",
        ))
        .map_err(backend)?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
        })
    }
}

/// Where a configuration points, for messages (never its password).
pub fn describe(config: &Config) -> String {
    use tokio_postgres::config::Host;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("?");
    let db = config.get_dbname().unwrap_or(user);
    format!("{user}@{host}:{port}/{db}")
}

struct Lease<'p> {
    pool: &'p Pool,
    conn: Option<Conn>,
    broken: bool,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        let mut state = self.pool.state();
        if self.broken || thread::panicking() || conn.client.is_closed() {
            state.open -= 1;
            drop(state);
            drop(conn); // sends Terminate; the runtime closes the socket
        } else {
            state.idle.push(conn);
            drop(state);
        }
        self.pool.freed.notify_one();
    }
}
