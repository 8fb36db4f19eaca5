//! The threaded shell around a [`ServiceCore`]: one writer thread per service.
//!
//! Callers (HTTP handlers, sync links, benchmarks) send requests through a queue. The writer
//! takes everything waiting as one batch and runs it through [`ServiceCore::execute`], so
//! concurrent writers share one transaction and one fsync (group commit); then it answers each
//! caller. Because one thread appends, sequences are assigned in commit order. Queries read
//! the model under a read lock that the writer holds while a batch is applied and committed,
//! so no query sees state that is not yet durable.
//!
//! When a batch fails with the store and the model's rebuild fails with it (a database
//! down), the model is left stale — empty or part-built — and queries see that until it is
//! rebuilt: by the next batch, or by the writer itself while idle, within five seconds of the
//! store answering again.
//!
//! The queue is bounded: when more requests wait than its capacity, a new one fails at once
//! with [`HostError::Overloaded`] instead of queueing (load shedding). Waiting longer would not
//! help a caller — the writer drains at the disk's pace — and an unbounded queue turns a burst
//! into unbounded memory and latency for everyone behind it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use crate::event::{CloudEvent, Limits, StoredEvent};
use crate::model::Model;
use crate::runtime::{
    Command, CommandError, DomainPanics, Env, External, PutReport, Refusal, Reply, Request,
    ServiceCore, SharedCatalogue, Spent, Verified,
};
use crate::sign::Verifier;
use crate::store::{EventStore, LinkUpdate, StoreError};

/// How many requests one group commit takes at most.
const MAX_BATCH_REQUESTS: usize = 1024;

/// How many requests may wait for the writer unless configured otherwise: about ten full
/// group commits, i.e. well under a second of work at the measured commit rates.
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;

/// Why a request sent to the host did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(transparent)]
    Command(#[from] CommandError),
    /// An all-or-nothing batch was refused whole; nothing of it was stored.
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("the event store failed: {0}")]
    Store(StoreError),
    #[error("the service is shutting down")]
    Stopped,
    /// The writer's queue is full; nothing was queued. Retrying later is safe.
    #[error("the service is overloaded: {capacity} requests are already waiting for its writer; retry later")]
    Overloaded { capacity: usize },
}

/// What the writer sends back for one request: its reply with its spent events, or why the
/// whole group commit failed.
type Answer = Result<(Reply, Spent), HostError>;

enum Job<M: Model> {
    Work {
        request: Request<M>,
        reply: oneshot::Sender<Answer>,
    },
    /// Everything queued before this is finished; then the writer stops.
    Stop,
}

/// A batch at least this long is decoded on the blocking pool ([`Host::take`]).
const HEAVY_BATCH: usize = 64;

struct Shared<M: Model> {
    core: RwLock<ServiceCore<M>>,
    /// The catalogue, outside the lock: callers decode their events with it before they
    /// queue them, so the writer never waits for a decode and a decode never waits for it.
    catalogue: SharedCatalogue<M>,
    /// The keys the service trusts, outside the lock for the same reason: callers verify
    /// signatures before they queue their events.
    verifier: Arc<Verifier>,
    store: Arc<dyn EventStore>,
    /// The core's intake limits, copied out: they never change, and reading them must not
    /// wait for the writer's lock.
    limits: Limits,
    /// The last committed sequence; changes wake whoever waits for new events.
    committed: watch::Sender<u64>,
    /// Requests in the queue that the writer has not taken yet.
    queued: AtomicUsize,
    /// The most `queued` may reach.
    capacity: usize,
    /// The core's count of caught panics, outside the lock for the metrics.
    panics: Arc<DomainPanics>,
}

/// A running service: cheap to clone, shared by every handler and link.
pub struct Host<M: Model> {
    queue: mpsc::UnboundedSender<Job<M>>,
    shared: Arc<Shared<M>>,
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl<M: Model> Clone for Host<M> {
    fn clone(&self) -> Self {
        Host {
            queue: self.queue.clone(),
            shared: Arc::clone(&self.shared),
            writer: Arc::clone(&self.writer),
        }
    }
}

impl<M: Model> Host<M> {
    /// Starts the writer thread for a service already opened on `store`, with a queue of
    /// [`DEFAULT_QUEUE_CAPACITY`].
    pub fn start(
        core: ServiceCore<M>,
        store: Arc<dyn EventStore>,
        env: Box<dyn Env>,
    ) -> Result<Self, StoreError> {
        Self::start_with_queue(core, store, env, DEFAULT_QUEUE_CAPACITY)
    }

