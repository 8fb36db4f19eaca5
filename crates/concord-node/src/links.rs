//! The link runner: one tokio task per link, driving the sans-IO [`PullLink`]/[`PushLink`]
//! with a [`Transport`] and the service's [`Host`].
//!
//! A push link wakes on every local commit (low latency) and otherwise on its interval; a
//! pull link runs on its interval, and straight again while its peer says there is more. A
//! failing peer is retried with exponential backoff and jitter (the state machines decide
//! when). `POST /api/sync` runs every link now until it has nothing more to carry; the two
//! repairs — reset a link's cursor, re-deliver its dead letters — run under the link's round
//! lock, so they never interleave with a round.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use concord_core::event::{CloudEvent, Limits, Timestamp};
use concord_core::host::{Host, HostError};
use concord_core::runtime::{External, Intake, Verified};
use concord_core::store::{EventStore, LinkUpdate, StoreError};
use concord_core::Model;
use concord_http::{
    LinkRun, Metrics, Repair, RepairFuture, SyncControl, SyncError, SyncFuture, SyncRun, SyncStatus,
};
use concord_sync::{
    Direction, LinkCore, LinkSpec, LinkStatus, Page, PageRequest, PullLink, PushLink, PushStep,
    SyncLink, TransportError,
};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::transport::Transport;

/// Rounds one "synchronise now" runs per link at most, so a peer that keeps producing cannot
/// hold the request forever.
const MAX_ROUNDS_NOW: usize = 10_000;

/// Pages one push round carries at most, each delivered while the one before is saved: a
/// round holds the link's turn, so "synchronise now" (its round count), the repairs and a
/// stop never wait for a whole backlog. With more to do, the next round starts at once.
const MAX_PAGES_PER_PUSH_ROUND: usize = 16;

/// How many rejections `GET /api/sync` lists per link (the count covers them all).
const LISTED_REJECTIONS: usize = 20;

/// How many dead letters one re-delivery takes on.
const MAX_RETRY: usize = 1000;

enum Machine {
    Pull(PullLink),
    Push(PushLink),
}

impl SyncLink for Machine {
    fn core(&self) -> &LinkCore {
        match self {
            Machine::Pull(link) => link.core(),
            Machine::Push(link) => link.core(),
        }
    }

    fn core_mut(&mut self) -> &mut LinkCore {
        match self {
            Machine::Pull(link) => link.core_mut(),
            Machine::Push(link) => link.core_mut(),
        }
    }

    fn interrupted(&mut self, now: Timestamp) {
        match self {
            Machine::Pull(link) => link.interrupted(now),
            Machine::Push(link) => link.interrupted(now),
        }
    }

    fn reset(&mut self, now: Timestamp) -> LinkUpdate {
        match self {
            Machine::Pull(link) => link.reset(now),
            Machine::Push(link) => link.reset(now),
        }
    }
}

/// A pull link's page fetched ahead, while the page before it committed: the request it
/// answers, and the answer — its events taken out, their signatures checked and decoded.
type Prefetched<E> = (PageRequest, Result<(Page, Verified<E>), TransportError>);

/// A pull link's page asked for two ahead, as soon as the page before it arrived: the peer
/// serves it while this service checks that page and commits the one before, so serving,
/// checking and committing overlap (the signed pull, whose checking is heaviest, gained most;
/// README, Benchmarks). Dropping it cancels the request (a reset, a failed commit, a round
/// that wants another page, the links being dropped when the node stops). Whether it is
/// dropped or not, its answer is only used for the round that asks for that same page.
struct Requested {
    request: PageRequest,
    answer: JoinHandle<Result<Page, TransportError>>,
}

impl Drop for Requested {
    fn drop(&mut self) {
        self.answer.abort();
    }
}

