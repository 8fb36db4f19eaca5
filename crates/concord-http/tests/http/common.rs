//! The test kit's toy domain (`concord_testkit::notes`) served in-process, and helpers to
//! drive its router.
//!
//! notes raises `noteWritten {noteId, text}`; it also understands `noteTagged {noteId, tag}`,
//! which only arrives from elsewhere. It accepts both from `other-notes` and nothing else.
//!
//! Its router admits three principals ([`auth_config`]): the operator ([`OPERATOR_TOKEN`]),
//! the peer `other-notes` ([`PEER_TOKEN`], reading `noteWritten` only) and the peer
//! `third-notes` ([`THIRD_TOKEN`], no scopes). [`Service::send`] and its shorthands present
//! the operator's token; [`Service::send_raw`] sends exactly what it is given.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use concord_core::host::Host;
use concord_core::runtime::SeededEnv;
use concord_core::scope::{EventPattern, Scope};
use concord_core::store::MemoryStore;
use concord_core::{EventReader, EventStore, Model, Timestamp};
use concord_http::{AuthConfig, PeerAuth, RunningService, TokenHash};
pub use concord_testkit::notes::{Notes, NotesSpec};
use serde_json::{json, Value};
use tower::ServiceExt;

pub const NAME: &str = "notes";
pub const PEER: &str = "other-notes";
/// A second peer, known but given no scopes.
pub const THIRD: &str = "third-notes";

pub const OPERATOR_TOKEN: &str = "concord_test-operator";
pub const PEER_TOKEN: &str = "concord_test-other-notes";
pub const THIRD_TOKEN: &str = "concord_test-third-notes";
/// A token nobody configured.
pub const UNKNOWN_TOKEN: &str = "concord_test-unknown";

/// The principals of the test routers: the operator, `other-notes` (default put scope, reads
/// `noteWritten`), `third-notes` (nothing).
pub fn auth_config() -> AuthConfig {
    AuthConfig::default()
        .with_operator(TokenHash::of(OPERATOR_TOKEN))
        .with_peer(
            PEER,
            PeerAuth::new([TokenHash::of(PEER_TOKEN)]).reading(Scope::new(vec![EventPattern {
                types: vec!["noteWritten".into()],
                ..EventPattern::default()
            }])),
        )
        .with_peer(THIRD, PeerAuth::new([TokenHash::of(THIRD_TOKEN)]))
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The toy notes service under test: `notes`, taking notes and tags from `other-notes`.
pub fn notes_spec() -> NotesSpec {
    NotesSpec::new(NAME).accepting_from(PEER)
}

/// A store that fails reads and appends while told to (`set_failing`).
pub type FlakyStore = concord_testkit::InstrumentedStore<MemoryStore>;

/// A running service (the notes one unless told) and its router.
pub struct Service<M: Model = Notes> {
    pub host: Host<M>,
    pub router: Router,
    pub store: Arc<FlakyStore>,
}

impl Service {
    pub fn start() -> Service {
        let store = Arc::new(FlakyStore::default());
        // After the fixed time the test events carry: none is from a clock ahead of ours.
        let env = SeededEnv::new(1, Timestamp::parse("2026-11-26T10:30:00Z").unwrap());
        let running = concord_http::start_service(
            &notes_spec(),
            Arc::clone(&store) as Arc<dyn EventStore>,
            Box::new(env),
            Default::default(),
        )
        .unwrap();
        let mut service = Service::of(running);
        service.store = store;
        service
    }
}

impl<M: Model> Service<M> {
    /// A started service with the test principals (its store is not the flaky one).
    pub fn of(running: RunningService<M>) -> Service<M> {
        Service::with_auth(running, &auth_config())
    }

    /// A started service admitting the principals of `config`.
    pub fn with_auth(mut running: RunningService<M>, config: &AuthConfig) -> Service<M> {
        running.set_auth(config).unwrap();
        Service {
            host: running.host.clone(),
            router: running.router(),
            store: Default::default(),
        }
    }

    pub fn count(&self) -> u64 {
        self.store.inner.count().unwrap()
    }

    /// Sends `request` as the operator: with the operator's bearer token unless it carries
    /// an `Authorization` header or a cookie of its own, and a `Host` unless it has one.
    pub async fn send(&self, mut request: Request<Body>) -> Reply {
        let headers = request.headers_mut();
        if !headers.contains_key("authorization") && !headers.contains_key("cookie") {
            headers.insert("authorization", bearer(OPERATOR_TOKEN).parse().unwrap());
        }
        self.send_raw(request).await
    }

    /// Sends `request` with no credential but its own (a `Host` is added if missing, as
    /// every HTTP/1.1 client sends one).
    pub async fn send_raw(&self, mut request: Request<Body>) -> Reply {
        if !request.headers().contains_key("host") {
            request
                .headers_mut()
                .insert("host", "localhost".parse().unwrap());
        }
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    pub async fn post(&self, uri: &str, content_type: &str, body: impl Into<Body>) -> Reply {
        self.send(
            Request::post(uri)
                .header("content-type", content_type)
                .body(body.into())
                .unwrap(),
        )
        .await
    }

    pub async fn post_json(&self, uri: &str, body: &Value) -> Reply {
        self.post(uri, "application/json", body.to_string()).await
    }
}

impl<M: Model> Drop for Service<M> {
    fn drop(&mut self) {
        self.host.shutdown();
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Asserts the status, and that an error answer is the JSON error shape.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        if status >= 400 {
            assert_eq!(
                self.headers["content-type"], "application/json",
                "{}",
                self.body
            );
            assert!(self.body["error"].is_string(), "{}", self.body);
        }
        &self.body
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .map(|v| v.to_str().unwrap())
            .unwrap_or_default()
    }
}

/// A well-formed CloudEvent as JSON, `n` seconds after a fixed time.
pub fn event(id: &str, source: &str, ty: &str, n: u32, data: Value) -> Value {
    json!({
        "specversion": "1.0",
        "id": id,
        "source": source,
        "type": ty,
        "time": format!("2026-11-26T10:00:{:02}.000Z", n % 60),
        "datacontenttype": "application/json",
        "data": data,
    })
}

pub fn written(id: &str, note: &str, text: &str) -> Value {
    event(
        id,
        PEER,
        "noteWritten",
        1,
        json!({"noteId": note, "text": text}),
    )
}

pub fn tagged(id: &str, note: &str, tag: &str) -> Value {
    event(
        id,
        PEER,
        "noteTagged",
        2,
        json!({"noteId": note, "tag": tag}),
    )
}
