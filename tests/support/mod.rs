//! The end-to-end harness: starts the real `concord` binary as child processes on loopback and
//! talks HTTP/1.1 to them with a tiny blocking client over `std::net` (no client crate, so the
//! dependency tree of the product stays as it is).
//!
//! - [`Concord`]: one child process (`concord serve …` or `concord demo …`), started and
//!   waited for until `GET /health` answers, stopped with SIGTERM ([`Concord::terminate`]) or
//!   SIGKILL ([`Concord::kill`]), restarted with the same arguments ([`Concord::restart`]),
//!   always killed on drop. Its stdout and stderr go to files (a pipe nobody reads would
//!   block it), shown when something goes wrong.
//! - [`Node`]: a client handle for one service's port, presenting the operator's token
//!   (CONTRACT §6). Every answer is checked to be below 500: a client must never be able to
//!   cause a 5xx (CONTRACT §3).
//! - Credentials: a demo's come from its `DIR/credentials.toml`; `serve` processes get
//!   `--credentials` of one file shared by the whole test binary ([`shared_credentials`]).
//! - [`free_ports`]: consecutive free loopback ports outside the kernel's ephemeral range.
//! - Event builders, polling ([`eventually`]), and [`settle`] (POST /api/sync until quiet).

// Each test file uses its own part of the harness.
#![allow(dead_code, unused_imports)]

mod credentials;
mod events;
mod fake_peer;
mod http;
mod nats;
mod ports;
mod process;
mod python;

pub use credentials::*;
pub use events::*;
pub use fake_peer::*;
pub use http::*;
pub use nats::*;
pub use ports::*;
pub use process::*;
pub use python::*;

use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_concord");

pub const OFFICE: &str = "students-office";
pub const SE: &str = "se-group";
pub const THEORY: &str = "theory-group";
pub const TA_POOL: &str = "ta-pool";
/// In the order `concord demo` gives them ports.
pub const SERVICES: [&str; 4] = [OFFICE, SE, THEORY, TA_POOL];

/// How long a service may take to answer `GET /health` after its start.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
