//! A push link: the service's own log is its outbox.
//!
//! A round is: [`PushLink::start`] reads a page of the local log after the cursor (bounded
//! by count and bytes) → the caller delivers each [`PushStep::Deliver`] batch to the peer and
//! hands it back with the answer to [`PushLink::delivered`] → once nothing is left to deliver,
//! the link says [`PushStep::Save`]: the caller stores that update (the cursor past the page,
//! and the events the peer refused, as dead letters) → [`PushLink::saved`]. Nothing is lost if
//! the process dies in between: the cursor only moves after the peer took the page, and the
//! peer drops the events it already has as duplicates.
//!
//! Rounds may overlap by one: while a page's `Save` commits, [`PushLink::ahead`] reads the page
//! after it (from where that page ends, not from the durable cursor) and hands out its first
//! batch, so a driver can deliver it meanwhile. The round ahead may deliver, split and collect
//! dead letters, but its own `Save` is held back until the save before it is reported: only a
//! successful one lets it through (returned by [`PushLink::saved`]), so cursors commit in
//! order; a failed one discards it and the link retries from the durable cursor. Its
//! deliveries are then simply made again, which is safe because the peer takes each id once.
//!
//! A batch is handed out by value ([`Batch`]) and handed back with its answer: the link keeps
//! no copy of what is in flight, yet can still split a refused batch or keep a refused event
//! as a dead letter.
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

use crate::link::{LinkCore, SyncLink};
use crate::spec::LinkSpec;
use crate::status::TransportError;

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

/// Events to deliver, lent to the caller: it hands the batch back to
/// [`PushLink::delivered`] with the peer's answer, so the link never copies what it sends.
/// Only the link makes one, so what comes back is what it handed out.
#[derive(Debug, PartialEq)]
pub struct Batch(Vec<CloudEvent>);

impl Batch {
    pub fn events(&self) -> &[CloudEvent] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// An empty batch is a probe: it only asks the peer which store it has.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What the caller does next in a push round.
#[derive(Debug, PartialEq)]
pub enum PushStep {
    /// Deliver these events to the peer (putEvents) and hand them back with the answer to
    /// [`PushLink::delivered`].
    Deliver(Batch),
    /// Store this update durably and report with [`PushLink::saved`].
    Save(LinkUpdate),
    /// Nothing to do now: the round is over, or (for a round ahead) it waits for the save
    /// before it to be reported.
    Idle,
}

#[derive(Default)]
struct Round {
    /// An empty delivery that only asks the peer which store it is.
    probe: bool,
    /// What is still to deliver, front first; the batch handed out is not in it.
    queue: VecDeque<Vec<CloudEvent>>,
    /// A batch is with the caller and its answer is awaited.
    out: bool,
    /// Its `Save` was handed out and is awaited.
    saving: bool,
    /// Where the cursor goes once everything is delivered (`None` when re-delivering dead
    /// letters, which does not move it).
    up_to: Option<u64>,
    letters: Vec<DeadLetter>,
    /// Ids the peer took: for a re-delivery, the dead letters to forget.
    carried: Vec<String>,
    /// What the `Save` carried, counted for the status once it is stored.
    saved_carried: u64,
    saved_letters: u64,
    has_more: bool,
    log_last: u64,
}

pub struct PushLink {
    core: LinkCore,
    /// Idle rounds since the peer's store identity was last confirmed by an answer (counted,
    /// not timed: a clock that jumps must not silence the probe).
    idle_since_confirmed: u32,
    round: Option<Round>,
    /// The next page's round, begun while `round`'s save is out; its own save waits for that
    /// one to be reported. Boxed: most links never go ahead.
    ahead: Option<Box<Round>>,
    /// Why the round ahead failed: the link backs off once the save before it is reported,
    /// not earlier, so that save's outcome is still counted.
    ahead_failed: Option<String>,
    /// The simulator's self-test only (see [`PushLink::skipping_ahead_on_failed_save`]).
    #[cfg(feature = "sim-self-test")]
    skips_ahead_on_failed_save: bool,
}

impl PushLink {
    pub fn new(spec: LinkSpec, cursor: LinkCursor, now: Timestamp, seed: u64) -> Self {
        PushLink {
            core: LinkCore::new(spec, cursor, now, seed),
            idle_since_confirmed: PROBE_AFTER_IDLE_ROUNDS,
            round: None,
            ahead: None,
            ahead_failed: None,
            #[cfg(feature = "sim-self-test")]
            skips_ahead_on_failed_save: false,
        }
    }

