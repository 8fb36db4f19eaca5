//! Event-store traits: a reading half and an appending half, joined as [`EventStore`].
//!
//! Every backend promises the same things, and the conformance suite of `concord-testkit`
//! (`concord_testkit::store::run_all`) checks them:
//! - **Exact idempotence.** An id is stored at most once, forever; appending it again reports
//!   [`AppendOutcome::Duplicate`] (also for a repeat inside the same batch).
//! - **Atomic batches.** A batch, together with the link cursors handed with it, is committed
//!   whole or not at all, and is durable when `append` returns.
//! - **Commit-ordered sequences.** Sequences strictly increase in commit order, so a reader
//!   that has seen sequence `n` will never later find a new event below `n`.
//! - **An identity.** Each store has an id made when it was created ([`EventReader::store_id`]);
//!   a reader that remembers it can tell a store that was wiped or replaced from the one its
//!   cursor belongs to.
//! - **Link state with the batch.** A link's cursor, the peer store it belongs to, and the
//!   events the link refused (its dead letters) are written in the same transaction as the
//!   batch ([`LinkUpdate`]), so a refused event is never lost between two commits.
//!
//! The traits are synchronous: the embedded backend is synchronous, the runtime keeps one
//! writer per store, and the simulator drives stores without an executor.

pub mod memory;

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

/// Where a link stands in its peer's log: the position up to which it has consumed it, and
/// the identity of the peer store that position belongs to (when the peer told).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkCursor {
    pub position: u64,
    pub peer_store: Option<String>,
}

/// An event a link could not carry: refused by this service (pull) or by the peer (push),
/// kept durably with the reason until an operator re-delivers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// The event's id; for an event too broken to have one, a stand-in naming where it was.
    pub id: String,
    pub reason: String,
    /// When it was refused (RFC 3339).
    pub at: String,
    /// The event's JSON text, when there is one to re-deliver.
    pub event: Option<String>,
}

/// What a link records in the same transaction as a batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkUpdate {
    pub link: String,
    /// The link's new cursor, made durable exactly when the events it covers are.
    pub cursor: Option<LinkCursor>,
    /// Events refused on this link (kept, replacing an earlier letter of the same id).
    pub dead_letters: Vec<DeadLetter>,
    /// Ids of dead letters that have now been carried, to forget.
    pub resolved: Vec<String>,
}

impl LinkUpdate {
    /// Moves `link`'s cursor to `position`.
    pub fn cursor(link: impl Into<String>, position: u64) -> Self {
        LinkUpdate {
            link: link.into(),
            cursor: Some(LinkCursor {
                position,
                peer_store: None,
            }),
            ..LinkUpdate::default()
        }
    }
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
    /// Stop a page once its events hold this many bytes of JSON (at least one event is
    /// returned): pages stay within what a peer's body and memory limits admit.
    pub max_bytes: Option<usize>,
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
            max_bytes: None,
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

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("storage failure: {0}")]
    Backend(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The store answered, but the model could not be built from it: the domain's code
    /// panicked replaying it. Not the store's fault; a fix of the code, not a retry, helps.
    #[error("the model cannot be rebuilt: {0}")]
    Model(String),
}

/// The reading half of an event store.
pub trait EventReader: Send + Sync {
    /// A page of events after `query.after` that match its filters.
    fn read(&self, query: &ReadQuery) -> Result<ReadPage, StoreError>;

    /// Feeds every event after `after`, in sequence order, to `sink`; returns the last
    /// sequence fed (or `after`). The fast path for replaying a model at start-up: a store
    /// may skip re-checking the data's JSON ([`CloudEvent::from_replayed_parts`]), so what it
    /// feeds is for a model, not for relaying; pages to serve come from [`EventReader::read`].
    ///
    /// Each event is lent to `sink` for the call only: a store may refill the same event with
    /// the next row ([`CloudEvent::refill_from_replayed_parts`]), so that building the events
    /// of a replay allocates little more than each event's id. A sink that keeps events clones
    /// them.
    fn replay(&self, after: u64, sink: &mut dyn FnMut(&StoredEvent)) -> Result<u64, StoreError>;

    /// Which of `ids` are stored.
    fn contains(&self, ids: &[&str]) -> Result<Vec<bool>, StoreError> {
        Ok(self.lookup(ids)?.iter().map(Option::is_some).collect())
    }

    /// The stored events with these ids (`None` where an id is not stored), in order.
    fn lookup(&self, ids: &[&str]) -> Result<Vec<Option<CloudEvent>>, StoreError>;

    /// How many events are stored.
    fn count(&self) -> Result<u64, StoreError>;

    /// The highest sequence assigned so far (0 for an empty store).
    fn last_sequence(&self) -> Result<u64, StoreError>;

    /// This store's identity, made when it was created and never changed.
    fn store_id(&self) -> &str;

    /// A link's durable cursor (position 0, no peer store, if it has never stored one).
    fn link_cursor(&self, link: &str) -> Result<LinkCursor, StoreError>;

    /// A link's durable cursor position (0 if the link has never stored one).
    fn cursor(&self, link: &str) -> Result<u64, StoreError> {
        self.link_cursor(link).map(|cursor| cursor.position)
    }

    /// How many dead letters a link holds, and up to `limit` of them, oldest first.
    fn dead_letters(&self, link: &str, limit: usize) -> Result<(u64, Vec<DeadLetter>), StoreError>;
}

/// The appending half of an event store.
pub trait EventAppender: Send + Sync {
    /// Appends a batch atomically and durably, skipping ids already stored, and applies the
    /// link updates in the same transaction. Returns one outcome per event.
    fn append(
        &self,
        events: &[CloudEvent],
        links: &[LinkUpdate],
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
    if query.after >= last_sequence {
        // Nothing lies beyond the end; not even asked of the backend, so an `after` no
        // database integer can hold is an empty page rather than a storage error.
        return Ok(page(query, Vec::new(), query.after, last_sequence));
    }
    let limit = query.limit.clamp(1, ReadQuery::MAX_LIMIT);
    let mut events: Vec<StoredEvent> = Vec::new();
    // The last sequence examined: everything up to it is either in the page or filtered out.
    let mut position = query.after;
    let mut bytes = 0usize;
    loop {
        let want = limit - events.len();
        let (chunk, truncated) = scan(position, want)?;
        events.reserve(chunk.len());
        for stored in chunk {
            let sequence = stored.sequence;
            if query.matches(&stored.event) {
                let size = stored.event.encoded_len();
                let over = query
                    .max_bytes
                    .is_some_and(|max| !events.is_empty() && bytes + size > max);
                if over {
                    // Full by bytes: this event starts the next page.
                    return Ok(page(query, events, position, last_sequence));
                }
                bytes += size;
                events.push(stored);
            }
            position = sequence;
        }
        if events.len() >= limit || !truncated {
            if !truncated && events.len() < limit {
                // The scan examined everything up to the end of the store.
                position = position.max(last_sequence);
            }
            return Ok(page(query, events, position, last_sequence));
        }
    }
}

fn page(query: &ReadQuery, events: Vec<StoredEvent>, position: u64, last: u64) -> ReadPage {
    let next_after = position.max(query.after);
    ReadPage {
        events,
        has_more: last > next_after,
        next_after,
    }
}
