//! The event catalogue all four services share: the eight event types of the story, their
//! stateless validation, their overwrite keys, and a typed view for models to match on.
//!
//! Decoding and validation are one function ([`StudentAffairsEvent::decode`]), so what the
//! catalogue accepts is exactly what the models can read. Errors name the field at fault as
//! `data.fieldName`. Extra data fields are allowed: they are kept in the stored event and
//! ignored here.

use std::fmt;

use concord_core::{Catalogue, CloudEvent, EventDraft, EventError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::api::{grade_schema, group_schema, id_schema};

use crate::grade::{not_a_grade, Grade};

/// A research group: the two services that run examinations, grade and hire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Group {
    #[serde(rename = "se-group")]
    SeGroup,
    #[serde(rename = "theory-group")]
    TheoryGroup,
}

impl Group {
    pub const ALL: [Group; 2] = [Group::SeGroup, Group::TheoryGroup];

    /// The wire name, which is also the group's service name.
    pub fn as_str(self) -> &'static str {
        match self {
            Group::SeGroup => crate::SE_GROUP,
            Group::TheoryGroup => crate::THEORY_GROUP,
        }
    }

    pub fn parse(text: &str) -> Option<Group> {
        Group::ALL.into_iter().find(|g| g.as_str() == text)
    }

    /// The group that competes with this one for teaching assistants.
    pub fn other(self) -> Group {
        match self {
            Group::SeGroup => Group::TheoryGroup,
            Group::TheoryGroup => Group::SeGroup,
        }
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The data of one event type of the catalogue.
pub trait EventData: Serialize + Sized {
    /// The CloudEvents `type`.
    const TYPE: &'static str;
    /// The data fields that form the overwrite key (R5).
    const KEY: &'static [&'static str];

    /// Reads and validates the data of an event of this type.
    fn decode(data: &Fields<'_>) -> Result<Self, EventError>;

    /// A JSON Schema of the data, saying what `decode` checks (extra fields are allowed).
    fn schema() -> Value;

    /// The draft a command hands to the runtime to raise this event.
    fn draft(&self) -> EventDraft {
        EventDraft::new(Self::TYPE, self)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StudentCreated {
    pub student_id: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExaminationCreated {
    pub examination_id: String,
    pub title: String,
    pub group: Group,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StudentEnrolled {
    pub student_id: String,
    pub student_name: String,
    pub examination_id: String,
    pub examination_title: String,
    pub group: Group,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentCreated {
    pub assignment_id: String,
    pub examination_id: String,
    pub title: String,
    pub max_points: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentScored {
    pub student_id: String,
    pub assignment_id: String,
    pub points: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PresentationRated {
    pub student_id: String,
    pub examination_id: String,
    pub content: Grade,
    pub presentation: Grade,
    pub discussion: Grade,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StudentGraded {
    pub student_id: String,
    pub examination_id: String,
    pub grade: Grade,
    pub group: Group,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StudentHired {
    pub student_id: String,
    /// Empty when the hiring group does not know the name.
    pub name: String,
    pub group: Group,
}

impl EventData for StudentCreated {
    const TYPE: &'static str = "studentCreated";
    const KEY: &'static [&'static str] = &["studentId"];
    fn schema() -> Value {
        data_schema(json!({"studentId": id_schema(), "name": {"type": "string"}}))
    }
    fn decode(f: &Fields<'_>) -> Result<Self, EventError> {
        Ok(StudentCreated {
            student_id: f.id("studentId")?,
            name: f.text("name")?,
        })
    }
}

impl EventData for ExaminationCreated {
    const TYPE: &'static str = "examinationCreated";
    const KEY: &'static [&'static str] = &["examinationId"];
    fn schema() -> Value {
        data_schema(
            json!({"examinationId": id_schema(), "title": {"type": "string"}, "group": group_schema()}),
        )
    }
    fn decode(f: &Fields<'_>) -> Result<Self, EventError> {
        Ok(ExaminationCreated {
            examination_id: f.id("examinationId")?,
            title: f.text("title")?,
            group: f.group("group")?,
        })
    }
}

impl EventData for StudentEnrolled {
    const TYPE: &'static str = "studentEnrolled";
    const KEY: &'static [&'static str] = &["studentId", "examinationId"];
    fn schema() -> Value {
        data_schema(
            json!({"studentId": id_schema(), "studentName": {"type": "string"}, "examinationId": id_schema(), "examinationTitle": {"type": "string"}, "group": group_schema()}),
        )
    }
    fn decode(f: &Fields<'_>) -> Result<Self, EventError> {
        Ok(StudentEnrolled {
            student_id: f.id("studentId")?,
            student_name: f.text("studentName")?,
            examination_id: f.id("examinationId")?,
            examination_title: f.text("examinationTitle")?,
            group: f.group("group")?,
        })
    }
}

impl EventData for AssignmentCreated {
    const TYPE: &'static str = "assignmentCreated";
    const KEY: &'static [&'static str] = &["assignmentId"];
    fn schema() -> Value {
        data_schema(
            json!({"assignmentId": id_schema(), "examinationId": id_schema(), "title": {"type": "string"}, "maxPoints": integer_schema(1)}),
        )
    }
    fn decode(f: &Fields<'_>) -> Result<Self, EventError> {
        Ok(AssignmentCreated {
            assignment_id: f.id("assignmentId")?,
            examination_id: f.id("examinationId")?,
            title: f.text("title")?,
            max_points: f.integer("maxPoints", 1)?,
        })
    }
}

impl EventData for AssignmentScored {
    const TYPE: &'static str = "assignmentScored";
    const KEY: &'static [&'static str] = &["studentId", "assignmentId"];
    fn schema() -> Value {
        data_schema(
            json!({"studentId": id_schema(), "assignmentId": id_schema(), "points": integer_schema(0)}),
        )
    }
    fn decode(f: &Fields<'_>) -> Result<Self, EventError> {
        Ok(AssignmentScored {
            student_id: f.id("studentId")?,
            assignment_id: f.id("assignmentId")?,
            points: f.integer("points", 0)?,
        })
    }
}

impl EventData for PresentationRated {
    const TYPE: &'static str = "presentationRated";
    const KEY: &'static [&'static str] = &["studentId", "examinationId"];
    fn schema() -> Value {
        data_schema(
            json!({"studentId": id_schema(), "examinationId": id_schema(), "content": grade_schema(), "presentation": grade_schema(), "discussion": grade_schema()}),
        )
    }
    fn decode(f: &Fields<'_>) -> Result<Self, EventError> {
        Ok(PresentationRated {
            student_id: f.id("studentId")?,
            examination_id: f.id("examinationId")?,
            content: f.grade("content")?,
            presentation: f.grade("presentation")?,
            discussion: f.grade("discussion")?,
        })
    }
}

impl EventData for StudentGraded {
    const TYPE: &'static str = "studentGraded";
    const KEY: &'static [&'static str] = &["studentId", "examinationId"];
    fn schema() -> Value {
        data_schema(
            json!({"studentId": id_schema(), "examinationId": id_schema(), "grade": grade_schema(), "group": group_schema()}),
        )
    }
    fn decode(f: &Fields<'_>) -> Result<Self, EventError> {
        Ok(StudentGraded {
            student_id: f.id("studentId")?,
            examination_id: f.id("examinationId")?,
            grade: f.grade("grade")?,
            group: f.group("group")?,
        })
    }
}

impl EventData for StudentHired {
    const TYPE: &'static str = "studentHired";
    const KEY: &'static [&'static str] = &["studentId", "group"];
    fn schema() -> Value {
        data_schema(
            json!({"studentId": id_schema(), "name": {"type": "string"}, "group": group_schema()}),
        )
    }
    fn decode(f: &Fields<'_>) -> Result<Self, EventError> {
        Ok(StudentHired {
            student_id: f.id("studentId")?,
            name: f.text("name")?,
            group: f.group("group")?,
        })
    }
}

/// Declares the catalogue from one list of its data types: the enum models match on, and
/// every dispatch by type name (decoding, overwrite keys, schemas, drafts). A new event type
/// is its data struct, its [`EventData`] impl, and one name added to the list below.
macro_rules! catalogue {
    ($($variant:ident),* $(,)?) => {
        /// A decoded event of the catalogue, for models to match on.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum StudentAffairsEvent {
            $($variant($variant),)*
        }

        $(impl From<$variant> for StudentAffairsEvent {
            fn from(data: $variant) -> Self {
                StudentAffairsEvent::$variant(data)
            }
        })*

        impl StudentAffairsEvent {
            /// The names of the catalogue's types.
            pub const TYPES: &'static [&'static str] = &[$($variant::TYPE,)*];

            /// Decodes and validates an event: `None` if its type is outside the catalogue,
            /// the first fault in its data otherwise.
            pub fn decode(event: &CloudEvent) -> Option<Result<Self, EventError>> {
                let fields = Fields(event.data.map());
                match event.ty.as_str() {
                    $($variant::TYPE => Some($variant::decode(&fields).map(Self::from)),)*
                    _ => None,
                }
            }

            /// The data fields that form the overwrite key of a type (R5).
            fn key_fields(ty: &str) -> Option<&'static [&'static str]> {
                match ty {
                    $($variant::TYPE => Some($variant::KEY),)*
                    _ => None,
                }
            }

            /// Every type's data schema, by type name.
            fn schemas() -> Vec<(String, Value)> {
                vec![$(($variant::TYPE.to_owned(), $variant::schema()),)*]
            }

            pub fn type_name(&self) -> &'static str {
                match self {
                    $(StudentAffairsEvent::$variant(_) => $variant::TYPE,)*
                }
            }

            /// The draft that raises this event.
            pub fn draft(&self) -> EventDraft {
                match self {
                    $(StudentAffairsEvent::$variant(data) => data.draft(),)*
                }
            }
        }
    };
}

