//! How links reach their peers. A [`Transport`] performs the two requests the link state
//! machines ask for — fetch a page of a peer's log, deliver a batch to a peer — and reports
//! the outcome in the state machines' terms. [`HttpTransport`] speaks the contract's HTTP API;
//! [`TransportSet`] hands each link to the transport its spec names (`transport = "http"` or
//! `"nats"`; the NATS one lives in the `concord-nats` crate).
//!
//! Over HTTP every request carries `Authorization: Bearer TOKEN`, the token this service
//! presents to that peer ([`LinkCredentials`]). A peer's 401 or 403 is reported as an
//! authorization failure naming the peer ("not authorized by …"), not as the peer being
//! down, and retried with backoff like any failed round. NATS links do not use these tokens:
//! who may publish and consume is the NATS server's to decide (its own users and
//! permissions).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use concord_core::event::{CloudEvent, Limits};
use concord_core::store::ReadQuery;
use concord_core::wire::{self, Delivered, Page};
use concord_sync::{DeliveryError, LinkSpec, TransportError, TransportKind};
use serde_json::Value;

use crate::client::{self, BodyError};

pub type TransportFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Carries link requests to peers.
pub trait Transport: Send + Sync + 'static {
    /// getEvents on the link's peer; its events are read within `limits` (the receiving
    /// service's), an event beyond them listed as unreadable rather than failing the page —
    /// over HTTP, as long as the page fits what a link reads (`max_answer_bytes`).
    fn fetch<'a>(
        &'a self,
        link: &'a LinkSpec,
        query: &'a ReadQuery,
        limits: &'a Limits,
    ) -> TransportFuture<'a, Result<Page, TransportError>>;

    /// putEvents on the link's peer. An empty batch only asks which store the peer has.
    fn deliver<'a>(
        &'a self,
        link: &'a LinkSpec,
        events: &'a [CloudEvent],
    ) -> TransportFuture<'a, Result<Delivered, DeliveryError>>;

    /// The page last fetched for a pull link has been applied durably, with the link's cursor,
    /// up to position `up_to`: a transport with acknowledgements (a message broker) may now
    /// acknowledge it. Not called when applying failed, so the transport can tell what was
    /// not applied. HTTP needs nothing.
    fn acknowledge<'a>(&'a self, link: &'a LinkSpec, up_to: u64) -> TransportFuture<'a, ()> {
        let _ = (link, up_to);
        Box::pin(async {})
    }

    /// Whether a link may run two rounds at once: a pull link fetch its next page while the
    /// previous one commits, a push link deliver its next page while the previous one's
    /// cursor commits. Only for transports where a round whose predecessor then fails to
    /// commit costs nothing but a repeat: a broker's consumer that delivers each message once
    /// must not be read ahead of its acknowledgements.
    fn pipelines(&self, link: &LinkSpec) -> bool {
        let _ = link;
        false
    }

    /// Whether this transport can carry `link` (checked when a node starts, so a link naming a
    /// transport the node lacks fails at once with a clear message rather than every round).
    fn check_link(&self, link: &LinkSpec) -> Result<(), UnsupportedLink> {
        let _ = link;
        Ok(())
    }
}

/// A link naming a transport that a node (or one transport) cannot carry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("link {link}: no {kind} transport here (carried: {})", list(carried))]
pub struct UnsupportedLink {
    pub link: String,
    pub kind: TransportKind,
    /// What is carried instead.
    pub carried: Vec<TransportKind>,
}

impl UnsupportedLink {
    /// `Ok` when `link` goes over `kind`, the one kind a transport carries.
    pub fn unless_over(link: &LinkSpec, kind: TransportKind) -> Result<(), UnsupportedLink> {
        if link.transport == kind {
            return Ok(());
        }
        Err(UnsupportedLink {
            link: link.name.clone(),
            kind: link.transport,
            carried: vec![kind],
        })
    }
}

