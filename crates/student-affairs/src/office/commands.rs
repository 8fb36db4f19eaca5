//! The students-office commands: create students and examinations, enroll.
//!
//! Each raises nothing when the model already holds exactly what it would write, so
//! repeating a command changes nothing.

use concord_core::{CommandError, EventDraft, Params};
use serde::Deserialize;
use serde_json::{json, Value};

use super::OfficeModel;
use crate::api::{group_schema, input_text_schema, object_schema, require};
use crate::catalogue::{EventData, ExaminationCreated, Group, StudentCreated, StudentEnrolled};

/// `POST /api/students`
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateStudent {
    pub student_id: String,
    pub name: String,
}

impl CreateStudent {
    pub fn schema() -> Value {
        object_schema(json!({"studentId": input_text_schema(), "name": input_text_schema()}))
    }
}

/// Creates a student, or renames one (the later name wins everywhere it travels).
pub fn create_student(
    model: &OfficeModel,
    _: &Params,
    input: CreateStudent,
) -> Result<Vec<EventDraft>, CommandError> {
    require("studentId", &input.student_id)?;
    require("name", &input.name)?;
    let known = model.directory().find_student(&input.student_id);
    if known.and_then(|s| s.name()) == Some(input.name.as_str()) {
        return Ok(vec![]);
    }
    Ok(vec![StudentCreated {
        student_id: input.student_id,
        name: input.name,
    }
    .draft()])
}

/// `POST /api/examinations`
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateExamination {
    pub examination_id: String,
    pub title: String,
    pub group: Group,
}

impl CreateExamination {
    pub fn schema() -> Value {
        object_schema(json!({
            "examinationId": input_text_schema(),
            "title": input_text_schema(),
            "group": group_schema(),
        }))
    }
}

/// Creates an examination, or changes its title — or its group, but only while nobody is
/// enrolled in it (409 after that).
///
/// Each group learns of the enrollments in its own examinations (it pulls `studentEnrolled`
/// where `group` is itself); if the group could change afterwards, the enrollments made
/// before would stay with the old group for good and the new group would never hear of
/// them. Refusing the change keeps "each group's enrollments equal the office's enrollments
/// for that group" true after any history, in any order of arrival: all `studentEnrolled`
/// of an examination then carry the same group. (Moving the enrollments instead would need
/// the old group to learn that they left, which its filtered pull never shows it.)
pub fn create_examination(
    model: &OfficeModel,
    _: &Params,
    input: CreateExamination,
) -> Result<Vec<EventDraft>, CommandError> {
    require("examinationId", &input.examination_id)?;
    require("title", &input.title)?;
    let known = model.directory().find_examination(&input.examination_id);
    if known.is_some_and(|e| e.title() == Some(&input.title) && e.group() == Some(input.group)) {
        return Ok(vec![]);
    }
    if let Some(examination) = known {
        let enrolled = examination.enrolled().len();
        match examination.group() {
            Some(group) if group != input.group && enrolled > 0 => {
                return Err(CommandError::Conflict(format!(
                    "examination {:?} has {enrolled} enrollment{} at {group}; its group can no \
                     longer change (they would stay with {group})",
                    input.examination_id,
                    if enrolled == 1 { "" } else { "s" },
                )));
            }
            _ => {}
        }
    }
    Ok(vec![ExaminationCreated {
        examination_id: input.examination_id,
        title: input.title,
        group: input.group,
    }
    .draft()])
}

/// `POST /api/enrollments`
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Enroll {
    pub student_id: String,
    pub examination_id: String,
}

impl Enroll {
    pub fn schema() -> Value {
        object_schema(
            json!({"studentId": input_text_schema(), "examinationId": input_text_schema()}),
        )
    }
}

/// Enrolls a student. The event carries the names the office knows, so that the group
/// running the examination can show them without asking (R4: events carry enough data).
pub fn enroll(
    model: &OfficeModel,
    _: &Params,
    input: Enroll,
) -> Result<Vec<EventDraft>, CommandError> {
    require("studentId", &input.student_id)?;
    require("examinationId", &input.examination_id)?;
    let directory = model.directory();
    let student = directory.known_student(&input.student_id)?;
    let examination = directory.known_examination(&input.examination_id)?;
    // A pair only a grade named (a group's grade for a student the office never enrolled)
    // is not an enrollment: enrolling confirms it with a `studentEnrolled`.
    if student
        .enrollment(&input.examination_id)
        .is_some_and(|e| e.is_enrolled())
    {
        return Ok(vec![]);
    }
    // A placeholder examination (made by a grade that arrived first) has no group yet, and
    // studentEnrolled must say which group it goes to.
    let group = examination.group().ok_or_else(|| {
        CommandError::Conflict(format!(
            "examination {:?} has no group yet; create it with POST /api/examinations first",
            input.examination_id
        ))
    })?;
    Ok(vec![StudentEnrolled {
        student_name: student.name_or_empty().to_owned(),
        examination_title: examination.title_or_empty().to_owned(),
        student_id: input.student_id,
        examination_id: input.examination_id,
        group,
    }
    .draft()])
}
