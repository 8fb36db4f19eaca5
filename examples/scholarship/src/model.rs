//! The model: what the office knows of each student — a name, the latest grade of each
//! examination, an award — built only from the convergent blocks, so it is the same whatever
//! order the events arrive in and however often (the kit's `Laws` check it).

use concord_core::model::Envelope;
use concord_core::{GrowSet, Lww, Model, Registry};

use crate::events::Event;

/// Grades a student needs before an award is considered.
pub const MIN_GRADES: usize = 2;

/// The awards, by the best average they need (German grades: lower is better), best first.
pub const AWARDS: [(f64, u64); 2] = [(1.5, 600), (2.0, 300)];

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScholarshipModel {
    pub students: Registry<String, Student>,
    /// The students awarded, grown by `apply`: the awards list pages through it.
    pub awarded: GrowSet<String>,
}

/// A student, created by the first event that names them (a grade may come before the name).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Student {
    pub name: Lww<String>,
    /// By examination: a re-grade overwrites the grade, the later event winning.
    pub grades: Registry<String, Lww<f64>>,
    pub award: Lww<Award>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Award {
    pub amount: u64,
    pub average: f64,
}

impl Model for ScholarshipModel {
    type Event = Event;

    fn apply(&mut self, event: &Event, envelope: &Envelope<'_>) {
        let stamp = &envelope.stamp;
        match event {
            Event::StudentCreated(e) => {
                let student = self.students.get_or_create(e.student_id.clone());
                student.name.set(e.name.clone(), stamp);
            }
            Event::StudentGraded(e) => {
                let student = self.students.get_or_create(e.student_id.clone());
                let grade = student.grades.get_or_create(e.examination_id.clone());
                grade.set(e.grade, stamp);
            }
            Event::ScholarshipAwarded(e) => {
                let student = self.students.get_or_create(e.student_id.clone());
                let award = Award {
                    amount: e.amount,
                    average: e.average,
                };
                student.award.set(award, stamp);
                self.awarded.insert(e.student_id.clone());
            }
        }
    }
}

impl Student {
    pub fn name(&self) -> &str {
        self.name.get().map_or("", String::as_str)
    }

    /// The average of the student's grades, rounded to two places; `None` without grades.
    pub fn average(&self) -> Option<f64> {
        let grades: Vec<f64> = self
            .grades
            .values()
            .filter_map(|g| g.get().copied())
            .collect();
        if grades.is_empty() {
            return None;
        }
        let mean = grades.iter().sum::<f64>() / grades.len() as f64;
        Some((mean * 100.0).round() / 100.0)
    }

    /// The award the student's grades earn now, or why they earn none.
    pub fn earns(&self) -> Result<Award, String> {
        let count = self.grades.len();
        let Some(average) = self.average().filter(|_| count >= MIN_GRADES) else {
            return Err(format!("{count} of the {MIN_GRADES} grades an award needs"));
        };
        AWARDS
            .iter()
            .find(|(best, _)| average <= *best)
            .map(|&(_, amount)| Award { amount, average })
            .ok_or_else(|| {
                format!(
                    "an average of {average} is above {}",
                    AWARDS[AWARDS.len() - 1].0
                )
            })
    }
}
