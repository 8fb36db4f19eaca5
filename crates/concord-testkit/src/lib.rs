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
//! [`Scenario`] tells a service's story given/when/then: given a history, when a command or
//! an external event arrives, then these events are raised, the model or a query reads so, or
//! the command fails with this kind of error — through the service's own routes.
//!
//! Beside them: [`store::run_all`], the conformance suite every event-store backend must
//! pass; [`InstrumentedStore`], a store wrapper that counts commits and fails on demand; and
//! [`notes`], a toy domain (with a whole service, [`notes::NotesSpec`]) for the framework's own
//! tests. The laws need the `laws` feature (on by default), which brings in proptest.
//!
//! ```ignore
//! Laws::<MyModel>::new(Arc::new(MyCatalogue)).check(my_events());
//! Scenario::given(MyService, history).when("/api/things", body).then_raises([thing]);
//! ```

mod instrumented;
#[cfg(feature = "laws")]
mod laws;
pub mod notes;
mod scenario;
pub mod store;

pub use instrumented::InstrumentedStore;
#[cfg(feature = "laws")]
pub use laws::{history, Laws, Violation};
pub use scenario::{Outcome, Received, Scenario};
