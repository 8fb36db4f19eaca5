//! TLS between two real `concord serve` processes (CONTRACT §6, issue 9 item 6): the
//! students-office and the se-group both serve HTTPS with certificates from a private CA made
//! here; the se-group trusts that CA (`tls_ca`) and its links pull enrollments from and push
//! grades to the office over `https://`. Every request of this test is HTTPS too (a small
//! rustls client below): the harness's plain-HTTP client would not get an answer, which is
//! itself checked.

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};
use support::{free_port, BIN, OFFICE, SE};

/// A private CA and one server certificate it signed for `localhost` and 127.0.0.1.
fn make_pki(dir: &Path) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Concord test CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
}

/// An HTTPS client trusting only the CA at `ca`.
struct Https {
    config: Arc<rustls::ClientConfig>,
}

impl Https {
    fn new(ca: &Path) -> Https {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        Https {
            config: Arc::new(config),
        }
    }

    /// One request on a fresh connection → (status, JSON body).
    fn send(
        &self,
        port: u16,
        method: &str,
        path: &str,
        body: &Value,
    ) -> std::io::Result<(u16, Value)> {
        let body = if method == "GET" {
            String::new()
        } else {
            body.to_string()
        };
        let name = ServerName::try_from("localhost").unwrap();
        let connection = rustls::ClientConnection::new(Arc::clone(&self.config), name)
            .map_err(std::io::Error::other)?;
        let socket = TcpStream::connect(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))?;
        socket.set_read_timeout(Some(Duration::from_secs(20)))?;
        let mut stream = rustls::StreamOwned::new(connection, socket);
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\
             Authorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            support::shared_credentials().operator,
            body.len()
        )?;
        stream.flush()?;
        let mut raw = Vec::new();
        if let Err(error) = stream.read_to_end(&mut raw) {
            // A close without TLS close_notify after a complete answer is fine.
            if error.kind() != std::io::ErrorKind::UnexpectedEof || raw.is_empty() {
                return Err(error);
            }
        }
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .ok_or_else(|| std::io::Error::other(format!("no HTTP answer: {text:?}")))?;
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
    }

    fn get(&self, port: u16, path: &str) -> Value {
        let (status, body) = self.send(port, "GET", path, &Value::Null).unwrap();
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    fn post(&self, port: u16, path: &str, body: Value) -> Value {
        let (status, answer) = self.send(port, "POST", path, &body).unwrap();
        assert!(
            (200..300).contains(&status),
            "POST {path} {body}: {status} {answer}"
        );
        answer
    }
}

/// `concord serve` with `args`, killed on drop; ready once `GET /health` answers over HTTPS.
struct Served {
    child: Option<Child>,
    logs: PathBuf,
}

impl Served {
    fn start(https: &Https, port: u16, logs: &Path, args: &[String]) -> Served {
        let logs = logs.join(format!("serve-{port}.log"));
        let child = Command::new(BIN)
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&logs).unwrap())
            .spawn()
            .unwrap();
        let mut served = Served {
            child: Some(child),
            logs,
        };
        let deadline = Instant::now() + support::START_TIMEOUT;
        loop {
            if let Ok((200, _)) = https.send(port, "GET", "/health", &Value::Null) {
                return served;
            }
            if let Some(status) = served.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("concord exited ({status}):\n{}", served.log());
            }
            assert!(
                Instant::now() < deadline,
                "no HTTPS /health:\n{}",
                served.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.logs).unwrap_or_default()
    }

    /// SIGTERM: exits 0 within 10 s over TLS too.
    fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        // SAFETY: signalling our own child process by its id.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "{status}:\n{}", self.log());
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no exit after SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The link named `name` in a `GET /api/sync` answer.
fn link<'a>(sync: &'a Value, name: &str) -> &'a Value {
    sync["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == name)
        .unwrap_or_else(|| panic!("no link {name}: {sync}"))
}

