//! Reading events from JSON text, with the limits that keep one event from stopping a
//! service (docs/protocol.md §3.3).
//!
//! Every path an event enters by — putEvents in any mode, a pull link's page, a command —
//! goes through [`CloudEvent::parse`] or [`parse_batch`], so what one service accepts it can
//! always hand on: an id a database index can hold, an event a peer's body limit admits,
//! nesting a peer's parser can read. Size and depth are checked on the raw text first, so an
//! event nested ten thousand levels deep is named by its index instead of failing the whole
//! body with a parser's recursion error.

use std::borrow::Cow;

use serde::de::{Deserializer as _, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::data::{nesting_depth, DataError, EventData};
use super::{BatchError, CloudEvent, EventError, Timestamp, SEQUENCE};

/// What a service accepts at intake. Configurable (TOML `[limits]`); the defaults are the
/// contract's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Longest `id`, `source` and `type`, in bytes.
    pub max_id_bytes: usize,
    /// Largest event, as JSON text (binary mode: the data plus the attributes).
    pub max_event_bytes: usize,
    /// Deepest nesting of objects and arrays, counting the event object itself as 1.
    pub max_depth: usize,
    /// How far an event's `time` may lie ahead of the receiving service's clock, in
    /// milliseconds. Beyond it the sender's clock is taken to be wrong: the event is refused,
    /// and the service's own clock never follows such a time.
    pub max_skew_ms: u64,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        max_id_bytes: 256,
        max_event_bytes: 1 << 20,
        max_depth: 32,
        max_skew_ms: 5 * 60 * 1000,
    };

    /// No limits: for re-reading what this service itself stored (a push link's dead
    /// letters), which the peer, not this service, will judge.
    pub const UNBOUNDED: Limits = Limits {
        max_id_bytes: usize::MAX,
        max_event_bytes: usize::MAX,
        max_depth: usize::MAX,
        max_skew_ms: u64::MAX,
    };

    /// The allowed skew in nanoseconds, as [`Timestamp`] arithmetic wants it.
    pub fn max_skew_nanos(&self) -> i128 {
        i128::from(self.max_skew_ms) * 1_000_000
    }

    /// Checks a size and a depth against the limits; `what` names the thing measured.
    fn check_shape(&self, bytes: usize, depth: usize) -> Result<(), EventError> {
        if bytes > self.max_event_bytes {
            return Err(EventError::new(
                "event",
                format!(
                    "is {bytes} bytes; the limit is {} bytes",
                    self.max_event_bytes
                ),
            ));
        }
        if depth > self.max_depth {
            return Err(EventError::new(
                "event",
                format!(
                    "nests {depth} levels deep; the limit is {} levels",
                    self.max_depth
                ),
            ));
        }
        Ok(())
    }

    fn check_name(&self, attribute: &str, value: &str) -> Result<(), EventError> {
        if value.len() > self.max_id_bytes {
            return Err(EventError::new(
                attribute,
                format!(
                    "is {} bytes; the limit is {} bytes",
                    value.len(),
                    self.max_id_bytes
                ),
            ));
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

impl CloudEvent {
    /// Parses and validates one event from its JSON text (structured mode).
    pub fn parse(text: &str, limits: &Limits) -> Result<Self, EventError> {
        limits.check_shape(text.len(), nesting_depth(text.as_bytes()))?;
        let wire = WireEvent::read(text)?;
        // `data` was read as a raw JSON value, which checked its syntax: it is not walked again.
        let data = wire.data.map(DataText::Checked);
        CloudEvent::from_wire(wire.attributes, data, limits)
    }

    /// Builds an event from attributes and a data text (binary mode, where the attributes
    /// come from headers and the data is the body), with the same rules as [`parse`].
    ///
    /// [`parse`]: CloudEvent::parse
    pub fn from_attributes(
        attributes: Map<String, Value>,
        data: Option<&str>,
        limits: &Limits,
    ) -> Result<Self, EventError> {
        let attribute_bytes: usize = attributes
            .iter()
            .map(|(name, value)| name.len() + value.to_string().len() + 4)
            .sum();
        let data_text = data.unwrap_or("");
        limits.check_shape(
            attribute_bytes + data_text.len(),
            1 + nesting_depth(data_text.as_bytes()),
        )?;
        // A body is any text: its JSON syntax is still to be checked.
        let data = data.map(|text| DataText::Unchecked(Cow::Borrowed(text)));
        CloudEvent::from_wire(Attributes::from_map(attributes), data, limits)
    }

    /// Parses one event from a JSON value with the default limits. For tests and callers
    /// that already hold a value; intake paths parse text.
    pub fn from_value(value: Value) -> Result<Self, EventError> {
        let Value::Object(_) = &value else {
            return Err(EventError::new("event", "must be a JSON object"));
        };
        CloudEvent::parse(&value.to_string(), &Limits::default())
    }

    fn from_wire(
        attributes: Attributes,
        data: Option<DataText<'_>>,
        limits: &Limits,
    ) -> Result<Self, EventError> {
        let Attributes {
            specversion,
            id,
            source,
            ty,
            time,
            datacontenttype,
            extensions: mut object,
        } = attributes;
        match specversion {
            Some(Value::String(v)) if v == "1.0" => {}
            Some(other) => {
                return Err(EventError::new(
                    "specversion",
                    format!("must be \"1.0\", found {other}"),
                ))
            }
            None => return Err(EventError::new("specversion", "is required")),
        }
        let id = required_string(id, "id")?;
        limits.check_name("id", &id)?;
        let source = required_string(source, "source")?;
        limits.check_name("source", &source)?;
        let ty = required_string(ty, "type")?;
        limits.check_name("type", &ty)?;
        let time_text = required_string(time, "time")?;
        let time = Timestamp::parse(&time_text).map_err(|e| EventError::new("time", e))?;
        let datacontenttype = match datacontenttype {
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
        let data = match data {
            Some(DataText::Checked(text)) => EventData::from_json_text(text.into_owned()),
            Some(DataText::Unchecked(text)) => EventData::from_text(text.into_owned()),
            None => return Err(EventError::new("data", "is required")),
        }
        .map_err(|e| match e {
            DataError::NotAnObject => EventError::new("data", "must be a JSON object"),
            DataError::NotJson(reason) => {
                EventError::new("data", format!("is not valid JSON ({reason})"))
            }
        })?;
        object.remove(SEQUENCE);
        for (name, value) in &object {
            validate_extension(name, value)?;
        }
        Ok(CloudEvent::assemble(
            id.into(),
            source,
            ty,
            time,
            time_text,
            datacontenttype,
            data,
            object,
        ))
    }
}

/// Parses a body holding one CloudEvent or a JSON array of them, validating every event
/// against `limits`; the first malformed one fails the whole body, naming its index.
pub fn parse_batch(body: &[u8], limits: &Limits) -> Result<Vec<CloudEvent>, BatchError> {
    match parse_body(body)? {
        Body::One(text) => CloudEvent::parse(text, limits)
            .map(|event| vec![event])
            .map_err(|error| BatchError::Event { index: 0, error }),
        Body::Many(items) => items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                CloudEvent::parse(item.get(), limits)
                    .map_err(|error| BatchError::Event { index, error })
            })
            .collect(),
    }
}

/// A body's shape: one object, or an array whose items are kept as raw text.
pub enum Body<'a> {
    One(&'a str),
    Many(Vec<&'a RawValue>),
}

/// Splits a body into its events without parsing them: items of any depth are found (the
/// raw-value scan is iterative), so a limit can name the index of the one at fault.
pub fn parse_body(body: &[u8]) -> Result<Body<'_>, BatchError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| BatchError::NotJson(format!("body is not UTF-8: {e}")))?;
    match text.trim_start().as_bytes().first() {
        Some(b'[') => serde_json::from_str::<Vec<&RawValue>>(text)
            .map(Body::Many)
            .map_err(|e| BatchError::NotJson(e.to_string())),
        Some(b'{') => {
            // The whole body must be one JSON value (no trailing text).
            serde_json::from_str::<IgnoredAny>(text)
                .map_err(|e| BatchError::NotJson(e.to_string()))?;
            Ok(Body::One(text))
        }
        Some(_) => match serde_json::from_str::<IgnoredAny>(text) {
            Ok(_) => Err(BatchError::NotEvents),
            Err(e) => Err(BatchError::NotJson(e.to_string())),
        },
        None => Err(BatchError::NotJson("the body is empty".into())),
    }
}

/// The id of an event that did not parse, when one can be read: for reporting which event
/// was refused. Reads only the top level, so it works at any depth.
pub fn id_of(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct IdOnly {
        id: Option<Value>,
    }
    match serde_json::from_str::<IdOnly>(text).ok()?.id? {
        Value::String(id) if !id.is_empty() => Some(id),
        _ => None,
    }
}

/// An event's data text, and whether its JSON syntax was already checked (read as one raw
/// JSON value) or is still to be.
enum DataText<'a> {
    Checked(Cow<'a, str>),
    Unchecked(Cow<'a, str>),
}

/// One event object as read from text: every attribute but `data` parsed, `data` kept as
/// the exact text it had.
struct WireEvent<'a> {
    attributes: Attributes,
    data: Option<Cow<'a, str>>,
}

/// An event's attributes as read, those CloudEvents defines in slots of their own (no key
/// is allocated for them, and none is looked up again), the rest by name.
#[derive(Default)]
struct Attributes {
    specversion: Option<Value>,
    id: Option<Value>,
    source: Option<Value>,
    ty: Option<Value>,
    time: Option<Value>,
    datacontenttype: Option<Value>,
    /// Extension attributes, and whatever else an event carries.
    extensions: Map<String, Value>,
}

impl Attributes {
    fn slot(&mut self, name: &str) -> Option<&mut Option<Value>> {
        Some(match name {
            "specversion" => &mut self.specversion,
            "id" => &mut self.id,
            "source" => &mut self.source,
            "type" => &mut self.ty,
            "time" => &mut self.time,
            "datacontenttype" => &mut self.datacontenttype,
            _ => return None,
        })
    }

    fn from_map(map: Map<String, Value>) -> Self {
        let mut attributes = Attributes::default();
        for (name, value) in map {
            match attributes.slot(&name) {
                Some(slot) => *slot = Some(value),
                None => {
                    attributes.extensions.insert(name, value);
                }
            }
        }
        attributes
    }
}

impl<'a> WireEvent<'a> {
    fn read(text: &'a str) -> Result<Self, EventError> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let wire = deserializer
            .deserialize_map(WireVisitor)
            .map_err(|e| EventError::new("event", format!("is not a JSON object: {e}")))?
            .map_err(|attribute| EventError::new(attribute, "is given more than once"))?;
        deserializer
            .end()
            .map_err(|e| EventError::new("event", format!("is not one JSON object: {e}")))?;
        Ok(wire)
    }
}

/// Reads an event object; a repeated attribute name is an error (two parsers must not be
/// able to disagree about which `id` or `source` an event has).
struct WireVisitor;

impl<'de> Visitor<'de> for WireVisitor {
    type Value = Result<WireEvent<'de>, String>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a CloudEvent object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut attributes = Attributes::default();
        let mut data: Option<Cow<'de, str>> = None;
        let mut sequence = false;
        let mut repeated = None;
        while let Some(name) = map.next_key::<Cow<'de, str>>()? {
            if name == "data" {
                let raw: &'de RawValue = map.next_value()?;
                if data.replace(Cow::Borrowed(raw.get())).is_some() {
                    repeated.get_or_insert_with(|| "data".to_owned());
                }
                continue;
            }
            // A page's position of the event at its peer, never part of the event: skipped
            // here rather than kept as an extension and removed again, which cost every event
            // of a page a map node and a key.
            if name == SEQUENCE {
                map.next_value::<IgnoredAny>()?;
                if std::mem::replace(&mut sequence, true) {
                    repeated.get_or_insert_with(|| SEQUENCE.to_owned());
                }
                continue;
            }
            let value: Value = map.next_value()?;
            let taken = match attributes.slot(&name) {
                Some(slot) => slot.replace(value).is_some(),
                None => attributes
                    .extensions
                    .insert(name.clone().into_owned(), value)
                    .is_some(),
            };
            if taken {
                repeated.get_or_insert_with(|| name.into_owned());
            }
        }
        Ok(match repeated {
            Some(name) => Err(name),
            None => Ok(WireEvent { attributes, data }),
        })
    }
}

