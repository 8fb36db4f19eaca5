//! A pull over HTTP keeps two pages ahead of its commit: while page n commits, page n+1 is
//! checked and page n+2 is already being served. Those pages are only ever taken in order,
//! after the commits before them: after a commit that fails, nothing is skipped or repeated.

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use concord_core::event::CloudEvent;
use concord_core::store::{EventAppender, EventReader, MemoryStore, ReadQuery};
use concord_sync::LinkSpec;
use concord_testkit::notes::{written, NOTE_WRITTEN};
use concord_testkit::InstrumentedStore;

const TOKEN: &str = "concord_reader-token-for-the-pull-ahead-test";

fn history() -> Vec<CloudEvent> {
    (0..12)
        .map(|i| written(&format!("w-{i}"), "writer", i, &format!("n{i}"), "text"))
        .collect()
}

/// Waits until `done` holds, failing the test after a generous bound.
async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pages_are_asked_for_while_one_commits_and_a_failed_commit_skips_nothing() {
    let writer_store = Arc::new(InstrumentedStore::new(MemoryStore::new()));
    writer_store.append(&history(), &[]).unwrap();
    let writer = support::writer(Arc::clone(&writer_store) as Arc<_>, TOKEN).await;
    // Pages of three: four pages. Its first round starts with the reader; then an hour
    // passes before the next one, so only "synchronise now" runs it after that.
    let mut link = LinkSpec::pull("writer", &writer.url(), &[NOTE_WRITTEN]);
    link.page_size = 3;
    link.interval_ms = 3_600_000;
    let reader_store = Arc::new(InstrumentedStore::new(MemoryStore::new()));
    // The first page's commit will wait; meanwhile the second page is fetched and checked,
    // and the third asked for — and no more. Whichever round gets there first (the link's
    // own at start, or "synchronise now" below) does the asking.
    reader_store.hold_appends.store(true, Ordering::SeqCst);
    let before = writer_store.reads();
    let reader = support::reader(Arc::clone(&reader_store) as Arc<_>, link, TOKEN).await;

    let watch = async {
        until("the third page is asked for", || {
            writer_store.reads() >= before + 3
        })
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let asked = writer_store.reads() - before;
        // That commit fails: the pages fetched ahead of it must not count.
        reader_store.fail_appends.store(true, Ordering::SeqCst);
        reader_store.hold_appends.store(false, Ordering::SeqCst);
        asked
    };
    let (failed, asked) = tokio::join!(reader.sync_now(), watch);
    assert_eq!(asked, 3, "pages 1, 2 and 3 while page 1 commits");
    assert!(!failed.links[0].ok, "{failed:?}");
    assert_eq!(reader_store.count().unwrap(), 0, "{failed:?}");

    reader_store.fail_appends.store(false, Ordering::SeqCst);
    let run = reader.sync_now().await;
    assert!(run.links[0].ok, "{run:?}");
    let carried = reader_store
        .inner
        .read(&ReadQuery::after(0, 100))
        .unwrap()
        .events;
    let ids: Vec<String> = carried.iter().map(|s| s.event.id.to_string()).collect();
    let expected: Vec<String> = (0..12).map(|i| format!("w-{i}")).collect();
    assert_eq!(ids, expected, "every event once, in the writer's order");
    reader.stop().await;
    writer.stop().await;
}
