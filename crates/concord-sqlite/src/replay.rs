//! Replay on two cores: a helper thread steps SQLite, the caller builds and applies events.
//!
//! A replay at start-up is the one moment a service has a second core to spare. About a
//! third of its cost is SQLite itself (stepping the B-tree and copying each column out of the
//! page); the rest is building events and applying them. The sink is not `Send` (it borrows
//! the model), so it stays on the caller's thread, and the helper only copies raw column
//! bytes into flat chunk buffers that it hands over.
//!
//! Why not decode on the helper too: every event would then be allocated on one thread and
//! freed on the other, and the allocator's cross-thread path costs more than the decoding
//! saves — measured, it halved the rate. Here every allocation of an event is made and freed
//! on the caller's thread; only the chunk buffers travel, and they travel back empty to be
//! refilled. The bounded channel keeps at most a few chunks in flight
//! however large the store is.
//!
//! The caller builds every row in the same event, refilled in place and lent to the sink
//! ([`CloudEvent::refill_from_replayed_parts`]): its attribute strings and, when the sink kept
//! no clone, its data's text are reused, so building a row's event allocates its id (and its
//! extensions, if it has any) and nothing else.
//!
//! [`CloudEvent::refill_from_replayed_parts`]: concord_core::event::CloudEvent::refill_from_replayed_parts

use std::sync::mpsc;

use concord_core::event::StoredEvent;
use concord_core::store::StoreError;
use rusqlite::Row;

use crate::pool::Reader;
use crate::rows::{self, TEXT_COLUMNS};

/// Rows per hand-over: large enough that channel costs vanish, small enough to stay in cache.
const CHUNK_ROWS: usize = 512;
/// A chunk is also handed over once its text reaches this size, so offsets stay small.
const CHUNK_BYTES: usize = 1 << 20;
/// Chunks copied ahead of the caller.
const AHEAD: usize = 4;
/// Marks a NULL column in a span.
const NULL: u32 = u32::MAX;

/// Rows copied out of SQLite: all their text back to back, and where each column lies.
#[derive(Default)]
struct Chunk {
    text: Vec<u8>,
    rows: Vec<(u64, [(u32, u32); TEXT_COLUMNS])>,
}

impl Chunk {
    fn push(&mut self, row: &Row<'_>) -> Result<(), StoreError> {
        let (sequence, columns) = rows::raw_columns(row)?;
        let mut spans = [(NULL, NULL); TEXT_COLUMNS];
        for (span, column) in spans.iter_mut().zip(columns) {
            if let Some(bytes) = column {
                let start = self.text.len() as u32;
                self.text.extend_from_slice(bytes);
                *span = (start, self.text.len() as u32);
            }
        }
        self.rows.push((sequence, spans));
        Ok(())
    }

    fn is_full(&self) -> bool {
        self.rows.len() >= CHUNK_ROWS || self.text.len() >= CHUNK_BYTES
    }

    fn clear(&mut self) {
        self.text.clear();
        self.rows.clear();
    }

    /// Builds each row's event in `slot` (refilling the one lent for the row before) and
    /// lends it to `sink`; returns the last sequence fed.
    fn feed(
        &self,
        slot: &mut Option<StoredEvent>,
        sink: &mut dyn FnMut(&StoredEvent),
    ) -> Result<Option<u64>, StoreError> {
        // Whole columns were appended back to back, so if the buffer is UTF-8 each column is
        // too (as long as its span falls on character boundaries, which `get` checks).
        let text = std::str::from_utf8(&self.text).map_err(|_| {
            StoreError::Corrupt(format!(
                "text that is not UTF-8 in the events up to sequence {}",
                self.rows.last().map_or(0, |r| r.0)
            ))
        })?;
        let mut last = None;
        for (sequence, spans) in &self.rows {
            let mut columns = [None; TEXT_COLUMNS];
            for (column, &(start, end)) in columns.iter_mut().zip(spans) {
                if start != NULL {
                    *column = Some(text.get(start as usize..end as usize).ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "event at sequence {sequence}: text that is not UTF-8"
                        ))
                    })?);
                }
            }
            let stored = match slot {
                Some(stored) => {
                    rows::refill_columns(stored, *sequence, &columns)?;
                    stored
                }
                None => slot.insert(rows::decode_columns(*sequence, &columns, true)?),
            };
            sink(stored);
            last = Some(*sequence);
        }
        Ok(last)
    }
}

pub fn pipelined(
    reader: Reader<'_>,
    after: u64,
    sink: &mut dyn FnMut(&StoredEvent),
) -> Result<u64, StoreError> {
    std::thread::scope(|scope| {
        let (full, filled) = mpsc::sync_channel::<Result<Chunk, StoreError>>(AHEAD);
        let (recycle, emptied) = mpsc::channel::<Chunk>();
        std::thread::Builder::new()
            .name("concord-replay".into())
            .spawn_scoped(scope, move || copy_rows(reader, after, &full, &emptied))
            .map_err(|e| StoreError::Backend(format!("cannot start the replay thread: {e}")))?;
        let mut last = after;
        // The one event every row is built in, in turn.
        let mut slot = None;
        // Ends when the helper is done and drops its sender. If `sink` panics, `filled` is
        // dropped while unwinding, the helper's next send fails, and it stops.
        for chunk in filled {
            let mut chunk = chunk?;
            if let Some(sequence) = chunk.feed(&mut slot, sink)? {
                last = sequence;
            }
            chunk.clear();
            let _ = recycle.send(chunk);
        }
        Ok(last)
    })
}

/// The helper: scans from one read transaction and hands over chunks of raw rows.
fn copy_rows(
    mut reader: Reader<'_>,
    after: u64,
    full: &mpsc::SyncSender<Result<Chunk, StoreError>>,
    emptied: &mpsc::Receiver<Chunk>,
) {
    let mut chunk = Chunk::default();
    let scanned = crate::scan_rows(&mut reader, after, &mut |row| {
        chunk.push(row)?;
        if chunk.is_full() {
            let next = emptied.try_recv().unwrap_or_default();
            if full.send(Ok(std::mem::replace(&mut chunk, next))).is_err() {
                return Ok(false); // the caller is gone
            }
        }
        Ok(true)
    });
    let _ = full.send(scanned.map(|()| chunk));
}
