//! Event builders, polling ([`eventually`]) and [`settle`] (POST /api/sync until quiet).

use serde_json::json;
use serde_json::Value;
use std::time::Duration;
use std::time::Instant;

use super::*;

/// A CloudEvent in structured JSON.
pub fn event(id: &str, source: &str, ty: &str, time: &str, data: Value) -> Value {
    json!({
        "specversion": "1.0",
        "id": id,
        "source": source,
        "type": ty,
        "time": time,
        "datacontenttype": "application/json",
        "data": data,
    })
}

/// A fixed RFC 3339 time, `n` seconds after a base (so that tests control the order).
pub fn at(n: u32) -> String {
    format!(
        "2024-05-01T{:02}:{:02}:{:02}.000Z",
        8 + n / 3600,
        (n / 60) % 60,
        n % 60
    )
}

pub fn graded(id: &str, group: &str, student: &str, exam: &str, grade: f64, time: &str) -> Value {
    event(
        id,
        group,
        "studentGraded",
        time,
        json!({"studentId": student, "examinationId": exam, "grade": grade, "group": group}),
    )
}

/// Polls `probe` every 50 ms until it gives a value, or panics after `timeout`.
pub fn eventually<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "not within {timeout:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `POST /api/sync` on every node, round after round, until the services are quiet: two
/// rounds in a row leave every store's event count the same, and every link (`GET /api/sync`)
/// has `pending` 0 and no `lastError`. Panics if that does not happen in 30 rounds.
pub fn settle(nodes: &[Node]) {
    let mut previous: Option<Vec<u64>> = None;
    let mut last = Value::Null;
    for _ in 0..30 {
        for node in nodes {
            node.sync();
        }
        let counts: Vec<u64> = nodes.iter().map(Node::events_count).collect();
        let links: Vec<Value> = nodes.iter().flat_map(Node::links).collect();
        let quiet_links = links
            .iter()
            .all(|l| l["pending"].as_u64() == Some(0) && l["lastError"].is_null());
        if quiet_links && previous.as_ref() == Some(&counts) {
            return;
        }
        previous = Some(counts);
        last = Value::Array(links);
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the services did not settle in 30 rounds of POST /api/sync; links: {last}");
}

/// `value` with every array sorted (by the elements' JSON text), recursively: for comparing
/// answers that promise no order.
pub fn normalize(value: &Value) -> Value {
    match value {
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(normalize).collect();
            items.sort_by_key(|v| v.to_string());
            Value::Array(items)
        }
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), normalize(v))).collect())
        }
        other => other.clone(),
    }
}
