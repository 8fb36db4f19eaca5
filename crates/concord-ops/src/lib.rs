//! Operating Concord: what an operator does with a service's store and its links, apart from
//! running it.
//!
//! - [`export`]: a store's events as JSON Lines, in sequence order, exactly as stored.
//! - [`import`]: such a file appended to a store, idempotently (ids already stored with the
//!   same content are skipped; with other content they are conflicts, reported).
//! - [`digest`]: a fingerprint of a store's *set* of events, independent of order and
//!   sequence numbers: equal digests mean equal events, whatever store holds them.
//! - [`status`]: every link of a set of services in one table, and whether any fails.
//!
//! Everything here works on the store traits of `concord-core`, so it is the same for every
//! backend; the binary opens the store (SQLite file or PostgreSQL schema) and shows progress.

pub mod digest;
pub mod export;
pub mod import;
pub mod status;

pub use digest::{digest, Digest};
pub use export::{export, ExportError, ExportSummary};
pub use import::{check, import, ImportError, ImportReport};

/// How many events one read or one append handles: large enough that per-call costs vanish
/// (one transaction and one fsync per batch on import), small enough to stay a few MiB.
pub const BATCH: usize = 1000;
