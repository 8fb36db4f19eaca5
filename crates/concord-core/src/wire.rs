//! The protocol's documents as they travel: a getEvents page and a putEvents report, written
//! by the serving side and read by the link transport — one module, so the two cannot drift.
//!
//! A page is `{"events":[…],"next_after":N,"has_more":B,"last_sequence":L,"store_id":S}`.
//! The last two are Concord's additions to the contract's answer: how far the peer's log
//! goes (a reader's exact lag) and which store it is (a reader whose cursor belongs to
//! another store must not carry on). Events are written with their data as the exact stored
//! text and read back one by one, so one event nothing can parse costs its page nothing but
//! itself.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::event::parse::id_of;
use crate::event::{CloudEvent, Limits, StoredEvent};
use crate::runtime::{Disposition, PutReport};

/// The paths every service serves and its clients call (links, `concord status`,
/// `concord conformance`): written once, for both sides.
pub mod paths {
    /// getEvents (`GET`) and putEvents (`POST`).
    pub const EVENTS: &str = "/api/events";
    /// The links' status (`GET`) and a sync round now (`POST`).
    pub const SYNC: &str = "/api/sync";
    /// Whether the service answers; the one route open without a credential.
    pub const HEALTH: &str = "/health";
    /// The service's OpenAPI document.
    pub const OPENAPI: &str = "/api/openapi.json";
    /// The service's AsyncAPI document: what it publishes and accepts.
    pub const ASYNCAPI: &str = "/api/asyncapi.json";
    /// Prometheus metrics.
    pub const METRICS: &str = "/metrics";
}

/// Why a peer's answer could not be read at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("the answer is not JSON: {0}")]
    NotJson(String),
    #[error("the answer has no {0}")]
    Missing(&'static str),
}

/// A getEvents page as a reader receives it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub events: Vec<CloudEvent>,
    /// Events of the page this reader cannot take as CloudEvents (malformed, or beyond its
    /// limits), with their text so that they can be kept and looked at.
    pub unreadable: Vec<Unreadable>,
    pub next_after: u64,
    pub has_more: bool,
    /// The peer's last sequence, if it said.
    pub last_sequence: Option<u64>,
    /// The identity of the peer's store, if it said.
    pub store_id: Option<String>,
}

/// An event of a page that did not parse: its id where one could be read, why, and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreadable {
    pub id: Option<String>,
    pub reason: String,
    pub text: String,
}

/// Writes a getEvents page.
pub fn write_page(
    out: &mut Vec<u8>,
    events: &[StoredEvent],
    next_after: u64,
    has_more: bool,
    last_sequence: u64,
    store_id: &str,
) {
    out.extend_from_slice(b"{\"events\":");
    write_events(out, events);
    out.extend_from_slice(
        format!(
            ",\"next_after\":{next_after},\"has_more\":{has_more},\"last_sequence\":{last_sequence},\"store_id\":"
        )
        .as_bytes(),
    );
    serde_json::to_writer(&mut *out, store_id).expect("writing to a Vec cannot fail");
    out.push(b'}');
}

/// Writes stored events as a JSON array, each with its `sequence` and its data as the exact
/// stored text: a page's events, and what a command answers it raised.
pub fn write_events(out: &mut Vec<u8>, events: &[StoredEvent]) {
    // Sized once, with room for what follows the array (a page's trailer, an answer's
    // closing brace): a page of thousands would otherwise be moved several times.
    const AFTER: usize = 256;
    out.reserve(
        AFTER
            + events
                .iter()
                .map(|e| e.event.encoded_len() + 1)
                .sum::<usize>(),
    );
    out.push(b'[');
    for (i, stored) in events.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        stored.event.write_json(out, Some(stored.sequence));
    }
    out.push(b']');
}

