//! The CloudEvents 1.0 envelope (JSON structured mode) as Concord uses it.
//!
//! Concord is stricter than CloudEvents in two places, because its convergence rules need
//! them: `time` is required (the later time wins) and `data` is required and must be a JSON
//! object (models read named fields from it). Everything else follows the specification:
//! unknown extension attributes are kept, and the `sequence` a sender may attach is dropped
//! because a sequence is only meaningful in the store that assigned it.
//!
//! - [`time`]: [`Timestamp`], exact ordering of event times.
//! - [`data`]: [`EventData`], the `data` object kept as the exact text received.
//! - [`parse`]: reading events and batches from text under [`Limits`] (docs/protocol.md §3.3).

pub mod data;
pub mod parse;
pub mod time;

use std::fmt;
use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

pub use data::EventData;
pub use parse::{parse_batch, Limits};
pub use time::Timestamp;

/// An event id. Shared rather than copied: every register an event sets keeps its id.
pub type EventId = Arc<str>;

/// The extension attribute carrying an event's position in the store it was read from.
pub const SEQUENCE: &str = "sequence";

/// Why one event is malformed: the attribute at fault and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{attribute}: {reason}")]
pub struct EventError {
    pub attribute: String,
    pub reason: String,
}

impl EventError {
    pub fn new(attribute: impl Into<String>, reason: impl Into<String>) -> Self {
        EventError {
            attribute: attribute.into(),
            reason: reason.into(),
        }
    }
}

/// Why a body holding one event or a batch was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    #[error("body must be a CloudEvent object or an array of them")]
    NotEvents,
    #[error("event at index {index}: {error}")]
    Event { index: usize, error: EventError },
}

/// An event as a store keeps it: its columns, borrowed from the row, with the extension
/// attributes already read; what [`CloudEvent::from_stored_parts`] and its replay variants
/// build from.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredParts<'a> {
    pub id: &'a str,
    pub source: &'a str,
    pub ty: &'a str,
    /// The time exactly as stored.
    pub time_text: &'a str,
    pub datacontenttype: Option<&'a str>,
    /// The data object's JSON text.
    pub data: &'a str,
    pub extensions: Map<String, Value>,
}

/// One CloudEvent. A clone copies its attribute strings and shares its data.
#[derive(Clone, Debug, PartialEq)]
pub struct CloudEvent {
    pub id: EventId,
    pub source: String,
    pub ty: String,
    pub time: Timestamp,
    /// The time exactly as the event's producer wrote it: relayed events keep it unchanged.
    time_text: String,
    pub datacontenttype: Option<String>,
    /// The data object, as the exact JSON text received.
    pub data: EventData,
    /// Extension attributes other than `sequence`, kept and passed on.
    pub extensions: Map<String, Value>,
}

