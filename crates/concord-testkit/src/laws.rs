//! The laws, checked over generated histories: a history is a set of events (distinct ids)
//! and an arrival order in which each arrives at least once, shuffled, some repeated.

use std::collections::HashSet;
use std::fmt::{self, Debug};
use std::panic::{catch_unwind, AssertUnwindSafe};

use concord_core::model::Envelope;
use concord_core::runtime::{External, Intake, Request, SeededEnv, SharedCatalogue};
use concord_core::store::MemoryStore;
use concord_core::{AcceptancePolicy, AcceptanceRule, CloudEvent, Model, ServiceCore, Timestamp};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestError, TestRunner};

/// The name the checked service runs under (never an event's source in a sane generator).
const SERVICE: &str = "concord-testkit";

/// The convergence laws of one model, checked with its catalogue as the decoder.
pub struct Laws<M: Model> {
    catalogue: SharedCatalogue<M>,
    cases: u32,
}

/// A law a history broke: which, how, and the (shrunk) history itself.
#[derive(Clone, Debug)]
pub struct Violation {
    pub law: &'static str,
    pub detail: String,
    pub events: Vec<CloudEvent>,
    /// Indices into `events`, in arrival order.
    pub order: Vec<usize>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "law broken: {}: {}", self.law, self.detail)?;
        writeln!(
            f,
            "the history ({} events, in (time, id) order):",
            self.events.len()
        )?;
        for (i, event) in self.events.iter().enumerate() {
            let mut text = Vec::new();
            event.write_json(&mut text, None);
            writeln!(f, "  [{i}] {}", String::from_utf8_lossy(&text))?;
        }
        write!(f, "arriving in the order {:?}", self.order)
    }
}

impl std::error::Error for Violation {}

impl<M: Model + PartialEq + Debug> Laws<M> {
    pub fn new(catalogue: SharedCatalogue<M>) -> Self {
        Laws {
            catalogue,
            cases: 256,
        }
    }

    /// How many histories to try (256 by default).
    pub fn cases(mut self, cases: u32) -> Self {
        self.cases = cases;
        self
    }

    /// Checks every law over histories built from `events` (a generator of event sets with
    /// distinct ids); the first violation, shrunk to a minimal history.
    pub fn verify(
        &self,
        events: impl Strategy<Value = Vec<CloudEvent>>,
    ) -> Result<(), Box<Violation>> {
        let mut runner = TestRunner::new(Config {
            cases: self.cases,
            failure_persistence: None,
            ..Config::default()
        });
        let outcome = runner.run(&history(events), |(events, order)| {
            self.verify_history(&events, &order)
                .map_err(|violation| TestCaseError::fail(violation.to_string()))
        });
        match outcome {
            Ok(()) => Ok(()),
            Err(TestError::Fail(_, (events, order))) => self.verify_history(&events, &order),
            Err(TestError::Abort(reason)) => Err(Box::new(Violation {
                law: "a usable generator",
                detail: reason.to_string(),
                events: Vec::new(),
                order: Vec::new(),
            })),
        }
    }

    /// [`Laws::verify`], panicking with the minimal history when a law is broken: for tests.
    pub fn check(&self, events: impl Strategy<Value = Vec<CloudEvent>>) {
        if let Err(violation) = self.verify(events) {
            panic!("{violation}");
        }
    }

    /// Every law on one history: `events` (distinct ids) arriving in `order`.
    pub fn verify_history(
        &self,
        events: &[CloudEvent],
        order: &[usize],
    ) -> Result<(), Box<Violation>> {
        let mut sorted: Vec<&CloudEvent> = events.iter().collect();
        sorted.sort_by_key(|e| e.stamp());
        let violation = |law: &'static str, detail: String| {
            Box::new(Violation {
                law,
                detail,
                events: sorted.iter().map(|&e| e.clone()).collect(),
                order: order
                    .iter()
                    .map(|&i| {
                        sorted
                            .iter()
                            .position(|e| e.id == events[i].id)
                            .unwrap_or(i)
                    })
                    .collect(),
            })
        };
        let mut ids = HashSet::new();
        if let Some(twice) = events.iter().find(|e| !ids.insert(&e.id)) {
            return Err(violation(
                "a usable generator",
                format!(
                    "id {} is drawn twice; a history's events have distinct ids",
                    twice.id
                ),
            ));
        }
        let mut decoded = Vec::with_capacity(events.len());
        for event in events {
            match self.catalogue.decode(event) {
                Some(Ok(typed)) => decoded.push(Some(typed)),
                None => decoded.push(None),
                Some(Err(error)) => {
                    return Err(violation(
                        "a usable generator",
                        format!("event {} does not decode: {error}", event.id),
                    ))
                }
            }
        }
        let apply = |model: &mut M, index: usize| -> Result<(), String> {
            let Some(typed) = &decoded[index] else {
                return Ok(());
            };
            let envelope = Envelope::of(&events[index]);
            catch_unwind(AssertUnwindSafe(|| model.apply(typed, &envelope)))
                .map_err(|_| format!("applying event {} panicked", events[index].id))
        };
        let mut by_stamp: Vec<usize> = (0..events.len()).collect();
        by_stamp.sort_by_key(|&i| events[i].stamp());

