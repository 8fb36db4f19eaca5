//! The one apply path, end to end over the in-memory store: commands, external events,
//! acceptance, deduplication, replay and failure handling, as given/when/then scenarios.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::{external, name_item, price_item, Inventory, InventoryCatalogue};
use concord_core::acceptance::{AcceptancePolicy, AcceptanceRule};
use concord_core::event::{CloudEvent, Timestamp};
use concord_core::host::{Host, HostError};
use concord_core::runtime::{
    CommandError, Cursor, Disposition, PutReport, Reply, Request, SeededEnv, ServiceCore,
};
use concord_core::store::{EventReader, EventStore, InstrumentedStore, MemoryStore, ReadQuery};
use concord_core::StoredEvent;
use serde_json::json;

fn policy() -> AcceptancePolicy {
    AcceptancePolicy::new(vec![
        AcceptanceRule::new("warehouse", "itemNamed"),
        AcceptanceRule::new("pricing", "itemPriced").with_data("currency", "EUR"),
    ])
}

fn open(store: &dyn EventStore) -> ServiceCore<Inventory> {
    ServiceCore::open("shop", Box::new(InventoryCatalogue), policy(), store).unwrap()
}

fn env() -> SeededEnv {
    SeededEnv::new(1, Timestamp::parse("2026-11-26T09:00:00Z").unwrap())
}

/// Given a store holding `given`, when `requests` run, then the replies.
fn when(
    core: &mut ServiceCore<Inventory>,
    store: &dyn EventStore,
    requests: Vec<Request<Inventory>>,
) -> Vec<Reply> {
    core.execute(store, &mut env(), requests).unwrap()
}

fn put(events: Vec<CloudEvent>) -> Request<Inventory> {
    Request::External {
        events,
        cursor: None,
    }
}

fn report(reply: &Reply) -> &PutReport {
    match reply {
        Reply::External(report) => report,
        Reply::Command(_) => panic!("expected a put report"),
    }
}

fn command_events(reply: Reply) -> Result<Vec<StoredEvent>, CommandError> {
    match reply {
        Reply::Command(result) => result,
        Reply::External(_) => panic!("expected a command reply"),
    }
}

#[test]
fn a_command_raises_stamped_events_that_change_the_model_and_the_store() {
    let store = MemoryStore::new();
    let mut core = open(&store);
    let replies = when(
        &mut core,
        &store,
        vec![Request::Command(Box::new(|m| name_item(m, "i-1", "Lamp")))],
    );
    let events = command_events(replies.into_iter().next().unwrap()).unwrap();
    assert_eq!(events.len(), 1);
    let event = &events[0].event;
    assert_eq!(
        event.source, "shop",
        "a service raises events under its own name"
    );
    assert_eq!(event.ty, "itemNamed");
    assert_eq!(
        event.time,
        Timestamp::parse("2026-11-26T09:00:00Z").unwrap()
    );
    assert_eq!(store.count().unwrap(), 1);
    let name = core.model().items.get("i-1").unwrap().name.get().cloned();
    assert_eq!(name.as_deref(), Some("Lamp"));
}

#[test]
fn a_refused_command_changes_nothing() {
    let store = MemoryStore::new();
    let mut core = open(&store);
    let replies = when(
        &mut core,
        &store,
        vec![
            Request::Command(Box::new(|m| price_item(m, "nope", 3))),
            Request::Command(Box::new(|m| name_item(m, "i-1", ""))),
        ],
    );
    let mut replies = replies.into_iter();
    assert!(matches!(
        command_events(replies.next().unwrap()),
        Err(CommandError::NotFound(_))
    ));
    assert!(matches!(
        command_events(replies.next().unwrap()),
        Err(CommandError::Invalid(_))
    ));
    assert_eq!(store.count().unwrap(), 0);
    assert!(core.model().items.is_empty());
}