    /// [`Host::start`] with room for `capacity` waiting requests (at least 1); beyond that,
    /// requests fail with [`HostError::Overloaded`].
    pub fn start_with_queue(
        core: ServiceCore<M>,
        store: Arc<dyn EventStore>,
        env: Box<dyn Env>,
        capacity: usize,
    ) -> Result<Self, StoreError> {
        let (committed, _) = watch::channel(store.last_sequence()?);
        let shared = Arc::new(Shared {
            limits: *core.limits(),
            catalogue: Arc::clone(core.catalogue()),
            verifier: Arc::clone(core.verifier()),
            panics: Arc::clone(core.domain_panics()),
            core: RwLock::new(core),
            store,
            committed,
            queued: AtomicUsize::new(0),
            capacity: capacity.max(1),
        });
        let (queue, jobs) = mpsc::unbounded_channel();
        let writer = {
            let shared = Arc::clone(&shared);
            let name = shared
                .core
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .name()
                .to_owned();
            std::thread::Builder::new()
                .name(format!("{name}-writer"))
                .spawn(move || write_loop(&shared, jobs, env))
                .map_err(|e| StoreError::Backend(format!("cannot start the writer thread: {e}")))?
        };
        Ok(Host {
            queue,
            shared,
            writer: Arc::new(Mutex::new(Some(writer))),
        })
    }

    /// Runs a command; answers with its events once they are durable.
    pub async fn command(&self, command: Command<M>) -> Result<Vec<StoredEvent>, HostError> {
        let reply = self.submit(Request::Command(command))?.await;
        Self::command_reply(reply)
    }

    /// putEvents: all of `events` or, if one is refused, none of them.
    pub async fn put_events(&self, events: Vec<CloudEvent>) -> Result<PutReport, HostError> {
        self.take(External::put(events)).await
    }

    /// Hands the service external events as `external` says (a link's page with its cursor
    /// and dead letters, a re-delivery, a putEvents batch).
    ///
    /// Signature checks (tens of microseconds each) and a long page's decoding run on the
    /// blocking pool: on the async worker they would hold up every other request it serves.
    pub async fn take(&self, external: External) -> Result<PutReport, HostError> {
        let incoming = if self.heavy(&external.events) {
            let catalogue = Arc::clone(&self.shared.catalogue);
            let verifier = Arc::clone(&self.shared.verifier);
            on_blocking_pool(move || external.decode_with(&*catalogue, &verifier)).await?
        } else {
            external.decode_with(&*self.shared.catalogue, &self.shared.verifier)
        };
        let reply = self.submit(Request::External(incoming))?.await;
        Self::external_reply(reply)
    }

    /// Checks the signatures of a link's next page and decodes it ([`Verified`]), on the
    /// blocking pool when that is heavy, while the writer may be committing the page before it.
    pub async fn verify_page(
        &self,
        events: Vec<CloudEvent>,
    ) -> Result<Verified<M::Event>, HostError> {
        if !self.heavy(&events) {
            let shared = &self.shared;
            return Ok(Verified::link_page(
                &shared.verifier,
                &*shared.catalogue,
                events,
            ));
        }
        let catalogue = Arc::clone(&self.shared.catalogue);
        let verifier = Arc::clone(&self.shared.verifier);
        on_blocking_pool(move || Verified::link_page(&verifier, &*catalogue, events)).await
    }

    /// Whether taking in `events` goes to the blocking pool: a long batch, or any signatures
    /// to check.
    fn heavy(&self, events: &[CloudEvent]) -> bool {
        events.len() >= HEAVY_BATCH || (!events.is_empty() && !self.shared.verifier.is_empty())
    }

