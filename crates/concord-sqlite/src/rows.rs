//! Turning stored rows back into events.
//!
//! This is the inner loop of a replay, so it borrows every column (from SQLite's row, or from
//! a replay chunk): the only allocations are the ones the event itself owns. `data` stays
//! text (checked to be JSON, not parsed); whoever needs its fields parses it once.

use rusqlite::types::ValueRef;
use rusqlite::Row;
use serde_json::{Map, Value};

use concord_core::event::{CloudEvent, StoredEvent, StoredParts};
use concord_core::store::StoreError;

use crate::backend;

const COLUMN_NAMES: [&str; 8] = [
    "sequence",
    "id",
    "source",
    "type",
    "time",
    "datacontenttype",
    "data",
    "extensions",
];

/// The text columns of a row, in [`crate::schema::EVENT_COLUMNS`] order after `sequence`.
pub const TEXT_COLUMNS: usize = 7;

/// Decodes a row selected with [`crate::schema::EVENT_COLUMNS`].
pub fn decode(row: &Row<'_>) -> Result<StoredEvent, StoreError> {
    decode_row(row, false)
}

/// [`decode`] for a replay into the model: see [`decode_columns`].
pub fn decode_for_replay(row: &Row<'_>) -> Result<StoredEvent, StoreError> {
    decode_row(row, true)
}

fn decode_row(row: &Row<'_>, for_replay: bool) -> Result<StoredEvent, StoreError> {
    let (sequence, raw) = raw_columns(row)?;
    let mut columns = [None; TEXT_COLUMNS];
    for (i, bytes) in raw.iter().enumerate() {
        if let Some(bytes) = bytes {
            columns[i] = Some(
                std::str::from_utf8(bytes)
                    .map_err(|_| bad_column(i + 1, "text that is not UTF-8"))?,
            );
        }
    }
    decode_columns(sequence, &columns, for_replay)
}

/// A row's text columns as SQLite holds them (not yet checked to be UTF-8), `None` for NULL.
pub type RawColumns<'r> = [Option<&'r [u8]>; TEXT_COLUMNS];

/// A row's sequence and raw text columns. Only `datacontenttype` and `extensions` may be NULL.
pub fn raw_columns<'r>(row: &'r Row<'_>) -> Result<(u64, RawColumns<'r>), StoreError> {
    let sequence = match row.get_ref(0).map_err(backend)? {
        ValueRef::Integer(n) if n > 0 => n as u64,
        other => return Err(bad_column(0, &format!("{:?}", other.data_type()))),
    };
    let mut columns = [None; TEXT_COLUMNS];
    for (i, column) in columns.iter_mut().enumerate() {
        *column = match row.get_ref(i + 1).map_err(backend)? {
            ValueRef::Text(bytes) => Some(bytes),
            ValueRef::Null if NULLABLE[i] => None,
            other => return Err(bad_column(i + 1, &format!("{:?}", other.data_type()))),
        };
    }
    Ok((sequence, columns))
}

const NULLABLE: [bool; TEXT_COLUMNS] = [false, false, false, false, true, false, true];

/// Builds the event from its columns, already known to be text; `for_replay`: into the model
/// only, so its data's JSON is not walked again ([`CloudEvent::from_replayed_parts`]).
pub fn decode_columns(
    sequence: u64,
    columns: &[Option<&str>; TEXT_COLUMNS],
    for_replay: bool,
) -> Result<StoredEvent, StoreError> {
    let parts = stored_parts(sequence, columns)?;
    let event = if for_replay {
        CloudEvent::from_replayed_parts(parts)
    } else {
        CloudEvent::from_stored_parts(parts)
    }
    .map_err(|e| corrupt_event(sequence, e))?;
    Ok(StoredEvent { sequence, event })
}

/// [`decode_columns`] for a replay into `slot`, the event lent for the row before: its
/// buffers are reused ([`CloudEvent::refill_from_replayed_parts`]).
pub fn refill_columns(
    slot: &mut StoredEvent,
    sequence: u64,
    columns: &[Option<&str>; TEXT_COLUMNS],
) -> Result<(), StoreError> {
    let parts = stored_parts(sequence, columns)?;
    slot.event
        .refill_from_replayed_parts(parts)
        .map_err(|e| corrupt_event(sequence, e))?;
    slot.sequence = sequence;
    Ok(())
}

/// A row's columns as an event's parts; only `datacontenttype` and `extensions` may be NULL.
fn stored_parts<'c>(
    sequence: u64,
    columns: &[Option<&'c str>; TEXT_COLUMNS],
) -> Result<StoredParts<'c>, StoreError> {
    let [Some(id), Some(source), Some(ty), Some(time_text), datacontenttype, Some(data), extensions] =
        *columns
    else {
        return Err(StoreError::Corrupt(format!(
            "event at sequence {sequence}: a required column is NULL"
        )));
    };
    let extensions = match extensions {
        Some(json) => json_object(json, sequence, 7)?,
        None => Map::new(),
    };
    Ok(StoredParts {
        id,
        source,
        ty,
        time_text,
        datacontenttype,
        data,
        extensions,
    })
}

fn corrupt_event(sequence: u64, error: concord_core::event::EventError) -> StoreError {
    StoreError::Corrupt(format!("event at sequence {sequence}: {error}"))
}

fn json_object(text: &str, sequence: u64, column: usize) -> Result<Map<String, Value>, StoreError> {
    serde_json::from_str(text).map_err(|e| {
        StoreError::Corrupt(format!(
            "event at sequence {sequence}: column {} is not a JSON object ({e})",
            COLUMN_NAMES[column]
        ))
    })
}

fn bad_column(column: usize, found: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "column {} holds an unexpected value: {found}",
        COLUMN_NAMES[column]
    ))
}
