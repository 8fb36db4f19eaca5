//! getEvents and putEvents (`GET`/`POST /api/events`), the two routes peers sync through.
//!
//! Both keep heavy work off the async workers: a read (up to 10 000 events) is read and
//! serialised on the blocking pool; a posted body (up to 16 MiB) is parsed and validated
//! there before anything reaches the service's writer. Validation of the whole batch comes
//! first so that one malformed event stores nothing (all or nothing, CONTRACT §3).

use std::io::Write;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use concord_core::host::Host;
use concord_core::runtime::{Disposition, PutReport};
use concord_core::{EventStore, Model};
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::cloudevents_http;
use crate::error::{blocking, ApiError};
use crate::read_query::parse_read_query;

pub(crate) const PATH: &str = "/api/events";

pub(crate) fn routes<M: Model>(host: Host<M>) -> Router {
    Router::new()
        .route(
            PATH,
            get(get_events::<M>)
                .post(put_events::<M>)
                .route_layer(axum::middleware::from_fn(crate::auth::require_json)),
        )
        .with_state(host)
}

async fn get_events<M: Model>(
    State(host): State<Host<M>>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let mut query = parse_read_query(uri.query().unwrap_or_default())?;
    // A peer's read scope: what it may not see is absent, paging stays exact (CONTRACT §6).
    query.scope = caller.read_scope();
    let store: Arc<dyn EventStore> = Arc::clone(host.store());
    let body = blocking(move || {
        let page = store.read(&query)?;
        // Not part of the contract's answer, but lets a pulling peer show how far behind it is.
        let last_sequence = store.last_sequence()?.max(page.next_after);
        let mut out = Vec::with_capacity(64 + page.events.len() * 320);
        out.extend_from_slice(b"{\"events\":");
        serde_json::to_writer(&mut out, &page.events)
            .map_err(|e| ApiError::internal(format!("cannot serialise events: {e}")))?;
        write!(
            out,
            ",\"next_after\":{},\"has_more\":{},\"last_sequence\":{}}}",
            page.next_after, page.has_more, last_sequence
        )
        .map_err(|e| ApiError::internal(e.to_string()))?;
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
    State(host): State<Host<M>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body.map_err(ApiError::from_body_rejection)?;
    let events = {
        let host = host.clone();
        blocking(move || {
            let events = cloudevents_http::decode(&headers, &body)?;
            // One event outside the caller's put scope refuses the whole batch (403).
            caller.check_put(&events)?;
            host.core()
                .validate(&events)
                .map_err(|(index, error)| ApiError::malformed_event(index, &error))?;
            Ok(events)
        })
        .await?
    };
    let report = host.put_events(events, None).await?;
    tracing::debug!(
        accepted = report.accepted(),
        duplicates = report.duplicates(),
        ignored = report.ignored(),
        "putEvents"
    );
    let answer = report_json(&report);
    if let Some(index) = report
        .results
        .iter()
        .position(|(_, d)| matches!(d, Disposition::Rejected(_)))
    {
        // Cannot happen after `validate` above (same catalogue); answered honestly if it
        // ever does, with the per-event results, since other events may have been stored.
        tracing::error!(
            index,
            "an event passed validation but was rejected by the writer"
        );
        let reason = match &report.results[index].1 {
            Disposition::Rejected(reason) => reason.as_str(),
            _ => "",
        };
        return Err(
            ApiError::bad_request(format!("event at index {index}: {reason}"))
                .with("index", index)
                .with("results", answer["results"].clone()),
        );
    }
    Ok(Json(answer))
}

/// `{"accepted","duplicates","ignored","results":[{"id","status","reason"?}]}`
pub(crate) fn report_json(report: &PutReport) -> Value {
    let results: Vec<Value> = report
        .results
        .iter()
        .map(|(id, disposition)| {
            let mut result = json!({ "id": id });
            if let Ok(Value::Object(fields)) = serde_json::to_value(disposition) {
                result.as_object_mut().expect("an object").extend(fields);
            }
            result
        })
        .collect();
    json!({
        "accepted": report.accepted(),
        "duplicates": report.duplicates(),
        "ignored": report.ignored(),
        "results": results,
    })
}
