//! What a link is: which peer, which direction, which events, how fast.

use concord_core::event::DataFilter;
use concord_core::scope::EventPattern;
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

/// How a link reaches its peer.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// The contract's HTTP API: getEvents on the peer (pull), putEvents on the peer (push).
    /// `url` is the peer's base URL.
    #[default]
    Http,
    /// NATS JetStream: a push link publishes the service's events to the stream, a pull link
    /// consumes them from it with a durable consumer. `url` is the NATS server, e.g.
    /// `nats://127.0.0.1:4222`; the link's cursor is a position in the stream, so a link that
    /// changes transport must change its name too.
    Nats,
}

impl TransportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Http => "http",
            TransportKind::Nats => "nats",
        }
    }
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One link of a service, as configured (TOML `[[links]]` tables).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// Unique among the service's links; names its durable cursor.
    pub name: String,
    /// The peer service's name.
    pub peer: String,
    /// The peer's base URL for an HTTP link, e.g. `http://127.0.0.1:7070`; the NATS server
    /// for a NATS link, e.g. `nats://127.0.0.1:4222`.
    #[serde(default)]
    pub url: String,
    /// How the link reaches its peer: `"http"` (the default) or `"nats"`.
    #[serde(default)]
    pub transport: TransportKind,
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
            transport: TransportKind::Http,
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

    /// The same link over NATS JetStream via the server at `url` (e.g.
    /// `nats://127.0.0.1:4222`). A push link then publishes to the stream, a pull link
    /// consumes from it; `peer` only names the other side in status and topology.
    pub fn over_nats(mut self, url: &str) -> Self {
        self.transport = TransportKind::Nats;
        self.url = url.to_owned();
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
            max_bytes: None,
            scope: None,
        }
    }

    /// The events this link carries, as a pattern (its types, sources and data filters): for
    /// a pull link, what its service must be allowed to read from the peer.
    pub fn pattern(&self) -> EventPattern {
        EventPattern {
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
        let nats_url = ["nats://", "tls://"]
            .iter()
            .any(|scheme| self.url.starts_with(scheme));
        match self.transport {
            TransportKind::Nats if !nats_url => Err(format!(
                "link {}: a NATS link's url is the NATS server, e.g. nats://127.0.0.1:4222 (found {:?})",
                self.name, self.url
            )),
            TransportKind::Http if nats_url => Err(format!(
                "link {}: {:?} is a NATS server; add transport = \"nats\" to use it",
                self.name, self.url
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_http_unless_told_otherwise() {
        let link: LinkSpec = serde_json::from_value(serde_json::json!({
            "name": "l", "peer": "p", "url": "http://127.0.0.1:7070", "direction": "pull"
        }))
        .unwrap();
        assert_eq!(link.transport, TransportKind::Http);
        assert!(link.validate().is_ok());
        assert_eq!(
            LinkSpec::pull("p", "http://x", &["t"]).transport,
            TransportKind::Http
        );
    }

    #[test]
    fn a_nats_link_names_its_server() {
        let link: LinkSpec = serde_json::from_value(serde_json::json!({
            "name": "l", "peer": "p", "url": "nats://127.0.0.1:4222", "direction": "push",
            "transport": "nats"
        }))
        .unwrap();
        assert_eq!(link.transport, TransportKind::Nats);
        assert!(link.validate().is_ok());

        let over = LinkSpec::push("me", "p", "http://x", &["t"]).over_nats("nats://h:4222");
        assert_eq!(
            (over.transport, over.url.as_str()),
            (TransportKind::Nats, "nats://h:4222")
        );
        assert_eq!(serde_json::to_value(over.transport).unwrap(), "nats");

        let wrong = LinkSpec::pull("p", "http://127.0.0.1:7070", &["t"]).over_nats("");
        assert!(wrong.validate().unwrap_err().contains("NATS server"));
        let mut forgot = LinkSpec::pull("p", "nats://127.0.0.1:4222", &["t"]);
        assert!(forgot
            .validate()
            .unwrap_err()
            .contains("transport = \"nats\""));
        forgot.transport = TransportKind::Nats;
        assert!(forgot.validate().is_ok());
        let unknown = serde_json::from_value::<LinkSpec>(serde_json::json!({
            "name": "l", "peer": "p", "direction": "pull", "transport": "kafka"
        }));
        assert!(unknown.is_err());
    }
}
