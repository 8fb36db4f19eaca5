//! The link state machines driven by hand between two in-memory services: what a pull and a
//! push round do, and how they behave when the peer fails or refuses.

use concord_core::acceptance::{AcceptancePolicy, AcceptanceRule};
use concord_core::event::{CloudEvent, Timestamp};
use concord_core::runtime::{
    EventDraft, External, PutReport, Reply, Request, SeededEnv, ServiceCore,
};
use concord_core::store::{EventReader, LinkCursor, LinkUpdate, MemoryStore, ReadQuery};
use concord_core::wire::{read_report, report_json, Page, Unreadable};
use concord_sync::{
    Batch, Delivered, DeliveryError, LinkSpec, LinkState, PullLink, PushLink, PushStep, SyncLink,
    TransportError,
};
use concord_testkit::notes::{catalogue, NoteCatalogue, Notes, NOTE_WRITTEN};
use serde_json::json;

struct Node {
    store: MemoryStore,
    core: ServiceCore<Notes>,
    env: SeededEnv,
}

impl Node {
    fn new(name: &str, accepts_from: &str) -> Self {
        let store = MemoryStore::new();
        let policy = AcceptancePolicy::new(vec![AcceptanceRule::new(accepts_from, NOTE_WRITTEN)]);
        let core = ServiceCore::open(name, catalogue::<Notes>(), policy, &store).unwrap();
        Node {
            store,
            core,
            env: SeededEnv::new(1, now()),
        }
    }

    fn note(&mut self, text: &str) {
        let text = text.to_owned();
        let request = Request::Command(Box::new(move |_: &Notes| {
            Ok(vec![EventDraft::new(
                NOTE_WRITTEN,
                json!({"noteId": text, "text": text}),
            )])
        }));
        self.core
            .execute(&self.store, &mut self.env, vec![request])
            .unwrap();
    }

    fn take(&mut self, external: External) -> PutReport {
        match self
            .core
            .execute(
                &self.store,
                &mut self.env,
                vec![Request::External(external.decode(&NoteCatalogue))],
            )
            .unwrap()
            .remove(0)
        {
            Reply::External(report) => report.unwrap(),
            Reply::Command(_) => unreachable!(),
        }
    }

    /// A link's page (or update) through the one path.
    fn apply(&mut self, events: Vec<CloudEvent>, link: LinkUpdate) -> PutReport {
        self.take(External::from_link(events, link))
    }

    /// What a putEvents call on this node answers, as the sender reads it.
    fn receive(&mut self, events: &[CloudEvent]) -> Delivered {
        let report = self.take(External::put(events.to_vec()));
        read_report(
            report_json(&report, self.store.store_id())
                .to_string()
                .as_bytes(),
        )
        .unwrap()
    }

    /// What a getEvents call on this node answers.
    fn serve(&self, query: &ReadQuery) -> Page {
        let page = self.store.read(query).unwrap();
        Page {
            events: page.events.into_iter().map(|e| e.event).collect(),
            unreadable: Vec::new(),
            next_after: page.next_after,
            has_more: page.has_more,
            last_sequence: Some(self.store.last_sequence().unwrap()),
            store_id: Some(self.store.store_id().to_owned()),
        }
    }
}

fn at(position: u64) -> LinkCursor {
    LinkCursor {
        position,
        peer_store: None,
    }
}

fn deliver(step: PushStep) -> Batch {
    match step {
        PushStep::Deliver(batch) => batch,
        other => panic!("expected a delivery, got {other:?}"),
    }
}

fn save(step: PushStep) -> LinkUpdate {
    match step {
        PushStep::Save(update) => update,
        other => panic!("expected a save, got {other:?}"),
    }
}

fn now() -> Timestamp {
    Timestamp::parse("2026-11-26T09:00:00Z").unwrap()
}

fn texts(node: &Node) -> Vec<String> {
    node.core
        .model()
        .notes
        .iter()
        .map(|(id, _)| id.clone())
        .collect()
}

