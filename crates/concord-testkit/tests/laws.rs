//! The kit on a toy domain: a model built from the convergent blocks keeps every law, and
//! each deliberately broken model is caught by the law it breaks, with a small history.

use concord_core::model::Envelope;
use concord_core::{CloudEvent, Lww, Model, Registry};
use concord_testkit::notes::{catalogue, written, NoteEvent, Notes};
use concord_testkit::Laws;
use proptest::prelude::*;
use proptest::sample::select;

/// The right way: the toy domain's notes, the latest write of each winning by (time, id).
type Good = Notes;

/// Arrival order wins.
#[derive(Debug, Default, PartialEq)]
struct LastArrivalWins(std::collections::BTreeMap<String, String>);

impl Model for LastArrivalWins {
    type Event = NoteEvent;
    fn apply(&mut self, event: &NoteEvent, _: &Envelope<'_>) {
        if let NoteEvent::Written { note, text } = event {
            self.0.insert(note.clone(), text.clone());
        }
    }
}

/// Counts writes: applying an event twice counts it twice.
#[derive(Debug, Default, PartialEq)]
struct Counter(u64);

impl Model for Counter {
    type Event = NoteEvent;
    fn apply(&mut self, _: &NoteEvent, _: &Envelope<'_>) {
        self.0 += 1;
    }
}

/// Vetoes: a note's text is taken only once the note exists ("a"), the rest is dropped.
#[derive(Debug, Default, PartialEq)]
struct Vetoing(Registry<String, Lww<String>>);

impl Model for Vetoing {
    type Event = NoteEvent;
    fn apply(&mut self, event: &NoteEvent, envelope: &Envelope<'_>) {
        let NoteEvent::Written { note, text } = event else {
            return;
        };
        if note != "a" && !self.0.contains(&"a".to_owned()) {
            return;
        }
        self.0
            .get_or_create(note.clone())
            .set(text.clone(), &envelope.stamp);
    }
}

/// Panics on an empty text.
#[derive(Debug, Default, PartialEq)]
struct Panicking(Good);

impl Model for Panicking {
    type Event = NoteEvent;
    fn apply(&mut self, event: &NoteEvent, envelope: &Envelope<'_>) {
        if let NoteEvent::Written { text, .. } = event {
            assert!(!text.is_empty(), "an empty note");
        }
        self.0.apply(event, envelope);
    }
}

fn note(index: usize, second: i128, note: &str, text: &str) -> CloudEvent {
    written(&format!("e{index:02}"), "writer", second, note, text)
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

fn violation<M: Model<Event = NoteEvent> + PartialEq + std::fmt::Debug>() -> String {
    let laws = Laws::<M>::new(catalogue::<M>()).cases(512);
    laws.verify(notes())
        .expect_err("a broken model is caught")
        .to_string()
}

/// Whether the report names one of the laws about order and repetition.
fn breaks_an_order_law(report: &str) -> bool {
    [
        "law broken: idempotence",
        "law broken: order independence",
        "law broken: the runtime applies what the model would",
    ]
    .iter()
    .any(|law| report.contains(law))
}

#[test]
fn a_model_of_convergent_blocks_keeps_every_law() {
    Laws::<Good>::new(catalogue::<Good>()).check(notes());
}

#[test]
fn arrival_order_winning_is_caught() {
    let report = violation::<LastArrivalWins>();
    // Seen as a different state in another order, or as the runtime (which stores a repeat
    // once) disagreeing with applying every arrival: whichever the shrunk history shows first.
    assert!(breaks_an_order_law(&report), "{report}");
    // Shrunk: two writes of one note are enough to show it (proptest may stop one short).
    let events = report.matches("\"type\":\"noteWritten\"").count();
    assert!((2..=3).contains(&events), "{report}");
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
    // Dropping an event is seen as soon as the event arrives again (idempotence), in another
    // order, or through the runtime: whichever law the shrunk history breaks first.
    assert!(breaks_an_order_law(&report), "{report}");
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
    let error = Laws::<Good>::new(catalogue::<Good>())
        .verify_history(&twice, &[0, 1])
        .expect_err("ids repeat");
    assert_eq!(error.law, "a usable generator");
}
