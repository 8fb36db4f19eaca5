//! The CloudEvents 1.0 envelope (JSON structured mode) as Concord uses it.
//!
//! Concord is stricter than CloudEvents in two places, because its convergence rules need
//! them: `time` is required (the later time wins) and `data` is required and must be a JSON
//! object (models read named fields from it). Everything else follows the specification:
//! unknown extension attributes are kept, and the `sequence` a sender may attach is dropped
//! because a sequence is only meaningful in the store that assigned it.

use std::fmt;
use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// An event id. Shared rather than copied: every register an event sets keeps its id.
pub type EventId = Arc<str>;

/// The extension attribute carrying an event's position in the store it was read from.
pub const SEQUENCE: &str = "sequence";

/// An instant with nanosecond precision, ordered on the UTC timeline.
///
/// Kept as an integer so that comparing two event times — the heart of last-writer-wins —
/// is exact and cheap whatever offsets the senders wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i128);

impl Timestamp {
    pub const fn from_unix_nanos(nanos: i128) -> Self {
        Timestamp(nanos)
    }

    pub const fn unix_nanos(self) -> i128 {
        self.0
    }

    /// Parses an RFC 3339 timestamp, any offset, any number of fraction digits.
    pub fn parse(text: &str) -> Result<Self, String> {
        OffsetDateTime::parse(text, &Rfc3339)
            .map(|t| Timestamp(t.unix_timestamp_nanos()))
            .map_err(|e| format!("{text:?} is not an RFC 3339 timestamp ({e})"))
    }

    /// RFC 3339 in UTC with microsecond precision, the form Concord raises its own events with.
    pub fn to_rfc3339(self) -> String {
        let micros = self.0.div_euclid(1000) * 1000;
        let t =
            OffsetDateTime::from_unix_timestamp_nanos(micros).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let date = t.date();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            date.year(),
            u8::from(date.month()),
            date.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        )
    }

    /// The smallest step Concord's own clocks take: one microsecond.
    pub fn next_tick(self) -> Self {
        Timestamp(self.0 + 1000)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

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

/// One CloudEvent. Cheap to clone apart from its data.
#[derive(Clone, Debug, PartialEq)]
pub struct CloudEvent {
    pub id: EventId,
    pub source: String,
    pub ty: String,
    pub time: Timestamp,
    /// The time exactly as the event's producer wrote it: relayed events keep it unchanged.
    time_text: String,
    pub datacontenttype: Option<String>,
    pub data: Map<String, Value>,
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
        data: Map<String, Value>,
    ) -> Self {
        CloudEvent {
            id: id.into(),
            source: source.into(),
            ty: ty.into(),
            time,
            time_text: time.to_rfc3339(),
            datacontenttype: Some("application/json".to_owned()),
            data,
            extensions: Map::new(),
        }
    }

    pub fn time_text(&self) -> &str {
        &self.time_text
    }

    /// Parses and validates one event from its JSON object.
    pub fn from_value(value: Value) -> Result<Self, EventError> {
        let Value::Object(mut object) = value else {
            return Err(EventError::new("event", "must be a JSON object"));
        };
        match object.remove("specversion") {
            Some(Value::String(v)) if v == "1.0" => {}
            Some(other) => {
                return Err(EventError::new(
                    "specversion",
                    format!("must be \"1.0\", found {other}"),
                ))
            }
            None => return Err(EventError::new("specversion", "is required")),
        }
        let id = required_string(&mut object, "id")?;
        let source = required_string(&mut object, "source")?;
        let ty = required_string(&mut object, "type")?;
        let time_text = required_string(&mut object, "time")?;
        let time = Timestamp::parse(&time_text).map_err(|e| EventError::new("time", e))?;
        let datacontenttype = match object.remove("datacontenttype") {
            None | Some(Value::Null) => None,
            Some(Value::String(ct))
                if is_json_content_type(&ct) && !ct.chars().any(char::is_control) =>
            {
                Some(ct)
            }
            Some(Value::String(ct)) => {
                return Err(EventError::new(
                    "datacontenttype",
                    format!("{ct:?} is not JSON; Concord events carry JSON data"),
                ))
            }
            Some(_) => return Err(EventError::new("datacontenttype", "must be a string")),
        };
        if object.contains_key("data_base64") {
            return Err(EventError::new(
                "data_base64",
                "binary data is not supported; send a JSON object as data",
            ));
        }
        let data = match object.remove("data") {
            Some(Value::Object(data)) => data,
            Some(_) => return Err(EventError::new("data", "must be a JSON object")),
            None => return Err(EventError::new("data", "is required")),
        };
        object.remove(SEQUENCE);
        for (name, value) in &object {
            validate_extension(name, value)?;
        }
        Ok(CloudEvent {
            id: id.into(),
            source,
            ty,
            time,
            time_text,
            datacontenttype,
            data,
            extensions: object,
        })
    }

    /// Rebuilds an event from the columns a store keeps. The store only holds events that
    /// were validated on the way in, so only the time needs parsing again.
    pub fn from_stored_parts(
        id: &str,
        source: &str,
        ty: &str,
        time_text: &str,
        datacontenttype: Option<&str>,
        data: Map<String, Value>,
        extensions: Map<String, Value>,
    ) -> Result<Self, EventError> {
        Ok(CloudEvent {
            id: id.into(),
            source: source.to_owned(),
            ty: ty.to_owned(),
            time: Timestamp::parse(time_text).map_err(|e| EventError::new("time", e))?,
            time_text: time_text.to_owned(),
            datacontenttype: datacontenttype.map(str::to_owned),
            data,
            extensions,
        })
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
        self.data.get(field).and_then(Value::as_str)
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

/// Parses a body holding one CloudEvent or a JSON array of them, validating every event;
/// the first malformed one fails the whole body.
pub fn parse_batch(body: &[u8]) -> Result<Vec<CloudEvent>, BatchError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| BatchError::NotJson(e.to_string()))?;
    parse_batch_value(value)
}

