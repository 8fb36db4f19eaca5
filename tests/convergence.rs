//! The sync issue's real-process test: four `concord serve` processes in the paper's topology
//! (CONTRACT §4), a workload of commands, crashes and a peer kept down — and at the end every
//! service agrees: the office holds the groups' grades, the ta-pool every hire, each group
//! every enrollment in its examinations, and every link is drained without errors.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

const STUDENTS: usize = 12;
const GRADES: [f64; 11] = [1.0, 1.3, 1.7, 2.0, 2.3, 2.7, 3.0, 3.3, 3.7, 4.0, 5.0];

struct Cluster {
    base: u16,
    processes: Vec<Concord>,
    _data: Vec<tempfile::TempDir>,
}

impl Cluster {
    /// The four services, each told where the others are, syncing every 100 ms; their stores
    /// are SQLite files, or schemas `PREFIX_<service>` in PostgreSQL when given `(url, PREFIX)`.
    fn start(postgres: Option<(&str, &str)>, nats_stream: Option<&str>) -> Cluster {
        let base = free_ports(4);
        let mut processes = Vec::new();
        let mut data = Vec::new();
        for (i, name) in SERVICES.iter().enumerate() {
            let peers: Vec<(&str, u16)> = SERVICES
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(j, peer)| (*peer, base + j as u16))
                .collect();
            let mut args = peer_args(&peers);
            args.extend(["--sync-interval-ms".to_owned(), "100".to_owned()]);
            if let Some(stream) = nats_stream {
                args.extend(["--transport", "nats", "--nats-stream", stream].map(str::to_owned));
            }
            if let Some((url, prefix)) = postgres {
                let schema = format!("{prefix}_{}", name.replace('-', "_"));
                args.extend(["--store".to_owned(), format!("{url}?schema={schema}")]);
            }
            let dir = tempfile::tempdir().unwrap();
            processes.push(Concord::serve(name, base + i as u16, dir.path(), &args));
            data.push(dir);
        }
        Cluster {
            base,
            processes,
            _data: data,
        }
    }

    fn index(name: &str) -> usize {
        SERVICES.iter().position(|s| *s == name).unwrap()
    }

    fn node(&self, name: &str) -> Node {
        Node::new(self.base + Self::index(name) as u16)
    }

    fn nodes(&self) -> Vec<Node> {
        SERVICES.iter().map(|name| self.node(name)).collect()
    }

    fn process(&mut self, name: &str) -> &mut Concord {
        &mut self.processes[Self::index(name)]
    }
}

fn student(i: usize) -> String {
    format!("c-{i}")
}

fn in_modelling(i: usize) -> bool {
    i % 3 != 2
}

fn in_requirements(i: usize) -> bool {
    matches!(i % 4, 0)
}

fn in_seminar(i: usize) -> bool {
    matches!(i % 2, 0)
}

/// (studentId, examinationId) → grade, of the grades a service lists (null ones left out);
/// `list` is `enrollments` at the office and `examinations` at a group.
fn grades(students: &Value, list: &str, group: Option<&str>) -> BTreeMap<(String, String), f64> {
    let mut out = BTreeMap::new();
    for s in students.as_array().unwrap() {
        for e in s[list].as_array().unwrap() {
            if group.is_some_and(|g| e["group"] != g) || e["grade"].is_null() {
                continue;
            }
            out.insert(
                (
                    s["studentId"].as_str().unwrap().to_owned(),
                    e["examinationId"].as_str().unwrap().to_owned(),
                ),
                e["grade"].as_f64().unwrap(),
            );
        }
    }
    out
}

