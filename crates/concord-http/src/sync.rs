//! `GET`/`POST /api/sync`: the status of this service's sync links, and "sync now";
//! `POST /api/sync/links/{name}/reset` and `/retry`: an operator's two repairs of a link.
//!
//! The links themselves live elsewhere (they are sans-IO state machines driven by their own
//! tasks); this crate only needs to ask them a few things, so it defines the small
//! [`SyncControl`] trait they implement. Without links `/api/sync` answers `{"links":[]}`
//! and the repairs answer 404. Either way `GET /api/sync` adds the inbound view — the peers
//! that pull from and push to this service ([`Inbound`](crate::inbound::Inbound)) — as
//! `"inbound": {"lastSequence", "peers": [{"peer","lastPull","pulledUpTo","lag","lastPush",
//! "lastPushEvents","pushedEvents"}]}`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use concord_core::EventStore;

use crate::error::{blocking, ApiError};
use crate::Telemetry;

pub(crate) const PATH: &str = "/api/sync";
/// Where the per-link routes live; a domain route may not start with it.
pub(crate) const LINKS_PREFIX: &str = "/api/sync/links/";
/// `POST` here resets a link's cursor (restarting a link that stopped on a peer store that
/// is not its cursor's).
pub(crate) const RESET_PATH: &str = "/api/sync/links/{name}/reset";
/// `POST` here re-delivers a link's dead letters.
pub(crate) const RETRY_PATH: &str = "/api/sync/links/{name}/retry";

/// A boxed future, so the trait stays object safe without an async-trait dependency.
pub type SyncFuture<'a> = Pin<Box<dyn Future<Output = Value> + Send + 'a>>;

/// The future of an operator's repair of one link.
pub type RepairFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, SyncError>> + Send + 'a>>;

/// Why a repair of a link did not happen.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error("this service has no link named {0:?}")]
    UnknownLink(String),
    #[error("{0}")]
    Failed(String),
}

impl From<SyncError> for ApiError {
    fn from(error: SyncError) -> Self {
        match error {
            SyncError::UnknownLink(_) => ApiError::not_found(error.to_string()),
            SyncError::Failed(_) => ApiError::unavailable(error.to_string()),
        }
    }
}

/// What the HTTP shell asks of a service's sync links.
pub trait SyncControl: Send + Sync + 'static {
    /// The answer to `GET /api/sync`: `{"links":[{"name","peer","direction",…}]}`
    /// (CONTRACT §3). Called on the blocking pool, so it may read the store.
    fn status(&self) -> Value;

    /// The answer to `POST /api/sync`: runs every pull and push once, now, and summarises
    /// each link's outcome.
    fn run_now(&self) -> SyncFuture<'_>;

    /// Resets a link's cursor to the start of its peer's log (or, for a push link, of its
    /// own), forgetting the peer store it belonged to; a stopped link runs again. Without
    /// such a link: [`SyncError::UnknownLink`].
    fn reset<'a>(&'a self, link: &'a str) -> RepairFuture<'a> {
        Box::pin(async move { Err(SyncError::UnknownLink(link.to_owned())) })
    }

    /// Re-delivers a link's dead letters (after a fix: a raised limit, a repaired peer);
    /// those carried now are forgotten, the others stay with their new reason.
    fn retry<'a>(&'a self, link: &'a str) -> RepairFuture<'a> {
        Box::pin(async move { Err(SyncError::UnknownLink(link.to_owned())) })
    }
}

type Control = Option<Arc<dyn SyncControl>>;

/// What `GET /api/sync` and the GUI's sync panel show: the links' status (`{"links":[…]}`)
/// and the inbound view. Reads the store: call it off the async workers.
pub fn full_status(
    control: Option<&Arc<dyn SyncControl>>,
    telemetry: &Telemetry,
    store: &dyn EventStore,
) -> Value {
    let mut status = match control {
        Some(control) => control.status(),
        None => json!({ "links": [] }),
    };
    let last_sequence = store.last_sequence().unwrap_or(0);
    status["inbound"] = telemetry.inbound.to_json(last_sequence);
    status
}

pub(crate) fn routes(
    control: Control,
    telemetry: &Telemetry,
    store: Arc<dyn EventStore>,
) -> Router {
    let reader = (control.clone(), telemetry.clone(), store);
    Router::new()
        .route(
            PATH,
            get(status)
                .with_state(reader)
                .post(run_now)
                .route_layer(axum::middleware::from_fn(crate::auth::require_json)),
        )
        .route(
            RESET_PATH,
            post(reset).route_layer(axum::middleware::from_fn(crate::auth::require_json)),
        )
        .route(
            RETRY_PATH,
            post(retry).route_layer(axum::middleware::from_fn(crate::auth::require_json)),
        )
        .with_state(control)
}

async fn reset(
    State(control): State<Control>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    match control {
        Some(control) => Ok(Json(control.reset(&name).await?)),
        None => Err(SyncError::UnknownLink(name).into()),
    }
}

async fn retry(
    State(control): State<Control>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    match control {
        Some(control) => Ok(Json(control.retry(&name).await?)),
        None => Err(SyncError::UnknownLink(name).into()),
    }
}

type Reader = (Control, Telemetry, Arc<dyn EventStore>);

async fn status(
    State((control, telemetry, store)): State<Reader>,
) -> Result<Json<Value>, ApiError> {
    let status = blocking(move || Ok(full_status(control.as_ref(), &telemetry, &*store))).await?;
    Ok(Json(status))
}

async fn run_now(State(control): State<Control>) -> Json<Value> {
    match control {
        Some(control) => Json(control.run_now().await),
        None => Json(json!({ "links": [] })),
    }
}
