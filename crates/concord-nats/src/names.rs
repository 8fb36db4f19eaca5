//! Subjects, filter subjects and consumer names: how Concord's terms map onto NATS names.
//!
//! An event is published on `<prefix>.<source>.<type>` (its *original* source). A NATS token
//! may not hold `.`, `*`, `>` or whitespace, so such characters (and `%` itself) are
//! percent-encoded: the mapping is injective, readable for ordinary names, and a pull link's
//! filter subject selects exactly the events of one source and one type.

use concord_sync::LinkSpec;

/// `text` as one subject token: unchanged when it is a valid token, else with every `%`, `.`,
/// `*`, `>`, whitespace or control character written as `%XX` (its UTF-8 bytes in hex).
pub fn token(text: &str) -> String {
    if text.is_empty() {
        return "%".to_owned(); // never produced by encoding a non-empty text
    }
    let needs = |c: char| matches!(c, '%' | '.' | '*' | '>') || c.is_whitespace() || c.is_control();
    if !text.chars().any(needs) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs(c) {
            let mut buf = [0u8; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The subject an event of `source` and `ty` is published on.
pub fn event_subject(prefix: &str, source: &str, ty: &str) -> String {
    format!("{prefix}.{}.{}", token(source), token(ty))
}

/// The one filter subject of a pull link's consumer (NATS 2.9 has no plural
/// `filter_subjects`): exact when the link names one source (one type), `*` otherwise. What
/// the subject cannot express (several sources or types, data filters) is filtered locally.
pub fn filter_subject(prefix: &str, link: &LinkSpec) -> String {
    let one = |names: &[String]| match names {
        [only] => token(only),
        _ => "*".to_owned(),
    };
    format!("{prefix}.{}.{}", one(&link.sources), one(&link.types))
}

/// The durable consumer name of `service`'s pull link `link`: letters, digits, `-` and `_`
/// only, at most 64 characters. Names that had to be changed (or shortened) get a hash of
/// the original, so two different links never share a consumer.
pub fn durable_name(service: &str, link: &str) -> String {
    let raw = format!("{service}_{link}");
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean == raw && raw.len() <= 64 {
        return raw;
    }
    let short: String = clean.chars().take(47).collect();
    format!("{short}_{:016x}", fnv1a(raw.as_bytes()))
}

/// A stream name NATS accepts: no whitespace, `.`, `*`, `>`, `/` or `\`.
pub fn check_stream_name(name: &str) -> Result<(), String> {
    let bad = |c: char| matches!(c, '.' | '*' | '>' | '/' | '\\') || c.is_whitespace();
    if name.is_empty() || name.chars().any(bad) {
        return Err(format!(
            "{name:?} is not a NATS stream name (no spaces, '.', '*', '>', '/' or '\\')"
        ));
    }
    Ok(())
}

/// A subject prefix: one or more dot-separated tokens without wildcards.
pub fn check_subject_prefix(prefix: &str) -> Result<(), String> {
    let bad_token =
        |t: &str| t.is_empty() || t.contains(['*', '>']) || t.chars().any(|c| c.is_whitespace());
    if prefix.split('.').any(bad_token) {
        return Err(format!(
            "{prefix:?} is not a subject prefix (dot-separated tokens, no wildcards or spaces)"
        ));
    }
    Ok(())
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_stay_readable_and_odd_ones_are_encoded() {
        assert_eq!(token("students-office"), "students-office");
        assert_eq!(token("studentEnrolled"), "studentEnrolled");
        assert_eq!(token("com.example.svc"), "com%2Eexample%2Esvc");
        assert_eq!(token("a b*>%"), "a%20b%2A%3E%25");
        assert_eq!(token("ä.x"), "ä%2Ex");
        assert_eq!(token(""), "%");
        // Injective: the encoding of "%2E" differs from the encoding of ".".
        assert_ne!(token("%2E"), token("."));
        assert_eq!(
            event_subject("concord", "se-group", "studentGraded"),
            "concord.se-group.studentGraded"
        );
    }

    #[test]
    fn a_filter_subject_is_exact_only_for_one_source_and_one_type() {
        let pull = LinkSpec::pull("office", "nats://h:4222", &["studentEnrolled"]);
        assert_eq!(
            filter_subject("concord", &pull),
            "concord.*.studentEnrolled"
        );
        let push = LinkSpec::push("se-group", "office", "nats://h:4222", &["studentGraded"]);
        assert_eq!(
            filter_subject("concord", &push),
            "concord.se-group.studentGraded"
        );
        let many = LinkSpec::pull("office", "nats://h:4222", &["a", "b"]);
        assert_eq!(filter_subject("x.y", &many), "x.y.*.*");
    }

    #[test]
    fn durable_names_are_valid_and_distinct() {
        assert_eq!(durable_name("se-group", "pull-a"), "se-group_pull-a");
        let odd = durable_name("se group", "pull.a");
        assert!(odd.starts_with("se_group_pull_a_"), "{odd}");
        assert_ne!(odd, durable_name("se_group", "pull_a"));
        let long = durable_name(&"s".repeat(100), "l");
        assert!(long.len() <= 64, "{long}");
        assert!(durable_name("a", "b.c")
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn stream_names_and_prefixes_are_checked() {
        assert!(check_stream_name("CONCORD").is_ok());
        assert!(check_stream_name("CON.CORD").is_err());
        assert!(check_stream_name("").is_err());
        assert!(check_subject_prefix("concord").is_ok());
        assert!(check_subject_prefix("acme.concord").is_ok());
        assert!(check_subject_prefix("acme.>").is_err());
        assert!(check_subject_prefix("acme..x").is_err());
    }
}
