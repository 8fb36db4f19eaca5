//! A scholarship office: the guide's example of a fifth service (`docs/guide.md`), written
//! on Concord's public API alone.
//!
//! It pulls the grades the two groups push to the students-office (`studentGraded`) and the
//! office's students (`studentCreated`, for their names), and raises its own
//! `scholarshipAwarded` when asked to award a student whose grades earn one.
//!
//! # Layout
//!
//! - [`events`]: the catalogue — the types it takes and raises, decoded and validated once.
//! - [`model`]: what it knows, from the convergent blocks only; the award rules.
//! - [`commands`]: `POST /api/awards`.
//! - [`queries`]: `GET /api/students`, `/api/students/{studentId}`, `/api/awards`.
//! - [`pages`]: its web page, as data.
//! - This file: the [`ServiceSpec`] (name, catalogue, acceptance, API) and its [`links`].
//! - `main.rs`: the binary, which only wires (store, credentials, links, `concord_node::serve`).
//! - `tests/kit.rs`: the model's laws and the story given/when/then, with `concord-testkit`.

pub mod commands;
pub mod events;
pub mod model;
pub mod pages;
pub mod queries;

use std::sync::Arc;

use concord_core::runtime::SharedCatalogue;
use concord_core::{AcceptancePolicy, AcceptanceRule, Api, ServiceSpec};
use concord_sync::LinkSpec;

use events::{Scholarships, STUDENT_CREATED, STUDENT_GRADED};
use model::ScholarshipModel;

/// The service's name: the `source` of every event it raises.
pub const NAME: &str = "scholarship-office";
/// Where the grades come from (the groups push theirs there).
pub const STUDENTS_OFFICE: &str = "students-office";
/// The groups whose grades count.
pub const GROUPS: [&str; 2] = ["se-group", "theory-group"];

/// The scholarship office.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScholarshipOffice;

impl ServiceSpec for ScholarshipOffice {
    type Model = ScholarshipModel;

    fn name(&self) -> &str {
        NAME
    }

    fn catalogue(&self) -> SharedCatalogue<ScholarshipModel> {
        Arc::new(Scholarships)
    }

    /// Grades from the groups (whoever relays them), names from the students-office.
    fn default_acceptance(&self) -> AcceptancePolicy {
        let mut rules: Vec<AcceptanceRule> = GROUPS
            .iter()
            .map(|group| AcceptanceRule::new(*group, STUDENT_GRADED))
            .collect();
        rules.push(AcceptanceRule::new(STUDENTS_OFFICE, STUDENT_CREATED));
        AcceptancePolicy::new(rules)
    }

    fn api(&self) -> Api<ScholarshipModel> {
        Api::new()
            .command(
                "/api/awards",
                "Award the scholarship a student's grades earn",
                commands::award_schema(),
                commands::award,
            )
            .list(
                "/api/students",
                "Students with their grades' average and standing, a page at a time",
                queries::StudentAnswer::schema(),
                queries::students,
            )
            .query(
                "/api/students/{studentId}",
                "One student's standing",
                queries::StudentAnswer::schema(),
                queries::student,
            )
            .list(
                "/api/awards",
                "The students awarded, a page at a time",
                queries::StudentAnswer::schema(),
                queries::awards,
            )
            .view(pages::view)
    }
}

/// Its one link: pull the students and grades from the students-office at `office_url`.
pub fn links(office_url: &str, interval_ms: u64) -> Vec<LinkSpec> {
    vec![LinkSpec::pull(
        STUDENTS_OFFICE,
        office_url,
        &[STUDENT_CREATED, STUDENT_GRADED],
    )
    .with_interval(interval_ms)]
}
