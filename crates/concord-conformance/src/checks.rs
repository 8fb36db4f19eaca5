//! The checks, in the order they run. Each sends real requests and judges the answers
//! against docs/protocol.md; each ends in one [`Outcome`] naming what it sent and what came
//! back (the first thing that was wrong, when it fails).
//!
//! The checks look only at the events this run sent (ids starting with the run's prefix) and
//! at the store after a baseline taken first, so a service that holds other events, or takes
//! others while the checker runs, still passes.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};

use crate::client::{Answer, Credential, Peer};
use crate::samples::Samples;
use crate::ConformanceError;

/// A getEvents filter as the checker sees it: whether an event (as JSON) matches.
type Matches = Box<dyn Fn(&Value) -> bool>;

const EVENTS: &str = concord_core::wire::paths::EVENTS;
const STRUCTURED: &str = "application/cloudevents+json";
const BATCHED: &str = "application/cloudevents-batch+json";
/// The protocol's body limit: a larger body is a 413.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// The most pages one walk follows before it calls the service's paging endless.
const MAX_PAGES: usize = 20_000;

/// One check's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub name: &'static str,
    pub passed: bool,
    /// What the check sent (in short).
    pub sent: String,
    /// What came back: what was right, or the first thing that was wrong.
    pub got: String,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {:<22} sent: {} | got: {}",
            if self.passed { "PASS" } else { "FAIL" },
            self.name,
            self.sent,
            self.got
        )
    }
}

/// Why a check failed: what was wrong.
type Failure = String;

/// A page of getEvents, checked for shape.
struct Page {
    events: Vec<Value>,
    next_after: u64,
    has_more: bool,
}

/// What a walk over pages saw.
struct Walk {
    events: Vec<Value>,
    next_after: u64,
    pages: usize,
}

/// Runs the checks against one service.
pub struct Checker {
    peer: Peer,
    samples: Samples,
    run: String,
    /// The store's end before this run sent anything.
    baseline: u64,
    /// Events this run put and saw accepted, by id, in the order sent.
    accepted: Vec<Value>,
}

impl Checker {
    pub fn new(peer: Peer, samples: Samples, run: String) -> Self {
        Checker {
            peer,
            samples,
            run,
            baseline: 0,
            accepted: Vec::new(),
        }
    }

