//! The students-office model: the shared [`Directory`], which already holds everything the
//! office owns (students, examinations, enrollments, final grades).

use concord_core::model::Envelope;
use concord_core::Model;
use std::collections::BTreeMap;

use crate::catalogue::{Group, StudentAffairsEvent};
use crate::directory::{Directory, Enrollments, Grades};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct OfficeModel {
    directory: Directory,
}

impl Model for OfficeModel {
    type Event = StudentAffairsEvent;

    fn apply(&mut self, event: &StudentAffairsEvent, envelope: &Envelope<'_>) {
        self.directory.apply(event, &envelope.stamp);
    }
}

impl OfficeModel {
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// Shared data view: every final grade, from either group.
    pub fn grades(&self) -> Grades {
        self.directory.grades()
    }

    /// Shared data view: the final grades `group` gave; equals that group's
    /// [`grades`](crate::se_group::SeGroupModel::grades) once they are in sync (unless both
    /// groups graded the same pair, where the later grade is the one the office keeps).
    pub fn grades_given_by(&self, group: Group) -> Grades {
        self.directory.grades_given_by(group)
    }

    /// Shared data view: enrolled pairs by the group running the examination; the part for
    /// a group equals that group's `enrollments()` once they are in sync.
    pub fn enrollments_by_group(&self) -> BTreeMap<Group, Enrollments> {
        self.directory.enrollments_by_group()
    }
}
