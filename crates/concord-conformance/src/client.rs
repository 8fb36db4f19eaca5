//! The checker's side of the wire: requests to the service under test and what came back,
//! kept whole (status, headers, body) so that a check can say exactly what it saw.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::ConformanceError;

/// How long one request may take; a service that does not answer fails the check.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Which credential a request presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// The token the checker was given (if any).
    Given,
    /// No `Authorization` header.
    None,
    /// A token no service knows.
    Unknown,
}

/// An answer, whole.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// A short account for a check's line: the status and the start of the body.
    pub fn describe(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        let shown: String = text.chars().take(160).collect();
        let more = if text.chars().count() > 160 {
            "…"
        } else {
            ""
        };
        format!("{} {shown}{more}", self.status.as_u16())
    }
}

/// The service under test.
pub struct Peer {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Peer {
    pub fn new(client: reqwest::Client, base: &str, token: Option<String>) -> Self {
        Peer {
            client,
            base: base.trim_end_matches('/').to_owned(),
            token,
        }
    }

    /// `GET path` (with its query string).
    pub async fn get(
        &self,
        path_and_query: &str,
        credential: Credential,
    ) -> Result<Answer, ConformanceError> {
        self.send(
            Method::GET,
            path_and_query,
            credential,
            HeaderMap::new(),
            Vec::new(),
        )
        .await
    }

    /// `POST path` with this content type (if any), extra headers and body.
    pub async fn post(
        &self,
        path: &str,
        content_type: Option<&str>,
        extra: &[(String, String)],
        body: Vec<u8>,
        credential: Credential,
    ) -> Result<Answer, ConformanceError> {
        let mut headers = HeaderMap::new();
        if let Some(content_type) = content_type {
            headers.insert(CONTENT_TYPE, header_value(content_type)?);
        }
        for (name, value) in extra {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ConformanceError::Header(name.clone()))?;
            headers.insert(name, header_value(value)?);
        }
        self.send(Method::POST, path, credential, headers, body)
            .await
    }

    async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        credential: Credential,
        mut headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<Answer, ConformanceError> {
        let token = match credential {
            Credential::Given => self.token.clone(),
            Credential::None => None,
            Credential::Unknown => Some("conformance-unknown-token-0000000000".to_owned()),
        };
        if let Some(token) = token {
            headers.insert(AUTHORIZATION, header_value(&format!("Bearer {token}"))?);
        }
        let url = format!("{}{path_and_query}", self.base);
        let response = self
            .client
            .request(method.clone(), &url)
            .headers(headers)
            .body(body)
            .timeout(TIMEOUT)
            .send()
            .await
            .map_err(|e| ConformanceError::Http {
                request: format!("{method} {path_and_query}"),
                reason: error_chain(&e),
            })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| ConformanceError::Http {
                request: format!("{method} {path_and_query}"),
                reason: error_chain(&e),
            })?
            .to_vec();
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

fn header_value(text: &str) -> Result<HeaderValue, ConformanceError> {
    HeaderValue::from_str(text).map_err(|_| ConformanceError::Header(text.to_owned()))
}

/// An error with its causes, as one line ("error sending request: connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
