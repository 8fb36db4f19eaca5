//! The guard, tried as an attacker and a careless peer would: every route without a token,
//! with a made-up one, with another peer's; forged sources in batches of every HTTP mode;
//! reads beyond a peer's scope; cross-site posts; the GUI's cookie on the API; foreign
//! `Host` names. Nothing refused may store anything.

use axum::body::Body;
use axum::http::Request;
use base64::Engine;
use concord_core::{EventReader, ReadQuery};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::*;

/// Who presents what.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Nobody,
    Unknown,
    Third,
    Peer,
    Operator,
}

impl Who {
    fn token(self) -> Option<&'static str> {
        match self {
            Who::Nobody => None,
            Who::Unknown => Some(UNKNOWN_TOKEN),
            Who::Third => Some(THIRD_TOKEN),
            Who::Peer => Some(PEER_TOKEN),
            Who::Operator => Some(OPERATOR_TOKEN),
        }
    }
}

const ALL: [Who; 5] = [
    Who::Nobody,
    Who::Unknown,
    Who::Third,
    Who::Peer,
    Who::Operator,
];

fn request(
    method: &str,
    uri: &str,
    who: Who,
    content_type: Option<&str>,
    body: impl Into<Body>,
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(token) = who.token() {
        builder = builder.header("authorization", bearer(token));
    }
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    builder.body(body.into()).unwrap()
}

/// A route as the attacker calls it, and who may.
struct Route {
    method: &'static str,
    path: &'static str,
    /// The path as documented in the OpenAPI document.
    documented: &'static str,
    content_type: Option<&'static str>,
    body: String,
    /// Peers allowed here (`Third` has no scopes: it may neither read nor deliver).
    peers: &'static [Who],
    gui: bool,
}

fn routes() -> Vec<Route> {
    let batch = json!([written("p1", "n1", "a"), tagged("p2", "n1", "x")]).to_string();
    let route = |method, path, documented, content_type, body: &str, peers, gui| Route {
        method,
        path,
        documented,
        content_type,
        body: body.to_owned(),
        peers,
        gui,
    };
    let json = Some("application/json");
    let form = Some("application/x-www-form-urlencoded");
    vec![
        route(
            "GET",
            "/api/events",
            "/api/events",
            None,
            "",
            &[Who::Peer],
            false,
        ),
        route(
            "POST",
            "/api/events",
            "/api/events",
            json,
            &batch,
            &[Who::Peer],
            false,
        ),
        route("GET", "/api/sync", "/api/sync", None, "", &[], false),
        route("GET", "/api/keys", "/api/keys", None, "", &[], false),
        route("POST", "/api/sync", "/api/sync", json, "{}", &[], false),
        route(
            "GET",
            "/api/openapi.json",
            "/api/openapi.json",
            None,
            "",
            &[],
            false,
        ),
        route(
            "GET",
            "/api/asyncapi.json",
            "/api/asyncapi.json",
            None,
            "",
            &[],
            false,
        ),
        route("GET", "/api/notes", "/api/notes", None, "", &[], false),
        route(
            "POST",
            "/api/notes",
            "/api/notes",
            json,
            r#"{"noteId":"n2","text":"by the operator"}"#,
            &[],
            false,
        ),
        route(
            "GET",
            "/api/notes/n1",
            "/api/notes/{noteId}",
            None,
            "",
            &[],
            false,
        ),
        route(
            "POST",
            "/api/notes/n2/edits",
            "/api/notes/{noteId}/edits",
            json,
            r#"{"text":"edited"}"#,
            &[],
            false,
        ),
        route(
            "POST",
            "/api/notes/n2/ratings",
            "/api/notes/{noteId}/ratings",
            json,
            r#"{"stars":3,"pinned":true}"#,
            &[],
            false,
        ),
        route("GET", "/", "/", None, "", &[], true),
        route(
            "POST",
            "/ui/command",
            "/ui/command",
            form,
            "_action=%2Fapi%2Fnotes&noteId=n3&text=from+a+form",
            &[],
            true,
        ),
        route("POST", "/ui/sync", "/ui/sync", form, "", &[], true),
        route("GET", "/nowhere", "", None, "", &[], false),
    ]
}

