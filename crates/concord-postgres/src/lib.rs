//! Concord's PostgreSQL event store, for services that outgrow one SQLite file.
//!
//! [`PostgresStore`] implements the store traits of `concord-core` and passes the same
//! conformance suite as the SQLite and in-memory stores. How it keeps their promises:
//!
//! - **Durable when acknowledged.** `append` returns after COMMIT, which PostgreSQL answers
//!   once the commit's WAL is flushed (`synchronous_commit`, forced back `on` should a server
//!   have it `off`).
//! - **Atomic batches.** A batch and its link updates are one transaction; the events go in
//!   with one `INSERT … SELECT … FROM unnest(…)` statement, the cursors (with the peer store
//!   each belongs to) with one upsert, the links' resolved dead letters with one delete and
//!   their new ones with one upsert.
//! - **Commit-ordered sequences, even with several writers.** Every append transaction first
//!   takes a transaction-scoped advisory lock that belongs to the store's schema
//!   (`pg_advisory_xact_lock`), then numbers its new events from `max(sequence) + 1` in a later
//!   statement, whose snapshot therefore holds every append that committed before. The lock
//!   is released only after COMMIT made the transaction visible, so appends to one schema —
//!   from any number of connections, stores or processes — commit one after the other in
//!   sequence order. A reader can never see sequence `n` before every sequence below `n`;
//!   following `next_after`, it never skips an event. Sequences are contiguous (1, 2, 3, …:
//!   a rolled-back batch consumes none), which also makes `count` the last sequence.
//! - **Exact idempotence.** `id` is UNIQUE; the insert skips ids already stored (the lock
//!   makes that check race-free) and a repeat inside a batch is found in Rust first.
//! - **Events as received.** `data` is written and read back as the exact JSON text the event
//!   arrived with ([`EventData::as_str`](concord_core::event::EventData::as_str)), never
//!   re-serialized.
//! - **An identity.** The migration that creates a schema (or upgrades a version 1 schema)
//!   gives the store a random id, kept in its `meta` table; `connect` reads it once.
//! - **Consistent reads.** A read is one REPEATABLE READ, READ ONLY transaction: its last
//!   sequence and its page come from the same snapshot. Type and source filters run in SQL,
//!   data filters in Rust (`read_by_scanning`, shared with every backend).
//! - **Lookups in bulk.** `lookup` asks for up to [`LOOKUP_CHUNK`] ids per statement
//!   (`id = ANY($1)`, one round trip each, probing the id index).
//! - **Fast replay.** Rows stream in chunks of [`REPLAY_CHUNK`] (keyset on `sequence`); the
//!   store's connection thread reads the socket while the caller decodes and applies.
//!
//! Each store keeps its tables in a PostgreSQL schema of its own, so several services share a
//! server or one database; see [`location`] for how it is named and [`schema`] for the layout.
//!
//! The traits are synchronous and are called from plain threads and from inside tokio tasks
//! alike; [`pool`] explains how a store serves both without entering the caller's runtime.

pub mod location;
mod pool;
mod rows;
pub mod schema;
pub mod testing;

use std::collections::{HashMap, HashSet};
use std::future::poll_fn;

use futures_core::Stream;
use tokio_postgres::types::ToSql;
use tokio_postgres::Config;

use concord_core::event::{CloudEvent, EventId, StoredEvent};
use concord_core::store::{
    read_by_scanning, AppendOutcome, DeadLetter, EventAppender, EventReader, LinkCursor,
    LinkUpdate, ReadPage, ReadQuery, StoreError,
};

pub use location::{
    is_postgres_url, redact, schema_for_service, url_schema, validate_schema, DEFAULT_SCHEMA,
};
pub use pool::MAX_CONNECTIONS;

use pool::{block_on, Pool};
use schema::Sql;

/// Rows a replay asks for per query.
pub const REPLAY_CHUNK: i64 = 10_000;
/// Ids a lookup asks for per query.
pub const LOOKUP_CHUNK: usize = 1_000;

