//! What the NATS tests (and the throughput example) share: the test kit's notes, stores, a NATS
//! server to talk to (or a clear skip), and a stream of their own.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use concord_core::event::CloudEvent;
use concord_core::store::{EventAppender, MemoryStore, ReadQuery};
use concord_core::wire::Delivered;
use concord_core::Limits;
use concord_nats::{NatsOptions, NatsTransport};
use concord_node::{NodeOptions, RunningNode, Transport, TransportFuture};
use concord_sync::{DeliveryError, LinkSpec, Page, TransportError};
pub use concord_testkit::notes::{written, NotesSpec, NOTE_WRITTEN};
use serde_json::Value;

pub const WRITER: &str = "writer";
pub const READER: &str = "reader";

/// The operator's token of the test services (for `GET /api/sync` over HTTP).
pub const OPERATOR_TOKEN: &str = "concord_nats-tests-operator";
/// The `n`-th note as `source` raised it: note `n{n}`, written in 2026.
pub fn note(source: &str, n: u64) -> CloudEvent {
    let id = format!("{source}-note-{n:07}");
    let second = 1_790_000_000 + i128::from(n);
    written(&id, source, second, &format!("n{n}"), &format!("note {n}"))
}

/// A store holding `count` notes of `source`, numbered from `first`.
pub fn store_with_notes(source: &str, first: u64, count: u64) -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    let events: Vec<CloudEvent> = (first..first + count).map(|n| note(source, n)).collect();
    for chunk in events.chunks(5000) {
        store.append(chunk, &[]).expect("fill the store");
    }
    store
}

