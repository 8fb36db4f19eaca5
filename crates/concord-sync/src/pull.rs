//! A pull link: pages of a peer's log, applied locally with the cursor in the same commit.
//!
//! A round is: [`PullLink::start`] → the caller fetches the [`PageRequest`] from the peer →
//! [`PullLink::fetched`] → the caller hands the [`PullStep`]'s events and link update to the
//! local service's one path (events refused there become dead letters of the link in the same
//! commit) → [`PullLink::applied`]. If the process dies anywhere in between, the durable
//! cursor is still the old one and the page is fetched again; the events that were already
//! applied come back as duplicates.
//!
//! Rounds may overlap by one: while a step commits, a driver may already fetch the page after
//! it ([`PullLink::prefetch`]), so a long catch-up waits for the network and the disk at once
//! rather than in turn. The prefetched answer is handed to [`PullLink::fetched`] only once
//! [`PullLink::start`] asks for that same page — after the commit succeeded — so cursors still
//! commit in order, and a failed commit simply discards it (fetching has no effect on the
//! peer, so nothing needs undoing). A push link overlaps its rounds likewise
//! ([`crate::push`]).
//!
//! The link remembers which store its cursor belongs to. A peer whose store has another
//! identity, or whose log ends before the cursor, was wiped, replaced or restored from a
//! backup: carrying on would silently skip its new events (its sequence 1..cursor), so the
//! link stops, visibly, until an operator resets its cursor ([`PullLink::reset`]); re-reading
//! from the start is safe because applying is idempotent.

use concord_core::event::{CloudEvent, Timestamp};
use concord_core::host::HostError;
use concord_core::runtime::PutReport;
use concord_core::store::{DeadLetter, LinkCursor, LinkUpdate, ReadQuery};
use concord_core::wire::Page;

use crate::schedule::Schedule;
use crate::spec::LinkSpec;
use crate::status::{LinkStatus, TransportError};

/// What to fetch from the peer: getEvents with these parameters.
pub type PageRequest = ReadQuery;

/// What the caller must apply locally: these events, with this link update (cursor and dead
/// letters), in one commit.
#[derive(Clone, Debug, PartialEq)]
pub struct PullStep {
    pub events: Vec<CloudEvent>,
    pub link: LinkUpdate,
}

/// What a page said beyond its events, kept until its commit is known to have happened.
struct Applying {
    cursor: LinkCursor,
    has_more: bool,
    last_sequence: Option<u64>,
    unreadable: u64,
}

pub struct PullLink {
    spec: LinkSpec,
    cursor: u64,
    peer_store: Option<String>,
    /// Why the link stopped itself, until an operator resets it.
    stopped: Option<String>,
    schedule: Schedule,
    status: LinkStatus,
    applying: Option<Applying>,
}

