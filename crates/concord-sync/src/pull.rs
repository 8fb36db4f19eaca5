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

use crate::link::{LinkCore, SyncLink};
use crate::spec::LinkSpec;
use crate::status::TransportError;

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
    core: LinkCore,
    applying: Option<Applying>,
}

impl PullLink {
    /// A link resuming from its durable cursor.
    pub fn new(spec: LinkSpec, cursor: LinkCursor, now: Timestamp, seed: u64) -> Self {
        PullLink {
            core: LinkCore::new(spec, cursor, now, seed),
            applying: None,
        }
    }

    /// Starts a round if one is due: the page to fetch.
    pub fn start(&mut self, now: Timestamp) -> Option<PageRequest> {
        if !self.core.may_start(now) {
            return None;
        }
        self.core.schedule.begin();
        Some(self.core.spec.query(self.core.cursor))
    }

    /// While a step is being applied: the page the next round will ask for if the commit
    /// succeeds (`None` when the peer said there is no more, or the link stopped). Its answer
    /// may be fetched meanwhile; a driver hands it to [`PullLink::fetched`] only after
    /// [`PullLink::start`] returned this same request.
    pub fn prefetch(&self) -> Option<PageRequest> {
        let applying = self.applying.as_ref()?;
        (applying.has_more && self.core.stopped.is_none())
            .then(|| self.core.spec.query(applying.cursor.position))
    }

    /// The page after `page`, a page fetched ahead that the link has not taken yet: what to
    /// ask for meanwhile, two pages ahead of the commit (`None` when the peer said there is
    /// no more, or the link stopped). Like [`PullLink::prefetch`]'s, its answer is handed to
    /// [`PullLink::fetched`] only after [`PullLink::start`] returned this same request.
    pub fn after(&self, page: &Page) -> Option<PageRequest> {
        (page.has_more && self.core.stopped.is_none())
            .then(|| self.core.spec.query(page.next_after))
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
        let peer_store = page
            .store_id
            .clone()
            .or_else(|| self.core.peer_store.clone());
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
                        self.core.cursor, self.core.spec.peer
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
                link: self.core.spec.name.clone(),
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
        let cursor = self.core.cursor;
        if let (Some(known), Some(now)) = (&self.core.peer_store, &page.store_id) {
            if known != now {
                return Some(format!(
                    "the peer's store is not the one this link's cursor {cursor} belongs to \
                     (store {known} before, {now} now): {reset}"
                ));
            }
        }
        // A getEvents `after` beyond the end of a log is answered with an empty page at that
        // `after`: only the log's end (or a `next_after` behind the cursor) tells.
        let peer_end = page.last_sequence.unwrap_or(page.next_after);
        if peer_end < cursor || page.next_after < cursor {
            return Some(format!(
                "the peer's log ends at {peer_end}, before this link's cursor {cursor}: {reset}"
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
                let core = &mut self.core;
                core.moved(applying.cursor.position, applying.cursor.peer_store);
                core.status.carried += report.accepted() as u64;
                core.status.rejected +=
                    applying.unreadable + (report.rejected() + report.conflicts()) as u64;
                // Peers that say where their log ends give the exact lag; for the others, a
                // page that was the last one means the link is caught up.
                core.status.pending = applying
                    .last_sequence
                    .map(|last| last.saturating_sub(core.cursor))
                    .or((!applying.has_more).then_some(0));
                core.status.succeeded(now);
                core.schedule
                    .succeeded(now, applying.has_more, core.spec.interval_ms);
            }
        }
    }

    fn stop(&mut self, now: Timestamp, reason: String) {
        self.applying = None;
        self.core.stop(now, reason);
    }

    fn fail(&mut self, now: Timestamp, error: &str) {
        self.applying = None;
        self.core.fail(now, error);
    }
}

impl SyncLink for PullLink {
    fn core(&self) -> &LinkCore {
        &self.core
    }

    fn core_mut(&mut self) -> &mut LinkCore {
        &mut self.core
    }

    fn interrupted(&mut self, now: Timestamp) {
        if self.core.schedule.in_flight() {
            self.fail(now, crate::status::INTERRUPTED);
        }
    }

    fn reset(&mut self, now: Timestamp) -> LinkUpdate {
        self.applying = None;
        self.core.reset(now)
    }
}
