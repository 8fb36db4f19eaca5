//! putEvents: the three CloudEvents HTTP modes, dispositions, all-or-nothing, 400/413/415.

use axum::body::Body;
use axum::http::Request;
use concord_core::EventReader;
use serde_json::{json, Value};

use crate::common::*;

const STRUCTURED: &str = "application/cloudevents+json";
const BATCHED: &str = "application/cloudevents-batch+json";

/// A putEvents answer without its `store_id`, which must be there.
fn report(answer: &Value) -> Value {
    let mut answer = answer.clone();
    let store = answer.as_object_mut().unwrap().remove("store_id");
    assert!(
        store
            .as_ref()
            .and_then(Value::as_str)
            .is_some_and(|id| !id.is_empty()),
        "a report names the receiving store: {answer}"
    );
    answer
}

fn accepted(id: &str) -> Value {
    json!({"id": id, "status": "accepted"})
}

#[tokio::test]
async fn structured_mode_takes_one_event() {
    let service = Service::start();
    let body = written("e1", "n1", "hello").to_string();
    let reply = service.post("/api/events", STRUCTURED, body.clone()).await;
    assert_eq!(
        &report(reply.expect(200)),
        &json!({"accepted": 1, "duplicates": 0, "conflicts": 0, "ignored": 0, "results": [accepted("e1")]})
    );
    assert_eq!(service.count(), 1);
    // The event is applied through the one path: the query sees it.
    let note = service.get("/api/notes/n1").await;
    assert_eq!(note.expect(200)["text"], "hello");

    let again = service.post("/api/events", STRUCTURED, body).await;
    assert_eq!(
        &report(again.expect(200)),
        &json!({"accepted": 0, "duplicates": 1, "conflicts": 0, "ignored": 0,
                "results": [{"id": "e1", "status": "duplicate"}]})
    );
    assert_eq!(service.count(), 1);

    let array = json!([written("e2", "n2", "x")]).to_string();
    let reply = service.post("/api/events", STRUCTURED, array).await;
    assert_eq!(
        reply.expect(400)["error"],
        "a application/cloudevents+json body is one event object; \
         send a batch as application/cloudevents-batch+json"
    );
    assert_eq!(service.count(), 1);
}

#[tokio::test]
async fn batched_mode_reports_each_event() {
    let service = Service::start();
    let batch = json!([
        written("e1", "n1", "a"),
        event(
            "e2",
            "stranger",
            "noteWritten",
            3,
            json!({"noteId": "n2", "text": "b"})
        ),
        event("e3", PEER, "somethingElse", 4, json!({"anything": 1})),
        tagged("e4", "n1", "urgent"),
        written("e1", "n1", "a"),
    ]);
    let reply = service
        .post("/api/events", BATCHED, batch.to_string())
        .await;
    assert_eq!(
        &report(reply.expect(200)),
        &json!({
            "accepted": 2, "duplicates": 1, "conflicts": 0, "ignored": 2,
            "results": [
                accepted("e1"),
                {"id": "e2", "status": "ignored",
                 "reason": "this service does not accept noteWritten from stranger"},
                {"id": "e3", "status": "ignored",
                 "reason": "type somethingElse is outside this service's event catalogue"},
                accepted("e4"),
                {"id": "e1", "status": "duplicate"},
            ],
        })
    );
    assert_eq!(service.count(), 2);

    let object = written("e5", "n5", "x").to_string();
    let reply = service.post("/api/events", BATCHED, object).await;
    assert_eq!(
        reply.expect(400)["error"],
        "a application/cloudevents-batch+json body is a JSON array of events"
    );

    let empty = service.post("/api/events", BATCHED, "[]").await;
    assert_eq!(
        &report(empty.expect(200)),
        &json!({"accepted": 0, "duplicates": 0, "conflicts": 0, "ignored": 0, "results": []})
    );
}

