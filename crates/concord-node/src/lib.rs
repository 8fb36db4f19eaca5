//! A running Concord service, wired together: store, host, HTTP server and sync links.
//!
//! The binary (and end-to-end tests) call [`start`] for each service; everything a service
//! needs at run time that is not domain logic lives here or in the crates it wires.
//!
//! # Layout
//! - [`node`]: [`start`] a service on a store with [`NodeOptions`]; [`RunningNode::stop`] it.
//! - [`serve()`]: start one and run it until Ctrl-C or SIGTERM — a user's own binary's `main`.
//! - [`links`]: one task per link, driving the sans-IO state machines of `concord-sync`.
//! - [`transport`]: how links reach peers ([`Transport`]); [`HttpTransport`] speaks the
//!   contract's getEvents/putEvents; [`TransportSet`] routes each link by its `transport`
//!   (the NATS JetStream transport is in the `concord-nats` crate).
//! - [`client`]: the HTTP(S) client of [`HttpTransport`] (rustls with ring, an optional
//!   private CA).

pub mod client;
pub mod links;
pub mod node;
mod serve;
pub mod transport;

pub use concord_http::{auth, AuthConfig, Gui, ServerLimits, ServerTls, StartOptions};
pub use links::Links;
pub use node::{start, CommandFailed, NodeError, NodeOptions, RunningNode};
pub use serve::serve;
pub use transport::{
    HttpTransport, LinkCredentials, Transport, TransportFuture, TransportSet, UnsupportedLink,
};
