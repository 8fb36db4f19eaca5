//! Turning stored rows back into events.
//!
//! This is the inner loop of a replay, so it borrows every column straight from SQLite's row
//! buffer and parses `data` from that borrowed text: the only allocations are the ones the
//! event itself owns.

use rusqlite::types::ValueRef;
use rusqlite::Row;
use serde_json::{Map, Value};

use concord_core::event::{CloudEvent, StoredEvent};
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

/// Decodes a row selected with [`crate::schema::EVENT_COLUMNS`].
pub fn decode(row: &Row<'_>) -> Result<StoredEvent, StoreError> {
    let sequence = match row.get_ref(0).map_err(backend)? {
        ValueRef::Integer(n) if n > 0 => n as u64,
        other => return Err(bad_column(0, &format!("{other:?}"))),
    };
    let id = text(row, 1)?;
    let source = text(row, 2)?;
    let ty = text(row, 3)?;
    let time = text(row, 4)?;
    let datacontenttype = optional_text(row, 5)?;
    let data = json_object(text(row, 6)?, sequence, 6)?;
    let extensions = match optional_text(row, 7)? {
        Some(json) => json_object(json, sequence, 7)?,
        None => Map::new(),
    };
    let event = CloudEvent::from_stored_parts(
        id,
        source,
        ty,
        time,
        datacontenttype,
        data,
        extensions,
    )
    .map_err(|e| StoreError::Corrupt(format!("event at sequence {sequence}: {e}")))?;
    Ok(StoredEvent { sequence, event })
}

fn text<'r>(row: &'r Row<'_>, column: usize) -> Result<&'r str, StoreError> {
    match row.get_ref(column).map_err(backend)? {
        ValueRef::Text(bytes) => std::str::from_utf8(bytes)
            .map_err(|_| bad_column(column, "text that is not UTF-8")),
        other => Err(bad_column(column, &format!("{:?}", other.data_type()))),
    }
}

fn optional_text<'r>(row: &'r Row<'_>, column: usize) -> Result<Option<&'r str>, StoreError> {
    match row.get_ref(column).map_err(backend)? {
        ValueRef::Null => Ok(None),
        _ => text(row, column).map(Some),
    }
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

/// Serializes a JSON object into a reused buffer and lends it as text, so an append of a
/// thousand events does not allocate a thousand strings.
pub fn json_text<'b>(buffer: &'b mut Vec<u8>, object: &Map<String, Value>) -> &'b str {
    buffer.clear();
    serde_json::to_writer(&mut *buffer, object).expect("a JSON map always serializes");
    // serde_json writes UTF-8 only; checking is cheap next to the insert and keeps this safe.
    std::str::from_utf8(buffer).expect("serde_json writes UTF-8")
}
