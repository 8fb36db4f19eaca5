//! The part of the model all four services share: students (name, hires, enrollments with
//! their grades) and examinations (title, group, enrolled students).
//!
//! Every service keeps one [`Directory`] and feeds it every catalogue event; each then reads
//! the parts its bounded context needs. Keeping the rules of the contract's attribute table
//! here, once, is what makes the four services agree on the data they share:
//!
//! - student name ← `studentCreated.name`, `studentEnrolled.studentName`, `studentHired.name`
//! - examination title and group ← `examinationCreated`, `studentEnrolled`
//! - a (student, examination) pair ← any event naming it directly: `studentEnrolled`,
//!   `studentGraded`, `presentationRated` (a placeholder, so a grade always has a home)
//! - the pair *enrolled* ← `studentEnrolled` only: a grow-only flag. A grade or a rating
//!   names a pair but never enrolls it; only the office enrolls (see README, "Domain
//!   decisions")
//! - grade of (student, examination) ← `studentGraded` (grade and grading group together)
//! - hires of a student ← `studentHired`, a grow-only set
//!
//! Attributes are last-writer-wins by the event's `(time, id)`; an empty string carries no
//! value. Anything an event mentions that is not known yet is created as a placeholder (R4).
//!
//! Lists are read a page at a time ([`concord_core::list`]): the registries are exposed
//! for range scans ([`Directory::student_index`], [`Directory::examination_index`]), with
//! grow-only indexes of what pages list most — the students enrolled in an examination
//! ([`Examination::enrolled`]) and the hired students ([`Directory::hired`]).

use std::collections::{BTreeMap, BTreeSet};

use concord_core::{CommandError, GrowSet, Lww, Registry, Stamp};

use crate::catalogue::{Group, StudentAffairsEvent};
use crate::grade::Grade;

/// A (studentId, examinationId) pair.
pub type Pair = (String, String);

/// Shared data view: the grade of each graded (student, examination).
pub type Grades = BTreeMap<Pair, Grade>;

/// Shared data view: the set of enrolled (student, examination) pairs.
pub type Enrollments = BTreeSet<Pair>;

/// Shared data view: for each hired student, the groups that hired them.
pub type Hires = BTreeMap<String, BTreeSet<Group>>;

/// Offers a text attribute: an empty string carries no value and is not written.
pub(crate) fn offer_text(register: &mut Lww<String>, text: &str, stamp: &Stamp) {
    let newer = register.stamp().is_none_or(|current| current < stamp);
    if !text.is_empty() && newer {
        register.set(text.to_owned(), stamp);
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Student {
    name: Lww<String>,
    hired_by: GrowSet<Group>,
    enrollments: Registry<String, Enrollment>,
}

impl Student {
    /// The name, `None` while the student is a placeholder without one.
    pub fn name(&self) -> Option<&str> {
        self.name.get().map(String::as_str)
    }

    /// The name, or `""` while unknown: the form events and answers carry.
    pub fn name_or_empty(&self) -> &str {
        self.name().unwrap_or("")
    }

    pub fn hired_by(&self) -> impl Iterator<Item = Group> + '_ {
        self.hired_by.iter().copied()
    }

    pub fn is_hired_by(&self, group: Group) -> bool {
        self.hired_by.contains(&group)
    }

    /// Enrollments by examination id.
    pub fn enrollments(&self) -> impl Iterator<Item = (&String, &Enrollment)> {
        self.enrollments.iter()
    }

    pub fn enrollment(&self, examination_id: &str) -> Option<&Enrollment> {
        self.enrollments.get(examination_id)
    }
}

/// A (student, examination) pair some event named: enrolled by the office, or only a
/// placeholder carrying a grade or rating that arrived without an enrollment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Enrollment {
    /// Set by `studentEnrolled`, never unset: order independent like any grow-only set.
    enrolled: bool,
    grade: Lww<GradeRecord>,
}

/// A grade with the group that gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GradeRecord {
    pub grade: Grade,
    pub group: Group,
}

impl Enrollment {
    pub fn grade(&self) -> Option<GradeRecord> {
        self.grade.get().copied()
    }

