//! The HTTP shell of a Concord service: a thin, domain-agnostic axum router around a
//! [`Host`], serving any [`ServiceSpec`]'s event store, sync links and commands/queries.
//!
//! Everything a service decides lives in `concord-core` and the domain crate; this crate only
//! translates HTTP to calls on the host and back (docs/protocol.md): it parses, validates the shape
//! of what arrives, runs blocking work off the async workers, and maps every outcome to a
//! status with a JSON body. A client can never cause a 5xx; a failing store is a 503.
//!
//! # Layout
//!
//! - [`router`] (here): assembles the routes below behind the 16 MiB body limit and `front`:
//!   one middleware for the [`auth`] guard, the request count and the JSON errors.
//! - [`server`]: [`serve_with`] runs a router on a listener — our accept loop over hyper with
//!   TLS, timeouts, connection and in-flight caps, and graceful shutdown; [`serve`] with the
//!   default [`ServerLimits`].
//! - [`auth`]: principals, tokens, scopes, the GUI's login and sessions, the `Host`
//!   allow-list and security headers — the guard every route but `GET /health` passes.
//! - [`start`]: opens a [`ServiceSpec`] on a store, starts its host, builds its router.
//! - `health`: `GET /health`.
//! - [`keys`]: `GET /api/keys`, the public keys the service signs its events with.
//! - `events`: getEvents and putEvents (`GET`/`POST /api/events`).
//! - [`read_query`]: the getEvents query string → [`ReadQuery`](concord_core::ReadQuery).
//! - [`cloudevents_http`]: the three CloudEvents HTTP modes (structured, batched, binary).
//! - `api`: the domain's commands (`POST`) and queries (`GET`; a list one page at a time, with
//!   a `Link` header to the next).
//! - [`sync`]: `GET`/`POST /api/sync` and the [`SyncControl`] trait the sync links implement.
//! - [`openapi`]: the OpenAPI 3.1 document at `GET /api/openapi.json`.
//! - [`asyncapi`]: the AsyncAPI 3.0 document at `GET /api/asyncapi.json` — the events the
//!   service hands out and takes, from its catalogue and acceptance policy.
//! - [`gui`]: the GUI at `GET /` — the domain's [`View`](concord_core::ui::View) rendered
//!   as HTML, the sync panel, event log and topology — and its form routes under `/ui/`.
//! - [`error`]: [`ApiError`], the one JSON error shape, and the rewrite enforcing it.
//! - [`metrics`]: `GET /metrics` (Prometheus), the store wrapper that times commits, and the
//!   count of requests; [`inbound`]: who pulled from and pushed to this service;
//!   [`lag`]: each link's recent lag, drawn in the sync panel.

mod api;
pub mod asyncapi;
pub mod auth;
pub mod cloudevents_http;
pub mod error;
mod events;
mod front;
pub mod gui;
mod health;
pub mod inbound;
pub mod keys;
pub mod lag;
pub mod metrics;
pub mod openapi;
pub mod read_query;
pub mod server;
pub mod start;
pub mod sync;

use std::future::Future;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Method, Uri};
use axum::routing::get;
use axum::Router;
use concord_core::host::Host;
#[cfg(doc)]
use concord_core::ServiceSpec;
use concord_core::{Api, Model};

pub use api::check_api;
pub use auth::{AuthConfig, Authenticator, Caller, PeerAuth, Principal, TokenHash};
pub use error::ApiError;
pub use gui::Gui;
pub use inbound::Inbound;
pub use metrics::Metrics;
pub use server::{serve_with, ServeOptions, ServerLimits, ServerTls, TlsError};
pub use start::{start_service, RunningService, StartError, StartOptions};
pub use sync::{
    LinkRun, Repair, RepairFuture, SyncControl, SyncError, SyncFuture, SyncRun, SyncStatus,
};

/// The largest request body accepted (over 16 MiB → 413).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// What a service observes about itself: its metrics and who calls it (see [`metrics`] and
/// [`inbound`]).
#[derive(Clone)]
pub struct Telemetry {
    pub metrics: Arc<Metrics>,
    pub inbound: Arc<Inbound>,
    /// Sampled by the node's link runner, drawn by the GUI.
    pub lag: Arc<lag::LagHistory>,
}