#[tokio::test]
async fn every_route_needs_a_credential_and_refusals_store_nothing() {
    let service = Service::start();
    // Something to read, and a note the operator's commands can edit.
    service
        .post_json("/api/notes", &json!({"noteId": "n1", "text": "first"}))
        .await
        .expect(200);

    // The table covers every documented operation that needs a credential.
    let doc = service.get("/api/openapi.json").await.expect(200).clone();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if operation.get("security") == Some(&json!([])) {
                continue;
            }
            assert!(
                routes()
                    .iter()
                    .any(|r| r.documented == path && r.method.eq_ignore_ascii_case(method)),
                "{method} {path} is not tried here"
            );
        }
    }

    for route in routes() {
        for who in ALL {
            let before = service.count();
            let reply = service
                .send_raw(request(
                    route.method,
                    route.path,
                    who,
                    route.content_type,
                    route.body.clone(),
                ))
                .await;
            let status = reply.status.as_u16();
            let what = format!("{} {} as {who:?}: {}", route.method, route.path, reply.body);
            let expected = match who {
                Who::Nobody | Who::Unknown => 401,
                Who::Third | Who::Peer if !route.peers.contains(&who) => 403,
                _ => 0,
            };
            if expected == 0 {
                assert!(
                    status < 400 || route.path == "/nowhere",
                    "allowed, so not refused: {what}"
                );
                if route.path == "/nowhere" {
                    assert_eq!(status, 404, "{what}");
                }
                continue;
            }
            assert_eq!(status, expected, "{what}");
            assert_eq!(service.count(), before, "a refusal stored nothing: {what}");
            if route.gui {
                assert!(reply.content_type().starts_with("text/html"), "{what}");
                assert!(
                    reply.body.as_str().unwrap().contains("action=\"/login\""),
                    "{what}"
                );
            } else {
                reply.expect(expected);
            }
            if expected == 401 {
                let challenge = reply.headers["www-authenticate"].to_str().unwrap();
                assert!(challenge.starts_with("Bearer"), "{what}");
                assert_eq!(
                    challenge.contains("invalid_token"),
                    who == Who::Unknown,
                    "{what}"
                );
            }
        }
    }
    // Open without a credential: health, and the login page.
    for path in ["/health", "/login"] {
        let reply = service
            .send_raw(request("GET", path, Who::Nobody, None, ""))
            .await;
        assert_eq!(reply.status, 200, "{path}");
    }
}

/// 100 events from the peer, one of them (index 57) claiming another source.
fn forged_batch() -> Vec<Value> {
    (0..100)
        .map(|i| {
            if i == 57 {
                event(
                    "forged",
                    THIRD,
                    "noteWritten",
                    3,
                    json!({"noteId": "n1", "text": "forged"}),
                )
            } else {
                written(&format!("w{i}"), &format!("n{i}"), "genuine")
            }
        })
        .collect()
}

