//! A domain's [`View`](concord_core::ui::View) as HTML: sections as cards, tables that scroll
//! sideways on narrow screens, forms that post to `/ui/command`, and for each paged list a
//! search box, counts and links to the neighbouring pages — plain links and a `GET` form,
//! no script. maud escapes every text and attribute value.

use concord_core::list::Cursor;
use concord_core::ui::{Cell, Field, Form, Input, PageQuery, Paging, Section, Table, Tone};
use maud::{html, Markup};

use super::form::{hidden_fields, key};
use super::{Problem, COMMAND_PATH};

/// An id for a heading: lowercase letters, digits and dashes.
pub(crate) fn slug(text: &str) -> String {
    let mut slug = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-').to_owned();
    if slug.is_empty() {
        "section".to_owned()
    } else {
        slug
    }
}

pub(crate) fn tone_class(tone: Tone) -> &'static str {
    match tone {
        Tone::Plain => "plain",
        Tone::Muted => "muted",
        Tone::Good => "good",
        Tone::Warning => "warning",
        Tone::Bad => "bad",
    }
}

pub(crate) fn section(section: &Section, problem: Option<&Problem>, page: &PageQuery) -> Markup {
    let id = slug(&section.heading);
    html! {
        section.card id=(id) {
            h2 { (section.heading) }
            @if let Some(intro) = &section.intro { p.intro { (intro) } }
            @for paging in &section.paging { (pager(paging, &id, page)) }
            @if let Some(t) = &section.table { (table(t, &id, problem)) }
            @if !section.forms.is_empty() {
                div.forms {
                    @for f in &section.forms { (form(f, &id, problem, false)) }
                }
            }
        }
    }
}

pub(crate) fn table(table: &Table, anchor: &str, problem: Option<&Problem>) -> Markup {
    html! {
        @if table.rows.is_empty() {
            p.empty { (table.empty) }
        } @else {
            div.table-wrap {
                table {
                    thead { tr { @for c in &table.columns { th scope="col" { (c) } } } }
                    tbody {
                        @for row in &table.rows {
                            tr { @for c in row { (cell(c, anchor, problem)) } }
                        }
                    }
                }
            }
        }
    }
}

/// Parameters that belong to one showing of the page only (a message after a redirect):
/// links to other pages of a list leave them out.
const TRANSIENT: [&str; 2] = ["flash", "tone"];

/// A paged list's controls: a search box, what is shown, and links to the first, previous,
/// next and last pages. Its links and its search keep the rest of the page's query (other
/// lists' positions, the event log's filters).
fn pager(paging: &Paging, anchor: &str, page: &PageQuery) -> Markup {
    let search_name = PageQuery::search_parameter(&paging.key);
    let cursor_name = PageQuery::cursor_parameter(&paging.key);
    let others: Vec<&(String, String)> = page
        .pairs()
        .iter()
        .filter(|(name, _)| {
            *name != search_name && *name != cursor_name && !TRANSIENT.contains(&name.as_str())
        })
        .collect();
    let href = |search: &str, cursor: Option<&Cursor>| -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &others {
            query.append_pair(name, value);
        }
        if !search.is_empty() {
            query.append_pair(&search_name, search);
        }
        if let Some(cursor) = cursor {
            query.append_pair(&cursor_name, &cursor.encode());
        }
        match query.finish() {
            query if query.is_empty() => format!("/#{anchor}"),
            query => format!("/?{query}#{anchor}"),
        }
    };
    let at = |cursor: Option<&Cursor>| href(&paging.search, cursor);
    let placeholder = if paging.placeholder.is_empty() {
        format!("Search {}", paging.noun)
    } else {
        paging.placeholder.clone()
    };
    let whole = paging.at_start && paging.next.is_none() && paging.search.is_empty();
    let count = if whole {
        format!("{} {} in all", thousands(paging.total), paging.noun)
    } else if paging.search.is_empty() {
        format!(
            "{} shown of {} {}",
            thousands(paging.shown),
            thousands(paging.total),
            paging.noun
        )
    } else {
        format!(
            "{} shown matching “{}” — {} {} in all",
            thousands(paging.shown),
            paging.search,
            thousands(paging.total),
            paging.noun
        )
    };
    let input_id = format!("{anchor}-{}-search", slug(&paging.key));
    html! {
        div.list-bar data-list=(paging.key) {
            form.search method="get" action={ "/#" (anchor) } role="search" {
                @for (name, value) in &others { input type="hidden" name=(name) value=(value); }
                label.field.inline for=(input_id) {
                    span.sr { "Search " (paging.noun) }
                    input id=(input_id) type="search" name=(search_name) value=(paging.search)
                        placeholder=(placeholder) autocomplete="off";
                }
                button type="submit" { "Search" }
                @if !paging.search.is_empty() {
                    a.button.secondary href=(href("", None)) { "Clear" }
                }
            }
            span.count.muted { (count) }
            nav.pages aria-label={ "Pages of " (paging.noun) } {
                @if !paging.at_start { a.first href=(at(None)) { "⇤ First" } }
                @if let Some(prev) = &paging.prev { a.prev rel="prev" href=(at(Some(prev))) { "← Previous" } }
                @if let Some(next) = &paging.next { a.next rel="next" href=(at(Some(next))) { "Next →" } }
                @if paging.next.is_some() { a.last href=(at(Some(&Cursor::last()))) { "Last ⇥" } }
            }
        }
    }
}

