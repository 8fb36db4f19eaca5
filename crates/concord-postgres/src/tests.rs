//! Tests of the PostgreSQL store: the shared conformance suite, writers in separate stores
//! racing a reader, reconnects, version checks and the upgrade from version 1, exact round
//! trips, link state settled like the in-memory store's, and use from inside tokio.
//!
//! They need a server (see [`crate::testing`]): without one they print why they skip, unless
//! `CONCORD_REQUIRE_SERVICES=1`.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use concord_core::event::Limits;
use concord_core::store::{
    AppendOutcome, DeadLetter, EventAppender, EventReader, LinkCursor, LinkUpdate, MemoryStore,
    ReadQuery,
};
use concord_testkit::store::{run_all, sample_event};
use serde_json::json;

use super::*;
use crate::testing::{server_or_skip, Scratch};

fn event(id: &str) -> CloudEvent {
    sample_event(id, "svc-a", "thingMade", json!({"thingId": id, "n": 1}))
}

fn letter(id: &str, reason: &str) -> DeadLetter {
    DeadLetter {
        id: id.into(),
        reason: reason.into(),
        at: "2026-11-29T10:00:00Z".into(),
        event: Some(format!("{{\"id\":\"{id}\"}}")),
    }
}

/// Runs SQL on the test server outside any store, as an operator (or an older build) would.
fn admin_sql(url: &str, text: &str) {
    let admin = Pool::new(parse_url(url).unwrap()).unwrap();
    admin
        .with(|conn| block_on(conn.client.batch_execute(text)).map_err(backend))
        .unwrap();
}

