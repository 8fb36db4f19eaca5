//! The kit on a toy domain: a model built from the convergent blocks keeps every law, and
//! each deliberately broken model is caught by the law it breaks, with a small history.

use std::sync::Arc;

use concord_core::model::Envelope;
use concord_core::runtime::Catalogue;
use concord_core::{CloudEvent, EventError, Lww, Model, Registry, Timestamp};
use concord_testkit::Laws;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Map};

/// `noteWritten`: a note's text.
#[derive(Clone, Debug)]
struct Written {
    note: String,
    text: String,
}

struct Notes;

impl Catalogue for Notes {
    type Event = Written;

    fn decode(&self, event: &CloudEvent) -> Option<Result<Written, EventError>> {
        (event.ty == "noteWritten").then(|| {
            let field = |name: &str| {
                event
                    .data_str(name)
                    .map(str::to_owned)
                    .ok_or_else(|| EventError::new(format!("data.{name}"), "must be a string"))
            };
            Ok(Written {
                note: field("noteId")?,
                text: field("text")?,
            })
        })
    }

    fn overwrite_key(&self, event: &CloudEvent) -> Option<String> {
        Some(format!("note/{}", event.data_str("noteId")?))
    }
}

/// The right way: the latest write of each note wins, by (time, id).
#[derive(Debug, Default, PartialEq)]
struct Good(Registry<String, Lww<String>>);

impl Model for Good {
    type Event = Written;
    fn apply(&mut self, event: &Written, envelope: &Envelope<'_>) {
        self.0
            .get_or_create(event.note.clone())
            .set(event.text.clone(), &envelope.stamp);
    }
}

/// Arrival order wins.
#[derive(Debug, Default, PartialEq)]
struct LastArrivalWins(std::collections::BTreeMap<String, String>);

impl Model for LastArrivalWins {
    type Event = Written;
    fn apply(&mut self, event: &Written, _: &Envelope<'_>) {
        self.0.insert(event.note.clone(), event.text.clone());
    }
}

/// Counts writes: applying an event twice counts it twice.
#[derive(Debug, Default, PartialEq)]
struct Counter(u64);

impl Model for Counter {
    type Event = Written;
    fn apply(&mut self, _: &Written, _: &Envelope<'_>) {
        self.0 += 1;
    }
}

/// Vetoes: a note's text is taken only once the note exists ("a"), the rest is dropped.
#[derive(Debug, Default, PartialEq)]
struct Vetoing(Registry<String, Lww<String>>);

impl Model for Vetoing {
    type Event = Written;
    fn apply(&mut self, event: &Written, envelope: &Envelope<'_>) {
        if event.note != "a" && !self.0.contains(&"a".to_owned()) {
            return;
        }
        self.0
            .get_or_create(event.note.clone())
            .set(event.text.clone(), &envelope.stamp);
    }
}

/// Panics on an empty text.
#[derive(Debug, Default, PartialEq)]
struct Panicking(Good);

impl Model for Panicking {
    type Event = Written;
    fn apply(&mut self, event: &Written, envelope: &Envelope<'_>) {
        assert!(!event.text.is_empty(), "an empty note");
        self.0.apply(event, envelope);
    }
}

fn note(index: usize, second: i128, note: &str, text: &str) -> CloudEvent {
    let mut data = Map::new();
    data.insert("noteId".into(), json!(note));
    data.insert("text".into(), json!(text));
    CloudEvent::new(
        format!("e{index:02}"),
        "writer",
        "noteWritten",
        Timestamp::from_unix_nanos(second * 1_000_000_000),
        data,
    )
}

/// Sets of notes with colliding keys and times, so that ties and overwrites happen.
fn notes() -> impl Strategy<Value = Vec<CloudEvent>> {
    prop::collection::vec(
        (
            0..3i128,
            select(&["a", "b"][..]),
            select(&["", "x", "y"][..]),
        ),
        0..12,
    )
    .prop_map(|drawn| {
        drawn
            .into_iter()
            .enumerate()
            .map(|(i, (second, id, text))| note(i, second, id, text))
            .collect()
    })
}

fn violation<M: Model<Event = Written> + PartialEq + std::fmt::Debug>() -> String {
    let laws = Laws::<M>::new(Arc::new(Notes)).cases(512);
    laws.verify(notes())
        .expect_err("a broken model is caught")
        .to_string()
}

#[test]
fn a_model_of_convergent_blocks_keeps_every_law() {
    Laws::<Good>::new(Arc::new(Notes)).check(notes());
}

#[test]
fn arrival_order_winning_breaks_order_independence() {
    let report = violation::<LastArrivalWins>();
    assert!(
        report.contains("law broken: order independence"),
        "{report}"
    );
    // Shrunk: two writes of one note are enough to show it.
    let events = report.matches("\"type\":\"noteWritten\"").count();
    assert_eq!(events, 2, "{report}");
}

#[test]
fn a_counter_that_adds_breaks_idempotence() {
    let report = violation::<Counter>();
    assert!(report.contains("law broken: idempotence"), "{report}");
    assert_eq!(
        report.matches("\"type\":\"noteWritten\"").count(),
        1,
        "{report}"
    );
}

#[test]
fn a_model_that_vetoes_is_caught() {
    let report = violation::<Vetoing>();
    assert!(
        report.contains("law broken: order independence"),
        "{report}"
    );
}

#[test]
fn a_model_that_panics_breaks_never_veto() {
    let report = violation::<Panicking>();
    assert!(report.contains("law broken: never veto"), "{report}");
    assert!(report.contains("\"text\":\"\""), "{report}");
}

#[test]
fn a_generator_with_repeated_ids_is_refused() {
    let twice = vec![note(0, 0, "a", "x"), note(0, 1, "a", "y")];
    let error = Laws::<Good>::new(Arc::new(Notes))
        .verify_history(&twice, &[0, 1])
        .expect_err("ids repeat");
    assert_eq!(error.law, "a usable generator");
}
