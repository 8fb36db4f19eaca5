//! The students-office part of the story, given/when/then.

use serde_json::json;

use super::StudentsOffice;
use crate::catalogue::Group::{SeGroup, TheoryGroup};
use crate::testing::*;
use crate::{SE_GROUP as SE, STUDENTS_OFFICE as OFFICE, THEORY_GROUP as THEORY};
use concord_core::ServiceSpec as _;

fn office_with_ada_and_modelling() -> Scenario<StudentsOffice> {
    Scenario::given(
        StudentsOffice,
        [
            event(OFFICE, 1, "e1", created("s-1", "Ada Lovelace")),
            event(OFFICE, 2, "e2", examination("x-se", "Modelling", SeGroup)),
            event(
                OFFICE,
                3,
                "e3",
                examination("x-th", "Logic seminar", TheoryGroup),
            ),
        ],
    )
}

#[test]
fn creating_a_student_raises_student_created() {
    Scenario::given(StudentsOffice, [])
        .when(
            "/api/students",
            json!({"studentId": "s-1", "name": "Ada Lovelace"}),
        )
        .then_raises([created("s-1", "Ada Lovelace").into()]);
}

#[test]
fn creating_the_same_student_again_raises_nothing_but_a_rename_does() {
    let office = office_with_ada_and_modelling();
    office
        .when(
            "/api/students",
            json!({"studentId": "s-1", "name": "Ada Lovelace"}),
        )
        .then_raises_nothing();
    office
        .when(
            "/api/students",
            json!({"studentId": "s-1", "name": "Ada King"}),
        )
        .then_raises([created("s-1", "Ada King").into()]);
}

#[test]
fn a_student_needs_an_id_and_a_name() {
    let office = Scenario::given(StudentsOffice, []);
    for body in [
        json!({"studentId": "", "name": "Ada"}),
        json!({"studentId": "s-1", "name": ""}),
        json!({"studentId": "s-1", "name": "  "}),
        json!({"studentId": "s-1"}),
        json!({"studentId": 7, "name": "Ada"}),
    ] {
        office.when("/api/students", body).then_invalid();
    }
}

#[test]
fn creating_an_examination_names_its_group() {
    let office = office_with_ada_and_modelling();
    office
        .when(
            "/api/examinations",
            json!({"examinationId": "x-2", "title": "Compilers", "group": "se-group"}),
        )
        .then_raises([examination("x-2", "Compilers", SeGroup).into()]);
    office
        .when(
            "/api/examinations",
            json!({"examinationId": "x-se", "title": "Modelling", "group": "se-group"}),
        )
        .then_raises_nothing();
    office
        .when(
            "/api/examinations",
            json!({"examinationId": "x-se", "title": "Modelling", "group": "theory-group"}),
        )
        .then_raises([examination("x-se", "Modelling", TheoryGroup).into()]);
    for body in [
        json!({"examinationId": "x-2", "title": "Compilers", "group": "ta-pool"}),
        json!({"examinationId": "x-2", "title": "", "group": "se-group"}),
        json!({"examinationId": "", "title": "Compilers", "group": "se-group"}),
    ] {
        office.when("/api/examinations", body).then_invalid();
    }
}

#[test]
fn enrolling_carries_the_names_the_office_knows() {
    office_with_ada_and_modelling()
        .when(
            "/api/enrollments",
            json!({"studentId": "s-1", "examinationId": "x-se"}),
        )
        .then_raises([enrolled("s-1", "Ada Lovelace", "x-se", "Modelling", SeGroup).into()]);
}

#[test]
fn enrolling_someone_or_in_something_unknown_is_not_found() {
    let office = office_with_ada_and_modelling();
    office
        .when(
            "/api/enrollments",
            json!({"studentId": "s-2", "examinationId": "x-se"}),
        )
        .then_not_found();
    office
        .when(
            "/api/enrollments",
            json!({"studentId": "s-1", "examinationId": "x-9"}),
        )
        .then_not_found();
    office
        .when(
            "/api/enrollments",
            json!({"studentId": "", "examinationId": "x-se"}),
        )
        .then_invalid();
}

#[test]
fn enrolling_twice_changes_nothing() {
    let mut office = office_with_ada_and_modelling();
    let body = json!({"studentId": "s-1", "examinationId": "x-se"});
    assert_eq!(
        office
            .run("/api/enrollments", body.clone())
            .result
            .unwrap()
            .len(),
        1
    );
    let before = office.model().clone();
    office.run("/api/enrollments", body).then_raises_nothing();
    assert_eq!(office.model(), &before);
}

