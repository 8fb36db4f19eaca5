//! The students-office page: students, examinations with their group, enrollments, and the
//! grades table filling in as the groups' grades arrive.

use concord_core::ui::{Cell, Choice, Field, Form, Section, Table, Tone, View};

use super::OfficeModel;
use crate::catalogue::Group;
use crate::directory::Examination;
use crate::pages_common::{
    examination_choices, examination_label, grade_cell, name_cell, student_choices, student_label,
};

pub fn view(model: &OfficeModel) -> View {
    View::new()
        .section(students(model))
        .section(examinations(model))
        .section(enrollments(model))
        .section(grades(model))
}

fn students(model: &OfficeModel) -> Section {
    let directory = model.directory();
    let mut table = Table::new(["Student", "Name", "Enrolled in"])
        .empty("No students yet: create the first one below.");
    for (id, student) in directory.students() {
        let enrolled: Vec<String> = student
            .enrollments()
            .map(|(exam_id, _)| {
                let examination = directory.find_examination(exam_id);
                examination
                    .and_then(Examination::title)
                    .unwrap_or(exam_id)
                    .to_owned()
            })
            .collect();
        let enrolled = if enrolled.is_empty() {
            Cell::muted("nothing yet")
        } else {
            Cell::plain(enrolled.join(", "))
        };
        table = table.row(vec![Cell::muted(id.as_str()), name_cell(student), enrolled]);
    }
    Section::new("Students")
        .intro("Everyone the office knows. Creating a student with an existing ID renames them; the new name travels with their next events.")
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

fn examinations(model: &OfficeModel) -> Section {
    let directory = model.directory();
    let mut table = Table::new(["Examination", "Title", "Run by", "Enrolled"])
        .empty("No examinations yet: create one below.");
    for (id, examination) in directory.examinations() {
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
        let enrolled = examination.students().count();
        table = table.row(vec![
            Cell::muted(id.as_str()),
            title,
            group,
            Cell::plain(enrolled.to_string()),
        ]);
    }
    Section::new("Examinations")
        .intro("Each examination is run by one group, which receives its enrollments and sends back the grades.")
        .table(table)
        .form(
            Form::new("Create an examination", "/api/examinations", "Create examination")
                .field(Field::text("examinationId", "Examination ID"))
                .field(Field::text("title", "Title"))
                .field(Field::select("group", "Run by", group_choices())),
        )
}

fn enrollments(model: &OfficeModel) -> Section {
    let directory = model.directory();
    let mut table =
        Table::new(["Student", "Examination", "Run by", "Grade"]).empty("No enrollments yet.");
    for (student_id, student) in directory.students() {
        for (exam_id, enrollment) in student.enrollments() {
            let examination = directory.find_examination(exam_id);
            let group = examination
                .and_then(Examination::group)
                .map_or(Cell::muted("—"), |g| Cell::plain(g.as_str()));
            let grade = match enrollment.grade() {
                Some(record) => {
                    grade_cell(Some(record.grade)).hint(format!("graded by {}", record.group))
                }
                None => Cell::muted("awaiting grade"),
            };
            table = table.row(vec![
                Cell::plain(student_label(student_id, Some(student))),
                Cell::plain(examination_label(exam_id, examination)),
                group,
                grade,
            ]);
        }
    }
    let enroll = Form::new("Enroll a student", "/api/enrollments", "Enroll")
        .field(Field::select(
            "studentId",
            "Student",
            student_choices(directory.students()),
        ))
        .field(Field::select(
            "examinationId",
            "Examination",
            examination_choices(directory.examinations()),
        ))
        .note(
            Tone::Plain,
            "The group running the examination pulls the enrollment, with the student's name.",
        );
    Section::new("Enrollments")
        .intro("Who takes which examination, and the final grade once its group has sent it.")
        .table(table)
        .form(enroll)
}

/// Students × examinations, each cell the grade as it stands.
fn grades(model: &OfficeModel) -> Section {
    let directory = model.directory();
    let examinations: Vec<(&String, &Examination)> = directory.examinations().collect();
    let mut columns = vec!["Student".to_owned()];
    columns.extend(
        examinations
            .iter()
            .map(|(id, e)| e.title().unwrap_or(id).to_owned()),
    );
    let mut table = Table::new(columns).empty("No students yet.");
    let mut graded = 0;
    for (student_id, student) in directory.students() {
        let mut row = vec![Cell::plain(student_label(student_id, Some(student)))];
        for (exam_id, _) in &examinations {
            row.push(match student.enrollment(exam_id) {
                None => Cell::muted(""),
                Some(enrollment) => match enrollment.grade() {
                    Some(record) => {
                        graded += 1;
                        grade_cell(Some(record.grade)).hint(format!("graded by {}", record.group))
                    }
                    None => Cell::muted("awaiting"),
                },
            });
        }
        table = table.row(row);
    }
    Section::new("Grades")
        .intro(format!(
            "The final grades as they arrive from the groups ({graded} so far). An empty cell: not enrolled."
        ))
        .table(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::*;
    use crate::testing::*;
    use concord_core::Model;

    #[test]
    fn the_page_shows_the_grade_once_it_arrives() {
        let mut model = OfficeModel::default();
        let exam = examination("x-1", "Modelling", Group::SeGroup);
        model.apply(&event("students-office", 1, "e1", created("s-1", "Ada")));
        model.apply(&event("students-office", 2, "e2", exam));
        model.apply(&event(
            "students-office",
            3,
            "e3",
            enrolled("s-1", "Ada", "x-1", "Modelling", Group::SeGroup),
        ));
        let before = view(&model);
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
        model.apply(&event("se-group", 4, "e4", graded));
        let after = view(&model);
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
}
