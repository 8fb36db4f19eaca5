//! The student-affairs domain of Copei and Zündorf's paper "How to Synchronize
//! Microservices", as four Concord services:
//!
//! | service           | owns                                                           |
//! |-------------------|----------------------------------------------------------------|
//! | `students-office` | students, examinations (each run by a group), enrollments, final grades |
//! | `se-group`        | modelling-course assignments and points; grades; hires TAs     |
//! | `theory-group`    | seminar presentations rated three ways; grades; hires TAs      |
//! | `ta-pool`         | the pool of hired teaching assistants, fed by both groups      |
//!
//! Everything here is built on `concord-core`'s public API only: each service is a
//! [`ServiceSpec`] (name, catalogue, default acceptance, commands and queries as plain
//! functions) over a [`Model`](concord_core::Model) changed only by `apply(event)`.
//!
//! # Layout
//!
//! - [`catalogue`]: the eight event types all services share — typed data, stateless
//!   validation naming `data.field`, overwrite keys, [`StudentAffairsEvent`] to match on.
//! - [`grade`]: German grades and the two grading schemes, with worked examples.
//! - [`directory`]: the model part all four share — students (names, hires, enrollments,
//!   grades) and examinations — where the contract's last-writer-wins table lives, once.
//! - [`api`]: what the four APIs share — input checks, JSON Schema pieces, the hire command.
//! - [`office`], [`se_group`], [`theory_group`], [`ta_pool`]: one folder per service, each
//!   with `mod.rs` (the [`ServiceSpec`]), `model.rs`, `commands.rs`, `queries.rs` (ta-pool has
//!   no commands) and `pages.rs`, its GUI described as data (`concord_core::ui::View`).
//! - [`pages_common`]: what the four pages share (labels, grade cells, the hiring section,
//!   page sizes and the choice fields that stay small with many students).
//! - [`sample`]: a small sample story as commands, for `concord demo --seed`.
//! - [`topology`]: the paper's synchronisation links.
//! - [`simulation`]: the scenario the deterministic simulator runs: the four services, a
//!   random workload, and the domain's convergence checks.
//! - Tests: each service folder has `tests.rs` (given/when/then on the real routes, via the
//!   test-only `testing` harness); `properties` checks order independence of all four
//!   models with proptest; `tests/story.rs` runs the whole story through the real runtime.
//!
//! # Domain decisions (README, "Domain decisions")
//!
//! - Only `studentEnrolled` enrolls: a grade or rating for a pair nobody enrolled makes
//!   placeholders that carry it (R4) but no enrollment; the office flags such a grade.
//! - The office refuses (409) to change an examination's group once someone is enrolled
//!   ([`office::commands::create_examination`]): no enrollment is ever stranded at a group.
//! - A group grades and rates only students the office enrolled in its own examinations
//!   ([`api::enrolled_here`], 409 otherwise).
//!
//! The simulator's workload moves examinations between groups and its checks hold each
//! group's enrollments equal to the office's for it ([`simulation`]).
//!
//! **Invariant:** a model's state is a function of the *set* of events applied — never
//! their order or repetition. Every attribute is a [`Lww`](concord_core::Lww) stamped with
//! the event's `(time, id)`, every object is found with `get_or_create`, every to-many
//! relation is a grow-only set; the property tests of each model check it.
//!
//! # Shared data views
//!
//! Each model offers read-only views of the data it shares with others, for comparing
//! services (two services in sync hold equal views):
//!
//! - office: [`OfficeModel::grades_given_by`] (per group), [`OfficeModel::enrollments_by_group`]
//! - groups: `grades()`, `enrollments()`, `hires()` on [`SeGroupModel`] and [`TheoryGroupModel`]
//! - ta-pool: [`TaPoolModel::hires`]
//!
//! In sync, `office.grades_given_by(g) == g.grades()`,
//! `office.enrollments_by_group()[g] == g.enrollments()` and all `hires()` are equal.

pub mod api;
pub mod catalogue;
pub mod directory;
pub mod grade;
pub mod office;
pub mod pages_common;
pub mod sample;
pub mod se_group;
pub mod simulation;
pub mod ta_pool;
pub mod theory_group;
pub mod topology;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod testing;

