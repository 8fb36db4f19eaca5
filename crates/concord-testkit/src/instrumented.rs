//! A store wrapper for tests and benchmarks: counts commits and can be told to fail, so code
//! above the store can be checked against a full disk or measured for group commit — without
//! every test writing its own delegating wrapper.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use concord_core::event::{CloudEvent, StoredEvent};
use concord_core::store::{
    AppendOutcome, DeadLetter, EventAppender, EventReader, LinkCursor, LinkUpdate, ReadPage,
    ReadQuery, StoreError,
};

/// Wraps any store. While `fail_appends` is set every append fails and stores nothing; while
/// `fail_reads` is set reads, counts and membership checks fail; `hold_reads` and
/// `hold_appends` make reads and appends wait. Replay and cursors work unless
/// `fail_replays` is set too (a store down altogether, as a database server can be: the
/// service's rebuild of its model after a failed append then fails as well).
#[derive(Default)]
pub struct InstrumentedStore<S> {
    pub inner: S,
    pub fail_appends: AtomicBool,
    pub fail_reads: AtomicBool,
    /// While set, `replay` fails (not part of [`InstrumentedStore::set_failing`]).
    pub fail_replays: AtomicBool,
    /// While set, `read` waits (a service slow to answer a page: its request cannot finish
    /// until the test clears it).
    pub hold_reads: AtomicBool,
    /// While set, `append` waits (a commit that takes its time: what a service does
    /// meanwhile can be watched).
    pub hold_appends: AtomicBool,
    appends: AtomicU64,
    reads: AtomicU64,
    replays: AtomicU64,
}

impl<S> InstrumentedStore<S> {
    pub fn new(inner: S) -> Self {
        InstrumentedStore {
            inner,
            fail_appends: AtomicBool::new(false),
            fail_reads: AtomicBool::new(false),
            fail_replays: AtomicBool::new(false),
            hold_reads: AtomicBool::new(false),
            hold_appends: AtomicBool::new(false),
            appends: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            replays: AtomicU64::new(0),
        }
    }

    /// Sets both failure switches at once.
    pub fn set_failing(&self, failing: bool) {
        self.fail_appends.store(failing, Ordering::SeqCst);
        self.fail_reads.store(failing, Ordering::SeqCst);
    }

    /// How many appends (transactions) were attempted.
    pub fn appends(&self) -> u64 {
        self.appends.load(Ordering::Relaxed)
    }

    /// How many pages were asked for with `read` (counted as they are asked, before any
    /// hold).
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::SeqCst)
    }

    /// How many replays (model rebuilds) were asked for, failed ones included.
    pub fn replays(&self) -> u64 {
        self.replays.load(Ordering::SeqCst)
    }

    fn hold(flag: &AtomicBool) {
        while flag.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    fn check(flag: &AtomicBool) -> Result<(), StoreError> {
        if flag.load(Ordering::SeqCst) {
            return Err(StoreError::Backend("storage failure (injected)".into()));
        }
        Ok(())
    }
}

impl<S: EventReader> EventReader for InstrumentedStore<S> {
    fn read(&self, query: &ReadQuery) -> Result<ReadPage, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        Self::hold(&self.hold_reads);
        Self::check(&self.fail_reads)?;
        self.inner.read(query)
    }
    fn replay(&self, after: u64, sink: &mut dyn FnMut(&StoredEvent)) -> Result<u64, StoreError> {
        self.replays.fetch_add(1, Ordering::SeqCst);
        Self::check(&self.fail_replays)?;
        self.inner.replay(after, sink)
    }
    fn lookup(&self, ids: &[&str]) -> Result<Vec<Option<CloudEvent>>, StoreError> {
        Self::check(&self.fail_reads)?;
        self.inner.lookup(ids)
    }
    fn count(&self) -> Result<u64, StoreError> {
        Self::check(&self.fail_reads)?;
        self.inner.count()
    }
    fn last_sequence(&self) -> Result<u64, StoreError> {
        Self::check(&self.fail_reads)?;
        self.inner.last_sequence()
    }
    fn store_id(&self) -> &str {
        self.inner.store_id()
    }
    fn link_cursor(&self, link: &str) -> Result<LinkCursor, StoreError> {
        self.inner.link_cursor(link)
    }
    fn dead_letters(&self, link: &str, limit: usize) -> Result<(u64, Vec<DeadLetter>), StoreError> {
        Self::check(&self.fail_reads)?;
        self.inner.dead_letters(link, limit)
    }
}

impl<S: EventAppender> EventAppender for InstrumentedStore<S> {
    fn append(
        &self,
        events: &[CloudEvent],
        links: &[LinkUpdate],
    ) -> Result<Vec<AppendOutcome>, StoreError> {
        self.appends.fetch_add(1, Ordering::Relaxed);
        Self::hold(&self.hold_appends);
        Self::check(&self.fail_appends)?;
        self.inner.append(events, links)
    }
}
