//! The host keeps the async runtime free while it checks signatures: a signed page is
//! verified (and decoded) on the blocking pool, so the other tasks of the same worker — a
//! service's other requests — go on meanwhile instead of waiting for thousands of Ed25519
//! checks.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use concord_core::host::Host;
use concord_core::runtime::{External, SystemEnv};
use concord_core::sign::{Signer, Signing, Verifier};
use concord_core::store::MemoryStore;
use concord_core::{AcceptancePolicy, AcceptanceRule, CloudEvent, ServiceCore};
use concord_testkit::notes::{catalogue, written, Notes, NOTE_WRITTEN};

#[tokio::test(flavor = "current_thread")]
async fn verifying_a_signed_page_leaves_the_async_worker_free() {
    let signer = Signer::from_seed("writer/v1", [7; 32]);
    let mut verifier = Verifier::new();
    verifier.trust("writer", signer.public(), None);
    let store = Arc::new(MemoryStore::new());
    let policy = AcceptancePolicy::new(vec![AcceptanceRule::new("writer", NOTE_WRITTEN)]);
    let core = ServiceCore::<Notes>::open("reader", catalogue::<Notes>(), policy, &*store)
        .unwrap()
        .with_signing(Signing {
            signer: None,
            verifier: Arc::new(verifier),
        });
    let host = Host::start(core, store, Box::new(SystemEnv::default())).unwrap();
    let page: Vec<CloudEvent> = (0..8000)
        .map(|i| {
            let mut event = written(&format!("w{i}"), "writer", 1_790_000_000, "n", "text");
            signer.sign(&mut event);
            event
        })
        .collect();

    // Another task of this (single) worker, ticking every millisecond while it may run.
    let ticks = Arc::new(AtomicU32::new(0));
    let ticker = {
        let ticks = Arc::clone(&ticks);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                ticks.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    tokio::task::yield_now().await;
    let before = ticks.load(Ordering::SeqCst);
    let report = host.take(External::put(page)).await.unwrap();
    let during = ticks.load(Ordering::SeqCst) - before;
    ticker.abort();
    assert_eq!(report.accepted(), 8000, "{report:?}");
    // 8000 checks take tens of milliseconds at the least, even in batches on two threads;
    // checked on the worker itself, the ticker would run only during the commit.
    assert!(
        during >= 20,
        "the worker was held while verifying: the other task ticked {during} times"
    );
    host.shutdown();
}
