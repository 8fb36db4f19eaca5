//! Sync throughput over NATS JetStream between two in-process services, next to HTTP.
//!
//! ```text
//! cargo run --release -p concord-nats --example throughput [-- EVENTS]
//! ```
//!
//! A writer holds EVENTS notes (100 000 by default) in its log. Measured, each on its own:
//! 1. **push → NATS**: the writer's push link publishes its whole log to the stream (every
//!    event acknowledged by JetStream before the cursor moves);
//! 2. **NATS → pull**: a reader's pull link consumes it all (pages applied with their cursor,
//!    then acknowledged);
//! 3. **HTTP pull**, for comparison: another reader pulls the writer's log over getEvents;
//! 4. **push and pull at once**: a fresh writer and reader, both links running, from the
//!    first publish to the last event applied.
//!
//! Stores are in memory, so the figures are the transports' and the links' (not the disk's).
//! Uses `CONCORD_NATS_URL` (default `nats://127.0.0.1:4222`) and a stream of its own.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use concord_core::store::{EventReader, MemoryStore};
use concord_node::TransportSet;
use concord_sync::{LinkSpec, TransportKind};
use support::*;

const PAGE_SIZE: usize = 5000;

fn rate(events: u64, elapsed: Duration) -> String {
    format!(
        "{:>9.0} events/s  ({events} in {:.2} s)",
        events as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let events: u64 = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("EVENTS is a number"))
        .unwrap_or(100_000);
    let Some(nats) = TestStream::new().await else {
        return;
    };
    println!(
        "sync throughput, {events} events, pages of {PAGE_SIZE}, in-memory stores, NATS at {}",
        nats.url
    );

    // 1. push → NATS
    let writer_store = store_with_notes(WRITER, 0, events);
    let mut publish = nats.publish_link("publish-notes");
    publish.page_size = PAGE_SIZE;
    let writer = start(
        WRITER,
        "nobody",
        writer_store.clone(),
        vec![publish],
        nats.transport(WRITER),
    )
    .await;
    let started = Instant::now();
    let pushed = sync(&writer).await;
    let push_time = started.elapsed();
    assert_eq!(pushed["carried"], events, "{pushed}");
    println!(
        "  push → NATS (publish, all acked)   {}",
        rate(events, push_time)
    );

    // 2. NATS → pull
    let reader_store = Arc::new(MemoryStore::new());
    let mut consume = nats.consume_link("notes-from-writer", &[WRITER]);
    consume.page_size = PAGE_SIZE;
    let reader = start(
        READER,
        WRITER,
        reader_store.clone(),
        vec![consume],
        nats.transport(READER),
    )
    .await;
    let started = Instant::now();
    let pulled = sync(&reader).await;
    let pull_time = started.elapsed();
    assert_eq!(reader_store.count().unwrap(), events, "{pulled}");
    println!(
        "  NATS → pull (fetch, apply, ack)    {}",
        rate(events, pull_time)
    );
    println!(
        "  push then pull, end to end         {}",
        rate(events, push_time + pull_time)
    );
    reader.stop().await;

    // 3. HTTP pull from the same writer, for comparison.
    let http_store = Arc::new(MemoryStore::new());
    let mut http = LinkSpec::pull(WRITER, &writer.url(), &[support::NOTE_WRITTEN]);
    http.page_size = PAGE_SIZE;
    let http_reader = start(
        READER,
        WRITER,
        http_store.clone(),
        vec![http],
        Arc::new(TransportSet::default()),
    )
    .await;
    let started = Instant::now();
    sync(&http_reader).await;
    let http_time = started.elapsed();
    assert_eq!(http_store.count().unwrap(), events);
    println!(
        "  HTTP pull (getEvents), same stores {}",
        rate(events, http_time)
    );
    http_reader.stop().await;
    writer.stop().await;
    nats.delete().await;

    // 4. Both links at once, on a fresh stream.
    let Some(nats) = TestStream::new().await else {
        return;
    };
    let mut publish = nats.publish_link("publish-notes");
    publish.page_size = PAGE_SIZE;
    let mut consume = nats.consume_link("notes-from-writer", &[WRITER]);
    consume.page_size = PAGE_SIZE;
    consume.interval_ms = 5;
    let reader_store = Arc::new(MemoryStore::new());
    let reader = start(
        READER,
        WRITER,
        reader_store.clone(),
        vec![consume],
        Arc::new(TransportSet::default().with(TransportKind::Nats, nats.transport(READER))),
    )
    .await;
    let started = Instant::now();
    let writer = start(
        WRITER,
        "nobody",
        store_with_notes(WRITER, 0, events),
        vec![publish],
        nats.transport(WRITER),
    )
    .await;
    while reader_store.count().unwrap() < events {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    println!(
        "  push and pull at once              {}",
        rate(events, started.elapsed())
    );
    writer.stop().await;
    reader.stop().await;
    nats.delete().await;
}
