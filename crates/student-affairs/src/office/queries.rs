//! The students-office queries: students with their enrollments and grades, examinations
//! with their students — the lists a page at a time, searchable by id and name or title.

use concord_core::{CommandError, ListQuery, Page, Params};
use serde::Serialize;
use serde_json::{json, Value};

use super::OfficeModel;
use crate::api::{
    array_schema, grade_or_null_schema, group_schema, id_schema, object_schema, student_matches,
};
use crate::catalogue::Group;
use crate::directory::{Directory, Examination, Student};
use crate::grade::Grade;

/// A student as `GET /api/students/{studentId}` answers.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StudentAnswer {
    pub student_id: String,
    /// `""` while unknown.
    pub name: String,
    pub enrollments: Vec<EnrollmentAnswer>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentAnswer {
    pub examination_id: String,
    /// `""` while unknown.
    pub title: String,
    /// `null` while unknown.
    pub group: Option<Group>,
    pub grade: Option<Grade>,
    /// `false` for a grade that arrived for a student the office never enrolled in this
    /// examination: listed so the grade is not lost, but not an enrollment. Only that case
    /// is written out, so an enrollment keeps the contract's shape.
    #[serde(skip_serializing_if = "is_true")]
    pub enrolled: bool,
}

fn is_true(value: &bool) -> bool {
    *value
}

/// `enrolled`, written only when `false` (see [`EnrollmentAnswer::enrolled`]).
fn enrolled_schema() -> Value {
    json!({
        "type": "boolean",
        "const": false,
        "description": "Present only for a grade that arrived for a student the office never \
            enrolled in this examination: the grade is kept, but it is not an enrollment.",
    })
}

/// [`object_schema`] with an optional `enrolled` member.
fn with_enrolled(required: Value) -> Value {
    let mut schema = object_schema(required);
    schema["properties"]["enrolled"] = enrolled_schema();
    schema
}

impl StudentAnswer {
    fn of(directory: &Directory, student_id: &str, student: &Student) -> Self {
        let enrollments = student
            .enrollments()
            .map(|(examination_id, enrollment)| {
                let examination = directory.find_examination(examination_id);
                EnrollmentAnswer {
                    examination_id: examination_id.clone(),
                    title: examination
                        .map_or("", Examination::title_or_empty)
                        .to_owned(),
                    group: examination.and_then(Examination::group),
                    grade: enrollment.grade().map(|r| r.grade),
                    enrolled: enrollment.is_enrolled(),
                }
            })
            .collect();
        StudentAnswer {
            student_id: student_id.to_owned(),
            name: student.name_or_empty().to_owned(),
            enrollments,
        }
    }

    pub fn schema() -> Value {
        let enrollment = with_enrolled(json!({
            "examinationId": id_schema(),
            "title": {"type": "string"},
            "group": {"oneOf": [group_schema(), {"type": "null"}]},
            "grade": grade_or_null_schema(),
        }));
        object_schema(json!({
            "studentId": id_schema(),
            "name": {"type": "string"},
            "enrollments": array_schema(enrollment),
        }))
    }
}

/// `GET /api/students`: a page of students; `q` searches ids and names. A page also ends
/// once its students list [`concord_core::list::WEIGHT_BUDGET`] enrollments in all.
pub fn students(
    model: &OfficeModel,
    _: &Params,
    list: &ListQuery,
) -> Result<Page<StudentAnswer>, CommandError> {
    let directory = model.directory();
    let weigh = |answer: &StudentAnswer| answer.enrollments.len();
    Ok(
        list.page_weighed(directory.student_index(), weigh, |id, student| {
            student_matches(list, id, student).then(|| StudentAnswer::of(directory, id, student))
        }),
    )
}

pub fn student(model: &OfficeModel, params: &Params) -> Result<StudentAnswer, CommandError> {
    let id = params.get("studentId").map_or("", String::as_str);
    let directory = model.directory();
    Ok(StudentAnswer::of(
        directory,
        id,
        directory.known_student(id)?,
    ))
}

/// An examination as `GET /api/examinations/{examinationId}` answers.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExaminationAnswer {
    pub examination_id: String,
    /// `""` while unknown.
    pub title: String,
    /// `null` while unknown.
    pub group: Option<Group>,
    pub enrollments: Vec<EnrolledStudentAnswer>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrolledStudentAnswer {
    pub student_id: String,
    /// `""` while unknown.
    pub name: String,
    pub grade: Option<Grade>,
    /// As in [`EnrollmentAnswer::enrolled`].
    #[serde(skip_serializing_if = "is_true")]
    pub enrolled: bool,
}

impl ExaminationAnswer {
    fn of(directory: &Directory, examination_id: &str, examination: &Examination) -> Self {
        let enrollments = examination
            .students()
            .map(|student_id| {
                let student = directory.find_student(student_id);
                let enrollment = student.and_then(|s| s.enrollment(examination_id));
                EnrolledStudentAnswer {
                    student_id: student_id.clone(),
                    name: student.map_or("", Student::name_or_empty).to_owned(),
                    grade: enrollment.and_then(|e| e.grade()).map(|r| r.grade),
                    enrolled: enrollment.is_some_and(|e| e.is_enrolled()),
                }
            })
            .collect();
        ExaminationAnswer {
            examination_id: examination_id.to_owned(),
            title: examination.title_or_empty().to_owned(),
            group: examination.group(),
            enrollments,
        }
    }

    pub fn schema() -> Value {
        let enrolled = with_enrolled(json!({
            "studentId": id_schema(),
            "name": {"type": "string"},
            "grade": grade_or_null_schema(),
        }));
        object_schema(json!({
            "examinationId": id_schema(),
            "title": {"type": "string"},
            "group": {"oneOf": [group_schema(), {"type": "null"}]},
            "enrollments": array_schema(enrolled),
        }))
    }
}

/// `GET /api/examinations`: a page of examinations; `q` searches ids and titles. A page
/// also ends once its examinations list [`concord_core::list::WEIGHT_BUDGET`] students in
/// all (a single examination's answer lists all of its own).
pub fn examinations(
    model: &OfficeModel,
    _: &Params,
    list: &ListQuery,
) -> Result<Page<ExaminationAnswer>, CommandError> {
    let directory = model.directory();
    let weigh = |answer: &ExaminationAnswer| answer.enrollments.len();
    Ok(
        list.page_weighed(directory.examination_index(), weigh, |id, examination| {
            list.matches([id, examination.title_or_empty()])
                .then(|| ExaminationAnswer::of(directory, id, examination))
        }),
    )
}

pub fn examination(
    model: &OfficeModel,
    params: &Params,
) -> Result<ExaminationAnswer, CommandError> {
    let id = params.get("examinationId").map_or("", String::as_str);
    let directory = model.directory();
    Ok(ExaminationAnswer::of(
        directory,
        id,
        directory.known_examination(id)?,
    ))
}
