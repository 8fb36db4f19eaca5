//! The office's page, as data: the students a page at a time with their standing, and an
//! "Award" button on each row whose grades earn a scholarship. The HTTP shell draws it and
//! runs the button through the same `POST /api/awards` as the JSON API.

use concord_core::ui::{Cell, Field, Form, PageQuery, Paging, Section, Table, View};

use crate::model::{ScholarshipModel, AWARDS, MIN_GRADES};
use crate::queries::matches;

/// Rows per page.
const ROWS: usize = 20;

pub fn view(model: &ScholarshipModel, page: &PageQuery) -> View {
    let list = page.list("students", ROWS);
    let rows = list.page(&model.students, |id, student| {
        matches(&list, id, student).then_some((id, student))
    });
    let mut table = Table::new(["Student", "Name", "Grades", "Average", "Scholarship"])
        .empty("No student matches: grades arrive from the students-office.");
    for &(id, student) in &rows.items {
        let standing = match (student.award.get(), student.earns()) {
            (Some(award), _) => Cell::good(format!("awarded {} €", award.amount)),
            (None, Ok(earned)) => Cell::plain(format!("earns {} €", earned.amount)).with_action(
                Form::new("", "/api/awards", "Award").field(Field::hidden("studentId", id)),
            ),
            (None, Err(why)) => Cell::muted(why),
        };
        table = table.row(vec![
            Cell::muted(id),
            if student.name().is_empty() {
                Cell::muted("(name not known yet)")
            } else {
                Cell::plain(student.name())
            },
            Cell::plain(student.grades.len().to_string()),
            student
                .average()
                .map_or(Cell::muted("—"), |a| Cell::plain(format!("{a:.2}"))),
            standing,
        ]);
    }
    let rules: Vec<String> = AWARDS
        .iter()
        .map(|(best, amount)| format!("{amount} € for an average of {best} or better"))
        .collect();
    View::new().section(
        Section::new("Students")
            .intro(format!(
                "Grades arrive from the students-office (the groups push them there). With at \
                 least {MIN_GRADES} grades a student earns {}. {} awarded so far.",
                rules.join(", "),
                model.awarded.len()
            ))
            .paging(
                Paging::new("students", "students", &list, &rows, model.students.len())
                    .placeholder("Student ID or name"),
            )
            .table(table),
    )
}
