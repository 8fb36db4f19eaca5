//! Where a store lives: a PostgreSQL URL and the schema inside that database.
//!
//! Several services can share one server, and even one database: each store keeps its tables
//! in a PostgreSQL schema of its own. The schema is named by `?schema=NAME` in the URL (an
//! addition of Concord's: it is taken out before the URL reaches the driver) or by the caller
//! ([`crate::PostgresStore::connect_with_schema`]); `concord serve` and `concord demo` default
//! to the service's name (`se-group` → `se_group`).

use concord_core::store::StoreError;

/// The schema of a store whose URL names none.
pub const DEFAULT_SCHEMA: &str = "concord";

/// The longest identifier PostgreSQL keeps whole.
const MAX_IDENTIFIER: usize = 63;

/// Whether `text` is a PostgreSQL URL (rather than, say, a SQLite file path).
pub fn is_postgres_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

/// Splits `?schema=NAME` off a URL: the URL for the driver, and the schema if one was named.
pub fn split_schema(url: &str) -> Result<(String, Option<String>), StoreError> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => return Ok((url.to_owned(), None)),
    };
    let mut schema = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("schema", name)) => {
                validate_schema(name)?;
                schema = Some(name.to_owned());
            }
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, schema))
}

/// The schema named in a URL's `?schema=`, if any.
pub fn url_schema(url: &str) -> Result<Option<String>, StoreError> {
    split_schema(url).map(|(_, schema)| schema)
}

/// Accepts the schema names Concord creates: lower-case ASCII letters, digits and `_`,
/// not starting with a digit nor with `pg_` (reserved by PostgreSQL), at most 63 bytes.
/// Being plain, they need no quoting in a `psql` session either.
pub fn validate_schema(name: &str) -> Result<(), StoreError> {
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    let starts_well = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    if plain && starts_well && name.len() <= MAX_IDENTIFIER && !name.starts_with("pg_") {
        Ok(())
    } else {
        Err(StoreError::Backend(format!(
            "{name:?} is not a usable schema name: use lower-case letters, digits and _ \
             (not starting with a digit or pg_), at most {MAX_IDENTIFIER} characters"
        )))
    }
}

/// The schema a service's store uses by default: its name with `-` (and anything else a
/// plain identifier cannot hold) turned into `_`, e.g. `students-office` → `students_office`.
pub fn schema_for_service(service: &str) -> String {
    let mut schema: String = service
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '_' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .collect();
    if !schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        || schema.starts_with("pg_")
    {
        schema.insert(0, '_');
    }
    schema.truncate(MAX_IDENTIFIER);
    schema
}

/// A URL fit to print: any password (in the authority or as `password=`) replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let pairs: Vec<&str> = query
                .split('&')
                .map(|pair| {
                    if pair.starts_with("password=") {
                        "password=***"
                    } else {
                        pair
                    }
                })
                .collect();
            format!("{path}?{}", pairs.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_parameter_is_taken_out_of_the_url() {
        let (url, schema) =
            split_schema("postgres://u@h:5432/db?schema=se_group&connect_timeout=3").unwrap();
        assert_eq!(url, "postgres://u@h:5432/db?connect_timeout=3");
        assert_eq!(schema.as_deref(), Some("se_group"));
        let (url, schema) = split_schema("postgres://u@h/db?schema=x").unwrap();
        assert_eq!(url, "postgres://u@h/db");
        assert_eq!(schema.as_deref(), Some("x"));
        let (url, schema) = split_schema("postgres://u@h/db").unwrap();
        assert_eq!((url.as_str(), schema), ("postgres://u@h/db", None));
        assert!(split_schema("postgres://u@h/db?schema=Bad-Name").is_err());
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        for good in ["concord", "se_group", "_x1", "a"] {
            validate_schema(good).unwrap();
        }
        for bad in [
            "",
            "1abc",
            "Upper",
            "with-dash",
            "pg_catalog",
            "x\"y",
            &"a".repeat(64),
        ] {
            assert!(validate_schema(bad).is_err(), "{bad:?}");
        }
        assert_eq!(schema_for_service("students-office"), "students_office");
        assert_eq!(schema_for_service("TA-Pool"), "ta_pool");
        assert_eq!(schema_for_service("9lives"), "_9lives");
        for service in ["students-office", "se-group", "theory-group", "ta-pool"] {
            validate_schema(&schema_for_service(service)).unwrap();
        }
    }

    #[test]
    fn passwords_are_never_printed() {
        assert_eq!(
            redact("postgres://app:s3cret@db.example:5432/events?schema=x"),
            "postgres://app:***@db.example:5432/events?schema=x"
        );
        assert_eq!(
            redact("postgres://app@db/events"),
            "postgres://app@db/events"
        );
        assert_eq!(redact("postgres://db/events"), "postgres://db/events");
        assert_eq!(
            redact("postgresql://db/events?user=a&password=pw&schema=s"),
            "postgresql://db/events?user=a&password=***&schema=s"
        );
    }
}
