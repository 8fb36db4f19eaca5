//! PostgreSQL store figures: durable batched append, small batches, one commit per event,
//! racing writers, replay, paged reads and lookups by id, on a scratch schema that is dropped
//! afterwards.
//!
//! ```text
//! cargo run --release -p concord-postgres --example bench [-- URL [EVENTS]]
//! ```
//!
//! URL defaults to `CONCORD_TEST_POSTGRES`, else `postgres://postgres@127.0.0.1:5432/test`;
//! EVENTS (default 100000) is how many events the batched append writes and replay reads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use concord_core::event::{CloudEvent, Timestamp};
use concord_core::store::{EventAppender, EventReader, ReadQuery};
use concord_postgres::testing::{server_url, Scratch};
use concord_postgres::PostgresStore;
use serde_json::{json, Value};

/// Events shaped like a service's: a UUID-sized id, microsecond times in order, a small
/// object as data (about 250 bytes a row, as in the SQLite figures).
struct Events {
    next: u64,
    prefix: String,
}

impl Events {
    fn new(tag: &str) -> Self {
        Events {
            next: 0,
            prefix: format!("{tag}-{:08x}", fastrand::u32(..)),
        }
    }

    fn batch(&mut self, size: usize) -> Vec<CloudEvent> {
        (0..size).map(|_| self.event()).collect()
    }

    fn event(&mut self) -> CloudEvent {
        self.next += 1;
        let n = self.next;
        let id = format!(
            "{}-7{:03x}-8{:03x}-{:012x}",
            self.prefix,
            n % 4096,
            n % 4093,
            n
        );
        let Value::Object(data) = json!({
            "counterId": format!("counter-{}", n % 1000),
            "value": n,
            "label": "a value set by the benchmark",
            "by": "bench-writer",
        }) else {
            unreachable!()
        };
        let time = Timestamp::from_unix_nanos(1_795_000_000_000_000_000 + i128::from(n) * 1000);
        CloudEvent::new(id, "bench", "counterSet", time, data)
    }
}

fn rate(events: u64, elapsed: Duration) -> String {
    let per_second = events as f64 / elapsed.as_secs_f64();
    if per_second >= 10_000.0 {
        format!("{:>8.1} k ev/s", per_second / 1000.0)
    } else {
        format!("{per_second:>8.0}   ev/s")
    }
}

fn line(what: &str, events: u64, elapsed: Duration) {
    println!(
        "  {what:<46} {}   ({events} events in {:.2} s)",
        rate(events, elapsed),
        elapsed.as_secs_f64()
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(server_url);
    let total: usize = args
        .next()
        .map(|n| n.parse().expect("EVENTS is a number"))
        .unwrap_or(100_000);
    if let Err(error) = PostgresStore::ping(&url) {
        eprintln!("bench: {error}");
        std::process::exit(1);
    }
    let scratch = Scratch::new(&url, "bench");
    println!(
        "PostgreSQL store, {} ({total} events)",
        concord_postgres::redact(&url)
    );

    // Batched durable append: 1000 events per append, one transaction (one WAL flush) each.
    let store = scratch.store();
    let mut events = Events::new("batched");
    let batches: Vec<Vec<CloudEvent>> = (0..total.div_ceil(1000))
        .map(|i| events.batch(1000.min(total - i * 1000)))
        .collect();
    let started = Instant::now();
    for batch in &batches {
        store.append(batch, &[]).expect("append");
    }
    line(
        "append, 1000 per batch (durable)",
        total as u64,
        started.elapsed(),
    );

    // Replay everything, as a service does at start-up.
    let started = Instant::now();
    let mut replayed = 0u64;
    let mut bytes = 0usize;
    store
        .replay(0, &mut |stored| {
            replayed += 1;
            bytes += stored.event.data.len();
        })
        .expect("replay");
    assert_eq!(replayed, total as u64);
    line("replay", replayed, started.elapsed());

    // Paged reads following next_after, as a pulling peer does (getEvents).
    let started = Instant::now();
    let (mut after, mut read) = (0, 0u64);
    loop {
        let page = store
            .read(&ReadQuery::after(after, ReadQuery::DEFAULT_LIMIT))
            .expect("read");
        read += page.events.len() as u64;
        after = page.next_after;
        if !page.has_more {
            break;
        }
    }
    line("read, pages of 1000 (getEvents)", read, started.elapsed());

    // Idempotence check on a full batch of known ids: what a re-delivery costs.
    let started = Instant::now();
    for batch in batches.iter().take(20) {
        store.append(batch, &[]).expect("duplicate append");
    }
    line(
        "append of duplicates, 1000 per batch",
        20_000.min(total as u64),
        started.elapsed(),
    );

    // Looking up a batch's ids, as every external batch does before it is decided.
    let started = Instant::now();
    let mut found = 0u64;
    for batch in batches.iter().take(20) {
        let ids: Vec<&str> = batch.iter().map(|event| &*event.id).collect();
        found += store.lookup(&ids).expect("lookup").iter().flatten().count() as u64;
    }
    line("lookup, 1000 ids per call", found, started.elapsed());
    drop(store);

    // Smaller batches, the size Marten's published figure uses.
    let store = scratch.store();
    let mut events = Events::new("small");
    let small: Vec<Vec<CloudEvent>> = (0..200).map(|_| events.batch(100)).collect();
    let started = Instant::now();
    for batch in &small {
        store.append(batch, &[]).expect("append");
    }
    line("append, 100 per batch (durable)", 20_000, started.elapsed());

    // One commit per event: the bound group commit has to beat.
    let singles = events.batch(2000);
    let started = Instant::now();
    for event in &singles {
        store
            .append(std::slice::from_ref(event), &[])
            .expect("append");
    }
    line(
        "append, 1 per commit (durable)",
        singles.len() as u64,
        started.elapsed(),
    );
    drop(store);

    // Four writers, each a store of its own (as four processes would be), racing on one
    // schema: the advisory lock orders their commits.
    let schema = scratch.schema();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = Arc::new(PostgresStore::connect_with_schema(&url, &schema).expect("store"));
            let mut events = Events::new(&format!("racer{w}"));
            let batches: Vec<Vec<CloudEvent>> = (0..50).map(|_| events.batch(100)).collect();
            (store, batches)
        })
        .collect();
    let started = Instant::now();
    let threads: Vec<_> = writers
        .into_iter()
        .map(|(store, batches)| {
            std::thread::spawn(move || {
                for batch in &batches {
                    store.append(batch, &[]).expect("append");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("writer");
    }
    line(
        "append, 4 racing stores x 100 per batch",
        20_000,
        started.elapsed(),
    );
    std::hint::black_box(bytes);
}
