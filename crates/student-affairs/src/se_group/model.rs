//! The se-group model: the shared [`Directory`] (enrollments from the office, its own
//! grades, hires of both groups) plus the modelling-course assignments and the points
//! students reached in them.

use std::collections::BTreeMap;

use concord_core::model::Envelope;
use concord_core::{Lww, Model, Registry};

use crate::catalogue::StudentAffairsEvent;
use crate::directory::{offer_text, Directory, Enrollments, Grades, Hires};
use crate::grade::{se_grade, Grade};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeGroupModel {
    directory: Directory,
    assignments: Registry<String, Assignment>,
    /// Points by student, then by assignment: a student's points are one lookup away.
    points: Registry<String, Registry<String, Lww<u64>>>,
}

/// An assignment; all three attributes are written together by `assignmentCreated`, and
/// stay unset while the assignment is a placeholder made by a score that came first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Assignment {
    examination: Lww<String>,
    title: Lww<String>,
    max_points: Lww<u64>,
}

impl Assignment {
    pub fn examination_id(&self) -> Option<&str> {
        self.examination.get().map(String::as_str)
    }

    pub fn title(&self) -> Option<&str> {
        self.title.get().map(String::as_str)
    }

    pub fn max_points(&self) -> Option<u64> {
        self.max_points.get().copied()
    }
}

impl Model for SeGroupModel {
    type Event = StudentAffairsEvent;

    fn apply(&mut self, event: &StudentAffairsEvent, envelope: &Envelope<'_>) {
        let stamp = &envelope.stamp;
        self.directory.apply(event, stamp);
        match event {
            StudentAffairsEvent::AssignmentCreated(e) => {
                let assignment = self.assignments.get_or_create(e.assignment_id.clone());
                assignment.examination.set(e.examination_id.clone(), stamp);
                offer_text(&mut assignment.title, &e.title, stamp);
                assignment.max_points.set(e.max_points, stamp);
            }
            StudentAffairsEvent::AssignmentScored(e) => {
                self.assignments.get_or_create(e.assignment_id.clone());
                self.points
                    .get_or_create(e.student_id.clone())
                    .get_or_create(e.assignment_id.clone())
                    .set(e.points, stamp);
            }
            _ => {}
        }
    }
}

impl SeGroupModel {
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    pub fn assignments(&self) -> impl Iterator<Item = (&String, &Assignment)> {
        self.assignments.iter()
    }

    /// Every assignment by id, for paging.
    pub fn assignment_index(&self) -> &Registry<String, Assignment> {
        &self.assignments
    }

    pub fn assignment(&self, id: &str) -> Option<&Assignment> {
        self.assignments.get(id)
    }

    /// The assignments that count towards an examination.
    pub fn assignments_of<'a>(
        &'a self,
        examination_id: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a Assignment)> + 'a {
        self.assignments
            .iter()
            .filter(move |(_, a)| a.examination_id() == Some(examination_id))
    }

    pub fn points(&self, student_id: &str, assignment_id: &str) -> Option<u64> {
        self.points
            .get(student_id)
            .and_then(|by_assignment| by_assignment.get(assignment_id))
            .and_then(|p| p.get().copied())
    }

    /// A student's points by assignment.
    pub fn points_of(&self, student_id: &str) -> BTreeMap<String, u64> {
        self.points
            .get(student_id)
            .into_iter()
            .flat_map(|by_assignment| by_assignment.iter())
            .filter_map(|(assignment_id, p)| Some((assignment_id.clone(), *p.get()?)))
            .collect()
    }

    /// The points a student reached in an examination and the most its assignments give
    /// (a missing score counting 0). Saturating: maxPoints go up to 2^63 - 1 each, so a few
    /// of them overflow a plain sum.
    pub fn standing(&self, student_id: &str, examination_id: &str) -> (u64, u64) {
        let (mut reached, mut total) = (0u64, 0u64);
        for (assignment_id, assignment) in self.assignments_of(examination_id) {
            total = total.saturating_add(assignment.max_points().unwrap_or(0));
            let points = self.points(student_id, assignment_id).unwrap_or(0);
            reached = reached.saturating_add(points);
        }
        (reached, total)
    }

    /// The grade the SE scheme gives a student for an examination now: points reached over
    /// all its assignments, a missing score counting 0. `None` if it has no assignments.
    pub fn se_grade_for(&self, student_id: &str, examination_id: &str) -> Option<Grade> {
        let (reached, total) = self.standing(student_id, examination_id);
        se_grade(reached, total)
    }

    /// Shared data view: the grades this group holds (its own `studentGraded` events).
    pub fn grades(&self) -> Grades {
        self.directory.grades()
    }

    /// Shared data view: the enrollments this group knows (from the office, or named by its
    /// own grades).
    pub fn enrollments(&self) -> Enrollments {
        self.directory.enrollments()
    }

    /// Shared data view: the hires of both groups.
    pub fn hires(&self) -> Hires {
        self.directory.hires()
    }
}
