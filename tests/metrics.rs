//! `GET /metrics`: after a story in the demo, every family of issue 13 is there with sensible
//! values, as the Prometheus project's own parsers read it (Python `prometheus_client`, run
//! by `tests/support/metrics.py`: the text format, and OpenMetrics when asked for); and it
//! is the operator's: no token is 401, a peer's is 403.

mod support;

use serde_json::Value;
use support::*;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/metrics.py");

fn parser_or_skip(test: &str) -> bool {
    python_module_or_skip(test, "prometheus_client", "pip install prometheus-client")
}

/// The families of `text` as the real parser reads them.
fn parse(text: &str, openmetrics: bool) -> Value {
    let args: &[&str] = if openmetrics { &["openmetrics"] } else { &[] };
    let output = run_python(SCRIPT, args, text)
        .unwrap_or_else(|e| panic!("the Prometheus parser refused the exposition: {e}\n{text}"));
    serde_json::from_str(&output).unwrap()
}

/// The samples named `name` whose labels include every pair of `labels`.
fn samples<'v>(
    families: &'v Value,
    family: &str,
    name: &str,
    labels: &[(&str, &str)],
) -> Vec<&'v Value> {
    let Some(found) = families.get(family) else {
        panic!(
            "no family {family} in {}",
            families
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    found["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s[0] == name && labels.iter().all(|(k, v)| s[1][*k] == *v))
        .collect()
}

/// The sum of the values of [`samples`].
fn total(families: &Value, family: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(families, family, name, labels)
        .iter()
        .map(|s| s[2].as_f64().unwrap())
        .sum()
}

fn scrape(node: &Node, openmetrics: bool) -> (Response, Value) {
    let accept = if openmetrics {
        "application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5"
    } else {
        "text/plain"
    };
    let response = node.send("GET", "/metrics", &[("Accept", accept)], b"");
    assert_eq!(response.status, 200, "{}", response.text());
    let families = parse(&response.text(), openmetrics);
    (response, families)
}

#[test]
fn metrics_after_a_story_have_every_family_with_sensible_values() {
    if !parser_or_skip("metrics_after_a_story_have_every_family_with_sensible_values") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let base = free_ports(4);
    let demo = Concord::demo(base, data.path(), &["--seed".to_owned()]);
    let nodes = demo.nodes();
    let (office, se) = (&nodes[0], &nodes[1]);
    settle(&nodes);
    // A delivery twice: accepted, then a duplicate.
    let grade = graded("metrics-grade", "se-group", "s-9001", "exam-x", 2.0, &at(1));
    for _ in 0..2 {
        let (status, report) = office.put_events(std::slice::from_ref(&grade));
        assert_eq!(status, 200, "{report}");
    }
    settle(&nodes);

    // Only the operator scrapes.
    let anonymous = Node::with_token(base, None);
    assert_eq!(anonymous.send("GET", "/metrics", &[], b"").status, 401);
    let credentials = Credentials::read(&demo.credentials_path().unwrap()).unwrap();
    let peer = credentials.peer("se-group").to_owned();
    let as_peer = office.send(
        "GET",
        "/metrics",
        &[("Authorization", &format!("Bearer {peer}"))],
        b"",
    );
    assert_eq!(as_peer.status, 403, "{}", as_peer.text());

    let (response, families) = scrape(office, false);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );

    // Events stored by source and type: the office's own, and the groups' grades.
    assert!(
        total(
            &families,
            "concord_events_stored",
            "concord_events_stored_total",
            &[("source", "students-office")]
        ) > 0.0
    );
    let graded_stored = total(
        &families,
        "concord_events_stored",
        "concord_events_stored_total",
        &[("source", "se-group"), ("type", "studentGraded")],
    );
    assert!(graded_stored >= 1.0, "{graded_stored}");
    // Received, by outcome: the delivery above once accepted and once a duplicate.
    let received = |outcome| {
        total(
            &families,
            "concord_events_received",
            "concord_events_received_total",
            &[
                ("source", "se-group"),
                ("type", "studentGraded"),
                ("outcome", outcome),
            ],
        )
    };
    assert!(received("accepted") >= 1.0);
    assert!(received("duplicate") >= 1.0);
    // Commits: a histogram of latency in seconds and one of events per commit.
    let commits = total(
        &families,
        "concord_commit_duration_seconds",
        "concord_commit_duration_seconds_count",
        &[],
    );
    assert!(commits >= 1.0, "{commits}");
    let seconds = total(
        &families,
        "concord_commit_duration_seconds",
        "concord_commit_duration_seconds_sum",
        &[],
    );
    assert!(
        seconds > 0.0 && seconds < commits * 10.0,
        "{seconds} s over {commits} commits"
    );
    let written = total(
        &families,
        "concord_commit_events",
        "concord_commit_events_sum",
        &[],
    );
    let stored = total(
        &families,
        "concord_events_stored",
        "concord_events_stored_total",
        &[],
    );
    assert_eq!(
        written, stored,
        "every stored event was written by a commit"
    );
    assert_eq!(families["concord_domain_panics"]["type"], "counter");
    assert_eq!(
        total(
            &families,
            "concord_domain_panics",
            "concord_domain_panics_total",
            &[("stage", "apply")]
        ),
        0.0,
        "the demo's domain code never panics"
    );
    assert_eq!(families["concord_writer_queue_depth"]["type"], "gauge");
    assert_eq!(
        total(
            &families,
            "concord_writer_queue_depth",
            "concord_writer_queue_depth",
            &[]
        ),
        0.0
    );
    // HTTP by route pattern and status, with latency.
    assert!(
        total(
            &families,
            "concord_http_requests",
            "concord_http_requests_total",
            &[
                ("route", "/api/events"),
                ("method", "POST"),
                ("status", "200")
            ]
        ) >= 2.0
    );
    assert!(
        total(
            &families,
            "concord_http_requests",
            "concord_http_requests_total",
            &[("route", "/metrics"), ("status", "401")]
        ) >= 1.0
    );
    assert!(
        total(
            &families,
            "concord_http_request_duration_seconds",
            "concord_http_request_duration_seconds_count",
            &[("route", "/api/events")]
        ) >= 2.0
    );
    // Inbound: the groups pull the office's enrollments and push their grades.
    let inbound = |family: &str| total(&families, family, family, &[("peer", "se-group")]);
    assert!(inbound("concord_inbound_last_pull_timestamp_seconds") > 1.7e9);
    assert!(inbound("concord_inbound_last_push_timestamp_seconds") > 1.7e9);
    assert_eq!(
        inbound("concord_inbound_lag_events"),
        0.0,
        "settled: se-group read it all"
    );
    assert!(
        total(
            &families,
            "concord_inbound_pushed_events",
            "concord_inbound_pushed_events_total",
            &[("peer", "se-group")]
        ) >= 1.0
    );

    // The links, at a service that runs them; here as OpenMetrics, through the strict parser.
    let (response, families) = scrape(se, true);
    assert!(response
        .header("content-type")
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let links = samples(
        &families,
        "concord_link_cursor",
        "concord_link_cursor",
        &[("peer", "students-office")],
    );
    assert!(!links.is_empty(), "{}", families["concord_link_cursor"]);
    let name = links[0][1]["link"].as_str().unwrap().to_owned();
    let of = |family: &str, sample: &str| total(&families, family, sample, &[("link", &name)]);
    assert!(of("concord_link_cursor", "concord_link_cursor") >= 1.0);
    assert_eq!(
        of("concord_link_pending_events", "concord_link_pending_events"),
        0.0
    );
    assert!(
        of(
            "concord_link_carried_events",
            "concord_link_carried_events_total"
        ) >= 1.0
    );
    assert_eq!(
        of(
            "concord_link_consecutive_failures",
            "concord_link_consecutive_failures"
        ),
        0.0
    );
    assert_eq!(of("concord_link_up", "concord_link_up"), 1.0);
    assert!(
        of(
            "concord_link_last_success_timestamp_seconds",
            "concord_link_last_success_timestamp_seconds"
        ) > 1.7e9
    );
    assert_eq!(
        of(
            "concord_link_rejected_events",
            "concord_link_rejected_events"
        ),
        0.0
    );

    // The inbound view: the office knows who read it and how far, in /api/sync and its page.
    let sync = office.get_ok("/api/sync");
    let last = sync["inbound"]["lastSequence"].as_u64().unwrap();
    let peers = sync["inbound"]["peers"].as_array().unwrap();
    let se_reads = peers
        .iter()
        .find(|p| p["peer"] == "se-group")
        .expect("se-group pulled");
    assert_eq!(se_reads["pulledUpTo"].as_u64(), Some(last), "{sync}");
    assert_eq!(se_reads["lag"], 0, "{sync}");
    assert!(se_reads["pushedEvents"].as_u64().unwrap() >= 1, "{sync}");
    let page = office.send("GET", "/", &[], b"").text();
    assert!(
        page.contains("id=\"inbound\""),
        "the office's page shows its callers"
    );
    assert!(
        !page.contains("its peers pull from it and push to it."),
        "the old sentence is gone"
    );
    // The event log filtered by time: nothing in 2100, everything up to then.
    let future = office
        .send("GET", "/?from=2100-01-01T00:00#events", &[], b"")
        .text();
    assert!(future.contains("No events match."));
    let until = office
        .send("GET", "/?to=2100-01-01T00:00:00Z", &[], b"")
        .text();
    assert!(!until.contains("No events match."));
    assert!(
        until.contains("value=\"2100-01-01T00:00:00Z\""),
        "the form keeps the filter"
    );

    // The se-group's links draw their lag (sampled every 5 s).
    eventually(
        "the sync panel draws a lag chart",
        std::time::Duration::from_secs(15),
        || {
            let page = se.send("GET", "/", &[], b"").text();
            page.contains("<svg class=\"lag\"").then_some(())
        },
    );
}