#[tokio::test]
async fn plain_json_takes_an_array_or_one_object() {
    let service = Service::start();
    let reply = service
        .post_json(
            "/api/events",
            &json!([written("e1", "n1", "a"), written("e2", "n2", "b")]),
        )
        .await;
    assert_eq!(reply.expect(200)["accepted"], 2);
    let reply = service
        .post(
            "/api/events",
            "application/json; charset=utf-8",
            written("e3", "n3", "c").to_string(),
        )
        .await;
    assert_eq!(reply.expect(200)["results"], json!([accepted("e3")]));
    // No content type at all: refused, so a browser's cross-site "simple" post never lands.
    let request = Request::post("/api/events")
        .body(Body::from(written("e4", "n4", "d").to_string()))
        .unwrap();
    service.send(request).await.expect(415);
    assert_eq!(service.count(), 3);
}

fn binary(headers: &[(&str, &str)], body: &str) -> Request<Body> {
    let mut request = Request::post("/api/events");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Body::from(body.to_owned())).unwrap()
}

type Headers<'a> = Vec<(&'a str, &'a str)>;

const BINARY: [(&str, &str); 6] = [
    ("ce-specversion", "1.0"),
    ("ce-id", "b1"),
    ("ce-source", PEER),
    ("ce-type", "noteWritten"),
    ("ce-time", "2026-11-26T10:00:00.5+01:00"),
    ("content-type", "application/json"),
];