#[test]
fn two_services_synchronise_over_tls_with_a_private_ca() {
    let pki = tempfile::tempdir().unwrap();
    make_pki(pki.path());
    let file = |name: &str| pki.path().join(name).display().to_string();
    let https = Https::new(&pki.path().join("ca.pem"));
    let data = tempfile::tempdir().unwrap();
    let (office_port, se_port) = (free_port(), free_port());
    let tls = |port: u16| -> Vec<String> {
        [
            "serve",
            "--port",
            &port.to_string(),
            "--data",
            &data.path().display().to_string(),
            "--tls-cert",
            &file("cert.pem"),
            "--tls-key",
            &file("key.pem"),
            "--credentials",
            &support::shared_credentials().path.display().to_string(),
        ]
        .map(str::to_owned)
        .to_vec()
    };

    let mut office_args = tls(office_port);
    office_args.extend(["--service", OFFICE, "--no-links"].map(str::to_owned));
    let office = Served::start(&https, office_port, data.path(), &office_args);

    // The se-group: only its two links with the office, every other setting from TOML.
    let config = data.path().join("se-group.toml");
    std::fs::write(
        &config,
        format!(
            r#"
service = "se-group"
tls_ca = "{ca}"
sync_interval_ms = 100

[peers]
students-office = "https://localhost:{office_port}"

[[links]]
name = "enrollments"
peer = "students-office"
direction = "pull"
types = ["studentEnrolled"]
filter = ["group=se-group"]

[[links]]
name = "grades"
peer = "students-office"
direction = "push"
types = ["studentGraded"]
sources = ["se-group"]
"#,
            ca = file("ca.pem")
        ),
    )
    .unwrap();
    let mut se_args = tls(se_port);
    se_args.extend(["--config".to_owned(), config.display().to_string()]);
    let se = Served::start(&https, se_port, data.path(), &se_args);

    // Plain HTTP to an HTTPS port gets no HTTP answer, only a failed handshake.
    let plain = support::http(office_port, "GET", "/health", &[], b"");
    assert!(plain.is_err(), "{plain:?}");

    https.post(
        office_port,
        "/api/students",
        json!({"studentId": "s-1", "name": "Ada"}),
    );
    https.post(
        office_port,
        "/api/examinations",
        json!({"examinationId": "e-1", "title": "Modelling", "group": SE}),
    );
    https.post(
        office_port,
        "/api/enrollments",
        json!({"studentId": "s-1", "examinationId": "e-1"}),
    );

    // The pull link brings the enrollment over HTTPS.
    https.post(se_port, "/api/sync", json!({}));
    let student = https.get(se_port, "/api/students/s-1");
    assert_eq!(student["name"], "Ada", "{student}");
    let sync = https.get(se_port, "/api/sync");
    let enrollments = link(&sync, "enrollments");
    assert!(enrollments["lastError"].is_null(), "{sync}");
    assert!(enrollments["cursor"].as_u64().unwrap() > 0, "{sync}");
    assert!(enrollments["url"].as_str().unwrap().starts_with("https://"));

    // A grade goes back over the push link.
    https.post(
        se_port,
        "/api/assignments",
        json!({"assignmentId": "a-1", "examinationId": "e-1", "title": "Use cases", "maxPoints": 10}),
    );
    https.post(
        se_port,
        "/api/assignments/a-1/scores",
        json!({"studentId": "s-1", "points": 9}),
    );
    https.post(
        se_port,
        "/api/grades",
        json!({"studentId": "s-1", "examinationId": "e-1"}),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let graded = loop {
        let student = https.get(office_port, "/api/students/s-1");
        if student.to_string().contains("1.3") {
            break student;
        }
        assert!(
            Instant::now() < deadline,
            "the grade did not reach the office: {student}\n{}",
            https.get(se_port, "/api/sync")
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let sync = https.get(se_port, "/api/sync");
    assert!(link(&sync, "grades")["lastError"].is_null(), "{sync}");
    assert!(graded.to_string().contains("e-1"), "{graded}");

    se.stop();
    office.stop();
}
