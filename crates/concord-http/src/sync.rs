//! `GET`/`POST /api/sync`: the status of this service's sync links, and "sync now".
//!
//! The links themselves live elsewhere (they are sans-IO state machines driven by their own
//! tasks); this crate only needs to ask them two things, so it defines the small
//! [`SyncControl`] trait they implement. Without links both routes answer `{"links":[]}`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::{blocking, ApiError};

pub(crate) const PATH: &str = "/api/sync";

/// A boxed future, so the trait stays object safe without an async-trait dependency.
pub type SyncFuture<'a> = Pin<Box<dyn Future<Output = Value> + Send + 'a>>;

/// What the HTTP shell asks of a service's sync links.
pub trait SyncControl: Send + Sync + 'static {
    /// The answer to `GET /api/sync`: `{"links":[{"name","peer","direction",…}]}`
    /// (CONTRACT §3). Called on the blocking pool, so it may read the store.
    fn status(&self) -> Value;

    /// The answer to `POST /api/sync`: runs every pull and push once, now, and summarises
    /// each link's outcome.
    fn run_now(&self) -> SyncFuture<'_>;
}

type Control = Option<Arc<dyn SyncControl>>;

pub(crate) fn routes(control: Control) -> Router {
    Router::new()
        .route(
            PATH,
            get(status)
                .post(run_now)
                .route_layer(axum::middleware::from_fn(crate::auth::require_json)),
        )
        .with_state(control)
}

async fn status(State(control): State<Control>) -> Result<Json<Value>, ApiError> {
    match control {
        Some(control) => Ok(Json(blocking(move || Ok(control.status())).await?)),
        None => Ok(Json(json!({ "links": [] }))),
    }
}

async fn run_now(State(control): State<Control>) -> Json<Value> {
    match control {
        Some(control) => Json(control.run_now().await),
        None => Json(json!({ "links": [] })),
    }
}
