//! What the four pages share: how students, examinations and grades are shown, the choices
//! of the forms' selects, and the hiring section both groups have.
//!
//! Pages are plain data ([`concord_core::ui`]); the HTTP shell renders them.

use concord_core::ui::{Cell, Choice, Field, Form, Section, Table, Tone};

use crate::catalogue::Group;
use crate::directory::{Directory, Examination, Student};
use crate::grade::Grade;

/// "Ada Lovelace (s-1001)", or "s-1001 (name not known yet)" for a placeholder.
pub fn student_label(id: &str, student: Option<&Student>) -> String {
    match student.and_then(Student::name) {
        Some(name) => format!("{name} ({id})"),
        None => format!("{id} (name not known yet)"),
    }
}

/// A student's name as a cell; muted while unknown.
pub fn name_cell(student: &Student) -> Cell {
    match student.name() {
        Some(name) => Cell::plain(name),
        None => Cell::muted("not known yet")
            .hint("A placeholder: an event named this student before any carried their name"),
    }
}

/// "Modelling (se-modelling-2026)", or the bare id while its title is unknown.
pub fn examination_label(id: &str, examination: Option<&Examination>) -> String {
    match examination.and_then(Examination::title) {
        Some(title) => format!("{title} ({id})"),
        None => id.to_owned(),
    }
}

pub fn student_choices<'a>(
    students: impl IntoIterator<Item = (&'a String, &'a Student)>,
) -> Vec<Choice> {
    students
        .into_iter()
        .map(|(id, student)| Choice::new(id, student_label(id, Some(student))))
        .collect()
}

pub fn examination_choices<'a>(
    examinations: impl IntoIterator<Item = (&'a String, &'a Examination)>,
) -> Vec<Choice> {
    examinations
        .into_iter()
        .map(|(id, examination)| Choice::new(id, examination_label(id, Some(examination))))
        .collect()
}

/// Every German grade, best first, for a rating select.
pub fn grade_choices() -> Vec<Choice> {
    Grade::ALL
        .into_iter()
        .map(|grade| {
            let label = match grade {
                Grade::G1_0 => "1.0 — very good".to_owned(),
                Grade::G2_0 => "2.0 — good".to_owned(),
                Grade::G3_0 => "3.0 — satisfactory".to_owned(),
                Grade::G4_0 => "4.0 — sufficient".to_owned(),
                Grade::G5_0 => "5.0 — failed".to_owned(),
                other => other.to_string(),
            };
            Choice::new(grade.to_string(), label)
        })
        .collect()
}

/// A grade: good if it passes, bad if it fails, muted while there is none.
pub fn grade_cell(grade: Option<Grade>) -> Cell {
    match grade {
        Some(grade) if grade.is_pass() => Cell::good(grade.to_string()),
        Some(grade) => Cell::bad(format!("{grade} failed")),
        None => Cell::muted("not graded"),
    }
}

/// The hiring section of `group`'s page: every student it knows with who hired them, a
/// "Hire" button where nothing stands in the way, and a form whose override checkbox is
/// the one deliberate way to hire a student the other group already has.
pub fn hiring_section(directory: &Directory, group: Group) -> Section {
    let other = group.other();
    let mut table = Table::new(["Student", "Name", "Hired by", ""])
        .empty("No students known yet: they arrive with their enrollments.");
    let mut taken = Vec::new();
    for (id, student) in directory.students() {
        let (status, action) = match (student.is_hired_by(group), student.is_hired_by(other)) {
            (true, true) => (
                Cell::bad("both groups — conflict")
                    .hint("Both groups hired this student; the ta-pool flags the conflict"),
                Cell::plain(""),
            ),
            (true, false) => (Cell::good("us"), Cell::plain("")),
            (false, true) => {
                taken.push(student_label(id, Some(student)));
                (
                    Cell::warning(format!("{other} — already taken"))
                        .hint("Hiring needs the override in the form below"),
                    Cell::muted("use the override below"),
                )
            }
            (false, false) => (
                Cell::muted("nobody yet"),
                Cell::action(
                    Form::new("Hire", "/api/hires", "Hire").field(Field::hidden("studentId", id)),
                ),
            ),
        };
        table = table.row(vec![
            Cell::muted(id.as_str()),
            name_cell(student),
            status,
            action,
        ]);
    }
    let note = if taken.is_empty() {
        (
            Tone::Plain,
            format!(
                "Hiring a student {other} has already hired is refused unless you tick the override."
            ),
        )
    } else {
        (
            Tone::Warning,
            format!(
                "Already hired by {other}: {}. Hiring them is refused unless you tick the \
                 override — and the ta-pool will then flag a conflict.",
                taken.join(", ")
            ),
        )
    };
    let form = Form::new("Hire a teaching assistant", "/api/hires", "Hire")
        .field(Field::select(
            "studentId",
            "Student",
            student_choices(directory.students()),
        ))
        .field(Field::checkbox(
            "force",
            format!("Hire even though {other} already has (deliberate override)"),
        ))
        .note(note.0, note.1);
    Section::new("Teaching assistants")
        .intro(format!(
            "Students hired as teaching assistants by either group. Hires travel through the \
             ta-pool, so {group} learns whom {other} has hired (and the other way round)."
        ))
        .table(table)
        .form(form)
}