fn list(kinds: &[TransportKind]) -> String {
    match kinds {
        [] => "none".into(),
        kinds => kinds
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Routes each link to the transport its spec names ([`LinkSpec::transport`]). The default
/// set carries HTTP links only; add NATS with
/// `TransportSet::default().with(TransportKind::Nats, Arc::new(nats_transport))`.
#[derive(Clone)]
pub struct TransportSet {
    by_kind: BTreeMap<TransportKind, Arc<dyn Transport>>,
}

impl Default for TransportSet {
    /// HTTP only, with a default [`HttpTransport`].
    fn default() -> Self {
        TransportSet::empty().with(TransportKind::Http, Arc::new(HttpTransport::default()))
    }
}

impl TransportSet {
    /// No transport at all (every link fails [`Transport::check_link`]).
    pub fn empty() -> Self {
        TransportSet {
            by_kind: BTreeMap::new(),
        }
    }

    /// Carries links of `kind` with `transport` (replacing any earlier one for that kind).
    pub fn with(mut self, kind: TransportKind, transport: Arc<dyn Transport>) -> Self {
        self.by_kind.insert(kind, transport);
        self
    }

    fn route(&self, link: &LinkSpec) -> Result<&Arc<dyn Transport>, UnsupportedLink> {
        self.by_kind
            .get(&link.transport)
            .ok_or_else(|| UnsupportedLink {
                link: link.name.clone(),
                kind: link.transport,
                carried: self.by_kind.keys().copied().collect(),
            })
    }
}

impl Transport for TransportSet {
    fn fetch<'a>(
        &'a self,
        link: &'a LinkSpec,
        query: &'a ReadQuery,
        limits: &'a Limits,
    ) -> TransportFuture<'a, Result<Page, TransportError>> {
        match self.route(link) {
            Ok(transport) => transport.fetch(link, query, limits),
            Err(error) => {
                Box::pin(async move { Err(TransportError::Unreachable(error.to_string())) })
            }
        }
    }

    fn deliver<'a>(
        &'a self,
        link: &'a LinkSpec,
        events: &'a [CloudEvent],
    ) -> TransportFuture<'a, Result<Delivered, DeliveryError>> {
        match self.route(link) {
            Ok(transport) => transport.deliver(link, events),
            Err(error) => {
                Box::pin(async move { Err(TransportError::Unreachable(error.to_string()).into()) })
            }
        }
    }

    fn acknowledge<'a>(&'a self, link: &'a LinkSpec, up_to: u64) -> TransportFuture<'a, ()> {
        match self.route(link) {
            Ok(transport) => transport.acknowledge(link, up_to),
            Err(_) => Box::pin(async {}),
        }
    }

    fn pipelines(&self, link: &LinkSpec) -> bool {
        self.route(link)
            .is_ok_and(|transport| transport.pipelines(link))
    }

    fn check_link(&self, link: &LinkSpec) -> Result<(), UnsupportedLink> {
        self.route(link)?.check_link(link)
    }
}

/// The tokens a service presents to its peers: one for all of them, and optionally one per
/// peer. Never printed (`Debug` shows only which peers have one).
#[derive(Clone, Default)]
pub struct LinkCredentials {
    default: Option<Arc<str>>,
    by_peer: BTreeMap<String, Arc<str>>,
}

impl LinkCredentials {
    /// `token` for every peer.
    pub fn token(token: impl Into<String>) -> Self {
        LinkCredentials {
            default: Some(Arc::from(token.into())),
            by_peer: BTreeMap::new(),
        }
    }

    /// `token` for `peer` (instead of the one for every peer).
    pub fn with_peer(mut self, peer: impl Into<String>, token: impl Into<String>) -> Self {
        self.by_peer.insert(peer.into(), Arc::from(token.into()));
        self
    }

    /// The token to present to `peer`, if any.
    pub fn for_peer(&self, peer: &str) -> Option<&str> {
        self.by_peer
            .get(peer)
            .or(self.default.as_ref())
            .map(|t| &**t)
    }
}

impl std::fmt::Debug for LinkCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkCredentials")
            .field("default", &self.default.as_ref().map(|_| "…"))
            .field("peers", &self.by_peer.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The contract's HTTP API (http:// and https:// peers), with a pooled client, presenting
/// this service's tokens.
#[derive(Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    credentials: LinkCredentials,
}

impl Default for HttpTransport {
    /// Trusting the system's root certificates and presenting no token (every peer will
    /// answer 401).
    fn default() -> Self {
        HttpTransport::new(LinkCredentials::default())
    }
}

impl HttpTransport {
    /// Presenting `credentials` to peers, trusting the system's root certificates.
    pub fn new(credentials: LinkCredentials) -> Self {
        let client = crate::client::build(None).expect("a client without a CA file builds");
        HttpTransport {
            client,
            credentials,
        }
    }

