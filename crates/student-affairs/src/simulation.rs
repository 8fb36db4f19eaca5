//! The student-affairs scenario for the deterministic simulator: the four services in the
//! paper's topology, a random workload of the commands users would give, and the domain's
//! own convergence checks on top of the simulator's generic ones.
//!
//! The id spaces are small on purpose, so that commands collide: the same student renamed,
//! enrolled, scored, graded and hired from several sides while links lag, crash and retry.

use concord_core::sign::Signing;
use concord_core::{Model, ServiceSpec};
use concord_sim::service::model_of;
use concord_sim::{deployment_signing, hosted_signing, NodeSpec, Opener, Scenario, SimService};
use serde_json::{json, Value};

use crate::api::GradeStudent;
use crate::catalogue::{EventData, ExaminationCreated, StudentGraded};
use crate::directory::Enrollments;
use crate::office::commands::CreateExamination;
use crate::topology::paper_links;
use crate::{
    Group, OfficeModel, SeGroup, SeGroupModel, StudentsOffice, TaPool, TaPoolModel, TheoryGroup,
    TheoryGroupModel, SE_GROUP, STUDENTS_OFFICE, TA_POOL, THEORY_GROUP,
};

/// How often idle links look for news, in simulated milliseconds.
const LINK_INTERVAL_MS: u64 = 100;

const STUDENTS: [&str; 5] = ["s-1", "s-2", "s-3", "s-4", "s-5"];
const NAMES: [&str; 4] = ["Ada", "Grace", "Alan", "Barbara"];
/// Each examination's usual group; now and then the workload moves one to the other group,
/// which the office allows only until the first student is enrolled.
const EXAMINATIONS: [(&str, Group); 4] = [
    ("se-1", Group::SeGroup),
    ("se-2", Group::SeGroup),
    ("th-1", Group::TheoryGroup),
    ("th-2", Group::TheoryGroup),
];
const ASSIGNMENTS: [&str; 3] = ["a-1", "a-2", "a-3"];
const GRADES: [f64; 11] = [1.0, 1.3, 1.7, 2.0, 2.3, 2.7, 3.0, 3.3, 3.7, 4.0, 5.0];

/// Which services run: the real ones, or one deliberately broken to prove the checks can
/// fail.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Variant {
    #[default]
    Real,
    /// The ta-pool applies events as if each arrived later than every one before it.
    ArrivalOrderTaPool,
    /// The office moves an examination to another group even after students enrolled.
    StrandingOffice,
    /// The SE group grades any student it knows, enrolled with it or not.
    GradingAnyoneSeGroup,
    /// Nobody signs or verifies: a byzantine ta-pool's forgeries get in.
    Unverifying,
}

/// The paper's four services under a random workload.
#[derive(Default)]
pub struct StudentAffairsScenario {
    pub variant: Variant,
}

/// Wraps a model so that arrival order wins: each event is applied with a time later than
/// all before it. The broken model the simulator must catch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ArrivalOrder<M> {
    pub inner: M,
    arrivals: i128,
}

impl<M: Model> Model for ArrivalOrder<M> {
    type Event = M::Event;

    fn apply(&mut self, event: &M::Event, envelope: &concord_core::model::Envelope<'_>) {
        self.arrivals += 1;
        let mut envelope = envelope.clone();
        envelope.stamp.time = concord_core::Timestamp::from_unix_nanos(self.arrivals);
        self.inner.apply(event, &envelope);
    }
}

/// The ta-pool's spec with its model swapped for [`ArrivalOrder`].
#[derive(Clone, Copy)]
struct ArrivalOrderTaPool;

impl ServiceSpec for ArrivalOrderTaPool {
    type Model = ArrivalOrder<TaPoolModel>;
    fn name(&self) -> &str {
        TaPool.name()
    }
    fn catalogue(&self) -> concord_core::runtime::SharedCatalogue<Self::Model> {
        TaPool.catalogue()
    }
    fn default_acceptance(&self) -> concord_core::AcceptancePolicy {
        TaPool.default_acceptance()
    }
    fn api(&self) -> concord_core::Api<Self::Model> {
        concord_core::Api::new()
    }
}

/// The office's spec with a `POST /api/examinations` that changes the group whatever the
/// enrollments: the broken office the simulator must catch.
#[derive(Clone, Copy)]
struct StrandingOffice;

