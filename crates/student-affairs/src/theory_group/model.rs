//! The theory-group model: the shared [`Directory`] (enrollments from the office, its own
//! grades, hires of both groups) plus the ratings of seminar presentations.

use concord_core::model::Envelope;
use concord_core::{Lww, Model, Registry};

use crate::catalogue::StudentAffairsEvent;
use crate::directory::{Directory, Enrollments, Grades, Hires};
use crate::grade::Ratings;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct TheoryGroupModel {
    directory: Directory,
    /// Ratings by student, then by examination; the three are always written together.
    ratings: Registry<String, Registry<String, Lww<Ratings>>>,
}

impl Model for TheoryGroupModel {
    type Event = StudentAffairsEvent;

    fn apply(&mut self, event: &StudentAffairsEvent, envelope: &Envelope<'_>) {
        let stamp = &envelope.stamp;
        self.directory.apply(event, stamp);
        if let StudentAffairsEvent::PresentationRated(e) = event {
            let ratings = Ratings {
                content: e.content,
                presentation: e.presentation,
                discussion: e.discussion,
            };
            self.ratings
                .get_or_create(e.student_id.clone())
                .get_or_create(e.examination_id.clone())
                .set(ratings, stamp);
        }
    }
}

impl TheoryGroupModel {
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    pub fn ratings(&self, student_id: &str, examination_id: &str) -> Option<Ratings> {
        self.ratings
            .get(student_id)
            .and_then(|by_examination| by_examination.get(examination_id))
            .and_then(|r| r.get().copied())
    }

    /// Shared data view: the grades this group holds (its own `studentGraded` events).
    pub fn grades(&self) -> Grades {
        self.directory.grades()
    }

    /// Shared data view: the enrollments this group knows (from the office, or named by its
    /// own ratings and grades).
    pub fn enrollments(&self) -> Enrollments {
        self.directory.enrollments()
    }

    /// Shared data view: the hires of both groups.
    pub fn hires(&self) -> Hires {
        self.directory.hires()
    }
}
