//! Which external events a service takes (R2): rules on the event's original source, its type
//! and, optionally, equality on data fields. Everything no rule accepts is ignored — not
//! stored, not applied — and reported as ignored.

use serde::{Deserialize, Serialize};

use crate::event::{CloudEvent, DataFilter};

/// Accepts events of one type from one original source whose data match every filter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptanceRule {
    pub source: String,
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<DataFilter>,
}

impl AcceptanceRule {
    pub fn new(source: impl Into<String>, ty: impl Into<String>) -> Self {
        AcceptanceRule {
            source: source.into(),
            ty: ty.into(),
            data: Vec::new(),
        }
    }

    pub fn with_data(mut self, field: impl Into<String>, value: impl Into<String>) -> Self {
        self.data.push(DataFilter::new(field, value));
        self
    }

    pub fn accepts(&self, event: &CloudEvent) -> bool {
        self.source == event.source
            && self.ty == event.ty
            && DataFilter::all_match(&self.data, &event.data)
    }
}

/// A service's acceptance rules; an event is accepted if any rule accepts it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AcceptancePolicy {
    pub rules: Vec<AcceptanceRule>,
}

impl AcceptancePolicy {
    pub fn new(rules: Vec<AcceptanceRule>) -> Self {
        AcceptancePolicy { rules }
    }

    /// `None` if accepted, otherwise why not (the reason putEvents reports).
    pub fn check(&self, event: &CloudEvent) -> Option<String> {
        if self.rules.iter().any(|rule| rule.accepts(event)) {
            return None;
        }
        let same_kind = self
            .rules
            .iter()
            .any(|r| r.source == event.source && r.ty == event.ty);
        Some(if same_kind {
            format!(
                "{} from {} is accepted only where its data match this service's filter",
                event.ty, event.source
            )
        } else {
            format!(
                "this service does not accept {} from {}",
                event.ty, event.source
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::sample_event;
    use serde_json::json;

    #[test]
    fn accepts_by_source_type_and_data() {
        let policy = AcceptancePolicy::new(vec![
            AcceptanceRule::new("office", "enrolled").with_data("group", "se"),
            AcceptanceRule::new("theory", "hired"),
        ]);
        let ours = sample_event("1", "office", "enrolled", json!({"group":"se"}));
        let theirs = sample_event("2", "office", "enrolled", json!({"group":"theory"}));
        let hired = sample_event("3", "theory", "hired", json!({}));
        let relayed = sample_event("4", "pool", "hired", json!({}));
        assert_eq!(policy.check(&ours), None);
        assert!(policy.check(&theirs).unwrap().contains("filter"));
        assert_eq!(policy.check(&hired), None);
        assert!(policy
            .check(&relayed)
            .unwrap()
            .contains("does not accept hired from pool"));
    }
}
