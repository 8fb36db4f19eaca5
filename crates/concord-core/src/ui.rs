//! A service's GUI described as plain data: the domain says *what* its page shows — sections
//! with a table and forms — and the HTTP shell decides *how* to draw it (`concord-http`
//! renders a [`View`] as HTML). No markup lives here, so a domain stays free of HTML and its
//! page can be checked in a unit test like any other function of the model.
//!
//! A [`Form`] names one of the service's own command routes as its `action`; the shell
//! turns the submitted fields into that command's JSON body, using each [`Field`]'s [`Input`]
//! kind to type them ([`Input::json_kind`]), and runs it through the very handler and host
//! the JSON API uses (R1). A `{name}` segment in the action is filled from the field `name`
//! (e.g. `/api/assignments/{assignmentId}/scores` with an assignment chosen in the form).
//!
//! A page stays small however large the model grows: a table shows one page of its rows,
//! read with [`ListQuery::page`] like the API's lists, and a section's [`Paging`] tells the
//! shell to draw a search box, "previous"/"next" links and counts for it. Each paged list of
//! a page has a key; its search and position travel in the page's query string as
//! `KEY.q` and `KEY.cursor` ([`PageQuery`]), so paging one table keeps the others where
//! they are.

use crate::list::{Cursor, ListQuery, Page, MAX_SEARCH};

/// What a service's page shows: its sections, top to bottom.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct View {
    pub sections: Vec<Section>,
}

impl View {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn section(mut self, section: Section) -> Self {
        self.sections.push(section);
        self
    }

    /// Every form of the view: the sections' forms and those in table cells.
    pub fn forms(&self) -> impl Iterator<Item = &Form> {
        self.sections.iter().flat_map(|section| {
            let in_cells = section
                .table
                .iter()
                .flat_map(|t| t.rows.iter().flatten())
                .filter_map(|cell| cell.action.as_ref());
            section.forms.iter().chain(in_cells)
        })
    }
}

/// What the page was asked for: its query string's parameters, decoded, from which each
/// paged list reads its search and position ([`PageQuery::list`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageQuery {
    pairs: Vec<(String, String)>,
}

impl PageQuery {
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        PageQuery {
            pairs: pairs.into_iter().collect(),
        }
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The first value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The parameter holding list `key`'s search.
    pub fn search_parameter(key: &str) -> String {
        format!("{key}.q")
    }

    /// The parameter holding list `key`'s position.
    pub fn cursor_parameter(key: &str) -> String {
        format!("{key}.cursor")
    }

    /// What the page asks of list `key`, `limit` rows at a time. Lenient, as a page should
    /// be: a garbled cursor shows the first page, an overlong search is cut short.
    pub fn list(&self, key: &str, limit: usize) -> ListQuery {
        let search: String = self
            .get(&Self::search_parameter(key))
            .unwrap_or_default()
            .chars()
            .take(MAX_SEARCH)
            .collect();
        let cursor = self
            .get(&Self::cursor_parameter(key))
            .and_then(|text| Cursor::decode(text).ok());
        ListQuery::new(limit).search(&search).at(cursor)
    }
}

/// A paged list on the page: what the shell needs to draw its search box, its links to the
/// neighbouring pages and its counts.
#[derive(Clone, Debug, PartialEq)]
pub struct Paging {
    /// The list's key in the page's query string (see [`PageQuery`]).
    pub key: String,
    /// What the list holds, in the plural ("students").
    pub noun: String,
    /// What the search looks at, shown in the empty search box ("ID or name").
    pub placeholder: String,
    /// The search as asked ("" for none).
    pub search: String,
    /// Whether this is the first page (no cursor was given).
    pub at_start: bool,
    pub prev: Option<Cursor>,
    pub next: Option<Cursor>,
    /// Items on this page.
    pub shown: usize,
    /// Entries in the whole list, before any search.
    pub total: usize,
}

impl Paging {
    pub fn new<T>(
        key: impl Into<String>,
        noun: impl Into<String>,
        query: &ListQuery,
        page: &Page<T>,
        total: usize,
    ) -> Self {
        Paging {
            key: key.into(),
            noun: noun.into(),
            placeholder: String::new(),
            search: query.search_text().unwrap_or_default().to_owned(),
            at_start: query.cursor.is_none(),
            prev: page.prev.clone(),
            next: page.next.clone(),
            shown: page.items.len(),
            total,
        }
    }

    pub fn placeholder(mut self, text: impl Into<String>) -> Self {
        self.placeholder = text.into();
        self
    }
}

/// One part of the page: a heading, a line of explanation, paged lists' controls, a
/// table, forms.
#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    pub heading: String,
    pub intro: Option<String>,
    /// The controls of the paged lists this section shows (its table's rows, and for a
    /// matrix its columns), drawn above the table.
    pub paging: Vec<Paging>,
    pub table: Option<Table>,
    pub forms: Vec<Form>,
}

