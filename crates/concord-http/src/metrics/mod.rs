//! `GET /metrics`: what a Prometheus scrapes from a service, in its text format.
//!
//! One [`Metrics`] per service (the demo runs four in one process, each with its own). It is
//! fed from four places, each the one place that knows:
//! - the store wrapper ([`MeteredStore`]): every commit's latency and size, and every event
//!   stored by source and type — commands, putEvents and links alike;
//! - putEvents (`events.rs`) and the pull links (`concord-node`, [`Metrics::record_intake`]):
//!   what became of each event received, by source, type and outcome;
//! - the HTTP middleware (`front.rs`, with `Tracked`): requests by method, route and
//!   status, and their latency;
//! - at scrape time ([`live`]): the writer's queue depth, the store's last sequence, the
//!   panics of the domain's code the writer caught (by stage), each link's status (cursor,
//!   lag, carried, failures, last success) and the inbound view of each peer ([`Inbound`]).
//!
//! Names follow Prometheus conventions: a `concord_` prefix, base units in the name
//! (`_seconds`, `_events`), `_total` on counters (added by the encoder). Labels that come
//! from events (source, type) are bounded: after [`MAX_EVENT_LABELS`] distinct pairs, new
//! ones are counted under `source="_other", type="_other"`, so no peer can grow the
//! exposition without bound. Routes are the router's patterns (`/api/sync/links/{name}/reset`),
//! never the raw path.
//!
//! The answer is the Prometheus text format 0.0.4, or OpenMetrics 1.0 when the scraper's
//! `Accept` asks for `application/openmetrics-text` (as Prometheus does by default).

mod live;
mod store;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use concord_core::runtime::{Disposition, PutReport};
use concord_core::CloudEvent;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

pub use live::Live;
pub use store::MeteredStore;

use crate::error::{blocking, ApiError};
use crate::inbound::Inbound;
use crate::sync::SyncControl;

pub(crate) const PATH: &str = concord_core::wire::paths::METRICS;

/// How many distinct (source, type) label pairs the event families keep apart.
pub const MAX_EVENT_LABELS: usize = 256;