#[test]
fn a_pull_round_applies_a_page_and_moves_the_cursor_with_it() {
    let mut office = Node::new("office", "nobody");
    let mut group = Node::new("group", "office");
    for i in 0..5 {
        office.note(&format!("n{i}"));
    }
    let mut spec = LinkSpec::pull("office", "", &[NOTE_WRITTEN]);
    spec.page_size = 2;
    let cursor = group
        .store
        .link_cursor("pull-noteWritten-from-office")
        .unwrap();
    let mut link = PullLink::new(spec, cursor, now(), 1);
    let mut rounds = 0;
    while let Some(request) = link.start(now()) {
        rounds += 1;
        let step = link.fetched(now(), Ok(office.serve(&request))).unwrap();
        let report = group.apply(step.events, step.link);
        link.applied(now(), Ok(&report));
    }
    assert_eq!(rounds, 3, "pages of two, while has_more");
    assert_eq!(texts(&group), ["n0", "n1", "n2", "n3", "n4"]);
    let durable = group.store.link_cursor(&link.spec().name).unwrap();
    assert_eq!(durable.position, 5, "the cursor is durable");
    assert_eq!(
        durable.peer_store.as_deref(),
        Some(office.store.store_id()),
        "with the identity of the store it belongs to"
    );
    assert_eq!(link.status().carried, 5);
    assert_eq!(link.status().pending, Some(0));
    assert!(
        link.start(now()).is_none(),
        "an idle link waits for its interval"
    );
}

#[test]
fn a_page_fetched_ahead_is_the_next_round_s_and_a_failed_commit_discards_it() {
    let (office, mut group, mut link) = five_notes_in_pages_of_two();
    assert_eq!(link.prefetch(), None, "nothing is being applied");
    let first = link.start(now()).unwrap();
    let step = link.fetched(now(), Ok(office.serve(&first))).unwrap();
    // While the first page commits, the second is fetched: the request the next round makes.
    let ahead = link.prefetch().expect("the peer has more");
    let ahead_page = office.serve(&ahead);
    let report = group.apply(step.events, step.link);
    link.applied(now(), Ok(&report));
    let second = link.start(now()).unwrap();
    assert_eq!(second, ahead, "the round asks for the page fetched ahead");
    let step = link.fetched(now(), Ok(ahead_page)).unwrap();
    let ahead = link.prefetch().expect("one more page");
    // This commit fails: the cursor stays, and the next round asks for the same page again,
    // not for the one fetched ahead.
    let failure = concord_core::host::HostError::Stopped;
    drop(step);
    link.applied(now(), Err(&failure));
    assert_eq!(link.cursor(), 2);
    link.schedule().force(now());
    let again = link.start(now()).unwrap();
    assert_ne!(again, ahead);
    assert_eq!(again.after, 2);
    let step = link.fetched(now(), Ok(office.serve(&again))).unwrap();
    let report = group.apply(step.events, step.link);
    link.applied(now(), Ok(&report));
    let last = link.start(now()).unwrap();
    let step = link.fetched(now(), Ok(office.serve(&last))).unwrap();
    assert_eq!(link.prefetch(), None, "the last page: nothing after it");
    let report = group.apply(step.events, step.link);
    link.applied(now(), Ok(&report));
    assert_eq!(texts(&group), ["n0", "n1", "n2", "n3", "n4"]);
}

/// An office with five notes, a group that takes them, and the group's pull link reading
/// them in pages of two.
fn five_notes_in_pages_of_two() -> (Node, Node, PullLink) {
    let mut office = Node::new("office", "nobody");
    for i in 0..5 {
        office.note(&format!("n{i}"));
    }
    let mut spec = LinkSpec::pull("office", "", &[NOTE_WRITTEN]);
    spec.page_size = 2;
    let link = PullLink::new(spec, LinkCursor::default(), now(), 1);
    (office, Node::new("group", "office"), link)
}

#[test]
fn the_page_after_one_fetched_ahead_is_the_round_after_next_s() {
    let (office, mut group, mut link) = five_notes_in_pages_of_two();
    let first = link.start(now()).unwrap();
    let step = link.fetched(now(), Ok(office.serve(&first))).unwrap();
    // While the first page commits: the second is fetched, and on its arrival the third
    // is asked for.
    let second_page = office.serve(&link.prefetch().unwrap());
    let third = link.after(&second_page).expect("the peer has more");
    let third_page = office.serve(&third);
    assert_eq!(
        link.after(&third_page),
        None,
        "the last page: nothing after it"
    );
    let report = group.apply(step.events, step.link);
    link.applied(now(), Ok(&report));
    let second = link.start(now()).unwrap();
    let step = link.fetched(now(), Ok(second_page)).unwrap();
    assert_eq!(
        link.prefetch(),
        Some(third.clone()),
        "the page asked for two ahead"
    );
    let report = group.apply(step.events, step.link);
    link.applied(now(), Ok(&report));
    assert_eq!(link.start(now()), Some(third));
    let step = link.fetched(now(), Ok(third_page)).unwrap();
    let report = group.apply(step.events, step.link);
    link.applied(now(), Ok(&report));
    assert_eq!(texts(&group), ["n0", "n1", "n2", "n3", "n4"]);
    assert_eq!((second.after, link.cursor()), (2, 5));
}

