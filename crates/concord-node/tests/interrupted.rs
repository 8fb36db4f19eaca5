//! A "synchronise now" that is cancelled midway (its HTTP request timed out, its caller went
//! away) drops the round it was running. The link must not wait for that round's answer for
//! good: the next run carries what is there.

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use concord_core::store::{EventReader, MemoryStore};
use concord_sync::LinkSpec;
use concord_testkit::notes::NOTE_WRITTEN;
use concord_testkit::InstrumentedStore;
use serde_json::json;

const TOKEN: &str = "concord_reader-token-for-the-interrupted-test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_sync_leaves_the_link_able_to_run() {
    let log = Arc::new(InstrumentedStore::new(MemoryStore::new()));
    let writer = support::writer(Arc::clone(&log) as Arc<_>, TOKEN).await;
    // The link's own rounds come an hour apart: only "synchronise now" runs it here.
    let mut link = LinkSpec::pull("writer", &writer.url(), &[NOTE_WRITTEN]);
    link.interval_ms = 3_600_000;
    let store = Arc::new(MemoryStore::new());
    let reader = support::reader(Arc::clone(&store) as Arc<_>, link, TOKEN).await;
    assert!(reader.sync_now().await.links[0].ok);
    for n in 0..3 {
        writer
            .command(
                "/api/notes",
                json!({"noteId": format!("n{n}"), "text": "a"}),
            )
            .await
            .unwrap();
    }

    // The writer is slow to answer: the run is cut short while its round waits for the page.
    log.hold_reads.store(true, Ordering::SeqCst);
    let cut = tokio::time::timeout(Duration::from_millis(300), reader.sync_now()).await;
    assert!(cut.is_err(), "the run was cut short: {cut:?}");
    log.hold_reads.store(false, Ordering::SeqCst);

    let run = reader.sync_now().await;
    let link = &run.links[0];
    assert!(link.ok, "{run:?}");
    assert!(link.rounds >= 1, "{run:?}");
    assert_eq!(store.count().unwrap(), 3, "{run:?}");
    reader.stop().await;
    writer.stop().await;
}
