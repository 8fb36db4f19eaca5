//! The simulator on a toy domain: two writers, a hub pulling from both, a reader pulling from
//! the hub, and an archive the first writer pushes to. Thousands of faulty schedules must
//! converge; a model where arrival order wins, and a push link that skips ahead when a save
//! fails, must be caught.

use concord_core::acceptance::{AcceptancePolicy, AcceptanceRule};
use concord_core::event::Timestamp;
use concord_core::model::{Envelope, Model};
use concord_core::runtime::{CommandError, EventDraft, SharedCatalogue};
use concord_core::service::{Api, Params, ServiceSpec};
use concord_sim::network::NetworkFaults;
use concord_sim::service::model_of;
use concord_sim::{hosted, simulate, Faults, NodeSpec, Scenario, SimConfig, SimService};
use concord_sync::LinkSpec;
use concord_testkit::notes::{catalogue, NoteEvent, Notes};
use serde_json::{json, Value};

/// Arrival order wins: the deliberately broken model the checker must catch.
#[derive(Clone, Debug, Default, PartialEq)]
struct ArrivalOrderNotes {
    inner: Notes,
    arrivals: i128,
}

impl Model for ArrivalOrderNotes {
    type Event = NoteEvent;

    fn apply(&mut self, event: &NoteEvent, envelope: &Envelope<'_>) {
        self.arrivals += 1;
        let mut envelope = envelope.clone();
        envelope.stamp.time = Timestamp::from_unix_nanos(self.arrivals);
        self.inner.apply(event, &envelope);
    }
}

#[derive(serde::Deserialize)]
struct Write {
    #[serde(rename = "noteId")]
    note_id: String,
    text: String,
}

fn write<M>(_: &M, _: &Params, input: Write) -> Result<Vec<EventDraft>, CommandError> {
    Ok(vec![EventDraft::new(
        "noteWritten",
        json!({"noteId": input.note_id, "text": input.text}),
    )])
}

struct NoteService<M> {
    name: &'static str,
    _model: std::marker::PhantomData<fn() -> M>,
}

impl<M: Model<Event = NoteEvent>> ServiceSpec for NoteService<M> {
    type Model = M;
    fn name(&self) -> &str {
        self.name
    }
    fn catalogue(&self) -> SharedCatalogue<M> {
        catalogue::<M>()
    }
    fn default_acceptance(&self) -> AcceptancePolicy {
        if self.name.starts_with("writer") {
            return AcceptancePolicy::default(); // writers only write
        }
        if self.name == "archive" {
            return AcceptancePolicy::new(vec![AcceptanceRule::new("writer-1", "noteWritten")]);
        }
        AcceptancePolicy::new(vec![
            AcceptanceRule::new("writer-1", "noteWritten"),
            AcceptanceRule::new("writer-2", "noteWritten"),
        ])
    }
    fn api(&self) -> Api<M> {
        Api::new().command("/api/notes", "write a note", json!({}), write::<M>)
    }
}

fn service<M: Model<Event = NoteEvent> + std::fmt::Debug + PartialEq>(
    name: &'static str,
) -> concord_sim::Opener {
    hosted(
        NoteService::<M> {
            name,
            _model: std::marker::PhantomData,
        },
        None,
    )
}

struct NotesScenario {
    broken_hub: bool,
}

