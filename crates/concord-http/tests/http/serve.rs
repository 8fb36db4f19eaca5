//! `serve` on a real socket: answers, then on shutdown lets the request in flight finish.

use std::sync::Arc;
use std::time::Duration;

use concord_core::runtime::SystemEnv;
use concord_core::store::MemoryStore;
use concord_http::{serve, start_service, SyncControl, SyncFuture, SyncRun, SyncStatus};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify};

use crate::common::{auth_config, notes_spec, OPERATOR_TOKEN};

/// A sync run that takes a while and says when it has started.
struct SlowLinks {
    started: Arc<Notify>,
}

impl SyncControl for SlowLinks {
    fn status(&self) -> SyncStatus {
        SyncStatus::default()
    }

    fn run_now(&self) -> SyncFuture<'_> {
        Box::pin(async {
            self.started.notify_one();
            tokio::time::sleep(Duration::from_millis(300)).await;
            SyncRun::default()
        })
    }
}

async fn request(address: std::net::SocketAddr, head: impl AsRef<str>) -> String {
    let head = head.as_ref();
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

fn body(answer: &str) -> Value {
    let (_, body) = answer.split_once("\r\n\r\n").expect("a complete answer");
    serde_json::from_str(body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_and_shuts_down_gracefully() {
    let started = Arc::new(Notify::new());
    let mut running = start_service(
        &notes_spec(),
        Arc::new(MemoryStore::new()),
        Box::new(SystemEnv::default()),
        Default::default(),
    )
    .unwrap();
    running.attach_sync(Arc::new(SlowLinks {
        started: Arc::clone(&started),
    }));
    running.set_auth(&auth_config()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, running.router(), async {
        let _ = stopped.await;
    }));

    let health = request(
        address,
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(health.starts_with("HTTP/1.1 200 OK\r\n"), "{health}");
    assert_eq!(
        body(&health),
        json!({"status": "ok", "service": "notes", "events": 0, "lastSequence": 0})
    );

    // A request in flight when shutdown begins still gets its answer.
    let slow = tokio::spawn(request(
        address,
        format!(
            "POST /api/sync HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {OPERATOR_TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    ));
    started.notified().await;
    stop.send(()).unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), slow)
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert_eq!(
        body(&answer),
        json!({"links": []}),
        "the slow run's own answer"
    );

    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve returns after shutdown")
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(address).await.is_err(),
        "no longer accepting"
    );
    running.host.shutdown();
}
