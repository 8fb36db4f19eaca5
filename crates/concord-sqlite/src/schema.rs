//! The on-disk layout of a Concord SQLite store and how a connection is set up to use it.
//!
//! The layout is versioned with `PRAGMA user_version`: a file written by a newer Concord is
//! refused rather than misread, and a file that is some other application's database is
//! refused rather than written into.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::backend;
use concord_core::store::StoreError;

/// The layout version this build reads and writes. Version 1 files are upgraded in place.
pub const SCHEMA_VERSION: i64 = 2;

/// The tables of version 1. Public so that benchmarks can build a raw baseline on exactly the
/// same layout.
///
/// `sequence` is the rowid, so a replay is a walk of the table's own B-tree in order. There is
/// deliberately no index on `type` or `source`: every index is paid on each append, and
/// filtered reads scan forward from a cursor anyway (they must advance `next_after` over
/// everything they examine).
pub const CREATE_TABLES: &str = "
CREATE TABLE events (
    sequence        INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    source          TEXT NOT NULL,
    type            TEXT NOT NULL,
    time            TEXT NOT NULL,
    datacontenttype TEXT,
    data            TEXT NOT NULL,
    extensions      TEXT
);
CREATE TABLE cursors (
    link     TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
";

/// What version 2 adds: the store's identity, the peer store a link cursor belongs to, and
/// the links' dead letters. Also run on a version 1 file to upgrade it.
pub const VERSION_2: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
ALTER TABLE cursors ADD COLUMN peer_store TEXT;
CREATE TABLE dead_letters (
    link   TEXT NOT NULL,
    id     TEXT NOT NULL,
    reason TEXT NOT NULL,
    at     TEXT NOT NULL,
    event  TEXT,
    PRIMARY KEY (link, id)
);
";

/// Appends one event unless its id is already stored; the changed-row count says which.
pub const INSERT_EVENT: &str = "INSERT INTO events \
     (sequence, id, source, type, time, datacontenttype, data, extensions) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(id) DO NOTHING";

/// The columns every read selects, in the order [`crate::rows::decode`] expects.
pub const EVENT_COLUMNS: &str =
    "sequence, id, source, type, time, datacontenttype, data, extensions";

/// How long a connection waits for a lock held by another connection before failing. Only
/// another process opening the same file, or a checkpoint, ever holds one for long.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens the one read-write connection and brings the file to the current layout.
/// Returns the connection and whether the file was created just now.
pub fn open_writer(path: &Path) -> Result<(Connection, bool), StoreError> {
    let existed = path.exists();
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(|e| open_error(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
    // WAL: readers never block the writer nor each other, and a commit is one sequential
    // write plus one fsync of the log.
    in_wal_mode(&conn, path, "PRAGMA journal_mode = WAL")?;
    // FULL syncs the log on every commit: an acknowledged append survives power loss, not
    // only a crash of the process (NORMAL would lose the last commits on power loss).
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA cache_size = -16384;")
        .map_err(backend)?;
    conn.set_prepared_statement_cache_capacity(32);
    migrate(&mut conn, path)?;
    Ok((conn, !existed))
}

/// Opens the connection the background checkpoint runs on (see `checkpoint.rs`).
pub fn open_checkpointer(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| open_error(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
    // A connection learns that the file is in WAL mode only once it reads it; until then a
    // checkpoint on it does nothing at all (and says so only by returning -1 frames).
    in_wal_mode(&conn, path, "PRAGMA journal_mode")?;
    Ok(conn)
}

/// Runs `pragma` (reading or setting the journal mode) and fails unless the file is in WAL
/// mode after it.
fn in_wal_mode(conn: &Connection, path: &Path, pragma: &str) -> Result<(), StoreError> {
    let mode: String = conn
        .query_row(pragma, [], |row| row.get(0))
        .map_err(|e| open_error(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!(
            "{}: not in WAL mode (journal_mode is {mode})",
            path.display()
        )));
    }
    Ok(())
}

/// Opens a read-only connection for the reader pool.
pub fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| open_error(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
    // Replays scan the whole file; mapping it spares a copy of every page into the cache.
    conn.execute_batch("PRAGMA mmap_size = 1073741824; PRAGMA cache_size = -16384;")
        .map_err(backend)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// Creates the tables in an empty file, accepts the current version, refuses anything else.
/// Runs in an IMMEDIATE transaction so two processes opening a new file cannot both create.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| open_error(path, e))?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| open_error(path, e))?;
    match version {
        0 => {
            let objects: i64 = tx
                .query_row("SELECT COUNT(*) FROM sqlite_schema", [], |row| row.get(0))
                .map_err(backend)?;
            if objects > 0 {
                return Err(StoreError::Backend(format!(
                    "{} is an SQLite database but not a Concord event store \
                     (it has tables and no Concord schema version)",
                    path.display()
                )));
            }
            tx.execute_batch(CREATE_TABLES).map_err(backend)?;
            upgrade_to_2(&tx)?;
        }
        1 => upgrade_to_2(&tx)?,
        SCHEMA_VERSION => {}
        newer if newer > SCHEMA_VERSION => {
            return Err(StoreError::Backend(format!(
                "{} has schema version {newer}, written by a newer Concord; \
                 this build knows version {SCHEMA_VERSION} only",
                path.display()
            )))
        }
        odd => {
            return Err(StoreError::Corrupt(format!(
                "{} has an invalid schema version {odd}",
                path.display()
            )))
        }
    }
    tx.commit().map_err(backend)
}

/// Adds what version 2 has and gives the store its identity: 128 random bits from
/// SQLite's generator (seeded from the OS), as hex.
fn upgrade_to_2(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    tx.execute_batch(VERSION_2).map_err(backend)?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('store_id', lower(hex(randomblob(16))))",
        [],
    )
    .map_err(backend)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(backend)
}

/// The store's identity, as recorded at its creation (or upgrade).
pub fn store_id(conn: &Connection) -> Result<String, StoreError> {
    conn.query_row("SELECT value FROM meta WHERE key = 'store_id'", [], |row| {
        row.get(0)
    })
    .map_err(|e| StoreError::Corrupt(format!("the store has no identity: {e}")))
}

fn open_error(path: &Path, error: rusqlite::Error) -> StoreError {
    let corrupt = matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
    );
    let message = format!("{}: {error}", path.display());
    if corrupt {
        StoreError::Corrupt(message)
    } else {
        StoreError::Backend(message)
    }
}

/// Makes a newly created file's directory entry durable: without it, power loss right after
/// the first acknowledged append could lose the whole file, not just its content. (SQLite
/// syncs the directory itself when it creates a WAL file, but not for the main file.)
pub fn sync_directory(path: &Path) -> Result<(), StoreError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::Backend(format!("cannot sync {}: {e}", dir.display())))
}