/// An event store in a PostgreSQL schema.
pub struct PostgresStore {
    sql: Sql,
    /// The store's identity, read from its `meta` table at connect.
    id: String,
    /// The URL, password redacted: for messages.
    location: String,
    pool: Pool,
}

impl PostgresStore {
    /// Connects to the store at `url`, e.g. `postgres://app@db:5432/events?schema=office`, in
    /// the schema its `?schema=` names (else [`DEFAULT_SCHEMA`]), creating the schema and its
    /// tables if missing and upgrading a version 1 schema in place. Fails clearly on a schema
    /// written by a newer Concord, or on one that holds tables but is no Concord store.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let schema = url_schema(url)?.unwrap_or_else(|| DEFAULT_SCHEMA.to_owned());
        Self::connect_with_schema(url, &schema)
    }

    /// As [`connect`](Self::connect), in `schema` whatever the URL says.
    pub fn connect_with_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
        validate_schema(schema)?;
        let config = parse_url(url)?;
        let pool = Pool::new(config)?;
        let sql = Sql::new(schema);
        let id = pool.with(|conn| schema::migrate(conn, &sql, url))?;
        Ok(PostgresStore {
            sql,
            id,
            location: redact(url),
            pool,
        })
    }

    /// Drops a store's schema with everything in it (for tests and for resetting a demo).
    /// Dropping a schema that does not exist is fine.
    pub fn drop_schema(url: &str, schema: &str) -> Result<(), StoreError> {
        validate_schema(schema)?;
        let pool = Pool::new(parse_url(url)?)?;
        pool.with(|conn| {
            block_on(
                conn.client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")),
            )
            .map_err(backend)
        })
    }

    /// Checks that a server answers at `url` (a connection and `SELECT 1`).
    pub fn ping(url: &str) -> Result<(), StoreError> {
        let pool = Pool::new(parse_url(url)?)?;
        pool.with(|conn| {
            block_on(conn.client.simple_query("SELECT 1"))
                .map(drop)
                .map_err(backend)
        })
    }

    /// The schema holding this store's tables.
    pub fn schema(&self) -> &str {
        &self.sql.schema
    }

    /// Where this store lives, fit to print: the URL without its password.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The highest stored sequence: one probe at the end of the sequence index.
    fn query_last_sequence(&self) -> Result<u64, StoreError> {
        self.pool.with(|conn| {
            let statement = conn.statement(&self.sql.last_sequence)?;
            let row = block_on(conn.client.query_one(&statement, &[])).map_err(backend)?;
            sequence(row.get(0))
        })
    }
}

