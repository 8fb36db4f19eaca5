//! The shell's own routes: health, the page, sync (with and without links), start-up.

use std::sync::Arc;

use concord_core::runtime::SystemEnv;
use concord_core::store::MemoryStore;
use concord_core::StoreError;
use concord_core::{AcceptancePolicy, AcceptanceRule, EventStore};
use concord_http::{
    start_service, LinkRun, Repair, RepairFuture, StartOptions, SyncControl, SyncError, SyncFuture,
    SyncRun, SyncStatus,
};
use concord_sync::{Direction, LinkSpec, LinkState, LinkStatus};
use serde_json::{json, Value};

use crate::common::*;

#[tokio::test]
async fn health_counts_the_store() {
    let service = Service::start();
    let reply = service.get("/health").await;
    assert_eq!(
        reply.expect(200),
        &json!({"status": "ok", "service": "notes", "events": 0, "lastSequence": 0})
    );
    service
        .post_json(
            "/api/events",
            &json!([written("e1", "n1", "a"), written("e2", "n2", "b")]),
        )
        .await
        .expect(200);
    assert_eq!(
        service.get("/health").await.expect(200),
        &json!({"status": "ok", "service": "notes", "events": 2, "lastSequence": 2})
    );
}

#[tokio::test]
async fn the_page_links_the_api() {
    let service = Service::start();
    let reply = service.get("/").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type(), "text/html; charset=utf-8");
    let html = reply.body.as_str().unwrap();
    assert!(html.contains("<h1>notes</h1>"), "{html}");
    for link in ["/health", "/api/openapi.json", "/api/events", "/api/sync"] {
        assert!(html.contains(&format!("href=\"{link}\"")), "{link}");
    }
}

#[tokio::test]
async fn sync_without_links_answers_an_empty_list() {
    let service = Service::start();
    // No links, and (no peer has called yet) an empty inbound view.
    assert_eq!(
        service.get("/api/sync").await.expect(200),
        &json!({"links": [], "inbound": {"lastSequence": 0, "peers": []}})
    );
    let reply = service.post("/api/sync", "application/json", "").await;
    assert_eq!(reply.expect(200), &json!({"links": []}));
}

struct FakeLinks;

impl SyncControl for FakeLinks {
    fn status(&self) -> SyncStatus {
        let mut spec = LinkSpec::pull("peer", "http://peer", &[]);
        spec.name = "pull-x".into();
        SyncStatus {
            links: vec![LinkStatus::new(&spec, 3)],
            error: None,
            inbound: None,
        }
    }

    fn run_now(&self) -> SyncFuture<'_> {
        Box::pin(async {
            SyncRun {
                links: vec![LinkRun {
                    name: "pull-x".into(),
                    peer: "peer".into(),
                    direction: Direction::Pull,
                    state: LinkState::Ok,
                    rounds: 1,
                    carried: 2,
                    cursor: 5,
                    ok: true,
                    last_error: None,
                    rejected: 0,
                }],
            }
        })
    }

    fn reset<'a>(&'a self, link: &'a str) -> RepairFuture<'a> {
        Box::pin(async move {
            match link {
                "pull-x" => Ok(Repair::Reset {
                    link: link.into(),
                    cursor: 0,
                }),
                "broken" => Err(SyncError::Store(StoreError::Backend(
                    "the store is gone".into(),
                ))),
                other => Err(SyncError::UnknownLink(other.to_owned())),
            }
        })
    }
}

#[tokio::test]
async fn sync_asks_the_attached_links() {
    let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let mut running = start_service(
        &notes_spec(),
        store,
        Box::new(SystemEnv::default()),
        Default::default(),
    )
    .unwrap();
    running.attach_sync(Arc::new(FakeLinks));
    let service = Service::of(running);
    let status = service.get("/api/sync").await;
    let link = &status.expect(200)["links"][0];
    assert_eq!(
        (
            &link["name"],
            &link["peer"],
            &link["direction"],
            &link["cursor"]
        ),
        (&json!("pull-x"), &json!("peer"), &json!("pull"), &json!(3))
    );
    let run = service.post("/api/sync", "application/json", "").await;
    let link = &run.expect(200)["links"][0];
    assert_eq!(
        (&link["name"], &link["carried"], &link["ok"]),
        (&json!("pull-x"), &json!(2), &json!(true))
    );
    let reset = service
        .post("/api/sync/links/pull-x/reset", "application/json", "")
        .await;
    assert_eq!(reset.expect(200), &json!({"link": "pull-x", "cursor": 0}));
    let unknown = service
        .post("/api/sync/links/nope/reset", "application/json", "")
        .await;
    assert!(unknown.expect(404)["error"]
        .as_str()
        .unwrap()
        .contains("no link named"));
    let failed = service
        .post("/api/sync/links/broken/reset", "application/json", "")
        .await;
    failed.expect(503);
    let retry = service
        .post("/api/sync/links/pull-x/retry", "application/json", "")
        .await;
    retry.expect(404);
}

#[tokio::test]
async fn start_service_replays_the_store_and_honours_an_acceptance_override() {
    let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    {
        let first = start_service(
            &notes_spec(),
            Arc::clone(&store),
            Box::new(SystemEnv::default()),
            Default::default(),
        )
        .unwrap();
        first
            .host
            .command(Box::new(|_: &Notes| {
                Ok(vec![concord_core::EventDraft::new(
                    "noteWritten",
                    json!({"noteId": "n1", "text": "kept"}),
                )])
            }))
            .await
            .unwrap();
        first.host.shutdown();
    }
    let only_strangers =
        AcceptancePolicy::new(vec![AcceptanceRule::new("stranger", "noteWritten")]);
    let running = start_service(
        &notes_spec(),
        Arc::clone(&store),
        Box::new(SystemEnv::default()),
        StartOptions {
            acceptance: Some(only_strangers),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(running.name, "notes");
    let service = Service::of(running);
    assert_eq!(
        service.get("/api/notes/n1").await.expect(200)["text"],
        "kept"
    );
    let reply = service
        .post_json(
            "/api/events",
            &json!([
                written("e1", "n2", "from the usual peer"),
                event(
                    "e2",
                    "stranger",
                    "noteWritten",
                    1,
                    json!({"noteId": "n3", "text": "y"})
                ),
            ]),
        )
        .await;
    assert_eq!(
        reply.expect(200)["results"],
        json!([
            {"id": "e1", "status": "ignored", "reason": "this service does not accept noteWritten from other-notes"},
            {"id": "e2", "status": "accepted"},
        ])
    );
}

#[test]
fn an_api_the_shell_cannot_serve_is_refused() {
    use concord_core::{Api, Params, ServiceSpec};
    fn read(_: &Notes, _: &Params) -> Result<Value, concord_core::CommandError> {
        Ok(Value::Null)
    }
    let clash = Api::<Notes>::new().query("/api/events", "clash", json!({}), read);
    assert_eq!(
        concord_http::check_api(&clash),
        Err("route GET /api/events: the path is served by concord-http itself".to_owned())
    );
    let twice = Api::<Notes>::new()
        .query("/api/x", "one", json!({}), read)
        .query("/api/x", "two", json!({}), read);
    assert_eq!(
        concord_http::check_api(&twice),
        Err("route GET /api/x is declared twice".to_owned())
    );
    let relative = Api::<Notes>::new().query("api/x", "one", json!({}), read);
    assert!(concord_http::check_api(&relative).is_err());
    assert!(concord_http::check_api(&notes_spec().api()).is_ok());
}
