//! Tests of the SQLite store: the shared conformance suite, plus what only a file can show —
//! state surviving a reopen, version checks, and a failed batch leaving nothing behind.

use std::cell::RefCell;

use concord_core::store::{AppendOutcome, EventAppender, EventReader, LinkUpdate, ReadQuery};
use concord_testkit::store::{run_all, sample_event};
use serde_json::json;
use tempfile::TempDir;

use super::*;

fn event(id: &str) -> CloudEvent {
    sample_event(id, "svc-a", "thingMade", json!({"thingId": id, "n": 1}))
}

#[test]
fn passes_the_conformance_suite() {
    let dir = TempDir::new().unwrap();
    let made = RefCell::new(0);
    run_all(&mut || {
        *made.borrow_mut() += 1;
        let path = dir.path().join(format!("store-{}.db", made.borrow()));
        Box::new(SqliteStore::open(path).unwrap()) as _
    });
}

#[test]
fn everything_survives_a_reopen() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("events.db");
    let before = {
        let store = SqliteStore::open(&path).unwrap();
        store
            .append(
                &[event("a"), event("b"), event("c")],
                &[LinkUpdate::cursor("pull-office", 12)],
            )
            .unwrap();
        store.append(&[event("d")], &[]).unwrap();
        (
            store.read(&ReadQuery::after(0, 100)).unwrap().events,
            store.store_id().to_owned(),
        )
    };
    let (before, identity) = before;
    assert_eq!(before.len(), 4);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.store_id(), identity, "a store keeps its identity");
    assert_eq!(
        store.read(&ReadQuery::after(0, 100)).unwrap().events,
        before
    );
    assert_eq!(store.count().unwrap(), 4);
    assert_eq!(store.last_sequence().unwrap(), before[3].sequence);
    assert_eq!(store.cursor("pull-office").unwrap(), 12);
    assert_eq!(
        store.contains(&["a", "d", "e"]).unwrap(),
        vec![true, true, false]
    );
    let outcomes = store.append(&[event("b"), event("e")], &[]).unwrap();
    assert_eq!(
        outcomes[0],
        AppendOutcome::Duplicate,
        "ids are refused forever"
    );
    assert_eq!(
        outcomes[1],
        AppendOutcome::Appended(before[3].sequence + 1),
        "sequences continue above the old ones"
    );
}

#[test]
fn a_failed_batch_leaves_no_trace() {
    let dir = TempDir::new().unwrap();
    let store = SqliteStore::open(dir.path().join("events.db")).unwrap();
    store.append(&[event("a")], &[]).unwrap();
    // A cursor SQLite cannot hold fails the transaction after the events were inserted.
    let failed = store.append(
        &[event("b"), event("c")],
        &[LinkUpdate::cursor("l", u64::MAX)],
    );
    assert!(failed.is_err());
    assert_eq!(store.count().unwrap(), 1);
    assert_eq!(store.last_sequence().unwrap(), 1);
    assert_eq!(store.contains(&["b", "c"]).unwrap(), vec![false, false]);
    assert_eq!(store.cursor("l").unwrap(), 0);
    let outcomes = store.append(&[event("b")], &[]).unwrap();
    assert_eq!(
        outcomes,
        vec![AppendOutcome::Appended(2)],
        "a failed batch consumes no sequence"
    );
}

#[test]
fn contains_answers_large_batches_in_order() {
    let dir = TempDir::new().unwrap();
    let store = SqliteStore::open(dir.path().join("events.db")).unwrap();
    let stored: Vec<CloudEvent> = (0..700).map(|i| event(&format!("s{i}"))).collect();
    store.append(&stored, &[]).unwrap();
    let asked: Vec<String> = (0..1500)
        .map(|i| {
            if i % 3 == 0 {
                format!("s{}", i / 2)
            } else {
                format!("x{i}")
            }
        })
        .collect();
    let asked: Vec<&str> = asked.iter().map(String::as_str).collect();
    let expected: Vec<bool> = (0..1500).map(|i| i % 3 == 0 && i / 2 < 700).collect();
    assert_eq!(store.contains(&asked).unwrap(), expected);
}

