//! The CloudEvents HTTP protocol binding (1.0): how a POST carries events.
//!
//! All three content modes are accepted, because any CloudEvents client must be able to post
//! to putEvents:
//! - *structured*: `Content-Type: application/cloudevents+json`, the body is one event;
//! - *batched*: `Content-Type: application/cloudevents-batch+json`, the body is an array;
//!   a plain JSON body (`application/json`, or no content type) may hold either;
//! - *binary*: the attributes travel as `ce-*` headers (percent-encoded), the body is the
//!   event's `data` and `Content-Type` its `datacontenttype`.
//!
//! Binary mode is recognised by the `ce-specversion` header, as the binding suggests, unless
//! the content type already says structured or batched. Every event is parsed by the same
//! [`CloudEvent::from_value`], so all modes share one set of rules and error messages.

use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use concord_core::event::{parse_batch, parse_batch_value, BatchError, EventError};
use concord_core::CloudEvent;
use percent_encoding::percent_decode;
use serde_json::{Map, Value};

use crate::error::ApiError;

pub const STRUCTURED: &str = "application/cloudevents+json";
pub const BATCHED: &str = "application/cloudevents-batch+json";

/// How a request carries its events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Structured,
    Batched,
    /// A plain JSON body: one event or an array of them.
    Json,
    Binary,
}

/// Decides the mode from the headers; an unsupported content type is a 415.
pub fn mode(headers: &HeaderMap) -> Result<Mode, ApiError> {
    let content_type = match headers.get(CONTENT_TYPE) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| unsupported("the Content-Type header is not readable text"))?
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase(),
        ),
    };
    match content_type.as_deref() {
        Some(STRUCTURED) => Ok(Mode::Structured),
        Some(BATCHED) => Ok(Mode::Batched),
        Some(other) if other.starts_with("application/cloudevents") => Err(unsupported(format!(
            "event format {other:?} is not supported; use {STRUCTURED} or {BATCHED}"
        ))),
        _ if headers.contains_key("ce-specversion") => Ok(Mode::Binary),
        None => Ok(Mode::Json),
        Some(ct) if is_json(ct) => Ok(Mode::Json),
        Some(other) => Err(unsupported(format!(
            "content type {other:?} is not supported; post CloudEvents as {STRUCTURED}, \
             {BATCHED} or application/json, or in binary mode with ce-* headers"
        ))),
    }
}

/// Reads the events a request carries, in any mode. The first malformed event fails all.
pub fn decode(headers: &HeaderMap, body: &[u8]) -> Result<Vec<CloudEvent>, ApiError> {
    match mode(headers)? {
        Mode::Json => parse_batch(body).map_err(batch_error),
        Mode::Structured => match parse_json(body)? {
            object @ Value::Object(_) => parse_batch_value(object).map_err(batch_error),
            _ => Err(ApiError::bad_request(format!(
                "a {STRUCTURED} body is one event object; send a batch as {BATCHED}"
            ))),
        },
        Mode::Batched => match parse_json(body)? {
            array @ Value::Array(_) => parse_batch_value(array).map_err(batch_error),
            _ => Err(ApiError::bad_request(format!(
                "a {BATCHED} body is a JSON array of events"
            ))),
        },
        Mode::Binary => binary_event(headers, body)
            .map(|event| vec![event])
            .map_err(|error| ApiError::malformed_event(0, &error)),
    }
}

