//! A toy domain for the framework's own tests: notes, each written with a text, the latest
//! write winning. Small enough to read at a glance, built the right way (a `Registry` of
//! `Lww`s), so a test can set it beside a deliberately broken model.

use std::sync::Arc;

use concord_core::model::Envelope;
use concord_core::runtime::{Catalogue, SharedCatalogue};
use concord_core::{CloudEvent, EventError, Lww, Model, Registry, Timestamp};
use serde_json::{json, Map};

/// The one event type.
pub const NOTE_WRITTEN: &str = "noteWritten";

/// `noteWritten`, decoded: which note, and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub note: String,
    pub text: String,
}

/// Decodes `noteWritten` (`data.noteId` and `data.text`, both strings); the overwrite key is
/// the note.
pub struct NoteCatalogue;

impl Catalogue for NoteCatalogue {
    type Event = Written;

    fn decode(&self, event: &CloudEvent) -> Option<Result<Written, EventError>> {
        (event.ty == NOTE_WRITTEN).then(|| {
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

/// The catalogue, shared, for any model of `Written` events.
pub fn catalogue<M: Model<Event = Written>>() -> SharedCatalogue<M> {
    Arc::new(NoteCatalogue)
}

/// Notes the right way: the latest write of each note wins, by `(time, id)`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Notes {
    pub notes: Registry<String, Lww<String>>,
}

impl Model for Notes {
    type Event = Written;

    fn apply(&mut self, event: &Written, envelope: &Envelope<'_>) {
        self.notes
            .get_or_create(event.note.clone())
            .set(event.text.clone(), &envelope.stamp);
    }
}

impl Notes {
    /// A note's text, if any write of it arrived.
    pub fn text(&self, note: &str) -> Option<&str> {
        self.notes.get(note).and_then(Lww::get).map(String::as_str)
    }
}

/// A `noteWritten` event: id `id`, from `source`, `second` seconds after the epoch.
pub fn written(id: &str, source: &str, second: i128, note: &str, text: &str) -> CloudEvent {
    let mut data = Map::new();
    data.insert("noteId".into(), json!(note));
    data.insert("text".into(), json!(text));
    CloudEvent::new(
        id,
        source,
        NOTE_WRITTEN,
        Timestamp::from_unix_nanos(second * 1_000_000_000),
        data,
    )
}
