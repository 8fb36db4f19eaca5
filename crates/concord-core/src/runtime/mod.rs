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
//! The domain's code (a command's decision, the model's `apply`) runs here, on the writer, and
//! a panic in it is caught rather than let stop the writer: the request it was part of is
//! refused alone ([`CommandError::Fault`]; an external event rejected, or its put batch
//! refused naming it), and a model that may hold part of an event is rebuilt from the store
//! and what the batch took before it.
//!
//! [`host`]: crate::host

pub mod env;
pub mod panics;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

pub use env::{Env, HybridClock, SeededEnv, SystemEnv};
pub use panics::{DomainPanics, PanicStage};

use panics::panic_message;

use crate::acceptance::AcceptancePolicy;
use crate::event::{CloudEvent, EventError, EventId, Limits, StoredEvent, Timestamp};
use crate::model::{Envelope, Model};
use crate::sign::{keep_verified, Signer, Signing, Verdict, Verifier};
use crate::store::{AppendOutcome, DeadLetter, EventStore, LinkUpdate, StoreError};

/// What a domain says about the event types it understands: the one decoder of its events.
///
/// Every event a service takes in is decoded here exactly once, where it enters (an HTTP
/// handler, a link's task, replay) and outside the writer's lock; the model then applies the
/// decoded event. Decoding *is* validation: stateless, fields present with the right kinds
/// and values.
pub trait Catalogue: Send + Sync + 'static {
    /// The decoded form of the catalogue's events (the model's [`Model::Event`]).
    type Event: Send + Sync + 'static;

    /// Decodes an event: `None` if its type is outside the catalogue, the first fault in its
    /// data otherwise.
    fn decode(&self, event: &CloudEvent) -> Option<Result<Self::Event, EventError>>;

    /// Checks an event without keeping the decoded form.
    fn validate(&self, event: &CloudEvent) -> Option<Result<(), EventError>> {
        self.decode(event).map(|decoded| decoded.map(drop))
    }

    /// The overwrite key of an event (R5): two events with the same key write the same
    /// attributes, and the later `(time, id)` wins. `None` for types outside the catalogue.
    fn overwrite_key(&self, event: &CloudEvent) -> Option<String>;

    /// A JSON Schema of the `data` of each type in the catalogue, by type name, describing
    /// what validation checks: what a service's self-description (AsyncAPI) publishes. Empty
    /// when the domain does not say.
    fn schemas(&self) -> Vec<(String, Value)> {
        Vec::new()
    }
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
    /// The service failed on it (500): the domain's code panicked deciding it, decoding or
    /// applying what it raised. Nothing of it was stored, the model holds what the store
    /// holds, and the service goes on. The panic's message is for the service's log: the
    /// error's text does not carry it to the caller.
    #[error(
        "the service failed on this command (its domain code panicked); nothing of it was stored"
    )]
    Fault(String),
}

/// A command: reads the model and decides which events to raise, or refuses.
pub type Command<M> = Box<dyn FnOnce(&M) -> Result<Vec<EventDraft>, CommandError> + Send + 'static>;

/// How an external batch is taken in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intake {
    /// putEvents: one malformed event (or one too far in the future) refuses the whole
    /// batch, naming its index, and nothing of it is stored (docs/protocol.md §3.4).
    AllOrNothing,
    /// A link's page: an event this service refuses is rejected alone — recorded as a dead
    /// letter of the link in the same commit — and the rest apply, so no single event can
    /// stall a link (docs/protocol.md §3.3).
    EachEvent,
}

/// External events as a caller hands them in; [`External::decode`] turns them into what
/// [`ServiceCore::execute`] takes, on the caller's thread.
#[derive(Clone, Debug)]
pub struct External {
    pub events: Vec<CloudEvent>,
    pub intake: Intake,
    /// The link the events came by and what it records with them (its cursor, dead letters
    /// of events that did not even parse). Events of this batch that the service rejects
    /// or that conflict are added to its dead letters.
    pub link: Option<LinkUpdate>,
    /// Re-delivering a link's dead letters: every event that is now carried (accepted,
    /// duplicate or ignored) is resolved in the same commit.
    pub retrying: bool,
    /// The operator delivered these events (putEvents with the operator's credential): an
    /// event of a signing source may come unsigned (imports, repairs). Never for a link.
    pub by_operator: bool,
}

impl External {
    /// A putEvents batch.
    pub fn put(events: Vec<CloudEvent>) -> Self {
        External {
            events,
            intake: Intake::AllOrNothing,
            link: None,
            retrying: false,
            by_operator: false,
        }
    }

    /// A putEvents batch the operator delivered.
    pub fn put_by_operator(events: Vec<CloudEvent>) -> Self {
        External {
            by_operator: true,
            ..External::put(events)
        }
    }

    /// A link's page (or only its link update, with no events).
    pub fn from_link(events: Vec<CloudEvent>, link: LinkUpdate) -> Self {
        External {
            events,
            intake: Intake::EachEvent,
            link: Some(link),
            retrying: false,
            by_operator: false,
        }
    }
}

