//! A push link: the service's own log is its outbox.
//!
//! A round is: [`PushLink::start`] reads a page of the local log after the cursor (bounded
//! by count and bytes) → the caller delivers each [`PushStep::Deliver`] batch to the peer and
//! reports the answer to [`PushLink::delivered`] → once nothing is left to deliver, the link
//! says [`PushStep::Save`]: the caller stores that update (the cursor past the page, and the
//! events the peer refused, as dead letters) → [`PushLink::saved`]. Nothing is lost if the
//! process dies in between: the cursor only moves after the peer took the page, and the peer
//! drops the events it already has as duplicates.
//!
//! A peer's refusal never stalls the link. An event the peer names (400 with an index, or a
//! per-event `rejected`/`conflict` result) becomes a dead letter and the rest go on; a
//! refusal of the whole batch that names no event (413, or a 400 without an index) is
//! narrowed down by splitting the batch in halves until the one event at fault is alone.

use std::collections::VecDeque;

use concord_core::event::{CloudEvent, Timestamp};
use concord_core::host::HostError;
use concord_core::store::{DeadLetter, EventReader, LinkCursor, LinkUpdate, StoreError};
use concord_core::wire::Delivered;

use crate::schedule::Schedule;
use crate::spec::LinkSpec;
use crate::status::{LinkStatus, TransportError};

/// The most bytes of events one push batch carries: well below the 16 MiB a putEvents body
/// may hold, so a batch of events within the size limit always fits.
pub const MAX_BATCH_BYTES: usize = 4 << 20;

/// How many idle rounds an idle push link trusts that its peer still has the store it
/// delivered to before it asks again.
const PROBE_AFTER_IDLE_ROUNDS: u32 = 10;

/// Why a delivery did not succeed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The request failed; the round is retried later.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The peer refused the event at this index and stored nothing of the batch.
    #[error("the peer refused the event at index {index}: {reason}")]
    Refused { index: usize, reason: String },
    /// The peer refused the whole batch without naming an event (413, or a 400 without an
    /// index) and stored nothing of it.
    #[error("the peer refused the batch: {0}")]
    RefusedBatch(String),
}

/// What the caller does next in a push round.
#[derive(Clone, Debug, PartialEq)]
pub enum PushStep {
    /// Deliver these events to the peer (putEvents) and report with [`PushLink::delivered`].
    Deliver(Vec<CloudEvent>),
    /// Store this update durably and report with [`PushLink::saved`].
    Save(LinkUpdate),
    /// Nothing to do now.
    Idle,
}

struct Round {
    /// An empty delivery that only asks the peer which store it is.
    probe: bool,
    /// What is still to deliver, front first; the front is in flight.
    queue: VecDeque<Vec<CloudEvent>>,
    /// Where the cursor goes once everything is delivered (`None` when re-delivering dead
    /// letters, which does not move it).
    up_to: Option<u64>,
    letters: Vec<DeadLetter>,
    /// Ids the peer took: for a re-delivery, the dead letters to forget.
    carried: Vec<String>,
    has_more: bool,
    log_last: u64,
}

pub struct PushLink {
    spec: LinkSpec,
    cursor: u64,
    peer_store: Option<String>,
    stopped: Option<String>,
    /// Idle rounds since the peer's store identity was last confirmed by an answer (counted,
    /// not timed: a clock that jumps must not silence the probe).
    idle_since_confirmed: u32,
    schedule: Schedule,
    status: LinkStatus,
    round: Option<Round>,
}

impl PushLink {
    pub fn new(spec: LinkSpec, cursor: LinkCursor, now: Timestamp, seed: u64) -> Self {
        let mut status = LinkStatus::new(&spec, cursor.position);
        status.peer_store = cursor.peer_store.clone();
        PushLink {
            status,
            spec,
            cursor: cursor.position,
            peer_store: cursor.peer_store,
            stopped: None,
            idle_since_confirmed: PROBE_AFTER_IDLE_ROUNDS,
            schedule: Schedule::new(now, seed),
            round: None,
        }
    }