fn hires(answer: &Value) -> BTreeMap<String, BTreeSet<String>> {
    answer
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| !s["hiredBy"].as_array().unwrap().is_empty())
        .map(|s| {
            (
                s["studentId"].as_str().unwrap().to_owned(),
                s["hiredBy"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|g| g.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn four_processes_converge_through_crashes_and_a_peer_down() {
    converge(Cluster::start(None, None));
}

/// The same with every link carried by NATS JetStream.
#[cfg(feature = "nats")]
#[test]
fn four_processes_over_nats_converge_through_crashes_and_a_peer_down() {
    let Some(_nats) =
        nats_or_skip("four_processes_over_nats_converge_through_crashes_and_a_peer_down")
    else {
        return;
    };
    let stream = format!("CONVERGE{}X{}", std::process::id(), free_port());
    let mut cluster = Cluster::start(None, Some(&stream));
    converge_in(&mut cluster, true);
    drop(cluster);
    delete_stream(&stream);
}

/// The same with every store in PostgreSQL.
#[cfg(feature = "postgres")]
#[test]
fn four_processes_on_postgresql_converge_through_crashes_and_a_peer_down() {
    let test = "four_processes_on_postgresql_converge_through_crashes_and_a_peer_down";
    let Some(url) = concord_postgres::testing::server_or_skip(test) else {
        return;
    };
    let prefix = concord_postgres::testing::unique_schema("converge");
    let mut cluster = Cluster::start(Some((&url, &prefix)), None);
    converge_in(&mut cluster, false);
    drop(cluster);
    for service in SERVICES {
        let schema = format!("{prefix}_{}", service.replace('-', "_"));
        concord_postgres::PostgresStore::drop_schema(&url, &schema).expect("drop the test schema");
    }
}

fn converge(mut cluster: Cluster) {
    converge_in(&mut cluster, false);
}

fn converge_in(cluster: &mut Cluster, over_nats: bool) {
    let office = cluster.node(OFFICE);
    let se = cluster.node(SE);
    let theory = cluster.node(THEORY);
    let pool = cluster.node(TA_POOL);

    // The office: students, three examinations, enrollments.
    for i in 0..STUDENTS {
        office.post_ok(
            "/api/students",
            &json!({"studentId": student(i), "name": format!("Student {i}")}),
        );
    }
    for (exam, title, group) in [
        ("mod", "Modelling", SE),
        ("req", "Requirements", SE),
        ("sem", "Logic seminar", THEORY),
    ] {
        office.post_ok(
            "/api/examinations",
            &json!({"examinationId": exam, "title": title, "group": group}),
        );
    }
    for i in 0..STUDENTS {
        for (exam, enrolled) in [
            ("mod", in_modelling(i)),
            ("req", in_requirements(i)),
            ("sem", in_seminar(i)),
        ] {
            if enrolled {
                office.post_ok(
                    "/api/enrollments",
                    &json!({"studentId": student(i), "examinationId": exam}),
                );
            }
        }
    }
    let se_count = (0..STUDENTS)
        .filter(|&i| in_modelling(i) || in_requirements(i))
        .count();
    let theory_count = (0..STUDENTS).filter(|&i| in_seminar(i)).count();
    eventually(
        "the groups pull their enrollments",
        Duration::from_secs(5),
        || {
            (se.get_ok("/api/students").as_array().unwrap().len() == se_count
                && theory.get_ok("/api/students").as_array().unwrap().len() == theory_count)
                .then_some(())
        },
    );

    // The groups work: assignments and points; ratings and the first theory grades.
    for (id, exam, max) in [("a-1", "mod", 10), ("a-2", "mod", 20), ("b-1", "req", 10)] {
        se.post_ok(
            "/api/assignments",
            &json!({"assignmentId": id, "examinationId": exam, "title": id, "maxPoints": max}),
        );
    }
    let score = |i: usize, bump: u64| {
        if in_modelling(i) {
            se.post_ok(
                "/api/assignments/a-1/scores",
                &json!({"studentId": student(i), "points": ((i as u64 * 3) % 11 + bump).min(10)}),
            );
            se.post_ok(
                "/api/assignments/a-2/scores",
                &json!({"studentId": student(i), "points": ((i as u64 * 7) % 21 + bump).min(20)}),
            );
        }
        if in_requirements(i) {
            se.post_ok(
                "/api/assignments/b-1/scores",
                &json!({"studentId": student(i), "points": ((i as u64 * 5) % 11 + bump).min(10)}),
            );
        }
    };
    for i in 0..STUDENTS {
        score(i, 0);
    }
    let rate = |i: usize| {
        theory.post_ok(
            "/api/presentations",
            &json!({"studentId": student(i), "examinationId": "sem",
                    "content": GRADES[i % 11], "presentation": GRADES[(i + 1) % 11],
                    "discussion": GRADES[(i + 2) % 11]}),
        );
        theory.post_ok(
            "/api/grades",
            &json!({"studentId": student(i), "examinationId": "sem"}),
        );
    };
    let seminar: Vec<usize> = (0..STUDENTS).filter(|&i| in_seminar(i)).collect();
    for &i in &seminar[..seminar.len() / 2] {
        rate(i);
    }

    // The office goes down; se-group grades anyway, so its pushes are pending...
    cluster.process(OFFICE).kill();
    for i in (0..STUDENTS).filter(|&i| in_modelling(i)) {
        se.post_ok(
            "/api/grades",
            &json!({"studentId": student(i), "examinationId": "mod"}),
        );
    }
    // (Over NATS se-group publishes to the stream whether the office is up or not.)
    if !over_nats {
        eventually(
            "se-group's link to the office shows the failure",
            Duration::from_secs(5),
            || {
                se.links()
                    .iter()
                    .find(|l| l["peer"] == OFFICE && l["direction"] == "push")
                    .filter(|l| l["lastError"].is_string())
                    .cloned()
            },
        );
    }
    // ...when it is killed. It comes back on its store while the office is still down.
    cluster.process(SE).kill();
    cluster.process(SE).restart();
    for i in (0..STUDENTS).filter(|&i| in_requirements(i)) {
        se.post_ok(
            "/api/grades",
            &json!({"studentId": student(i), "examinationId": "req"}),
        );
    }
    for &i in &seminar[seminar.len() / 2..] {
        rate(i);
    }
    cluster.process(OFFICE).restart();

    // A burst of new points and grades, and se-group killed straight after, mid-push.
    for i in 0..STUDENTS {
        score(i, 1);
        for (exam, enrolled) in [("mod", in_modelling(i)), ("req", in_requirements(i))] {
            if enrolled {
                se.post_ok(
                    "/api/grades",
                    &json!({"studentId": student(i), "examinationId": exam}),
                );
            }
        }
    }
    cluster.process(SE).kill();
    cluster.process(SE).restart();

    // The ta-pool is down while both groups hire; it catches up when it is back.
    cluster.process(TA_POOL).kill();
    let mut expected_hires: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (group, node, students) in [(SE, se, [0, 4, 8]), (THEORY, theory, [2, 6, 8])] {
        for i in students {
            node.post_ok(
                "/api/hires",
                &json!({"studentId": student(i), "force": true}),
            );
            expected_hires
                .entry(student(i))
                .or_default()
                .insert(group.to_owned());
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    cluster.process(TA_POOL).restart();
    eventually(
        "the ta-pool catches up in the background",
        Duration::from_secs(12),
        || {
            let tas = pool.get_ok("/api/tas");
            (hires(&tas) == expected_hires).then_some(tas)
        },
    );
    eventually(
        "theory-group learns se-group's hires through the ta-pool",
        Duration::from_secs(12),
        || {
            let answer = theory.get_ok("/api/students/c-4");
            (answer["hiredBy"] == json!([SE])).then_some(())
        },
    );
    let (status, answer) = theory.post("/api/hires", &json!({"studentId": "c-4"}));
    assert_eq!(status, 409, "{answer}");

    // Quiet now: every service agrees.
    let nodes = cluster.nodes();
    settle(&nodes);

    let office_students = office.get_ok("/api/students");
    let se_students = se.get_ok("/api/students");
    let theory_students = theory.get_ok("/api/students");
    for (group, answer) in [(SE, &se_students), (THEORY, &theory_students)] {
        let at_office = grades(&office_students, "enrollments", Some(group));
        let at_group = grades(answer, "examinations", None);
        assert_eq!(at_office, at_group, "{group}'s grades at the office");
    }
    let se_grades = grades(&se_students, "examinations", None);
    let graded_pairs = (0..STUDENTS)
        .map(|i| (in_modelling(i) as usize) + (in_requirements(i) as usize))
        .sum::<usize>();
    assert_eq!(
        se_grades.len(),
        graded_pairs,
        "every acknowledged SE grade: {se_grades:?}"
    );
    assert_eq!(
        grades(&theory_students, "examinations", None).len(),
        seminar.len(),
        "every acknowledged theory grade"
    );

    // Hires: the ta-pool holds the union, both groups know it, conflict where both hired.
    let tas = pool.get_ok("/api/tas");
    assert_eq!(hires(&tas), expected_hires);
    for ta in tas.as_array().unwrap() {
        let both = ta["hiredBy"].as_array().unwrap().len() == 2;
        assert_eq!(ta["conflict"], both, "{ta}");
        let id: usize = ta["studentId"].as_str().unwrap()[2..].parse().unwrap();
        assert_eq!(ta["name"], format!("Student {id}"), "{ta}");
    }
    for (group, answer) in [(SE, &se_students), (THEORY, &theory_students)] {
        assert_eq!(hires(answer), expected_hires, "hires as {group} knows them");
    }

    // Each group knows every student the office enrolled in its examinations, by name.
    let names: BTreeMap<String, Value> = office_students
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["studentId"].as_str().unwrap().to_owned(),
                s["name"].clone(),
            )
        })
        .collect();
    for (group, answer) in [(SE, &se_students), (THEORY, &theory_students)] {
        let at_office: BTreeSet<(String, String)> = office_students
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| {
                s["enrollments"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|e| e["group"] == group)
                    .map(|e| {
                        (
                            s["studentId"].as_str().unwrap().to_owned(),
                            e["examinationId"].as_str().unwrap().to_owned(),
                        )
                    })
            })
            .collect();
        let at_group: BTreeSet<(String, String)> = answer
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| {
                s["examinations"].as_array().unwrap().iter().map(|e| {
                    (
                        s["studentId"].as_str().unwrap().to_owned(),
                        e["examinationId"].as_str().unwrap().to_owned(),
                    )
                })
            })
            .collect();
        assert_eq!(at_group, at_office, "{group}'s enrollments");
        for s in answer.as_array().unwrap() {
            let id = s["studentId"].as_str().unwrap();
            assert_eq!(
                Some(&s["name"]),
                names.get(id),
                "{group} names {id} as the office does"
            );
        }
    }

    // A list query holds what the single query answers.
    for (node, list) in [(se, &se_students), (theory, &theory_students)] {
        for item in list.as_array().unwrap() {
            let id = item["studentId"].as_str().unwrap();
            assert_eq!(&node.get_ok(&format!("/api/students/{id}")), item);
        }
    }

    // Relayed events keep their id, source, type, time and data; getEvents filters on the
    // original source.
    let by_id = |events: Vec<Value>| -> BTreeMap<String, Value> {
        events
            .into_iter()
            .map(|mut e| {
                e.as_object_mut().unwrap().remove("sequence");
                (e["id"].as_str().unwrap().to_owned(), e)
            })
            .collect()
    };
    let se_events = by_id(se.all_events());
    let theory_events = by_id(theory.all_events());
    let office_events = by_id(office.all_events());
    let pool_events = by_id(pool.all_events());
    for (id, relayed) in office_events.iter().filter(|(_, e)| e["source"] != OFFICE) {
        let original = se_events.get(id).or(theory_events.get(id));
        assert_eq!(original, Some(relayed), "the office's copy of {id}");
    }
    for (id, relayed) in &pool_events {
        let original = se_events.get(id).or(theory_events.get(id));
        assert_eq!(original, Some(relayed), "the ta-pool's copy of {id}");
    }
    let from_se = pool.get_ok("/api/events?source=se-group")["events"].clone();
    assert_eq!(from_se.as_array().unwrap().len(), 3, "{from_se}");
    assert!(from_se
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["source"] == SE));

    // Every link drained, without errors.
    for (name, node) in SERVICES.iter().zip(&nodes) {
        for link in node.links() {
            assert_eq!(link["lastError"], Value::Null, "{name}: {link}");
            assert_eq!(link["pending"], 0, "{name}: {link}");
            assert_eq!(link["rejected"], 0, "{name}: {link}");
        }
    }
    assert_eq!(se.links().len(), 4);
    assert_eq!(theory.links().len(), 4);
}