/// A schema laid out as version 1 builds left it: two events (one with data spelled as no
/// serializer would) and a cursor.
fn version_1_store(url: &str, schema: &str) {
    admin_sql(
        url,
        &format!(
            "CREATE SCHEMA \"{schema}\"; {tables}
             INSERT INTO \"{schema}\".events
                 (sequence, id, source, type, time, datacontenttype, data, extensions)
             VALUES (1, 'old-1', 's', 't', '2026-11-26T09:30:00Z', NULL, '{{\"n\": 1e15}}', NULL),
                    (2, 'old-2', 's', 't', '2026-11-26T09:31:00Z', 'application/json',
                     '{{}}', '{{\"comexampleext\":\"v\"}}');
             INSERT INTO \"{schema}\".cursors (link, position) VALUES ('pull-x', 9);",
            tables = schema::version_1(schema)
        ),
    );
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
                &[LinkUpdate {
                    link: "pull-office".into(),
                    cursor: Some(LinkCursor {
                        position: 12,
                        peer_store: Some("office-store".into()),
                    }),
                    dead_letters: vec![letter("x1", "refused")],
                    resolved: vec![],
                }],
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

    // The schema can be named in the URL too.
    let store = PostgresStore::connect(&format!("{}?schema={schema}", scratch.url)).unwrap();
    assert_eq!(store.schema(), schema);
    assert_eq!(store.store_id(), identity, "a store keeps its identity");
    assert_eq!(
        store.read(&ReadQuery::after(0, 100)).unwrap().events,
        before
    );
    assert_eq!(store.count().unwrap(), 4);
    assert_eq!(store.last_sequence().unwrap(), before[3].sequence);
    assert_eq!(
        store.link_cursor("pull-office").unwrap(),
        LinkCursor {
            position: 12,
            peer_store: Some("office-store".into())
        }
    );
    assert_eq!(
        store.dead_letters("pull-office", 10).unwrap(),
        (1, vec![letter("x1", "refused")])
    );
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
    let sql = |text: String| admin_sql(&scratch.url, &text);
    sql(format!(
        "UPDATE \"{schema}\".schema_version SET version = 3"
    ));
    let newer = PostgresStore::connect_with_schema(&scratch.url, &schema)
        .err()
        .expect("a newer schema is refused")
        .to_string();
    assert!(
        newer.contains("version 3") && newer.contains("newer Concord"),
        "{newer}"
    );
    sql(format!(
        "UPDATE \"{schema}\".schema_version SET version = 0"
    ));
    let invalid = PostgresStore::connect_with_schema(&scratch.url, &schema)
        .err()
        .expect("an unknown older version is refused")
        .to_string();
    assert!(
        invalid.contains("invalid Concord schema version"),
        "{invalid}"
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
    store.replay(0, &mut |e| replayed.push(e.clone())).unwrap();
    assert_eq!(replayed, back);

    // Data is kept as the text it arrived as: spacing, key order and number spellings that
    // serde_json would rewrite (`1e15` as `1000000000000000.0`) come back byte for byte.
    let text = r#"{"specversion":"1.0","id":"x-2","source":"svc-a","type":"thingMade",
        "time":"2026-11-26T10:30:00Z","data": { "z" :1e15, "a": [1, 2.50 ,-0.0],
        "s": "\u00e9\u0000" }}"#;
    let data = r#"{ "z" :1e15, "a": [1, 2.50 ,-0.0],
        "s": "\u00e9\u0000" }"#;
    let event = CloudEvent::parse(text, &Limits::default()).unwrap();
    assert_eq!(event.data.as_str(), data);
    store.append(std::slice::from_ref(&event), &[]).unwrap();
    let page = store.read(&ReadQuery::after(1, 10)).unwrap();
    assert_eq!(page.events[0].event.data.as_str(), data, "read");
    let mut replayed = Vec::new();
    store.replay(1, &mut |e| replayed.push(e.clone())).unwrap();
    assert_eq!(replayed[0].event.data.as_str(), data, "replay");
    let found = store.lookup(&["x-2"]).unwrap();
    assert_eq!(found[0].as_ref().unwrap().data.as_str(), data, "lookup");
    assert_eq!(found[0].as_ref(), Some(&event));
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
    let failed = store.append(&[event("c")], &[LinkUpdate::cursor("l", u64::MAX)]);
    assert!(failed.is_err(), "a cursor past bigint is refused");
    // Refused after the events were inserted: the transaction takes them back.
    let failed = store.append(
        &[event("c")],
        &[LinkUpdate {
            link: "l".into(),
            dead_letters: vec![letter("d1", "fine"), letter("d2", "bad\0reason")],
            ..LinkUpdate::default()
        }],
    );
    let message = failed.unwrap_err().to_string();
    assert!(
        message.contains("NUL") && message.contains("reason"),
        "{message}"
    );
    assert_eq!(store.count().unwrap(), 1);
    assert_eq!(store.contains(&["b", "c"]).unwrap(), vec![false, false]);
    assert_eq!(store.dead_letters("l", 10).unwrap(), (0, vec![]));
    assert_eq!(store.link_cursor("l").unwrap(), LinkCursor::default());
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

#[test]
fn a_version_1_schema_is_upgraded_in_place() {
    let Some(scratch) = scratch("upgrade") else {
        return;
    };
    let schema = scratch.schema();
    version_1_store(&scratch.url, &schema);
    let store = PostgresStore::connect_with_schema(&scratch.url, &schema).unwrap();
    let identity = store.store_id().to_owned();
    assert_eq!(identity.len(), 32, "{identity}");
    assert!(
        identity.bytes().all(|b| b.is_ascii_hexdigit()),
        "{identity}"
    );
    assert_eq!(
        store.link_cursor("pull-x").unwrap(),
        LinkCursor {
            position: 9,
            peer_store: None
        },
        "the cursor is kept; whose log it was is unknown"
    );
    let page = store.read(&ReadQuery::after(0, 10)).unwrap();
    assert_eq!(page.events.len(), 2);
    assert_eq!(
        page.events[0].event.data.as_str(),
        "{\"n\": 1e15}",
        "data text untouched"
    );
    assert_eq!(page.events[1].event.extensions["comexampleext"], "v");
    assert_eq!(store.dead_letters("pull-x", 10).unwrap(), (0, vec![]));
    // Everything version 2 adds works on the upgraded schema.
    let update = LinkUpdate {
        link: "pull-x".into(),
        cursor: Some(LinkCursor {
            position: 10,
            peer_store: Some("peer".into()),
        }),
        dead_letters: vec![letter("bad-1", "refused")],
        resolved: vec![],
    };
    assert_eq!(
        store.append(&[event("new-1")], &[update]).unwrap(),
        vec![AppendOutcome::Appended(3)]
    );
    assert_eq!(store.dead_letters("pull-x", 10).unwrap().0, 1);
    drop(store);
    let again = PostgresStore::connect_with_schema(&scratch.url, &schema).unwrap();
    assert_eq!(again.store_id(), identity, "upgraded once, identity kept");
    assert_eq!(again.cursor("pull-x").unwrap(), 10);
    assert_eq!(again.count().unwrap(), 3);
}