    /// Whether an idle link should ask its peer which store it has: after ten idle rounds
    /// (and first thing after a start), it delivers nothing, only to hear the identity, so
    /// that a receiver that was wiped is noticed even when there is nothing new to push.
    fn probe_due(&mut self) -> bool {
        self.idle_since_confirmed = self.idle_since_confirmed.saturating_add(1);
        self.peer_store.is_some() && self.idle_since_confirmed > PROBE_AFTER_IDLE_ROUNDS
    }

    pub fn spec(&self) -> &LinkSpec {
        &self.spec
    }

    pub fn status(&self) -> &LinkStatus {
        &self.status
    }

    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    pub fn schedule(&mut self) -> &mut Schedule {
        &mut self.schedule
    }

    /// When the link wants to run next; `None` while a round is in flight or while stopped.
    pub fn due_at(&self) -> Option<Timestamp> {
        if self.stopped.is_some() {
            return None;
        }
        self.schedule.due_at()
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.is_some()
    }

    /// Starts a round if one is due: the first batch to deliver, or the cursor to move past
    /// events this link does not carry.
    pub fn start(&mut self, now: Timestamp, log: &dyn EventReader) -> Result<PushStep, StoreError> {
        if self.stopped.is_some() || !self.schedule.is_due(now) {
            return Ok(PushStep::Idle);
        }
        let mut query = self.spec.query(self.cursor);
        query.max_bytes = Some(MAX_BATCH_BYTES);
        let page = match log.read(&query) {
            Ok(page) => page,
            Err(error) => {
                self.schedule.begin();
                self.fail(now, &format!("reading the local log failed: {error}"));
                return Err(error);
            }
        };
        let log_last = log.last_sequence()?;
        self.status.pending = Some(log_last.saturating_sub(self.cursor));
        self.schedule.begin();
        if page.next_after <= self.cursor {
            if self.probe_due() {
                self.round = Some(Round {
                    probe: true,
                    queue: VecDeque::from([Vec::new()]),
                    up_to: None,
                    letters: Vec::new(),
                    carried: Vec::new(),
                    has_more: false,
                    log_last,
                });
                return Ok(self.next_step(now));
            }
            self.schedule.succeeded(now, false, self.spec.interval_ms);
            return Ok(PushStep::Idle);
        }
        let events: Vec<CloudEvent> = page.events.into_iter().map(|e| e.event).collect();
        let mut queue = VecDeque::new();
        if !events.is_empty() {
            queue.push_back(events);
        }
        self.round = Some(Round {
            probe: false,
            queue,
            up_to: Some(page.next_after),
            letters: Vec::new(),
            carried: Vec::new(),
            has_more: page.has_more,
            log_last,
        });
        Ok(self.next_step(now))
    }

    /// An operator's re-delivery of this link's dead letters (their events, as stored). Runs
    /// whatever the schedule says; the cursor does not move.
    pub fn retry(&mut self, now: Timestamp, events: Vec<CloudEvent>) -> PushStep {
        self.schedule.begin();
        let mut queue = VecDeque::new();
        // Re-delivered one by one: each was refused on its own before.
        queue.extend(events.into_iter().map(|event| vec![event]));
        self.round = Some(Round {
            probe: false,
            queue,
            up_to: None,
            letters: Vec::new(),
            carried: Vec::new(),
            has_more: false,
            log_last: self.cursor,
        });
        self.next_step(now)
    }

