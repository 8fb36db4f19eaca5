//! Given/when/then on the toy notes service (`NotesSpec`): commands that write, edit and rate
//! notes (400, 404, 409 and "nothing new" among their answers), queries that read them, and an
//! acceptance of one peer's notes and tags.

use concord_core::{CloudEvent, CommandError, EventData, EventDraft, Timestamp};
use concord_testkit::notes::{tagged, written, NotesSpec, NOTE_RATED, NOTE_WRITTEN};
use concord_testkit::{Received, Scenario};
use serde_json::json;

fn notebook() -> Scenario<NotesSpec> {
    Scenario::given(
        NotesSpec::new("notebook").accepting_from("scribe"),
        [written("w1", "notebook", 10, "a", "first")],
    )
}

fn written_draft(note: &str, text: &str) -> EventDraft {
    EventDraft::new(NOTE_WRITTEN, json!({"noteId": note, "text": text}))
}

#[test]
fn when_a_command_is_sent_then_its_events_or_its_error() {
    let notes = notebook();
    notes
        .when("/api/notes", json!({"noteId": "b", "text": "second"}))
        .then_raises_drafts([written_draft("b", "second")]);
    notes
        .when("/api/notes", json!({"noteId": "a", "text": "first"}))
        .then_raises_nothing();
    let message = notes
        .when("/api/notes", json!({"noteId": "b", "text": ""}))
        .then_invalid();
    assert_eq!(message, "noteId and text must not be empty");
    notes
        .when("/api/notes", json!({"noteId": "a", "text": "other"}))
        .then_conflict();
    notes
        .when("/api/notes/z/edits", json!({"text": "x"}))
        .then_not_found();
    // A body that does not fit the command's input is a 400 too.
    notes
        .when("/api/notes", json!({"noteId": 7}))
        .then_invalid();
    // `when` decides without applying.
    assert_eq!(notes.model().text("b"), None);
}

#[test]
#[should_panic(expected = "expected Conflict (409)")]
fn a_wrong_expectation_fails_the_test() {
    notebook()
        .when("/api/notes", json!({"noteId": "b", "text": "x"}))
        .then_conflict();
}

#[test]
#[should_panic(expected = "assertion `left == right` failed")]
fn other_events_than_expected_fail_the_test() {
    notebook()
        .when("/api/notes", json!({"noteId": "b", "text": "x"}))
        .then_raises_drafts([written_draft("b", "y")]);
}

#[test]
fn run_applies_what_a_command_raises_after_everything_seen() {
    let mut notes = notebook();
    notes
        .run("/api/notes/a/edits", json!({"text": "rewritten"}))
        .then_raises_drafts([written_draft("a", "rewritten")]);
    // Raised one second after the history, so it wins over the given write.
    assert_eq!(
        notes.query("/api/notes/a").unwrap(),
        json!({"noteId": "a", "text": "rewritten", "tags": []})
    );
    notes.then(|model| assert_eq!(model.len(), 1));
    assert!(matches!(
        notes.query("/api/notes/q"),
        Err(CommandError::NotFound(_))
    ));
    // A type outside the catalogue is raised (the runtime stores it) and applies to nothing.
    let before = notes.model().clone();
    notes
        .run("/api/notes/a/ratings", json!({"stars": 4, "pinned": true}))
        .then_raises_drafts([EventDraft::new(
            NOTE_RATED,
            json!({"noteId": "a", "stars": 4, "pinned": true}),
        )]);
    assert_eq!(notes.model(), &before);
}

#[test]
fn an_external_event_applies_only_if_accepted() {
    let mut notes = notebook();
    assert_eq!(
        notes.receive(written("s1", "scribe", 20, "c", "from the scribe")),
        Received::Applied
    );
    assert_eq!(
        notes.receive(tagged("t1", "scribe", 21, "c", "urgent")),
        Received::Applied
    );
    assert_eq!(
        notes.query("/api/notes/c").unwrap(),
        json!({"noteId": "c", "text": "from the scribe", "tags": ["urgent"]})
    );
    assert!(matches!(
        notes.receive(written("s2", "stranger", 30, "c", "spoofed")),
        Received::NotAccepted(reason) if reason.contains("does not accept")
    ));
    let unknown = CloudEvent::new(
        "u1",
        "scribe",
        "noteDeleted",
        Timestamp::from_unix_nanos(0),
        serde_json::Map::new(),
    );
    assert_eq!(notes.receive(unknown), Received::Unknown);
    let mut broken = written("s3", "scribe", 40, "c", "x");
    broken.data = EventData::from_text(r#"{"noteId":"c"}"#).unwrap();
    assert!(matches!(notes.receive(broken), Received::Malformed(_)));
    // An id is applied once, as the runtime applies it: again (even with other data) is
    // nothing new.
    assert_eq!(
        notes.receive(written("s1", "scribe", 50, "c", "replayed")),
        Received::Duplicate
    );
    // An older write of the same note loses to the newer one, whatever the arrival order.
    assert_eq!(
        notes.receive(written("s4", "scribe", 15, "c", "older")),
        Received::Applied
    );
    assert_eq!(notes.model().text("c"), Some("from the scribe"));
}
