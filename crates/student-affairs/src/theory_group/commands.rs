//! The theory-group commands: rating presentations, grading by the theory scheme, hiring.
//!
//! Each raises nothing when the model already holds exactly what it would write, so
//! repeating a command changes nothing.

use concord_core::{CommandError, EventDraft, Params};
use serde::Deserialize;
use serde_json::{json, Value};

use super::TheoryGroupModel;
use crate::api::{self, grade_schema, id_schema, object_schema, GradeStudent, Hire};
use crate::catalogue::{EventData, Group, PresentationRated};
use crate::grade::{not_a_grade, theory_grade, Grade, Ratings};

/// `POST /api/presentations`. The ratings are read as plain numbers so that a wrong one is
/// answered with the field it is in.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RatePresentation {
    pub student_id: String,
    pub examination_id: String,
    pub content: f64,
    pub presentation: f64,
    pub discussion: f64,
}

impl RatePresentation {
    pub fn schema() -> Value {
        object_schema(json!({
            "studentId": id_schema(),
            "examinationId": id_schema(),
            "content": grade_schema(),
            "presentation": grade_schema(),
            "discussion": grade_schema(),
        }))
    }
}

fn german(field: &str, value: f64) -> Result<Grade, CommandError> {
    Grade::from_f64(value)
        .ok_or_else(|| CommandError::Invalid(format!("{field}: {}", not_a_grade(&value))))
}

/// Rates the presentation of a student the office enrolled in one of this group's
/// examinations (409 otherwise: a rating names the pair, as a grade does).
pub fn rate_presentation(
    model: &TheoryGroupModel,
    _: &Params,
    input: RatePresentation,
) -> Result<Vec<EventDraft>, CommandError> {
    api::require("studentId", &input.student_id)?;
    api::require("examinationId", &input.examination_id)?;
    let ratings = Ratings {
        content: german("content", input.content)?,
        presentation: german("presentation", input.presentation)?,
        discussion: german("discussion", input.discussion)?,
    };
    api::enrolled_here(
        model.directory(),
        &input.student_id,
        &input.examination_id,
        Group::TheoryGroup,
    )?;
    if model.ratings(&input.student_id, &input.examination_id) == Some(ratings) {
        return Ok(vec![]);
    }
    Ok(vec![PresentationRated {
        student_id: input.student_id,
        examination_id: input.examination_id,
        content: ratings.content,
        presentation: ratings.presentation,
        discussion: ratings.discussion,
    }
    .draft()])
}

/// Grades an enrolled student by the theory scheme from the latest ratings; 409 if not
/// enrolled here or not rated yet.
pub fn grade(
    model: &TheoryGroupModel,
    _: &Params,
    input: GradeStudent,
) -> Result<Vec<EventDraft>, CommandError> {
    api::grade(model.directory(), Group::TheoryGroup, input, |input| {
        model
            .ratings(&input.student_id, &input.examination_id)
            .map(theory_grade)
            .ok_or_else(|| {
                CommandError::Conflict(format!(
                    "student {:?} has no rated presentation in examination {:?}",
                    input.student_id, input.examination_id
                ))
            })
    })
}

/// `POST /api/hires`: hires a student as TA for the theory group.
pub fn hire(
    model: &TheoryGroupModel,
    _: &Params,
    input: Hire,
) -> Result<Vec<EventDraft>, CommandError> {
    api::hire(model.directory(), Group::TheoryGroup, input)
}
