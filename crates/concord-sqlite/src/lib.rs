//! Concord's embedded event store: one SQLite file, durable on every append.
//!
//! [`SqliteStore`] implements the store traits of `concord-core` and passes its conformance
//! suite. How it keeps the promises those traits make:
//!
//! - **Durable when acknowledged.** WAL mode with `synchronous=FULL`: `append` returns only
//!   after the log holding the batch has been fsynced, so it survives `kill -9` and power loss.
//! - **Atomic batches.** A batch and its link cursors are one transaction.
//! - **Commit-ordered sequences.** One writer connection behind a mutex assigns sequences
//!   itself (`last + 1`), and the cached last sequence moves only after COMMIT succeeded, so
//!   sequences are contiguous, follow commit order, and a failed batch consumes none.
//! - **Exact idempotence.** `id` is UNIQUE; `INSERT … ON CONFLICT(id) DO NOTHING` reports a
//!   stored id (or one repeated earlier in the same batch) as a duplicate.
//! - **Consistent reads.** Reads use read-only connections from a small pool (WAL lets them
//!   run beside the writer); each read runs in one read transaction, so a page and the last
//!   sequence it reports come from the same snapshot.
//! - **Commits that mostly only commit.** Copying the log into the file (a checkpoint) runs
//!   on a helper thread; only the commit that takes the log past 4 000 pages copies what the
//!   helper has not, and so lets the log start over (see `checkpoint.rs`).
//! - **Fast replay.** A long replay steps SQLite on a helper thread while the caller builds
//!   and applies events (see `replay.rs` for why the split falls exactly there).
//!
//! One process owns a store file: the cached last sequence assumes no other process appends
//! (another writer would be detected as a sequence conflict and fail the append, not
//! corrupt the log).

pub(crate) mod checkpoint;
mod pool;
mod replay;
mod rows;
pub mod schema;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rusqlite::{Connection, TransactionBehavior};

use concord_core::event::{CloudEvent, StoredEvent};
use concord_core::store::{
    read_by_scanning, AppendOutcome, DeadLetter, EventAppender, EventReader, LinkCursor,
    LinkUpdate, ReadPage, ReadQuery, StoreError,
};

use pool::ReaderPool;

/// An event store in one SQLite file.
pub struct SqliteStore {
    path: PathBuf,
    id: String,
    /// Before `writer`, so it closes first: the writer's connection, closing last, copies
    /// what is left of the log into the file and removes the log, as SQLite does for the
    /// last connection to a file (a reader still open would make it leave the log behind).
    readers: ReaderPool,
    writer: Mutex<Writer>,
    /// Mirror of the writer's committed state, so that `last_sequence` and `count` (asked
    /// after every group commit) need neither the writer lock nor a query.
    committed_sequence: AtomicU64,
    checkpointer: checkpoint::Checkpointer,
}

/// The single write connection and the state that only changes after it commits.
struct Writer {
    conn: Connection,
    last_sequence: u64,
}