/// The router of a running service: the shell's routes, the domain's `api`, `/api/sync`
/// answered by `sync` (or `{"links":[]}` without it) with the inbound view of `telemetry`,
/// `/metrics`, and the GUI, which knows the rest of the system through `gui` — every route
/// behind `auth`'s guard, every request counted.
///
/// # Panics
///
/// If `api` cannot be served (see [`check_api`]): a programming error in the domain, found by
/// any test that builds its router. [`start_service`] reports it as an error instead.
pub fn router<M: Model>(
    host: &Host<M>,
    api: &Api<M>,
    sync: Option<Arc<dyn SyncControl>>,
    gui: &Gui,
    auth: &Arc<Authenticator>,
    telemetry: &Telemetry,
) -> Router {
    if let Err(problem) = check_api(api) {
        panic!("{problem}");
    }
    let name = host.core().name().to_owned();
    let (openapi, asyncapi) = {
        let core = host.core();
        let schemas = core.catalogue().schemas();
        let openapi = openapi::document(&name, api, &schemas, host.limits());
        let asyncapi = asyncapi::document(&name, &schemas, core.policy(), host.limits());
        let bytes = |doc: &serde_json::Value| {
            Bytes::from(serde_json::to_vec(doc).expect("a JSON value serialises"))
        };
        (bytes(&openapi), bytes(&asyncapi))
    };
    Router::new()
        .merge(gui::routes(host, api, sync.clone(), gui, telemetry))
        .merge(health::routes(&name, Arc::clone(host.store())))
        .merge(keys::routes(host.core().signer()))
        .merge(events::routes(host.clone(), telemetry))
        .merge(sync::routes(sync, telemetry, Arc::clone(host.store())))
        .merge(metrics::routes(Arc::clone(&telemetry.metrics)))
        .route(openapi::PATH, get(move || json_document(openapi.clone())))
        .route(asyncapi::PATH, get(move || json_document(asyncapi.clone())))
        .merge(api::routes(host, api))
        .merge(auth::login::routes(Arc::clone(auth)))
        .fallback(|method: Method, uri: Uri| async move {
            ApiError::not_found(format!("no route {method} {}", uri.path()))
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // The guard, the count and the JSON errors, in one layer (see `front.rs`); it applies
        // to the fallback too: an unknown path needs a token.
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(front::Front {
                auth: Arc::clone(auth),
                metrics: Arc::clone(&telemetry.metrics),
            }),
            front::front,
        ))
}

/// A document made once at start (OpenAPI, AsyncAPI), served as JSON.
async fn json_document(body: Bytes) -> impl axum::response::IntoResponse {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
}

/// Serves `router` over plain HTTP with the default [`ServerLimits`] on `listener` until
/// `shutdown` completes; then stops accepting, lets the requests in flight finish, and returns.
/// See [`serve_with`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, ServeOptions::default(), shutdown).await
}

/// Completes on Ctrl-C or (on Unix) SIGTERM: the usual `shutdown` for [`serve`].
///
/// The handlers are installed when this is called, not when the future is first polled: call
/// it before the service starts listening, so a signal that arrives as soon as a client can
/// see the service (a supervisor, a test harness) stops it gracefully instead of killing it.
/// Must be called within a Tokio runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |installed: std::io::Result<tokio::signal::unix::Signal>,
                        name: &'static str| async move {
                match installed {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot listen for {name}");
                        std::future::pending::<()>().await;
                    }
                }
            };
            tokio::select! {
                () = wait(interrupt, "Ctrl-C") => tracing::info!("Ctrl-C: shutting down"),
                () = wait(terminate, "SIGTERM") => tracing::info!("SIGTERM: shutting down"),
            }
        }
        #[cfg(not(unix))]
        {
            if let Err(error) = tokio::signal::ctrl_c().await {
                tracing::warn!(%error, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
            tracing::info!("Ctrl-C: shutting down");
        }
    }
}
