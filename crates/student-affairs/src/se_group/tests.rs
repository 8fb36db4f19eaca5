//! The se-group part of the story, given/when/then.

use concord_core::ServiceSpec as _;
use serde_json::json;

use super::SeGroup;
use crate::catalogue::Group::{SeGroup as Se, TheoryGroup as Theory};
use crate::testing::*;
use crate::{SE_GROUP as SE, STUDENTS_OFFICE as OFFICE, THEORY_GROUP as THEORY};

/// Ada enrolled in Modelling, which has three assignments of 10, 20 and 20 points.
fn modelling_course() -> Scenario<SeGroup> {
    Scenario::given(
        SeGroup,
        [
            event(
                OFFICE,
                1,
                "e1",
                enrolled("s-1", "Ada Lovelace", "x-1", "Modelling", Se),
            ),
            event(SE, 2, "a1", assignment("a-1", "x-1", "Use cases", 10)),
            event(SE, 3, "a2", assignment("a-2", "x-1", "Class diagrams", 20)),
            event(SE, 4, "a3", assignment("a-3", "x-1", "State machines", 20)),
        ],
    )
}

#[test]
fn an_assignment_belongs_to_a_known_examination() {
    let se = modelling_course();
    se.when(
        "/api/assignments",
        json!({"assignmentId": "a-4", "examinationId": "x-1", "title": "OCL", "maxPoints": 5}),
    )
    .then_raises([assignment("a-4", "x-1", "OCL", 5).into()]);
    se.when(
        "/api/assignments",
        json!({"assignmentId": "a-4", "examinationId": "x-9", "title": "OCL", "maxPoints": 5}),
    )
    .then_not_found();
    se.when(
        "/api/assignments",
        json!({"assignmentId": "a-1", "examinationId": "x-1", "title": "Use cases", "maxPoints": 10}),
    )
    .then_raises_nothing();
}

#[test]
fn max_points_must_be_a_positive_integer() {
    let se = modelling_course();
    for max in [json!(0), json!(-5), json!(2.5), json!("10")] {
        se.when(
            "/api/assignments",
            json!({"assignmentId": "a-4", "examinationId": "x-1", "title": "OCL", "maxPoints": max}),
        )
        .then_invalid();
    }
    se.when(
        "/api/assignments",
        json!({"assignmentId": "a-4", "examinationId": "x-1", "title": "", "maxPoints": 5}),
    )
    .then_invalid();
}

#[test]
fn scoring_records_points_up_to_the_maximum() {
    let se = modelling_course();
    se.when(
        "/api/assignments/a-1/scores",
        json!({"studentId": "s-1", "points": 9}),
    )
    .then_raises([scored("s-1", "a-1", 9).into()]);
    se.when(
        "/api/assignments/a-1/scores",
        json!({"studentId": "s-1", "points": 10}),
    )
    .then_raises([scored("s-1", "a-1", 10).into()]);
    se.when(
        "/api/assignments/a-1/scores",
        json!({"studentId": "s-1", "points": 11}),
    )
    // Well-formed, but beyond this assignment's maximum as it stands: a conflict with the
    // state, not malformed input.
    .then_conflict();
    se.when(
        "/api/assignments/a-1/scores",
        json!({"studentId": "s-1", "points": -1}),
    )
    .then_invalid();
    se.when(
        "/api/assignments/a-1/scores",
        json!({"studentId": "s-1", "points": 2.5}),
    )
    .then_invalid();
    se.when(
        "/api/assignments/a-9/scores",
        json!({"studentId": "s-1", "points": 1}),
    )
    .then_not_found();
    se.when(
        "/api/assignments/a-1/scores",
        json!({"studentId": "s-9", "points": 1}),
    )
    .then_not_found();
}

#[test]
fn scoring_the_same_points_again_raises_nothing() {
    let mut se = modelling_course();
    let body = json!({"studentId": "s-1", "points": 7});
    se.run("/api/assignments/a-2/scores", body.clone());
    se.run("/api/assignments/a-2/scores", body)
        .then_raises_nothing();
}

