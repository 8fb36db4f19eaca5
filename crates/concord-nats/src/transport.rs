//! [`NatsTransport`]: links over NATS JetStream.
//!
//! **Push** (`deliver`): every event is published on `<prefix>.<source>.<type>` with
//! `Nats-Msg-Id` = its id, and the delivery succeeds only once the server acknowledged every
//! one (JetStream stored it); only then does the push link move its cursor. A re-published id
//! inside the duplicate window is dropped by the server (`duplicate: true`).
//!
//! **Pull** (`fetch` + `acknowledge`): one durable pull consumer per link, with one filter
//! subject. A page is the messages one fetch returns; its `next_after` is the highest stream
//! sequence examined, which the link stores as its cursor in the same transaction as the
//! events. The page is acknowledged only when the link runner reports it durably applied
//! ([`Transport::acknowledge`]) — with one acknowledgement: the consumer's ack policy is
//! `All`, so acknowledging the page's last delivery acknowledges the page.
//!
//! The local cursor is the truth; the consumer follows it. Whenever this transport cannot be
//! sure that the consumer holds no delivered-but-unapplied messages — the first fetch of a
//! link in this process, or a page that was never acknowledged (applying failed, a round was
//! abandoned, a fetch broke off) — it looks at the consumer before fetching again, and if any
//! message is awaiting acknowledgement, or the consumer has acknowledged beyond the local
//! cursor (a restored store), it recreates the consumer to deliver from the cursor on. So a
//! page is never skipped because an earlier one waits for redelivery, a restarted service does
//! not re-apply what it had applied, and nothing acknowledged is missing from the local store.
//! Messages at or below the cursor that still arrive (an acknowledgement that was lost) are
//! skipped, and acknowledged with their page.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::header::{HeaderMap, NATS_MESSAGE_ID};
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::context::{ConsumerInfoErrorKind, PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::message::Acker;
use async_nats::jetstream::stream::{self, Stream};
use async_nats::jetstream::{self, Context};
use concord_core::event::parse::id_of;
use concord_core::event::{CloudEvent, Limits};
use concord_core::store::ReadQuery;
use concord_core::wire::{Delivered, Unreadable};
use concord_node::{Transport, TransportFuture, UnsupportedLink};
use concord_sync::{DeliveryError, LinkSpec, Page, TransportError, TransportKind};
use futures_util::StreamExt;

use crate::names::{durable_name, event_subject, filter_subject};
use crate::options::NatsOptions;

/// Publish acknowledgements awaited at most at once per link: below async-nats' default of
/// 5000 in flight per JetStream context, so a publisher never waits on its own permits.
const PUBLISH_WINDOW: usize = 4096;

/// The most messages a consumer may have delivered and not yet acknowledged: a page at most.
const MAX_ACK_PENDING: i64 = ReadQuery::MAX_LIMIT as i64;

/// Room left for the headers when checking an event against the server's payload limit.
const HEADER_ROOM: usize = 256;

/// One connection per NATS server URL, shared by the links that name it.
struct Connection {
    client: async_nats::Client,
    jetstream: Context,
    /// The stream, once it is known to exist.
    stream: tokio::sync::Mutex<Option<Stream>>,
}

/// A pull link's consumer and the page it last fetched.
#[derive(Default)]
struct PullState {
    /// The bound consumer; `None` forces a look at the consumer before the next fetch.
    consumer: Option<PullConsumer>,
    url: String,
    /// The last page's messages until the page is applied: (stream sequence, delivery).
    unacked: Vec<(u64, Delivery)>,
}

/// A delivered message, as far as acknowledging it goes.
struct Delivery {
    /// The consumer's sequence of this delivery: an acknowledgement covers every earlier one.
    consumer_sequence: u64,
    acker: Acker,
}

/// A push link's own JetStream context, so its window of acknowledgements in flight is not
/// shared with another link's.
struct PushState {
    url: String,
    jetstream: Context,
}

/// Carries `transport = "nats"` links of one service. Connects lazily, once per server URL,
/// so a node starts even while NATS is down (its NATS links fail and retry with backoff).
pub struct NatsTransport {
    options: NatsOptions,
    connections: tokio::sync::Mutex<HashMap<String, Arc<Connection>>>,
    pulls: Mutex<HashMap<String, Arc<tokio::sync::Mutex<PullState>>>>,
    pushes: Mutex<HashMap<String, Arc<PushState>>>,
}

impl NatsTransport {
    /// A transport for the links of `options.service`.
    pub fn new(options: NatsOptions) -> Result<Self, String> {
        options.validate()?;
        Ok(NatsTransport {
            options,
            connections: tokio::sync::Mutex::new(HashMap::new()),
            pulls: Mutex::new(HashMap::new()),
            pushes: Mutex::new(HashMap::new()),
        })
    }

    pub fn options(&self) -> &NatsOptions {
        &self.options
    }

    /// The durable consumer name of this service's pull link `link`.
    pub fn durable_name(&self, link: &str) -> String {
        durable_name(&self.options.service, link)
    }

    /// The filter subject of a pull link's consumer.
    pub fn filter_subject(&self, link: &LinkSpec) -> String {
        filter_subject(&self.options.subject_prefix, link)
    }

    /// The subject an event is published on.
    pub fn subject_of(&self, event: &CloudEvent) -> String {
        event_subject(&self.options.subject_prefix, &event.source, &event.ty)
    }

    /// Connects to `url` (or reuses the connection) and makes sure the stream exists: a
    /// JetStream context for callers that want to look at the stream (tests, tools).
    pub async fn jetstream(&self, url: &str) -> Result<Context, String> {
        let connection = self.connection(url).await?;
        self.stream(url, &connection).await?;
        Ok(connection.jetstream.clone())
    }

    async fn connection(&self, url: &str) -> Result<Arc<Connection>, String> {
        let mut connections = self.connections.lock().await;
        if let Some(connection) = connections.get(url) {
            return Ok(Arc::clone(connection));
        }
        let client = async_nats::ConnectOptions::new()
            .name(format!("concord {}", self.options.service))
            .connection_timeout(self.options.connect_timeout)
            .request_timeout(Some(self.options.request_timeout))
            .connect(url)
            .await
            .map_err(|e| format!("NATS not reachable at {url}: {e}"))?;
        let connection = Arc::new(Connection {
            jetstream: self.context(client.clone()),
            client,
            stream: tokio::sync::Mutex::new(None),
        });
        connections.insert(url.to_owned(), Arc::clone(&connection));
        Ok(connection)
    }

    fn context(&self, client: async_nats::Client) -> Context {
        let mut context = jetstream::new(client);
        context.set_timeout(self.options.request_timeout);
        context
    }

    /// The stream, created if missing (get-or-create).
    async fn stream(&self, url: &str, connection: &Connection) -> Result<Stream, String> {
        let mut known = connection.stream.lock().await;
        if let Some(stream) = &*known {
            return Ok(stream.clone());
        }
        let config = stream::Config {
            name: self.options.stream.clone(),
            subjects: vec![format!("{}.>", self.options.subject_prefix)],
            storage: stream::StorageType::File,
            duplicate_window: self.options.duplicate_window,
            description: Some("Concord events by original source and type".to_owned()),
            ..Default::default()
        };
        let stream = connection
            .jetstream
            .get_or_create_stream(config)
            .await
            .map_err(|e| {
                format!(
                    "cannot open the JetStream stream {} at {url}: {e}",
                    self.options.stream
                )
            })?;
        *known = Some(stream.clone());
        Ok(stream)
    }

    /// Forgets the stream, so the next use looks it up (or creates it) again.
    async fn forget_stream(&self, url: &str) {
        if let Some(connection) = self.connections.lock().await.get(url) {
            *connection.stream.lock().await = None;
        }
    }

    fn pull_state(&self, link: &str) -> Arc<tokio::sync::Mutex<PullState>> {
        let mut pulls = self.pulls.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(pulls.entry(link.to_owned()).or_default())
    }

    fn push_context(&self, link: &LinkSpec, connection: &Connection) -> Context {
        let mut pushes = self.pushes.lock().unwrap_or_else(|p| p.into_inner());
        match pushes.get(&link.name) {
            Some(state) if state.url == link.url => state.jetstream.clone(),
            _ => {
                let jetstream = self.context(connection.client.clone());
                pushes.insert(
                    link.name.clone(),
                    Arc::new(PushState {
                        url: link.url.clone(),
                        jetstream: jetstream.clone(),
                    }),
                );
                jetstream
            }
        }
    }

    async fn publish(
        &self,
        link: &LinkSpec,
        events: &[CloudEvent],
    ) -> Result<Delivered, DeliveryError> {
        // A stream has no store identity to ask for: an empty delivery has nothing to do.
        if events.is_empty() {
            return Ok(Delivered::default());
        }
        let unreachable = |error| DeliveryError::Transport(TransportError::Unreachable(error));
        let connection = self.connection(&link.url).await.map_err(unreachable)?;
        self.stream(&link.url, &connection)
            .await
            .map_err(unreachable)?;
        let jetstream = self.push_context(link, &connection);
        // Everything is serialized and checked against the server's limit first, so an event
        // the server could never take is refused before anything of the batch is published.
        let max_payload = connection.client.server_info().max_payload;
        let mut messages = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            // The event as stored, data as its exact text: what a subscriber reads is what
            // this service holds.
            let mut payload = Vec::with_capacity(event.encoded_len());
            event.write_json(&mut payload, None);
            if max_payload > 0 && payload.len() + event.id.len() + HEADER_ROOM > max_payload {
                return Err(DeliveryError::Refused {
                    index,
                    reason: format!(
                        "{} bytes of JSON exceed the NATS server's max_payload of {max_payload}",
                        payload.len()
                    ),
                });
            }
            messages.push((self.subject_of(event), &event.id, payload));
        }
        let failed = |what: &str, error: &dyn std::fmt::Display| {
            format!(
                "{what} to stream {} at {} failed: {error}",
                self.options.stream, link.url
            )
        };
        let mut in_flight: VecDeque<PublishAckFuture> =
            VecDeque::with_capacity(messages.len().min(PUBLISH_WINDOW));
        let mut outcome = Ok(());
        for (index, (subject, id, payload)) in messages.into_iter().enumerate() {
            if in_flight.len() >= PUBLISH_WINDOW {
                let ack = in_flight.pop_front().expect("the window is full");
                if let Err(error) = ack.await {
                    outcome = Err((error.kind(), failed("publishing", &error)));
                    break;
                }
            }
            let mut headers = HeaderMap::new();
            headers.insert(NATS_MESSAGE_ID, &**id);
            match jetstream
                .publish_with_headers(subject, headers, payload.into())
                .await
            {
                Ok(ack) => in_flight.push_back(ack),
                Err(error) if error.kind() == PublishErrorKind::MaxPayloadExceeded => {
                    return Err(DeliveryError::Refused {
                        index,
                        reason: error.to_string(),
                    })
                }
                Err(error) => {
                    outcome = Err((error.kind(), failed("publishing", &error)));
                    break;
                }
            }
        }
        if outcome.is_ok() {
            while let Some(ack) = in_flight.pop_front() {
                if let Err(error) = ack.await {
                    outcome = Err((error.kind(), failed("a publish acknowledgement", &error)));
                    break;
                }
            }
        }
        match outcome {
            Ok(()) => Ok(Delivered::default()),
            Err((kind, error)) => {
                if kind == PublishErrorKind::StreamNotFound {
                    // Deleted behind our back: create it again next round.
                    self.forget_stream(&link.url).await;
                }
                Err(unreachable(error))
            }
        }
    }

    async fn fetch_page(
        &self,
        link: &LinkSpec,
        query: &ReadQuery,
        limits: &Limits,
    ) -> Result<Page, TransportError> {
        self.fetch_events(link, query, limits)
            .await
            .map_err(TransportError::Unreachable)
    }

    async fn fetch_events(
        &self,
        link: &LinkSpec,
        query: &ReadQuery,
        limits: &Limits,
    ) -> Result<Page, String> {
        let connection = self.connection(&link.url).await?;
        let state = self.pull_state(&link.name);
        let mut state = state.lock().await;
        // Taken out for the whole fetch: if it fails or is abandoned midway, the next fetch
        // looks at the consumer first.
        let consumer = match state.consumer.take() {
            Some(consumer) if state.unacked.is_empty() && state.url == link.url => consumer,
            _ => {
                state.unacked.clear();
                state.url = link.url.clone();
                self.bind(&connection, link, query.after).await?
            }
        };
        // A no-wait fetch without an expiry: the server answers at once with what it has (an
        // idle round costs one round trip, not a wait). With an expiry a 2.9 server would hold
        // an empty request until it expires.
        let batch = consumer
            .fetch()
            .max_messages(query.limit)
            .messages()
            .await
            .map_err(|e| format!("fetching from stream {}: {e}", self.options.stream))?;
        let deadline = self.options.fetch_timeout;
        let messages: Vec<_> = tokio::time::timeout(deadline, batch.collect::<Vec<_>>())
            .await
            .map_err(|_| format!("fetching from stream {} timed out", self.options.stream))?;

        let mut page = Page {
            next_after: query.after,
            ..Page::default()
        };
        let mut pending = None;
        let mut stale = false;
        let mut unacked = Vec::with_capacity(messages.len());
        for message in messages {
            let message = message
                .map_err(|e| format!("fetching from stream {}: {e}", self.options.stream))?;
            let info = message
                .info()
                .map_err(|e| format!("a message without JetStream metadata: {e}"))?;
            let (sequence, consumer_sequence, left) =
                (info.stream_sequence, info.consumer_sequence, info.pending);
            pending = Some(left);
            let (message, acker) = message.split();
            unacked.push((
                sequence,
                Delivery {
                    consumer_sequence,
                    acker,
                },
            ));
            if sequence <= query.after {
                // Applied already (its acknowledgement was lost): acknowledged with the page.
                stale = true;
                continue;
            }
            page.next_after = page.next_after.max(sequence);
            match parse(&message.payload, limits) {
                Ok(event) if query.matches(&event) => page.events.push(event),
                Ok(_) => {} // examined, not carried by this link
                Err((id, reason, text)) => {
                    let id = id
                        .or_else(|| {
                            message
                                .headers
                                .as_ref()
                                .and_then(|h| h.get(NATS_MESSAGE_ID))
                                .map(|v| v.to_string())
                        })
                        .unwrap_or_else(|| format!("(stream sequence {sequence})"));
                    page.unreadable.push(Unreadable {
                        id: Some(id),
                        reason,
                        text,
                    });
                }
            }
        }
        page.has_more = pending.is_some_and(|left| left > 0);
        // What is left for this consumer, as a position: the link's status then shows it as
        // the exact number of messages still to examine.
        page.last_sequence = pending.map(|left| page.next_after + left);
        // Something at or below the cursor came back: look at the consumer (and the stream's
        // end) again before the next fetch, in case more than an acknowledgement was lost.
        state.consumer = (!stale).then_some(consumer);
        state.unacked = unacked;
        Ok(page)
    }

    /// Binds the link's durable consumer, recreated to deliver from `after + 1` whenever the
    /// consumer might hold delivered-but-unapplied messages or is ahead of the local cursor.
    async fn bind(
        &self,
        connection: &Connection,
        link: &LinkSpec,
        after: u64,
    ) -> Result<PullConsumer, String> {
        let mut stream = self.stream(&link.url, connection).await?;
        let name = self.options.stream.clone();
        let (first, last) = match stream.info().await {
            Ok(info) => (info.state.first_sequence, info.state.last_sequence),
            Err(error) => {
                self.forget_stream(&link.url).await;
                return Err(format!("cannot read stream {name}: {error}"));
            }
        };
        if last < after {
            return Err(format!(
                "stream {name} at {} ends at sequence {last}, before this link's cursor {after}: \
                 was the stream deleted or replaced? (rename the link to consume it from the start)",
                link.url
            ));
        }
        if first > after + 1 && last >= first {
            tracing::warn!(
                link = %link.name, stream = %name, cursor = after, first,
                "messages after this link's cursor are gone from the stream (limits or a purge); \
                 they cannot be consumed"
            );
        }
        let durable = self.durable_name(&link.name);
        let filter = self.filter_subject(link);
        match stream.consumer_info(&durable).await {
            Ok(info) => {
                let reusable = info.config.filter_subject == filter
                    && info.config.ack_policy == AckPolicy::All
                    && info.num_ack_pending == 0
                    && info.ack_floor.stream_sequence <= after
                    && info.delivered.stream_sequence >= after;
                if reusable {
                    return stream
                        .get_consumer(&durable)
                        .await
                        .map_err(|e| format!("cannot bind consumer {durable}: {e}"));
                }
                tracing::info!(
                    link = %link.name, consumer = %durable, cursor = after,
                    filter_was = %info.config.filter_subject,
                    ack_pending = info.num_ack_pending,
                    ack_floor = info.ack_floor.stream_sequence,
                    delivered = info.delivered.stream_sequence,
                    "recreating the link's consumer to deliver from its cursor"
                );
                stream
                    .delete_consumer(&durable)
                    .await
                    .map_err(|e| format!("cannot delete consumer {durable}: {e}"))?;
            }
            Err(error) if error.kind() == ConsumerInfoErrorKind::NotFound => {}
            Err(error) => return Err(format!("cannot look up consumer {durable}: {error}")),
        }
        let config = pull::Config {
            durable_name: Some(durable.clone()),
            description: Some(format!(
                "concord: {} link {}",
                self.options.service, link.name
            )),
            filter_subject: filter,
            deliver_policy: if after == 0 {
                DeliverPolicy::All
            } else {
                DeliverPolicy::ByStartSequence {
                    start_sequence: after + 1,
                }
            },
            // One acknowledgement per page: the page's last delivery acknowledges it all.
            ack_policy: AckPolicy::All,
            ack_wait: self.options.ack_wait,
            max_ack_pending: MAX_ACK_PENDING,
            ..Default::default()
        };
        stream
            .create_consumer(config)
            .await
            .map_err(|e| format!("cannot create consumer {durable} on stream {name}: {e}"))
    }

    async fn ack_page(&self, link: &LinkSpec, up_to: u64) {
        let state = self.pull_state(&link.name);
        let mut state = state.lock().await;
        // The consumer acknowledges all deliveries up to the one acknowledged (AckPolicy::All):
        // acknowledge the last delivery of the longest run, in delivery order, that lies at or
        // below `up_to` (the whole page, as the runner acknowledges it).
        let mut deliveries = std::mem::take(&mut state.unacked);
        deliveries.sort_by_key(|(_, delivery)| delivery.consumer_sequence);
        let covered = deliveries
            .iter()
            .position(|(sequence, _)| *sequence > up_to)
            .unwrap_or(deliveries.len());
        let keep = deliveries.split_off(covered);
        state.unacked = keep;
        let Some((_, last)) = deliveries.last() else {
            return;
        };
        let timeout = self.options.request_timeout;
        let sent = match tokio::time::timeout(timeout, last.acker.ack()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err("timed out".to_owned()),
        };
        if let Err(error) = sent {
            // Applied, so harmless: the consumer is looked at (and if need be recreated from
            // the cursor) before the next fetch.
            tracing::warn!(link = %link.name, %error, "acknowledging a page failed");
            state.consumer = None;
            return;
        }
        let connection = self.connections.lock().await.get(&link.url).cloned();
        if let Some(connection) = connection {
            // Not waiting for a server that is away; an acknowledgement lost is only redone.
            let _ = tokio::time::timeout(timeout, connection.client.flush()).await;
        }
    }
}