fn enrolled_event(id: &str, student: &str, name: &str, time: &str) -> Value {
    event(
        id,
        OFFICE,
        "studentEnrolled",
        time,
        json!({"studentId": student, "studentName": name, "examinationId": "mod",
               "examinationTitle": "Modelling", "group": SE}),
    )
}

/// A peer that serves nothing and takes everything.
fn empty_peer() -> FakePeer {
    FakePeer::start(|request| match request.method.as_str() {
        "GET" => (200, page(vec![], 0, false)),
        _ => (
            200,
            json!({"accepted": 0, "duplicates": 0, "ignored": 0, "results": []}),
        ),
    })
}

fn serve_se_with(office: &FakePeer, pool: &FakePeer, data: &std::path::Path) -> Concord {
    let mut args = peer_args(&[(OFFICE, office.port), (TA_POOL, pool.port)]);
    args.extend(["--sync-interval-ms".to_owned(), "100".to_owned()]);
    Concord::serve(SE, free_port(), data, &args)
}

#[test]
fn a_malformed_event_a_peer_serves_is_rejected_without_blocking_the_link() {
    let events = [
        enrolled_event("ok-1", "s-1", "Ada", &at(1)).tap_sequence(1),
        enrolled_event("bad-2", "s-2", "Grace", &at(2))
            .without_data("studentName")
            .tap_sequence(2),
        enrolled_event("ok-3", "s-3", "Alan", &at(3)).tap_sequence(3),
    ];
    let office = FakePeer::start(move |request| {
        if request.method != "GET" {
            return (405, json!({"error": "no"}));
        }
        let after: u64 = request
            .param("after")
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        let rest: Vec<Value> = events
            .iter()
            .filter(|e| e["sequence"].as_u64().unwrap() > after)
            .cloned()
            .collect();
        (200, page(rest, after.max(3), false))
    });
    let pool = empty_peer();
    let data = tempfile::tempdir().unwrap();
    let _process = serve_se_with(&office, &pool, data.path());
    let se = Node::new(_process.node().port);
    se.sync();

    let students = se.by_id("/api/students", "studentId");
    assert!(
        students.contains_key("s-1") && students.contains_key("s-3"),
        "{students:?}"
    );
    assert!(
        !students.contains_key("s-2"),
        "the malformed event is not applied"
    );
    let link = se
        .links()
        .into_iter()
        .find(|l| l["peer"] == OFFICE && l["direction"] == "pull")
        .expect("a pull link from the office");
    assert_eq!(link["rejected"], 1, "{link}");
    assert_eq!(link["cursor"], 3, "the link moved past it: {link}");
    assert_eq!(link["lastError"], Value::Null, "{link}");
    let text = link.to_string();
    assert!(
        text.contains("bad-2") && text.contains("studentName"),
        "GET /api/sync shows the rejected event with the reason: {link}"
    );

    // The pull asked for what the paper's topology says: enrollments of this group.
    let asked = office
        .requests()
        .into_iter()
        .find(|r| r.method == "GET")
        .expect("the office was asked");
    assert_eq!(asked.path(), "/api/events");
    let types: Vec<String> = asked
        .query()
        .into_iter()
        .filter(|(n, _)| n == "type")
        .flat_map(|(_, v)| v.split(',').map(str::to_owned).collect::<Vec<_>>())
        .collect();
    assert_eq!(types, ["studentEnrolled"], "{}", asked.target);
    assert_eq!(
        asked.param("data.group").as_deref(),
        Some(SE),
        "{}",
        asked.target
    );

    // The peer said there is nothing after next_after (has_more false): nothing is pending.
    // (The peer speaks only the contract's getEvents answer.)
    assert_eq!(
        link["pending"], 0,
        "a drained link shows pending 0 with a peer that answers only what the contract \
         says (events, next_after, has_more): {link}"
    );
}

