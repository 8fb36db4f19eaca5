//! The queries: students with their standing, and the awards — each list a page at a time,
//! searchable by id and name.

use concord_core::{CommandError, ListQuery, Page, Params};
use serde::Serialize;
use serde_json::{json, Value};

use crate::model::{ScholarshipModel, Student};

/// A student as `GET /api/students` answers.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StudentAnswer {
    pub student_id: String,
    pub name: String,
    pub grades: usize,
    pub average: Option<f64>,
    /// Euros awarded, or `null`.
    pub award: Option<u64>,
    /// Whether `POST /api/awards` would award now.
    pub eligible: bool,
}

impl StudentAnswer {
    pub fn of(id: &str, student: &Student) -> Self {
        StudentAnswer {
            student_id: id.to_owned(),
            name: student.name().to_owned(),
            grades: student.grades.len(),
            average: student.average(),
            award: student.award.get().map(|a| a.amount),
            eligible: !student.award.is_set() && student.earns().is_ok(),
        }
    }

    pub fn schema() -> Value {
        json!({"type": "object", "properties": {
            "studentId": {"type": "string"}, "name": {"type": "string"},
            "grades": {"type": "integer", "minimum": 0},
            "average": {"type": ["number", "null"]}, "award": {"type": ["integer", "null"]},
            "eligible": {"type": "boolean"}}})
    }
}

pub fn matches(list: &ListQuery, id: &str, student: &Student) -> bool {
    list.matches([id, student.name()])
}

/// `GET /api/students`.
pub fn students(
    model: &ScholarshipModel,
    _: &Params,
    list: &ListQuery,
) -> Result<Page<StudentAnswer>, CommandError> {
    Ok(list.page(&model.students, |id, student| {
        matches(list, id, student).then(|| StudentAnswer::of(id, student))
    }))
}

/// `GET /api/students/{studentId}`.
pub fn student(model: &ScholarshipModel, params: &Params) -> Result<StudentAnswer, CommandError> {
    let id = params.get("studentId").map_or("", String::as_str);
    let student = model.students.get(id).ok_or_else(|| {
        CommandError::NotFound(format!("no grades or name of {id:?} arrived yet"))
    })?;
    Ok(StudentAnswer::of(id, student))
}

/// `GET /api/awards`: the awarded students only (a walk over the grown index of them).
pub fn awards(
    model: &ScholarshipModel,
    _: &Params,
    list: &ListQuery,
) -> Result<Page<StudentAnswer>, CommandError> {
    Ok(list.page(&model.awarded, |id, ()| {
        let student = model.students.get(id)?;
        matches(list, id, student).then(|| StudentAnswer::of(id, student))
    }))
}
