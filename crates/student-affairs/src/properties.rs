//! Property tests of R3–R5 for the four models, through `concord-testkit`: a set of events
//! applied in any order, with any repetitions, gives the model that applying them once in
//! `(time, id)` order gives; replay gives the live model; no event is vetoed.
//!
//! Histories draw from a tiny id space (three students, two examinations, two assignments)
//! so that keys collide, from four instants so that equal times leave the id to break ties,
//! and from names and titles that include the empty string. An oracle test then checks that
//! the converged state is the *right* one, not merely the same one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use concord_core::{CloudEvent, Model, Stamp};
use proptest::prelude::*;
use proptest::sample::select;

use crate::catalogue::*;
use crate::grade::Grade;
use crate::testing::event;
use crate::{OfficeModel, SeGroupModel, TaPoolModel, TheoryGroupModel, SERVICE_NAMES};

fn id_from(ids: &'static [&'static str]) -> impl Strategy<Value = String> {
    select(ids).prop_map(str::to_owned)
}

fn student() -> impl Strategy<Value = String> {
    id_from(&["s1", "s2", "s3"])
}

fn exam() -> impl Strategy<Value = String> {
    id_from(&["x1", "x2"])
}

fn assignment_id() -> impl Strategy<Value = String> {
    id_from(&["a1", "a2"])
}

fn name() -> impl Strategy<Value = String> {
    id_from(&["", "Ada", "Bob"])
}

fn title() -> impl Strategy<Value = String> {
    id_from(&["", "Modelling", "Logic"])
}

fn group() -> impl Strategy<Value = Group> {
    select(&Group::ALL[..])
}

fn grade() -> impl Strategy<Value = Grade> {
    select(&Grade::ALL[..])
}

fn data() -> impl Strategy<Value = StudentAffairsEvent> {
    prop_oneof![
        (student(), name())
            .prop_map(|(student_id, name)| StudentCreated { student_id, name }.into()),
        (exam(), title(), group()).prop_map(|(examination_id, title, group)| {
            ExaminationCreated {
                examination_id,
                title,
                group,
            }
            .into()
        }),
        (student(), name(), exam(), title(), group()).prop_map(|(s, n, x, t, group)| {
            StudentEnrolled {
                student_id: s,
                student_name: n,
                examination_id: x,
                examination_title: t,
                group,
            }
            .into()
        }),
        (assignment_id(), exam(), title(), 1..4u64).prop_map(|(a, x, title, max_points)| {
            AssignmentCreated {
                assignment_id: a,
                examination_id: x,
                title,
                max_points,
            }
            .into()
        }),
        (student(), assignment_id(), 0..5u64).prop_map(|(s, a, points)| {
            AssignmentScored {
                student_id: s,
                assignment_id: a,
                points,
            }
            .into()
        }),
        (student(), exam(), grade(), grade(), grade()).prop_map(|(s, x, c, p, d)| {
            PresentationRated {
                student_id: s,
                examination_id: x,
                content: c,
                presentation: p,
                discussion: d,
            }
            .into()
        }),
        (student(), exam(), grade(), group()).prop_map(|(s, x, grade, group)| {
            StudentGraded {
                student_id: s,
                examination_id: x,
                grade,
                group,
            }
            .into()
        }),
        (student(), name(), group()).prop_map(|(student_id, name, group)| StudentHired {
            student_id,
            name,
            group
        }
        .into()),
    ]
}

/// A set of events with distinct ids; an id's prefix is random so that id order is not
/// creation order.
fn events() -> impl Strategy<Value = Vec<CloudEvent>> {
    prop::collection::vec(
        (select(&SERVICE_NAMES[..]), 0..4i128, 0..4u8, data()),
        0..40,
    )
    .prop_map(|drawn| {
        drawn
            .into_iter()
            .enumerate()
            .map(|(index, (source, second, prefix, data))| {
                event(source, second, &format!("{prefix}-{index:02}"), data)
            })
            .collect()
    })
}

/// Events and an arrival order: every event at least once, shuffled, some repeated.
fn history() -> impl Strategy<Value = (Vec<CloudEvent>, Vec<usize>)> {
    concord_testkit::history(events())
}

/// The laws of convergence (order independence with repeats, idempotence, no veto, the
/// runtime applying what the model would, replay = live), checked by the test kit.
fn keeps_the_laws<M: Model<Event = StudentAffairsEvent> + PartialEq + Debug>() {
    concord_testkit::Laws::<M>::new(std::sync::Arc::new(StudentAffairsCatalogue))
        .cases(256)
        .check(events());
}

#[test]
fn the_office_model_keeps_the_laws() {
    keeps_the_laws::<OfficeModel>();
}

#[test]
fn the_se_group_model_keeps_the_laws() {
    keeps_the_laws::<SeGroupModel>();
}

#[test]
fn the_theory_group_model_keeps_the_laws() {
    keeps_the_laws::<TheoryGroupModel>();
}

