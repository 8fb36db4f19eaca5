//! Durability of the real binary (CONTRACT §3 and §5): SIGTERM exits 0 within 10 s and a
//! restart on the same data comes back with exactly the same state; an acknowledged command
//! survives SIGKILL; a request in flight when SIGTERM arrives is finished.

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

/// Everything a client can read from one service, order-insensitive where nothing is promised.
fn office_state(office: Node) -> Value {
    json!({
        "students": normalize(&office.get_ok("/api/students")),
        "examinations": normalize(&office.get_ok("/api/examinations")),
        "events": office.all_events(),
        "count": office.events_count(),
    })
}

#[test]
fn sigterm_exits_0_and_a_restart_restores_the_state() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut process = Concord::serve(OFFICE, port, data.path(), &[]);
    let office = process.node();
    for i in 0..10 {
        office.post_ok(
            "/api/students",
            &json!({"studentId": format!("s-{i}"), "name": format!("Student {i}")}),
        );
    }
    office.post_ok(
        "/api/examinations",
        &json!({"examinationId": "e-se", "title": "Modelling", "group": SE}),
    );
    office.post_ok(
        "/api/examinations",
        &json!({"examinationId": "e-th", "title": "Seminar", "group": THEORY}),
    );
    for i in 0..10 {
        let exam = if i % 2 == 0 { "e-se" } else { "e-th" };
        office.post_ok(
            "/api/enrollments",
            &json!({"studentId": format!("s-{i}"), "examinationId": exam}),
        );
    }
    office.post_ok(
        "/api/students",
        &json!({"studentId": "s-0", "name": "Renamed"}),
    );
    let (status, _) = office.put_events(&[
        graded("g-1", SE, "s-0", "e-se", 1.3, &at(1)),
        graded("g-2", THEORY, "s-1", "e-th", 2.7, &at(2)),
        graded("g-3", SE, "s-99", "e-new", 4.0, &at(3)),
    ]);
    assert_eq!(status, 200);
    let before = office_state(office);
    assert_eq!(before["students"].as_array().unwrap().len(), 11);

    process.stop_gracefully();
    assert!(
        TcpStream::connect(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).is_err(),
        "nothing listens after the exit"
    );
    process.restart();
    assert_eq!(
        office_state(office),
        before,
        "the same state after SIGTERM and restart"
    );

    // And it carries on: new events get higher sequences.
    let last = before["events"].as_array().unwrap().last().unwrap()["sequence"]
        .as_u64()
        .unwrap();
    office.post_ok(
        "/api/students",
        &json!({"studentId": "s-new", "name": "New"}),
    );
    let events = office.all_events();
    assert!(events.last().unwrap()["sequence"].as_u64().unwrap() > last);

    // A second cycle, this time a group (its links to peers that are not there do not hold
    // up the exit).
    process.stop_gracefully();
    process.restart();
    assert_eq!(office.get_ok("/api/students/s-new")["name"], "New");
    process.stop_gracefully();

    let se_data = tempfile::tempdir().unwrap();
    let dead = free_ports(2);
    let mut peers = peer_args(&[(OFFICE, dead), (TA_POOL, dead + 1)]);
    peers.extend(["--sync-interval-ms".to_owned(), "100".to_owned()]);
    let mut se_process = Concord::serve(SE, free_port(), se_data.path(), &peers);
    let se = se_process.node();
    se.put_events(&[event(
        "en-1",
        OFFICE,
        "studentEnrolled",
        &at(1),
        json!({"studentId": "s-1", "studentName": "Ada", "examinationId": "mod",
               "examinationTitle": "Modelling", "group": SE}),
    )]);
    se.post_ok(
        "/api/assignments",
        &json!({"assignmentId": "a-1", "examinationId": "mod", "title": "UML", "maxPoints": 10}),
    );
    se.post_ok(
        "/api/assignments/a-1/scores",
        &json!({"studentId": "s-1", "points": 9}),
    );
    se.post_ok(
        "/api/grades",
        &json!({"studentId": "s-1", "examinationId": "mod"}),
    );
    se.post_ok("/api/hires", &json!({"studentId": "s-1"}));
    std::thread::sleep(Duration::from_millis(300)); // let the links fail a few rounds
    let before = json!({
        "students": normalize(&se.get_ok("/api/students")),
        "events": se.all_events(),
    });
    se_process.stop_gracefully();
    se_process.restart();
    let after = json!({
        "students": normalize(&se.get_ok("/api/students")),
        "events": se.all_events(),
    });
    assert_eq!(after, before);
    se_process.stop_gracefully();
}