impl Section {
    pub fn new(heading: impl Into<String>) -> Self {
        Section {
            heading: heading.into(),
            intro: None,
            paging: Vec::new(),
            table: None,
            forms: Vec::new(),
        }
    }

    pub fn paging(mut self, paging: Paging) -> Self {
        self.paging.push(paging);
        self
    }

    pub fn intro(mut self, text: impl Into<String>) -> Self {
        self.intro = Some(text.into());
        self
    }

    pub fn table(mut self, table: Table) -> Self {
        self.table = Some(table);
        self
    }

    pub fn form(mut self, form: Form) -> Self {
        self.forms.push(form);
        self
    }
}

/// A table: column headings and rows of cells (a row may be shorter than the columns).
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    /// Shown instead of the rows when there are none.
    pub empty: String,
}

impl Table {
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Self {
        Table {
            columns: columns.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
            empty: "Nothing yet.".to_owned(),
        }
    }

    pub fn empty(mut self, text: impl Into<String>) -> Self {
        self.empty = text.into();
        self
    }

    pub fn row(mut self, cells: Vec<Cell>) -> Self {
        self.rows.push(cells);
        self
    }
}

/// How a piece of text should strike the reader.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tone {
    #[default]
    Plain,
    /// Secondary: a placeholder, "not yet", an id.
    Muted,
    /// All is well: passed, issued, in sync.
    Good,
    /// Look twice: behind, outdated, someone else was first.
    Warning,
    /// Something is wrong: failed, conflicting, broken.
    Bad,
}

/// A table cell: text with a tone, an optional explanation (shown on hover), and optionally
/// a small form acting on its row (e.g. an "Issue grade" button).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cell {
    pub text: String,
    pub tone: Tone,
    pub hint: Option<String>,
    pub action: Option<Form>,
}

impl Cell {
    pub fn new(tone: Tone, text: impl Into<String>) -> Self {
        Cell {
            text: text.into(),
            tone,
            hint: None,
            action: None,
        }
    }

    pub fn plain(text: impl Into<String>) -> Self {
        Self::new(Tone::Plain, text)
    }

    pub fn muted(text: impl Into<String>) -> Self {
        Self::new(Tone::Muted, text)
    }

    pub fn good(text: impl Into<String>) -> Self {
        Self::new(Tone::Good, text)
    }

    pub fn warning(text: impl Into<String>) -> Self {
        Self::new(Tone::Warning, text)
    }

    pub fn bad(text: impl Into<String>) -> Self {
        Self::new(Tone::Bad, text)
    }

    /// A cell holding only a form (its text empty).
    pub fn action(form: Form) -> Self {
        Cell::plain("").with_action(form)
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_action(mut self, form: Form) -> Self {
        self.action = Some(form);
        self
    }
}

/// A line of text with a tone, e.g. a warning above a form's button.
#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    pub tone: Tone,
    pub text: String,
}

/// A form that runs one of the service's commands.
#[derive(Clone, Debug, PartialEq)]
pub struct Form {
    pub title: String,
    /// The command's path in the service's [`Api`](crate::Api), e.g. `/api/students`;
    /// `{name}` segments are filled from the form's field `name`.
    pub action: String,
    pub fields: Vec<Field>,
    /// The button's label.
    pub submit: String,
    pub note: Option<Note>,
}

impl Form {
    pub fn new(
        title: impl Into<String>,
        action: impl Into<String>,
        submit: impl Into<String>,
    ) -> Self {
        Form {
            title: title.into(),
            action: action.into(),
            fields: Vec::new(),
            submit: submit.into(),
            note: None,
        }
    }

    pub fn field(mut self, field: Field) -> Self {
        self.fields.push(field);
        self
    }

    pub fn note(mut self, tone: Tone, text: impl Into<String>) -> Self {
        self.note = Some(Note {
            tone,
            text: text.into(),
        });
        self
    }
}

/// One input of a form; `name` is the JSON member of the command's body it fills.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: String,
    pub label: String,
    pub input: Input,
    /// The initial value ("" for none; "true" checks a checkbox).
    pub value: String,
}

impl Field {
    pub fn new(name: impl Into<String>, label: impl Into<String>, input: Input) -> Self {
        Field {
            name: name.into(),
            label: label.into(),
            input,
            value: String::new(),
        }
    }

    pub fn text(name: impl Into<String>, label: impl Into<String>) -> Self {
        Self::new(name, label, Input::Text)
    }

