//! Test support: given/when/then scenarios that drive a service's real routes, and short
//! constructors for the catalogue's events, so that tests read like the paper's story.

use concord_core::service::{Answer, Api, Handler, QueryError};
use concord_core::{CloudEvent, CommandError, EventDraft, ServiceSpec, Timestamp};
use serde_json::Value;

use crate::catalogue::*;
use crate::grade::Grade;

/// An event `source` raised at `second` seconds past the epoch.
pub fn event(
    source: &str,
    second: i128,
    id: &str,
    data: impl Into<StudentAffairsEvent>,
) -> CloudEvent {
    let draft = data.into().draft();
    CloudEvent::new(
        id,
        source,
        draft.ty,
        Timestamp::from_unix_nanos(second * 1_000_000_000),
        draft.data,
    )
}

pub fn grade(value: f64) -> Grade {
    Grade::from_f64(value).expect("a German grade")
}

pub fn created(student: &str, name: &str) -> StudentCreated {
    StudentCreated {
        student_id: student.into(),
        name: name.into(),
    }
}

pub fn examination(id: &str, title: &str, group: Group) -> ExaminationCreated {
    ExaminationCreated {
        examination_id: id.into(),
        title: title.into(),
        group,
    }
}

pub fn enrolled(
    student: &str,
    name: &str,
    exam: &str,
    title: &str,
    group: Group,
) -> StudentEnrolled {
    StudentEnrolled {
        student_id: student.into(),
        student_name: name.into(),
        examination_id: exam.into(),
        examination_title: title.into(),
        group,
    }
}

pub fn assignment(id: &str, exam: &str, title: &str, max_points: u64) -> AssignmentCreated {
    AssignmentCreated {
        assignment_id: id.into(),
        examination_id: exam.into(),
        title: title.into(),
        max_points,
    }
}

pub fn scored(student: &str, assignment: &str, points: u64) -> AssignmentScored {
    AssignmentScored {
        student_id: student.into(),
        assignment_id: assignment.into(),
        points,
    }
}

pub fn rated(
    student: &str,
    exam: &str,
    content: f64,
    presentation: f64,
    discussion: f64,
) -> PresentationRated {
    PresentationRated {
        student_id: student.into(),
        examination_id: exam.into(),
        content: grade(content),
        presentation: grade(presentation),
        discussion: grade(discussion),
    }
}

pub fn graded(student: &str, exam: &str, value: f64, group: Group) -> StudentGraded {
    StudentGraded {
        student_id: student.into(),
        examination_id: exam.into(),
        grade: grade(value),
        group,
    }
}

pub fn hired(student: &str, name: &str, group: Group) -> StudentHired {
    StudentHired {
        student_id: student.into(),
        name: name.into(),
        group,
    }
}

/// A service with a history, ready to be sent commands and queries through its routes.
pub struct Scenario<S: ServiceSpec>
where
    S::Model: concord_core::Model<Event = crate::catalogue::StudentAffairsEvent>,
{
    spec: S,
    api: Api<S::Model>,
    model: S::Model,
    raised: u32,
}

impl<S: ServiceSpec> Scenario<S>
where
    S::Model: concord_core::Model<Event = crate::catalogue::StudentAffairsEvent>,
{
    /// Given these events (applied in the order listed).
    pub fn given(spec: S, events: impl IntoIterator<Item = CloudEvent>) -> Self {
        let mut model = S::Model::default();
        for event in events {
            crate::catalogue::apply(&mut model, &event);
        }
        let api = spec.api();
        Scenario {
            spec,
            api,
            model,
            raised: 0,
        }
    }

    pub fn model(&self) -> &S::Model {
        &self.model
    }

    /// An accepted external event arrives and is applied.
    pub fn receive(&mut self, event: CloudEvent) {
        crate::catalogue::apply(&mut self.model, &event);
    }

    /// When this command is sent: what it decides, without applying it.
    pub fn when(&self, path: &str, body: Value) -> Outcome {
        let Some((route, params)) = self.api.route("POST", path) else {
            panic!("no command at POST {path}");
        };
        let Handler::Command(handler) = &route.handler else {
            unreachable!("POST routes are commands")
        };
        Outcome(handler(&params, body).and_then(|command| command(&self.model)))
    }

    /// Sends a command and applies what it raises, as the runtime would: stamped later than
    /// anything given, with increasing ids.
    pub fn run(&mut self, path: &str, body: Value) -> Outcome {
        let outcome = self.when(path, body);
        if let Ok(drafts) = &outcome.0 {
            for draft in drafts {
                self.raised += 1;
                let raised = CloudEvent::new(
                    format!("cmd-{:04}", self.raised),
                    self.spec.name(),
                    draft.ty.clone(),
                    Timestamp::from_unix_nanos(1_000_000_000_000 + i128::from(self.raised)),
                    draft.data.clone(),
                );
                crate::catalogue::apply(&mut self.model, &raised);
            }
        }
        outcome
    }

    /// A query's answer, as JSON (a list's first page).
    pub fn query(&self, path: &str) -> Result<Value, CommandError> {
        self.query_with(path, &[]).map_err(|e| match e {
            QueryError::Command(e) => e,
            QueryError::List(e) => panic!("no query parameters, yet {e}"),
        })
    }

    /// A query's answer with query parameters (`limit`, `cursor`, `q` for a list).
    pub fn query_with(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, QueryError> {
        self.answer(path, query).map(|answer| answer.body)
    }

    /// A query's whole answer: for a list, with where its neighbouring pages start.
    pub fn answer(&self, path: &str, query: &[(&str, &str)]) -> Result<Answer, QueryError> {
        let Some((route, params)) = self.api.route("GET", path) else {
            panic!("no query at GET {path}");
        };
        let Handler::Query(handler) = &route.handler else {
            unreachable!("GET routes are queries")
        };
        handler.run(&self.model, &params, query.iter().copied())
    }
}

/// What a command decided.
#[derive(Debug)]
pub struct Outcome(pub Result<Vec<EventDraft>, CommandError>);

impl Outcome {
    pub fn then_raises(self, expected: impl IntoIterator<Item = StudentAffairsEvent>) {
        let expected: Vec<EventDraft> = expected.into_iter().map(|e| e.draft()).collect();
        assert_eq!(self.0, Ok(expected));
    }

    pub fn then_raises_nothing(self) {
        assert_eq!(self.0, Ok(vec![]), "expected no event");
    }

    fn then_fails(self, wanted: fn(&CommandError) -> bool, kind: &str) -> String {
        match self.0 {
            Err(error) if wanted(&error) => error.to_string(),
            other => panic!("expected {kind}, got {other:?}"),
        }
    }

    /// Then 400; returns the message.
    pub fn then_invalid(self) -> String {
        self.then_fails(|e| matches!(e, CommandError::Invalid(_)), "Invalid (400)")
    }

    /// Then 404; returns the message.
    pub fn then_not_found(self) -> String {
        self.then_fails(|e| matches!(e, CommandError::NotFound(_)), "NotFound (404)")
    }

    /// Then 409; returns the message.
    pub fn then_conflict(self) -> String {
        self.then_fails(|e| matches!(e, CommandError::Conflict(_)), "Conflict (409)")
    }
}