impl External {
    /// Decodes every event with `catalogue` (once: the model applies what this made),
    /// checking no signature: for services that trust no keys.
    pub fn decode<E: Send + Sync + 'static>(
        self,
        catalogue: &dyn Catalogue<Event = E>,
    ) -> Incoming<E> {
        self.decode_with(catalogue, &Verifier::new())
    }

    /// Verifies every event's signature with `verifier` ([`Verifier::verify`]), then
    /// decodes it with `catalogue`. Runs on the caller's thread, like decoding, so the
    /// writer never waits for a signature check.
    pub fn decode_with<E: Send + Sync + 'static>(
        self,
        catalogue: &dyn Catalogue<Event = E>,
        verifier: &Verifier,
    ) -> Incoming<E> {
        let verdicts = verify_all(verifier, &self.events, self.by_operator);
        Incoming {
            arrivals: arrivals(self.events, verdicts, catalogue),
            intake: self.intake,
            link: self.link,
            retrying: self.retrying,
        }
    }
}

/// A link's page already checked and decoded: a link checks its next page's signatures and
/// decodes its events while the page before it commits, so that work (the bulk of taking in
/// a page besides the commit itself) overlaps the writer's instead of preceding it. Only
/// [`crate::host::Host::verify_page`] makes one, with the service's own verifier and
/// catalogue, and each event travels with its verdict, so a verdict is never applied to
/// another event.
#[derive(Debug)]
pub struct Verified<E> {
    arrivals: Vec<Arrival<E>>,
}

impl<E: Send + Sync + 'static> Verified<E> {
    /// Checks a link's `events` with `verifier` (as a peer delivers them: never as the
    /// operator), then decodes them with `catalogue`, as [`External::decode_with`] does.
    pub(crate) fn link_page(
        verifier: &Verifier,
        catalogue: &dyn Catalogue<Event = E>,
        events: Vec<CloudEvent>,
    ) -> Self {
        let verdicts = verify_all(verifier, &events, false);
        Verified {
            arrivals: arrivals(events, verdicts, catalogue),
        }
    }

    pub fn events(&self) -> impl Iterator<Item = &CloudEvent> {
        self.arrivals.iter().map(|arrival| &arrival.event)
    }

    /// The page with `link`'s update, as [`External::from_link`]`(events, link)` decodes.
    pub(crate) fn with_link(self, link: LinkUpdate) -> Incoming<E> {
        Incoming {
            arrivals: self.arrivals,
            intake: Intake::EachEvent,
            link: Some(link),
            retrying: false,
        }
    }
}

/// Each event with what the catalogue made of it, given its signature's verdict.
fn arrivals<E: Send + Sync + 'static>(
    events: Vec<CloudEvent>,
    verdicts: Vec<Result<Verdict, crate::sign::SignError>>,
    catalogue: &dyn Catalogue<Event = E>,
) -> Vec<Arrival<E>> {
    events
        .into_iter()
        .zip(verdicts)
        .map(|(mut event, verdict)| {
            let decoded = match verdict {
                Err(error) => Decoded::Refused(error.to_event_error()),
                Ok(verdict) => {
                    if matches!(verdict, Verdict::Signed { .. }) {
                        keep_verified(&mut event);
                    }
                    decode_guarded(catalogue, &event)
                }
            };
            Arrival { event, decoded }
        })
        .collect()
}

/// How many rebuilds after a panic one group commit may cost (each is a replay of the whole
/// store) before the events of a link's page after them are set aside unapplied, as dead
/// letters of their link. Puts and commands are not held back: a put is refused whole at its
/// first panic and a command at its own, so each costs one rebuild at most.
pub const MAX_PANICS_PER_BATCH: usize = 3;

/// A page at least this long is verified on two threads (see [`verify_all`]).
const SPLIT_VERIFY_MIN: usize = 256;

/// Each event's verdict, in order. Checking signatures is the bulk of taking in a signed
/// page even in batches ([`Verifier::verify_many`]), so a long page is split in two: the
/// caller verifies one half while a scoped thread verifies the other (the writer mostly
/// waits for the disk meanwhile). An honest signature, or one made without the key, gets
/// the same verdict whatever the split.
fn verify_all(
    verifier: &Verifier,
    events: &[CloudEvent],
    by_operator: bool,
) -> Vec<Result<Verdict, crate::sign::SignError>> {
    let verify = |part: &[CloudEvent]| verifier.verify_many(part, by_operator);
    if verifier.is_empty() || events.len() < SPLIT_VERIFY_MIN {
        return verify(events);
    }
    let (first, second) = events.split_at(events.len() / 2);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| verify(second));
        let mut verdicts = verify(first);
        verdicts.extend(other.join().expect("verifying a signature does not panic"));
        verdicts
    })
}

/// What the catalogue made of an event.
#[derive(Clone, Debug, PartialEq)]
pub enum Decoded<E> {
    Event(E),
    /// Its type is outside the catalogue (ignored, never an error).
    Unknown,
    Malformed(EventError),
    /// The catalogue panicked decoding it: refused as a malformed event is, and counted
    /// ([`PanicStage::Decode`]) when the writer takes it.
    Panicked(EventError),
    /// Its signature does not verify, or it lacks one it must carry (see [`crate::sign`]):
    /// refused whatever else is true of it, even if its id is stored.
    Refused(EventError),
}

