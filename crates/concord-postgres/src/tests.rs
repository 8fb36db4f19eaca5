//! Tests of the PostgreSQL store: the shared conformance suite, writers in separate stores
//! racing a reader, reconnects, version checks, exact round trips, and use from inside tokio.
//!
//! They need a server (see [`crate::testing`]): without one they print why they skip, unless
//! `CONCORD_REQUIRE_SERVICES=1`.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use concord_core::store::conformance::{run_all, sample_event};
use concord_core::store::{AppendOutcome, CursorUpdate, EventAppender, EventReader, ReadQuery};
use serde_json::json;

use super::*;
use crate::testing::{server_or_skip, Scratch};

fn event(id: &str) -> CloudEvent {
    sample_event(id, "svc-a", "thingMade", json!({"thingId": id, "n": 1}))
}

/// The scratch schemas of one test, or `None` (after saying so) without a server.
fn scratch(test: &str) -> Option<Scratch> {
    server_or_skip(test).map(|url| Scratch::new(&url, test))
}

#[test]
fn passes_the_conformance_suite() {
    let Some(scratch) = scratch("conformance") else {
        return;
    };
    run_all(&mut || Box::new(scratch.store()) as _);
}

#[test]
fn writers_in_separate_stores_never_make_a_reader_skip() {
    const WRITERS: usize = 4;
    const BATCHES: usize = 60;
    let Some(scratch) = scratch("racing_writers") else {
        return;
    };
    let schema = scratch.schema();
    let open = || Arc::new(PostgresStore::connect_with_schema(&scratch.url, &schema).unwrap());
    let reader_store = open();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut after = 0;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let page = reader_store.read(&ReadQuery::after(after, 23)).unwrap();
                // Unfiltered, a page must continue exactly where the last one ended: a gap
                // would be an event that commits later below a sequence already seen.
                for (i, stored) in page.events.iter().enumerate() {
                    assert_eq!(
                        stored.sequence,
                        after + 1 + i as u64,
                        "a reader following next_after met a gap"
                    );
                }
                seen.extend(page.events.iter().map(|e| e.event.id.to_string()));
                after = page.next_after;
                if finished && !page.has_more {
                    return (seen, after);
                }
            }
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            // Each writer is a store of its own: its own runtime and connections, as another
            // process would be.
            let store = open();
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for b in 0..BATCHES {
                    let size = 1 + fastrand::usize(..12);
                    let batch: Vec<CloudEvent> =
                        (0..size).map(|i| event(&format!("w{w}-{b}-{i}"))).collect();
                    let outcomes = store.append(&batch, &[]).unwrap();
                    for outcome in outcomes {
                        match outcome {
                            AppendOutcome::Appended(sequence) => mine.push(sequence),
                            AppendOutcome::Duplicate => panic!("no id repeats here"),
                        }
                    }
                }
                mine
            })
        })
        .collect();
    let mut assigned: Vec<u64> = Vec::new();
    for writer in writers {
        let mine = writer.join().unwrap();
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "one writer's sequences increase"
        );
        assigned.extend(mine);
    }
    done.store(true, Ordering::SeqCst);
    let (seen, last) = reader.join().unwrap();
    assigned.sort_unstable();
    let total = assigned.len() as u64;
    assert_eq!(
        assigned,
        (1..=total).collect::<Vec<_>>(),
        "sequences are contiguous across writers"
    );
    assert_eq!(last, total);
    assert_eq!(seen.len() as u64, total, "the reader saw every event");
    assert_eq!(
        seen.iter().collect::<BTreeSet<_>>().len() as u64,
        total,
        "and each once"
    );
}

