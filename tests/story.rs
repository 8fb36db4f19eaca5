//! The paper's story over HTTP against the real `concord demo`: the office enrolls students,
//! the groups learn of it, grade, and the grades come back; hires reach the ta-pool and the
//! other group, and the second group's hire is refused unless forced.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

const MODELLING: &str = "se-modelling";
const SEMINAR: &str = "theory-seminar";
const STUDENTS: [(&str, &str); 3] = [
    ("s-1", "Ada Lovelace"),
    ("s-2", "Grace Hopper"),
    ("s-3", "Alan Turing"),
];

fn demo(extra: &[&str]) -> (Concord, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = vec!["--sync-interval-ms".into(), "100".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let process = Concord::demo(free_ports(4), data.path(), &args);
    (process, data)
}

/// The grade of `student` in `exam` as a service answers it (office: `enrollments`, groups:
/// `examinations`); `None` if the student or examination is not listed.
fn grade_at(answer: &Value, list: &str, exam: &str) -> Option<Value> {
    answer[list]
        .as_array()?
        .iter()
        .find(|e| e["examinationId"] == exam)
        .map(|e| {
            assert!(
                e.as_object().unwrap().contains_key("grade"),
                "grade is present (null until there is one): {e}"
            );
            e["grade"].clone()
        })
}

fn hired_by(answer: &Value) -> BTreeSet<String> {
    answer["hiredBy"]
        .as_array()
        .unwrap_or_else(|| panic!("hiredBy is an array: {answer}"))
        .iter()
        .map(|g| g.as_str().unwrap().to_owned())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_papers_story_over_http() {
    let (process, _data) = demo(&[]);
    papers_story(&process, false);
}

/// The same story with the four services' stores in PostgreSQL (a schema each).
#[cfg(feature = "postgres")]
#[test]
fn the_papers_story_on_postgresql() {
    let Some(url) = concord_postgres::testing::server_or_skip("the_papers_story_on_postgresql")
    else {
        return;
    };
    let prefix = concord_postgres::testing::unique_schema("story");
    // The stores go to PostgreSQL; the credentials still to the data folder.
    let (mut process, data) = demo(&["--store", &format!("{url}?schema={prefix}")]);
    assert!(data.path().join("credentials.toml").exists());
    papers_story(&process, false);
    process.stop_gracefully();
    for service in SERVICES {
        let schema = format!(
            "{prefix}_{}",
            concord_postgres::location::schema_for_service(service)
        );
        concord_postgres::PostgresStore::drop_schema(&url, &schema).expect("drop the test schema");
    }
}

/// The same story with the links carried by NATS JetStream instead of HTTP.
#[cfg(feature = "nats")]
#[test]
fn the_papers_story_over_nats() {
    let Some(nats) = nats_or_skip("the_papers_story_over_nats") else {
        return;
    };
    let stream = format!("STORY{}X{}", std::process::id(), free_port());
    let (mut process, _data) = demo(&[
        "--transport",
        "nats",
        "--nats-url",
        &nats,
        "--nats-stream",
        &stream,
    ]);
    papers_story(&process, true);
    process.stop_gracefully();
    delete_stream(&stream);
}

fn papers_story(process: &Concord, over_nats: bool) {
    let nodes = process.nodes();
    let (office, se, theory, pool) = (nodes[0], nodes[1], nodes[2], nodes[3]);
    // Over NATS a push only publishes and the receiver consumes on its own schedule, so
    // "synchronise" there means a round on every service (twice, for relays).
    let sync = |node: Node| -> Value {
        if over_nats {
            for _ in 0..2 {
                for other in [office, se, theory, pool] {
                    other.sync();
                }
            }
        }
        node.sync()
    };

    // The office creates students and one examination per group, and enrolls everyone.
    for (id, name) in STUDENTS {
        office.post_ok("/api/students", &json!({"studentId": id, "name": name}));
    }
    office.post_ok(
        "/api/examinations",
        &json!({"examinationId": MODELLING, "title": "Modelling", "group": SE}),
    );
    office.post_ok(
        "/api/examinations",
        &json!({"examinationId": SEMINAR, "title": "Logic seminar", "group": THEORY}),
    );
    for (id, _) in STUDENTS {
        for exam in [MODELLING, SEMINAR] {
            office.post_ok(
                "/api/enrollments",
                &json!({"studentId": id, "examinationId": exam}),
            );
        }
    }

    // studentEnrolled carries what a group needs to show it (names, title, group).
    let page = office.get_ok("/api/events?type=studentEnrolled");
    let enrolled = page["events"].as_array().unwrap();
    assert_eq!(enrolled.len(), 6, "{page}");
    let mut last_sequence = 0;
    for event in enrolled {
        assert_eq!(event["specversion"], "1.0");
        assert_eq!(event["source"], OFFICE);
        assert_eq!(event["type"], "studentEnrolled");
        assert!(event["id"].as_str().is_some_and(|id| !id.is_empty()));
        let time = event["time"].as_str().expect("a time");
        let fraction = time.split_once('.').map_or(0, |(_, rest)| {
            rest.chars().take_while(char::is_ascii_digit).count()
        });
        assert!(
            fraction >= 3,
            "raised with millisecond precision or finer: {time}"
        );
        let sequence = event["sequence"].as_u64().expect("an integer sequence");
        assert!(sequence > last_sequence, "ascending sequence: {page}");
        last_sequence = sequence;
        let data = &event["data"];
        let student = data["studentId"].as_str().unwrap();
        let name = STUDENTS.iter().find(|(id, _)| *id == student).unwrap().1;
        assert_eq!(data["studentName"], name, "{event}");
        let (title, group) = match data["examinationId"].as_str().unwrap() {
            MODELLING => ("Modelling", SE),
            SEMINAR => ("Logic seminar", THEORY),
            other => panic!("unexpected examination {other}"),
        };
        assert_eq!(data["examinationTitle"], title, "{event}");
        assert_eq!(data["group"], group, "{event}");
    }
    assert_eq!(page["has_more"], false);
    assert!(page["next_after"].as_u64().unwrap() >= last_sequence);
    let filtered = office.get_ok("/api/events?type=studentEnrolled&data.group=se-group");
    assert_eq!(
        filtered["events"].as_array().unwrap().len(),
        3,
        "{filtered}"
    );

    // se-group learns of its enrollments on POST /api/sync; theory-group in the background.
    sync(se);
    let se_students = se.by_id("/api/students", "studentId");
    assert_eq!(
        se_students.keys().cloned().collect::<BTreeSet<_>>(),
        set(&["s-1", "s-2", "s-3"])
    );
    for (id, name) in STUDENTS {
        let student = &se_students[id];
        assert_eq!(student["name"], name, "{student}");
        assert_eq!(
            grade_at(student, "examinations", MODELLING),
            Some(Value::Null)
        );
        assert_eq!(
            grade_at(student, "examinations", SEMINAR),
            None,
            "se-group takes only its own group's enrollments: {student}"
        );
        assert_eq!(student["hiredBy"], json!([]));
    }
    let theory_students = eventually(
        "theory-group pulls its enrollments in the background",
        Duration::from_secs(5),
        || {
            let students = theory.by_id("/api/students", "studentId");
            (students.len() == 3).then_some(students)
        },
    );
    for (id, name) in STUDENTS {
        let student = &theory_students[id];
        assert_eq!(student["name"], name, "{student}");
        assert_eq!(
            grade_at(student, "examinations", SEMINAR),
            Some(Value::Null)
        );
        assert_eq!(grade_at(student, "examinations", MODELLING), None);
    }

    // se-group: assignments, points, grades by the SE scheme.
    for (id, title, max) in [
        ("a-1", "Use cases", 10),
        ("a-2", "Class diagrams", 20),
        ("a-3", "State machines", 20),
    ] {
        se.post_ok(
            "/api/assignments",
            &json!({"assignmentId": id, "examinationId": MODELLING, "title": title, "maxPoints": max}),
        );
    }
    // 44/50 = 88 % → 1.7, 30/50 = 60 % → 3.3, 48/50 = 96 % → 1.0
    let se_expected = [
        ("s-1", [9, 18, 17], 1.7),
        ("s-2", [10, 20, 0], 3.3),
        ("s-3", [10, 19, 19], 1.0),
    ];
    for (student, points, _) in se_expected {
        for (assignment, p) in ["a-1", "a-2", "a-3"].into_iter().zip(points) {
            se.post_ok(
                &format!("/api/assignments/{assignment}/scores"),
                &json!({"studentId": student, "points": p}),
            );
        }
        se.post_ok(
            "/api/grades",
            &json!({"studentId": student, "examinationId": MODELLING}),
        );
    }
    let s1 = se.get_ok("/api/students/s-1");
    assert_eq!(
        s1["points"],
        json!({"a-1": 9, "a-2": 18, "a-3": 17}),
        "{s1}"
    );
    let graded = se.get_ok("/api/events?type=studentGraded");
    let graded = graded["events"].as_array().unwrap();
    assert_eq!(graded.len(), 3, "{graded:?}");
    for event in graded {
        assert_eq!(event["source"], SE);
        let data = &event["data"];
        assert_eq!(data["group"], SE);
        assert_eq!(data["examinationId"], MODELLING);
        let expected = se_expected
            .iter()
            .find(|(s, _, _)| data["studentId"] == *s)
            .unwrap()
            .2;
        assert_eq!(data["grade"].as_f64(), Some(expected), "{event}");
    }

    // theory-group: rates presentations and grades by its scheme (50/30/20).
    let theory_expected = [("s-1", [1.3, 1.7, 2.0], 1.7), ("s-2", [1.0, 2.0, 2.0], 1.3)];
    for (student, [content, presentation, discussion], _) in theory_expected {
        theory.post_ok(
            "/api/presentations",
            &json!({"studentId": student, "examinationId": SEMINAR, "content": content,
                    "presentation": presentation, "discussion": discussion}),
        );
        theory.post_ok(
            "/api/grades",
            &json!({"studentId": student, "examinationId": SEMINAR}),
        );
    }
    for (student, _, grade) in theory_expected {
        let answer = theory.get_ok(&format!("/api/students/{student}"));
        assert_eq!(
            grade_at(&answer, "examinations", SEMINAR),
            Some(json!(grade)),
            "{answer}"
        );
    }

    // The grades travel back to the office.
    sync(se);
    sync(theory);
    for (student, _, se_grade) in se_expected {
        let answer = office.get_ok(&format!("/api/students/{student}"));
        assert_eq!(
            grade_at(&answer, "enrollments", MODELLING),
            Some(json!(se_grade)),
            "{answer}"
        );
        let theory_grade = theory_expected
            .iter()
            .find(|(s, _, _)| *s == student)
            .map_or(Value::Null, |(_, _, g)| json!(g));
        assert_eq!(
            grade_at(&answer, "enrollments", SEMINAR),
            Some(theory_grade),
            "{answer}"
        );
        for enrollment in answer["enrollments"].as_array().unwrap() {
            let (title, group) = if enrollment["examinationId"] == MODELLING {
                ("Modelling", SE)
            } else {
                ("Logic seminar", THEORY)
            };
            assert_eq!(enrollment["title"], title, "{answer}");
            assert_eq!(enrollment["group"], group, "{answer}");
        }
    }
    let listed = office.by_id("/api/students", "studentId");
    for (id, _) in STUDENTS {
        assert_eq!(
            listed[id],
            office.get_ok(&format!("/api/students/{id}")),
            "the list holds what the single query answers"
        );
    }

    // se-group hires Alan; the ta-pool and then theory-group learn of it.
    se.post_ok("/api/hires", &json!({"studentId": "s-3"}));
    sync(se);
    let tas = pool.by_id("/api/tas", "studentId");
    assert_eq!(tas.len(), 1, "{tas:?}");
    assert_eq!(tas["s-3"]["name"], "Alan Turing");
    assert_eq!(hired_by(&tas["s-3"]), set(&[SE]));
    assert_eq!(tas["s-3"]["conflict"], false);
    sync(theory);
    assert_eq!(hired_by(&theory.get_ok("/api/students/s-3")), set(&[SE]));

    // theory-group may not hire him too, unless it insists.
    let events_before = theory.events_count();
    let (status, answer) = theory.post("/api/hires", &json!({"studentId": "s-3"}));
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{answer}"
    );
    assert_eq!(
        theory.events_count(),
        events_before,
        "a refused command raises nothing"
    );
    let (status, answer) = theory.post("/api/hires", &json!({"studentId": "s-3", "force": false}));
    assert_eq!(status, 409, "{answer}");
    theory.post_ok("/api/hires", &json!({"studentId": "s-3", "force": true}));
    assert_eq!(
        hired_by(&theory.get_ok("/api/students/s-3")),
        set(&[SE, THEORY])
    );
    sync(theory);
    let tas = pool.by_id("/api/tas", "studentId");
    assert_eq!(hired_by(&tas["s-3"]), set(&[SE, THEORY]), "{tas:?}");
    assert_eq!(tas["s-3"]["conflict"], true, "{tas:?}");
    sync(se);
    assert_eq!(
        hired_by(&se.get_ok("/api/students/s-3")),
        set(&[SE, THEORY])
    );

    // A hire of a student nobody hired yet is not a conflict.
    theory.post_ok("/api/hires", &json!({"studentId": "s-1"}));
    sync(theory);
    let tas = pool.by_id("/api/tas", "studentId");
    assert_eq!(hired_by(&tas["s-1"]), set(&[THEORY]));
    assert_eq!(tas["s-1"]["conflict"], false);
    assert_eq!(tas["s-1"]["name"], "Ada Lovelace");

    // The links, as GET /api/sync shows them; POST /api/sync sums up each.
    let summary = sync(se);
    assert_eq!(
        summary["links"].as_array().map(Vec::len),
        Some(4),
        "a summary per link: {summary}"
    );
    settle(&nodes);
    if over_nats {
        // Over NATS every service publishes or consumes through the stream: the links'
        // shape differs from the paper's HTTP topology, their fields do not.
        for node in [se, theory] {
            for link in node.links() {
                check_link_fields(&link);
            }
        }
    } else {
        check_group_links(se, SE);
        check_group_links(theory, THEORY);
    }
    for node in [office, pool] {
        for link in node.links() {
            check_link_fields(&link);
        }
    }
}

fn check_link_fields(link: &Value) {
    for field in [
        "name",
        "peer",
        "direction",
        "types",
        "filter",
        "cursor",
        "lastSuccess",
        "lastError",
        "pending",
        "rejected",
    ] {
        assert!(
            link.as_object().unwrap().contains_key(field),
            "link lacks {field}: {link}"
        );
    }
    assert!(
        link["name"].as_str().is_some_and(|n| !n.is_empty()),
        "{link}"
    );
    assert!(
        link["direction"] == "pull" || link["direction"] == "push",
        "{link}"
    );
    assert!(link["types"].is_array(), "{link}");
    assert!(link["filter"].is_array(), "{link}");
    assert!(link["cursor"].is_u64(), "{link}");
    assert!(link["rejected"].is_u64(), "{link}");
}

/// A group's four links of the paper's topology, all healthy and drained.
fn check_group_links(node: Node, group: &str) {
    let links = node.links();
    assert_eq!(links.len(), 4, "{links:?}");
    let mut seen = BTreeSet::new();
    for link in &links {
        check_link_fields(link);
        let types: Vec<&str> = link["types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        let filter: Vec<&str> = link["filter"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        let shape = (
            link["direction"].as_str().unwrap().to_owned(),
            link["peer"].as_str().unwrap().to_owned(),
            types.join(","),
        );
        match (shape.0.as_str(), shape.1.as_str(), shape.2.as_str()) {
            ("pull", OFFICE, "studentEnrolled") => {
                let expected = format!("data.group={group}");
                assert!(
                    filter == [expected.as_str()] || filter == [&expected["data.".len()..]],
                    "the enrollment pull filters on its group: {link}"
                );
            }
            ("pull", TA_POOL, "studentHired")
            | ("push", OFFICE, "studentGraded")
            | ("push", TA_POOL, "studentHired") => {}
            other => panic!("unexpected link {other:?}: {link}"),
        }
        seen.insert(shape);
        assert!(
            link["cursor"].as_u64().unwrap() > 0,
            "every link carried something: {link}"
        );
        assert!(link["lastSuccess"].is_string(), "{link}");
        assert_eq!(link["lastError"], Value::Null, "{link}");
        assert_eq!(link["pending"], 0, "{link}");
        assert_eq!(link["rejected"], 0, "{link}");
    }
    assert_eq!(seen.len(), 4, "four different links: {links:?}");
}

#[test]
fn the_seeded_demo_tells_the_sample_story() {
    let (mut process, _data) = demo(&["--seed"]);
    process.wait_for_stdout("Seeded", Duration::from_secs(10));
    let nodes = process.nodes();
    let (office, se, theory, pool) = (nodes[0], nodes[1], nodes[2], nodes[3]);
    let stdout = process.stdout();
    for (i, name) in SERVICES.iter().enumerate() {
        let url = base_url(office.port + i as u16);
        assert!(
            stdout.lines().any(|l| l.contains(name) && l.contains(&url)),
            "the demo prints {name}'s URL {url}:\n{stdout}"
        );
    }
    settle(&nodes);
    let students = office.get_ok("/api/students");
    assert_eq!(students.as_array().unwrap().len(), 3, "{students}");
    let graded = students
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["enrollments"].as_array().unwrap().iter())
        .filter(|e| !e["grade"].is_null())
        .count();
    assert!(graded >= 4, "the sample story grades: {students}");
    assert!(!se.get_ok("/api/students").as_array().unwrap().is_empty());
    assert!(!theory
        .get_ok("/api/students")
        .as_array()
        .unwrap()
        .is_empty());
    assert!(!pool.get_ok("/api/tas").as_array().unwrap().is_empty());
    for node in &nodes {
        let page = node.send("GET", "/", &[], b"");
        assert_eq!(page.status, 200);
        assert!(
            page.header("content-type")
                .is_some_and(|ct| ct.starts_with("text/html")),
            "GET / is the GUI in HTML: {:?}",
            page.headers
        );
        let health = node.health();
        assert_eq!(health["status"], "ok");
        assert!(health["events"].as_u64().unwrap() > 0, "{health}");
    }
}
