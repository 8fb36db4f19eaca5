//! A toy domain for the framework's own tests: notes, each written with a text (the latest
//! write winning) and tagged (tags accumulate). Small enough to read at a glance, built the
//! right way (a `Registry` of `Lww`s and `GrowSet`s), so a test can set it beside a
//! deliberately broken model; [`NotesSpec`] serves it with commands, queries and a page, as a
//! real service would, for tests of the HTTP layer, links, NATS and the simulator.
//!
//! The service raises `noteWritten {noteId, text}`; `noteTagged {noteId, tag}` only arrives
//! from elsewhere; `noteRated` is raised but lies outside the catalogue (stored, not applied),
//! so tests can see how a command's input was typed.

use std::sync::Arc;

use concord_core::model::{Envelope, GrowSet};
use concord_core::runtime::{Catalogue, SharedCatalogue};
use concord_core::ui::{Cell, Choice, Field, Form, PageQuery, Paging, Section, Table, Tone, View};
use concord_core::{
    AcceptancePolicy, AcceptanceRule, Api, CloudEvent, CommandError, EventDraft, EventError,
    ListQuery, Lww, Model, Page, Params, Registry, ServiceSpec, Timestamp,
};
use serde_json::{json, Map, Value};

/// A note's text was written (raised by the service's commands).
pub const NOTE_WRITTEN: &str = "noteWritten";
/// A note was tagged (arrives only from elsewhere).
pub const NOTE_TAGGED: &str = "noteTagged";
/// A note was rated: raised, stored, outside the catalogue.
pub const NOTE_RATED: &str = "noteRated";

/// The toy domain's events, as [`NoteCatalogue`] decodes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoteEvent {
    Written { note: String, text: String },
    Tagged { note: String, tag: String },
}

/// Decodes `noteWritten` (`data.noteId` a non-empty string, `data.text` a string) and
/// `noteTagged` (`data.noteId` and `data.tag`, non-empty strings). A note's text is
/// overwritten by the next write; a tag is its own key.
pub struct NoteCatalogue;

fn string_field(event: &CloudEvent, field: &str, non_empty: bool) -> Result<String, EventError> {
    match event.data.get(field) {
        Some(Value::String(s)) if !non_empty || !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(EventError::new(field, "must not be empty")),
        Some(_) => Err(EventError::new(field, "must be a string")),
        None => Err(EventError::new(field, "is required")),
    }
}

impl Catalogue for NoteCatalogue {
    type Event = NoteEvent;

    fn decode(&self, event: &CloudEvent) -> Option<Result<NoteEvent, EventError>> {
        let decoded = match event.ty.as_str() {
            NOTE_WRITTEN => string_field(event, "noteId", true).and_then(|note| {
                Ok(NoteEvent::Written {
                    note,
                    text: string_field(event, "text", false)?,
                })
            }),
            NOTE_TAGGED => string_field(event, "noteId", true).and_then(|note| {
                Ok(NoteEvent::Tagged {
                    note,
                    tag: string_field(event, "tag", true)?,
                })
            }),
            _ => return None,
        };
        Some(decoded)
    }

    fn overwrite_key(&self, event: &CloudEvent) -> Option<String> {
        let note = event.data_str("noteId")?;
        match event.ty.as_str() {
            NOTE_WRITTEN => Some(format!("note/{note}")),
            NOTE_TAGGED => Some(format!("tag/{note}/{}", event.data_str("tag")?)),
            _ => None,
        }
    }
}

/// The catalogue, shared, for any model of [`NoteEvent`]s.
pub fn catalogue<M: Model<Event = NoteEvent>>() -> SharedCatalogue<M> {
    Arc::new(NoteCatalogue)
}

/// One note: its latest text by `(time, id)`, and every tag it was given.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Note {
    pub text: Lww<String>,
    pub tags: GrowSet<String>,
}

/// Notes the right way.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Notes {
    pub notes: Registry<String, Note>,
}

impl Model for Notes {
    type Event = NoteEvent;

    fn apply(&mut self, event: &NoteEvent, envelope: &Envelope<'_>) {
        match event {
            NoteEvent::Written { note, text } => {
                let note = self.notes.get_or_create(note.clone());
                note.text.set(text.clone(), &envelope.stamp);
            }
            NoteEvent::Tagged { note, tag } => {
                self.notes
                    .get_or_create(note.clone())
                    .tags
                    .insert(tag.clone());
            }
        }
    }
}