/// A store written by the previous layout (version 1): events and cursors, no identity.
#[test]
fn a_version_1_store_is_upgraded_in_place() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("v1.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(schema::CREATE_TABLES).unwrap();
        conn.execute(
            "INSERT INTO events (sequence, id, source, type, time, datacontenttype, data, extensions) \
             VALUES (1, 'old-1', 's', 't', '2026-11-26T09:30:00Z', NULL, '{\"n\": 1e15}', NULL)",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO cursors (link, position) VALUES ('pull-x', 9)",
            [],
        )
        .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.store_id().len(), 32, "{}", store.store_id());
    assert_eq!(store.cursor("pull-x").unwrap(), 9);
    assert_eq!(store.link_cursor("pull-x").unwrap().peer_store, None);
    let page = store.read(&ReadQuery::after(0, 10)).unwrap();
    assert_eq!(
        page.events[0].event.data.as_str(),
        "{\"n\": 1e15}",
        "data text untouched"
    );
    assert_eq!(store.dead_letters("pull-x", 10).unwrap().0, 0);
    let identity = store.store_id().to_owned();
    drop(store);
    assert_eq!(SqliteStore::open(&path).unwrap().store_id(), identity);
}

#[test]
fn refuses_a_newer_schema_and_foreign_databases() {
    let dir = TempDir::new().unwrap();
    let newer = dir.path().join("newer.db");
    drop(SqliteStore::open(&newer).unwrap());
    rusqlite::Connection::open(&newer)
        .unwrap()
        .pragma_update(None, "user_version", schema::SCHEMA_VERSION + 1)
        .unwrap();
    let error = SqliteStore::open(&newer).err().unwrap().to_string();
    assert!(error.contains("newer Concord"), "{error}");

    let foreign = dir.path().join("foreign.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE invoices (n INTEGER)")
        .unwrap();
    let error = SqliteStore::open(&foreign).err().unwrap().to_string();
    assert!(error.contains("not a Concord event store"), "{error}");

    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![b'x'; 8192]).unwrap();
    assert!(matches!(
        SqliteStore::open(&garbage),
        Err(StoreError::Corrupt(_))
    ));
}

#[test]
fn filtered_reads_page_through_a_sparse_store() {
    let dir = TempDir::new().unwrap();
    let store = SqliteStore::open(dir.path().join("events.db")).unwrap();
    let batch: Vec<CloudEvent> = (0..3000)
        .map(|i| {
            let ty = if i % 100 == 0 { "rare" } else { "common" };
            sample_event(
                &format!("e{i}"),
                "svc",
                ty,
                json!({"n": i, "odd": i % 2 == 1}),
            )
        })
        .collect();
    store.append(&batch, &[]).unwrap();
    let mut query = ReadQuery::after(0, 7);
    query.types = vec!["rare".into(), "other".into()];
    query.sources = vec!["svc".into()];
    let mut seen = Vec::new();
    loop {
        let page = store.read(&query).unwrap();
        seen.extend(
            page.events
                .iter()
                .map(|e| e.event.data["n"].as_i64().unwrap()),
        );
        query.after = page.next_after;
        if !page.has_more {
            break;
        }
    }
    assert_eq!(seen, (0..30).map(|i| i * 100).collect::<Vec<_>>());
    assert_eq!(query.after, 3000);

    let mut odd = ReadQuery::after(0, 10);
    odd.data = vec![concord_core::DataFilter::new("odd", "true")];
    let page = store.read(&odd).unwrap();
    assert_eq!(page.events.len(), 10);
    assert_eq!(page.next_after, 20, "the page ends at its last match");
    assert!(page.has_more);
}

/// Events of every shape: with and without extensions and content type.
fn varied(n: usize) -> Vec<CloudEvent> {
    (0..n)
        .map(|i| {
            let mut e = sample_event(
                &format!("v{i:05}"),
                "svc-a",
                "thingMade",
                json!({"n": i, "text": "ünïcode ✓".repeat(i % 4)}),
            );
            if i % 3 == 0 {
                e.datacontenttype = None;
            }
            if i % 5 == 0 {
                e.extensions
                    .insert("traceparent".into(), json!(format!("00-{i}")));
            }
            e
        })
        .collect()
}

