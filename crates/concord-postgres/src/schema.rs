//! The layout of a Concord store in PostgreSQL, the statements that use it, and the migration
//! that creates it.
//!
//! Every store lives in a schema of its own (see [`crate::location`]) holding three tables:
//!
//! ```sql
//! events (
//!     sequence        BIGINT PRIMARY KEY,          -- 1, 2, 3, … in commit order, no gaps
//!     id              TEXT COLLATE "C" NOT NULL UNIQUE,
//!     source          TEXT NOT NULL,
//!     type            TEXT NOT NULL,
//!     time            TEXT NOT NULL,               -- exactly as the producer wrote it
//!     datacontenttype TEXT,
//!     data            TEXT NOT NULL,               -- the JSON object, as serde_json wrote it
//!     extensions      TEXT                         -- a JSON object, NULL when there are none
//! )
//! cursors (link TEXT PRIMARY KEY, position BIGINT NOT NULL)
//! schema_version (version INTEGER NOT NULL)        -- one row: 1
//! ```
//!
//! `data` is TEXT, not JSONB, on purpose. Every filter on data fields runs in Rust (as in
//! every backend, through `read_by_scanning`), so JSONB's operators would buy nothing, and it
//! would cost a parse on every insert and change what comes back: JSONB rewrites numbers
//! (`1e2` comes back as `100`, which serde_json reads as an integer rather than the float that
//! was sent), drops repeated keys and refuses `\u0000` in strings, which a CloudEvent may
//! carry. TEXT stores the bytes that were appended and returns them unchanged.
//!
//! `id` uses the "C" collation: byte-wise comparison is what event ids need, and it makes the
//! unique index (probed by every append and every `contains`) cheaper than a locale's rules.
//! There is no index on `type` or `source`: each would be paid on every append, and filtered
//! reads walk forward from a cursor on the primary key anyway.

use tokio_postgres::types::ToSql;

use concord_core::store::StoreError;

use crate::pool::{block_on, Conn};
use crate::{backend, location::redact};

/// The layout version this build reads and writes.
pub const SCHEMA_VERSION: i32 = 1;

/// The first key of every advisory lock Concord takes ("Conc"); the second names the schema.
const LOCK_CLASS: i32 = 0x436f_6e63;

/// The columns every read selects, in the order [`crate::rows::decode`] expects.
pub const EVENT_COLUMNS: &str =
    "sequence, id, source, type, time, datacontenttype, data, extensions";

/// The statements of one store, with its schema written in.
pub struct Sql {
    pub schema: String,
    /// Starts an append transaction and takes the schema's append lock.
    pub begin_append: String,
    /// Starts a read-only snapshot and reads its last sequence (one round trip).
    pub begin_read: String,
    pub insert_events: String,
    pub upsert_cursors: String,
    pub last_sequence: String,
    pub contains: String,
    pub cursor: String,
    pub replay: String,
    /// The scans of a read, by whether they filter on type and on source.
    scans: [String; 4],
}

impl Sql {
    pub fn new(schema: &str) -> Self {
        let s = quote(schema);
        let scan = |types: bool, sources: bool| {
            let mut sql = format!("SELECT {EVENT_COLUMNS} FROM {s}.events WHERE sequence > $1");
            let mut next = 2;
            if types {
                sql.push_str(&format!(" AND type = ANY(${next}::text[])"));
                next += 1;
            }
            if sources {
                sql.push_str(&format!(" AND source = ANY(${next}::text[])"));
                next += 1;
            }
            sql.push_str(&format!(" ORDER BY sequence LIMIT ${next}"));
            sql
        };
        Sql {
            schema: schema.to_owned(),
            begin_append: format!(
                "BEGIN; SELECT pg_advisory_xact_lock({}, {})",
                LOCK_CLASS,
                lock_key(schema)
            ),
            begin_read: format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; \
                 SELECT COALESCE(max(sequence), 0) FROM {s}.events"
            ),
            // Sequences continue from the highest stored one, in batch order, for the ids not
            // stored yet (the batch itself holds each id once). Run only under the append lock,
            // by a statement that starts after the lock was granted: its snapshot then holds
            // every earlier append, so the numbers it assigns are above all of them.
            insert_events: format!(
                "INSERT INTO {s}.events (sequence, id, source, type, time, datacontenttype, data, extensions) \
                 SELECT head.last + row_number() OVER (ORDER BY batch.ord), \
                        batch.id, batch.source, batch.type, batch.time, \
                        batch.datacontenttype, batch.data, batch.extensions \
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], \
                             $5::text[], $6::text[], $7::text[]) \
                      WITH ORDINALITY AS batch (id, source, type, time, datacontenttype, data, extensions, ord) \
                 CROSS JOIN (SELECT COALESCE(max(sequence), 0) AS last FROM {s}.events) AS head \
                 WHERE NOT EXISTS (SELECT 1 FROM {s}.events AS stored WHERE stored.id = batch.id) \
                 RETURNING sequence, id"
            ),
            upsert_cursors: format!(
                "INSERT INTO {s}.cursors (link, position) \
                 SELECT * FROM unnest($1::text[], $2::bigint[]) \
                 ON CONFLICT (link) DO UPDATE SET position = excluded.position"
            ),
            last_sequence: format!("SELECT COALESCE(max(sequence), 0) FROM {s}.events"),
            contains: format!("SELECT id FROM {s}.events WHERE id = ANY($1::text[])"),
            cursor: format!("SELECT position FROM {s}.cursors WHERE link = $1"),
            replay: format!(
                "SELECT {EVENT_COLUMNS} FROM {s}.events WHERE sequence > $1 \
                 ORDER BY sequence LIMIT $2"
            ),
            scans: [
                scan(false, false),
                scan(true, false),
                scan(false, true),
                scan(true, true),
            ],
        }
    }

    /// The scan for a read filtering (or not) on types and on sources.
    pub fn scan(&self, types: bool, sources: bool) -> &str {
        &self.scans[usize::from(types) + 2 * usize::from(sources)]
    }
}

