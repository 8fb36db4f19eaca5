//! The se-group page: its examinations, a few at a time and searchable, each with its
//! enrolled students (a page of them) and their points in each assignment, the grade the SE
//! scheme computes and a button to issue it; the assignments; hiring teaching assistants.

use concord_core::ui::{Cell, Choice, Field, Form, PageQuery, Paging, Section, Table, Tone, View};

use super::SeGroupModel;
use crate::catalogue::Group;
use crate::directory::Examination;
use crate::grade::se_grade;
use crate::pages_common::{
    choice_field, examination_choices, examination_label, grade_cell, hiring_section, name_cell,
    student_choices, ROWS,
};

/// Examinations shown in detail at a time.
pub const EXAMINATIONS: usize = 3;

pub fn view(model: &SeGroupModel, page: &PageQuery) -> View {
    let directory = model.directory();
    let list = page.list("examinations", EXAMINATIONS);
    let examinations = list.page(directory.examination_index(), |id, examination| {
        let own = examination.group() != Some(Group::TheoryGroup);
        (own && list.matches([id, examination.title_or_empty()])).then_some((id, examination))
    });
    let mut view = View::new();
    if examinations.items.is_empty() && list.cursor.is_none() && list.search_text().is_none() {
        view = view.section(Section::new("Points and grades").intro(
            "No examinations yet. Enrollments in se-group's examinations arrive from the \
                 students-office; then enter points here and issue grades.",
        ));
    } else {
        let mut table = Table::new(["Examination", "Title", "Enrolled", "Assignments"])
            .empty("No examinations match.");
        for &(id, examination) in &examinations.items {
            table = table.row(vec![
                Cell::muted(id),
                examination
                    .title()
                    .map_or(Cell::muted("not known yet"), Cell::plain),
                Cell::plain(examination.enrolled().len().to_string()),
                Cell::plain(model.assignments_of(id).count().to_string()),
            ]);
        }
        let paging = Paging::new(
            "examinations",
            "examinations",
            &list,
            &examinations,
            directory.examination_index().len(),
        )
        .placeholder("Examination ID or title");
        view = view.section(
            Section::new("Examinations")
                .intro("The examinations se-group runs; each one's points and grades follow below, a few examinations at a time.")
                .paging(paging)
                .table(table),
        );
    }
    for &(id, examination) in &examinations.items {
        view = view.section(points_and_grades(model, id, examination, page));
    }
    view.section(assignments(model, page))
        .section(hiring_section(directory, Group::SeGroup, page))
}

/// The SE scheme in one line, read off [`se_grade`] itself so it cannot drift from it.
pub fn scheme() -> String {
    // The lowest percentage of each passing grade is its threshold.
    let mut thresholds = Vec::new();
    let mut last = None;
    for percent in 0..=100u64 {
        let grade = se_grade(percent, 100);
        if grade != last {
            if let Some(grade) = grade.filter(|g| g.is_pass()) {
                thresholds.push(format!("≥ {percent} % → {grade}"));
            }
            last = grade;
        }
    }
    thresholds.reverse();
    format!(
        "SE scheme: the share of all points of the examination's assignments (a missing score \
         counts 0). {}; below that 5.0.",
        thresholds.join(", ")
    )
}

fn points_and_grades(
    model: &SeGroupModel,
    exam_id: &str,
    examination: &Examination,
    page: &PageQuery,
) -> Section {
    let directory = model.directory();
    let mut assignments: Vec<(&String, _)> = model.assignments_of(exam_id).collect();
    assignments.sort_by(|a, b| a.0.cmp(b.0));

    let mut columns = vec!["Student".to_owned(), "Name".to_owned()];
    columns.extend(assignments.iter().map(|(id, a)| {
        let max = a.max_points().map_or("?".to_owned(), |m| m.to_string());
        format!("{} (/{max})", a.title().unwrap_or(id))
    }));
    columns.extend(["Total", "Computed grade", "Issued grade", ""].map(String::from));
    let mut table = Table::new(columns).empty("No enrolled students match.");
    let key = format!("students@{exam_id}");
    let list = page.list(&key, ROWS);
    let rows = list.page(examination.enrolled(), |student_id, ()| {
        let student = directory.find_student(student_id)?;
        list.matches([student_id, student.name_or_empty()])
            .then_some((student_id, student))
    });
    for &(student_id, student) in &rows.items {
        let mut row = vec![Cell::muted(student_id), name_cell(student)];
        for (assignment_id, _) in &assignments {
            row.push(match model.points(student_id, assignment_id) {
                Some(points) => Cell::plain(points.to_string()),
                None => Cell::muted("—").hint("not scored yet: counts as 0"),
            });
        }
        let (reached, total) = model.standing(student_id, exam_id);
        // In u128: points go up to 2^63 - 1, and a hundred times that overflows a u64.
        row.push(
            match (u128::from(reached) * 100).checked_div(u128::from(total)) {
                Some(percent) => Cell::plain(format!("{reached} / {total} ({percent} %)")),
                None => Cell::muted("—"),
            },
        );
        let computed = model.se_grade_for(student_id, exam_id);
        row.push(match computed {
            Some(grade) => grade_cell(Some(grade)),
            None => Cell::muted("no assignments"),
        });
        let issued = student
            .enrollment(exam_id)
            .and_then(|e| e.grade())
            .map(|r| r.grade);
        row.push(match (issued, computed) {
            (None, _) => Cell::muted("not issued"),
            (Some(i), Some(c)) if i != c => Cell::warning(format!("{i} — outdated"))
                .hint(format!("The points now give {c}; issue it again")),
            (Some(i), _) => grade_cell(Some(i)).hint("sent to the students-office"),
        });
        row.push(match computed {
            Some(grade) if issued != Some(grade) => Cell::action(
                Form::new("Issue grade", "/api/grades", format!("Issue {grade}"))
                    .field(Field::hidden("studentId", student_id))
                    .field(Field::hidden("examinationId", exam_id)),
            ),
            _ => Cell::plain(""),
        });
        table = table.row(row);
    }

    let title = examination.title().unwrap_or(exam_id);
    let enrolled = examination.enrolled();
    let students = enrolled
        .iter()
        .filter_map(|id| directory.find_student(id).map(|s| (id, s)));
    let points = Form::new(
        format!("Enter points — {title}"),
        "/api/assignments/{assignmentId}/scores",
        "Save points",
    )
    .field(choice_field(
        "studentId",
        "Student",
        enrolled.len(),
        student_choices(students),
    ))
    .field(Field::select(
        "assignmentId",
        "Assignment",
        assignments
            .iter()
            .map(|(id, a)| {
                let max = a.max_points().map_or("?".to_owned(), |m| m.to_string());
                Choice::new(
                    id.as_str(),
                    format!("{} (max {max})", a.title().unwrap_or(id)),
                )
            })
            .collect(),
    ))
    .field(Field::integer("points", "Points", 0, None));
    let points = if assignments.is_empty() {
        points.note(
            Tone::Warning,
            "This examination has no assignments yet: create one below first.",
        )
    } else {
        points
    };
    Section::new(format!(
        "{} — points and grades",
        examination_label(exam_id, Some(examination))
    ))
    .intro(scheme())
    .paging(
        Paging::new(key, "enrolled students", &list, &rows, enrolled.len())
            .placeholder("Student ID or name"),
    )
    .table(table)
    .form(points)
}

