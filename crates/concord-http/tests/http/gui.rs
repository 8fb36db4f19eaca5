//! The GUI without a browser: the page renders the domain's view (escaped), its forms run
//! commands through the same handlers as the JSON API, errors come back as the page with the
//! message and the error's status, "Synchronize now" redirects with a summary.

use std::sync::Arc;

use concord_core::runtime::SystemEnv;
use concord_core::store::MemoryStore;
use concord_core::{EventReader, EventStore, ReadQuery};
use concord_http::{
    start_service, Gui, LinkRun, Repair, RepairFuture, SyncControl, SyncError, SyncFuture, SyncRun,
    SyncStatus,
};
use concord_sync::{Direction, LinkSpec, LinkState, LinkStatus, Rejection};
use serde_json::{json, Value};

use crate::common::*;

const FORM: &str = "application/x-www-form-urlencoded";

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Posts a form to the GUI's command route.
async fn submit(service: &Service, pairs: &[(&str, &str)]) -> Reply {
    service.post("/ui/command", FORM, form(pairs)).await
}

fn html(reply: &Reply) -> &str {
    assert_eq!(
        reply.content_type(),
        "text/html; charset=utf-8",
        "{}",
        reply.body
    );
    reply.body.as_str().expect("an HTML page")
}

fn location(reply: &Reply) -> &str {
    assert_eq!(reply.status, 303, "{}", reply.body);
    reply.headers["location"].to_str().unwrap()
}

/// The data of the last event in the service's store.
fn last_event(service: &Service) -> Value {
    let page = service.store.read(&ReadQuery::after(0, 1000)).unwrap();
    let last = page.events.last().expect("an event");
    Value::Object(last.event.data.map().clone())
}