fn required_string(value: Option<Value>, name: &str) -> Result<String, EventError> {
    match value {
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

    fn nested(depth: usize) -> String {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    }

    fn event_with_data(data: &str) -> String {
        format!(
            r#"{{"specversion":"1.0","id":"e-1","source":"office","type":"t","time":"2026-11-26T09:30:00Z","data":{data}}}"#
        )
    }

    #[test]
    fn data_that_is_not_json_is_refused_in_every_mode() {
        // Structured mode reads `data` as a raw JSON value and no longer walks it a second
        // time: that read, and the check of surrogate escapes it lacks, refuse what a full
        // parse refuses.
        let bad = [
            r#"{"a":1,}"#,
            r#"{"a":"\q"}"#,
            "{\"a\":\"tab\there\"}",
            r#"{"a":01}"#,
            r#"{"a":[1 2]}"#,
            r#"{"a":nul}"#,
            r#"{"a":"\ud800"}"#,
        ];
        for data in bad {
            assert!(
                serde_json::from_str::<Value>(data).is_err(),
                "the sample {data} is not JSON"
            );
            let error =
                CloudEvent::parse(&event_with_data(data), &Limits::default()).expect_err(data);
            assert!(
                error.to_string().contains("not a JSON object")
                    || error.to_string().contains("is not valid JSON"),
                "{data}: {error}"
            );
            let mut attributes = Map::new();
            for (name, value) in [
                ("specversion", "1.0"),
                ("id", "e-1"),
                ("source", "o"),
                ("type", "t"),
                ("time", "2026-11-26T09:30:00Z"),
            ] {
                attributes.insert(name.into(), json!(value));
            }
            let error = CloudEvent::from_attributes(attributes, Some(data), &Limits::default())
                .expect_err(data);
            assert_eq!(error.attribute, "data", "{data}: {error}");
        }
        let array = CloudEvent::parse(&event_with_data("[1]"), &Limits::default());
        assert_eq!(array.expect_err("an array").attribute, "data");
    }

    #[test]
    fn data_is_kept_as_received() {
        let text = event_with_data(r#"{ "n" : 1e15,"x":[1.50] }"#);
        let event = CloudEvent::parse(&text, &Limits::default()).unwrap();
        assert_eq!(event.data.as_str(), r#"{ "n" : 1e15,"x":[1.50] }"#);
    }

    #[test]
    fn limits_name_the_attribute_and_the_limit() {
        let limits = Limits::default();
        let long_id = "x".repeat(257);
        let mut event = sample();
        event["id"] = json!(long_id);
        let err = CloudEvent::from_value(event).unwrap_err();
        assert_eq!(err.attribute, "id");
        assert!(err.reason.contains("256"), "{err}");
        let mut event = sample();
        event["source"] = json!("s".repeat(300));
        assert_eq!(
            CloudEvent::from_value(event).unwrap_err().attribute,
            "source"
        );

        // The event object is level 1, data level 2: 30 more levels inside data fit.
        let fits = event_with_data(&format!(r#"{{"a":{}}}"#, nested(30)));
        assert!(CloudEvent::parse(&fits, &limits).is_ok());
        let deep = event_with_data(&format!(r#"{{"a":{}}}"#, nested(31)));
        let err = CloudEvent::parse(&deep, &limits).unwrap_err();
        assert!(
            err.reason.contains("33 levels") && err.reason.contains("32"),
            "{err}"
        );

        let big = event_with_data(&format!(r#"{{"a":"{}"}}"#, "x".repeat(1 << 20)));
        let err = CloudEvent::parse(&big, &limits).unwrap_err();
        assert!(err.reason.contains("1048576"), "{err}");
    }

    #[test]
    fn a_batch_names_the_index_of_an_event_too_deep_for_any_parser() {
        let good = event_with_data("{}");
        let deep = event_with_data(&format!(r#"{{"a":{}}}"#, nested(10_000)));
        let body = format!("[{good},{good},{deep}]");
        match parse_batch(body.as_bytes(), &Limits::default()) {
            Err(BatchError::Event { index: 2, error }) => {
                assert!(error.reason.contains("levels deep"), "{error}")
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(id_of(&deep).as_deref(), Some("e-1"));
    }

    #[test]
    fn a_repeated_attribute_is_refused() {
        let text = r#"{"specversion":"1.0","id":"a","id":"b","source":"s","type":"t","time":"2026-11-26T09:30:00Z","data":{}}"#;
        let err = CloudEvent::parse(text, &Limits::default()).unwrap_err();
        assert_eq!(
            (err.attribute.as_str(), err.reason.as_str()),
            ("id", "is given more than once")
        );
        let text = event_with_data(r#"{}, "data": {"x":1}"#);
        assert_eq!(
            CloudEvent::parse(&text, &Limits::default())
                .unwrap_err()
                .attribute,
            "data"
        );
    }

    #[test]
    fn bodies_that_are_not_events() {
        let limits = Limits::default();
        assert_eq!(parse_batch(b"42", &limits), Err(BatchError::NotEvents));
        assert!(matches!(
            parse_batch(b"{\"a\"", &limits),
            Err(BatchError::NotJson(_))
        ));
        assert!(matches!(
            parse_batch(b"[] x", &limits),
            Err(BatchError::NotJson(_))
        ));
        assert!(matches!(
            parse_batch(b"", &limits),
            Err(BatchError::NotJson(_))
        ));
        assert!(matches!(
            parse_batch(b"\xff", &limits),
            Err(BatchError::NotJson(_))
        ));
        assert_eq!(parse_batch(b"[]", &limits).unwrap(), vec![]);
    }
}