    /// A whole number from `min` (and up to `max`, if given).
    pub fn integer(
        name: impl Into<String>,
        label: impl Into<String>,
        min: i64,
        max: Option<i64>,
    ) -> Self {
        Self::new(
            name,
            label,
            Input::Number {
                min: Some(min as f64),
                max: max.map(|m| m as f64),
                step: Some(1.0),
            },
        )
    }

    pub fn select(name: impl Into<String>, label: impl Into<String>, options: Vec<Choice>) -> Self {
        Self::new(name, label, Input::Select(options))
    }

    pub fn number_select(
        name: impl Into<String>,
        label: impl Into<String>,
        options: Vec<Choice>,
    ) -> Self {
        Self::new(name, label, Input::NumberSelect(options))
    }

    /// Free text with suggestions (for a choice among too many to list them all).
    pub fn suggest(
        name: impl Into<String>,
        label: impl Into<String>,
        suggestions: Vec<Choice>,
    ) -> Self {
        Self::new(name, label, Input::Suggest(suggestions))
    }

    pub fn checkbox(name: impl Into<String>, label: impl Into<String>) -> Self {
        Self::new(name, label, Input::Checkbox)
    }

    /// A value the form carries without showing it (e.g. the row's id).
    pub fn hidden(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new(name, "", Input::Hidden).value(value)
    }

    pub fn value(mut self, value: impl Into<String>) -> Self {
        self.value = value.into();
        self
    }
}

/// The kind of input, which also says how its text becomes JSON.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    Text,
    Number {
        min: Option<f64>,
        max: Option<f64>,
        step: Option<f64>,
    },
    /// One of the options; sent as a string.
    Select(Vec<Choice>),
    /// One of the options, whose values are numbers; sent as a number (e.g. a grade).
    NumberSelect(Vec<Choice>),
    /// Free text, with some values suggested; sent as a string.
    Suggest(Vec<Choice>),
    /// Sent as `true` when ticked, `false` otherwise.
    Checkbox,
    /// The field's `value`, sent as a string.
    Hidden,
}

/// How a submitted field is written into the command's JSON body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonKind {
    String,
    Number,
    Bool,
}

impl Input {
    pub fn json_kind(&self) -> JsonKind {
        match self {
            Input::Number { .. } | Input::NumberSelect(_) => JsonKind::Number,
            Input::Checkbox => JsonKind::Bool,
            Input::Text | Input::Select(_) | Input::Suggest(_) | Input::Hidden => JsonKind::String,
        }
    }
}

/// One option of a select: the value sent and the label shown.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub value: String,
    pub label: String,
}

impl Choice {
    pub fn new(value: impl Into<String>, label: impl Into<String>) -> Self {
        Choice {
            value: value.into(),
            label: label.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_found_in_sections_and_cells() {
        let hire = Form::new("Hire", "/api/hires", "Hire").field(Field::hidden("studentId", "s-1"));
        let view = View::new().section(
            Section::new("TAs")
                .table(
                    Table::new(["Student", ""])
                        .row(vec![Cell::plain("s-1"), Cell::action(hire.clone())]),
                )
                .form(Form::new("Create", "/api/students", "Create")),
        );
        let actions: Vec<&str> = view.forms().map(|f| f.action.as_str()).collect();
        assert_eq!(actions, ["/api/students", "/api/hires"]);
        assert_eq!(hire.fields[0].input.json_kind(), JsonKind::String);
        assert_eq!(
            Field::integer("points", "Points", 0, None)
                .input
                .json_kind(),
            JsonKind::Number
        );
        assert_eq!(
            Field::checkbox("force", "Force").input.json_kind(),
            JsonKind::Bool
        );
        assert_eq!(
            Field::suggest("studentId", "Student", vec![])
                .input
                .json_kind(),
            JsonKind::String
        );
    }

    #[test]
    fn each_list_reads_its_own_search_and_position() {
        use crate::list::Cursor;
        use std::ops::Bound;
        let cursor = Cursor::After(Bound::Excluded("s-9".into()));
        let page = PageQuery::new([
            ("students.q".to_owned(), " Ada ".to_owned()),
            ("students.cursor".to_owned(), cursor.encode()),
            ("grades.cursor".to_owned(), "garbled!".to_owned()),
            ("grades.q".to_owned(), "x".repeat(1000)),
        ]);
        let students = page.list("students", 25);
        assert_eq!(
            (
                students.limit,
                students.search_text(),
                students.cursor.as_ref()
            ),
            (25, Some("Ada"), Some(&cursor))
        );
        let grades = page.list("grades", 10);
        assert_eq!(grades.cursor, None, "a garbled cursor: the first page");
        assert_eq!(grades.search_text().map(str::len), Some(MAX_SEARCH));
        assert_eq!(page.list("other", 5), ListQuery::new(5));
    }
}
