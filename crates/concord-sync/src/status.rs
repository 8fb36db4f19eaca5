//! What a link reports about itself: the shape of one entry of `GET /api/sync`.

use concord_core::event::Timestamp;
use serde::Serialize;

use crate::spec::{Direction, LinkSpec};

/// How many rejected events a link keeps for inspection (the count keeps growing).
const RECENT_REJECTIONS: usize = 50;

/// An event a link could not apply (pull) or the peer refused (push). Recorded, not retried:
/// one bad event must not block the link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub id: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkStatus {
    pub name: String,
    pub peer: String,
    pub direction: Direction,
    pub types: Vec<String>,
    /// The data filters in query form, e.g. `["data.group=se-group"]`.
    pub filter: Vec<String>,
    pub cursor: u64,
    pub last_success: Option<String>,
    pub last_error: Option<String>,
    /// Log positions after the cursor not yet examined: an upper bound on the events still
    /// to carry (`None` until the first round tells).
    pub pending: Option<u64>,
    /// How many events this link has rejected since the service started.
    pub rejected: u64,
    pub recent_rejections: Vec<Rejection>,
    /// Events this link has carried (applied or delivered) since the service started.
    pub carried: u64,
    /// Consecutive failed rounds (0 when healthy).
    pub failures: u32,
}

impl LinkStatus {
    pub fn new(spec: &LinkSpec, cursor: u64) -> Self {
        LinkStatus {
            name: spec.name.clone(),
            peer: spec.peer.clone(),
            direction: spec.direction,
            types: spec.types.clone(),
            filter: spec.filter.iter().map(ToString::to_string).collect(),
            cursor,
            last_success: None,
            last_error: None,
            pending: None,
            rejected: 0,
            recent_rejections: Vec::new(),
            carried: 0,
            failures: 0,
        }
    }

    pub(crate) fn succeeded(&mut self, now: Timestamp) {
        self.last_success = Some(now.to_rfc3339());
        self.last_error = None;
        self.failures = 0;
    }

    pub(crate) fn failed(&mut self, now: Timestamp, error: &str, failures: u32) {
        self.last_error = Some(format!("{}: {error}", now.to_rfc3339()));
        self.failures = failures;
    }

    pub(crate) fn reject(&mut self, rejections: impl IntoIterator<Item = Rejection>) {
        for rejection in rejections {
            self.rejected += 1;
            if self.recent_rejections.len() == RECENT_REJECTIONS {
                self.recent_rejections.remove(0);
            }
            self.recent_rejections.push(rejection);
        }
    }
}
