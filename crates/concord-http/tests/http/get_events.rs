//! getEvents: paging, filters, next_after/has_more, and every 400.

use serde_json::{json, Value};

use crate::common::*;

/// Stores events through putEvents; each must be accepted.
async fn seed(service: &Service, events: Vec<Value>) {
    let n = events.len();
    let reply = service
        .post_json("/api/events", &Value::Array(events))
        .await;
    assert_eq!(reply.expect(200)["accepted"], n, "{}", reply.body);
}

fn ids(page: &Value) -> Vec<&str> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect()
}

fn sequences(page: &Value) -> Vec<u64> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sequence"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn pages_with_next_after_and_has_more() {
    let service = Service::start();
    seed(
        &service,
        (1..=5)
            .map(|i| written(&format!("e{i}"), &format!("n{i}"), "x"))
            .collect(),
    )
    .await;

    let first = service.get("/api/events?limit=2").await;
    let page = first.expect(200);
    assert_eq!(ids(page), ["e1", "e2"]);
    assert_eq!(sequences(page), [1, 2]);
    assert_eq!(
        (page["next_after"].clone(), page["has_more"].clone()),
        (json!(2), json!(true))
    );
    // An event comes back exactly as it was posted, plus its sequence here.
    let mut expected = written("e1", "n1", "x");
    expected["sequence"] = json!(1);
    assert_eq!(page["events"][0], expected);

    let page = service
        .get("/api/events?after=2&limit=2")
        .await
        .expect(200)
        .clone();
    assert_eq!(ids(&page), ["e3", "e4"]);
    assert_eq!(page["next_after"], 4);
    assert_eq!(page["has_more"], true);

    let page = service
        .get("/api/events?after=4&limit=2")
        .await
        .expect(200)
        .clone();
    assert_eq!(ids(&page), ["e5"]);
    assert_eq!(
        (page["next_after"].clone(), page["has_more"].clone()),
        (json!(5), json!(false))
    );

    let mut page = service.get("/api/events?after=5").await.expect(200).clone();
    let store_id = page.as_object_mut().unwrap().remove("store_id").unwrap();
    assert!(
        store_id.as_str().is_some_and(|id| !id.is_empty()),
        "{store_id}"
    );
    assert_eq!(
        page,
        json!({"events": [], "next_after": 5, "has_more": false, "last_sequence": 5})
    );

    let all = service.get("/api/events").await;
    assert_eq!(all.content_type(), "application/json");
    assert_eq!(sequences(all.expect(200)), [1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn empty_store() {
    let service = Service::start();
    let reply = service.get("/api/events").await;
    let mut page = reply.expect(200).clone();
    page.as_object_mut().unwrap().remove("store_id");
    assert_eq!(
        page,
        json!({"events": [], "next_after": 0, "has_more": false, "last_sequence": 0})
    );
}

#[tokio::test]
async fn filters_by_type_source_and_data() {
    let service = Service::start();
    let mut prioritised = written("e4", "n3", "later");
    prioritised["data"]["priority"] = json!(3);
    seed(
        &service,
        vec![
            written("e1", "n1", "a"),
            tagged("e2", "n1", "urgent"),
            tagged("e3", "n2", "later"),
            prioritised,
        ],
    )
    .await;
    // One event of this service's own, from a command.
    service
        .post_json("/api/notes", &json!({"noteId": "n9", "text": "mine"}))
        .await
        .expect(200);

    let cases: &[(&str, &[&str])] = &[
        ("type=noteTagged", &["e2", "e3"]),
        (
            "type=noteTagged,noteWritten",
            &["e1", "e2", "e3", "e4", "OWN"],
        ),
        (
            "type=noteTagged&type=noteWritten",
            &["e1", "e2", "e3", "e4", "OWN"],
        ),
        ("type=nothing", &[]),
        ("source=notes", &["OWN"]),
        ("source=other-notes&type=noteWritten", &["e1", "e4"]),
        ("source=notes,other-notes&data.noteId=n1", &["e1", "e2"]),
        ("data.tag=urgent", &["e2"]),
        ("data.noteId=n1&data.tag=urgent", &["e2"]),
        ("data.noteId=n2&data.tag=urgent", &[]),
        ("data.priority=3", &["e4"]),
        ("data.text=mine", &["OWN"]),
        ("data.tag=%22urgent%22", &[]),
    ];
    for (query, expected) in cases {
        let page = service.get(&format!("/api/events?{query}")).await;
        let got: Vec<&str> = ids(page.expect(200))
            .into_iter()
            .map(|id| if id.len() == 36 { "OWN" } else { id })
            .collect();
        assert_eq!(&got, expected, "{query}");
        assert_eq!(
            page.body["next_after"], 5,
            "{query}: everything was examined"
        );
        assert_eq!(page.body["has_more"], false, "{query}");
    }
}

#[tokio::test]
async fn a_sparse_filter_advances_next_after_past_what_it_skipped() {
    let service = Service::start();
    seed(
        &service,
        vec![
            tagged("t1", "n1", "a"),
            written("w1", "n1", "a"),
            written("w2", "n2", "a"),
            tagged("t2", "n2", "b"),
            written("w3", "n3", "a"),
        ],
    )
    .await;
    let page = service.get("/api/events?type=noteTagged&limit=1").await;
    let page = page.expect(200);
    assert_eq!(ids(page), ["t1"]);
    assert_eq!(
        (page["next_after"].clone(), page["has_more"].clone()),
        (json!(1), json!(true))
    );
    let page = service
        .get("/api/events?type=noteTagged&limit=1&after=1")
        .await;
    let page = page.expect(200);
    assert_eq!(ids(page), ["t2"]);
    assert_eq!(page["next_after"], 4);
    assert_eq!(page["has_more"], true);
    let page = service
        .get("/api/events?type=noteTagged&limit=1&after=4")
        .await;
    let mut page = page.expect(200).clone();
    page.as_object_mut().unwrap().remove("store_id");
    assert_eq!(
        page,
        json!({"events": [], "next_after": 5, "has_more": false, "last_sequence": 5})
    );
}

#[tokio::test]
async fn default_limit_is_1000_and_the_maximum_10000() {
    let service = Service::start();
    let events: Vec<Value> = (0..10_001)
        .map(|i| written(&format!("e{i}"), "n", "x"))
        .collect();
    seed(&service, events).await;

    let page = service.get("/api/events").await;
    let page = page.expect(200);
    assert_eq!(page["events"].as_array().unwrap().len(), 1000);
    assert_eq!(
        (page["next_after"].clone(), page["has_more"].clone()),
        (json!(1000), json!(true))
    );

    for limit in ["10000", "10001", "50000", "99999999999999999999999"] {
        let page = service.get(&format!("/api/events?limit={limit}")).await;
        let page = page.expect(200);
        assert_eq!(page["events"].as_array().unwrap().len(), 10_000, "{limit}");
        assert_eq!(page["next_after"], 10_000, "{limit}");
        assert_eq!(page["has_more"], true, "{limit}");
    }
    let page = service.get("/api/events?after=10000&limit=10000").await;
    let page = page.expect(200);
    assert_eq!(ids(page), ["e10000"]);
    assert_eq!(page["has_more"], false);
}

#[tokio::test]
async fn every_malformed_query_is_a_400_naming_the_parameter() {
    let service = Service::start();
    let cases = [
        (
            "after=-1",
            "after",
            "after must be a non-negative integer, found \"-1\"",
        ),
        (
            "after=",
            "after",
            "after must be a non-negative integer, found \"\"",
        ),
        (
            "after=abc",
            "after",
            "after must be a non-negative integer, found \"abc\"",
        ),
        (
            "after=1.0",
            "after",
            "after must be a non-negative integer, found \"1.0\"",
        ),
        (
            "after=%2B1",
            "after",
            "after must be a non-negative integer, found \"+1\"",
        ),
        ("after=1&after=2", "after", "after is given more than once"),
        ("limit=0", "limit", "limit must be at least 1"),
        (
            "limit=-5",
            "limit",
            "limit must be a non-negative integer, found \"-5\"",
        ),
        (
            "limit=many",
            "limit",
            "limit must be a non-negative integer, found \"many\"",
        ),
        (
            "limit=",
            "limit",
            "limit must be a non-negative integer, found \"\"",
        ),
        ("limit=5&limit=6", "limit", "limit is given more than once"),
        (
            "types=noteWritten",
            "types",
            "unknown query parameter \"types\" (known: type, source, after, limit, data.FIELD)",
        ),
        (
            "after=0&sort=desc",
            "sort",
            "unknown query parameter \"sort\" (known: type, source, after, limit, data.FIELD)",
        ),
        (
            "data.=x",
            "data.",
            "a data filter names its field: data.FIELD=VALUE",
        ),
    ];
    for (query, parameter, message) in cases {
        let reply = service.get(&format!("/api/events?{query}")).await;
        assert_eq!(
            reply.expect(400),
            &json!({"error": message, "parameter": parameter}),
            "{query}"
        );
    }
}

#[tokio::test]
async fn an_after_beyond_any_store_is_an_empty_page_not_a_503() {
    let service = Service::start();
    seed(&service, vec![written("e1", "n1", "hello")]).await;
    for after in [
        "9223372036854775808",
        "18446744073709551615",
        "99999999999999999999999",
    ] {
        let page = service.get(&format!("/api/events?after={after}")).await;
        let page = page.expect(200);
        assert_eq!(page["events"], json!([]), "after={after}");
        assert_eq!(page["has_more"], false);
        assert_eq!(
            page["last_sequence"], 1,
            "the real end of the log, to tell a reader its cursor is beyond it"
        );
    }
}

#[tokio::test]
async fn pages_are_bounded_by_bytes_as_well_as_by_count() {
    let service = Service::start();
    let text = "b".repeat(900 * 1024);
    let batch: Vec<Value> = (0..8)
        .map(|i| written(&format!("e{i}"), &format!("n{i}"), &text))
        .collect();
    seed(&service, batch).await;
    let page = service.get("/api/events?limit=100").await;
    let page = page.expect(200);
    let taken = page["events"].as_array().unwrap().len();
    assert!(
        (1..8).contains(&taken),
        "a 7 MiB log does not come in one page: {taken}"
    );
    assert_eq!(page["has_more"], true);
    assert_eq!(page["next_after"], taken);
}
