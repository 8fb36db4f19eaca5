//! An event's `data`: a JSON object kept as the exact text it arrived as.
//!
//! Keeping the text (rather than a parsed map that is serialised again) is what lets a
//! service store and relay an event without changing it: numbers keep their spelling
//! (`1e15` stays `1e15` instead of growing to `1000000000000000.0`), so an event never grows
//! on its way and what a peer signed is what every later hop sees. The parsed form is made
//! on first use and cached, so filters, acceptance, validation and the model read one parse.

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::de::IgnoredAny;
use serde_json::{Map, Value};

/// The `data` object of an event: its exact JSON text, and its fields once someone asks.
#[derive(Clone)]
pub struct EventData(Arc<Inner>);

struct Inner {
    /// The JSON text of an object, exactly as received (or as a command serialised it). A
    /// `String`, so that a replay can refill it ([`EventData::refill_checked`]).
    text: String,
    parsed: OnceLock<Map<String, Value>>,
}

/// Why a text cannot be an event's data.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    #[error("must be a JSON object")]
    NotAnObject,
    #[error("is not valid JSON: {0}")]
    NotJson(String),
}

impl EventData {
    /// Data from JSON text, which must be an object. The text is kept exactly.
    pub fn from_text(text: impl Into<Box<str>>) -> Result<Self, DataError> {
        let text = text.into();
        if !text.trim_start().starts_with('{') {
            return Err(DataError::NotAnObject);
        }
        // Validates without building anything: `IgnoredAny` walks the text iteratively.
        serde_json::from_str::<IgnoredAny>(&text).map_err(|e| DataError::NotJson(e.to_string()))?;
        check_surrogates(&text)?;
        Ok(Self::trusted(text))
    }

    /// Data from JSON text whose syntax the caller checked (it was read as one raw JSON
    /// value): only that it is an object is checked here. The text is kept exactly.
    pub(crate) fn from_json_text(text: impl Into<Box<str>>) -> Result<Self, DataError> {
        let data = Self::stored(text)?;
        check_surrogates(data.as_str())?;
        Ok(data)
    }

    /// Data as a store keeps it, for a replay: it passed [`EventData::from_text`] when it was
    /// stored, so only its first character is checked here.
    pub(crate) fn stored(text: impl Into<Box<str>>) -> Result<Self, DataError> {
        let text = text.into();
        Self::check_stored(&text)?;
        Ok(Self::trusted(text))
    }

    /// The one check [`EventData::stored`] makes.
    pub(crate) fn check_stored(text: &str) -> Result<(), DataError> {
        if text.trim_start().starts_with('{') {
            Ok(())
        } else {
            Err(DataError::NotAnObject)
        }
    }

    /// [`EventData::stored`] in place of this data, for `text` that passed
    /// [`EventData::check_stored`]: its buffer is reused when nothing else shares it (a replay
    /// refilling the event it lent for the row before) and it is not far too large for the
    /// text, and its parsed fields are dropped.
    pub(crate) fn refill_checked(&mut self, text: &str) {
        match Arc::get_mut(&mut self.0) {
            // A buffer a long row grew stays with the event; a clone kept of a short row
            // later must not hold it all.
            Some(inner) if inner.text.capacity() <= 4 * text.len().max(1024) => {
                inner.text.clear();
                inner.text.push_str(text);
                inner.parsed = OnceLock::new();
            }
            _ => *self = Self::trusted(text.into()),
        }
    }

    /// Data from text already known to be a JSON object (it passed [`EventData::from_text`]
    /// earlier, e.g. when it was stored).
    pub(crate) fn trusted(text: Box<str>) -> Self {
        EventData(Arc::new(Inner {
            text: text.into_string(),
            parsed: OnceLock::new(),
        }))
    }

    /// The exact JSON text.
    pub fn as_str(&self) -> &str {
        &self.0.text
    }

    /// Length of the JSON text in bytes.
    pub fn len(&self) -> usize {
        self.0.text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map().is_empty()
    }

    /// The fields, parsed on first use. Text that does not parse (only a corrupt store could
    /// hand such) reads as no fields at all rather than failing every reader.
    pub fn map(&self) -> &Map<String, Value> {
        self.0.parsed.get_or_init(|| {
            serde_json::from_str(&self.0.text).unwrap_or_else(|error| {
                tracing::error!(%error, "event data does not parse; reading it as empty");
                Map::new()
            })
        })
    }