impl ServiceSpec for StrandingOffice {
    type Model = OfficeModel;
    fn name(&self) -> &str {
        StudentsOffice.name()
    }
    fn catalogue(&self) -> concord_core::runtime::SharedCatalogue<Self::Model> {
        StudentsOffice.catalogue()
    }
    fn default_acceptance(&self) -> concord_core::AcceptancePolicy {
        StudentsOffice.default_acceptance()
    }
    fn api(&self) -> concord_core::Api<OfficeModel> {
        let mut api = StudentsOffice.api();
        api.routes
            .retain(|r| !(r.path == "/api/examinations" && r.method() == "POST"));
        api.command(
            "/api/examinations",
            "Create or change an examination, unguarded",
            Value::Null,
            |_, _, input: CreateExamination| {
                Ok(vec![ExaminationCreated {
                    examination_id: input.examination_id,
                    title: input.title,
                    group: input.group,
                }
                .draft()])
            },
        )
    }
}

/// The SE group's spec with a `POST /api/grades` that grades any known student in any known
/// examination: the broken group the simulator must catch.
#[derive(Clone, Copy)]
struct GradingAnyoneSeGroup;

impl ServiceSpec for GradingAnyoneSeGroup {
    type Model = SeGroupModel;
    fn name(&self) -> &str {
        SeGroup.name()
    }
    fn catalogue(&self) -> concord_core::runtime::SharedCatalogue<Self::Model> {
        SeGroup.catalogue()
    }
    fn default_acceptance(&self) -> concord_core::AcceptancePolicy {
        SeGroup.default_acceptance()
    }
    fn api(&self) -> concord_core::Api<SeGroupModel> {
        let mut api = SeGroup.api();
        api.routes
            .retain(|r| !(r.path == "/api/grades" && r.method() == "POST"));
        api.command(
            "/api/grades",
            "Grade anyone known, unguarded",
            Value::Null,
            |model: &SeGroupModel, _, input: GradeStudent| {
                let directory = model.directory();
                directory.known_student(&input.student_id)?;
                directory.known_examination(&input.examination_id)?;
                let Some(grade) = model.se_grade_for(&input.student_id, &input.examination_id)
                else {
                    return Ok(vec![]);
                };
                Ok(vec![StudentGraded {
                    student_id: input.student_id,
                    examination_id: input.examination_id,
                    grade,
                    group: Group::SeGroup,
                }
                .draft()])
            },
        )
    }
}

fn node(name: &str, open: Opener) -> NodeSpec {
    NodeSpec {
        name: name.to_owned(),
        open,
        links: paper_links(name, |peer| format!("sim://{peer}"), LINK_INTERVAL_MS),
        // The ta-pool raises nothing of its own: the groups' hires are all it holds, so
        // both groups can restore it after a wipe. The others' own events would be lost.
        recoverable: name == TA_POOL,
    }
}

/// Every service signs what it raises and trusts the others' keys, so a byzantine ta-pool's
/// forgeries are refused (see `concord_sim::Faults::byzantine_relay`).
fn signing(variant: Variant, service: &str) -> Signing {
    if variant == Variant::Unverifying {
        return Signing::default();
    }
    deployment_signing(&[STUDENTS_OFFICE, SE_GROUP, THEORY_GROUP, TA_POOL], service)
}

fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> &'a T {
    &items[rng.usize(..items.len())]
}

impl Scenario for StudentAffairsScenario {
    fn nodes(&self) -> Vec<NodeSpec> {
        let ta_pool = match self.variant {
            Variant::ArrivalOrderTaPool => {
                hosted_signing(ArrivalOrderTaPool, None, signing(self.variant, TA_POOL))
            }
            _ => hosted_signing(TaPool, None, signing(self.variant, TA_POOL)),
        };
        let office = match self.variant {
            Variant::StrandingOffice => hosted_signing(
                StrandingOffice,
                None,
                signing(self.variant, STUDENTS_OFFICE),
            ),
            _ => hosted_signing(StudentsOffice, None, signing(self.variant, STUDENTS_OFFICE)),
        };
        let se_group = match self.variant {
            Variant::GradingAnyoneSeGroup => {
                hosted_signing(GradingAnyoneSeGroup, None, signing(self.variant, SE_GROUP))
            }
            _ => hosted_signing(SeGroup, None, signing(self.variant, SE_GROUP)),
        };
        vec![
            node(STUDENTS_OFFICE, office),
            node(SE_GROUP, se_group),
            node(
                THEORY_GROUP,
                hosted_signing(TheoryGroup, None, signing(self.variant, THEORY_GROUP)),
            ),
            node(TA_POOL, ta_pool),
        ]
    }