impl Notes {
    /// A note's text, if any write of it arrived.
    pub fn text(&self, note: &str) -> Option<&str> {
        self.notes.get(note)?.text.get().map(String::as_str)
    }

    /// How many notes are known (written or only tagged).
    pub fn len(&self) -> usize {
        self.notes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.notes.len() == 0
    }
}

/// A notes service named `name`, taking `noteWritten` and `noteTagged` from each source it
/// accepts from.
#[derive(Clone, Debug)]
pub struct NotesSpec {
    pub name: String,
    pub accepts_from: Vec<String>,
}

impl NotesSpec {
    pub fn new(name: impl Into<String>) -> Self {
        NotesSpec {
            name: name.into(),
            accepts_from: Vec::new(),
        }
    }

    /// Also takes the notes and tags `source` raised.
    pub fn accepting_from(mut self, source: impl Into<String>) -> Self {
        self.accepts_from.push(source.into());
        self
    }
}

/// Rows per page of the notes table.
pub const NOTES_SHOWN: usize = 5;

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WriteNote {
    note_id: String,
    text: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EditNote {
    text: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RateNote {
    stars: u8,
    pinned: bool,
}

/// Writes a new note; the same text again is a no-op, another text a conflict.
fn write_note(
    model: &Notes,
    _: &Params,
    input: WriteNote,
) -> Result<Vec<EventDraft>, CommandError> {
    if input.note_id.is_empty() || input.text.is_empty() {
        return Err(CommandError::Invalid(
            "noteId and text must not be empty".into(),
        ));
    }
    match model.text(&input.note_id) {
        Some(text) if text == input.text => Ok(vec![]),
        Some(_) => Err(CommandError::Conflict(format!(
            "note {} exists with another text; edit it instead",
            input.note_id
        ))),
        None => Ok(vec![EventDraft::new(
            NOTE_WRITTEN,
            json!({"noteId": input.note_id, "text": input.text}),
        )]),
    }
}

fn known<'a>(model: &Notes, params: &'a Params) -> Result<&'a String, CommandError> {
    let id = &params["noteId"];
    if !model.notes.contains(id) {
        return Err(CommandError::NotFound(format!("no note {id}")));
    }
    Ok(id)
}

fn edit_note(
    model: &Notes,
    params: &Params,
    input: EditNote,
) -> Result<Vec<EventDraft>, CommandError> {
    let id = known(model, params)?;
    Ok(vec![EventDraft::new(
        NOTE_WRITTEN,
        json!({"noteId": id, "text": input.text}),
    )])
}

fn rate_note(
    model: &Notes,
    params: &Params,
    input: RateNote,
) -> Result<Vec<EventDraft>, CommandError> {
    let id = known(model, params)?;
    if !(1..=5).contains(&input.stars) {
        return Err(CommandError::Invalid("stars must be 1 to 5".into()));
    }
    Ok(vec![EventDraft::new(
        NOTE_RATED,
        json!({"noteId": id, "stars": input.stars, "pinned": input.pinned}),
    )])
}

fn note_json(id: &str, note: &Note) -> Value {
    json!({
        "noteId": id,
        "text": note.text.get(),
        "tags": note.tags.iter().collect::<Vec<_>>(),
    })
}

fn list_notes(model: &Notes, _: &Params, list: &ListQuery) -> Result<Page<Value>, CommandError> {
    Ok(list.page(&model.notes, |id, note| {
        let text = note.text.get().map_or("", String::as_str);
        list.matches([id, text]).then(|| note_json(id, note))
    }))
}

fn one_note(model: &Notes, params: &Params) -> Result<Value, CommandError> {
    let id = &params["noteId"];
    model
        .notes
        .get(id)
        .map(|n| note_json(id, n))
        .ok_or_else(|| CommandError::NotFound(format!("no note {id}")))
}

