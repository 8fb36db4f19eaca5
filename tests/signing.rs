//! Signed events (issue 14) against the real binary: the demo signs what each service raises
//! and publishes its keys; a byzantine ta-pool that invents or alters hires is refused at the
//! group while genuine hires it relays get through; putEvents refuses forged, unsigned (from
//! a peer) and squatting events; and an independent implementation of the CloudEvents
//! Verifiability extension in Python (`tests/support/verifiability.py`, `cryptography`)
//! verifies Concord's signatures and signs events Concord accepts.

mod support;

use std::io::Write;
use std::path::Path;

use concord_core::sign::{PublicKey, Signer, Verdict, Verifier, DSSEMATERIAL};
use concord_core::{CloudEvent, Limits};
use serde_json::{json, Value};
use support::*;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/verifiability.py"
);

/// A fixed key per service, so the test can sign as any of them.
fn signer(service: &str) -> Signer {
    let index = SERVICES.iter().position(|s| *s == service).unwrap_or(9) as u8;
    Signer::from_seed(format!("{service}/v1"), [index + 1; 32])
}

/// A credentials file for a `serve` deployment: fresh tokens and the fixed keys.
fn credentials_with_keys(dir: &Path) -> Credentials {
    let credentials = Credentials::write_new(&dir.join("credentials.toml"));
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&credentials.path)
        .unwrap();
    for service in SERVICES {
        let s = signer(service);
        writeln!(
            file,
            "[signing.{service}]\nkeyid = \"{}\"\npublic = \"{}\"\nprivate = \"{}\"",
            s.keyid(),
            s.public().to_base64(),
            s.private_base64()
        )
        .unwrap();
    }
    credentials
}

/// `event` signed by `signer` (its data text is serde_json's, as every re-serialisation in
/// these tests writes it, so relaying through a [`FakePeer`] keeps it exact).
fn sign(event: &Value, signer: &Signer) -> Value {
    let mut parsed = CloudEvent::parse(&event.to_string(), &Limits::default()).unwrap();
    signer.sign(&mut parsed);
    parsed.to_value()
}

fn hire(id: &str, source: &str, student: &str, time: &str) -> Value {
    event(
        id,
        source,
        "studentHired",
        time,
        json!({"studentId": student, "name": format!("Student {student}"), "group": source}),
    )
}

fn as_peer(port: u16, credentials: &Credentials, peer: &str) -> Node {
    let token: &'static str = Box::leak(credentials.peer(peer).to_owned().into_boxed_str());
    Node::with_token(port, Some(token))
}

