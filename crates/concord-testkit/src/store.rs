//! The store conformance suite: what every [`EventStore`] backend must do (the promises listed
//! in `concord_core::store`), checked the same way.
//!
//! A backend's tests call [`run_all`] with a factory that opens a fresh, empty store. Each
//! check panics with a message naming the promise that broke.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;

pub use concord_core::event::sample_event;
use concord_core::event::{CloudEvent, DataFilter};
use concord_core::scope::{EventPattern, Scope};
use concord_core::store::{
    AppendOutcome, DeadLetter, EventStore, LinkCursor, LinkUpdate, ReadQuery,
};

/// Opens a fresh, empty store of the backend under test.
pub type Factory<'a> = dyn FnMut() -> Box<dyn EventStore> + 'a;

/// Runs every check against stores made by `fresh`.
pub fn run_all(fresh: &mut Factory<'_>) {
    appends_in_sequence_order(fresh());
    duplicates_are_exact_and_forever(fresh());
    events_round_trip_unchanged(fresh());
    reads_filter_and_page(fresh());
    sparse_filters_never_rescan(fresh());
    cursors_commit_with_their_batch(fresh());
    counts_and_membership(fresh());
    lookups_return_stored_events(fresh());
    pages_are_bounded_by_bytes(fresh());
    reads_far_beyond_the_end_are_empty(fresh());
    each_store_has_its_own_identity(fresh(), fresh());
    link_cursors_remember_their_peer_store(fresh());
    dead_letters_commit_with_their_batch(fresh());
    replay_feeds_everything_in_order(fresh());
    concurrent_readers_never_skip(Arc::from(fresh()));
    scoped_reads_hide_what_is_out_of_scope(fresh());
}

fn plain(id: &str) -> CloudEvent {
    sample_event(id, "svc-a", "thingMade", json!({"thingId": id}))
}

fn sequences(outcomes: &[AppendOutcome]) -> Vec<u64> {
    outcomes
        .iter()
        .filter_map(|o| match o {
            AppendOutcome::Appended(s) => Some(*s),
            AppendOutcome::Duplicate => None,
        })
        .collect()
}

fn appends_in_sequence_order(store: Box<dyn EventStore>) {
    assert_eq!(
        store.last_sequence().unwrap(),
        0,
        "an empty store starts at 0"
    );
    let first = store.append(&[plain("a"), plain("b")], &[]).unwrap();
    let second = store.append(&[plain("c")], &[]).unwrap();
    let all: Vec<u64> = sequences(&first)
        .into_iter()
        .chain(sequences(&second))
        .collect();
    assert_eq!(
        all.len(),
        3,
        "every new event is appended: {first:?} {second:?}"
    );
    assert!(
        all.windows(2).all(|w| w[0] < w[1]),
        "sequences strictly increase: {all:?}"
    );
    assert!(all[0] >= 1, "sequences start above 0");
    assert_eq!(store.last_sequence().unwrap(), all[2]);
    assert!(
        store.append(&[], &[]).unwrap().is_empty(),
        "an empty batch is fine"
    );
}

fn duplicates_are_exact_and_forever(store: Box<dyn EventStore>) {
    store.append(&[plain("a")], &[]).unwrap();
    for _ in 0..3 {
        store.append(&[plain("filler")], &[]).unwrap();
    }
    let mut changed = plain("a");
    changed.ty = "somethingElse".into();
    let outcomes = store
        .append(&[plain("x"), changed, plain("x"), plain("y")], &[])
        .unwrap();
    assert!(
        matches!(outcomes[0], AppendOutcome::Appended(_)),
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes[1],
        AppendOutcome::Duplicate,
        "a stored id is a duplicate whatever its type"
    );
    assert_eq!(
        outcomes[2],
        AppendOutcome::Duplicate,
        "a repeat within one batch is a duplicate"
    );
    assert!(matches!(outcomes[3], AppendOutcome::Appended(_)));
    assert_eq!(store.count().unwrap(), 4, "a, filler, x, y");
    let page = store.read(&ReadQuery::after(0, 100)).unwrap();
    let a = page.events.iter().find(|e| &*e.event.id == "a").unwrap();
    assert_eq!(
        a.event.ty, "thingMade",
        "a duplicate never replaces the stored event"
    );
}

