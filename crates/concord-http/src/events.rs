//! getEvents and putEvents (`GET`/`POST /api/events`), the two routes peers sync through.
//!
//! Both keep heavy work off the async workers: a read (up to 10 000 events or
//! [`MAX_PAGE_BYTES`]) is read and written on the blocking pool; a posted body (up to 16 MiB)
//! is parsed there, within the service's limits, before anything reaches the service's
//! writer. The writer then decides the batch all or nothing (docs/protocol.md §3.4): one malformed
//! event, or one from a clock too far ahead, stores nothing and is named by its index. The
//! documents themselves are written by `concord_core::wire`, which the links read with.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use concord_core::host::{Host, HostError};
use concord_core::runtime::External;
use concord_core::{wire, EventStore, Model};
use serde_json::Value;

use crate::auth::{Caller, Principal};
use crate::cloudevents_http;
use crate::error::{blocking, ApiError};
use crate::metrics::EventKinds;
use crate::read_query::parse_read_query;
use crate::Telemetry;

pub(crate) const PATH: &str = concord_core::wire::paths::EVENTS;

/// The service, and where it records what its callers did.
type Shell<M> = (Host<M>, Telemetry);

pub(crate) fn routes<M: Model>(host: Host<M>, telemetry: &Telemetry) -> Router {
    Router::new()
        .route(
            PATH,
            get(get_events::<M>)
                .post(put_events::<M>)
                .route_layer(axum::middleware::from_fn(crate::auth::require_json)),
        )
        .with_state((host, telemetry.clone()))
}

/// The most bytes of events one getEvents page carries (besides its `limit`): a page of
/// ten thousand events of a megabyte each would otherwise be gigabytes in memory here and at
/// the reader, which could never take it.
pub const MAX_PAGE_BYTES: usize = 4 << 20;

async fn get_events<M: Model>(
    State((host, telemetry)): State<Shell<M>>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let mut query = parse_read_query(uri.query().unwrap_or_default())?;
    query.max_bytes = Some(MAX_PAGE_BYTES);
    // A peer's read scope: what it may not see is absent, paging stays exact (docs/protocol.md §2.3).
    query.scope = caller.read_scope();
    let store: Arc<dyn EventStore> = Arc::clone(host.store());
    let body = blocking(move || {
        let page = store.read(&query)?;
        if let Principal::Peer(peer) = &caller.principal {
            telemetry
                .inbound
                .pulled(peer, page.next_after, crate::inbound::now());
        }
        // Not part of the contract's answer, but lets a pulling peer show how far behind it
        // is and tell a store that was replaced from the one its cursor belongs to. Read
        // after the page, so never below anything the page holds.
        let last_sequence = store.last_sequence()?;
        let mut out = Vec::new();
        wire::write_page(
            &mut out,
            &page.events,
            page.next_after,
            page.has_more,
            last_sequence,
            store.store_id(),
        );
        Ok(out)
    })
    .await?;
    Ok((
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        Bytes::from(body),
    )
        .into_response())
}

async fn put_events<M: Model>(
    State((host, telemetry)): State<Shell<M>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body.map_err(ApiError::from_body_rejection)?;
    let caller_name = caller.principal.clone();
    let events = {
        let limits = *host.limits();
        blocking(move || {
            let events = cloudevents_http::decode(&headers, &body, &limits)?;
            // One event outside the caller's put scope refuses the whole batch (403).
            caller.check_put(&events)?;
            Ok(events)
        })
        .await?
    };
    let kinds = EventKinds::of(&events);
    // Only the operator may inject events of a signing source unsigned (CONTRACT §6).
    let external = match caller_name {
        Principal::Operator => External::put_by_operator(events),
        Principal::Peer(_) => External::put(events),
    };
    let report = match host.take(external).await {
        Ok(report) => report,
        Err(HostError::Refused(refusal)) => {
            telemetry.metrics.record_refused(&kinds);
            return Err(ApiError::malformed_event(refusal.index, &refusal.error));
        }
        Err(other) => return Err(other.into()),
    };
    telemetry.metrics.record_intake(&kinds, &report);
    // An empty delivery is a push link's probe for this store's identity, not a push.
    if let (Principal::Peer(peer), false) = (&caller_name, kinds.is_empty()) {
        telemetry
            .inbound
            .pushed(peer, kinds.events(), crate::inbound::now());
    }
    tracing::debug!(
        accepted = report.accepted(),
        duplicates = report.duplicates(),
        conflicts = report.conflicts(),
        ignored = report.ignored(),
        "putEvents"
    );
    Ok(Json(wire::report_json(&report, host.store().store_id())))
}
