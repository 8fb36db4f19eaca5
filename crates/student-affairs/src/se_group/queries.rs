//! The se-group queries: students with their grades, points and hires; assignments — the
//! lists a page at a time, searchable by id and name or title.

use std::collections::BTreeMap;

use concord_core::{CommandError, ListQuery, Page, Params};
use serde::Serialize;
use serde_json::{json, Value};

use super::model::Assignment;
use super::SeGroupModel;
use crate::api::{
    array_schema, grade_or_null_schema, hired_by, hired_by_schema, id_schema, object_schema,
    student_matches,
};
use crate::catalogue::Group;
use crate::directory::Student;
use crate::grade::Grade;

/// A student as `GET /api/students/{studentId}` answers.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StudentAnswer {
    pub student_id: String,
    /// `""` while unknown.
    pub name: String,
    pub examinations: Vec<GradedExamination>,
    /// Points by assignment id.
    pub points: BTreeMap<String, u64>,
    pub hired_by: Vec<Group>,
}

impl StudentAnswer {
    fn of(model: &SeGroupModel, student_id: &str, student: &Student) -> Self {
        StudentAnswer {
            student_id: student_id.to_owned(),
            name: student.name_or_empty().to_owned(),
            examinations: GradedExamination::all_of(student),
            points: model.points_of(student_id),
            hired_by: hired_by(student),
        }
    }

    pub fn schema() -> Value {
        object_schema(json!({
            "studentId": id_schema(),
            "name": {"type": "string"},
            "examinations": array_schema(GradedExamination::schema()),
            "points": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
            "hiredBy": hired_by_schema(),
        }))
    }
}

/// `GET /api/students`: a page of the students this group knows; `q` searches ids and names.
pub fn students(
    model: &SeGroupModel,
    _: &Params,
    list: &ListQuery,
) -> Result<Page<StudentAnswer>, CommandError> {
    let weigh = |answer: &StudentAnswer| answer.examinations.len() + answer.points.len();
    Ok(
        list.page_weighed(model.directory().student_index(), weigh, |id, student| {
            student_matches(list, id, student).then(|| StudentAnswer::of(model, id, student))
        }),
    )
}

pub fn student(model: &SeGroupModel, params: &Params) -> Result<StudentAnswer, CommandError> {
    let id = params.get("studentId").map_or("", String::as_str);
    let student = model.directory().known_student(id)?;
    Ok(StudentAnswer::of(model, id, student))
}

/// An enrollment with its grade (`null` until graded).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GradedExamination {
    pub examination_id: String,
    pub grade: Option<Grade>,
}

impl GradedExamination {
    pub fn all_of(student: &Student) -> Vec<GradedExamination> {
        student
            .enrollments()
            .map(|(examination_id, enrollment)| GradedExamination {
                examination_id: examination_id.clone(),
                grade: enrollment.grade().map(|r| r.grade),
            })
            .collect()
    }

    pub fn schema() -> Value {
        object_schema(json!({"examinationId": id_schema(), "grade": grade_or_null_schema()}))
    }
}

/// An assignment as `GET /api/assignments` lists it; the fields are `null` while it is a
/// placeholder known only from scores.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentAnswer {
    pub assignment_id: String,
    pub examination_id: Option<String>,
    pub title: Option<String>,
    pub max_points: Option<u64>,
}

impl AssignmentAnswer {
    fn of(assignment_id: &str, assignment: &Assignment) -> Self {
        AssignmentAnswer {
            assignment_id: assignment_id.to_owned(),
            examination_id: assignment.examination_id().map(str::to_owned),
            title: assignment.title().map(str::to_owned),
            max_points: assignment.max_points(),
        }
    }

    pub fn schema() -> Value {
        object_schema(json!({
            "assignmentId": id_schema(),
            "examinationId": {"type": ["string", "null"]},
            "title": {"type": ["string", "null"]},
            "maxPoints": {"type": ["integer", "null"], "minimum": 1},
        }))
    }
}

/// `GET /api/assignments`: a page of assignments; `q` searches ids and titles.
pub fn assignments(
    model: &SeGroupModel,
    _: &Params,
    list: &ListQuery,
) -> Result<Page<AssignmentAnswer>, CommandError> {
    Ok(list.page(model.assignment_index(), |id, assignment| {
        list.matches([id, assignment.title().unwrap_or_default()])
            .then(|| AssignmentAnswer::of(id, assignment))
    }))
}

pub fn assignment(model: &SeGroupModel, params: &Params) -> Result<AssignmentAnswer, CommandError> {
    let id = params.get("assignmentId").map_or("", String::as_str);
    let assignment = model
        .assignment(id)
        .ok_or_else(|| CommandError::NotFound(format!("unknown assignment {id:?}")))?;
    Ok(AssignmentAnswer::of(id, assignment))
}
