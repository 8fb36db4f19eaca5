//! What a link is: which peer, which direction, which events, how fast.

use concord_core::event::DataFilter;
use concord_core::store::ReadQuery;
use serde::{Deserialize, Serialize};

use crate::Millis;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Read the peer's log, apply locally.
    Pull,
    /// Read the local log, deliver to the peer.
    Push,
}

/// One link of a service, as configured (TOML `[[links]]` tables).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// Unique among the service's links; names its durable cursor.
    pub name: String,
    /// The peer service's name.
    pub peer: String,
    /// The peer's base URL (for HTTP links), e.g. `http://127.0.0.1:7070`.
    #[serde(default)]
    pub url: String,
    pub direction: Direction,
    /// Event types the link carries; empty means all.
    #[serde(default)]
    pub types: Vec<String>,
    /// Original sources the link carries; empty means all (a push link defaults to the
    /// service's own events when built with [`LinkSpec::push`]).
    #[serde(default)]
    pub sources: Vec<String>,
    /// Equality filters on data fields.
    #[serde(default)]
    pub filter: Vec<DataFilter>,
    /// Events per page.
    #[serde(default = "default_page_size")]
    pub page_size: usize,
    /// How long an idle link waits before looking again.
    #[serde(default = "default_interval")]
    pub interval_ms: Millis,
}

fn default_page_size() -> usize {
    1000
}

fn default_interval() -> Millis {
    1000
}

impl LinkSpec {
    /// A pull link from `peer` for events of `types`.
    pub fn pull(peer: &str, url: &str, types: &[&str]) -> Self {
        LinkSpec {
            name: format!("pull-{}-from-{peer}", types.join("-")),
            peer: peer.to_owned(),
            url: url.to_owned(),
            direction: Direction::Pull,
            types: types.iter().map(|t| (*t).to_owned()).collect(),
            sources: Vec::new(),
            filter: Vec::new(),
            page_size: default_page_size(),
            interval_ms: default_interval(),
        }
    }

    /// A push link delivering this service's own events of `types` to `peer`.
    pub fn push(own_name: &str, peer: &str, url: &str, types: &[&str]) -> Self {
        LinkSpec {
            name: format!("push-{}-to-{peer}", types.join("-")),
            direction: Direction::Push,
            sources: vec![own_name.to_owned()],
            ..Self::pull(peer, url, types)
        }
    }

    pub fn with_filter(mut self, field: &str, value: &str) -> Self {
        self.filter.push(DataFilter::new(field, value));
        self
    }

    pub fn with_interval(mut self, interval_ms: Millis) -> Self {
        self.interval_ms = interval_ms;
        self
    }

    /// The read this link makes (of the peer's log for a pull, of its own for a push).
    pub fn query(&self, after: u64) -> ReadQuery {
        ReadQuery {
            after,
            limit: self.page_size.clamp(1, ReadQuery::MAX_LIMIT),
            types: self.types.clone(),
            sources: self.sources.clone(),
            data: self.filter.clone(),
        }
    }

    /// Checks what a configuration file cannot express by its shape alone.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("a link needs a name".into());
        }
        if self.peer.trim().is_empty() {
            return Err(format!("link {}: peer must not be empty", self.name));
        }
        if self.page_size == 0 {
            return Err(format!("link {}: page_size must be at least 1", self.name));
        }
        if self.interval_ms == 0 {
            return Err(format!(
                "link {}: interval_ms must be at least 1",
                self.name
            ));
        }
        Ok(())
    }
}
