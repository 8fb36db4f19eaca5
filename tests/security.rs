//! Trusted peers (issue 9, CONTRACT §6) against the real binary, tried as the issue's
//! attacker did: forged grades, enrollments and hires posted with a service's name as
//! `source`; reads of another group's enrollments; a cross-site no-cors post and a
//! `text/plain` body; and the operator's side: the demo's credentials file, `concord token`,
//! `serve` without credentials, and a link whose peer does not accept its token.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

/// The office's grade of `student` in `exam`, as the operator reads it.
fn office_grade(office: &Node, student: &str, exam: &str) -> Value {
    let answer = office.get_ok(&format!("/api/students/{student}"));
    answer["enrollments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["examinationId"] == exam)
        .map(|e| e["grade"].clone())
        .unwrap_or(Value::Null)
}

/// A putEvents in each of the three CloudEvents HTTP modes, presenting `token`.
fn post_in_every_mode(node: &Node, token: Option<&str>, event: &Value) -> Vec<Response> {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let with_auth = |mut headers: Vec<(&'static str, String)>| {
        if let Some(bearer) = &bearer {
            headers.push(("Authorization", bearer.clone()));
        }
        headers
    };
    let send = |headers: Vec<(&'static str, String)>, body: &[u8]| {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        node.anonymous().send("POST", "/api/events", &headers, body)
    };
    let batch = Value::Array(vec![event.clone()]).to_string();
    let structured = event.to_string();
    let mut binary = vec![("Content-Type", "application/json".to_owned())];
    for attribute in ["specversion", "id", "source", "type", "time"] {
        let name: &'static str = match attribute {
            "specversion" => "ce-specversion",
            "id" => "ce-id",
            "source" => "ce-source",
            "type" => "ce-type",
            _ => "ce-time",
        };
        binary.push((name, event[attribute].as_str().unwrap().to_owned()));
    }
    vec![
        send(
            with_auth(vec![(
                "Content-Type",
                "application/cloudevents-batch+json".to_owned(),
            )]),
            batch.as_bytes(),
        ),
        send(
            with_auth(vec![("Content-Type", "application/json".to_owned())]),
            batch.as_bytes(),
        ),
        send(
            with_auth(vec![(
                "Content-Type",
                "application/cloudevents+json".to_owned(),
            )]),
            structured.as_bytes(),
        ),
        send(with_auth(binary), event["data"].to_string().as_bytes()),
    ]
}