impl Scenario for NotesScenario {
    fn nodes(&self) -> Vec<NodeSpec> {
        let pull = |peer: &str| LinkSpec::pull(peer, "", &["noteWritten"]).with_interval(50);
        vec![
            NodeSpec {
                name: "writer-1".into(),
                open: service::<Notes>("writer-1"),
                links: vec![
                    LinkSpec::push("writer-1", "archive", "", &["noteWritten"]).with_interval(50)
                ],
                recoverable: false,
            },
            NodeSpec {
                name: "writer-2".into(),
                open: service::<Notes>("writer-2"),
                links: vec![],
                recoverable: false,
            },
            NodeSpec {
                name: "hub".into(),
                open: if self.broken_hub {
                    service::<ArrivalOrderNotes>("hub")
                } else {
                    service::<Notes>("hub")
                },
                links: vec![pull("writer-1"), pull("writer-2")],
                // The hub only relays the writers: wiping it loses nothing for good, but
                // the reader's link must notice and be reset.
                recoverable: true,
            },
            NodeSpec {
                name: "reader".into(),
                open: service::<Notes>("reader"),
                links: vec![LinkSpec::pull("hub", "", &["noteWritten"]).with_interval(50)],
                // The reader only copies the hub: wiping it loses nothing for good.
                recoverable: true,
            },
            NodeSpec {
                name: "archive".into(),
                open: service::<Notes>("archive"),
                links: vec![],
                // Only what writer-1 pushes: after a wipe its push link stops, is reset and
                // delivers everything again.
                recoverable: true,
            },
        ]
    }

    fn command(&mut self, rng: &mut fastrand::Rng) -> Option<(String, String, Value)> {
        let writer = if rng.bool() { "writer-1" } else { "writer-2" };
        let body =
            json!({"noteId": format!("n{}", rng.u8(0..4)), "text": format!("t{}", rng.u8(..))});
        Some((writer.into(), "/api/notes".into(), body))
    }

    fn check(&self, services: &[&dyn SimService]) -> Result<(), String> {
        let notes = |i: usize| -> Vec<(String, Option<String>)> {
            let model = model_of::<Notes>(services[i])
                .or_else(|| model_of::<ArrivalOrderNotes>(services[i]).map(|m| &m.inner))
                .expect("a notes service");
            model
                .notes
                .iter()
                .map(|(k, v)| (k.clone(), v.text.get().cloned()))
                .collect()
        };
        let mut merged = Notes::default();
        for writer in [0, 1] {
            let model = model_of::<Notes>(services[writer]).expect("writers are notes");
            for (id, note) in model.notes.iter() {
                if let (Some(t), Some(stamp)) = (note.text.get(), note.text.stamp()) {
                    let merged = merged.notes.get_or_create(id.clone());
                    merged.text.set(t.clone(), stamp);
                }
            }
        }
        let expected: Vec<_> = merged
            .notes
            .iter()
            .map(|(k, v)| (k.clone(), v.text.get().cloned()))
            .collect();
        for node in [2, 3] {
            if notes(node) != expected {
                return Err(format!(
                    "{} holds {:?}, the writers' last writes are {expected:?}",
                    services[node].name(),
                    notes(node)
                ));
            }
        }
        if notes(4) != notes(0) {
            return Err(format!(
                "archive holds {:?}, writer-1 wrote {:?}",
                notes(4),
                notes(0)
            ));
        }
        Ok(())
    }
}