#[test]
fn a_score_for_an_assignment_known_only_from_scores_conflicts() {
    let se = Scenario::given(
        SeGroup,
        [
            event(
                OFFICE,
                1,
                "e1",
                enrolled("s-1", "Ada", "x-1", "Modelling", Se),
            ),
            event(SE, 2, "p1", scored("s-1", "a-1", 4)),
        ],
    );
    se.when(
        "/api/assignments/a-1/scores",
        json!({"studentId": "s-1", "points": 5}),
    )
    .then_conflict();
}

#[test]
fn grading_uses_the_share_of_points_over_all_assignments() {
    let mut se = modelling_course();
    for (assignment, points) in [("a-1", 9), ("a-2", 18), ("a-3", 17)] {
        se.run(
            &format!("/api/assignments/{assignment}/scores"),
            json!({"studentId": "s-1", "points": points}),
        );
    }
    // 44 of 50 points: 88 %.
    let body = json!({"studentId": "s-1", "examinationId": "x-1"});
    se.run("/api/grades", body.clone())
        .then_raises([graded("s-1", "x-1", 1.7, Se).into()]);
    se.run("/api/grades", body.clone()).then_raises_nothing();
    // Two more points on the last assignment: 46 of 50 is 92 %, a new grade.
    se.run(
        "/api/assignments/a-3/scores",
        json!({"studentId": "s-1", "points": 19}),
    );
    se.run("/api/grades", body)
        .then_raises([graded("s-1", "x-1", 1.3, Se).into()]);
}

#[test]
fn missing_scores_count_as_zero() {
    let mut se = modelling_course();
    se.run(
        "/api/assignments/a-1/scores",
        json!({"studentId": "s-1", "points": 10}),
    );
    se.run(
        "/api/assignments/a-2/scores",
        json!({"studentId": "s-1", "points": 20}),
    );
    // 30 of 50: 60 %.
    se.when(
        "/api/grades",
        json!({"studentId": "s-1", "examinationId": "x-1"}),
    )
    .then_raises([graded("s-1", "x-1", 3.3, Se).into()]);
}

#[test]
fn grading_without_assignments_conflicts_and_unknowns_are_not_found() {
    let se = Scenario::given(
        SeGroup,
        [event(
            OFFICE,
            1,
            "e1",
            enrolled("s-1", "Ada", "x-2", "Compilers", Se),
        )],
    );
    se.when(
        "/api/grades",
        json!({"studentId": "s-1", "examinationId": "x-2"}),
    )
    .then_conflict();
    se.when(
        "/api/grades",
        json!({"studentId": "s-9", "examinationId": "x-2"}),
    )
    .then_not_found();
    se.when(
        "/api/grades",
        json!({"studentId": "s-1", "examinationId": "x-9"}),
    )
    .then_not_found();
    se.when("/api/grades", json!({"studentId": "s-1"}))
        .then_invalid();
}

#[test]
fn hiring_carries_the_name_and_respects_the_other_group() {
    let se = Scenario::given(
        SeGroup,
        [
            event(
                OFFICE,
                1,
                "e1",
                enrolled("s-1", "Ada", "x-1", "Modelling", Se),
            ),
            event(
                OFFICE,
                2,
                "e2",
                enrolled("s-2", "Bob", "x-1", "Modelling", Se),
            ),
            event(THEORY, 3, "h1", hired("s-2", "Bob", Theory)),
            event(THEORY, 4, "h2", hired("s-3", "", Theory)),
        ],
    );
    se.when("/api/hires", json!({"studentId": "s-1"}))
        .then_raises([hired("s-1", "Ada", Se).into()]);
    let message = se
        .when("/api/hires", json!({"studentId": "s-2"}))
        .then_conflict();
    assert!(message.contains("theory-group"), "{message}");
    se.when("/api/hires", json!({"studentId": "s-2", "force": false}))
        .then_conflict();
    se.when("/api/hires", json!({"studentId": "s-2", "force": true}))
        .then_raises([hired("s-2", "Bob", Se).into()]);
    // Known only from the other group's nameless hire: hired with an empty name.
    se.when("/api/hires", json!({"studentId": "s-3", "force": true}))
        .then_raises([hired("s-3", "", Se).into()]);
    se.when("/api/hires", json!({"studentId": "s-9"}))
        .then_not_found();
}

