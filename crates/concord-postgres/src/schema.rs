//! The layout of a Concord store in PostgreSQL, the statements that use it, and the migration
//! that creates it (or upgrades it in place).
//!
//! Every store lives in a schema of its own (see [`crate::location`]) holding these tables:
//!
//! ```sql
//! events (
//!     sequence        BIGINT PRIMARY KEY,          -- 1, 2, 3, … in commit order, no gaps
//!     id              TEXT COLLATE "C" NOT NULL UNIQUE,
//!     source          TEXT NOT NULL,
//!     type            TEXT NOT NULL,
//!     time            TEXT NOT NULL,               -- exactly as the producer wrote it
//!     datacontenttype TEXT,
//!     data            TEXT NOT NULL,               -- the JSON object, the exact text received
//!     extensions      TEXT                         -- a JSON object, NULL when there are none
//! )
//! cursors (
//!     link       TEXT PRIMARY KEY,
//!     position   BIGINT NOT NULL,
//!     peer_store TEXT                              -- the peer store's id, NULL when not told
//! )
//! dead_letters (                                   -- events a link refused, per link
//!     link TEXT, id TEXT, PRIMARY KEY (link, id),
//!     reason TEXT NOT NULL, at TEXT NOT NULL,      -- why, and when (RFC 3339)
//!     event  TEXT,                                 -- the event's JSON, to re-deliver
//!     place  BIGINT IDENTITY                       -- oldest first; a replaced letter keeps it
//! )
//! meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) -- 'store_id': made at creation, never changed
//! schema_version (version INTEGER NOT NULL)        -- one row: 2
//! ```
//!
//! Version 1 had `events`, `cursors` without `peer_store`, and `schema_version`; connecting
//! to it upgrades it in place, in one transaction under the schema's append lock (so it runs
//! once however many processes start together): its events and cursors are kept, and the
//! store gets its identity then. A new schema is made the same way, version 1 then the
//! upgrade, so the upgrade is the path every store takes. The identity comes from
//! `gen_random_uuid()`, which needs PostgreSQL 13 or newer.
//!
//! `data` is TEXT, not JSONB, on purpose. It holds the exact text the event arrived with, so
//! a relay hands on what it received and an event never changes size on its way. Every
//! filter on data fields runs in Rust (as in every backend, through `read_by_scanning`), so
//! JSONB's operators would buy nothing, and it would cost a parse on every insert and change
//! what comes back: JSONB rewrites numbers (`1e2` comes back as `100`), reorders keys, drops
//! repeated ones and refuses `\u0000` in strings, which a CloudEvent may carry. TEXT stores the
//! bytes that were appended and returns them unchanged.
//!
//! `id` uses the "C" collation: byte-wise comparison is what event ids need, and it makes the
//! unique index (probed by every append and every `lookup`) cheaper than a locale's rules.
//! There is no index on `type` or `source`: each would be paid on every append, and filtered
//! reads walk forward from a cursor on the primary key anyway.

use tokio_postgres::types::ToSql;

use concord_core::store::StoreError;

use crate::pool::{block_on, Conn};
use crate::{backend, location::redact};

/// The layout version this build reads and writes. Version 1 schemas are upgraded in place.
pub const SCHEMA_VERSION: i32 = 2;

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
    pub delete_dead_letters: String,
    pub upsert_dead_letters: String,
    pub last_sequence: String,
    pub lookup: String,
    pub link_cursor: String,
    /// A link's dead-letter count and its oldest letters, from one snapshot.
    pub dead_letters: String,
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
                "INSERT INTO {s}.cursors (link, position, peer_store) \
                 SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[]) \
                 ON CONFLICT (link) DO UPDATE \
                 SET position = excluded.position, peer_store = excluded.peer_store"
            ),
            delete_dead_letters: format!(
                "DELETE FROM {s}.dead_letters AS letter \
                 USING unnest($1::text[], $2::text[]) AS resolved (link, id) \
                 WHERE letter.link = resolved.link AND letter.id = resolved.id"
            ),
            // New letters take their places in the order given; a letter already stored is
            // replaced whole but keeps its place (the update leaves `place` alone).
            upsert_dead_letters: format!(
                "INSERT INTO {s}.dead_letters (link, id, reason, at, event) \
                 SELECT link, id, reason, at, event \
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) \
                      WITH ORDINALITY AS letter (link, id, reason, at, event, ord) \
                 ORDER BY ord \
                 ON CONFLICT (link, id) DO UPDATE \
                 SET reason = excluded.reason, at = excluded.at, event = excluded.event"
            ),
            last_sequence: format!("SELECT COALESCE(max(sequence), 0) FROM {s}.events"),
            lookup: format!("SELECT {EVENT_COLUMNS} FROM {s}.events WHERE id = ANY($1::text[])"),
            link_cursor: format!("SELECT position, peer_store FROM {s}.cursors WHERE link = $1"),
            // Always one row at least (the count), with a letter's columns NULL when it has none.
            dead_letters: format!(
                "SELECT total.n, letter.id, letter.reason, letter.at, letter.event \
                 FROM (SELECT count(*) AS n FROM {s}.dead_letters WHERE link = $1) AS total \
                 LEFT JOIN LATERAL ( \
                     SELECT id, reason, at, event, place FROM {s}.dead_letters \
                     WHERE link = $1 ORDER BY place LIMIT $2 \
                 ) AS letter ON true \
                 ORDER BY letter.place"
            ),
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