fn hired_by(node: &Node, student: &str) -> Vec<Value> {
    let (status, body) = node.get(&format!("/api/students/{student}"));
    if status == 404 {
        return Vec::new();
    }
    body["hiredBy"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_demo_signs_what_it_raises_and_publishes_its_keys() {
    let data = tempfile::tempdir().unwrap();
    let base = free_ports(4);
    let mut demo = Concord::demo(
        base,
        data.path(),
        &["--sync-interval-ms".into(), "200".into()],
    );
    let nodes = demo.nodes();
    let file: toml::Value =
        toml::from_str(&std::fs::read_to_string(data.path().join("credentials.toml")).unwrap())
            .unwrap();
    let mut verifier = Verifier::new();
    for (service, node) in SERVICES.iter().zip(&nodes) {
        let table = &file["signing"][*service];
        let keys = node.get_ok("/api/keys");
        assert_eq!(
            keys,
            json!({"keys": [{"keyid": format!("{service}/v1"), "alg": "ed25519",
                             "public": table["public"].as_str().unwrap()}]}),
            "{service}"
        );
        let public = PublicKey::from_base64(
            table["keyid"].as_str().unwrap(),
            table["public"].as_str().unwrap(),
        )
        .unwrap();
        verifier.trust(*service, public, None);
        // Like every route but /health, it needs a credential.
        assert_eq!(node.anonymous().get("/api/keys").0, 401);
    }

    nodes[0].post_ok("/api/students", &json!({"studentId": "s-1", "name": "Ada"}));
    let events = nodes[0].all_events();
    let raised = events.last().unwrap();
    assert!(raised[DSSEMATERIAL].is_string(), "{raised}");
    let parsed = CloudEvent::from_value(raised.clone()).unwrap();
    assert_eq!(
        verifier.verify(&parsed, false),
        Ok(Verdict::Signed {
            keyid: "students-office/v1".into()
        })
    );

    // Signed hires relayed by the ta-pool verify at the other group; the keys survive a
    // restart (the file is reused, not re-made).
    // The office's signed enrollment reaches se-group, whose signed hire reaches the
    // theory group through the ta-pool: every hop verifies the original signature.
    nodes[0].post_ok(
        "/api/examinations",
        &json!({"examinationId": "mod", "title": "Modelling", "group": SE}),
    );
    nodes[0].post_ok(
        "/api/enrollments",
        &json!({"studentId": "s-1", "examinationId": "mod"}),
    );
    let patience = std::time::Duration::from_secs(20);
    eventually("se-group knows the enrolled student", patience, || {
        nodes[1].sync();
        (nodes[1].get("/api/students/s-1").0 == 200).then_some(())
    });
    nodes[1].post_ok("/api/hires", &json!({"studentId": "s-1"}));
    let theory = &nodes[2];
    eventually(
        "the theory group sees se-group's hire via the ta-pool",
        patience,
        || {
            nodes[1].sync();
            theory.sync();
            hired_by(theory, "s-1").contains(&json!(SE)).then_some(())
        },
    );
    for node in &nodes {
        for link in node.links() {
            assert_eq!(link["rejected"], 0, "{link}");
        }
    }
    demo.terminate();
    demo.restart();
    assert_eq!(
        nodes[1].get_ok("/api/keys")["keys"][0]["public"],
        file["signing"][SE]["public"].as_str().unwrap()
    );
}

#[test]
fn a_byzantine_ta_pool_cannot_invent_or_alter_hires() {
    let dir = tempfile::tempdir().unwrap();
    let credentials = credentials_with_keys(dir.path());
    let genuine = sign(&hire("h-genuine", THEORY, "s-1", &at(1)), &signer(THEORY));
    let invented = hire("h-invented", THEORY, "s-2", &at(2));
    let mut altered = sign(&hire("h-altered", THEORY, "s-3", &at(3)), &signer(THEORY));
    altered["data"]["studentId"] = json!("s-4");
    // The ta-pool signing with its own key in the theory group's name.
    let resigned = sign(&hire("h-resigned", THEORY, "s-5", &at(5)), &signer(TA_POOL));
    let mut served = Vec::new();
    for (i, mut e) in [genuine, invented, altered, resigned]
        .into_iter()
        .enumerate()
    {
        e["sequence"] = json!(i + 1);
        served.push(e);
    }
    let pool = FakePeer::start(move |request| {
        if request.method != "GET" {
            return (
                200,
                json!({"accepted": 0, "duplicates": 0, "ignored": 0, "results": []}),
            );
        }
        let after: u64 = request
            .param("after")
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        let rest: Vec<Value> = served
            .iter()
            .filter(|e| e["sequence"].as_u64().unwrap() > after)
            .cloned()
            .collect();
        let mut answer = page(rest, after.max(4), false);
        answer["last_sequence"] = json!(4);
        (200, answer)
    });
    let office = FakePeer::start(|_| (200, page(vec![], 0, false)));
    let data = tempfile::tempdir().unwrap();
    let mut args = peer_args(&[(OFFICE, office.port), (TA_POOL, pool.port)]);
    args.extend([
        "--sync-interval-ms".to_owned(),
        "100".to_owned(),
        "--credentials".to_owned(),
        credentials.path.display().to_string(),
    ]);
    let se_process = Concord::serve(SE, free_port(), data.path(), &args);
    let se = se_process.node();
    se.sync();

    assert_eq!(hired_by(&se, "s-1"), [json!(THEORY)], "the genuine hire");
    for student in ["s-2", "s-3", "s-4", "s-5"] {
        assert!(hired_by(&se, student).is_empty(), "{student}");
    }
    let pull = se
        .links()
        .into_iter()
        .find(|l| l["peer"] == TA_POOL && l["direction"] == "pull")
        .unwrap();
    assert_eq!(pull["rejected"], 3, "{pull}");
    assert_eq!(pull["cursor"], 4, "the link did not stall: {pull}");
    let reasons = pull["recentRejections"].to_string();
    for expected in [
        "must be signed",
        "modified after it was signed",
        "not a configured key",
    ] {
        assert!(reasons.contains(expected), "{expected}: {reasons}");
    }
}

/// A students-office alone, trusting the keys of `credentials_with_keys`; its folders
/// live as long as it does.
struct SigningOffice {
    process: Concord,
    credentials: Credentials,
    port: u16,
    _folders: [tempfile::TempDir; 2],
}

impl SigningOffice {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let credentials = credentials_with_keys(dir.path());
        let data = tempfile::tempdir().unwrap();
        let port = free_port();
        let process = Concord::serve(
            OFFICE,
            port,
            data.path(),
            &[
                "--no-links".to_owned(),
                "--credentials".to_owned(),
                credentials.path.display().to_string(),
            ],
        );
        SigningOffice {
            process,
            credentials,
            port,
            _folders: [dir, data],
        }
    }
}

#[test]
fn put_events_refuses_forgeries_and_squatters_and_lets_the_operator_repair() {
    let office = SigningOffice::start();
    let (credentials, port, process) = (&office.credentials, office.port, &office.process);
    let operator = process.node();
    let se = as_peer(port, credentials, SE);
    let grade = |id: &str, student: &str| graded(id, SE, student, "mod", 1.3, &at(10));
    let genuine = sign(&grade("g-1", "s-1"), &signer(SE));

    // A peer must deliver a signing source's events signed: the batch is refused whole,
    // naming the index.
    let (status, body) = se.put_events(&[genuine.clone(), grade("g-2", "s-2")]);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("index 1"),
        "{body}"
    );
    assert!(
        body["error"].as_str().unwrap().contains("must be signed"),
        "{body}"
    );

    // An id squatted with different content: refused, so the genuine event is not taken
    // for a conflict when it comes.
    let mut squat = genuine.clone();
    squat["data"]["grade"] = json!(5.0);
    let (status, body) = se.put_events(&[squat.clone()]);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("modified"),
        "{body}"
    );
    // Not even the operator can pass a bad signature.
    assert_eq!(operator.put_events(&[squat]).0, 400);
    let (status, body) = se.put_events(std::slice::from_ref(&genuine));
    assert_eq!(
        (status, body["accepted"].clone()),
        (200, json!(1)),
        "{body}"
    );
    let (status, body) = se.put_events(&[genuine]);
    assert_eq!(
        (status, body["duplicates"].clone()),
        (200, json!(1)),
        "{body}"
    );

    // The operator may inject an unsigned event (a repair).
    let (status, body) = operator.put_events(&[grade("g-3", "s-3")]);
    assert_eq!(
        (status, body["accepted"].clone()),
        (200, json!(1)),
        "{body}"
    );
    let stored = operator.all_events();
    assert_eq!(stored.len(), 2);
    assert!(stored[0][DSSEMATERIAL].is_string() && stored[1].get(DSSEMATERIAL).is_none());
}

