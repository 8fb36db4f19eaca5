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
//! the content type already says structured or batched. Every event is parsed by the core's
//! [`CloudEvent::parse`] (or [`CloudEvent::from_attributes`] for binary mode), so all modes
//! share one set of rules, limits and error messages.

use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use concord_core::event::parse::{parse_body, Body};
use concord_core::event::{parse_batch, BatchError, EventError, Limits};
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

/// Reads the events a request carries, in any mode, within `limits`. The first malformed
/// event fails all.
pub fn decode(
    headers: &HeaderMap,
    body: &[u8],
    limits: &Limits,
) -> Result<Vec<CloudEvent>, ApiError> {
    match mode(headers)? {
        Mode::Json => parse_batch(body, limits).map_err(batch_error),
        Mode::Structured => match parse_body(body).map_err(batch_error)? {
            Body::One(_) => parse_batch(body, limits).map_err(batch_error),
            Body::Many(_) => Err(ApiError::bad_request(format!(
                "a {STRUCTURED} body is one event object; send a batch as {BATCHED}"
            ))),
        },
        Mode::Batched => match parse_body(body).map_err(batch_error)? {
            Body::Many(_) => parse_batch(body, limits).map_err(batch_error),
            Body::One(_) => Err(ApiError::bad_request(format!(
                "a {BATCHED} body is a JSON array of events"
            ))),
        },
        Mode::Binary => binary_event(headers, body, limits)
            .map(|event| vec![event])
            .map_err(|error| ApiError::malformed_event(0, &error)),
    }
}

/// One event in binary mode: attributes from `ce-*` headers, data from the body.
fn binary_event(
    headers: &HeaderMap,
    body: &[u8],
    limits: &Limits,
) -> Result<CloudEvent, EventError> {
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
    let data = match std::str::from_utf8(body) {
        _ if body.is_empty() => None,
        Ok(text) => Some(text),
        Err(_) => Some("\u{fffd}"),
    };
    match CloudEvent::from_attributes(object.clone(), Some("{}"), limits) {
        Err(error) => Err(error),
        Ok(_) => CloudEvent::from_attributes(object, data, limits).map_err(|error| {
            match error.reason.strip_prefix("is not valid JSON") {
                Some(rest) if error.attribute == "data" => {
                    EventError::new("data", format!("the body is not valid JSON{rest}"))
                }
                _ => error,
            }
        }),
    }
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
        let limits = Limits::default();
        let event = binary_event(&map, br#"{"noteId":"n"}"#, &limits).unwrap();
        assert_eq!(event.source, "café");
        assert_eq!(event.extensions["traceparent"], "00-%00");
        assert_eq!(event.datacontenttype.as_deref(), Some("application/json"));
        let bad = headers(&[("ce-specversion", "1.0"), ("ce-id", "%FF")]);
        assert_eq!(
            binary_event(&bad, b"{}", &limits).unwrap_err().attribute,
            "id"
        );
    }
}
