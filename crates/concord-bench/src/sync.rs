//! Sync figures: two services on loopback, real HTTP, real SQLite stores, real link tasks.
//!
//! - **Pull throughput**: a consumer pulls a producer's whole log (100 k events by default)
//!   page by page through getEvents and its one path, cursor committed with every page.
//! - **Signed pull**: the pull again, every event signed by the producer's Ed25519 key
//!   (CloudEvents Verifiability) and verified by the consumer before it commits.
//! - **Catch-up**: the same from a million events, as after a long outage.
//! - **Push latency**: from a command's acknowledgement at the producer to the event being
//!   durable at the consumer, with the producer's push link woken by each commit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use concord_core::scope::Scope;
use concord_core::service::Params;
use concord_core::sign::{Signer, Signing, Verifier};
use concord_core::store::{EventAppender, EventReader, ReadQuery};
use concord_core::ServiceSpec;
use concord_core::{AcceptancePolicy, AcceptanceRule, Api, CommandError, EventDraft};
use concord_node::auth::{generate_token, PeerAuth, TokenHash};
use concord_node::{AuthConfig, LinkCredentials, NodeOptions, RunningNode, StartOptions};
use concord_sqlite::SqliteStore;
use concord_sync::LinkSpec;
use http_body_util::BodyExt;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use serde::Deserialize;
use serde_json::json;

use crate::meter::{self, Measured};
use crate::model::{counter_draft, CounterCatalogue, Counters, EventSource, COUNTER_SET};
use crate::{Line, Options};

pub const PULL: &str = "sync: pull over HTTP, 2 services";
pub const PULL_SIGNED: &str = "sync: pull, signed events verified";
/// Signing must not cost sync more than 30 %: the signed pull reaches 70 % of the plain one.
pub const SIGNED_SHARE: f64 = 0.7;
pub const CATCH_UP: &str = "sync: catch-up after an outage";
pub const PUSH_LATENCY: &str = "sync: push, ack → durable at peer";
pub const HTTP_COMMANDS: &str = "commands over HTTP, concurrent clients";
pub const HTTP_COMMANDS_SIGNED: &str = "commands over HTTP, each event signed";

pub const PULL_TARGET: f64 = 150_000.0;
/// A million events within 8 s.
pub const CATCH_UP_TARGET: f64 = 1_000_000.0 / 8.0;
pub const HTTP_COMMANDS_TARGET: f64 = 40_000.0;
pub const P99_TARGET_MS: f64 = 20.0;

/// The producer raises events under the name the benchmark's event source uses.
const PRODUCER: &str = "bench";
const CONSUMER: &str = "bench-consumer";
/// The token both services of a run present to each other.
static TOKEN: std::sync::LazyLock<String> = std::sync::LazyLock::new(generate_token);
/// The operator's token, for the commands sent over HTTP.
static OPERATOR: std::sync::LazyLock<String> = std::sync::LazyLock::new(generate_token);
/// Events per getEvents page (the contract's maximum is 10 000).
const PAGE_SIZE: usize = 5000;

#[derive(Clone, Copy)]
struct CounterService {
    name: &'static str,
    accepts_from: &'static str,
}

#[derive(Deserialize)]
struct SetCounter {
    n: u64,
}

fn set_counter(
    _: &Counters,
    _: &Params,
    input: SetCounter,
) -> Result<Vec<EventDraft>, CommandError> {
    Ok(vec![counter_draft(input.n)])
}

impl ServiceSpec for CounterService {
    type Model = Counters;

    fn name(&self) -> &str {
        self.name
    }

    fn catalogue(&self) -> concord_core::runtime::SharedCatalogue<Counters> {
        std::sync::Arc::new(CounterCatalogue)
    }

    fn default_acceptance(&self) -> AcceptancePolicy {
        AcceptancePolicy::new(vec![AcceptanceRule::new(self.accepts_from, COUNTER_SET)])
    }

    fn api(&self) -> Api<Counters> {
        Api::new().command(
            "/api/counters",
            "set a counter",
            json!({"type": "object"}),
            set_counter,
        )
    }
}