#[tokio::test]
async fn binary_mode_reads_ce_headers() {
    let service = Service::start();
    let mut headers = BINARY.to_vec();
    headers.push(("ce-comment", "caf%C3%A9 50%25"));
    let reply = service
        .send(binary(&headers, r#"{"noteId":"n1","text":"binary"}"#))
        .await;
    assert_eq!(
        &report(reply.expect(200)),
        &json!({"accepted": 1, "duplicates": 0, "conflicts": 0, "ignored": 0, "results": [accepted("b1")]})
    );
    let page = service.get("/api/events").await;
    assert_eq!(
        page.expect(200)["events"][0],
        json!({"specversion": "1.0", "id": "b1", "source": PEER, "type": "noteWritten",
               "time": "2026-11-26T10:00:00.5+01:00", "datacontenttype": "application/json",
               "comment": "café 50%", "sequence": 1,
               "data": {"noteId": "n1", "text": "binary"}})
    );

    // Without a content type, binary mode is still recognised by ce-specversion.
    let mut headers: Vec<_> = BINARY[..5].to_vec();
    headers[1] = ("ce-id", "b2");
    let reply = service
        .send(binary(&headers, r#"{"noteId":"n2","text":"x"}"#))
        .await;
    assert_eq!(reply.expect(200)["accepted"], 1);
    assert_eq!(service.count(), 2);
}

#[tokio::test]
async fn binary_mode_errors_name_the_attribute() {
    let service = Service::start();
    let without = |name: &str| -> Vec<(&str, &str)> {
        BINARY.iter().copied().filter(|(n, _)| *n != name).collect()
    };
    // (headers, body, attribute at fault, whole message or "" to skip that check)
    let cases: Vec<(Headers, &str, &str, &str)> = vec![
        (without("ce-id"), r#"{"noteId":"n"}"#, "id", "event at index 0: id: is required"),
        (
            without("ce-time"),
            r#"{"noteId":"n"}"#,
            "time",
            "event at index 0: time: is required",
        ),
        (BINARY.to_vec(), "", "data", "event at index 0: data: is required"),
        (
            BINARY.to_vec(),
            "[1,2]",
            "data",
            "event at index 0: data: must be a JSON object",
        ),
        (
            [&BINARY[..5], &[("content-type", "text/plain")]].concat(),
            "hello",
            "datacontenttype",
            "event at index 0: datacontenttype: \"text/plain\" is not JSON; Concord events carry JSON data",
        ),
        (
            BINARY.to_vec(),
            "hello",
            "data",
            "",
        ),
        (
            [&BINARY[..], &[("ce-Trace-Parent", "x")]].concat(),
            r#"{"noteId":"n","text":"t"}"#,
            "trace-parent",
            "event at index 0: trace-parent: attribute names are lower-case letters and digits (CloudEvents 1.0)",
        ),
        (
            BINARY.to_vec(),
            r#"{"noteId":7,"text":"t"}"#,
            "noteId",
            "event at index 0: noteId: must be a string",
        ),
    ];
    for (headers, body, attribute, message) in cases {
        let reply = service.send(binary(&headers, body)).await;
        let error = reply.expect(400);
        assert_eq!(error["index"], 0, "{error}");
        assert_eq!(error["attribute"], attribute, "{error}");
        if !message.is_empty() {
            assert_eq!(error["error"], message);
        }
    }
    assert_eq!(service.count(), 0);
}

#[tokio::test]
async fn own_and_relayed_events_are_duplicates_and_a_foreign_sequence_is_ignored() {
    let service = Service::start();
    let own = service
        .post_json("/api/notes", &json!({"noteId": "n1", "text": "mine"}))
        .await;
    let own_event = own.expect(200)["events"][0].clone();
    assert_eq!(own_event["sequence"], 1);
    // Its own event coming back (with the sequence it was served with) is a duplicate.
    let reply = service.post_json("/api/events", &own_event).await;
    assert_eq!(reply.expect(200)["duplicates"], 1);

    let mut relayed = written("e1", "n2", "x");
    relayed["sequence"] = json!(977);
    let reply = service.post_json("/api/events", &relayed).await;
    assert_eq!(reply.expect(200)["accepted"], 1);
    let page = service.get("/api/events?after=1").await;
    assert_eq!(page.expect(200)["events"][0]["sequence"], 2);
}

#[tokio::test]
async fn one_malformed_event_stores_nothing_and_names_its_index() {
    let service = Service::start();
    let mut bad_time = written("e3", "n3", "c");
    bad_time["time"] = json!("2026-13-40T00:00:00Z");
    let batch = json!([written("e1", "n1", "a"), written("e2", "n2", "b"), bad_time]);
    let reply = service.post_json("/api/events", &batch).await;
    let error = reply.expect(400);
    assert_eq!(error["index"], 2);
    assert_eq!(error["attribute"], "time");
    assert!(
        error["error"].as_str().unwrap().starts_with(
            "event at index 2: time: \"2026-13-40T00:00:00Z\" is not an RFC 3339 timestamp"
        ),
        "{error}"
    );
    assert_eq!(service.count(), 0);

    // The same when only the catalogue finds it malformed.
    let bad_data = event(
        "e3",
        PEER,
        "noteTagged",
        1,
        json!({"noteId": "n3", "tag": ""}),
    );
    let batch = json!([written("e1", "n1", "a"), written("e2", "n2", "b"), bad_data]);
    let reply = service
        .post("/api/events", BATCHED, batch.to_string())
        .await;
    assert_eq!(
        reply.expect(400),
        &json!({"error": "event at index 2: tag: must not be empty", "index": 2, "attribute": "tag"})
    );
    assert_eq!(service.count(), 0);
    assert_eq!(service.get("/api/notes").await.expect(200), &json!([]));

    // A malformed event of a type outside the catalogue is still malformed as a CloudEvent.
    let mut no_id = event("x", PEER, "somethingElse", 1, json!({}));
    no_id.as_object_mut().unwrap().remove("id");
    let reply = service
        .post_json("/api/events", &json!([written("e1", "n1", "a"), no_id]))
        .await;
    assert_eq!(
        reply.expect(400),
        &json!({"error": "event at index 1: id: is required", "index": 1, "attribute": "id"})
    );
    assert_eq!(service.count(), 0);
}

#[tokio::test]
async fn bodies_that_are_not_events_are_400() {
    let service = Service::start();
    let reply = service
        .post("/api/events", "application/json", "{\"specversion\"")
        .await;
    assert!(reply.expect(400)["error"]
        .as_str()
        .unwrap()
        .starts_with("body is not valid JSON: "));
    let reply = service.post("/api/events", "application/json", "42").await;
    assert_eq!(
        reply.expect(400),
        &json!({"error": "body must be a CloudEvent object or an array of them"})
    );
    let reply = service.post("/api/events", STRUCTURED, "").await;
    assert!(reply.expect(400)["error"]
        .as_str()
        .unwrap()
        .starts_with("body is not valid JSON: "));
}

#[tokio::test]
async fn unsupported_content_types_are_415() {
    let service = Service::start();
    let body = written("e1", "n1", "a").to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/cloudevents+xml",
    ] {
        let reply = service
            .post("/api/events", content_type, body.clone())
            .await;
        let error = reply.expect(415)["error"].as_str().unwrap().to_owned();
        assert!(error.contains(content_type), "{error}");
    }
    assert_eq!(service.count(), 0);
}

#[tokio::test]
async fn bodies_over_16_mib_are_413_and_up_to_it_accepted() {
    let service = Service::start();
    let big = "x".repeat(17 << 20);
    let body = written("e1", "n1", &big).to_string();
    let reply = service.post("/api/events", "application/json", body).await;
    assert_eq!(
        reply.expect(413),
        &json!({"error": "request body is larger than 16 MiB"})
    );
    assert_eq!(service.count(), 0);

    // Just under the limit (well above axum's 2 MB default) goes through: a batch of
    // events each just under the 1 MiB an event may be.
    let text = "y".repeat((1 << 20) - 1024);
    let batch: Vec<Value> = (0..16)
        .map(|i| written(&format!("e{i}"), &format!("n{i}"), &text))
        .collect();
    let body = Value::Array(batch).to_string();
    assert!(body.len() > 15 << 20 && body.len() <= 16 << 20);
    let reply = service.post("/api/events", "application/json", body).await;
    assert_eq!(reply.expect(200)["accepted"], 16);
    assert_eq!(service.count(), 16);
}

#[tokio::test]
async fn an_event_over_the_size_limit_is_400_naming_it() {
    let service = Service::start();
    let small = written("s1", "n1", "fine");
    let big = written("b1", "n2", &"z".repeat(1 << 20));
    let body = Value::Array(vec![small, big]).to_string();
    let reply = service.post("/api/events", "application/json", body).await;
    let answer = reply.expect(400);
    assert_eq!(answer["index"], 1);
    assert!(
        answer["error"].as_str().unwrap().contains("1048576"),
        "{answer}"
    );
    assert_eq!(service.count(), 0, "nothing of the batch is stored");
}

#[tokio::test]
async fn an_event_nested_deeper_than_the_limit_is_400_naming_it() {
    let service = Service::start();
    let mut deep = json!("bottom");
    for _ in 0..125 {
        deep = json!([deep]);
    }
    let mut event = written("d1", "n1", "text");
    event["data"]["extra"] = deep;
    let body = Value::Array(vec![written("ok", "n0", "fine"), event]).to_string();
    let reply = service
        .post("/api/events", "application/cloudevents-batch+json", body)
        .await;
    let answer = reply.expect(400);
    assert_eq!(answer["index"], 1);
    assert!(
        answer["error"].as_str().unwrap().contains("levels deep"),
        "{answer}"
    );
    assert_eq!(service.count(), 0);
}

#[tokio::test]
async fn a_known_id_with_other_content_is_a_conflict() {
    let service = Service::start();
    let genuine = written("c1", "n1", "genuine");
    service
        .post("/api/events", "application/json", genuine.to_string())
        .await
        .expect(200);
    let squatter = written("c1", "n1", "squatted");
    let body = Value::Array(vec![squatter, genuine]).to_string();
    let answer = service.post("/api/events", "application/json", body).await;
    let answer = answer.expect(200);
    assert_eq!(answer["conflicts"], 1);
    assert_eq!(answer["duplicates"], 1);
    assert_eq!(answer["results"][0]["status"], "conflict");
    assert_eq!(answer["results"][1]["status"], "duplicate");
    assert_eq!(service.count(), 1);
}

#[tokio::test]
async fn data_is_stored_as_the_exact_text_received() {
    let service = Service::start();
    // 4.5 MiB of `1e15` once grew to 17 MiB when re-serialised, and the batch became a 413
    // at every peer. Kept as text, it stays what was sent.
    let data = r#"{ "noteId":"n1", "text":"t", "nums":[1e15, 1.50, -0.0, 100000000000000000000] }"#;
    let body = format!(
        r#"{{"specversion":"1.0","id":"x1","source":"{PEER}","type":"noteWritten","time":"2026-11-26T10:00:01Z","data":{data}}}"#
    );
    service
        .post("/api/events", "application/json", body)
        .await
        .expect(200);
    let stored = service
        .store
        .inner
        .read(&concord_core::ReadQuery::after(0, 10))
        .unwrap();
    assert_eq!(stored.events[0].event.data.as_str(), data);
}