#[test]
fn hiring_twice_raises_nothing() {
    let mut se = modelling_course();
    se.run("/api/hires", json!({"studentId": "s-1"}));
    se.run("/api/hires", json!({"studentId": "s-1"}))
        .then_raises_nothing();
    se.run("/api/hires", json!({"studentId": "s-1", "force": true}))
        .then_raises_nothing();
}

#[test]
fn a_student_shows_grades_points_and_hires() {
    let mut se = modelling_course();
    se.run(
        "/api/assignments/a-1/scores",
        json!({"studentId": "s-1", "points": 10}),
    );
    se.receive(event(THEORY, 10, "h1", hired("s-1", "", Theory)));
    assert_eq!(
        se.query("/api/students/s-1").unwrap(),
        json!({"studentId": "s-1", "name": "Ada Lovelace",
               "examinations": [{"examinationId": "x-1", "grade": null}],
               "points": {"a-1": 10}, "hiredBy": ["theory-group"]})
    );
    se.run(
        "/api/grades",
        json!({"studentId": "s-1", "examinationId": "x-1"}),
    );
    let students = se.query("/api/students").unwrap();
    assert_eq!(
        students[0]["examinations"][0]["grade"],
        json!(5.0),
        "10 of 50"
    );
    assert_eq!(
        se.query("/api/assignments/a-2").unwrap(),
        json!({"assignmentId": "a-2", "examinationId": "x-1", "title": "Class diagrams", "maxPoints": 20})
    );
    assert_eq!(
        se.query("/api/assignments")
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn the_se_group_takes_its_enrollments_and_all_hires() {
    let policy = SeGroup.default_acceptance();
    let accepted = [
        event(OFFICE, 1, "a", enrolled("s-1", "Ada", "x-1", "M", Se)),
        event(SE, 1, "b", hired("s-1", "Ada", Se)),
        event(THEORY, 1, "c", hired("s-1", "Ada", Theory)),
    ];
    let ignored = [
        event(OFFICE, 1, "d", enrolled("s-1", "Ada", "x-1", "M", Theory)),
        event(OFFICE, 1, "e", created("s-1", "Ada")),
        event(THEORY, 1, "f", graded("s-1", "x-1", 1.0, Theory)),
        event(crate::TA_POOL, 1, "g", hired("s-1", "Ada", Theory)),
    ];
    for e in &accepted {
        assert_eq!(policy.check(e), None, "{} from {}", e.ty, e.source);
    }
    for e in &ignored {
        assert!(policy.check(e).is_some(), "{} from {}", e.ty, e.source);
    }
}

#[test]
fn the_group_grades_only_students_the_office_enrolled_in_its_examinations() {
    let se = Scenario::given(
        SeGroup,
        [
            event(
                OFFICE,
                1,
                "e1",
                enrolled("s-1", "Ada", "x-1", "Modelling", Se),
            ),
            event(SE, 2, "a1", assignment("a-1", "x-1", "Use cases", 10)),
            // Known only as a hire of the other group: not enrolled here.
            event(THEORY, 3, "h1", hired("s-2", "Grace", Theory)),
            // Enrolled, but in an examination the theory group runs.
            event(
                OFFICE,
                4,
                "e2",
                enrolled("s-1", "Ada", "x-2", "Logic", Theory),
            ),
            event(SE, 5, "a2", assignment("a-2", "x-2", "Proofs", 10)),
        ],
    );
    se.when(
        "/api/grades",
        json!({"studentId": "s-1", "examinationId": "x-1"}),
    )
    .then_raises([graded("s-1", "x-1", 5.0, Se).into()]);
    let not_enrolled = se
        .when(
            "/api/grades",
            json!({"studentId": "s-2", "examinationId": "x-1"}),
        )
        .then_conflict();
    assert!(not_enrolled.contains("not enrolled"), "{not_enrolled}");
    let not_ours = se
        .when(
            "/api/grades",
            json!({"studentId": "s-1", "examinationId": "x-2"}),
        )
        .then_conflict();
    assert!(not_ours.contains("run by theory-group"), "{not_ours}");
    se.when(
        "/api/grades",
        json!({"studentId": "s-9", "examinationId": "x-1"}),
    )
    .then_not_found();
}
