//! A toy domain ("notes") and helpers to drive a router in-process.
//!
//! notes raises `noteWritten {noteId, text}`; it also understands `noteTagged {noteId, tag}`,
//! which only arrives from elsewhere. It accepts both from `other-notes` and nothing else.
//!
//! Its router admits three principals ([`auth_config`]): the operator ([`OPERATOR_TOKEN`]),
//! the peer `other-notes` ([`PEER_TOKEN`], reading `noteWritten` only) and the peer
//! `third-notes` ([`THIRD_TOKEN`], no scopes). [`Service::send`] and its shorthands present
//! the operator's token; [`Service::send_raw`] sends exactly what it is given.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use concord_core::event::EventError;
use concord_core::host::Host;
use concord_core::model::Envelope;
use concord_core::runtime::{SeededEnv, SharedCatalogue};
use concord_core::scope::{EventPattern, Scope};
use concord_core::store::MemoryStore;
use concord_core::ui::{Cell, Choice, Field, Form, PageQuery, Paging, Section, Table, Tone, View};
use concord_core::{
    AcceptancePolicy, AcceptanceRule, Api, Catalogue, CloudEvent, CommandError, EventDraft,
    EventReader, EventStore, ListQuery, Lww, Model, Page, Params, Registry, ServiceSpec, Timestamp,
};
use concord_http::{AuthConfig, PeerAuth, RunningService, TokenHash};
use serde_json::{json, Value};
use tower::ServiceExt;

pub const NAME: &str = "notes";
pub const PEER: &str = "other-notes";
/// A second peer, known but given no scopes.
pub const THIRD: &str = "third-notes";

pub const OPERATOR_TOKEN: &str = "concord_test-operator";
pub const PEER_TOKEN: &str = "concord_test-other-notes";
pub const THIRD_TOKEN: &str = "concord_test-third-notes";
/// A token nobody configured.
pub const UNKNOWN_TOKEN: &str = "concord_test-unknown";

/// The principals of the test routers: the operator, `other-notes` (default put scope, reads
/// `noteWritten`), `third-notes` (nothing).
pub fn auth_config() -> AuthConfig {
    AuthConfig::default()
        .with_operator(TokenHash::of(OPERATOR_TOKEN))
        .with_peer(
            PEER,
            PeerAuth::new([TokenHash::of(PEER_TOKEN)]).reading(Scope::new(vec![EventPattern {
                types: vec!["noteWritten".into()],
                ..EventPattern::default()
            }])),
        )
        .with_peer(THIRD, PeerAuth::new([TokenHash::of(THIRD_TOKEN)]))
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[derive(Default)]
pub struct Notes {
    notes: Registry<String, Note>,
}

#[derive(Default)]
struct Note {
    text: Lww<String>,
    tags: concord_core::GrowSet<String>,
}

/// The toy domain's events, as its catalogue decodes them.
#[derive(Clone, Debug)]
pub enum NoteEvent {
    Written { note: String, text: String },
    Tagged { note: String, tag: String },
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
                let note = self.notes.get_or_create(note.clone());
                note.tags.insert(tag.clone());
            }
        }
    }
}

struct NotesCatalogue;

fn string_field(event: &CloudEvent, field: &str, non_empty: bool) -> Result<String, EventError> {
    match event.data.get(field) {
        Some(Value::String(s)) if !non_empty || !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(EventError::new(field, "must not be empty")),
        Some(_) => Err(EventError::new(field, "must be a string")),
        None => Err(EventError::new(field, "is required")),
    }
}

impl Catalogue for NotesCatalogue {
    type Event = NoteEvent;

