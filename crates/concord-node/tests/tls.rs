//! HTTPS in-process: a service served with a certificate from a private CA, and links that
//! reach it — trusting that CA when told to, and refusing the peer otherwise.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use concord_core::scope::Scope;
use concord_core::store::MemoryStore;
use concord_http::auth::{PeerAuth, TokenHash};
use concord_http::TlsError;
use concord_node::client::ClientError;
use concord_node::{
    AuthConfig, HttpTransport, LinkCredentials, NodeOptions, RunningNode, ServerTls, TransportSet,
};
use concord_sync::{LinkSpec, TransportKind};
use concord_testkit::notes::{NotesSpec, NOTE_WRITTEN};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A private CA and a server certificate it signed for `localhost` and 127.0.0.1, as PEM
/// files in a temporary folder.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "Concord test CA");
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&server_key, &ca)
            .unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("cert.pem"), server.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), server_key.serialize_pem()).unwrap();
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn server_tls(&self) -> ServerTls {
        ServerTls::from_pem_files(&self.path("cert.pem"), &self.path("key.pem")).unwrap()
    }
}

/// The token the reader presents; the writer knows its hash.
const READER_TOKEN: &str = "concord_reader-token-for-the-tls-test";

fn reader_token() -> LinkCredentials {
    LinkCredentials::token(READER_TOKEN)
}

/// A writer served over HTTPS, holding three notes.
async fn https_writer(pki: &Pki) -> RunningNode {
    let writer = concord_node::start(
        NotesSpec::new("writer"),
        Arc::new(MemoryStore::new()),
        NodeOptions {
            tls: Some(pki.server_tls()),
            // The reader may read everything.
            auth: AuthConfig::default().with_peer(
                "reader",
                PeerAuth::new([TokenHash::of(READER_TOKEN)]).reading(Scope::everything()),
            ),
            ..NodeOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(
        writer.url().starts_with("https://127.0.0.1:"),
        "{}",
        writer.url()
    );
    for n in 0..3 {
        writer
            .command(
                "/api/notes",
                json!({"noteId": format!("n{n}"), "text": "a note"}),
            )
            .await
            .unwrap();
    }
    writer
}

/// A reader pulling the writer's notes from `url` over `transport`.
async fn reader(url: &str, transport: HttpTransport) -> RunningNode {
    concord_node::start(
        NotesSpec::new("reader").accepting_from("writer"),
        Arc::new(MemoryStore::new()),
        NodeOptions {
            links: vec![LinkSpec::pull("writer", url, &[NOTE_WRITTEN])],
            transport: Some(Arc::new(
                TransportSet::empty().with(TransportKind::Http, Arc::new(transport)),
            )),
            ..NodeOptions::default()
        },
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_pulls_from_an_https_peer_through_a_private_ca() {
    let pki = Pki::new();
    let writer = https_writer(&pki).await;
    let url = format!("https://localhost:{}", writer.addr.port());
    let reader = reader(
        &url,
        HttpTransport::with_ca(&pki.path("ca.pem"), reader_token()).unwrap(),
    )
    .await;
    let summary = reader.sync_now().await;
    let link = &summary.links[0];
    assert!(link.ok, "{summary:?}");
    // The cursor, not `carried`: the link's own first round, due at start, may have carried
    // the three notes before `sync_now` took its turn.
    assert_eq!(link.cursor, 3, "{summary:?}");
    // By IP address too: the certificate names 127.0.0.1.
    let by_ip = self::reader(
        &writer.url(),
        HttpTransport::with_ca(&pki.path("ca.pem"), reader_token()).unwrap(),
    )
    .await;
    assert_eq!(by_ip.sync_now().await.links[0].cursor, 3);
    by_ip.stop().await;
    reader.stop().await;
    writer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_ca_a_link_refuses_the_peer_s_certificate() {
    let pki = Pki::new();
    let writer = https_writer(&pki).await;
    let reader = reader(&writer.url(), HttpTransport::default()).await;
    let summary = reader.sync_now().await;
    let link = &summary.links[0];
    assert!(!link.ok, "{summary:?}");
    assert_eq!(link.carried, 0, "{summary:?}");
    let error = link.last_error.as_deref().unwrap_or_default();
    assert!(error.contains("certificate"), "{error}");
    // Plain HTTP to the HTTPS port gets no HTTP answer: there is no downgrade.
    let plain = reader_over_plain_http(&writer).await;
    assert!(!plain.starts_with("HTTP/"), "{plain:?}");
    reader.stop().await;
    writer.stop().await;
}

async fn reader_over_plain_http(node: &RunningNode) -> String {
    let mut stream = tokio::net::TcpStream::connect(node.addr).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn unusable_certificates_and_cas_are_named() {
    let pki = Pki::new();
    let missing = ServerTls::from_pem_files(&pki.path("nope.pem"), &pki.path("key.pem"));
    assert!(matches!(missing, Err(TlsError::Read { .. })), "{missing:?}");
    assert!(missing.unwrap_err().to_string().contains("nope.pem"));
    // A key that is not the certificate's.
    let other = pki.path("other.pem");
    std::fs::write(&other, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let mismatched = ServerTls::from_pem_files(&pki.path("cert.pem"), &other);
    assert!(
        matches!(&mismatched, Err(TlsError::Config(_))),
        "a key that does not match is refused: {mismatched:?}"
    );
    // A key where the certificate should be.
    let swapped = ServerTls::from_pem_files(&pki.path("key.pem"), &pki.path("key.pem"));
    assert!(
        matches!(swapped, Err(TlsError::NoCertificate(_))),
        "{swapped:?}"
    );

    let not_pem = pki.path("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    assert!(matches!(
        HttpTransport::with_ca(&not_pem, reader_token()),
        Err(ClientError::NoCertificate(_))
    ));
    assert!(matches!(
        HttpTransport::with_ca(&pki.path("absent.pem"), reader_token()),
        Err(ClientError::ReadCa { .. })
    ));
}
