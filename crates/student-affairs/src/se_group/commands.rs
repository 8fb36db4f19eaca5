//! The se-group commands: assignments, scores, grading by the SE scheme, hiring.
//!
//! Each raises nothing when the model already holds exactly what it would write, so
//! repeating a command changes nothing.

use concord_core::{CommandError, EventDraft, Params};
use serde::Deserialize;
use serde_json::{json, Value};

use super::SeGroupModel;
use crate::api::{self, id_schema, object_schema, require, GradeStudent, Hire};
use crate::catalogue::{AssignmentCreated, AssignmentScored, EventData, Group};

/// `POST /api/assignments`
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateAssignment {
    pub assignment_id: String,
    pub examination_id: String,
    pub title: String,
    pub max_points: i64,
}

impl CreateAssignment {
    pub fn schema() -> Value {
        object_schema(json!({
            "assignmentId": id_schema(),
            "examinationId": id_schema(),
            "title": {"type": "string", "minLength": 1},
            "maxPoints": {"type": "integer", "minimum": 1},
        }))
    }
}

/// Creates an assignment of a known examination, or changes one.
pub fn create_assignment(
    model: &SeGroupModel,
    _: &Params,
    input: CreateAssignment,
) -> Result<Vec<EventDraft>, CommandError> {
    require("assignmentId", &input.assignment_id)?;
    require("examinationId", &input.examination_id)?;
    require("title", &input.title)?;
    let max_points = u64::try_from(input.max_points)
        .ok()
        .filter(|&m| m > 0)
        .ok_or_else(|| {
            CommandError::Invalid(format!(
                "maxPoints must be above 0, not {}",
                input.max_points
            ))
        })?;
    model.directory().known_examination(&input.examination_id)?;
    let same = model.assignment(&input.assignment_id).is_some_and(|a| {
        a.examination_id() == Some(&input.examination_id)
            && a.title() == Some(&input.title)
            && a.max_points() == Some(max_points)
    });
    if same {
        return Ok(vec![]);
    }
    Ok(vec![AssignmentCreated {
        assignment_id: input.assignment_id,
        examination_id: input.examination_id,
        title: input.title,
        max_points,
    }
    .draft()])
}

/// `POST /api/assignments/{assignmentId}/scores`
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Score {
    pub student_id: String,
    pub points: i64,
}

impl Score {
    pub fn schema() -> Value {
        object_schema(json!({
            "studentId": id_schema(),
            "points": {"type": "integer", "minimum": 0},
        }))
    }
}

/// Records the points a known student reached in a known assignment (0 to its maxPoints).
pub fn score(
    model: &SeGroupModel,
    params: &Params,
    input: Score,
) -> Result<Vec<EventDraft>, CommandError> {
    let assignment_id = params.get("assignmentId").map_or("", String::as_str);
    require("assignmentId", assignment_id)?;
    require("studentId", &input.student_id)?;
    let assignment = model
        .assignment(assignment_id)
        .ok_or_else(|| CommandError::NotFound(format!("unknown assignment {assignment_id:?}")))?;
    model.directory().known_student(&input.student_id)?;
    let max_points = assignment.max_points().ok_or_else(|| {
        CommandError::Conflict(format!(
            "assignment {assignment_id:?} is known only from scores; its maxPoints are not known yet"
        ))
    })?;
    let points = u64::try_from(input.points)
        .ok()
        .filter(|&p| p <= max_points)
        .ok_or_else(|| {
            CommandError::Invalid(format!(
                "points must be between 0 and {max_points}, not {}",
                input.points
            ))
        })?;
    if model.points(&input.student_id, assignment_id) == Some(points) {
        return Ok(vec![]);
    }
    Ok(vec![AssignmentScored {
        student_id: input.student_id,
        assignment_id: assignment_id.to_owned(),
        points,
    }
    .draft()])
}

/// Grades a student by the SE scheme from the points as they stand: only a student the
/// office enrolled in one of this group's examinations (409 otherwise). A re-grade after
/// new points raises a new `studentGraded`; the same grade again raises nothing.
pub fn grade(
    model: &SeGroupModel,
    _: &Params,
    input: GradeStudent,
) -> Result<Vec<EventDraft>, CommandError> {
    api::grade(model.directory(), Group::SeGroup, input, |input| {
        model
            .se_grade_for(&input.student_id, &input.examination_id)
            .ok_or_else(|| {
                CommandError::Conflict(format!(
                    "examination {:?} has no assignments to grade by",
                    input.examination_id
                ))
            })
    })
}

/// `POST /api/hires`: hires a student as TA for the SE group.
pub fn hire(
    model: &SeGroupModel,
    _: &Params,
    input: Hire,
) -> Result<Vec<EventDraft>, CommandError> {
    api::hire(model.directory(), Group::SeGroup, input)
}