#[test]
fn a_long_replay_matches_what_reads_return() {
    let dir = TempDir::new().unwrap();
    let store = SqliteStore::open(dir.path().join("events.db")).unwrap();
    let total = (PIPELINE_FROM as usize) * 3 + 17;
    store.append(&varied(total), &[]).unwrap();
    let mut read = Vec::new();
    let mut after = 0;
    loop {
        let page = store.read(&ReadQuery::after(after, 5000)).unwrap();
        read.extend(page.events);
        after = page.next_after;
        if !page.has_more {
            break;
        }
    }
    let mut replayed = Vec::new();
    let last = store.replay(0, &mut |e| replayed.push(e.clone())).unwrap();
    assert_eq!(replayed.len(), total);
    assert_eq!(last, total as u64);
    assert!(
        replayed == read,
        "the two-thread replay decodes like a read"
    );

    let from = total as u64 - PIPELINE_FROM - 10;
    let mut tail = Vec::new();
    assert_eq!(
        store.replay(from, &mut |e| tail.push(e.clone())).unwrap(),
        last
    );
    assert_eq!(tail[..], replayed[from as usize..]);
    assert_eq!(
        store
            .replay(last, &mut |_| panic!("nothing after the end"))
            .unwrap(),
        last
    );
}

#[test]
fn the_count_is_the_number_of_rows_without_counting_them() {
    // The count is read off the last sequence, at open and after each append: it must be
    // what counting the rows gives, with duplicates appended again in between.
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("events.db");
    let store = SqliteStore::open(&path).unwrap();
    let events = varied(14);
    store.append(&events[..10], &[]).unwrap();
    store.append(&events[5..], &[]).unwrap();
    let rows = |path: &std::path::Path| -> u64 {
        let rows: i64 = rusqlite::Connection::open(path)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM events", [], |row| row.get(0))
            .unwrap();
        rows as u64
    };
    assert_eq!(store.count().unwrap(), 14);
    assert_eq!(store.count().unwrap(), rows(&path));
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.count().unwrap(), rows(&path));
    assert_eq!(store.last_sequence().unwrap(), 14);
}

#[test]
fn a_replay_that_keeps_no_event_sees_each_row_as_a_read_does() {
    // A sink that clones nothing lets the store refill one event in place for every row
    // (a model's replay); each row must still read exactly as a read returns it, its parsed
    // data fields included.
    let dir = TempDir::new().unwrap();
    let store = SqliteStore::open(dir.path().join("events.db")).unwrap();
    let total = (PIPELINE_FROM as usize) * 2 + 5;
    let mut events = varied(total);
    for (i, event) in events.iter_mut().enumerate() {
        event.source = format!("svc-{}", "b".repeat(i % 7));
        event.ty = format!("thing{}", i % 4);
        if i % 3 == 1 {
            event.datacontenttype = Some("text/json".into());
        }
    }
    store.append(&events, &[]).unwrap();
    let seen = |stored: &StoredEvent| {
        let e = &stored.event;
        (
            stored.sequence,
            format!(
                "{} {} {} {} {:?} {:?}",
                e.id,
                e.source,
                e.ty,
                e.time_text(),
                e.datacontenttype,
                e.extensions
            ),
            e.time,
            e.data.as_str().to_owned(),
            e.data.map().clone(),
        )
    };
    let mut read = Vec::new();
    let mut after = 0;
    loop {
        let page = store.read(&ReadQuery::after(after, 5000)).unwrap();
        read.extend(page.events.iter().map(seen));
        after = page.next_after;
        if !page.has_more {
            break;
        }
    }
    let mut replayed = Vec::new();
    store
        .replay(0, &mut |stored| replayed.push(seen(stored)))
        .unwrap();
    assert_eq!(replayed.len(), total);
    assert!(replayed == read, "a refilled event reads as a read one");
}

#[test]
fn mangled_data_is_never_served_but_a_replay_reads_it_as_no_fields() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("events.db");
    let store = SqliteStore::open(&path).unwrap();
    store.append(&varied(10), &[]).unwrap();
    // Opens an object, then breaks off: it would break the page it was relayed in.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            r#"UPDATE events SET data = '{"a":1},"source":"x' WHERE sequence = 5"#,
            [],
        )
        .unwrap();
    assert!(matches!(
        store.read(&ReadQuery::after(0, 100)),
        Err(StoreError::Corrupt(_))
    ));
    let mut fed = Vec::new();
    store
        .replay(0, &mut |stored| fed.push(stored.clone()))
        .unwrap();
    assert_eq!(fed.len(), 10);
    assert!(fed[4].event.data.map().is_empty());
}