#[test]
fn a_stopped_link_asks_for_nothing_ahead() {
    let (office, mut group, mut link) = five_notes_in_pages_of_two();
    let first = link.start(now()).unwrap();
    let page = office.serve(&first);
    assert!(link.after(&page).is_some());
    let step = link.fetched(now(), Ok(page)).unwrap();
    let report = group.apply(step.events, step.link);
    link.applied(now(), Ok(&report));
    // The peer's store is another one than the cursor's (restored from a backup, say): the
    // link stops, and asks for nothing more, not even a page that says there is more.
    let next = link.start(now()).unwrap();
    let mut foreign = office.serve(&next);
    foreign.store_id = Some("another-store".into());
    assert!(foreign.has_more);
    assert!(link.fetched(now(), Ok(foreign.clone())).is_none());
    assert!(link.is_stopped());
    assert_eq!(link.after(&foreign), None);
}

#[test]
fn a_failed_fetch_backs_off_and_keeps_the_cursor() {
    let mut link = PullLink::new(LinkSpec::pull("office", "", &[]), at(7), now(), 1);
    link.start(now()).unwrap();
    let refused = TransportError::Unreachable("connection refused".into());
    assert!(link.fetched(now(), Err(refused)).is_none());
    assert_eq!(link.cursor(), 7);
    assert!(link
        .status()
        .last_error
        .as_deref()
        .unwrap()
        .contains("connection refused"));
    assert_eq!(link.status().failures, 1);
    assert_eq!(link.status().state, LinkState::Failing);
    assert!(link.start(now()).is_none(), "backing off");
}

#[test]
fn an_authorization_failure_says_so() {
    let mut link = PullLink::new(LinkSpec::pull("office", "", &[]), at(0), now(), 1);
    link.start(now()).unwrap();
    let refused =
        TransportError::Unauthorized("not authorized by office (401): unknown token".into());
    assert!(link.fetched(now(), Err(refused)).is_none());
    let error = link.status().last_error.clone().unwrap();
    assert!(error.contains("not authorized"), "{error}");
    assert!(link.start(now()).is_none(), "and is retried with backoff");
}

#[test]
fn events_this_service_refuses_become_dead_letters_with_the_cursor() {
    let mut office = Node::new("office", "nobody");
    let mut group = Node::new("group", "office");
    office.note("good");
    let good = office.store.read(&ReadQuery::after(0, 1)).unwrap().events[0]
        .event
        .clone();
    let bad = CloudEvent::new(
        "bad-1",
        "office",
        NOTE_WRITTEN,
        good.time,
        json!({"other": 1}).as_object().unwrap().clone(),
    );
    let mut link = PullLink::new(LinkSpec::pull("office", "", &[]), at(0), now(), 1);
    link.start(now()).unwrap();
    let mut page = office.serve(&link.spec().query(0));
    page.events.push(bad);
    page.unreadable.push(Unreadable {
        id: None,
        reason: "data: must be a JSON object".into(),
        text: "{\"data\":7}".into(),
    });
    page.next_after = 2;
    let step = link.fetched(now(), Ok(page)).unwrap();
    let report = group.apply(step.events, step.link);
    link.applied(now(), Ok(&report));
    assert_eq!(link.cursor(), 2, "the link moved past the bad events");
    assert_eq!(texts(&group), ["good"]);
    let (count, letters) = group.store.dead_letters(&link.spec().name, 10).unwrap();
    assert_eq!(count, 2, "both are kept durably, with the cursor");
    assert!(letters[0].id.starts_with("(no id"), "{}", letters[0].id);
    assert_eq!(letters[0].event.as_deref(), Some("{\"data\":7}"));
    assert_eq!(letters[1].id, "bad-1");
    assert!(
        letters[1].reason.contains("noteId: is required"),
        "{}",
        letters[1].reason
    );
    assert_eq!(link.status().rejected, 2);
}

#[test]
fn a_peer_whose_log_went_backwards_stops_the_link_until_a_reset() {
    let mut link = PullLink::new(LinkSpec::pull("office", "", &[]), at(50), now(), 1);
    link.start(now()).unwrap();
    let page = Page {
        next_after: 50,
        last_sequence: Some(7),
        ..Page::default()
    };
    assert!(link.fetched(now(), Ok(page)).is_none());
    assert_eq!(link.cursor(), 50);
    assert_eq!(link.status().state, LinkState::Stopped);
    let error = link.status().last_error.clone().unwrap();
    assert!(
        error.contains("ends at 7") && error.contains("reset"),
        "{error}"
    );
    link.schedule().force(now());
    assert!(
        link.start(now()).is_none(),
        "a stopped link waits for the operator"
    );
    assert!(link.due_at().is_none());
    let update = link.reset(now());
    assert_eq!(update.cursor.unwrap().position, 0);
    assert_eq!(
        link.start(now()).unwrap().after,
        0,
        "and reads from the start after it"
    );
}

