//! putEvents, getEvents and the commands' error answers, against one real `concord serve`
//! each (CONTRACT §2 and §3): duplicates, the service's own events, types outside the
//! catalogue, acceptance, placeholders, last writer wins, the three CloudEvents HTTP modes,
//! all-or-nothing batches, the 16 MiB limit, and every bad input the contract names. The
//! harness fails any answer ≥ 500.

mod support;

use serde_json::{json, Value};
use support::*;

fn statuses(answer: &Value) -> Vec<String> {
    answer["results"]
        .as_array()
        .unwrap_or_else(|| panic!("results is an array: {answer}"))
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_owned())
        .collect()
}

fn counts(answer: &Value) -> (u64, u64, u64) {
    (
        answer["accepted"].as_u64().unwrap(),
        answer["duplicates"].as_u64().unwrap(),
        answer["ignored"].as_u64().unwrap(),
    )
}

fn ids_in_store(node: Node) -> Vec<String> {
    node.all_events()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

fn enrollment<'a>(student: &'a Value, exam: &str) -> &'a Value {
    student["enrollments"]
        .as_array()
        .unwrap_or_else(|| panic!("enrollments is an array: {student}"))
        .iter()
        .find(|e| e["examinationId"] == exam)
        .unwrap_or_else(|| panic!("no enrollment in {exam}: {student}"))
}

fn office_grade(office: Node, student: &str, exam: &str) -> Value {
    enrollment(&office.get_ok(&format!("/api/students/{student}")), exam)["grade"].clone()
}

fn enrolled(id: &str, student: &str, name: &str, exam: &str, group: &str, time: &str) -> Value {
    event(
        id,
        OFFICE,
        "studentEnrolled",
        time,
        json!({"studentId": student, "studentName": name, "examinationId": exam,
               "examinationTitle": "Modelling", "group": group}),
    )
}

fn hired(id: &str, group: &str, student: &str, name: &str, time: &str) -> Value {
    event(
        id,
        group,
        "studentHired",
        time,
        json!({"studentId": student, "name": name, "group": group}),
    )
}

#[test]
fn duplicates_in_a_batch_and_across_calls_are_stored_once() {
    let (_process, office, _data) = serve_alone(OFFICE);
    let before = office.events_count();
    let a = graded("dup-a", SE, "s-1", "e-1", 2.0, &at(1));
    let b = graded("dup-b", THEORY, "s-1", "e-2", 1.3, &at(2));
    let (status, answer) = office.put_events(&[a.clone(), a.clone(), b.clone()]);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(counts(&answer), (2, 1, 0), "{answer}");
    assert_eq!(statuses(&answer), ["accepted", "duplicate", "accepted"]);
    assert_eq!(answer["results"][0]["id"], "dup-a");
    assert_eq!(answer["results"][1]["id"], "dup-a");
    assert_eq!(office.events_count(), before + 2);

    let (status, answer) = office.put_events(&[b.clone(), a.clone()]);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(counts(&answer), (0, 2, 0), "{answer}");
    assert_eq!(statuses(&answer), ["duplicate", "duplicate"]);
    // Same id, different content: a conflict (CONTRACT §7), never merged — the stored event
    // stands.
    let mut changed = a.clone();
    changed["data"]["grade"] = json!(5.0);
    changed["time"] = json!(at(99));
    let (_, answer) = office.put_events(&[changed]);
    assert_eq!(statuses(&answer), ["conflict"], "{answer}");
    // Whatever its type or source: the id is taken.
    let disguised = event("dup-a", TA_POOL, "noteWritten", &at(5), json!({}));
    let (_, answer) = office.put_events(&[disguised]);
    assert_eq!(statuses(&answer), ["conflict"], "{answer}");
    // The same content spelled differently is still the same event: a duplicate.
    let mut respelled = a.clone();
    respelled["time"] = json!(at(1).replace(".000Z", "+00:00"));
    let (_, answer) = office.put_events(&[respelled]);
    assert_eq!(statuses(&answer), ["duplicate"], "{answer}");
    assert_eq!(office.events_count(), before + 2);
    assert_eq!(office_grade(office, "s-1", "e-1"), json!(2.0));
    let ids = ids_in_store(office);
    assert_eq!(ids.iter().filter(|id| *id == "dup-a").count(), 1, "{ids:?}");
}

#[test]
fn a_services_own_events_coming_back_are_duplicates() {
    let (_process, office, _data) = serve_alone(OFFICE);
    office.post_ok("/api/students", &json!({"studentId": "s-1", "name": "Ada"}));
    office.post_ok(
        "/api/examinations",
        &json!({"examinationId": "e-1", "title": "Modelling", "group": SE}),
    );
    office.post_ok(
        "/api/enrollments",
        &json!({"studentId": "s-1", "examinationId": "e-1"}),
    );
    let own = office.all_events();
    assert_eq!(own.len(), 3);
    let before = office.events_count();
    // Straight from getEvents, `sequence` and all: well-formed, and each a duplicate.
    let (status, answer) = office.put_events(&own);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(counts(&answer), (0, 3, 0), "{answer}");
    assert_eq!(office.events_count(), before);
    assert_eq!(office.all_events(), own, "nothing changed");
}

#[test]
fn types_outside_the_catalogue_are_ignored_not_refused() {
    let (_process, office, _data) = serve_alone(OFFICE);
    let before = office.events_count();
    let batch = [
        event(
            "n-1",
            SE,
            "noteWritten",
            &at(1),
            json!({"anything": [1, 2]}),
        ),
        event("n-2", OFFICE, "studentDeleted", &at(2), json!({})),
        graded("n-3", SE, "s-1", "e-1", 1.0, &at(3)),
    ];
    let (status, answer) = office.put_events(&batch);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(counts(&answer), (1, 0, 2), "{answer}");
    assert_eq!(statuses(&answer), ["ignored", "ignored", "accepted"]);
    assert_eq!(office.events_count(), before + 1);
    assert_eq!(ids_in_store(office), ["n-3"]);
    let (_, again) = office.put_events(&batch[..1]);
    assert_eq!(
        statuses(&again),
        ["ignored"],
        "an ignored event was not stored: {again}"
    );
}

