//! The theory-group page: the rating form with its scheme explained, each enrolled
//! student's ratings, the grade they give and a button to issue it; hiring teaching
//! assistants.

use concord_core::ui::{Cell, Field, Form, Section, Table, Tone, View};

use super::TheoryGroupModel;
use crate::catalogue::Group;
use crate::directory::Examination;
use crate::grade::{theory_grade, Ratings};
use crate::pages_common::{
    examination_choices, examination_label, grade_cell, grade_choices, hiring_section, name_cell,
    student_choices,
};

pub fn view(model: &TheoryGroupModel) -> View {
    View::new()
        .section(presentations(model))
        .section(hiring_section(model.directory(), Group::TheoryGroup))
}

/// The theory scheme, with a worked example computed by [`theory_grade`] itself.
pub fn scheme() -> String {
    let example = Ratings {
        content: crate::Grade::G1_3,
        presentation: crate::Grade::G1_7,
        discussion: crate::Grade::G2_0,
    };
    format!(
        "Theory scheme: a seminar presentation is rated three ways with German grades — content \
         weighs 50 %, presentation 30 %, discussion 20 %. The weighted average is rounded to the \
         nearest German grade from 1.0 to 4.0 (a tie goes to the better grade); above 4.0 it \
         fails with 5.0. Example: content 1.3, presentation 1.7, discussion 2.0 give \
         0.65 + 0.51 + 0.40 = {} → {}.",
        hundredths(example.weighted_hundredths()),
        theory_grade(example)
    )
}

fn hundredths(value: u32) -> String {
    format!("{}.{:02}", value / 100, value % 100)
}

fn presentations(model: &TheoryGroupModel) -> Section {
    let directory = model.directory();
    let examinations: Vec<(&String, &Examination)> = directory
        .examinations()
        .filter(|(_, e)| e.group() != Some(Group::SeGroup))
        .collect();
    let mut table = Table::new([
        "Student",
        "Name",
        "Examination",
        "Content",
        "Presentation",
        "Discussion",
        "Weighted",
        "Computed grade",
        "Issued grade",
        "",
    ])
    .empty("No students enrolled yet: enrollments arrive from the students-office.");
    for (exam_id, examination) in &examinations {
        for student_id in examination.students() {
            let Some(student) = directory.find_student(student_id) else {
                continue;
            };
            let ratings = model.ratings(student_id, exam_id);
            let computed = ratings.map(theory_grade);
            let issued = student
                .enrollment(exam_id)
                .and_then(|e| e.grade())
                .map(|r| r.grade);
            let mut row = vec![
                Cell::muted(student_id.as_str()),
                name_cell(student),
                Cell::plain(examination_label(exam_id, Some(examination))),
            ];
            match ratings {
                Some(r) => {
                    row.extend(
                        [r.content, r.presentation, r.discussion]
                            .map(|g| Cell::plain(g.to_string())),
                    );
                    row.push(Cell::plain(hundredths(r.weighted_hundredths())));
                }
                None => {
                    row.extend((0..3).map(|_| Cell::muted("—")));
                    row.push(Cell::muted("not rated"));
                }
            }
            row.push(computed.map_or(Cell::muted("—"), |g| grade_cell(Some(g))));
            row.push(match (issued, computed) {
                (None, _) => Cell::muted("not issued"),
                (Some(i), Some(c)) if i != c => Cell::warning(format!("{i} — outdated"))
                    .hint(format!("The ratings now give {c}; issue it again")),
                (Some(i), _) => grade_cell(Some(i)).hint("sent to the students-office"),
            });
            row.push(match computed {
                Some(grade) if issued != Some(grade) => Cell::action(
                    Form::new("Issue grade", "/api/grades", format!("Issue {grade}"))
                        .field(Field::hidden("studentId", student_id.as_str()))
                        .field(Field::hidden("examinationId", exam_id.as_str())),
                ),
                _ => Cell::plain(""),
            });
            table = table.row(row);
        }
    }
    let students = examinations
        .iter()
        .flat_map(|(_, e)| e.students())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter_map(|id| directory.find_student(id).map(|s| (id, s)));
    let rate = Form::new("Rate a presentation", "/api/presentations", "Save ratings")
        .field(Field::select(
            "studentId",
            "Student",
            student_choices(students),
        ))
        .field(Field::select(
            "examinationId",
            "Examination",
            examination_choices(examinations.iter().copied()),
        ))
        .field(Field::number_select(
            "content",
            "Content (50 %)",
            grade_choices(),
        ))
        .field(Field::number_select(
            "presentation",
            "Presentation (30 %)",
            grade_choices(),
        ))
        .field(Field::number_select(
            "discussion",
            "Discussion (20 %)",
            grade_choices(),
        ))
        .note(
            Tone::Plain,
            "Rating again replaces the earlier ratings; issue the grade once they are final.",
        );
    Section::new("Presentations and grades")
        .intro(scheme())
        .table(table)
        .form(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_shows_a_worked_example() {
        assert!(
            scheme().ends_with("0.65 + 0.51 + 0.40 = 1.56 → 1.7."),
            "{}",
            scheme()
        );
    }
}