/// The NATS server the tests use: `CONCORD_NATS_URL`, else the local default.
pub fn nats_url() -> String {
    std::env::var("CONCORD_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// A stream (and subject prefix) of this test's own, so tests run side by side.
#[derive(Clone)]
pub struct TestStream {
    pub url: String,
    pub stream: String,
    pub prefix: String,
}

impl TestStream {
    /// `None` (after printing why) when no NATS server answers — unless
    /// `CONCORD_REQUIRE_SERVICES=1`, as CI sets it: then a missing server fails the test.
    pub async fn new() -> Option<Self> {
        let url = nats_url();
        if !concord_nats::reachable(&url, Duration::from_secs(2)).await {
            let required = std::env::var("CONCORD_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "NATS not reachable at {url}, and CONCORD_REQUIRE_SERVICES=1 requires it"
            );
            eprintln!("skipped: NATS not reachable at {url} (set CONCORD_NATS_URL to use another)");
            return None;
        }
        let tag = format!("{:016x}", fastrand::u64(..));
        Some(TestStream {
            url,
            stream: format!("CONCORD_TEST_{tag}"),
            prefix: format!("concordtest{tag}"),
        })
    }

    pub fn options(&self, service: &str) -> NatsOptions {
        NatsOptions::new(service).with_stream(&self.stream, &self.prefix)
    }

    pub fn transport(&self, service: &str) -> Arc<NatsTransport> {
        Arc::new(NatsTransport::new(self.options(service)).expect("valid options"))
    }

    /// A push link publishing the writer's notes.
    pub fn publish_link(&self, name: &str) -> LinkSpec {
        let mut link =
            LinkSpec::push(WRITER, "nats", &self.url, &[NOTE_WRITTEN]).over_nats(&self.url);
        link.name = name.to_owned();
        link
    }

    /// A pull link taking notes from the stream (`sources` empty: any source).
    pub fn consume_link(&self, name: &str, sources: &[&str]) -> LinkSpec {
        let mut link = LinkSpec::pull(WRITER, &self.url, &[NOTE_WRITTEN]).over_nats(&self.url);
        link.name = name.to_owned();
        link.sources = sources.iter().map(|s| (*s).to_owned()).collect();
        link
    }

    pub async fn jetstream(&self) -> async_nats::jetstream::Context {
        self.transport("test-tools")
            .jetstream(&self.url)
            .await
            .expect("the test stream")
    }

    pub async fn messages(&self) -> u64 {
        let mut stream = self
            .jetstream()
            .await
            .get_stream(&self.stream)
            .await
            .expect("the stream");
        stream.info().await.expect("stream info").state.messages
    }

    pub async fn consumer(
        &self,
        service: &str,
        link: &str,
    ) -> async_nats::jetstream::consumer::Info {
        let durable = concord_nats::names::durable_name(service, link);
        self.jetstream()
            .await
            .get_stream(&self.stream)
            .await
            .expect("the stream")
            .consumer_info(&durable)
            .await
            .expect("the consumer")
    }

    /// Publishes a raw message on `<prefix>.<source>.<type>`, awaiting the server's ack.
    pub async fn publish_raw(&self, source: &str, ty: &str, msg_id: &str, payload: Vec<u8>) {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, msg_id);
        let subject = concord_nats::names::event_subject(&self.prefix, source, ty);
        self.jetstream()
            .await
            .publish_with_headers(subject, headers, payload.into())
            .await
            .expect("publish")
            .await
            .expect("the server stored it");
    }

    pub async fn delete(&self) {
        let _ = self.jetstream().await.delete_stream(&self.stream).await;
    }
}

/// Starts a notes service on `store` with `links`, carried by `transport`.
pub async fn start(
    name: &str,
    accepts_from: &str,
    store: Arc<dyn concord_core::EventStore>,
    links: Vec<LinkSpec>,
    transport: Arc<dyn Transport>,
) -> RunningNode {
    let spec = NotesSpec::new(name).accepting_from(accepts_from);
    let options = NodeOptions {
        links,
        transport: Some(transport),
        // NATS links need no HTTP credential; the operator's is for the tests' own requests.
        auth: concord_node::AuthConfig::default()
            .with_operator(concord_node::auth::TokenHash::of(OPERATOR_TOKEN)),
        ..NodeOptions::default()
    };
    concord_node::start(spec, store, options)
        .await
        .expect("start a notes service")
}

/// Runs every link of `node` now; the summary of its first link, as `POST /api/sync`
/// answers it.
pub async fn sync(node: &RunningNode) -> Value {
    let run = node.sync_now().await;
    serde_json::to_value(&run.links[0]).expect("a link's summary is JSON")
}

/// A transport that counts the events it fetched, and can be told to drop acknowledgements
/// (as if the process died between applying a page and acknowledging it).
pub struct Spy {
    pub inner: Arc<NatsTransport>,
    pub fetched: AtomicU64,
    pub drop_acks: AtomicBool,
}

impl Spy {
    pub fn new(inner: Arc<NatsTransport>) -> Arc<Self> {
        Arc::new(Spy {
            inner,
            fetched: AtomicU64::new(0),
            drop_acks: AtomicBool::new(false),
        })
    }

    pub fn fetched(&self) -> u64 {
        self.fetched.load(Ordering::SeqCst)
    }
}

impl Transport for Spy {
    fn fetch<'a>(
        &'a self,
        link: &'a LinkSpec,
        query: &'a ReadQuery,
        limits: &'a Limits,
    ) -> TransportFuture<'a, Result<Page, TransportError>> {
        Box::pin(async move {
            let page = self.inner.fetch(link, query, limits).await;
            if let Ok(page) = &page {
                self.fetched
                    .fetch_add(page.events.len() as u64, Ordering::SeqCst);
            }
            page
        })
    }

    fn deliver<'a>(
        &'a self,
        link: &'a LinkSpec,
        events: &'a [CloudEvent],
    ) -> TransportFuture<'a, Result<Delivered, DeliveryError>> {
        self.inner.deliver(link, events)
    }

    fn acknowledge<'a>(&'a self, link: &'a LinkSpec, up_to: u64) -> TransportFuture<'a, ()> {
        if self.drop_acks.load(Ordering::SeqCst) {
            return Box::pin(async {});
        }
        self.inner.acknowledge(link, up_to)
    }

    fn check_link(&self, link: &LinkSpec) -> Result<(), concord_node::UnsupportedLink> {
        self.inner.check_link(link)
    }
}

/// A memory store whose appends can be made to fail (a full disk, say).
pub type FlakyStore = concord_testkit::InstrumentedStore<MemoryStore>;