    /// [`Host::take`] of a link's page checked and decoded ahead with [`Host::verify_page`],
    /// with the link's update.
    pub async fn take_verified(
        &self,
        page: Verified<M::Event>,
        link: LinkUpdate,
    ) -> Result<PutReport, HostError> {
        let reply = self.submit(Request::External(page.with_link(link)))?.await;
        Self::external_reply(reply)
    }

    /// [`Host::command`] for callers outside an async runtime.
    pub fn command_blocking(&self, command: Command<M>) -> Result<Vec<StoredEvent>, HostError> {
        let reply = self.submit(Request::Command(command))?.blocking_recv();
        Self::command_reply(reply)
    }

    /// [`Host::put_events`] for callers outside an async runtime.
    pub fn put_events_blocking(&self, events: Vec<CloudEvent>) -> Result<PutReport, HostError> {
        self.take_blocking(External::put(events))
    }

    /// [`Host::take`] for callers outside an async runtime.
    pub fn take_blocking(&self, external: External) -> Result<PutReport, HostError> {
        let incoming = external.decode_with(&*self.shared.catalogue, &self.shared.verifier);
        let reply = self.submit(Request::External(incoming))?.blocking_recv();
        Self::external_reply(reply)
    }

    /// Reads the model (and the rest of the core) under the read lock.
    pub fn core(&self) -> RwLockReadGuard<'_, ServiceCore<M>> {
        self.shared.core.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs a query against the model.
    pub fn query<R>(&self, query: impl FnOnce(&M) -> R) -> R {
        query(self.core().model())
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.shared.store
    }

    /// The keys the service trusts (immutable; read without any lock).
    pub fn verifier(&self) -> &Arc<Verifier> {
        &self.shared.verifier
    }

    /// The service's catalogue (immutable; read without any lock).
    pub fn catalogue(&self) -> &SharedCatalogue<M> {
        &self.shared.catalogue
    }

    /// What the service accepts at intake (see [`Limits`]).
    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    /// Follows the last committed sequence, e.g. to wake a push link on every commit.
    pub fn commits(&self) -> watch::Receiver<u64> {
        self.shared.committed.subscribe()
    }

    /// The panics of the domain's code the writer caught, by stage ([`DomainPanics`]).
    pub fn domain_panics(&self) -> &Arc<DomainPanics> {
        &self.shared.panics
    }

    /// How many requests wait for the writer right now.
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Acquire)
    }

    /// Finishes every request queued so far, then stops the writer and waits for it. Requests
    /// submitted afterwards, through any clone, fail with [`HostError::Stopped`].
    pub fn shutdown(&self) {
        // Not counted against the capacity: stopping must never be refused.
        let _ = self.queue.send(Job::Stop);
        let handle = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }

    fn submit(&self, request: Request<M>) -> Result<oneshot::Receiver<Answer>, HostError> {
        let capacity = self.shared.capacity;
        if self.shared.queued.fetch_add(1, Ordering::AcqRel) >= capacity {
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(HostError::Overloaded { capacity });
        }
        let (reply, answer) = oneshot::channel();
        if self.queue.send(Job::Work { request, reply }).is_err() {
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(HostError::Stopped);
        }
        Ok(answer)
    }

    fn command_reply(
        reply: Result<Answer, oneshot::error::RecvError>,
    ) -> Result<Vec<StoredEvent>, HostError> {
        match reply.map_err(|_| HostError::Stopped)??.0 {
            Reply::Command(result) => Ok(result?),
            Reply::External(_) => unreachable!("a command is answered with a command reply"),
        }
    }

    /// The report of external events; their [`Spent`] events are dropped here, on the
    /// caller's thread.
    fn external_reply(
        reply: Result<Answer, oneshot::error::RecvError>,
    ) -> Result<PutReport, HostError> {
        match reply.map_err(|_| HostError::Stopped)??.0 {
            Reply::External(report) => Ok(report?),
            Reply::Command(_) => unreachable!("external events are answered with a report"),
        }
    }
}

/// Runs `work` on tokio's blocking pool (signature checks, a long page's decoding), so an
/// async worker never waits for it. A panic in it goes on in the caller; a pool that is
/// shutting down means the host is stopping.
async fn on_blocking_pool<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, HostError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => Ok(done),
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(_) => Err(HostError::Stopped),
    }
}