impl CloudEvent {
    /// A new event raised now by `source`, with JSON data.
    pub fn new(
        id: impl Into<EventId>,
        source: impl Into<String>,
        ty: impl Into<String>,
        time: Timestamp,
        data: impl Into<EventData>,
    ) -> Self {
        CloudEvent {
            id: id.into(),
            source: source.into(),
            ty: ty.into(),
            time,
            time_text: time.to_rfc3339(),
            datacontenttype: Some("application/json".to_owned()),
            data: data.into(),
            extensions: Map::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn assemble(
        id: EventId,
        source: String,
        ty: String,
        time: Timestamp,
        time_text: String,
        datacontenttype: Option<String>,
        data: EventData,
        extensions: Map<String, Value>,
    ) -> Self {
        CloudEvent {
            id,
            source,
            ty,
            time,
            time_text,
            datacontenttype,
            data,
            extensions,
        }
    }

    pub fn time_text(&self) -> &str {
        &self.time_text
    }

    /// Rebuilds an event from the columns a store keeps, to serve or export it. The store
    /// only holds events that were validated on the way in, so the time is parsed and the
    /// data checked to be JSON (a scan that builds nothing) — a page relays the data text as
    /// it is, so a text a corrupt store mangled must not reach it — no more: limits are not
    /// applied again, so old events stay readable after a limit is lowered.
    pub fn from_stored_parts(parts: StoredParts<'_>) -> Result<Self, EventError> {
        let data =
            EventData::from_text(parts.data).map_err(|e| EventError::new("data", e.to_string()))?;
        Self::from_checked_parts(parts, data)
    }

    /// [`CloudEvent::from_stored_parts`] for a replay into the model, which relays nothing:
    /// the data is only checked to open an object, not walked (a fifth of a replay's time),
    /// since the model's decoding parses it anyway, and a text a corrupt store mangled reads
    /// as no fields there ([`EventData::map`], logged).
    pub fn from_replayed_parts(parts: StoredParts<'_>) -> Result<Self, EventError> {
        let data =
            EventData::stored(parts.data).map_err(|e| EventError::new("data", e.to_string()))?;
        Self::from_checked_parts(parts, data)
    }

    /// [`CloudEvent::from_replayed_parts`] into this event, reusing its buffers (attribute
    /// strings, and the data's text when nothing else shares it): a replay lends each event
    /// to its sink and refills the same one with the next row, so building a row's event
    /// allocates its id (and its extensions, if it has any) and nothing else. On an error the
    /// event is left as it was.
    pub fn refill_from_replayed_parts(&mut self, parts: StoredParts<'_>) -> Result<(), EventError> {
        // The same checks, in the same order, as `from_replayed_parts`, all before anything
        // changes: a refill that fails leaves the event as it was.
        EventData::check_stored(parts.data).map_err(|e| EventError::new("data", e.to_string()))?;
        let time = Timestamp::parse(parts.time_text).map_err(|e| EventError::new("time", e))?;
        self.data.refill_checked(parts.data);
        self.time = time;
        self.id = parts.id.into();
        refill(&mut self.source, parts.source);
        refill(&mut self.ty, parts.ty);
        refill(&mut self.time_text, parts.time_text);
        match (parts.datacontenttype, &mut self.datacontenttype) {
            (Some(text), Some(kept)) => refill(kept, text),
            (text, kept) => *kept = text.map(str::to_owned),
        }
        self.extensions = parts.extensions;
        Ok(())
    }

    fn from_checked_parts(parts: StoredParts<'_>, data: EventData) -> Result<Self, EventError> {
        Ok(CloudEvent {
            id: parts.id.into(),
            source: parts.source.to_owned(),
            ty: parts.ty.to_owned(),
            time: Timestamp::parse(parts.time_text).map_err(|e| EventError::new("time", e))?,
            time_text: parts.time_text.to_owned(),
            datacontenttype: parts.datacontenttype.map(str::to_owned),
            data,
            extensions: parts.extensions,
        })
    }

    /// Whether `other` is the same event in content: same attributes (times compared as
    /// instants), same data JSON, same extensions. What tells an honest repeat of an id
    /// (a duplicate) from a different event claiming it (a conflict).
    pub fn same_content(&self, other: &CloudEvent) -> bool {
        self.id == other.id
            && self.source == other.source
            && self.ty == other.ty
            && self.time == other.time
            && self.datacontenttype == other.datacontenttype
            && self.extensions == other.extensions
            && self.data.same_json(&other.data)
    }

    /// The size of this event as JSON text, within a few bytes: what byte-bounded pages and
    /// batches count.
    pub fn encoded_len(&self) -> usize {
        let extensions: usize = self
            .extensions
            .iter()
            .map(|(name, value)| name.len() + 6 + value.to_string().len())
            .sum();
        100 + self.id.len()
            + self.source.len()
            + self.ty.len()
            + self.time_text.len()
            + self.datacontenttype.as_ref().map_or(0, |ct| ct.len() + 20)
            + self.data.len()
            + extensions
    }

    /// Appends this event's JSON to `out`, data as its exact text, with a `sequence` when
    /// given: the hot path of pages and push batches (no detour through a JSON value).
    pub fn write_json(&self, out: &mut Vec<u8>, sequence: Option<u64>) {
        let string = |out: &mut Vec<u8>, s: &str| {
            serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail")
        };
        out.extend_from_slice(b"{\"specversion\":\"1.0\",\"id\":");
        string(out, &self.id);
        out.extend_from_slice(b",\"source\":");
        string(out, &self.source);
        out.extend_from_slice(b",\"type\":");
        string(out, &self.ty);
        out.extend_from_slice(b",\"time\":");
        string(out, &self.time_text);
        if let Some(ct) = &self.datacontenttype {
            out.extend_from_slice(b",\"datacontenttype\":");
            string(out, ct);
        }
        for (name, value) in &self.extensions {
            out.push(b',');
            string(out, name);
            out.push(b':');
            serde_json::to_writer(&mut *out, value).expect("writing to a Vec cannot fail");
        }
        if let Some(sequence) = sequence {
            // Not `format!`: an allocation and the formatting machinery for every event of a
            // page cost about 1 200 instructions; serde_json writes integers directly.
            out.extend_from_slice(b",\"");
            out.extend_from_slice(SEQUENCE.as_bytes());
            out.extend_from_slice(b"\":");
            serde_json::to_writer(&mut *out, &sequence).expect("writing to a Vec cannot fail");
        }
        out.extend_from_slice(b",\"data\":");
        out.extend_from_slice(self.data.as_str().as_bytes());
        out.push(b'}');
    }

    /// The CloudEvents JSON of this event.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("a CloudEvent always serializes")
    }

    /// The (time, id) pair that orders this event against others writing the same attribute.
    pub fn stamp(&self) -> crate::model::Stamp {
        crate::model::Stamp::new(self.time, self.id.clone())
    }

    /// A string field of `data`, if present and a string.
    pub fn data_str(&self, field: &str) -> Option<&str> {
        self.data.str(field)
    }

    fn serialize_attributes<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        map.serialize_entry("specversion", "1.0")?;
        map.serialize_entry("id", &*self.id)?;
        map.serialize_entry("source", &self.source)?;
        map.serialize_entry("type", &self.ty)?;
        map.serialize_entry("time", &self.time_text)?;
        if let Some(ct) = &self.datacontenttype {
            map.serialize_entry("datacontenttype", ct)?;
        }
        for (name, value) in &self.extensions {
            map.serialize_entry(name, value)?;
        }
        map.serialize_entry("data", &self.data)
    }
}