type Labels = Vec<(&'static str, String)>;
type HistogramMaker = fn() -> Histogram;

/// A service's metrics: the registry and the handles that feed it.
pub struct Metrics {
    registry: Registry,
    events_stored: Family<Labels, Counter>,
    events_received: Family<Labels, Counter>,
    commit_seconds: Histogram,
    commit_events: Histogram,
    http_requests: Family<Labels, Counter>,
    http_seconds: Family<Labels, Histogram, HistogramMaker>,
    /// The (source, type) pairs given labels of their own so far.
    event_labels: Mutex<HashSet<(String, String)>>,
    live: Arc<Live>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn latency_histogram() -> Histogram {
    // 100 µs to ~6.5 s: a cached GET to a slow fsync under load.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

impl Metrics {
    /// The metrics of a service whose writer queue depth `queued` tells and whose store's
    /// inbound view is `inbound`.
    pub fn new(queued: Box<dyn Fn() -> usize + Send + Sync>, inbound: Arc<Inbound>) -> Self {
        let mut registry = Registry::with_prefix("concord");
        let events_stored = Family::<Labels, Counter>::default();
        registry.register(
            "events_stored",
            "Events appended to this service's store, by source and type (commands, putEvents and links)",
            events_stored.clone(),
        );
        let events_received = Family::<Labels, Counter>::default();
        registry.register(
            "events_received",
            "External events received (putEvents and pull links), by source, type and outcome: \
             accepted, duplicate, conflict, ignored, rejected, or refused (a putEvents batch refused whole)",
            events_received.clone(),
        );
        let commit_seconds = latency_histogram();
        registry.register_with_unit(
            "commit_duration",
            "Time of one group commit: the store's append, durable when it returns",
            Unit::Seconds,
            commit_seconds.clone(),
        );
        let commit_events = Histogram::new(exponential_buckets(1.0, 4.0, 8));
        registry.register(
            "commit_events",
            "Events written by one group commit (0 for a commit that only moves link cursors)",
            commit_events.clone(),
        );
        let http_requests = Family::<Labels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            http_requests.clone(),
        );
        let http_seconds =
            Family::<Labels, Histogram, HistogramMaker>::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "http_request_duration",
            "Time from a request's arrival at the router to its answer, by method and route",
            Unit::Seconds,
            http_seconds.clone(),
        );
        let live = Arc::new(Live::new(queued, inbound));
        registry.register_collector(Box::new(Arc::clone(&live)));
        Metrics {
            registry,
            events_stored,
            events_received,
            commit_seconds,
            commit_events,
            http_requests,
            http_seconds,
            event_labels: Mutex::new(HashSet::new()),
            live,
        }
    }

    /// Lets the scrape show the links of `sync`.
    pub fn attach_sync(&self, sync: Arc<dyn SyncControl>) {
        self.live.attach_sync(sync);
    }

    /// The counts of the domain's panics its writer caught, once the service's core is open.
    pub(crate) fn attach_panics(&self, panics: Arc<concord_core::runtime::DomainPanics>) {
        self.live.attach_panics(panics);
    }

    /// Lets the scrape show the store's last sequence.
    pub(crate) fn attach_store(&self, store: Arc<dyn concord_core::EventStore>) {
        self.live.attach_store(store);
    }

    /// The labels of an event's source and type, or the shared overflow pair.
    fn event_labels(&self, source: &str, ty: &str) -> Labels {
        let mut seen = self.event_labels.lock().unwrap_or_else(|p| p.into_inner());
        let key = (source.to_owned(), ty.to_owned());
        if seen.contains(&key) || seen.len() < MAX_EVENT_LABELS {
            seen.insert(key);
            vec![("source", source.to_owned()), ("type", ty.to_owned())]
        } else {
            vec![
                ("source", "_other".to_owned()),
                ("type", "_other".to_owned()),
            ]
        }
    }

    /// Counts the events a commit stored: `appended` tells which of `events` were.
    fn stored(&self, events: &[CloudEvent], appended: impl Iterator<Item = bool>) {
        let mut kept = events
            .iter()
            .zip(appended)
            .filter_map(|(e, a)| a.then_some(e));
        for (source, ty, n) in EventKinds::runs(&mut kept) {
            self.events_stored
                .get_or_create(&self.event_labels(source, ty))
                .inc_by(n);
        }
    }

    fn committed(&self, seconds: f64, events: usize) {
        self.commit_seconds.observe(seconds);
        self.commit_events.observe(events as f64);
    }

    /// Counts what became of received events: `events` are the kinds of the batch whose
    /// results `report` holds, in the same order.
    pub fn record_intake(&self, events: &EventKinds, report: &PutReport) {
        let mut results = report.results.iter();
        for (source, ty, n) in &events.0 {
            let mut counts = [0u64; OUTCOMES.len()];
            for (_, disposition) in results.by_ref().take(*n as usize) {
                counts[outcome(disposition)] += 1;
            }
            for (name, count) in OUTCOMES.iter().zip(counts) {
                if count > 0 {
                    self.received(source, ty, name, count);
                }
            }
        }
    }

    /// Counts a putEvents batch refused whole.
    pub fn record_refused(&self, events: &EventKinds) {
        for (source, ty, n) in &events.0 {
            self.received(source, ty, "refused", *n);
        }
    }

    fn received(&self, source: &str, ty: &str, outcome: &'static str, count: u64) {
        let mut labels = self.event_labels(source, ty);
        labels.push(("outcome", outcome.to_owned()));
        self.events_received.get_or_create(&labels).inc_by(count);
    }

    fn answered(&self, method: &Method, route: &str, status: u16, seconds: f64) {
        let method = match *method {
            Method::GET
            | Method::HEAD
            | Method::POST
            | Method::PUT
            | Method::DELETE
            | Method::PATCH
            | Method::OPTIONS => method.as_str().to_owned(),
            _ => "other".to_owned(),
        };
        let mut labels = vec![("method", method), ("route", route.to_owned())];
        self.http_seconds.get_or_create(&labels).observe(seconds);
        labels.push(("status", status.to_string()));
        self.http_requests.get_or_create(&labels).inc();
    }

    /// The exposition: OpenMetrics when `openmetrics`, else the Prometheus text format.
    pub fn encode(&self, openmetrics: bool) -> Result<String, std::fmt::Error> {
        let mut text = String::with_capacity(16 * 1024);
        if openmetrics {
            prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)?;
        }
        Ok(text)
    }
}

/// The (source, type) of a batch's events, in order, as runs of equal pairs: counting a page
/// from one source costs one label lookup, not one per event (it was a tenth of a pull's CPU).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventKinds(Vec<(String, String, u64)>);

impl EventKinds {
    pub fn of<'e>(events: impl IntoIterator<Item = &'e CloudEvent>) -> Self {
        let runs = Self::runs(&mut events.into_iter());
        EventKinds(
            runs.into_iter()
                .map(|(source, ty, n)| (source.to_owned(), ty.to_owned(), n))
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many events.
    pub fn events(&self) -> u64 {
        self.0.iter().map(|(_, _, n)| n).sum()
    }

    fn runs<'e>(events: &mut dyn Iterator<Item = &'e CloudEvent>) -> Vec<(&'e str, &'e str, u64)> {
        let mut runs: Vec<(&str, &str, u64)> = Vec::new();
        for event in events {
            match runs.last_mut() {
                Some((source, ty, n)) if *source == event.source && *ty == event.ty => *n += 1,
                _ => runs.push((&event.source, &event.ty, 1)),
            }
        }
        runs
    }
}