#[test]
fn pushes_are_retried_until_taken_and_keep_the_events_identity() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let failures_left = Arc::new(AtomicUsize::new(3));
    let office = {
        let failures_left = Arc::clone(&failures_left);
        FakePeer::start(move |request| {
            if request.method == "GET" {
                return (200, page(vec![], 0, false));
            }
            if failures_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return (503, json!({"error": "not now"}));
            }
            let n = request.json().as_array().map_or(1, Vec::len);
            (
                200,
                json!({"accepted": n, "duplicates": 0, "ignored": 0, "results": []}),
            )
        })
    };
    let pool = empty_peer();
    let data = tempfile::tempdir().unwrap();
    let process = serve_se_with(&office, &pool, data.path());
    let se = process.node();
    se.put_events(&[
        enrolled_event("e-1", "s-1", "Ada", &at(1)),
        enrolled_event("e-2", "s-2", "Grace", &at(2)),
    ]);
    se.post_ok(
        "/api/assignments",
        &json!({"assignmentId": "a-1", "examinationId": "mod", "title": "UML", "maxPoints": 10}),
    );
    for (student, points) in [("s-1", 10), ("s-2", 6)] {
        se.post_ok(
            "/api/assignments/a-1/scores",
            &json!({"studentId": student, "points": points}),
        );
        se.post_ok(
            "/api/grades",
            &json!({"studentId": student, "examinationId": "mod"}),
        );
    }
    se.post_ok("/api/hires", &json!({"studentId": "s-1"}));

    let own = se.all_events();
    let wanted = |ty: &str| -> Vec<Value> {
        own.iter()
            .filter(|e| e["type"] == ty && e["source"] == SE)
            .cloned()
            .collect()
    };
    let delivered = |peer: &FakePeer| -> Vec<Value> {
        peer.requests()
            .iter()
            .filter(|r| r.method == "POST")
            .flat_map(|r| match r.json() {
                Value::Array(events) => events,
                one => vec![one],
            })
            .collect()
    };
    let strip = |e: &Value| {
        let mut e = e.clone();
        e.as_object_mut().unwrap().remove("sequence");
        e
    };
    let ids = |events: &[Value]| -> BTreeSet<String> {
        events
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let grades = wanted("studentGraded");
    assert_eq!(grades.len(), 2);
    eventually(
        "the grades reach the office after it recovers",
        Duration::from_secs(15),
        || {
            let posted = delivered(&office);
            // Only successful deliveries count: the failures come first.
            (failures_left.load(Ordering::SeqCst) == 0 && ids(&grades).is_subset(&ids(&posted)))
                .then_some(())
        },
    );
    let hires = wanted("studentHired");
    eventually(
        "the hire reaches the ta-pool",
        Duration::from_secs(5),
        || ids(&hires).is_subset(&ids(&delivered(&pool))).then_some(()),
    );
    se.sync();

    // Each push carries only that link's types, only this group's own events, unchanged.
    for (peer, expected) in [(&office, &grades), (&pool, &hires)] {
        let posted = delivered(peer);
        for event in &posted {
            let original = expected
                .iter()
                .find(|e| e["id"] == event["id"])
                .unwrap_or_else(|| panic!("pushed an event it should not: {event}"));
            assert_eq!(
                strip(event),
                strip(original),
                "a relayed event keeps its identity"
            );
        }
    }
    for link in se.links() {
        if link["direction"] == "push" {
            assert_eq!(link["lastError"], Value::Null, "{link}");
            assert_eq!(link["pending"], 0, "{link}");
        }
    }
}

trait EventExt {
    fn tap_sequence(self, sequence: u64) -> Self;
    fn without_data(self, field: &str) -> Self;
}

impl EventExt for Value {
    fn tap_sequence(mut self, sequence: u64) -> Self {
        self["sequence"] = json!(sequence);
        self
    }

    fn without_data(mut self, field: &str) -> Self {
        self["data"].as_object_mut().unwrap().remove(field);
        self
    }
}
