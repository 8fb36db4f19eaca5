//! The query string of getEvents (`GET /api/events`) turned into a [`ReadQuery`].
//!
//! Parsed by hand rather than with a serde extractor because parameters repeat (`type=a&type=b`),
//! take comma-separated lists, and have open-ended names (`data.FIELD`); and because every
//! mistake must be a 400 naming the parameter, never a silently widened read.

use concord_core::{DataFilter, ReadQuery};

use crate::error::ApiError;

/// The parameters getEvents knows, for error messages.
const KNOWN: &str = "type, source, after, limit, data.FIELD";

/// Parses a raw (still percent-encoded) query string.
pub fn parse_read_query(raw: &str) -> Result<ReadQuery, ApiError> {
    let mut query = ReadQuery::after(0, ReadQuery::DEFAULT_LIMIT);
    let mut after_seen = false;
    let mut limit_seen = false;
    for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
        match &*name {
            "type" => push_list(&mut query.types, &value),
            "source" => push_list(&mut query.sources, &value),
            "after" => {
                once(&mut after_seen, "after")?;
                // A number beyond u64 is still a non-negative integer: nothing lies after it.
                query.after = parse_integer("after", &value)?.unwrap_or(u64::MAX);
            }
            "limit" => {
                once(&mut limit_seen, "limit")?;
                let limit = parse_integer("limit", &value)?.unwrap_or(u64::MAX);
                if limit == 0 {
                    return Err(invalid("limit", "limit must be at least 1"));
                }
                query.limit = limit.min(ReadQuery::MAX_LIMIT as u64) as usize;
            }
            other => match other.strip_prefix("data.") {
                Some(field) if !field.is_empty() => {
                    query.data.push(DataFilter::new(field, value.into_owned()))
                }
                Some(_) => {
                    return Err(invalid(
                        other,
                        "a data filter names its field: data.FIELD=VALUE",
                    ))
                }
                None => {
                    return Err(invalid(
                        other,
                        format!("unknown query parameter {other:?} (known: {KNOWN})"),
                    ))
                }
            },
        }
    }
    Ok(query)
}

/// `type=a,b&type=c` means any of a, b, c; empty items are skipped.
fn push_list(list: &mut Vec<String>, value: &str) {
    list.extend(
        value
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned),
    );
}

fn once(seen: &mut bool, name: &str) -> Result<(), ApiError> {
    if std::mem::replace(seen, true) {
        return Err(invalid(name, format!("{name} is given more than once")));
    }
    Ok(())
}

/// A non-negative integer in plain decimal digits (no sign, no spaces); `None` if it is one
/// but does not fit in a u64.
fn parse_integer(name: &str, value: &str) -> Result<Option<u64>, ApiError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            name,
            format!("{name} must be a non-negative integer, found {value:?}"),
        ));
    }
    Ok(value.parse().ok())
}

fn invalid(parameter: &str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message).with("parameter", parameter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_lists_and_filters() {
        let q = parse_read_query("").unwrap();
        assert_eq!(q, ReadQuery::after(0, 1000));
        let q = parse_read_query(
            "type=a,b&type=c&source=s%201&after=7&limit=20000&data.group=se-group&data.n=5",
        )
        .unwrap();
        assert_eq!(q.types, ["a", "b", "c"]);
        assert_eq!(q.sources, ["s 1"]);
        assert_eq!((q.after, q.limit), (7, 10_000));
        assert_eq!(
            q.data,
            [
                DataFilter::new("group", "se-group"),
                DataFilter::new("n", "5")
            ]
        );
        let huge =
            parse_read_query("after=99999999999999999999999&limit=99999999999999999999").unwrap();
        assert_eq!((huge.after, huge.limit), (u64::MAX, 10_000));
    }

    #[test]
    fn every_mistake_names_its_parameter() {
        for (raw, parameter) in [
            ("after=-1", "after"),
            ("after=", "after"),
            ("after=+3", "after"),
            ("after=1.5", "after"),
            ("after=1&after=2", "after"),
            ("limit=0", "limit"),
            ("limit=ten", "limit"),
            ("limit=1&limit=1", "limit"),
            ("data.=x", "data."),
            ("kind=x", "kind"),
        ] {
            let err = parse_read_query(raw).unwrap_err();
            assert_eq!(err.status(), 400, "{raw}");
            assert!(err.message().contains(parameter), "{raw}: {err}");
        }
    }
}