/// The outcomes of a received event, as `outcome` labels; [`outcome`] indexes them.
const OUTCOMES: [&str; 5] = ["accepted", "duplicate", "conflict", "ignored", "rejected"];

fn outcome(disposition: &Disposition) -> usize {
    match disposition {
        Disposition::Accepted => 0,
        Disposition::Duplicate => 1,
        Disposition::Conflict(_) => 2,
        Disposition::Ignored(_) => 3,
        Disposition::Rejected(_) => 4,
    }
}

pub(crate) fn routes(metrics: Arc<Metrics>) -> Router {
    Router::new().route(PATH, get(scrape)).with_state(metrics)
}

async fn scrape(
    State(metrics): State<Arc<Metrics>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let openmetrics = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    // Reading link status reads the store: off the async workers.
    let text = blocking(move || {
        metrics
            .encode(openmetrics)
            .map_err(|_| ApiError::internal("the metrics could not be written"))
    })
    .await?;
    let content_type = if openmetrics {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    } else {
        "text/plain; version=0.0.4; charset=utf-8"
    };
    Ok((
        [(CONTENT_TYPE, HeaderValue::from_static(content_type))],
        text,
    )
        .into_response())
}

/// One request being counted and timed by its route's pattern (`unmatched` for the fallback,
/// so unknown paths cannot grow the label set); see [`crate::front`].
pub(crate) struct Tracked {
    started: Instant,
    method: Method,
    route: Option<MatchedPath>,
}

impl Tracked {
    pub(crate) fn start(request: &Request) -> Self {
        Tracked {
            started: Instant::now(),
            method: request.method().clone(),
            route: request.extensions().get::<MatchedPath>().cloned(),
        }
    }

    /// Counts the request with the status it was answered with, and its latency.
    pub(crate) fn finish(self, metrics: &Metrics, response: &Response) {
        metrics.answered(
            &self.method,
            self.route.as_ref().map_or("unmatched", MatchedPath::as_str),
            response.status().as_u16(),
            self.started.elapsed().as_secs_f64(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use concord_core::event::Timestamp;
    use serde_json::Map;

    fn event(n: u32, source: &str, ty: &str) -> CloudEvent {
        let time = Timestamp::from_unix_nanos(1_795_000_000_000_000_000);
        CloudEvent::new(format!("e{n}"), source, ty, time, Map::new())
    }

    fn line<'t>(text: &'t str, start: &str) -> Option<&'t str> {
        text.lines().find(|l| l.starts_with(start))
    }

    #[test]
    fn a_mixed_batch_is_counted_per_source_type_and_outcome() {
        let metrics = Metrics::new(Box::new(|| 0), Arc::new(Inbound::default()));
        // Runs of a, b, a again: the second run of `a` adds to the first one's counters.
        let events = [
            event(1, "a", "t"),
            event(2, "a", "t"),
            event(3, "b", "t"),
            event(4, "a", "t"),
        ];
        let report = PutReport {
            results: vec![
                ("e1".into(), Disposition::Accepted),
                ("e2".into(), Disposition::Duplicate),
                ("e3".into(), Disposition::Accepted),
                ("e4".into(), Disposition::Accepted),
            ],
        };
        let kinds = EventKinds::of(&events);
        assert_eq!(kinds.0.len(), 3);
        metrics.record_intake(&kinds, &report);
        metrics.stored(&events, [true, false, true, true].into_iter());
        metrics.record_refused(&EventKinds::of(&events[2..]));
        let text = metrics.encode(false).expect("encodes");
        let received =
            |labels: &str| line(&text, &format!("concord_events_received_total{{{labels}}}"));
        assert_eq!(
            received(r#"source="a",type="t",outcome="accepted""#).map(|l| l.rsplit(' ').next()),
            Some(Some("2")),
            "{text}"
        );
        assert!(received(r#"source="a",type="t",outcome="duplicate""#)
            .is_some_and(|l| l.ends_with(" 1")));
        assert!(received(r#"source="b",type="t",outcome="accepted""#)
            .is_some_and(|l| l.ends_with(" 1")));
        assert!(
            received(r#"source="a",type="t",outcome="refused""#).is_some_and(|l| l.ends_with(" 1"))
        );
        assert!(
            received(r#"source="b",type="t",outcome="refused""#).is_some_and(|l| l.ends_with(" 1"))
        );
        let stored =
            |labels: &str| line(&text, &format!("concord_events_stored_total{{{labels}}}"));
        assert!(
            stored(r#"source="a",type="t""#).is_some_and(|l| l.ends_with(" 2")),
            "{text}"
        );
        assert!(stored(r#"source="b",type="t""#).is_some_and(|l| l.ends_with(" 1")));
    }
}
