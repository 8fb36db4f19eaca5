//! A push link driven by the node over HTTP in pages of three: the next page is delivered
//! while the previous page's cursor is saved, and a save that fails makes the link start again
//! from its durable cursor, so nothing is skipped and the peer stores each event once.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use concord_core::store::{EventReader, MemoryStore};
use concord_http::auth::{PeerAuth, TokenHash};
use concord_node::{AuthConfig, LinkCredentials, NodeOptions, RunningNode};
use concord_sync::LinkSpec;
use concord_testkit::notes::{NotesSpec, NOTE_WRITTEN};
use concord_testkit::InstrumentedStore;
use serde_json::json;

/// The token the writer presents; the archive knows its hash.
const WRITER_TOKEN: &str = "concord_writer-token-for-the-push-test";

const NOTES: u64 = 20;

/// The archive: it takes the writer's notes by putEvents.
async fn archive(store: Arc<MemoryStore>) -> RunningNode {
    concord_node::start(
        NotesSpec::new("archive").accepting_from("writer"),
        store,
        NodeOptions {
            auth: AuthConfig::default()
                .with_peer("writer", PeerAuth::new([TokenHash::of(WRITER_TOKEN)])),
            ..NodeOptions::default()
        },
    )
    .await
    .unwrap()
}

/// The writer on `store`, pushing to the archive at `url` (no link when `url` is `None`).
async fn writer(store: Arc<InstrumentedStore<MemoryStore>>, url: Option<&str>) -> RunningNode {
    let links = url
        .map(|url| {
            let mut link = LinkSpec::push("writer", "archive", url, &[NOTE_WRITTEN]);
            link.page_size = 3;
            link
        })
        .into_iter()
        .collect();
    concord_node::start(
        NotesSpec::new("writer"),
        store,
        NodeOptions {
            links,
            credentials: LinkCredentials::token(WRITER_TOKEN),
            ..NodeOptions::default()
        },
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_save_while_a_page_is_ahead_skips_nothing() {
    let archived = Arc::new(MemoryStore::new());
    let archive = archive(Arc::clone(&archived)).await;
    let log = Arc::new(InstrumentedStore::new(MemoryStore::new()));
    // The notes are written before the link exists, so that its first rounds find them all.
    let first = writer(Arc::clone(&log), None).await;
    for n in 0..NOTES {
        first
            .command(
                "/api/notes",
                json!({"noteId": format!("n{n}"), "text": "a note"}),
            )
            .await
            .unwrap();
    }
    first.stop().await;

    // Every save fails (reads still work): page one is delivered, and page two while page
    // one's save fails; then the link backs off and tries again from cursor 0.
    log.fail_appends.store(true, Ordering::SeqCst);
    let writer = writer(Arc::clone(&log), Some(&archive.url())).await;
    let link = "push-noteWritten-to-archive";
    let summary = writer.sync_now().await;
    assert!(!summary.links[0].ok, "{summary:?}");
    let error = summary.links[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("storing the cursor failed"), "{error}");
    assert_eq!(log.link_cursor(link).unwrap().position, 0);
    assert_eq!(
        archived.count().unwrap(),
        6,
        "pages one and two went out, page two while page one's save ran"
    );

    log.fail_appends.store(false, Ordering::SeqCst);
    let summary = writer.sync_now().await;
    assert!(summary.links[0].ok, "{summary:?}");
    assert_eq!(log.link_cursor(link).unwrap().position, NOTES);
    assert_eq!(
        archived.count().unwrap(),
        NOTES,
        "everything arrived, what went twice was stored once"
    );
    writer.stop().await;
    archive.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_pushed_in_rounds_of_at_most_sixteen_pages() {
    const BACKLOG: u64 = 200;
    let archived = Arc::new(MemoryStore::new());
    let archive = archive(Arc::clone(&archived)).await;
    let log = Arc::new(InstrumentedStore::new(MemoryStore::new()));
    let first = writer(Arc::clone(&log), None).await;
    for n in 0..BACKLOG {
        first
            .command(
                "/api/notes",
                json!({"noteId": format!("b{n}"), "text": "a"}),
            )
            .await
            .unwrap();
    }
    first.stop().await;
    // Saves fail until the run below, so the link's own rounds move nothing meanwhile.
    log.fail_appends.store(true, Ordering::SeqCst);
    let writer = writer(Arc::clone(&log), Some(&archive.url())).await;
    log.fail_appends.store(false, Ordering::SeqCst);
    let summary = writer.sync_now().await;
    let link = &summary.links[0];
    assert!(link.ok, "{summary:?}");
    // Pages of three: a round carries at most 48 events. The link's own task may run one
    // round before this run takes its turn, so this run carries at least 152 events.
    assert!(link.rounds >= 4, "{summary:?}");
    assert_eq!(archived.count().unwrap(), BACKLOG);
    assert_eq!(
        log.link_cursor("push-noteWritten-to-archive")
            .unwrap()
            .position,
        BACKLOG
    );
    writer.stop().await;
    archive.stop().await;
}
