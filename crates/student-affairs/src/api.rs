//! What the four services' APIs share: input checks, JSON Schema fragments for the OpenAPI
//! document, the hire command both groups offer, the groups' rule that they grade only
//! their own enrolled students, and answer pieces.

use concord_core::{CommandError, EventDraft, ListQuery};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::catalogue::{EventData, Group, StudentGraded, StudentHired};
use crate::directory::{Directory, Enrollment, Student};
use crate::grade::Grade;

/// Refuses an empty id or name in a command body (400).
pub fn require(field: &str, value: &str) -> Result<(), CommandError> {
    if value.trim().is_empty() {
        Err(CommandError::Invalid(format!("{field} must not be empty")))
    } else {
        Ok(())
    }
}

/// JSON Schema of a non-empty string (as events carry ids).
pub fn id_schema() -> Value {
    json!({"type": "string", "minLength": 1})
}

/// The characters `str::trim` removes (Unicode `White_Space`), as a regular-expression class
/// body: what [`require`] does not count.
const WHITE_SPACE: &str =
    r"\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// JSON Schema of a command's id or name: a string with something besides white space
/// ([`require`]), so the OpenAPI document says exactly what a command refuses.
pub fn input_text_schema() -> Value {
    json!({"type": "string", "minLength": 1, "pattern": format!("[^{WHITE_SPACE}]")})
}

/// JSON Schema of a command's whole number from `minimum` up ([`whole_number`]).
pub fn whole_number_schema(minimum: i64) -> Value {
    json!({"type": "integer", "minimum": minimum, "maximum": i64::MAX})
}

/// Reads a whole number as JSON Schema counts one: an integer, or a number without a
/// fraction (`10.0`), within `i64`. Anything else is refused (400), naming the value.
pub fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    use serde::de::Error;
    match serde_json::Number::deserialize(deserializer)? {
        n if n.is_i64() => Ok(n.as_i64().expect("an i64")),
        n => match n.as_f64() {
            // 2^63 is the first f64 above i64::MAX.
            Some(f)
                if f.fract() == 0.0 && f >= i64::MIN as f64 && f < 9_223_372_036_854_775_808.0 =>
            {
                Ok(f as i64)
            }
            _ => Err(D::Error::custom(format!(
                "{n} is not a whole number within ±2^63"
            ))),
        },
    }
}

/// JSON Schema of a German grade.
pub fn grade_schema() -> Value {
    json!({"type": "number", "enum": Grade::ALL})
}

/// JSON Schema of a German grade, or `null` until there is one.
pub fn grade_or_null_schema() -> Value {
    json!({"oneOf": [grade_schema(), {"type": "null"}]})
}

pub fn group_schema() -> Value {
    json!({"type": "string", "enum": Group::ALL})
}

/// JSON Schema of an object with these properties, all required.
pub fn object_schema(properties: Value) -> Value {
    let required: Vec<String> = properties
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    json!({"type": "object", "properties": properties, "required": required})
}

pub fn array_schema(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

/// `POST /api/grades` of either group.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GradeStudent {
    pub student_id: String,
    pub examination_id: String,
}

impl GradeStudent {
    pub fn schema() -> Value {
        object_schema(
            json!({"studentId": input_text_schema(), "examinationId": input_text_schema()}),
        )
    }

    pub fn require_ids(&self) -> Result<(), CommandError> {
        require("studentId", &self.student_id)?;
        require("examinationId", &self.examination_id)
    }
}

/// The enrollment a group's command about a (student, examination) pair needs: both known
/// (404 otherwise), the student enrolled in the examination by the office, and the
/// examination run by `group` (409 otherwise). A group grades — and rates — only the
/// students the office enrolled in its own examinations, so a grade never names a pair the
/// office does not have.
pub fn enrolled_here<'a>(
    directory: &'a Directory,
    student_id: &str,
    examination_id: &str,
    group: Group,
) -> Result<&'a Enrollment, CommandError> {
    let student = directory.known_student(student_id)?;
    let examination = directory.known_examination(examination_id)?;
    let enrollment = student
        .enrollment(examination_id)
        .filter(|e| e.is_enrolled())
        .ok_or_else(|| {
            CommandError::Conflict(format!(
                "student {student_id:?} is not enrolled in examination {examination_id:?}; \
                 enrollments come from the students-office"
            ))
        })?;
    match examination.group() {
        Some(runner) if runner == group => Ok(enrollment),
        runner => Err(CommandError::Conflict(format!(
            "examination {examination_id:?} is run by {}, not {group}",
            runner.map_or("no known group", Group::as_str)
        ))),
    }
}