fn assignments(model: &SeGroupModel, page: &PageQuery) -> Section {
    let directory = model.directory();
    let mut table = Table::new(["Assignment", "Examination", "Title", "Max points"])
        .empty("No assignments match.");
    let list = page.list("assignments", ROWS);
    let rows = list.page(model.assignment_index(), |id, assignment| {
        list.matches([id, assignment.title().unwrap_or_default()])
            .then_some((id, assignment))
    });
    for &(id, assignment) in &rows.items {
        let examination = assignment
            .examination_id()
            .map_or(Cell::muted("not known yet"), |e| {
                Cell::plain(examination_label(e, directory.find_examination(e)))
            });
        table = table.row(vec![
            Cell::muted(id),
            examination,
            assignment
                .title()
                .map_or(Cell::muted("not known yet"), Cell::plain),
            assignment
                .max_points()
                .map_or(Cell::muted("?"), |m| Cell::plain(m.to_string())),
        ]);
    }
    let exams = directory.examination_index();
    let own = exams
        .iter()
        .filter(|(_, e)| e.group() != Some(Group::TheoryGroup));
    Section::new("Assignments")
        .intro("The assignments of the modelling course; their points add up to each examination's grade.")
        .paging(
            Paging::new("assignments", "assignments", &list, &rows, model.assignment_index().len())
                .placeholder("Assignment ID or title"),
        )
        .table(table)
        .form(
            Form::new("Create an assignment", "/api/assignments", "Create assignment")
                .field(Field::text("assignmentId", "Assignment ID"))
                .field(choice_field(
                    "examinationId",
                    "Examination",
                    exams.len(),
                    examination_choices(own),
                ))
                .field(Field::text("title", "Title"))
                .field(Field::integer("maxPoints", "Max points", 1, None)),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{apply, Group, MAX_INTEGER};
    use crate::testing::*;

    #[test]
    fn the_scheme_is_read_off_the_grading_function() {
        let scheme = scheme();
        assert!(scheme.contains("≥ 95 % → 1.0, ≥ 90 % → 1.3"), "{scheme}");
        assert!(scheme.contains("≥ 50 % → 4.0; below that 5.0"), "{scheme}");
    }

    /// Found by schemathesis: maxPoints and points as large as the API takes (2^63 - 1) made
    /// the points table's sums overflow, so the page's handler panicked (a 500 in a debug
    /// build; a wrong total in a release build).
    #[test]
    fn the_largest_points_the_api_takes_make_a_page_with_saturated_totals() {
        let mut model = SeGroupModel::default();
        let enrolment = enrolled("s-1", "Ada Lovelace", "x-1", "Modelling", Group::SeGroup);
        apply(&mut model, &event("students-office", 1, "e1", enrolment));
        for (i, id) in ["a-1", "a-2", "a-3"].into_iter().enumerate() {
            let created = assignment(id, "x-1", id, MAX_INTEGER);
            apply(&mut model, &event("se-group", 2 + i as i128, id, created));
            let points = scored("s-1", id, MAX_INTEGER);
            apply(
                &mut model,
                &event("se-group", 5 + i as i128, &format!("p{i}"), points),
            );
        }
        let page = view(&model, &PageQuery::default());
        let table = page
            .sections
            .iter()
            .find(|s| s.heading.ends_with("points and grades"))
            .and_then(|s| s.table.as_ref())
            .expect("the points table");
        let row = &table.rows[0];
        let max = u64::MAX;
        assert_eq!(row[5].text, format!("{max} / {max} (100 %)"));
        assert_eq!(row[6].text, "1.0");
    }
}