/// An external event with its decoded form.
#[derive(Clone, Debug, PartialEq)]
pub struct Arrival<E> {
    pub event: CloudEvent,
    pub decoded: Decoded<E>,
}

/// External events, decoded, for [`ServiceCore::execute`].
#[derive(Clone, Debug)]
pub struct Incoming<E> {
    pub arrivals: Vec<Arrival<E>>,
    pub intake: Intake,
    pub link: Option<LinkUpdate>,
    pub retrying: bool,
}

/// Events of a request that the service has stored and applied and needs no more, handed
/// back with its reply ([`ServiceCore::execute_handing_back`]) only to be dropped. Freeing a
/// page's events is a tenth of a writer's work when another thread allocated them (the
/// allocator's cross-thread path), and the writer is what a pull waits for; dropped where
/// the reply arrives, that work runs beside the next commit instead.
#[derive(Debug, Default)]
pub struct Spent {
    events: Vec<CloudEvent>,
}

impl Spent {
    /// How many events were handed back.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// One unit of work for [`ServiceCore::execute`].
pub enum Request<M: Model> {
    Command(Command<M>),
    External(Incoming<M::Event>),
}

/// What happened to one external event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "reason", rename_all = "lowercase")]
pub enum Disposition {
    /// Stored and applied.
    Accepted,
    /// The same event (same id, same content) is stored already, or came earlier in the
    /// same batch; nothing changed.
    Duplicate,
    /// An event with this id but different content is stored (or came earlier in the
    /// batch); nothing changed. Never merged: an id names one event.
    Conflict(String),
    /// Not accepted by this service (R2) or outside its catalogue; not stored.
    Ignored(String),
    /// Malformed by this service's catalogue, or from a clock too far ahead; not stored.
    Rejected(String),
}

/// The per-event outcome of an external batch, in batch order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PutReport {
    /// Per event, in the order received: its id (shared with the event, not copied) and what
    /// became of it.
    pub results: Vec<(EventId, Disposition)>,
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
    pub fn conflicts(&self) -> usize {
        self.count(|d| matches!(d, Disposition::Conflict(_)))
    }
    pub fn ignored(&self) -> usize {
        self.count(|d| matches!(d, Disposition::Ignored(_)))
    }
    pub fn rejected(&self) -> usize {
        self.count(|d| matches!(d, Disposition::Rejected(_)))
    }
}

/// Why a whole batch was refused (all or nothing): the first event at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("event at index {index}: {error}")]
pub struct Refusal {
    pub index: usize,
    pub error: EventError,
}

/// The answer to one [`Request`], in the same position.
#[derive(Debug)]
pub enum Reply {
    /// The command's events as stored (empty if it had nothing to change), or its refusal.
    Command(Result<Vec<StoredEvent>, CommandError>),
    /// The per-event report, or the refusal of the whole batch.
    External(Result<PutReport, Refusal>),
}

/// The catalogue of a model's events, shared (it is immutable and read outside the lock).
pub type SharedCatalogue<M> = Arc<dyn Catalogue<Event = <M as Model>::Event>>;

/// A service's model, acceptance policy and clock: the sans-IO heart of a service.
pub struct ServiceCore<M: Model> {
    name: String,
    model: M,
    policy: AcceptancePolicy,
    catalogue: SharedCatalogue<M>,
    clock: HybridClock,
    limits: Limits,
    /// Signs every event this service raises, when it has a key.
    signer: Option<Arc<Signer>>,
    /// The keys this service trusts per source; empty: it checks no signature.
    verifier: Arc<Verifier>,
    /// Set while the domain's `apply` runs and while the model is rebuilt. Still set after
    /// either, the model may hold part of an event or what the store does not (a panic, a
    /// rebuild that failed): it is rebuilt before it is used again.
    stale: bool,
    /// Rebuilds after a panic in the current group commit (see [`MAX_PANICS_PER_BATCH`]).
    panics: usize,
    /// Every panic of the domain's code caught so far, by stage, for the metrics.
    domain_panics: Arc<DomainPanics>,
}

impl<M: Model> ServiceCore<M> {
    /// Opens a service on its store, replaying every stored event into a fresh model.
    pub fn open(
        name: impl Into<String>,
        catalogue: SharedCatalogue<M>,
        policy: AcceptancePolicy,
        store: &dyn EventStore,
    ) -> Result<Self, StoreError> {
        let domain_panics = Arc::<DomainPanics>::default();
        let mut core = ServiceCore {
            name: name.into(),
            model: fresh_model(&domain_panics)?,
            policy,
            catalogue,
            clock: HybridClock::default(),
            limits: Limits::default(),
            signer: None,
            verifier: Arc::new(Verifier::new()),
            stale: false,
            panics: 0,
            domain_panics,
        };
        core.rebuild(store)?;
        Ok(core)
    }