#[test]
fn forged_grades_enrollments_and_hires_change_nothing() {
    let credentials = shared_credentials();
    let (_office_process, office, _d1) = serve_alone(OFFICE);
    // The SE group grades Ada 3.3, as itself.
    let genuine = graded("g-1", SE, "s-1", "se-2026", 3.3, &at(10));
    let se_token = credentials.peer(SE);
    let reply = office.anonymous().send(
        "POST",
        "/api/events",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &format!("Bearer {se_token}")),
        ],
        Value::Array(vec![genuine]).to_string().as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(office_grade(&office, "s-1", "se-2026"), json!(3.3));
    let count = office.events_count();

    // The issue's attack: a later 1.0 "from" se-group, without a token, with a made-up one,
    // and with the theory group's (a real peer, but not se-group): 401, 401, 403.
    let forged = graded("forged-1", SE, "s-1", "se-2026", 1.0, &at(20));
    for (token, status) in [
        (None, 401),
        (Some("concord_made-up"), 401),
        (Some(credentials.peer(THEORY)), 403),
        (Some(credentials.peer(TA_POOL)), 403),
    ] {
        for reply in post_in_every_mode(&office, token, &forged) {
            assert_eq!(reply.status, status, "{token:?}: {}", reply.text());
            assert!(reply.json()["error"].is_string());
        }
    }
    assert_eq!(office_grade(&office, "s-1", "se-2026"), json!(3.3));
    assert_eq!(office.events_count(), count, "nothing stored");

    // A forged enrollment at a group creates no student there.
    let (_se_process, se, _d2) = serve_alone(SE);
    let enrolled = event(
        "forged-enrollment",
        OFFICE,
        "studentEnrolled",
        &at(30),
        json!({"studentId": "s-9", "studentName": "Mallory", "examinationId": "se-2026",
               "examinationTitle": "Modelling", "group": SE}),
    );
    for token in [
        None,
        Some(credentials.peer(TA_POOL)),
        Some(credentials.peer(THEORY)),
    ] {
        for reply in post_in_every_mode(&se, token, &enrolled) {
            assert!(
                [401, 403].contains(&reply.status),
                "{token:?}: {}",
                reply.text()
            );
        }
    }
    assert_eq!(se.get("/api/students/s-9").0, 404, "no student was made");
    assert_eq!(se.events_count(), 0);

    // A forged hire at the ta-pool (which would be relayed to both groups) is refused too.
    let (_pool_process, pool, _d3) = serve_alone(TA_POOL);
    let hired = event(
        "forged-hire",
        THEORY,
        "studentHired",
        &at(40),
        json!({"studentId": "s-1", "name": "Ada", "group": THEORY}),
    );
    for token in [
        None,
        Some(credentials.peer(SE)),
        Some(credentials.peer(OFFICE)),
    ] {
        for reply in post_in_every_mode(&pool, token, &hired) {
            assert!(
                [401, 403].contains(&reply.status),
                "{token:?}: {}",
                reply.text()
            );
        }
    }
    assert_eq!(pool.get_ok("/api/tas"), json!([]));
    // The real theory group may deliver its own hire.
    let reply = post_in_every_mode(&pool, Some(credentials.peer(THEORY)), &hired);
    assert_eq!(reply[0].status, 200, "{}", reply[0].text());
    assert_eq!(pool.events_count(), 1);
}

#[test]
fn a_batch_of_100_with_one_forged_source_is_refused_whole() {
    let credentials = shared_credentials();
    let (_process, office, _data) = serve_alone(OFFICE);
    let mut batch: Vec<Value> = (0..100)
        .map(|i| {
            graded(
                &format!("b-{i}"),
                SE,
                &format!("s-{i}"),
                "se-2026",
                2.0,
                &at(i),
            )
        })
        .collect();
    batch[57] = graded("b-57", THEORY, "s-57", "th-2026", 1.0, &at(57));
    let bearer = format!("Bearer {}", credentials.peer(SE));
    for content_type in ["application/json", "application/cloudevents-batch+json"] {
        let reply = office.anonymous().send(
            "POST",
            "/api/events",
            &[("Content-Type", content_type), ("Authorization", &bearer)],
            Value::Array(batch.clone()).to_string().as_bytes(),
        );
        assert_eq!(reply.status, 403, "{}", reply.text());
        let answer = reply.json();
        assert_eq!(answer["index"], 57, "{answer}");
        assert!(answer["error"]
            .as_str()
            .unwrap()
            .starts_with("event at index 57"));
    }
    assert_eq!(office.events_count(), 0, "nothing of the batch is stored");
}

