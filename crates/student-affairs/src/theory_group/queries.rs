//! The theory-group queries: students with their grades, ratings and hires — the list a
//! page at a time, searchable by id and name.

use concord_core::{CommandError, ListQuery, Page, Params};
use serde::Serialize;
use serde_json::{json, Value};

use super::TheoryGroupModel;
use crate::api::{
    array_schema, grade_or_null_schema, grade_schema, hired_by, hired_by_schema, id_schema,
    object_schema, student_matches,
};
use crate::catalogue::Group;
use crate::directory::Student;
use crate::grade::{Grade, Ratings};

/// A student as `GET /api/students/{studentId}` answers.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StudentAnswer {
    pub student_id: String,
    /// `""` while unknown.
    pub name: String,
    pub examinations: Vec<RatedExamination>,
    pub hired_by: Vec<Group>,
}

/// An enrollment with its grade and, beyond what the contract asks, the ratings the grade
/// is computed from (`null` until rated), so the GUI can show both.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RatedExamination {
    pub examination_id: String,
    pub grade: Option<Grade>,
    pub ratings: Option<Ratings>,
}

impl StudentAnswer {
    fn of(model: &TheoryGroupModel, student_id: &str, student: &Student) -> Self {
        let examinations = student
            .enrollments()
            .map(|(examination_id, enrollment)| RatedExamination {
                examination_id: examination_id.clone(),
                grade: enrollment.grade().map(|r| r.grade),
                ratings: model.ratings(student_id, examination_id),
            })
            .collect();
        StudentAnswer {
            student_id: student_id.to_owned(),
            name: student.name_or_empty().to_owned(),
            examinations,
            hired_by: hired_by(student),
        }
    }

    pub fn schema() -> Value {
        let ratings = object_schema(json!({
            "content": grade_schema(),
            "presentation": grade_schema(),
            "discussion": grade_schema(),
        }));
        let examination = object_schema(json!({
            "examinationId": id_schema(),
            "grade": grade_or_null_schema(),
            "ratings": {"oneOf": [ratings, {"type": "null"}]},
        }));
        object_schema(json!({
            "studentId": id_schema(),
            "name": {"type": "string"},
            "examinations": array_schema(examination),
            "hiredBy": hired_by_schema(),
        }))
    }
}

/// `GET /api/students`: a page of the students this group knows; `q` searches ids and names.
pub fn students(
    model: &TheoryGroupModel,
    _: &Params,
    list: &ListQuery,
) -> Result<Page<StudentAnswer>, CommandError> {
    let weigh = |answer: &StudentAnswer| answer.examinations.len();
    Ok(
        list.page_weighed(model.directory().student_index(), weigh, |id, student| {
            student_matches(list, id, student).then(|| StudentAnswer::of(model, id, student))
        }),
    )
}

pub fn student(model: &TheoryGroupModel, params: &Params) -> Result<StudentAnswer, CommandError> {
    let id = params.get("studentId").map_or("", String::as_str);
    let student = model.directory().known_student(id)?;
    Ok(StudentAnswer::of(model, id, student))
}
