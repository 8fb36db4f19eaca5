//! The kit's store pieces on the in-memory backend: it passes the conformance suite, bare and
//! wrapped, and the wrapper counts commits and fails on demand.

use std::sync::atomic::Ordering;

use concord_core::store::{EventAppender, EventReader, MemoryStore, ReadQuery};
use concord_testkit::store::{run_all, sample_event};
use concord_testkit::InstrumentedStore;
use serde_json::json;

#[test]
fn the_memory_store_passes_the_conformance_suite() {
    run_all(&mut || Box::new(MemoryStore::new()) as _);
}

#[test]
fn a_healthy_instrumented_store_passes_the_conformance_suite() {
    run_all(&mut || Box::new(InstrumentedStore::new(MemoryStore::new())) as _);
}

#[test]
fn counts_appends_and_fails_on_demand() {
    let store = InstrumentedStore::new(MemoryStore::new());
    let event = sample_event("a", "svc", "thing", json!({}));
    store.append(std::slice::from_ref(&event), &[]).unwrap();
    store.fail_appends.store(true, Ordering::SeqCst);
    let refused = store.append(&[sample_event("b", "svc", "thing", json!({}))], &[]);
    assert!(refused.is_err());
    assert_eq!(store.appends(), 2);
    assert_eq!(store.count().unwrap(), 1, "a failed append stores nothing");
    store.set_failing(true);
    assert!(store.read(&ReadQuery::after(0, 10)).is_err());
    assert!(store.count().is_err());
    let replayed = store.replay(0, &mut |_| {}).unwrap();
    assert_eq!(replayed, 1, "replay still works");
    store.set_failing(false);
    let page = store.read(&ReadQuery::after(0, 10)).unwrap();
    assert_eq!(page.events.len(), 1);
}