    /// A top-level field.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.map().get(field)
    }

    /// A top-level field that is a string.
    pub fn str(&self, field: &str) -> Option<&str> {
        self.get(field).and_then(Value::as_str)
    }

    /// Whether two data hold the same JSON: the same text, or texts that parse to equal
    /// values (an honest copy re-serialised by another client). Used to tell a duplicate from
    /// a conflicting event that reuses an id.
    pub fn same_json(&self, other: &EventData) -> bool {
        self.as_str() == other.as_str() || self.map() == other.map()
    }
}

impl From<Map<String, Value>> for EventData {
    fn from(map: Map<String, Value>) -> Self {
        let mut text = serde_json::to_string(&map).expect("a JSON map always serialises");
        // The serialiser's buffer doubles as it grows: an event may live long (a memory store
        // holds every one), so it keeps only what its text needs.
        text.shrink_to_fit();
        let parsed = OnceLock::new();
        let _ = parsed.set(map);
        EventData(Arc::new(Inner { text, parsed }))
    }
}

impl std::ops::Index<&str> for EventData {
    type Output = Value;
    /// The field, or `null` if absent (as indexing a [`Value`] does).
    fn index(&self, field: &str) -> &Value {
        static NULL: Value = Value::Null;
        self.get(field).unwrap_or(&NULL)
    }
}

impl PartialEq for EventData {
    /// Exact text equality: what a store keeps and a relay hands on.
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl fmt::Debug for EventData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for EventData {
    /// The exact text for JSON serialisers (as a raw value); other serialisers see the map.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match serde_json::value::RawValue::from_string(self.as_str().to_owned()) {
            Ok(raw) => raw.serialize(serializer),
            Err(_) => self.map().serialize(serializer),
        }
    }
}

