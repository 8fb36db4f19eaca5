//! The one path (R1): how commands, accepted external events and replay change a model.
//!
//! [`ServiceCore`] is sans-IO: it owns the model and the acceptance policy, and is handed a
//! store and an [`Env`] for every call, so the same code runs under the threaded [`host`]
//! shell and inside the deterministic simulator.
//!
//! [`ServiceCore::execute`] takes a batch of requests — commands and external event
//! batches, in arrival order — and for each one validates, stamps, deduplicates, checks
//! acceptance and applies to the model, then appends everything new in one transaction with
//! the link cursors that came along (group commit). If that append fails, the model is
//! rebuilt from the store, so it never holds what the store does not.
//!
//! [`host`]: crate::host

pub mod env;

use std::collections::HashSet;

use serde::Serialize;
use serde_json::{Map, Value};

pub use env::{Env, HybridClock, SeededEnv, SystemEnv};

use crate::acceptance::AcceptancePolicy;
use crate::event::{CloudEvent, EventError, StoredEvent};
use crate::model::Model;
use crate::store::{AppendOutcome, CursorUpdate, EventStore, StoreError};

/// What a domain says about the event types it understands.
pub trait Catalogue: Send + Sync + 'static {
    /// Checks the data of an event whose type is in the catalogue; `None` if the type is not.
    /// Validation is stateless: fields present, of the right kinds and values.
    fn validate(&self, event: &CloudEvent) -> Option<Result<(), EventError>>;

    /// The overwrite key of an event (R5): two events with the same key write the same
    /// attributes, and the later `(time, id)` wins. `None` for types outside the catalogue.
    fn overwrite_key(&self, event: &CloudEvent) -> Option<String>;
}

/// An event a command wants to raise; the runtime gives it an id, a time and a source.
#[derive(Clone, Debug, PartialEq)]
pub struct EventDraft {
    pub ty: String,
    pub data: Map<String, Value>,
}

impl EventDraft {
    /// A draft from a type name and a serializable data object.
    pub fn new(ty: impl Into<String>, data: impl Serialize) -> Self {
        let data = match serde_json::to_value(data) {
            Ok(Value::Object(map)) => map,
            other => panic!("event data must serialize to a JSON object, got {other:?}"),
        };
        EventDraft {
            ty: ty.into(),
            data,
        }
    }
}

/// Why a command raised nothing. Each kind maps to its own HTTP status.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The input is wrong (400).
    #[error("{0}")]
    Invalid(String),
    /// It names something this service does not know (404).
    #[error("{0}")]
    NotFound(String),
    /// It conflicts with the current state (409).
    #[error("{0}")]
    Conflict(String),
}

/// A command: reads the model and decides which events to raise, or refuses.
pub type Command<M> = Box<dyn FnOnce(&M) -> Result<Vec<EventDraft>, CommandError> + Send + 'static>;

/// A link cursor to move in the same transaction as an external batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub link: String,
    pub position: u64,
}

/// One unit of work for [`ServiceCore::execute`].
pub enum Request<M> {
    Command(Command<M>),
    External {
        events: Vec<CloudEvent>,
        cursor: Option<Cursor>,
    },
}

/// What happened to one external event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "reason", rename_all = "lowercase")]
pub enum Disposition {
    /// Stored and applied.
    Accepted,
    /// Its id was already stored (or came earlier in the same batch); nothing changed.
    Duplicate,
    /// Not accepted by this service (R2) or outside its catalogue; not stored.
    Ignored(String),
    /// Malformed by this service's catalogue; not stored.
    Rejected(String),
}

/// The per-event outcome of an external batch, in batch order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PutReport {
    pub results: Vec<(String, Disposition)>,
}