/// A message's payload as a CloudEvent (within the receiver's limits), or (its id if
/// readable, why it cannot be taken, its text).
fn parse(payload: &[u8], limits: &Limits) -> Result<CloudEvent, (Option<String>, String, String)> {
    let text = String::from_utf8_lossy(payload);
    CloudEvent::parse(&text, limits).map_err(|e| (id_of(&text), e.to_string(), text.into_owned()))
}

impl Transport for NatsTransport {
    fn fetch<'a>(
        &'a self,
        link: &'a LinkSpec,
        query: &'a ReadQuery,
        limits: &'a Limits,
    ) -> TransportFuture<'a, Result<Page, TransportError>> {
        Box::pin(self.fetch_page(link, query, limits))
    }

    fn deliver<'a>(
        &'a self,
        link: &'a LinkSpec,
        events: &'a [CloudEvent],
    ) -> TransportFuture<'a, Result<Delivered, DeliveryError>> {
        Box::pin(self.publish(link, events))
    }

    fn acknowledge<'a>(&'a self, link: &'a LinkSpec, up_to: u64) -> TransportFuture<'a, ()> {
        Box::pin(self.ack_page(link, up_to))
    }

    fn check_link(&self, link: &LinkSpec) -> Result<(), UnsupportedLink> {
        UnsupportedLink::unless_over(link, TransportKind::Nats)
    }
}

/// Whether a NATS server answers at `url` within `timeout` (for tests and tools that skip
/// when there is none).
pub async fn reachable(url: &str, timeout: Duration) -> bool {
    async_nats::ConnectOptions::new()
        .connection_timeout(timeout)
        .connect(url)
        .await
        .is_ok()
}