/// Reads a getEvents page, each event on its own within `limits`.
pub fn read_page(body: &[u8], limits: &Limits) -> Result<Page, WireError> {
    #[derive(Deserialize)]
    struct Wire<'a> {
        #[serde(borrow)]
        events: Option<Vec<&'a RawValue>>,
        next_after: Option<u64>,
        has_more: Option<bool>,
        last_sequence: Option<u64>,
        store_id: Option<String>,
    }
    let wire: Wire<'_> =
        serde_json::from_slice(body).map_err(|e| WireError::NotJson(e.to_string()))?;
    let mut page = Page {
        next_after: wire.next_after.ok_or(WireError::Missing("next_after"))?,
        has_more: wire.has_more.ok_or(WireError::Missing("has_more"))?,
        last_sequence: wire.last_sequence,
        store_id: wire.store_id,
        ..Page::default()
    };
    let items = wire.events.ok_or(WireError::Missing("events array"))?;
    // Sized once rather than grown, but never past what an honest page holds: a peer's page
    // of a million tiny non-events must not make this reserve room for a million events.
    page.events
        .reserve(items.len().min(crate::store::ReadQuery::MAX_LIMIT));
    for item in items {
        let text = item.get();
        match CloudEvent::parse(text, limits) {
            Ok(event) => page.events.push(event),
            Err(error) => page.unreadable.push(Unreadable {
                id: id_of(text),
                reason: error.to_string(),
                text: text.to_owned(),
            }),
        }
    }
    Ok(page)
}

/// The JSON of a putEvents answer:
/// `{"accepted","duplicates","conflicts","ignored","results":[{"id","status","reason"?}],"store_id"}`.
pub fn report_json(report: &PutReport, store_id: &str) -> Value {
    let results: Vec<Value> = report
        .results
        .iter()
        .map(|(id, disposition)| {
            let mut result = json!({ "id": id });
            if let Ok(Value::Object(fields)) = serde_json::to_value(disposition) {
                result.as_object_mut().expect("an object").extend(fields);
            }
            result
        })
        .collect();
    json!({
        "accepted": report.accepted(),
        "duplicates": report.duplicates(),
        "conflicts": report.conflicts(),
        "ignored": report.ignored(),
        "results": results,
        "store_id": store_id,
    })
}

/// What a sender needs from a putEvents answer: the events the peer did not take (refused
/// or conflicting), and the peer's store identity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    /// `(id, reason)` of each event reported `rejected` or `conflict`.
    pub refused: Vec<(String, String)>,
    pub store_id: Option<String>,
}

/// Reads a putEvents answer (200).
pub fn read_report(body: &[u8]) -> Result<Delivered, WireError> {
    #[derive(Deserialize)]
    struct Wire {
        results: Option<Vec<Result>>,
        store_id: Option<String>,
    }
    #[derive(Deserialize)]
    struct Result {
        id: Option<String>,
        status: Option<String>,
        reason: Option<String>,
    }
    let wire: Wire = serde_json::from_slice(body).map_err(|e| WireError::NotJson(e.to_string()))?;
    let refused = wire
        .results
        .unwrap_or_default()
        .into_iter()
        .filter(|r| matches!(r.status.as_deref(), Some("rejected" | "conflict")))
        .map(|r| {
            (
                r.id.unwrap_or_default(),
                r.reason.unwrap_or_else(|| r.status.unwrap_or_default()),
            )
        })
        .collect();
    Ok(Delivered {
        refused,
        store_id: wire.store_id,
    })
}

