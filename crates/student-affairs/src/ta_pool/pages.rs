//! The ta-pool page: every teaching assistant, which groups hired them, and the conflicts
//! (hired by both) highlighted.

use concord_core::ui::{Cell, Section, Table, View};

use super::TaPoolModel;
use crate::catalogue::Group;
use crate::pages_common::name_cell;

pub fn view(model: &TaPoolModel) -> View {
    let mut columns = vec!["Student".to_owned(), "Name".to_owned()];
    columns.extend(Group::ALL.map(|g| format!("Hired by {g}")));
    columns.push("Status".to_owned());
    let mut table =
        Table::new(columns).empty("Nobody hired yet: the groups push their hires here.");
    let (mut tas, mut conflicts) = (0usize, 0usize);
    for (id, student) in model.directory().students() {
        let groups: Vec<Group> = student.hired_by().collect();
        if groups.is_empty() {
            continue;
        }
        tas += 1;
        let mut row = vec![Cell::muted(id.as_str()), name_cell(student)];
        row.extend(Group::ALL.map(|g| {
            if groups.contains(&g) {
                Cell::plain("✓ hired")
            } else {
                Cell::muted("—")
            }
        }));
        row.push(if groups.len() == Group::ALL.len() {
            conflicts += 1;
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
            .table(table),
    )
}