fn events_round_trip_unchanged(store: Box<dyn EventStore>) {
    let mut event = CloudEvent::from_value(json!({
        "specversion":"1.0","id":"rt-1","source":"svc-a","type":"thingMade",
        "time":"2026-11-26T10:30:00.5+01:00","traceparent":"00-ab","priority":3,
        "data":{"nested":{"list":[1,2.5,"x",null,true]},"text":"ünïcode ✓"}}))
    .unwrap();
    event.datacontenttype = None;
    store.append(std::slice::from_ref(&event), &[]).unwrap();
    let page = store.read(&ReadQuery::after(0, 10)).unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(
        page.events[0].event, event,
        "every attribute, extension and data byte survives"
    );
    assert_eq!(
        page.events[0].event.time_text(),
        "2026-11-26T10:30:00.5+01:00"
    );
}

fn reads_filter_and_page(store: Box<dyn EventStore>) {
    let batch: Vec<CloudEvent> = (0..30)
        .map(|i| {
            let (source, ty) = match i % 3 {
                0 => ("svc-a", "thingMade"),
                1 => ("svc-b", "thingMade"),
                _ => ("svc-b", "thingRated"),
            };
            let group = if i % 2 == 0 { "even" } else { "odd" };
            sample_event(
                &format!("e{i:02}"),
                source,
                ty,
                json!({"group": group, "n": i, "flag": i == 7}),
            )
        })
        .collect();
    store.append(&batch, &[]).unwrap();
    let last = store.last_sequence().unwrap();

    let page = store.read(&ReadQuery::after(0, 10)).unwrap();
    assert_eq!(page.events.len(), 10, "limit caps a page");
    assert!(page.has_more, "more events follow the first page");
    assert_eq!(
        page.next_after, page.events[9].sequence,
        "a full page ends at its last event"
    );
    let rest = store.read(&ReadQuery::after(page.next_after, 100)).unwrap();
    assert_eq!(rest.events.len(), 20);
    assert!(!rest.has_more);
    assert_eq!(rest.next_after, last);
    let mut seen: Vec<&str> = page
        .events
        .iter()
        .chain(&rest.events)
        .map(|e| &*e.event.id)
        .collect();
    seen.dedup();
    assert_eq!(seen.len(), 30, "paging sees every event once");

    let mut by_type = ReadQuery::after(0, 100);
    by_type.types = vec!["thingRated".into()];
    let rated = store.read(&by_type).unwrap();
    assert_eq!(rated.events.len(), 10);
    assert!(rated.events.iter().all(|e| e.event.ty == "thingRated"));

    let mut by_source = ReadQuery::after(0, 100);
    by_source.sources = vec!["svc-a".into(), "svc-c".into()];
    assert_eq!(store.read(&by_source).unwrap().events.len(), 10);

    let mut by_data = ReadQuery::after(0, 100);
    by_data.types = vec!["thingMade".into()];
    by_data.data = vec![DataFilter::new("group", "even")];
    let even: Vec<i64> = store
        .read(&by_data)
        .unwrap()
        .events
        .iter()
        .map(|e| e.event.data["n"].as_i64().unwrap())
        .collect();
    assert_eq!(
        even,
        vec![0, 4, 6, 10, 12, 16, 18, 22, 24, 28],
        "type and data filters combine"
    );

    let mut by_number = ReadQuery::after(0, 100);
    by_number.data = vec![DataFilter::new("n", "7"), DataFilter::new("flag", "true")];
    let seven = store.read(&by_number).unwrap();
    assert_eq!(
        seven.events.len(),
        1,
        "numbers and booleans compare by JSON text"
    );
    assert_eq!(&*seven.events[0].event.id, "e07");

    let beyond = store.read(&ReadQuery::after(last + 5, 10)).unwrap();
    assert!(beyond.events.is_empty());
    assert!(!beyond.has_more);
    assert_eq!(
        beyond.next_after,
        last + 5,
        "reading past the end examines nothing"
    );
}

fn sparse_filters_never_rescan(store: Box<dyn EventStore>) {
    let mut batch: Vec<CloudEvent> = (0..500).map(|i| plain(&format!("p{i:03}"))).collect();
    batch.insert(100, sample_event("rare-1", "svc-z", "rareThing", json!({})));
    store.append(&batch, &[]).unwrap();
    let last = store.last_sequence().unwrap();
    let mut rare = ReadQuery::after(0, 10);
    rare.types = vec!["rareThing".into()];
    let page = store.read(&rare).unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(
        page.next_after, last,
        "a sparse filter advances over everything it examined"
    );
    assert!(!page.has_more);
    store.append(&[plain("late")], &[]).unwrap();
    rare.after = page.next_after;
    let again = store.read(&rare).unwrap();
    assert!(again.events.is_empty());
    assert_eq!(again.next_after, store.last_sequence().unwrap());
    assert!(!again.has_more);
}