/// The deepest nesting of arrays and objects in a JSON text: `0` for a scalar, `1` for `{}`.
///
/// A byte scan rather than a parse, so it answers for any depth without recursion and
/// before a parser with a recursion limit would fail without saying where. Every event read
/// is scanned, and most of an event's bytes lie inside strings, so a string is crossed with
/// `memchr2` (to its closing quote or next escape) rather than byte by byte: about 2 200
/// fewer instructions per pulled event (callgrind).
pub fn nesting_depth(text: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut i = 0;
    while let Some(&byte) = text.get(i) {
        i += 1;
        match byte {
            b'"' => loop {
                let Some(at) = text
                    .get(i..)
                    .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
                else {
                    // An unterminated string: nothing after it is structure.
                    return deepest;
                };
                let quote = text[i + at] == b'"';
                // An escape is two bytes, whatever the second is.
                i += at + if quote { 1 } else { 2 };
                if quote {
                    break;
                }
            },
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Refuses a `\u` escape that is half a UTF-16 surrogate pair. serde_json's syntax check
/// (raw values, `IgnoredAny`) reads only its four hex digits, while a full parse refuses it:
/// such data would be stored, then read as no fields at all, and two different texts would
/// compare as the same JSON (a reused id taken for a duplicate, not a conflict).
fn check_surrogates(text: &str) -> Result<(), DataError> {
    // In JSON text a backslash only occurs inside strings, always as an escape.
    let bytes = text.as_bytes();
    let unit = |at: usize| {
        bytes
            .get(at..at + 4)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u16::from_str_radix(hex, 16).ok())
    };
    let lone = || DataError::NotJson("a \\u escape is half a surrogate pair".into());
    let mut i = 0;
    while let Some(offset) = bytes.get(i..).and_then(|rest| memchr::memchr(b'\\', rest)) {
        let at = i + offset;
        if bytes.get(at + 1) != Some(&b'u') {
            i = at + 2; // any other escape is two characters
            continue;
        }
        match unit(at + 2) {
            Some(0xD800..=0xDBFF) => {
                let low = (bytes.get(at + 6..at + 8) == Some(&b"\\u"[..]))
                    .then(|| unit(at + 8))
                    .flatten();
                if !matches!(low, Some(0xDC00..=0xDFFF)) {
                    return Err(lone());
                }
                i = at + 12;
            }
            Some(0xDC00..=0xDFFF) => return Err(lone()),
            _ => i = at + 6,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn half_a_surrogate_pair_is_refused_and_a_whole_one_kept() {
        for lone in [
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\udc00x"}"#,
            r#"{"a":"\ud83d\u0041"}"#,
            r#"{"a":"x\ud83d"}"#,
            r#"{"a":"\\\ud800"}"#,
        ] {
            assert!(serde_json::from_str::<Value>(lone).is_err(), "{lone}");
            assert!(EventData::from_text(lone).is_err(), "{lone}");
            assert!(EventData::from_json_text(lone).is_err(), "{lone}");
        }
        for fine in [
            r#"{"a":"\ud83d\ude00"}"#,
            r#"{"a":"\\ud800"}"#,
            r#"{"a":"\u0041\n\"\\"}"#,
            r#"{"a":"\\"}"#,
            r#"{"a":"é"}"#,
        ] {
            assert!(serde_json::from_str::<Value>(fine).is_ok(), "{fine}");
            assert_eq!(EventData::from_text(fine).unwrap().as_str(), fine);
            assert!(EventData::from_json_text(fine).is_ok(), "{fine}");
        }
    }

    #[test]
    fn keeps_the_exact_text_and_reads_fields() {
        let text = r#"{ "n": 1e15, "name":"Ada",  "nested": {"a": [1, 2.50]} }"#;
        let data = EventData::from_text(text).unwrap();
        assert_eq!(data.as_str(), text);
        assert_eq!(data.str("name"), Some("Ada"));
        assert_eq!(data["nested"]["a"][1], json!(2.5));
        assert_eq!(data["missing"], Value::Null);
        assert_eq!(serde_json::to_string(&data).unwrap(), text.trim());
        // Other serialisers see the same JSON, parsed.
        assert_eq!(json!({"d": data})["d"]["name"], json!("Ada"));
    }

    #[test]
    fn refuses_what_is_not_an_object() {
        assert_eq!(EventData::from_text("[1]"), Err(DataError::NotAnObject));
        assert_eq!(EventData::from_text("7"), Err(DataError::NotAnObject));
        assert!(matches!(
            EventData::from_text("{\"a\":"),
            Err(DataError::NotJson(_))
        ));
        assert!(matches!(
            EventData::from_text("{} {}"),
            Err(DataError::NotJson(_))
        ));
    }

    #[test]
    fn equal_json_in_other_spelling_is_the_same_json() {
        let a = EventData::from_text(r#"{"a":1,"b":"x"}"#).unwrap();
        let b = EventData::from_text(r#"{ "b" : "x", "a" : 1 }"#).unwrap();
        let c = EventData::from_text(r#"{"a":2,"b":"x"}"#).unwrap();
        assert_ne!(a, b, "different text");
        assert!(a.same_json(&b));
        assert!(!a.same_json(&c));
    }

    /// Depth byte by byte, as `nesting_depth` was first written: the reference for the fast one.
    fn depth_byte_by_byte(text: &[u8]) -> usize {
        let (mut depth, mut deepest) = (0usize, 0usize);
        let (mut in_string, mut escaped) = (false, false);
        for &byte in text {
            if in_string {
                in_string = escaped || byte != b'"';
                escaped = !escaped && byte == b'\\';
                continue;
            }
            in_string = byte == b'"';
            depth = match byte {
                b'[' | b'{' => depth + 1,
                b']' | b'}' => depth.saturating_sub(1),
                _ => depth,
            };
            deepest = deepest.max(depth);
        }
        deepest
    }

    proptest::proptest! {
        /// Any text at all, valid JSON or not, ending inside a string or an escape.
        #[test]
        fn depth_skipping_strings_agrees_with_the_byte_scan(
            text in proptest::collection::vec(
                proptest::sample::select(b"{}[]\"\\a:, \xc3\xa9".to_vec()),
                0..64,
            )
        ) {
            proptest::prop_assert_eq!(nesting_depth(&text), depth_byte_by_byte(&text));
        }
    }

    #[test]
    fn depth_is_counted_outside_strings() {
        assert_eq!(nesting_depth(b"1"), 0);
        assert_eq!(nesting_depth(b"{}"), 1);
        assert_eq!(nesting_depth(br#"{"a":[{"b":[]}]}"#), 4);
        assert_eq!(nesting_depth(br#"{"a":"[[[[{{\"}}"}"#), 1);
        assert_eq!(
            nesting_depth(br#"{"a":"\\"}"#),
            1,
            "an escaped backslash does not escape the closing quote"
        );
        assert_eq!(nesting_depth(br#"["[\"#), 1, "an escape at the very end");
        assert_eq!(nesting_depth(br#"[{"unterminated [[["#), 2);
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        assert_eq!(nesting_depth(deep.as_bytes()), 5000);
    }
}