    fn signed(&self) -> bool {
        true
    }

    fn command(&mut self, rng: &mut fastrand::Rng) -> Option<(String, String, Value)> {
        let student = *pick(rng, &STUDENTS);
        let (examination, group) = *pick(rng, &EXAMINATIONS);
        let (service, path, body) = match rng.u8(0..12) {
            0 | 1 => (
                STUDENTS_OFFICE,
                "/api/students".to_owned(),
                json!({"studentId": student, "name": pick(rng, &NAMES)}),
            ),
            2 => {
                let group = if rng.u8(0..3) == 0 {
                    group.other()
                } else {
                    group
                };
                (
                    STUDENTS_OFFICE,
                    "/api/examinations".to_owned(),
                    json!({"examinationId": examination, "title": format!("Exam {examination}"), "group": group.as_str()}),
                )
            }
            3 | 4 => (
                STUDENTS_OFFICE,
                "/api/enrollments".to_owned(),
                json!({"studentId": student, "examinationId": examination}),
            ),
            5 => {
                let (examination, _) = EXAMINATIONS[rng.usize(..2)];
                (
                    SE_GROUP,
                    "/api/assignments".to_owned(),
                    json!({"assignmentId": pick(rng, &ASSIGNMENTS), "examinationId": examination,
                           "title": "Homework", "maxPoints": rng.u64(5..=20)}),
                )
            }
            6 => (
                SE_GROUP,
                format!("/api/assignments/{}/scores", pick(rng, &ASSIGNMENTS)),
                json!({"studentId": student, "points": rng.u64(0..=20)}),
            ),
            7 => {
                let (examination, _) = EXAMINATIONS[rng.usize(2..4)];
                let mut rating = || *pick(rng, &GRADES);
                (
                    THEORY_GROUP,
                    "/api/presentations".to_owned(),
                    json!({"studentId": student, "examinationId": examination,
                           "content": rating(), "presentation": rating(), "discussion": rating()}),
                )
            }
            8 => (
                SE_GROUP,
                "/api/grades".to_owned(),
                json!({"studentId": student, "examinationId": examination}),
            ),
            9 => (
                THEORY_GROUP,
                "/api/grades".to_owned(),
                json!({"studentId": student, "examinationId": examination}),
            ),
            10 => (
                SE_GROUP,
                "/api/hires".to_owned(),
                json!({"studentId": student, "force": rng.bool()}),
            ),
            _ => (
                THEORY_GROUP,
                "/api/hires".to_owned(),
                json!({"studentId": student, "force": rng.bool()}),
            ),
        };
        Some((service.to_owned(), path, body))
    }