    /// Every check, in order. When getEvents itself does not work, the rest cannot be judged
    /// and are not run.
    pub async fn run_all(mut self) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        let first = self.get_events().await;
        let usable = first.passed;
        outcomes.push(first);
        if !usable {
            return outcomes;
        }
        outcomes.push(self.unauthorized().await);
        outcomes.push(self.put_structured().await);
        outcomes.push(self.put_batched().await);
        outcomes.push(self.put_json().await);
        outcomes.push(self.put_binary().await);
        outcomes.push(self.round_trip().await);
        outcomes.push(self.duplicates().await);
        outcomes.push(self.paging().await);
        outcomes.push(self.filters().await);
        outcomes.push(self.malformed_batch().await);
        outcomes.push(self.conflict().await);
        outcomes.push(self.bad_requests().await);
        outcomes.push(self.unsupported_media_type().await);
        outcomes.push(self.too_large().await);
        outcomes
    }

    // -----------------------------------------------------------------------------------
    // The checks

    /// getEvents answers the page shape, and the walk to the store's end terminates.
    async fn get_events(&mut self) -> Outcome {
        let sent =
            "GET /api/events?after=0&limit=10000, following next_after to the end".to_owned();
        match self.walk("", 10_000, 0).await {
            Ok(walk) => {
                self.baseline = walk.next_after;
                pass(
                    "get-events",
                    sent,
                    format!(
                        "{} events in {} pages; the end is at next_after={}",
                        walk.events.len(),
                        walk.pages,
                        walk.next_after
                    ),
                )
            }
            Err(failure) => fail("get-events", sent, failure),
        }
    }

    /// 401 with `WWW-Authenticate: Bearer` without a token or with an unknown one; an event
    /// posted so is not stored.
    async fn unauthorized(&mut self) -> Outcome {
        let name = "unauthorized";
        let event = self.fresh(1).remove(0);
        let sent = format!(
            "GET /api/events without a token and with an unknown one; POST {} without a token",
            id_of(&event)
        );
        let result: Result<String, Failure> = async {
            for credential in [Credential::None, Credential::Unknown] {
                let answer = self
                    .peer
                    .get(&format!("{EVENTS}?after=0&limit=1"), credential)
                    .await
                    .map_err(|e| e.to_string())?;
                expect_401(&answer, &format!("GET with {credential:?} credential"))?;
            }
            let answer = self
                .post_events(Some(STRUCTURED), &[], body(&event), Credential::None)
                .await?;
            expect_401(&answer, "POST without a token")?;
            self.expect_absent(&[id_of(&event)]).await?;
            Ok("401 with WWW-Authenticate: Bearer each time; nothing stored".to_owned())
        }
        .await;
        outcome(name, sent, result)
    }

    async fn put_structured(&mut self) -> Outcome {
        let events = self.fresh(1);
        self.put_mode("put-structured", Some(STRUCTURED), events, true)
            .await
    }

    async fn put_batched(&mut self) -> Outcome {
        let n = self.samples.kinds().clamp(3, 8);
        let events = self.fresh(n);
        self.put_mode("put-batched", Some(BATCHED), events, false)
            .await
    }

    async fn put_json(&mut self) -> Outcome {
        let events = self.fresh(2);
        self.put_mode("put-json", Some("application/json"), events, false)
            .await
    }

    /// Binary mode: attributes as `ce-*` headers, the data as the body.
    async fn put_binary(&mut self) -> Outcome {
        let name = "put-binary";
        let event = self.fresh(1).remove(0);
        let mut headers = Vec::new();
        for (attribute, value) in event.as_object().into_iter().flatten() {
            if attribute == "data" || attribute == "datacontenttype" {
                continue;
            }
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            headers.push((format!("ce-{attribute}"), percent_encode(&text)));
        }
        let sent = format!(
            "POST {} in binary mode ({} ce-* headers, the data as the body)",
            id_of(&event),
            headers.len()
        );
        let result = async {
            let answer = self
                .post_events(
                    Some("application/json"),
                    &headers,
                    event["data"].to_string().into_bytes(),
                    Credential::Given,
                )
                .await?;
            let statuses = expect_report(&answer, &[id_of(&event)])?;
            expect_all(&statuses, "accepted")?;
            self.accepted.push(event.clone());
            Ok("200, accepted".to_owned())
        }
        .await;
        outcome(name, sent, result)
    }

    /// Everything accepted comes back once, unchanged: id, source, type, time and data.
    async fn round_trip(&mut self) -> Outcome {
        let name = "round-trip";
        let sent = format!(
            "GET /api/events?after={} (the {} events accepted so far)",
            self.baseline,
            self.accepted.len()
        );
        let result = async {
            let walk = self.walk("", 1000, self.baseline).await?;
            let ours = self.ours(&walk.events);
            for event in &self.accepted {
                let id = id_of(event);
                let found: Vec<&&Value> = ours.iter().filter(|e| id_of(e) == id).collect();
                match found.as_slice() {
                    [] => return Err(format!("{id} is not in the store")),
                    [one] => compare(event, one)?,
                    many => return Err(format!("{id} is stored {} times", many.len())),
                }
            }
            if ours.len() != self.accepted.len() {
                return Err(format!(
                    "the store holds {} events of this run; {} were accepted",
                    ours.len(),
                    self.accepted.len()
                ));
            }
            Ok(format!(
                "all {} came back once, id, source, type, time and data unchanged",
                self.accepted.len()
            ))
        }
        .await;
        outcome(name, sent, result)
    }

    /// The same events again: reported duplicates, stored once.
    async fn duplicates(&mut self) -> Outcome {
        let name = "duplicates";
        let again: Vec<Value> = self.accepted.iter().take(4).cloned().collect();
        let ids: Vec<String> = again.iter().map(id_of).collect();
        let sent = format!("POST the same {} events again as a batch", again.len());
        let result = async {
            let answer = self
                .post_events(
                    Some(BATCHED),
                    &[],
                    Value::Array(again.clone()).to_string().into_bytes(),
                    Credential::Given,
                )
                .await?;
            let statuses = expect_report(&answer, &ids)?;
            expect_all(&statuses, "duplicate")?;
            let report = answer.json().unwrap_or_default();
            if report["duplicates"] != json!(again.len()) || report["accepted"] != json!(0) {
                return Err(format!(
                    "the counts say accepted={} duplicates={}",
                    report["accepted"], report["duplicates"]
                ));
            }
            let walk = self.walk("", 1000, self.baseline).await?;
            for id in &ids {
                let count = walk.events.iter().filter(|e| &id_of(e) == id).count();
                if count != 1 {
                    return Err(format!("{id} is stored {count} times after the second put"));
                }
            }
            Ok(format!(
                "200, all {} duplicate; each stored once",
                ids.len()
            ))
        }
        .await;
        outcome(name, sent, result)
    }

    /// One event per page: every event once, in ascending sequence, `has_more` true until the
    /// last page; two per page sees the same.
    async fn paging(&mut self) -> Outcome {
        let name = "paging";
        let sent = format!(
            "GET /api/events?after={}&limit=1 (and limit=2, and limit=1000), following next_after",
            self.baseline
        );
        let result = async {
            let whole = self.walk("", 1000, self.baseline).await?;
            let ones = self.walk("", 1, self.baseline).await?;
            let twos = self.walk("", 2, self.baseline).await?;
            let ids = |walk: &Walk| -> Vec<String> {
                self.ours(&walk.events).iter().map(|e| id_of(e)).collect()
            };
            if ids(&ones) != ids(&whole) || ids(&twos) != ids(&whole) {
                return Err(format!(
                    "pages of 1 and 2 see {:?} and {:?}; one page of 1000 sees {:?}",
                    ids(&ones),
                    ids(&twos),
                    ids(&whole)
                ));
            }
            if ones.pages < ids(&whole).len() {
                return Err(format!(
                    "limit=1 gave {} pages for {} events",
                    ones.pages,
                    ids(&whole).len()
                ));
            }
            Ok(format!(
                "{} events of this run, once each and in order, in {} pages of 1 and {} of 2",
                ids(&whole).len(),
                ones.pages,
                twos.pages
            ))
        }
        .await;
        outcome(name, sent, result)
    }

    /// Under type, source and data filters and one that matches nothing: only matching
    /// events, all of them, and `next_after`/`has_more` exact — the walk reaches the
    /// store's end and says so.
    async fn filters(&mut self) -> Outcome {
        let name = "filters";
        let Some(first) = self.accepted.first().cloned() else {
            return fail(
                name,
                "nothing".into(),
                "no event was accepted to filter on".into(),
            );
        };
        let ty = first["type"].as_str().unwrap_or_default().to_owned();
        let source = first["source"].as_str().unwrap_or_default().to_owned();
        let data_filter = first["data"]
            .as_object()
            .into_iter()
            .flatten()
            .find_map(|(field, value)| Some((field.clone(), value.as_str()?.to_owned())));
        let nothing = format!("{}-no-such-type", self.run);
        let mut filters: Vec<(String, Matches)> = vec![
            (format!("type={}", encode(&ty)), {
                let ty = ty.clone();
                Box::new(move |e: &Value| e["type"] == json!(ty))
            }),
            (format!("source={}", encode(&source)), {
                let source = source.clone();
                Box::new(move |e: &Value| e["source"] == json!(source))
            }),
            (
                format!("type={}", encode(&nothing)),
                Box::new(|_: &Value| false),
            ),
        ];
        if let Some((field, value)) = &data_filter {
            let (field2, value2) = (field.clone(), value.clone());
            filters.push((
                format!("data.{}={}", encode(field), encode(value)),
                Box::new(move |e: &Value| e["data"][&field2] == json!(value2)),
            ));
        }
        let sent = format!(
            "GET /api/events?after={}&limit=1&… with {}, following next_after",
            self.baseline,
            filters
                .iter()
                .map(|(q, _)| q.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        );
        let result = async {
            let whole = self.walk("", 1000, self.baseline).await?;
            let end = whole.next_after;
            for (query, matches) in &filters {
                let walk = self.walk(query, 1, self.baseline).await?;
                if let Some(stray) = walk.events.iter().find(|e| !matches(e)) {
                    return Err(format!(
                        "{query} returned {}, which does not match",
                        id_of(stray)
                    ));
                }
                let expected: Vec<String> = self
                    .ours(&whole.events)
                    .into_iter()
                    .filter(|e| matches(e))
                    .map(id_of)
                    .collect();
                let got: Vec<String> = self.ours(&walk.events).into_iter().map(id_of).collect();
                if got != expected {
                    return Err(format!("{query} returned {got:?}; expected {expected:?}"));
                }
                if walk.next_after < end {
                    return Err(format!(
                        "{query}: the walk ended at next_after={} with has_more=false, but the \
                         store's events reach {end}",
                        walk.next_after
                    ));
                }
            }
            Ok(format!(
                "only matching events, all of them; every walk reached next_after ≥ {end}"
            ))
        }
        .await;
        outcome(name, sent, result)
    }

    /// A malformed event at the start, middle or end of a batch: 400 naming its index, and
    /// nothing of the batch stored.
    async fn malformed_batch(&mut self) -> Outcome {
        let name = "malformed-batch";
        let sent = "POST batches of 4 with one malformed event (specversion 0.3; data a string; \
                    no id) at index 0, 2 and 3"
            .to_owned();
        let result = async {
            let mut all_ids = Vec::new();
            for (index, corrupt) in [(0usize, "specversion"), (2, "data"), (3, "id")] {
                let mut batch = self.fresh(4);
                all_ids.extend(batch.iter().map(id_of));
                match corrupt {
                    "specversion" => batch[index]["specversion"] = json!("0.3"),
                    "data" => batch[index]["data"] = json!("not an object"),
                    _ => {
                        if let Some(object) = batch[index].as_object_mut() {
                            object.remove("id");
                        }
                    }
                }
                let answer = self
                    .post_events(
                        Some(BATCHED),
                        &[],
                        Value::Array(batch).to_string().into_bytes(),
                        Credential::Given,
                    )
                    .await?;
                if answer.status.as_u16() != 400 {
                    return Err(format!(
                        "a bad {corrupt} at index {index}: {}",
                        answer.describe()
                    ));
                }
                let error = answer.json().unwrap_or_default();
                let named = error["index"] == json!(index)
                    || error["error"]
                        .as_str()
                        .is_some_and(|text| text.contains(&format!("index {index}")));
                if !named {
                    return Err(format!(
                        "a bad {corrupt} at index {index}: the 400 does not name index {index}: {}",
                        answer.describe()
                    ));
                }
            }
            self.expect_absent(&all_ids).await?;
            Ok("400 naming the index each time; nothing of any batch stored".to_owned())
        }
        .await;
        outcome(name, sent, result)
    }

    /// An accepted id with other data: reported `conflict`, the stored event unchanged.
    async fn conflict(&mut self) -> Outcome {
        let name = "conflict";
        let Some(original) = self.accepted.first().cloned() else {
            return fail(name, "nothing".into(), "no event was accepted".into());
        };
        let mut changed = original.clone();
        changed["data"]["conformanceChanged"] = json!(true);
        let sent = format!("POST {} again with other data", id_of(&original));
        let result = async {
            let answer = self
                .post_events(Some(STRUCTURED), &[], body(&changed), Credential::Given)
                .await?;
            let statuses = expect_report(&answer, &[id_of(&original)])?;
            expect_all(&statuses, "conflict")?;
            let walk = self.walk("", 1000, self.baseline).await?;
            let stored: Vec<&Value> = walk
                .events
                .iter()
                .filter(|e| id_of(e) == id_of(&original))
                .collect();
            match stored.as_slice() {
                [one] => compare(&original, one)?,
                other => return Err(format!("the id is stored {} times", other.len())),
            }
            Ok("200, conflict; the stored event unchanged".to_owned())
        }
        .await;
        outcome(name, sent, result)
    }

    /// The documented 400s of getEvents and of a body that is not JSON.
    async fn bad_requests(&mut self) -> Outcome {
        let name = "bad-requests";
        let queries = ["after=-1", "after=x", "limit=0", "conformance=1"];
        let sent = format!(
            "GET /api/events?{}; POST a body that is not JSON",
            queries.join(", ?")
        );
        let result = async {
            for query in queries {
                let answer = self
                    .peer
                    .get(&format!("{EVENTS}?{query}"), Credential::Given)
                    .await
                    .map_err(|e| e.to_string())?;
                expect_error(&answer, 400, &format!("GET ?{query}"))?;
            }
            let answer = self
                .post_events(
                    Some("application/json"),
                    &[],
                    b"{\"specversion\": ".to_vec(),
                    Credential::Given,
                )
                .await?;
            expect_error(&answer, 400, "a body that is not JSON")?;
            Ok("400 with a JSON error each time".to_owned())
        }
        .await;
        outcome(name, sent, result)
    }

    async fn unsupported_media_type(&mut self) -> Outcome {
        let name = "unsupported-media-type";
        let event = self.fresh(1).remove(0);
        let sent = format!("POST {} as text/plain", id_of(&event));
        let result = async {
            let answer = self
                .post_events(Some("text/plain"), &[], body(&event), Credential::Given)
                .await?;
            expect_error(&answer, 415, "text/plain")?;
            self.expect_absent(&[id_of(&event)]).await?;
            Ok("415; nothing stored".to_owned())
        }
        .await;
        outcome(name, sent, result)
    }

    async fn too_large(&mut self) -> Outcome {
        let name = "too-large";
        let size = MAX_BODY_BYTES + 1024;
        let sent = format!("POST a body of {size} bytes (16 MiB + 1 KiB), Expect: 100-continue");
        let result = async {
            // A JSON array of blanks: well-formed up to its length, so only its size is wrong.
            let answer = self
                .peer
                .post_oversized(EVENTS, BATCHED, size)
                .await
                .map_err(|e| e.to_string())?;
            expect_error(&answer, 413, "an oversized body")?;
            Ok("413".to_owned())
        }
        .await;
        outcome(name, sent, result)
    }

    // -----------------------------------------------------------------------------------
    // Helpers

    /// Puts `events` in one content mode and expects each accepted, in order.
    async fn put_mode(
        &mut self,
        name: &'static str,
        content_type: Option<&str>,
        events: Vec<Value>,
        single: bool,
    ) -> Outcome {
        let ids: Vec<String> = events.iter().map(id_of).collect();
        let sent = format!(
            "POST {} as {}",
            ids.join(", "),
            content_type.unwrap_or("no content type")
        );
        let payload = if single {
            events[0].clone()
        } else {
            Value::Array(events.clone())
        };
        let result = async {
            let answer = self
                .post_events(
                    content_type,
                    &[],
                    payload.to_string().into_bytes(),
                    Credential::Given,
                )
                .await?;
            let statuses = expect_report(&answer, &ids)?;
            expect_all(&statuses, "accepted")?;
            let report = answer.json().unwrap_or_default();
            if report.get("accepted").is_some() && report["accepted"] != json!(ids.len()) {
                return Err(format!("the count says accepted={}", report["accepted"]));
            }
            self.accepted.extend(events.iter().cloned());
            Ok(format!("200, {} accepted in order", ids.len()))
        }
        .await;
        outcome(name, sent, result)
    }

    fn fresh(&mut self, n: usize) -> Vec<Value> {
        self.samples.fresh(n, &crate::now())
    }

    /// The events of this run among `events`.
    fn ours<'a>(&self, events: &'a [Value]) -> Vec<&'a Value> {
        let prefix = format!("{}-", self.run);
        events
            .iter()
            .filter(|e| e["id"].as_str().is_some_and(|id| id.starts_with(&prefix)))
            .collect()
    }

    async fn post_events(
        &self,
        content_type: Option<&str>,
        headers: &[(String, String)],
        body: Vec<u8>,
        credential: Credential,
    ) -> Result<Answer, Failure> {
        self.peer
            .post(EVENTS, content_type, headers, body, credential)
            .await
            .map_err(|e: ConformanceError| e.to_string())
    }

    /// Checks none of `ids` is stored after the baseline.
    async fn expect_absent(&self, ids: &[String]) -> Result<(), Failure> {
        let walk = self.walk("", 1000, self.baseline).await?;
        match walk.events.iter().find(|e| ids.contains(&id_of(e))) {
            Some(stored) => Err(format!("{} was stored", id_of(stored))),
            None => Ok(()),
        }
    }

    /// Reads from `after` with `query` and `limit`, following `next_after` until `has_more`
    /// is false; checks every page's shape, that sequences ascend across pages, that no id
    /// comes twice, and that a page with `has_more` moves `next_after` on.
    async fn walk(&self, query: &str, limit: usize, after: u64) -> Result<Walk, Failure> {
        let mut walk = Walk {
            events: Vec::new(),
            next_after: after,
            pages: 0,
        };
        let mut last_sequence: Option<u64> = None;
        let mut seen: HashMap<String, u64> = HashMap::new();
        loop {
            let separator = if query.is_empty() { "" } else { "&" };
            let path = format!(
                "{EVENTS}?after={}&limit={limit}{separator}{query}",
                walk.next_after
            );
            let answer = self
                .peer
                .get(&path, Credential::Given)
                .await
                .map_err(|e| e.to_string())?;
            let page = read_page(&answer).map_err(|e| format!("GET {path}: {e}"))?;
            walk.pages += 1;
            if page.events.len() > limit {
                return Err(format!(
                    "GET {path}: {} events on a page of limit {limit}",
                    page.events.len()
                ));
            }
            for event in &page.events {
                let sequence = event["sequence"].as_u64().ok_or_else(|| {
                    format!("GET {path}: event {} has no integer sequence", id_of(event))
                })?;
                if sequence <= walk.next_after {
                    return Err(format!(
                        "GET {path}: event {} has sequence {sequence}, not after {}",
                        id_of(event),
                        walk.next_after
                    ));
                }
                if last_sequence.is_some_and(|last| sequence <= last) {
                    return Err(format!(
                        "GET {path}: sequence {sequence} after {} — not ascending",
                        last_sequence.unwrap_or_default()
                    ));
                }
                if let Some(earlier) = seen.insert(id_of(event), sequence) {
                    return Err(format!(
                        "GET {path}: {} comes twice (sequences {earlier} and {sequence})",
                        id_of(event)
                    ));
                }
                last_sequence = Some(sequence);
            }
            if let Some(last) = last_sequence {
                if page.next_after < last {
                    return Err(format!(
                        "GET {path}: next_after={} is below the page's last sequence {last}",
                        page.next_after
                    ));
                }
            }
            if page.has_more && page.next_after <= walk.next_after {
                return Err(format!(
                    "GET {path}: has_more=true but next_after={} did not advance — a reader \
                     would ask for the same page for ever",
                    page.next_after
                ));
            }
            if page.next_after < walk.next_after {
                return Err(format!(
                    "GET {path}: next_after={} went back",
                    page.next_after
                ));
            }
            walk.events.extend(page.events);
            walk.next_after = page.next_after;
            if !page.has_more {
                return Ok(walk);
            }
            if walk.pages >= MAX_PAGES {
                return Err(format!("more than {MAX_PAGES} pages: has_more never ends"));
            }
        }
    }
}