impl EventAppender for PostgresStore {
    fn append(
        &self,
        events: &[CloudEvent],
        links: &[LinkUpdate],
    ) -> Result<Vec<AppendOutcome>, StoreError> {
        if events.is_empty() && links.is_empty() {
            return Ok(Vec::new());
        }
        let batch = Batch::new(events)?;
        let links = LinkColumns::new(links)?;
        let inserted: Vec<(i64, String)> = self.pool.with(|conn| {
            let insert = conn.statement(&self.sql.insert_events)?;
            let upsert_cursors = conn.statement(&self.sql.upsert_cursors)?;
            let delete_letters = conn.statement(&self.sql.delete_dead_letters)?;
            let upsert_letters = conn.statement(&self.sql.upsert_dead_letters)?;
            let client = &conn.client;
            block_on(async {
                // Link updates alone assign no sequence: they need no lock.
                let begin = if batch.ids.is_empty() {
                    "BEGIN"
                } else {
                    self.sql.begin_append.as_str()
                };
                client.batch_execute(begin).await?;
                let mut inserted = Vec::new();
                if !batch.ids.is_empty() {
                    let params: [&(dyn ToSql + Sync); 7] = [
                        &batch.ids,
                        &batch.sources,
                        &batch.types,
                        &batch.times,
                        &batch.datacontenttypes,
                        &batch.data,
                        &batch.extensions,
                    ];
                    for row in client.query(&insert, &params).await? {
                        inserted.push((row.get(0), row.get(1)));
                    }
                }
                let cursors = &links.cursors;
                if !cursors.links.is_empty() {
                    let params: [&(dyn ToSql + Sync); 3] =
                        [&cursors.links, &cursors.positions, &cursors.peer_stores];
                    client.execute(&upsert_cursors, &params).await?;
                }
                let resolved = &links.resolved;
                if !resolved.links.is_empty() {
                    let params: [&(dyn ToSql + Sync); 2] = [&resolved.links, &resolved.ids];
                    client.execute(&delete_letters, &params).await?;
                }
                let letters = &links.letters;
                if !letters.links.is_empty() {
                    let params: [&(dyn ToSql + Sync); 5] = [
                        &letters.links,
                        &letters.ids,
                        &letters.reasons,
                        &letters.ats,
                        &letters.events,
                    ];
                    client.execute(&upsert_letters, &params).await?;
                }
                client.batch_execute("COMMIT").await?;
                Ok(inserted)
            })
            .map_err(backend)
        })?;
        let mut assigned: HashMap<&str, u64> = HashMap::with_capacity(inserted.len());
        for (sequence_number, id) in &inserted {
            assigned.insert(id.as_str(), sequence(*sequence_number)?);
        }
        Ok(events
            .iter()
            .zip(&batch.first)
            .map(|(event, first)| match assigned.get(&*event.id) {
                Some(sequence) if *first => AppendOutcome::Appended(*sequence),
                _ => AppendOutcome::Duplicate,
            })
            .collect())
    }
}

/// A batch as the insert's arrays: each id once, in batch order.
struct Batch<'e> {
    /// Per event of the batch: whether it is the first with its id.
    first: Vec<bool>,
    ids: Vec<&'e str>,
    sources: Vec<&'e str>,
    types: Vec<&'e str>,
    times: Vec<&'e str>,
    datacontenttypes: Vec<Option<&'e str>>,
    /// The exact text each event's data arrived as.
    data: Vec<&'e str>,
    extensions: Vec<Option<String>>,
}

impl<'e> Batch<'e> {
    fn new(events: &'e [CloudEvent]) -> Result<Self, StoreError> {
        let mut seen = HashSet::with_capacity(events.len());
        let mut batch = Batch {
            first: Vec::with_capacity(events.len()),
            ids: Vec::with_capacity(events.len()),
            sources: Vec::with_capacity(events.len()),
            types: Vec::with_capacity(events.len()),
            times: Vec::with_capacity(events.len()),
            datacontenttypes: Vec::with_capacity(events.len()),
            data: Vec::with_capacity(events.len()),
            extensions: Vec::with_capacity(events.len()),
        };
        for event in events {
            let first = seen.insert(&*event.id);
            batch.first.push(first);
            if !first {
                continue;
            }
            // PostgreSQL text cannot hold U+0000. (In data and extensions it is escaped
            // JSON, `\u0000`, and fine.) Refuse the batch plainly rather than with the
            // server's encoding error.
            let attributes = [
                ("id", &*event.id),
                ("source", &event.source),
                ("type", &event.ty),
                (
                    "datacontenttype",
                    event.datacontenttype.as_deref().unwrap_or(""),
                ),
            ];
            if let Some((name, _)) = attributes.iter().find(|(_, v)| v.contains('\0')) {
                return Err(StoreError::Backend(format!(
                    "event {:?}: its {name} holds a NUL character, which PostgreSQL text cannot store",
                    event.id
                )));
            }
            batch.ids.push(&event.id);
            batch.sources.push(&event.source);
            batch.types.push(&event.ty);
            batch.times.push(event.time_text());
            batch
                .datacontenttypes
                .push(event.datacontenttype.as_deref());
            batch.data.push(event.data.as_str());
            batch.extensions.push(if event.extensions.is_empty() {
                None
            } else {
                Some(rows::json_text(&event.extensions))
            });
        }
        Ok(batch)
    }
}