impl SqliteStore {
    /// Opens the store at `path`, creating the file and its tables if missing. Fails clearly
    /// on a file written by a newer Concord, or on a database that is not a Concord store.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let (mut conn, created) = schema::open_writer(&path)?;
        if created {
            schema::sync_directory(&path)?;
        }
        // One step down the table's B-tree. No `COUNT(*)`: that read the whole id index at
        // every start (0.4 s from a cold disk for 500 k events), and the count is the last
        // sequence anyway ([`EventReader::count`] below).
        let last_sequence = query_last_sequence(&conn)?;
        let id = schema::store_id(&conn)?;
        let readers = ReaderPool::new(path.clone());
        // Open one reader now so a file a reader cannot open fails `open`, not a later read.
        drop(readers.get()?);
        let checkpointer = checkpoint::install(&mut conn, &path)?;
        Ok(SqliteStore {
            path,
            id,
            writer: Mutex::new(Writer {
                conn,
                last_sequence,
            }),
            readers,
            committed_sequence: AtomicU64::new(last_sequence),
            checkpointer,
        })
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SqliteStore {
    /// Stops the checkpoint helper (removing the writer's hook closes its channel) and waits
    /// for it, so that once a store is dropped no connection of it is left to the file.
    fn drop(&mut self) {
        let writer = self.writer.get_mut().unwrap_or_else(|p| p.into_inner());
        let _ = writer.conn.wal_hook(checkpoint::NO_HOOK);
        self.checkpointer.join();
    }
}

impl EventAppender for SqliteStore {
    fn append(
        &self,
        events: &[CloudEvent],
        links: &[LinkUpdate],
    ) -> Result<Vec<AppendOutcome>, StoreError> {
        if events.is_empty() && links.is_empty() {
            return Ok(Vec::new());
        }
        // A panic cannot leave the cached state half-updated (it changes only after COMMIT,
        // in plain assignments), and the transaction rolls back on unwind: poison is harmless.
        let mut guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let writer = &mut *guard;
        let mut outcomes = Vec::with_capacity(events.len());
        let mut next = writer.last_sequence;
        {
            // IMMEDIATE takes the write lock up front, so a busy file fails here, before any
            // work, rather than at COMMIT. Dropping `tx` on any early return rolls back.
            let tx = writer
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            if !events.is_empty() {
                let mut insert = tx.prepare_cached(schema::INSERT_EVENT).map_err(backend)?;
                for event in events {
                    let sequence = sql_integer(next + 1)?;
                    let extensions_text;
                    let extensions = if event.extensions.is_empty() {
                        None
                    } else {
                        extensions_text = serde_json::to_string(&event.extensions)
                            .expect("a JSON map always serializes");
                        Some(extensions_text.as_str())
                    };
                    let changed = insert
                        .execute(rusqlite::params![
                            sequence,
                            &*event.id,
                            event.source,
                            event.ty,
                            event.time_text(),
                            event.datacontenttype,
                            event.data.as_str(),
                            extensions,
                        ])
                        .map_err(backend)?;
                    if changed == 1 {
                        next += 1;
                        outcomes.push(AppendOutcome::Appended(next));
                    } else {
                        outcomes.push(AppendOutcome::Duplicate);
                    }
                }
            }
            if !links.is_empty() {
                write_links(&tx, links)?;
            }
            tx.commit().map_err(backend)?;
        }
        writer.last_sequence = next;
        self.committed_sequence.store(next, Ordering::Release);
        Ok(outcomes)
    }
}

impl EventReader for SqliteStore {
    fn read(&self, query: &ReadQuery) -> Result<ReadPage, StoreError> {
        let mut reader = self.readers.get()?;
        let tx = reader.transaction().map_err(backend)?;
        // The first statement of the transaction fixes its snapshot; the scans below see
        // exactly the store whose last sequence this is.
        let last_sequence = query_last_sequence(&tx)?;
        let sql = scan_sql(query);
        let mut scan = tx.prepare_cached(&sql).map_err(backend)?;
        let page = read_by_scanning(query, last_sequence, |after, max| {
            let mut index = 1;
            scan.raw_bind_parameter(index, sql_integer(after)?)
                .map_err(backend)?;
            for value in query.types.iter().chain(&query.sources) {
                index += 1;
                scan.raw_bind_parameter(index, value.as_str())
                    .map_err(backend)?;
            }
            // One more than asked: its presence is what says the scan was cut short.
            scan.raw_bind_parameter(index + 1, (max + 1) as i64)
                .map_err(backend)?;
            let mut rows = scan.raw_query();
            let mut chunk = Vec::with_capacity(max.min(1024));
            while let Some(row) = rows.next().map_err(backend)? {
                if chunk.len() == max {
                    return Ok((chunk, true));
                }
                chunk.push(rows::decode(row)?);
            }
            Ok((chunk, false))
        })?;
        drop(scan);
        tx.finish().map_err(backend)?;
        Ok(page)
    }

