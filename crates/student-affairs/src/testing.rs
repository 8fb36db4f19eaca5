//! Test support: short constructors for the catalogue's events, so that tests read like the
//! paper's story, and the test kit's given/when/then [`Scenario`] that drives a service's
//! real routes with them.

use concord_core::{CloudEvent, Timestamp};

pub use concord_testkit::Scenario;

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