fn python_or_skip(test: &str) -> bool {
    let module = "cryptography.hazmat.primitives.asymmetric.ed25519";
    python_module_or_skip(test, module, "pip install cryptography")
}

fn python(args: &[&str], input: &str) -> String {
    run_python(SCRIPT, args, input).unwrap_or_else(|e| panic!("verifiability.py {args:?}: {e}"))
}

#[test]
fn an_independent_python_implementation_agrees_in_both_directions() {
    if !python_or_skip("an_independent_python_implementation_agrees_in_both_directions") {
        return;
    }
    let office = SigningOffice::start();
    let (credentials, port, process) = (&office.credentials, office.port, &office.process);
    let operator = process.node();
    operator.post_ok(
        "/api/students",
        &json!({"studentId": "s-1", "name": "Zoë Ω \"quoted\""}),
    );
    operator.post_ok(
        "/api/examinations",
        &json!({"examinationId": "mod", "title": "Modelling", "group": SE}),
    );
    let keys = |service: &str| {
        json!({service: [{"keyid": format!("{service}/v1"),
                          "public": signer(service).public().to_base64()}]})
        .to_string()
    };

    // Python verifies what Concord signed, from getEvents' exact text.
    let response = operator.send("GET", "/api/events", &[], b"");
    assert_eq!(response.status, 200);
    let page = response.text();
    let verdicts: Value = serde_json::from_str(&python(&["verify", &keys(OFFICE)], &page)).unwrap();
    let verdicts = verdicts.as_array().unwrap();
    assert_eq!(verdicts.len(), 2, "{verdicts:?}");
    assert!(verdicts.iter().all(|v| v["ok"] == true), "{verdicts:?}");
    // And it is no pushover: with another key, or a changed byte, it refuses.
    let verdicts: Value =
        serde_json::from_str(&python(&["verify", &keys(SE).replace(SE, OFFICE)], &page)).unwrap();
    assert!(verdicts
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["ok"] == false));
    let verdicts: Value = serde_json::from_str(&python(
        &["verify", &keys(OFFICE)],
        &page.replacen("Modelling", "Modellinh", 1),
    ))
    .unwrap();
    assert_eq!(verdicts[1]["ok"], false, "{verdicts}");

    // Concord accepts what Python signed as se-group, delivered by se-group.
    let se = signer(SE);
    let batch = json!([graded("py-1", SE, "s-1", "mod", 1.7, &at(20))]).to_string();
    let signed = python(&["sign", se.keyid(), &se.private_base64()], &batch);
    let se_peer = as_peer(port, credentials, SE);
    let json_body = [("Content-Type", "application/json")];
    let response = se_peer.send("POST", "/api/events", &json_body, signed.as_bytes());
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["accepted"], 1);
    // Signed by Python with another service's key: refused.
    let wrong = signer(THEORY);
    let forged = python(
        &["sign", se.keyid(), &wrong.private_base64()],
        &batch.replace("py-1", "py-2"),
    );
    let response = se_peer.send("POST", "/api/events", &json_body, forged.as_bytes());
    assert_eq!(response.status, 400, "{}", response.text());
}
