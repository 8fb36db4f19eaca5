//! The one error shape every route answers with: a status and `{"error": message, …}`.
//!
//! Clients (the GUIs, peers' sync links, scripts) read the reason from JSON, so nothing this
//! crate answers with a 4xx or 5xx may carry another body — not even axum's own rejections.
//! `Asked::rewrite`, in the one middleware every request passes (`front.rs`), is the
//! safety net that rewrites any such response that slipped through.
//!
//! Statuses follow one rule: what a client sent wrong is a 4xx; a store failure, a stopping or
//! an overloaded service is 503 (try again later; an overloaded one says when, in
//! `Retry-After`); only a bug in this process is a 500.

use axum::extract::rejection::BytesRejection;
use axum::extract::Request;
use axum::http::header::{ALLOW, CONNECTION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use concord_core::event::EventError;
use concord_core::host::HostError;
use concord_core::{CommandError, StoreError};
use serde_json::{Map, Value};

/// How long an overloaded service asks clients to wait before they retry (`Retry-After`).
pub const RETRY_AFTER_SECS: u32 = 1;

/// An error answer: a status and a JSON object whose `error` member says why.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    status: StatusCode,
    body: Map<String, Value>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let mut body = Map::new();
        body.insert("error".to_owned(), Value::String(message.into()));
        ApiError {
            status,
            body,
            headers: Vec::new(),
        }
    }

    /// 503 with `Retry-After`: the service sheds this request to stay responsive; nothing of
    /// it was done, and the same request may be sent again after the pause.
    pub fn overloaded(message: impl Into<String>) -> Self {
        Self::unavailable(message).with_header(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS))
    }

    /// 413: the body is over [`MAX_BODY_BYTES`](crate::MAX_BODY_BYTES).
    pub fn body_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "request body is larger than {} MiB",
                crate::MAX_BODY_BYTES >> 20
            ),
        )
    }

    /// Adds a header to the answer.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Asks the client to close the connection after this answer: for refusals sent before
    /// the request's body was read, whose rest would otherwise be taken for the next request.
    pub fn closing(self) -> Self {
        self.with_header(CONNECTION, HeaderValue::from_static("close"))
    }

    /// The headers added to the answer (e.g. `Retry-After`).
    pub fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// Adds a machine-readable member next to `error` (e.g. the `index` of a bad event).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.body.insert(key.to_owned(), value.into());
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn message(&self) -> &str {
        self.body
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The answer for a malformed event of a posted batch: it names the index and attribute,
    /// so a sender can find the culprit in a batch of thousands.
    pub fn malformed_event(index: usize, error: &EventError) -> Self {
        Self::bad_request(format!("event at index {index}: {error}"))
            .with("index", index)
            .with("attribute", error.attribute.as_str())
    }

    /// A body that could not be read: too large (413) or broken off by the client (400).
    pub fn from_body_rejection(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::body_too_large()
        } else {
            Self::bad_request(format!("cannot read the request body: {rejection}"))
        }
    }

    /// A panic in a blocking task: a bug here, never the client's fault.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message())
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = self.status.as_u16(), error = %self.message(), "request failed");
        } else {
            tracing::debug!(status = self.status.as_u16(), error = %self.message(), "request refused");
        }
        let mut response = (self.status, Json(Value::Object(self.body))).into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

impl From<CommandError> for ApiError {
    fn from(error: CommandError) -> Self {
        let status = match error {
            CommandError::Invalid(_) => StatusCode::BAD_REQUEST,
            CommandError::NotFound(_) => StatusCode::NOT_FOUND,
            CommandError::Conflict(_) => StatusCode::CONFLICT,
            CommandError::Fault(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, error.to_string())
    }
}

impl From<HostError> for ApiError {
    fn from(error: HostError) -> Self {
        match error {
            HostError::Command(error) => error.into(),
            HostError::Refused(refusal) => Self::malformed_event(refusal.index, &refusal.error),
            // The domain's code failed rebuilding the model: a fault, not an outage that a
            // retry outlasts, and said so without "the event store failed".
            HostError::Store(model @ StoreError::Model(_)) => Self::internal(model.to_string()),
            HostError::Store(_) | HostError::Stopped => Self::unavailable(error.to_string()),
            HostError::Overloaded { .. } => Self::overloaded(error.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "event store failure");
        match error {
            StoreError::Model(_) => Self::internal(error.to_string()),
            _ => Self::unavailable(error.to_string()),
        }
    }
}

/// Runs synchronous work (store reads, parsing and validating large bodies, model reads under
/// the writer's lock) on the blocking pool, so it never stalls the async workers.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|join| {
            tracing::error!(error = %join, "a blocking task failed");
            Err(ApiError::internal(
                "internal error while handling the request",
            ))
        })
}

/// What an error's message names of the request it answers; see [`Asked::rewrite`].
pub(crate) struct Asked {
    method: Method,
    uri: Uri,
}

impl Asked {
    pub(crate) fn of(request: &Request) -> Self {
        Asked {
            method: request.method().clone(),
            uri: request.uri().clone(),
        }
    }

    /// Rewrites any 4xx/5xx that is not JSON (axum's own 405, a rejection from an extractor)
    /// into the JSON error shape, keeping its status (and an `Allow` header). The GUI's pages
    /// are the one exception: a form's error is shown as the page, in HTML.
    pub(crate) fn rewrite(self, response: Response) -> Response {
        let status = response.status();
        if !(status.is_client_error() || status.is_server_error())
            || is_json(response.headers())
            || is_html(response.headers())
        {
            return response;
        }
        let Asked { method, uri } = self;
        let message = match status {
            StatusCode::NOT_FOUND => format!("no route {method} {}", uri.path()),
            // axum adds the `Allow` header itself, after this rewrite has run.
            StatusCode::METHOD_NOT_ALLOWED => {
                format!("method {method} is not allowed on {}", uri.path())
            }
            other => other.canonical_reason().unwrap_or("error").to_owned(),
        };
        let mut rewritten = ApiError::new(status, message).into_response();
        if let Some(allow) = response.headers().get(ALLOW) {
            rewritten.headers_mut().insert(ALLOW, allow.clone());
        }
        rewritten
    }
}

fn is_html(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html"))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_that_cannot_be_rebuilt_is_a_500_and_a_store_down_a_503() {
        let model = || StoreError::Model("the domain's code panicked".into());
        let down = || StoreError::Backend("connection refused".into());
        let failed = ApiError::from(HostError::Store(model()));
        assert_eq!(failed.status(), 500);
        assert_eq!(
            failed.body["error"], "the model cannot be rebuilt: the domain's code panicked",
            "not the store's failure"
        );
        assert_eq!(ApiError::from(model()).status(), 500);
        assert_eq!(ApiError::from(HostError::Store(down())).status(), 503);
        assert_eq!(ApiError::from(down()).status(), 503);
    }
}