#[test]
fn the_ta_pool_model_keeps_the_laws() {
    keeps_the_laws::<TaPoolModel>();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_converged_state_follows_the_attribute_table((events, order) in history()) {
        let mut model = SeGroupModel::default();
        for &index in &order {
            crate::catalogue::apply(&mut model, &events[index]);
        }
        let oracle = Oracle::from(&events);
        let directory = model.directory();
        let names: BTreeMap<String, String> = directory
            .students()
            .filter_map(|(id, s)| Some((id.clone(), s.name()?.to_owned())))
            .collect();
        prop_assert_eq!(names, oracle.names);
        let titles: BTreeMap<String, String> = directory
            .examinations()
            .filter_map(|(id, x)| Some((id.clone(), x.title()?.to_owned())))
            .collect();
        prop_assert_eq!(titles, oracle.titles);
        let groups: BTreeMap<String, Group> = directory
            .examinations()
            .filter_map(|(id, x)| Some((id.clone(), x.group()?)))
            .collect();
        prop_assert_eq!(groups, oracle.groups);
        prop_assert_eq!(model.grades(), oracle.grades);
        prop_assert_eq!(model.enrollments(), oracle.enrollments);
        prop_assert_eq!(model.hires(), oracle.hires);
        let points: BTreeMap<(String, String), u64> = ["s1", "s2", "s3"]
            .iter()
            .flat_map(|s| model.points_of(s).into_iter().map(move |(a, p)| ((s.to_string(), a), p)))
            .collect();
        prop_assert_eq!(points, oracle.points);
    }
}

/// The contract's attribute table computed the obvious way: for each attribute, the value
/// of the latest event (by stamp) that carries one.
#[derive(Default)]
struct Oracle {
    names: BTreeMap<String, String>,
    titles: BTreeMap<String, String>,
    groups: BTreeMap<String, Group>,
    grades: BTreeMap<(String, String), Grade>,
    enrollments: BTreeSet<(String, String)>,
    hires: BTreeMap<String, BTreeSet<Group>>,
    points: BTreeMap<(String, String), u64>,
}

impl Oracle {
    fn from(events: &[CloudEvent]) -> Oracle {
        fn latest<K: Ord, V>(map: &mut BTreeMap<K, (Stamp, V)>, key: K, stamp: &Stamp, value: V) {
            if map.get(&key).is_none_or(|(current, _)| current < stamp) {
                map.insert(key, (stamp.clone(), value));
            }
        }
        fn named(
            map: &mut BTreeMap<String, (Stamp, String)>,
            key: &str,
            stamp: &Stamp,
            text: &str,
        ) {
            if !text.is_empty() {
                latest(map, key.to_owned(), stamp, text.to_owned());
            }
        }
        let (mut names, mut titles, mut groups) =
            (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        let (mut grades, mut points) = (BTreeMap::new(), BTreeMap::new());
        let mut oracle = Oracle::default();
        for event in events {
            let stamp = event.stamp();
            let pair = |s: &str, x: &str| (s.to_owned(), x.to_owned());
            match StudentAffairsEvent::decode(event).unwrap().unwrap() {
                StudentAffairsEvent::StudentCreated(e) => {
                    named(&mut names, &e.student_id, &stamp, &e.name)
                }
                StudentAffairsEvent::ExaminationCreated(e) => {
                    named(&mut titles, &e.examination_id, &stamp, &e.title);
                    latest(&mut groups, e.examination_id, &stamp, e.group);
                }
                StudentAffairsEvent::StudentEnrolled(e) => {
                    named(&mut names, &e.student_id, &stamp, &e.student_name);
                    named(&mut titles, &e.examination_id, &stamp, &e.examination_title);
                    latest(&mut groups, e.examination_id.clone(), &stamp, e.group);
                    oracle
                        .enrollments
                        .insert(pair(&e.student_id, &e.examination_id));
                }
                StudentAffairsEvent::AssignmentCreated(_) => {}
                StudentAffairsEvent::AssignmentScored(e) => {
                    latest(
                        &mut points,
                        pair(&e.student_id, &e.assignment_id),
                        &stamp,
                        e.points,
                    );
                }
                // A rating or a grade names a pair but does not enroll.
                StudentAffairsEvent::PresentationRated(_) => {}
                StudentAffairsEvent::StudentGraded(e) => {
                    latest(
                        &mut grades,
                        pair(&e.student_id, &e.examination_id),
                        &stamp,
                        e.grade,
                    );
                }
                StudentAffairsEvent::StudentHired(e) => {
                    named(&mut names, &e.student_id, &stamp, &e.name);
                    oracle
                        .hires
                        .entry(e.student_id)
                        .or_default()
                        .insert(e.group);
                }
            }
        }
        fn values<K: Ord, V>(map: BTreeMap<K, (Stamp, V)>) -> BTreeMap<K, V> {
            map.into_iter().map(|(k, (_, v))| (k, v)).collect()
        }
        oracle.names = values(names);
        oracle.titles = values(titles);
        oracle.groups = values(groups);
        oracle.grades = values(grades);
        oracle.points = values(points);
        oracle
    }
}
