//! No single event, clock or peer stops the system (issue: poison-proof sync), against the
//! real binary: links that flow past events they cannot take and keep them across restarts,
//! a push link that isolates what its peer refuses, a clock from the future, a peer whose
//! store was wiped, and the exact reports of putEvents and getEvents.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use support::*;

fn enrolled(id: &str, student: &str, time: &str, sequence: u64) -> Value {
    let mut event = event(
        id,
        OFFICE,
        "studentEnrolled",
        time,
        json!({"studentId": student, "studentName": format!("Student {student}"),
               "examinationId": "mod", "examinationTitle": "Modelling", "group": SE}),
    );
    event["sequence"] = json!(sequence);
    event
}

/// An RFC 3339 time `offset_s` seconds from now.
fn from_now(offset_s: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let t = now + offset_s;
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm), to stay free of a date crate here.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// A peer that serves `events` (each with a `sequence`) as getEvents pages and takes every
/// post.
fn serving(events: Vec<Value>) -> FakePeer {
    let last = events.last().map_or(0, |e| e["sequence"].as_u64().unwrap());
    FakePeer::start(move |request| {
        if request.method != "GET" {
            let n = request.json().as_array().map_or(1, Vec::len);
            return (
                200,
                json!({"accepted": n, "duplicates": 0, "ignored": 0, "results": []}),
            );
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
        let mut answer = page(rest, after.max(last), false);
        answer["last_sequence"] = json!(last);
        (200, answer)
    })
}

fn serve_se(office: u16, pool: u16, data: &std::path::Path) -> Concord {
    let mut args = peer_args(&[(OFFICE, office), (TA_POOL, pool)]);
    args.extend(["--sync-interval-ms".to_owned(), "100".to_owned()]);
    Concord::serve(SE, free_port(), data, &args)
}

fn link(node: &Node, peer: &str, direction: &str) -> Value {
    node.links()
        .into_iter()
        .find(|l| l["peer"] == peer && l["direction"] == direction)
        .unwrap_or_else(|| panic!("no {direction} link with {peer}"))
}

#[test]
fn a_link_flows_past_events_it_cannot_take_and_keeps_them_across_a_restart() {
    // What the reproduction stored at the ta-pool before limits existed: a hire nested 125
    // levels deep (a page wraps it two more), and an event of 2 MiB.
    let mut deep = json!("bottom");
    for _ in 0..125 {
        deep = json!([deep]);
    }
    let mut too_deep = enrolled("deep-2", "s-2", &at(2), 2);
    too_deep["data"]["extra"] = deep;
    let mut too_big = enrolled("big-3", "s-3", &at(3), 3);
    too_big["data"]["extra"] = json!("x".repeat(2 << 20));
    let office = serving(vec![
        enrolled("ok-1", "s-1", &at(1), 1),
        too_deep,
        too_big,
        enrolled("ok-4", "s-4", &at(4), 4),
    ]);
    let pool = serving(vec![]);
    let data = tempfile::tempdir().unwrap();
    let mut se_process = serve_se(office.port, pool.port, data.path());
    let se = se_process.node();
    se.sync();

    let students = se.by_id("/api/students", "studentId");
    assert!(
        students.contains_key("s-1") && students.contains_key("s-4"),
        "{students:?}"
    );
    assert!(!students.contains_key("s-2") && !students.contains_key("s-3"));
    let pull = link(&se, OFFICE, "pull");
    assert_eq!(pull["cursor"], 4, "the link moved past both: {pull}");
    assert_eq!(pull["lastError"], Value::Null, "{pull}");
    assert_eq!(pull["rejected"], 2, "{pull}");
    let reasons = pull["recentRejections"].to_string();
    assert!(
        reasons.contains("levels deep") && reasons.contains("bytes"),
        "{reasons}"
    );

    // Dead letters are durable: a restarted service still lists them, with their reasons.
    se_process.terminate();
    se_process.restart();
    let pull = link(&se, OFFICE, "pull");
    assert_eq!(pull["rejected"], 2, "after a restart: {pull}");
    let ids: Vec<&str> = pull["recentRejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["deep-2", "big-3"]);

    // Re-delivering them changes nothing while the limits stand (idempotent, still kept).
    let name = pull["name"].as_str().unwrap();
    let retried = se.post_ok(&format!("/api/sync/links/{name}/retry"), &json!({}));
    assert_eq!(retried["rejected"], 2, "{retried}");
    assert_eq!(se.events_count(), 2);
    let (status, _) = se.post("/api/sync/links/no-such-link/retry", &json!({}));
    assert_eq!(status, 404);
}

#[test]
fn a_push_link_isolates_the_one_event_its_peer_refuses() {
    let office = serving(
        (1..=3)
            .map(|n| enrolled(&format!("e-{n}"), &format!("s-{n}"), &at(n as u32), n))
            .collect(),
    );
    // A ta-pool that answers 413 to any batch holding s-2's hire (as a peer with a smaller
    // body limit would), and takes everything else.
    let pool = FakePeer::start(|request| {
        if request.method == "GET" {
            return (200, page(vec![], 0, false));
        }
        let batch = request.json();
        let events = batch.as_array().cloned().unwrap_or_default();
        if events.iter().any(|e| e["data"]["studentId"] == "s-2") {
            return (413, json!({"error": "request body is larger than 16 MiB"}));
        }
        let results: Vec<Value> = events
            .iter()
            .map(|e| json!({"id": e["id"], "status": "accepted"}))
            .collect();
        (
            200,
            json!({"accepted": events.len(), "duplicates": 0, "ignored": 0, "results": results}),
        )
    });
    let data = tempfile::tempdir().unwrap();
    let se_process = serve_se(office.port, pool.port, data.path());
    let se = se_process.node();
    se.sync();
    for student in ["s-1", "s-2", "s-3"] {
        se.post_ok("/api/hires", &json!({"studentId": student}));
    }
    se.sync();
    let push = link(&se, TA_POOL, "push");
    assert_eq!(
        push["lastError"],
        Value::Null,
        "the link is not stalled: {push}"
    );
    assert_eq!(push["rejected"], 1, "{push}");
    assert!(
        push["recentRejections"].to_string().contains("413"),
        "{push}"
    );
    let delivered: Vec<String> = pool
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .flat_map(|r| r.json().as_array().cloned().unwrap_or_default())
        .map(|e| e["data"]["studentId"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(delivered.contains(&"s-1".to_owned()) && delivered.contains(&"s-3".to_owned()));
    assert_eq!(
        push["pending"], 0,
        "everything after it was delivered: {push}"
    );
}

#[test]
fn a_clock_from_the_future_is_refused_and_a_later_regrade_wins() {
    let (_process, office, _data) = serve_alone(OFFICE);
    let from_2099 = graded("future-1", SE, "s-1", "mod", 1.0, "2099-01-01T00:00:00Z");
    let honest = graded("honest-1", SE, "s-1", "mod", 3.3, &from_now(-60));
    let (status, answer) = office.put_events(&[honest, from_2099]);
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["index"], 1, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.contains("ahead of this service's clock") && error.contains("5 min"),
        "{error}"
    );
    assert_eq!(office.events_count(), 0, "nothing of the batch is stored");

    let first = graded("grade-1", SE, "s-1", "mod", 3.3, &from_now(-60));
    let slightly_fast = graded("grade-2", SE, "s-1", "mod", 2.0, &from_now(120));
    let (status, answer) = office.put_events(&[first, slightly_fast]);
    assert_eq!(
        status, 200,
        "a clock a little ahead is within the skew: {answer}"
    );
    let student = office.get_ok("/api/students/s-1");
    assert_eq!(student["enrollments"][0]["grade"], 2.0);

    // The office's own events may follow a peer's clock only within the skew.
    let raised = office.post_ok(
        "/api/students",
        &json!({"studentId": "s-9", "name": "Nine"}),
    );
    let time = raised["events"][0]["time"].as_str().unwrap();
    assert!(time[..19] < from_now(5 * 60)[..19], "{time}");
}

#[test]
fn a_peer_whose_store_was_wiped_stops_the_link_until_its_cursor_is_reset() {
    let ports = free_ports(2);
    let (office_port, se_port) = (ports, ports + 1);
    let office_data = tempfile::tempdir().unwrap();
    let se_data = tempfile::tempdir().unwrap();
    let mut office_process = Concord::serve(OFFICE, office_port, office_data.path(), &[]);
    let office = office_process.node();
    office.post_ok(
        "/api/examinations",
        &json!({"examinationId": "mod", "title": "Modelling", "group": SE}),
    );
    for n in 1..=5 {
        let student = format!("s-{n}");
        office.post_ok(
            "/api/students",
            &json!({"studentId": student, "name": "Old"}),
        );
        office.post_ok(
            "/api/enrollments",
            &json!({"studentId": student, "examinationId": "mod"}),
        );
    }
    let mut args = peer_args(&[(OFFICE, office_port), (TA_POOL, free_port())]);
    args.extend(["--sync-interval-ms".to_owned(), "100".to_owned()]);
    let se_process = Concord::serve(SE, se_port, se_data.path(), &args);
    let se = se_process.node();
    se.sync();
    let pull = link(&se, OFFICE, "pull");
    assert_eq!(pull["cursor"], 11, "{pull}");

    // The office loses its data and starts afresh, with fewer events than the link's cursor.
    office_process.kill();
    for entry in std::fs::read_dir(office_data.path()).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    office_process.restart();
    office.post_ok(
        "/api/examinations",
        &json!({"examinationId": "mod", "title": "Modelling", "group": SE}),
    );
    office.post_ok(
        "/api/students",
        &json!({"studentId": "s-new", "name": "New"}),
    );
    office.post_ok(
        "/api/enrollments",
        &json!({"studentId": "s-new", "examinationId": "mod"}),
    );
    let page = office.get_ok("/api/events?after=11");
    assert_eq!(page["events"], json!([]));
    assert_eq!(
        page["last_sequence"], 3,
        "the page tells where the new log ends: {page}"
    );

    se.sync();
    let pull = eventually("the link stops", Duration::from_secs(10), || {
        let pull = link(&se, OFFICE, "pull");
        (pull["state"] == "stopped").then_some(pull)
    });
    let error = pull["lastError"].as_str().unwrap();
    assert!(
        error.contains("reset"),
        "the error says what to do: {error}"
    );
    assert!(
        !se.by_id("/api/students", "studentId").contains_key("s-new"),
        "a stopped link carries nothing"
    );

    let name = pull["name"].as_str().unwrap();
    se.post_ok(&format!("/api/sync/links/{name}/reset"), &json!({}));
    se.sync();
    let students = se.by_id("/api/students", "studentId");
    assert!(students.contains_key("s-new"), "{students:?}");
    assert!(students.contains_key("s-1"), "what it had stays");
    let pull = link(&se, OFFICE, "pull");
    assert_eq!(
        (pull["state"].as_str(), pull["cursor"].as_u64()),
        (Some("ok"), Some(3))
    );
}

#[test]
fn reports_are_exact() {
    let (_process, office, _data) = serve_alone(OFFICE);
    office.put_events(&[graded("g-1", SE, "s-1", "mod", 1.3, &at(1))]);
    for after in ["9223372036854775808", "18446744073709551615"] {
        let page = office.get_ok(&format!("/api/events?after={after}"));
        assert_eq!(page["events"], json!([]), "{page}");
        assert_eq!(page["has_more"], false);
    }

    // The same id from a source the office does not take, then from one it does: the first
    // is ignored (never stored), so the second is not its duplicate.
    let mut forged = graded("x-1", SE, "s-2", "mod", 2.0, &at(2));
    forged["source"] = json!("stranger");
    let genuine = graded("x-1", SE, "s-2", "mod", 2.0, &at(2));
    let (status, answer) = office.put_events(&[forged, genuine.clone()]);
    assert_eq!(status, 200, "{answer}");
    let statuses: Vec<&str> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["ignored", "accepted"]);

    // A known id with other content is a conflict, and changes nothing.
    let squatter = graded("x-1", SE, "s-2", "mod", 5.0, &at(3));
    let (status, answer) = office.put_events(&[squatter, genuine]);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"][0]["status"], "conflict", "{answer}");
    assert_eq!(answer["results"][1]["status"], "duplicate", "{answer}");
    assert_eq!(answer["conflicts"], 1);
    let student = office.get_ok("/api/students/s-2");
    assert_eq!(student["enrollments"][0]["grade"], 2.0);
}