    fn replay(&self, after: u64, sink: &mut dyn FnMut(&StoredEvent)) -> Result<u64, StoreError> {
        let mut reader = self.readers.get()?;
        if self.last_sequence()?.saturating_sub(after) >= PIPELINE_FROM {
            return replay::pipelined(reader, after, sink);
        }
        let mut last = after;
        scan_rows(&mut reader, after, &mut |row| {
            let stored = rows::decode_for_replay(row)?;
            last = stored.sequence;
            sink(&stored);
            Ok(true)
        })?;
        Ok(last)
    }

    fn lookup(&self, ids: &[&str]) -> Result<Vec<Option<CloudEvent>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let reader = self.readers.get()?;
        let mut found: HashMap<String, CloudEvent> = HashMap::new();
        for chunk in ids.chunks(CONTAINS_CHUNK) {
            // Chunks are padded (repeating their last id) to a few fixed sizes, so a handful
            // of cached statements serve every batch size.
            let size = CONTAINS_SIZES
                .iter()
                .copied()
                .find(|&s| s >= chunk.len())
                .unwrap_or(CONTAINS_CHUNK);
            let sql = format!(
                "SELECT {} FROM events WHERE id IN ({})",
                schema::EVENT_COLUMNS,
                placeholders(size)
            );
            let mut lookup = reader.prepare_cached(&sql).map_err(backend)?;
            let last = chunk[chunk.len() - 1];
            for i in 0..size {
                lookup
                    .raw_bind_parameter(i + 1, *chunk.get(i).unwrap_or(&last))
                    .map_err(backend)?;
            }
            let mut rows = lookup.raw_query();
            while let Some(row) = rows.next().map_err(backend)? {
                let stored = rows::decode(row)?;
                found.insert(stored.event.id.to_string(), stored.event);
            }
        }
        Ok(ids.iter().map(|id| found.get(*id).cloned()).collect())
    }

    /// Sequences run 1, 2, 3… without a gap (each appended event takes the next, a duplicate
    /// takes none) and no event is ever deleted, so the count is the last sequence.
    fn count(&self) -> Result<u64, StoreError> {
        Ok(self.committed_sequence.load(Ordering::Acquire))
    }

    fn last_sequence(&self) -> Result<u64, StoreError> {
        Ok(self.committed_sequence.load(Ordering::Acquire))
    }

    fn store_id(&self) -> &str {
        &self.id
    }

    fn link_cursor(&self, link: &str) -> Result<LinkCursor, StoreError> {
        let reader = self.readers.get()?;
        let mut lookup = reader
            .prepare_cached("SELECT position, peer_store FROM cursors WHERE link = ?1")
            .map_err(backend)?;
        let mut rows = lookup.query([link]).map_err(backend)?;
        match rows.next().map_err(backend)? {
            Some(row) => {
                let position: i64 = row.get(0).map_err(backend)?;
                let position = u64::try_from(position).map_err(|_| {
                    StoreError::Corrupt(format!("cursor {link:?} is negative ({position})"))
                })?;
                Ok(LinkCursor {
                    position,
                    peer_store: row.get(1).map_err(backend)?,
                })
            }
            None => Ok(LinkCursor::default()),
        }
    }

    fn dead_letters(&self, link: &str, limit: usize) -> Result<(u64, Vec<DeadLetter>), StoreError> {
        let reader = self.readers.get()?;
        let count: i64 = reader
            .prepare_cached("SELECT COUNT(*) FROM dead_letters WHERE link = ?1")
            .and_then(|mut s| s.query_row([link], |row| row.get(0)))
            .map_err(backend)?;
        let mut select = reader
            .prepare_cached(
                "SELECT id, reason, at, event FROM dead_letters WHERE link = ?1 \
                 ORDER BY rowid LIMIT ?2",
            )
            .map_err(backend)?;
        let letters = select
            .query_map(
                rusqlite::params![link, limit.min(i64::MAX as usize) as i64],
                |row| {
                    Ok(DeadLetter {
                        id: row.get(0)?,
                        reason: row.get(1)?,
                        at: row.get(2)?,
                        event: row.get(3)?,
                    })
                },
            )
            .map_err(backend)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        Ok((count as u64, letters))
    }
}