    /// Whether the office enrolled the student (a `studentEnrolled` named the pair), rather
    /// than only a grade or a rating.
    pub fn is_enrolled(&self) -> bool {
        self.enrolled
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Examination {
    title: Lww<String>,
    group: Lww<Group>,
    /// The students of every pair naming this examination: an index for listing it.
    students: GrowSet<String>,
    /// Those of them the office enrolled (`studentEnrolled`).
    enrolled: GrowSet<String>,
}

impl Examination {
    pub fn title(&self) -> Option<&str> {
        self.title.get().map(String::as_str)
    }

    pub fn title_or_empty(&self) -> &str {
        self.title().unwrap_or("")
    }

    /// The group running it, `None` for a placeholder no event has given one yet.
    pub fn group(&self) -> Option<Group> {
        self.group.get().copied()
    }

    /// Every student a pair names with this examination, enrolled or not.
    pub fn students(&self) -> impl Iterator<Item = &String> {
        self.students.iter()
    }

    /// The students the office enrolled, in id order, for paging.
    pub fn enrolled(&self) -> &GrowSet<String> {
        &self.enrolled
    }

    /// Every pair naming this examination, for paging.
    pub fn named(&self) -> &GrowSet<String> {
        &self.students
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Directory {
    students: Registry<String, Student>,
    examinations: Registry<String, Examination>,
    /// The students hired at least once (teaching assistants), for paging.
    hired: GrowSet<String>,
    /// Those hired by both groups (hires only grow, so a conflict never goes away).
    conflicts: GrowSet<String>,
}

impl Directory {
    /// Applies the directory's share of any catalogue event.
    pub fn apply(&mut self, event: &StudentAffairsEvent, stamp: &Stamp) {
        use StudentAffairsEvent as E;
        match event {
            E::StudentCreated(e) => {
                offer_text(&mut self.student(&e.student_id).name, &e.name, stamp);
            }
            E::ExaminationCreated(e) => {
                let examination = self.examination(&e.examination_id);
                offer_text(&mut examination.title, &e.title, stamp);
                examination.group.set(e.group, stamp);
            }
            E::StudentEnrolled(e) => {
                offer_text(
                    &mut self.student(&e.student_id).name,
                    &e.student_name,
                    stamp,
                );
                let examination = self.examination(&e.examination_id);
                offer_text(&mut examination.title, &e.examination_title, stamp);
                examination.group.set(e.group, stamp);
                examination.enrolled.insert(e.student_id.clone());
                self.enroll(&e.student_id, &e.examination_id).enrolled = true;
            }
            E::AssignmentCreated(e) => {
                self.examination(&e.examination_id);
            }
            E::AssignmentScored(e) => {
                self.student(&e.student_id);
            }
            E::PresentationRated(e) => {
                self.enroll(&e.student_id, &e.examination_id);
            }
            E::StudentGraded(e) => {
                let record = GradeRecord {
                    grade: e.grade,
                    group: e.group,
                };
                self.enroll(&e.student_id, &e.examination_id)
                    .grade
                    .set(record, stamp);
            }
            E::StudentHired(e) => {
                let student = self.student(&e.student_id);
                offer_text(&mut student.name, &e.name, stamp);
                student.hired_by.insert(e.group);
                let conflict = student.hired_by.len() == Group::ALL.len();
                self.hired.insert(e.student_id.clone());
                if conflict {
                    self.conflicts.insert(e.student_id.clone());
                }
            }
        }
    }

    fn student(&mut self, id: &str) -> &mut Student {
        self.students.get_or_create(id.to_owned())
    }

    fn examination(&mut self, id: &str) -> &mut Examination {
        self.examinations.get_or_create(id.to_owned())
    }

    /// The pair, made a placeholder if no event named it before.
    fn enroll(&mut self, student_id: &str, examination_id: &str) -> &mut Enrollment {
        self.examination(examination_id)
            .students
            .insert(student_id.to_owned());
        self.student(student_id)
            .enrollments
            .get_or_create(examination_id.to_owned())
    }

    pub fn students(&self) -> impl Iterator<Item = (&String, &Student)> {
        self.students.iter()
    }

    pub fn examinations(&self) -> impl Iterator<Item = (&String, &Examination)> {
        self.examinations.iter()
    }

    /// Every student by id, for paging.
    pub fn student_index(&self) -> &Registry<String, Student> {
        &self.students
    }

    /// Every examination by id, for paging.
    pub fn examination_index(&self) -> &Registry<String, Examination> {
        &self.examinations
    }

    /// The ids of the students hired at least once, for paging.
    pub fn hired(&self) -> &GrowSet<String> {
        &self.hired
    }

    /// The ids of the students hired by both groups.
    pub fn conflicts(&self) -> &GrowSet<String> {
        &self.conflicts
    }

    pub fn find_student(&self, id: &str) -> Option<&Student> {
        self.students.get(id)
    }

    pub fn find_examination(&self, id: &str) -> Option<&Examination> {
        self.examinations.get(id)
    }

    /// The student a command names, or 404. Placeholders count as known.
    pub fn known_student(&self, id: &str) -> Result<&Student, CommandError> {
        self.find_student(id)
            .ok_or_else(|| CommandError::NotFound(format!("unknown student {id:?}")))
    }

    /// The examination a command names, or 404. Placeholders count as known.
    pub fn known_examination(&self, id: &str) -> Result<&Examination, CommandError> {
        self.find_examination(id)
            .ok_or_else(|| CommandError::NotFound(format!("unknown examination {id:?}")))
    }

    /// Shared data view: every grade this service holds.
    pub fn grades(&self) -> Grades {
        self.grades_where(|_| true)
    }

    /// Shared data view: the grades whose latest `studentGraded` came from `group`.
    pub fn grades_given_by(&self, group: Group) -> Grades {
        self.grades_where(|record| record.group == group)
    }

    fn grades_where(&self, keep: impl Fn(&GradeRecord) -> bool) -> Grades {
        let mut grades = Grades::new();
        for (student_id, student) in &self.students {
            for (examination_id, enrollment) in student.enrollments() {
                if let Some(record) = enrollment.grade().filter(|r| keep(r)) {
                    grades.insert((student_id.clone(), examination_id.clone()), record.grade);
                }
            }
        }
        grades
    }

    /// Shared data view: every enrolled (student, examination) pair — those a
    /// `studentEnrolled` named, not those only a grade or a rating named.
    pub fn enrollments(&self) -> Enrollments {
        self.students
            .iter()
            .flat_map(|(student_id, student)| {
                student
                    .enrollments
                    .iter()
                    .filter(|(_, enrollment)| enrollment.enrolled)
                    .map(move |(examination_id, _)| (student_id.clone(), examination_id.clone()))
            })
            .collect()
    }

    /// Shared data view: enrolled pairs by the group running the examination. Pairs whose
    /// examination has no group yet (a placeholder) are left out, as are pairs only a
    /// grade or rating named.
    pub fn enrollments_by_group(&self) -> BTreeMap<Group, Enrollments> {
        let mut by_group: BTreeMap<Group, Enrollments> = Group::ALL
            .into_iter()
            .map(|g| (g, Enrollments::new()))
            .collect();
        for (examination_id, examination) in &self.examinations {
            if let Some(group) = examination.group() {
                let pairs = by_group.entry(group).or_default();
                for student_id in examination.enrolled.iter() {
                    pairs.insert((student_id.clone(), examination_id.clone()));
                }
            }
        }
        by_group
    }

    /// Shared data view: who hired whom, for every student hired at least once.
    pub fn hires(&self) -> Hires {
        self.students
            .iter()
            .filter(|(_, student)| !student.hired_by.is_empty())
            .map(|(id, student)| (id.clone(), student.hired_by().collect()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::*;
    use concord_core::Timestamp;

    fn stamp(time: i128, id: &str) -> Stamp {
        Stamp::new(Timestamp::from_unix_nanos(time), id.into())
    }

    fn created(name: &str) -> StudentAffairsEvent {
        StudentCreated {
            student_id: "s-1".into(),
            name: name.into(),
        }
        .into()
    }

    #[test]
    fn the_later_name_wins_and_an_empty_one_carries_none() {
        let mut forward = Directory::default();
        forward.apply(&created("Ada"), &stamp(1, "a"));
        forward.apply(&created("Ada Lovelace"), &stamp(2, "b"));
        forward.apply(&created(""), &stamp(3, "c"));
        let mut backward = Directory::default();
        backward.apply(&created(""), &stamp(3, "c"));
        backward.apply(&created("Ada Lovelace"), &stamp(2, "b"));
        backward.apply(&created("Ada"), &stamp(1, "a"));
        assert_eq!(forward, backward);
        assert_eq!(
            forward.find_student("s-1").unwrap().name(),
            Some("Ada Lovelace")
        );
    }

    #[test]
    fn a_grade_for_unknown_things_makes_placeholders() {
        let mut directory = Directory::default();
        let graded = StudentGraded {
            student_id: "s-9".into(),
            examination_id: "x-9".into(),
            grade: Grade::G2_0,
            group: Group::SeGroup,
        };
        directory.apply(&graded.into(), &stamp(1, "g"));
        let student = directory.find_student("s-9").unwrap();
        assert_eq!(student.name(), None);
        let enrollment = student.enrollment("x-9").unwrap();
        assert_eq!(enrollment.grade().unwrap().grade, Grade::G2_0);
        let examination = directory.find_examination("x-9").unwrap();
        assert_eq!(
            examination.group(),
            None,
            "studentGraded does not set the group"
        );
        assert_eq!(examination.students().collect::<Vec<_>>(), ["s-9"]);
        assert_eq!(directory.grades_given_by(Group::SeGroup).len(), 1);
        assert!(directory.grades_given_by(Group::TheoryGroup).is_empty());
        assert!(directory.enrollments_by_group()[&Group::SeGroup].is_empty());
        // The grade has a home, but nobody enrolled the student.
        assert!(!enrollment.is_enrolled());
        assert!(directory.enrollments().is_empty());
        assert!(examination.enrolled().is_empty());
    }

    #[test]
    fn only_studentenrolled_enrolls_in_whatever_order() {
        let enrolled: StudentAffairsEvent = StudentEnrolled {
            student_id: "s-1".into(),
            student_name: "Ada".into(),
            examination_id: "x-1".into(),
            examination_title: "Modelling".into(),
            group: Group::SeGroup,
        }
        .into();
        let graded: StudentAffairsEvent = StudentGraded {
            student_id: "s-1".into(),
            examination_id: "x-1".into(),
            grade: Grade::G1_0,
            group: Group::SeGroup,
        }
        .into();
        let mut forward = Directory::default();
        forward.apply(&graded, &stamp(2, "g"));
        forward.apply(&enrolled, &stamp(1, "e"));
        let mut backward = Directory::default();
        backward.apply(&enrolled, &stamp(1, "e"));
        backward.apply(&graded, &stamp(2, "g"));
        assert_eq!(forward, backward);
        let pair = forward
            .find_student("s-1")
            .unwrap()
            .enrollment("x-1")
            .unwrap();
        assert!(pair.is_enrolled());
        assert_eq!(pair.grade().unwrap().grade, Grade::G1_0);
        assert_eq!(
            forward.enrollments_by_group()[&Group::SeGroup],
            Enrollments::from([("s-1".to_owned(), "x-1".to_owned())])
        );
    }

    #[test]
    fn hires_accumulate() {
        let mut directory = Directory::default();
        for (group, id) in [
            (Group::TheoryGroup, "h2"),
            (Group::SeGroup, "h1"),
            (Group::SeGroup, "h3"),
        ] {
            let hired = StudentHired {
                student_id: "s-1".into(),
                name: String::new(),
                group,
            };
            directory.apply(&hired.into(), &stamp(1, id));
        }
        assert_eq!(
            directory.hires()["s-1"],
            BTreeSet::from([Group::SeGroup, Group::TheoryGroup])
        );
        assert_eq!(directory.hired().iter().collect::<Vec<_>>(), ["s-1"]);
        assert_eq!(directory.conflicts().iter().collect::<Vec<_>>(), ["s-1"]);
    }
}