        // No veto: every event applies to a model that knows nothing yet.
        for index in 0..events.len() {
            apply(&mut M::default(), index).map_err(|e| violation("never veto", e))?;
        }
        let mut expected = M::default();
        for &index in &by_stamp {
            apply(&mut expected, index).map_err(|e| violation("never veto", e))?;
        }
        // Idempotence: everything once more changes nothing.
        let mut twice = M::default();
        for &index in by_stamp.iter().chain(&by_stamp) {
            apply(&mut twice, index).map_err(|e| violation("never veto", e))?;
        }
        if twice != expected {
            return Err(violation(
                "idempotence",
                format!(
                    "applying every event twice gives\n{twice:#?}\nbut once gives\n{expected:#?}"
                ),
            ));
        }
        // Order independence: any arrival order, with repeats, gives the (time, id) state.
        let mut arrived = M::default();
        for &index in order {
            apply(&mut arrived, index).map_err(|e| violation("never veto", e))?;
        }
        if arrived != expected {
            return Err(violation(
                "order independence",
                format!(
                    "arriving in this order gives\n{arrived:#?}\nbut in (time, id) order\n{expected:#?}"
                ),
            ));
        }
        self.replay_equals_live(events, order, &expected)
            .map_err(|(law, detail)| violation(law, detail))
    }

    /// Through the real runtime: the events taken as a link takes them (in arrival order,
    /// repeats as duplicates), the live model, and the model a restart replays from the store.
    fn replay_equals_live(
        &self,
        events: &[CloudEvent],
        order: &[usize],
        expected: &M,
    ) -> Result<(), (&'static str, String)> {
        let mut rules: Vec<AcceptanceRule> = Vec::new();
        for event in events {
            if !rules
                .iter()
                .any(|r| r.source == event.source && r.ty == event.ty)
            {
                rules.push(AcceptanceRule::new(&*event.source, &*event.ty));
            }
        }
        let policy = AcceptancePolicy::new(rules);
        let runtime = |e: concord_core::StoreError| ("the runtime", e.to_string());
        let store = MemoryStore::new();
        let mut core =
            ServiceCore::<M>::open(SERVICE, self.catalogue.clone(), policy.clone(), &store)
                .map_err(runtime)?;
        // The clock stands after every event, so none is refused as being from the future.
        let latest = events.iter().map(|e| e.time).max();
        let now =
            Timestamp::from_unix_nanos(latest.map_or(0, |t| t.unix_nanos()) + 3_600_000_000_000);
        let mut env = SeededEnv::new(1, now);
        for &index in order {
            let external = External {
                events: vec![events[index].clone()],
                intake: Intake::EachEvent,
                link: None,
                retrying: false,
                by_operator: false,
            };
            let request = Request::External(external.decode(&*self.catalogue));
            core.execute(&store, &mut env, vec![request])
                .map_err(runtime)?;
        }
        if core.model() != expected {
            return Err((
                "the runtime applies what the model would",
                format!(
                    "taken through ServiceCore the model is\n{:#?}\nbut applied directly\n{expected:#?}",
                    core.model()
                ),
            ));
        }
        let replayed = ServiceCore::<M>::open(SERVICE, self.catalogue.clone(), policy, &store)
            .map_err(runtime)?;
        if replayed.model() != core.model() {
            return Err((
                "replay equals live",
                format!(
                    "replayed from the store the model is\n{:#?}\nbut live it was\n{:#?}",
                    replayed.model(),
                    core.model()
                ),
            ));
        }
        Ok(())
    }
}

/// Histories from a generator of event sets: every event at least once, in a shuffled
/// order, up to eight of them repeated at random places.
pub fn history(
    events: impl Strategy<Value = Vec<CloudEvent>>,
) -> impl Strategy<Value = (Vec<CloudEvent>, Vec<usize>)> {
    events.prop_flat_map(|events| {
        let n = events.len();
        let order = Just((0..n).collect::<Vec<_>>()).prop_shuffle();
        let repeats = prop::collection::vec((any::<Index>(), any::<Index>()), 0..8);
        (Just(events), order, repeats).prop_map(move |(events, mut order, repeats)| {
            if n > 0 {
                for (which, at) in repeats {
                    let position = at.index(order.len() + 1);
                    order.insert(position, which.index(n));
                }
            }
            (events, order)
        })
    })
}
