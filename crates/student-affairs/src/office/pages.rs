//! The students-office page: students, examinations with their group, enrollments, and the
//! grades matrix filling in as the groups' grades arrive.
//!
//! Each table shows a page of its rows, searchable; the grades matrix (students ×
//! examinations) pages its rows and its columns, so it stays small however many of either
//! there are.

use concord_core::ui::{Cell, Choice, Field, Form, PageQuery, Paging, Section, Table, Tone, View};

use super::OfficeModel;
use crate::api::student_matches;
use crate::catalogue::Group;
use crate::directory::{Directory, Enrollment, Examination, Student};
use crate::pages_common::{
    choice_field, examination_choices, examination_label, grade_cell, joined, name_cell,
    student_choices, student_label, PAIRS_PER_STUDENT, ROWS,
};

/// Examinations (columns) the grades matrix shows at a time.
pub const COLUMNS: usize = 8;

pub fn view(model: &OfficeModel, page: &PageQuery) -> View {
    View::new()
        .section(students(model, page))
        .section(examinations(model, page))
        .section(enrollments(model, page))
        .section(grades(model, page))
}

fn students(model: &OfficeModel, page: &PageQuery) -> Section {
    let directory = model.directory();
    let mut table = Table::new(["Student", "Name", "Enrolled in"])
        .empty("No students match: create the first one below.");
    let list = page.list("students", ROWS);
    let rows = list.page(directory.student_index(), |id, student| {
        student_matches(&list, id, student).then_some((id, student))
    });
    for &(id, student) in &rows.items {
        let enrolled: Vec<&String> = student
            .enrollments()
            .filter(|(_, e)| e.is_enrolled())
            .map(|(exam_id, _)| exam_id)
            .collect();
        let titles = enrolled.iter().map(|exam_id| {
            directory
                .find_examination(exam_id)
                .and_then(Examination::title)
                .unwrap_or(exam_id)
                .to_owned()
        });
        let enrolled = if enrolled.is_empty() {
            Cell::muted("nothing yet")
        } else {
            Cell::plain(joined(titles, enrolled.len()))
        };
        table = table.row(vec![Cell::muted(id), name_cell(student), enrolled]);
    }
    let total = directory.student_index().len();
    Section::new("Students")
        .intro("Everyone the office knows. Creating a student with an existing ID renames them; the new name travels with their next events.")
        .paging(Paging::new("students", "students", &list, &rows, total).placeholder("Student ID or name"))
        .table(table)
        .form(
            Form::new("Create a student", "/api/students", "Create student")
                .field(Field::text("studentId", "Student ID"))
                .field(Field::text("name", "Name")),
        )
}

fn group_choices() -> Vec<Choice> {
    Group::ALL
        .into_iter()
        .map(|g| Choice::new(g.as_str(), g.as_str()))
        .collect()
}

fn examinations(model: &OfficeModel, page: &PageQuery) -> Section {
    let directory = model.directory();
    let mut table = Table::new(["Examination", "Title", "Run by", "Enrolled"])
        .empty("No examinations match: create one below.");
    let list = page.list("examinations", ROWS);
    let rows = list.page(directory.examination_index(), |id, examination| {
        list.matches([id, examination.title_or_empty()])
            .then_some((id, examination))
    });
    for &(id, examination) in &rows.items {
        let group = match examination.group() {
            Some(group) => Cell::plain(group.as_str()),
            None => Cell::warning("not known yet").hint(
                "A placeholder made by a grade that arrived first; create it to give it a group",
            ),
        };
        let title = match examination.title() {
            Some(title) => Cell::plain(title),
            None => Cell::muted("not known yet"),
        };
        let enrolled = examination.enrolled().len();
        table = table.row(vec![
            Cell::muted(id),
            title,
            group,
            Cell::plain(enrolled.to_string()),
        ]);
    }
    let total = directory.examination_index().len();
    Section::new("Examinations")
        .intro("Each examination is run by one group, which receives its enrollments and sends back the grades. Its group can change only until the first student is enrolled.")
        .paging(Paging::new("examinations", "examinations", &list, &rows, total).placeholder("Examination ID or title"))
        .table(table)
        .form(
            Form::new("Create an examination", "/api/examinations", "Create examination")
                .field(Field::text("examinationId", "Examination ID"))
                .field(Field::text("title", "Title"))
                .field(Field::select("group", "Run by", group_choices())),
        )
}

/// A pair's grade as a cell: the grade, "awaiting" it, or — for a grade the office never
/// enrolled the student for — the grade flagged as such.
fn pair_cell(enrollment: &Enrollment, awaiting: &str) -> Cell {
    match (enrollment.grade(), enrollment.is_enrolled()) {
        (Some(record), true) => {
            grade_cell(Some(record.grade)).hint(format!("graded by {}", record.group))
        }
        (Some(record), false) => {
            Cell::warning(format!("{} — not enrolled", record.grade)).hint(format!(
                "{} sent this grade, but the office never enrolled the student in this \
                 examination; enroll them to confirm it",
                record.group
            ))
        }
        (None, _) => Cell::muted(awaiting),
    }
}

