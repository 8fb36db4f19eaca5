//! Turning rows back into events: every column is borrowed from the row. `data` stays the
//! text it was stored as (checked to be JSON, not parsed); whoever needs its fields parses it
//! once.

use serde_json::{Map, Value};
use tokio_postgres::Row;

use concord_core::event::{CloudEvent, StoredEvent, StoredParts};
use concord_core::store::StoreError;

/// Decodes a row selected with [`crate::schema::EVENT_COLUMNS`].
pub fn decode(row: &Row) -> Result<StoredEvent, StoreError> {
    let sequence: i64 = column(row, 0)?;
    let sequence = u64::try_from(sequence)
        .ok()
        .filter(|s| *s > 0)
        .ok_or_else(|| StoreError::Corrupt(format!("an event has sequence {sequence}")))?;
    let corrupt =
        |what: String| StoreError::Corrupt(format!("event at sequence {sequence}: {what}"));
    let id: &str = column(row, 1)?;
    let source: &str = column(row, 2)?;
    let ty: &str = column(row, 3)?;
    let time: &str = column(row, 4)?;
    let datacontenttype: Option<&str> = column(row, 5)?;
    let data: &str = column(row, 6)?;
    let extensions: Option<&str> = column(row, 7)?;
    let object = |text: &str, name: &str| -> Result<Map<String, Value>, StoreError> {
        serde_json::from_str(text)
            .map_err(|e| corrupt(format!("column {name} is not a JSON object ({e})")))
    };
    let extensions = match extensions {
        Some(text) => object(text, "extensions")?,
        None => Map::new(),
    };
    let event = CloudEvent::from_stored_parts(StoredParts {
        id,
        source,
        ty,
        time_text: time,
        datacontenttype,
        data,
        extensions,
    })
    .map_err(|e| corrupt(e.to_string()))?;
    Ok(StoredEvent { sequence, event })
}

fn column<'r, T: tokio_postgres::types::FromSql<'r>>(
    row: &'r Row,
    index: usize,
) -> Result<T, StoreError> {
    row.try_get(index).map_err(|e| {
        let name = row.columns().get(index).map_or("?", |c| c.name());
        StoreError::Corrupt(format!("column {name} holds an unexpected value: {e}"))
    })
}

/// Extension attributes as the text the store keeps.
pub fn json_text(object: &Map<String, Value>) -> String {
    serde_json::to_string(object).expect("a JSON map always serializes")
}