#[test]
fn commands_in_one_group_commit_see_each_other_in_order() {
    let store = MemoryStore::new();
    let mut core = open(&store);
    let replies = when(
        &mut core,
        &store,
        vec![
            Request::Command(Box::new(|m| price_item(m, "i-1", 3))),
            Request::Command(Box::new(|m| name_item(m, "i-1", "Lamp"))),
            Request::Command(Box::new(|m| price_item(m, "i-1", 4))),
            Request::Command(Box::new(|m| name_item(m, "i-1", "Lamp"))),
        ],
    );
    let results: Vec<usize> = replies
        .into_iter()
        .map(|r| command_events(r).map(|e| e.len()).unwrap_or(usize::MAX))
        .collect();
    assert_eq!(
        results,
        vec![usize::MAX, 1, 1, 0],
        "404, named, priced, nothing to change"
    );
    let item = core.model().items.get("i-1").unwrap();
    assert_eq!(item.price.get(), Some(&4));
    let page = store.read(&ReadQuery::after(0, 10)).unwrap();
    let times: Vec<_> = page.events.iter().map(|e| e.event.time).collect();
    assert!(
        times[0] < times[1],
        "own events get strictly increasing times"
    );
}

#[test]
fn external_events_are_accepted_ignored_or_duplicate() {
    let store = MemoryStore::new();
    let mut core = open(&store);
    let named = external(
        "x-1",
        "warehouse",
        "itemNamed",
        5,
        json!({"itemId":"i-9","name":"Desk"}),
    );
    let priced_eur = external(
        "x-2",
        "pricing",
        "itemPriced",
        6,
        json!({"itemId":"i-9","price":90,"currency":"EUR"}),
    );
    let priced_usd = external(
        "x-3",
        "pricing",
        "itemPriced",
        7,
        json!({"itemId":"i-9","price":99,"currency":"USD"}),
    );
    let stranger = external(
        "x-4",
        "elsewhere",
        "itemNamed",
        8,
        json!({"itemId":"i-9","name":"Junk"}),
    );
    let unknown = external("x-5", "warehouse", "itemBurned", 9, json!({"itemId":"i-9"}));
    let replies = when(
        &mut core,
        &store,
        vec![put(vec![
            named.clone(),
            priced_eur,
            priced_usd,
            stranger,
            unknown,
            named.clone(),
        ])],
    );
    let statuses: Vec<&str> = report(&replies[0])
        .results
        .iter()
        .map(|(_, d)| match d {
            Disposition::Accepted => "accepted",
            Disposition::Duplicate => "duplicate",
            Disposition::Ignored(_) => "ignored",
            Disposition::Rejected(_) => "rejected",
        })
        .collect();
    assert_eq!(
        statuses,
        [
            "accepted",
            "accepted",
            "ignored",
            "ignored",
            "ignored",
            "duplicate"
        ]
    );
    assert_eq!(store.count().unwrap(), 2, "only accepted events are stored");
    let item = core.model().items.get("i-9").unwrap();
    assert_eq!(item.price.get(), Some(&90));
    assert_eq!(item.name.get().map(String::as_str), Some("Desk"));

    let again = when(&mut core, &store, vec![put(vec![named])]);
    assert_eq!(
        report(&again[0]).duplicates(),
        1,
        "an id stays a duplicate forever"
    );
    assert_eq!(store.count().unwrap(), 2);
}

#[test]
fn an_accepted_event_about_an_unknown_item_creates_a_placeholder() {
    let store = MemoryStore::new();
    let mut core = open(&store);
    let price = external(
        "p-1",
        "pricing",
        "itemPriced",
        1,
        json!({"itemId":"ghost","price":1,"currency":"EUR"}),
    );
    when(&mut core, &store, vec![put(vec![price])]);
    let ghost = core
        .model()
        .items
        .get("ghost")
        .expect("placeholder made on the fly");
    assert!(
        !ghost.name.is_set(),
        "a placeholder has no name until its own event arrives"
    );
}