/// One event in binary mode: attributes from `ce-*` headers, data from the body.
fn binary_event(headers: &HeaderMap, body: &[u8]) -> Result<CloudEvent, EventError> {
    let mut object = Map::new();
    for name in headers.keys() {
        let Some(attribute) = name.as_str().strip_prefix("ce-") else {
            continue;
        };
        let mut values = headers.get_all(name).iter();
        let value = values.next().map(|v| v.as_bytes()).unwrap_or_default();
        if values.next().is_some() {
            return Err(EventError::new(
                attribute,
                "is given in more than one header",
            ));
        }
        // The binding percent-encodes what a header cannot carry; the decoded text is UTF-8.
        let text = percent_decode(value)
            .decode_utf8()
            .map_err(|_| EventError::new(attribute, "is not UTF-8 once percent-decoded"))?;
        object.insert(attribute.to_owned(), Value::String(text.into_owned()));
    }
    if let Some(content_type) = headers.get(CONTENT_TYPE) {
        let text = content_type
            .to_str()
            .map_err(|_| EventError::new("datacontenttype", "is not readable text"))?;
        object.insert("datacontenttype".to_owned(), Value::String(text.to_owned()));
    }
    // A body that is not JSON is reported only after the attributes, so that a wrong
    // content type is named as the cause rather than the body it announced.
    let mut body_error = None;
    if !body.is_empty() {
        let data = serde_json::from_slice(body).unwrap_or_else(|e| {
            body_error = Some(EventError::new(
                "data",
                format!("the body is not valid JSON ({e})"),
            ));
            Value::Object(Map::new())
        });
        object.insert("data".to_owned(), data);
    }
    let event = CloudEvent::from_value(Value::Object(object))?;
    match body_error {
        Some(error) => Err(error),
        None => Ok(event),
    }
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| batch_error(BatchError::NotJson(e.to_string())))
}

fn batch_error(error: BatchError) -> ApiError {
    match error {
        BatchError::Event { index, error } => ApiError::malformed_event(index, &error),
        other => ApiError::bad_request(other.to_string()),
    }
}

fn is_json(essence: &str) -> bool {
    essence == "application/json" || essence == "text/json" || essence.ends_with("+json")
}

fn unsupported(message: impl Into<String>) -> ApiError {
    ApiError::new(axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    type Headers = &'static [(&'static str, &'static str)];

    #[test]
    fn picks_the_mode_from_the_headers() {
        let cases: [(Headers, Result<Mode, u16>); 9] = [
            (&[], Ok(Mode::Json)),
            (
                &[("content-type", "application/json; charset=utf-8")],
                Ok(Mode::Json),
            ),
            (
                &[("content-type", "Application/CloudEvents+JSON")],
                Ok(Mode::Structured),
            ),
            (&[("content-type", BATCHED)], Ok(Mode::Batched)),
            (
                &[
                    ("content-type", "application/json"),
                    ("ce-specversion", "1.0"),
                ],
                Ok(Mode::Binary),
            ),
            (&[("ce-specversion", "1.0")], Ok(Mode::Binary)),
            (
                &[("content-type", "text/plain"), ("ce-specversion", "1.0")],
                Ok(Mode::Binary),
            ),
            (&[("content-type", "text/plain")], Err(415)),
            (&[("content-type", "application/cloudevents+xml")], Err(415)),
        ];
        for (pairs, expected) in cases {
            let got = mode(&headers(pairs)).map_err(|e| e.status().as_u16());
            assert_eq!(got, expected, "{pairs:?}");
        }
    }

    #[test]
    fn binary_attributes_are_percent_decoded() {
        let map = headers(&[
            ("ce-specversion", "1.0"),
            ("ce-id", "e-1"),
            ("ce-source", "caf%C3%A9"),
            ("ce-type", "noteWritten"),
            ("ce-time", "2026-11-26T09:30:00Z"),
            ("ce-traceparent", "00-%2500"),
            ("content-type", "application/json"),
        ]);
        let event = binary_event(&map, br#"{"noteId":"n"}"#).unwrap();
        assert_eq!(event.source, "café");
        assert_eq!(event.extensions["traceparent"], "00-%00");
        assert_eq!(event.datacontenttype.as_deref(), Some("application/json"));
        let bad = headers(&[("ce-specversion", "1.0"), ("ce-id", "%FF")]);
        assert_eq!(binary_event(&bad, b"{}").unwrap_err().attribute, "id");
    }
}