    fn check(&self, services: &[&dyn SimService]) -> Result<(), String> {
        let office = model_of::<OfficeModel>(services[0]).ok_or("students-office model")?;
        let se = model_of::<SeGroupModel>(services[1]).ok_or("se-group model")?;
        let theory = model_of::<TheoryGroupModel>(services[2]).ok_or("theory-group model")?;
        let pool = model_of::<TaPoolModel>(services[3])
            .or_else(|| model_of::<ArrivalOrder<TaPoolModel>>(services[3]).map(|m| &m.inner))
            .ok_or("ta-pool model")?;

        // Office grades equal the groups' grades.
        for (group, grades) in [
            (Group::SeGroup, se.grades()),
            (Group::TheoryGroup, theory.grades()),
        ] {
            let at_office = office.grades_given_by(group);
            if at_office != grades {
                return Err(format!(
                    "the office's grades from {} differ from the group's own\noffice: {at_office:?}\ngroup: {grades:?}",
                    group.as_str()
                ));
            }
        }
        // The TA pool's hires equal the union of the groups' hires, and each group knows all.
        let mut union = se.hires();
        for (student, groups) in theory.hires() {
            union.entry(student).or_default().extend(groups);
        }
        for (name, hires) in [
            ("ta-pool", pool.hires()),
            ("se-group", se.hires()),
            ("theory-group", theory.hires()),
        ] {
            if hires != union {
                return Err(format!(
                    "{name}'s hires {hires:?} differ from the union of the groups' hires {union:?}"
                ));
            }
        }
        // No stranded enrollment: each group holds exactly the enrollments the office made
        // for it, whatever moved between the groups and in whatever order events arrived.
        let by_group = office.enrollments_by_group();
        for (group, enrollments) in [
            (Group::SeGroup, se.enrollments()),
            (Group::TheoryGroup, theory.enrollments()),
        ] {
            let at_office = by_group.get(&group).cloned().unwrap_or_default();
            if at_office != enrollments {
                let missing: Enrollments = at_office.difference(&enrollments).cloned().collect();
                let stranded: Enrollments = enrollments.difference(&at_office).cloned().collect();
                return Err(format!(
                    "{}'s enrollments differ from the office's for it\nmissing at the group: \
                     {missing:?}\nat the group, not the office's for it: {stranded:?}",
                    group.as_str()
                ));
            }
        }
        // A group grades only students enrolled with it, so every grade at the office is on
        // one of its own enrollments.
        let enrolled = office.directory().enrollments();
        let ungrounded: Vec<_> = office
            .grades()
            .into_keys()
            .filter(|pair| !enrolled.contains(pair))
            .collect();
        if !ungrounded.is_empty() {
            return Err(format!(
                "the office holds grades for students it never enrolled: {ungrounded:?}"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use concord_sim::{simulate, SimConfig};

    #[test]
    fn three_thousand_faulty_schedules_converge() {
        let mut acked = 0;
        for seed in 0..3000 {
            let outcome = simulate(SimConfig::new(seed), &mut StudentAffairsScenario::default())
                .unwrap_or_else(|report| {
                    panic!("{report}\nreplay with: concord simulate --seed {seed}")
                });
            acked += outcome.commands_acked;
        }
        assert!(
            acked > 20_000,
            "the workload does real work: {acked} commands acknowledged"
        );
    }

    #[test]
    fn an_arrival_order_ta_pool_is_caught() {
        let scenario = || StudentAffairsScenario {
            variant: Variant::ArrivalOrderTaPool,
        };
        let caught =
            (0..300).find_map(|seed| simulate(SimConfig::new(seed), &mut scenario()).err());
        let report = caught.expect("300 seeds never caught a ta-pool where arrival order wins");
        assert!(report.contains("ta-pool"), "{report}");
    }

    /// The first of 300 seeds the simulator fails with this variant, and its report.
    fn caught(variant: Variant) -> String {
        (0..300)
            .find_map(|seed| {
                simulate(
                    SimConfig::new(seed),
                    &mut StudentAffairsScenario { variant },
                )
                .err()
            })
            .unwrap_or_else(|| panic!("300 seeds never caught {variant:?}"))
    }

    #[test]
    fn an_office_that_moves_enrolled_examinations_is_caught() {
        let report = caught(Variant::StrandingOffice);
        assert!(report.contains("enrollments differ"), "{report}");
    }

    #[test]
    fn a_group_grading_students_not_enrolled_with_it_is_caught() {
        let report = caught(Variant::GradingAnyoneSeGroup);
        assert!(report.contains("never enrolled"), "{report}");
    }

    fn byzantine(seed: u64) -> SimConfig {
        SimConfig {
            faults: Some(concord_sim::Faults {
                byzantine_relay: 0.5,
                ..concord_sim::Faults::none()
            }),
            ..SimConfig::new(seed)
        }
    }

    #[test]
    fn a_byzantine_ta_pool_is_refused_and_the_genuine_events_converge() {
        let mut forgeries = 0;
        for seed in 0..30 {
            let outcome = simulate(byzantine(seed), &mut StudentAffairsScenario::default())
                .unwrap_or_else(|report| panic!("{report}"));
            forgeries += outcome.forgeries;
        }
        assert!(forgeries > 100, "the relay forged: {forgeries}");
    }

    #[test]
    fn without_signatures_a_byzantine_ta_pool_is_caught() {
        let mut scenario = StudentAffairsScenario {
            variant: Variant::Unverifying,
        };
        let report = (0..30)
            .find_map(|seed| simulate(byzantine(seed), &mut scenario).err())
            .expect("30 seeds never caught forgeries getting in");
        // Caught one way or another: an invention stored, an altered copy stored beside the
        // genuine event, or the genuine event refused as a conflict with a forgery.
        assert!(report.contains("forged"), "{report}");
    }
}