/// The notes page: a paged, searchable table of notes (tagged `urgent` shown as bad) and
/// three forms.
fn notes_view(model: &Notes, page_query: &PageQuery) -> View {
    let mut table = Table::new(["Note", "Text", "Tags"]).empty("No notes yet.");
    let mut choices = Vec::new();
    let list = page_query.list("notes", NOTES_SHOWN);
    let page = list.page(&model.notes, |id, note| {
        let text = note.text.get().map_or("", String::as_str);
        list.matches([id, text]).then_some((id, note))
    });
    for (id, note) in &page.items {
        let (id, note) = (*id, *note);
        let tags: Vec<&str> = note.tags.iter().map(String::as_str).collect();
        let tags_cell = if tags.contains(&"urgent") {
            Cell::bad("urgent")
        } else {
            Cell::plain(tags.join(", "))
        };
        table = table.row(vec![
            Cell::muted(id),
            Cell::plain(note.text.get().cloned().unwrap_or_default()),
            tags_cell,
        ]);
        choices.push(Choice::new(id, id));
    }
    let paging =
        Paging::new("notes", "notes", &list, &page, model.notes.len()).placeholder("Note or text");
    View::new().section(
        Section::new("Notes")
            .intro("Every note <and> its tags.")
            .paging(paging)
            .table(table)
            .form(
                Form::new("Write a note", "/api/notes", "Write")
                    .field(Field::text("noteId", "Note"))
                    .field(Field::text("text", "Text")),
            )
            .form(
                Form::new("Edit a note", "/api/notes/{noteId}/edits", "Save")
                    .field(Field::select("noteId", "Note", choices.clone()))
                    .field(Field::text("text", "Text")),
            )
            .form(
                Form::new("Rate a note", "/api/notes/{noteId}/ratings", "Rate")
                    .field(Field::select("noteId", "Note", choices))
                    .field(Field::integer("stars", "Stars", 1, Some(5)))
                    .field(Field::checkbox("pinned", "Pin it"))
                    .note(Tone::Warning, "Ratings are <final>."),
            ),
    )
}

impl ServiceSpec for NotesSpec {
    type Model = Notes;

    fn name(&self) -> &str {
        &self.name
    }

    fn catalogue(&self) -> SharedCatalogue<Notes> {
        catalogue::<Notes>()
    }

    fn default_acceptance(&self) -> AcceptancePolicy {
        AcceptancePolicy::new(
            self.accepts_from
                .iter()
                .flat_map(|source| {
                    [NOTE_WRITTEN, NOTE_TAGGED].map(|ty| AcceptanceRule::new(source.as_str(), ty))
                })
                .collect(),
        )
    }

    fn api(&self) -> Api<Notes> {
        let note = json!({"type": "object", "properties": {"noteId": {"type": "string"}, "text": {"type": ["string", "null"]}}});
        Api::new()
            .command(
                "/api/notes",
                "Write a new note",
                json!({"type": "object", "required": ["noteId", "text"]}),
                write_note,
            )
            .command(
                "/api/notes/{noteId}/edits",
                "Replace a note's text",
                json!({"type": "object", "required": ["text"]}),
                edit_note,
            )
            .list("/api/notes", "All notes", note.clone(), list_notes)
            .query("/api/notes/{noteId}", "One note", note, one_note)
            .command(
                "/api/notes/{noteId}/ratings",
                "Rate a note",
                json!({"type": "object", "required": ["stars", "pinned"]}),
                rate_note,
            )
            .view(notes_view)
    }
}

fn note_event(id: &str, source: &str, ty: &str, second: i128, data: Value) -> CloudEvent {
    let data: Map<String, Value> = match data {
        Value::Object(map) => map,
        _ => unreachable!("note data is an object"),
    };
    CloudEvent::new(
        id,
        source,
        ty,
        Timestamp::from_unix_nanos(second * 1_000_000_000),
        data,
    )
}

/// A `noteWritten` event: id `id`, from `source`, `second` seconds after the epoch.
pub fn written(id: &str, source: &str, second: i128, note: &str, text: &str) -> CloudEvent {
    let data = json!({"noteId": note, "text": text});
    note_event(id, source, NOTE_WRITTEN, second, data)
}

/// A `noteTagged` event: id `id`, from `source`, `second` seconds after the epoch.
pub fn tagged(id: &str, source: &str, second: i128, note: &str, tag: &str) -> CloudEvent {
    let data = json!({"noteId": note, "tag": tag});
    note_event(id, source, NOTE_TAGGED, second, data)
}
