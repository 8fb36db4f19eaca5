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
use concord_core::host::HostError;
use concord_core::store::StoreError;
use concord_sync::{Direction, LinkState, LinkStatus};
use serde::Serialize;

use concord_core::EventStore;

use crate::error::{blocking, ApiError};
use crate::inbound::InboundView;
use crate::Telemetry;

pub(crate) const PATH: &str = concord_core::wire::paths::SYNC;
/// Where the per-link routes live; a domain route may not start with it.
pub(crate) const LINKS_PREFIX: &str = "/api/sync/links/";
/// `POST` here resets a link's cursor (restarting a link that stopped on a peer store that
/// is not its cursor's).
pub(crate) const RESET_PATH: &str = "/api/sync/links/{name}/reset";
/// `POST` here re-delivers a link's dead letters.
pub(crate) const RETRY_PATH: &str = "/api/sync/links/{name}/retry";

/// A boxed future, so the trait stays object safe without an async-trait dependency.
pub type SyncFuture<'a> = Pin<Box<dyn Future<Output = SyncRun> + Send + 'a>>;

/// The future of an operator's repair of one link.
pub type RepairFuture<'a> = Pin<Box<dyn Future<Output = Result<Repair, SyncError>> + Send + 'a>>;

/// The answer to `GET /api/sync`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SyncStatus {
    pub links: Vec<LinkStatus>,
    /// Set when the links' dead letters could not be read: the links are shown without them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Who pulls from and pushes to this service (added by the HTTP shell, not the links).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbound: Option<InboundView>,
}

/// The answer to `POST /api/sync`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SyncRun {
    pub links: Vec<LinkRun>,
}

/// What "sync now" did with one link.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkRun {
    pub name: String,
    pub peer: String,
    pub direction: Direction,
    pub state: LinkState,
    pub rounds: usize,
    /// Events carried by these rounds.
    pub carried: u64,
    pub cursor: u64,
    /// No failure and not stopped.
    pub ok: bool,
    pub last_error: Option<String>,
    /// Dead letters the link holds after the rounds.
    pub rejected: u64,
}

/// What an operator's repair of a link did.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Repair {
    /// The cursor is back at the start of the peer's log.
    Reset { link: String, cursor: u64 },
    /// Dead letters were delivered again: `resolved` of them are carried now, `rejected`
    /// remain.
    Retry {
        link: String,
        retried: usize,
        resolved: u64,
        rejected: u64,
    },
}

/// Why a repair of a link did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("this service has no link named {0:?}")]
    UnknownLink(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Host(#[from] HostError),
    /// The peer did not take what was delivered again (a push link's retry).
    #[error("{0}")]
    Delivery(String),
}

impl From<SyncError> for ApiError {
    fn from(error: SyncError) -> Self {
        match error {
            SyncError::UnknownLink(_) => ApiError::not_found(error.to_string()),
            _ => ApiError::unavailable(error.to_string()),
        }
    }
}

/// What the HTTP shell asks of a service's sync links.
pub trait SyncControl: Send + Sync + 'static {
    /// The answer to `GET /api/sync`. Called on the blocking pool, so it may
    /// read the store.
    fn status(&self) -> SyncStatus;

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

/// What `GET /api/sync` and the GUI's sync panel show: the links' status and the inbound
/// view. Reads the store: call it off the async workers.
pub fn full_status(
    control: Option<&Arc<dyn SyncControl>>,
    telemetry: &Telemetry,
    store: &dyn EventStore,
) -> SyncStatus {
    let mut status = control.map(|control| control.status()).unwrap_or_default();
    let last_sequence = store.last_sequence().unwrap_or(0);
    status.inbound = Some(telemetry.inbound.view(last_sequence));
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
) -> Result<Json<Repair>, ApiError> {
    match control {
        Some(control) => Ok(Json(control.reset(&name).await?)),
        None => Err(SyncError::UnknownLink(name).into()),
    }
}

async fn retry(
    State(control): State<Control>,
    Path(name): Path<String>,
) -> Result<Json<Repair>, ApiError> {
    match control {
        Some(control) => Ok(Json(control.retry(&name).await?)),
        None => Err(SyncError::UnknownLink(name).into()),
    }
}

type Reader = (Control, Telemetry, Arc<dyn EventStore>);

async fn status(
    State((control, telemetry, store)): State<Reader>,
) -> Result<Json<SyncStatus>, ApiError> {
    let status = blocking(move || Ok(full_status(control.as_ref(), &telemetry, &*store))).await?;
    Ok(Json(status))
}

async fn run_now(State(control): State<Control>) -> Json<SyncRun> {
    match control {
        Some(control) => Json(control.run_now().await),
        None => Json(SyncRun::default()),
    }
}