/// A getEvents answer, checked for shape.
fn read_page(answer: &Answer) -> Result<Page, Failure> {
    if answer.status.as_u16() != 200 {
        return Err(format!("answered {}", answer.describe()));
    }
    let body = answer
        .json()
        .ok_or_else(|| format!("not JSON: {}", answer.describe()))?;
    let events = body["events"].as_array().ok_or("no events array")?.clone();
    let next_after = body["next_after"]
        .as_u64()
        .ok_or("no next_after (a non-negative integer)")?;
    let has_more = body["has_more"]
        .as_bool()
        .ok_or("no has_more (a boolean)")?;
    Ok(Page {
        events,
        next_after,
        has_more,
    })
}

/// A putEvents 200 whose `results` name `ids` in order; their statuses.
fn expect_report(answer: &Answer, ids: &[String]) -> Result<Vec<(String, String)>, Failure> {
    if answer.status.as_u16() != 200 {
        return Err(format!("answered {}", answer.describe()));
    }
    let report = answer
        .json()
        .ok_or_else(|| format!("not JSON: {}", answer.describe()))?;
    let results = report["results"]
        .as_array()
        .ok_or_else(|| format!("no results array: {}", answer.describe()))?;
    let got: Vec<(String, String)> = results
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or_default().to_owned(),
                r["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let got_ids: Vec<&String> = got.iter().map(|(id, _)| id).collect();
    if got_ids != ids.iter().collect::<Vec<_>>() {
        return Err(format!("results name {got_ids:?}; sent {ids:?}"));
    }
    Ok(got)
}

fn expect_all(statuses: &[(String, String)], wanted: &str) -> Result<(), Failure> {
    match statuses.iter().find(|(_, status)| status != wanted) {
        Some((id, status)) => Err(format!("{id} is reported {status:?}, not {wanted:?}")),
        None => Ok(()),
    }
}

fn expect_401(answer: &Answer, what: &str) -> Result<(), Failure> {
    expect_error(answer, 401, what)?;
    let challenge = answer
        .headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !challenge.to_ascii_lowercase().starts_with("bearer") {
        return Err(format!(
            "{what}: 401 without WWW-Authenticate: Bearer (got {challenge:?})"
        ));
    }
    Ok(())
}

/// `status` with a JSON object whose `error` is a string.
fn expect_error(answer: &Answer, status: u16, what: &str) -> Result<(), Failure> {
    if answer.status.as_u16() != status {
        return Err(format!(
            "{what}: expected {status}, answered {}",
            answer.describe()
        ));
    }
    let has_error = answer.json().is_some_and(|body| body["error"].is_string());
    if !has_error {
        return Err(format!(
            "{what}: {status} without a JSON {{\"error\": …}} body: {}",
            answer.describe()
        ));
    }
    Ok(())
}

/// A served event against the one sent: id, source, type, time text and data equal.
fn compare(sent: &Value, served: &Value) -> Result<(), Failure> {
    for attribute in ["id", "source", "type", "time", "data"] {
        if sent[attribute] != served[attribute] {
            return Err(format!(
                "{}: {attribute} was sent as {} and came back as {}",
                id_of(sent),
                sent[attribute],
                served[attribute]
            ));
        }
    }
    let extensions: BTreeMap<&String, &Value> = sent
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(name, _)| {
            !matches!(
                name.as_str(),
                "id" | "source" | "type" | "time" | "data" | "specversion" | "datacontenttype"
            )
        })
        .collect();
    for (name, value) in extensions {
        if &served[name.as_str()] != value {
            return Err(format!(
                "{}: extension {name} was sent as {value} and came back as {}",
                id_of(sent),
                served[name.as_str()]
            ));
        }
    }
    Ok(())
}