#[test]
fn processes_starting_together_upgrade_a_version_1_schema_once() {
    const PROCESSES: usize = 4;
    let Some(scratch) = scratch("upgrade_race") else {
        return;
    };
    let schema = scratch.schema();
    version_1_store(&scratch.url, &schema);
    let start = Arc::new(std::sync::Barrier::new(PROCESSES));
    let starters: Vec<_> = (0..PROCESSES)
        .map(|_| {
            let (url, schema, start) = (scratch.url.clone(), schema.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                // Each a store of its own, as separate processes would be.
                let store = PostgresStore::connect_with_schema(&url, &schema).unwrap();
                (store.store_id().to_owned(), store.count().unwrap())
            })
        })
        .collect();
    let results: Vec<(String, u64)> = starters.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(
        results.iter().all(|r| *r == results[0]),
        "one upgrade, one identity: {results:?}"
    );
    assert_eq!(results[0].1, 2, "the events are kept");
    // The same holds for a schema that does not exist yet.
    let fresh = scratch.schema();
    let starters: Vec<_> = (0..PROCESSES)
        .map(|_| {
            let (url, schema, start) = (scratch.url.clone(), fresh.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                let store = PostgresStore::connect_with_schema(&url, &schema).unwrap();
                store.store_id().to_owned()
            })
        })
        .collect();
    let ids: BTreeSet<String> = starters.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
}

#[test]
fn lookups_answer_large_batches_in_order() {
    let Some(scratch) = scratch("lookup") else {
        return;
    };
    let store = scratch.store();
    let stored: Vec<CloudEvent> = (0..1500).map(|i| event(&format!("k{i}"))).collect();
    store.append(&stored, &[]).unwrap();
    // More ids than one chunk, present and absent interleaved, repeats across chunks, and ids
    // no PostgreSQL text can hold (never stored, so simply absent).
    let asked: Vec<String> = (0..LOOKUP_CHUNK * 2 + 500)
        .map(|i| match i % 4 {
            0 => format!("k{}", (i * 7) % 1500),
            1 => format!("absent-{i}"),
            2 => format!("k{}", i % 3),
            _ => format!("nul\0{i}"),
        })
        .collect();
    let ids: Vec<&str> = asked.iter().map(String::as_str).collect();
    let found = store.lookup(&ids).unwrap();
    assert_eq!(found.len(), ids.len());
    for (id, found) in ids.iter().zip(&found) {
        let expected = id
            .strip_prefix('k')
            .map(|n| &stored[n.parse::<usize>().unwrap()]);
        assert_eq!(found.as_ref(), expected, "{id:?}");
    }
    assert_eq!(
        store.link_cursor("nul\0link").unwrap(),
        LinkCursor::default()
    );
    assert_eq!(store.dead_letters("nul\0link", 5).unwrap(), (0, vec![]));
}

