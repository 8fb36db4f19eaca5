//! The link state machines driven by hand between two in-memory services: what a pull and a
//! push round do, and how they behave when the peer fails or refuses.

use concord_core::acceptance::{AcceptancePolicy, AcceptanceRule};
use concord_core::event::{CloudEvent, EventError, StoredEvent, Timestamp};
use concord_core::model::{GrowSet, Model};
use concord_core::runtime::{Catalogue, EventDraft, Reply, Request, SeededEnv, ServiceCore};
use concord_core::store::{EventReader, EventStore, MemoryStore};
use concord_sync::{DeliveryError, LinkSpec, Page, PullLink, PushLink};
use serde_json::json;

#[derive(Default, Debug, PartialEq)]
struct Notes(GrowSet<String>);

impl Model for Notes {
    fn apply(&mut self, event: &CloudEvent) {
        if let Some(text) = event.data_str("text") {
            self.0.insert(text.to_owned());
        }
    }
}

struct NoteCatalogue;

impl Catalogue for NoteCatalogue {
    fn validate(&self, event: &CloudEvent) -> Option<Result<(), EventError>> {
        (event.ty == "noteTaken").then(|| match event.data_str("text") {
            Some(_) => Ok(()),
            None => Err(EventError::new("data.text", "is required")),
        })
    }
    fn overwrite_key(&self, event: &CloudEvent) -> Option<String> {
        Some(event.id.to_string())
    }
}

struct Node {
    store: MemoryStore,
    core: ServiceCore<Notes>,
    env: SeededEnv,
}

impl Node {
    fn new(name: &str, accepts_from: &str) -> Self {
        let store = MemoryStore::new();
        let policy = AcceptancePolicy::new(vec![AcceptanceRule::new(accepts_from, "noteTaken")]);
        let core = ServiceCore::open(name, Box::new(NoteCatalogue), policy, &store).unwrap();
        Node {
            store,
            core,
            env: SeededEnv::new(1, now()),
        }
    }

    fn note(&mut self, text: &str) {
        let text = text.to_owned();
        let request = Request::Command(Box::new(move |_: &Notes| {
            Ok(vec![EventDraft::new("noteTaken", json!({ "text": text }))])
        }));
        self.core
            .execute(&self.store, &mut self.env, vec![request])
            .unwrap();
    }

    fn put(
        &mut self,
        events: Vec<CloudEvent>,
        cursor: Option<concord_core::runtime::Cursor>,
    ) -> concord_core::runtime::PutReport {
        match self
            .core
            .execute(
                &self.store,
                &mut self.env,
                vec![Request::External { events, cursor }],
            )
            .unwrap()
            .remove(0)
        {
            Reply::External(report) => report,
            Reply::Command(_) => unreachable!(),
        }
    }

    /// What a getEvents call on this node answers.
    fn serve(&self, query: &concord_core::store::ReadQuery) -> Page {
        let page = self.store.read(query).unwrap();
        Page {
            events: page.events.into_iter().map(|e| e.event).collect(),
            malformed: Vec::new(),
            next_after: page.next_after,
            has_more: page.has_more,
            peer_last_sequence: Some(self.store.last_sequence().unwrap()),
        }
    }
}

fn now() -> Timestamp {
    Timestamp::parse("2026-11-26T09:00:00Z").unwrap()
}

fn texts(node: &Node) -> Vec<String> {
    node.core.model().0.iter().cloned().collect()
}

#[test]
fn a_pull_round_applies_a_page_and_moves_the_cursor_with_it() {
    let mut office = Node::new("office", "nobody");
    let mut group = Node::new("group", "office");
    for i in 0..5 {
        office.note(&format!("n{i}"));
    }
    let mut spec = LinkSpec::pull("office", "", &["noteTaken"]);
    spec.page_size = 2;
    let mut link = PullLink::new(
        spec,
        group.store.cursor("pull-noteTaken-from-office").unwrap(),
        now(),
        1,
    );
    let mut rounds = 0;
    while let Some(request) = link.start(now()) {
        rounds += 1;
        let step = link.fetched(now(), Ok(office.serve(&request))).unwrap();
        let report = group.put(step.events, Some(step.cursor));
        link.applied(now(), Ok(&report));
    }
    assert_eq!(rounds, 3, "pages of two, while has_more");
    assert_eq!(texts(&group), ["n0", "n1", "n2", "n3", "n4"]);
    assert_eq!(
        group.store.cursor(&link.spec().name).unwrap(),
        5,
        "the cursor is durable"
    );
    assert_eq!(link.status().carried, 5);
    assert_eq!(link.status().pending, Some(0));
    assert!(
        link.start(now()).is_none(),
        "an idle link waits for its interval"
    );
}