#[test]
fn a_group_reads_only_its_own_enrollments_from_the_office() {
    let credentials = shared_credentials();
    let (_process, office, _data) = serve_alone(OFFICE);
    office.post_ok(
        "/api/examinations",
        &json!({"examinationId": "se-2026", "title": "Modelling", "group": SE}),
    );
    office.post_ok(
        "/api/examinations",
        &json!({"examinationId": "th-2026", "title": "Logic", "group": THEORY}),
    );
    for i in 0..12 {
        let id = format!("s-{i}");
        office.post_ok(
            "/api/students",
            &json!({"studentId": id, "name": format!("Student {i}")}),
        );
        let exam = if i % 3 == 0 { "th-2026" } else { "se-2026" };
        office.post_ok(
            "/api/enrollments",
            &json!({"studentId": id, "examinationId": exam}),
        );
    }
    let last = office.health()["lastSequence"].as_u64().unwrap();
    let read_all = |token: &'static str, query: &str| {
        let reader = Node::with_token(office.port, Some(token));
        let mut after = 0;
        let mut events = Vec::new();
        loop {
            let page = reader.get_ok(&format!("/api/events?after={after}&limit=3{query}"));
            events.extend(page["events"].as_array().unwrap().iter().cloned());
            let next_after = page["next_after"].as_u64().unwrap();
            assert_eq!(page["has_more"], next_after < last, "{page}");
            after = next_after;
            if page["has_more"] == false {
                return (events, after);
            }
        }
    };
    for (group, expected) in [(THEORY, 4), (SE, 8)] {
        let (events, end) = read_all(credentials.peer(group), "");
        assert_eq!(end, last, "paging ends at the store's end");
        assert_eq!(events.len(), expected, "{group}: {events:?}");
        for event in &events {
            assert_eq!(event["type"], "studentEnrolled");
            assert_eq!(
                event["data"]["group"], group,
                "{group} sees another group's: {event}"
            );
        }
        // Asking for the other group's, or for students, finds nothing.
        let other = if group == SE { THEORY } else { SE };
        let (events, _) = read_all(credentials.peer(group), &format!("&data.group={other}"));
        assert!(events.is_empty());
        let (events, _) = read_all(credentials.peer(group), "&type=studentCreated");
        assert!(events.is_empty());
    }
    // The ta-pool pulls nothing from the office, so it may read nothing; the operator all.
    let pool = Node::with_token(office.port, Some(credentials.peer(TA_POOL)));
    assert_eq!(pool.get("/api/events").0, 403);
    assert_eq!(office.all_events().len() as u64, last);
}

#[test]
fn a_cross_site_no_cors_post_and_a_text_plain_body_are_refused() {
    let (_process, office, _data) = serve_alone(OFFICE);
    let forged = Value::Array(vec![graded("x-1", SE, "s-1", "se-2026", 1.0, &at(1))]).to_string();
    // What another site's `fetch(…, {mode: "no-cors", method: "POST"})` sends.
    for path in ["/api/events", "/api/students"] {
        let reply = office.anonymous().send(
            "POST",
            path,
            &[
                ("Content-Type", "text/plain;charset=UTF-8"),
                ("Origin", "https://evil.example"),
            ],
            forged.as_bytes(),
        );
        assert_eq!(reply.status, 401, "{path}: {}", reply.text());
    }
    // Even the operator's token does not make a text/plain body acceptable.
    let reply = office.send(
        "POST",
        "/api/students",
        &[("Content-Type", "text/plain")],
        br#"{"studentId":"s-1","name":"Ada"}"#,
    );
    assert_eq!(reply.status, 415, "{}", reply.text());
    // Nor does a name the service does not answer to (DNS rebinding).
    let reply = office.send(
        "GET",
        "/api/students",
        &[("Host", "rebound.evil.example")],
        b"",
    );
    assert_eq!(reply.status, 421, "{}", reply.text());
    assert_eq!(office.events_count(), 0);
}

