//! The serve loop's bounds on a real socket, with short timeouts: each test is a client that
//! misbehaves (trickles, idles, floods, does not read) and the bound that stops it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use concord_core::runtime::SystemEnv;
use concord_core::store::{EventAppender, EventReader, MemoryStore};
use concord_core::{CloudEvent, EventStore};
use concord_http::{
    serve_with, start_service, ServeOptions, ServerLimits, SyncControl, SyncFuture, SyncRun,
    SyncStatus,
};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::common::{notes_spec, written};

/// A sync run that takes `delay`: a handler that is slow on purpose.
struct SlowLinks {
    delay: Duration,
}

impl SyncControl for SlowLinks {
    fn status(&self) -> SyncStatus {
        SyncStatus::default()
    }

    fn run_now(&self) -> SyncFuture<'_> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            SyncRun::default()
        })
    }
}

/// The notes service served on 127.0.0.1 with `limits`; `POST /api/sync` takes `slow`.
struct Served {
    address: SocketAddr,
    store: Arc<MemoryStore>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    host: concord_core::host::Host<crate::common::Notes>,
}

impl Served {
    async fn start(limits: ServerLimits, slow: Duration) -> Served {
        let store = Arc::new(MemoryStore::new());
        let mut running = start_service(
            &notes_spec(),
            Arc::clone(&store) as Arc<dyn EventStore>,
            Box::new(SystemEnv::default()),
            Default::default(),
        )
        .unwrap();
        running.attach_sync(Arc::new(SlowLinks { delay: slow }));
        running.set_auth(&crate::common::auth_config()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let options = ServeOptions { tls: None, limits };
        let server = tokio::spawn(serve_with(listener, running.router(), options, async {
            let _ = stopped.await;
        }));
        Served {
            address,
            store,
            stop: Some(stop),
            server: Some(server),
            host: running.host,
        }
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.address).await.unwrap()
    }

    async fn send(&self, request: &str) -> String {
        send(self.address, request.to_owned()).await
    }

    async fn health(&self) -> String {
        self.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer concord_test-operator\r\nConnection: close\r\n\r\n")
            .await
    }

    /// Stops the server; how long it took to return.
    async fn stop(mut self) -> Duration {
        let started = Instant::now();
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.server.take().unwrap())
            .await
            .expect("serve returns after shutdown")
            .unwrap()
            .unwrap();
        started.elapsed()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
        self.host.shutdown();
    }
}

fn limits() -> ServerLimits {
    ServerLimits {
        header_timeout: Duration::from_millis(500),
        body_timeout: Duration::from_millis(700),
        request_timeout: Duration::from_secs(5),
        write_timeout: Duration::from_secs(5),
        ..ServerLimits::default()
    }
}

/// One request on a fresh connection; the whole answer (the server closes it).
///
/// The answer is read while the request is still being written: a server may answer a body
/// it sheds or refuses before reading it all, and close, and a client still writing then
/// sees its write refused (a broken pipe) and may lose the answer to the reset. Reading at
/// once takes the answer as it comes; the write half is kept open until then.
async fn send(address: SocketAddr, request: String) -> String {
    let (mut reader, mut writer) = TcpStream::connect(address).await.unwrap().into_split();
    let writing = tokio::spawn(async move {
        let _ = writer.write_all(request.as_bytes()).await;
        writer
    });
    let answer = read_all(&mut reader, Duration::from_secs(10)).await;
    // A write the server never reads must not hold the test once the answer is in.
    writing.abort();
    let _ = writing.await;
    answer
}

const SYNC: &str =
    "POST /api/sync HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer concord_test-operator\r\nContent-Type: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// Reads until the peer closes (or resets) the connection, or `patience` runs out.
