//! The theory-group part of the story, given/when/then.

use concord_core::ServiceSpec as _;
use serde_json::json;

use super::TheoryGroup;
use crate::catalogue::Group::{SeGroup as Se, TheoryGroup as Theory};
use crate::testing::*;
use crate::{SE_GROUP as SE, STUDENTS_OFFICE as OFFICE, THEORY_GROUP as THEORY};

/// Grace enrolled in the logic seminar.
fn logic_seminar() -> Scenario<TheoryGroup> {
    Scenario::given(
        TheoryGroup,
        [event(
            OFFICE,
            1,
            "e1",
            enrolled("s-2", "Grace Hopper", "x-2", "Logic seminar", Theory),
        )],
    )
}

fn rating(content: f64, presentation: f64, discussion: f64) -> serde_json::Value {
    json!({"studentId": "s-2", "examinationId": "x-2",
           "content": content, "presentation": presentation, "discussion": discussion})
}

#[test]
fn rating_a_presentation_raises_presentation_rated() {
    logic_seminar()
        .when("/api/presentations", rating(1.3, 1.7, 2.0))
        .then_raises([rated("s-2", "x-2", 1.3, 1.7, 2.0).into()]);
}

#[test]
fn ratings_must_be_german_grades() {
    let theory = logic_seminar();
    for (body, field) in [
        (rating(1.5, 1.7, 2.0), "content"),
        (rating(1.3, 0.0, 2.0), "presentation"),
        (rating(1.3, 1.7, 6.0), "discussion"),
    ] {
        let message = theory.when("/api/presentations", body).then_invalid();
        assert!(message.starts_with(field), "{message}");
    }
    theory
        .when(
            "/api/presentations",
            json!({"studentId": "s-2", "examinationId": "x-2", "content": "1.3",
                   "presentation": 1.7, "discussion": 2.0}),
        )
        .then_invalid();
}

#[test]
fn rating_someone_unknown_is_not_found() {
    let theory = logic_seminar();
    let mut body = rating(1.0, 1.0, 1.0);
    body["studentId"] = json!("s-9");
    theory.when("/api/presentations", body).then_not_found();
    let mut body = rating(1.0, 1.0, 1.0);
    body["examinationId"] = json!("x-9");
    theory.when("/api/presentations", body).then_not_found();
}

#[test]
fn grading_weighs_content_presentation_and_discussion() {
    let mut theory = logic_seminar();
    let body = json!({"studentId": "s-2", "examinationId": "x-2"});
    theory.when("/api/grades", body.clone()).then_conflict();
    theory.run("/api/presentations", rating(1.3, 1.7, 2.0));
    theory
        .run("/api/presentations", rating(1.3, 1.7, 2.0))
        .then_raises_nothing();
    // 0.65 + 0.51 + 0.40 = 1.56: 1.7.
    theory
        .run("/api/grades", body.clone())
        .then_raises([graded("s-2", "x-2", 1.7, Theory).into()]);
    theory
        .run("/api/grades", body.clone())
        .then_raises_nothing();
    // Re-rated: 0.50 + 0.60 + 0.40 = 1.50, a tie that goes to the better 1.3.
    theory.run("/api/presentations", rating(1.0, 2.0, 2.0));
    theory
        .run("/api/grades", body)
        .then_raises([graded("s-2", "x-2", 1.3, Theory).into()]);
    assert_eq!(
        theory.query("/api/students/s-2").unwrap(),
        json!({"studentId": "s-2", "name": "Grace Hopper", "hiredBy": [],
               "examinations": [{"examinationId": "x-2", "grade": 1.3,
                   "ratings": {"content": 1.0, "presentation": 2.0, "discussion": 2.0}}]})
    );
}

#[test]
fn a_weighted_average_above_four_fails() {
    let mut theory = logic_seminar();
    theory.run("/api/presentations", rating(4.0, 5.0, 3.7));
    theory
        .when(
            "/api/grades",
            json!({"studentId": "s-2", "examinationId": "x-2"}),
        )
        .then_raises([graded("s-2", "x-2", 5.0, Theory).into()]);
}

#[test]
fn hiring_mirrors_the_se_group() {
    let mut theory = logic_seminar();
    theory.receive(event(SE, 5, "h1", hired("s-2", "Grace Hopper", Se)));
    theory
        .when("/api/hires", json!({"studentId": "s-2"}))
        .then_conflict();
    theory
        .run("/api/hires", json!({"studentId": "s-2", "force": true}))
        .then_raises([hired("s-2", "Grace Hopper", Theory).into()]);
    theory
        .run("/api/hires", json!({"studentId": "s-2"}))
        .then_raises_nothing();
    assert_eq!(
        theory.query("/api/students").unwrap()[0]["hiredBy"],
        json!(["se-group", "theory-group"])
    );
}

#[test]
fn the_theory_group_takes_its_enrollments_and_all_hires() {
    let policy = TheoryGroup.default_acceptance();
    assert_eq!(
        policy.check(&event(OFFICE, 1, "a", enrolled("s", "", "x", "", Theory))),
        None
    );
    assert!(policy
        .check(&event(OFFICE, 1, "b", enrolled("s", "", "x", "", Se)))
        .is_some());
    assert_eq!(policy.check(&event(SE, 1, "c", hired("s", "", Se))), None);
    assert_eq!(
        policy.check(&event(THEORY, 1, "d", hired("s", "", Theory))),
        None
    );
    assert!(policy
        .check(&event(SE, 1, "e", graded("s", "x", 1.0, Se)))
        .is_some());
}

#[test]
fn the_group_rates_and_grades_only_students_enrolled_with_it() {
    let mut theory = logic_seminar();
    // Known to the group (a hire), but never enrolled in the seminar.
    theory.receive(event(SE, 2, "h1", hired("s-1", "Ada", Se)));
    let body = json!({"studentId": "s-1", "examinationId": "x-2",
                      "content": 1.0, "presentation": 1.0, "discussion": 1.0});
    theory.when("/api/presentations", body).then_conflict();
    theory
        .when(
            "/api/grades",
            json!({"studentId": "s-1", "examinationId": "x-2"}),
        )
        .then_conflict();
    assert!(
        theory.model().enrollments().len() == 1,
        "refusals name no new pair"
    );
    // Grace is enrolled: rating and grading her works.
    theory
        .run("/api/presentations", rating(1.0, 1.3, 1.7))
        .then_raises([rated("s-2", "x-2", 1.0, 1.3, 1.7).into()]);
}
