//! The guide's fifth service end to end: `concord demo --seed` and the example's own binary
//! (`examples/scholarship`, `scholarship-office`) as two processes. The scholarship office
//! pulls the grades from the demo's students-office with the demo's credentials; a student
//! with one grade earns no award until a group grades them again, and then does; and
//! `concord conformance` passes on it.
//!
//! The binary is built by `cargo test --workspace` (the example's crate has tests of its own,
//! so its binary is built beside `concord`).

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

/// The example's binary, next to `concord` in the same target folder.
fn scholarship_binary() -> PathBuf {
    let path = std::path::Path::new(BIN).with_file_name("scholarship-office");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --workspace --bins` (or run \
         `cargo test --workspace`, which builds it)",
        path.display()
    );
    path
}

/// The scholarship office as a child process, killed on drop.
struct Scholarship {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl Scholarship {
    fn start(port: u16, office_port: u16, demo_data: &std::path::Path, store: PathBuf) -> Self {
        let log = tempfile::NamedTempFile::new().expect("a log file");
        let child = Command::new(scholarship_binary())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--office", &base_url(office_port)])
            .arg("--credentials")
            .arg(demo_data.join("credentials.toml"))
            .arg("--store")
            .arg(store)
            .args(["--sync-interval-ms", "100"])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(log.reopen().expect("the log"))
            .stderr(log.reopen().expect("the log"))
            .spawn()
            .expect("start scholarship-office");
        let mut process = Scholarship { child, log };
        let deadline = Instant::now() + START_TIMEOUT;
        while !matches!(http(port, "GET", "/health", &[], b""), Ok(r) if r.status == 200) {
            assert!(
                process.child.try_wait().ok().flatten().is_none(),
                "scholarship-office exited:\n{}",
                process.output()
            );
            assert!(
                Instant::now() < deadline,
                "scholarship-office did not start"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        process
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// SIGTERM, and a graceful exit (status 0) within 10 s.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let since = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "exit {status}:\n{}", self.output());
                return;
            }
            assert!(
                since.elapsed() < Duration::from_secs(10),
                "no exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Scholarship {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls the scholarship office until `student` is eligible.
fn until_eligible(office: &Node, student: &str) -> Value {
    eventually(
        &format!("{student} eligible for a scholarship"),
        Duration::from_secs(30),
        || {
            let (status, answer) = office.get(&format!("/api/students/{student}"));
            (status == 200 && answer["eligible"] == json!(true)).then_some(answer)
        },
    )
}

#[test]
fn a_fifth_service_awards_scholarships_from_the_demos_grades() {
    let base = free_ports(5);
    let data = tempfile::tempdir().expect("a data folder");
    let mut demo = Concord::demo(
        base,
        data.path(),
        &["--seed".into(), "--sync-interval-ms".into(), "100".into()],
    );
    let theory = demo.nodes()[2];
    let scholarship = Scholarship::start(
        base + 4,
        base,
        data.path(),
        data.path().join("scholarship.db"),
    );
    let office = Node::with_token(base + 4, Some(demo.operator_token()));

    // The sample story grades Ada twice (1.7 and 1.7): she earns 300 €.
    let ada = until_eligible(&office, "s-1001");
    assert_eq!(
        (&ada["name"], &ada["grades"]),
        (&json!("Ada Lovelace"), &json!(2))
    );
    let raised = office.post_ok("/api/awards", &json!({"studentId": "s-1001"}));
    assert_eq!(
        raised["events"].as_array().map(Vec::len),
        Some(1),
        "{raised}"
    );
    // Alan has only his Modelling grade yet; Grace's average (2.3) is too high.
    eventually("Alan's first grade", Duration::from_secs(30), || {
        (office.get("/api/students/s-1003").1["grades"] == json!(1)).then_some(())
    });
    let (status, refused) = office.post("/api/awards", &json!({"studentId": "s-1003"}));
    assert_eq!(status, 409, "{refused}");
    assert_eq!(
        office
            .post("/api/awards", &json!({"studentId": "s-1002"}))
            .0,
        409
    );

    // The theory group grades Alan's seminar; its push and our pull carry the grade here.
    theory.post_ok(
        "/api/presentations",
        &json!({"studentId": "s-1003", "examinationId": "theory-seminar-2026",
                "content": 1.0, "presentation": 1.0, "discussion": 1.3}),
    );
    theory.post_ok(
        "/api/grades",
        &json!({"studentId": "s-1003", "examinationId": "theory-seminar-2026"}),
    );
    until_eligible(&office, "s-1003");
    office.post_ok("/api/awards", &json!({"studentId": "s-1003"}));

    let awards: Vec<(Value, Value)> = office
        .get_ok("/api/awards")
        .as_array()
        .expect("a list")
        .iter()
        .map(|a| (a["studentId"].clone(), a["award"].clone()))
        .collect();
    assert_eq!(
        awards,
        [(json!("s-1001"), json!(300)), (json!("s-1003"), json!(600))]
    );
    // Its awards are events like any other, with its own name as their source.
    let (_, page) = office.get("/api/events?type=scholarshipAwarded");
    let sources: Vec<&Value> = page["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| &e["source"])
        .collect();
    assert_eq!(sources, [&json!("scholarship-office"); 2]);

    // And it speaks the protocol: `concord conformance` passes on it (events generated from
    // its AsyncAPI document, i.e. its catalogue's schemas and its acceptance).
    let checked = Command::new(BIN)
        .args(["conformance", &base_url(base + 4), "--token"])
        .arg(demo.operator_token())
        .output()
        .expect("run concord conformance");
    let report = String::from_utf8_lossy(&checked.stdout);
    assert!(checked.status.success(), "{report}");
    assert!(report.contains("0 failed"), "{report}");
    scholarship.stop();
    demo.stop_gracefully();
}