#[test]
fn the_acceptance_policy_decides_what_is_taken() {
    // The office takes studentGraded from both groups, and nothing else from outside.
    let (_office_process, office, _d1) = serve_alone(OFFICE);
    let batch = [
        graded("o-1", SE, "s-1", "e-1", 1.0, &at(1)),
        graded("o-2", THEORY, "s-1", "e-2", 1.3, &at(2)),
        graded("o-3", SE, "s-1", "e-3", 1.7, &at(3)).tap(|e| e["source"] = json!(TA_POOL)),
        graded("o-4", SE, "s-1", "e-4", 2.0, &at(4)).tap(|e| e["source"] = json!(OFFICE)),
        event(
            "o-5",
            SE,
            "studentCreated",
            &at(5),
            json!({"studentId": "s-9", "name": "Eve"}),
        ),
        hired("o-6", SE, "s-1", "Ada", &at(6)),
        enrolled("o-7", "s-1", "Ada", "e-1", SE, &at(7)),
    ];
    let before = office.events_count();
    let (status, answer) = office.put_events(&batch);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        statuses(&answer),
        ["accepted", "accepted", "ignored", "ignored", "ignored", "ignored", "ignored"],
        "{answer}"
    );
    for (result, event) in answer["results"].as_array().unwrap().iter().zip(&batch) {
        assert_eq!(result["id"], event["id"]);
        if result["status"] == "ignored" {
            assert!(
                result["reason"].as_str().is_some_and(|r| !r.is_empty()),
                "an ignored event says why: {result}"
            );
        }
    }
    assert_eq!(office.events_count(), before + 2);
    let (status, _) = office.get("/api/students/s-9");
    assert_eq!(status, 404, "an ignored event is not applied");

    // A group takes enrollments in its own examinations from the office, and either
    // group's hires.
    let (_se_process, se, _d2) = serve_alone(SE);
    let batch = [
        enrolled("g-1", "s-1", "Ada", "e-se", SE, &at(1)),
        enrolled("g-2", "s-2", "Grace", "e-th", THEORY, &at(2)),
        hired("g-3", THEORY, "s-3", "Alan", &at(3)),
        hired("g-4", SE, "s-4", "Barbara", &at(4)),
        hired("g-5", SE, "s-5", "Edsger", &at(5)).tap(|e| e["source"] = json!(TA_POOL)),
        graded("g-6", THEORY, "s-1", "e-th", 1.0, &at(6)),
        // The original source counts, whatever the data says.
        enrolled("g-8", "s-8", "Ole", "e-se", SE, &at(8)).tap(|e| e["source"] = json!(TA_POOL)),
        enrolled("g-7", "s-7", "Kurt", "e-se", SE, &at(7)).tap(|e| e["source"] = json!(SE)),
    ];
    let (status, answer) = se.put_events(&batch);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        statuses(&answer),
        [
            "accepted", "ignored", "accepted", "accepted", "ignored", "ignored", "ignored",
            "ignored"
        ],
        "{answer}"
    );
    let students = se.by_id("/api/students", "studentId");
    assert!(students.contains_key("s-1") && students.contains_key("s-3"));
    assert!(!students.contains_key("s-2"), "{students:?}");
    assert!(!students.contains_key("s-5"), "{students:?}");
    assert!(!students.contains_key("s-7"), "{students:?}");
    assert!(!students.contains_key("s-8"), "{students:?}");

    // The ta-pool takes hires from the groups only.
    let (_pool_process, pool, _d3) = serve_alone(TA_POOL);
    let (status, answer) = pool.put_events(&[
        hired("p-1", SE, "s-1", "Ada", &at(1)),
        hired("p-2", THEORY, "s-2", "Grace", &at(2)),
        hired("p-3", SE, "s-3", "Alan", &at(3)).tap(|e| e["source"] = json!(OFFICE)),
        graded("p-4", SE, "s-1", "e-1", 1.0, &at(4)),
    ]);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        statuses(&answer),
        ["accepted", "accepted", "ignored", "ignored"]
    );
    let tas = pool.by_id("/api/tas", "studentId");
    assert_eq!(tas.keys().collect::<Vec<_>>(), ["s-1", "s-2"]);
}

trait Tap {
    fn tap(self, f: impl FnOnce(&mut Self)) -> Self;
}

impl Tap for Value {
    fn tap(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }
}