async fn read_all(stream: &mut (impl AsyncRead + Unpin), patience: Duration) -> String {
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(patience, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// Writes one byte every `every` until the server closes the connection; when it did, and
/// everything it answered.
async fn trickle(stream: TcpStream, every: Duration, patience: Duration) -> (Duration, String) {
    let started = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    let reading = tokio::spawn(async move {
        let mut answer = Vec::new();
        let _ = reader.read_to_end(&mut answer).await;
        (
            started.elapsed(),
            String::from_utf8_lossy(&answer).into_owned(),
        )
    });
    let writing = async {
        loop {
            if writer.write_all(b"a").await.is_err() {
                return;
            }
            tokio::time::sleep(every).await;
        }
    };
    tokio::select! {
        answered = reading => answered.unwrap(),
        () = writing => (started.elapsed(), String::new()),
        () = tokio::time::sleep(patience) => panic!("still open after {patience:?}"),
    }
}

fn status(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    let head = answer.split("\r\n\r\n").next()?;
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

fn body(answer: &str) -> Value {
    let (_, body) = answer.split_once("\r\n\r\n").expect("a complete answer");
    serde_json::from_str(body).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_header_is_closed_after_the_header_timeout() {
    let served = Served::start(limits(), Duration::ZERO).await;
    let mut stream = served.connect().await;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nX-Slow: ")
        .await
        .unwrap();
    let (closed_after, answer) =
        trickle(stream, Duration::from_millis(50), Duration::from_secs(5)).await;
    assert!(
        closed_after >= Duration::from_millis(400),
        "closed early: {closed_after:?}"
    );
    assert!(closed_after < Duration::from_secs(3), "{closed_after:?}");
    assert!(!answer.contains(" 200 "), "{answer}");
    assert!(status(&served.health().await) == 200, "others are served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_after_the_header_timeout() {
    let served = Served::start(limits(), Duration::ZERO).await;
    // A connection that never sends anything.
    let mut silent = served.connect().await;
    let started = Instant::now();
    assert_eq!(read_all(&mut silent, Duration::from_secs(5)).await, "");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(3),
        "{waited:?}"
    );

    // A keep-alive connection after one answer: hyper restarts the header timer when it
    // goes idle, so the same bound closes it.
    let mut kept = served.connect().await;
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer concord_test-operator\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let answer = read_all(&mut kept, Duration::from_secs(5)).await;
    assert_eq!(status(&answer), 200, "{answer}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(3),
        "the idle keep-alive connection closed after {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_is_cut_after_the_body_timeout() {
    let served = Served::start(limits(), Duration::ZERO).await;
    let mut stream = served.connect().await;
    stream
        .write_all(
            b"POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer concord_test-operator\r\nContent-Type: application/json\r\n\
              Content-Length: 1000\r\n\r\n[",
        )
        .await
        .unwrap();
    let (cut_after, answer) =
        trickle(stream, Duration::from_millis(50), Duration::from_secs(5)).await;
    assert_eq!(status(&answer), 408, "{answer}");
    assert_eq!(header(&answer, "connection"), Some("close"), "{answer}");
    assert_eq!(header(&answer, "content-type"), Some("application/json"));
    assert!(
        body(&answer)["error"]
            .as_str()
            .unwrap()
            .contains("did not arrive"),
        "{answer}"
    );
    assert!(
        cut_after >= Duration::from_millis(600) && cut_after < Duration::from_secs(3),
        "{cut_after:?}"
    );
    assert_eq!(served.store.count().unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_in_flight_cap_are_shed_with_503_and_retry_after() {
    let served = Served::start(
        ServerLimits {
            max_requests: 2,
            ..limits()
        },
        Duration::from_millis(800),
    )
    .await;
    let slow: Vec<_> = (0..2)
        .map(|_| tokio::spawn(send(served.address, SYNC.to_owned())))
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let shed = served.health().await;
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "shed at once"
    );
    assert_eq!(status(&shed), 503, "{shed}");
    assert_eq!(header(&shed, "retry-after"), Some("1"), "{shed}");
    assert!(
        body(&shed)["error"]
            .as_str()
            .unwrap()
            .contains("overloaded"),
        "{shed}"
    );
    for answer in slow {
        assert_eq!(status(&answer.await.unwrap()), 200);
    }
    assert_eq!(status(&served.health().await), 200, "slots are given back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_slower_than_the_request_timeout_answers_503() {
    let served = Served::start(
        ServerLimits {
            request_timeout: Duration::from_millis(300),
            ..limits()
        },
        Duration::from_secs(3),
    )
    .await;
    let started = Instant::now();
    let answer = served.send(SYNC).await;
    assert_eq!(status(&answer), 503, "{answer}");
    assert!(body(&answer)["error"]
        .as_str()
        .unwrap()
        .contains("did not answer"));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_share_a_bounded_budget() {
    // The smallest budget there is: one largest body (16 MiB).
    let served = Served::start(
        ServerLimits {
            body_budget: 0,
            body_timeout: Duration::from_secs(2),
            ..limits()
        },
        Duration::ZERO,
    )
    .await;
    // A client declares 16 MiB, sends 12 MiB of it and stalls.
    let mut hog = served.connect().await;
    hog.write_all(
        format!(
            "POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer concord_test-operator\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n",
            16 << 20
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    hog.write_all(&vec![b' '; 12 << 20]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A 5 MiB batch (five events, each within the 1 MiB an event may be) does not fit beside
    // it: shed, not buffered.
    let events: Vec<Value> = (0..5)
        .map(|i| {
            written(
                &format!("big-{i}"),
                &format!("n{i}"),
                &"x".repeat(1_000_000),
            )
        })
        .collect();
    let batch = serde_json::to_string(&events).unwrap();
    let post = format!(
        "POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer concord_test-operator\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{batch}",
        batch.len()
    );
    let shed = served.send(&post).await;
    assert_eq!(status(&shed), 503, "{}", &shed[..shed.len().min(500)]);
    assert_eq!(header(&shed, "retry-after"), Some("1"));
    assert!(body(&shed)["error"]
        .as_str()
        .unwrap()
        .contains("MiB of request bodies"));

    // The stalled client is cut by the body timeout, which gives its bytes back.
    let cut = read_all(&mut hog, Duration::from_secs(5)).await;
    assert_eq!(status(&cut), 408, "{cut}");
    let accepted = served.send(&post).await;
    assert_eq!(
        status(&accepted),
        200,
        "{}",
        &accepted[..accepted.len().min(500)]
    );
    assert_eq!(served.store.count().unwrap(), 5);

    // Over 16 MiB is refused from the header alone, without waiting for the body.
    let started = Instant::now();
    let too_large = served
        .send(&format!(
            "POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer concord_test-operator\r\nContent-Length: {}\r\n\r\n",
            (16 << 20) + 1
        ))
        .await;
    assert_eq!(status(&too_large), 413, "{too_large}");
    assert!(started.elapsed() < Duration::from_millis(500));
}

/// The head of a putEvents request declaring one byte more than a body may be.
fn oversized_head() -> String {
    format!(
        "POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer concord_test-operator\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        (16 << 20) + 1
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_writes_its_whole_refused_body_before_reading_gets_the_answer() {
    let served = Served::start(limits(), Duration::ZERO).await;
    let mut stream = served.connect().await;
    stream.write_all(oversized_head().as_bytes()).await.unwrap();
    // As most clients do: the whole body first, then the answer. The server refused it from
    // the header (413) and will not read it; it must not reset the connection under the
    // client's writes, which would lose the answer too.
    let wrote = stream.write_all(&vec![b' '; (16 << 20) + 1]).await;
    let answer = read_all(&mut stream, Duration::from_secs(10)).await;
    assert!(wrote.is_ok(), "the body's write failed: {wrote:?}");
    assert_eq!(status(&answer), 413, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_client_that_never_stops_writing_is_cut_off() {
    let served = Served::start(limits(), Duration::ZERO).await;
    let mut stream = served.connect().await;
    stream.write_all(oversized_head().as_bytes()).await.unwrap();
    let started = Instant::now();
    let chunk = vec![b' '; 1 << 20];
    let mut written = 0usize;
    let cut = loop {
        match tokio::time::timeout(Duration::from_secs(15), stream.write_all(&chunk)).await {
            Ok(Ok(())) => written += chunk.len(),
            Ok(Err(error)) => break error,
            Err(_) => panic!("a write stalled for 15 s after {written} bytes"),
        }
        assert!(
            written <= 256 << 20,
            "still writing after {written} bytes and {:?}",
            started.elapsed()
        );
    };
    // What the server drops is bounded (32 MiB), or its time (5 s); then the connection ends.
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "cut after {:?}",
        started.elapsed()
    );
    assert!(written >= 16 << 20, "cut after only {written} bytes: {cut}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_the_longest_idle_connection_makes_room() {
    let served = Served::start(
        ServerLimits {
            max_connections: 4,
            header_timeout: Duration::from_secs(30),
            ..limits()
        },
        Duration::from_millis(1500),
    )
    .await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(served.connect().await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A fifth client is served; the first idle connection was closed for it.
    assert_eq!(status(&served.health().await), 200);
    let mut oldest = idle.remove(0);
    assert_eq!(read_all(&mut oldest, Duration::from_secs(2)).await, "");
    let mut probe = [0u8; 1];
    let still_open =
        tokio::time::timeout(Duration::from_millis(200), idle[2].read(&mut probe)).await;
    assert!(still_open.is_err(), "the newest idle connection stays open");

    // With every connection busy, a newcomer is refused rather than queued behind them.
    drop(idle); // the idle ones leave; four busy ones take their place
    let busy: Vec<_> = (0..4)
        .map(|_| tokio::spawn(send(served.address, SYNC.to_owned())))
        .collect();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let refused = served.health().await;
    assert_eq!(refused, "", "closed without an answer");
    for answer in busy {
        assert_eq!(status(&answer.await.unwrap()), 200, "the busy ones finish");
    }
    assert_eq!(status(&served.health().await), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_a_closing_connection_makes_room_first() {
    let served = Served::start(
        ServerLimits {
            max_connections: 2,
            header_timeout: Duration::from_secs(30),
            ..limits()
        },
        Duration::ZERO,
    )
    .await;
    const HEALTH: &str = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    // Idle the longest, and its client may still use it.
    let mut kept = served.connect().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Answered and closed by the server, but its client keeps the socket open: the server
    // is only draining it.
    let mut closing = served.connect().await;
    closing.write_all(HEALTH.as_bytes()).await.unwrap();
    let answer = read_all(&mut closing, Duration::from_secs(2)).await;
    assert_eq!(status(&answer), 200, "{answer}");
    // A newcomer at the cap: the draining connection makes room.
    assert_eq!(status(&served.health().await), 200);
    kept.write_all(HEALTH.as_bytes()).await.unwrap();
    let answer = read_all(&mut kept, Duration::from_secs(2)).await;
    assert_eq!(
        status(&answer),
        200,
        "the idle connection was kept: {answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_the_client_does_not_read_is_cut_after_the_write_timeout() {
    let served = Served::start(
        ServerLimits {
            write_timeout: Duration::from_millis(500),
            ..limits()
        },
        Duration::ZERO,
    )
    .await;
    // About 12 MB of events: more than the sockets' buffers hold.
    let text = "x".repeat(1000);
    let events: Vec<CloudEvent> = (0..12_000)
        .map(|i| {
            CloudEvent::from_value(written(&format!("e{i}"), &format!("n{i}"), &text)).unwrap()
        })
        .collect();
    served.store.append(&events, &[]).unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(served.address).await.unwrap();
    stream
        .write_all(b"GET /api/events?limit=10000 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer concord_test-operator\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await; // not reading
    let mut received = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut received)).await;
    let text = String::from_utf8_lossy(&received);
    assert_eq!(status(&text), 200);
    let length: usize = header(&text, "content-length").unwrap().parse().unwrap();
    let head = text.find("\r\n\r\n").unwrap() + 4;
    assert!(
        received.len() - head < length,
        "cut short: {} of {length} bytes",
        received.len() - head
    );
    assert_eq!(status(&served.health().await), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_idle_connections_and_finishes_busy_ones() {
    let served = Served::start(
        ServerLimits {
            header_timeout: Duration::from_secs(30),
            ..limits()
        },
        Duration::from_millis(600),
    )
    .await;
    let mut idle = served.connect().await;
    let mut half_header = served.connect().await;
    half_header.write_all(b"GET /heal").await.unwrap();
    let busy = tokio::spawn(send(served.address, SYNC.to_owned()));
    // Busy too, and it keeps its socket open after its answer: the server closes without
    // draining it (a lingering close), or this client would hold the stop for 5 s.
    let mut keeps_open = served.connect().await;
    keeps_open.write_all(SYNC.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let took = served.stop().await;
    assert!(
        took < Duration::from_secs(3),
        "{took:?}: idle connections did not hold it"
    );
    let answer = busy.await.unwrap();
    assert_eq!(
        status(&answer),
        200,
        "the request in flight was answered: {answer}"
    );
    let answer = read_all(&mut keeps_open, Duration::from_secs(1)).await;
    assert_eq!(status(&answer), 200, "{answer}");
    assert_eq!(read_all(&mut idle, Duration::from_secs(1)).await, "");
    assert_eq!(read_all(&mut half_header, Duration::from_secs(1)).await, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_writer_queue_answers_503_with_retry_after() {
    let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let mut running = concord_http::start_service(
        &notes_spec(),
        Arc::clone(&store),
        Box::new(SystemEnv::default()),
        concord_http::StartOptions {
            writer_queue: 3,
            ..Default::default()
        },
    )
    .unwrap();
    running.set_auth(&crate::common::auth_config()).unwrap();
    // Built before the writer is stuck: building reads the catalogue under the model's lock.
    let router = running.router();
    // Stick the writer in a command until released.
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let (started, running_command) = std::sync::mpsc::channel::<()>();
    let blocker = {
        let host = running.host.clone();
        tokio::spawn(async move {
            host.command(Box::new(move |_| {
                let _ = started.send(());
                let _ = gate.recv();
                Ok(vec![])
            }))
            .await
        })
    };
    running_command
        .recv_timeout(Duration::from_secs(5))
        .unwrap();
    // Commands queue without reading the model first (putEvents validates under the read
    // lock, which the stuck writer holds).
    let post = |id: String| {
        let router = router.clone();
        async move {
            let note = json!({"noteId": id, "text": "queued"}).to_string();
            let request = axum::http::Request::post("/api/notes")
                .header("content-type", "application/json")
                .header("host", "127.0.0.1")
                .header("authorization", "Bearer concord_test-operator")
                .body(axum::body::Body::from(note))
                .unwrap();
            tower::ServiceExt::oneshot(router, request).await.unwrap()
        }
    };
    let queued: Vec<_> = (0..3)
        .map(|i| tokio::spawn(post(format!("q{i}"))))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while running.host.queued() < 3 {
        assert!(
            Instant::now() < deadline,
            "{} queued",
            running.host.queued()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let refused = post("late".into()).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(refused.headers()["content-type"], "application/json");
    let body = axum::body::to_bytes(refused.into_body(), usize::MAX)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("overloaded"),
        "{body}"
    );

    release.send(()).unwrap();
    assert!(blocker.await.unwrap().is_ok());
    for answer in queued {
        assert_eq!(
            answer.await.unwrap().status(),
            200,
            "the queued ones are served"
        );
    }
    assert_eq!(
        store.count().unwrap(),
        3,
        "the refused command raised nothing"
    );
    running.host.shutdown();
}