fn id_of(event: &Value) -> String {
    event["id"].as_str().unwrap_or_default().to_owned()
}

fn body(event: &Value) -> Vec<u8> {
    event.to_string().into_bytes()
}

/// A query value, percent-encoded.
fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A binary-mode header value: the binding percent-encodes what a header cannot carry
/// (and `%` itself).
fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if (0x20..0x7f).contains(&byte) && byte != b'%' && byte != b'"' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn pass(name: &'static str, sent: String, got: String) -> Outcome {
    Outcome {
        name,
        passed: true,
        sent,
        got,
    }
}

fn fail(name: &'static str, sent: String, got: String) -> Outcome {
    Outcome {
        name,
        passed: false,
        sent,
        got,
    }
}

fn outcome(name: &'static str, sent: String, result: Result<String, Failure>) -> Outcome {
    match result {
        Ok(got) => pass(name, sent, got),
        Err(got) => fail(name, sent, got),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_header_values_are_percent_encoded() {
        assert_eq!(percent_encode("café 100%"), "caf%C3%A9 100%25");
        assert_eq!(
            percent_encode("2026-11-30T10:00:00Z"),
            "2026-11-30T10:00:00Z"
        );
    }

    #[test]
    fn compare_names_the_attribute_that_changed() {
        let sent = json!({"id": "a", "source": "s", "type": "t", "time": "x", "data": {"n": 1}, "ext": "e"});
        let mut served = sent.clone();
        served["sequence"] = json!(4);
        assert_eq!(compare(&sent, &served), Ok(()));
        served["data"]["n"] = json!(2);
        assert!(compare(&sent, &served).unwrap_err().contains("data"));
        let mut served = sent.clone();
        served["ext"] = json!("other");
        assert!(compare(&sent, &served).unwrap_err().contains("ext"));
    }
}