/// Writes link updates inside the append's transaction: cursors, dead letters (replacing a
/// letter of the same id), resolved letters.
fn write_links(tx: &rusqlite::Transaction<'_>, links: &[LinkUpdate]) -> Result<(), StoreError> {
    for update in links {
        if let Some(cursor) = &update.cursor {
            tx.prepare_cached(
                "INSERT INTO cursors (link, position, peer_store) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(link) DO UPDATE SET position = excluded.position, \
                 peer_store = excluded.peer_store",
            )
            .map_err(backend)?
            .execute(rusqlite::params![
                update.link,
                sql_integer(cursor.position)?,
                cursor.peer_store
            ])
            .map_err(backend)?;
        }
        for id in &update.resolved {
            tx.prepare_cached("DELETE FROM dead_letters WHERE link = ?1 AND id = ?2")
                .map_err(backend)?
                .execute(rusqlite::params![update.link, id])
                .map_err(backend)?;
        }
        for letter in &update.dead_letters {
            tx.prepare_cached(
                "INSERT INTO dead_letters (link, id, reason, at, event) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(link, id) DO UPDATE SET \
                 reason = excluded.reason, at = excluded.at, \
                 event = excluded.event",
            )
            .map_err(backend)?
            .execute(rusqlite::params![
                update.link,
                letter.id,
                letter.reason,
                letter.at,
                letter.event
            ])
            .map_err(backend)?;
        }
    }
    Ok(())
}

/// From this many events on, a replay runs on two threads (see [`replay`]); a shorter tail is
/// not worth starting a thread for.
const PIPELINE_FROM: u64 = 4096;

/// Walks every row after `after`, in order, inside one read transaction, until the end or
/// until `visit` returns false.
fn scan_rows(
    reader: &mut pool::Reader<'_>,
    after: u64,
    visit: &mut dyn FnMut(&rusqlite::Row<'_>) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    let tx = reader.transaction().map_err(backend)?;
    {
        let mut scan = tx
            .prepare_cached(&format!(
                "SELECT {} FROM events WHERE sequence > ?1 ORDER BY sequence",
                schema::EVENT_COLUMNS
            ))
            .map_err(backend)?;
        let mut rows = scan.query([sql_integer(after)?]).map_err(backend)?;
        while let Some(row) = rows.next().map_err(backend)? {
            if !visit(row)? {
                break;
            }
        }
    }
    tx.finish().map_err(backend)
}

/// The largest `IN` list `contains` sends in one query, and the sizes its lists are padded to.
const CONTAINS_CHUNK: usize = 500;
const CONTAINS_SIZES: [usize; 5] = [1, 8, 32, 128, CONTAINS_CHUNK];

fn scan_sql(query: &ReadQuery) -> String {
    let mut sql = format!(
        "SELECT {} FROM events WHERE sequence > ?",
        schema::EVENT_COLUMNS
    );
    if !query.types.is_empty() {
        sql.push_str(" AND type IN (");
        sql.push_str(&placeholders(query.types.len()));
        sql.push(')');
    }
    if !query.sources.is_empty() {
        sql.push_str(" AND source IN (");
        sql.push_str(&placeholders(query.sources.len()));
        sql.push(')');
    }
    sql.push_str(" ORDER BY sequence LIMIT ?");
    sql
}

fn placeholders(n: usize) -> String {
    let mut list = "?,".repeat(n);
    list.pop();
    list
}

fn query_last_sequence(conn: &Connection) -> Result<u64, StoreError> {
    let last: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(sequence), 0) FROM events")
        .and_then(|mut s| s.query_row([], |row| row.get(0)))
        .map_err(backend)?;
    Ok(last as u64)
}

/// SQLite integers are signed; a sequence or position past `i64::MAX` cannot be stored.
fn sql_integer(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Backend(format!("{n} does not fit an SQLite integer")))
}

/// Maps an SQLite failure to the store's error, keeping corruption distinguishable.
pub(crate) fn backend(error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
            StoreError::Corrupt(error.to_string())
        }
        _ => StoreError::Backend(error.to_string()),
    }
}

#[cfg(test)]
mod tests;