/// A quoted identifier (the names are validated plain identifiers; quoting is belt and braces).
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The second key of the schema's append lock: FNV-1a of its name, so every process and every
/// connection appending to one schema agree on it, and different schemas do not share it
/// (barring a hash collision, which would only serialize two stores' appends).
fn lock_key(schema: &str) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in schema.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash as i32
}

/// Creates the schema and its tables if missing, accepts the current version, refuses
/// anything else. Runs under the schema's append lock, so two processes starting on a new
/// schema at once cannot both create it, and no append runs half-way through a migration.
pub fn migrate(conn: &mut Conn, sql: &Sql, url: &str) -> Result<(), StoreError> {
    let schema = sql.schema.as_str();
    let s = quote(schema);
    let where_ = || format!("schema {schema} at {}", redact(url));
    let client = &conn.client;
    let query_one = |text: &str, params: &[&(dyn ToSql + Sync)]| {
        block_on(client.query_one(text, params)).map_err(backend)
    };
    block_on(client.batch_execute(&sql.begin_append)).map_err(backend)?;
    let exists: bool = query_one(
        "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
        &[&schema],
    )?
    .get(0);
    if !exists {
        block_on(client.batch_execute(&format!("CREATE SCHEMA {s}"))).map_err(backend)?;
    }
    let versioned: bool = query_one(
        "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'schema_version')",
        &[&schema],
    )?
    .get(0);
    if !versioned {
        let objects: i64 = query_one(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1",
            &[&schema],
        )?
        .get(0);
        if objects > 0 {
            return Err(StoreError::Backend(format!(
                "{} holds tables but no Concord schema version: it is not a Concord event \
                 store (choose another schema with ?schema=NAME)",
                where_()
            )));
        }
        block_on(client.batch_execute(&format!(
            "CREATE TABLE {s}.events (
                sequence        BIGINT PRIMARY KEY CHECK (sequence > 0),
                id              TEXT COLLATE \"C\" NOT NULL UNIQUE,
                source          TEXT NOT NULL,
                type            TEXT NOT NULL,
                time            TEXT NOT NULL,
                datacontenttype TEXT,
                data            TEXT NOT NULL,
                extensions      TEXT
            );
            CREATE TABLE {s}.cursors (
                link     TEXT PRIMARY KEY,
                position BIGINT NOT NULL CHECK (position >= 0)
            );
            CREATE TABLE {s}.schema_version (version INTEGER NOT NULL);
            INSERT INTO {s}.schema_version (version) VALUES ({SCHEMA_VERSION});"
        )))
        .map_err(backend)?;
    } else {
        let rows = block_on(client.query(&format!("SELECT version FROM {s}.schema_version"), &[]))
            .map_err(backend)?;
        let versions: Vec<i32> = rows.iter().map(|row| row.get(0)).collect();
        match versions[..] {
            [SCHEMA_VERSION] => {}
            [newer] if newer > SCHEMA_VERSION => {
                return Err(StoreError::Backend(format!(
                    "{} has Concord schema version {newer}, written by a newer Concord; \
                     this build knows version {SCHEMA_VERSION} only",
                    where_()
                )))
            }
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "{} has an invalid Concord schema version {versions:?}",
                    where_()
                )))
            }
        }
    }
    block_on(client.batch_execute("COMMIT")).map_err(backend)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_name_their_schema_and_filters() {
        let sql = Sql::new("se_group");
        assert!(sql.insert_events.contains("INTO \"se_group\".events"));
        assert_eq!(
            sql.scan(true, true),
            "SELECT sequence, id, source, type, time, datacontenttype, data, extensions \
             FROM \"se_group\".events WHERE sequence > $1 AND type = ANY($2::text[]) \
             AND source = ANY($3::text[]) ORDER BY sequence LIMIT $4"
        );
        assert!(sql
            .scan(false, true)
            .contains("source = ANY($2::text[]) ORDER BY sequence LIMIT $3"));
        assert!(sql
            .scan(false, false)
            .ends_with("sequence > $1 ORDER BY sequence LIMIT $2"));
    }

    #[test]
    fn each_schema_has_its_own_lock() {
        assert_eq!(lock_key("se_group"), lock_key("se_group"));
        assert_ne!(lock_key("se_group"), lock_key("ta_pool"));
    }
}