#[test]
fn the_demo_makes_private_credentials_once_and_reuses_them() {
    let data = tempfile::tempdir().unwrap();
    let base = free_ports(4);
    let mut process = Concord::demo(base, data.path(), &[]);
    let path = data.path().join("credentials.toml");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only its owner may read it");
    }
    let first = Credentials::read(&path).unwrap();
    assert_eq!(
        first.peers.keys().collect::<Vec<_>>(),
        ["se-group", "students-office", "ta-pool", "theory-group"]
    );
    // It prints a login link per service, and the link logs in.
    process.wait_for_stdout("Press Ctrl-C", Duration::from_secs(5));
    let stdout = process.stdout();
    for i in 0..4 {
        let link = format!("http://127.0.0.1:{}/?token={}", base + i, first.operator);
        assert!(stdout.contains(&link), "{link} not in:\n{stdout}");
    }
    let login = http(
        base,
        "GET",
        &format!("/?token={}", first.operator),
        &[],
        b"",
    )
    .unwrap();
    assert_eq!(login.status, 303);
    assert!(login.header("set-cookie").unwrap().contains("HttpOnly"));
    for node in process.nodes() {
        assert_eq!(node.anonymous().get("/api/sync").0, 401);
        assert_eq!(node.get("/api/sync").0, 200);
    }

    // Each service's signing key is made with the other credentials (issue 14).
    let made = std::fs::read_to_string(&path).unwrap();
    for service in SERVICES {
        assert!(made.contains(&format!("[signing.{service}]")), "{made}");
    }
    // A later issue adds its own table; a restart keeps the file exactly as it is.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    writeln!(file, "\n[future]\nkept = true").unwrap();
    drop(file);
    let text = std::fs::read_to_string(&path).unwrap();
    process.stop_gracefully();
    process.restart();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "never rewritten"
    );
    process.wait_for_stdout("(reused", Duration::from_secs(5));
    assert_eq!(process.operator_token(), first.operator);
    for node in process.nodes() {
        assert_eq!(node.get("/api/sync").0, 200, "the same tokens still work");
    }
    settle(&process.nodes());
}

