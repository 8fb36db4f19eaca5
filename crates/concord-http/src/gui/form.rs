//! From a submitted HTML form to a command: the path to run and its JSON body.
//!
//! A browser posts `application/x-www-form-urlencoded` text only, so the page tells the shell
//! how to read it back, in hidden fields it renders next to the user's ([`hidden_fields`]):
//!
//! - `_action`: the command's path template, e.g. `/api/assignments/{assignmentId}/scores`;
//! - `_form`: the form's [`key`], to show an error in the form that failed;
//! - `_anchor`: the section to scroll back to;
//! - `_number=NAME` / `_bool=NAME`: fields sent as a JSON number / boolean (from the field's
//!   [`Input`](concord_core::ui::Input) kind); every other field is a string. An unticked
//!   checkbox sends nothing, so a `_bool` field that is absent is `false`.
//!
//! A `{name}` segment of the action is filled from the field `name` (percent-encoded), which
//! then stays out of the body. The hints cannot widen what a user may do: the command runs
//! through the API's own handler, which validates its body as for any JSON client.

use std::collections::{BTreeSet, HashMap, HashSet};

use concord_core::ui::{Form, Input, JsonKind};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{Map, Number, Value};

use crate::error::ApiError;

pub const ACTION: &str = "_action";
pub const FORM: &str = "_form";
pub const ANCHOR: &str = "_anchor";
pub const NUMBER: &str = "_number";
pub const BOOL: &str = "_bool";

/// What a path segment keeps unencoded: RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Identifies a form within a page: its title, action and hidden values (so the "Issue"
/// buttons of two rows differ).
pub fn key(form: &Form) -> String {
    let mut key = format!("{}|{}", form.title, form.action);
    for field in form.fields.iter().filter(|f| f.input == Input::Hidden) {
        key.push('|');
        key.push_str(&field.value);
    }
    key
}

/// The hidden fields the page renders into `form` (see the module documentation).
pub fn hidden_fields(form: &Form, anchor: &str) -> Vec<(&'static str, String)> {
    let mut hidden = vec![
        (ACTION, form.action.clone()),
        (FORM, key(form)),
        (ANCHOR, anchor.to_owned()),
    ];
    for field in &form.fields {
        match field.input.json_kind() {
            JsonKind::Number => hidden.push((NUMBER, field.name.clone())),
            JsonKind::Bool => hidden.push((BOOL, field.name.clone())),
            JsonKind::String => {}
        }
    }
    hidden
}

/// A submitted form, as posted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Submission {
    pub action: String,
    pub key: String,
    pub anchor: String,
    /// The user's fields (and the view's hidden ones), in order, without the `_` hints.
    pub fields: Vec<(String, String)>,
    /// Sets, not lists: a body of up to 16 MiB can name a million fields and as many hints,
    /// and looking each field up in a list was a million times a million comparisons.
    numbers: BTreeSet<String>,
    bools: BTreeSet<String>,
}

impl Submission {
    pub fn parse(body: &[u8]) -> Submission {
        let mut submission = Submission::default();
        for (name, value) in form_urlencoded::parse(body) {
            let value = value.into_owned();
            match &*name {
                ACTION => submission.action = value,
                FORM => submission.key = value,
                ANCHOR => submission.anchor = value,
                NUMBER => {
                    submission.numbers.insert(value);
                }
                BOOL => {
                    submission.bools.insert(value);
                }
                other if other.starts_with('_') => {}
                other => submission.fields.push((other.to_owned(), value)),
            }
        }
        submission
    }

    /// The form's title, for messages (the first part of its key).
    pub fn title(&self) -> &str {
        match self.key.split('|').next() {
            Some(title) if !title.is_empty() => title,
            _ => "Command",
        }
    }

    /// The command's concrete path and JSON body; a 400 naming the field that does not fit.
    pub fn command(&self) -> Result<(String, Value), ApiError> {
        if !self.action.starts_with('/') {
            return Err(ApiError::bad_request(
                "the form names no command (its _action is missing)",
            ));
        }
        // A field given twice counts by its last value, as a browser's form would send it.
        let values: HashMap<&str, &str> = self
            .fields
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let mut in_path = HashSet::new();
        let mut path = String::new();
        for segment in self.action.trim_start_matches('/').split('/') {
            path.push('/');
            match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => {
                    let value = values.get(name).copied().unwrap_or_default().trim();
                    if value.is_empty() {
                        return Err(ApiError::bad_request(format!("choose a value for {name}"))
                            .with("field", name));
                    }
                    path.extend(utf8_percent_encode(value, SEGMENT));
                    in_path.insert(name);
                }
                None => path.push_str(segment),
            }
        }
        let mut body = Map::new();
        for (name, value) in &self.fields {
            if in_path.contains(name.as_str()) {
                continue;
            }
            let json = if self.numbers.contains(name) {
                number(name, value)?
            } else if self.bools.contains(name) {
                Value::Bool(matches!(value.as_str(), "true" | "on" | "1" | "yes"))
            } else {
                Value::String(value.clone())
            };
            body.insert(name.clone(), json);
        }
        for name in &self.bools {
            body.entry(name.clone()).or_insert(Value::Bool(false));
        }
        Ok((path, Value::Object(body)))
    }
}