fn cursors_commit_with_their_batch(store: Box<dyn EventStore>) {
    assert_eq!(
        store.cursor("pull-office").unwrap(),
        0,
        "an unknown link starts at 0"
    );
    store
        .append(&[plain("c1")], &[LinkUpdate::cursor("pull-office", 17)])
        .unwrap();
    assert_eq!(store.cursor("pull-office").unwrap(), 17);
    store
        .append(
            &[],
            &[
                LinkUpdate::cursor("pull-office", 40),
                LinkUpdate::cursor("push-pool", 3),
            ],
        )
        .unwrap();
    assert_eq!(
        store.cursor("pull-office").unwrap(),
        40,
        "a cursor can advance with no events"
    );
    assert_eq!(store.cursor("push-pool").unwrap(), 3);
    store
        .append(&[plain("c1")], &[LinkUpdate::cursor("pull-office", 41)])
        .unwrap();
    assert_eq!(
        store.cursor("pull-office").unwrap(),
        41,
        "duplicates still move the cursor"
    );
    store
        .append(&[], &[LinkUpdate::cursor("pull-office", 0)])
        .unwrap();
    assert_eq!(
        store.cursor("pull-office").unwrap(),
        0,
        "a cursor can be reset to the start"
    );
}

fn lookups_return_stored_events(store: Box<dyn EventStore>) {
    let event = sample_event("l1", "svc-a", "thingMade", json!({"n": 1e15}));
    store.append(std::slice::from_ref(&event), &[]).unwrap();
    let found = store.lookup(&["zz", "l1", "l1"]).unwrap();
    assert_eq!(found.len(), 3);
    assert!(found[0].is_none());
    assert_eq!(
        found[1].as_ref(),
        Some(&event),
        "the stored event, unchanged"
    );
    assert_eq!(found[2].as_ref(), Some(&event));
    assert!(store.lookup(&[]).unwrap().is_empty());
    let many: Vec<String> = (0..1200).map(|i| format!("missing-{i}")).collect();
    let ids: Vec<&str> = many.iter().map(String::as_str).collect();
    assert!(store.lookup(&ids).unwrap().iter().all(Option::is_none));
}

fn pages_are_bounded_by_bytes(store: Box<dyn EventStore>) {
    let big = "x".repeat(10_000);
    let batch: Vec<CloudEvent> = (0..10)
        .map(|i| sample_event(&format!("b{i}"), "svc-a", "thingMade", json!({"blob": big})))
        .collect();
    store.append(&batch, &[]).unwrap();
    let mut query = ReadQuery::after(0, 100);
    query.max_bytes = Some(35_000);
    let mut seen = Vec::new();
    loop {
        let page = store.read(&query).unwrap();
        assert!(
            !page.events.is_empty(),
            "a byte bound never makes an empty page"
        );
        let bytes: usize = page.events.iter().map(|e| e.event.encoded_len()).sum();
        assert!(
            page.events.len() == 1 || bytes <= 35_000,
            "a page stays within its byte bound: {bytes}"
        );
        seen.extend(page.events.iter().map(|e| e.event.id.to_string()));
        assert_eq!(page.next_after, page.events.last().unwrap().sequence);
        if !page.has_more {
            break;
        }
        query.after = page.next_after;
    }
    let expected: Vec<String> = (0..10).map(|i| format!("b{i}")).collect();
    assert_eq!(
        seen, expected,
        "byte-bounded pages still see every event once"
    );
    query.after = 0;
    query.max_bytes = Some(10);
    assert_eq!(
        store.read(&query).unwrap().events.len(),
        1,
        "an event larger than the bound still comes, alone"
    );
}

fn reads_far_beyond_the_end_are_empty(store: Box<dyn EventStore>) {
    store.append(&[plain("f1")], &[]).unwrap();
    for after in [u64::MAX, i64::MAX as u64 + 1, i64::MAX as u64] {
        let page = store.read(&ReadQuery::after(after, 10)).unwrap();
        assert!(page.events.is_empty(), "after={after}");
        assert!(!page.has_more);
        assert_eq!(page.next_after, after);
    }
}

fn each_store_has_its_own_identity(a: Box<dyn EventStore>, b: Box<dyn EventStore>) {
    assert!(!a.store_id().is_empty());
    assert_ne!(a.store_id(), b.store_id(), "two stores, two identities");
    let before = a.store_id().to_owned();
    a.append(&[plain("i1")], &[]).unwrap();
    assert_eq!(a.store_id(), before, "appending keeps the identity");
}

