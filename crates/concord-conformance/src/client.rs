//! The checker's side of the wire: requests to the service under test and what came back,
//! kept whole (status, headers, body) so that a check can say exactly what it saw.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::ConformanceError;

/// How long one request may take; a service that does not answer fails the check.
const TIMEOUT: Duration = Duration::from_secs(30);

/// How long the oversized-body check waits for an early answer before it sends the body.
const EARLY_ANSWER: Duration = Duration::from_secs(2);

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

    /// `POST path` with a body of `size` bytes (`fill` repeated, framed by `[` `]`), over
    /// plain HTTP/1.1 with `Expect: 100-continue`: a service may answer before the body is
    /// sent — as one refusing it for its size should — and then the body is never sent, so
    /// the answer is read rather than lost to a connection the service closed mid-body. An
    /// `https://` service is asked through the ordinary client.
    pub async fn post_oversized(
        &self,
        path: &str,
        content_type: &str,
        size: usize,
    ) -> Result<Answer, ConformanceError> {
        let body = || {
            let mut big = vec![b' '; size];
            big[0] = b'[';
            big[size - 1] = b']';
            big
        };
        let Some(authority) = self.base.strip_prefix("http://") else {
            return self
                .post(path, Some(content_type), &[], body(), Credential::Given)
                .await;
        };
        let failed = |reason: String| ConformanceError::Http {
            request: format!("POST {path} ({size} bytes)"),
            reason,
        };
        let mut stream = tokio::net::TcpStream::connect(authority)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let token = self
            .token
            .as_ref()
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: {content_type}\r\n\
             Content-Length: {size}\r\nExpect: 100-continue\r\n{token}Connection: close\r\n\r\n"
        );
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(|e| failed(e.to_string()))?;
        let mut received = Vec::new();
        let early = tokio::time::timeout(EARLY_ANSWER, read_head(&mut stream, &mut received)).await;
        match early {
            Ok(Ok(status)) if status != 100 => {
                return read_answer(stream, received).await.map_err(failed)
            }
            Ok(Err(e)) => return Err(failed(e)),
            // "100 Continue", or no word yet: send the body.
            _ => {}
        }
        received.clear();
        // A service may close while the body is on its way; its answer may still be there.
        let _ = stream.write_all(&body()).await;
        read_head(&mut stream, &mut received)
            .await
            .map_err(failed)?;
        read_answer(stream, received).await.map_err(failed)
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

/// Reads until a whole answer head is in `received` (skipping a `100 Continue` only if it
/// came alone), and returns its status code.
async fn read_head(
    stream: &mut tokio::net::TcpStream,
    received: &mut Vec<u8>,
) -> Result<u16, String> {
    loop {
        if let Some(end) = find(received, b"\r\n\r\n") {
            let status = status_of(&received[..end])?;
            if status == 100 && received.len() > end + 4 {
                received.drain(..end + 4);
                continue;
            }
            return Ok(status);
        }
        let mut buffer = [0u8; 8192];
        let n = stream.read(&mut buffer).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the connection closed without an answer".into());
        }
        received.extend_from_slice(&buffer[..n]);
    }
}

/// The rest of an answer whose head is in `received`: its body to the end of the
/// connection (it was asked to close), or as long as `Content-Length` says.
async fn read_answer(
    mut stream: tokio::net::TcpStream,
    mut received: Vec<u8>,
) -> Result<Answer, String> {
    let end = find(&received, b"\r\n\r\n").ok_or("no answer head")?;
    let head = String::from_utf8_lossy(&received[..end]).into_owned();
    let status = status_of(head.as_bytes())?;
    let mut headers = HeaderMap::new();
    for line in head.split("\r\n").skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.trim().as_bytes()),
                HeaderValue::from_str(value.trim()),
            ) {
                headers.append(name, value);
            }
        }
    }
    let length: Option<usize> = headers
        .get(reqwest::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let mut body = received.split_off(end + 4);
    let mut buffer = [0u8; 8192];
    while length.is_none_or(|wanted| body.len() < wanted) {
        match tokio::time::timeout(TIMEOUT, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => body.extend_from_slice(&buffer[..n]),
        }
    }
    if let Some(wanted) = length {
        body.truncate(wanted);
    }
    Ok(Answer {
        status: StatusCode::from_u16(status).map_err(|e| e.to_string())?,
        headers,
        body,
    })
}

fn status_of(head: &[u8]) -> Result<u16, String> {
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let text = String::from_utf8_lossy(line);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {text:?}"))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
