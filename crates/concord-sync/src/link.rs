//! What every link keeps, pull or push, written once: its spec, its durable cursor and the
//! store that cursor belongs to, whether it stopped itself until an operator resets it, its
//! schedule and its status. The two links differ only in how a round runs.
//!
//! Drivers (the node's link tasks, the simulator) hold either kind and read both through
//! [`SyncLink`].

use concord_core::event::Timestamp;
use concord_core::store::{LinkCursor, LinkUpdate};

use crate::schedule::Schedule;
use crate::spec::LinkSpec;
use crate::status::LinkStatus;

/// The state both kinds of link share. Only the links change it; drivers read it through
/// [`SyncLink`].
pub struct LinkCore {
    pub(crate) spec: LinkSpec,
    /// The durable cursor: what the last stored round reached.
    pub(crate) cursor: u64,
    /// The store the cursor belongs to, once the peer named it.
    pub(crate) peer_store: Option<String>,
    /// Why the link stopped itself, until an operator resets it.
    pub(crate) stopped: Option<String>,
    pub(crate) schedule: Schedule,
    pub(crate) status: LinkStatus,
}

impl LinkCore {
    pub(crate) fn new(spec: LinkSpec, cursor: LinkCursor, now: Timestamp, seed: u64) -> Self {
        let mut status = LinkStatus::new(&spec, cursor.position);
        status.peer_store = cursor.peer_store.clone();
        LinkCore {
            status,
            spec,
            cursor: cursor.position,
            peer_store: cursor.peer_store,
            stopped: None,
            schedule: Schedule::new(now, seed),
        }
    }

    /// Whether a round may begin now: not stopped, and due.
    pub(crate) fn may_start(&self, now: Timestamp) -> bool {
        self.stopped.is_none() && self.schedule.is_due(now)
    }

    /// A round's update was stored: the cursor (and the store it belongs to) is durable, and
    /// the status shows it.
    pub(crate) fn moved(&mut self, position: u64, peer_store: Option<String>) {
        self.cursor = position;
        self.peer_store = peer_store;
        self.status.cursor = position;
        self.status.peer_store = self.peer_store.clone();
    }

    /// Stops until a reset, with the reason the status shows.
    pub(crate) fn stop(&mut self, now: Timestamp, reason: String) {
        self.schedule.stop();
        self.status.stopped(now, &reason);
        self.stopped = Some(reason);
    }

    /// The round failed: back off, and show why.
    pub(crate) fn fail(&mut self, now: Timestamp, error: &str) {
        self.schedule.failed(now);
        self.status.failed(now, error, self.schedule.failures());
    }

    /// An operator's reset: forget the cursor and the peer's store, and run again from the
    /// start. The caller commits the returned update.
    pub(crate) fn reset(&mut self, now: Timestamp) -> LinkUpdate {
        self.cursor = 0;
        self.peer_store = None;
        self.stopped = None;
        self.status.reset();
        self.schedule.reset(now);
        LinkUpdate::cursor(self.spec.name.clone(), 0)
    }
}

/// What a driver reads of any link, pull or push, and tells it whatever its kind.
pub trait SyncLink {
    fn core(&self) -> &LinkCore;

    fn core_mut(&mut self) -> &mut LinkCore;

    /// The driver dropped the round midway (a cancelled request): no answer will come. The
    /// round counts as failed and the link backs off; a commit that was already handed to
    /// the writer may still land, and the next round then carries it again as duplicates.
    fn interrupted(&mut self, now: Timestamp);

    /// An operator's reset: forget the cursor and the peer's store, and run again from the
    /// start of the log, to whatever store the peer has now. The caller commits the returned
    /// update; what was carried before comes again as duplicates.
    fn reset(&mut self, now: Timestamp) -> LinkUpdate;

    fn spec(&self) -> &LinkSpec {
        &self.core().spec
    }

    fn status(&self) -> &LinkStatus {
        &self.core().status
    }

    /// The durable cursor.
    fn cursor(&self) -> u64 {
        self.core().cursor
    }

    fn schedule(&mut self) -> &mut Schedule {
        &mut self.core_mut().schedule
    }

    /// When the link wants to run next; `None` while a round is in flight or while stopped.
    fn due_at(&self) -> Option<Timestamp> {
        let core = self.core();
        if core.stopped.is_some() {
            return None;
        }
        core.schedule.due_at()
    }

    /// Whether the link stopped itself until an operator resets it.
    fn is_stopped(&self) -> bool {
        self.core().stopped.is_some()
    }
}