catalogue!(
    StudentCreated,
    ExaminationCreated,
    StudentEnrolled,
    AssignmentCreated,
    AssignmentScored,
    PresentationRated,
    StudentGraded,
    StudentHired,
);

/// The event as the draft a command raises: what a test's expected events turn into.
impl From<StudentAffairsEvent> for EventDraft {
    fn from(event: StudentAffairsEvent) -> EventDraft {
        event.draft()
    }
}

/// The catalogue every student-affairs service decodes with.
#[derive(Clone, Copy, Debug, Default)]
pub struct StudentAffairsCatalogue;

impl Catalogue for StudentAffairsCatalogue {
    type Event = StudentAffairsEvent;

    fn decode(&self, event: &CloudEvent) -> Option<Result<StudentAffairsEvent, EventError>> {
        StudentAffairsEvent::decode(event)
    }

    /// The type, then the key fields' JSON values as an array: `studentEnrolled:["s-1","e-1"]`.
    /// JSON quoting keeps ids containing the separator from colliding, and the type prefix
    /// keeps different types apart. A missing field shows as `null`, so the key is total even
    /// for data that would not validate.
    fn overwrite_key(&self, event: &CloudEvent) -> Option<String> {
        let fields = StudentAffairsEvent::key_fields(&event.ty)?;
        let values: Vec<Value> = fields
            .iter()
            .map(|field| event.data.get(field).cloned().unwrap_or(Value::Null))
            .collect();
        Some(format!("{}:{}", event.ty, Value::Array(values)))
    }