impl PullLink {
    /// A link resuming from its durable cursor.
    pub fn new(spec: LinkSpec, cursor: LinkCursor, now: Timestamp, seed: u64) -> Self {
        let mut status = LinkStatus::new(&spec, cursor.position);
        status.peer_store = cursor.peer_store.clone();
        PullLink {
            status,
            spec,
            cursor: cursor.position,
            peer_store: cursor.peer_store,
            stopped: None,
            schedule: Schedule::new(now, seed),
            applying: None,
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

    /// Starts a round if one is due: the page to fetch.
    pub fn start(&mut self, now: Timestamp) -> Option<PageRequest> {
        if self.stopped.is_some() || !self.schedule.is_due(now) {
            return None;
        }
        self.schedule.begin();
        Some(self.spec.query(self.cursor))
    }

    /// While a step is being applied: the page the next round will ask for if the commit
    /// succeeds (`None` when the peer said there is no more, or the link stopped). Its answer
    /// may be fetched meanwhile; a driver hands it to [`PullLink::fetched`] only after
    /// [`PullLink::start`] returned this same request.
    pub fn prefetch(&self) -> Option<PageRequest> {
        let applying = self.applying.as_ref()?;
        (applying.has_more && self.stopped.is_none())
            .then(|| self.spec.query(applying.cursor.position))
    }

    /// The peer answered (or not). On success, the events to apply with the link update.
    pub fn fetched(
        &mut self,
        now: Timestamp,
        page: Result<Page, TransportError>,
    ) -> Option<PullStep> {
        let page = match page {
            Ok(page) => page,
            Err(error) => {
                self.fail(now, &error.to_string());
                return None;
            }
        };
        if let Some(reason) = self.foreign(&page) {
            self.stop(now, reason);
            return None;
        }
        let peer_store = page.store_id.clone().or_else(|| self.peer_store.clone());
        let cursor = LinkCursor {
            position: page.next_after,
            peer_store,
        };
        let dead_letters: Vec<DeadLetter> = page
            .unreadable
            .iter()
            .enumerate()
            .map(|(i, unreadable)| DeadLetter {
                id: unreadable.id.clone().unwrap_or_else(|| {
                    format!(
                        "(no id: item {i} of the page after {} of {})",
                        self.cursor, self.spec.peer
                    )
                }),
                reason: format!("unreadable: {}", unreadable.reason),
                at: now.to_rfc3339(),
                event: Some(unreadable.text.clone()),
            })
            .collect();
        self.applying = Some(Applying {
            cursor: cursor.clone(),
            has_more: page.has_more,
            last_sequence: page.last_sequence,
            unreadable: dead_letters.len() as u64,
        });
        Some(PullStep {
            events: page.events,
            link: LinkUpdate {
                link: self.spec.name.clone(),
                cursor: Some(cursor),
                dead_letters,
                resolved: Vec::new(),
            },
        })
    }

    /// Why a page comes from a store other than the one the cursor belongs to, if it does.
    fn foreign(&self, page: &Page) -> Option<String> {
        let reset = "it was wiped, replaced or restored from a backup; reset this link's \
                     cursor to read it from the start";
        if let (Some(known), Some(now)) = (&self.peer_store, &page.store_id) {
            if known != now {
                return Some(format!(
                    "the peer's store is not the one this link's cursor {} belongs to \
                     (store {known} before, {now} now): {reset}",
                    self.cursor
                ));
            }
        }
        // A getEvents `after` beyond the end of a log is answered with an empty page at that
        // `after`: only the log's end (or a `next_after` behind the cursor) tells.
        let peer_end = page.last_sequence.unwrap_or(page.next_after);
        if peer_end < self.cursor || page.next_after < self.cursor {
            return Some(format!(
                "the peer's log ends at {peer_end}, before this link's cursor {}: {reset}",
                self.cursor
            ));
        }
        None
    }

    /// The local commit of the step finished (or failed).
    pub fn applied(&mut self, now: Timestamp, outcome: Result<&PutReport, &HostError>) {
        let Some(applying) = self.applying.take() else {
            return;
        };
        match outcome {
            Err(error) => self.fail(now, &format!("applying locally failed: {error}")),
            Ok(report) => {
                self.cursor = applying.cursor.position;
                self.peer_store = applying.cursor.peer_store;
                self.status.cursor = self.cursor;
                self.status.peer_store = self.peer_store.clone();
                self.status.carried += report.accepted() as u64;
                self.status.rejected +=
                    applying.unreadable + (report.rejected() + report.conflicts()) as u64;
                // Peers that say where their log ends give the exact lag; for the others, a
                // page that was the last one means the link is caught up.
                self.status.pending = applying
                    .last_sequence
                    .map(|last| last.saturating_sub(self.cursor))
                    .or((!applying.has_more).then_some(0));
                self.status.succeeded(now);
                self.schedule
                    .succeeded(now, applying.has_more, self.spec.interval_ms);
            }
        }
    }

    /// An operator's reset: forget the cursor and the peer store, and run again from the
    /// start. The caller commits the returned update; everything already applied comes back
    /// as duplicates.
    pub fn reset(&mut self, now: Timestamp) -> LinkUpdate {
        self.cursor = 0;
        self.peer_store = None;
        self.stopped = None;
        self.applying = None;
        self.status.reset();
        self.schedule.reset(now);
        LinkUpdate::cursor(self.spec.name.clone(), 0)
    }

    fn stop(&mut self, now: Timestamp, reason: String) {
        self.applying = None;
        self.schedule.stop();
        self.status.stopped(now, &reason);
        self.stopped = Some(reason);
    }

    /// The driver dropped the round midway (a cancelled request): no answer will come. The
    /// round counts as failed and the link backs off; a commit that was already handed to
    /// the writer may still land, and the next round then reads it again as duplicates.
    pub fn interrupted(&mut self, now: Timestamp) {
        if self.schedule.in_flight() {
            self.fail(now, crate::status::INTERRUPTED);
        }
    }

    fn fail(&mut self, now: Timestamp, error: &str) {
        self.applying = None;
        self.schedule.failed(now);
        self.status.failed(now, error, self.schedule.failures());
    }
}
