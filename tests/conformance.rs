//! `concord conformance` end to end: it passes against each of the four services of a real
//! demo (events generated from each service's AsyncAPI document) and against a correct
//! non-Rust peer (`tests/support/peer.py`, written from docs/protocol.md), and fails —
//! naming the check — against that peer with each of its defects switched on.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::json;
use student_affairs::StudentAffairsEvent;
use support::*;

/// Runs `concord conformance URL ARGS…`.
fn conformance(url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("conformance")
        .arg(url)
        .args(args)
        .env_remove("CONCORD_TOKEN")
        .output()
        .expect("concord conformance runs")
}

fn report(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The outcome lines of a run: (PASS/FAIL, check name).
fn lines(output: &Output) -> Vec<(String, String)> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.starts_with("PASS ") || l.starts_with("FAIL "))
        .map(|l| {
            let mut words = l.split_whitespace();
            (
                words.next().unwrap_or_default().to_owned(),
                words.next().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

const CHECKS: [&str; 15] = [
    "get-events",
    "unauthorized",
    "put-structured",
    "put-batched",
    "put-json",
    "put-binary",
    "round-trip",
    "duplicates",
    "paging",
    "filters",
    "malformed-batch",
    "conflict",
    "bad-requests",
    "unsupported-media-type",
    "too-large",
];

#[test]
fn every_service_of_the_demo_conforms() {
    let data = tempfile::tempdir().unwrap();
    let base = free_ports(4);
    let process = Concord::demo(base, data.path(), &["--seed".into()]);
    let token = process.operator_token();
    for (index, name) in SERVICES.iter().enumerate() {
        let url = base_url(base + index as u16);
        let output = conformance(&url, &["--token", token]);
        assert!(output.status.success(), "{name}: {}", report(&output));
        let names: Vec<String> = lines(&output)
            .into_iter()
            .map(|(v, n)| {
                assert_eq!(v, "PASS", "{name}: {}", report(&output));
                n
            })
            .collect();
        assert_eq!(names, CHECKS, "{name}: every check runs, in order");
    }
    // Each service's AsyncAPI document publishes every catalogue type and accepts exactly
    // its acceptance rules; a peer's token may not read it.
    for (index, name) in SERVICES.iter().enumerate() {
        let node = &process.nodes()[index];
        let doc = node.get_ok("/api/asyncapi.json");
        assert_eq!(doc["asyncapi"], "3.0.0", "{name}");
        assert_eq!(doc["info"]["title"], *name);
        assert_eq!(doc["operations"]["getEvents"]["action"], "send");
        assert_eq!(doc["operations"]["putEvents"]["action"], "receive");
        let published = doc["channels"]["getEvents"]["messages"]
            .as_object()
            .unwrap();
        for ty in StudentAffairsEvent::TYPES {
            assert!(
                published.contains_key(&format!("own.{name}.{ty}")),
                "{name} publishes {ty}"
            );
            let schema = &doc["components"]["schemas"][*ty];
            assert_eq!(schema["type"], "object", "{name}: the data schema of {ty}");
            assert!(!schema["required"].as_array().unwrap().is_empty(), "{ty}");
        }
        let accepted: Vec<(String, String)> = doc["operations"]["putEvents"]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let key = r["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
                let message = &doc["components"]["messages"][key];
                (
                    message["x-concord-source"].as_str().unwrap().to_owned(),
                    message["x-concord-type"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = match *name {
            OFFICE => vec![
                (SE.into(), "studentGraded".into()),
                (THEORY.into(), "studentGraded".into()),
            ],
            TA_POOL => vec![
                (SE.into(), "studentHired".into()),
                (THEORY.into(), "studentHired".into()),
            ],
            _ => vec![
                (OFFICE.into(), "studentEnrolled".into()),
                (SE.into(), "studentHired".into()),
                (THEORY.into(), "studentHired".into()),
            ],
        };
        let (mut accepted, mut expected) = (accepted, expected);
        accepted.sort();
        expected.sort();
        assert_eq!(accepted, expected, "{name} accepts");
        if *name == SE {
            let enrolled =
                &doc["components"]["messages"]["accepted.students-office.studentEnrolled"];
            assert_eq!(
                enrolled["x-concord-filter"],
                json!([{"field": "group", "value": SE}])
            );
        }
    }
    let credentials = Credentials::read(&process.credentials_path().unwrap()).unwrap();
    let office_token: &'static str =
        Box::leak(credentials.peer(OFFICE).to_owned().into_boxed_str());
    let (status, _) = Node::with_token(base + 1, Some(office_token)).get("/api/asyncapi.json");
    assert_eq!(status, 403, "a peer may not read the document");
    let (status, _) = Node::with_token(base + 1, None).get("/api/asyncapi.json");
    assert_eq!(status, 401, "the document needs a credential");

    // Without the token, the checker cannot read: it says so and fails.
    let output = conformance(&base_url(base), &[]);
    assert!(!output.status.success(), "{}", report(&output));
}

/// A peer process (Python) on a free port; killed on drop.
struct Peer {
    child: Child,
    port: u16,
}

impl Peer {
    fn start(switches: &[&str]) -> Peer {
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/peer.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--port", &port.to_string(), "--token", "peer-token"])
            .args(switches)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs tests/support/peer.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "listening", "the peer started");
        Peer { child, port }
    }

    fn url(&self) -> String {
        base_url(self.port)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sample_file(dir: &Path) -> String {
    let path = dir.join("samples.json");
    let samples = json!([
        {"specversion": "1.0", "id": "x", "source": "python-peer", "type": "noteWritten",
         "time": "2026-01-01T00:00:00Z", "data": {"noteId": "n-1", "text": "hello", "stars": 3}},
        {"source": "python-peer", "type": "noteShared", "data": {"noteId": "n-1", "with": "ada"}},
    ]);
    std::fs::write(&path, samples.to_string()).unwrap();
    path.display().to_string()
}

#[test]
fn a_correct_python_peer_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let samples = sample_file(dir.path());
    let peer = Peer::start(&[]);
    let output = conformance(
        &peer.url(),
        &["--token", "peer-token", "--sample", &samples],
    );
    assert!(output.status.success(), "{}", report(&output));
    assert_eq!(lines(&output).len(), CHECKS.len(), "{}", report(&output));
}

#[test]
fn each_broken_peer_fails_naming_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let samples = sample_file(dir.path());
    for (switch, check) in [
        ("--dup-stores-twice", "duplicates"),
        ("--bad-next-after", "filters"),
        ("--partial-batch", "malformed-batch"),
        ("--mangles-data", "round-trip"),
        ("--no-401", "unauthorized"),
    ] {
        let peer = Peer::start(&[switch]);
        let output = conformance(
            &peer.url(),
            &["--token", "peer-token", "--sample", &samples],
        );
        assert_eq!(
            output.status.code(),
            Some(1),
            "{switch}: {}",
            report(&output)
        );
        let failed: Vec<String> = lines(&output)
            .into_iter()
            .filter(|(verdict, _)| verdict == "FAIL")
            .map(|(_, name)| name)
            .collect();
        assert!(
            failed.iter().any(|name| name == check),
            "{switch} must fail {check}: {}",
            report(&output)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(check),
            "{switch}: the summary names {check}: {stderr}"
        );
    }
}
