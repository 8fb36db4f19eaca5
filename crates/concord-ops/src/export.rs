//! `export`: a store's events as JSON Lines, one CloudEvent per line, in sequence order.
//!
//! Each line is the event as the store keeps it — its original id, source, type, time text,
//! content type, extensions and the data as the exact text received — written by
//! [`CloudEvent::write_json`], the same writer getEvents uses, without the `sequence`
//! attribute: sequences belong to a store, and an import assigns its own.
//!
//! The export is a consistent prefix of the log: it takes the store's last sequence when it
//! starts and writes everything up to it, so a service may keep running (and appending)
//! while it is exported; what it appends later is simply not in the file.
//!
//! [`CloudEvent::write_json`]: concord_core::CloudEvent::write_json

use std::io::Write;

use concord_core::store::{EventReader, ReadQuery, StoreError};

use crate::BATCH;

/// Why an export stopped. What was written up to then is a valid prefix, but incomplete.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("reading the store failed: {0}")]
    Store(#[from] StoreError),
    #[error("writing the export failed: {0}")]
    Write(#[from] std::io::Error),
}

/// What an export wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportSummary {
    /// Events written (lines).
    pub events: u64,
    /// The store's last sequence when the export started: everything up to it is in the file.
    pub up_to: u64,
}

/// Writes every event of `store` up to its current last sequence to `out`, one JSON line
/// each, calling `progress` with the number written so far after each batch. Flushes `out`.
pub fn export<S: EventReader + ?Sized>(
    store: &S,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<ExportSummary, ExportError> {
    let up_to = store.last_sequence()?;
    let mut after = 0;
    let mut events = 0u64;
    let mut line = Vec::new();
    while after < up_to {
        let page = store.read(&ReadQuery::after(after, BATCH))?;
        for stored in &page.events {
            if stored.sequence > up_to {
                break;
            }
            line.clear();
            stored.event.write_json(&mut line, None);
            line.push(b'\n');
            out.write_all(&line)?;
            events += 1;
        }
        if page.next_after <= after {
            break; // nothing examined: the store ends here
        }
        after = page.next_after;
        progress(events);
    }
    out.flush()?;
    Ok(ExportSummary { events, up_to })
}
