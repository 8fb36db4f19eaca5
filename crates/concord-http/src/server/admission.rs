//! What happens to a request before the router sees it, in two stages with separate bounds.
//!
//! 1. **The body is read** in full, within the body timeout counted from the end of the
//!    header (a total, not a per-read timeout: a client trickling a byte a second is cut just
//!    the same), at most [`MAX_BODY_BYTES`], and within the server's body budget — the bytes
//!    of all request bodies held at once — taken as they arrive, so a client holds only what
//!    it has really sent. A refusal here is 408, 413 or 503 and closes the connection.
//! 2. **The request is handled** if one of the in-flight slots is free (503 with
//!    `Retry-After` otherwise: shed, not queued), within the request timeout (503).
//!
//! Requests reading their bodies do not take in-flight slots, so slow senders cannot starve
//! quick requests such as `GET /health`; and the budget bounds the memory of bodies together,
//! whatever the number of connections.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

use super::ServerLimits;
use crate::error::ApiError;
use crate::MAX_BODY_BYTES;

/// The router behind the two stages; cheap to clone.
#[derive(Clone)]
pub(crate) struct Admission {
    router: Router,
    in_flight: Arc<Semaphore>,
    budget: Arc<Semaphore>,
    limits: Arc<ServerLimits>,
}

impl Admission {
    pub(crate) fn new(router: Router, limits: Arc<ServerLimits>) -> Self {
        Admission {
            router,
            in_flight: Arc::new(Semaphore::new(limits.max_requests)),
            budget: Arc::new(Semaphore::new(limits.body_budget)),
            limits,
        }
    }

    /// Answers one request; every refusal is the JSON error shape.
    pub(crate) async fn handle<B>(&self, request: Request<B>) -> Response
    where
        B: http_body::Body<Data = Bytes> + Unpin,
        B::Error: std::fmt::Display,
    {
        let (parts, body) = request.into_parts();
        // Held until the handler is done with the bytes it counts.
        let mut held: Option<OwnedSemaphorePermit> = None;
        let body = match self.read_body(&parts.headers, body, &mut held).await {
            Ok(body) => body,
            Err(refusal) => return refusal.closing().into_response(),
        };
        let Ok(_slot) = Arc::clone(&self.in_flight).try_acquire_owned() else {
            return ApiError::overloaded(format!(
                "the service is overloaded: {} requests are in flight; retry later",
                self.limits.max_requests
            ))
            .into_response();
        };
        let request = Request::from_parts(parts, body);
        let answered = tokio::time::timeout(
            self.limits.request_timeout,
            self.router.clone().oneshot(request),
        )
        .await;
        match answered {
            Ok(Ok(response)) => response,
            Ok(Err(never)) => match never {},
            Err(_) => ApiError::unavailable(format!(
                "the service did not answer within {}; the request may still take effect, \
                 and sending it again is safe",
                seconds(self.limits.request_timeout)
            ))
            .into_response(),
        }
    }

    async fn read_body<B>(
        &self,
        headers: &HeaderMap,
        body: B,
        held: &mut Option<OwnedSemaphorePermit>,
    ) -> Result<Body, ApiError>
    where
        B: http_body::Body<Data = Bytes> + Unpin,
        B::Error: std::fmt::Display,
    {
        if body.is_end_stream() {
            return Ok(Body::empty());
        }
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
            return Err(ApiError::body_too_large());
        }
        match tokio::time::timeout(self.limits.body_timeout, self.collect(body, held)).await {
            Ok(read) => read,
            Err(_) => Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {}",
                    seconds(self.limits.body_timeout)
                ),
            )),
        }
    }

    async fn collect<B>(
        &self,
        mut body: B,
        held: &mut Option<OwnedSemaphorePermit>,
    ) -> Result<Body, ApiError>
    where
        B: http_body::Body<Data = Bytes> + Unpin,
        B::Error: std::fmt::Display,
    {
        let mut chunks: Vec<Bytes> = Vec::new();
        let mut total = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame
                .map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            total += data.len();
            if total > MAX_BODY_BYTES {
                return Err(ApiError::body_too_large());
            }
            // A frame is at most a few hundred KiB, far below u32::MAX.
            let Ok(permit) = Arc::clone(&self.budget).try_acquire_many_owned(data.len() as u32)
            else {
                return Err(ApiError::overloaded(format!(
                    "the service is overloaded: it holds {} MiB of request bodies already; \
                     retry later",
                    self.limits.body_budget >> 20
                )));
            };
            match held {
                Some(all) => all.merge(permit),
                None => *held = Some(permit),
            }
            chunks.push(data);
        }
        Ok(Body::from(concatenate(chunks, total)))
    }
}

fn concatenate(mut chunks: Vec<Bytes>, total: usize) -> Bytes {
    if chunks.len() == 1 {
        return chunks.pop().unwrap_or_default();
    }
    let mut all = Vec::with_capacity(total);
    for chunk in chunks {
        all.extend_from_slice(&chunk);
    }
    Bytes::from(all)
}

/// "30 s", "1.5 s", "250 ms".
pub(crate) fn seconds(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else {
        format!("{} s", duration.as_secs_f64())
    }
}
