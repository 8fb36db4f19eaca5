//! Given/when/then scenarios over a service's own routes, in the style of cqrs-es's
//! `TestFramework`: *given* a history of events, *when* a command is sent (or an external
//! event arrives), *then* these events are raised, the model reads so, or the command fails
//! with this kind of error.
//!
//! A scenario drives exactly what the HTTP shell drives — the [`Api`]'s command and query
//! handlers — over a model built the way the runtime builds it: each event decoded by the
//! service's catalogue and applied with its envelope. It needs no store, thread or server,
//! so a domain's tests read like its story and run in microseconds.
//!
//! ```ignore
//! let mut office = Scenario::given(Office, [event("alice", 1, "e1", created("s-1"))]);
//! office.when("/api/awards", json!({"studentId": "s-1"})).then_conflict();
//! office.receive(graded);          // an accepted external event, applied
//! office.run("/api/awards", json!({"studentId": "s-1"})).then_raises([awarded("s-1")]);
//! assert_eq!(office.query("/api/awards")?, json!([...]));
//! ```

use std::collections::HashSet;
use std::marker::PhantomData;
use std::sync::Arc;

use concord_core::model::Envelope;
use concord_core::runtime::SharedCatalogue;
use concord_core::service::{Answer, Api, Handler, QueryError};
use concord_core::{
    AcceptancePolicy, CloudEvent, CommandError, EventDraft, EventError, Model, ServiceSpec,
    Timestamp,
};
use serde_json::Value;

/// The time of a raised event when nothing came before it: one second past the epoch.
const FIRST_SECOND: i128 = 1;
const SECOND: i128 = 1_000_000_000;

/// A service with a history, ready to be sent commands, external events and queries.
pub struct Scenario<S: ServiceSpec> {
    spec: S,
    catalogue: SharedCatalogue<S::Model>,
    acceptance: AcceptancePolicy,
    api: Api<S::Model>,
    model: S::Model,
    /// The latest time of any event seen (given, received or raised), in nanoseconds.
    latest: Option<i128>,
    /// The ids of every event applied: the runtime applies an id once.
    seen: HashSet<Arc<str>>,
    raised: u32,
}

/// What became of an external event handed to [`Scenario::receive`].
#[derive(Clone, Debug, PartialEq)]
pub enum Received {
    /// Accepted by the service's default acceptance and applied.
    Applied,
    /// Its (source, type, data) is not what the service accepts: ignored, as the runtime
    /// would (the reason is the one putEvents reports).
    NotAccepted(String),
    /// Its type is outside the catalogue: ignored.
    Unknown,
    /// Its id was applied before: the runtime stores and applies an id once (the same event
    /// again is a duplicate, another event under that id a conflict), so nothing changes.
    Duplicate,
    /// The catalogue refuses its data: the runtime would refuse it too.
    Malformed(EventError),
}

impl<S: ServiceSpec> Scenario<S> {
    /// Given these events, applied in the order listed. They are the service's history, so
    /// its own events and others' alike apply without an acceptance check; an event whose
    /// data the catalogue refuses is a mistake in the test and panics.
    pub fn given(spec: S, events: impl IntoIterator<Item = CloudEvent>) -> Self {
        let mut scenario = Scenario {
            catalogue: spec.catalogue(),
            acceptance: spec.default_acceptance(),
            api: spec.api(),
            spec,
            model: S::Model::default(),
            latest: None,
            seen: HashSet::new(),
            raised: 0,
        };
        for event in events {
            if let Err(error) = scenario.apply(&event) {
                panic!("given event {} does not decode: {error}", event.id);
            }
        }
        scenario
    }

    /// The model as the history and everything since have made it.
    pub fn model(&self) -> &S::Model {
        &self.model
    }

    /// Then the model satisfies `check` (for assertions on the model's own views).
    pub fn then(&self, check: impl FnOnce(&S::Model)) -> &Self {
        check(&self.model);
        self
    }

    /// When an external event arrives: applied if the service's default acceptance takes it
    /// and its catalogue decodes it, as a link or putEvents would.
    pub fn receive(&mut self, event: CloudEvent) -> Received {
        if self.seen.contains(&event.id) {
            return Received::Duplicate;
        }
        if let Some(reason) = self.acceptance.check(&event) {
            if self.catalogue.decode(&event).is_none() {
                return Received::Unknown;
            }
            return Received::NotAccepted(reason);
        }
        match self.apply(&event) {
            Ok(true) => Received::Applied,
            Ok(false) => Received::Unknown,
            Err(error) => Received::Malformed(error),
        }
    }

    /// When this command is sent (`POST path` with a JSON body): what it decides, without
    /// applying it.
    pub fn when(&self, path: &str, body: Value) -> Outcome<<S::Model as Model>::Event> {
        let Some((route, params)) = self.api.route("POST", path) else {
            panic!("{} has no command at POST {path}", self.spec.name());
        };
        let Handler::Command(handler) = &route.handler else {
            unreachable!("POST routes are commands")
        };
        Outcome::new(handler(&params, body).and_then(|command| command(&self.model)))
    }

