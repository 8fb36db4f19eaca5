//! A signed pull over HTTP, in process: a link checks each next page's signatures while the
//! page before it commits. Those pages must get exactly the verdicts of a page checked at its
//! commit: every forgery refused (kept as a dead letter), every genuine event carried.

mod support;

use std::sync::Arc;

use concord_core::event::CloudEvent;
use concord_core::sign::{Signer, Signing, Verifier};
use concord_core::store::{EventAppender, EventReader, MemoryStore};
use concord_node::{LinkCredentials, NodeOptions, StartOptions};
use concord_sync::LinkSpec;
use concord_testkit::notes::{written, NotesSpec, NOTE_WRITTEN};

const TOKEN: &str = "concord_reader-token-for-the-signed-pull-test";

/// Events the writer's store holds: every seventh one (from the sixth on) forged with a key
/// that is not the writer's but claims its key id.
fn history(key: &Signer, thief: &Signer) -> Vec<CloudEvent> {
    (0..40)
        .map(|i| {
            let mut event = written(&format!("w-{i}"), "writer", i, &format!("n{i}"), "text");
            if i % 7 == 5 {
                thief.sign(&mut event);
            } else {
                key.sign(&mut event);
            }
            event
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgeries_in_pages_checked_ahead_are_refused_and_the_rest_carried() {
    let key = Signer::from_seed("writer/v1", [5; 32]);
    let thief = Signer::from_seed("writer/v1", [6; 32]);
    let events = history(&key, &thief);
    let writer_store = Arc::new(MemoryStore::new());
    writer_store.append(&events, &[]).unwrap();
    let writer = support::writer(writer_store, TOKEN).await;

    let mut verifier = Verifier::new();
    verifier.trust("writer", key.public(), None);
    // Pages of three: thirteen of the fourteen pages are fetched, and checked, ahead.
    let mut link = LinkSpec::pull("writer", &writer.url(), &[NOTE_WRITTEN]);
    link.page_size = 3;
    let link_name = link.name.clone();
    let reader_store = Arc::new(MemoryStore::new());
    let reader = concord_node::start(
        NotesSpec::new("reader").accepting_from("writer"),
        Arc::clone(&reader_store) as Arc<_>,
        NodeOptions {
            links: vec![link],
            credentials: LinkCredentials::token(TOKEN),
            service: StartOptions {
                signing: Signing {
                    signer: None,
                    verifier: Arc::new(verifier),
                },
                ..StartOptions::default()
            },
            ..NodeOptions::default()
        },
    )
    .await
    .unwrap();

    let run = reader.sync_now().await;
    assert!(run.links[0].ok, "{run:?}");
    let ids: Vec<&str> = events.iter().map(|e| &*e.id).collect();
    let held = reader_store.contains(&ids).unwrap();
    let (refused, letters) = reader_store.dead_letters(&link_name, 100).unwrap();
    for (i, (id, held)) in ids.iter().zip(held).enumerate() {
        let forged = i % 7 == 5;
        assert_eq!(held, !forged, "{id}: held {held}, forged {forged}");
        if forged {
            let letter = letters
                .iter()
                .find(|l| l.id == format!("{id} (signature refused)"))
                .unwrap_or_else(|| panic!("no dead letter for {id}: {letters:?}"));
            assert!(letter.reason.contains("does not verify"), "{letter:?}");
        }
    }
    assert_eq!(refused, 5, "{letters:?}");
    assert_eq!(reader_store.count().unwrap(), 35);
    reader.stop().await;
    writer.stop().await;
}