#[test]
fn a_failed_fetch_backs_off_and_keeps_the_cursor() {
    let mut link = PullLink::new(LinkSpec::pull("office", "", &[]), 7, now(), 1);
    link.start(now()).unwrap();
    assert!(link
        .fetched(now(), Err("connection refused".into()))
        .is_none());
    assert_eq!(link.cursor(), 7);
    assert!(link
        .status()
        .last_error
        .as_deref()
        .unwrap()
        .contains("connection refused"));
    assert_eq!(link.status().failures, 1);
    assert!(link.start(now()).is_none(), "backing off");
}

#[test]
fn events_the_local_catalogue_finds_malformed_are_recorded_not_blocking() {
    let mut office = Node::new("office", "nobody");
    let mut group = Node::new("group", "office");
    office.note("good");
    let mut bad = office
        .store
        .read(&concord_core::store::ReadQuery::after(0, 1))
        .unwrap()
        .events[0]
        .event
        .clone();
    bad.id = "bad-1".into();
    bad.data.remove("text");
    let mut link = PullLink::new(LinkSpec::pull("office", "", &[]), 0, now(), 1);
    link.start(now()).unwrap();
    let mut page = office.serve(&link.spec().query(0));
    page.events.push(bad);
    page.malformed.push(concord_sync::Rejection {
        id: "?".into(),
        reason: "not an object".into(),
    });
    page.next_after = 2;
    let step = link.fetched(now(), Ok(page)).unwrap();
    let report = group.put(step.events, Some(step.cursor));
    link.applied(now(), Ok(&report));
    assert_eq!(link.status().rejected, 2);
    assert_eq!(link.status().recent_rejections[1].id, "bad-1");
    assert_eq!(link.cursor(), 2, "the link moved past the bad events");
    assert_eq!(texts(&group), ["good"]);
}

#[test]
fn a_peer_whose_log_went_backwards_is_an_error_not_a_skip() {
    let mut link = PullLink::new(LinkSpec::pull("office", "", &[]), 50, now(), 1);
    link.start(now()).unwrap();
    let page = Page {
        next_after: 10,
        ..Page::default()
    };
    assert!(link.fetched(now(), Ok(page)).is_none());
    assert_eq!(link.cursor(), 50);
    assert!(link
        .status()
        .last_error
        .as_deref()
        .unwrap()
        .contains("reset"));
}

#[test]
fn a_push_round_delivers_own_events_and_moves_after_the_ack() {
    let mut group = Node::new("group", "nobody");
    let mut office = Node::new("office", "group");
    group.note("g1");
    group.note("g2");
    let mut link = PushLink::new(
        LinkSpec::push("group", "office", "", &["noteTaken"]),
        0,
        now(),
        1,
    );
    let batch = link.start(now(), &group.store).unwrap().unwrap();
    assert_eq!(batch.events.len(), 2);
    // The peer is down: nothing moves.
    assert!(link
        .delivered(now(), Err(DeliveryError::Unreachable("refused".into())))
        .is_none());
    assert_eq!(link.cursor(), 0);
    link.schedule().force(now());
    let batch = link.start(now(), &group.store).unwrap().unwrap();
    let report = office.put(batch.events.iter().map(|e| e.event.clone()).collect(), None);
    assert_eq!(report.accepted(), 2);
    let cursor = link.delivered(now(), Ok(())).unwrap();
    group.put(vec![], Some(cursor));
    link.saved(now(), Ok(()));
    assert_eq!(link.cursor(), 2);
    assert_eq!(group.store.cursor(&link.spec().name).unwrap(), 2);
    assert_eq!(texts(&office), ["g1", "g2"]);
    link.schedule().force(now());
    assert!(
        link.start(now(), &group.store).unwrap().is_none(),
        "nothing new to push"
    );
}

#[test]
fn a_refused_event_is_recorded_and_the_rest_delivered() {
    let mut group = Node::new("group", "nobody");
    group.note("g1");
    group.note("g2");
    let mut link = PushLink::new(LinkSpec::push("group", "office", "", &[]), 0, now(), 1);
    let batch = link.start(now(), &group.store).unwrap().unwrap();
    let refused_id = batch.events[0].event.id.to_string();
    assert!(link
        .delivered(
            now(),
            Err(DeliveryError::Refused {
                index: 0,
                reason: "bad grade".into()
            })
        )
        .is_none());
    assert_eq!(link.status().rejected, 1);
    let again = link.start(now(), &group.store).unwrap().unwrap();
    let ids: Vec<String> = again
        .events
        .iter()
        .map(|e: &StoredEvent| e.event.id.to_string())
        .collect();
    assert_eq!(ids.len(), 1);
    assert_ne!(ids[0], refused_id);
    assert!(link.delivered(now(), Ok(())).is_some());
    link.saved(now(), Ok(()));
    assert_eq!(link.cursor(), 2);
}

#[allow(dead_code)]
fn assert_store_is_object_safe(_: &dyn EventStore) {}