/// The tables of version 1, exactly as the builds that wrote version 1 created them. A new
/// store starts here and is then upgraded like any version 1 store; tests build old stores
/// with it.
pub(crate) fn version_1(schema: &str) -> String {
    let s = quote(schema);
    format!(
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
        INSERT INTO {s}.schema_version (version) VALUES (1);"
    )
}

/// From version 1 to 2: the store's identity (128 bits from the server's strong random
/// source, as 32 hex digits; `gen_random_uuid` needs PostgreSQL 13), the peer store a link
/// cursor belongs to, and the links' dead letters. Existing rows are kept as they are (a
/// cursor's peer store is unknown: NULL).
fn upgrade_to_2(schema: &str) -> String {
    let s = quote(schema);
    format!(
        "CREATE TABLE {s}.meta (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        INSERT INTO {s}.meta (key, value)
            VALUES ('store_id', replace(gen_random_uuid()::text, '-', ''));
        ALTER TABLE {s}.cursors ADD COLUMN peer_store TEXT;
        CREATE TABLE {s}.dead_letters (
            link   TEXT NOT NULL,
            id     TEXT NOT NULL,
            reason TEXT NOT NULL,
            at     TEXT NOT NULL,
            event  TEXT,
            place  BIGINT GENERATED ALWAYS AS IDENTITY,
            PRIMARY KEY (link, id)
        );
        CREATE INDEX dead_letters_in_order ON {s}.dead_letters (link, place);
        UPDATE {s}.schema_version SET version = 2;"
    )
}

/// Creates the schema and its tables if missing, upgrades a version 1 schema in place,
/// accepts the current version, refuses anything else; returns the store's identity. Runs in
/// one transaction under the schema's append lock, so two processes starting on a new (or an
/// old) schema at once cannot both create (or upgrade) it — the second finds the work done —
/// and no append runs half-way through a migration.
pub fn migrate(conn: &mut Conn, sql: &Sql, url: &str) -> Result<String, StoreError> {
    let schema = sql.schema.as_str();
    let s = quote(schema);
    let where_ = || format!("schema {schema} at {}", redact(url));
    let client = &conn.client;
    let query_one = |text: &str, params: &[&(dyn ToSql + Sync)]| {
        block_on(client.query_one(text, params)).map_err(backend)
    };
    let execute = |text: &str| block_on(client.batch_execute(text)).map_err(backend);
    execute(&sql.begin_append)?;
    let exists: bool = query_one(
        "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
        &[&schema],
    )?
    .get(0);
    if !exists {
        execute(&format!("CREATE SCHEMA {s}"))?;
    }
    let versioned: bool = query_one(
        "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'schema_version')",
        &[&schema],
    )?
    .get(0);
    let version = if versioned {
        let rows = block_on(client.query(&format!("SELECT version FROM {s}.schema_version"), &[]))
            .map_err(backend)?;
        let versions: Vec<i32> = rows.iter().map(|row| row.get(0)).collect();
        match versions[..] {
            [version @ (1 | SCHEMA_VERSION)] => version,
            [newer] if newer > SCHEMA_VERSION => {
                return Err(StoreError::Backend(format!(
                    "{} has Concord schema version {newer}, written by a newer Concord; \
                     this build knows versions up to {SCHEMA_VERSION} only",
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
    } else {
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
        execute(&version_1(schema))?;
        1
    };
    if version == 1 {
        execute(&upgrade_to_2(schema))?;
    }
    let id: Option<String> = block_on(client.query_opt(
        &format!("SELECT value FROM {s}.meta WHERE key = 'store_id'"),
        &[],
    ))
    .map_err(backend)?
    .map(|row| row.get(0));
    let id = id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| StoreError::Corrupt(format!("{} has no store identity", where_())))?;
    execute("COMMIT")?;
    Ok(id)
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