    /// Sends a command and applies what it raises, as the runtime would: each event from
    /// this service, one second after the latest event seen, with ids `cmd-0001`, `cmd-0002`…
    pub fn run(&mut self, path: &str, body: Value) -> Outcome<<S::Model as Model>::Event> {
        let outcome = self.when(path, body);
        if let Ok(drafts) = &outcome.result {
            for draft in drafts {
                self.raised += 1;
                let second = self.latest.map_or(FIRST_SECOND * SECOND, |t| t + SECOND);
                let raised = CloudEvent::new(
                    format!("cmd-{:04}", self.raised),
                    self.spec.name(),
                    draft.ty.clone(),
                    Timestamp::from_unix_nanos(second),
                    draft.data.clone(),
                );
                // A type outside the catalogue is stored by the runtime but applies to
                // nothing; one the catalogue refuses is the command's bug.
                if let Err(error) = self.apply(&raised) {
                    panic!(
                        "{path} raised a {} its catalogue refuses: {error}",
                        draft.ty
                    );
                }
            }
        }
        outcome
    }

    /// A query's answer as JSON (a list's first page).
    pub fn query(&self, path: &str) -> Result<Value, CommandError> {
        self.query_with(path, &[]).map_err(|e| match e {
            QueryError::Command(e) => e,
            QueryError::List(e) => panic!("no query parameters, yet {e}"),
        })
    }

    /// A query's answer with query parameters (`limit`, `cursor`, `q` for a list).
    pub fn query_with(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, QueryError> {
        self.answer(path, query).map(|answer| answer.body)
    }

    /// A query's whole answer: for a list, with where its neighbouring pages start.
    pub fn answer(&self, path: &str, query: &[(&str, &str)]) -> Result<Answer, QueryError> {
        let Some((route, params)) = self.api.route("GET", path) else {
            panic!("{} has no query at GET {path}", self.spec.name());
        };
        let Handler::Query(handler) = &route.handler else {
            unreachable!("GET routes are queries")
        };
        handler.run(&self.model, &params, query.iter().copied())
    }

    /// Decodes and applies one event; `Ok(false)` for a type outside the catalogue.
    fn apply(&mut self, event: &CloudEvent) -> Result<bool, EventError> {
        let nanos = event.time.unix_nanos();
        self.latest = Some(self.latest.map_or(nanos, |t| t.max(nanos)));
        match self.catalogue.decode(event) {
            None => Ok(false),
            Some(Err(error)) => Err(error),
            Some(Ok(decoded)) => {
                self.model.apply(&decoded, &Envelope::of(event));
                self.seen.insert(Arc::clone(&event.id));
                Ok(true)
            }
        }
    }
}

/// What a command decided: the events it raises, or why it refused. `E` is the model's
/// event type, in which a test states the events it expects.
#[derive(Debug)]
pub struct Outcome<E> {
    pub result: Result<Vec<EventDraft>, CommandError>,
    expected: PhantomData<fn() -> E>,
}

impl<E> Outcome<E> {
    fn new(result: Result<Vec<EventDraft>, CommandError>) -> Self {
        Outcome {
            result,
            expected: PhantomData,
        }
    }

    /// Then exactly these events are raised, in this order (written as the domain's events,
    /// which turn into the drafts a command returns).
    pub fn then_raises(self, expected: impl IntoIterator<Item = E>)
    where
        E: Into<EventDraft>,
    {
        self.then_raises_drafts(expected.into_iter().map(Into::into));
    }

    /// Then exactly these drafts are raised (for a domain whose events are not drafts).
    pub fn then_raises_drafts(self, expected: impl IntoIterator<Item = EventDraft>) {
        let expected: Vec<EventDraft> = expected.into_iter().collect();
        assert_eq!(self.result, Ok(expected));
    }

    /// Then nothing is raised (and nothing refused): the command was already done.
    pub fn then_raises_nothing(self) {
        assert_eq!(self.result, Ok(vec![]), "expected no event");
    }

    fn then_fails(self, wanted: fn(&CommandError) -> bool, kind: &str) -> String {
        match self.result {
            Err(error) if wanted(&error) => error.to_string(),
            other => panic!("expected {kind}, got {other:?}"),
        }
    }

    /// Then it is refused as invalid (400); returns the message.
    pub fn then_invalid(self) -> String {
        self.then_fails(|e| matches!(e, CommandError::Invalid(_)), "Invalid (400)")
    }

    /// Then it is refused as naming something unknown (404); returns the message.
    pub fn then_not_found(self) -> String {
        self.then_fails(|e| matches!(e, CommandError::NotFound(_)), "NotFound (404)")
    }

    /// Then it is refused as conflicting with the state (409); returns the message.
    pub fn then_conflict(self) -> String {
        self.then_fails(|e| matches!(e, CommandError::Conflict(_)), "Conflict (409)")
    }
}
