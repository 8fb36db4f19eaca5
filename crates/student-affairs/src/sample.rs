//! A small sample story (for `concord demo --seed`): the paper's scenario as commands, each
//! addressed to a service by name, in phases.
//!
//! Between two phases the caller runs one round of the default synchronisation
//! ([`crate::topology`]): later phases need what earlier ones raised elsewhere — the SE group can only score a
//! student once the office's `studentEnrolled` has reached it, and the theory group only
//! sees the SE group's hire through the ta-pool. Commands are idempotent, so seeding twice
//! changes nothing.

use serde_json::{json, Value};

use crate::{SE_GROUP, STUDENTS_OFFICE, THEORY_GROUP};

/// One command of the sample story: `POST path` with `body` to `service`.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleStep {
    pub service: &'static str,
    pub path: String,
    pub body: Value,
}

fn step(service: &'static str, path: impl Into<String>, body: Value) -> SampleStep {
    SampleStep {
        service,
        path: path.into(),
        body,
    }
}

const MODELLING: &str = "se-modelling-2026";
const SEMINAR: &str = "theory-seminar-2026";

/// The story's phases; sync once after each.
pub fn sample_story() -> Vec<Vec<SampleStep>> {
    let students = [
        ("s-1001", "Ada Lovelace"),
        ("s-1002", "Grace Hopper"),
        ("s-1003", "Alan Turing"),
    ];
    let mut office = Vec::new();
    for (id, name) in students {
        office.push(step(
            STUDENTS_OFFICE,
            "/api/students",
            json!({"studentId": id, "name": name}),
        ));
    }
    office.push(step(
        STUDENTS_OFFICE,
        "/api/examinations",
        json!({"examinationId": MODELLING, "title": "Modelling", "group": SE_GROUP}),
    ));
    office.push(step(
        STUDENTS_OFFICE,
        "/api/examinations",
        json!({"examinationId": SEMINAR, "title": "Logic seminar", "group": THEORY_GROUP}),
    ));
    for (student, _) in students {
        for examination in [MODELLING, SEMINAR] {
            office.push(step(
                STUDENTS_OFFICE,
                "/api/enrollments",
                json!({"studentId": student, "examinationId": examination}),
            ));
        }
    }

    let mut grading = Vec::new();
    for (id, title, max) in [
        ("a-1", "Use cases", 10),
        ("a-2", "Class diagrams", 20),
        ("a-3", "State machines", 20),
    ] {
        grading.push(step(
            SE_GROUP,
            "/api/assignments",
            json!({"assignmentId": id, "examinationId": MODELLING, "title": title, "maxPoints": max}),
        ));
    }
    // Ada 44/50 (88 %, 1.7), Grace 30/50 (60 %, 3.3), Alan 48/50 (96 %, 1.0).
    for (student, points) in [
        ("s-1001", [9, 18, 17]),
        ("s-1002", [10, 20, 0]),
        ("s-1003", [10, 19, 19]),
    ] {
        for (assignment, p) in ["a-1", "a-2", "a-3"].into_iter().zip(points) {
            grading.push(step(
                SE_GROUP,
                format!("/api/assignments/{assignment}/scores"),
                json!({"studentId": student, "points": p}),
            ));
        }
        grading.push(step(
            SE_GROUP,
            "/api/grades",
            json!({"studentId": student, "examinationId": MODELLING}),
        ));
    }
    // Ada 1.56 → 1.7, Grace 1.50 → 1.3.
    for (student, [content, presentation, discussion]) in
        [("s-1001", [1.3, 1.7, 2.0]), ("s-1002", [1.0, 2.0, 2.0])]
    {
        grading.push(step(
            THEORY_GROUP,
            "/api/presentations",
            json!({"studentId": student, "examinationId": SEMINAR,
                   "content": content, "presentation": presentation, "discussion": discussion}),
        ));
        grading.push(step(
            THEORY_GROUP,
            "/api/grades",
            json!({"studentId": student, "examinationId": SEMINAR}),
        ));
    }
    grading.push(step(SE_GROUP, "/api/hires", json!({"studentId": "s-1003"})));

    let hiring = vec![step(
        THEORY_GROUP,
        "/api/hires",
        json!({"studentId": "s-1002"}),
    )];
    vec![office, grading, hiring]
}