#[tokio::test]
async fn a_forged_source_refuses_the_whole_batch_in_every_mode() {
    let service = Service::start();
    let batch = forged_batch();
    for content_type in ["application/json", "application/cloudevents-batch+json"] {
        let reply = service
            .send_raw(request(
                "POST",
                "/api/events",
                Who::Peer,
                Some(content_type),
                Value::Array(batch.clone()).to_string(),
            ))
            .await;
        let body = reply.expect(403);
        assert_eq!(body["index"], 57, "{content_type}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(
            message.starts_with("event at index 57: peer other-notes may not deliver noteWritten events with source third-notes"),
            "{message}"
        );
        assert_eq!(service.count(), 0, "nothing of the batch is stored");
    }
    // Structured mode: the forged event alone.
    let reply = service
        .send_raw(request(
            "POST",
            "/api/events",
            Who::Peer,
            Some("application/cloudevents+json"),
            batch[57].to_string(),
        ))
        .await;
    assert_eq!(reply.expect(403)["index"], 0);
    // Binary mode: the forged attributes in headers.
    let binary = Request::post("/api/events")
        .header("authorization", bearer(PEER_TOKEN))
        .header("content-type", "application/json")
        .header("ce-specversion", "1.0")
        .header("ce-id", "forged-binary")
        .header("ce-source", THIRD)
        .header("ce-type", "noteWritten")
        .header("ce-time", "2026-11-26T10:00:03Z")
        .body(Body::from(r#"{"noteId":"n1","text":"forged"}"#))
        .unwrap();
    assert_eq!(service.send_raw(binary).await.expect(403)["index"], 0);
    // Its own source, but a type this service does not take from it.
    let unaccepted = event("r1", PEER, "noteRated", 1, json!({"noteId": "n1"}));
    let reply = service
        .send_raw(request(
            "POST",
            "/api/events",
            Who::Peer,
            Some("application/json"),
            json!([written("ok", "n1", "fine"), unaccepted]).to_string(),
        ))
        .await;
    assert_eq!(reply.expect(403)["index"], 1);
    assert_eq!(service.count(), 0);

    // The operator may deliver anything (the acceptance policy still decides what is kept).
    let reply = service
        .post_json("/api/events", &Value::Array(batch.clone()))
        .await;
    let body = reply.expect(200);
    assert_eq!(
        (body["accepted"].as_u64(), body["ignored"].as_u64()),
        (Some(99), Some(1))
    );
    // And the peer, once honest, may deliver its own.
    let honest: Vec<Value> = (0..100)
        .map(|i| written(&format!("h{i}"), &format!("m{i}"), "honest"))
        .collect();
    let reply = service
        .send_raw(request(
            "POST",
            "/api/events",
            Who::Peer,
            Some("application/cloudevents-batch+json"),
            Value::Array(honest).to_string(),
        ))
        .await;
    assert_eq!(reply.expect(200)["accepted"], 100);
}

#[tokio::test]
async fn a_peer_reads_only_its_scope_and_pages_exactly() {
    let service = Service::start();
    // 30 events: noteWritten (in the peer's read scope) and noteTagged (outside), and a tail
    // of tags after the last note.
    let mut events = Vec::new();
    for i in 0..20 {
        events.push(written(&format!("w{i}"), &format!("n{i}"), "text"));
        if i % 2 == 0 {
            events.push(tagged(&format!("t{i}"), &format!("n{i}"), "secret"));
        }
    }
    for i in 0..5 {
        events.push(tagged(&format!("z{i}"), "n0", "tail"));
    }
    service
        .post_json("/api/events", &Value::Array(events))
        .await
        .expect(200);
    let last = service.store.inner.last_sequence().unwrap();
    assert_eq!(last, 35);

    let read = |who: Who, query: String| {
        let service = &service;
        async move {
            let reply = service
                .send_raw(request(
                    "GET",
                    &format!("/api/events?{query}"),
                    who,
                    None,
                    "",
                ))
                .await;
            reply.expect(200).clone()
        }
    };
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let page = read(Who::Peer, format!("after={after}&limit=6")).await;
        for event in page["events"].as_array().unwrap() {
            assert_eq!(event["type"], "noteWritten", "{event}");
            seen.push(event["id"].as_str().unwrap().to_owned());
        }
        let next_after = page["next_after"].as_u64().unwrap();
        assert_eq!(page["has_more"], next_after < last, "{page}");
        after = next_after;
        if page["has_more"] == false {
            break;
        }
    }
    assert_eq!(seen.len(), 20, "every note, once: {seen:?}");
    assert_eq!(after, last, "the reader ends past the tags it may not see");

    // Asking for what it may not see yields nothing, exactly paged.
    let tags = read(Who::Peer, "type=noteTagged".into()).await;
    assert_eq!(tags["events"], json!([]));
    assert_eq!(
        (tags["next_after"].as_u64(), tags["has_more"].as_bool()),
        (Some(last), Some(false))
    );
    // A peer without a read scope may read nothing here: 403, not a silent empty page.
    let third = service
        .send_raw(request("GET", "/api/events", Who::Third, None, ""))
        .await;
    let refusal = third.expect(403)["error"].as_str().unwrap().to_owned();
    assert!(refusal.contains("may read no events"), "{refusal}");
    // The operator sees everything.
    let all = read(Who::Operator, "limit=100".into()).await;
    assert_eq!(all["events"].as_array().unwrap().len(), 35);
}

#[tokio::test]
async fn posts_that_are_not_json_are_415_and_store_nothing() {
    let service = Service::start();
    service
        .post_json("/api/notes", &json!({"noteId": "n1", "text": "first"}))
        .await
        .expect(200);
    let before = service.count();
    // Every documented POST under /api/, whatever the body would have done.
    let doc = service.get("/api/openapi.json").await.expect(200).clone();
    let posts: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, item)| path.starts_with("/api/") && item.get("post").is_some())
        .map(|(path, _)| path.replace("{noteId}", "n1"))
        .collect();
    assert!(posts.len() >= 5, "{posts:?}");
    let bodies = [
        Value::Array(vec![written("e1", "n2", "a")]).to_string(),
        r#"{"noteId":"n3","text":"a","stars":2,"pinned":false}"#.to_owned(),
    ];
    for path in &posts {
        for body in &bodies {
            for content_type in [
                Some("text/plain"),
                Some("application/x-www-form-urlencoded"),
                Some("multipart/form-data; boundary=x"),
                None,
            ] {
                let reply = service
                    .send(request(
                        "POST",
                        path,
                        Who::Operator,
                        content_type,
                        body.clone(),
                    ))
                    .await;
                assert_eq!(reply.status, 415, "{path} {content_type:?}: {}", reply.body);
                assert_eq!(service.count(), before, "{path} {content_type:?}");
            }
        }
    }
    // Wrong methods stay 405 (the content type is only asked of a route that takes a POST).
    let reply = service
        .send(request(
            "POST",
            "/api/openapi.json",
            Who::Operator,
            Some("text/plain"),
            "",
        ))
        .await;
    reply.expect(405);
}

