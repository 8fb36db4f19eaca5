//! Deterministic simulation: the real service cores and the real link state machines, run on
//! one thread under a seeded random schedule, with simulated time, a simulated network and
//! simulated crashes (after TigerBeetle's VOPR and FoundationDB's simulator).
//!
//! The network delays, reorders, duplicates and drops messages; a relay (a service whose
//! state comes from its peers) may turn byzantine and serve forged copies of what it
//! relays, which receivers that verify signatures must refuse; pairs of services are
//! partitioned and healed; a link's commit (a pulled page applied, a pushed page's cursor
//! saved) takes time or fails, and meanwhile the link's next page is already fetched or
//! delivered, as a node pipelines them; services crash (their memory — model, links,
//! in-flight work, commits not yet done — is lost, their store is kept) and restart by
//! replaying their store. A scenario supplies the
//! services, their links, a workload of commands and domain-level checks. At the end the
//! simulator heals everything, lets the links quiesce and checks the invariants of
//! [`check`]. Every run is a pure function of its seed, so a failing seed replays exactly.
//!
//! # Layout
//! - [`service`]: the type-erased view of a service the simulator drives ([`SimService`]).
//! - [`network`]: messages in flight and the faults applied to them.
//! - [`world`]: the simulation loop ([`simulate`]), nodes, links, crashes, partitions.
//! - [`check`]: invariants every scenario must keep: partial synchronisation, no lost
//!   acknowledgement, exact deduplication, live state equal to replayed state, links that
//!   skipped nothing.

pub mod check;
pub mod network;
pub mod service;
pub mod world;

pub use service::{deployment_signing, hosted, hosted_signing, Opener, SimService};
pub use world::{simulate, Faults, NodeSpec, Outcome, Scenario, SimConfig};
