//! The ta-pool page: the teaching assistants, a page at a time and searchable, which groups
//! hired them, and the conflicts (hired by both) highlighted.

use concord_core::ui::{Cell, PageQuery, Paging, Section, Table, View};

use super::TaPoolModel;
use crate::api::student_matches;
use crate::catalogue::Group;
use crate::pages_common::{name_cell, ROWS};

pub fn view(model: &TaPoolModel, page: &PageQuery) -> View {
    let directory = model.directory();
    let mut columns = vec!["Student".to_owned(), "Name".to_owned()];
    columns.extend(Group::ALL.map(|g| format!("Hired by {g}")));
    columns.push("Status".to_owned());
    let mut table =
        Table::new(columns).empty("Nobody hired matches: the groups push their hires here.");
    let list = page.list("tas", ROWS);
    let rows = list.page(directory.hired(), |id, ()| {
        let student = directory.find_student(id)?;
        student_matches(&list, id, student).then_some((id, student))
    });
    let (tas, conflicts) = (directory.hired().len(), directory.conflicts().len());
    for &(id, student) in &rows.items {
        let groups: Vec<Group> = student.hired_by().collect();
        let mut row = vec![Cell::muted(id), name_cell(student)];
        row.extend(Group::ALL.map(|g| {
            if groups.contains(&g) {
                Cell::plain("✓ hired")
            } else {
                Cell::muted("—")
            }
        }));
        row.push(if groups.len() == Group::ALL.len() {
            Cell::bad("conflict — hired by both groups")
                .hint("One of the groups hired this student although the other already had")
        } else {
            Cell::good("ok")
        });
        table = table.row(row);
    }
    let plural = |n: usize, one: &str, many: &str| match n {
        0 => format!("no {many}"),
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    };
    let summary = if tas == 0 {
        "No one is hired yet.".to_owned()
    } else {
        format!(
            "{}, {}.",
            plural(tas, "teaching assistant", "teaching assistants"),
            plural(conflicts, "conflict", "conflicts")
        )
    };
    View::new().section(
        Section::new("Teaching assistants")
            .intro(format!(
                "The pool collects the hires both groups push here and serves them back, so each \
                 group sees the other's. A student hired by both groups is a conflict to settle. {summary}"
            ))
            .paging(Paging::new("tas", "teaching assistants", &list, &rows, tas).placeholder("Student ID or name"))
            .table(table),
    )
}
