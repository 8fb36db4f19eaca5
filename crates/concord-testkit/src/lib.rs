//! A test kit for the models of services built on Concord.
//!
//! Services agree without a shared database only if every model keeps a few laws (the
//! paper's R3–R5): applying a set of events gives the same state in any order and with any
//! repetitions, that state is the one applying them once in `(time, id)` order gives, a
//! service rebuilt from its store by replay has the state it had live, and an event is never
//! vetoed — it applies to a model that knows nothing yet (with placeholders for what it
//! names). [`Laws`] checks them all over histories drawn from a generator of the domain's
//! events; a failure shrinks to a minimal history and prints it as CloudEvents.
//!
//! Beside the laws: [`store::run_all`], the conformance suite every event-store backend must
//! pass; [`InstrumentedStore`], a store wrapper that counts commits and fails on demand; and
//! [`notes`], a toy domain (with a whole service, [`notes::NotesSpec`]) for the framework's own
//! tests. The laws need the `laws` feature (on by default), which brings in proptest.
//!
//! ```ignore
//! Laws::new(Arc::new(MyCatalogue)).check::<MyModel>(my_events());
//! ```

mod instrumented;
#[cfg(feature = "laws")]
mod laws;
pub mod notes;
pub mod store;

pub use instrumented::InstrumentedStore;
#[cfg(feature = "laws")]
pub use laws::{history, Laws, Violation};