use concord_core::{AcceptancePolicy, AcceptanceRule, ServiceSpec};

pub use catalogue::{EventData, Group, StudentAffairsCatalogue, StudentAffairsEvent};
pub use grade::{Grade, Ratings};
pub use office::{OfficeModel, StudentsOffice};
pub use se_group::{SeGroup, SeGroupModel};
pub use ta_pool::{TaPool, TaPoolModel};
pub use theory_group::{TheoryGroup, TheoryGroupModel};

pub const STUDENTS_OFFICE: &str = "students-office";
pub const SE_GROUP: &str = "se-group";
pub const THEORY_GROUP: &str = "theory-group";
pub const TA_POOL: &str = "ta-pool";

/// The four service names, in the order `concord demo` gives them ports.
pub const SERVICE_NAMES: [&str; 4] = [STUDENTS_OFFICE, SE_GROUP, THEORY_GROUP, TA_POOL];

/// Any of the four services, chosen by name at run time.
///
/// Each [`ServiceSpec`] has its own model type, so code that runs "a service" is generic;
/// [`AnyService::visit`] hands the concrete spec to such code without a four-way match at
/// every call site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnyService {
    StudentsOffice(StudentsOffice),
    SeGroup(SeGroup),
    TheoryGroup(TheoryGroup),
    TaPool(TaPool),
}

/// Generic code to run on whichever service an [`AnyService`] holds.
pub trait ServiceVisitor {
    type Output;
    fn visit<S: ServiceSpec + Clone>(self, spec: S) -> Self::Output;
}

impl AnyService {
    /// The service with this name, `None` if there is none.
    pub fn by_name(name: &str) -> Option<AnyService> {
        Some(match name {
            STUDENTS_OFFICE => AnyService::StudentsOffice(StudentsOffice),
            SE_GROUP => AnyService::SeGroup(SeGroup),
            THEORY_GROUP => AnyService::TheoryGroup(TheoryGroup),
            TA_POOL => AnyService::TaPool(TaPool),
            _ => return None,
        })
    }

    /// All four, in [`SERVICE_NAMES`] order.
    pub fn all() -> [AnyService; 4] {
        SERVICE_NAMES.map(|name| AnyService::by_name(name).expect("every listed name is a service"))
    }

    pub fn name(self) -> &'static str {
        match self {
            AnyService::StudentsOffice(_) => STUDENTS_OFFICE,
            AnyService::SeGroup(_) => SE_GROUP,
            AnyService::TheoryGroup(_) => THEORY_GROUP,
            AnyService::TaPool(_) => TA_POOL,
        }
    }

    pub fn visit<V: ServiceVisitor>(self, visitor: V) -> V::Output {
        match self {
            AnyService::StudentsOffice(spec) => visitor.visit(spec),
            AnyService::SeGroup(spec) => visitor.visit(spec),
            AnyService::TheoryGroup(spec) => visitor.visit(spec),
            AnyService::TaPool(spec) => visitor.visit(spec),
        }
    }
}

/// What each group takes by default: enrollments in its own examinations from the office,
/// and hires from either group (its own coming back are duplicates anyway).
fn group_acceptance(group: Group) -> AcceptancePolicy {
    use catalogue::{StudentEnrolled, StudentHired};
    AcceptancePolicy::new(vec![
        AcceptanceRule::new(STUDENTS_OFFICE, StudentEnrolled::TYPE)
            .with_data("group", group.as_str()),
        AcceptanceRule::new(SE_GROUP, StudentHired::TYPE),
        AcceptanceRule::new(THEORY_GROUP, StudentHired::TYPE),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named;
    impl ServiceVisitor for Named {
        type Output = String;
        fn visit<S: ServiceSpec + Clone>(self, spec: S) -> String {
            spec.name().to_owned()
        }
    }

    #[test]
    fn every_service_is_found_by_its_name() {
        for service in AnyService::all() {
            assert_eq!(service.visit(Named), service.name());
            assert_eq!(AnyService::by_name(service.name()), Some(service));
        }
        assert_eq!(AnyService::by_name("registrar"), None);
    }
}