    fn decode(&self, event: &CloudEvent) -> Option<Result<NoteEvent, EventError>> {
        let decoded = match event.ty.as_str() {
            "noteWritten" => string_field(event, "noteId", true).and_then(|note| {
                Ok(NoteEvent::Written {
                    note,
                    text: string_field(event, "text", false)?,
                })
            }),
            "noteTagged" => string_field(event, "noteId", true).and_then(|note| {
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
        match event.ty.as_str() {
            "noteWritten" => Some(format!("note/{}", event.data_str("noteId")?)),
            "noteTagged" => Some(format!(
                "tag/{}/{}",
                event.data_str("noteId")?,
                event.data_str("tag")?
            )),
            _ => None,
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WriteNote {
    note_id: String,
    text: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditNote {
    text: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateNote {
    stars: u8,
    pinned: bool,
}

/// Raises `noteRated` (outside the catalogue, so the model ignores it): lets the GUI tests
/// see how form fields were typed.
fn rate_note(
    model: &Notes,
    params: &Params,
    input: RateNote,
) -> Result<Vec<EventDraft>, CommandError> {
    let id = &params["noteId"];
    if !model.notes.contains(id) {
        return Err(CommandError::NotFound(format!("no note {id}")));
    }
    if !(1..=5).contains(&input.stars) {
        return Err(CommandError::Invalid("stars must be 1 to 5".into()));
    }
    Ok(vec![EventDraft::new(
        "noteRated",
        json!({"noteId": id, "stars": input.stars, "pinned": input.pinned}),
    )])
}

/// Rows per page of the notes table.
pub const NOTES_SHOWN: usize = 5;

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
        let tags: Vec<&String> = note.tags.iter().collect();
        let tags_cell = if tags.iter().any(|t| *t == "urgent") {
            Cell::bad("urgent")
        } else {
            Cell::plain(
                tags.iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
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
    match model.notes.get(&input.note_id).and_then(|n| n.text.get()) {
        Some(text) if *text == input.text => Ok(vec![]),
        Some(_) => Err(CommandError::Conflict(format!(
            "note {} exists with another text; edit it instead",
            input.note_id
        ))),
        None => Ok(vec![EventDraft::new(
            "noteWritten",
            json!({"noteId": input.note_id, "text": input.text}),
        )]),
    }
}

fn edit_note(
    model: &Notes,
    params: &Params,
    input: EditNote,
) -> Result<Vec<EventDraft>, CommandError> {
    let id = &params["noteId"];
    if !model.notes.contains(id) {
        return Err(CommandError::NotFound(format!("no note {id}")));
    }
    Ok(vec![EventDraft::new(
        "noteWritten",
        json!({"noteId": id, "text": input.text}),
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

pub struct NotesSpec;

impl ServiceSpec for NotesSpec {
    type Model = Notes;

    fn name(&self) -> &str {
        NAME
    }

    fn catalogue(&self) -> SharedCatalogue<Notes> {
        std::sync::Arc::new(NotesCatalogue)
    }

    fn default_acceptance(&self) -> AcceptancePolicy {
        AcceptancePolicy::new(vec![
            AcceptanceRule::new(PEER, "noteWritten"),
            AcceptanceRule::new(PEER, "noteTagged"),
        ])
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

/// A store that fails reads and appends while told to (`set_failing`).
pub type FlakyStore = concord_core::store::InstrumentedStore<MemoryStore>;

/// A running notes service and its router.
pub struct Service {
    pub host: Host<Notes>,
    pub router: Router,
    pub store: Arc<FlakyStore>,
}

impl Service {
    pub fn start() -> Service {
        let store = Arc::new(FlakyStore::default());
        // After the fixed time the test events carry: none is from a clock ahead of ours.
        let env = SeededEnv::new(1, Timestamp::parse("2026-11-26T10:30:00Z").unwrap());
        let running = concord_http::start_service(
            &NotesSpec,
            Arc::clone(&store) as Arc<dyn EventStore>,
            None,
            Default::default(),
            Box::new(env),
        )
        .unwrap();
        let mut service = Service::of(running);
        service.store = store;
        service
    }

    /// A started service with the test principals (its store is not the flaky one).
    pub fn of(running: RunningService<Notes>) -> Service {
        Service::with_auth(running, &auth_config())
    }

    /// A started service admitting the principals of `config`.
    pub fn with_auth(mut running: RunningService<Notes>, config: &AuthConfig) -> Service {
        running.set_auth(config).unwrap();
        Service {
            host: running.host.clone(),
            router: running.router.clone(),
            store: Default::default(),
        }
    }

    pub fn count(&self) -> u64 {
        self.store.inner.count().unwrap()
    }

    /// Sends `request` as the operator: with the operator's bearer token unless it carries
    /// an `Authorization` header or a cookie of its own, and a `Host` unless it has one.
    pub async fn send(&self, mut request: Request<Body>) -> Reply {
        let headers = request.headers_mut();
        if !headers.contains_key("authorization") && !headers.contains_key("cookie") {
            headers.insert("authorization", bearer(OPERATOR_TOKEN).parse().unwrap());
        }
        self.send_raw(request).await
    }

    /// Sends `request` with no credential but its own (a `Host` is added if missing, as
    /// every HTTP/1.1 client sends one).
    pub async fn send_raw(&self, mut request: Request<Body>) -> Reply {
        if !request.headers().contains_key("host") {
            request
                .headers_mut()
                .insert("host", "localhost".parse().unwrap());
        }
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    pub async fn post(&self, uri: &str, content_type: &str, body: impl Into<Body>) -> Reply {
        self.send(
            Request::post(uri)
                .header("content-type", content_type)
                .body(body.into())
                .unwrap(),
        )
        .await
    }

    pub async fn post_json(&self, uri: &str, body: &Value) -> Reply {
        self.post(uri, "application/json", body.to_string()).await
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.host.shutdown();
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Asserts the status, and that an error answer is the JSON error shape.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        if status >= 400 {
            assert_eq!(
                self.headers["content-type"], "application/json",
                "{}",
                self.body
            );
            assert!(self.body["error"].is_string(), "{}", self.body);
        }
        &self.body
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .map(|v| v.to_str().unwrap())
            .unwrap_or_default()
    }
}

/// A well-formed CloudEvent as JSON, `n` seconds after a fixed time.
pub fn event(id: &str, source: &str, ty: &str, n: u32, data: Value) -> Value {
    json!({
        "specversion": "1.0",
        "id": id,
        "source": source,
        "type": ty,
        "time": format!("2026-11-26T10:00:{:02}.000Z", n % 60),
        "datacontenttype": "application/json",
        "data": data,
    })
}

pub fn written(id: &str, note: &str, text: &str) -> Value {
    event(
        id,
        PEER,
        "noteWritten",
        1,
        json!({"noteId": note, "text": text}),
    )
}

pub fn tagged(id: &str, note: &str, tag: &str) -> Value {
    event(
        id,
        PEER,
        "noteTagged",
        2,
        json!({"noteId": note, "tag": tag}),
    )
}
