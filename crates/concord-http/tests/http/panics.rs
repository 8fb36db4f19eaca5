//! A domain whose code panics cannot stop the service: a panic deciding a command, applying
//! what it raised, reading its input or applying a peer's event is answered (500, or 400
//! naming the event for putEvents), stores nothing of it, and the next request is served.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use concord_core::model::Envelope;
use concord_core::runtime::{SeededEnv, SharedCatalogue};
use concord_core::store::MemoryStore;
use concord_core::{
    AcceptancePolicy, AcceptanceRule, Api, CommandError, EventDraft, EventReader, EventStore,
    Model, Params, ServiceSpec, Timestamp,
};
use concord_testkit::notes::{catalogue, NoteEvent, NOTE_WRITTEN};
use serde::{Deserialize, Deserializer};
use serde_json::json;

use crate::common::*;

/// Notes whose `apply` panics on the text `apply-boom`, after changing the model.
#[derive(Default)]
struct Fragile(Notes);

impl Model for Fragile {
    type Event = NoteEvent;

    fn apply(&mut self, event: &NoteEvent, envelope: &Envelope<'_>) {
        self.0.apply(event, envelope);
        if matches!(event, NoteEvent::Written { text, .. } if text == "apply-boom") {
            panic!("the fragile model cannot hold {event:?}");
        }
    }
}

#[derive(Deserialize)]
struct Write {
    id: String,
    text: String,
}

/// Decides to write, or panics on the text `decide-boom`.
fn write(_: &Fragile, _: &Params, input: Write) -> Result<Vec<EventDraft>, CommandError> {
    assert_ne!(input.text, "decide-boom", "the fragile decision gives up");
    Ok(vec![EventDraft::new(
        NOTE_WRITTEN,
        json!({"noteId": input.id, "text": input.text}),
    )])
}

/// An input whose reading panics (a hand-written `Deserialize` with a bug).
struct Unreadable;

impl<'de> Deserialize<'de> for Unreadable {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        panic!("this input cannot be read")
    }
}

fn unreadable(_: &Fragile, _: &Params, _: Unreadable) -> Result<Vec<EventDraft>, CommandError> {
    Ok(Vec::new())
}

struct FragileSpec;

impl ServiceSpec for FragileSpec {
    type Model = Fragile;

    fn name(&self) -> &str {
        NAME
    }

    fn catalogue(&self) -> SharedCatalogue<Fragile> {
        catalogue::<Fragile>()
    }

    fn default_acceptance(&self) -> AcceptancePolicy {
        AcceptancePolicy::new(vec![AcceptanceRule::new(PEER, NOTE_WRITTEN)])
    }

    fn api(&self) -> Api<Fragile> {
        Api::new()
            .command("/api/notes", "write", json!({"type": "object"}), write)
            .command(
                "/api/unreadable",
                "panic reading",
                json!({"type": "object"}),
                unreadable,
            )
    }
}

fn start() -> (Service<Fragile>, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let env = SeededEnv::new(1, Timestamp::parse("2026-11-26T10:30:00Z").unwrap());
    let running = concord_http::start_service(
        &FragileSpec,
        Arc::clone(&store) as Arc<dyn EventStore>,
        Box::new(env),
        Default::default(),
    )
    .unwrap();
    (Service::of(running), store)
}

/// The service's count of the domain's panics caught at `stage`, as `/metrics` shows it.
async fn panics_caught(service: &Service<Fragile>, stage: &str) -> u64 {
    let scrape = service.get("/metrics").await;
    let text = scrape.expect(200).as_str().unwrap().to_owned();
    let sample = format!("concord_domain_panics_total{{stage=\"{stage}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&sample))
        .unwrap_or_else(|| panic!("no {sample} in:\n{text}"))
        .parse()
        .unwrap()
}

fn text(service: &Service<Fragile>, note: &str) -> Option<String> {
    service.host.query(|m| m.0.text(note).map(str::to_owned))
}

#[tokio::test]
async fn a_command_whose_domain_code_panics_is_a_500_and_the_service_goes_on() {
    let (service, store) = start();
    service
        .post_json("/api/notes", &json!({"id": "n1", "text": "kept"}))
        .await
        .expect(200);
    for text in ["decide-boom", "apply-boom"] {
        let failed = service
            .post_json("/api/notes", &json!({"id": "n2", "text": text}))
            .await;
        let error = failed.expect(500)["error"].as_str().unwrap().to_owned();
        assert!(error.contains("nothing of it was stored"), "{error}");
        assert!(
            !error.contains("fragile"),
            "the panic's message stays in the log: {error}"
        );
    }
    assert_eq!(store.count().unwrap(), 1, "nothing of either was stored");
    assert_eq!(
        text(&service, "n2"),
        None,
        "the model holds nothing of the event it panicked on"
    );
    assert_eq!(text(&service, "n1").as_deref(), Some("kept"));
    // The writer lives on.
    service
        .post_json("/api/notes", &json!({"id": "n3", "text": "after"}))
        .await
        .expect(200);
    assert_eq!(store.count().unwrap(), 2);
    assert_eq!(text(&service, "n3").as_deref(), Some("after"));
    // An operator's alerting sees what the log says.
    assert_eq!(panics_caught(&service, "decide").await, 1);
    assert_eq!(panics_caught(&service, "apply").await, 1);
    assert_eq!(panics_caught(&service, "rebuild").await, 0);
}

#[tokio::test]
async fn a_handler_that_panics_reading_its_input_is_answered_500() {
    let (service, store) = start();
    let failed = service.post_json("/api/unreadable", &json!({})).await;
    assert_eq!(
        failed.expect(500)["error"],
        "internal error while handling the request"
    );
    service
        .post_json("/api/notes", &json!({"id": "n1", "text": "after"}))
        .await
        .expect(200);
    assert_eq!(store.count().unwrap(), 1);
}

#[tokio::test]
async fn a_put_batch_with_an_event_the_model_panics_on_is_refused_whole_naming_it() {
    let (service, store) = start();
    let put = |events: serde_json::Value| {
        service.send(
            Request::post("/api/events")
                .header("authorization", bearer(PEER_TOKEN))
                .header("content-type", "application/json")
                .body(Body::from(events.to_string()))
                .unwrap(),
        )
    };
    let good = written("e-1", "n1", "fine");
    let bad = written("e-2", "n2", "apply-boom");
    let refused = put(json!([good, bad])).await;
    let answer = refused.expect(400);
    assert_eq!(answer["index"], 1, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(error.contains("panicked"), "{answer}");
    assert!(
        !error.contains("fragile"),
        "the panic's message stays in the log: {error}"
    );
    assert_eq!(store.count().unwrap(), 0, "all or nothing");
    assert_eq!(text(&service, "n1"), None, "nor applied");
    assert_eq!(text(&service, "n2"), None);

    put(json!([good])).await.expect(200);
    assert_eq!(store.count().unwrap(), 1);
    assert_eq!(text(&service, "n1").as_deref(), Some("fine"));
    assert_eq!(panics_caught(&service, "apply").await, 1);
}
