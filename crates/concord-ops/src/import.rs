//! `import`: appends an exported JSON Lines file to a store, idempotently.
//!
//! # Why straight into the store, not through a service's model
//!
//! External events normally enter a service through the one path — `ServiceCore::execute`
//! with an `External` batch (putEvents all or nothing, a link's page `EachEvent`) — which
//! checks each event against the service's catalogue and acceptance policy and applies it to
//! the model. An import is something else: the operator's copy of a store, moved or restored.
//! Its events were decided already, by the service that stored them; the service's *own*
//! events are among them, which its acceptance policy (peers' events only) would ignore; and a
//! service rebuilds its model from the store when it starts, so nothing but the store needs
//! to change. So an import appends to the store directly — through the store's `append`,
//! which every backend implements with the same guarantees (atomic, durable batches,
//! commit-ordered sequences) — and keeps the one-path rule for what the service takes in
//! while it runs. Import into the store of a stopped service (or a new store), then start it:
//! a running service would not see the imported events until its next start.
//!
//! # Idempotence and conflicts
//!
//! Ids name events (docs/protocol.md §3.4): an event whose id is stored already with the same content is a
//! duplicate and skipped, so importing a file twice changes nothing. The same id with other
//! content is a conflict: it is not stored, and the report names it (with its line), so that
//! two stores that disagree are never silently merged.
//!
//! # A malformed file changes nothing
//!
//! [`check`] reads the whole file first and refuses it at the first line that is not an
//! event; the binary runs it before [`import`], which also tells it the total for progress.

use std::collections::HashMap;
use std::io::BufRead;

use concord_core::event::{EventError, Limits};
use concord_core::store::{AppendOutcome, EventStore, StoreError};
use concord_core::CloudEvent;

use crate::BATCH;

/// How many conflicts a report lists (it counts them all).
pub const LISTED_CONFLICTS: usize = 100;

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("reading the file failed: {0}")]
    Read(#[from] std::io::Error),
    /// A line is not a CloudEvent; nothing of the file was stored if [`check`] found it.
    #[error("line {line}: not an event: {error}")]
    Malformed { line: u64, error: EventError },
    /// The store failed; the batches before were stored (and a new import skips them).
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
}

/// An event whose id the store holds with other content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The line of the file (from 1).
    pub line: u64,
    pub id: String,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Events in the file.
    pub read: u64,
    /// Newly stored.
    pub appended: u64,
    /// Already stored with the same content (or repeated in the file): skipped.
    pub duplicates: u64,
    /// Already stored with other content: not stored.
    pub conflicts: u64,
    /// The first [`LISTED_CONFLICTS`] conflicts.
    pub listed_conflicts: Vec<Conflict>,
}

/// The events of an exported file are taken as they are: no size or depth limit (the store
/// held them), and no clock check (their times are history, not a clock's claim).
const IMPORT_LIMITS: Limits = Limits::UNBOUNDED;

/// Parses every line of `input` without storing anything; returns how many events it holds.
/// Blank lines are skipped.
pub fn check(input: impl BufRead) -> Result<u64, ImportError> {
    let mut events = 0;
    for_each_event(input, |_, _| {
        events += 1;
        Ok(())
    })?;
    Ok(events)
}

/// Appends the events of `input` to `store` in batches of [`BATCH`] (one transaction each),
/// skipping duplicates and leaving conflicts out; calls `progress` with the number of events
/// read so far after each batch.
pub fn import(
    store: &dyn EventStore,
    input: impl BufRead,
    progress: &mut dyn FnMut(u64),
) -> Result<ImportReport, ImportError> {
    let mut report = ImportReport::default();
    let mut batch: Vec<(u64, CloudEvent)> = Vec::with_capacity(BATCH);
    for_each_event(input, |line, event| {
        batch.push((line, event));
        if batch.len() == BATCH {
            append(store, std::mem::take(&mut batch), &mut report)?;
            progress(report.read);
        }
        Ok(())
    })?;
    append(store, batch, &mut report)?;
    progress(report.read);
    Ok(report)
}

/// Stores one batch: what is new, once; duplicates and conflicts counted.
fn append(
    store: &dyn EventStore,
    batch: Vec<(u64, CloudEvent)>,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    if batch.is_empty() {
        return Ok(());
    }
    report.read += batch.len() as u64;
    let ids: Vec<&str> = batch.iter().map(|(_, event)| &*event.id).collect();
    let stored = store.lookup(&ids)?;
    let mut fresh: Vec<CloudEvent> = Vec::new();
    // Ids new to the store, taken earlier in this batch: a repeat is compared with them.
    let mut taken: HashMap<String, usize> = HashMap::new();
    for ((line, event), stored) in batch.into_iter().zip(stored) {
        let earlier = match &stored {
            Some(stored) => Some(stored),
            None => taken.get(&*event.id).map(|&i| &fresh[i]),
        };
        match earlier {
            Some(earlier) if earlier.same_content(&event) => report.duplicates += 1,
            Some(_) => {
                report.conflicts += 1;
                if report.listed_conflicts.len() < LISTED_CONFLICTS {
                    report.listed_conflicts.push(Conflict {
                        line,
                        id: event.id.to_string(),
                    });
                }
            }
            None => {
                taken.insert(event.id.to_string(), fresh.len());
                fresh.push(event);
            }
        }
    }
    for outcome in store.append(&fresh, &[])? {
        match outcome {
            AppendOutcome::Appended(_) => report.appended += 1,
            // Stored by another writer since the lookup: it is there, which is what counts.
            AppendOutcome::Duplicate => report.duplicates += 1,
        }
    }
    Ok(())
}