/// Whether a student matches a list's search: by id or name.
pub fn student_matches(list: &ListQuery, id: &str, student: &Student) -> bool {
    list.matches([id, student.name_or_empty()])
}

/// Grades a student for `group` by the group's own scheme (`grade_by`, which says why it
/// cannot grade yet): only a student the office enrolled in one of the group's examinations
/// (409 otherwise). The same grade again raises nothing; a changed one a new `studentGraded`.
pub fn grade(
    directory: &Directory,
    group: Group,
    input: GradeStudent,
    grade_by: impl FnOnce(&GradeStudent) -> Result<Grade, CommandError>,
) -> Result<Vec<EventDraft>, CommandError> {
    input.require_ids()?;
    enrolled_here(directory, &input.student_id, &input.examination_id, group)?;
    let grade = grade_by(&input)?;
    if already_graded(directory, &input, grade, group) {
        return Ok(vec![]);
    }
    Ok(vec![StudentGraded {
        student_id: input.student_id,
        examination_id: input.examination_id,
        grade,
        group,
    }
    .draft()])
}

/// Whether the enrollment already carries exactly this grade from this group, so that
/// grading again would change nothing.
pub fn already_graded(
    directory: &Directory,
    input: &GradeStudent,
    grade: Grade,
    group: Group,
) -> bool {
    directory
        .find_student(&input.student_id)
        .and_then(|s| s.enrollment(&input.examination_id))
        .and_then(|e| e.grade())
        .is_some_and(|r| r.grade == grade && r.group == group)
}

/// `POST /api/hires` of either group.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hire {
    pub student_id: String,
    /// Hire even though the other group has hired the student already.
    #[serde(default)]
    pub force: bool,
}

impl Hire {
    pub fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {"studentId": input_text_schema(), "force": {"type": "boolean", "default": false}},
            "required": ["studentId"],
        })
    }
}

/// Hires a student for `group`: nothing to do if already hired by it, 409 if the other
/// group is known to have hired them (unless forced), otherwise `studentHired` carrying the
/// name as far as it is known.
pub fn hire(
    directory: &Directory,
    group: Group,
    input: Hire,
) -> Result<Vec<EventDraft>, CommandError> {
    require("studentId", &input.student_id)?;
    let student = directory.known_student(&input.student_id)?;
    if student.is_hired_by(group) {
        return Ok(vec![]);
    }
    if student.is_hired_by(group.other()) && !input.force {
        return Err(CommandError::Conflict(format!(
            "student {:?} is already hired by {}; send \"force\": true to hire anyway",
            input.student_id,
            group.other()
        )));
    }
    Ok(vec![StudentHired {
        student_id: input.student_id,
        name: student.name_or_empty().to_owned(),
        group,
    }
    .draft()])
}

/// The groups that hired a student, as the answers list them.
pub fn hired_by(student: &Student) -> Vec<Group> {
    student.hired_by().collect()
}

pub fn hired_by_schema() -> Value {
    array_schema(group_schema())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Points {
        #[serde(deserialize_with = "whole_number")]
        points: i64,
    }

    fn points(body: &str) -> Result<i64, String> {
        serde_json::from_str::<Points>(body)
            .map(|p| p.points)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_whole_number_written_with_a_fraction_is_read_exactly() {
        assert_eq!(points(r#"{"points": 10.0}"#), Ok(10));
        // Near 2^52 a float's last bit is half a unit: a parser that is off by one bit reads
        // this as …910.5 and refused a valid whole number (found by schemathesis).
        assert_eq!(
            points(r#"{"points": 4379940515038910.0}"#),
            Ok(4_379_940_515_038_910)
        );
        assert!(points(r#"{"points": 10.5}"#)
            .unwrap_err()
            .contains("not a whole number"));
        assert!(points(r#"{"points": 1e300}"#).is_err());
    }
}