#[tokio::test]
async fn the_page_renders_the_view_escaped() {
    let service = Service::start();
    service
        .post_json(
            "/api/notes",
            &json!({"noteId": "n1", "text": "<script>alert(\"x\")</script> & co"}),
        )
        .await
        .expect(200);
    let reply = service.get("/").await;
    assert_eq!(reply.status, 200);
    let page = html(&reply);
    assert!(page.contains("<title>notes — Concord</title>"), "{page}");
    assert!(page.contains("<h1>notes</h1>"));
    // The table, its text escaped.
    assert!(page.contains("<th scope=\"col\">Text</th>"));
    assert!(page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co"));
    assert!(!page.contains("<script>alert"));
    assert!(page.contains("Every note &lt;and&gt; its tags."));
    // The forms, each naming its command and how to type its fields.
    assert!(page.contains("<form class=\"form-card\" method=\"post\" action=\"/ui/command\""));
    for hidden in [
        r#"name="_action" value="/api/notes""#,
        r#"name="_action" value="/api/notes/{noteId}/ratings""#,
        r#"name="_number" value="stars""#,
        r#"name="_bool" value="pinned""#,
    ] {
        assert!(page.contains(hidden), "{hidden}");
    }
    assert!(page.contains(r#"type="number" name="stars" value="" min="1" max="5" step="1""#));
    assert!(page.contains(r#"<option value="n1">n1</option>"#));
    assert!(page.contains("Ratings are &lt;final&gt;."));
    // What every service shows.
    for part in [
        "id=\"sync\"",
        "id=\"topology\"",
        "id=\"events\"",
        "<svg",
        "noteWritten",
    ] {
        assert!(page.contains(part), "{part}");
    }
    assert!(page.contains("This service runs no links of its own"));
    // Only HTML: no flash without a redirect.
    assert!(!page.contains("id=\"flash\""));
}

#[tokio::test]
async fn a_form_post_converts_fields_and_runs_the_command() {
    let service = Service::start();
    let written = submit(
        &service,
        &[
            ("_action", "/api/notes"),
            ("_form", "Write a note|/api/notes"),
            ("_anchor", "notes"),
            ("noteId", "n1"),
            ("text", "milk & eggs"),
        ],
    )
    .await;
    assert_eq!(
        location(&written),
        "/?flash=Write+a+note%3A+done+%28noteWritten%29.&tone=good#notes"
    );
    assert_eq!(
        service.get("/api/notes/n1").await.expect(200)["text"],
        "milk & eggs"
    );

    // A number and a checkbox, and a path parameter taken from a field.
    let rated = submit(
        &service,
        &[
            ("_action", "/api/notes/{noteId}/ratings"),
            ("_form", "Rate a note|/api/notes/{noteId}/ratings"),
            ("_number", "stars"),
            ("_bool", "pinned"),
            ("noteId", "n1"),
            ("stars", "4"),
        ],
    )
    .await;
    assert!(location(&rated).starts_with("/?flash=Rate+a+note%3A+done"));
    assert_eq!(
        last_event(&service),
        json!({"noteId": "n1", "stars": 4, "pinned": false})
    );
    service
        .post(
            "/ui/command",
            FORM,
            "_action=%2Fapi%2Fnotes%2F%7BnoteId%7D%2Fratings&_number=stars&_bool=pinned&noteId=n1&stars=5&pinned=true",
        )
        .await;
    assert_eq!(
        last_event(&service),
        json!({"noteId": "n1", "stars": 5, "pinned": true})
    );

    // A form over 64 KiB is read on the blocking pool, with the same outcomes.
    let long = "x".repeat(100 * 1024);
    let written = submit(
        &service,
        &[
            ("_action", "/api/notes"),
            ("_form", "Write a note|/api/notes"),
            ("noteId", "n2"),
            ("text", &long),
        ],
    )
    .await;
    assert!(location(&written).starts_with("/?flash=Write+a+note%3A+done"));
    assert_eq!(service.get("/api/notes/n2").await.expect(200)["text"], long);
    let refused = submit(
        &service,
        &[
            ("_action", "/api/notes/{noteId}/ratings"),
            ("_form", "Rate a note|/api/notes/{noteId}/ratings"),
            ("_number", "stars"),
            ("noteId", "n2"),
            ("stars", &long),
        ],
    )
    .await;
    assert_eq!(refused.status, 400);
    assert!(html(&refused).contains("stars must be a number"));

    // Repeating a command changes nothing, and says so.
    let again = submit(
        &service,
        &[
            ("_action", "/api/notes"),
            ("_form", "Write a note|/api/notes"),
            ("noteId", "n1"),
            ("text", "milk & eggs"),
        ],
    )
    .await;
    assert!(location(&again).contains("nothing+to+change"));

    // The redirect's message is shown on the page, escaped.
    let page = service.get("/?flash=%3Cb%3EDone%3C%2Fb%3E&tone=good").await;
    assert!(html(&page).contains(
        r#"<div class="toast good" id="flash" role="status">&lt;b&gt;Done&lt;/b&gt;</div>"#
    ));
}

#[tokio::test]
async fn an_error_re_renders_the_page_with_the_message_and_status() {
    let service = Service::start();
    service
        .post_json("/api/notes", &json!({"noteId": "n1", "text": "kept"}))
        .await
        .expect(200);
    let count = service.count();
    type Case<'a> = (u16, Vec<(&'a str, &'a str)>, &'a str);
    let cases: [Case; 6] = [
        (
            409,
            vec![
                ("_action", "/api/notes"),
                ("_form", "Write a note|/api/notes"),
                ("noteId", "n1"),
                ("text", "<other>"),
            ],
            "note n1 exists with another text; edit it instead",
        ),
        (
            404,
            vec![
                ("_action", "/api/notes/{noteId}/edits"),
                ("noteId", "nope"),
                ("text", "x"),
            ],
            "no note nope",
        ),
        (
            400,
            vec![
                ("_action", "/api/notes/{noteId}/ratings"),
                ("_number", "stars"),
                ("noteId", "n1"),
                ("stars", "many"),
            ],
            "stars must be a number, not many",
        ),
        (
            400,
            vec![("_action", "/api/notes/{noteId}/ratings"), ("noteId", "n1")],
            "missing field `stars`",
        ),
        (
            400,
            vec![("_action", "/api/notes/{noteId}/edits"), ("text", "x")],
            "choose a value for noteId",
        ),
        // Only the domain's commands: a form cannot reach the shell's own routes.
        (
            404,
            vec![("_action", "/api/events"), ("id", "x")],
            "no command at POST /api/events",
        ),
    ];
    for (status, pairs, message) in cases {
        let reply = submit(&service, &pairs).await;
        assert_eq!(reply.status.as_u16(), status, "{message}");
        let page = html(&reply);
        assert!(page.contains("role=\"alert\""), "{message}");
        assert!(page.contains(message), "{message}: {page}");
        assert!(
            page.contains("<h1>notes</h1>"),
            "the whole page, not a fragment"
        );
    }
    assert_eq!(service.count(), count, "no event was raised");

    // The form that failed shows the error and keeps what was typed, escaped.
    let reply = submit(
        &service,
        &[
            ("_action", "/api/notes"),
            ("_form", "Write a note|/api/notes"),
            ("noteId", "n1"),
            ("text", "<other>"),
        ],
    )
    .await;
    let page = html(&reply);
    assert!(page.contains(r#"<form class="form-card failed" method="post" action="/ui/command" data-form="Write a note|/api/notes">"#));
    assert!(page.contains(r#"name="text" value="&lt;other&gt;""#));
    assert!(page.contains("<p class=\"form-error\" role=\"alert\">note n1 exists"));
}

/// One pull link; `stopped` says whether it stopped on a peer store not its cursor's.
struct OneLink {
    stopped: bool,
}

impl SyncControl for OneLink {
    fn status(&self) -> SyncStatus {
        let spec = LinkSpec::pull("other-notes", "http://127.0.0.1:9", &["noteWritten"])
            .with_filter("kind", "todo");
        let mut link = LinkStatus::new(&spec, 7);
        link.state = if self.stopped {
            LinkState::Stopped
        } else {
            LinkState::Failing
        };
        link.pending = Some(3);
        link.rejected = 1;
        link.recent_rejections = vec![Rejection {
            id: "bad-1".into(),
            reason: "data.noteId: is required".into(),
            at: "2026-11-26T09:29:00.000Z".into(),
        }];
        link.last_success = Some("2026-11-26T09:30:00.000Z".into());
        link.last_error = Some("2026-11-26T09:31:00.000Z: connection <refused>".into());
        SyncStatus {
            links: vec![link],
            error: None,
            inbound: None,
        }
    }

    fn run_now(&self) -> SyncFuture<'_> {
        Box::pin(async {
            SyncRun {
                links: vec![LinkRun {
                    name: "pull-noteWritten-from-other-notes".into(),
                    peer: "other-notes".into(),
                    direction: Direction::Pull,
                    state: LinkState::Ok,
                    rounds: 1,
                    carried: 2,
                    cursor: 9,
                    ok: true,
                    last_error: None,
                    rejected: 0,
                }],
            }
        })
    }

    fn reset<'a>(&'a self, link: &'a str) -> RepairFuture<'a> {
        Box::pin(async move {
            Ok(Repair::Reset {
                link: link.into(),
                cursor: 0,
            })
        })
    }

    fn retry<'a>(&'a self, link: &'a str) -> RepairFuture<'a> {
        Box::pin(async move {
            Err(SyncError::UnknownLink(format!(
                "{link} (not retried in this test)"
            )))
        })
    }
}

fn with_links_and_gui(gui: Gui) -> Service {
    with_link(gui, false)
}

fn with_link(gui: Gui, stopped: bool) -> Service {
    let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let mut running = start_service(
        &notes_spec(),
        store,
        Box::new(SystemEnv::default()),
        Default::default(),
    )
    .unwrap();
    running.attach_sync(Arc::new(OneLink { stopped }));
    running.set_gui(gui);
    Service::of(running)
}

#[tokio::test]
async fn the_sync_panel_shows_each_link_and_synchronizes_now() {
    let service = with_links_and_gui(Gui::default());
    let reply = service.get("/").await;
    let page = html(&reply);
    for part in [
        r#"<a href="http://127.0.0.1:9/">other-notes</a>"#,
        "noteWritten",
        "where kind=todo",
        ">7</td>",
        "3 behind",
        "09:30:00",
        "connection &lt;refused&gt;",
        "bad-1",
        r#"<form class="sync-now" method="post" action="/ui/sync">"#,
        "Synchronize now",
    ] {
        assert!(page.contains(part), "{part}");
    }
    // Without a configured topology, the live links are drawn.
    assert!(page.contains("pull noteWritten (kind=todo)"));

    let reply = service.post("/ui/sync", FORM, "").await;
    assert_eq!(
        location(&reply),
        "/?flash=Synchronized+1+link%3A+2+events+carried.&tone=good#sync"
    );
}

#[tokio::test]
async fn a_stopped_link_and_its_rejections_offer_their_repairs() {
    let service = with_link(Gui::default(), true);
    let reply = service.get("/").await;
    let page = html(&reply);
    let link = "pull%2DnoteWritten%2Dfrom%2Dother%2Dnotes";
    for part in [
        ">stopped</td>",
        &format!(r#"action="/ui/sync/links/{link}/reset""#),
        "Reset cursor",
        &format!(r#"action="/ui/sync/links/{link}/retry""#),
        "Retry rejected",
        "09:29:00",
    ] {
        assert!(page.contains(part), "{part}");
    }
    let reply = service
        .post(&format!("/ui/sync/links/{link}/reset"), FORM, "")
        .await;
    assert!(location(&reply).contains("reset"), "{}", location(&reply));
    // A repair that fails shows the page with the reason, never a bare error.
    let reply = service
        .post(&format!("/ui/sync/links/{link}/retry"), FORM, "")
        .await;
    assert_eq!(reply.status, 404);
    assert!(html(&reply).contains("not retried in this test"));
}

#[tokio::test]
async fn the_page_links_its_siblings_and_draws_the_whole_topology() {
    let gui = Gui {
        siblings: vec![
            ("notes".into(), "http://127.0.0.1:7070".into()),
            ("other-notes".into(), "http://127.0.0.1:7071".into()),
        ],
        topology: vec![
            (
                "notes".into(),
                vec![LinkSpec::pull(
                    "other-notes",
                    "http://127.0.0.1:7071",
                    &["noteTagged"],
                )],
            ),
            (
                "other-notes".into(),
                vec![LinkSpec::push(
                    "other-notes",
                    "archive",
                    "http://a",
                    &["noteWritten"],
                )],
            ),
        ],
    };
    let service = with_links_and_gui(gui);
    let reply = service
        .send(
            axum::http::Request::get("/")
                .header("host", "127.0.0.1:7070")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    let page = html(&reply);
    assert!(page.contains("<title>notes:7070 — Concord</title>"));
    assert!(page.contains(
        r#"<a class="current" href="http://127.0.0.1:7070/" aria-current="page">notes</a>"#
    ));
    assert!(page.contains(r#"<a href="http://127.0.0.1:7071/">other-notes</a>"#));
    // The configured topology wins over the live status for this service.
    assert!(page.contains("pull noteTagged"));
    assert!(page.contains("push noteWritten"));
    assert!(!page.contains("pull noteWritten (kind=todo)"));
    assert!(page.contains(">archive</text>"));
}

#[tokio::test]
async fn a_form_from_another_site_is_refused() {
    let service = Service::start();
    let post = |uri: &str, body: String| {
        axum::http::Request::post(uri)
            .header("content-type", FORM)
            .header("host", "127.0.0.1:7070")
            .header("origin", "http://evil.example")
            .body(axum::body::Body::from(body))
            .unwrap()
    };
    let body = form(&[("_action", "/api/notes"), ("noteId", "n1"), ("text", "x")]);
    let reply = service.send(post("/ui/command", body)).await;
    assert_eq!(reply.status, 403);
    assert!(html(&reply).contains("may not post to this service"));
    let reply = service.send(post("/ui/sync", String::new())).await;
    assert_eq!(reply.status, 403);
    assert_eq!(service.count(), 0);
}
