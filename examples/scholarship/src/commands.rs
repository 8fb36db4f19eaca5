//! The one command: award a scholarship. It reads the model and decides; the runtime stamps,
//! stores and applies what it raises (a command never touches the model itself).

use concord_core::{CommandError, EventDraft, Params};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::events::{Event, ScholarshipAwarded};
use crate::model::ScholarshipModel;

/// `POST /api/awards`'s body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwardInput {
    pub student_id: String,
}

pub fn award_schema() -> Value {
    json!({"type": "object", "properties": {"studentId": {"type": "string", "minLength": 1}},
           "required": ["studentId"], "additionalProperties": false})
}

/// Awards the scholarship the student's grades earn: 404 for a student the office has heard
/// nothing of, 409 while the grades earn none, nothing raised when already awarded (so a
/// retried request does not award twice).
pub fn award(
    model: &ScholarshipModel,
    _: &Params,
    input: AwardInput,
) -> Result<Vec<EventDraft>, CommandError> {
    let id = input.student_id.trim();
    if id.is_empty() {
        return Err(CommandError::Invalid("studentId must not be empty".into()));
    }
    let student = model.students.get(id).ok_or_else(|| {
        CommandError::NotFound(format!("no grades or name of {id:?} arrived yet"))
    })?;
    if student.award.is_set() {
        return Ok(vec![]);
    }
    let earned = student
        .earns()
        .map_err(|why| CommandError::Conflict(format!("{id} earns no scholarship yet: {why}")))?;
    Ok(vec![Event::ScholarshipAwarded(ScholarshipAwarded {
        student_id: id.to_owned(),
        amount: earned.amount,
        average: earned.average,
    })
    .into()])
}
