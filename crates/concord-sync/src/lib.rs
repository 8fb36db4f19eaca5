//! Synchronisation links, as sans-IO state machines.
//!
//! A *pull* link reads a peer's log (getEvents) after its cursor and hands each page to the
//! local service's one path together with the new cursor, so the cursor is durable exactly
//! when the events it covers are. A *push* link reads the service's own log after its cursor
//! (the log is the outbox), delivers the page to the peer (putEvents), and advances its cursor
//! once the peer acknowledged. Delivery is at least once both ways; the receiver's exact
//! deduplication by id makes it effectively once.
//!
//! Nothing here does I/O or reads a clock: callers pass the time in, perform the request a
//! link asks for (over HTTP, NATS, or a simulated network) and report the result back. The
//! async runner and the deterministic simulator drive the very same code.
//!
//! # Layout
//! - [`spec`]: a link's configuration ([`LinkSpec`]); a domain declares its topology as a
//!   list of them.
//! - [`pull`] and [`push`]: the two state machines; [`link`]: what they share (spec, cursor,
//!   schedule, status) and how a driver reads either ([`SyncLink`]).
//! - [`schedule`]: when a link runs next — its interval, and exponential backoff with jitter.
//! - [`scopes`]: the read scope each peer gets by default, derived from the links it runs.
//! - [`status`]: what `GET /api/sync` shows per link, and the typed errors of a round.
//!
//! Both kinds of link keep what they cannot carry as durable dead letters (in the same commit
//! as their cursor), and stop — visibly, until an operator resets them — when the peer's
//! store turns out not to be the one their cursor belongs to.

pub mod link;
pub mod pull;
pub mod push;
pub mod schedule;
pub mod scopes;
pub mod spec;
pub mod status;

pub use concord_core::wire::{Delivered, Page, Unreadable};
pub use link::{LinkCore, SyncLink};
pub use pull::{PageRequest, PullLink, PullStep};
pub use push::{Batch, DeliveryError, PushLink, PushStep};
pub use scopes::read_scopes;
pub use spec::{Direction, LinkSpec, TransportKind};
pub use status::{LinkState, LinkStatus, Rejection, TransportError};

/// A link's way of expressing how long to wait, in milliseconds.
pub type Millis = u64;
