//! se-group: the modelling course's assignments and points; grades its examinations by the
//! SE scheme ([`crate::grade::se_grade`]); hires teaching assistants.
//!
//! It accepts `studentEnrolled` from students-office for its own examinations
//! (`data.group=se-group`) and `studentHired` from either group.

pub mod commands;
pub mod model;
pub mod pages;
pub mod queries;

use concord_core::runtime::SharedCatalogue;
use concord_core::service::Api;
use concord_core::{AcceptancePolicy, ServiceSpec};

use crate::api::{GradeStudent, Hire};
use crate::catalogue::{Group, StudentAffairsCatalogue};
use crate::SE_GROUP;

pub use model::SeGroupModel;

/// The se-group service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeGroup;

impl ServiceSpec for SeGroup {
    type Model = SeGroupModel;

    fn name(&self) -> &str {
        SE_GROUP
    }

    fn catalogue(&self) -> SharedCatalogue<Self::Model> {
        std::sync::Arc::new(StudentAffairsCatalogue)
    }

    fn default_acceptance(&self) -> AcceptancePolicy {
        crate::group_acceptance(Group::SeGroup)
    }

    fn api(&self) -> Api<SeGroupModel> {
        Api::new()
            .command(
                "/api/assignments",
                "Create an assignment of a known examination, or change one",
                commands::CreateAssignment::schema(),
                commands::create_assignment,
            )
            .command(
                "/api/assignments/{assignmentId}/scores",
                "Record the points a student reached in an assignment",
                commands::Score::schema(),
                commands::score,
            )
            .command(
                "/api/grades",
                "Grade a student by the SE scheme from their points",
                GradeStudent::schema(),
                commands::grade,
            )
            .command(
                "/api/hires",
                "Hire a student as teaching assistant (409 if theory-group has, unless force)",
                Hire::schema(),
                commands::hire,
            )
            .list(
                "/api/students",
                "Students with grades, points and hires, a page at a time",
                queries::StudentAnswer::schema(),
                queries::students,
            )
            .query(
                "/api/students/{studentId}",
                "One student with grades, points and hires",
                queries::StudentAnswer::schema(),
                queries::student,
            )
            .list(
                "/api/assignments",
                "Assignments, a page at a time",
                queries::AssignmentAnswer::schema(),
                queries::assignments,
            )
            .query(
                "/api/assignments/{assignmentId}",
                "One assignment",
                queries::AssignmentAnswer::schema(),
                queries::assignment,
            )
            .view(pages::view)
    }
}

#[cfg(test)]
mod tests;
