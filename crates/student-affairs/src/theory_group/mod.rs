//! theory-group: rates seminar presentations three ways and grades them by its own scheme
//! ([`crate::grade::theory_grade`]); hires teaching assistants.
//!
//! It accepts `studentEnrolled` from students-office for its own examinations
//! (`data.group=theory-group`) and `studentHired` from either group.

pub mod commands;
pub mod model;
pub mod pages;
pub mod queries;

use concord_core::runtime::SharedCatalogue;
use concord_core::service::Api;
use concord_core::{AcceptancePolicy, ServiceSpec};

use crate::api::{GradeStudent, Hire};
use crate::catalogue::{Group, StudentAffairsCatalogue};
use crate::THEORY_GROUP;

pub use model::TheoryGroupModel;

/// The theory-group service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TheoryGroup;

impl ServiceSpec for TheoryGroup {
    type Model = TheoryGroupModel;

    fn name(&self) -> &str {
        THEORY_GROUP
    }

    fn catalogue(&self) -> SharedCatalogue<Self::Model> {
        std::sync::Arc::new(StudentAffairsCatalogue)
    }

    fn default_acceptance(&self) -> AcceptancePolicy {
        crate::group_acceptance(Group::TheoryGroup)
    }

    fn api(&self) -> Api<TheoryGroupModel> {
        Api::new()
            .command(
                "/api/presentations",
                "Rate a student's seminar presentation (content, presentation, discussion)",
                commands::RatePresentation::schema(),
                commands::rate_presentation,
            )
            .command(
                "/api/grades",
                "Grade a student by the theory scheme from their ratings",
                GradeStudent::schema(),
                commands::grade,
            )
            .command(
                "/api/hires",
                "Hire a student as teaching assistant (409 if se-group has, unless force)",
                Hire::schema(),
                commands::hire,
            )
            .list(
                "/api/students",
                "Students with grades, ratings and hires, a page at a time",
                queries::StudentAnswer::schema(),
                queries::students,
            )
            .query(
                "/api/students/{studentId}",
                "One student with grades, ratings and hires",
                queries::StudentAnswer::schema(),
                queries::student,
            )
            .view(pages::view)
    }
}

#[cfg(test)]
mod tests;
