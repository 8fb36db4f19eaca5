//! A push link: the service's own log is its outbox.
//!
//! A round is: [`PushLink::start`] reads a page of the local log after the cursor → the
//! caller delivers the [`PushBatch`] to the peer → [`PushLink::delivered`] → the caller stores
//! the returned cursor durably → [`PushLink::saved`]. Nothing is lost if the process dies in
//! between: the cursor only moves after the peer acknowledged, and the peer drops the events
//! it already has as duplicates.

use std::collections::HashSet;

use concord_core::event::{StoredEvent, Timestamp};
use concord_core::runtime::Cursor;
use concord_core::store::{EventReader, StoreError};

use crate::schedule::Schedule;
use crate::spec::LinkSpec;
use crate::status::{LinkStatus, Rejection};

/// Events to deliver to the peer; once acknowledged, the cursor moves to `up_to` (which may
/// lie beyond the last event when the page skipped events the link does not carry).
#[derive(Clone, Debug, PartialEq)]
pub struct PushBatch {
    pub events: Vec<StoredEvent>,
    pub up_to: u64,
}

/// Why a delivery did not succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryError {
    /// The peer could not be reached or failed; try again later.
    Unreachable(String),
    /// The peer refused the event at this index as malformed and stored nothing; that event
    /// is recorded as rejected and the rest are delivered again.
    Refused { index: usize, reason: String },
}

struct InFlight {
    batch: PushBatch,
    has_more: bool,
    log_last: u64,
}

pub struct PushLink {
    spec: LinkSpec,
    cursor: u64,
    schedule: Schedule,
    status: LinkStatus,
    in_flight: Option<InFlight>,
    /// Events the peer refused: never offered again.
    refused: HashSet<String>,
}

impl PushLink {
    pub fn new(spec: LinkSpec, cursor: u64, now: Timestamp, seed: u64) -> Self {
        PushLink {
            status: LinkStatus::new(&spec, cursor),
            spec,
            cursor,
            schedule: Schedule::new(now, seed),
            in_flight: None,
            refused: HashSet::new(),
        }
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

    pub fn due_at(&self) -> Option<Timestamp> {
        self.schedule.due_at()
    }

    /// Starts a round if one is due: the batch to deliver (`None`: nothing due or nothing new).
    pub fn start(
        &mut self,
        now: Timestamp,
        log: &dyn EventReader,
    ) -> Result<Option<PushBatch>, StoreError> {
        if !self.schedule.is_due(now) {
            return Ok(None);
        }
        let page = match log.read(&self.spec.query(self.cursor)) {
            Ok(page) => page,
            Err(error) => {
                self.schedule.begin();
                self.fail(now, &format!("reading the local log failed: {error}"));
                return Err(error);
            }
        };
        let log_last = log.last_sequence()?;
        self.status.pending = Some(log_last.saturating_sub(self.cursor));
        if page.next_after <= self.cursor {
            self.schedule.begin();
            self.schedule.succeeded(now, false, self.spec.interval_ms);
            return Ok(None);
        }
        let events: Vec<StoredEvent> = page
            .events
            .into_iter()
            .filter(|e| !self.refused.contains(&*e.event.id))
            .collect();
        let batch = PushBatch {
            events,
            up_to: page.next_after,
        };
        self.schedule.begin();
        self.in_flight = Some(InFlight {
            batch: batch.clone(),
            has_more: page.has_more,
            log_last,
        });
        Ok(Some(batch))
    }

    /// The peer answered (or not). On success, the cursor the caller must now store.
    pub fn delivered(
        &mut self,
        now: Timestamp,
        result: Result<(), DeliveryError>,
    ) -> Option<Cursor> {
        let batch = &self.in_flight.as_ref()?.batch;
        match result {
            Ok(()) => Some(Cursor {
                link: self.spec.name.clone(),
                position: batch.up_to,
            }),
            Err(DeliveryError::Unreachable(error)) => {
                self.fail(now, &error);
                None
            }
            Err(DeliveryError::Refused { index, reason }) => {
                match batch.events.get(index) {
                    Some(refused) => {
                        let id = refused.event.id.to_string();
                        self.refused.insert(id.clone());
                        self.status.reject([Rejection { id, reason }]);
                        self.in_flight = None;
                        // Deliver the rest straight away.
                        self.schedule.succeeded(now, true, self.spec.interval_ms);
                    }
                    None => self.fail(now, &format!("the peer refused the batch: {reason}")),
                }
                None
            }
        }
    }

    /// The cursor returned by [`PushLink::delivered`] was stored (or not).
    pub fn saved(&mut self, now: Timestamp, result: Result<(), String>) {
        let Some(InFlight {
            batch,
            has_more,
            log_last,
        }) = self.in_flight.take()
        else {
            return;
        };
        match result {
            Ok(()) => {
                self.cursor = batch.up_to;
                self.status.cursor = self.cursor;
                self.status.carried += batch.events.len() as u64;
                self.status.pending = Some(log_last.saturating_sub(self.cursor));
                self.status.succeeded(now);
                self.schedule
                    .succeeded(now, has_more, self.spec.interval_ms);
            }
            Err(error) => self.fail(now, &format!("storing the cursor failed: {error}")),
        }
    }

    fn fail(&mut self, now: Timestamp, error: &str) {
        self.in_flight = None;
        self.schedule.failed(now);
        self.status.failed(now, error, self.schedule.failures());
    }
}