    /// The same service with other intake limits (from configuration).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self.clock.set_max_skew(limits.max_skew_nanos());
        self
    }

    /// The same service signing what it raises with `signer`, and checking the signatures
    /// of what it takes in with `verifier`.
    pub fn with_signing(mut self, signing: Signing) -> Self {
        self.signer = signing.signer;
        self.verifier = signing.verifier;
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn signer(&self) -> Option<&Arc<Signer>> {
        self.signer.as_ref()
    }

    pub fn verifier(&self) -> &Arc<Verifier> {
        &self.verifier
    }

    pub fn model(&self) -> &M {
        &self.model
    }

    pub fn policy(&self) -> &AcceptancePolicy {
        &self.policy
    }

    pub fn catalogue(&self) -> &SharedCatalogue<M> {
        &self.catalogue
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The panics of the domain's code this service caught, by stage: a handle that stays
    /// current, read without the writer.
    pub fn domain_panics(&self) -> &Arc<DomainPanics> {
        &self.domain_panics
    }

    /// Whether the model may hold what the store does not: a rebuild after a panic or a
    /// failed append failed too (the store was down). The next batch rebuilds it first;
    /// [`ServiceCore::recover`] does so without waiting for one.
    pub fn is_stale(&self) -> bool {
        self.stale
    }

    /// Rebuilds a stale model from the store (nothing to do otherwise).
    pub fn recover(&mut self, store: &dyn EventStore) -> Result<(), StoreError> {
        if self.stale {
            self.restore(store, &[])?;
        }
        Ok(())
    }

    /// Validates an external batch statelessly: the first malformed event, with its index.
    pub fn validate(&self, events: &[CloudEvent]) -> Result<(), (usize, EventError)> {
        for (index, event) in events.iter().enumerate() {
            if let Some(Err(error)) = self.catalogue.validate(event) {
                return Err((index, error));
            }
        }
        Ok(())
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
        let answers = self.execute_handing_back(store, env, requests)?;
        Ok(answers.into_iter().map(|(reply, _)| reply).collect())
    }

    /// [`ServiceCore::execute`], handing back with each reply the events of its request that
    /// the service is done with ([`Spent`]), so that a threaded shell frees them on the
    /// caller's thread rather than its writer's.
    pub fn execute_handing_back(
        &mut self,
        store: &dyn EventStore,
        env: &mut dyn Env,
        requests: Vec<Request<M>>,
    ) -> Result<Vec<(Reply, Spent)>, StoreError> {
        self.recover(store)?;
        self.panics = 0;
        let now = env.now();
        let external_ids: Vec<&str> = requests
            .iter()
            .flat_map(|r| match r {
                Request::External(incoming) => {
                    incoming.arrivals.iter().map(|a| &*a.event.id).collect()
                }
                Request::Command(_) => Vec::new(),
            })
            .collect();
        let stored = store.lookup(&external_ids)?;
        let mut stored = stored.into_iter();
        // Events accepted earlier in this group commit, by id: a repeat is compared with them.
        let mut taken: HashMap<EventId, usize> = HashMap::with_capacity(external_ids.len());

        // Sized for every external event up front: a page of thousands would otherwise be
        // moved several times as the vector grows (visible in a pull's profile).
        let mut to_append: Vec<CloudEvent> = Vec::with_capacity(external_ids.len());
        let mut links: Vec<LinkUpdate> = Vec::new();
        // Per request: the outcome, and which of `to_append` it raised.
        let mut pending: Vec<(Pending, std::ops::Range<usize>)> =
            Vec::with_capacity(requests.len());

        for request in requests {
            let start = to_append.len();
            let outcome = match request {
                Request::Command(command) => {
                    // Its decision is guarded in `command`; a panic here came after it
                    // (stamping, checking or applying what it raised). If in `apply`, the
                    // model may hold part of it (`stale`), and is rebuilt below.
                    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        self.command(env, command, &mut to_append)
                    }));
                    Pending::Command(ran.unwrap_or_else(|panic| {
                        to_append.truncate(start);
                        let message = panic_message(&*panic);
                        tracing::error!(service = %self.name, %message, rebuilding = self.stale, "a command panicked after its decision; it is refused");
                        self.domain_panics.record(PanicStage::Apply);
                        self.panics += usize::from(self.stale);
                        Err(CommandError::Fault(message))
                    }))
                }
                Request::External(incoming) => {
                    let already: Vec<Option<CloudEvent>> =
                        stored.by_ref().take(incoming.arrivals.len()).collect();
                    Pending::External(self.external(
                        store,
                        now,
                        incoming,
                        already,
                        &mut taken,
                        &mut to_append,
                        &mut links,
                    ))
                }
            };
            if self.stale {
                // What this batch took so far stays; the model is made again from the store
                // and it, without the part of the request that panicked (already cut from
                // `to_append`, and from `taken` by `external`; a command adds nothing there).
                self.restore(store, &to_append)?;
            }
            pending.push((outcome, start..to_append.len()));
        }

        let outcomes = match store.append(&to_append, &links) {
            Ok(outcomes) => outcomes,
            Err(error) => {
                tracing::error!(service = %self.name, %error, "append failed; rebuilding the model from the store");
                if let Err(rebuild) = self.restore(store, &[]) {
                    tracing::error!(service = %self.name, error = %rebuild, "rebuilding the model failed; the next batch tries again");
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
            .map(|(outcome, range)| {
                let events = stored[range].iter_mut().filter_map(Option::take);
                match outcome {
                    Pending::Command(result) => (
                        Reply::Command(result.map(|()| events.collect())),
                        Spent::default(),
                    ),
                    Pending::External(report) => (
                        Reply::External(report),
                        Spent {
                            events: events.map(|stored| stored.event).collect(),
                        },
                    ),
                }
            })
            .collect())
    }

    /// Runs one command: decides, stamps, checks what it raised, applies.
    fn command(
        &mut self,
        env: &mut dyn Env,
        command: Command<M>,
        to_append: &mut Vec<CloudEvent>,
    ) -> Result<(), CommandError> {
        // A decision reads the model (`&M`): its panic refuses the command alone, with no
        // rebuild. A model with interior mutability (a cache behind a lock) is on its own.
        let decided =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| command(&self.model)));
        let drafts = decided.unwrap_or_else(|panic| {
            let message = panic_message(&*panic);
            tracing::error!(service = %self.name, %message, "a command's decision panicked; it is refused");
            self.domain_panics.record(PanicStage::Decide);
            Err(CommandError::Fault(message))
        })?;
        let events = self.stamp(env, drafts);
        for event in &events {
            // What a command raises must be as carriable as what a peer may send.
            let mut text = Vec::with_capacity(event.encoded_len());
            event.write_json(&mut text, None);
            let text = String::from_utf8(text).expect("event JSON is UTF-8");
            if let Err(error) = CloudEvent::parse(&text, &self.limits) {
                return Err(CommandError::Invalid(format!(
                    "the command would raise an event beyond this service's limits: {error}"
                )));
            }
        }
        // A type outside the catalogue may be raised (for other services to read); it is
        // stored, and the model, which cannot read it, does not apply it.
        let mut decoded = Vec::with_capacity(events.len());
        for event in &events {
            match decode_guarded(&*self.catalogue, event) {
                Decoded::Event(typed) => decoded.push(Some(typed)),
                Decoded::Malformed(error) | Decoded::Refused(error) => {
                    return Err(CommandError::Invalid(format!(
                        "the command built a malformed event: {error}"
                    )))
                }
                Decoded::Panicked(error) => {
                    // Nothing is applied yet: the model is whole, and the command refused.
                    self.domain_panics.record(PanicStage::Decode);
                    return Err(CommandError::Fault(error.to_string()));
                }
                Decoded::Unknown => decoded.push(None),
            }
        }
        for (event, typed) in events.into_iter().zip(decoded) {
            match &typed {
                Some(typed) => self.apply(&event, typed),
                None => self.clock.observe(event.time),
            }
            to_append.push(event);
        }
        Ok(())
    }

    /// Takes in one external batch: see [`Intake`] for how refusals are handled.
    #[allow(clippy::too_many_arguments)]
    fn external(
        &mut self,
        store: &dyn EventStore,
        now: Timestamp,
        incoming: Incoming<M::Event>,
        already: Vec<Option<CloudEvent>>,
        taken: &mut HashMap<EventId, usize>,
        to_append: &mut Vec<CloudEvent>,
        links: &mut Vec<LinkUpdate>,
    ) -> Result<PutReport, Refusal> {
        let Incoming {
            arrivals,
            intake,
            mut link,
            retrying,
        } = incoming;
        // Decoded on the caller's thread, where nothing counts; counted here, once each.
        for arrival in &arrivals {
            if matches!(arrival.decoded, Decoded::Panicked(_)) {
                self.domain_panics.record(PanicStage::Decode);
            }
        }
        // First decide every event, changing nothing, so that an all-or-nothing batch can
        // still be refused whole.
        let mut decided: Vec<Disposition> = Vec::with_capacity(arrivals.len());
        for (index, (arrival, stored)) in arrivals.iter().zip(&already).enumerate() {
            let event = &arrival.event;
            let earlier = taken.get(&event.id).map(|&i| &to_append[i]);
            match self.disposition(now, arrival, stored.as_ref().or(earlier)) {
                Err(error) if intake == Intake::AllOrNothing => {
                    return Err(Refusal { index, error })
                }
                Err(error) => decided.push(Disposition::Rejected(error.to_string())),
                Ok(disposition) => decided.push(disposition),
            }
        }
        let mut report = PutReport {
            results: Vec::with_capacity(arrivals.len()),
        };
        let mut letters = Vec::new();
        let mut resolved = Vec::new();
        let start = to_append.len();
        for (index, (arrival, mut disposition)) in arrivals.into_iter().zip(decided).enumerate() {
            let Arrival { event, decoded } = arrival;
            if disposition == Disposition::Accepted {
                // A repeat of an id accepted a moment ago in this same batch or group commit.
                if let Some(&i) = taken.get(&event.id) {
                    disposition = if to_append[i].same_content(&event) {
                        Disposition::Duplicate
                    } else {
                        Disposition::Conflict(conflict_reason(&event))
                    };
                }
            }
            // A put is refused whole at its first panic, so it costs one rebuild at most, as
            // a command does: only a link's page is capped.
            if let (Disposition::Accepted, Decoded::Event(_), Intake::EachEvent) =
                (&disposition, &decoded, intake)
            {
                if self.panics >= MAX_PANICS_PER_BATCH {
                    // Each panic costs a replay of the store: a page of them would hold the
                    // writer for as many. The rest waits as dead letters, to be re-delivered.
                    disposition = Disposition::Rejected(
                        "not applied: this service's model failed on events of the batch \
                         before it (its domain code panicked, or could not be rebuilt after); \
                         re-deliver it once that is fixed"
                            .to_owned(),
                    );
                }
            }
            if let (Disposition::Accepted, Decoded::Event(typed)) = (&disposition, &decoded) {
                if let Err(message) = self.guarded_apply(&event, typed) {
                    self.panics += 1;
                    tracing::error!(service = %self.name, id = %event.id, %message, "applying an external event panicked; it is refused and the model rebuilt");
                    // The panic's message stays in the log: it may show the service's state.
                    let error = EventError::new(
                        "event",
                        "this service's model failed applying it (its domain code panicked); it is not stored",
                    );
                    if intake == Intake::AllOrNothing {
                        // Nothing of the batch is kept; the caller's loop rebuilds the model.
                        to_append.truncate(start);
                        taken.retain(|_, &mut i| i < start);
                        return Err(Refusal { index, error });
                    }
                    // Rebuilt now, so the events after it apply to a whole model. Should
                    // that fail, the model stays stale and the caller's loop tries again,
                    // failing the batch if it cannot.
                    if let Err(failed) = self.restore(store, to_append) {
                        tracing::error!(service = %self.name, error = %failed, "rebuilding the model failed");
                        // Nothing more is applied to a part-built model.
                        self.panics = MAX_PANICS_PER_BATCH;
                    }
                    disposition = Disposition::Rejected(error.to_string());
                }
            }
            match &disposition {
                Disposition::Accepted => {
                    taken.insert(event.id.clone(), to_append.len());
                    report.results.push((event.id.clone(), disposition));
                    if retrying {
                        resolved.push(event.id.to_string());
                        resolved.push(refused_letter_id(&event.id));
                    }
                    to_append.push(event);
                    continue;
                }
                Disposition::Rejected(reason) | Disposition::Conflict(reason) => {
                    if link.is_some() {
                        let mut text = Vec::with_capacity(event.encoded_len());
                        event.write_json(&mut text, None);
                        // A forgery's letter is kept apart from the genuine event's: both
                        // carry the same id, and a relay must not be able to overwrite the
                        // letter of a genuine event refused for another reason (a clock
                        // ahead) with a copy that can never be delivered.
                        let id = if matches!(decoded, Decoded::Refused(_)) {
                            refused_letter_id(&event.id)
                        } else {
                            event.id.to_string()
                        };
                        letters.push(DeadLetter {
                            id,
                            reason: reason.clone(),
                            at: now.to_rfc3339(),
                            event: String::from_utf8(text).ok(),
                        });
                    }
                }
                Disposition::Duplicate | Disposition::Ignored(_) => {
                    if retrying {
                        resolved.push(event.id.to_string());
                        resolved.push(refused_letter_id(&event.id));
                    }
                }
            }
            report.results.push((event.id.clone(), disposition));
        }
        if let Some(link) = &mut link {
            link.dead_letters.extend(letters);
            link.resolved.extend(resolved);
        }
        links.extend(link);
        Ok(report)
    }

    /// What to do with one external event, given the stored (or earlier accepted) event
    /// with its id, if any; `Err` when this service refuses it (malformed, or from a clock
    /// too far ahead).
    fn disposition(
        &self,
        now: Timestamp,
        arrival: &Arrival<M::Event>,
        stored: Option<&CloudEvent>,
    ) -> Result<Disposition, EventError> {
        let event = &arrival.event;
        // A forged event is refused even under a stored id: it must not pass as a
        // conflict or a duplicate (id squatting, a relay's alteration).
        if let Decoded::Refused(error) = &arrival.decoded {
            return Err(error.clone());
        }
        if let Some(stored) = stored {
            return Ok(if stored.same_content(event) {
                Disposition::Duplicate
            } else {
                Disposition::Conflict(conflict_reason(event))
            });
        }
        match &arrival.decoded {
            Decoded::Unknown => Ok(Disposition::Ignored(format!(
                "type {} is outside this service's event catalogue",
                event.ty
            ))),
            Decoded::Malformed(error) | Decoded::Panicked(error) | Decoded::Refused(error) => {
                Err(error.clone())
            }
            Decoded::Event(_) => match self.policy.check(event) {
                Some(reason) => Ok(Disposition::Ignored(reason)),
                None => self.within_skew(now, event).map(|()| Disposition::Accepted),
            },
        }
    }

    /// Refuses an event whose time lies beyond the allowed skew ahead of this service's
    /// clock: last-writer-wins would let it win over everything for as long as it is ahead.
    fn within_skew(&self, now: Timestamp, event: &CloudEvent) -> Result<(), EventError> {
        let ahead = event.time.unix_nanos() - now.unix_nanos();
        if ahead <= self.limits.max_skew_nanos() {
            return Ok(());
        }
        Err(EventError::new(
            "time",
            format!(
                "{} is {} ahead of this service's clock; the allowed skew is {}",
                event.time_text(),
                describe_nanos(ahead),
                describe_nanos(self.limits.max_skew_nanos())
            ),
        ))
    }

    fn stamp(&mut self, env: &mut dyn Env, drafts: Vec<EventDraft>) -> Vec<CloudEvent> {
        drafts
            .into_iter()
            .map(|draft| {
                let time = self.clock.tick(env.now());
                let id = env::new_event_id(env, time);
                let mut event = CloudEvent::new(id, self.name.clone(), draft.ty, time, draft.data);
                if let Some(signer) = &self.signer {
                    signer.sign(&mut event);
                }
                event
            })
            .collect()
    }

    /// The one way the model changes.
    fn apply(&mut self, event: &CloudEvent, typed: &M::Event) {
        self.clock.observe(event.time);
        // Set for the call, then put back as it was: a model already stale stays so.
        let was = std::mem::replace(&mut self.stale, true);
        self.model.apply(typed, &Envelope::of(event));
        self.stale = was;
    }

    /// [`ServiceCore::apply`], a panic in the domain's code caught: its message, the model
    /// left stale.
    fn guarded_apply(&mut self, event: &CloudEvent, typed: &M::Event) -> Result<(), String> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.apply(event, typed))).map_err(
            |panic| {
                self.domain_panics.record(PanicStage::Apply);
                panic_message(&*panic)
            },
        )
    }

    /// Makes the model again from the store and then `taken`, the events this batch has
    /// taken so far (not yet stored): after a panic in the domain's code left it holding part
    /// of an event, or a failed append left it holding what the store does not. On failure
    /// the model stays stale; the error names no event (only the log does), as it reaches
    /// every caller of the group commit, some of whom may not read that event.
    fn restore(&mut self, store: &dyn EventStore, taken: &[CloudEvent]) -> Result<(), StoreError> {
        self.stale = true;
        self.rebuild(store)?;
        let Err(error) = self.reapply(taken) else {
            self.stale = false;
            return Ok(());
        };
        // The batch fails, and the model holds part of it, which will never be stored: it is
        // made from the store alone again, so that queries show what is stored. It stays
        // stale all the same, so the batch cannot go on and the next one starts afresh.
        match self.rebuild(store) {
            // A store that failed now matters more: it is what a retry waits for.
            Err(failed) if !matches!(failed, StoreError::Model(_)) => Err(failed),
            _ => Err(error),
        }
    }

    /// Applies again the events a batch took before its model was rebuilt.
    fn reapply(&mut self, taken: &[CloudEvent]) -> Result<(), StoreError> {
        let catalogue = Arc::clone(&self.catalogue);
        for event in taken {
            self.clock.observe(event.time);
            // Decoded and applied once already in this batch; guarded all the same.
            let typed = match decode_guarded(&*catalogue, event) {
                Decoded::Event(typed) => typed,
                // Not applied the first time either: a command may raise a type the model
                // does not read.
                Decoded::Unknown => continue,
                Decoded::Panicked(error) => {
                    self.domain_panics.record(PanicStage::Decode);
                    return Err(self.undecodable_again(event, &error));
                }
                Decoded::Malformed(error) | Decoded::Refused(error) => {
                    return Err(self.undecodable_again(event, &error))
                }
            };
            if let Err(message) = self.guarded_apply(event, &typed) {
                tracing::error!(service = %self.name, id = %event.id, %message, "applying an event of the batch again panicked");
                return Err(StoreError::Model(
                    "the domain's code panicked applying an event of this batch again".to_owned(),
                ));
            }
        }
        Ok(())
    }

    /// An event of the batch that decoded once and not the second time (a catalogue whose
    /// answer changes): the model cannot be made to hold it, so the rebuild fails.
    fn undecodable_again(&self, event: &CloudEvent, error: &EventError) -> StoreError {
        tracing::error!(service = %self.name, id = %event.id, %error, "decoding an event of the batch again failed");
        StoreError::Model(
            "the domain's catalogue failed decoding an event of this batch again".to_owned(),
        )
    }

    /// Replays the whole store into a fresh model. A panic in the domain's code is caught in
    /// the sink, not let unwind through the store's own code (its locks, its reader thread):
    /// the rest of the replay is read and ignored, and the rebuild fails naming the event.
    fn rebuild(&mut self, store: &dyn EventStore) -> Result<(), StoreError> {
        self.model = fresh_model(&self.domain_panics)?;
        self.clock = HybridClock::new(self.limits.max_skew_nanos());
        let (mut replayed, mut skipped) = (0u64, 0u64);
        let mut failed: Option<(u64, String)> = None;
        let catalogue = Arc::clone(&self.catalogue);
        store.replay(0, &mut |stored: &StoredEvent| {
            if failed.is_some() {
                return;
            }
            replayed += 1;
            self.clock.observe(stored.event.time);
            // Decoded once here, as at intake. A stored event the catalogue no longer reads
            // (the catalogue changed under stored events) is skipped.
            let decoded = decode_guarded(&*catalogue, &stored.event);
            if matches!(decoded, Decoded::Panicked(_)) {
                self.domain_panics.record(PanicStage::Decode);
            }
            match decoded {
                Decoded::Event(typed) => {
                    let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        self.model.apply(&typed, &Envelope::of(&stored.event))
                    }));
                    if let Err(panic) = applied {
                        self.domain_panics.record(PanicStage::Rebuild);
                        failed = Some((stored.sequence, panic_message(&*panic)));
                    }
                }
                Decoded::Malformed(error) | Decoded::Panicked(error) | Decoded::Refused(error) => {
                    skipped += 1;
                    tracing::warn!(id = %stored.event.id, ty = %stored.event.ty, %error, "skipping a stored event whose data does not decode");
                }
                Decoded::Unknown => {}
            }
        })?;
        if let Some((sequence, message)) = failed {
            tracing::error!(service = %self.name, sequence, %message, "replaying the store panicked");
            return Err(StoreError::Model(format!(
                "the domain's code panicked applying the stored event at sequence {sequence} \
                 (its message is in the log)"
            )));
        }
        tracing::debug!(service = %self.name, replayed, skipped, "model rebuilt from the store");
        Ok(())
    }
}