/// The link updates of a batch as the arrays of the statements that apply them, with the
/// net effect of applying the updates one after the other (as the in-memory store does):
/// a statement cannot touch one row twice, so repeats are settled here.
#[derive(Default)]
struct LinkColumns<'l> {
    cursors: CursorColumns<'l>,
    resolved: ResolvedColumns<'l>,
    letters: LetterColumns<'l>,
}

/// One cursor per link: the last one given wins.
#[derive(Default)]
struct CursorColumns<'l> {
    links: Vec<&'l str>,
    positions: Vec<i64>,
    peer_stores: Vec<Option<&'l str>>,
}

/// Every (link, id) resolved anywhere in the batch, deleted before the letters are written.
#[derive(Default)]
struct ResolvedColumns<'l> {
    links: Vec<&'l str>,
    ids: Vec<&'l str>,
}

/// The letters to write, one per (link, id), in the order they take their places.
#[derive(Default)]
struct LetterColumns<'l> {
    links: Vec<&'l str>,
    ids: Vec<&'l str>,
    reasons: Vec<&'l str>,
    ats: Vec<&'l str>,
    events: Vec<Option<&'l str>>,
}

impl<'l> LinkColumns<'l> {
    fn new(updates: &'l [LinkUpdate]) -> Result<Self, StoreError> {
        let mut columns = LinkColumns::default();
        let mut cursor_at: HashMap<&str, usize> = HashMap::new();
        let mut resolved: HashSet<(&str, &str)> = HashSet::new();
        // Letters in the order they were last (re)added; `None` once resolved again.
        let mut letters: Vec<Option<(&str, &DeadLetter)>> = Vec::new();
        let mut letter_at: HashMap<(&str, &str), usize> = HashMap::new();
        for update in updates {
            let link = update.link.as_str();
            refuse_nul("link", link, link)?;
            if let Some(cursor) = &update.cursor {
                let position = i64::try_from(cursor.position).map_err(|_| {
                    StoreError::Backend(format!(
                        "cursor {link:?}: position {} does not fit a PostgreSQL bigint",
                        cursor.position
                    ))
                })?;
                let peer_store = cursor.peer_store.as_deref();
                if let Some(peer) = peer_store {
                    refuse_nul("cursor's peer store", link, peer)?;
                }
                let cursors = &mut columns.cursors;
                match cursor_at.get(link) {
                    Some(&i) => {
                        cursors.positions[i] = position;
                        cursors.peer_stores[i] = peer_store;
                    }
                    None => {
                        cursor_at.insert(link, cursors.links.len());
                        cursors.links.push(link);
                        cursors.positions.push(position);
                        cursors.peer_stores.push(peer_store);
                    }
                }
            }
            // Resolved first, then added: as every backend applies one update.
            for id in &update.resolved {
                if resolved.insert((link, id.as_str())) {
                    columns.resolved.links.push(link);
                    columns.resolved.ids.push(id);
                }
                if let Some(i) = letter_at.remove(&(link, id.as_str())) {
                    letters[i] = None;
                }
            }
            for letter in &update.dead_letters {
                for (what, text) in [
                    ("dead letter's id", letter.id.as_str()),
                    ("dead letter's reason", &letter.reason),
                    ("dead letter's time", &letter.at),
                    ("dead letter's event", letter.event.as_deref().unwrap_or("")),
                ] {
                    refuse_nul(what, link, text)?;
                }
                let key = (link, letter.id.as_str());
                match letter_at.get(&key) {
                    // Replaced whole, in its place.
                    Some(&i) => letters[i] = Some((link, letter)),
                    None => {
                        letter_at.insert(key, letters.len());
                        letters.push(Some((link, letter)));
                    }
                }
            }
        }
        let out = &mut columns.letters;
        for (link, letter) in letters.into_iter().flatten() {
            out.links.push(link);
            out.ids.push(&letter.id);
            out.reasons.push(&letter.reason);
            out.ats.push(&letter.at);
            out.events.push(letter.event.as_deref());
        }
        Ok(columns)
    }
}

