//! An in-memory event store: the reference backend for tests and the simulator.
//!
//! Nothing here is durable; everything else the store traits promise holds, and the
//! conformance suite runs against it like any other backend.

use std::collections::HashMap;
use std::sync::RwLock;

use super::{
    read_by_scanning, AppendOutcome, DeadLetter, EventAppender, EventReader, LinkCursor,
    LinkUpdate, ReadPage, ReadQuery, StoreError,
};
use crate::event::{CloudEvent, StoredEvent};

pub struct MemoryStore {
    id: String,
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    events: Vec<StoredEvent>,
    ids: HashMap<std::sync::Arc<str>, u64>,
    cursors: HashMap<String, LinkCursor>,
    dead_letters: HashMap<String, Vec<DeadLetter>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::with_id(format!("memory-{:032x}", fastrand::u128(..)))
    }
}

impl MemoryStore {
    /// An empty store with a random identity.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store with the given identity (the simulator names its stores
    /// deterministically).
    pub fn with_id(id: impl Into<String>) -> Self {
        MemoryStore {
            id: id.into(),
            inner: RwLock::default(),
        }
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

    fn replay(&self, after: u64, sink: &mut dyn FnMut(&StoredEvent)) -> Result<u64, StoreError> {
        let inner = self.inner();
        let mut last = after;
        for stored in &inner.events[inner.position_after(after)..] {
            last = stored.sequence;
            sink(stored);
        }
        Ok(last)
    }

    fn lookup(&self, ids: &[&str]) -> Result<Vec<Option<CloudEvent>>, StoreError> {
        let inner = self.inner();
        Ok(ids
            .iter()
            .map(|id| {
                let sequence = *inner.ids.get(*id)?;
                let index = inner.position_after(sequence - 1);
                Some(inner.events[index].event.clone())
            })
            .collect())
    }

    fn count(&self) -> Result<u64, StoreError> {
        Ok(self.inner().events.len() as u64)
    }

    fn last_sequence(&self) -> Result<u64, StoreError> {
        Ok(self.inner().last_sequence())
    }

    fn store_id(&self) -> &str {
        &self.id
    }

    fn link_cursor(&self, link: &str) -> Result<LinkCursor, StoreError> {
        Ok(self.inner().cursors.get(link).cloned().unwrap_or_default())
    }

    fn dead_letters(&self, link: &str, limit: usize) -> Result<(u64, Vec<DeadLetter>), StoreError> {
        let inner = self.inner();
        let letters = inner.dead_letters.get(link).map_or(&[][..], Vec::as_slice);
        Ok((
            letters.len() as u64,
            letters.iter().take(limit).cloned().collect(),
        ))
    }
}

impl EventAppender for MemoryStore {
    fn append(
        &self,
        events: &[CloudEvent],
        links: &[LinkUpdate],
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
        for update in links {
            if let Some(cursor) = &update.cursor {
                inner.cursors.insert(update.link.clone(), cursor.clone());
            }
            let letters = inner.dead_letters.entry(update.link.clone()).or_default();
            letters.retain(|letter| !update.resolved.contains(&letter.id));
            for letter in &update.dead_letters {
                match letters.iter_mut().find(|l| l.id == letter.id) {
                    Some(existing) => *existing = letter.clone(),
                    None => letters.push(letter.clone()),
                }
            }
        }
        Ok(outcomes)
    }
}
