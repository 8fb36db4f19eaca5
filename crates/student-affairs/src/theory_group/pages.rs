//! The theory-group page: the rating form with its scheme explained, the enrolled
//! students (a page of them, searchable) with their ratings, the grade they give and a
//! button to issue it; hiring teaching assistants.

use concord_core::ui::{Cell, Field, Form, PageQuery, Paging, Section, Table, Tone, View};

use super::TheoryGroupModel;
use crate::api::student_matches;
use crate::catalogue::Group;
use crate::directory::{Enrollment, Examination, Student};
use crate::grade::{theory_grade, Ratings};
use crate::pages_common::{
    choice_field, examination_choices, examination_label, grade_cell, grade_choices,
    hiring_section, name_cell, student_choices, CHOICES, PAIRS_PER_STUDENT, ROWS,
};

pub fn view(model: &TheoryGroupModel, page: &PageQuery) -> View {
    View::new()
        .section(presentations(model, page))
        .section(hiring_section(model.directory(), Group::TheoryGroup, page))
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

/// A student's enrollments in theory-group's examinations, at most [`PAIRS_PER_STUDENT`].
fn theory_enrollments<'a>(
    model: &'a TheoryGroupModel,
    student: &'a Student,
) -> impl Iterator<Item = (&'a String, &'a Examination, &'a Enrollment)> + 'a {
    let directory = model.directory();
    student
        .enrollments()
        .filter(|(_, enrollment)| enrollment.is_enrolled())
        .filter_map(move |(exam_id, enrollment)| {
            let examination = directory.find_examination(exam_id)?;
            (examination.group() != Some(Group::SeGroup)).then_some((
                exam_id,
                examination,
                enrollment,
            ))
        })
        .take(PAIRS_PER_STUDENT)
}

fn presentations(model: &TheoryGroupModel, page: &PageQuery) -> Section {
    let directory = model.directory();
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
    .empty("No enrolled students match: enrollments arrive from the students-office.");
    let list = page.list("presentations", ROWS);
    let rows = list.page(directory.student_index(), |id, student| {
        let enrolled = theory_enrollments(model, student).next().is_some();
        (enrolled && student_matches(&list, id, student)).then_some((id, student))
    });
    for &(student_id, student) in &rows.items {
        for (exam_id, examination, enrollment) in theory_enrollments(model, student) {
            let ratings = model.ratings(student_id, exam_id);
            let computed = ratings.map(theory_grade);
            let issued = enrollment.grade().map(|r| r.grade);
            let mut row = vec![
                Cell::muted(student_id),
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
                        .field(Field::hidden("studentId", student_id))
                        .field(Field::hidden("examinationId", exam_id.as_str())),
                ),
                _ => Cell::plain(""),
            });
            table = table.row(row);
        }
    }
    let students = directory.student_index();
    // Few students: offer every enrolled one; many: suggest those on this page.
    let enrolled: Vec<(&str, &Student)> = if students.len() <= CHOICES {
        students
            .iter()
            .filter(|(_, s)| theory_enrollments(model, s).next().is_some())
            .map(|(id, s)| (id.as_str(), s))
            .collect()
    } else {
        rows.items.clone()
    };
    let examinations = directory.examination_index();
    let own = examinations
        .iter()
        .filter(|(_, e)| e.group() != Some(Group::SeGroup));
    let rate = Form::new("Rate a presentation", "/api/presentations", "Save ratings")
        .field(choice_field(
            "studentId",
            "Student",
            students.len(),
            student_choices(enrolled),
        ))
        .field(choice_field(
            "examinationId",
            "Examination",
            examinations.len(),
            examination_choices(own),
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
        .paging(
            Paging::new("presentations", "students", &list, &rows, students.len())
                .placeholder("Student ID or name"),
        )
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
