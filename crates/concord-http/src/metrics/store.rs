//! [`MeteredStore`]: the service's store, seen through its metrics. Every append is a group
//! commit (the host appends once per batch), so timing `append` times commits; and a replay
//! that takes long says how far it got, so a large store's start is not silence.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use concord_core::event::{CloudEvent, StoredEvent};
use concord_core::store::{
    AppendOutcome, DeadLetter, EventAppender, EventReader, EventStore, LinkCursor, LinkUpdate,
    ReadPage, ReadQuery, StoreError,
};

use super::Metrics;

/// How often a long replay logs its progress.
const REPLAY_REPORT_EVERY: Duration = Duration::from_secs(2);

/// A store that reports its commits to [`Metrics`] and logs the progress of long replays;
/// everything else goes straight to the store it wraps.
pub struct MeteredStore {
    inner: Arc<dyn EventStore>,
    /// Weak: the metrics reach the host (its queue depth), which holds this store.
    metrics: Weak<Metrics>,
    /// The service's name, for the replay's log lines.
    service: String,
}

impl MeteredStore {
    pub fn new(inner: Arc<dyn EventStore>, metrics: &Arc<Metrics>, service: &str) -> Self {
        MeteredStore {
            inner,
            metrics: Arc::downgrade(metrics),
            service: service.to_owned(),
        }
    }
}

impl EventReader for MeteredStore {
    fn read(&self, query: &ReadQuery) -> Result<ReadPage, StoreError> {
        self.inner.read(query)
    }

    fn replay(&self, after: u64, sink: &mut dyn FnMut(&StoredEvent)) -> Result<u64, StoreError> {
        let total = self.inner.last_sequence().unwrap_or(0);
        let started = Instant::now();
        let mut next_report = started + REPLAY_REPORT_EVERY;
        let mut replayed = 0u64;
        let last = self.inner.replay(after, &mut |stored| {
            let sequence = stored.sequence;
            sink(stored);
            replayed += 1;
            // The clock is read once per thousand events: cheap, and often enough.
            if replayed.is_multiple_of(1024) && Instant::now() >= next_report {
                next_report = Instant::now() + REPLAY_REPORT_EVERY;
                let percent = (sequence * 100).checked_div(total).unwrap_or(100);
                tracing::info!(
                    service = %self.service,
                    replayed,
                    sequence,
                    last = total,
                    "replaying the store: {percent}%"
                );
            }
        })?;
        if started.elapsed() >= REPLAY_REPORT_EVERY {
            tracing::info!(
                service = %self.service,
                replayed,
                seconds = started.elapsed().as_secs_f64(),
                "replayed the store"
            );
        }
        Ok(last)
    }

    fn contains(&self, ids: &[&str]) -> Result<Vec<bool>, StoreError> {
        self.inner.contains(ids)
    }

    fn lookup(&self, ids: &[&str]) -> Result<Vec<Option<CloudEvent>>, StoreError> {
        self.inner.lookup(ids)
    }

    fn count(&self) -> Result<u64, StoreError> {
        self.inner.count()
    }

    fn last_sequence(&self) -> Result<u64, StoreError> {
        self.inner.last_sequence()
    }

    fn store_id(&self) -> &str {
        self.inner.store_id()
    }

    fn link_cursor(&self, link: &str) -> Result<LinkCursor, StoreError> {
        self.inner.link_cursor(link)
    }

    fn cursor(&self, link: &str) -> Result<u64, StoreError> {
        self.inner.cursor(link)
    }

    fn dead_letters(&self, link: &str, limit: usize) -> Result<(u64, Vec<DeadLetter>), StoreError> {
        self.inner.dead_letters(link, limit)
    }
}

impl EventAppender for MeteredStore {
    fn append(
        &self,
        events: &[CloudEvent],
        links: &[LinkUpdate],
    ) -> Result<Vec<AppendOutcome>, StoreError> {
        let started = Instant::now();
        let outcomes = self.inner.append(events, links)?;
        let seconds = started.elapsed().as_secs_f64();
        let Some(metrics) = self.metrics.upgrade() else {
            return Ok(outcomes);
        };
        let appended = |o: &AppendOutcome| matches!(o, AppendOutcome::Appended(_));
        metrics.stored(events, outcomes.iter().map(appended));
        let appended = outcomes.iter().filter(|o| appended(o)).count();
        if !events.is_empty() || !links.is_empty() {
            metrics.committed(seconds, appended);
        }
        Ok(outcomes)
    }
}