/// As [`parse_batch`], from an already parsed JSON value.
pub fn parse_batch_value(value: Value) -> Result<Vec<CloudEvent>, BatchError> {
    let items = match value {
        Value::Array(items) => items,
        object @ Value::Object(_) => vec![object],
        _ => return Err(BatchError::NotEvents),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            CloudEvent::from_value(item).map_err(|error| BatchError::Event { index, error })
        })
        .collect()
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

    pub fn matches(&self, data: &Map<String, Value>) -> bool {
        match data.get(&self.field) {
            None => false,
            Some(Value::String(s)) => *s == self.value,
            // Not `*other == self.value`: a JSON value equals a string only when it is one,
            // and numbers and booleans must compare by their JSON text.
            #[allow(clippy::cmp_owned)]
            Some(other) => other.to_string() == self.value,
        }
    }

    pub fn all_match(filters: &[DataFilter], data: &Map<String, Value>) -> bool {
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

fn required_string(object: &mut Map<String, Value>, name: &str) -> Result<String, EventError> {
    match object.remove(name) {
        // CloudEvents forbids control characters in attribute values, and some stores
        // (PostgreSQL text) cannot hold a NUL: refuse them here, not in a later commit.
        Some(Value::String(s)) if s.chars().any(char::is_control) => {
            Err(EventError::new(name, "must not contain control characters"))
        }
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(EventError::new(name, "must not be empty")),
        Some(_) => Err(EventError::new(name, "must be a string")),
        None => Err(EventError::new(name, "is required")),
    }
}

fn is_json_content_type(ct: &str) -> bool {
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence == "text/json" || essence.ends_with("+json")
}

fn validate_extension(name: &str, value: &Value) -> Result<(), EventError> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Err(EventError::new(
            name,
            "attribute names are lower-case letters and digits (CloudEvents 1.0)",
        ));
    }
    match value {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(()),
        _ => Err(EventError::new(
            name,
            "an extension attribute must be a string, number or boolean",
        )),
    }
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
    }

    #[test]
    fn a_batch_error_names_the_index() {
        let mut bad = sample();
        bad["time"] = json!("2026-13-40");
        let body = serde_json::to_vec(&json!([sample(), bad])).unwrap();
        match parse_batch(&body) {
            Err(BatchError::Event { index: 1, error }) => assert_eq!(error.attribute, "time"),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            parse_batch(b"{\"specversion\"")
                .unwrap_err()
                .to_string()
                .split(':')
                .next(),
            Some("body is not valid JSON")
        );
        assert_eq!(parse_batch(b"42"), Err(BatchError::NotEvents));
        assert_eq!(parse_batch(b"[]").unwrap(), vec![]);
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
        let data = json!({"group":"se-group","points":5,"flag":true})
            .as_object()
            .unwrap()
            .clone();
        assert!(DataFilter::new("group", "se-group").matches(&data));
        assert!(!DataFilter::new("group", "\"se-group\"").matches(&data));
        assert!(DataFilter::new("points", "5").matches(&data));
        assert!(DataFilter::new("flag", "true").matches(&data));
        assert!(!DataFilter::new("missing", "x").matches(&data));
    }
}