#[test]
fn a_peer_store_with_another_identity_stops_the_link() {
    let mut office = Node::new("office", "nobody");
    let mut group = Node::new("group", "office");
    office.note("before the wipe");
    let mut link = PullLink::new(LinkSpec::pull("office", "", &[]), at(0), now(), 1);
    let request = link.start(now()).unwrap();
    let step = link.fetched(now(), Ok(office.serve(&request))).unwrap();
    let report = group.apply(step.events, step.link);
    link.applied(now(), Ok(&report));

    // The office is wiped and gets as many new events as it had: only its identity tells.
    let mut office = Node::new("office", "nobody");
    office.env = SeededEnv::new(2, now());
    office.note("after the wipe");
    office.note("and more");
    link.schedule().force(now());
    let request = link.start(now()).unwrap();
    assert!(link.fetched(now(), Ok(office.serve(&request))).is_none());
    assert_eq!(link.status().state, LinkState::Stopped);
    assert!(link
        .status()
        .last_error
        .as_deref()
        .unwrap()
        .contains("not the one"));

    let update = link.reset(now());
    group.apply(vec![], update);
    while let Some(request) = link.start(now()) {
        let step = link.fetched(now(), Ok(office.serve(&request))).unwrap();
        let report = group.apply(step.events, step.link);
        link.applied(now(), Ok(&report));
    }
    assert_eq!(
        texts(&group),
        ["after the wipe", "and more", "before the wipe"]
    );
    assert_eq!(
        group
            .store
            .link_cursor(&link.spec().name)
            .unwrap()
            .peer_store
            .as_deref(),
        Some(office.store.store_id())
    );
}

#[test]
fn a_push_round_delivers_own_events_and_moves_after_the_ack() {
    let mut group = Node::new("group", "nobody");
    let mut office = Node::new("office", "group");
    group.note("g1");
    group.note("g2");
    let spec = LinkSpec::push("group", "office", "", &[NOTE_WRITTEN]);
    let mut link = PushLink::new(spec, at(0), now(), 1);
    let batch = deliver(link.start(now(), &group.store).unwrap());
    assert_eq!(batch.len(), 2);
    // The peer is down: nothing moves.
    let down = DeliveryError::Transport(TransportError::Unreachable("refused".into()));
    assert_eq!(link.delivered(now(), batch, Err(down)), PushStep::Idle);
    assert_eq!(link.cursor(), 0);
    link.schedule().force(now());
    let batch = deliver(link.start(now(), &group.store).unwrap());
    let delivered = office.receive(batch.events());
    let update = save(link.delivered(now(), batch, Ok(delivered)));
    assert!(update.dead_letters.is_empty());
    group.apply(vec![], update);
    assert_eq!(link.saved(now(), Ok(())), PushStep::Idle);
    assert_eq!(link.cursor(), 2);
    let durable = group.store.link_cursor(&link.spec().name).unwrap();
    assert_eq!(durable.position, 2);
    assert_eq!(durable.peer_store.as_deref(), Some(office.store.store_id()));
    assert_eq!(texts(&office), ["g1", "g2"]);
    link.schedule().force(now());
    assert_eq!(
        link.start(now(), &group.store).unwrap(),
        PushStep::Idle,
        "nothing new to push"
    );
}

#[test]
fn a_refused_event_is_kept_and_the_rest_delivered_in_the_same_round() {
    let mut group = Node::new("group", "nobody");
    group.note("g1");
    group.note("g2");
    group.note("g3");
    let mut link = PushLink::new(LinkSpec::push("group", "office", "", &[]), at(0), now(), 1);
    let batch = deliver(link.start(now(), &group.store).unwrap());
    let refused_id = batch.events()[1].id.to_string();
    let refused = DeliveryError::Refused {
        index: 1,
        reason: "bad grade".into(),
    };
    let rest = deliver(link.delivered(now(), batch, Err(refused)));
    assert_eq!(rest.len(), 2, "the others go straight back out");
    assert!(rest.events().iter().all(|e| *e.id != *refused_id));
    let update = save(link.delivered(now(), rest, Ok(Delivered::default())));
    assert_eq!(update.cursor.as_ref().unwrap().position, 3);
    assert_eq!(update.dead_letters.len(), 1);
    assert_eq!(update.dead_letters[0].id, refused_id);
    assert_eq!(update.dead_letters[0].reason, "bad grade");
    group.apply(vec![], update);
    link.saved(now(), Ok(()));
    assert_eq!(link.cursor(), 3);
    assert_eq!(
        group.store.dead_letters(&link.spec().name, 10).unwrap().0,
        1
    );
}

