//! An in-memory event store: the reference backend for tests and the simulator.
//!
//! Nothing here is durable; everything else the store traits promise holds, and the
//! conformance suite runs against it like any other backend.

use std::collections::HashMap;
use std::sync::RwLock;

use super::{
    read_by_scanning, AppendOutcome, CursorUpdate, EventAppender, EventReader, ReadPage, ReadQuery,
    StoreError,
};
use crate::event::{CloudEvent, StoredEvent};

#[derive(Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    events: Vec<StoredEvent>,
    ids: HashMap<std::sync::Arc<str>, u64>,
    cursors: HashMap<String, u64>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn inner(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    fn last_sequence(&self) -> u64 {
        self.events.last().map_or(0, |e| e.sequence)
    }

    /// Index of the first event with a sequence above `after`.
    fn position_after(&self, after: u64) -> usize {
        self.events.partition_point(|e| e.sequence <= after)
    }
}

impl EventReader for MemoryStore {
    fn read(&self, query: &ReadQuery) -> Result<ReadPage, StoreError> {
        let inner = self.inner();
        read_by_scanning(query, inner.last_sequence(), |after, max| {
            let start = inner.position_after(after);
            let mut chunk = Vec::new();
            for stored in &inner.events[start..] {
                if chunk.len() == max {
                    return Ok((chunk, true));
                }
                if query.matches(&stored.event) {
                    chunk.push(stored.clone());
                }
            }
            Ok((chunk, false))
        })
    }

    fn replay(&self, after: u64, sink: &mut dyn FnMut(StoredEvent)) -> Result<u64, StoreError> {
        let inner = self.inner();
        let mut last = after;
        for stored in &inner.events[inner.position_after(after)..] {
            last = stored.sequence;
            sink(stored.clone());
        }
        Ok(last)
    }

    fn contains(&self, ids: &[&str]) -> Result<Vec<bool>, StoreError> {
        let inner = self.inner();
        Ok(ids.iter().map(|id| inner.ids.contains_key(*id)).collect())
    }

    fn count(&self) -> Result<u64, StoreError> {
        Ok(self.inner().events.len() as u64)
    }

    fn last_sequence(&self) -> Result<u64, StoreError> {
        Ok(self.inner().last_sequence())
    }

    fn cursor(&self, link: &str) -> Result<u64, StoreError> {
        Ok(self.inner().cursors.get(link).copied().unwrap_or(0))
    }
}

impl EventAppender for MemoryStore {
    fn append(
        &self,
        events: &[CloudEvent],
        cursors: &[CursorUpdate<'_>],
    ) -> Result<Vec<AppendOutcome>, StoreError> {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let mut next = inner.last_sequence();
        let mut outcomes = Vec::with_capacity(events.len());
        for event in events {
            if inner.ids.contains_key(&event.id) {
                outcomes.push(AppendOutcome::Duplicate);
                continue;
            }
            next += 1;
            inner.ids.insert(event.id.clone(), next);
            inner.events.push(StoredEvent {
                sequence: next,
                event: event.clone(),
            });
            outcomes.push(AppendOutcome::Appended(next));
        }
        for cursor in cursors {
            inner
                .cursors
                .insert(cursor.link.to_owned(), cursor.position);
        }
        Ok(outcomes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_the_conformance_suite() {
        crate::store::conformance::run_all(&mut || Box::new(MemoryStore::new()) as _);
    }
}
