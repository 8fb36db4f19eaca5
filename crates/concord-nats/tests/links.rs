//! Links over a real NATS JetStream server, between two in-process services: a writer whose
//! push link publishes its notes, a reader whose pull link consumes them.
//!
//! Each test uses a stream of its own (and deletes it). Without a server the tests print
//! "skipped: NATS not reachable at …" and pass, unless `CONCORD_REQUIRE_SERVICES=1`.

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use concord_core::store::{EventReader, MemoryStore};
use concord_core::EventStore;
use concord_nats::NatsTransport;
use concord_node::Transport;
use concord_sync::LinkSpec;
use serde_json::json;
use support::*;

const LINK: &str = "notes-from-writer";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_by_a_push_link_arrive_once_through_a_pull_link() {
    let Some(nats) = TestStream::new().await else {
        return;
    };
    let writer_store = store_with_notes(WRITER, 0, 2500);
    let writer = start(
        WRITER,
        "nobody",
        writer_store.clone(),
        vec![nats.publish_link("publish-notes")],
        nats.transport(WRITER),
    )
    .await;
    // The link's own first round may publish part before this run does: the cursor tells.
    let published = sync(&writer).await;
    assert_eq!(published["ok"], true, "{published}");
    assert_eq!(published["cursor"], 2500);
    assert_eq!(nats.messages().await, 2500);

    let reader_store = Arc::new(MemoryStore::new());
    let mut link = nats.consume_link(LINK, &[WRITER]);
    link.page_size = 1000;
    let reader = start(
        READER,
        WRITER,
        reader_store.clone(),
        vec![link],
        nats.transport(READER),
    )
    .await;
    let consumed = sync(&reader).await;
    assert_eq!(consumed["ok"], true, "{consumed}");
    // The link's own task runs its first round at start, and may carry a page or all of them
    // before `sync` takes its turn: what counts is what the store holds.
    assert_eq!(reader_store.count().unwrap(), 2500, "{consumed}");
    assert_eq!(
        reader_store.cursor(LINK).unwrap(),
        2500,
        "the stream position"
    );
    let consumer = nats.consumer(READER, LINK).await;
    assert_eq!(
        consumer.config.filter_subject,
        format!("{}.writer.noteWritten", nats.prefix)
    );
    assert_eq!((consumer.num_ack_pending, consumer.num_pending), (0, 0));

    // The same ids published again, within the duplicate window: the server drops them.
    writer.stop().await;
    let writer = start(
        WRITER,
        "nobody",
        writer_store.clone(),
        vec![nats.publish_link("publish-notes-again")],
        nats.transport(WRITER),
    )
    .await;
    assert_eq!(sync(&writer).await["cursor"], 2500, "all published");
    assert_eq!(nats.messages().await, 2500, "deduplicated by Nats-Msg-Id");

    // ... and beyond it (another message id): stored again, but not applied again.
    for n in 0..10 {
        let payload = serde_json::to_vec(&note(WRITER, n)).unwrap();
        nats.publish_raw(WRITER, NOTE_WRITTEN, &format!("again-{n}"), payload)
            .await;
    }
    let again = sync(&reader).await;
    assert_eq!(
        (again["ok"].clone(), again["carried"].clone()),
        (json!(true), json!(0))
    );
    assert_eq!(reader_store.count().unwrap(), 2500);
    assert_eq!(reader_store.cursor(LINK).unwrap(), 2510);

    // A new note goes through live: the push link wakes on the commit, the pull on its round.
    writer
        .command("/api/notes", json!({"noteId": "live-99", "text": "live"}))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while reader_store.count().unwrap() < 2501 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the live note never arrived"
        );
        sync(&reader).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    writer.stop().await;
    reader.stop().await;
    nats.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_consumer_does_not_apply_again_even_if_it_never_acknowledged() {
    let Some(nats) = TestStream::new().await else {
        return;
    };
    let writer = start(
        WRITER,
        "nobody",
        store_with_notes(WRITER, 0, 1500),
        vec![nats.publish_link("publish-notes")],
        nats.transport(WRITER),
    )
    .await;
    assert_eq!(sync(&writer).await["cursor"], 1500, "all published");

    // A reader that applies every page and dies before acknowledging any.
    let reader_store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let crashing = Spy::new(nats.transport(READER));
    crashing.drop_acks.store(true, Ordering::SeqCst);
    let link = nats.consume_link(LINK, &[]);
    let reader = start(
        READER,
        WRITER,
        reader_store.clone(),
        vec![link.clone()],
        crashing.clone(),
    )
    .await;
    // The link's own first round may take a page before this sync does: count the store.
    let first = sync(&reader).await;
    assert_eq!(first["ok"], true, "{first}");
    assert_eq!(reader_store.count().unwrap(), 1500, "{first}");
    reader.stop().await;
    let consumer = nats.consumer(READER, LINK).await;
    assert!(consumer.num_ack_pending > 0, "nothing was acknowledged");

    // Restarted: a new transport, the same durable consumer. Nothing comes back.
    let restarted = Spy::new(nats.transport(READER));
    let reader = start(
        READER,
        WRITER,
        reader_store.clone(),
        vec![link.clone()],
        restarted.clone(),
    )
    .await;
    let second = sync(&reader).await;
    assert_eq!(second["ok"], true, "{second}");
    assert_eq!(restarted.fetched(), 0, "already applied events came back");
    assert_eq!(reader_store.count().unwrap(), 1500);

    // New events still flow, once.
    writer
        .command("/api/notes", json!({"noteId": "live-7", "text": "live"}))
        .await
        .unwrap();
    sync(&writer).await;
    let live = sync(&reader).await;
    assert_eq!(live["ok"], true, "{live}");
    assert_eq!(reader_store.count().unwrap(), 1501, "{live}");
    assert_eq!(restarted.fetched(), 1);
    reader.stop().await;

    // And once more with acknowledgements: a plain restart fetches nothing either.
    let again = Spy::new(nats.transport(READER));
    let reader = start(
        READER,
        WRITER,
        reader_store.clone(),
        vec![link],
        again.clone(),
    )
    .await;
    assert_eq!(sync(&reader).await["ok"], true);
    assert_eq!(again.fetched(), 0);
    assert_eq!(reader_store.count().unwrap(), 1501);
    let consumer = nats.consumer(READER, LINK).await;
    assert_eq!(consumer.num_ack_pending, 0);
    reader.stop().await;
    writer.stop().await;
    nats.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_are_recorded_as_rejected_and_do_not_block() {
    let Some(nats) = TestStream::new().await else {
        return;
    };
    nats.publish_raw(WRITER, NOTE_WRITTEN, "junk", b"not json at all".to_vec())
        .await;
    let no_specversion = json!({"id": "bad-1", "source": WRITER, "type": NOTE_WRITTEN, "data": {}});
    nats.publish_raw(
        WRITER,
        NOTE_WRITTEN,
        "bad-1",
        serde_json::to_vec(&no_specversion).unwrap(),
    )
    .await;
    // Well-formed, but its data breaks the catalogue: rejected by the service itself.
    let mut wrong = note(WRITER, 1_000);
    wrong.id = "bad-2".into();
    let mut data = wrong.data.map().clone();
    data.insert("text".into(), json!(1000));
    wrong.data = data.into();
    nats.publish_raw(
        WRITER,
        NOTE_WRITTEN,
        "bad-2",
        serde_json::to_vec(&wrong).unwrap(),
    )
    .await;
    for n in 0..3 {
        let payload = serde_json::to_vec(&note(WRITER, n)).unwrap();
        nats.publish_raw(WRITER, NOTE_WRITTEN, &format!("good-{n}"), payload)
            .await;
    }
    // A source the link does not take: two sources make the filter subject `*`, so the
    // consumer delivers it and the link filters it out locally, without rejecting it.
    let stranger = serde_json::to_vec(&note("stranger", 5)).unwrap();
    nats.publish_raw("stranger", NOTE_WRITTEN, "stranger-5", stranger)
        .await;

    let reader_store = Arc::new(MemoryStore::new());
    let spy = Spy::new(nats.transport(READER));
    let reader = start(
        READER,
        WRITER,
        reader_store.clone(),
        vec![nats.consume_link(LINK, &[WRITER, "other-writer"])],
        spy.clone(),
    )
    .await;
    let summary = sync(&reader).await;
    assert_eq!(summary["ok"], true, "{summary}");
    // Not `summary["carried"]`: the link's own first round may have carried them already.
    assert_eq!(reader_store.count().unwrap(), 3, "{summary}");
    assert_eq!(summary["rejected"], 3, "{summary}");
    assert_eq!(summary["cursor"], 7);
    assert_eq!(
        spy.fetched(),
        4,
        "three notes and bad-2; not the stranger's"
    );
    let consumer = nats.consumer(READER, LINK).await;
    assert_eq!(
        consumer.config.filter_subject,
        format!("{}.*.noteWritten", nats.prefix)
    );
    assert_eq!(reader_store.count().unwrap(), 3);
    let status = reqwest_free_status(&reader).await;
    let ids: Vec<&str> = status["recentRejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["junk", "bad-1", "bad-2"], "{status}");
    assert_eq!(nats.consumer(READER, LINK).await.num_ack_pending, 0);
    reader.stop().await;
    nats.delete().await;
}

/// The link's entry of `GET /api/sync`, read with a bare HTTP/1.1 request.
async fn reqwest_free_status(node: &concord_node::RunningNode) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(node.addr).await.unwrap();
    let request = format!(
        "GET /api/sync HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Connection: close\r\n\r\n",
        support::OPERATOR_TOKEN
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8(answer).unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1;
    serde_json::from_str::<serde_json::Value>(body).unwrap()["links"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_acknowledged_only_after_they_are_applied() {
    let Some(nats) = TestStream::new().await else {
        return;
    };
    let writer = start(
        WRITER,
        "nobody",
        store_with_notes(WRITER, 0, 300),
        vec![nats.publish_link("publish-notes")],
        nats.transport(WRITER),
    )
    .await;
    assert_eq!(sync(&writer).await["cursor"], 300, "all published");

    let store = Arc::new(FlakyStore::default());
    // Failing before the start: the link's own first round must not succeed either.
    store.fail_appends.store(true, Ordering::SeqCst);
    let mut link = nats.consume_link(LINK, &[]);
    link.page_size = 100;
    let reader = start(
        READER,
        WRITER,
        store.clone(),
        vec![link],
        nats.transport(READER),
    )
    .await;
    let failed = sync(&reader).await;
    assert_eq!(failed["ok"], false, "{failed}");
    let consumer = nats.consumer(READER, LINK).await;
    assert_eq!(consumer.num_ack_pending, 100, "delivered, not acknowledged");
    assert_eq!(consumer.ack_floor.stream_sequence, 0);

    // A second failure, then the disk recovers: every note arrives exactly once, in order.
    assert_eq!(sync(&reader).await["ok"], false);
    store.fail_appends.store(false, Ordering::SeqCst);
    let recovered = sync(&reader).await;
    assert_eq!(recovered["ok"], true, "{recovered}");
    assert_eq!(store.count().unwrap(), 300, "{recovered}");
    let page = store
        .read(&concord_core::store::ReadQuery::after(0, 1000))
        .unwrap();
    let notes: Vec<&str> = page
        .events
        .iter()
        .map(|e| e.event.data["noteId"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..300).map(|n| format!("n{n}")).collect();
    assert_eq!(notes, expected);
    let consumer = nats.consumer(READER, LINK).await;
    assert_eq!(
        (consumer.num_ack_pending, consumer.ack_floor.stream_sequence),
        (0, 300)
    );
    reader.stop().await;
    writer.stop().await;
    nats.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_fails_rounds_not_the_node() {
    // Needs no server: nothing listens on port 1.
    let link = LinkSpec::pull(WRITER, "", &[NOTE_WRITTEN]).over_nats("nats://127.0.0.1:1");
    let transport = Arc::new(NatsTransport::new(concord_nats::NatsOptions::new(READER)).unwrap());
    let reader = start(
        READER,
        WRITER,
        Arc::new(MemoryStore::new()),
        vec![link.clone()],
        transport.clone(),
    )
    .await;
    let summary = sync(&reader).await;
    assert_eq!(summary["ok"], false);
    let error = summary["lastError"].as_str().unwrap();
    assert!(
        error.contains("NATS not reachable at nats://127.0.0.1:1"),
        "{error}"
    );
    let delivered = transport.deliver(&link, &[note(WRITER, 1)]).await;
    assert!(delivered.is_err());
    reader.stop().await;

    // A node whose transports lack NATS refuses a NATS link at start.
    let refused = concord_node::start(
        NotesSpec::new(READER).accepting_from(WRITER),
        Arc::new(MemoryStore::new()),
        concord_node::NodeOptions {
            links: vec![link],
            ..concord_node::NodeOptions::default()
        },
    )
    .await;
    let error = refused.err().expect("refused").to_string();
    assert!(error.contains("no nats transport"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_topology_runs_over_nats() {
    let Some(nats) = TestStream::new().await else {
        return;
    };
    // Over HTTP: the reader pulls the writer's notes, and pushes its own back.
    let http = vec![
        (WRITER.to_owned(), Vec::new()),
        (
            READER.to_owned(),
            vec![
                LinkSpec::pull(WRITER, "http://writer", &[NOTE_WRITTEN]),
                LinkSpec::push(READER, WRITER, "http://writer", &[NOTE_WRITTEN]),
            ],
        ),
    ];
    let topology = concord_nats::over_nats(&http, &nats.url);
    let links_of = |service: &str| {
        topology
            .iter()
            .find(|(s, _)| s == service)
            .map(|(_, links)| links.clone())
            .unwrap()
    };
    let mut nodes = Vec::new();
    let stores: Vec<Arc<MemoryStore>> = vec![
        store_with_notes(WRITER, 0, 40),
        store_with_notes(READER, 100, 2),
    ];
    for ((service, peer), store) in [(WRITER, READER), (READER, WRITER)]
        .into_iter()
        .zip(&stores)
    {
        let transports = concord_nats::transports(nats.options(service)).unwrap();
        nodes.push(start(service, peer, store.clone(), links_of(service), transports).await);
    }
    // Publishers first, then consumers.
    for _ in 0..2 {
        for node in &nodes {
            node.sync_now().await;
        }
    }
    assert_eq!(
        stores[0].count().unwrap(),
        42,
        "the writer took the reader's two notes"
    );
    assert_eq!(
        stores[1].count().unwrap(),
        42,
        "the reader took the writer's forty"
    );
    for node in nodes {
        node.stop().await;
    }
    nats.delete().await;
}