fn write_loop<M: Model>(
    shared: &Shared<M>,
    mut jobs: mpsc::UnboundedReceiver<Job<M>>,
    mut env: Box<dyn Env>,
) {
    let mut stopping = false;
    while !stopping {
        let mut requests = Vec::new();
        let mut replies = Vec::new();
        let mut next = jobs.blocking_recv();
        let closed = next.is_none();
        while let Some(job) = next {
            match job {
                Job::Work { request, reply } => {
                    shared.queued.fetch_sub(1, Ordering::AcqRel);
                    requests.push(request);
                    replies.push(reply);
                }
                Job::Stop => {
                    stopping = true;
                    break;
                }
            }
            if requests.len() == MAX_BATCH_REQUESTS {
                break;
            }
            next = jobs.try_recv().ok();
        }
        if closed {
            return; // every sender is gone
        }
        if requests.is_empty() {
            continue;
        }
        let result = {
            let mut core = shared.core.write().unwrap_or_else(|p| p.into_inner());
            core.execute_handing_back(&*shared.store, &mut *env, requests)
        };
        // A model the domain's code cannot rebuild is not retried while idle: the same replay
        // would fail the same way (see `recover_while_idle`).
        let failed = matches!(&result, Err(error) if !matches!(error, StoreError::Model(_)));
        match result {
            Ok(answers) => {
                if let Ok(last) = shared.store.last_sequence() {
                    shared.committed.send_if_modified(|current| {
                        let moved = *current != last;
                        *current = last;
                        moved
                    });
                }
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(Ok(answer));
                }
            }
            Err(error) => {
                for reply in replies {
                    let _ = reply.send(Err(HostError::Store(error.clone())));
                }
            }
        }
        if failed && !stopping {
            recover_while_idle(shared, &jobs);
        }
    }
}

/// After a batch failed with the store, the model may be stale: its rebuild needed the
/// store too. The next batch would rebuild it first, but a quiet service may get none for a
/// long time, and its queries would show a model emptied by the failed rebuild. So while no
/// request waits, the writer tries again, backing off from a tenth of a second to five, and
/// asking the store whether it answers (without the lock) before each replay. A model the
/// domain's code cannot rebuild ([`StoreError::Model`]) is not retried while idle.
fn recover_while_idle<M: Model>(shared: &Shared<M>, jobs: &mpsc::UnboundedReceiver<Job<M>>) {
    const TICK: Duration = Duration::from_millis(100);
    const LONGEST: Duration = Duration::from_secs(5);
    if !shared
        .core
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .is_stale()
    {
        return;
    }
    let mut wait = TICK;
    let mut warned = false;
    loop {
        // Waits in ticks, so a request (or the stop) that arrives meanwhile is taken at once.
        let mut waited = Duration::ZERO;
        while waited < wait {
            if !jobs.is_empty() || jobs.is_closed() {
                return;
            }
            std::thread::sleep(TICK);
            waited += TICK;
        }
        wait = (wait * 2).min(LONGEST);
        if shared.store.last_sequence().is_err() {
            continue;
        }
        let mut core = shared.core.write().unwrap_or_else(|p| p.into_inner());
        if !core.is_stale() {
            return;
        }
        match core.recover(&*shared.store) {
            Ok(()) => {
                tracing::info!(service = %core.name(), "the model is rebuilt from the store");
                return;
            }
            Err(error @ StoreError::Model(_)) => {
                // The domain's code fails on what is stored: the same replay would fail the
                // same way every five seconds, holding the lock (and counting a panic) each
                // time. A fix of the code helps, not a retry; the next request tries again.
                // (Met here when the store answered again only to show such an event.)
                tracing::error!(service = %core.name(), %error, "the model cannot be rebuilt: the domain's code fails on a stored event; not retrying while idle");
                return;
            }
            Err(error) if !warned => {
                warned = true;
                tracing::warn!(service = %core.name(), %error, "the model cannot be rebuilt yet; trying again while idle");
            }
            Err(_) => {}
        }
    }
}