/// A number field: an integer stays an integer (commands read `i64`), anything else must be
/// a finite decimal.
fn number(name: &str, text: &str) -> Result<Value, ApiError> {
    let text = text.trim();
    let invalid = || {
        let shown = if text.is_empty() { "nothing" } else { text };
        ApiError::bad_request(format!("{name} must be a number, not {shown}")).with("field", name)
    };
    if let Ok(integer) = text.parse::<i64>() {
        return Ok(Value::Number(integer.into()));
    }
    let float: f64 = text.parse().map_err(|_| invalid())?;
    Number::from_f64(float)
        .map(Value::Number)
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use concord_core::ui::Field;
    use serde_json::json;

    fn submit(pairs: &[(&str, &str)]) -> Submission {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        Submission::parse(body.as_bytes())
    }

    #[test]
    fn fields_are_typed_by_their_hints() {
        let s = submit(&[
            (ACTION, "/api/assignments/{assignmentId}/scores"),
            (FORM, "Enter points|/api/assignments/{assignmentId}/scores"),
            (NUMBER, "points"),
            (NUMBER, "ratio"),
            (BOOL, "force"),
            (BOOL, "late"),
            ("studentId", "s-1"),
            ("assignmentId", "a 1/x"),
            ("points", " 7 "),
            ("ratio", "1.5"),
            ("late", "true"),
        ]);
        assert_eq!(s.title(), "Enter points");
        let (path, body) = s.command().unwrap();
        assert_eq!(path, "/api/assignments/a%201%2Fx/scores");
        assert_eq!(
            body,
            json!({"studentId": "s-1", "points": 7, "ratio": 1.5, "late": true, "force": false})
        );
    }

    #[test]
    fn a_field_that_does_not_fit_is_named() {
        let s = submit(&[(ACTION, "/api/x"), (NUMBER, "points"), ("points", "seven")]);
        let error = s.command().unwrap_err();
        assert_eq!(error.status(), 400);
        assert_eq!(error.message(), "points must be a number, not seven");
        let s = submit(&[(ACTION, "/api/x/{id}/y"), ("id", " ")]);
        assert_eq!(s.command().unwrap_err().message(), "choose a value for id");
        assert_eq!(submit(&[]).command().unwrap_err().status(), 400);
    }

    #[test]
    fn a_form_of_800_000_pairs_takes_linear_time() {
        // 12 MiB of form: 400 000 fields, 200 000 number hints, as many checkbox hints and
        // path placeholders. Each field was looked up in the hints' lists and each
        // placeholder in the fields' (over 10^11 comparisons: more than the minute allowed
        // here); with sets and a map, about two seconds in a debug build.
        let n = 200_000;
        let mut body = String::from("_action=/api");
        for i in 0..n {
            body.push_str(&format!("/%7Bf{i}%7D"));
        }
        for i in 0..n {
            body.push_str(&format!("&_number=g{i}&_bool=h{i}&f{i}=1&g{i}=2"));
        }
        assert!(
            body.len() < 16 << 20,
            "within the body limit: {}",
            body.len()
        );
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let submission = Submission::parse(body.as_bytes());
            let _ = done.send(submission.command().map(|(path, body)| (path.len(), body)));
        });
        // A bound no quadratic walk of these sizes meets, and no linear one misses.
        let (path_len, body) = finished
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the form was built within a minute")
            .unwrap();
        assert_eq!(path_len, "/api".len() + n * "/1".len());
        let body = body.as_object().unwrap();
        assert_eq!(
            body.len(),
            2 * n,
            "the fields not in the path, and the checkboxes"
        );
        assert_eq!(body["g7"], json!(2));
        assert_eq!(body["h7"], json!(false), "an unticked checkbox is false");
    }

    #[test]
    fn a_field_given_twice_counts_by_its_last_value() {
        let s = submit(&[
            (ACTION, "/api/x/{id}"),
            (NUMBER, "n"),
            (NUMBER, "n"),
            ("id", "a"),
            ("id", "b"),
            ("n", "1"),
            ("n", "2"),
            ("text", "first"),
            ("text", "last"),
        ]);
        let (path, body) = s.command().unwrap();
        assert_eq!(path, "/api/x/b");
        assert_eq!(body, json!({"n": 2, "text": "last"}));
    }

    #[test]
    fn hints_follow_the_inputs() {
        let form = Form::new("Hire", "/api/hires", "Hire")
            .field(Field::hidden("studentId", "s-1"))
            .field(Field::integer("n", "N", 0, None))
            .field(Field::checkbox("force", "Force"));
        assert_eq!(key(&form), "Hire|/api/hires|s-1");
        assert_eq!(
            hidden_fields(&form, "hiring"),
            vec![
                (ACTION, "/api/hires".to_owned()),
                (FORM, "Hire|/api/hires|s-1".to_owned()),
                (ANCHOR, "hiring".to_owned()),
                (NUMBER, "n".to_owned()),
                (BOOL, "force".to_owned()),
            ]
        );
    }
}