#[test]
fn placeholders_made_by_a_grade_count_as_known() {
    // Given only a grade from the SE group: the student and the examination are placeholders.
    let office = Scenario::given(
        StudentsOffice,
        [
            event(SE, 5, "g1", graded("s-7", "x-7", 2.0, SeGroup)),
            event(OFFICE, 6, "e1", examination("x-8", "Compilers", SeGroup)),
        ],
    );
    // The grade named the pair, but a grade is not an enrollment: enrolling still has to
    // happen, and cannot while the examination has no group.
    office
        .when(
            "/api/enrollments",
            json!({"studentId": "s-7", "examinationId": "x-7"}),
        )
        .then_conflict();
    // A nameless placeholder student is enrolled with an empty name.
    office
        .when(
            "/api/enrollments",
            json!({"studentId": "s-7", "examinationId": "x-8"}),
        )
        .then_raises([enrolled("s-7", "", "x-8", "Compilers", SeGroup).into()]);
    assert_eq!(
        office.query("/api/students/s-7").unwrap(),
        json!({"studentId": "s-7", "name": "",
               "enrollments": [{"examinationId": "x-7", "title": "", "group": null, "grade": 2.0,
                                "enrolled": false}]})
    );
}

#[test]
fn enrolling_in_an_examination_without_a_group_conflicts() {
    let office = Scenario::given(
        StudentsOffice,
        [
            event(OFFICE, 1, "e1", created("s-1", "Ada")),
            event(THEORY, 2, "g1", graded("s-2", "x-7", 1.0, TheoryGroup)),
        ],
    );
    office
        .when(
            "/api/enrollments",
            json!({"studentId": "s-1", "examinationId": "x-7"}),
        )
        .then_conflict();
}

#[test]
fn students_show_their_enrollments_and_grades() {
    let mut office = office_with_ada_and_modelling();
    office.run(
        "/api/enrollments",
        json!({"studentId": "s-1", "examinationId": "x-se"}),
    );
    assert_eq!(
        office.query("/api/students/s-1").unwrap(),
        json!({"studentId": "s-1", "name": "Ada Lovelace", "enrollments": [
            {"examinationId": "x-se", "title": "Modelling", "group": "se-group", "grade": null}]})
    );
    // Then the SE group's grade arrives.
    office.receive(event(SE, 2_000, "g1", graded("s-1", "x-se", 1.7, SeGroup)));
    let answer = office.query("/api/students").unwrap();
    assert_eq!(answer[0]["enrollments"][0]["grade"], json!(1.7));
    assert_eq!(answer.as_array().unwrap().len(), 1);
    assert!(matches!(
        office.query("/api/students/s-9"),
        Err(concord_core::CommandError::NotFound(_))
    ));
}