async fn start(
    name: &'static str,
    accepts_from: &'static str,
    store: Arc<SqliteStore>,
    links: Vec<LinkSpec>,
    signing: Signing,
) -> RunningNode {
    // Both services present one token of the run and admit each other with it: the figures
    // include the guard's work on every request, as in production.
    let other = if name == PRODUCER { CONSUMER } else { PRODUCER };
    let options = NodeOptions {
        listen: "127.0.0.1:0".parse().expect("a valid address"),
        links,
        credentials: LinkCredentials::token(&*TOKEN),
        auth: AuthConfig::default()
            .with_operator(TokenHash::of(&OPERATOR))
            .with_peer(
                other,
                PeerAuth::new([TokenHash::of(&TOKEN)]).reading(Scope::everything()),
            ),
        service: StartOptions {
            signing,
            ..StartOptions::default()
        },
        ..NodeOptions::default()
    };
    concord_node::start(CounterService { name, accepts_from }, store, options)
        .await
        .expect("start a benchmark service")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Pull throughput and catch-up, then push latency.
pub fn run(options: &Options, dir: &std::path::Path) -> Vec<Line> {
    let rt = runtime();
    vec![
        rt.block_on(pull(
            PULL,
            options.sync_events,
            Some(PULL_TARGET),
            &dir.join("pull"),
            false,
        )),
        rt.block_on(pull(
            PULL_SIGNED,
            options.sync_events,
            None,
            &dir.join("pull-signed"),
            true,
        )),
        rt.block_on(pull(
            CATCH_UP,
            options.catch_up_events,
            Some(CATCH_UP_TARGET),
            &dir.join("catch-up"),
            false,
        )),
        rt.block_on(push_latency(options.latency_events, &dir.join("latency"))),
        rt.block_on(http_commands(
            HTTP_COMMANDS,
            options.http_commands,
            options.http_clients,
            &dir.join("commands"),
            false,
        )),
        rt.block_on(http_commands(
            HTTP_COMMANDS_SIGNED,
            options.http_commands,
            options.http_clients,
            &dir.join("commands-signed"),
            true,
        )),
    ]
}

/// Durable commands over HTTP: `clients` concurrent clients, each waiting for its answer
/// before sending the next, every answer given after the event's commit; with `signed`, the
/// service signs each event it raises (on its writer thread, as a deployment does).
async fn http_commands(
    name: &'static str,
    commands: usize,
    clients: usize,
    dir: &std::path::Path,
    signed: bool,
) -> Line {
    std::fs::create_dir_all(dir).expect("a benchmark folder");
    let store = Arc::new(SqliteStore::open(dir.join("commands.db")).expect("open"));
    let signing = if signed {
        Signing {
            signer: Some(signing().0),
            verifier: Arc::default(),
        }
    } else {
        Signing::default()
    };
    let service = start(PRODUCER, "nobody", Arc::clone(&store), Vec::new(), signing).await;
    let address = service.addr;
    let clients = clients.max(1);
    let per_client = commands.div_ceil(clients);
    // The clients stand for other programs: they run on a runtime of their own, one thread,
    // and take no turns on the service's workers (they still share the machine's cores).
    let clients_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("the clients' runtime");
    meter::settle();
    let span = Measured::start();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            clients_runtime.spawn(async move {
                let mut connection = Connection::new(address);
                let mut failed = 0usize;
                for n in 0..per_client {
                    let body = format!(r#"{{"n":{}}}"#, c * per_client + n);
                    if !connection.post("/api/counters", body).await {
                        failed += 1;
                    }
                }
                failed
            })
        })
        .collect();
    let mut failed = 0;
    for task in tasks {
        failed += task.await.expect("a client task");
    }
    let elapsed = span.stop();
    // A runtime may not be dropped inside another's task (tokio panics): it is let go.
    clients_runtime.shutdown_background();
    service.stop().await;
    let first = store
        .read(&ReadQuery::after(0, 1))
        .expect("read the first event");
    let carries_signature = first.events.first().is_some_and(|stored| {
        stored
            .event
            .extensions
            .contains_key(concord_core::sign::DSSEMATERIAL)
    });
    assert_eq!(carries_signature, signed, "the service signs as configured");
    let done = clients * per_client - failed;
    let target = (!signed).then_some(HTTP_COMMANDS_TARGET);
    let mut line = Line::new(name, done as u64, elapsed, target);
    line.note = format!("{clients} clients, one command at a time each, durable before the answer");
    if failed > 0 {
        line.note.push_str(&format!("; {failed} failed"));
        line.failed = true;
    }
    line
}