/// `12345` → `12,345`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let head = match digits.len() % 3 {
        0 => 3,
        rest => rest,
    };
    let mut out = digits[..head].to_owned();
    for group in digits.as_bytes()[head..].chunks(3) {
        out.push(',');
        out.push_str(std::str::from_utf8(group).expect("ASCII digits"));
    }
    out
}

fn cell(cell: &Cell, anchor: &str, problem: Option<&Problem>) -> Markup {
    html! {
        td class=(tone_class(cell.tone)) title=[cell.hint.as_deref()] {
            @if !cell.text.is_empty() { span.text { (cell.text) } }
            @if let Some(f) = &cell.action { (form(f, anchor, problem, true)) }
        }
    }
}

/// A form; `inline` for the compact forms in table cells (no title, fields in a row).
pub(crate) fn form(form: &Form, anchor: &str, problem: Option<&Problem>, inline: bool) -> Markup {
    let form_key = key(form);
    let failed = problem.filter(|p| p.form == form_key);
    let value_of = |field: &Field| -> String {
        failed
            .and_then(|p| p.values.iter().rev().find(|(n, _)| *n == field.name))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| field.value.clone())
    };
    let checked = |field: &Field| -> bool {
        match failed {
            Some(p) => p
                .values
                .iter()
                .any(|(n, v)| *n == field.name && v == "true"),
            None => field.value == "true",
        }
    };
    let mut class = if inline { "inline" } else { "form-card" }.to_owned();
    if failed.is_some() {
        class.push_str(" failed");
    }
    html! {
        form class=(class) method="post" action=(COMMAND_PATH) data-form=(form_key) {
            @for (name, value) in hidden_fields(form, anchor) {
                input type="hidden" name=(name) value=(value);
            }
            @if !inline { h3 { (form.title) } }
            div class=[(!inline).then_some("fields")] {
                @for field in &form.fields {
                    @let id = format!("{}-{}", slug(&form_key), field.name);
                    @match &field.input {
                        Input::Hidden => {
                            input type="hidden" name=(field.name) value=(field.value);
                        }
                        Input::Checkbox => {
                            label.check for=(id) {
                                input id=(id) type="checkbox" name=(field.name) value="true" checked[checked(field)];
                                " " (field.label)
                            }
                        }
                        Input::Text => {
                            (labelled(&id, &field.label, inline, html! {
                                input id=(id) type="text" name=(field.name) value=(value_of(field)) autocomplete="off";
                            }))
                        }
                        Input::Suggest(options) => {
                            @let list = format!("{id}-options");
                            (labelled(&id, &field.label, inline, html! {
                                input id=(id) type="text" name=(field.name) value=(value_of(field))
                                    list=(list) autocomplete="off";
                                datalist id=(list) {
                                    @for option in options { option value=(option.value) { (option.label) } }
                                }
                            }))
                        }
                        Input::Number { min, max, step } => {
                            (labelled(&id, &field.label, inline, html! {
                                input id=(id) type="number" name=(field.name) value=(value_of(field))
                                    min=[min.map(number)] max=[max.map(number)] step=(step.map_or("any".to_owned(), number));
                            }))
                        }
                        Input::Select(options) | Input::NumberSelect(options) => {
                            @let current = value_of(field);
                            (labelled(&id, &field.label, inline, html! {
                                select id=(id) name=(field.name) {
                                    @if options.is_empty() {
                                        option value="" disabled selected { "Nothing to choose yet" }
                                    } @else if current.is_empty() {
                                        option value="" disabled selected { "Choose…" }
                                    }
                                    @for option in options {
                                        option value=(option.value) selected[option.value == current] { (option.label) }
                                    }
                                }
                            }))
                        }
                    }
                }
            }
            @if let Some(note) = &form.note {
                p.note class=(tone_class(note.tone)) { (note.text) }
            }
            @if let Some(p) = failed {
                p.form-error role="alert" { (p.message) }
            }
            button type="submit" { (form.submit) }
        }
    }
}

fn labelled(id: &str, label: &str, inline: bool, input: Markup) -> Markup {
    html! {
        @if inline {
            label.field.inline for=(id) { span.sr { (label) } (input) }
        } @else {
            label.field for=(id) { span { (label) } (input) }
        }
    }
}

fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_counts_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn slugs_are_ids() {
        assert_eq!(
            slug("Students in our examinations"),
            "students-in-our-examinations"
        );
        assert_eq!(slug("  Grades (final) "), "grades-final");
        assert_eq!(slug("—"), "section");
    }
}