#[test]
fn a_batch_refused_without_an_index_is_split_until_the_culprit_is_alone() {
    let mut group = Node::new("group", "nobody");
    for i in 0..8 {
        group.note(&format!("g{i}"));
    }
    let culprit = group.store.read(&ReadQuery::after(5, 1)).unwrap().events[0]
        .event
        .id
        .to_string();
    let mut link = PushLink::new(LinkSpec::push("group", "office", "", &[]), at(0), now(), 1);
    let mut step = link.start(now(), &group.store).unwrap();
    let mut delivered_ids = Vec::new();
    let mut attempts = 0;
    let update = loop {
        match step {
            PushStep::Deliver(batch) => {
                attempts += 1;
                // A peer that answers 413 for any batch holding the culprit.
                let result = if batch.events().iter().any(|e| *e.id == *culprit) {
                    Err(DeliveryError::RefusedBatch("413: too large".into()))
                } else {
                    delivered_ids.extend(batch.events().iter().map(|e| e.id.to_string()));
                    Ok(Delivered::default())
                };
                step = link.delivered(now(), batch, result);
            }
            PushStep::Save(update) => break update,
            PushStep::Idle => panic!("the round ended without saving"),
        }
    };
    assert_eq!(delivered_ids.len(), 7, "everything else was delivered");
    assert_eq!(update.dead_letters.len(), 1);
    assert_eq!(update.dead_letters[0].id, culprit);
    assert_eq!(update.cursor.unwrap().position, 8, "and the link moves on");
    assert!(attempts <= 8, "found by halving: {attempts} attempts");
}

#[test]
fn per_event_refusals_in_an_answer_are_kept() {
    let mut group = Node::new("group", "nobody");
    group.note("g1");
    group.note("g2");
    let mut link = PushLink::new(LinkSpec::push("group", "office", "", &[]), at(0), now(), 1);
    let batch = deliver(link.start(now(), &group.store).unwrap());
    let answer = Delivered {
        refused: vec![(
            batch.events()[0].id.to_string(),
            "an event with this id but different content".into(),
        )],
        store_id: Some("office-store".into()),
    };
    let update = save(link.delivered(now(), batch, Ok(answer)));
    assert_eq!(update.dead_letters.len(), 1);
    assert_eq!(
        update.cursor.unwrap().peer_store.as_deref(),
        Some("office-store")
    );
}

#[test]
fn a_receiver_whose_store_changed_stops_the_push_link() {
    let mut group = Node::new("group", "nobody");
    group.note("g1");
    let cursor = LinkCursor {
        position: 0,
        peer_store: Some("office-store-1".into()),
    };
    let mut link = PushLink::new(LinkSpec::push("group", "office", "", &[]), cursor, now(), 1);
    let batch = deliver(link.start(now(), &group.store).unwrap());
    let answer = Delivered {
        refused: vec![],
        store_id: Some("office-store-2".into()),
    };
    assert_eq!(link.delivered(now(), batch, Ok(answer)), PushStep::Idle);
    assert_eq!(link.status().state, LinkState::Stopped);
    link.schedule().force(now());
    assert_eq!(link.start(now(), &group.store).unwrap(), PushStep::Idle);
    let update = link.reset(now());
    assert_eq!(update.cursor.unwrap().position, 0);
    assert!(matches!(
        link.start(now(), &group.store).unwrap(),
        PushStep::Deliver(_)
    ));
}