    /// `request` with the token for `link`'s peer.
    fn authorized(
        &self,
        link: &LinkSpec,
        request: reqwest::RequestBuilder,
    ) -> reqwest::RequestBuilder {
        match self.credentials.for_peer(&link.peer) {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }
}

/// A peer's 401 or 403: an authorization problem (wrong or missing token, a scope that does
/// not cover the link), worded so an operator does not go looking for a peer that is down.
fn not_authorized(peer: &str, status: reqwest::StatusCode, body: &[u8]) -> Option<String> {
    if status != reqwest::StatusCode::UNAUTHORIZED && status != reqwest::StatusCode::FORBIDDEN {
        return None;
    }
    let reason = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    Some(format!(
        "not authorized by {peer} ({}): {reason}",
        status.as_u16()
    ))
}

impl HttpTransport {
    /// Trusting `ca_file` (PEM) as well as the system's roots: for peers with certificates
    /// from a private CA.
    pub fn with_ca(
        ca_file: &std::path::Path,
        credentials: LinkCredentials,
    ) -> Result<Self, crate::client::ClientError> {
        Ok(HttpTransport {
            client: crate::client::build(Some(ca_file))?,
            credentials,
        })
    }
}

/// The getEvents URL for a query.
pub fn events_url(base: &str, query: &ReadQuery) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let encode = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    let mut url = format!(
        "{}{}?after={}&limit={}",
        base.trim_end_matches('/'),
        wire::paths::EVENTS,
        query.after,
        query.limit
    );
    for ty in &query.types {
        url.push_str(&format!("&type={}", encode(ty)));
    }
    for source in &query.sources {
        url.push_str(&format!("&source={}", encode(source)));
    }
    for filter in &query.data {
        url.push_str(&format!(
            "&data.{}={}",
            encode(&filter.field),
            encode(&filter.value)
        ));
    }
    url
}

impl Transport for HttpTransport {
    /// getEvents only reads, and putEvents takes each id once: a page may be fetched or
    /// delivered ahead.
    fn pipelines(&self, _: &LinkSpec) -> bool {
        true
    }

    fn fetch<'a>(
        &'a self,
        link: &'a LinkSpec,
        query: &'a ReadQuery,
        limits: &'a Limits,
    ) -> TransportFuture<'a, Result<Page, TransportError>> {
        Box::pin(async move {
            let url = events_url(&link.url, query);
            let response = self
                .authorized(link, self.client.get(&url))
                .send()
                .await
                .map_err(|e| TransportError::Unreachable(describe(&e)))?;
            let status = response.status();
            let body = if status.is_success() {
                read_answer(response, max_answer_bytes(limits), Answer::Page).await?
            } else {
                error_body(response).await
            };
            if let Some(refused) = not_authorized(&link.peer, status, &body) {
                return Err(TransportError::Unauthorized(refused));
            }
            if !status.is_success() {
                return Err(status_error(&format!("GET {url}"), status, &body));
            }
            wire::read_page(&body, limits).map_err(|e| TransportError::Malformed(e.to_string()))
        })
    }

    fn check_link(&self, link: &LinkSpec) -> Result<(), UnsupportedLink> {
        UnsupportedLink::unless_over(link, TransportKind::Http)
    }

    fn deliver<'a>(
        &'a self,
        link: &'a LinkSpec,
        events: &'a [CloudEvent],
    ) -> TransportFuture<'a, Result<Delivered, DeliveryError>> {
        Box::pin(async move {
            let url = format!("{}{}", link.url.trim_end_matches('/'), wire::paths::EVENTS);
            let mut body =
                Vec::with_capacity(2 + events.iter().map(|e| e.encoded_len() + 1).sum::<usize>());
            body.push(b'[');
            for (i, event) in events.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                event.write_json(&mut body, None);
            }
            body.push(b']');
            let response = self
                .authorized(link, self.client.post(&url))
                .header("content-type", "application/cloudevents-batch+json")
                .body(body)
                .send()
                .await
                .map_err(|e| TransportError::Unreachable(describe(&e)))?;
            let status = response.status();
            let body = if status.is_success() {
                // A report names each event once: the page bound is ample.
                read_answer(
                    response,
                    max_answer_bytes(&Limits::default()),
                    Answer::Report,
                )
                .await?
            } else {
                error_body(response).await
            };
            if status.is_success() {
                return wire::read_report(&body)
                    .map_err(|e| TransportError::Malformed(e.to_string()).into());
            }
            if let Some(refused) = not_authorized(&link.peer, status, &body) {
                // Not `Refused`: a 403 naming an index is a scope problem, not a bad event;
                // the whole batch waits (with backoff) until the configuration is fixed.
                return Err(TransportError::Unauthorized(refused).into());
            }
            let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let reason = answer
                .get("error")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            match (status.as_u16(), answer.get("index").and_then(Value::as_u64)) {
                (400, Some(index)) => Err(DeliveryError::Refused {
                    index: index as usize,
                    reason,
                }),
                // The peer took nothing and named no event: the link narrows it down.
                (400 | 413, None) => Err(DeliveryError::RefusedBatch(format!(
                    "{} {reason}",
                    status.as_u16()
                ))),
                _ => Err(status_error(&format!("POST {url}"), status, &body).into()),
            }
        })
    }
}