#[test]
fn an_acknowledged_command_survives_sigkill() {
    let data = tempfile::tempdir().unwrap();
    let mut process = Concord::serve(OFFICE, free_port(), data.path(), &[]);
    let office = process.node();
    office.post_ok(
        "/api/examinations",
        &json!({"examinationId": "e-1", "title": "Modelling", "group": SE}),
    );
    // Kill straight after the 2xx, a few times.
    for round in 0..4 {
        let id = format!("k-{round}");
        office.post_ok("/api/students", &json!({"studentId": id, "name": "Killed"}));
        process.kill();
        process.restart();
        assert_eq!(
            office.get_ok(&format!("/api/students/{id}"))["name"],
            "Killed"
        );
    }
    // An acknowledged putEvents too.
    let (status, _) = office.put_events(&[graded("kg-1", SE, "k-0", "e-1", 1.7, &at(1))]);
    assert_eq!(status, 200);
    process.kill();
    process.restart();
    let student = office.get_ok("/api/students/k-0");
    assert_eq!(student["enrollments"][0]["grade"], json!(1.7), "{student}");

    // Several clients writing while the process is killed: everything acknowledged is there.
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let acknowledged = Arc::clone(&acknowledged);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for i in 0.. {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let id = format!("w{w}-{i}");
                    let body = json!({"studentId": id, "name": format!("Writer {w}")}).to_string();
                    match office.try_send(
                        "POST",
                        "/api/students",
                        &[("Content-Type", "application/json")],
                        body.as_bytes(),
                    ) {
                        Ok(r) if (200..300).contains(&r.status) => {
                            acknowledged.lock().unwrap().push(id)
                        }
                        Ok(r) => panic!("POST /api/students answered {}: {}", r.status, r.text()),
                        Err(_) => return, // killed
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(400));
    process.kill();
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.join().expect("a writer panicked");
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() > 4, "the writers got some work done");
    process.restart();
    let students = office.by_id("/api/students", "studentId");
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !students.contains_key(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged commands lost: {lost:?}",
        lost.len(),
        acknowledged.len()
    );
}

#[test]
fn sigterm_finishes_a_request_in_flight() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut process = Concord::serve(OFFICE, port, data.path(), &[]);
    let office = process.node();
    let body = json!([graded("in-flight", SE, "s-1", "e-1", 1.0, &at(1))]).to_string();
    let (first, second) = body.as_bytes().split_at(body.len() / 2);
    let mut stream = TcpStream::connect(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    write!(
        stream,
        "POST /api/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        process.operator_token(),
        body.len()
    )
    .unwrap();
    stream.write_all(first).unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let pid = process.pid();
    let terminating = std::thread::spawn(move || {
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
    });
    assert!(terminating.join().unwrap().success());
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(second).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the request in flight is finished: {answer:?}"
    );
    assert!(answer.contains("\"accepted\":1"), "{answer}");
    process.stop_gracefully_after_signal();
    process.restart();
    assert_eq!(
        office.all_events()[0]["id"],
        "in-flight",
        "the request finished during shutdown is durable"
    );
}

/// Everything a client can read from the four demo services.
fn demo_state(nodes: &[Node]) -> Value {
    let (office, se, theory, pool) = (nodes[0], nodes[1], nodes[2], nodes[3]);
    let cursors: Vec<Value> = nodes
        .iter()
        .map(|n| {
            n.links()
                .iter()
                .map(|l| (l["name"].as_str().unwrap().to_owned(), l["cursor"].clone()))
                .collect::<serde_json::Map<String, Value>>()
                .into()
        })
        .collect();
    // Not in the contract, but if the service answers it, it answers the same.
    let assignments = {
        let (status, answer) = se.get("/api/assignments");
        json!([status, normalize(&answer)])
    };
    json!({
        "office": office_state(office),
        "se": {
            "students": normalize(&se.get_ok("/api/students")),
            "assignments": assignments,
            "events": se.all_events(),
        },
        "theory": {
            "students": normalize(&theory.get_ok("/api/students")),
            "events": theory.all_events(),
        },
        "pool": {
            "tas": normalize(&pool.get_ok("/api/tas")),
            "events": pool.all_events(),
        },
        "counts": nodes.iter().map(Node::events_count).collect::<Vec<_>>(),
        "cursors": cursors,
    })
}