/// A student's pairs (enrollments, and grades without one), at most [`PAIRS_PER_STUDENT`].
fn pairs(student: &Student) -> impl Iterator<Item = (&String, &Enrollment)> {
    student.enrollments().take(PAIRS_PER_STUDENT)
}

fn enrollments(model: &OfficeModel, page: &PageQuery) -> Section {
    let directory = model.directory();
    let mut table =
        Table::new(["Student", "Examination", "Run by", "Grade"]).empty("No enrollments match.");
    let list = page.list("enrollments", ROWS);
    let rows = students_with_pairs(directory, &list);
    for &(student_id, student) in &rows.items {
        for (exam_id, enrollment) in pairs(student) {
            let examination = directory.find_examination(exam_id);
            let group = examination
                .and_then(Examination::group)
                .map_or(Cell::muted("—"), |g| Cell::plain(g.as_str()));
            table = table.row(vec![
                Cell::plain(student_label(student_id, Some(student))),
                Cell::plain(examination_label(exam_id, examination)),
                group,
                pair_cell(enrollment, "awaiting grade"),
            ]);
        }
    }
    let students = directory.student_index();
    let exams = directory.examination_index();
    let enroll = Form::new("Enroll a student", "/api/enrollments", "Enroll")
        .field(choice_field(
            "studentId",
            "Student",
            students.len(),
            student_choices(students.iter()),
        ))
        .field(choice_field(
            "examinationId",
            "Examination",
            exams.len(),
            examination_choices(exams.iter()),
        ))
        .note(
            Tone::Plain,
            "The group running the examination pulls the enrollment, with the student's name.",
        );
    Section::new("Enrollments")
        .intro(format!(
            "Who takes which examination, and the final grade once its group has sent it \
             (up to {PAIRS_PER_STUDENT} per student here; a student's own answer has them all)."
        ))
        .paging(
            Paging::new("enrollments", "students", &list, &rows, students.len())
                .placeholder("Student ID or name"),
        )
        .table(table)
        .form(enroll)
}

/// Students × examinations, each cell the grade as it stands: a page of students (rows)
/// by a page of examinations (columns), each searchable.
fn grades(model: &OfficeModel, page: &PageQuery) -> Section {
    let directory = model.directory();
    let column_list = page.list("grade-columns", COLUMNS);
    let columns = column_list.page(directory.examination_index(), |id, examination| {
        column_list
            .matches([id, examination.title_or_empty()])
            .then_some((id, examination))
    });
    let mut headings = vec!["Student".to_owned()];
    headings.extend(
        columns
            .items
            .iter()
            .map(|(id, e)| e.title().unwrap_or(id).to_owned()),
    );
    let mut table = Table::new(headings).empty("No students with enrollments or grades match.");
    let row_list = page.list("grades", ROWS);
    let rows = students_with_pairs(directory, &row_list);
    for &(student_id, student) in &rows.items {
        let mut row = vec![Cell::plain(student_label(student_id, Some(student)))];
        for (exam_id, _) in &columns.items {
            row.push(match student.enrollment(exam_id) {
                None => Cell::muted(""),
                Some(enrollment) => pair_cell(enrollment, "awaiting"),
            });
        }
        table = table.row(row);
    }
    Section::new("Grades")
        .intro("The final grades as they arrive from the groups, students by examinations. An empty cell: not enrolled.")
        .paging(
            Paging::new("grades", "students", &row_list, &rows, directory.student_index().len())
                .placeholder("Student ID or name"),
        )
        .paging(
            Paging::new(
                "grade-columns",
                "examinations",
                &column_list,
                &columns,
                directory.examination_index().len(),
            )
            .placeholder("Examination ID or title"),
        )
        .table(table)
}