    /// The peer answered the batch last handed out (or not).
    pub fn delivered(
        &mut self,
        now: Timestamp,
        result: Result<Delivered, DeliveryError>,
    ) -> PushStep {
        let Some(round) = self.round.as_mut() else {
            return PushStep::Idle;
        };
        let Some(batch) = round.queue.pop_front() else {
            return self.next_step(now);
        };
        let letter = |event: &CloudEvent, reason: String| DeadLetter {
            id: event.id.to_string(),
            reason,
            at: now.to_rfc3339(),
            event: Some(event_text(event)),
        };
        match result {
            Ok(delivered) => {
                if let (Some(known), Some(now_id)) = (&self.peer_store, &delivered.store_id) {
                    if known != now_id {
                        let reason = format!(
                            "the peer's store is not the one this link delivered to \
                             (store {known} before, {now_id} now): it was wiped or replaced, \
                             so what this link delivered may be gone; reset this link's cursor \
                             to deliver everything again"
                        );
                        self.stop(now, reason);
                        return PushStep::Idle;
                    }
                }
                if delivered.store_id.is_some() {
                    self.peer_store = delivered.store_id;
                    self.idle_since_confirmed = 0;
                }
                for event in &batch {
                    match delivered.refused.iter().find(|(id, _)| **id == *event.id) {
                        Some((_, reason)) => round.letters.push(letter(event, reason.clone())),
                        None => round.carried.push(event.id.to_string()),
                    }
                }
            }
            Err(DeliveryError::Refused { index, reason }) if index < batch.len() => {
                let mut rest = batch;
                let refused = rest.remove(index);
                round.letters.push(letter(&refused, reason));
                if !rest.is_empty() {
                    round.queue.push_front(rest);
                }
            }
            Err(DeliveryError::Refused { reason, .. } | DeliveryError::RefusedBatch(reason)) => {
                if batch.len() == 1 {
                    round.letters.push(letter(&batch[0], reason));
                } else {
                    let mut first = batch;
                    let second = first.split_off(first.len() / 2);
                    round.queue.push_front(second);
                    round.queue.push_front(first);
                }
            }
            Err(DeliveryError::Transport(error)) => {
                self.fail(now, &error.to_string());
                return PushStep::Idle;
            }
        }
        self.next_step(now)
    }

    /// The next batch to deliver, or the update to save once nothing is left.
    fn next_step(&mut self, now: Timestamp) -> PushStep {
        let Some(round) = self.round.as_mut() else {
            return PushStep::Idle;
        };
        if let Some(batch) = round.queue.front() {
            return PushStep::Deliver(batch.clone());
        }
        if round.probe {
            // The peer answered with the store it had: nothing to store.
            self.round = None;
            self.status.succeeded(now);
            self.schedule.succeeded(now, false, self.spec.interval_ms);
            return PushStep::Idle;
        }
        let retrying = round.up_to.is_none();
        PushStep::Save(LinkUpdate {
            link: self.spec.name.clone(),
            cursor: round.up_to.map(|position| LinkCursor {
                position,
                peer_store: self.peer_store.clone(),
            }),
            dead_letters: round.letters.clone(),
            resolved: if retrying {
                round.carried.clone()
            } else {
                Vec::new()
            },
        })
    }

    /// The update returned by [`PushStep::Save`] was stored (or not).
    pub fn saved(&mut self, now: Timestamp, result: Result<(), &HostError>) {
        let Some(round) = self.round.take() else {
            return;
        };
        match result {
            Ok(()) => {
                if let Some(up_to) = round.up_to {
                    self.cursor = up_to;
                    self.status.pending = Some(round.log_last.saturating_sub(self.cursor));
                }
                self.status.cursor = self.cursor;
                self.status.peer_store = self.peer_store.clone();
                self.status.carried += round.carried.len() as u64;
                self.status.rejected += round.letters.len() as u64;
                self.status.succeeded(now);
                self.schedule
                    .succeeded(now, round.has_more, self.spec.interval_ms);
            }
            Err(error) => self.fail(now, &format!("storing the cursor failed: {error}")),
        }
    }

    /// An operator's reset: deliver everything again from the start of the log, to whatever
    /// store the peer has now. The caller commits the returned update.
    pub fn reset(&mut self, now: Timestamp) -> LinkUpdate {
        self.cursor = 0;
        self.peer_store = None;
        self.stopped = None;
        self.round = None;
        self.status.reset();
        self.schedule.reset(now);
        LinkUpdate::cursor(self.spec.name.clone(), 0)
    }

    fn stop(&mut self, now: Timestamp, reason: String) {
        self.round = None;
        self.schedule.stop();
        self.status.stopped(now, &reason);
        self.stopped = Some(reason);
    }

    fn fail(&mut self, now: Timestamp, error: &str) {
        self.round = None;
        self.schedule.failed(now);
        self.status.failed(now, error, self.schedule.failures());
    }
}

/// An event's JSON, as a dead letter keeps it.
fn event_text(event: &CloudEvent) -> String {
    let mut out = Vec::with_capacity(event.encoded_len());
    event.write_json(&mut out, None);
    String::from_utf8(out).expect("event JSON is UTF-8")
}