#[test]
fn everything_survives_a_reconnect() {
    let Some(scratch) = scratch("reconnect") else {
        return;
    };
    let schema = scratch.schema();
    let before = {
        let store = PostgresStore::connect_with_schema(&scratch.url, &schema).unwrap();
        store
            .append(
                &[event("a"), event("b"), event("c")],
                &[CursorUpdate {
                    link: "pull-office",
                    position: 12,
                }],
            )
            .unwrap();
        store.append(&[event("d")], &[]).unwrap();
        store.read(&ReadQuery::after(0, 100)).unwrap().events
    };
    assert_eq!(before.len(), 4);

    // The schema can be named in the URL too.
    let store = PostgresStore::connect(&format!("{}?schema={schema}", scratch.url)).unwrap();
    assert_eq!(store.schema(), schema);
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
fn schemas_keep_stores_apart() {
    let Some(scratch) = scratch("apart") else {
        return;
    };
    let (one, two) = (scratch.store(), scratch.store());
    one.append(&[event("x"), event("y")], &[]).unwrap();
    two.append(&[event("x")], &[]).unwrap();
    assert_eq!(one.count().unwrap(), 2);
    assert_eq!(two.count().unwrap(), 1);
    assert_eq!(two.contains(&["y"]).unwrap(), vec![false]);
}

#[test]
fn a_newer_or_foreign_schema_is_refused() {
    let Some(scratch) = scratch("versions") else {
        return;
    };
    let store = scratch.store();
    let schema = store.schema().to_owned();
    drop(store);
    let admin = Pool::new(parse_url(&scratch.url).unwrap()).unwrap();
    let sql = |text: String| {
        admin
            .with(|conn| block_on(conn.client.batch_execute(&text)).map_err(backend))
            .unwrap()
    };
    sql(format!(
        "UPDATE \"{schema}\".schema_version SET version = 2"
    ));
    let newer = PostgresStore::connect_with_schema(&scratch.url, &schema)
        .err()
        .expect("a newer schema is refused")
        .to_string();
    assert!(
        newer.contains("version 2") && newer.contains("newer Concord"),
        "{newer}"
    );

    let foreign = scratch.schema();
    sql(format!(
        "CREATE SCHEMA \"{foreign}\"; CREATE TABLE \"{foreign}\".orders (id int)"
    ));
    let refused = PostgresStore::connect_with_schema(&scratch.url, &foreign)
        .err()
        .expect("a schema of someone else's tables is refused")
        .to_string();
    assert!(refused.contains("not a Concord event store"), "{refused}");
}

#[test]
fn data_comes_back_exactly_as_appended() {
    let Some(scratch) = scratch("exact") else {
        return;
    };
    let store = scratch.store();
    // What JSONB would change: a float written with an exponent (JSONB returns `100`, an
    // integer to serde_json), a NUL in a string (JSONB refuses it), huge and precise numbers.
    let event = CloudEvent::from_value(json!({
        "specversion": "1.0", "id": "x-1", "source": "svc-a", "type": "thingMade",
        "time": "2026-11-26T10:30:00.123456789-05:00", "comexampleext": "v",
        "data": {"z": 1e2, "a": "nul\u{0}here", "big": 18446744073709551615u64,
                 "neg": -9223372036854775808i64, "precise": 0.30000000000000004, "nested": {"k": [1, {}]}}
    }))
    .unwrap();
    store.append(std::slice::from_ref(&event), &[]).unwrap();
    let back = store.read(&ReadQuery::after(0, 10)).unwrap().events;
    assert_eq!(back[0].event, event);
    assert!(back[0].event.data["z"].is_f64(), "1e2 stays a float");
    assert_eq!(
        back[0].event.time_text(),
        "2026-11-26T10:30:00.123456789-05:00"
    );
    let mut replayed = Vec::new();
    store.replay(0, &mut |e| replayed.push(e)).unwrap();
    assert_eq!(replayed, back);
}

#[test]
fn a_refused_batch_leaves_no_trace() {
    let Some(scratch) = scratch("refused") else {
        return;
    };
    let store = scratch.store();
    store.append(&[event("a")], &[]).unwrap();
    let failed = store.append(&[event("b"), event("bad\0id")], &[]);
    let message = failed.unwrap_err().to_string();
    assert!(message.contains("NUL"), "{message}");
    let failed = store.append(
        &[event("c")],
        &[CursorUpdate {
            link: "l",
            position: u64::MAX,
        }],
    );
    assert!(failed.is_err(), "a cursor past bigint is refused");
    assert_eq!(store.count().unwrap(), 1);
    assert_eq!(store.contains(&["b", "c"]).unwrap(), vec![false, false]);
    assert_eq!(
        store.append(&[event("b")], &[]).unwrap(),
        vec![AppendOutcome::Appended(2)],
        "the store carries on, and no sequence was used up"
    );
}

#[test]
fn replay_streams_across_chunks() {
    let Some(scratch) = scratch("long_replay") else {
        return;
    };
    let store = scratch.store();
    let total = REPLAY_CHUNK as usize * 2 + 7;
    for start in (0..total).step_by(1000) {
        let batch: Vec<CloudEvent> = (start..total.min(start + 1000))
            .map(|i| event(&format!("r{i:06}")))
            .collect();
        store.append(&batch, &[]).unwrap();
    }
    let mut next = 1;
    let last = store
        .replay(0, &mut |stored| {
            assert_eq!(stored.sequence, next);
            assert_eq!(&*stored.event.id, format!("r{:06}", next - 1));
            next += 1;
        })
        .unwrap();
    assert_eq!(last, total as u64);
    assert_eq!(next, total as u64 + 1);
    let mut tail = 0;
    assert_eq!(
        store
            .replay(REPLAY_CHUNK as u64, &mut |_| tail += 1)
            .unwrap(),
        total as u64
    );
    assert_eq!(tail, total - REPLAY_CHUNK as usize);
    assert_eq!(
        store.replay(total as u64, &mut |_| tail += 1).unwrap(),
        total as u64
    );
}

#[test]
fn works_from_inside_tokio_tasks() {
    let Some(scratch) = scratch("in_tokio") else {
        return;
    };
    let schema = scratch.schema();
    let url = scratch.url.clone();
    // A current-thread runtime is the strictest: any nested block_on would panic there.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = PostgresStore::connect_with_schema(&url, &schema).unwrap();
        store.append(&[event("t1")], &[]).unwrap();
        assert_eq!(store.last_sequence().unwrap(), 1);
        assert_eq!(store.cursor("none").unwrap(), 0);
        drop(store); // dropping inside a task is fine too
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let store = Arc::new(PostgresStore::connect_with_schema(&url, &schema).unwrap());
    runtime.block_on(async move {
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    store.append(&[event(&format!("t-{i}"))], &[]).unwrap();
                    store.read(&ReadQuery::after(0, 10)).unwrap().events.len()
                })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap() >= 2);
        }
        assert_eq!(store.count().unwrap(), 5);
    });
}

#[test]
fn an_unreachable_server_fails_quickly_and_clearly() {
    // Nothing listens on port 1: no server needed for this test.
    let started = std::time::Instant::now();
    let error = PostgresStore::connect("postgres://nobody:secret@127.0.0.1:1/none")
        .err()
        .expect("nothing to connect to")
        .to_string();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(
        error.contains("cannot connect to PostgreSQL at nobody@127.0.0.1:1/none"),
        "{error}"
    );
    assert!(!error.contains("secret"), "{error}");
    let bad = PostgresStore::connect("postgres://u@h/db?schema=Not-OK")
        .err()
        .expect("a bad schema name is refused")
        .to_string();
    assert!(bad.contains("schema name"), "{bad}");
}