fn link_cursors_remember_their_peer_store(store: Box<dyn EventStore>) {
    assert_eq!(store.link_cursor("pull-x").unwrap(), LinkCursor::default());
    let cursor = LinkCursor {
        position: 12,
        peer_store: Some("peer-store-1".into()),
    };
    let update = LinkUpdate {
        link: "pull-x".into(),
        cursor: Some(cursor.clone()),
        ..LinkUpdate::default()
    };
    store.append(&[plain("p1")], &[update]).unwrap();
    assert_eq!(store.link_cursor("pull-x").unwrap(), cursor);
    store
        .append(&[], &[LinkUpdate::cursor("pull-x", 13)])
        .unwrap();
    assert_eq!(
        store.link_cursor("pull-x").unwrap(),
        LinkCursor {
            position: 13,
            peer_store: None
        },
        "a cursor written without a peer store forgets it"
    );
}

fn dead_letters_commit_with_their_batch(store: Box<dyn EventStore>) {
    let letter = |id: &str, reason: &str| DeadLetter {
        id: id.into(),
        reason: reason.into(),
        at: "2026-11-29T10:00:00Z".into(),
        event: Some(format!("{{\"id\":\"{id}\"}}")),
    };
    assert_eq!(store.dead_letters("pull-x", 10).unwrap(), (0, vec![]));
    let update = LinkUpdate {
        link: "pull-x".into(),
        cursor: Some(LinkCursor {
            position: 5,
            peer_store: None,
        }),
        dead_letters: vec![letter("d1", "too deep"), letter("d2", "too big")],
        resolved: vec![],
    };
    store.append(&[plain("ok-1")], &[update]).unwrap();
    let (count, letters) = store.dead_letters("pull-x", 10).unwrap();
    assert_eq!(count, 2);
    assert_eq!(
        letters,
        vec![letter("d1", "too deep"), letter("d2", "too big")]
    );
    assert_eq!(
        store.dead_letters("pull-x", 1).unwrap().1.len(),
        1,
        "limit applies"
    );
    assert_eq!(store.dead_letters("push-y", 10).unwrap().0, 0, "per link");
    let again = LinkUpdate {
        link: "pull-x".into(),
        dead_letters: vec![DeadLetter {
            event: None,
            ..letter("d2", "still too big")
        }],
        resolved: vec!["d1".into()],
        ..LinkUpdate::default()
    };
    store.append(&[], &[again]).unwrap();
    let (count, letters) = store.dead_letters("pull-x", 10).unwrap();
    assert_eq!(count, 1, "a resolved letter is forgotten");
    assert_eq!(
        letters[0].reason, "still too big",
        "a letter is replaced by id"
    );
    assert_eq!(letters[0].event, None, "whole");
    assert_eq!(
        store.cursor("pull-x").unwrap(),
        5,
        "no cursor given, none moved"
    );
}

fn counts_and_membership(store: Box<dyn EventStore>) {
    assert_eq!(store.count().unwrap(), 0);
    store
        .append(&[plain("m1"), plain("m2"), plain("m1")], &[])
        .unwrap();
    assert_eq!(store.count().unwrap(), 2);
    assert_eq!(
        store.contains(&["m2", "zz", "m1"]).unwrap(),
        vec![true, false, true]
    );
    assert!(store.contains(&[]).unwrap().is_empty());
}

fn replay_feeds_everything_in_order(store: Box<dyn EventStore>) {
    let batch: Vec<CloudEvent> = (0..2500).map(|i| plain(&format!("r{i:04}"))).collect();
    store.append(&batch[..1200], &[]).unwrap();
    store.append(&batch[1200..], &[]).unwrap();
    let mut seen = Vec::new();
    let last = store.replay(0, &mut |e| seen.push(e.clone())).unwrap();
    assert_eq!(seen.len(), 2500);
    assert_eq!(last, store.last_sequence().unwrap());
    assert!(seen.windows(2).all(|w| w[0].sequence < w[1].sequence));
    let ids: Vec<&str> = seen.iter().map(|e| &*e.event.id).collect();
    let expected: Vec<String> = (0..2500).map(|i| format!("r{i:04}")).collect();
    assert_eq!(ids, expected, "replay yields events in append order");
    let mut tail = 0;
    let from_middle = store
        .replay(seen[2000].sequence, &mut |_| tail += 1)
        .unwrap();
    assert_eq!(tail, 499);
    assert_eq!(from_middle, last);
}