#[test]
fn many_faulty_schedules_converge() {
    let mut totals = concord_sim::Outcome::default();
    for seed in 0..300 {
        let outcome = simulate(
            SimConfig::new(seed),
            &mut NotesScenario { broken_hub: false },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(outcome.commands_acked > 0);
        totals.clock_jumps += outcome.clock_jumps;
        totals.store_resets += outcome.store_resets;
        totals.link_resets += outcome.link_resets;
        totals.dead_letters_retried += outcome.dead_letters_retried;
        totals.pages_fetched_ahead += outcome.pages_fetched_ahead;
        totals.pages_asked_two_ahead += outcome.pages_asked_two_ahead;
        totals.pages_taken_two_ahead += outcome.pages_taken_two_ahead;
        totals.pages_delivered_ahead += outcome.pages_delivered_ahead;
        totals.commits_failed += outcome.commits_failed;
    }
    // The new faults happen, and were recovered from: stopped links reset, refused events
    // re-delivered (every run above ended converged with no dead letter left).
    assert!(totals.clock_jumps > 10, "{totals:?}");
    assert!(totals.dead_letters_retried > 10, "{totals:?}");
    assert!(totals.store_resets > 10, "{totals:?}");
    assert!(totals.link_resets > 10, "{totals:?}");
    // Both pipelines ran, and commits failed under them.
    assert!(totals.pages_fetched_ahead > 100, "{totals:?}");
    assert!(totals.pages_asked_two_ahead > 100, "{totals:?}");
    assert!(totals.pages_taken_two_ahead > 1000, "{totals:?}");
    assert!(totals.pages_delivered_ahead > 100, "{totals:?}");
    assert!(totals.commits_failed > 10, "{totals:?}");
}

/// Commits that take long and often fail, over a lossy network: rounds overlap all the time,
/// and the round ahead is often out when the save before it fails.
fn failing_commits(seed: u64) -> SimConfig {
    SimConfig {
        faults: Some(Faults {
            network: NetworkFaults {
                drop: 0.2,
                duplicate: 0.1,
                max_delay_ms: 100,
            },
            max_commit_ms: 150,
            commit_failure: 0.2,
            ..Faults::none()
        }),
        ..SimConfig::new(seed)
    }
}

/// Commits slower than a request's timeout: a page fetched ahead can time out before its
/// round begins, and that round then fails and backs off, as the node's does.
#[test]
fn pages_ahead_that_time_out_fail_their_round_and_links_still_converge() {
    let mut totals = concord_sim::Outcome::default();
    for seed in 0..100 {
        let mut config = failing_commits(seed);
        if let Some(faults) = config.faults.as_mut() {
            faults.max_commit_ms = 2_500;
        }
        let outcome = simulate(config, &mut NotesScenario { broken_hub: false })
            .unwrap_or_else(|e| panic!("{e}"));
        totals.pages_ahead_timed_out += outcome.pages_ahead_timed_out;
        totals.pages_fetched_ahead += outcome.pages_fetched_ahead;
    }
    assert!(totals.pages_ahead_timed_out > 50, "{totals:?}");
    assert!(totals.pages_fetched_ahead > 10, "{totals:?}");
}

#[test]
fn pipelined_links_converge_when_commits_fail() {
    let mut totals = concord_sim::Outcome::default();
    for seed in 0..100 {
        let outcome = simulate(
            failing_commits(seed),
            &mut NotesScenario { broken_hub: false },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        totals.pages_delivered_ahead += outcome.pages_delivered_ahead;
        totals.commits_failed += outcome.commits_failed;
    }
    assert!(totals.pages_delivered_ahead > 100, "{totals:?}");
    assert!(totals.commits_failed > 100, "{totals:?}");
}

#[test]
fn a_push_link_that_skips_ahead_when_a_save_fails_is_caught() {
    let caught = (0..100).find_map(|seed| {
        let config = SimConfig {
            broken_push: true,
            ..failing_commits(seed)
        };
        simulate(config, &mut NotesScenario { broken_hub: false }).err()
    });
    let report = caught.expect("100 seeds never caught a push link skipping ahead");
    // Caught although the archive's notes may agree with the writer's in the end: what it
    // skipped was often overwritten later.
    assert!(
        report.contains("skipped") && report.contains("archive"),
        "{report}"
    );
}

#[test]
fn the_same_seed_replays_the_same_run() {
    let a = simulate(SimConfig::new(42), &mut NotesScenario { broken_hub: false }).unwrap();
    let b = simulate(SimConfig::new(42), &mut NotesScenario { broken_hub: false }).unwrap();
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}

#[test]
fn a_model_where_arrival_order_wins_is_caught() {
    let caught = (0..300).find_map(|seed| {
        simulate(
            SimConfig::new(seed),
            &mut NotesScenario { broken_hub: true },
        )
        .err()
    });
    let report = caught.expect("300 seeds never caught an arrival-order model");
    assert!(report.contains("hub"), "{report}");
}