impl Serialize for CloudEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        self.serialize_attributes(&mut map)?;
        map.end()
    }
}

/// An event as read back from a store: the event and its position there.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    pub sequence: u64,
    pub event: CloudEvent,
}

impl Serialize for StoredEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        self.event.serialize_attributes(&mut map)?;
        map.serialize_entry(SEQUENCE, &self.sequence)?;
        map.end()
    }
}

/// Equality on one top-level data field, as getEvents filters and acceptance rules use it.
///
/// Values compare by their JSON text, except that a string compares by its content:
/// `group=se-group` matches `"se-group"`, `points=5` matches `5`, `flag=true` matches `true`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "DataFilterText")]
pub struct DataFilter {
    pub field: String,
    pub value: String,
}

impl DataFilter {
    pub fn new(field: impl Into<String>, value: impl Into<String>) -> Self {
        DataFilter {
            field: field.into(),
            value: value.into(),
        }
    }

    pub fn matches(&self, data: &EventData) -> bool {
        match data.get(&self.field) {
            None => false,
            Some(Value::String(s)) => *s == self.value,
            // Not `*other == self.value`: a JSON value equals a string only when it is one,
            // and numbers and booleans must compare by their JSON text.
            #[allow(clippy::cmp_owned)]
            Some(other) => other.to_string() == self.value,
        }
    }

