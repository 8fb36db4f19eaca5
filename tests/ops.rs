//! The operator's commands on stores: `concord export`, `import` and `digest`. A service's
//! store moves SQLite → PostgreSQL → SQLite with equal digests and equal answers from the
//! service on each; importing twice changes nothing; a conflicting or malformed file is
//! refused with the line and id named.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use support::*;

/// Runs `concord ARGS…` to its end: (exit code, stdout, stderr).
fn concord(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run concord");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> String {
    let (code, stdout, stderr) = concord(args);
    assert_eq!(
        code,
        Some(0),
        "concord {args:?}\nstdout: {stdout}\nstderr: {stderr}"
    );
    stdout
}

fn digest(store: &str) -> String {
    let line = ok(&["digest", "--store", store]);
    assert!(line.starts_with("sha256-sum:"), "{line}");
    line.trim().to_owned()
}

/// What the office answers about its students and examinations.
fn answers(node: &Node) -> (Value, Value) {
    (
        Value::Array(node.all_pages("/api/students")),
        Value::Array(node.all_pages("/api/examinations")),
    )
}

/// The office with a small story, stopped; its store's path and its answers.
fn office_with_a_story(data: &Path) -> (String, (Value, Value)) {
    let mut office = Concord::serve(
        "students-office",
        free_port(),
        data,
        &["--no-links".to_owned()],
    );
    let node = office.node();
    node.post_ok(
        "/api/examinations",
        &json!({"examinationId": "se-1", "title": "Modelling", "group": "se-group"}),
    );
    for i in 0..40 {
        let id = format!("s-{i:03}");
        node.post_ok(
            "/api/students",
            &json!({"studentId": id, "name": format!("Student ™ {i}")}),
        );
        if i % 3 == 0 {
            node.post_ok(
                "/api/enrollments",
                &json!({"studentId": id, "examinationId": "se-1"}),
            );
        }
    }
    // A peer's grade with data in a spelling only the exact text keeps (1.70, a space).
    let (status, report) = node.put_events(&[json!({
        "specversion": "1.0", "id": "grade-exact", "source": "se-group",
        "type": "studentGraded", "time": "2026-03-01T10:00:00.5+01:00",
        "data": {"studentId": "s-000", "examinationId": "se-1", "grade": 1.70 , "group": "se-group"}
    })]);
    assert!(status < 300, "{report}");
    let answers = answers(&node);
    office.stop_gracefully();
    (
        data.join("students-office.db").display().to_string(),
        answers,
    )
}

#[test]
fn export_import_and_digest_within_sqlite() {
    let data = tempfile::tempdir().unwrap();
    let (store, _) = office_with_a_story(data.path());
    let before = digest(&store);
    assert!(before.ends_with("events:56"), "{before}");

    let file = data.path().join("office.jsonl");
    let file = file.to_str().unwrap();
    ok(&["export", "--store", &store, "--out", file]);
    let text = std::fs::read_to_string(file).unwrap();
    assert_eq!(text.lines().count(), 56);
    assert!(!Path::new(&format!("{file}.partial")).exists());
    assert_eq!(
        ok(&["export", "--store", &store]),
        text,
        "stdout and --out agree"
    );

    let copy = data.path().join("copy.db");
    let copy = copy.to_str().unwrap();
    let report = ok(&["import", "--store", copy, file]);
    assert!(
        report.contains("appended 56, already stored 0, conflicts 0"),
        "{report}"
    );
    assert_eq!(digest(copy), before);
    let again = ok(&["import", "--store", copy, file]);
    assert!(
        again.contains("appended 0, already stored 56, conflicts 0"),
        "{again}"
    );
    assert_eq!(digest(copy), before, "importing twice changes nothing");

    // One event altered: its id is a conflict, named with its line; nothing else changes.
    let altered: String = text
        .lines()
        .map(|line| line.replace("Student ™ 7\"", "Student ™ 7 (forged)\"") + "\n")
        .collect();
    let line = text
        .lines()
        .position(|l| l.contains("Student ™ 7\""))
        .unwrap()
        + 1;
    let forged = data.path().join("forged.jsonl");
    std::fs::write(&forged, altered).unwrap();
    let (code, stdout, stderr) = concord(&["import", "--store", copy, forged.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("appended 0, already stored 55, conflicts 1"),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!("conflict: line {line}: id ")),
        "{stderr}"
    );
    assert_eq!(digest(copy), before);

    // A malformed line refuses the whole file before anything is stored.
    let broken = data.path().join("broken.jsonl");
    let fresh = data.path().join("fresh.db");
    std::fs::write(&broken, format!("{}{{\"id\":\"half\"}}\n", text)).unwrap();
    let (code, _, stderr) = concord(&[
        "import",
        "--store",
        fresh.to_str().unwrap(),
        broken.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("line 57: not an event"), "{stderr}");
    assert!(
        !fresh.exists(),
        "a refused file does not even create the store"
    );

    // Reading a store that is not there is an error, not an empty store.
    let (code, _, stderr) = concord(&["digest", "--store", "/nonexistent/x.db"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("no such store"), "{stderr}");
}

#[cfg(feature = "postgres")]
#[test]
fn a_store_moves_sqlite_to_postgresql_and_back_with_equal_digests_and_answers() {
    let test = "a_store_moves_sqlite_to_postgresql_and_back_with_equal_digests_and_answers";
    let Some(url) = concord_postgres::testing::server_or_skip(test) else {
        return;
    };
    let schema = concord_postgres::testing::unique_schema("ops_move");
    let pg = format!("{url}?schema={schema}");
    let data = tempfile::tempdir().unwrap();
    let (sqlite, story) = office_with_a_story(data.path());
    let before = digest(&sqlite);

    // SQLite → PostgreSQL.
    let file = data.path().join("office.jsonl");
    let file = file.to_str().unwrap();
    ok(&["export", "--store", &sqlite, "--out", file]);
    let report = ok(&["import", "--store", &pg, file]);
    assert!(report.contains("appended 56"), "{report}");
    assert_eq!(digest(&pg), before);
    // A URL without a schema is refused unless the service names it.
    let (code, _, stderr) = concord(&["digest", "--store", &url]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("names no schema"), "{stderr}");

    let mut office = Concord::serve(
        "students-office",
        free_port(),
        data.path(),
        &["--no-links".to_owned(), "--store".to_owned(), pg.clone()],
    );
    assert_eq!(
        answers(&office.node()),
        story,
        "the service on PostgreSQL answers the same"
    );
    office.stop_gracefully();

    // PostgreSQL → SQLite.
    let back_file = data.path().join("back.jsonl");
    let back_file = back_file.to_str().unwrap();
    ok(&["export", "--store", &pg, "--out", back_file]);
    let back = data.path().join("back");
    std::fs::create_dir(&back).unwrap();
    let back_store = back.join("students-office.db");
    ok(&["import", "--store", back_store.to_str().unwrap(), back_file]);
    assert_eq!(digest(back_store.to_str().unwrap()), before);
    let mut office = Concord::serve(
        "students-office",
        free_port(),
        &back,
        &["--no-links".to_owned()],
    );
    assert_eq!(answers(&office.node()), story, "and on SQLite again");
    office.stop_gracefully();

    concord_postgres::PostgresStore::drop_schema(&url, &schema).expect("drop the test schema");
}