#[test]
fn a_grade_for_an_unknown_student_creates_placeholders() {
    let (_process, office, _data) = serve_alone(OFFICE);
    let (status, answer) = office.put_events(&[graded("ph-1", SE, "s-x", "e-x", 2.3, &at(1))]);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(statuses(&answer), ["accepted"]);
    let student = office.get_ok("/api/students/s-x");
    assert_eq!(student["studentId"], "s-x");
    assert!(student["name"].is_string(), "{student}");
    assert_eq!(
        student["enrollments"].as_array().unwrap().len(),
        1,
        "{student}"
    );
    assert_eq!(
        enrollment(&student, "e-x")["grade"],
        json!(2.3),
        "{student}"
    );
    let listed = office.by_id("/api/students", "studentId");
    assert_eq!(listed["s-x"], student);
    let exams = office.get_ok("/api/examinations");
    assert!(
        exams.to_string().contains("\"e-x\""),
        "the examination exists: {exams}"
    );

    // Placeholders count as known to commands; the real data fills them in, keeping the grade.
    office.post_ok(
        "/api/students",
        &json!({"studentId": "s-x", "name": "Xavier"}),
    );
    office.post_ok(
        "/api/examinations",
        &json!({"examinationId": "e-x", "title": "Modelling", "group": SE}),
    );
    office.post_ok(
        "/api/examinations",
        &json!({"examinationId": "e-y", "title": "Seminar", "group": THEORY}),
    );
    office.post_ok(
        "/api/enrollments",
        &json!({"studentId": "s-x", "examinationId": "e-y"}),
    );
    office.post_ok(
        "/api/enrollments",
        &json!({"studentId": "s-x", "examinationId": "e-x"}),
    );
    let student = office.get_ok("/api/students/s-x");
    assert_eq!(student["name"], "Xavier");
    let e_x = enrollment(&student, "e-x");
    assert_eq!(e_x["grade"], json!(2.3), "{student}");
    assert_eq!(e_x["title"], "Modelling");
    assert_eq!(e_x["group"], SE);
    assert_eq!(
        enrollment(&student, "e-y")["grade"],
        Value::Null,
        "{student}"
    );

    // A group: a hire by the other group makes a student it did not know, hired.
    let (_se_process, se, _d) = serve_alone(SE);
    let (_, answer) = se.put_events(&[hired("ph-2", THEORY, "s-y", "", &at(1))]);
    assert_eq!(statuses(&answer), ["accepted"]);
    let student = se.get_ok("/api/students/s-y");
    assert_eq!(student["hiredBy"], json!([THEORY]), "{student}");
    let (status, answer) = se.post("/api/hires", &json!({"studentId": "s-y"}));
    assert_eq!(
        status, 409,
        "the placeholder is known, and hired by the other group: {answer}"
    );
    se.post_ok("/api/hires", &json!({"studentId": "s-y", "force": true}));
    let student = se.get_ok("/api/students/s-y");
    let mut hired_by: Vec<&str> = student["hiredBy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    hired_by.sort_unstable();
    assert_eq!(hired_by, [SE, THEORY]);
}

#[test]
fn the_later_time_wins_whatever_the_arrival_order() {
    let (_process, office, _data) = serve_alone(OFFICE);
    // Later time posted first, earlier second.
    office.put_events(&[graded("t-late", SE, "s-1", "e-1", 1.0, &at(20))]);
    office.put_events(&[graded("t-early", SE, "s-1", "e-1", 4.0, &at(10))]);
    assert_eq!(office_grade(office, "s-1", "e-1"), json!(1.0));
    // Both in one batch, earlier last.
    office.put_events(&[
        graded("u-late", SE, "s-2", "e-1", 1.3, &at(20)),
        graded("u-early", SE, "s-2", "e-1", 3.7, &at(10)),
    ]);
    assert_eq!(office_grade(office, "s-2", "e-1"), json!(1.3));
    // Earlier first, later second.
    office.put_events(&[graded("v-early", SE, "s-3", "e-1", 3.7, &at(10))]);
    office.put_events(&[graded("v-late", SE, "s-3", "e-1", 1.7, &at(20))]);
    assert_eq!(office_grade(office, "s-3", "e-1"), json!(1.7));
    // Equal times: the larger id wins, in either order.
    office.put_events(&[graded("w-b", SE, "s-4", "e-1", 2.0, &at(30))]);
    office.put_events(&[graded("w-a", SE, "s-4", "e-1", 3.0, &at(30))]);
    assert_eq!(office_grade(office, "s-4", "e-1"), json!(2.0));
    office.put_events(&[graded("x-a", SE, "s-5", "e-1", 3.0, &at(30))]);
    office.put_events(&[graded("x-b", SE, "s-5", "e-1", 2.0, &at(30))]);
    assert_eq!(office_grade(office, "s-5", "e-1"), json!(2.0));
    // The same instant written differently is the same time: the id decides.
    office.put_events(&[graded(
        "y-b",
        SE,
        "s-6",
        "e-1",
        2.0,
        "2024-05-01T10:00:00+02:00",
    )]);
    office.put_events(&[graded(
        "y-a",
        SE,
        "s-6",
        "e-1",
        3.0,
        "2024-05-01T08:00:00.000Z",
    )]);
    assert_eq!(office_grade(office, "s-6", "e-1"), json!(2.0));
    // Order by instant, not by text: 09:00+02:00 is 07:00Z, earlier than 08:00Z.
    office.put_events(&[graded("z-1", SE, "s-7", "e-1", 1.0, "2024-05-01T08:00:00Z")]);
    office.put_events(&[graded(
        "z-2",
        SE,
        "s-7",
        "e-1",
        5.0,
        "2024-05-01T09:00:00+02:00",
    )]);
    assert_eq!(office_grade(office, "s-7", "e-1"), json!(1.0));

    // Names, at a group: the later non-empty name wins; an empty one carries no value.
    let (_se_process, se, _d) = serve_alone(SE);
    se.put_events(&[enrolled("n-1", "s-1", "Ada", "e-se", SE, &at(10))]);
    se.put_events(&[hired("n-2", THEORY, "s-1", "", &at(20))]);
    assert_eq!(se.get_ok("/api/students/s-1")["name"], "Ada");
    se.put_events(&[hired("n-3", THEORY, "s-1", "Ada L.", &at(5))]);
    assert_eq!(
        se.get_ok("/api/students/s-1")["name"],
        "Ada",
        "an earlier name loses"
    );
    se.put_events(&[enrolled("n-4", "s-1", "Ada King", "e-se", SE, &at(30))]);
    assert_eq!(se.get_ok("/api/students/s-1")["name"], "Ada King");
    se.put_events(&[hired("n-5", THEORY, "s-2", "", &at(1))]);
    se.put_events(&[enrolled("n-6", "s-2", "Grace", "e-se", SE, &at(0))]);
    assert_eq!(
        se.get_ok("/api/students/s-2")["name"],
        "Grace",
        "a placeholder name does not erase a real one, even when later"
    );

    // The same at the ta-pool, where names come only with hires.
    let (_pool_process, pool, _d2) = serve_alone(TA_POOL);
    pool.put_events(&[hired("p-1", SE, "s-1", "Ada", &at(10))]);
    pool.put_events(&[hired("p-2", THEORY, "s-1", "", &at(20))]);
    pool.put_events(&[hired("p-3", THEORY, "s-1", "Ada Early", &at(5))]);
    let ta = |id: &str| pool.by_id("/api/tas", "studentId")[id].clone();
    assert_eq!(ta("s-1")["name"], "Ada", "{}", ta("s-1"));
    assert_eq!(ta("s-1")["conflict"], true, "hired by both: {}", ta("s-1"));
    pool.put_events(&[hired("p-4", SE, "s-2", "", &at(10))]);
    assert_eq!(ta("s-2")["name"], "", "unknown until a name arrives");
    pool.put_events(&[hired("p-5", THEORY, "s-2", "Grace", &at(1))]);
    assert_eq!(ta("s-2")["name"], "Grace");
}

#[test]
fn all_three_cloudevents_http_modes_are_accepted() {
    let (_process, office, _data) = serve_alone(OFFICE);
    let mut expected = Vec::new();

    // Structured: one event as application/cloudevents+json.
    let structured = graded("m-structured", SE, "s-1", "e-1", 1.0, &at(1));
    let response = office.send(
        "POST",
        "/api/events",
        &[(
            "Content-Type",
            "application/cloudevents+json; charset=utf-8",
        )],
        structured.to_string().as_bytes(),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(statuses(&response.json()), ["accepted"]);
    expected.push(structured);

    // Batched: application/cloudevents-batch+json.
    let batch = [
        graded("m-batch-1", SE, "s-2", "e-1", 1.3, &at(2)),
        graded("m-batch-2", THEORY, "s-2", "e-2", 1.7, &at(3)),
    ];
    let response = office.send(
        "POST",
        "/api/events",
        &[("Content-Type", "application/cloudevents-batch+json")],
        Value::Array(batch.to_vec()).to_string().as_bytes(),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(statuses(&response.json()), ["accepted", "accepted"]);
    expected.extend(batch);

    // A batch as plain application/json.
    let plain = graded("m-json-array", SE, "s-3", "e-1", 2.0, &at(4));
    let response = office.send(
        "POST",
        "/api/events",
        &[("Content-Type", "application/json")],
        json!([plain]).to_string().as_bytes(),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(statuses(&response.json()), ["accepted"]);
    expected.push(plain);

    // Binary: attributes in ce-* headers, data as the body.
    let time = at(5);
    let data = json!({"studentId": "s-4", "examinationId": "e-1", "grade": 2.3, "group": SE});
    let response = office.send(
        "POST",
        "/api/events",
        &[
            ("Content-Type", "application/json"),
            ("ce-specversion", "1.0"),
            ("ce-id", "m-binary"),
            ("ce-source", SE),
            ("ce-type", "studentGraded"),
            ("ce-time", &time),
        ],
        data.to_string().as_bytes(),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let answer = response.json();
    assert_eq!(statuses(&answer), ["accepted"], "{answer}");
    assert_eq!(answer["results"][0]["id"], "m-binary");
    expected.push(event("m-binary", SE, "studentGraded", &time, data.clone()));

    // Each is stored as sent: id, source, type, time and data.
    let stored = office.all_events();
    assert_eq!(stored.len(), expected.len(), "{stored:?}");
    for (got, want) in stored.iter().zip(&expected) {
        for attribute in ["specversion", "id", "source", "type", "data"] {
            assert_eq!(
                got[attribute], want[attribute],
                "{attribute}: {got} vs {want}"
            );
        }
        assert_same_instant(&got["time"], &want["time"]);
        assert!(got["sequence"].is_u64(), "{got}");
    }
    assert_eq!(office_grade(office, "s-4", "e-1"), json!(2.3));

    // Binary header values are percent-decoded (CloudEvents HTTP binding 3.1.3.2).
    let response = office.send(
        "POST",
        "/api/events",
        &[
            ("Content-Type", "application/json"),
            ("ce-specversion", "1.0"),
            ("ce-id", "bin%C3%A4r%20id"),
            ("ce-source", SE),
            ("ce-type", "studentGraded"),
            ("ce-time", &at(6)),
        ],
        json!({"studentId": "s-5", "examinationId": "e-1", "grade": 1.7, "group": SE})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["results"][0]["id"], "binär id");
    assert_eq!(office.all_events().last().unwrap()["id"], "binär id");

    // A binary event that lacks an attribute is malformed (index 0).
    let before = office.events_count();
    let response = office.send(
        "POST",
        "/api/events",
        &[
            ("Content-Type", "application/json"),
            ("ce-specversion", "1.0"),
            ("ce-source", SE),
            ("ce-type", "studentGraded"),
            ("ce-time", &time),
        ],
        data.to_string().as_bytes(),
    );
    assert_eq!(response.status, 400, "{}", response.text());
    assert!(response.json()["error"].is_string());
    assert_eq!(office.events_count(), before);
}

/// Two RFC 3339 texts of the same instant (a relayed event keeps its time).
fn assert_same_instant(got: &Value, want: &Value) {
    let (got, want) = (got.as_str().unwrap(), want.as_str().unwrap());
    if got == want {
        return;
    }
    // Only trailing zeros of the fraction may differ (e.g. ".000Z" against "Z").
    let trim = |t: &str| {
        let (main, zone) = t.split_at(t.len() - 1);
        let main = main.trim_end_matches('0').trim_end_matches('.');
        format!("{main}{zone}")
    };
    assert_eq!(trim(got), trim(want), "the time is kept");
}

/// Well-formed but unusual events: accepted.
#[test]
fn unusual_but_well_formed_events_are_accepted() {
    let (_process, office, _data) = serve_alone(OFFICE);
    let variants = [
        // Extra data fields are allowed and kept; extension attributes too.
        graded("ok-1", SE, "s-1", "e-1", 1.0, &at(1)).tap(|e| {
            e["data"]["comment"] = json!("well done");
            e["traceparent"] = json!("00-abc");
        }),
        // A sequence from another service's getEvents.
        graded("ok-2", SE, "s-2", "e-1", 5.0, &at(2)).tap(|e| e["sequence"] = json!(77)),
        // Offsets and nanoseconds.
        graded(
            "ok-3",
            SE,
            "s-3",
            "e-1",
            4.0,
            "2024-05-01T10:00:00.123456789+02:00",
        ),
        // No datacontenttype.
        graded("ok-4", THEORY, "s-4", "e-2", 1.0, &at(4)).tap(|e| {
            e.as_object_mut().unwrap().remove("datacontenttype");
        }),
    ];
    let (status, answer) = office.put_events(&variants);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(counts(&answer), (4, 0, 0), "{answer}");
    let stored = office.all_events();
    assert_eq!(
        stored[0]["data"]["comment"], "well done",
        "extra data is kept"
    );
    assert_ne!(
        stored[1]["sequence"], 77,
        "the receiver assigns its own sequence"
    );
}

/// Malformed events, each placed at index 1 of a batch of three.
fn malformed_events() -> Vec<(&'static str, Value)> {
    let good = || graded("bad", SE, "s-1", "e-1", 1.0, &at(1));
    let without = |field: &str| {
        let mut e = good();
        e.as_object_mut().unwrap().remove(field);
        e
    };
    let with = |field: &str, value: Value| good().tap(|e| e[field] = value);
    let data_with = |field: &str, value: Value| good().tap(|e| e["data"][field] = value);
    let data_without = |field: &str| {
        good().tap(|e| {
            e["data"].as_object_mut().unwrap().remove(field);
        })
    };
    vec![
        ("no specversion", without("specversion")),
        ("specversion 0.3", with("specversion", json!("0.3"))),
        ("no id", without("id")),
        ("empty id", with("id", json!(""))),
        ("numeric id", with("id", json!(7))),
        ("no source", without("source")),
        ("empty source", with("source", json!(""))),
        ("no type", without("type")),
        ("empty type", with("type", json!(""))),
        ("no time", without("time")),
        ("time not RFC 3339", with("time", json!("yesterday"))),
        ("time month 13", with("time", json!("2024-13-01T00:00:00Z"))),
        (
            "time without zone",
            with("time", json!("2024-05-01T08:00:00")),
        ),
        ("no data", without("data")),
        ("data a string", with("data", json!("grade 1.0"))),
        ("data an array", with("data", json!([1]))),
        ("data null", with("data", Value::Null)),
        ("not an object", json!(42)),
        (
            "type outside the catalogue, data not an object",
            event("bad", SE, "noteWritten", &at(1), json!("x")),
        ),
        (
            "type outside the catalogue, no time",
            event("bad", SE, "noteWritten", &at(1), json!({})).tap(|e| {
                e.as_object_mut().unwrap().remove("time");
            }),
        ),
        ("grade not German", data_with("grade", json!(2.5))),
        ("grade a string", data_with("grade", json!("1.0"))),
        ("no studentId", data_without("studentId")),
        ("empty studentId", data_with("studentId", json!(""))),
        ("numeric studentId", data_with("studentId", json!(1))),
        ("unknown group", data_with("group", json!("math-group"))),
        ("no group", data_without("group")),
        // Catalogue types the office would not accept are still validated.
        (
            "maxPoints 0",
            event(
                "bad",
                SE,
                "assignmentCreated",
                &at(1),
                json!({"assignmentId": "a", "examinationId": "e", "title": "t", "maxPoints": 0}),
            ),
        ),
        (
            "negative points",
            event(
                "bad",
                SE,
                "assignmentScored",
                &at(1),
                json!({"studentId": "s", "assignmentId": "a", "points": -1}),
            ),
        ),
        (
            "fractional points",
            event(
                "bad",
                SE,
                "assignmentScored",
                &at(1),
                json!({"studentId": "s", "assignmentId": "a", "points": 1.5}),
            ),
        ),
        (
            "rating not German",
            event(
                "bad",
                THEORY,
                "presentationRated",
                &at(1),
                json!({"studentId": "s", "examinationId": "e", "content": 1.0,
                       "presentation": 6.0, "discussion": 1.0}),
            ),
        ),
        (
            "hire without name",
            event(
                "bad",
                SE,
                "studentHired",
                &at(1),
                json!({"studentId": "s", "group": SE}),
            ),
        ),
        (
            "enrollment without title",
            event(
                "bad",
                OFFICE,
                "studentEnrolled",
                &at(1),
                json!({"studentId": "s", "studentName": "n", "examinationId": "e", "group": SE}),
            ),
        ),
        (
            "examination with unknown group",
            event(
                "bad",
                OFFICE,
                "examinationCreated",
                &at(1),
                json!({"examinationId": "e", "title": "t", "group": "office"}),
            ),
        ),
        (
            "student without name",
            event(
                "bad",
                OFFICE,
                "studentCreated",
                &at(1),
                json!({"studentId": "s"}),
            ),
        ),
    ]
}

#[test]
fn one_malformed_event_fails_the_whole_batch() {
    let (_process, office, _data) = serve_alone(OFFICE);
    let first = graded("first", SE, "s-1", "e-1", 1.0, &at(1));
    let last = graded("last", THEORY, "s-2", "e-2", 1.3, &at(2));
    let before = office.events_count();
    let mut failures = Vec::new();
    for (what, bad) in malformed_events() {
        let (status, answer) = office.put_events(&[first.clone(), bad, last.clone()]);
        let error = answer["error"].as_str().unwrap_or_default();
        let names_index =
            answer["index"] == 1 || error.contains("index 1") || error.contains("[1]");
        if status != 400 || !names_index {
            failures.push(format!("{what}: {status} {answer}"));
        }
    }
    assert!(
        failures.is_empty(),
        "each malformed event at index 1 → 400 naming index 1:\n{}",
        failures.join("\n")
    );
    assert_eq!(
        office.events_count(),
        before,
        "nothing of a refused batch is stored"
    );
    assert_eq!(
        office.get("/api/students/s-1").0,
        404,
        "nothing was applied"
    );
    let (_, answer) = office.put_events(&[first, last]);
    assert_eq!(
        counts(&answer),
        (2, 0, 0),
        "the good events were not stored: {answer}"
    );
}

#[test]
fn bodies_that_are_not_events_are_refused() {
    let (_process, office, _data) = serve_alone(OFFICE);
    let before = office.events_count();
    for (content_type, body) in [
        ("application/json", "not json"),
        ("application/json", ""),
        ("application/json", "{\"specversion\":\"1.0\""),
        ("application/json", "\"an event\""),
        ("application/cloudevents+json", "[]"),
        ("application/cloudevents-batch+json", "{}"),
        ("text/plain", "hello"),
    ] {
        let response = office.send(
            "POST",
            "/api/events",
            &[("Content-Type", content_type)],
            body.as_bytes(),
        );
        assert!(
            (400..500).contains(&response.status),
            "{content_type} {body:?} → {} {}",
            response.status,
            response.text()
        );
        assert!(response.json()["error"].is_string(), "{}", response.text());
    }
    assert_eq!(office.events_count(), before);
    // An empty batch is a batch: nothing to do.
    let (status, answer) = office.put_events(&[]);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(counts(&answer), (0, 0, 0), "{answer}");
}

#[test]
fn bodies_over_16_mib_are_413() {
    let (_process, office, _data) = serve_alone(OFFICE);
    let before = office.events_count();
    let mut big = graded("big", SE, "s-1", "e-1", 1.0, &at(1));
    big["data"]["padding"] = json!("x".repeat(16 * 1024 * 1024));
    let body = json!([big]).to_string();
    assert!(body.len() > 16 * 1024 * 1024);
    let response = office.send(
        "POST",
        "/api/events",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(response.status, 413, "{}", truncate_text(&response.text()));
    assert_eq!(office.events_count(), before);
    // Also when the client does not announce the length.
    let response = office.send(
        "POST",
        "/api/events",
        &[
            ("Content-Type", "application/json"),
            ("Transfer-Encoding", "chunked"),
        ],
        &chunked(body.as_bytes()),
    );
    assert_eq!(response.status, 413, "{}", truncate_text(&response.text()));
    assert_eq!(office.events_count(), before);
    // A body of exactly 16 MiB is not over the limit: seventeen events, each within the
    // 1 MiB an event may be.
    let events = |padding: usize, last: usize| -> String {
        let batch: Vec<Value> = (0..17)
            .map(|i| {
                let mut event = graded(
                    &format!("big-{i}"),
                    SE,
                    &format!("s-{i}"),
                    "e-1",
                    1.0,
                    &at(1),
                );
                let pad = if i == 16 { last } else { padding };
                event["data"]["padding"] = json!("x".repeat(pad));
                event
            })
            .collect();
        Value::Array(batch).to_string()
    };
    let overhead = events(0, 0).len();
    let padding = (16 * 1024 * 1024 - overhead) / 17;
    let last = 16 * 1024 * 1024 - overhead - 16 * padding;
    let body = events(padding, last);
    assert_eq!(body.len(), 16 * 1024 * 1024);
    let response = office.send(
        "POST",
        "/api/events",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(response.status, 200, "{}", truncate_text(&response.text()));
    assert_eq!(office.events_count(), before + 17);
}

#[test]
fn get_events_limits_pages() {
    let (_process, office, _data) = serve_alone(OFFICE);
    let batch: Vec<Value> = (0..10_001)
        .map(|i| {
            graded(
                &format!("l-{i:05}"),
                SE,
                &format!("s-{i}"),
                "e-1",
                1.0,
                &at(1),
            )
        })
        .collect();
    let (status, answer) = office.put_events(&batch);
    assert_eq!(status, 200);
    assert_eq!(answer["accepted"], 10_001);
    let page = office.get_ok("/api/events");
    assert_eq!(
        page["events"].as_array().unwrap().len(),
        1000,
        "limit defaults to 1000"
    );
    assert_eq!(page["has_more"], true);
    for limit in ["10000", "10001", "20000", "99999999999999999999999"] {
        let page = office.get_ok(&format!("/api/events?limit={limit}"));
        assert_eq!(
            page["events"].as_array().unwrap().len(),
            10_000,
            "limit {limit} is treated as 10000"
        );
        assert_eq!(page["has_more"], true);
        let next = page["next_after"].as_u64().unwrap();
        let rest = office.get_ok(&format!("/api/events?after={next}&limit={limit}"));
        assert_eq!(rest["events"].as_array().unwrap().len(), 1);
        assert_eq!(rest["events"][0]["id"], "l-10000");
        assert_eq!(rest["has_more"], false);
    }
}

fn truncate_text(text: &str) -> String {
    text.chars().take(500).collect()
}

fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 1024);
    for chunk in body.chunks(1 << 20) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[test]
fn get_events_reads_filters_and_pages() {
    let (_process, office, _data) = serve_alone(OFFICE);
    for i in 1..=4 {
        office.post_ok(
            "/api/students",
            &json!({"studentId": format!("s-{i}"), "name": format!("N{i}")}),
        );
    }
    office.post_ok(
        "/api/examinations",
        &json!({"examinationId": "e-se", "title": "M", "group": SE}),
    );
    office.post_ok(
        "/api/examinations",
        &json!({"examinationId": "e-th", "title": "L", "group": THEORY}),
    );
    for i in 1..=4 {
        let exam = if i % 2 == 0 { "e-se" } else { "e-th" };
        office.post_ok(
            "/api/enrollments",
            &json!({"studentId": format!("s-{i}"), "examinationId": exam}),
        );
    }
    office.put_events(&[
        graded("g-1", SE, "s-2", "e-se", 1.3, &at(1)).tap(|e| e["data"]["late"] = json!(true)),
        graded("g-2", THEORY, "s-1", "e-th", 2.0, &at(2)),
    ]);
    let all = office.all_events();
    assert_eq!(all.len(), 12);
    let sequences: Vec<u64> = all
        .iter()
        .map(|e| e["sequence"].as_u64().unwrap())
        .collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");
    let last = *sequences.last().unwrap();

    // Paging: limit, next_after, has_more.
    let page = office.get_ok("/api/events?limit=5");
    assert_eq!(page["events"].as_array().unwrap().len(), 5);
    assert_eq!(page["next_after"], sequences[4]);
    assert_eq!(page["has_more"], true);
    let page = office.get_ok(&format!("/api/events?after={}&limit=1000", sequences[4]));
    assert_eq!(page["events"].as_array().unwrap().len(), 7);
    assert_eq!(page["events"][0]["sequence"], sequences[5]);
    assert_eq!(page["next_after"], last);
    assert_eq!(page["has_more"], false);
    let page = office.get_ok(&format!("/api/events?after={last}"));
    assert_eq!(page["events"], json!([]));
    assert_eq!(page["has_more"], false);
    assert!(page["next_after"].as_u64().unwrap() >= last);
    let page = office.get_ok("/api/events?limit=20000");
    assert_eq!(
        page["events"].as_array().unwrap().len(),
        12,
        "above 10000 is 10000"
    );

    // Filters: type (repeated or comma-separated), source, data fields.
    let count = |query: &str| {
        office.get_ok(&format!("/api/events?{query}"))["events"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count("type=studentCreated"), 4);
    assert_eq!(count("type=studentCreated,examinationCreated"), 6);
    assert_eq!(count("type=studentCreated&type=examinationCreated"), 6);
    assert_eq!(
        count("type=studentCreated,examinationCreated&type=studentGraded"),
        8
    );
    assert_eq!(count("source=se-group"), 1);
    assert_eq!(count("source=se-group,theory-group"), 2);
    assert_eq!(count("source=students-office&type=studentGraded"), 0);
    assert_eq!(count("type=studentEnrolled&data.group=se-group"), 2);
    assert_eq!(
        count("data.group=theory-group"),
        4,
        "2 enrollments, 1 examination, 1 grade"
    );
    assert_eq!(count("data.studentId=s-2&data.examinationId=e-se"), 2);
    assert_eq!(
        count("data.grade=1.3"),
        1,
        "numbers compare by their JSON text"
    );
    assert_eq!(count("data.nothing=x"), 0);
    assert_eq!(
        count("data.late=true"),
        1,
        "booleans compare by their JSON text"
    );
    assert_eq!(count("data.late=false"), 0);
    assert_eq!(count("type=noSuchType"), 0);
    assert_eq!(count("data.studentId=s%2D2"), 3, "values are URL-decoded");

    // A filtered reader skips what it does not want, and never rescans it.
    let page = office.get_ok("/api/events?type=studentEnrolled&data.group=se-group&limit=1");
    let first = &page["events"][0];
    assert_eq!(first["type"], "studentEnrolled");
    assert_eq!(page["next_after"], first["sequence"]);
    assert_eq!(page["has_more"], true);
    let page = office.get_ok("/api/events?type=noSuchType");
    assert_eq!(page["next_after"], last, "the highest sequence examined");
    assert_eq!(page["has_more"], false);
}

#[test]
fn get_events_refuses_malformed_parameters() {
    let (_process, office, _data) = serve_alone(OFFICE);
    office.post_ok("/api/students", &json!({"studentId": "s-1", "name": "Ada"}));
    for query in [
        "after=-1",
        "after=abc",
        "after=1.5",
        "after=",
        "after=%201",
        "after=0x10",
        "limit=0",
        "limit=-5",
        "limit=ten",
        "limit=",
        "limit=1e3",
        "foo=bar",
        "types=studentCreated",
        "Type=studentCreated",
        "sequence=1",
        "data=x",
    ] {
        let (status, answer) = office.get(&format!("/api/events?{query}"));
        assert_eq!(status, 400, "{query} → {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{query}: {answer}"
        );
    }
    for query in [
        "after=0",
        "after=00",
        "limit=1",
        "limit=10000",
        "limit=10001",
        "after=99999999",
    ] {
        let (status, answer) = office.get(&format!("/api/events?{query}"));
        assert_eq!(status, 200, "{query} → {answer}");
    }
}

#[test]
fn office_commands_answer_the_contracts_errors() {
    let (_process, office, _data) = serve_alone(OFFICE);
    office.post_ok("/api/students", &json!({"studentId": "s-1", "name": "Ada"}));
    office.post_ok(
        "/api/examinations",
        &json!({"examinationId": "e-1", "title": "Modelling", "group": SE}),
    );
    let before = office.events_count();
    let cases = [
        (
            "/api/enrollments",
            json!({"studentId": "nobody", "examinationId": "e-1"}),
            404,
        ),
        (
            "/api/enrollments",
            json!({"studentId": "s-1", "examinationId": "no-exam"}),
            404,
        ),
        ("/api/enrollments", json!({"studentId": "s-1"}), 400),
        (
            "/api/enrollments",
            json!({"studentId": "", "examinationId": "e-1"}),
            400,
        ),
        (
            "/api/enrollments",
            json!({"studentId": 1, "examinationId": "e-1"}),
            400,
        ),
        ("/api/students", json!({"studentId": "s-2"}), 400),
        (
            "/api/students",
            json!({"studentId": "", "name": "Eve"}),
            400,
        ),
        (
            "/api/students",
            json!({"studentId": "s-2", "name": ""}),
            400,
        ),
        ("/api/students", json!({"studentId": "s-2", "name": 7}), 400),
        ("/api/students", json!([]), 400),
        (
            "/api/examinations",
            json!({"examinationId": "e-2", "title": "T", "group": "math-group"}),
            400,
        ),
        (
            "/api/examinations",
            json!({"examinationId": "e-2", "title": "", "group": SE}),
            400,
        ),
        (
            "/api/examinations",
            json!({"examinationId": "e-2", "title": "T"}),
            400,
        ),
    ];
    for (path, body, expected) in cases {
        let (status, answer) = office.post(path, &body);
        assert_eq!(status, expected, "POST {path} {body} → {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{answer}"
        );
    }
    let response = office.send(
        "POST",
        "/api/students",
        &[("Content-Type", "application/json")],
        b"{nope",
    );
    assert_eq!(response.status, 400, "{}", response.text());
    assert!(response.json()["error"].is_string());
    assert_eq!(
        office.events_count(),
        before,
        "a refused command raises no event"
    );

    // Queries: unknown → 404; grade null until there is one.
    // Ids in paths are percent-decoded.
    office.post_ok(
        "/api/students",
        &json!({"studentId": "s 2/ü", "name": "Üma"}),
    );
    assert_eq!(office.get_ok("/api/students/s%202%2F%C3%BC")["name"], "Üma");
    let (status, answer) = office.get("/api/students/nobody");
    assert_eq!(status, 404, "{answer}");
    assert!(answer["error"].is_string());
    office.post_ok(
        "/api/enrollments",
        &json!({"studentId": "s-1", "examinationId": "e-1"}),
    );
    let student = office.get_ok("/api/students/s-1");
    assert_eq!(
        student,
        json!({"studentId": "s-1", "name": "Ada", "enrollments": [
            {"examinationId": "e-1", "title": "Modelling", "group": SE, "grade": null}]})
    );
    // Repeating a command answers 2xx and leaves the same state.
    let state = office.get_ok("/api/students");
    let count = office.events_count();
    office.post_ok(
        "/api/enrollments",
        &json!({"studentId": "s-1", "examinationId": "e-1"}),
    );
    office.post_ok("/api/students", &json!({"studentId": "s-1", "name": "Ada"}));
    office.post_ok(
        "/api/examinations",
        &json!({"examinationId": "e-1", "title": "Modelling", "group": SE}),
    );
    assert_eq!(office.get_ok("/api/students"), state);
    assert!(office.events_count() >= count);

    // Unknown routes and methods: JSON 4xx.
    let (status, answer) = office.get("/api/nothing");
    assert_eq!(status, 404, "{answer}");
    let response = office.send("DELETE", "/api/students", &[], b"");
    assert!((400..500).contains(&response.status), "{}", response.status);
}

#[test]
fn group_commands_answer_the_contracts_errors() {
    let (_process, se, _data) = serve_alone(SE);
    se.put_events(&[
        enrolled("e-1", "s-1", "Ada", "mod", SE, &at(1)),
        enrolled("e-2", "s-2", "Grace", "mod", SE, &at(2)),
        hired("h-1", THEORY, "s-2", "Grace", &at(3)),
    ]);
    se.post_ok(
        "/api/assignments",
        &json!({"assignmentId": "a-1", "examinationId": "mod", "title": "Use cases", "maxPoints": 10}),
    );
    let before = se.events_count();
    let cases = [
        (
            "/api/assignments",
            json!({"assignmentId": "a-2", "examinationId": "nope", "title": "T", "maxPoints": 10}),
            404,
        ),
        (
            "/api/assignments",
            json!({"assignmentId": "a-2", "examinationId": "mod", "title": "T", "maxPoints": 0}),
            400,
        ),
        (
            "/api/assignments",
            json!({"assignmentId": "a-2", "examinationId": "mod", "title": "T", "maxPoints": -3}),
            400,
        ),
        (
            "/api/assignments",
            json!({"assignmentId": "a-2", "examinationId": "mod", "title": "T"}),
            400,
        ),
        (
            "/api/assignments",
            json!({"assignmentId": "", "examinationId": "mod", "title": "T", "maxPoints": 3}),
            400,
        ),
        (
            "/api/assignments/nope/scores",
            json!({"studentId": "s-1", "points": 1}),
            404,
        ),
        (
            "/api/assignments/a-1/scores",
            json!({"studentId": "nobody", "points": 1}),
            404,
        ),
        (
            "/api/assignments/a-1/scores",
            json!({"studentId": "s-1", "points": 11}),
            409,
        ),
        (
            "/api/assignments/a-1/scores",
            json!({"studentId": "s-1", "points": -1}),
            400,
        ),
        (
            "/api/assignments/a-1/scores",
            json!({"studentId": "s-1", "points": "5"}),
            400,
        ),
        (
            "/api/grades",
            json!({"studentId": "nobody", "examinationId": "mod"}),
            404,
        ),
        (
            "/api/grades",
            json!({"studentId": "s-1", "examinationId": "nope"}),
            404,
        ),
        ("/api/grades", json!({"studentId": "s-1"}), 400),
        ("/api/hires", json!({"studentId": "nobody"}), 404),
        ("/api/hires", json!({"studentId": ""}), 400),
        ("/api/hires", json!({"studentId": "s-2"}), 409),
        (
            "/api/hires",
            json!({"studentId": "s-2", "force": false}),
            409,
        ),
        (
            "/api/hires",
            json!({"studentId": "s-2", "force": "yes"}),
            400,
        ),
    ];
    for (path, body, expected) in cases {
        let (status, answer) = se.post(path, &body);
        assert_eq!(status, expected, "POST {path} {body} → {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{answer}"
        );
    }
    assert_eq!(
        se.events_count(),
        before,
        "a refused command raises no event"
    );
    se.post_ok("/api/hires", &json!({"studentId": "s-2", "force": true}));
    se.post_ok("/api/hires", &json!({"studentId": "s-1"}));
    // Hiring again is no conflict (already hired by this group).
    se.post_ok("/api/hires", &json!({"studentId": "s-1"}));
    // Repeating points and grades answers 2xx again and changes nothing.
    se.post_ok(
        "/api/assignments/a-1/scores",
        &json!({"studentId": "s-1", "points": 7}),
    );
    se.post_ok(
        "/api/grades",
        &json!({"studentId": "s-1", "examinationId": "mod"}),
    );
    let state = se.get_ok("/api/students");
    se.post_ok(
        "/api/assignments/a-1/scores",
        &json!({"studentId": "s-1", "points": 7}),
    );
    se.post_ok(
        "/api/grades",
        &json!({"studentId": "s-1", "examinationId": "mod"}),
    );
    se.post_ok(
        "/api/assignments",
        &json!({"assignmentId": "a-1", "examinationId": "mod", "title": "Use cases", "maxPoints": 10}),
    );
    assert_eq!(se.get_ok("/api/students"), state);
    let s1 = se.get_ok("/api/students/s-1");
    assert_eq!(s1["hiredBy"], json!([SE]), "{s1}");
    assert_eq!(s1["points"], json!({"a-1": 7}), "{s1}");
    assert_eq!(
        s1["examinations"],
        json!([{"examinationId": "mod", "grade": 2.7}]),
        "7/10 = 70 % → 2.7: {s1}"
    );
    assert_eq!(se.get("/api/students/nobody").0, 404);

    let (_theory_process, theory, _d) = serve_alone(THEORY);
    theory.put_events(&[
        enrolled("t-1", "s-1", "Ada", "sem", THEORY, &at(1)),
        hired("t-2", SE, "s-1", "Ada", &at(2)),
    ]);
    let before = theory.events_count();
    let rate = |content: Value| {
        json!({"studentId": "s-1", "examinationId": "sem", "content": content,
               "presentation": 1.0, "discussion": 1.0})
    };
    let cases = [
        ("/api/presentations", rate(json!(2.5)), 400),
        ("/api/presentations", rate(json!("1.0")), 400),
        (
            "/api/presentations",
            rate(json!(1.0)).tap(|b| b["studentId"] = json!("nobody")),
            404,
        ),
        (
            "/api/presentations",
            rate(json!(1.0)).tap(|b| b["examinationId"] = json!("nope")),
            404,
        ),
        (
            "/api/grades",
            json!({"studentId": "nobody", "examinationId": "sem"}),
            404,
        ),
        (
            "/api/grades",
            json!({"studentId": "s-1", "examinationId": "nope"}),
            404,
        ),
        ("/api/hires", json!({"studentId": "nobody"}), 404),
        ("/api/hires", json!({"studentId": "s-1"}), 409),
    ];
    for (path, body, expected) in cases {
        let (status, answer) = theory.post(path, &body);
        assert_eq!(status, expected, "POST {path} {body} → {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{answer}"
        );
    }
    assert_eq!(
        theory.events_count(),
        before,
        "a refused command raises no event"
    );
    assert_eq!(theory.get("/api/students/nobody").0, 404);
    theory.post_ok("/api/presentations", &rate(json!(1.0)));
    theory.post_ok(
        "/api/grades",
        &json!({"studentId": "s-1", "examinationId": "sem"}),
    );
    let s1 = theory.get_ok("/api/students/s-1");
    assert_eq!(s1["examinations"][0]["grade"], json!(1.0), "{s1}");
}

#[test]
fn concurrent_posts_of_one_event_store_it_once() {
    let (_process, office, _data) = serve_alone(OFFICE);
    let before = office.events_count();
    for round in 0..5 {
        let event = graded(&format!("race-{round}"), SE, "s-1", "e-1", 1.0, &at(round));
        let posters: Vec<_> = (0..8)
            .map(|_| {
                let event = event.clone();
                std::thread::spawn(move || office.put_events(&[event]))
            })
            .collect();
        let answers: Vec<(u16, Value)> = posters.into_iter().map(|p| p.join().unwrap()).collect();
        assert!(
            answers.iter().all(|(status, _)| *status == 200),
            "{answers:?}"
        );
        let accepted: u64 = answers.iter().map(|(_, a)| counts(a).0).sum();
        let duplicates: u64 = answers.iter().map(|(_, a)| counts(a).1).sum();
        assert_eq!((accepted, duplicates), (1, 7), "{answers:?}");
    }
    assert_eq!(office.events_count(), before + 5);

    // Concurrent commands: every one stored, sequences unique and increasing.
    let writers: Vec<_> = (0..6)
        .map(|w| {
            std::thread::spawn(move || {
                for i in 0..10 {
                    office.post_ok(
                        "/api/students",
                        &json!({"studentId": format!("c-{w}-{i}"), "name": "C"}),
                    );
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let events = office.all_events();
    assert_eq!(events.len() as u64, before + 5 + 60);
    let sequences: Vec<u64> = events
        .iter()
        .map(|e| e["sequence"].as_u64().unwrap())
        .collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");
    assert_eq!(office.get_ok("/api/students").as_array().unwrap().len(), 61);
}
