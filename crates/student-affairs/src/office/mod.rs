//! students-office: students, examinations (each run by a group), enrollments, and the
//! final grades the groups send back.
//!
//! It accepts `studentGraded` from both groups; everything it raises itself
//! (`studentCreated`, `examinationCreated`, `studentEnrolled`) starts here.

pub mod commands;
pub mod model;
pub mod pages;
pub mod queries;

use concord_core::runtime::SharedCatalogue;
use concord_core::service::Api;
use concord_core::{AcceptancePolicy, AcceptanceRule, ServiceSpec};

use crate::catalogue::{EventData, StudentAffairsCatalogue, StudentGraded};
use crate::{SE_GROUP, STUDENTS_OFFICE, THEORY_GROUP};

pub use model::OfficeModel;

/// The students-office service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StudentsOffice;

impl ServiceSpec for StudentsOffice {
    type Model = OfficeModel;

    fn name(&self) -> &str {
        STUDENTS_OFFICE
    }

    fn catalogue(&self) -> SharedCatalogue<Self::Model> {
        std::sync::Arc::new(StudentAffairsCatalogue)
    }

    fn default_acceptance(&self) -> AcceptancePolicy {
        AcceptancePolicy::new(vec![
            AcceptanceRule::new(SE_GROUP, StudentGraded::TYPE),
            AcceptanceRule::new(THEORY_GROUP, StudentGraded::TYPE),
        ])
    }

    fn api(&self) -> Api<OfficeModel> {
        Api::new()
            .command(
                "/api/students",
                "Create a student, or rename one",
                commands::CreateStudent::schema(),
                commands::create_student,
            )
            .command(
                "/api/examinations",
                "Create an examination run by a group, or change its title (or its group, until someone is enrolled)",
                commands::CreateExamination::schema(),
                commands::create_examination,
            )
            .command(
                "/api/enrollments",
                "Enroll a known student in a known examination",
                commands::Enroll::schema(),
                commands::enroll,
            )
            .list(
                "/api/students",
                "Students with their enrollments and grades, a page at a time",
                queries::StudentAnswer::schema(),
                queries::students,
            )
            .query(
                "/api/students/{studentId}",
                "One student with their enrollments and grades",
                queries::StudentAnswer::schema(),
                queries::student,
            )
            .list(
                "/api/examinations",
                "Examinations with their enrolled students, a page at a time",
                queries::ExaminationAnswer::schema(),
                queries::examinations,
            )
            .query(
                "/api/examinations/{examinationId}",
                "One examination with its enrolled students",
                queries::ExaminationAnswer::schema(),
                queries::examination,
            )
            .view(pages::view)
    }
}

#[cfg(test)]
mod tests;