#[tokio::test]
async fn a_cross_site_no_cors_post_is_refused() {
    let service = Service::start();
    // What `fetch(url, {method: "POST", mode: "no-cors", body})` on another site sends: no
    // credential a browser would add on its own, `text/plain`, that site's Origin.
    let forged_grade = Value::Array(vec![written("x1", "n1", "forged")]).to_string();
    for path in ["/api/events", "/api/notes"] {
        let attack = Request::post(path)
            .header("content-type", "text/plain;charset=UTF-8")
            .header("origin", "https://evil.example")
            .body(Body::from(forged_grade.clone()))
            .unwrap();
        service.send_raw(attack).await.expect(401);
    }
    // The GUI's form route: without a cookie (SameSite=Strict keeps it at home) → 401; even
    // with the operator's session, another Origin → 403.
    let form = "_action=%2Fapi%2Fnotes&noteId=n1&text=forged";
    let attack = Request::post("/ui/command")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "https://evil.example")
        .body(Body::from(form))
        .unwrap();
    assert_eq!(service.send_raw(attack).await.status, 401);
    let cookie = log_in(&service).await;
    let attack = Request::post("/ui/command")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "https://evil.example")
        .header("cookie", &cookie)
        .body(Body::from(form))
        .unwrap();
    assert_eq!(service.send_raw(attack).await.status, 403);
    assert_eq!(service.count(), 0, "nothing was stored");
}