/// PostgreSQL text cannot hold U+0000: a link update carrying one is refused plainly, with the
/// batch, rather than with the server's encoding error.
fn refuse_nul(what: &str, link: &str, text: &str) -> Result<(), StoreError> {
    if text.contains('\0') {
        return Err(StoreError::Backend(format!(
            "link {:?}: the {what} holds a NUL character, which PostgreSQL text cannot store",
            link.replace('\0', "\\0")
        )));
    }
    Ok(())
}

impl EventReader for PostgresStore {
    fn read(&self, query: &ReadQuery) -> Result<ReadPage, StoreError> {
        let (by_type, by_source) = (!query.types.is_empty(), !query.sources.is_empty());
        self.pool.with(|conn| {
            let scan = conn.statement(self.sql.scan(by_type, by_source))?;
            let client = &conn.client;
            // The first statement of the transaction fixes its snapshot: the scans below see
            // exactly the store whose last sequence this is.
            let begun = block_on(client.simple_query(&self.sql.begin_read)).map_err(backend)?;
            let last_sequence = first_value(&begun)?;
            let page = read_by_scanning(query, last_sequence, |from, max| {
                let from = sql_integer(from)?;
                // One more than asked: its presence is what says the scan was cut short.
                let limit = (max + 1) as i64;
                let mut params: Vec<&(dyn ToSql + Sync)> = vec![&from];
                if by_type {
                    params.push(&query.types);
                }
                if by_source {
                    params.push(&query.sources);
                }
                params.push(&limit);
                let rows = block_on(client.query(&scan, &params)).map_err(backend)?;
                let truncated = rows.len() > max;
                let chunk = rows
                    .iter()
                    .take(max)
                    .map(rows::decode)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((chunk, truncated))
            })?;
            block_on(client.batch_execute("COMMIT")).map_err(backend)?;
            Ok(page)
        })
    }

    fn replay(&self, after: u64, sink: &mut dyn FnMut(&StoredEvent)) -> Result<u64, StoreError> {
        let mut last = after;
        loop {
            let fed = self.pool.with(|conn| {
                let statement = conn.statement(&self.sql.replay)?;
                let from = sql_integer(last)?;
                block_on(async {
                    let params: [&(dyn ToSql + Sync); 2] = [&from, &REPLAY_CHUNK];
                    let rows = conn
                        .client
                        .query_raw(&statement, params)
                        .await
                        .map_err(backend)?;
                    let mut rows = std::pin::pin!(rows);
                    let mut fed = 0;
                    // Rows are decoded and applied here, on the caller's thread, while the
                    // store's thread keeps reading the socket ahead.
                    while let Some(row) = poll_fn(|cx| rows.as_mut().poll_next(cx)).await {
                        let stored = rows::decode(&row.map_err(backend)?)?;
                        last = stored.sequence;
                        sink(&stored);
                        fed += 1;
                    }
                    Ok(fed)
                })
            })?;
            if fed < REPLAY_CHUNK {
                return Ok(last);
            }
        }
    }