/// The catalogue's decoding, a panic in the domain's code caught: an error about the event
/// (so a link sets the event aside and a put batch is refused naming it), the message logged.
/// It runs on the caller's thread, so what took it counts the panic.
fn decode_guarded<E: Send + Sync + 'static>(
    catalogue: &dyn Catalogue<Event = E>,
    event: &CloudEvent,
) -> Decoded<E> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| catalogue.decode(event))) {
        Ok(None) => Decoded::Unknown,
        Ok(Some(Ok(decoded))) => Decoded::Event(decoded),
        Ok(Some(Err(error))) => Decoded::Malformed(error),
        Err(panic) => {
            let message = panic_message(&*panic);
            tracing::error!(id = %event.id, ty = %event.ty, %message, "the catalogue panicked decoding an event");
            Decoded::Panicked(EventError::new(
                "event",
                "this service's catalogue failed reading it (its domain code panicked)",
            ))
        }
    }
}

/// A model as its `Default` makes it, a panic there caught (and counted): the rebuild fails.
fn fresh_model<M: Model>(panics: &DomainPanics) -> Result<M, StoreError> {
    std::panic::catch_unwind(M::default).map_err(|panic| {
        panics.record(PanicStage::Rebuild);
        let message = panic_message(&*panic);
        tracing::error!(%message, "making an empty model panicked");
        StoreError::Model(
            "the domain's code panicked making an empty model (its message is in the log)".into(),
        )
    })
}