#[test]
fn a_malformed_event_reaching_the_core_is_rejected_not_stored() {
    let store = MemoryStore::new();
    let mut core = open(&store);
    let bad = external("b-1", "warehouse", "itemNamed", 1, json!({"itemId":"i-1"}));
    assert_eq!(core.validate(std::slice::from_ref(&bad)).unwrap_err().0, 0);
    let replies = when(&mut core, &store, vec![put(vec![bad])]);
    assert_eq!(report(&replies[0]).rejected(), 1);
    assert_eq!(store.count().unwrap(), 0);
}

#[test]
fn a_cursor_moves_in_the_same_commit_as_the_events() {
    let store = MemoryStore::new();
    let mut core = open(&store);
    let named = external(
        "x-1",
        "warehouse",
        "itemNamed",
        5,
        json!({"itemId":"i-9","name":"Desk"}),
    );
    core.execute(
        &store,
        &mut env(),
        vec![Request::External {
            events: vec![named],
            cursor: Some(Cursor {
                link: "pull-warehouse".into(),
                position: 12,
            }),
        }],
    )
    .unwrap();
    assert_eq!(store.cursor("pull-warehouse").unwrap(), 12);
}

#[test]
fn replay_rebuilds_exactly_the_live_model() {
    let store = MemoryStore::new();
    let mut live = open(&store);
    let mut env = env();
    for i in 0..50 {
        let id = format!("i-{}", i % 7);
        let name = format!("name-{i}");
        let price = i64::from(i);
        live.execute(
            &store,
            &mut env,
            vec![
                Request::Command(Box::new(move |m| name_item(m, &id, &name))),
                put(vec![external(
                    &format!("e-{i}"),
                    "pricing",
                    "itemPriced",
                    100 - i64::from(i),
                    json!({"itemId": format!("i-{}", i % 5), "price": price, "currency":"EUR"}),
                )]),
            ],
        )
        .unwrap();
        env.advance_millis(1);
    }
    let replayed = open(&store);
    assert_eq!(replayed.model(), live.model());
}

#[test]
fn a_failed_append_acknowledges_nothing_and_rolls_the_model_back() {
    let store = InstrumentedStore::new(MemoryStore::new());
    let mut core = open(&store);
    core.execute(
        &store,
        &mut env(),
        vec![Request::Command(Box::new(|m| name_item(m, "i-1", "Lamp")))],
    )
    .unwrap();
    store.fail_appends.store(true, Ordering::SeqCst);
    let result = core.execute(
        &store,
        &mut env(),
        vec![Request::Command(Box::new(|m| name_item(m, "i-1", "Chair")))],
    );
    assert!(result.is_err());
    let name = core.model().items.get("i-1").unwrap().name.get().cloned();
    assert_eq!(
        name.as_deref(),
        Some("Lamp"),
        "the model holds only what the store holds"
    );
}

#[test]
fn the_host_group_commits_concurrent_writers() {
    let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let core = open(&*store);
    let host = Host::start(core, Arc::clone(&store), Box::new(env())).unwrap();
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let host = host.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let id = format!("i-{w}-{i}");
                    let events = host
                        .command_blocking(Box::new(move |m| name_item(m, &id, "x")))
                        .unwrap();
                    assert_eq!(events.len(), 1);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    assert_eq!(store.count().unwrap(), 400);
    assert_eq!(host.query(|m| m.items.len()), 400);
    let refused = host.command_blocking(Box::new(|m| price_item(m, "nope", 1)));
    assert!(matches!(
        refused,
        Err(HostError::Command(CommandError::NotFound(_)))
    ));
    host.shutdown();
    let after = host.command_blocking(Box::new(|m| name_item(m, "late", "x")));
    assert!(
        matches!(after, Err(HostError::Stopped)),
        "nothing is taken after shutdown"
    );
    assert_eq!(store.count().unwrap(), 400);
}