/// One client of the command line: a kept-alive HTTP/1 connection that sends one request at
/// a time. Plain hyper rather than a pooled client: the clients share the service's two
/// cores, and every cycle they spend is one the service does not get. Like a pool, it opens
/// a new connection when the service closed the last one (a refusal, an eviction).
struct Connection {
    address: std::net::SocketAddr,
    sender: Option<hyper::client::conn::http1::SendRequest<String>>,
    authorization: HeaderValue,
}

impl Connection {
    fn new(address: std::net::SocketAddr) -> Self {
        Connection {
            address,
            sender: None,
            authorization: HeaderValue::from_str(&format!("Bearer {}", *OPERATOR))
                .expect("a token is a header value"),
        }
    }

    async fn connect(
        address: std::net::SocketAddr,
    ) -> Result<hyper::client::conn::http1::SendRequest<String>, String> {
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("TCP_NODELAY: {e}"))?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "a benchmark client's connection ended");
            }
        });
        Ok(sender)
    }

    /// Posts `body` as JSON; whether the answer was a success. Its body is read to the end
    /// either way: an answer left unread would close the connection for the requests after.
    /// A request that could not be sent, or whose answer did not arrive, is a failure; the
    /// next one goes over a new connection.
    async fn post(&mut self, path: &str, body: String) -> bool {
        if let Some(sender) = self.sender.as_mut() {
            if sender.ready().await.is_err() {
                self.sender = None;
            }
        }
        let sender = match &mut self.sender {
            Some(sender) => sender,
            // Nothing was sent on a connection that is not ready: a new one is safe.
            None => match Self::connect(self.address).await {
                Ok(sender) => self.sender.insert(sender),
                Err(error) => {
                    tracing::warn!(%error, "a benchmark client cannot connect");
                    return false;
                }
            },
        };
        let request = hyper::Request::post(path)
            .header(HOST, "127.0.0.1")
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .expect("a valid request");
        match sender.send_request(request).await {
            Ok(answer) => {
                let ok = answer.status().is_success();
                answer.into_body().collect().await.is_ok() && ok
            }
            Err(_) => false,
        }
    }
}

/// The producer's key, and a consumer that trusts it.
fn signing() -> (Arc<Signer>, Signing) {
    let signer = Arc::new(Signer::from_seed(format!("{PRODUCER}/v1"), [7; 32]));
    let mut verifier = Verifier::new();
    verifier.trust(PRODUCER, signer.public(), None);
    let consumer = Signing {
        signer: None,
        verifier: Arc::new(verifier),
    };
    (signer, consumer)
}

