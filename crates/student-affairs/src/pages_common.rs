//! What the four pages share: how students, examinations and grades are shown, the choices
//! of the forms' fields, and the hiring section both groups have.
//!
//! Pages are plain data ([`concord_core::ui`]); the HTTP shell renders them. Every table
//! shows one page of its rows ([`ROWS`]), read by a range scan from the page's cursor and
//! searchable, so a page stays small and fast with a million students; a form offers a
//! select while the choices are few and a text box with suggestions beyond ([`choice_field`]).

use concord_core::ui::{Cell, Choice, Field, Form, PageQuery, Paging, Section, Table, Tone};

use crate::api::student_matches;
use crate::catalogue::Group;
use crate::directory::{Directory, Examination, Student};
use crate::grade::Grade;

/// Rows a table shows at a time.
pub const ROWS: usize = 25;
/// The most options a form's select offers; beyond, a text box suggests this many.
pub const CHOICES: usize = 50;
/// The most pairs (enrollments) one student's rows show in a table listing pairs; the
/// student's own answer (`GET /api/students/{id}`) has them all.
pub const PAIRS_PER_STUDENT: usize = 10;
/// Characters of a list of names or titles shown in one cell.
pub const CELL_TEXT: usize = 200;

/// A field choosing one of `total` things: a select offering `choices` when there are at
/// most [`CHOICES`] of them, else a text box suggesting the first [`CHOICES`].
pub fn choice_field(
    name: &str,
    label: &str,
    total: usize,
    choices: impl IntoIterator<Item = Choice>,
) -> Field {
    let choices: Vec<Choice> = choices.into_iter().take(CHOICES).collect();
    if total <= CHOICES {
        Field::select(name, label, choices)
    } else {
        Field::suggest(name, label, choices)
    }
}

/// At most [`CELL_TEXT`] characters of `items` joined by commas, saying how many are left
/// out.
pub fn joined(items: impl IntoIterator<Item = String>, total: usize) -> String {
    let mut text = String::new();
    let mut shown = 0;
    for item in items {
        if text.chars().count() + item.chars().count() > CELL_TEXT && shown > 0 {
            break;
        }
        if shown > 0 {
            text.push_str(", ");
        }
        text.push_str(&item);
        shown += 1;
    }
    if shown < total {
        text.push_str(&format!(" … and {} more", total - shown));
    }
    text
}

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

/// Students as a form's choices (lazily: [`choice_field`] takes only what it offers).
pub fn student_choices<'a, K: AsRef<str> + 'a>(
    students: impl IntoIterator<Item = (K, &'a Student)> + 'a,
) -> impl Iterator<Item = Choice> + 'a {
    students.into_iter().map(|(id, student)| {
        let id = id.as_ref();
        Choice::new(id, student_label(id, Some(student)))
    })
}