impl PutReport {
    pub fn count(&self, wanted: fn(&Disposition) -> bool) -> usize {
        self.results.iter().filter(|(_, d)| wanted(d)).count()
    }
    pub fn accepted(&self) -> usize {
        self.count(|d| matches!(d, Disposition::Accepted))
    }
    pub fn duplicates(&self) -> usize {
        self.count(|d| matches!(d, Disposition::Duplicate))
    }
    pub fn ignored(&self) -> usize {
        self.count(|d| matches!(d, Disposition::Ignored(_)))
    }
    pub fn rejected(&self) -> usize {
        self.count(|d| matches!(d, Disposition::Rejected(_)))
    }
}

/// The answer to one [`Request`], in the same position.
#[derive(Debug)]
pub enum Reply {
    /// The command's events as stored (empty if it had nothing to change), or its refusal.
    Command(Result<Vec<StoredEvent>, CommandError>),
    External(PutReport),
}

/// A service's model, acceptance policy and clock: the sans-IO heart of a service.
pub struct ServiceCore<M> {
    name: String,
    model: M,
    policy: AcceptancePolicy,
    catalogue: Box<dyn Catalogue>,
    clock: HybridClock,
}

impl<M: Model> ServiceCore<M> {
    /// Opens a service on its store, replaying every stored event into a fresh model.
    pub fn open(
        name: impl Into<String>,
        catalogue: Box<dyn Catalogue>,
        policy: AcceptancePolicy,
        store: &dyn EventStore,
    ) -> Result<Self, StoreError> {
        let mut core = ServiceCore {
            name: name.into(),
            model: M::default(),
            policy,
            catalogue,
            clock: HybridClock::default(),
        };
        core.rebuild(store)?;
        Ok(core)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn model(&self) -> &M {
        &self.model
    }

    pub fn policy(&self) -> &AcceptancePolicy {
        &self.policy
    }

    pub fn catalogue(&self) -> &dyn Catalogue {
        &*self.catalogue
    }

    /// Validates an external batch statelessly: the first malformed event, with its index.
    pub fn validate(&self, events: &[CloudEvent]) -> Result<(), (usize, EventError)> {
        validate_batch(&*self.catalogue, events)
    }

    /// Runs a batch of requests as one group commit; see the module documentation.
    ///
    /// A store failure fails the whole batch: nothing of it is acknowledged, and the model is
    /// rebuilt from what the store holds.
    pub fn execute(
        &mut self,
        store: &dyn EventStore,
        env: &mut dyn Env,
        requests: Vec<Request<M>>,
    ) -> Result<Vec<Reply>, StoreError> {
        let external_ids: Vec<&str> = requests
            .iter()
            .flat_map(|r| match r {
                Request::External { events, .. } => events.iter().map(|e| &*e.id).collect(),
                Request::Command(_) => Vec::new(),
            })
            .collect();
        let already_stored = store.contains(&external_ids)?;
        let mut already_stored = already_stored.into_iter();
        let mut seen_in_batch: HashSet<std::sync::Arc<str>> = HashSet::new();

        let mut to_append: Vec<CloudEvent> = Vec::new();
        let mut cursors: Vec<Cursor> = Vec::new();
        // Per request: the outcome, and which of `to_append` it raised.
        let mut pending: Vec<(Pending, std::ops::Range<usize>)> =
            Vec::with_capacity(requests.len());

        for request in requests {
            let start = to_append.len();
            let outcome = match request {
                Request::Command(command) => match command(&self.model) {
                    Ok(drafts) => {
                        let events = self.stamp(env, drafts);
                        match validate_batch(&*self.catalogue, &events) {
                            Ok(()) => {
                                for event in events {
                                    self.apply(&event);
                                    to_append.push(event);
                                }
                                Pending::Command(Ok(()))
                            }
                            Err((_, error)) => Pending::Command(Err(CommandError::Invalid(
                                format!("the command built a malformed event: {error}"),
                            ))),
                        }
                    }
                    Err(refusal) => Pending::Command(Err(refusal)),
                },
                Request::External { events, cursor } => {
                    let mut report = PutReport::default();
                    for event in events {
                        let stored = already_stored.next().unwrap_or(false);
                        let disposition = if stored || !seen_in_batch.insert(event.id.clone()) {
                            Disposition::Duplicate
                        } else {
                            self.disposition(&event)
                        };
                        if disposition == Disposition::Accepted {
                            self.apply(&event);
                            report.results.push((event.id.to_string(), disposition));
                            to_append.push(event);
                        } else {
                            report.results.push((event.id.to_string(), disposition));
                        }
                    }
                    cursors.extend(cursor);
                    Pending::External(report)
                }
            };
            pending.push((outcome, start..to_append.len()));
        }

        let cursor_updates: Vec<CursorUpdate<'_>> = cursors
            .iter()
            .map(|c| CursorUpdate {
                link: &c.link,
                position: c.position,
            })
            .collect();
        let outcomes = match store.append(&to_append, &cursor_updates) {
            Ok(outcomes) => outcomes,
            Err(error) => {
                tracing::error!(service = %self.name, %error, "append failed; rebuilding the model from the store");
                if let Err(rebuild) = self.rebuild(store) {
                    tracing::error!(service = %self.name, error = %rebuild, "rebuilding the model failed");
                }
                return Err(error);
            }
        };

        let mut stored: Vec<Option<StoredEvent>> = to_append
            .into_iter()
            .zip(outcomes)
            .map(|(event, outcome)| match outcome {
                AppendOutcome::Appended(sequence) => Some(StoredEvent { sequence, event }),
                AppendOutcome::Duplicate => None,
            })
            .collect();
        Ok(pending
            .into_iter()
            .map(|(outcome, range)| match outcome {
                Pending::Command(result) => Reply::Command(
                    result.map(|()| stored[range].iter_mut().filter_map(Option::take).collect()),
                ),
                Pending::External(report) => Reply::External(report),
            })
            .collect())
    }

    fn disposition(&self, event: &CloudEvent) -> Disposition {
        match self.catalogue.validate(event) {
            None => Disposition::Ignored(format!(
                "type {} is outside this service's event catalogue",
                event.ty
            )),
            Some(Err(error)) => Disposition::Rejected(error.to_string()),
            Some(Ok(())) => match self.policy.check(event) {
                Some(reason) => Disposition::Ignored(reason),
                None => Disposition::Accepted,
            },
        }
    }

    fn stamp(&mut self, env: &mut dyn Env, drafts: Vec<EventDraft>) -> Vec<CloudEvent> {
        drafts
            .into_iter()
            .map(|draft| {
                let time = self.clock.tick(env.now());
                let id = env::new_event_id(env, time);
                CloudEvent::new(id, self.name.clone(), draft.ty, time, draft.data)
            })
            .collect()
    }

    /// The one way the model changes.
    fn apply(&mut self, event: &CloudEvent) {
        self.clock.observe(event.time);
        self.model.apply(event);
    }

    fn rebuild(&mut self, store: &dyn EventStore) -> Result<(), StoreError> {
        self.model = M::default();
        self.clock = HybridClock::default();
        let mut replayed = 0u64;
        store.replay(0, &mut |stored| {
            replayed += 1;
            self.clock.observe(stored.event.time);
            self.model.apply(&stored.event);
        })?;
        tracing::debug!(service = %self.name, replayed, "model rebuilt from the store");
        Ok(())
    }
}

enum Pending {
    Command(Result<(), CommandError>),
    External(PutReport),
}

/// Validates a batch against a catalogue: the first malformed event of a known type, with
/// its index. Events of unknown types are not malformed (they are ignored later).
pub fn validate_batch(
    catalogue: &dyn Catalogue,
    events: &[CloudEvent],
) -> Result<(), (usize, EventError)> {
    for (index, event) in events.iter().enumerate() {
        if let Some(Err(error)) = catalogue.validate(event) {
            return Err((index, error));
        }
    }
    Ok(())
}