/// Link updates applied to this store and to the in-memory store (the reference) agree,
/// however updates repeat links and letters within one batch: replaced letters keep their
/// place, resolved-then-added ones go to the end, the last cursor given wins.
#[test]
fn link_updates_settle_as_the_reference_store_does() {
    let Some(scratch) = scratch("links_like_memory") else {
        return;
    };
    let store = scratch.store();
    let reference = MemoryStore::new();
    let mut rng = fastrand::Rng::with_seed(0x5eed_1e77e5);
    let links = ["pull-a", "push-b"];
    let mut n = 0;
    for round in 0..80 {
        let updates: Vec<LinkUpdate> = (0..1 + rng.usize(..3))
            .map(|_| {
                let link = links[rng.usize(..links.len())];
                let cursor = rng.bool().then(|| LinkCursor {
                    position: rng.u64(..1000),
                    peer_store: rng.bool().then(|| format!("peer-{}", rng.u8(..3))),
                });
                let dead_letters = (0..rng.usize(..4))
                    .map(|_| {
                        n += 1;
                        DeadLetter {
                            event: rng.bool().then(|| format!("{{\"n\":{n}}}")),
                            ..letter(&format!("d{}", rng.u8(..6)), &format!("reason {n}"))
                        }
                    })
                    .collect();
                let resolved = (0..rng.usize(..3))
                    .map(|_| format!("d{}", rng.u8(..6)))
                    .collect();
                LinkUpdate {
                    link: link.into(),
                    cursor,
                    dead_letters,
                    resolved,
                }
            })
            .collect();
        let events = if rng.bool() {
            vec![event(&format!("e{round}"))]
        } else {
            vec![]
        };
        assert_eq!(
            store.append(&events, &updates).unwrap(),
            reference.append(&events, &updates).unwrap()
        );
        for link in links {
            assert_eq!(
                store.dead_letters(link, 100).unwrap(),
                reference.dead_letters(link, 100).unwrap(),
                "round {round}, {link}, after {updates:#?}"
            );
            assert_eq!(
                store.dead_letters(link, 2).unwrap(),
                reference.dead_letters(link, 2).unwrap()
            );
            assert_eq!(
                store.link_cursor(link).unwrap(),
                reference.link_cursor(link).unwrap(),
                "round {round}, {link}"
            );
        }
    }
}

/// A link update the server refuses (here a trigger stands in for any failure, e.g. a full
/// disk) takes the batch's events and cursors with it.
#[test]
fn link_updates_fail_with_their_batch() {
    let Some(scratch) = scratch("links_atomic") else {
        return;
    };
    let store = scratch.store();
    let schema = store.schema().to_owned();
    admin_sql(
        &scratch.url,
        &format!(
            "CREATE FUNCTION \"{schema}\".refuse() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN IF NEW.reason = 'boom' THEN RAISE EXCEPTION 'refused by the test'; END IF;
             RETURN NEW; END $$;
             CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON \"{schema}\".dead_letters
             FOR EACH ROW EXECUTE FUNCTION \"{schema}\".refuse();"
        ),
    );
    let update = |reason: &str| LinkUpdate {
        link: "pull-x".into(),
        cursor: Some(LinkCursor {
            position: 7,
            peer_store: Some("p".into()),
        }),
        dead_letters: vec![letter("ok", "fine"), letter("d", reason)],
        resolved: vec![],
    };
    let failed = store.append(&[event("a"), event("b")], &[update("boom")]);
    assert!(failed
        .unwrap_err()
        .to_string()
        .contains("refused by the test"));
    assert_eq!(store.count().unwrap(), 0);
    assert_eq!(store.link_cursor("pull-x").unwrap(), LinkCursor::default());
    assert_eq!(store.dead_letters("pull-x", 10).unwrap(), (0, vec![]));
    assert_eq!(
        store.append(&[event("a")], &[update("fine")]).unwrap(),
        vec![AppendOutcome::Appended(1)],
        "no sequence was used up"
    );
    assert_eq!(store.dead_letters("pull-x", 10).unwrap().0, 2);
}