#[test]
fn examinations_show_their_students() {
    let mut office = office_with_ada_and_modelling();
    office.run(
        "/api/enrollments",
        json!({"studentId": "s-1", "examinationId": "x-th"}),
    );
    assert_eq!(
        office.query("/api/examinations/x-th").unwrap(),
        json!({"examinationId": "x-th", "title": "Logic seminar", "group": "theory-group",
               "enrollments": [{"studentId": "s-1", "name": "Ada Lovelace", "grade": null}]})
    );
    assert_eq!(
        office
            .query("/api/examinations")
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(office.query("/api/examinations/x-9").is_err());
}

#[test]
fn the_office_takes_grades_from_both_groups_and_nothing_else() {
    let policy = StudentsOffice.default_acceptance();
    let accepted = [
        event(SE, 1, "a", graded("s-1", "x-1", 1.0, SeGroup)),
        event(THEORY, 1, "b", graded("s-1", "x-1", 1.0, TheoryGroup)),
    ];
    let ignored = [
        event(crate::TA_POOL, 1, "c", graded("s-1", "x-1", 1.0, SeGroup)),
        event(SE, 1, "d", hired("s-1", "Ada", SeGroup)),
        event(SE, 1, "e", enrolled("s-1", "Ada", "x-1", "M", SeGroup)),
    ];
    for e in &accepted {
        assert_eq!(policy.check(e), None, "{}", e.ty);
    }
    for e in &ignored {
        assert!(policy.check(e).is_some(), "{} from {}", e.ty, e.source);
    }
    assert_eq!(StudentsOffice.name(), OFFICE);
}

#[test]
fn an_examinations_group_changes_only_until_someone_is_enrolled() {
    let mut office = office_with_ada_and_modelling();
    // Nobody enrolled yet: the examination may move to the other group.
    office
        .run(
            "/api/examinations",
            json!({"examinationId": "x-se", "title": "Modelling", "group": "theory-group"}),
        )
        .then_raises([examination("x-se", "Modelling", TheoryGroup).into()]);
    office.run(
        "/api/examinations",
        json!({"examinationId": "x-se", "title": "Modelling", "group": "se-group"}),
    );
    office.run(
        "/api/enrollments",
        json!({"studentId": "s-1", "examinationId": "x-se"}),
    );
    // Now its enrollments went to se-group: moving it would strand them there.
    let refused = office
        .when(
            "/api/examinations",
            json!({"examinationId": "x-se", "title": "Modelling", "group": "theory-group"}),
        )
        .then_conflict();
    assert!(refused.contains("1 enrollment at se-group"), "{refused}");
    // Its title may still change (with the same group).
    office
        .when(
            "/api/examinations",
            json!({"examinationId": "x-se", "title": "Modelling II", "group": "se-group"}),
        )
        .then_raises([examination("x-se", "Modelling II", SeGroup).into()]);
}

#[test]
fn a_grade_for_a_student_the_office_never_enrolled_is_kept_but_is_no_enrollment() {
    let mut office = office_with_ada_and_modelling();
    office.receive(event(SE, 10, "g1", graded("s-1", "x-se", 2.3, SeGroup)));
    let ada = office.query("/api/students/s-1").unwrap();
    assert_eq!(
        ada["enrollments"],
        json!([{"examinationId": "x-se", "title": "Modelling", "group": "se-group",
                "grade": 2.3, "enrolled": false}])
    );
    assert!(office.model().enrollments_by_group()[&SeGroup].is_empty());
    // Nor does it stop the examination from moving: nobody is enrolled in it.
    office
        .when(
            "/api/examinations",
            json!({"examinationId": "x-se", "title": "Modelling", "group": "theory-group"}),
        )
        .then_raises([examination("x-se", "Modelling", TheoryGroup).into()]);
    // Enrolling confirms the pair, and the grade stays.
    office
        .run(
            "/api/enrollments",
            json!({"studentId": "s-1", "examinationId": "x-se"}),
        )
        .then_raises([enrolled("s-1", "Ada Lovelace", "x-se", "Modelling", SeGroup).into()]);
    let ada = office.query("/api/students/s-1").unwrap();
    assert_eq!(
        ada["enrollments"],
        json!([{"examinationId": "x-se", "title": "Modelling", "group": "se-group",
                "grade": 2.3}]),
        "an enrollment, in the contract's shape"
    );
    office
        .when(
            "/api/enrollments",
            json!({"studentId": "s-1", "examinationId": "x-se"}),
        )
        .then_raises_nothing();
}

#[test]
fn lists_are_paged_and_searchable() {
    let mut history = Vec::new();
    for i in 0..250 {
        history.push(event(
            OFFICE,
            i,
            &format!("c{i}"),
            created(&format!("s-{i:03}"), &format!("Student {i}")),
        ));
    }
    history.push(event(
        OFFICE,
        300,
        "x1",
        examination("x-1", "Modelling", SeGroup),
    ));
    history.push(event(
        OFFICE,
        301,
        "x2",
        examination("x-2", "Logic", TheoryGroup),
    ));
    let office = Scenario::given(StudentsOffice, history);

    let first = office.answer("/api/students", &[]).unwrap();
    assert_eq!(first.body.as_array().unwrap().len(), 100);
    assert_eq!(first.body[0]["studentId"], "s-000");
    let links = first.pages.unwrap();
    assert!(links.prev.is_none());
    let next = links.next.expect("more remain").encode();
    let second = office
        .query_with("/api/students", &[("cursor", &next), ("limit", "200")])
        .unwrap();
    let ids: Vec<&str> = second
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["studentId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 150);
    assert_eq!((ids[0], ids[149]), ("s-100", "s-249"));

    let found = office
        .query_with("/api/students", &[("q", "student 24")])
        .unwrap();
    assert_eq!(found.as_array().unwrap().len(), 11, "24, 240 … 249");
    let logic = office
        .query_with("/api/examinations", &[("q", "LOG")])
        .unwrap();
    assert_eq!(logic.as_array().unwrap().len(), 1);
    assert_eq!(logic[0]["examinationId"], "x-2");
    assert!(matches!(
        office.query_with("/api/students", &[("limit", "0")]),
        Err(concord_core::service::QueryError::List(_))
    ));
}