#[test]
fn concord_token_prints_a_token_whose_hash_admits_it() {
    let output = Command::new(BIN).arg("token").output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let token = text.lines().next().unwrap().to_owned();
    assert!(token.starts_with("concord_") && token.len() > 40, "{text}");
    let hash_line = text
        .lines()
        .find(|l| l.starts_with("operator = [\"sha256:"))
        .unwrap_or_else(|| panic!("no configuration line in:\n{text}"));
    // --hash reads a token from standard input and prints the same hash.
    let mut child = Command::new(BIN)
        .args(["token", "--hash"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{token}").unwrap();
    let hashed = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    assert!(hash_line.contains(hashed.trim()), "{hash_line} vs {hashed}");
    assert_ne!(
        Command::new(BIN).arg("token").output().unwrap().stdout,
        text.as_bytes(),
        "every token is fresh"
    );

    // Pasted into a configuration, the line admits the token as the operator.
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("concord.toml");
    std::fs::write(
        &config,
        format!("service = \"ta-pool\"\n[auth]\n{hash_line}\n"),
    )
    .unwrap();
    let port = free_port();
    let _process = Concord::start_exactly(
        vec![
            "serve".into(),
            "--config".into(),
            config.display().to_string(),
            "--port".into(),
            port.to_string(),
            "--data".into(),
            data.path().display().to_string(),
        ],
        vec![(port, TA_POOL)],
    );
    let leaked: &'static str = Box::leak(token.into_boxed_str());
    let pool = Node::with_token(port, Some(leaked));
    assert_eq!(pool.get_ok("/api/tas"), json!([]));
    assert_eq!(pool.anonymous().get("/api/tas").0, 401);
    assert_eq!(
        Node::new(port).get("/api/tas").0,
        401,
        "another deployment's operator"
    );
}

#[test]
fn serve_without_credentials_refuses_to_start_and_says_how() {
    let data = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args(["serve", "--service", "ta-pool", "--port", "1", "--data"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for hint in ["--credentials", "concord token"] {
        assert!(stderr.contains(hint), "{stderr}");
    }
}

/// The link named `name` in a node's `GET /api/sync`.
fn link(node: &Node, prefix: &str) -> Value {
    node.links()
        .into_iter()
        .find(|l| l["name"].as_str().unwrap().starts_with(prefix))
        .unwrap_or_else(|| panic!("no link {prefix}"))
}

#[test]
fn a_link_its_peer_refuses_says_not_authorized_and_recovers_once_admitted() {
    let shared = shared_credentials();
    let dir = tempfile::tempdir().unwrap();
    // The office knows the deployment's tokens; the SE group presents a new one the office
    // has not been told about yet.
    let office_credentials = Credentials {
        path: dir.path().join("office.toml"),
        ..shared.clone()
    };
    office_credentials.write();
    let mut se_credentials = Credentials {
        path: dir.path().join("se.toml"),
        ..shared.clone()
    };
    se_credentials
        .peers
        .insert(SE.into(), "concord_se-group-rotated".into());
    se_credentials.write();

    let office_data = tempfile::tempdir().unwrap();
    let office_port = free_port();
    let mut office_process = Concord::serve(
        OFFICE,
        office_port,
        office_data.path(),
        &[
            "--credentials".into(),
            office_credentials.path.display().to_string(),
        ],
    );
    let office = office_process.node();
    office.post_ok(
        "/api/examinations",
        &json!({"examinationId": "se-2026", "title": "Modelling", "group": SE}),
    );
    office.post_ok("/api/students", &json!({"studentId": "s-1", "name": "Ada"}));
    office.post_ok(
        "/api/enrollments",
        &json!({"studentId": "s-1", "examinationId": "se-2026"}),
    );

    // The ta-pool is played by the test: it records what the SE group sends, and refuses it.
    let pool = FakePeer::start(|_| (403, json!({"error": "peer se-group may not read here"})));
    let se_data = tempfile::tempdir().unwrap();
    let mut args = peer_args(&[(OFFICE, office_port), (TA_POOL, pool.port)]);
    args.extend([
        "--credentials".into(),
        se_credentials.path.display().to_string(),
    ]);
    args.extend(["--sync-interval-ms".into(), "100".into()]);
    let se_process = Concord::serve(SE, free_port(), se_data.path(), &args);
    let se = se_process.node();

    // The refusal shows on the link as an authorization failure, and the link keeps trying.
    let refused = eventually(
        "the office's 401 on the pull link",
        Duration::from_secs(10),
        || {
            let status = link(&se, "pull-studentEnrolled");
            (status["failures"].as_u64() >= Some(2)).then_some(status)
        },
    );
    let error = refused["lastError"].as_str().unwrap();
    assert!(
        error.contains("not authorized by students-office (401)"),
        "{error}"
    );
    let pool_link = link(&se, "pull-studentHired");
    assert!(
        pool_link["lastError"]
            .as_str()
            .unwrap_or_default()
            .contains("not authorized by ta-pool (403): peer se-group may not read here"),
        "{pool_link}"
    );
    // The page's sync panel says so too.
    let page = se.send("GET", "/", &[], b"").text();
    assert!(
        page.contains("not authorized by students-office (401)"),
        "the sync panel"
    );
    // Every request carried the SE group's own (new) token.
    let requests = pool.requests();
    assert!(!requests.is_empty());
    for request in &requests {
        let authorization = request
            .headers
            .iter()
            .find(|(n, _)| n == "authorization")
            .map(|(_, v)| v.as_str());
        assert_eq!(authorization, Some("Bearer concord_se-group-rotated"));
    }
    assert!(se.get_ok("/api/students").as_array().unwrap().is_empty());

    // Rotation: the office learns the new token and restarts; the link recovers.
    let mut office_credentials = office_credentials;
    office_credentials
        .peers
        .insert(SE.into(), "concord_se-group-rotated".into());
    office_credentials.write();
    office_process.stop_gracefully();
    office_process.restart();
    eventually("the pull link recovers", Duration::from_secs(40), || {
        se.sync();
        let status = link(&se, "pull-studentEnrolled");
        status["lastError"].is_null().then_some(())
    });
    assert_eq!(se.get_ok("/api/students").as_array().unwrap().len(), 1);
}