/// Runs a command on `host` (from its own thread) that blocks the writer until the returned
/// sender sends (or is dropped); returns once the writer is stuck in it.
fn block_the_writer(
    host: &Host<Inventory>,
    id: &'static str,
) -> (
    std::sync::mpsc::Sender<()>,
    std::thread::JoinHandle<Result<Vec<StoredEvent>, HostError>>,
) {
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let (started, running) = std::sync::mpsc::channel::<()>();
    let host = host.clone();
    let thread = std::thread::spawn(move || {
        host.command_blocking(Box::new(move |m| {
            let _ = started.send(());
            let _ = gate.recv();
            name_item(m, id, "x")
        }))
    });
    running
        .recv_timeout(std::time::Duration::from_secs(5))
        .expect("the writer runs the blocking command");
    (release, thread)
}

/// Starts `n` commands from their own threads and waits until all of them wait in the queue.
fn fill_the_queue(
    host: &Host<Inventory>,
    prefix: &str,
    n: usize,
) -> Vec<std::thread::JoinHandle<Result<Vec<StoredEvent>, HostError>>> {
    let waiting = (0..n)
        .map(|i| {
            let host = host.clone();
            let id = format!("{prefix}-{i}");
            std::thread::spawn(move || {
                host.command_blocking(Box::new(move |m| name_item(m, &id, "queued")))
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while host.queued() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} queued",
            host.queued()
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    waiting
}

#[test]
fn a_full_writer_queue_refuses_at_once_and_keeps_what_it_took() {
    // The reproduction: with the writer stuck, 68 k commands queued in 10 s and memory grew.
    let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let host =
        Host::start_with_queue(open(&*store), Arc::clone(&store), Box::new(env()), 10).unwrap();
    let (release, blocker) = block_the_writer(&host, "i-blocker");
    assert_eq!(host.queued(), 0, "the writer took the blocker");
    let waiting = fill_the_queue(&host, "i", 10);

    // Full: the next command and the next external batch fail at once, queueing nothing.
    let started = std::time::Instant::now();
    let refused = host.command_blocking(Box::new(|m| name_item(m, "i-late", "x")));
    assert!(
        matches!(refused, Err(HostError::Overloaded { capacity: 10 })),
        "{refused:?}"
    );
    let refused = host.put_events_blocking(
        vec![external(
            "e-1",
            "warehouse",
            "itemNamed",
            1,
            json!({"itemId": "i-9", "name": "x"}),
        )],
        None,
    );
    assert!(
        matches!(refused, Err(HostError::Overloaded { .. })),
        "{refused:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert_eq!(host.queued(), 10, "a refused request takes no room");
    let message = HostError::Overloaded { capacity: 10 }.to_string();
    assert!(
        message.contains("overloaded") && message.contains("retry"),
        "{message}"
    );

    // Released, the writer answers everyone it took, in one go where it can.
    release.send(()).unwrap();
    assert!(blocker.join().unwrap().is_ok());
    for waiter in waiting {
        assert_eq!(waiter.join().unwrap().unwrap().len(), 1);
    }
    assert_eq!(
        store.count().unwrap(),
        11,
        "the blocker and the ten that waited"
    );
    assert_eq!(host.queued(), 0);
    assert!(host
        .command_blocking(Box::new(|m| name_item(m, "i-after", "x")))
        .is_ok());

    // Shutdown is never refused, even with a full queue behind a stuck writer.
    let (release, stuck) = block_the_writer(&host, "i-stuck");
    let fillers = fill_the_queue(&host, "j", 10);
    let stopping = {
        let host = host.clone();
        std::thread::spawn(move || host.shutdown())
    };
    release.send(()).unwrap();
    stopping.join().unwrap();
    assert!(stuck.join().unwrap().is_ok());
    for filler in fillers {
        assert!(
            filler.join().unwrap().is_ok(),
            "queued before the stop: finished"
        );
    }
    assert!(matches!(
        host.command_blocking(Box::new(|m| name_item(m, "late", "x"))),
        Err(HostError::Stopped)
    ));
}