    pub fn all_match(filters: &[DataFilter], data: &EventData) -> bool {
        filters.iter().all(|f| f.matches(data))
    }
}

/// A filter as configuration files may write it: `"group=se-group"` (or
/// `"data.group=se-group"`), or a table `{ field = "group", value = "se-group" }`.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum DataFilterText {
    Text(String),
    Table { field: String, value: String },
}

impl TryFrom<DataFilterText> for DataFilter {
    type Error = String;

    fn try_from(text: DataFilterText) -> Result<Self, String> {
        match text {
            DataFilterText::Table { field, value } => Ok(DataFilter { field, value }),
            DataFilterText::Text(text) => DataFilter::parse(&text),
        }
    }
}

impl DataFilter {
    /// Parses `field=value`, with or without a `data.` prefix on the field.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (field, value) = text
            .split_once('=')
            .ok_or_else(|| format!("a data filter is FIELD=VALUE, not {text:?}"))?;
        let field = field.strip_prefix("data.").unwrap_or(field);
        if field.is_empty() {
            return Err(format!("a data filter needs a field name: {text:?}"));
        }
        Ok(DataFilter::new(field, value))
    }
}

impl fmt::Display for DataFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "data.{}={}", self.field, self.value)
    }
}

/// A small event for tests and examples: its time follows from its id (so distinct ids rarely
/// tie), the rest is the caller's choice; `data` other than an object counts as `{}`.
pub fn sample_event(id: &str, source: &str, ty: &str, data: Value) -> CloudEvent {
    let data: Map<String, Value> = match data {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let n: i128 = id.bytes().map(i128::from).sum();
    CloudEvent::new(
        id,
        source,
        ty,
        Timestamp::from_unix_nanos(1_790_000_000_000_000_000 + n * 1000),
        data,
    )
}

/// Sets `kept` to `text`, in its own buffer when that is large enough.
fn refill(kept: &mut String, text: &str) {
    kept.clear();
    kept.push_str(text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({"specversion":"1.0","id":"e-1","source":"office","type":"thingMade",
               "time":"2026-11-26T09:30:00.123+01:00","datacontenttype":"application/json",
               "data":{"thingId":"t-1"}})
    }

    #[test]
    fn a_refilled_event_is_the_event_built_from_the_same_parts() {
        let mut extensions = Map::new();
        extensions.insert("traceparent".into(), json!("00-1"));
        let parts = |n: usize| {
            (
                format!("id-{n}"),
                format!("source-{n}"),
                format!("type-{n}"),
                format!("2026-11-26T09:30:0{n}.5+01:00"),
                format!(r#"{{"n":{n},"text":"{}"}}"#, "x".repeat(40 / n)),
            )
        };
        type Texts = (String, String, String, String, String);
        fn stored<'a>(
            texts: &'a Texts,
            datacontenttype: Option<&'a str>,
            extensions: &Map<String, Value>,
        ) -> StoredParts<'a> {
            StoredParts {
                id: &texts.0,
                source: &texts.1,
                ty: &texts.2,
                time_text: &texts.3,
                datacontenttype,
                data: &texts.4,
                extensions: extensions.clone(),
            }
        }
        let build = |n: usize, dct: Option<&str>, ext: &Map<String, Value>| {
            CloudEvent::from_replayed_parts(stored(&parts(n), dct, ext)).unwrap()
        };
        let refill = |event: &mut CloudEvent, n: usize, dct, ext: &Map<String, Value>| {
            event.refill_from_replayed_parts(stored(&parts(n), dct, ext))
        };
        let mut event = build(1, Some("application/json"), &extensions);
        // Parsed before the refill: the new text must not be read through the old fields.
        assert_eq!(event.data["n"], 1);
        let (data_at, source_at) = (event.data.as_str().as_ptr(), event.source.as_ptr());
        refill(&mut event, 2, Some("text/json"), &Map::new()).unwrap();
        assert_eq!(event, build(2, Some("text/json"), &Map::new()));
        assert_eq!(
            (event.data.as_str().as_ptr(), event.source.as_ptr()),
            (data_at, source_at),
            "the shorter texts went into the buffers the event had"
        );
        refill(&mut event, 2, None, &Map::new()).unwrap();
        let expected = build(2, None, &Map::new());
        assert_eq!(event, expected);
        assert_eq!(event.time_text(), expected.time_text());
        assert_eq!(event.data["n"], 2);

        // Data someone else holds is left as it was; the event gets data of its own.
        let held = event.data.clone();
        refill(&mut event, 3, Some("text/json"), &extensions).unwrap();
        assert_eq!(event, build(3, Some("text/json"), &extensions));
        assert_eq!(held.as_str(), expected.data.as_str());
        assert_eq!(held["n"], 2);

        // The checks of `from_replayed_parts`, in its order: the data's first; a refill that
        // fails changes nothing.
        let before = event.clone();
        let bad = (
            "i".into(),
            "s".into(),
            "t".into(),
            "not a time".into(),
            "[1]".into(),
        );
        let error = event
            .refill_from_replayed_parts(stored(&bad, None, &Map::new()))
            .unwrap_err();
        assert_eq!(error.attribute, "data");
        let bad = (bad.0, bad.1, bad.2, bad.3, "{}".into());
        let error = event
            .refill_from_replayed_parts(stored(&bad, None, &Map::new()))
            .unwrap_err();
        assert_eq!(error.attribute, "time");
        assert_eq!(event, before);
        assert_eq!(event.time_text(), before.time_text());
    }

    #[test]
    fn parses_a_well_formed_event_and_keeps_its_time_text() {
        let event = CloudEvent::from_value(sample()).unwrap();
        assert_eq!(&*event.id, "e-1");
        assert_eq!(event.ty, "thingMade");
        assert_eq!(event.time_text(), "2026-11-26T09:30:00.123+01:00");
        assert_eq!(
            event.time,
            Timestamp::parse("2026-11-26T08:30:00.123Z").unwrap()
        );
        assert_eq!(event.to_value(), sample());
    }

    #[test]
    fn names_the_attribute_at_fault() {
        let cases = [
            ("specversion", json!("0.3"), "specversion"),
            ("id", json!(""), "id"),
            ("source", json!(7), "source"),
            ("time", json!("yesterday"), "time"),
            ("data", json!("text"), "data"),
            ("datacontenttype", json!("text/plain"), "datacontenttype"),
            ("id", json!("a\u{0}b"), "id"),
            ("source", json!("office\n"), "source"),
            ("type", json!("thing\u{7}"), "type"),
            ("Bad-Name", json!("x"), "Bad-Name"),
            ("nested", json!({"a":1}), "nested"),
        ];
        for (attribute, value, expected) in cases {
            let mut event = sample();
            event[attribute] = value;
            let err = CloudEvent::from_value(event).unwrap_err();
            assert_eq!(err.attribute, expected, "{err}");
        }
        for required in ["specversion", "id", "source", "type", "time", "data"] {
            let mut event = sample();
            event.as_object_mut().unwrap().remove(required);
            let err = CloudEvent::from_value(event).unwrap_err();
            assert_eq!(err.attribute, required);
            assert_eq!(err.reason, "is required");
        }
    }

    #[test]
    fn drops_a_foreign_sequence_and_keeps_other_extensions() {
        let mut event = sample();
        event["sequence"] = json!(41);
        event["traceparent"] = json!("00-abc");
        let parsed = CloudEvent::from_value(event).unwrap();
        assert!(!parsed.extensions.contains_key("sequence"));
        assert_eq!(parsed.extensions["traceparent"], json!("00-abc"));
        let stored = StoredEvent {
            sequence: 3,
            event: parsed,
        };
        let out = serde_json::to_value(&stored).unwrap();
        assert_eq!(out["sequence"], json!(3));
        assert_eq!(out["traceparent"], json!("00-abc"));
        // As text (a page), whatever its value, but not twice: two parsers could disagree.
        let text = |sequence: &str| {
            format!(
                r#"{{"specversion":"1.0","id":"e","source":"s","type":"t","time":"2026-11-26T09:30:00Z",{sequence},"data":{{}}}}"#
            )
        };
        let parsed = CloudEvent::parse(&text(r#""sequence":{"a":[1]}"#), &Limits::default());
        assert!(parsed.unwrap().extensions.is_empty());
        let twice = CloudEvent::parse(&text(r#""sequence":1,"sequence":2"#), &Limits::default());
        let error = twice.unwrap_err();
        assert_eq!(
            (error.attribute.as_str(), error.reason.as_str()),
            ("sequence", "is given more than once")
        );
    }

    #[test]
    fn a_batch_error_names_the_index() {
        let mut bad = sample();
        bad["time"] = json!("2026-13-40");
        let body = serde_json::to_vec(&json!([sample(), bad])).unwrap();
        let limits = Limits::default();
        match parse_batch(&body, &limits) {
            Err(BatchError::Event { index: 1, error }) => assert_eq!(error.attribute, "time"),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            parse_batch(b"{\"specversion\"", &limits)
                .unwrap_err()
                .to_string()
                .split(':')
                .next(),
            Some("body is not valid JSON")
        );
        assert_eq!(parse_batch(b"42", &limits), Err(BatchError::NotEvents));
        assert_eq!(parse_batch(b"[]", &limits).unwrap(), vec![]);
    }

    #[test]
    fn written_json_is_the_serialised_json() {
        let mut value = sample();
        value["traceparent"] = json!("00-\"quoted\"");
        let event = CloudEvent::from_value(value).unwrap();
        let mut out = Vec::new();
        event.write_json(&mut out, Some(9));
        let written: Value = serde_json::from_slice(&out).unwrap();
        let stored = StoredEvent { sequence: 9, event };
        assert_eq!(written, serde_json::to_value(&stored).unwrap());
        assert!(
            stored.event.encoded_len() >= out.len() - 20,
            "{} vs {}",
            stored.event.encoded_len(),
            out.len()
        );
    }

    #[test]
    fn own_timestamps_round_trip_with_microseconds() {
        let t = Timestamp::parse("2026-11-26T09:30:00.123456789Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-26T09:30:00.123456Z");
        assert!(t.next_tick() > t);
        let again = Timestamp::parse(&t.to_rfc3339()).unwrap();
        assert_eq!(again.unix_nanos(), t.unix_nanos() / 1000 * 1000);
    }

    #[test]
    fn data_filters_read_from_text_or_tables() {
        let text: DataFilter = serde_json::from_value(json!("data.group=se-group")).unwrap();
        let table: DataFilter =
            serde_json::from_value(json!({"field":"group","value":"se-group"})).unwrap();
        assert_eq!(text, table);
        assert_eq!(text.to_string(), "data.group=se-group");
        assert!(serde_json::from_value::<DataFilter>(json!("no-equals")).is_err());
        assert!(DataFilter::parse("=x").is_err());
    }

    #[test]
    fn data_filters_compare_json_text() {
        let data = EventData::from_text(r#"{"group":"se-group","points":5,"flag":true}"#).unwrap();
        assert!(DataFilter::new("group", "se-group").matches(&data));
        assert!(!DataFilter::new("group", "\"se-group\"").matches(&data));
        assert!(DataFilter::new("points", "5").matches(&data));
        assert!(DataFilter::new("flag", "true").matches(&data));
        assert!(!DataFilter::new("missing", "x").matches(&data));
    }
}