/// One link; `E` is the service's decoded event, which a page fetched ahead holds.
struct Link<E> {
    spec: LinkSpec,
    machine: Mutex<Machine>,
    /// Kept only between two rounds of one pull link, under its `round` turn.
    prefetched: Mutex<Option<Prefetched<E>>>,
    /// The page after the prefetched one, being fetched; same turn.
    requested: Mutex<Option<Requested>>,
    /// Held for a whole round, so the background task, "synchronise now" and the repairs
    /// take turns.
    round: tokio::sync::Mutex<()>,
    wake: Notify,
}

impl<E> Link<E> {
    fn machine(&self) -> std::sync::MutexGuard<'_, Machine> {
        self.machine.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn requested(&self) -> std::sync::MutexGuard<'_, Option<Requested>> {
        self.requested.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets the pages fetched ahead, cancelling the one still being fetched.
    fn forget_ahead(&self) {
        self.prefetched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        self.requested().take();
    }
}

/// Reports a round to its link as interrupted if it is dropped before it finishes.
struct Interrupted<'a, E> {
    link: &'a Link<E>,
    finished: bool,
}

impl<E> Drop for Interrupted<'_, E> {
    fn drop(&mut self) {
        if !self.finished {
            self.link.machine().interrupted(now());
        }
    }
}

/// All links of one service.
pub struct Links<M: Model> {
    host: Host<M>,
    transport: Arc<dyn Transport>,
    links: Vec<Arc<Link<M::Event>>>,
    /// Where pulled events' outcomes are counted.
    metrics: Arc<Metrics>,
}

/// The wall clock, the one place the shell reads it for the links.
pub fn now() -> Timestamp {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_unix_nanos(since_epoch.as_nanos() as i128)
}