/// A page of the students with at least one pair (an enrollment, or a grade without one).
fn students_with_pairs<'a>(
    directory: &'a Directory,
    list: &concord_core::ListQuery,
) -> concord_core::Page<(&'a str, &'a Student)> {
    list.page(directory.student_index(), |id, student| {
        let has_pairs = student.enrollments().next().is_some();
        (has_pairs && student_matches(list, id, student)).then_some((id, student))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::*;
    use crate::testing::*;

    #[test]
    fn the_page_shows_the_grade_once_it_arrives() {
        let mut model = OfficeModel::default();
        let exam = examination("x-1", "Modelling", Group::SeGroup);
        crate::catalogue::apply(
            &mut model,
            &event("students-office", 1, "e1", created("s-1", "Ada")),
        );
        crate::catalogue::apply(&mut model, &event("students-office", 2, "e2", exam));
        crate::catalogue::apply(
            &mut model,
            &event(
                "students-office",
                3,
                "e3",
                enrolled("s-1", "Ada", "x-1", "Modelling", Group::SeGroup),
            ),
        );
        let before = view(&model, &PageQuery::default());
        let grades = before
            .sections
            .iter()
            .find(|s| s.heading == "Grades")
            .unwrap();
        assert_eq!(grades.table.as_ref().unwrap().rows[0][1].text, "awaiting");

        let graded = StudentGraded {
            student_id: "s-1".into(),
            examination_id: "x-1".into(),
            grade: grade(1.7),
            group: Group::SeGroup,
        };
        crate::catalogue::apply(&mut model, &event("se-group", 4, "e4", graded));
        let after = view(&model, &PageQuery::default());
        let grades = after
            .sections
            .iter()
            .find(|s| s.heading == "Grades")
            .unwrap();
        let cell = &grades.table.as_ref().unwrap().rows[0][1];
        assert_eq!((cell.text.as_str(), cell.tone), ("1.7", Tone::Good));
        let actions: Vec<&str> = after.forms().map(|f| f.action.as_str()).collect();
        assert_eq!(
            actions,
            ["/api/students", "/api/examinations", "/api/enrollments"]
        );
    }

    /// Issue 10's reproduction, in-process: 5,000 grades for distinct students in distinct
    /// examinations made the grades matrix 5,000 × 5,000 cells. Every table is now a page.
    #[test]
    fn five_thousand_grades_for_distinct_pairs_make_a_small_page() {
        let mut model = OfficeModel::default();
        for i in 0..5_000 {
            let graded = StudentGraded {
                student_id: format!("s-{i:05}"),
                examination_id: format!("x-{i:05}"),
                grade: grade(2.0),
                group: Group::SeGroup,
            };
            crate::catalogue::apply(&mut model, &event("se-group", i, &format!("g{i}"), graded));
        }
        let page = view(&model, &PageQuery::default());
        let cells: usize = page
            .sections
            .iter()
            .filter_map(|s| s.table.as_ref())
            .map(|t| t.columns.len() + t.rows.iter().map(Vec::len).sum::<usize>())
            .sum();
        assert!(cells < 1_000, "{cells} cells");
        let grades = page
            .sections
            .iter()
            .find(|s| s.heading == "Grades")
            .unwrap();
        let table = grades.table.as_ref().unwrap();
        assert_eq!((table.columns.len(), table.rows.len()), (1 + COLUMNS, ROWS));
        // The grades are there, flagged: the office never enrolled these students.
        assert_eq!(table.rows[0][1].text, "2.0 — not enrolled");
        // Both of the matrix's lists page on, and the enroll form offers no 5,000 options.
        assert!(grades
            .paging
            .iter()
            .all(|p| p.next.is_some() && p.total == 5_000));
        for field in page.forms().flat_map(|f| &f.fields) {
            if let concord_core::ui::Input::Select(options)
            | concord_core::ui::Input::Suggest(options) = &field.input
            {
                assert!(
                    options.len() <= crate::pages_common::CHOICES,
                    "{}",
                    field.name
                );
            }
        }
    }

    #[test]
    fn a_search_and_a_cursor_choose_the_rows_and_columns() {
        let mut model = OfficeModel::default();
        for i in 0..40 {
            crate::catalogue::apply(
                &mut model,
                &event(
                    "students-office",
                    i,
                    &format!("c{i}"),
                    created(&format!("s-{i:02}"), &format!("Student {i}")),
                ),
            );
            let exam = examination(&format!("x-{i:02}"), &format!("Exam {i}"), Group::SeGroup);
            crate::catalogue::apply(
                &mut model,
                &event("students-office", 100 + i, &format!("x{i}"), exam),
            );
        }
        let page = PageQuery::new([
            ("students.q".to_owned(), "student 3".to_owned()),
            ("grade-columns.q".to_owned(), "EXAM 1".to_owned()),
        ]);
        let view = view(&model, &page);
        let students = view
            .sections
            .iter()
            .find(|s| s.heading == "Students")
            .unwrap();
        let ids: Vec<&str> = students
            .table
            .as_ref()
            .unwrap()
            .rows
            .iter()
            .map(|r| r[0].text.as_str())
            .collect();
        assert_eq!(
            ids,
            [
                "s-03", "s-30", "s-31", "s-32", "s-33", "s-34", "s-35", "s-36", "s-37", "s-38",
                "s-39"
            ]
        );
        assert_eq!(students.paging[0].search, "student 3");
        let grades = view
            .sections
            .iter()
            .find(|s| s.heading == "Grades")
            .unwrap();
        let columns = &grades.table.as_ref().unwrap().columns;
        assert_eq!(
            columns[1..],
            [
                "Exam 1", "Exam 10", "Exam 11", "Exam 12", "Exam 13", "Exam 14", "Exam 15",
                "Exam 16"
            ]
        );
        assert!(grades.paging[1].next.is_some(), "Exam 17 … Exam 19 follow");
    }
}
