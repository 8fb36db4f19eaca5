//! What a caller may see or deliver: a [`Scope`] is a union of [`EventPattern`]s, each naming
//! event types, original sources and equality on data fields.
//!
//! Scopes bind the acceptance idea of R2 to an identity: a peer service may deliver
//! (putEvents) only events its put scope allows, and reads (getEvents) only what its read
//! scope allows. A read scope is applied by the store as one more predicate of
//! [`ReadQuery`](crate::ReadQuery), while it scans, so events outside the scope are simply
//! absent from a page and `next_after`/`has_more` stay exact.

use serde::{Deserialize, Serialize};

use crate::event::{CloudEvent, DataFilter};

/// Events of any of `types` from any of `sources` whose data match every filter of `data`;
/// an empty list means "any". The shape of a link's selection (`types`, `sources`,
/// `filter`), so a link can be turned into the pattern it needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventPattern {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<DataFilter>,
}

impl EventPattern {
    /// Events of `ty` raised by `source`.
    pub fn of(source: impl Into<String>, ty: impl Into<String>) -> Self {
        EventPattern {
            types: vec![ty.into()],
            sources: vec![source.into()],
            data: Vec::new(),
        }
    }

    pub fn matches(&self, event: &CloudEvent) -> bool {
        (self.types.is_empty() || self.types.contains(&event.ty))
            && (self.sources.is_empty() || self.sources.contains(&event.source))
            && DataFilter::all_match(&self.data, &event.data)
    }
}

impl std::fmt::Display for EventPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |items: &[String]| {
            if items.is_empty() {
                "any".to_owned()
            } else {
                items.join("|")
            }
        };
        write!(f, "type {} from {}", list(&self.types), list(&self.sources))?;
        for filter in &self.data {
            write!(f, " where {filter}")?;
        }
        Ok(())
    }
}

/// A union of patterns: an event is in scope when any pattern matches it. No patterns means
/// nothing is in scope (the safe default for a principal nobody gave a scope).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Scope {
    pub patterns: Vec<EventPattern>,
}

impl Scope {
    pub fn new(patterns: Vec<EventPattern>) -> Self {
        Scope { patterns }
    }

    /// Nothing at all.
    pub fn nothing() -> Self {
        Scope::default()
    }

    /// Every event.
    pub fn everything() -> Self {
        Scope::new(vec![EventPattern::default()])
    }

    pub fn allows(&self, event: &CloudEvent) -> bool {
        self.patterns.iter().any(|p| p.matches(event))
    }

    /// This scope and `other`'s patterns together.
    pub fn union(mut self, other: Scope) -> Self {
        for pattern in other.patterns {
            if !self.patterns.contains(&pattern) {
                self.patterns.push(pattern);
            }
        }
        self
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.patterns.is_empty() {
            return f.write_str("nothing");
        }
        for (i, pattern) in self.patterns.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{pattern}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::sample_event;
    use serde_json::json;

    #[test]
    fn a_scope_is_the_union_of_its_patterns() {
        let scope = Scope::new(vec![
            EventPattern {
                types: vec!["enrolled".into()],
                sources: vec!["office".into()],
                data: vec![DataFilter::new("group", "se")],
            },
            EventPattern {
                types: vec!["hired".into()],
                ..EventPattern::default()
            },
        ]);
        let ours = sample_event("1", "office", "enrolled", json!({"group": "se"}));
        let theirs = sample_event("2", "office", "enrolled", json!({"group": "theory"}));
        let forged = sample_event("3", "elsewhere", "enrolled", json!({"group": "se"}));
        let hired = sample_event("4", "pool", "hired", json!({}));
        let graded = sample_event("5", "office", "graded", json!({"group": "se"}));
        assert!(scope.allows(&ours));
        assert!(!scope.allows(&theirs), "the data filter holds");
        assert!(!scope.allows(&forged), "the source holds");
        assert!(scope.allows(&hired), "no sources means any source");
        assert!(!scope.allows(&graded));
        assert!(!Scope::nothing().allows(&ours));
        assert!(Scope::everything().allows(&graded));
    }

    #[test]
    fn scopes_read_from_configuration() {
        let scope: Scope = serde_json::from_value(json!([
            {"types": ["studentEnrolled"], "sources": ["students-office"], "data": ["group=se-group"]},
            {"types": ["studentHired"]}
        ]))
        .unwrap();
        assert_eq!(scope.patterns.len(), 2);
        assert_eq!(
            scope.to_string(),
            "type studentEnrolled from students-office where data.group=se-group; type studentHired from any"
        );
        let typo = serde_json::from_value::<Scope>(json!([{"type": ["x"]}]));
        assert!(
            typo.is_err(),
            "an unknown key is a mistake, not a wider scope"
        );
        let union = Scope::new(vec![EventPattern::of("a", "t")]).union(Scope::new(vec![
            EventPattern::of("a", "t"),
            EventPattern::of("b", "t"),
        ]));
        assert_eq!(union.patterns.len(), 2);
    }
}