impl<M: Model> Links<M> {
    /// Links resuming from the cursors durable in the host's store.
    pub fn new(
        host: Host<M>,
        specs: Vec<LinkSpec>,
        transport: Arc<dyn Transport>,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Self>, StoreError> {
        let start = now();
        let mut links = Vec::with_capacity(specs.len());
        for (i, spec) in specs.into_iter().enumerate() {
            let cursor = host.store().link_cursor(&spec.name)?;
            let seed = start.unix_nanos() as u64 ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let machine = match spec.direction {
                Direction::Pull => Machine::Pull(PullLink::new(spec.clone(), cursor, start, seed)),
                Direction::Push => Machine::Push(PushLink::new(spec.clone(), cursor, start, seed)),
            };
            links.push(Arc::new(Link {
                spec,
                machine: Mutex::new(machine),
                prefetched: Mutex::new(None),
                requested: Mutex::new(None),
                round: tokio::sync::Mutex::new(()),
                wake: Notify::new(),
            }));
        }
        Ok(Arc::new(Links {
            host,
            transport,
            links,
            metrics,
        }))
    }

    /// Each link's lag right now (its status's `pending`), by name: what the sync panel's
    /// chart samples.
    pub fn lags(&self) -> Vec<(String, Option<u64>)> {
        self.links
            .iter()
            .map(|link| (link.spec.name.clone(), link.machine().status().pending))
            .collect()
    }

    /// Starts one task per link; they stop when `stop` turns true.
    pub fn spawn(self: &Arc<Self>, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        (0..self.links.len())
            .map(|i| tokio::spawn(Arc::clone(self).run(i, stop.clone())))
            .collect()
    }

    async fn run(self: Arc<Self>, index: usize, mut stop: watch::Receiver<bool>) {
        let link = Arc::clone(&self.links[index]);
        let mut commits = self.host.commits();
        let wakes_on_commit = link.spec.direction == Direction::Push;
        loop {
            if *stop.borrow() {
                return;
            }
            // A stopped link (no due time) sleeps until an operator's reset wakes it.
            let wait = link
                .machine()
                .due_at()
                .map_or(Duration::from_secs(3600), |due| {
                    let nanos = (due.unix_nanos() - now().unix_nanos()).max(0);
                    Duration::from_nanos(nanos as u64)
                });
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = link.wake.notified() => {}
                changed = commits.changed(), if wakes_on_commit => {
                    if changed.is_ok() {
                        link.machine().schedule().wake(now());
                    }
                    continue;
                }
                _ = stop.changed() => return,
            }
            let _turn = link.round.lock().await;
            // Stopping must not wait for a peer that does not answer. Dropping a round midway
            // is safe: cursors move only with the events they cover or after a delivery.
            tokio::select! {
                _ = self.round(&link) => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// One round of a link, if it is due; returns whether one ran. A round dropped midway
    /// (the "synchronise now" request that ran it was cancelled) tells the link so, which
    /// would otherwise wait for its answer for good.
    async fn round(&self, link: &Arc<Link<M::Event>>) -> bool {
        let mut guard = Interrupted {
            link,
            finished: false,
        };
        let is_pull = matches!(*link.machine(), Machine::Pull(_));
        let ran = if is_pull {
            self.pull_round(link).await
        } else {
            self.push_round(link).await
        };
        guard.finished = true;
        ran
    }

    /// One page: fetched (or taken from the one fetched ahead during the last commit),
    /// applied with its cursor; over a transport that allows it, the next page is fetched
    /// while this one commits.
    async fn pull_round(&self, link: &Arc<Link<M::Event>>) -> bool {
        let query = match &mut *link.machine() {
            Machine::Pull(pull) => pull.start(now()),
            Machine::Push(_) => None,
        };
        let Some(query) = query else { return false };
        let ahead = link
            .prefetched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .filter(|(asked, _)| *asked == query);
        let limits = self.host.limits();
        let (fetched, verified) = match ahead {
            Some((_, Ok((page, verified)))) => (Ok(page), Some(verified)),
            Some((_, Err(error))) => (Err(error), None),
            None => (self.transport.fetch(&link.spec, &query, limits).await, None),
        };
        let (step, next) = match &mut *link.machine() {
            Machine::Pull(pull) => {
                let step = pull.fetched(now(), fetched);
                (step, pull.prefetch())
            }
            Machine::Push(_) => (None, None),
        };
        if let Some(step) = step {
            let position = step.link.cursor.as_ref().map_or(0, |c| c.position);
            // A page fetched ahead went through the link without its events (checked and
            // decoded meanwhile); they join its update again here.
            let kinds = match &verified {
                Some(page) => concord_http::metrics::EventKinds::of(page.events()),
                None => concord_http::metrics::EventKinds::of(&step.events),
            };
            let apply = async {
                match verified {
                    Some(page) => self.host.take_verified(page, step.link).await,
                    None => {
                        let external = External::from_link(step.events, step.link);
                        self.host.take(external).await
                    }
                }
            };
            let (applied, ahead) = match next.filter(|_| self.transport.pipelines(&link.spec)) {
                Some(next) => {
                    let fetch = self.fetch_ahead(link, &next, limits);
                    let (applied, page) = tokio::join!(apply, fetch);
                    (applied, page.map(|page| (next, page)))
                }
                None => (apply.await, None),
            };
            if let Ok(report) = &applied {
                self.metrics.record_intake(&kinds, report);
            }
            let durable = applied.is_ok();
            if let Machine::Pull(pull) = &mut *link.machine() {
                pull.applied(now(), applied.as_ref());
            }
            // Only now, with the events and the cursor durable, may a broker forget them.
            if durable {
                self.transport.acknowledge(&link.spec, position).await;
                *link.prefetched.lock().unwrap_or_else(|p| p.into_inner()) = ahead;
            } else {
                link.forget_ahead();
            }
        }
        self.log_outcome(link);
        true
    }

    /// Fetches the page `next` (or takes it from the request made a round ago), asks for the
    /// page after it at once, then checks its signatures and decodes it — all while the page
    /// before it commits.
    /// `None` if the host stopped meanwhile (the round's commit fails with it too).
    async fn fetch_ahead(
        &self,
        link: &Link<M::Event>,
        next: &PageRequest,
        limits: &Limits,
    ) -> Option<Result<(Page, Verified<M::Event>), TransportError>> {
        let requested = link.requested().take().filter(|r| r.request == *next);
        let fetched = match requested {
            Some(mut requested) => match (&mut requested.answer).await {
                Ok(answer) => answer,
                Err(error) => Err(TransportError::Unreachable(format!(
                    "fetching the page ahead stopped: {error}"
                ))),
            },
            None => self.transport.fetch(&link.spec, next, limits).await,
        };
        let mut page = match fetched {
            Ok(page) => page,
            Err(error) => return Some(Err(error)),
        };
        let after = match &*link.machine() {
            Machine::Pull(pull) => pull.after(&page),
            Machine::Push(_) => None,
        };
        if let Some(request) = after {
            *link.requested() = Some(self.request(&link.spec, request, *limits));
        }
        let events = std::mem::take(&mut page.events);
        let verified = self.host.verify_page(events).await.ok()?;
        Some(Ok((page, verified)))
    }

    /// Starts fetching `request` on its own task.
    fn request(&self, spec: &LinkSpec, request: PageRequest, limits: Limits) -> Requested {
        let transport = Arc::clone(&self.transport);
        let (spec, query) = (spec.clone(), request.clone());
        let answer = tokio::spawn(async move { transport.fetch(&spec, &query, &limits).await });
        Requested { request, answer }
    }

    async fn push_round(&self, link: &Arc<Link<M::Event>>) -> bool {
        let store = Arc::clone(self.host.store());
        let reader = Arc::clone(link);
        let step = tokio::task::spawn_blocking(move || match &mut *reader.machine() {
            Machine::Push(push) => push.start(now(), &*store).unwrap_or(PushStep::Idle),
            Machine::Pull(_) => PushStep::Idle,
        })
        .await
        .unwrap_or(PushStep::Idle);
        if step == PushStep::Idle {
            return false;
        }
        // A failure is the link's to report (its status), not the round's caller's.
        let _ = self.drive_push(link, step).await;
        self.log_outcome(link);
        true
    }

    /// Carries out a push link's steps until the round is over: delivers each batch it asks
    /// for, then stores what it says to store. Over a transport that allows it, the next page
    /// is delivered while a page's save commits, so one call may carry several pages.
    async fn drive_push(
        &self,
        link: &Arc<Link<M::Event>>,
        mut step: PushStep,
    ) -> Result<(), HostError> {
        let mut pages = 1;
        loop {
            step = match step {
                PushStep::Idle => return Ok(()),
                PushStep::Deliver(batch) => self.deliver(link, batch).await,
                PushStep::Save(update) => {
                    let save = self.host.take(External::from_link(Vec::new(), update));
                    let ahead =
                        pages < MAX_PAGES_PER_PUSH_ROUND && self.transport.pipelines(&link.spec);
                    let saved = if ahead {
                        pages += 1;
                        tokio::join!(save, self.deliver_ahead(link)).0
                    } else {
                        save.await
                    };
                    let next = match &mut *link.machine() {
                        Machine::Push(push) => push.saved(now(), saved.as_ref().map(drop)),
                        Machine::Pull(_) => PushStep::Idle,
                    };
                    saved?;
                    next
                }
            }
        }
    }

    /// Delivers one batch and reports the answer.
    async fn deliver(&self, link: &Link<M::Event>, batch: concord_sync::Batch) -> PushStep {
        let delivered = self.transport.deliver(&link.spec, batch.events()).await;
        match &mut *link.machine() {
            Machine::Push(push) => push.delivered(now(), batch, delivered),
            Machine::Pull(_) => PushStep::Idle,
        }
    }

    /// While a push link's save commits: the next page's deliveries, as far as they go
    /// before that page's own save, which the link hands out only once the save before it
    /// is reported.
    async fn deliver_ahead(&self, link: &Arc<Link<M::Event>>) {
        let store = Arc::clone(self.host.store());
        let reader = Arc::clone(link);
        let read = tokio::task::spawn_blocking(move || match &mut *reader.machine() {
            Machine::Push(push) => push.ahead(now(), &*store),
            Machine::Pull(_) => Ok(PushStep::Idle),
        })
        .await;
        let mut step = match read {
            Ok(Ok(step)) => step,
            Ok(Err(error)) => {
                tracing::warn!(link = %link.spec.name, %error, "reading ahead in the local log failed");
                return;
            }
            Err(_) => return,
        };
        while let PushStep::Deliver(batch) = step {
            step = self.deliver(link, batch).await;
        }
    }

    fn log_outcome(&self, link: &Link<M::Event>) {
        let machine = link.machine();
        let status = machine.status();
        if machine.is_stopped() {
            tracing::error!(link = %status.name, error = ?status.last_error, "link stopped; reset its cursor to resume");
        } else if let Some(error) = &status.last_error {
            // A peer starting up or restarting fails a round or two; only persistence is news.
            if status.failures >= 3 {
                tracing::warn!(link = %status.name, failures = status.failures, %error, "link round failed");
            } else {
                tracing::info!(link = %status.name, failures = status.failures, %error, "link round failed; retrying");
            }
        } else {
            tracing::debug!(link = %status.name, cursor = status.cursor, carried = status.carried, "link round");
        }
    }

    /// Every link's status, with its dead letters as the store holds them.
    pub fn statuses(&self) -> Result<Vec<LinkStatus>, StoreError> {
        self.links
            .iter()
            .map(|link| {
                let status = link.machine().status().clone();
                let (count, oldest) = self
                    .host
                    .store()
                    .dead_letters(&link.spec.name, LISTED_REJECTIONS)?;
                Ok(status.with_dead_letters(count, &oldest))
            })
            .collect()
    }

    /// `GET /api/sync`.
    pub fn status(&self) -> SyncStatus {
        match self.statuses() {
            Ok(links) => SyncStatus {
                links,
                ..SyncStatus::default()
            },
            Err(error) => {
                tracing::warn!(%error, "cannot read the links' dead letters");
                let links: Vec<LinkStatus> = self
                    .links
                    .iter()
                    .map(|link| link.machine().status().clone())
                    .collect();
                SyncStatus {
                    links,
                    error: Some(error.to_string()),
                    ..SyncStatus::default()
                }
            }
        }
    }

    /// `POST /api/sync`: every link, now, until it has nothing more to carry (or fails).
    pub async fn sync_now(&self) -> SyncRun {
        let mut summaries = Vec::with_capacity(self.links.len());
        for link in &self.links {
            let _turn = link.round.lock().await;
            let carried_before = link.machine().status().carried;
            link.machine().schedule().force(now());
            let mut rounds = 0;
            while rounds < MAX_ROUNDS_NOW {
                let due = link.machine().due_at().is_some_and(|due| due <= now());
                if !due || !self.round(link).await {
                    break;
                }
                rounds += 1;
                if link.machine().status().failures > 0 || link.machine().is_stopped() {
                    break;
                }
            }
            let rejected = dead_letter_count(self.host.store(), &link.spec.name)
                .await
                .unwrap_or_else(|error| {
                    tracing::warn!(link = %link.spec.name, %error, "cannot count the link's dead letters");
                    0
                });
            let machine = link.machine();
            let status = machine.status();
            summaries.push(LinkRun {
                name: status.name.clone(),
                peer: status.peer.clone(),
                direction: status.direction,
                state: status.state,
                rounds,
                carried: status.carried - carried_before,
                cursor: status.cursor,
                ok: status.failures == 0 && !machine.is_stopped(),
                last_error: status.last_error.clone(),
                rejected,
            });
            link.wake.notify_one();
        }
        SyncRun { links: summaries }
    }

    fn find(&self, name: &str) -> Result<&Arc<Link<M::Event>>, SyncError> {
        self.links
            .iter()
            .find(|link| link.spec.name == name)
            .ok_or_else(|| SyncError::UnknownLink(name.to_owned()))
    }

    /// `POST /api/sync/links/{name}/reset`.
    pub async fn reset(&self, name: &str) -> Result<Repair, SyncError> {
        let link = self.find(name)?;
        let _turn = link.round.lock().await;
        link.forget_ahead();
        let update = link.machine().reset(now());
        self.host
            .take(External::from_link(Vec::new(), update))
            .await?;
        tracing::warn!(link = %name, "link reset by the operator: it reads from the start again");
        link.wake.notify_one();
        Ok(Repair::Reset {
            link: name.to_owned(),
            cursor: 0,
        })
    }

    /// `POST /api/sync/links/{name}/retry`.
    pub async fn retry(&self, name: &str) -> Result<Repair, SyncError> {
        let link = self.find(name)?;
        let _turn = link.round.lock().await;
        let is_pull = matches!(*link.machine(), Machine::Pull(_));
        // A pulled event is judged by this service's limits again (they may have been
        // raised); a pushed one was this service's own, for the peer to judge.
        let limits = if is_pull {
            *self.host.limits()
        } else {
            Limits::UNBOUNDED
        };
        let store = Arc::clone(self.host.store());
        let key = name.to_owned();
        // Up to a thousand letters, each up to the largest event: read and parsed on the
        // blocking pool, as is every store call of this function, never on an async worker.
        let (before, events) = on_blocking_pool(move || {
            let (before, letters) = store.dead_letters(&key, MAX_RETRY)?;
            let events: Vec<CloudEvent> = letters
                .iter()
                .filter_map(|letter| letter.event.as_deref())
                .filter_map(|text| CloudEvent::parse(text, &limits).ok())
                .collect();
            Ok((before, events))
        })
        .await?;
        let retried = events.len();
        if is_pull {
            let retry = External {
                events,
                intake: Intake::EachEvent,
                link: Some(LinkUpdate {
                    link: name.to_owned(),
                    ..LinkUpdate::default()
                }),
                retrying: true,
                by_operator: false,
            };
            self.host.take(retry).await?;
        } else if retried > 0 {
            let step = match &mut *link.machine() {
                Machine::Push(push) => push.retry(now(), events),
                Machine::Pull(_) => PushStep::Idle,
            };
            self.drive_push(link, step).await?;
            if let Some(error) = link.machine().status().last_error.clone() {
                return Err(SyncError::Delivery(error));
            }
        }
        let after = dead_letter_count(self.host.store(), name).await?;
        Ok(Repair::Retry {
            link: name.to_owned(),
            retried,
            resolved: before.saturating_sub(after),
            rejected: after,
        })
    }
}

/// How many dead letters a link holds, counted on the blocking pool.
async fn dead_letter_count(store: &Arc<dyn EventStore>, link: &str) -> Result<u64, StoreError> {
    let (store, link) = (Arc::clone(store), link.to_owned());
    on_blocking_pool(move || store.dead_letters(&link, 0).map(|(count, _)| count)).await
}

/// Runs store work on the blocking pool, never on an async worker (a store call can be a
/// network round trip: PostgreSQL); a task that did not finish is a store failure.
async fn on_blocking_pool<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
}

impl<M: Model> SyncControl for Links<M> {
    fn status(&self) -> SyncStatus {
        Links::status(self)
    }

    fn run_now(&self) -> SyncFuture<'_> {
        Box::pin(self.sync_now())
    }

    fn reset<'a>(&'a self, link: &'a str) -> RepairFuture<'a> {
        Box::pin(Links::reset(self, link))
    }

    fn retry<'a>(&'a self, link: &'a str) -> RepairFuture<'a> {
        Box::pin(Links::retry(self, link))
    }
}