#[test]
fn an_idle_push_link_probes_its_peer_and_notices_a_wiped_receiver() {
    let mut group = Node::new("group", "nobody");
    let mut office = Node::new("office", "group");
    group.note("g1");
    let mut spec = LinkSpec::push("group", "office", "", &[]);
    spec.interval_ms = 100;
    let mut link = PushLink::new(spec, at(0), now(), 1);
    let batch = deliver(link.start(now(), &group.store).unwrap());
    let answer = office.receive(batch.events());
    let update = save(link.delivered(now(), batch, Ok(answer)));
    group.apply(vec![], update);
    link.saved(now(), Ok(()));

    let later = |ms: i128| Timestamp::from_unix_nanos(now().unix_nanos() + ms * 1_000_000);
    // Idle rounds trust the peer for a while, then one asks (whatever the clock says).
    let mut idle = 0;
    let probe = loop {
        link.schedule().force(later(100 * idle));
        match link.start(later(100 * idle), &group.store).unwrap() {
            PushStep::Idle => idle += 1,
            step => break deliver(step),
        }
        assert!(idle < 20, "no probe after {idle} idle rounds");
    };
    assert_eq!(idle, 10, "ten idle rounds are trusted");
    assert!(probe.is_empty(), "a probe carries nothing");
    let down = DeliveryError::Transport(TransportError::Unreachable("refused".into()));
    assert_eq!(
        link.delivered(later(1500), probe, Err(down)),
        PushStep::Idle
    );
    assert_eq!(link.status().state, LinkState::Failing);
    link.schedule().force(later(1600));
    let probe = deliver(link.start(later(1600), &group.store).unwrap());
    let answer = office.receive(probe.events());
    assert_eq!(
        link.delivered(later(1600), probe, Ok(answer)),
        PushStep::Idle
    );
    assert_eq!(
        link.status().state,
        LinkState::Ok,
        "an answered probe clears the failure"
    );
    assert_eq!(link.status().last_error, None);
    for round in 0..=10 {
        link.schedule().force(later(2000 + round));
        if let PushStep::Deliver(probe) = link.start(later(2000 + round), &group.store).unwrap() {
            assert_eq!(round, 10);
            let answer = Node::new("office", "group").receive(probe.events());
            assert_eq!(
                link.delivered(later(3000), probe, Ok(answer)),
                PushStep::Idle
            );
        }
    }
    assert_eq!(
        link.status().state,
        LinkState::Stopped,
        "the wiped receiver is noticed"
    );
}
#[test]
fn dead_letters_are_re_delivered_on_request_and_resolved() {
    let mut group = Node::new("group", "nobody");
    let mut office = Node::new("office", "group");
    group.note("g1");
    let mut link = PushLink::new(LinkSpec::push("group", "office", "", &[]), at(1), now(), 1);
    let event = group.store.read(&ReadQuery::after(0, 1)).unwrap().events[0]
        .event
        .clone();
    let batch = deliver(link.retry(now(), vec![event.clone()]));
    assert_eq!(batch.events(), std::slice::from_ref(&event));
    let answer = office.receive(batch.events());
    let update = save(link.delivered(now(), batch, Ok(answer)));
    assert_eq!(
        update.cursor, None,
        "a re-delivery does not move the cursor"
    );
    assert_eq!(update.resolved, vec![event.id.to_string()]);
    link.saved(now(), Ok(()));
    assert_eq!(texts(&office), ["g1"]);
}

/// A push link over a log of `events` notes, delivering pages of two.
fn pipelined(events: usize) -> (Node, Node, PushLink) {
    let mut group = Node::new("group", "nobody");
    let office = Node::new("office", "group");
    for i in 0..events {
        group.note(&format!("g{i}"));
    }
    let mut spec = LinkSpec::push("group", "office", "", &[NOTE_WRITTEN]);
    spec.page_size = 2;
    let link = PushLink::new(spec, at(0), now(), 1);
    (group, office, link)
}

fn ids(batch: &Batch) -> Vec<String> {
    batch.events().iter().map(|e| e.id.to_string()).collect()
}

#[test]
fn a_push_link_delivers_the_next_page_while_the_cursor_commits() {
    let (mut group, mut office, mut link) = pipelined(5);
    assert_eq!(
        link.ahead(now(), &group.store).unwrap(),
        PushStep::Idle,
        "nothing is being saved"
    );
    let first = deliver(link.start(now(), &group.store).unwrap());
    let answer = office.receive(first.events());
    let saving = save(link.delivered(now(), first, Ok(answer)));
    assert_eq!(saving.cursor.as_ref().unwrap().position, 2);
    // While page one's cursor commits, page two goes out: read after page one, not after the
    // durable cursor (still 0).
    let second = deliver(link.ahead(now(), &group.store).unwrap());
    assert_eq!(second.len(), 2);
    assert_eq!(
        link.ahead(now(), &group.store).unwrap(),
        PushStep::Idle,
        "one page ahead at most"
    );
    let answer = office.receive(second.events());
    assert_eq!(
        link.delivered(now(), second, Ok(answer)),
        PushStep::Idle,
        "its save waits for the one before it"
    );
    assert_eq!(link.cursor(), 0);
    group.apply(vec![], saving);
    let saving = save(link.saved(now(), Ok(())));
    assert_eq!(link.cursor(), 2);
    assert_eq!(saving.cursor.as_ref().unwrap().position, 4);
    // Page three is out when page two's save is reported: the round goes on when it returns.
    let third = deliver(link.ahead(now(), &group.store).unwrap());
    group.apply(vec![], saving);
    assert_eq!(link.saved(now(), Ok(())), PushStep::Idle);
    assert_eq!(link.cursor(), 4);
    let answer = office.receive(third.events());
    let saving = save(link.delivered(now(), third, Ok(answer)));
    assert_eq!(
        link.ahead(now(), &group.store).unwrap(),
        PushStep::Idle,
        "the log has no more"
    );
    group.apply(vec![], saving);
    assert_eq!(link.saved(now(), Ok(())), PushStep::Idle);
    assert_eq!(link.cursor(), 5);
    assert_eq!(group.store.cursor(&link.spec().name).unwrap(), 5);
    assert_eq!(link.status().carried, 5);
    assert_eq!(texts(&office), ["g0", "g1", "g2", "g3", "g4"]);
    link.schedule().force(now());
    assert_eq!(link.start(now(), &group.store).unwrap(), PushStep::Idle);
}

