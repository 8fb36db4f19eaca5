//! Concord's NATS JetStream transport for sync links: an alternative to HTTP, chosen per link
//! with `transport = "nats"` and `url = "nats://host:4222"`.
//!
//! - A **push** link publishes the service's events to one stream (default `CONCORD`,
//!   subjects `concord.<source>.<type>`, file storage, a duplicate window) with
//!   `Nats-Msg-Id` = the event id; its cursor moves once JetStream acknowledged every event.
//! - A **pull** link consumes from the stream with a durable pull consumer (one per service
//!   and link) whose filter subject selects the link's source and type; it acknowledges a
//!   page only after the events and the link's cursor are durably applied.
//!
//! Delivery is at least once both ways; the receiving store's exact deduplication by id makes
//! it effectively once (within the duplicate window the server already drops re-publishes).
//!
//! # What to know before relying on it
//! - **Cursors are stream positions.** A NATS pull link's cursor is a stream sequence, not a
//!   position in a peer's log: a link that changes transport (or a stream that is deleted and
//!   created anew) needs a new link name. A stream that ends before a link's cursor is reported
//!   as an error, not skipped silently.
//! - **Topology.** Over HTTP a pull reads a peer's log; over NATS it reads the stream, so the
//!   events must be *published* by their producers (push links). [`over_nats`] rewrites an
//!   HTTP topology accordingly.
//! - **Durability of the server's acknowledgement.** JetStream acknowledges a publish once the
//!   message is written, and fsyncs file storage on a timer (2 minutes; nats-server 2.9 has no
//!   `sync_interval` setting, 2.10+ has `sync_interval: always`). A push link's cursor moves on
//!   that acknowledgement, so a power loss or OS crash of a single, unreplicated NATS server can
//!   lose recently published events *from the stream* (they stay in the producer's log; a
//!   `kill -9` of the server loses nothing). For production use a replicated stream or a server
//!   with `sync_interval: always`; to republish, give the push link a new name (idempotent).
//!   The consuming side is not affected: its cursor lives in its own store, and acknowledgements
//!   are sent only after a page is durably applied there.
//!
//! # Layout
//! - [`transport`]: [`NatsTransport`], the [`concord_node::Transport`] for NATS links.
//! - [`options`]: [`NatsOptions`] — stream, subject prefix, timeouts.
//! - [`names`]: subjects, filter subjects and consumer names.
//! - [`topology`]: [`over_nats`], the same flows as an HTTP topology, over a stream.
//!
//! # Wiring
//! ```no_run
//! # use std::sync::Arc;
//! # use concord_nats::{NatsOptions, NatsTransport};
//! # use concord_node::{NodeOptions, TransportSet};
//! # use concord_sync::TransportKind;
//! let nats = NatsTransport::new(NatsOptions::new("se-group")).unwrap();
//! let options = NodeOptions {
//!     transport: Some(Arc::new(
//!         TransportSet::default().with(TransportKind::Nats, Arc::new(nats)),
//!     )),
//!     ..NodeOptions::default()
//! };
//! ```

pub mod names;
pub mod options;
pub mod topology;
pub mod transport;

pub use options::{NatsOptions, DEFAULT_STREAM, DEFAULT_SUBJECT_PREFIX};
pub use topology::over_nats;
pub use transport::{reachable, NatsTransport};

use std::sync::Arc;

use concord_node::{Transport, TransportSet};
use concord_sync::TransportKind;

/// The transports of a node whose links may use HTTP or NATS: HTTP as usual, NATS with
/// `options` (named after the node's service).
pub fn transports(options: NatsOptions) -> Result<Arc<dyn Transport>, String> {
    let nats = NatsTransport::new(options)?;
    Ok(Arc::new(
        TransportSet::default().with(TransportKind::Nats, Arc::new(nats)),
    ))
}
