//! Given/when/then on the toy notes domain, declared as a service here: a command that
//! writes a note (400 for an empty text, 404 for a note that must exist, nothing when the
//! text is already there), a query that reads one, and an acceptance of one peer's writes.

use concord_core::runtime::SharedCatalogue;
use concord_core::{
    AcceptancePolicy, AcceptanceRule, Api, CommandError, EventDraft, Params, ServiceSpec,
};
use concord_testkit::notes::{catalogue, written, Notes, NOTE_WRITTEN};
use concord_testkit::{Received, Scenario};
use serde::Deserialize;
use serde_json::{json, Value};

struct NoteService;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Write {
    note_id: String,
    text: String,
    #[serde(default)]
    existing: bool,
}

/// A note written, as this service's command decides it.
struct Written {
    note: String,
    text: String,
}

/// `Written` as the draft a command raises, so expectations read as the domain's events.
struct Draft(Written);

impl From<Draft> for EventDraft {
    fn from(Draft(w): Draft) -> EventDraft {
        EventDraft::new(NOTE_WRITTEN, json!({"noteId": w.note, "text": w.text}))
    }
}

fn write(notes: &Notes, _: &Params, input: Write) -> Result<Vec<EventDraft>, CommandError> {
    if input.text.is_empty() {
        return Err(CommandError::Invalid("text must not be empty".into()));
    }
    match notes.text(&input.note_id) {
        None if input.existing => Err(CommandError::NotFound(input.note_id)),
        Some(text) if text == input.text => Ok(vec![]),
        _ => Ok(vec![Draft(Written {
            note: input.note_id,
            text: input.text,
        })
        .into()]),
    }
}

fn read(notes: &Notes, params: &Params) -> Result<String, CommandError> {
    let id = &params["noteId"];
    notes
        .text(id)
        .map(str::to_owned)
        .ok_or_else(|| CommandError::NotFound(id.clone()))
}

impl ServiceSpec for NoteService {
    type Model = Notes;
    fn name(&self) -> &str {
        "notebook"
    }
    fn catalogue(&self) -> SharedCatalogue<Notes> {
        catalogue::<Notes>()
    }
    fn default_acceptance(&self) -> AcceptancePolicy {
        AcceptancePolicy::new(vec![AcceptanceRule::new("scribe", NOTE_WRITTEN)])
    }
    fn api(&self) -> Api<Notes> {
        Api::new()
            .command("/api/notes", "Write a note", json!({}), write)
            .query("/api/notes/{noteId}", "One note", json!({}), read)
    }
}

fn notebook() -> Scenario<NoteService> {
    Scenario::given(NoteService, [written("w1", "notebook", 10, "a", "first")])
}

fn draft(note: &str, text: &str) -> EventDraft {
    Draft(Written {
        note: note.into(),
        text: text.into(),
    })
    .into()
}

#[test]
fn when_a_command_is_sent_then_its_events_or_its_error() {
    let notes = notebook();
    notes
        .when("/api/notes", json!({"noteId": "b", "text": "second"}))
        .then_raises_drafts([draft("b", "second")]);
    notes
        .when("/api/notes", json!({"noteId": "a", "text": "first"}))
        .then_raises_nothing();
    let message = notes
        .when("/api/notes", json!({"noteId": "b", "text": ""}))
        .then_invalid();
    assert_eq!(message, "text must not be empty");
    notes
        .when(
            "/api/notes",
            json!({"noteId": "z", "text": "x", "existing": true}),
        )
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
        .then_raises_drafts([draft("b", "y")]);
}

#[test]
fn run_applies_what_a_command_raises_after_everything_seen() {
    let mut notes = notebook();
    notes
        .run("/api/notes", json!({"noteId": "a", "text": "rewritten"}))
        .then_raises_drafts([draft("a", "rewritten")]);
    // Raised one second after the history, so it wins over the given write.
    assert_eq!(notes.query("/api/notes/a").unwrap(), json!("rewritten"));
    notes.then(|model| assert_eq!(model.notes.len(), 1));
    assert!(matches!(
        notes.query("/api/notes/q"),
        Err(CommandError::NotFound(_))
    ));
}

#[test]
fn an_external_event_applies_only_if_accepted() {
    let mut notes = notebook();
    assert_eq!(
        notes.receive(written("s1", "scribe", 20, "c", "from the scribe")),
        Received::Applied
    );
    assert_eq!(
        notes.query("/api/notes/c").unwrap(),
        json!("from the scribe")
    );
    assert!(matches!(
        notes.receive(written("s2", "stranger", 30, "c", "spoofed")),
        Received::NotAccepted(reason) if reason.contains("does not accept")
    ));
    let unknown = concord_core::CloudEvent::new(
        "u1",
        "scribe",
        "noteDeleted",
        concord_core::Timestamp::from_unix_nanos(0),
        serde_json::Map::new(),
    );
    assert_eq!(notes.receive(unknown), Received::Unknown);
    let mut broken = written("s3", "scribe", 40, "c", "x");
    broken.data = concord_core::EventData::from_text(r#"{"noteId":"c"}"#).unwrap();
    assert!(matches!(notes.receive(broken), Received::Malformed(_)));
    // An id is applied once, as the runtime applies it: again (even with other data) is
    // nothing new.
    assert_eq!(
        notes.receive(written("s1", "scribe", 50, "c", "replayed")),
        Received::Duplicate
    );
    assert_eq!(
        notes.query("/api/notes/c").unwrap(),
        json!("from the scribe")
    );
    // An older write of the same note loses to the newer one, whatever the arrival order.
    assert_eq!(
        notes.receive(written("s4", "scribe", 15, "c", "older")),
        Received::Applied
    );
    assert_eq!(
        notes.query("/api/notes/c").unwrap(),
        json!("from the scribe")
    );
    let _: Value = notes.query("/api/notes/a").unwrap();
}