#[test]
fn a_failed_save_discards_the_page_ahead_and_the_link_retries_from_the_durable_cursor() {
    let (mut group, mut office, mut link) = pipelined(5);
    let first = deliver(link.start(now(), &group.store).unwrap());
    let answer = office.receive(first.events());
    save(link.delivered(now(), first, Ok(answer)));
    let second = deliver(link.ahead(now(), &group.store).unwrap());
    let second_ids = ids(&second);
    let answer = office.receive(second.events());
    assert_eq!(link.delivered(now(), second, Ok(answer)), PushStep::Idle);
    // Page one's cursor is not stored: the link must not move past page one, let alone two.
    let failure = concord_core::host::HostError::Stopped;
    assert_eq!(link.saved(now(), Err(&failure)), PushStep::Idle);
    assert_eq!(link.cursor(), 0);
    assert_eq!(link.status().state, LinkState::Failing);
    assert_eq!(group.store.cursor(&link.spec().name).unwrap(), 0);

    // Again, with page two's delivery still out when the save fails: its late answer is
    // nobody's any more.
    link.schedule().force(now());
    let first = deliver(link.start(now(), &group.store).unwrap());
    let answer = office.receive(first.events());
    save(link.delivered(now(), first, Ok(answer)));
    let second = deliver(link.ahead(now(), &group.store).unwrap());
    assert_eq!(ids(&second), second_ids, "page two again, after page one");
    assert_eq!(link.saved(now(), Err(&failure)), PushStep::Idle);
    let late = Ok(Delivered::default());
    assert_eq!(link.delivered(now(), second, late), PushStep::Idle);
    assert_eq!(link.cursor(), 0);

    // Once saves work again, everything arrives, each event once.
    link.schedule().force(now());
    let mut step = link.start(now(), &group.store).unwrap();
    loop {
        step = match step {
            PushStep::Deliver(batch) => {
                let answer = office.receive(batch.events());
                link.delivered(now(), batch, Ok(answer))
            }
            PushStep::Save(update) => {
                group.apply(vec![], update);
                link.saved(now(), Ok(()))
            }
            PushStep::Idle if link.due_at().is_some_and(|due| due <= now()) => {
                link.start(now(), &group.store).unwrap()
            }
            PushStep::Idle => break,
        };
    }
    assert_eq!(link.cursor(), 5);
    assert_eq!(texts(&office), ["g0", "g1", "g2", "g3", "g4"]);
    assert_eq!(
        office.store.count().unwrap(),
        5,
        "re-deliveries were duplicates"
    );
}

#[test]
fn a_refusal_in_the_page_ahead_is_kept_with_that_page_s_cursor() {
    let (mut group, mut office, mut link) = pipelined(4);
    let first = deliver(link.start(now(), &group.store).unwrap());
    let answer = office.receive(first.events());
    let saving = save(link.delivered(now(), first, Ok(answer)));
    let second = deliver(link.ahead(now(), &group.store).unwrap());
    let refused_id = ids(&second)[0].clone();
    let refused = DeliveryError::Refused {
        index: 0,
        reason: "bad grade".into(),
    };
    let rest = deliver(link.delivered(now(), second, Err(refused)));
    assert_eq!(rest.len(), 1, "the other one goes straight back out");
    let answer = office.receive(rest.events());
    assert_eq!(link.delivered(now(), rest, Ok(answer)), PushStep::Idle);
    assert!(
        saving.dead_letters.is_empty(),
        "page one's save is unchanged"
    );
    group.apply(vec![], saving);
    let update = save(link.saved(now(), Ok(())));
    assert_eq!(update.cursor.as_ref().unwrap().position, 4);
    assert_eq!(update.dead_letters.len(), 1);
    assert_eq!(update.dead_letters[0].id, refused_id);
    group.apply(vec![], update);
    assert_eq!(link.saved(now(), Ok(())), PushStep::Idle);
    assert_eq!(link.status().rejected, 1);
    assert_eq!(
        group.store.dead_letters(&link.spec().name, 10).unwrap().0,
        1
    );
    assert_eq!(texts(&office), ["g0", "g1", "g3"]);
}