    fn lookup(&self, ids: &[&str]) -> Result<Vec<Option<CloudEvent>>, StoreError> {
        // An id holding a NUL cannot have been stored: not asked of the server, which would
        // refuse the whole query.
        let storable: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| !id.contains('\0'))
            .collect();
        let mut found: HashMap<EventId, CloudEvent> = HashMap::new();
        if !storable.is_empty() {
            self.pool.with(|conn| {
                let statement = conn.statement(&self.sql.lookup)?;
                for chunk in storable.chunks(LOOKUP_CHUNK) {
                    let rows =
                        block_on(conn.client.query(&statement, &[&chunk])).map_err(backend)?;
                    for row in &rows {
                        let stored = rows::decode(row)?;
                        found.insert(stored.event.id.clone(), stored.event);
                    }
                }
                Ok(())
            })?;
        }
        Ok(ids.iter().map(|id| found.get(*id).cloned()).collect())
    }

    /// Sequences are contiguous from 1, so the count is the last sequence (one index probe,
    /// where `count(*)` would scan the table).
    fn count(&self) -> Result<u64, StoreError> {
        self.last_sequence()
    }

    fn last_sequence(&self) -> Result<u64, StoreError> {
        self.query_last_sequence()
    }

    fn store_id(&self) -> &str {
        &self.id
    }

    fn link_cursor(&self, link: &str) -> Result<LinkCursor, StoreError> {
        if link.contains('\0') {
            return Ok(LinkCursor::default()); // never stored (see `refuse_nul`)
        }
        self.pool.with(|conn| {
            let statement = conn.statement(&self.sql.link_cursor)?;
            let row = block_on(conn.client.query_opt(&statement, &[&link])).map_err(backend)?;
            let Some(row) = row else {
                return Ok(LinkCursor::default());
            };
            let position: i64 = row.get(0);
            let position = u64::try_from(position).map_err(|_| {
                StoreError::Corrupt(format!("cursor {link:?} is negative ({position})"))
            })?;
            Ok(LinkCursor {
                position,
                peer_store: row.get(1),
            })
        })
    }

    fn dead_letters(&self, link: &str, limit: usize) -> Result<(u64, Vec<DeadLetter>), StoreError> {
        if link.contains('\0') {
            return Ok((0, Vec::new())); // never stored (see `refuse_nul`)
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.pool.with(|conn| {
            let statement = conn.statement(&self.sql.dead_letters)?;
            let rows =
                block_on(conn.client.query(&statement, &[&link, &limit])).map_err(backend)?;
            let count: i64 = rows.first().map_or(0, |row| row.get(0));
            let letters = rows
                .iter()
                .filter_map(|row| {
                    // No letter: the one row carries the count alone.
                    let id: Option<String> = row.get(1);
                    Some(DeadLetter {
                        id: id?,
                        reason: row.get(2),
                        at: row.get(3),
                        event: row.get(4),
                    })
                })
                .collect();
            Ok((count as u64, letters))
        })
    }
}

fn parse_url(url: &str) -> Result<Config, StoreError> {
    let (driver_url, _) = location::split_schema(url)?;
    let mut config: Config = driver_url
        .parse()
        .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL {}: {e}", redact(url))))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(pool::CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("concord");
    }
    Ok(config)
}

/// The sequence in the first row a simple query returned.
fn first_value(messages: &[tokio_postgres::SimpleQueryMessage]) -> Result<u64, StoreError> {
    let text = messages
        .iter()
        .find_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0),
            _ => None,
        })
        .ok_or_else(|| StoreError::Backend("PostgreSQL returned no last sequence".into()))?;
    let n = text
        .parse::<i64>()
        .map_err(|e| StoreError::Corrupt(format!("last sequence {text:?}: {e}")))?;
    sequence(n)
}

/// A stored sequence, which must be positive (0 only as "none yet").
fn sequence(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative sequence {n}")))
}

/// PostgreSQL's bigint is signed: a sequence or position past `i64::MAX` cannot be stored.
fn sql_integer(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n)
        .map_err(|_| StoreError::Backend(format!("{n} does not fit a PostgreSQL bigint")))
}

/// Maps a PostgreSQL failure to the store's error, keeping corruption distinguishable.
pub(crate) fn backend(error: tokio_postgres::Error) -> StoreError {
    let corrupt = error
        .code()
        .is_some_and(|code| matches!(code.code(), "XX001" | "XX002"));
    // `Error`'s Display says only "db error" for a server error; the server's own message
    // (with its detail) is what tells a user what went wrong.
    let message = match error.as_db_error() {
        Some(db) => format!("PostgreSQL: {db}"),
        None => format!("PostgreSQL: {}", with_causes(&error)),
    };
    if corrupt {
        StoreError::Corrupt(message)
    } else {
        StoreError::Backend(message)
    }
}

/// An error and what caused it ("error connecting to server: Connection refused …").
pub(crate) fn with_causes(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let text = inner.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = inner.source();
    }
    message
}

#[cfg(test)]
mod tests;
