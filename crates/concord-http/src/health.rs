//! `GET /health`: liveness plus the two numbers an operator checks first.
//!
//! It reads the store (not a cached counter), so a 200 also says the store answers; a store
//! that fails makes it a 503.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use concord_core::EventStore;
use serde_json::{json, Value};

use crate::error::{blocking, ApiError};

pub(crate) const PATH: &str = concord_core::wire::paths::HEALTH;

#[derive(Clone)]
struct Health {
    name: Arc<str>,
    store: Arc<dyn EventStore>,
}

pub(crate) fn routes(name: &str, store: Arc<dyn EventStore>) -> Router {
    Router::new().route(PATH, get(health)).with_state(Health {
        name: name.into(),
        store,
    })
}

async fn health(State(health): State<Health>) -> Result<Json<Value>, ApiError> {
    let store = Arc::clone(&health.store);
    let (events, last_sequence) =
        blocking(move || Ok((store.count()?, store.last_sequence()?))).await?;
    Ok(Json(json!({
        "status": "ok",
        "service": &*health.name,
        "events": events,
        "lastSequence": last_sequence,
    })))
}
