//! The domain's routes: commands (200/400/404/409), queries, path parameters, and the
//! statuses around them (unknown route 404, wrong method 405, store failure 503).

use axum::body::Body;
use axum::http::Request;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn a_command_answers_its_stored_events() {
    let service = Service::start();
    let reply = service
        .post_json("/api/notes", &json!({"noteId": "n1", "text": "hello"}))
        .await;
    let events = reply.expect(200)["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event["type"], "noteWritten");
    assert_eq!(event["source"], NAME);
    assert_eq!(event["sequence"], 1);
    assert_eq!(event["data"], json!({"noteId": "n1", "text": "hello"}));
    assert_eq!(event["id"].as_str().unwrap().len(), 36);
    assert_eq!(service.count(), 1);

    // The same command again changes nothing and raises nothing.
    let again = service
        .post_json("/api/notes", &json!({"noteId": "n1", "text": "hello"}))
        .await;
    assert_eq!(again.expect(200), &json!({"events": []}));
    assert_eq!(service.count(), 1);

    let edit = service
        .post_json("/api/notes/n1/edits", &json!({"text": "bye"}))
        .await;
    assert_eq!(
        edit.expect(200)["events"][0]["data"],
        json!({"noteId": "n1", "text": "bye"})
    );
    assert_eq!(
        service.get("/api/notes/n1").await.expect(200),
        &json!({"noteId": "n1", "text": "bye", "tags": []})
    );
    assert_eq!(
        service.get("/api/notes").await.expect(200),
        &json!([{"noteId": "n1", "text": "bye", "tags": []}])
    );
}

#[tokio::test]
async fn command_refusals_map_to_400_404_409() {
    let service = Service::start();
    service
        .post_json("/api/notes", &json!({"noteId": "n1", "text": "hello"}))
        .await
        .expect(200);

    let invalid = service
        .post_json("/api/notes", &json!({"noteId": "n2", "text": ""}))
        .await;
    assert_eq!(
        invalid.expect(400),
        &json!({"error": "noteId and text must not be empty"})
    );
    let missing = service
        .post_json("/api/notes", &json!({"noteId": "n2"}))
        .await;
    assert_eq!(
        missing.expect(400),
        &json!({"error": "invalid request body: missing field `text`"})
    );
    let not_json = service
        .post("/api/notes", "application/json", "noteId=n2&text=x")
        .await;
    assert!(not_json.expect(400)["error"]
        .as_str()
        .unwrap()
        .starts_with("the request body is not valid JSON: "));
    // Over 64 KiB a body is parsed and handled on the blocking pool, with the same answers.
    let padding = "x".repeat(100 * 1024);
    let large_not_json = service
        .post(
            "/api/notes",
            "application/json",
            format!("{{\"noteId\": \"{padding}"),
        )
        .await;
    assert!(large_not_json.expect(400)["error"]
        .as_str()
        .unwrap()
        .starts_with("the request body is not valid JSON: "));
    let large_missing = service
        .post_json("/api/notes", &json!({"noteId": padding}))
        .await;
    assert_eq!(
        large_missing.expect(400),
        &json!({"error": "invalid request body: missing field `text`"})
    );
    let large = service
        .post_json("/api/notes", &json!({"noteId": "n-large", "text": padding}))
        .await;
    assert_eq!(large.expect(200)["events"][0]["data"]["text"], padding);
    let empty = service.post("/api/notes", "application/json", "").await;
    assert!(empty.expect(400)["error"]
        .as_str()
        .unwrap()
        .starts_with("the request body is not valid JSON: "));

    let unknown = service
        .post_json("/api/notes/n9/edits", &json!({"text": "x"}))
        .await;
    assert_eq!(unknown.expect(404), &json!({"error": "no note n9"}));

    let conflict = service
        .post_json("/api/notes", &json!({"noteId": "n1", "text": "other"}))
        .await;
    assert_eq!(
        conflict.expect(409),
        &json!({"error": "note n1 exists with another text; edit it instead"})
    );
    assert_eq!(
        service.count(),
        2,
        "only the two accepted commands raised events"
    );
}

#[tokio::test]
async fn queries_answer_json_or_404() {
    let service = Service::start();
    assert_eq!(service.get("/api/notes").await.expect(200), &json!([]));
    let missing = service.get("/api/notes/n1").await;
    assert_eq!(missing.expect(404), &json!({"error": "no note n1"}));
    // Placeholders made by external events count as known.
    service
        .post_json("/api/events", &tagged("t1", "n1", "urgent"))
        .await
        .expect(200);
    assert_eq!(
        service.get("/api/notes/n1").await.expect(200),
        &json!({"noteId": "n1", "text": null, "tags": ["urgent"]})
    );
}

#[tokio::test]
async fn path_parameters_are_percent_decoded() {
    let service = Service::start();
    service
        .post_json("/api/notes", &json!({"noteId": "a b/ü", "text": "odd"}))
        .await
        .expect(200);
    let reply = service.get("/api/notes/a%20b%2F%C3%BC").await;
    assert_eq!(reply.expect(200)["noteId"], "a b/ü");
    let edit = service
        .post_json("/api/notes/a%20b%2F%C3%BC/edits", &json!({"text": "x"}))
        .await;
    assert_eq!(edit.expect(200)["events"][0]["data"]["noteId"], "a b/ü");
    let bad = service.get("/api/notes/%FF").await;
    assert_eq!(
        bad.expect(400),
        &json!({"error": "path parameter noteId is not UTF-8 once percent-decoded", "parameter": "noteId"})
    );
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_in_json() {
    let service = Service::start();
    let reply = service.get("/api/nothing").await;
    assert_eq!(
        reply.expect(404),
        &json!({"error": "no route GET /api/nothing"})
    );
    let reply = service
        .post_json("/api/notes/n1/edits/more", &json!({}))
        .await;
    assert_eq!(
        reply.expect(404),
        &json!({"error": "no route POST /api/notes/n1/edits/more"})
    );

    let cases = [
        ("PUT", "/api/notes", "GET,HEAD,POST"),
        ("DELETE", "/api/notes/n1", "GET,HEAD"),
        ("GET", "/api/notes/n1/edits", "POST"),
        ("PATCH", "/api/events", "GET,HEAD,POST"),
        ("POST", "/health", "GET,HEAD"),
        ("DELETE", "/api/sync", "GET,HEAD,POST"),
        ("POST", "/api/openapi.json", "GET,HEAD"),
        ("POST", "/", "GET,HEAD"),
    ];
    for (method, path, allow) in cases {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let reply = service.send(request).await;
        assert_eq!(
            reply.expect(405),
            &json!({"error": format!("method {method} is not allowed on {path}")}),
        );
        let mut allowed: Vec<&str> = reply.headers["allow"]
            .to_str()
            .unwrap()
            .split(',')
            .collect();
        allowed.sort();
        assert_eq!(allowed.join(","), allow, "{method} {path}");
    }
}

#[tokio::test]
async fn a_failing_store_is_503_never_500() {
    let service = Service::start();
    service
        .post_json("/api/notes", &json!({"noteId": "n1", "text": "hello"}))
        .await
        .expect(200);
    service.store.set_failing(true);

    let command = service
        .post_json("/api/notes", &json!({"noteId": "n2", "text": "x"}))
        .await;
    assert_eq!(
        command.expect(503),
        &json!({"error": "the event store failed: storage failure: storage failure (injected)"})
    );
    let put = service
        .post_json("/api/events", &written("e1", "n3", "x"))
        .await;
    assert_eq!(
        put.expect(503)["error"],
        "the event store failed: storage failure: storage failure (injected)"
    );
    let read = service.get("/api/events").await;
    assert_eq!(
        read.expect(503),
        &json!({"error": "storage failure: storage failure (injected)"})
    );
    let health = service.get("/health").await;
    assert_eq!(
        health.expect(503),
        &json!({"error": "storage failure: storage failure (injected)"})
    );

    // The model was rebuilt from the store: nothing of the failed batch is visible.
    service.store.set_failing(false);
    assert_eq!(
        service
            .get("/api/notes")
            .await
            .expect(200)
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(service.get("/health").await.expect(200)["events"], 1);
}

#[tokio::test]
async fn a_stopped_host_is_503() {
    let service = Service::start();
    service.host.shutdown();
    let command = service
        .post_json("/api/notes", &json!({"noteId": "n1", "text": "x"}))
        .await;
    assert_eq!(
        command.expect(503),
        &json!({"error": "the service is shutting down"})
    );
    let put = service
        .post_json("/api/events", &written("e1", "n1", "x"))
        .await;
    assert_eq!(
        put.expect(503),
        &json!({"error": "the service is shutting down"})
    );
}