/// Examinations as a form's choices (lazily, as [`student_choices`]).
pub fn examination_choices<'a, K: AsRef<str> + 'a>(
    examinations: impl IntoIterator<Item = (K, &'a Examination)> + 'a,
) -> impl Iterator<Item = Choice> + 'a {
    examinations.into_iter().map(|(id, examination)| {
        let id = id.as_ref();
        Choice::new(id, examination_label(id, Some(examination)))
    })
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

/// How many of the students the other group hired a page names in its warning.
const TAKEN_NAMED: usize = 5;
/// How many hired students the warning examines.
const TAKEN_EXAMINED: usize = 1000;

/// The students `other` hired and `group` has not, as the hiring warning names them:
/// the first few, and whether there are more.
fn taken_by_other(directory: &Directory, group: Group) -> (Vec<String>, bool) {
    let other = group.other();
    let mut named = Vec::new();
    let mut more = false;
    for id in directory.hired().iter().take(TAKEN_EXAMINED) {
        let Some(student) = directory.find_student(id) else {
            continue;
        };
        if student.is_hired_by(other) && !student.is_hired_by(group) {
            if named.len() == TAKEN_NAMED {
                more = true;
                break;
            }
            named.push(student_label(id, Some(student)));
        }
    }
    (named, more || directory.hired().len() > TAKEN_EXAMINED)
}

/// The hiring section of `group`'s page: the students it knows, a page at a time and
/// searchable, with who hired them, a "Hire" button where nothing stands in the way, and a
/// form whose override checkbox is the one deliberate way to hire a student the other
/// group already has.
pub fn hiring_section(directory: &Directory, group: Group, page: &PageQuery) -> Section {
    let other = group.other();
    let mut table = Table::new(["Student", "Name", "Hired by", ""])
        .empty("No students known yet: they arrive with their enrollments.");
    let list = page.list("hiring", ROWS);
    let rows = list.page(directory.student_index(), |id, student| {
        student_matches(&list, id, student).then_some((id, student))
    });
    for &(id, student) in &rows.items {
        let (status, action) = match (student.is_hired_by(group), student.is_hired_by(other)) {
            (true, true) => (
                Cell::bad("both groups — conflict")
                    .hint("Both groups hired this student; the ta-pool flags the conflict"),
                Cell::plain(""),
            ),
            (true, false) => (Cell::good("us"), Cell::plain("")),
            (false, true) => (
                Cell::warning(format!("{other} — already taken"))
                    .hint("Hiring needs the override in the form below"),
                Cell::muted("use the override below"),
            ),
            (false, false) => (
                Cell::muted("nobody yet"),
                Cell::action(
                    Form::new("Hire", "/api/hires", "Hire").field(Field::hidden("studentId", id)),
                ),
            ),
        };
        table = table.row(vec![Cell::muted(id), name_cell(student), status, action]);
    }
    let (taken, more) = taken_by_other(directory, group);
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
                "Already hired by {other}: {}{}. Hiring them is refused unless you tick the \
                 override — and the ta-pool will then flag a conflict.",
                taken.join(", "),
                if more { " and more" } else { "" }
            ),
        )
    };
    let students = directory.student_index();
    let form = Form::new("Hire a teaching assistant", "/api/hires", "Hire")
        .field(choice_field(
            "studentId",
            "Student",
            students.len(),
            student_choices(students.iter()),
        ))
        .field(Field::checkbox(
            "force",
            format!("Hire even though {other} already has (deliberate override)"),
        ))
        .note(note.0, note.1);
    let paging = Paging::new("hiring", "students", &list, &rows, students.len())
        .placeholder("Student ID or name");
    Section::new("Teaching assistants")
        .intro(format!(
            "Students hired as teaching assistants by either group. Hires travel through the \
             ta-pool, so {group} learns whom {other} has hired (and the other way round)."
        ))
        .paging(paging)
        .table(table)
        .form(form)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_choice_among_many_becomes_a_text_box_with_suggestions() {
        let choices = |n: usize| (0..n).map(|i| Choice::new(format!("s-{i}"), format!("S {i}")));
        let few = choice_field("studentId", "Student", 3, choices(3));
        assert!(matches!(&few.input, concord_core::ui::Input::Select(c) if c.len() == 3));
        let many = choice_field("studentId", "Student", 100_000, choices(100_000));
        assert!(matches!(&many.input, concord_core::ui::Input::Suggest(c) if c.len() == CHOICES));
    }

    #[test]
    fn a_long_list_in_a_cell_is_cut_and_counted() {
        let titles = |n: usize| (0..n).map(|i| format!("Examination number {i}"));
        assert_eq!(
            joined(titles(2), 2),
            "Examination number 0, Examination number 1"
        );
        let cut = joined(titles(5000), 5000);
        assert!(cut.chars().count() < CELL_TEXT + 30, "{cut}");
        assert!(cut.ends_with("more"), "{cut}");
        assert_eq!(joined(titles(1), 3), "Examination number 0 … and 2 more");
    }
}
