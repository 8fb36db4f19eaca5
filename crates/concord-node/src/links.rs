//! The link runner: one tokio task per link, driving the sans-IO [`PullLink`]/[`PushLink`]
//! with a [`Transport`] and the service's [`Host`].
//!
//! A push link wakes on every local commit (low latency) and otherwise on its interval; a
//! pull link runs on its interval, and straight again while its peer says there is more. A
//! failing peer is retried with exponential backoff and jitter (the state machines decide
//! when). `POST /api/sync` runs every link now until it has nothing more to carry.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use concord_core::event::Timestamp;
use concord_core::host::Host;
use concord_core::store::StoreError;
use concord_core::Model;
use concord_http::{SyncControl, SyncFuture};
use concord_sync::{Direction, LinkSpec, PullLink, PushLink};
use serde_json::{json, Value};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::transport::Transport;

/// Rounds one "synchronise now" runs per link at most, so a peer that keeps producing cannot
/// hold the request forever.
const MAX_ROUNDS_NOW: usize = 10_000;

enum Machine {
    Pull(PullLink),
    Push(PushLink),
}

impl Machine {
    fn status(&self) -> &concord_sync::LinkStatus {
        match self {
            Machine::Pull(link) => link.status(),
            Machine::Push(link) => link.status(),
        }
    }

    fn due_at(&self) -> Option<Timestamp> {
        match self {
            Machine::Pull(link) => link.due_at(),
            Machine::Push(link) => link.due_at(),
        }
    }

    fn schedule(&mut self) -> &mut concord_sync::schedule::Schedule {
        match self {
            Machine::Pull(link) => link.schedule(),
            Machine::Push(link) => link.schedule(),
        }
    }
}

struct Link {
    spec: LinkSpec,
    machine: Mutex<Machine>,
    /// Held for a whole round, so the background task and "synchronise now" take turns.
    round: tokio::sync::Mutex<()>,
    wake: Notify,
}

impl Link {
    fn machine(&self) -> std::sync::MutexGuard<'_, Machine> {
        self.machine.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// All links of one service.
pub struct Links<M: Model> {
    host: Host<M>,
    transport: Arc<dyn Transport>,
    links: Vec<Arc<Link>>,
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
    ) -> Result<Arc<Self>, StoreError> {
        let start = now();
        let mut links = Vec::with_capacity(specs.len());
        for (i, spec) in specs.into_iter().enumerate() {
            let cursor = host.store().cursor(&spec.name)?;
            let seed = start.unix_nanos() as u64 ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let machine = match spec.direction {
                Direction::Pull => Machine::Pull(PullLink::new(spec.clone(), cursor, start, seed)),
                Direction::Push => Machine::Push(PushLink::new(spec.clone(), cursor, start, seed)),
            };
            links.push(Arc::new(Link {
                spec,
                machine: Mutex::new(machine),
                round: tokio::sync::Mutex::new(()),
                wake: Notify::new(),
            }));
        }
        Ok(Arc::new(Links {
            host,
            transport,
            links,
        }))
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
            let wait = link
                .machine()
                .due_at()
                .map_or(Duration::from_secs(1), |due| {
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

    /// One round of a link, if it is due; returns whether one ran.
    async fn round(&self, link: &Arc<Link>) -> bool {
        let is_pull = matches!(*link.machine(), Machine::Pull(_));
        if is_pull {
            self.pull_round(link).await
        } else {
            self.push_round(link).await
        }
    }

    async fn pull_round(&self, link: &Arc<Link>) -> bool {
        let query = match &mut *link.machine() {
            Machine::Pull(pull) => pull.start(now()),
            Machine::Push(_) => None,
        };
        let Some(query) = query else { return false };
        let fetched = self.transport.fetch(&link.spec, &query).await;
        let step = match &mut *link.machine() {
            Machine::Pull(pull) => pull.fetched(now(), fetched),
            Machine::Push(_) => None,
        };
        if let Some(step) = step {
            let position = step.cursor.position;
            let applied = self.host.put_events(step.events, Some(step.cursor)).await;
            let durable = applied.is_ok();
            if let Machine::Pull(pull) = &mut *link.machine() {
                pull.applied(now(), applied.as_ref().map_err(ToString::to_string));
            }
            // Only now, with the events and the cursor durable, may a broker forget them.
            if durable {
                self.transport.acknowledge(&link.spec, position).await;
            }
        }
        self.log_outcome(link);
        true
    }

    async fn push_round(&self, link: &Arc<Link>) -> bool {
        let store = Arc::clone(self.host.store());
        let reader = Arc::clone(link);
        let batch = tokio::task::spawn_blocking(move || match &mut *reader.machine() {
            Machine::Push(push) => push.start(now(), &*store).ok().flatten(),
            Machine::Pull(_) => None,
        })
        .await
        .ok()
        .flatten();
        let Some(batch) = batch else { return false };
        let delivered = if batch.events.is_empty() {
            Ok(()) // only events this link does not carry: just move the cursor
        } else {
            self.transport.deliver(&link.spec, &batch.events).await
        };
        let cursor = match &mut *link.machine() {
            Machine::Push(push) => push.delivered(now(), delivered),
            Machine::Pull(_) => None,
        };
        if let Some(cursor) = cursor {
            let saved = self.host.put_events(Vec::new(), Some(cursor)).await;
            if let Machine::Push(push) = &mut *link.machine() {
                push.saved(now(), saved.map(|_| ()).map_err(|e| e.to_string()));
            }
        }
        self.log_outcome(link);
        true
    }

    fn log_outcome(&self, link: &Link) {
        let machine = link.machine();
        let status = machine.status();
        if let Some(error) = &status.last_error {
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

    /// `GET /api/sync`.
    pub fn status(&self) -> Value {
        let links: Vec<Value> = self
            .links
            .iter()
            .map(|link| {
                let mut status =
                    serde_json::to_value(link.machine().status()).expect("status serializes");
                status["url"] = json!(link.spec.url);
                status["transport"] = json!(link.spec.transport);
                status
            })
            .collect();
        json!({ "links": links })
    }

    /// `POST /api/sync`: every link, now, until it has nothing more to carry (or fails).
    pub async fn sync_now(&self) -> Value {
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
                if link.machine().status().failures > 0 {
                    break;
                }
            }
            let machine = link.machine();
            let status = machine.status();
            summaries.push(json!({
                "name": status.name,
                "peer": status.peer,
                "direction": status.direction,
                "rounds": rounds,
                "carried": status.carried - carried_before,
                "cursor": status.cursor,
                "ok": status.failures == 0,
                "lastError": status.last_error,
                "rejected": status.rejected,
            }));
            link.wake.notify_one();
        }
        json!({ "links": summaries })
    }
}

impl<M: Model> SyncControl for Links<M> {
    fn status(&self) -> Value {
        Links::status(self)
    }

    fn run_now(&self) -> SyncFuture<'_> {
        Box::pin(self.sync_now())
    }
}
