//! Raw rusqlite baselines: the same rows, schema and pragmas as [`SqliteStore`], written and
//! read by hand with nothing of Concord in between. They show what SQLite itself allows on
//! this machine, so each Concord figure can be read as a fraction of the possible.
//!
//! [`SqliteStore`]: concord_sqlite::SqliteStore

use std::path::Path;

use concord_core::event::CloudEvent;
use concord_sqlite::schema;
use rusqlite::Connection;
use serde_json::{Map, Value};

use crate::meter::Measured;

/// A row as the store writes it, serialized ahead of time so the baseline times SQLite only.
pub struct Row {
    id: String,
    source: String,
    ty: String,
    time: String,
    datacontenttype: Option<String>,
    data: String,
}

impl Row {
    pub fn of(event: &CloudEvent) -> Self {
        Row {
            id: event.id.to_string(),
            source: event.source.clone(),
            ty: event.ty.clone(),
            time: event.time_text().to_owned(),
            datacontenttype: event.datacontenttype.clone(),
            data: serde_json::to_string(&event.data).expect("JSON data serializes"),
        }
    }
}

/// A database with the store's schema and durability pragmas, set up by hand.
pub struct RawDb {
    conn: Connection,
    next_sequence: i64,
}

impl RawDb {
    pub fn create(path: &Path) -> Self {
        let conn = Connection::open(path).expect("open the baseline database");
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .expect("WAL mode");
        conn.execute_batch("PRAGMA synchronous = FULL;")
            .expect("synchronous=FULL");
        conn.execute_batch(schema::CREATE_TABLES)
            .expect("create the baseline tables");
        RawDb {
            conn,
            next_sequence: 1,
        }
    }

    /// Inserts `rows` in one transaction; returns the time it took.
    pub fn insert_batch(&mut self, rows: &[Row]) -> Measured {
        let span = Measured::start();
        let tx = self.conn.transaction().expect("begin");
        {
            let mut insert = tx.prepare_cached(schema::INSERT_EVENT).expect("prepare");
            for row in rows {
                insert
                    .execute(rusqlite::params![
                        self.next_sequence,
                        row.id,
                        row.source,
                        row.ty,
                        row.time,
                        row.datacontenttype,
                        row.data,
                        Option::<&str>::None,
                    ])
                    .expect("insert");
                self.next_sequence += 1;
            }
        }
        tx.commit().expect("commit");
        span.stop()
    }

    /// Inserts each row in its own transaction (autocommit): one fsync per row.
    pub fn insert_one_by_one(&mut self, rows: &[Row]) -> Measured {
        let span = Measured::start();
        let mut insert = self
            .conn
            .prepare_cached(schema::INSERT_EVENT)
            .expect("prepare");
        for row in rows {
            insert
                .execute(rusqlite::params![
                    self.next_sequence,
                    row.id,
                    row.source,
                    row.ty,
                    row.time,
                    row.datacontenttype,
                    row.data,
                    Option::<&str>::None,
                ])
                .expect("insert");
            self.next_sequence += 1;
        }
        span.stop()
    }
}

/// Scans every event of a store file in sequence order and parses each `data` into a JSON
/// map (the least a replay must do); returns how many rows and the time it took.
pub fn scan_and_parse(path: &Path) -> (u64, Measured) {
    let conn = Connection::open(path).expect("open the store for the scan baseline");
    let span = Measured::start();
    let mut scan = conn
        .prepare(&format!(
            "SELECT {} FROM events ORDER BY sequence",
            schema::EVENT_COLUMNS
        ))
        .expect("prepare the scan");
    let mut rows = scan.query([]).expect("scan");
    let mut count = 0u64;
    let mut checksum = 0usize;
    while let Some(row) = rows.next().expect("step") {
        let id = row.get_ref(1).and_then(|v| Ok(v.as_str()?)).expect("id");
        let data = row.get_ref(6).and_then(|v| Ok(v.as_str()?)).expect("data");
        let data: Map<String, Value> = serde_json::from_str(data).expect("JSON data");
        checksum = checksum.wrapping_add(data.len() + id.len());
        count += 1;
    }
    std::hint::black_box(checksum);
    (count, span.stop())
}
