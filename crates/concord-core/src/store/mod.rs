//! Event-store traits: a reading half and an appending half, joined as [`EventStore`].
//!
//! Every backend promises the same things, and [`conformance`] checks them:
//! - **Exact idempotence.** An id is stored at most once, forever; appending it again reports
//!   [`AppendOutcome::Duplicate`] (also for a repeat inside the same batch).
//! - **Atomic batches.** A batch, together with the link cursors handed with it, is committed
//!   whole or not at all, and is durable when `append` returns.
//! - **Commit-ordered sequences.** Sequences strictly increase in commit order, so a reader
//!   that has seen sequence `n` will never later find a new event below `n`.
//!
//! The traits are synchronous: the embedded backend is synchronous, the runtime keeps one
//! writer per store, and the simulator drives stores without an executor.

pub mod conformance;
pub mod instrumented;
pub mod memory;

pub use instrumented::InstrumentedStore;
pub use memory::MemoryStore;

use crate::event::{CloudEvent, DataFilter, StoredEvent};
use crate::scope::Scope;

/// The result of appending one event of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Stored at this sequence.
    Appended(u64),
    /// An event with this id was already stored (or came earlier in the same batch).
    Duplicate,
}

/// A link cursor to store in the same transaction as a batch: the position up to which the
/// link has consumed its peer, made durable exactly when the events it covers are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CursorUpdate<'a> {
    pub link: &'a str,
    pub position: u64,
}

/// What to read: events after a sequence, optionally filtered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadQuery {
    pub after: u64,
    pub limit: usize,
    /// Event types to include; empty means all.
    pub types: Vec<String>,
    /// Original sources to include; empty means all.
    pub sources: Vec<String>,
    /// Equality on top-level data fields; all must match.
    pub data: Vec<DataFilter>,
    /// What the reader may see at all (a peer's read scope); `None` means everything. Checked
    /// with the filters while the store scans, so events outside it are absent from the page
    /// while `next_after` and `has_more` still count them.
    pub scope: Option<Scope>,
}

impl ReadQuery {
    pub const DEFAULT_LIMIT: usize = 1000;
    pub const MAX_LIMIT: usize = 10_000;

    /// Everything after `after`, `limit` at a time.
    pub fn after(after: u64, limit: usize) -> Self {
        ReadQuery {
            after,
            limit,
            types: Vec::new(),
            sources: Vec::new(),
            data: Vec::new(),
            scope: None,
        }
    }

    /// Whether an event passes this query's filters and scope (the sequence bound aside).
    pub fn matches(&self, event: &CloudEvent) -> bool {
        (self.types.is_empty() || self.types.contains(&event.ty))
            && (self.sources.is_empty() || self.sources.contains(&event.source))
            && DataFilter::all_match(&self.data, &event.data)
            && self.scope.as_ref().is_none_or(|scope| scope.allows(event))
    }
}

/// One page of a read.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadPage {
    /// Matching events in ascending sequence, at most `limit` of them.
    pub events: Vec<StoredEvent>,
    /// The highest sequence examined (matching or not): the `after` of the next call, so a
    /// sparse filter never rescans what it skipped. Equal to the query's `after` when
    /// nothing was examined.
    pub next_after: u64,
    /// Whether the store held events after `next_after` when this page was read.
    pub has_more: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage failure: {0}")]
    Backend(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// The reading half of an event store.
pub trait EventReader: Send + Sync {
    /// A page of events after `query.after` that match its filters.
    fn read(&self, query: &ReadQuery) -> Result<ReadPage, StoreError>;

    /// Feeds every event after `after`, in sequence order, to `sink`; returns the last
    /// sequence fed (or `after`). The fast path for replaying a model at start-up.
    fn replay(&self, after: u64, sink: &mut dyn FnMut(StoredEvent)) -> Result<u64, StoreError>;

    /// Which of `ids` are stored.
    fn contains(&self, ids: &[&str]) -> Result<Vec<bool>, StoreError>;

    /// How many events are stored.
    fn count(&self) -> Result<u64, StoreError>;

    /// The highest sequence assigned so far (0 for an empty store).
    fn last_sequence(&self) -> Result<u64, StoreError>;

    /// A link's durable cursor (0 if the link has never stored one).
    fn cursor(&self, link: &str) -> Result<u64, StoreError>;
}

/// The appending half of an event store.
pub trait EventAppender: Send + Sync {
    /// Appends a batch atomically and durably, skipping ids already stored, and stores the
    /// given link cursors in the same transaction. Returns one outcome per event.
    fn append(
        &self,
        events: &[CloudEvent],
        cursors: &[CursorUpdate<'_>],
    ) -> Result<Vec<AppendOutcome>, StoreError>;
}

/// A complete event store.
pub trait EventStore: EventReader + EventAppender {}

impl<T: EventReader + EventAppender + ?Sized> EventStore for T {}

/// Reads a page by scanning candidate events in sequence order: the shared filtering logic for
/// backends that cannot filter data fields natively. `scan(after, max)` returns up to `max`
/// events after `after` whose type and source already match (or all events, if the backend
/// does not pre-filter), and whether it stopped early because `max` was reached.
pub fn read_by_scanning(
    query: &ReadQuery,
    last_sequence: u64,
    mut scan: impl FnMut(u64, usize) -> Result<(Vec<StoredEvent>, bool), StoreError>,
) -> Result<ReadPage, StoreError> {
    let limit = query.limit.clamp(1, ReadQuery::MAX_LIMIT);
    let mut events = Vec::new();
    let mut position = query.after;
    loop {
        let want = limit - events.len();
        let (chunk, truncated) = scan(position, want)?;
        for stored in chunk {
            position = stored.sequence;
            if query.matches(&stored.event) {
                events.push(stored);
            }
        }
        if events.len() >= limit || !truncated {
            if !truncated && events.len() < limit {
                // The scan examined everything up to the end of the store.
                position = position.max(last_sequence);
            }
            break;
        }
    }
    let next_after = position.max(query.after);
    Ok(ReadPage {
        events,
        has_more: last_sequence > next_after,
        next_after,
    })
}