    fn schemas(&self) -> Vec<(String, Value)> {
        StudentAffairsEvent::schemas()
    }
}

/// A JSON Schema of an event's data: these fields, all required, others allowed and kept.
fn data_schema(properties: Value) -> Value {
    let required: Vec<String> = properties
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    json!({"type": "object", "properties": properties, "required": required,
           "additionalProperties": true})
}

/// Applies an event to a model as the runtime does (decoded, with its envelope): for tests
/// that build models by hand.
#[cfg(test)]
pub(crate) fn apply<M: concord_core::Model<Event = StudentAffairsEvent>>(
    model: &mut M,
    event: &CloudEvent,
) {
    if let Some(Ok(decoded)) = StudentAffairsEvent::decode(event) {
        model.apply(&decoded, &concord_core::model::Envelope::of(event));
    }
}

/// Typed, validating access to the data fields of one event.
pub struct Fields<'a>(pub &'a Map<String, Value>);

impl Fields<'_> {
    fn field(&self, name: &str) -> Result<&Value, EventError> {
        self.0
            .get(name)
            .ok_or_else(|| fault(name, "is required".to_owned()))
    }

    /// A non-empty string.
    pub fn id(&self, name: &str) -> Result<String, EventError> {
        match self.field(name)? {
            Value::String(s) if !s.is_empty() => Ok(s.clone()),
            Value::String(_) => Err(fault(name, "must not be empty".to_owned())),
            other => Err(fault(name, format!("must be a string, found {other}"))),
        }
    }

    /// A string, possibly empty (an empty name or title carries no value).
    pub fn text(&self, name: &str) -> Result<String, EventError> {
        match self.field(name)? {
            Value::String(s) => Ok(s.clone()),
            other => Err(fault(name, format!("must be a string, found {other}"))),
        }
    }

    pub fn group(&self, name: &str) -> Result<Group, EventError> {
        let value = self.field(name)?;
        value.as_str().and_then(Group::parse).ok_or_else(|| {
            fault(
                name,
                format!("must be \"se-group\" or \"theory-group\", found {value}"),
            )
        })
    }

    /// A German grade as a JSON number.
    pub fn grade(&self, name: &str) -> Result<Grade, EventError> {
        let value = self.field(name)?;
        Grade::from_json(value)
            .ok_or_else(|| fault(name, format!("must be a number: {}", not_a_grade(value))))
    }

    /// A JSON integer from `min` to [`MAX_INTEGER`] ([`integer_schema`]). A number with a zero
    /// fraction (`3.0`) is an integer as JSON Schema counts them; `2.5` is not.
    pub fn integer(&self, name: &str, min: u64) -> Result<u64, EventError> {
        let value = self.field(name)?;
        let Value::Number(number) = value else {
            return Err(fault(name, format!("must be an integer, found {value}")));
        };
        let integer = if let Some(n) = number.as_u64() {
            Some(i128::from(n))
        } else if let Some(n) = number.as_i64() {
            Some(i128::from(n))
        } else {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 2f64.powi(64))
                .map(|f| f as i128)
        };
        match integer {
            None => Err(fault(name, format!("must be an integer, found {value}"))),
            Some(n) if n < i128::from(min) => Err(fault(
                name,
                format!("must be at least {min}, found {value}"),
            )),
            Some(n) if n > i128::from(MAX_INTEGER) => Err(fault(
                name,
                format!("must be at most {MAX_INTEGER}, found {value}"),
            )),
            Some(n) => Ok(n as u64),
        }
    }
}