/// Logs in with the operator's token through the form; the `Cookie` header to send.
async fn log_in(service: &Service) -> String {
    let reply = service
        .send_raw(request(
            "POST",
            "/login",
            Who::Nobody,
            Some("application/x-www-form-urlencoded"),
            format!("token={OPERATOR_TOKEN}"),
        ))
        .await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    assert_eq!(reply.headers["location"], "/");
    let set = reply.headers["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_session_cookie_opens_the_gui_but_never_the_api() {
    let service = Service::start();
    let cookie = log_in(&service).await;
    assert!(cookie.starts_with("concord-session-notes="), "{cookie}");
    let with_cookie = |method: &str, path: &str, content_type: Option<&str>, body: &str| {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("cookie", &cookie);
        if let Some(content_type) = content_type {
            builder = builder.header("content-type", content_type);
        }
        builder.body(Body::from(body.to_owned())).unwrap()
    };
    assert_eq!(
        service
            .send_raw(with_cookie("GET", "/", None, ""))
            .await
            .status,
        200
    );
    let form = "_action=%2Fapi%2Fnotes&noteId=n1&text=from+the+page";
    let reply = service
        .send_raw(with_cookie(
            "POST",
            "/ui/command",
            Some("application/x-www-form-urlencoded"),
            form,
        ))
        .await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    assert_eq!(service.count(), 1, "the form's command ran");
    for (method, path, body) in [
        ("GET", "/api/notes", ""),
        ("POST", "/api/notes", r#"{"noteId":"n2","text":"x"}"#),
        ("POST", "/api/events", "[]"),
        ("GET", "/api/events", ""),
    ] {
        let reply = service
            .send_raw(with_cookie(method, path, Some("application/json"), body))
            .await;
        let body = reply.expect(401);
        assert!(
            body["error"].as_str().unwrap().contains("session cookie"),
            "{body}"
        );
    }
    assert_eq!(service.count(), 1);
}

#[tokio::test]
async fn login_by_link_and_form_logout_and_cookie_flags() {
    let service = Service::start();
    // Unauthenticated: the login page, 401, with the bearer challenge.
    let reply = service
        .send_raw(request("GET", "/", Who::Nobody, None, ""))
        .await;
    assert_eq!(reply.status, 401);
    assert!(reply.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let page = reply.body.as_str().unwrap();
    assert!(
        page.contains("<form") && page.contains("name=\"token\""),
        "{page}"
    );

    // A login link: 303 to the bare page, with the session cookie; never cached.
    let reply = service
        .send_raw(request(
            "GET",
            &format!("/?token={OPERATOR_TOKEN}&x=1"),
            Who::Nobody,
            None,
            "",
        ))
        .await;
    assert_eq!(reply.status, 303);
    assert_eq!(reply.headers["location"], "/");
    assert_eq!(reply.headers["cache-control"], "no-store");
    let set = reply.headers["set-cookie"].to_str().unwrap().to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(!set.contains("Secure"), "not over plain HTTP: {set}");
    let cookie = set.split(';').next().unwrap().to_owned();
    let page = |cookie: String| {
        let service = &service;
        async move {
            service
                .send_raw(
                    Request::get("/")
                        .header("cookie", cookie)
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .status
                .as_u16()
        }
    };
    assert_eq!(page(cookie.clone()).await, 200);
    assert_eq!(page("concord-session-notes=made-up".into()).await, 401);
    assert_eq!(
        page(format!("other-{cookie}")).await,
        401,
        "another cookie's name"
    );

    // Bad links and tokens: the login page again, nothing set.
    for (token, status) in [("nonsense", 401), (PEER_TOKEN, 403)] {
        let reply = service
            .send_raw(request(
                "GET",
                &format!("/?token={token}"),
                Who::Nobody,
                None,
                "",
            ))
            .await;
        assert_eq!(reply.status, status, "{token}");
        assert!(reply.headers.get("set-cookie").is_none());
        let reply = service
            .send_raw(request(
                "POST",
                "/login",
                Who::Nobody,
                Some("application/x-www-form-urlencoded"),
                format!("token={token}"),
            ))
            .await;
        assert_eq!(reply.status, status, "{token}");
    }
    // Another site cannot log a browser in.
    let reply = service
        .send_raw(
            Request::post("/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("origin", "https://evil.example")
                .body(Body::from(format!("token={OPERATOR_TOKEN}")))
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, 403);

    // Logging out ends the session on the server, not only in the browser.
    let reply = service
        .send_raw(
            Request::post("/logout")
                .header("cookie", &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, 303);
    assert_eq!(reply.headers["location"], "/login");
    assert!(reply.headers["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(page(cookie).await, 401);
}

#[tokio::test]
async fn cookies_are_secure_when_configured_and_named_per_service() {
    let store: std::sync::Arc<dyn concord_core::EventStore> =
        std::sync::Arc::new(concord_core::store::MemoryStore::new());
    let running = concord_http::start_service(
        &notes_spec(),
        store,
        Box::new(concord_core::runtime::SystemEnv::default()),
        Default::default(),
    )
    .unwrap();
    let config = concord_http::AuthConfig {
        secure_cookies: true,
        cookie_name: Some("concord-notes-7443".into()),
        ..auth_config()
    };
    let service = Service::with_auth(running, &config);
    let reply = service
        .send_raw(request(
            "GET",
            &format!("/?token={OPERATOR_TOKEN}"),
            Who::Nobody,
            None,
            "",
        ))
        .await;
    let set = reply.headers["set-cookie"].to_str().unwrap();
    assert!(set.starts_with("concord-notes-7443="), "{set}");
    assert!(set.contains("; Secure"), "{set}");
}

#[tokio::test]
async fn only_allowed_host_names_are_answered() {
    let service = Service::start();
    for path in ["/health", "/", "/api/events", "/login"] {
        let reply = service
            .send(
                Request::get(path)
                    .header("host", "evil.example:7070")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        reply.expect(421);
    }
    for host in [
        "localhost:7070",
        "127.0.0.1:7070",
        "[::1]:7070",
        "LOCALHOST",
    ] {
        let reply = service
            .send(
                Request::get("/api/events")
                    .header("host", host)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        reply.expect(200);
    }
    // A forged batch to a rebinding name stores nothing.
    let reply = service
        .send(
            Request::post("/api/events")
                .header("host", "rebind.evil.example")
                .header("content-type", "application/json")
                .body(Body::from(
                    Value::Array(vec![written("e1", "n1", "a")]).to_string(),
                ))
                .unwrap(),
        )
        .await;
    reply.expect(421);
    assert_eq!(service.count(), 0);
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_the_policy_fits_the_page() {
    let service = Service::start();
    for reply in [
        service.get("/").await,
        service.get("/api/events").await,
        service
            .send_raw(request("GET", "/", Who::Nobody, None, ""))
            .await,
        service
            .send_raw(request("GET", "/api/sync", Who::Nobody, None, ""))
            .await,
        service.get("/nowhere").await,
        // axum's own 405, rewritten into the JSON shape: hardened after the rewrite.
        service
            .send_raw(request("DELETE", "/api/sync", Who::Operator, None, ""))
            .await,
    ] {
        assert_eq!(reply.headers["x-content-type-options"], "nosniff");
        // Not `no-referrer`: with it a browser's form post says `Origin: null`.
        assert_eq!(reply.headers["referrer-policy"], "same-origin");
        let policy = reply.headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
    }
    // The page's inline style and script are exactly the ones the policy allows by hash, and
    // nothing else on it is inline style.
    let reply = service.get("/").await;
    let policy = reply.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let page = reply.body.as_str().unwrap();
    let between = |open: &str, close: &str| {
        let start = page.find(open).expect(open) + open.len();
        let end = start + page[start..].find(close).expect(close);
        page[start..end].to_owned()
    };
    for (open, directive) in [("<style>", "style-src"), ("<script>", "script-src")] {
        let close = open.replace('<', "</");
        let text = between(open, &close);
        let hash =
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()));
        assert!(
            policy.contains(&format!("{directive} 'sha256-{hash}'")),
            "{directive} does not allow the page's own {open}: {policy}"
        );
    }
    assert!(!page.contains(" style=\""), "no inline style attributes");
    assert_eq!(page.matches("<script").count(), 1);
}

#[tokio::test]
async fn the_store_holds_nothing_a_refusal_touched() {
    // One more sweep, on the store itself: after every kind of refusal, no event at all.
    let service = Service::start();
    let batch = Value::Array(forged_batch()).to_string();
    for who in [Who::Nobody, Who::Unknown, Who::Third, Who::Peer] {
        for content_type in ["application/json", "application/cloudevents-batch+json"] {
            let _ = service
                .send_raw(request(
                    "POST",
                    "/api/events",
                    who,
                    Some(content_type),
                    batch.clone(),
                ))
                .await;
        }
    }
    assert!(service
        .store
        .inner
        .read(&ReadQuery::after(0, 10))
        .unwrap()
        .events
        .is_empty());
}