    /// A deliberately broken link, for the simulator to show that it catches the mistake
    /// pipelining invites: after a failed save it carries on from where the round ahead
    /// reads up to, although that round's page may never have reached the peer. Only with
    /// the `sim-self-test` feature, which only concord-sim's own tests enable.
    #[cfg(feature = "sim-self-test")]
    pub fn skipping_ahead_on_failed_save(mut self) -> Self {
        self.skips_ahead_on_failed_save = true;
        self
    }

    /// Whether an idle link should ask its peer which store it has: after ten idle rounds
    /// (and first thing after a start), it delivers nothing, only to hear the identity, so
    /// that a receiver that was wiped is noticed even when there is nothing new to push.
    fn probe_due(&mut self) -> bool {
        self.idle_since_confirmed = self.idle_since_confirmed.saturating_add(1);
        self.core.peer_store.is_some() && self.idle_since_confirmed > PROBE_AFTER_IDLE_ROUNDS
    }

    /// Starts a round if one is due: the first batch to deliver, or the cursor to move past
    /// events this link does not carry.
    pub fn start(&mut self, now: Timestamp, log: &dyn EventReader) -> Result<PushStep, StoreError> {
        if !self.core.may_start(now) {
            return Ok(PushStep::Idle);
        }
        let page = match self.read_after(self.core.cursor, log) {
            Ok(page) => page,
            Err(error) => {
                self.core.schedule.begin();
                self.fail(now, &format!("reading the local log failed: {error}"));
                return Err(error);
            }
        };
        self.core.status.pending = Some(page.log_last.saturating_sub(self.core.cursor));
        self.core.schedule.begin();
        if page.up_to <= self.core.cursor {
            if self.probe_due() {
                self.round = Some(Round {
                    probe: true,
                    queue: VecDeque::from([Vec::new()]),
                    log_last: page.log_last,
                    ..Round::default()
                });
                return Ok(self.next_step(now));
            }
            self.core
                .schedule
                .succeeded(now, false, self.core.spec.interval_ms);
            return Ok(PushStep::Idle);
        }
        self.round = Some(page.into_round());
        Ok(self.next_step(now))
    }

    /// While a round's [`PushStep::Save`] is out and its page said the log has more: begins
    /// the next page's round, reading after the page being saved, and hands out its first
    /// batch (`Idle` when there is nothing to go ahead with). Delivering it meanwhile is safe
    /// because that round's own save is held back until [`PushLink::saved`] reports the one
    /// before it. A failed read leaves the link as it was.
    pub fn ahead(&mut self, now: Timestamp, log: &dyn EventReader) -> Result<PushStep, StoreError> {
        let after = match &self.round {
            Some(Round {
                saving: true,
                has_more: true,
                up_to: Some(up_to),
                ..
            }) if self.ahead.is_none()
                && self.ahead_failed.is_none()
                && self.core.stopped.is_none() =>
            {
                *up_to
            }
            _ => return Ok(PushStep::Idle),
        };
        let page = self.read_after(after, log)?;
        if page.up_to <= after {
            return Ok(PushStep::Idle);
        }
        self.ahead = Some(Box::new(page.into_round()));
        Ok(self.next_step(now))
    }