/// A failed answer, by kind: a refused credential is not a peer that is down.
fn status_error(request: &str, status: reqwest::StatusCode, body: &[u8]) -> TransportError {
    let answer: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let reason = answer
        .get("error")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(500).collect());
    let text = format!("{request} answered {status}: {reason}");
    match status.as_u16() {
        401 | 403 => TransportError::Unauthorized(text),
        _ => TransportError::Unreachable(text),
    }
}

/// The largest answer a link reads from a peer: 16 times the largest page this crate's
/// server sends (4 MiB, or one event larger than that), or four events of the largest size
/// this service takes if that is more. Without a bound one answer could hold the puller's
/// memory without end; an honest peer with larger pages gets an error saying so, and the
/// link's page size can be lowered (or, for one event that large, `max_event_bytes` raised).
fn max_answer_bytes(limits: &Limits) -> usize {
    const FLOOR: usize = 64 << 20;
    FLOOR.max(limits.max_event_bytes.saturating_mul(4))
}

/// What of an error answer's body is read: it only explains the status.
const ERROR_BODY_BYTES: usize = 64 << 10;

/// An error answer's body, or nothing if it is longer than [`ERROR_BODY_BYTES`] or breaks
/// off: the status alone then says what went wrong.
async fn error_body(response: reqwest::Response) -> Vec<u8> {
    client::read_bounded(response, ERROR_BODY_BYTES)
        .await
        .unwrap_or_default()
}

/// Which answer a link reads, for what its error says when it is too large.
#[derive(Clone, Copy)]
enum Answer {
    /// A getEvents page.
    Page,
    /// A putEvents report.
    Report,
}

/// Reads an answer's body within `max` bytes ([`client::read_bounded`]); past it, the round
/// fails with an error saying what may help.
async fn read_answer(
    response: reqwest::Response,
    max: usize,
    answer: Answer,
) -> Result<Vec<u8>, TransportError> {
    client::read_bounded(response, max)
        .await
        .map_err(|error| match error {
            BodyError::TooLarge { max } => TransportError::Malformed(match answer {
                Answer::Page => format!(
                    "it is larger than the {} KiB a link reads; a smaller page size for this \
                     link may fit, unless one event of the peer is that large (a link reads \
                     four times [limits] max_event_bytes, at least 64 MiB)",
                    max >> 10
                ),
                // A report names each event delivered once, in about a hundred bytes.
                Answer::Report => format!(
                    "the putEvents report is larger than the {} KiB a link reads, far more \
                     than one entry per event delivered: the peer does not answer as the \
                     contract says",
                    max >> 10
                ),
            }),
            BodyError::Read(error) => TransportError::Unreachable(describe(&error)),
        })
}

fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use concord_core::DataFilter;

    /// A server on loopback that answers one request with `body` (with or without a
    /// `Content-Length`) and closes.
    fn one_answer(body: Vec<u8>, with_length: bool) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api/events", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let length = if with_length {
                format!("Content-Length: {}\r\n", body.len())
            } else {
                String::new()
            };
            let head = format!("HTTP/1.1 200 OK\r\n{length}Connection: close\r\n\r\n");
            // The client may hang up once it has read enough: not an error here.
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        });
        url
    }

    /// Why an answer of 3 MiB is refused by a read bounded at 1 MiB.
    async fn refused(client: &reqwest::Client, answer: Answer, with_length: bool) -> String {
        let url = one_answer(vec![b' '; 3 << 20], with_length);
        let response = client.get(&url).send().await.unwrap();
        match read_answer(response, 1 << 20, answer).await {
            Err(TransportError::Malformed(reason)) => reason,
            other => panic!("{with_length}: {:?}", other.map(|body| body.len())),
        }
    }

    #[tokio::test]
    async fn an_answer_larger_than_the_bound_is_refused_whether_or_not_it_says_its_length() {
        let client = crate::client::build(None).unwrap();
        for with_length in [true, false] {
            let reason = refused(&client, Answer::Page, with_length).await;
            assert!(reason.contains("larger than the 1024 KiB"), "{reason}");
            let url = one_answer(vec![b' '; 1 << 20], with_length);
            let response = client.get(&url).send().await.unwrap();
            let read = read_answer(response, 1 << 20, Answer::Page).await.unwrap();
            assert_eq!(
                read.len(),
                1 << 20,
                "{with_length}: an answer of exactly the bound"
            );
        }
        let reason = refused(&client, Answer::Report, true).await;
        assert!(
            reason.contains("putEvents report is larger than the 1024 KiB"),
            "{reason}"
        );
        assert_eq!(max_answer_bytes(&Limits::default()), 64 << 20);
        let large = Limits {
            max_event_bytes: 32 << 20,
            ..Limits::default()
        };
        assert_eq!(max_answer_bytes(&large), 128 << 20);
    }

    #[test]
    fn builds_the_get_events_url_with_every_filter() {
        let mut query = ReadQuery::after(7, 500);
        query.types = vec!["studentEnrolled".into()];
        query.sources = vec!["students-office".into()];
        query.data = vec![DataFilter::new("group", "se group")];
        assert_eq!(
            events_url("http://127.0.0.1:7070/", &query),
            "http://127.0.0.1:7070/api/events?after=7&limit=500&type=studentEnrolled&source=students%2Doffice&data.group=se%20group"
        );
    }

    #[test]
    fn each_peer_gets_its_token_and_none_is_printed() {
        let credentials = LinkCredentials::token("concord_all").with_peer("pool", "concord_pool");
        assert_eq!(credentials.for_peer("office"), Some("concord_all"));
        assert_eq!(credentials.for_peer("pool"), Some("concord_pool"));
        assert_eq!(LinkCredentials::default().for_peer("office"), None);
        let shown = format!("{credentials:?}");
        assert!(
            !shown.contains("concord_all") && !shown.contains("concord_pool"),
            "{shown}"
        );
    }

    #[test]
    fn a_refusal_by_the_peer_reads_as_an_authorization_failure() {
        let body = br#"{"error":"the bearer token is not valid for this service"}"#;
        assert_eq!(
            not_authorized("students-office", reqwest::StatusCode::UNAUTHORIZED, body).unwrap(),
            "not authorized by students-office (401): the bearer token is not valid for this service"
        );
        assert!(not_authorized("p", reqwest::StatusCode::FORBIDDEN, b"nope")
            .unwrap()
            .ends_with("(403): nope"));
        for other in [200, 400, 404, 500, 503] {
            let status = reqwest::StatusCode::from_u16(other).unwrap();
            assert_eq!(not_authorized("p", status, body), None, "{other}");
        }
    }

    #[test]
    fn a_transport_set_routes_by_the_link_s_transport() {
        let set = TransportSet::default();
        let http = LinkSpec::pull("p", "http://127.0.0.1:1", &["t"]);
        let nats = http.clone().over_nats("nats://127.0.0.1:4222");
        assert!(set.check_link(&http).is_ok());
        let error = set.check_link(&nats).unwrap_err();
        assert_eq!(
            (error.kind, error.carried.as_slice()),
            (TransportKind::Nats, &[TransportKind::Http][..])
        );
        assert!(error.to_string().contains("no nats transport"), "{error}");
        assert!(HttpTransport::default().check_link(&nats).is_err());
        let both = set.with(TransportKind::Nats, Arc::new(HttpTransport::default()));
        // Routed to the (here: wrong) transport, which refuses the link itself.
        let error = both.check_link(&nats).unwrap_err();
        assert_eq!(error.carried, [TransportKind::Http]);
    }
}
