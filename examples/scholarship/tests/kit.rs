//! The scholarship office checked with `concord-testkit`: its model keeps the laws every
//! Concord model must (order independence with repeats, idempotence, no veto, replay = live),
//! and its story, given/when/then through its own routes.

use std::sync::Arc;

use concord_core::{CloudEvent, EventDraft, Timestamp};
use concord_testkit::{Laws, Received, Scenario};
use proptest::prelude::*;
use proptest::sample::select;
use scholarship::events::*;
use scholarship::model::ScholarshipModel;
use scholarship::{ScholarshipOffice, NAME};
use serde_json::json;

const OFFICE: &str = "students-office";
const SE: &str = "se-group";
const THEORY: &str = "theory-group";

/// An event from `source` at `second` seconds past the epoch.
fn event(source: &str, second: i128, id: &str, data: Event) -> CloudEvent {
    let draft = EventDraft::from(data);
    let time = Timestamp::from_unix_nanos(second * 1_000_000_000);
    CloudEvent::new(id, source, draft.ty, time, draft.data)
}

fn created(student: &str, name: &str) -> Event {
    Event::StudentCreated(StudentCreated {
        student_id: student.into(),
        name: name.into(),
    })
}

fn graded(student: &str, exam: &str, grade: f64) -> Event {
    Event::StudentGraded(StudentGraded {
        student_id: student.into(),
        examination_id: exam.into(),
        grade,
    })
}

fn awarded(student: &str, amount: u64, average: f64) -> Event {
    Event::ScholarshipAwarded(ScholarshipAwarded {
        student_id: student.into(),
        amount,
        average,
    })
}

// ---------------------------------------------------------------------------------------
// The laws

/// Events over a tiny id space, so that keys collide and re-grades overwrite.
fn data() -> impl Strategy<Value = Event> {
    let student = || select(&["s1", "s2"][..]);
    let grade = || select(&[1.0, 1.3, 1.7, 2.3, 4.0][..]);
    prop_oneof![
        (student(), select(&["", "Ada", "Alan"][..])).prop_map(|(s, n)| created(s, n)),
        (student(), select(&["x1", "x2", "x3"][..]), grade()).prop_map(|(s, x, g)| graded(s, x, g)),
        (student(), select(&[300u64, 600][..]), grade()).prop_map(|(s, a, g)| awarded(s, a, g)),
    ]
}

/// A set of events with distinct ids, from the sources that raise each type.
fn events() -> impl Strategy<Value = Vec<CloudEvent>> {
    prop::collection::vec((0..4i128, 0..4u8, any::<bool>(), data()), 0..30).prop_map(|drawn| {
        drawn
            .into_iter()
            .enumerate()
            .map(|(index, (second, prefix, theory, data))| {
                let source = match &data {
                    Event::StudentCreated(_) => OFFICE,
                    Event::StudentGraded(_) if theory => THEORY,
                    Event::StudentGraded(_) => SE,
                    Event::ScholarshipAwarded(_) => NAME,
                };
                event(source, second, &format!("{prefix}-{index:02}"), data)
            })
            .collect()
    })
}

#[test]
fn the_model_keeps_the_laws() {
    Laws::<ScholarshipModel>::new(Arc::new(Scholarships)).check(events());
}

// ---------------------------------------------------------------------------------------
// The story

/// Ada has two grades averaging 1.5; Alan one 1.0; Grace two averaging 2.5.
fn office() -> Scenario<ScholarshipOffice> {
    Scenario::given(
        ScholarshipOffice,
        [
            event(OFFICE, 1, "c1", created("s-1", "Ada Lovelace")),
            event(OFFICE, 1, "c2", created("s-2", "Alan Turing")),
            event(SE, 2, "g1", graded("s-1", "modelling", 1.3)),
            event(THEORY, 3, "g2", graded("s-1", "seminar", 1.7)),
            event(SE, 4, "g3", graded("s-2", "modelling", 1.0)),
            event(SE, 5, "g4", graded("s-3", "modelling", 2.0)),
            event(THEORY, 6, "g5", graded("s-3", "seminar", 3.0)),
        ],
    )
}

#[test]
fn a_student_whose_grades_earn_it_is_awarded_once() {
    let mut office = office();
    office
        .run("/api/awards", json!({"studentId": "s-1"}))
        .then_raises([awarded("s-1", 600, 1.5)]);
    // Asked again (a retried request, a second click): nothing more.
    office
        .run("/api/awards", json!({"studentId": "s-1"}))
        .then_raises_nothing();
    assert_eq!(
        office.query("/api/awards").unwrap(),
        json!([{"studentId": "s-1", "name": "Ada Lovelace", "grades": 2, "average": 1.5,
                "award": 600, "eligible": false}])
    );
}

#[test]
fn grades_that_earn_nothing_yet_are_a_conflict() {
    let office = office();
    let why = office
        .when("/api/awards", json!({"studentId": "s-2"}))
        .then_conflict();
    assert!(why.contains("1 of the 2 grades"), "{why}");
    let why = office
        .when("/api/awards", json!({"studentId": "s-3"}))
        .then_conflict();
    assert!(why.contains("average of 2.5"), "{why}");
    office
        .when("/api/awards", json!({"studentId": "s-9"}))
        .then_not_found();
    office
        .when("/api/awards", json!({"studentId": " "}))
        .then_invalid();
    office
        .when("/api/awards", json!({"student": "s-1"}))
        .then_invalid();
}

#[test]
fn a_grade_arriving_later_makes_a_student_eligible() {
    let mut office = office();
    assert_eq!(
        office.receive(event(THEORY, 10, "g6", graded("s-2", "seminar", 2.0))),
        Received::Applied
    );
    assert_eq!(
        office.query("/api/students/s-2").unwrap()["eligible"],
        json!(true)
    );
    office
        .run("/api/awards", json!({"studentId": "s-2"}))
        .then_raises([awarded("s-2", 600, 1.5)]);
}

#[test]
fn a_re_grade_overwrites_the_grade_it_replaces() {
    let mut office = office();
    // Grace's 3.0 becomes a 1.0: the later event wins, whatever order they arrive in.
    office.receive(event(THEORY, 20, "g7", graded("s-3", "seminar", 1.0)));
    office.receive(event(THEORY, 6, "g5", graded("s-3", "seminar", 3.0)));
    office
        .when("/api/awards", json!({"studentId": "s-3"}))
        .then_raises([awarded("s-3", 600, 1.5)]);
}

#[test]
fn it_takes_grades_from_the_groups_and_names_from_the_office_only() {
    let mut office = office();
    assert!(matches!(
        office.receive(event("ta-pool", 30, "x1", graded("s-2", "seminar", 1.0))),
        Received::NotAccepted(_)
    ));
    assert!(matches!(
        office.receive(event(SE, 30, "x2", created("s-2", "Mallory"))),
        Received::NotAccepted(_)
    ));
    assert!(matches!(
        office.receive(event(SE, 30, "x3", graded("s-2", "seminar", 0.7))),
        Received::Malformed(_)
    ));
    office.then(|model| {
        let alan = model.students.get("s-2").unwrap();
        assert_eq!((alan.name(), alan.grades.len()), ("Alan Turing", 1));
    });
}

#[test]
fn the_page_offers_the_award_where_it_is_earned() {
    let office = office();
    let view = scholarship::pages::view(office.model(), &Default::default());
    let forms: Vec<_> = view.forms().collect();
    assert_eq!(forms.len(), 1, "only Ada's row has an Award button");
    assert_eq!(forms[0].action, "/api/awards");
    assert_eq!(forms[0].fields[0].value, "s-1");
}
