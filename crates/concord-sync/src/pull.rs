//! A pull link: pages of a peer's log, applied locally with the cursor in the same commit.
//!
//! A round is: [`PullLink::start`] → the caller fetches the [`PageRequest`] from the peer →
//! [`PullLink::fetched`] → the caller hands the [`PullStep`]'s events and cursor to the local
//! service's one path → [`PullLink::applied`]. If the process dies anywhere in between, the
//! durable cursor is still the old one and the page is fetched again; the events that were
//! already applied come back as duplicates.

use concord_core::event::{CloudEvent, Timestamp};
use concord_core::runtime::{Cursor, Disposition, PutReport};
use concord_core::store::ReadQuery;

use crate::schedule::Schedule;
use crate::spec::LinkSpec;
use crate::status::{LinkStatus, Rejection};

/// What to fetch from the peer: getEvents with these parameters.
pub type PageRequest = ReadQuery;

/// A page as the peer served it. Events that did not even parse as CloudEvents are listed
/// in `malformed` (with their id where one could be read) instead of failing the page.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub events: Vec<CloudEvent>,
    pub malformed: Vec<Rejection>,
    pub next_after: u64,
    pub has_more: bool,
    /// The peer's last sequence, if it said.
    pub peer_last_sequence: Option<u64>,
}

/// What the caller must apply locally: these events, with this cursor, in one commit.
#[derive(Clone, Debug, PartialEq)]
pub struct PullStep {
    pub events: Vec<CloudEvent>,
    pub cursor: Cursor,
}

pub struct PullLink {
    spec: LinkSpec,
    cursor: u64,
    schedule: Schedule,
    status: LinkStatus,
    /// The page being applied: what to record once the commit is known to have happened.
    applying: Option<Page>,
}

impl PullLink {
    /// A link resuming from its durable `cursor`.
    pub fn new(spec: LinkSpec, cursor: u64, now: Timestamp, seed: u64) -> Self {
        PullLink {
            status: LinkStatus::new(&spec, cursor),
            spec,
            cursor,
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

    pub fn due_at(&self) -> Option<Timestamp> {
        self.schedule.due_at()
    }

    /// Starts a round if one is due: the page to fetch.
    pub fn start(&mut self, now: Timestamp) -> Option<PageRequest> {
        if !self.schedule.is_due(now) {
            return None;
        }
        self.schedule.begin();
        Some(self.spec.query(self.cursor))
    }

    /// The peer answered (or not). On success, the events to apply with the new cursor.
    pub fn fetched(&mut self, now: Timestamp, page: Result<Page, String>) -> Option<PullStep> {
        match page {
            Err(error) => {
                self.fail(now, &error);
                None
            }
            Ok(page) if page.next_after < self.cursor => {
                // A peer whose log went backwards was replaced or restored from an old
                // backup; carrying on would silently skip its new events.
                let error = format!(
                    "the peer's log is behind this link's cursor ({} < {}); was it reset?",
                    page.next_after, self.cursor
                );
                self.fail(now, &error);
                None
            }
            Ok(page) => {
                let step = PullStep {
                    events: page.events.clone(),
                    cursor: Cursor {
                        link: self.spec.name.clone(),
                        position: page.next_after,
                    },
                };
                self.applying = Some(Page {
                    events: Vec::new(),
                    ..page
                });
                Some(step)
            }
        }
    }

    /// The local commit of the step finished (or failed).
    pub fn applied(&mut self, now: Timestamp, outcome: Result<&PutReport, String>) {
        let Some(page) = self.applying.take() else {
            return;
        };
        match outcome {
            Err(error) => self.fail(now, &format!("applying locally failed: {error}")),
            Ok(report) => {
                self.cursor = page.next_after;
                self.status.cursor = self.cursor;
                self.status.carried += report.accepted() as u64;
                // Peers that say where their log ends give the exact lag; for the others, a
                // page that was the last one means the link is caught up.
                self.status.pending = page
                    .peer_last_sequence
                    .map(|last| last.saturating_sub(self.cursor))
                    .or((!page.has_more).then_some(0));
                self.status.reject(page.malformed);
                self.status
                    .reject(report.results.iter().filter_map(|(id, d)| match d {
                        Disposition::Rejected(reason) => Some(Rejection {
                            id: id.clone(),
                            reason: reason.clone(),
                        }),
                        _ => None,
                    }));
                self.status.succeeded(now);
                self.schedule
                    .succeeded(now, page.has_more, self.spec.interval_ms);
            }
        }
    }

    fn fail(&mut self, now: Timestamp, error: &str) {
        self.applying = None;
        self.schedule.failed(now);
        self.status.failed(now, error, self.schedule.failures());
    }
}