#[test]
fn a_receiver_replaced_while_a_page_is_ahead_stops_the_link_once_the_save_is_counted() {
    let (mut group, mut office, mut link) = pipelined(4);
    let first = deliver(link.start(now(), &group.store).unwrap());
    let answer = office.receive(first.events());
    let saving = save(link.delivered(now(), first, Ok(answer)));
    let second = deliver(link.ahead(now(), &group.store).unwrap());
    let answer = Node::new("office", "group").receive(second.events());
    assert_eq!(link.delivered(now(), second, Ok(answer)), PushStep::Idle);
    assert_eq!(link.status().state, LinkState::Stopped);
    // Page one was delivered to the store its cursor names: that save still counts.
    group.apply(vec![], saving);
    assert_eq!(link.saved(now(), Ok(())), PushStep::Idle);
    assert_eq!(link.cursor(), 2);
    assert_eq!(link.status().state, LinkState::Stopped);
    link.schedule().force(now());
    assert_eq!(link.start(now(), &group.store).unwrap(), PushStep::Idle);
    assert!(link.due_at().is_none(), "it waits for the operator");
    group.apply(vec![], link.reset(now()));
    assert_eq!(deliver(link.start(now(), &group.store).unwrap()).len(), 2);
}

#[test]
fn a_page_ahead_that_does_not_arrive_lets_the_save_before_it_count_then_backs_off() {
    let (mut group, mut office, mut link) = pipelined(4);
    let first = deliver(link.start(now(), &group.store).unwrap());
    let answer = office.receive(first.events());
    let saving = save(link.delivered(now(), first, Ok(answer)));
    let second = deliver(link.ahead(now(), &group.store).unwrap());
    let down = DeliveryError::Transport(TransportError::Unreachable("refused".into()));
    assert_eq!(link.delivered(now(), second, Err(down)), PushStep::Idle);
    assert_eq!(
        link.status().state,
        LinkState::Ok,
        "nothing is decided before the save"
    );
    group.apply(vec![], saving);
    assert_eq!(link.saved(now(), Ok(())), PushStep::Idle);
    assert_eq!(link.cursor(), 2, "page one counts");
    assert_eq!(link.status().state, LinkState::Failing);
    assert_eq!(
        link.start(now(), &group.store).unwrap(),
        PushStep::Idle,
        "backing off"
    );
    link.schedule().force(now());
    let again = deliver(link.start(now(), &group.store).unwrap());
    assert_eq!(again.len(), 2, "page two, from the stored cursor");
    let answer = office.receive(again.events());
    group.apply(vec![], save(link.delivered(now(), again, Ok(answer))));
    link.saved(now(), Ok(()));
    assert_eq!(link.cursor(), 4);
    assert_eq!(texts(&office), ["g0", "g1", "g2", "g3"]);
}

#[test]
fn a_round_its_driver_dropped_ends_as_interrupted_and_the_link_runs_again() {
    // A pull link whose fetch will never be answered (the request that ran it was cancelled).
    let mut pull = PullLink::new(LinkSpec::pull("office", "", &[]), at(7), now(), 1);
    pull.start(now()).unwrap();
    assert_eq!(pull.due_at(), None, "waiting for its answer");
    pull.interrupted(now());
    assert!(pull.due_at().is_some(), "no longer waiting");
    assert_eq!(pull.status().state, LinkState::Failing);
    assert!(pull
        .status()
        .last_error
        .as_deref()
        .unwrap()
        .contains("interrupted"));
    assert_eq!(pull.cursor(), 7);
    pull.schedule().force(now());
    assert!(pull.start(now()).is_some(), "runs again");

    // A push link dropped with a batch out.
    let mut group = Node::new("group", "nobody");
    group.note("g1");
    let spec = LinkSpec::push("group", "office", "", &[NOTE_WRITTEN]);
    let mut push = PushLink::new(spec, at(0), now(), 1);
    let _lost = deliver(push.start(now(), &group.store).unwrap());
    push.interrupted(now());
    assert_eq!(push.cursor(), 0);
    assert_eq!(push.status().state, LinkState::Failing);
    push.schedule().force(now());
    let again = deliver(push.start(now(), &group.store).unwrap());
    assert_eq!(again.len(), 1, "the same event, delivered again");

    // Interrupting a link with no round out changes nothing.
    let mut idle = PullLink::new(LinkSpec::pull("office", "", &[]), at(3), now(), 1);
    idle.interrupted(now());
    assert_eq!(idle.status().state, LinkState::Ok);
    assert_eq!(idle.status().failures, 0);
}
