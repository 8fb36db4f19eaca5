//! The scholarship office's catalogue: the two types it takes from the student-affairs
//! services — only the fields it needs of them; the rest of their data is kept in the stored
//! event and ignored here — and the one type it raises.
//!
//! Decoding is validation: a field missing, of the wrong kind or out of range is an error
//! naming `data`, and the runtime refuses the event (putEvents) or keeps it as a link's dead
//! letter. The JSON Schemas say the same, for the service's AsyncAPI document.

use concord_core::{Catalogue, CloudEvent, EventDraft, EventError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub const STUDENT_CREATED: &str = "studentCreated";
pub const STUDENT_GRADED: &str = "studentGraded";
pub const SCHOLARSHIP_AWARDED: &str = "scholarshipAwarded";

/// The students-office's: a student and their name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StudentCreated {
    pub student_id: String,
    pub name: String,
}

/// A group's: a student's final grade in one examination (German scale, 1.0 best).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StudentGraded {
    pub student_id: String,
    pub examination_id: String,
    pub grade: f64,
}

/// Ours: a scholarship of `amount` euros for a student whose average was `average`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScholarshipAwarded {
    pub student_id: String,
    pub amount: u64,
    pub average: f64,
}

/// A decoded event, for the model to match on.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    StudentCreated(StudentCreated),
    StudentGraded(StudentGraded),
    ScholarshipAwarded(ScholarshipAwarded),
}

impl From<Event> for EventDraft {
    fn from(event: Event) -> EventDraft {
        match event {
            Event::StudentCreated(data) => EventDraft::new(STUDENT_CREATED, data),
            Event::StudentGraded(data) => EventDraft::new(STUDENT_GRADED, data),
            Event::ScholarshipAwarded(data) => EventDraft::new(SCHOLARSHIP_AWARDED, data),
        }
    }
}

/// The catalogue the scholarship office decodes with.
pub struct Scholarships;

impl Catalogue for Scholarships {
    type Event = Event;

    fn decode(&self, event: &CloudEvent) -> Option<Result<Event, EventError>> {
        Some(match event.ty.as_str() {
            STUDENT_CREATED => data(event).and_then(|d: StudentCreated| {
                id(&d.student_id)?;
                Ok(Event::StudentCreated(d))
            }),
            STUDENT_GRADED => data(event).and_then(|d: StudentGraded| {
                id(&d.student_id)?;
                id(&d.examination_id)?;
                grade(d.grade)?;
                Ok(Event::StudentGraded(d))
            }),
            SCHOLARSHIP_AWARDED => data(event).and_then(|d: ScholarshipAwarded| {
                id(&d.student_id)?;
                grade(d.average)?;
                Ok(Event::ScholarshipAwarded(d))
            }),
            _ => return None,
        })
    }

    /// Two events with the same key write the same attributes: a student's name, one
    /// examination's grade, a student's award.
    fn overwrite_key(&self, event: &CloudEvent) -> Option<String> {
        let fields: &[&str] = match event.ty.as_str() {
            STUDENT_CREATED | SCHOLARSHIP_AWARDED => &["studentId"],
            STUDENT_GRADED => &["studentId", "examinationId"],
            _ => return None,
        };
        let values: Vec<Value> = fields
            .iter()
            .map(|f| event.data.get(f).cloned().unwrap_or(Value::Null))
            .collect();
        Some(format!("{}:{}", event.ty, Value::Array(values)))
    }

    fn schemas(&self) -> Vec<(String, Value)> {
        let id = json!({"type": "string", "minLength": 1});
        let grade = json!({"type": "number", "minimum": 1.0, "maximum": 5.0});
        let object = |properties: Value| {
            let required: Vec<&String> = properties
                .as_object()
                .into_iter()
                .flat_map(|p| p.keys())
                .collect();
            json!({"type": "object", "properties": properties, "required": required})
        };
        vec![
            (
                STUDENT_CREATED.into(),
                object(json!({"studentId": id, "name": {"type": "string"}})),
            ),
            (
                STUDENT_GRADED.into(),
                object(json!({"studentId": id, "examinationId": id, "grade": grade})),
            ),
            (
                SCHOLARSHIP_AWARDED.into(),
                object(
                    json!({"studentId": id, "amount": {"type": "integer", "minimum": 0}, "average": grade}),
                ),
            ),
        ]
    }
}

fn data<T: DeserializeOwned>(event: &CloudEvent) -> Result<T, EventError> {
    serde_json::from_str(event.data.as_str()).map_err(|e| EventError::new("data", e.to_string()))
}

fn id(value: &str) -> Result<(), EventError> {
    if value.is_empty() {
        return Err(EventError::new("data", "an id must not be empty"));
    }
    Ok(())
}

fn grade(value: f64) -> Result<(), EventError> {
    if !(1.0..=5.0).contains(&value) {
        return Err(EventError::new(
            "data",
            format!("{value} is not a grade from 1.0 to 5.0"),
        ));
    }
    Ok(())
}
