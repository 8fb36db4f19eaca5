//! The OpenAPI document against the router, both ways: every documented operation is served,
//! every method the document does not list on a path is refused, and every route this test
//! knows the service to have (the shell's and the domain's) is documented.

use axum::body::Body;
use axum::http::Request;
use concord_core::ServiceSpec;
use serde_json::{json, Value};

use crate::common::*;

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"];

#[tokio::test]
async fn the_document_describes_exactly_what_the_router_serves() {
    let service = Service::start();
    let reply = service.get("/api/openapi.json").await;
    assert_eq!(reply.content_type(), "application/json");
    let doc = reply.expect(200).clone();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "notes");
    let paths = doc["paths"].as_object().unwrap();

    // Everything known to exist is documented, with the right method.
    let mut expected: Vec<(String, String)> = [
        ("GET", "/"),
        ("GET", "/health"),
        ("GET", "/api/events"),
        ("POST", "/api/events"),
        ("GET", "/api/keys"),
        ("GET", "/api/sync"),
        ("POST", "/api/sync"),
        ("GET", "/api/openapi.json"),
        ("GET", "/api/asyncapi.json"),
        ("POST", "/ui/command"),
        ("POST", "/ui/sync"),
        ("GET", "/login"),
        ("POST", "/login"),
        ("POST", "/logout"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    for route in &notes_spec().api().routes {
        expected.push((route.method().to_owned(), route.path.to_owned()));
    }
    let mut documented = Vec::new();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.to_ascii_uppercase(), path.clone()));
        }
    }
    expected.sort();
    documented.sort();
    assert_eq!(documented, expected);

    // Each documented path serves exactly its documented methods.
    for (path, item) in paths {
        let concrete = path.replace("{noteId}", "n1");
        for method in METHODS {
            let request = Request::builder()
                .method(method)
                .uri(&concrete)
                .header("content-type", "application/json")
                .body(Body::from("{}"))
                .unwrap();
            let reply = service.send(request).await;
            let documented = item.get(method.to_ascii_lowercase()).is_some();
            if documented {
                assert_ne!(reply.status, 405, "{method} {path}: {}", reply.body);
                assert!(
                    !reply.body["error"]
                        .as_str()
                        .is_some_and(|e| e.starts_with("no route")),
                    "{method} {path} is documented but not routed: {}",
                    reply.body
                );
            } else {
                assert_eq!(
                    reply.status, 405,
                    "{method} {path} is served but not documented"
                );
            }
        }
    }
}

#[tokio::test]
async fn domain_operations_carry_summary_schema_and_path_parameters() {
    let service = Service::start();
    let doc = service.get("/api/openapi.json").await.expect(200).clone();
    for route in &notes_spec().api().routes {
        let op = &doc["paths"][route.path][route.method().to_ascii_lowercase()];
        assert_eq!(op["summary"], route.summary, "{}", route.path);
        let schema = if route.method() == "POST" {
            &op["requestBody"]["content"]["application/json"]["schema"]
        } else {
            &op["responses"]["200"]["content"]["application/json"]["schema"]
        };
        assert_eq!(schema, &route.schema, "{}", route.path);
        let params: Vec<&Value> = op["parameters"].as_array().unwrap().iter().collect();
        if route.path.contains("{noteId}") {
            assert_eq!(params.len(), 1);
            assert_eq!(params[0]["name"], "noteId");
            assert_eq!(params[0]["in"], "path");
            assert_eq!(params[0]["required"], true);
        } else if route.path == "/api/notes" && route.method() == "GET" {
            // A list: its paging parameters, and the Link header of its answer.
            let names: Vec<&str> = params.iter().map(|p| p["name"].as_str().unwrap()).collect();
            assert_eq!(names, ["limit", "cursor", "q"]);
            assert!(params
                .iter()
                .all(|p| p["in"] == "query" && p["required"] == false));
            let limit = &params[0]["schema"];
            assert_eq!(
                (&limit["minimum"], &limit["maximum"], &limit["default"]),
                (&json!(1), &json!(1000), &json!(100))
            );
            assert_eq!(params[2]["schema"]["maxLength"], 256);
            let ok = &op["responses"]["200"];
            assert_eq!(ok["headers"]["Link"]["schema"]["type"], "string");
            assert!(ok["headers"]["Link"]["description"]
                .as_str()
                .unwrap()
                .contains("rel=\"next\""));
            assert!(op["responses"]["400"].is_object());
        } else {
            assert!(params.is_empty());
        }
    }
    // Every $ref points at a schema the document defines.
    let text = doc.to_string();
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &piece[..piece.find('"').unwrap()];
        assert!(doc["components"]["schemas"].get(name).is_some(), "{name}");
    }
    let put = &doc["paths"]["/api/events"]["post"]["requestBody"]["content"];
    for ct in [
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
        "application/json",
    ] {
        assert!(put.get(ct).is_some(), "{ct}");
    }
}