/// The largest integer an event's data may hold: the signed 64-bit range every store, SQL
/// column and JSON library of a peer can carry, and what the schema states as `maximum`.
pub const MAX_INTEGER: u64 = i64::MAX as u64;

/// JSON Schema of an integer field from `minimum` to [`MAX_INTEGER`], exactly what
/// [`Fields::integer`] accepts, so a schema-valid event is never refused.
fn integer_schema(minimum: u64) -> Value {
    json!({"type": "integer", "minimum": minimum, "maximum": MAX_INTEGER})
}

fn fault(field: &str, reason: String) -> EventError {
    EventError::new(format!("data.{field}"), reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use concord_core::Timestamp;
    use serde_json::json;

    fn event(ty: &str, data: Value) -> CloudEvent {
        let Value::Object(data) = data else {
            panic!("data must be an object")
        };
        CloudEvent::new(
            "e-1",
            "students-office",
            ty,
            Timestamp::from_unix_nanos(0),
            data,
        )
    }

    fn valid() -> Vec<(&'static str, Value)> {
        vec![
            ("studentCreated", json!({"studentId":"s-1","name":"Ada"})),
            (
                "examinationCreated",
                json!({"examinationId":"x-1","title":"Modelling","group":"se-group"}),
            ),
            (
                "studentEnrolled",
                json!({"studentId":"s-1","studentName":"Ada","examinationId":"x-1",
                       "examinationTitle":"Modelling","group":"se-group"}),
            ),
            (
                "assignmentCreated",
                json!({"assignmentId":"a-1","examinationId":"x-1","title":"Class diagrams","maxPoints":10}),
            ),
            (
                "assignmentScored",
                json!({"studentId":"s-1","assignmentId":"a-1","points":0}),
            ),
            (
                "presentationRated",
                json!({"studentId":"s-1","examinationId":"x-2","content":1.3,"presentation":2.0,"discussion":5.0}),
            ),
            (
                "studentGraded",
                json!({"studentId":"s-1","examinationId":"x-1","grade":1.7,"group":"theory-group"}),
            ),
            (
                "studentHired",
                json!({"studentId":"s-1","name":"","group":"se-group"}),
            ),
        ]
    }

    fn check(ty: &str, data: Value) -> Option<Result<(), EventError>> {
        StudentAffairsCatalogue.validate(&event(ty, data))
    }

    #[test]
    fn every_valid_sample_decodes_and_round_trips() {
        for (ty, data) in valid() {
            let decoded = StudentAffairsEvent::decode(&event(ty, data.clone()))
                .expect("in the catalogue")
                .unwrap_or_else(|e| panic!("{ty}: {e}"));
            assert_eq!(decoded.type_name(), ty);
            let draft = decoded.draft();
            assert_eq!(draft.ty, ty);
            assert_eq!(
                Value::Object(draft.data),
                data,
                "{ty} serializes as it came"
            );
        }
        assert_eq!(StudentAffairsEvent::TYPES.len(), valid().len());
        let schemas = StudentAffairsCatalogue.schemas();
        assert_eq!(schemas.len(), valid().len(), "a schema for every type");
        for ((ty, schema), (valid_ty, data)) in schemas.iter().zip(valid()) {
            assert_eq!(ty, valid_ty);
            for field in data.as_object().unwrap().keys() {
                assert!(
                    schema["required"]
                        .as_array()
                        .unwrap()
                        .contains(&json!(field)),
                    "{ty}.{field}"
                );
            }
        }
    }

    #[test]
    fn types_outside_the_catalogue_are_not_errors() {
        assert_eq!(check("studentExmatriculated", json!({})), None);
        assert_eq!(
            StudentAffairsCatalogue.overwrite_key(&event("other", json!({}))),
            None
        );
    }

    #[test]
    fn extra_fields_are_allowed() {
        for (ty, mut data) in valid() {
            data["comment"] = json!({"nested": [1, 2]});
            assert_eq!(check(ty, data), Some(Ok(())), "{ty}");
        }
    }

    #[test]
    fn every_missing_field_is_named() {
        for (ty, data) in valid() {
            for field in data.as_object().unwrap().keys() {
                let mut broken = data.clone();
                broken.as_object_mut().unwrap().remove(field);
                let err = check(ty, broken).unwrap().unwrap_err();
                assert_eq!(err.attribute, format!("data.{field}"), "{ty}");
                assert_eq!(err.reason, "is required");
            }
        }
    }

    /// Replaces one field of a valid sample and expects that field to be named.
    fn rejects(ty: &str, field: &str, value: Value) {
        let mut data = valid().into_iter().find(|(t, _)| *t == ty).unwrap().1;
        data[field] = value.clone();
        match check(ty, data) {
            Some(Err(err)) => assert_eq!(err.attribute, format!("data.{field}"), "{ty} {value}"),
            other => panic!("{ty}.{field} = {value} was not rejected: {other:?}"),
        }
    }

    fn accepts(ty: &str, field: &str, value: Value) {
        let mut data = valid().into_iter().find(|(t, _)| *t == ty).unwrap().1;
        data[field] = value.clone();
        assert_eq!(check(ty, data), Some(Ok(())), "{ty}.{field} = {value}");
    }

    #[test]
    fn ids_are_non_empty_strings() {
        let id_fields = [
            ("studentCreated", "studentId"),
            ("examinationCreated", "examinationId"),
            ("studentEnrolled", "studentId"),
            ("studentEnrolled", "examinationId"),
            ("assignmentCreated", "assignmentId"),
            ("assignmentCreated", "examinationId"),
            ("assignmentScored", "studentId"),
            ("assignmentScored", "assignmentId"),
            ("presentationRated", "studentId"),
            ("presentationRated", "examinationId"),
            ("studentGraded", "studentId"),
            ("studentGraded", "examinationId"),
            ("studentHired", "studentId"),
        ];
        for (ty, field) in id_fields {
            rejects(ty, field, json!(""));
            rejects(ty, field, json!(17));
            rejects(ty, field, json!(null));
            rejects(ty, field, json!(["s-1"]));
        }
    }

    #[test]
    fn names_and_titles_are_strings_and_may_be_empty() {
        let text_fields = [
            ("studentCreated", "name"),
            ("examinationCreated", "title"),
            ("studentEnrolled", "studentName"),
            ("studentEnrolled", "examinationTitle"),
            ("assignmentCreated", "title"),
            ("studentHired", "name"),
        ];
        for (ty, field) in text_fields {
            accepts(ty, field, json!(""));
            rejects(ty, field, json!(42));
            rejects(ty, field, json!(null));
        }
    }

    #[test]
    fn groups_are_one_of_the_two() {
        for ty in [
            "examinationCreated",
            "studentEnrolled",
            "studentGraded",
            "studentHired",
        ] {
            accepts(ty, "group", json!("theory-group"));
            rejects(ty, "group", json!("ta-pool"));
            rejects(ty, "group", json!("SE-GROUP"));
            rejects(ty, "group", json!(""));
            rejects(ty, "group", json!(1));
        }
    }

    #[test]
    fn max_points_is_a_positive_integer() {
        accepts("assignmentCreated", "maxPoints", json!(1));
        accepts("assignmentCreated", "maxPoints", json!(10.0));
        accepts("assignmentCreated", "maxPoints", json!(MAX_INTEGER));
        for bad in [
            json!(0),
            json!(-3),
            json!(2.5),
            json!("10"),
            json!(null),
            json!(1e30),
            // Found by schemathesis: an integer literal beyond 64 bits, and one just above
            // the documented maximum.
            serde_json::from_str("58780268686999946264576").unwrap(),
            json!(MAX_INTEGER + 1),
        ] {
            rejects("assignmentCreated", "maxPoints", bad);
        }
    }

    #[test]
    fn points_are_a_non_negative_integer() {
        accepts("assignmentScored", "points", json!(0));
        accepts("assignmentScored", "points", json!(120));
        for bad in [json!(-1), json!(2.5), json!("3"), json!(true)] {
            rejects("assignmentScored", "points", bad);
        }
    }

    #[test]
    fn grades_are_german_grades_as_numbers() {
        let grade_fields = [
            ("presentationRated", "content"),
            ("presentationRated", "presentation"),
            ("presentationRated", "discussion"),
            ("studentGraded", "grade"),
        ];
        for (ty, field) in grade_fields {
            for good in Grade::ALL {
                accepts(ty, field, json!(good));
            }
            accepts(ty, field, json!(2));
            for bad in [json!(1.5), json!(0.7), json!(6), json!("1.3"), json!(null)] {
                rejects(ty, field, bad);
            }
        }
    }

    #[test]
    fn overwrite_keys_follow_the_contract() {
        let key = |ty: &str, data: Value| {
            StudentAffairsCatalogue
                .overwrite_key(&event(ty, data))
                .unwrap()
        };
        let keys: Vec<String> = valid()
            .into_iter()
            .map(|(ty, data)| key(ty, data))
            .collect();
        assert_eq!(
            keys,
            [
                r#"studentCreated:["s-1"]"#,
                r#"examinationCreated:["x-1"]"#,
                r#"studentEnrolled:["s-1","x-1"]"#,
                r#"assignmentCreated:["a-1"]"#,
                r#"assignmentScored:["s-1","a-1"]"#,
                r#"presentationRated:["s-1","x-2"]"#,
                r#"studentGraded:["s-1","x-1"]"#,
                r#"studentHired:["s-1","se-group"]"#,
            ]
        );
        // The value of the key fields decides; names and grades do not.
        assert_eq!(
            key(
                "studentGraded",
                json!({"studentId":"s-1","examinationId":"x-1","grade":5.0})
            ),
            keys[6]
        );
        // Ids holding the separator cannot make two keys equal.
        assert_ne!(
            key(
                "studentEnrolled",
                json!({"studentId":"a\",\"b","examinationId":"c"})
            ),
            key(
                "studentEnrolled",
                json!({"studentId":"a","examinationId":"b\",\"c"})
            ),
        );
    }
}
