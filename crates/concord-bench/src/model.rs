//! The small but real domain the benchmark drives: counters set by key.
//!
//! It is built from the same blocks a real service uses (a getOrCreate [`Registry`] of
//! last-writer-wins registers), so replaying into it costs what replaying a real model costs:
//! decoding the event, finding the object, comparing stamps.

use concord_core::event::{CloudEvent, EventError, Timestamp};
use concord_core::model::Envelope;
use concord_core::runtime::env::{new_event_id, SeededEnv};
use concord_core::runtime::{Catalogue, EventDraft};
use concord_core::{Lww, Model, Registry};
use serde_json::{json, Value};

/// The one event type: `data.key` is set to `data.value`.
pub const COUNTER_SET: &str = "counterSet";

/// The benchmark's model: the latest value of each counter.
#[derive(Default)]
pub struct Counters {
    pub by_key: Registry<String, Lww<i64>>,
}

/// The one event, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterSet {
    pub key: String,
    pub value: i64,
}

impl Model for Counters {
    type Event = CounterSet;

    fn apply(&mut self, event: &CounterSet, envelope: &Envelope<'_>) {
        self.by_key
            .get_or_create(event.key.clone())
            .set(event.value, &envelope.stamp);
    }
}

/// The catalogue of the counter domain.
pub struct CounterCatalogue;

impl Catalogue for CounterCatalogue {
    type Event = CounterSet;

    fn decode(&self, event: &CloudEvent) -> Option<Result<CounterSet, EventError>> {
        if event.ty != COUNTER_SET {
            return None;
        }
        Some(match (event.data_str("key"), event.data.get("value")) {
            (Some(""), _) => Err(EventError::new("data.key", "is empty")),
            (None, _) => Err(EventError::new("data.key", "must be a string")),
            (Some(key), Some(value)) if value.is_i64() => Ok(CounterSet {
                key: key.to_owned(),
                value: value.as_i64().unwrap_or_default(),
            }),
            _ => Err(EventError::new("data.value", "must be an integer")),
        })
    }

    fn overwrite_key(&self, event: &CloudEvent) -> Option<String> {
        (event.ty == COUNTER_SET)
            .then(|| event.data_str("key").map(str::to_owned))
            .flatten()
    }
}

/// How many distinct counters the generated events write.
pub const KEYS: u64 = 10_000;

/// The data of the `n`-th generated event: about 100 bytes of JSON, so that a stored row is
/// about 250 bytes like the CloudEvents the design notes measured.
pub fn counter_data(n: u64) -> Value {
    json!({
        "key": format!("counter-{:05}", n % KEYS),
        "value": n,
        "note": "benchmark payload ........................"
    })
}

/// A command draft for the `n`-th write.
pub fn counter_draft(n: u64) -> EventDraft {
    EventDraft::new(COUNTER_SET, counter_data(n))
}

/// Generates events as a service would raise them: UUIDv7 ids, microsecond times in order.
pub struct EventSource {
    env: SeededEnv,
    time: Timestamp,
    next: u64,
}

impl EventSource {
    pub fn new(seed: u64) -> Self {
        let start = Timestamp::from_unix_nanos(1_795_000_000_000_000_000);
        EventSource {
            env: SeededEnv::new(seed, start),
            time: start,
            next: 0,
        }
    }

    pub fn batch(&mut self, size: usize) -> Vec<CloudEvent> {
        (0..size).map(|_| self.event()).collect()
    }

    pub fn event(&mut self) -> CloudEvent {
        self.time = self.time.next_tick();
        self.next += 1;
        let id = new_event_id(&mut self.env, self.time);
        let Value::Object(data) = counter_data(self.next) else {
            unreachable!("counter data is an object")
        };
        CloudEvent::new(id, "bench", COUNTER_SET, self.time, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_keeps_the_latest_value_per_key() {
        let mut source = EventSource::new(1);
        let events = source.batch(3);
        let mut model = Counters::default();
        let catalogue = CounterCatalogue;
        for event in events.iter().rev() {
            let decoded = catalogue.decode(event).unwrap().unwrap();
            model.apply(&decoded, &Envelope::of(event));
        }
        assert_eq!(model.by_key.len(), 3);
        assert!(matches!(catalogue.validate(&events[0]), Some(Ok(()))));
        assert_eq!(
            catalogue.overwrite_key(&events[0]).as_deref(),
            Some("counter-00001")
        );
    }
}