/// Writers race while a reader follows `next_after`; the reader must end up with every event.
fn concurrent_readers_never_skip(store: Arc<dyn EventStore>) {
    const WRITERS: usize = 4;
    const BATCHES: usize = 50;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let store = Arc::clone(&store);
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut seen = BTreeSet::new();
            let mut after = 0;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let page = store.read(&ReadQuery::after(after, 37)).unwrap();
                for e in &page.events {
                    assert!(
                        e.sequence > after,
                        "a page only holds events after its cursor"
                    );
                    seen.insert(e.event.id.to_string());
                }
                after = page.next_after;
                if finished && !page.has_more {
                    return seen;
                }
            }
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for b in 0..BATCHES {
                    let batch: Vec<CloudEvent> =
                        (0..3).map(|i| plain(&format!("w{w}-{b}-{i}"))).collect();
                    store.append(&batch, &[]).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.join().unwrap();
    assert_eq!(
        seen.len(),
        WRITERS * BATCHES * 3,
        "a reader following next_after skipped events"
    );
}

/// A reader with a scope (a peer's read scope) sees only events in it, whatever its own
/// filters ask, pages exactly as an unscoped reader would (`next_after` past everything
/// examined, `has_more` about the whole store), and never misses an event in scope.
fn scoped_reads_hide_what_is_out_of_scope(store: Box<dyn EventStore>) {
    let batch: Vec<CloudEvent> = (0..60)
        .map(|i| match i % 4 {
            0 => sample_event(
                &format!("a{i:02}"),
                "office",
                "enrolled",
                json!({"group": "a"}),
            ),
            1 => sample_event(
                &format!("b{i:02}"),
                "office",
                "enrolled",
                json!({"group": "b"}),
            ),
            2 => sample_event(&format!("h{i:02}"), "pool", "hired", json!({"group": "b"})),
            _ => sample_event(
                &format!("g{i:02}"),
                "group-a",
                "graded",
                json!({"group": "a"}),
            ),
        })
        .collect();
    store.append(&batch, &[]).unwrap();
    // Out-of-scope events at the end: a full page of in-scope events is followed by them.
    let tail: Vec<CloudEvent> = (0..5)
        .map(|i| {
            sample_event(
                &format!("z{i}"),
                "office",
                "enrolled",
                json!({"group": "b"}),
            )
        })
        .collect();
    store.append(&tail, &[]).unwrap();
    let last = store.last_sequence().unwrap();
    let scope = Scope::new(vec![
        EventPattern {
            types: vec!["enrolled".into()],
            sources: vec!["office".into()],
            data: vec![DataFilter::new("group", "a")],
        },
        EventPattern {
            types: vec!["hired".into()],
            ..EventPattern::default()
        },
    ]);
    let in_scope: Vec<String> = batch
        .iter()
        .filter(|e| scope.allows(e))
        .map(|e| e.id.to_string())
        .collect();
    assert_eq!(in_scope.len(), 30);

    let mut query = ReadQuery::after(0, 7);
    query.scope = Some(scope.clone());
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = store.read(&query).unwrap();
        pages += 1;
        assert!(pages < 100, "a scoped reader makes progress");
        for stored in &page.events {
            assert!(
                scope.allows(&stored.event),
                "{} is outside the reader's scope",
                stored.event.id
            );
            seen.push(stored.event.id.to_string());
        }
        assert!(page.next_after >= query.after, "next_after never goes back");
        assert_eq!(
            page.has_more,
            page.next_after < last,
            "has_more says whether the store holds events after next_after"
        );
        query.after = page.next_after;
        if !page.has_more {
            break;
        }
    }
    assert_eq!(
        seen, in_scope,
        "paging a scope sees every event in it once, in order"
    );
    assert_eq!(
        query.after, last,
        "the reader ends past the out-of-scope tail"
    );

    // The reader's own filters cannot widen the scope, even when they name what it hides.
    let mut theirs = ReadQuery::after(0, 100);
    theirs.types = vec!["enrolled".into()];
    theirs.data = vec![DataFilter::new("group", "b")];
    theirs.scope = Some(scope.clone());
    let page = store.read(&theirs).unwrap();
    assert!(
        page.events.is_empty(),
        "another group's enrollments stay hidden"
    );
    assert_eq!(page.next_after, last);
    assert!(!page.has_more);
    let mut graded = ReadQuery::after(0, 100);
    graded.sources = vec!["group-a".into()];
    graded.scope = Some(scope);
    assert!(store.read(&graded).unwrap().events.is_empty());

    let mut nothing = ReadQuery::after(0, 10);
    nothing.scope = Some(Scope::nothing());
    let page = store.read(&nothing).unwrap();
    assert!(page.events.is_empty(), "an empty scope reads nothing");
    assert_eq!((page.next_after, page.has_more), (last, false));
}
