//! Concord: a framework for event-sourced services that keep shared data in sync by
//! exchanging CloudEvents.
//!
//! It knows nothing about any particular domain. A domain supplies a [`Model`] (state
//! changed only by `apply(event)`), a [`Catalogue`] (which event types it understands and
//! how to validate their data) and commands; Concord supplies everything around it.
//!
//! # Layout
//!
//! - [`event`]: the CloudEvents 1.0 envelope, its parsing with precise errors, timestamps.
//! - [`store`]: the event-store traits ([`EventReader`], [`EventAppender`]), the promises
//!   every backend keeps (checked by `concord-testkit`'s conformance suite), the in-memory
//!   backend.
//! - [`model`]: the [`Model`] trait and the building blocks that make a model idempotent and
//!   order independent by construction ([`Lww`], [`Registry`], [`GrowSet`], [`Stamp`]).
//! - [`list`]: lists read a page at a time ([`ListQuery`]: `limit`, an opaque cursor, a
//!   search), by range scans over the model's ordered maps with a bounded walk.
//! - [`acceptance`]: which external events a service takes, by source, type and data.
//! - [`scope`]: what a caller may read or deliver ([`Scope`], a union of [`EventPattern`]s).
//! - [`runtime`]: the one apply path ([`ServiceCore`]), sans-IO: commands, external events
//!   and replay all change the model through it.
//! - [`sign`]: signed events (the CloudEvents Verifiability extension): a service's
//!   [`Signer`](sign::Signer) and the [`Verifier`](sign::Verifier) of the keys it trusts.
//! - [`service`]: how a domain declares a service: name, catalogue, acceptance, commands
//!   and queries as plain functions ([`ServiceSpec`], [`Api`]).
//! - [`ui`]: the service's GUI as plain data ([`View`]: sections, tables, forms naming its
//!   commands); the HTTP shell renders it.
//! - [`host`]: the thin threaded shell around a [`ServiceCore`]: one writer thread, group
//!   commit, replies to async or blocking callers.
//! - [`wire`]: the protocol's documents (getEvents pages, putEvents reports) and paths, as
//!   written by a server and read by a link, in one place.
//!
//! The requirements this crate exists to keep (R1 one path, R2 acceptance, R3 idempotence,
//! R4 not vetoable, R5 order independence, R6 durability) are described in ARCHITECTURE.md.

pub mod acceptance;
pub mod event;
pub mod host;
pub mod list;
pub mod model;
pub mod runtime;
pub mod scope;
pub mod service;
pub mod sign;
pub mod store;
pub mod ui;
pub mod wire;

pub use acceptance::{AcceptancePolicy, AcceptanceRule};
pub use event::{CloudEvent, DataFilter, EventData, EventError, Limits, StoredEvent, Timestamp};
pub use list::{ListError, ListQuery, Page, Pageable};
pub use model::{GrowSet, Lww, Model, Registry, Stamp};
pub use runtime::{Catalogue, CommandError, EventDraft, ServiceCore};
pub use scope::{EventPattern, Scope};
pub use service::{Api, Params, ServiceSpec};
pub use store::{
    AppendOutcome, DeadLetter, EventAppender, EventReader, EventStore, LinkCursor, LinkUpdate,
    ReadPage, ReadQuery, StoreError,
};
pub use ui::View;