/// The dead letter id under which a link keeps an event refused for its signature: the
/// event's id with a suffix, so it never replaces the letter of the genuine event.
pub fn refused_letter_id(id: &str) -> String {
    format!("{id} (signature refused)")
}

fn conflict_reason(event: &CloudEvent) -> String {
    format!(
        "an event with id {} but different content is already stored; an id names one event",
        event.id
    )
}

/// A duration for people: `5 min`, `2 h 3 min`, `73 days`.
fn describe_nanos(nanos: i128) -> String {
    let seconds = nanos / 1_000_000_000;
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 3 * 86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} days", s / 86_400),
    }
}

enum Pending {
    Command(Result<(), CommandError>),
    External(Result<PutReport, Refusal>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::{Signer, DSSEMATERIAL};

    #[test]
    fn a_long_page_is_verified_in_order_whatever_the_split() {
        let signer = Signer::from_seed("office/v1", [3; 32]);
        let mut verifier = Verifier::new();
        verifier.trust("office", signer.public(), None);
        let time = Timestamp::parse("2026-11-26T09:30:00Z").unwrap();
        let events: Vec<CloudEvent> = (0..SPLIT_VERIFY_MIN * 2 + 1)
            .map(|i| {
                let mut data = Map::new();
                data.insert("n".into(), Value::from(i));
                let mut event = CloudEvent::new(format!("e-{i}"), "office", "counted", time, data);
                signer.sign(&mut event);
                // Every seventh one forged: its signature copied onto another id.
                if i % 7 == 3 {
                    event.id = format!("forged-{i}").into();
                }
                event
            })
            .collect();
        let verdicts = verify_all(&verifier, &events, false);
        assert_eq!(verdicts.len(), events.len());
        for (i, (event, verdict)) in events.iter().zip(&verdicts).enumerate() {
            assert_eq!(verdict.is_err(), i % 7 == 3, "{i}: {verdict:?}");
            assert!(event.extensions.contains_key(DSSEMATERIAL));
        }
        assert_eq!(
            verdicts,
            events
                .iter()
                .map(|e| verifier.verify(e, false))
                .collect::<Vec<_>>()
        );
    }
}