/// A producer with `events` in its log (each signed by it when `signed`, as its commands
/// would have signed them); a consumer starts empty and pulls all of it, verifying every
/// signature when `signed`.
async fn pull(
    name: &'static str,
    events: usize,
    target: Option<f64>,
    dir: &std::path::Path,
    signed: bool,
) -> Line {
    let (signer, verifying) = signing();
    std::fs::create_dir_all(dir).expect("a benchmark folder");
    let producer_store = Arc::new(SqliteStore::open(dir.join("producer.db")).expect("open"));
    let mut source = EventSource::new(7);
    let mut left = events;
    while left > 0 {
        let mut batch = source.batch(left.min(1000));
        left -= batch.len();
        if signed {
            batch.iter_mut().for_each(|event| signer.sign(event));
        }
        producer_store
            .append(&batch, &[])
            .expect("fill the producer");
    }
    // Closed and opened again: the fill's log is copied into the file before the clock starts,
    // not by the checkpoint helper while the consumer pulls.
    drop(producer_store);
    let producer_store = Arc::new(SqliteStore::open(dir.join("producer.db")).expect("reopen"));
    meter::settle();
    let producer = start(
        PRODUCER,
        "nobody",
        producer_store,
        Vec::new(),
        Signing::default(),
    )
    .await;
    let consumer_store = Arc::new(SqliteStore::open(dir.join("consumer.db")).expect("open"));
    let mut link = LinkSpec::pull(PRODUCER, &producer.url(), &[COUNTER_SET]);
    link.page_size = PAGE_SIZE;
    let span = Measured::start();
    let consumer_signing = if signed {
        verifying
    } else {
        Signing::default()
    };
    let consumer = start(
        CONSUMER,
        PRODUCER,
        Arc::clone(&consumer_store),
        vec![link],
        consumer_signing,
    )
    .await;
    while (consumer_store.count().expect("count") as usize) < events {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = span.stop();
    consumer.stop().await;
    producer.stop().await;
    let mut line = Line::new(name, events as u64, elapsed, target);
    line.note = format!("{PAGE_SIZE} per page, cursor committed with each page");
    if signed {
        line.note
            .push_str("; Ed25519 signatures (DSSE) verified before the commit");
    }
    line
}

/// Commands at the producer, one at a time; a watcher thread notes when each event is
/// durable at the consumer.
async fn push_latency(events: usize, dir: &std::path::Path) -> Line {
    std::fs::create_dir_all(dir).expect("a benchmark folder");
    let consumer_store = Arc::new(SqliteStore::open(dir.join("consumer.db")).expect("open"));
    let consumer = start(
        CONSUMER,
        PRODUCER,
        Arc::clone(&consumer_store),
        Vec::new(),
        Signing::default(),
    )
    .await;
    let producer_store = Arc::new(SqliteStore::open(dir.join("producer.db")).expect("open"));
    let link = LinkSpec::push(PRODUCER, CONSUMER, &consumer.url(), &[COUNTER_SET]);
    let producer = start(
        PRODUCER,
        "nobody",
        producer_store,
        vec![link],
        Signing::default(),
    )
    .await;

    let arrivals: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (store, arrivals, done) = (
            Arc::clone(&consumer_store),
            Arc::clone(&arrivals),
            Arc::clone(&done),
        );
        std::thread::spawn(move || {
            let mut after = 0;
            while !done.load(Ordering::Relaxed) {
                if store.last_sequence().expect("last sequence") > after {
                    let page = store.read(&ReadQuery::after(after, 10_000)).expect("read");
                    let now = Instant::now();
                    let mut seen = arrivals.lock().expect("arrivals");
                    seen.extend(page.events.iter().map(|e| (e.event.id.to_string(), now)));
                    after = page.next_after;
                } else {
                    std::thread::sleep(Duration::from_micros(100));
                }
            }
        })
    };

    let mut acknowledged = Vec::with_capacity(events);
    meter::settle();
    let span = Measured::start();
    for n in 0..events {
        let stored = producer
            .command("/api/counters", json!({ "n": n }))
            .await
            .expect("the command is acknowledged");
        let ack = Instant::now();
        let id = stored[0].event.id.to_string();
        acknowledged.push((id, ack));
        // A steady trickle, not a flood: this measures latency, not throughput.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while arrivals.lock().expect("arrivals").len() < events && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = span.stop();
    done.store(true, Ordering::Relaxed);
    watcher.join().expect("the watcher");
    consumer.stop().await;
    producer.stop().await;

    let arrived: std::collections::HashMap<String, Instant> =
        arrivals.lock().expect("arrivals").iter().cloned().collect();
    let mut latencies: Vec<f64> = acknowledged
        .iter()
        .filter_map(|(id, ack)| {
            arrived
                .get(id)
                .map(|at| at.saturating_duration_since(*ack).as_secs_f64() * 1e3)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let percentile = |p: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        latencies[((latencies.len() - 1) as f64 * p).round() as usize]
    };
    let (p50, p99) = (percentile(0.50), percentile(0.99));
    let mut line = Line::new(PUSH_LATENCY, latencies.len() as u64, elapsed, None);
    line.p50_ms = Some(p50);
    line.p99_ms = Some(p99);
    line.note = format!(
        "p50 {p50:.2} ms, p99 {p99:.2} ms, max {:.2} ms (target p99 < {P99_TARGET_MS} ms: {}){}",
        latencies.last().copied().unwrap_or(f64::NAN),
        if p99 < P99_TARGET_MS { "ok" } else { "MISSED" },
        if latencies.len() < events {
            format!("; {} never arrived", events - latencies.len())
        } else {
            String::new()
        }
    );
    line.latency_ok = Some(p99 < P99_TARGET_MS && latencies.len() == events);
    line.failed = latencies.len() < events;
    line
}
