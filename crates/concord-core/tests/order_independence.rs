//! R3 and R5 as properties: a model built from the framework's blocks reaches the same state
//! from any permutation of an event set, with any duplicates, as from the set applied once in
//! `(time, id)` order — both by direct `apply` and through the service's one path.

mod common;

use common::{external, Inventory, InventoryCatalogue};
use concord_core::acceptance::{AcceptancePolicy, AcceptanceRule};
use concord_core::event::{CloudEvent, Timestamp};
use concord_core::model::Envelope;
use concord_core::model::Model;
use concord_core::runtime::Catalogue;
use concord_core::runtime::{External, Request, SeededEnv, ServiceCore};
use concord_core::store::MemoryStore;
use proptest::prelude::*;
use serde_json::json;
use std::sync::Arc;

/// Small id, time and value spaces so that keys collide and times tie.
fn arb_event() -> impl Strategy<Value = CloudEvent> {
    (0u8..40, 0u8..3, 0u8..4, 0i64..6, 0u8..5).prop_map(|(n, kind, item, millis, value)| {
        let item = format!("i-{item}");
        let (ty, data) = match kind {
            0 => ("itemNamed", json!({"itemId": item, "name": if value == 0 { String::new() } else { format!("n{value}") }})),
            1 => ("itemPriced", json!({"itemId": item, "price": value})),
            _ => ("itemTagged", json!({"itemId": item, "tag": format!("t{value}")})),
        };
        external(&format!("e-{n:02}"), "upstream", ty, millis, data)
    })
}

/// A set of distinct events (by id), then an arrival order with duplicates.
fn arb_history() -> impl Strategy<Value = (Vec<CloudEvent>, Vec<CloudEvent>)> {
    proptest::collection::vec(arb_event(), 0..40)
        .prop_map(|events| {
            let mut seen = std::collections::HashSet::new();
            events
                .into_iter()
                .filter(|e| seen.insert(e.id.clone()))
                .collect::<Vec<_>>()
        })
        .prop_flat_map(|set| {
            let n = set.len();
            let duplicates = proptest::collection::vec(0..n.max(1), 0..n + 1);
            (Just(set), duplicates)
        })
        .prop_flat_map(|(set, duplicates)| {
            let mut arrivals = set.clone();
            if !set.is_empty() {
                arrivals.extend(duplicates.into_iter().map(|i| set[i].clone()));
            }
            (Just(set), Just(arrivals).prop_shuffle())
        })
}

/// Applies one event the way the runtime does: decoded by the catalogue, with its envelope.
fn apply(model: &mut Inventory, event: &CloudEvent) {
    if let Some(Ok(typed)) = InventoryCatalogue.decode(event) {
        model.apply(&typed, &Envelope::of(event));
    }
}

fn in_time_order(set: &[CloudEvent]) -> Inventory {
    let mut sorted = set.to_vec();
    sorted.sort_by_key(CloudEvent::stamp);
    let mut model = Inventory::default();
    for event in &sorted {
        apply(&mut model, event);
    }
    model
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_arrival_order_with_duplicates_gives_the_time_ordered_state((set, arrivals) in arb_history()) {
        let mut model = Inventory::default();
        for event in &arrivals {
            apply(&mut model, event);
        }
        prop_assert_eq!(model, in_time_order(&set));
    }

    #[test]
    fn the_one_path_converges_and_replays_to_the_same_state(
        (set, arrivals) in arb_history(),
        split in 0usize..50,
    ) {
        let store = MemoryStore::new();
        let policy = AcceptancePolicy::new(
            ["itemNamed", "itemPriced", "itemTagged"].into_iter().map(|t| AcceptanceRule::new("upstream", t)).collect(),
        );
        let mut core: ServiceCore<Inventory> =
            ServiceCore::open("shop", Arc::new(InventoryCatalogue), policy.clone(), &store).unwrap();
        // After every generated event time: none is from a clock ahead of this service.
        let mut env = SeededEnv::new(3, Timestamp::from_unix_nanos(1_800_000_000_000_000_000));
        let split = split.min(arrivals.len());
        let (first, second) = arrivals.split_at(split);
        for part in [first, second] {
            core.execute(&store, &mut env, vec![Request::External(External::put(part.to_vec()).decode(&InventoryCatalogue))]).unwrap();
        }
        prop_assert_eq!(core.model(), &in_time_order(&set));
        prop_assert_eq!(concord_core::store::EventReader::count(&store).unwrap() as usize, set.len());
        let replayed: ServiceCore<Inventory> =
            ServiceCore::open("shop", Arc::new(InventoryCatalogue), policy, &store).unwrap();
        prop_assert_eq!(replayed.model(), core.model());
    }
}
