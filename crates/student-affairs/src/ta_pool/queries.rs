//! The ta-pool queries: the hired teaching assistants and whether both groups hired one —
//! the list a page at a time (over the index of hired students), searchable by id and name.

use concord_core::{CommandError, ListQuery, Page, Params};
use serde::Serialize;
use serde_json::{json, Value};

use super::TaPoolModel;
use crate::api::{hired_by, hired_by_schema, id_schema, object_schema, student_matches};
use crate::catalogue::Group;
use crate::directory::Student;

/// A teaching assistant as `GET /api/tas/{studentId}` answers.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaAnswer {
    pub student_id: String,
    /// `""` while unknown (a group hired a student it knew only by id).
    pub name: String,
    pub hired_by: Vec<Group>,
    /// Hired by both groups.
    pub conflict: bool,
}

impl TaAnswer {
    /// `None` for a student nobody hired: the pool lists only teaching assistants.
    fn of(student_id: &str, student: &Student) -> Option<Self> {
        let hired_by = hired_by(student);
        if hired_by.is_empty() {
            return None;
        }
        Some(TaAnswer {
            student_id: student_id.to_owned(),
            name: student.name_or_empty().to_owned(),
            conflict: Group::ALL.iter().all(|g| hired_by.contains(g)),
            hired_by,
        })
    }

    pub fn schema() -> Value {
        object_schema(json!({
            "studentId": id_schema(),
            "name": {"type": "string"},
            "hiredBy": hired_by_schema(),
            "conflict": {"type": "boolean"},
        }))
    }
}

/// `GET /api/tas`: a page of teaching assistants; `q` searches ids and names.
pub fn tas(
    model: &TaPoolModel,
    _: &Params,
    list: &ListQuery,
) -> Result<Page<TaAnswer>, CommandError> {
    let directory = model.directory();
    Ok(list.page(directory.hired(), |id, ()| {
        let student = directory.find_student(id)?;
        student_matches(list, id, student)
            .then(|| TaAnswer::of(id, student))
            .flatten()
    }))
}

pub fn ta(model: &TaPoolModel, params: &Params) -> Result<TaAnswer, CommandError> {
    let id = params.get("studentId").map_or("", String::as_str);
    model
        .directory()
        .find_student(id)
        .and_then(|student| TaAnswer::of(id, student))
        .ok_or_else(|| CommandError::NotFound(format!("{id:?} is not a hired teaching assistant")))
}