/// Feeds each event of `input` with its line number to `take`.
fn for_each_event(
    input: impl BufRead,
    mut take: impl FnMut(u64, CloudEvent) -> Result<(), ImportError>,
) -> Result<(), ImportError> {
    for (index, text) in input.lines().enumerate() {
        let line = index as u64 + 1;
        let text = text?;
        if text.trim().is_empty() {
            continue;
        }
        let event = CloudEvent::parse(&text, &IMPORT_LIMITS)
            .map_err(|error| ImportError::Malformed { line, error })?;
        take(line, event)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use concord_core::event::Timestamp;
    use concord_core::store::{EventAppender, EventReader, MemoryStore};
    use concord_core::EventData;

    use super::*;
    use crate::{digest, export};

    /// An event whose data is exactly `data` (as text, so spellings like 1.50 stay).
    fn event(id: &str, source: &str, data: &str) -> CloudEvent {
        let time = Timestamp::parse("2026-01-02T03:04:05.123456789+02:00").unwrap();
        CloudEvent::new(
            id,
            source,
            "thing",
            time,
            EventData::from_text(data).unwrap(),
        )
    }

    fn exported(store: &MemoryStore) -> Vec<u8> {
        let mut out = Vec::new();
        export(store, &mut out, &mut |_| {}).unwrap();
        out
    }

    #[test]
    fn export_then_import_gives_the_same_events_and_twice_changes_nothing() {
        let from = MemoryStore::new();
        let events: Vec<CloudEvent> = (0..2500)
            .map(|i| {
                let source = if i % 2 == 0 { "a" } else { "b" };
                event(
                    &format!("e{i}"),
                    source,
                    &format!(r#"{{"n": {i}, "f":1.50}}"#),
                )
            })
            .collect();
        from.append(&events, &[]).unwrap();
        let file = exported(&from);
        assert_eq!(file.iter().filter(|&&b| b == b'\n').count(), 2500);
        assert!(
            String::from_utf8_lossy(&file).contains("\"f\":1.50"),
            "data stays exact"
        );
        assert_eq!(check(&file[..]).unwrap(), 2500);

        let to = MemoryStore::new();
        let mut seen = Vec::new();
        let report = import(&to, &file[..], &mut |n| seen.push(n)).unwrap();
        assert_eq!(
            (report.read, report.appended, report.duplicates),
            (2500, 2500, 0)
        );
        assert_eq!(seen, vec![1000, 2000, 2500]);
        assert_eq!(
            digest(&from, &mut |_| {}).unwrap(),
            digest(&to, &mut |_| {}).unwrap()
        );
        assert_eq!(exported(&to), file, "sequence order and every byte kept");

        let again = import(&to, &file[..], &mut |_| {}).unwrap();
        assert_eq!(
            (again.appended, again.duplicates, again.conflicts),
            (0, 2500, 0)
        );
        assert_eq!(to.count().unwrap(), 2500);
    }

    #[test]
    fn an_id_with_other_content_is_a_conflict_and_is_not_stored() {
        let to = MemoryStore::new();
        to.append(&[event("x", "a", r#"{"v":1}"#)], &[]).unwrap();
        let mut file = Vec::new();
        for e in [
            event("x", "a", r#"{"v":2}"#),
            event("y", "a", "{}"),
            event("y", "a", r#"{"other":true}"#),
        ] {
            e.write_json(&mut file, None);
            file.push(b'\n');
        }
        let report = import(&to, &file[..], &mut |_| {}).unwrap();
        assert_eq!(
            (report.appended, report.duplicates, report.conflicts),
            (1, 0, 2)
        );
        assert_eq!(
            report.listed_conflicts,
            vec![
                Conflict {
                    line: 1,
                    id: "x".into()
                },
                Conflict {
                    line: 3,
                    id: "y".into()
                }
            ]
        );
        let kept = to.lookup(&["x"]).unwrap().remove(0).unwrap();
        assert_eq!(kept.data.as_str(), r#"{"v":1}"#);
    }

    #[test]
    fn a_malformed_line_is_named_by_check() {
        let file = b"\n{\"specversion\":\"1.0\",\"id\":\"a\",\"source\":\"s\",\"type\":\"t\",\"time\":\"2026-01-01T00:00:00Z\",\"data\":{}}\n{\"id\":\"b\"}\n";
        match check(&file[..]) {
            Err(ImportError::Malformed { line, .. }) => assert_eq!(line, 3),
            other => panic!("expected a malformed line 3, got {other:?}"),
        }
    }
}