#[test]
fn the_demo_stops_on_sigterm_and_comes_back_the_same() {
    let data = tempfile::tempdir().unwrap();
    let interval = ["--sync-interval-ms".to_owned(), "100".to_owned()];
    let mut args = interval.to_vec();
    args.push("--seed".to_owned());
    let mut process = Concord::demo(free_ports(4), data.path(), &args);
    process.wait_for_stdout("Seeded", Duration::from_secs(10));
    let nodes = process.nodes();
    let (office, se, theory) = (nodes[0], nodes[1], nodes[2]);
    // A little more than the sample: a new student through the whole story.
    office.post_ok(
        "/api/students",
        &json!({"studentId": "r-1", "name": "Rosalind"}),
    );
    // The sample's examinations, as the office lists them in a student's enrollments.
    let sample = office.get_ok("/api/students");
    let mut exams: Vec<(Value, Value)> = sample
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["enrollments"].as_array().unwrap().iter())
        .map(|e| (e["examinationId"].clone(), e["group"].clone()))
        .collect();
    exams.sort_by_key(|(id, _)| id.to_string());
    exams.dedup();
    assert!(exams.iter().any(|(_, g)| g == SE) && exams.iter().any(|(_, g)| g == THEORY));
    for (exam, _) in &exams {
        office.post_ok(
            "/api/enrollments",
            &json!({"studentId": "r-1", "examinationId": exam}),
        );
    }
    settle(&nodes);
    let theory_exam = exams.iter().find(|(_, g)| g == THEORY).unwrap().0.clone();
    theory.post_ok(
        "/api/presentations",
        &json!({"studentId": "r-1", "examinationId": theory_exam, "content": 2.0,
                "presentation": 2.0, "discussion": 2.0}),
    );
    theory.post_ok(
        "/api/grades",
        &json!({"studentId": "r-1", "examinationId": theory_exam}),
    );
    se.post_ok("/api/hires", &json!({"studentId": "r-1"}));
    settle(&nodes);
    let before = demo_state(&nodes);

    process.stop_gracefully();
    process.args_mut().retain(|a| a != "--seed");
    process.restart();
    assert_eq!(
        demo_state(&nodes),
        before,
        "every service comes back as it was"
    );
    settle(&nodes);
    assert_eq!(
        demo_state(&nodes),
        before,
        "and its links find nothing new to carry"
    );
    process.stop_gracefully();
}

#[test]
fn sigterm_exits_in_time_even_when_peers_hang() {
    // Both peers accept connections and never answer: every link round hangs in a request.
    let hung = BlackHole::start();
    let data = tempfile::tempdir().unwrap();
    let mut args = peer_args(&[(OFFICE, hung.port), (TA_POOL, hung.port)]);
    args.extend(["--sync-interval-ms".to_owned(), "100".to_owned()]);
    let mut process = Concord::serve(SE, free_port(), data.path(), &args);
    let se = process.node();
    se.put_events(&[event(
        "en-1",
        OFFICE,
        "studentEnrolled",
        &at(1),
        json!({"studentId": "s-1", "studentName": "Ada", "examinationId": "mod",
               "examinationTitle": "Modelling", "group": SE}),
    )]);
    se.post_ok("/api/hires", &json!({"studentId": "s-1"})); // a push to hang as well
    std::thread::sleep(Duration::from_millis(500));
    let (status, took) = process.terminate_within(Duration::from_secs(12));
    assert!(status.success(), "exit {status}");
    assert!(
        took <= Duration::from_secs(10),
        "exits within 10 s of SIGTERM even while links wait on hung peers; took {took:?}"
    );
}