    /// A page of the local log after `after`, as a round carries it.
    fn read_after(&self, after: u64, log: &dyn EventReader) -> Result<LogPage, StoreError> {
        let mut query = self.core.spec.query(after);
        query.max_bytes = Some(MAX_BATCH_BYTES);
        let page = log.read(&query)?;
        Ok(LogPage {
            events: page.events.into_iter().map(|e| e.event).collect(),
            up_to: page.next_after,
            has_more: page.has_more,
            log_last: log.last_sequence()?,
        })
    }

    /// An operator's re-delivery of this link's dead letters (their events, as stored). Runs
    /// whatever the schedule says; the cursor does not move. Not while a save is out (a
    /// driver runs it between rounds).
    pub fn retry(&mut self, now: Timestamp, events: Vec<CloudEvent>) -> PushStep {
        self.core.schedule.begin();
        self.forget_ahead();
        self.round = Some(Round {
            // Re-delivered one by one: each was refused on its own before.
            queue: events.into_iter().map(|event| vec![event]).collect(),
            log_last: self.core.cursor,
            ..Round::default()
        });
        self.next_step(now)
    }

    /// The peer answered the batch last handed out (or not); `batch` is that batch, back.
    pub fn delivered(
        &mut self,
        now: Timestamp,
        batch: Batch,
        result: Result<Delivered, DeliveryError>,
    ) -> PushStep {
        let is_ahead = self.ahead.is_some();
        // The round that hands out deliveries now: the one ahead while there is one.
        let Some(round) = self
            .ahead
            .as_deref_mut()
            .or(self.round.as_mut())
            .filter(|r| r.out)
        else {
            // An answer nobody waits for any more (the round failed or was reset meanwhile).
            return PushStep::Idle;
        };
        round.out = false;
        let batch = batch.0;
        let letter = |event: &CloudEvent, reason: String| DeadLetter {
            id: event.id.to_string(),
            reason,
            at: now.to_rfc3339(),
            event: Some(event_text(event)),
        };
        match result {
            Ok(delivered) => {
                if let (Some(known), Some(now_id)) = (&self.core.peer_store, &delivered.store_id) {
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
                for event in &batch {
                    match delivered.refused.iter().find(|(id, _)| **id == *event.id) {
                        Some((_, reason)) => round.letters.push(letter(event, reason.clone())),
                        None => round.carried.push(event.id.to_string()),
                    }
                }
                if delivered.store_id.is_some() {
                    self.core.peer_store = delivered.store_id;
                    self.idle_since_confirmed = 0;
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
            Err(DeliveryError::Transport(error)) if is_ahead => {
                // The round before is still being saved: its outcome decides first.
                self.ahead = None;
                self.ahead_failed = Some(error.to_string());
                return PushStep::Idle;
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
        let is_ahead = self.ahead.is_some();
        let Some(round) = self.ahead.as_deref_mut().or(self.round.as_mut()) else {
            return PushStep::Idle;
        };
        if round.out || round.saving {
            return PushStep::Idle;
        }
        if let Some(batch) = round.queue.pop_front() {
            round.out = true;
            return PushStep::Deliver(Batch(batch));
        }
        if is_ahead {
            // Delivered; its save waits for the one before it (see `saved`).
            return PushStep::Idle;
        }
        if round.probe {
            // The peer answered with the store it had: nothing to store.
            self.round = None;
            self.core.status.succeeded(now);
            self.core
                .schedule
                .succeeded(now, false, self.core.spec.interval_ms);
            return PushStep::Idle;
        }
        round.saving = true;
        round.saved_carried = round.carried.len() as u64;
        round.saved_letters = round.letters.len() as u64;
        let retrying = round.up_to.is_none();
        PushStep::Save(LinkUpdate {
            link: self.core.spec.name.clone(),
            cursor: round.up_to.map(|position| LinkCursor {
                position,
                peer_store: self.core.peer_store.clone(),
            }),
            dead_letters: std::mem::take(&mut round.letters),
            resolved: if retrying {
                std::mem::take(&mut round.carried)
            } else {
                Vec::new()
            },
        })
    }

    /// The update returned by [`PushStep::Save`] was stored (or not). After a success, the
    /// round ahead (if any) goes on: its save when it is delivered, or `Idle` while its
    /// delivery is still out.
    pub fn saved(&mut self, now: Timestamp, result: Result<(), &HostError>) -> PushStep {
        if !self.round.as_ref().is_some_and(|round| round.saving) {
            return PushStep::Idle;
        }
        let round = self.round.take().expect("checked above");
        let ahead = self.ahead.take();
        let ahead_failed = self.ahead_failed.take();
        if let Err(error) = result {
            #[cfg(feature = "sim-self-test")]
            if self.skips_ahead_on_failed_save {
                if let Some(up_to) = ahead.and_then(|ahead| ahead.up_to) {
                    self.core.cursor = up_to;
                }
            }
            self.fail(now, &format!("storing the cursor failed: {error}"));
            return PushStep::Idle;
        }
        let core = &mut self.core;
        core.moved(round.up_to.unwrap_or(core.cursor), core.peer_store.clone());
        if round.up_to.is_some() {
            core.status.pending = Some(round.log_last.saturating_sub(core.cursor));
        }
        self.core.status.carried += round.saved_carried;
        self.core.status.rejected += round.saved_letters;
        if self.core.stopped.is_some() {
            // Stopped by an answer to the round ahead: this save still counted.
            return PushStep::Idle;
        }
        self.core.status.succeeded(now);
        if let Some(error) = ahead_failed {
            self.fail(now, &error);
            return PushStep::Idle;
        }
        match ahead {
            Some(next) => {
                // A success like any other (failures forgiven), but the link stays busy.
                self.core
                    .schedule
                    .succeeded(now, true, self.core.spec.interval_ms);
                self.core.schedule.begin();
                self.round = Some(*next);
                self.next_step(now)
            }
            None => {
                self.core
                    .schedule
                    .succeeded(now, round.has_more, self.core.spec.interval_ms);
                PushStep::Idle
            }
        }
    }

    /// Stops until a reset. A save already out stays awaited, so that when it is reported the
    /// cursor it stored is the link's too.
    fn stop(&mut self, now: Timestamp, reason: String) {
        self.forget_ahead();
        if !self.round.as_ref().is_some_and(|round| round.saving) {
            self.round = None;
        }
        self.core.stop(now, reason);
    }

    fn fail(&mut self, now: Timestamp, error: &str) {
        self.round = None;
        self.forget_ahead();
        self.core.fail(now, error);
    }

    /// Drops the round ahead and the failure it may have met.
    fn forget_ahead(&mut self) {
        self.ahead = None;
        self.ahead_failed = None;
    }
}

impl SyncLink for PushLink {
    fn core(&self) -> &LinkCore {
        &self.core
    }

    fn core_mut(&mut self) -> &mut LinkCore {
        &mut self.core
    }

    /// A save that was already handed to the writer may still land; the next round then
    /// delivers again what the peer already has, which it takes as duplicates.
    fn interrupted(&mut self, now: Timestamp) {
        if self.core.schedule.in_flight() {
            self.fail(now, crate::status::INTERRUPTED);
        }
    }

    fn reset(&mut self, now: Timestamp) -> LinkUpdate {
        self.round = None;
        self.forget_ahead();
        self.core.reset(now)
    }
}

/// A page of the local log, read for a round.
struct LogPage {
    events: Vec<CloudEvent>,
    up_to: u64,
    has_more: bool,
    log_last: u64,
}

impl LogPage {
    fn into_round(self) -> Round {
        let mut queue = VecDeque::new();
        if !self.events.is_empty() {
            queue.push_back(self.events);
        }
        Round {
            queue,
            up_to: Some(self.up_to),
            has_more: self.has_more,
            log_last: self.log_last,
            ..Round::default()
        }
    }
}

/// An event's JSON, as a dead letter keeps it.
fn event_text(event: &CloudEvent) -> String {
    let mut out = Vec::with_capacity(event.encoded_len());
    event.write_json(&mut out, None);
    String::from_utf8(out).expect("event JSON is UTF-8")
}