#[test]
fn replay_stops_with_corrupt_at_a_bad_row() {
    for (column, value) in [("data", "'not json'"), ("source", "CAST(X'FF00' AS TEXT)")] {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("events.db");
        let store = SqliteStore::open(&path).unwrap();
        store.append(&varied(6000), &[]).unwrap();
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute(
                &format!("UPDATE events SET {column} = {value} WHERE sequence = 5000"),
                [],
            )
            .unwrap();
        let mut fed = 0;
        let result = store.replay(0, &mut |_| fed += 1);
        assert!(
            matches!(result, Err(StoreError::Corrupt(_))),
            "{column}: {result:?}"
        );
        assert!(
            fed < 5000,
            "{column}: nothing at or after the bad row is fed"
        );
        let result = store.replay(4000, &mut |_| {});
        assert!(matches!(result, Err(StoreError::Corrupt(_))), "{column}");
    }
}

#[test]
fn a_panicking_sink_does_not_hang_the_replay() {
    let dir = TempDir::new().unwrap();
    let store = SqliteStore::open(dir.path().join("events.db")).unwrap();
    store.append(&varied(20_000), &[]).unwrap();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut fed = 0;
        store
            .replay(0, &mut |_| {
                fed += 1;
                assert!(fed < 1000, "the sink gives up");
            })
            .unwrap();
    }));
    assert!(outcome.is_err());
    let mut fed = 0;
    store.replay(0, &mut |_| fed += 1).unwrap();
    assert_eq!(fed, 20_000, "the store is still usable");
}

/// 200 events of about 3 kB each (a database page apiece), ~600 kB in all.
fn big_events(prefix: &str, batch: usize) -> Vec<CloudEvent> {
    let text = "x".repeat(3_000);
    (0..200)
        .map(|i| {
            let id = format!("{prefix}-{batch}-{i}");
            sample_event(
                &id,
                "svc-a",
                "thingMade",
                json!({"thingId": id, "text": text}),
            )
        })
        .collect()
}

/// The checkpoint runs on the helper thread (`checkpoint.rs`), which replaces SQLite's own
/// checkpoint in the commit: while the store stays open, what was appended must still reach
/// the database file, not pile up in the log.
#[test]
fn the_log_is_copied_into_the_database_while_the_store_is_open() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("checkpointed.db");
    let store = SqliteStore::open(&path).unwrap();
    // About 6 MB, past SQLite's 1 000-page threshold (4 MB), in commits of ~600 kB.
    for batch in 0..10 {
        store.append(&big_events("big", batch), &[]).unwrap();
    }
    let size = || std::fs::metadata(&path).unwrap().len();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while size() < 4 << 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "the database file is still {} bytes: nothing was checkpointed",
            size()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // And the store, dropped with its helper, opens again at once with everything in it.
    drop(store);
    assert_eq!(SqliteStore::open(&path).unwrap().count().unwrap(), 2_000);
}

/// The helper copies the log while the writer keeps committing, but only the writer can
/// start the log over: without the inline checkpoint past `INLINE_PAGES`, steady writing
/// would grow the log's file to everything written.
#[test]
fn steady_writing_keeps_the_log_short() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("steady.db");
    let store = SqliteStore::open(&path).unwrap();
    // About 40 MB back to back, in commits of ~600 kB, with no pause for the helper.
    for batch in 0..67 {
        store.append(&big_events("steady", batch), &[]).unwrap();
    }
    let wal = std::fs::metadata(dir.path().join("steady.db-wal"))
        .unwrap()
        .len();
    // `INLINE_PAGES` frames (a 4 kB page and its header each) and one more commit's worth.
    let bound: u64 = 24 << 20;
    assert!(checkpoint::INLINE_PAGES as u64 * (4096 + 24) < bound - (2 << 20));
    assert!(
        wal <= bound,
        "the log grew to {wal} bytes (bound {bound}) while 40 MB were written"
    );
    drop(store);
    assert!(
        !dir.path().join("steady.db-wal").exists(),
        "the last connection to close copies the log and removes it"
    );
}
