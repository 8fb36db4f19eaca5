//! What a link reports about itself: the shape of one entry of `GET /api/sync`, and the
//! typed errors its rounds fail with.

use concord_core::event::Timestamp;
use concord_core::store::DeadLetter;
use serde::Serialize;

use crate::spec::{Direction, LinkSpec, TransportKind};

/// Why a request a link made to its peer failed. The kinds are told apart because an
/// operator acts differently on each: wait for a peer that is down, fix a credential, fix
/// a peer that does not speak the protocol.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The peer could not be reached, did not answer in time, or failed (5xx).
    #[error("{0}")]
    Unreachable(String),
    /// The peer refused this service's credential (401) or its scope (403); the text says
    /// which peer and why ("not authorized by …").
    #[error("{0}")]
    Unauthorized(String),
    /// The peer answered, but not with the protocol's document.
    #[error("the peer's answer is not the protocol's: {0}")]
    Malformed(String),
}

/// A link's error when its driver dropped a round midway (see `PullLink::interrupted`).
pub(crate) const INTERRUPTED: &str =
    "the round was interrupted before it finished (its request was cancelled); retrying";

/// How a link is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// The last round succeeded (or none has run yet).
    Ok,
    /// Rounds fail and are retried with backoff.
    Failing,
    /// The link stopped itself and waits for an operator: the peer's store is not the one
    /// its cursor belongs to (`POST /api/sync/links/NAME/reset` resumes it).
    Stopped,
}

/// An event a link could not carry, as the status shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub id: String,
    pub reason: String,
    /// When it was refused (RFC 3339).
    pub at: String,
}

impl From<&DeadLetter> for Rejection {
    fn from(letter: &DeadLetter) -> Self {
        Rejection {
            id: letter.id.clone(),
            reason: letter.reason.clone(),
            at: letter.at.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkStatus {
    pub name: String,
    pub peer: String,
    pub url: String,
    pub transport: TransportKind,
    pub direction: Direction,
    pub types: Vec<String>,
    /// The data filters in query form, e.g. `["data.group=se-group"]`.
    pub filter: Vec<String>,
    pub state: LinkState,
    pub cursor: u64,
    /// The identity of the peer store the cursor belongs to, once the peer told.
    pub peer_store: Option<String>,
    pub last_success: Option<String>,
    pub last_error: Option<String>,
    /// Log positions after the cursor not yet examined: an upper bound on the events still
    /// to carry (`None` until the first round tells).
    pub pending: Option<u64>,
    /// How many events this link holds as rejected (durable dead letters).
    pub rejected: u64,
    /// The oldest of them, with their reasons.
    pub recent_rejections: Vec<Rejection>,
    /// Events this link has carried (applied or delivered) since the service started.
    pub carried: u64,
    /// Consecutive failed rounds (0 when healthy).
    pub failures: u32,
}

impl LinkStatus {
    /// After an operator's reset: at the start of the log, of no known peer store, healthy
    /// until a round says otherwise.
    pub fn reset(&mut self) {
        self.cursor = 0;
        self.peer_store = None;
        self.pending = None;
        self.state = LinkState::Ok;
        self.last_error = None;
    }

    pub fn new(spec: &LinkSpec, cursor: u64) -> Self {
        LinkStatus {
            name: spec.name.clone(),
            peer: spec.peer.clone(),
            url: spec.url.clone(),
            transport: spec.transport,
            direction: spec.direction,
            types: spec.types.clone(),
            filter: spec.filter.iter().map(ToString::to_string).collect(),
            state: LinkState::Ok,
            cursor,
            peer_store: None,
            last_success: None,
            last_error: None,
            pending: None,
            rejected: 0,
            recent_rejections: Vec::new(),
            carried: 0,
            failures: 0,
        }
    }

    /// The durable dead letters, as the store holds them.
    pub fn with_dead_letters(mut self, count: u64, oldest: &[DeadLetter]) -> Self {
        self.rejected = count;
        self.recent_rejections = oldest.iter().map(Rejection::from).collect();
        self
    }

    pub(crate) fn succeeded(&mut self, now: Timestamp) {
        self.last_success = Some(now.to_rfc3339());
        self.last_error = None;
        self.failures = 0;
        self.state = LinkState::Ok;
    }

    pub(crate) fn failed(&mut self, now: Timestamp, error: &str, failures: u32) {
        self.last_error = Some(format!("{}: {error}", now.to_rfc3339()));
        self.failures = failures;
        self.state = LinkState::Failing;
    }

    pub(crate) fn stopped(&mut self, now: Timestamp, reason: &str) {
        self.last_error = Some(format!("{}: {reason}", now.to_rfc3339()));
        self.state = LinkState::Stopped;
    }
}
