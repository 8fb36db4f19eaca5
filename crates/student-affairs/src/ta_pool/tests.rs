//! The ta-pool part of the story, given/when/then.

use concord_core::ServiceSpec as _;
use serde_json::json;

use super::TaPool;
use crate::catalogue::Group::{SeGroup as Se, TheoryGroup as Theory};
use crate::testing::*;
use crate::{SE_GROUP as SE, STUDENTS_OFFICE as OFFICE, THEORY_GROUP as THEORY};

#[test]
fn the_pool_lists_hires_and_flags_students_both_groups_hired() {
    let pool = Scenario::given(
        TaPool,
        [
            event(SE, 1, "h1", hired("s-1", "Ada Lovelace", Se)),
            event(THEORY, 2, "h2", hired("s-2", "Grace Hopper", Theory)),
            event(SE, 3, "h3", hired("s-2", "", Se)),
            event(THEORY, 4, "h4", hired("s-3", "", Theory)),
        ],
    );
    let mut tas = pool.query("/api/tas").unwrap();
    tas.as_array_mut()
        .unwrap()
        .sort_by_key(|ta| ta["studentId"].as_str().unwrap().to_owned());
    assert_eq!(
        tas,
        json!([
            {"studentId": "s-1", "name": "Ada Lovelace", "hiredBy": ["se-group"], "conflict": false},
            {"studentId": "s-2", "name": "Grace Hopper", "hiredBy": ["se-group", "theory-group"], "conflict": true},
            {"studentId": "s-3", "name": "", "hiredBy": ["theory-group"], "conflict": false},
        ])
    );
    assert_eq!(pool.query("/api/tas/s-2").unwrap()["conflict"], json!(true));
    assert!(pool.query("/api/tas/s-9").is_err());
}

#[test]
fn a_student_known_but_never_hired_is_not_a_ta() {
    let pool = Scenario::given(TaPool, [event(OFFICE, 1, "c1", created("s-1", "Ada"))]);
    assert_eq!(pool.query("/api/tas").unwrap(), json!([]));
    assert!(matches!(
        pool.query("/api/tas/s-1"),
        Err(concord_core::CommandError::NotFound(_))
    ));
}

#[test]
fn the_pool_takes_hires_from_both_groups_only() {
    let policy = TaPool.default_acceptance();
    assert_eq!(policy.check(&event(SE, 1, "a", hired("s", "", Se))), None);
    assert_eq!(
        policy.check(&event(THEORY, 1, "b", hired("s", "", Theory))),
        None
    );
    assert!(policy
        .check(&event(OFFICE, 1, "c", hired("s", "", Se)))
        .is_some());
    assert!(policy
        .check(&event(SE, 1, "d", graded("s", "x", 1.0, Se)))
        .is_some());
    assert!(
        TaPool.api().routes.iter().all(|r| r.method() == "GET"),
        "the pool has no commands"
    );
}
