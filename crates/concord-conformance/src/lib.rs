//! `concord conformance`: checks any service over the wire against Concord's protocol
//! (docs/protocol.md) — getEvents and putEvents, their modes, results and errors.
//!
//! The checker needs events the service accepts: from a sample file, or generated from the
//! service's `GET /api/asyncapi.json` ([`samples`]). It then runs every check of [`checks`]
//! against the live service, each one sending real requests and reading the answers
//! ([`client`]), and reports one [`Outcome`] per check: passed or not, what was sent and
//! what came back. It writes events to the service (fresh ids, the current time): run it
//! against a test deployment.
//!
//! Nothing here knows any domain: the service describes itself, or the user hands samples.

pub mod checks;
pub mod client;
pub mod samples;

use std::path::PathBuf;

use concord_core::wire::paths;
use serde_json::Value;

pub use checks::Outcome;

/// Why the checker could not run at all (a failing check is an [`Outcome`], not this).
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] concord_node::client::ClientError),
    #[error("{request}: {reason}")]
    Http { request: String, reason: String },
    #[error("not a valid HTTP header value: {0:?}")]
    Header(String),
    #[error("sample events: {0}")]
    Samples(String),
    #[error("cannot read {path}: {reason}")]
    SampleFile { path: PathBuf, reason: String },
    #[error("the service's AsyncAPI document: {0}")]
    AsyncApi(String),
}

/// What to check and how.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The service's base URL (`http://host:port`).
    pub url: String,
    /// The bearer token to present (the operator's, for a Concord service).
    pub token: Option<String>,
    /// A JSON array of example CloudEvents the service accepts; without it, events are
    /// generated from the service's AsyncAPI document.
    pub sample: Option<PathBuf>,
    /// A private CA to trust for an `https://` URL (PEM).
    pub ca: Option<PathBuf>,
}

/// Runs every check against the service; the outcomes in order.
pub async fn run(options: &Options) -> Result<Vec<Outcome>, ConformanceError> {
    let client = concord_node::client::build(options.ca.as_deref())?;
    let peer = client::Peer::new(client, &options.url, options.token.clone());
    let run = run_id();
    let samples = match &options.sample {
        Some(path) => {
            let text = std::fs::read(path).map_err(|e| ConformanceError::SampleFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let value: Value =
                serde_json::from_slice(&text).map_err(|e| ConformanceError::SampleFile {
                    path: path.clone(),
                    reason: format!("not JSON: {e}"),
                })?;
            samples::Samples::from_file_json(&value, &run)?
        }
        None => {
            let answer = peer.get(paths::ASYNCAPI, client::Credential::Given).await?;
            if !answer.status.is_success() {
                return Err(ConformanceError::AsyncApi(format!(
                    "GET /api/asyncapi.json answered {} (give --sample FILE instead)",
                    answer.describe()
                )));
            }
            let doc = answer.json().ok_or_else(|| {
                ConformanceError::AsyncApi("GET /api/asyncapi.json is not JSON".into())
            })?;
            samples::Samples::from_asyncapi(&doc, &run)?
        }
    };
    Ok(checks::Checker::new(peer, samples, run).run_all().await)
}

/// A prefix no earlier run used: every event id of this run starts with it.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("conformance-{nanos:x}")
}

/// The current time as RFC 3339 (microseconds, UTC), as services stamp their events.
pub fn now() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    concord_core::Timestamp::from_unix_nanos(nanos as i128).to_rfc3339()
}