/// The status word of a disposition, as reports carry it.
pub fn status_word(disposition: &Disposition) -> &'static str {
    match disposition {
        Disposition::Accepted => "accepted",
        Disposition::Duplicate => "duplicate",
        Disposition::Conflict(_) => "conflict",
        Disposition::Ignored(_) => "ignored",
        Disposition::Rejected(_) => "rejected",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::sample_event;

    #[test]
    fn a_written_page_reads_back() {
        let events: Vec<StoredEvent> = (1..=3)
            .map(|n| StoredEvent {
                sequence: n * 2,
                event: sample_event(&format!("e{n}"), "s", "t", json!({"n": n})),
            })
            .collect();
        let mut out = Vec::new();
        write_page(&mut out, &events, 9, true, 12, "store-\"1\"");
        let page = read_page(&out, &Limits::default()).unwrap();
        let ids: Vec<&str> = page.events.iter().map(|e| &*e.id).collect();
        assert_eq!(ids, ["e1", "e2", "e3"]);
        assert_eq!(page.events[0], events[0].event);
        assert_eq!((page.next_after, page.has_more), (9, true));
        assert_eq!(page.last_sequence, Some(12));
        assert_eq!(page.store_id.as_deref(), Some("store-\"1\""));
    }

    #[test]
    fn written_events_are_the_json_of_the_stored_events() {
        let mut plain = sample_event("e\"1", "s\\x", "t\u{1}", json!({"n": 1, "s": "é\n"}));
        plain.datacontenttype = Some("application/json".into());
        let mut extended = sample_event("e2", "s", "t", json!({}));
        extended
            .extensions
            .insert("traceparent".into(), json!("00-ab-cd-01"));
        let events = vec![
            StoredEvent {
                sequence: 3,
                event: plain,
            },
            StoredEvent {
                sequence: 9,
                event: extended,
            },
        ];
        let mut out = Vec::new();
        write_events(&mut out, &events);
        let written: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(written, serde_json::to_value(&events).unwrap());
        let mut none = Vec::new();
        write_events(&mut none, &[]);
        assert_eq!(none, b"[]");
    }

    #[test]
    fn one_unreadable_event_costs_its_page_nothing_but_itself() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let body = format!(
            r#"{{"events":[{{"specversion":"1.0","id":"ok","source":"s","type":"t","time":"2026-11-26T09:00:00Z","data":{{}}}},
               {{"specversion":"1.0","id":"deep","source":"s","type":"t","time":"2026-11-26T09:00:00Z","data":{{"d":{deep}}}}},
               {{"id":7}}],
               "next_after":3,"has_more":false}}"#
        );
        let page = read_page(body.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(page.events.len(), 1);
        assert_eq!(page.unreadable.len(), 2);
        assert_eq!(page.unreadable[0].id.as_deref(), Some("deep"));
        assert!(page.unreadable[0].reason.contains("levels deep"));
        assert!(page.unreadable[0].text.contains("\"deep\""));
        assert_eq!(page.unreadable[1].id, None);
        assert_eq!(page.store_id, None, "an older peer need not say");
        assert!(matches!(
            read_page(b"{\"events\":[]}", &Limits::default()),
            Err(WireError::Missing("next_after"))
        ));
        assert!(matches!(
            read_page(b"<html>", &Limits::default()),
            Err(WireError::NotJson(_))
        ));
    }

    #[test]
    fn a_page_of_many_tiny_non_events_reserves_no_more_than_an_honest_page() {
        let items = vec!["1"; 2 * crate::store::ReadQuery::MAX_LIMIT].join(",");
        let body = format!(r#"{{"events":[{items}],"next_after":1,"has_more":false}}"#);
        let page = read_page(body.as_bytes(), &Limits::default()).unwrap();
        assert!(page.events.is_empty());
        assert!(
            page.events.capacity() <= crate::store::ReadQuery::MAX_LIMIT,
            "room for {} events",
            page.events.capacity()
        );
    }

    #[test]
    fn a_report_names_what_the_peer_did_not_take() {
        let report = PutReport {
            results: vec![
                ("a".into(), Disposition::Accepted),
                ("b".into(), Disposition::Conflict("other content".into())),
                ("c".into(), Disposition::Ignored("not ours".into())),
            ],
        };
        let json = report_json(&report, "s-1");
        assert_eq!(json["conflicts"], 1);
        assert_eq!(json["results"][1]["status"], "conflict");
        let delivered = read_report(json.to_string().as_bytes()).unwrap();
        assert_eq!(
            delivered.refused,
            vec![("b".to_owned(), "other content".to_owned())]
        );
        assert_eq!(delivered.store_id.as_deref(), Some("s-1"));
    }
}
