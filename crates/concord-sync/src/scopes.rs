//! Default read scopes, derived from a topology: a peer may read through getEvents what its
//! own pull links ask this service for, and nothing else.
//!
//! The rule is generic — it looks only at link specifications — so any deployment that can
//! describe its links gets least-privilege reads without writing scopes by hand; a
//! configuration may still override a peer's scope.

use std::collections::BTreeMap;

use concord_core::scope::Scope;

use crate::spec::{Direction, LinkSpec, TransportKind};

/// For each service of `topology` (given as (service, its links)) that pulls from `service`
/// over HTTP, the union of those links' patterns. Services that pull nothing from it are
/// absent (they read nothing). NATS links never call getEvents, so they grant no read.
pub fn read_scopes(topology: &[(String, Vec<LinkSpec>)], service: &str) -> BTreeMap<String, Scope> {
    let mut scopes: BTreeMap<String, Scope> = BTreeMap::new();
    for (reader, links) in topology {
        if reader == service {
            continue;
        }
        for link in links.iter().filter(|l| {
            l.peer == service
                && l.direction == Direction::Pull
                && l.transport == TransportKind::Http
        }) {
            let scope = scopes.remove(reader).unwrap_or_default();
            scopes.insert(
                reader.clone(),
                scope.union(Scope::new(vec![link.pattern()])),
            );
        }
    }
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;
    use concord_core::scope::EventPattern;
    use concord_core::DataFilter;

    #[test]
    fn a_reader_gets_what_its_pull_links_ask_for() {
        let topology = vec![
            (
                "group-a".to_owned(),
                vec![
                    LinkSpec::pull("office", "http://o", &["enrolled"]).with_filter("group", "a"),
                    LinkSpec::pull("pool", "http://p", &["hired"]),
                    LinkSpec::push("group-a", "office", "http://o", &["graded"]),
                ],
            ),
            (
                "group-b".to_owned(),
                vec![
                    LinkSpec::pull("office", "http://o", &["enrolled"]).with_filter("group", "b"),
                    LinkSpec::pull("office", "nats://n:4222", &["graded"])
                        .over_nats("nats://n:4222"),
                ],
            ),
            (
                "office".to_owned(),
                vec![LinkSpec::pull("office", "http://o", &["loop"])],
            ),
        ];
        let scopes = read_scopes(&topology, "office");
        assert_eq!(
            scopes.keys().collect::<Vec<_>>(),
            ["group-a", "group-b"],
            "a push grants no read, nor does a service's link to itself"
        );
        assert_eq!(
            scopes["group-a"],
            Scope::new(vec![EventPattern {
                types: vec!["enrolled".into()],
                sources: vec![],
                data: vec![DataFilter::new("group", "a")],
            }])
        );
        assert_eq!(
            scopes["group-b"].patterns.len(),
            1,
            "a NATS link reads no getEvents"
        );
        assert!(read_scopes(&topology, "pool").contains_key("group-a"));
        assert!(read_scopes(&topology, "nobody").is_empty());
    }
}
