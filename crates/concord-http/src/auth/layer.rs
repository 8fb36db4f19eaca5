//! The guard: checked in front of every route by [`crate::front`] (the router's architecture
//! invariant: every route but `GET /health` passes it with a credential).
//!
//! In order: the `Host` name must be allowed (400 without one, 421 for another name); the
//! route's area decides what credential counts —
//! - open: `GET /health`; the login routes (which check what is posted themselves);
//! - GUI (`/`, `/ui/*`): the operator, by bearer token or session cookie; `/?token=TOKEN`
//!   logs in and redirects to `/`; a refusal is the login page (HTML), 401 or 403;
//! - API (everything else, unknown paths included, so nothing is learnt without a token):
//!   a bearer token only, never the cookie; peers only on `/api/events`; a refusal is JSON,
//!   401 with `WWW-Authenticate: Bearer` or 403. Once routed, a POST under `/api/` must
//!   carry JSON or CloudEvents ([`require_json`], on each such route; 415 otherwise).
//!
//! Whatever the outcome, every answer gets the security headers (`Content-Security-Policy`
//! with `frame-ancestors 'none'`, `X-Content-Type-Options: nosniff`, …).

use std::sync::LazyLock;

use axum::extract::Request;
use axum::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, HOST, LOCATION,
    REFERRER_POLICY, SET_COOKIE, WWW_AUTHENTICATE, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};

use super::{login, session, Authenticator, Principal};
use crate::cloudevents_http::{BATCHED, STRUCTURED};
use crate::error::ApiError;

/// A refusal: the answer sent instead of running the route (boxed, as a `Response` is large).
pub(crate) type Refusal = Box<Response>;

/// Where a request goes, and so which credential counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Area {
    Open,
    Login,
    Gui,
    Api,
}

fn area(method: &Method, path: &str) -> Area {
    match path {
        crate::health::PATH if method == Method::GET || method == Method::HEAD => Area::Open,
        login::LOGIN_PATH | login::LOGOUT_PATH => Area::Login,
        crate::gui::PATH => Area::Gui,
        _ if path.starts_with(crate::api::UI_PREFIX) => Area::Gui,
        _ => Area::Api,
    }
}

/// Lets the request through (with its [`Caller`](super::Caller) attached) or answers it.
pub(crate) fn admit(auth: &Authenticator, request: &mut Request) -> Result<(), Refusal> {
    check_host(auth, request.headers())?;
    let path = request.uri().path().to_owned();
    let principal = match area(request.method(), &path) {
        Area::Open | Area::Login => return Ok(()),
        // Only the operator gets past `gui_principal`.
        Area::Gui => gui_principal(auth, request)?,
        Area::Api => api_principal(auth, request.headers())?,
    };
    let caller = auth.caller(&principal);
    if let Principal::Peer(name) = &principal {
        if path != crate::events::PATH {
            return Err(forbidden(format!(
                "peer {name} may only use {}; this route is the operator's",
                crate::events::PATH
            )));
        }
        // A peer with an empty scope is known but may do nothing here: say so (403) rather
        // than answer empty pages, which would hide a misconfigured link.
        let (scope, what) = match *request.method() {
            Method::GET | Method::HEAD => (caller.read_scope(), "read"),
            _ => (caller.put_scope(), "deliver"),
        };
        if scope.is_some_and(|s| s.patterns.is_empty()) {
            return Err(forbidden(format!(
                "peer {name} may {what} no events at this service"
            )));
        }
    }
    request.extensions_mut().insert(caller);
    Ok(())
}

fn check_host(auth: &Authenticator, headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(host) = headers.get(HOST) else {
        return Err(Box::new(
            ApiError::bad_request("the request has no Host header").into_response(),
        ));
    };
    let host = host.to_str().unwrap_or_default();
    if auth.hosts.allows(host) {
        return Ok(());
    }
    Err(Box::new(
        ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "this service does not answer to the host name {host:?}; \
                 configure it in allowed_hosts if it should"
            ),
        )
        .into_response(),
    ))
}

/// What a request presents in `Authorization`.
enum Presented {
    Nothing,
    Bearer(String),
    Unusable(&'static str),
}

fn presented(headers: &HeaderMap) -> Presented {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Presented::Nothing;
    };
    if values.next().is_some() {
        return Presented::Unusable("the request has more than one Authorization header");
    }
    let Ok(text) = value.to_str() else {
        return Presented::Unusable("the Authorization header is not readable text");
    };
    match text.trim().split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Presented::Bearer(token.trim().to_owned())
        }
        _ => Presented::Unusable("the Authorization header must be: Bearer TOKEN"),
    }
}

/// The JSON API: a bearer token, and nothing else.
fn api_principal(auth: &Authenticator, headers: &HeaderMap) -> Result<Principal, Refusal> {
    match presented(headers) {
        Presented::Bearer(token) => auth.principal(&token).ok_or_else(|| {
            unauthorized(auth, "the bearer token is not valid for this service", true)
        }),
        Presented::Unusable(why) => Err(unauthorized(auth, why, true)),
        Presented::Nothing if session_id(auth, headers).is_some() => Err(unauthorized(
            auth,
            "the JSON API accepts only Authorization: Bearer TOKEN, never the GUI's session cookie",
            false,
        )),
        Presented::Nothing => Err(unauthorized(
            auth,
            "this route needs a credential: Authorization: Bearer TOKEN",
            false,
        )),
    }
}

/// The GUI: the operator, by bearer token, session cookie, or a `/?token=` login link.
fn gui_principal(auth: &Authenticator, request: &Request) -> Result<Principal, Refusal> {
    let headers = request.headers();
    if request.method() == Method::GET && request.uri().path() == crate::gui::PATH {
        if let Some(token) = query_token(request.uri().query().unwrap_or_default()) {
            return Err(Box::new(login::log_in(auth, &token)));
        }
    }
    let principal = match presented(headers) {
        Presented::Bearer(token) => auth.principal(&token).ok_or_else(|| {
            Box::new(login::page(
                auth,
                StatusCode::UNAUTHORIZED,
                Some("The bearer token is not valid for this service."),
            ))
        })?,
        Presented::Unusable(why) => {
            return Err(Box::new(login::page(
                auth,
                StatusCode::UNAUTHORIZED,
                Some(why),
            )));
        }
        Presented::Nothing => match session_id(auth, headers) {
            Some(id) if auth.sessions.check(&id) => Principal::Operator,
            Some(_) => {
                return Err(Box::new(login::page(
                    auth,
                    StatusCode::UNAUTHORIZED,
                    Some("Your session has ended; log in again."),
                )))
            }
            None => return Err(Box::new(login::page(auth, StatusCode::UNAUTHORIZED, None))),
        },
    };
    match principal {
        Principal::Operator => Ok(principal),
        Principal::Peer(name) => Err(Box::new(login::page(
            auth,
            StatusCode::FORBIDDEN,
            Some(&format!(
                "The token of peer {name} does not open the GUI; use the operator's."
            )),
        ))),
    }
}

/// The `token` parameter of a login link.
fn query_token(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
}

pub(super) fn session_id(auth: &Authenticator, headers: &HeaderMap) -> Option<String> {
    session::cookie(headers.get_all(COOKIE).iter(), &auth.cookie)
}

/// Method-route middleware, on every route with a `POST` under `/api/` (it runs only once a
/// route and method matched, after the guard, so an unknown route stays 404 and a wrong
/// method 405): a POST carries JSON or CloudEvents, else 415. A browser's cross-site "simple" request (`text/plain`, a form)
/// thus never reaches a handler, whatever credential it might carry.
pub(crate) async fn require_json(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if request.method() == Method::POST && path.starts_with("/api/") {
        if let Err(refusal) = check_content_type(request.headers(), path) {
            return *refusal;
        }
    }
    next.run(request).await
}

fn check_content_type(headers: &HeaderMap, path: &str) -> Result<(), Refusal> {
    let essence = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    let json = matches!(
        essence.as_deref(),
        Some("application/json") | Some(STRUCTURED) | Some(BATCHED)
    );
    let binary_event = path == crate::events::PATH && headers.contains_key("ce-specversion");
    if json || binary_event {
        return Ok(());
    }
    let found = match &essence {
        Some(ct) => format!("content type {ct:?}"),
        None => "no content type".to_owned(),
    };
    Err(Box::new(
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "a POST to {path} needs Content-Type application/json (or {STRUCTURED}, \
                 {BATCHED}, or a binary-mode CloudEvent with ce-* headers); found {found}"
            ),
        )
        .into_response(),
    ))
}

/// 401 with `WWW-Authenticate: Bearer` (RFC 6750; `error="invalid_token"` when a credential
/// was presented and failed).
fn unauthorized(auth: &Authenticator, message: &str, presented: bool) -> Refusal {
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, challenge(auth, presented));
    Box::new(response)
}

pub(super) fn challenge(auth: &Authenticator, presented: bool) -> HeaderValue {
    let realm: String = auth
        .service
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\')
        .collect();
    let value = if presented {
        format!("Bearer realm=\"{realm}\", error=\"invalid_token\"")
    } else {
        format!("Bearer realm=\"{realm}\"")
    };
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

fn forbidden(message: String) -> Refusal {
    Box::new(ApiError::new(StatusCode::FORBIDDEN, message).into_response())
}

/// `Set-Cookie` for a new session (or, with `None`, one that ends it).
pub(super) fn session_cookie(auth: &Authenticator, id: Option<&str>) -> HeaderValue {
    let (value, age) = match id {
        Some(id) => (id, auth.sessions.lifetime().as_secs()),
        None => ("", 0),
    };
    let secure = if auth.secure_cookies { "; Secure" } else { "" };
    let cookie = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={age}{secure}",
        auth.cookie
    );
    HeaderValue::from_str(&cookie).expect("a cookie of checked characters")
}

/// `303 See Other` to `location`, setting `cookie`; never cached (it may follow a login link).
pub(super) fn redirect(location: &'static str, cookie: HeaderValue) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (LOCATION, HeaderValue::from_static(location)),
            (SET_COOKIE, cookie),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response()
}

/// The page's own style and script are inline; the policy allows exactly those two texts
/// (by hash) and nothing else: no other script, no framing, forms only to this origin.
static CONTENT_SECURITY_POLICY_VALUE: LazyLock<HeaderValue> = LazyLock::new(|| {
    let hash = |text: &str| {
        format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
        )
    };
    let policy = format!(
        "default-src 'none'; style-src {}; script-src {}; img-src 'self' data:; \
         form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        hash(crate::gui::STYLE),
        hash(crate::gui::SCRIPT)
    );
    HeaderValue::from_str(&policy).expect("a policy of ASCII text")
});

/// The security headers every answer carries. The referrer policy is `same-origin`, not
/// `no-referrer`: under `no-referrer` browsers send `Origin: null` with a form's POST, which
/// the GUI's same-origin check must refuse.
pub(crate) fn harden(headers: &mut HeaderMap) {
    headers.insert(
        CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY_VALUE.clone(),
    );
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    let html = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html"));
    if html && !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_fall_into_areas() {
        assert_eq!(area(&Method::GET, "/health"), Area::Open);
        assert_eq!(area(&Method::HEAD, "/health"), Area::Open);
        assert_eq!(
            area(&Method::POST, "/health"),
            Area::Api,
            "only reading health is open"
        );
        assert_eq!(area(&Method::POST, "/login"), Area::Login);
        assert_eq!(area(&Method::GET, "/"), Area::Gui);
        assert_eq!(area(&Method::POST, "/ui/command"), Area::Gui);
        for api in [
            "/api/events",
            "/api/sync",
            "/api/openapi.json",
            "/nowhere",
            "/health/",
            "//",
        ] {
            assert_eq!(area(&Method::GET, api), Area::Api, "{api}");
        }
    }

    #[test]
    fn bearer_tokens_are_read_strictly() {
        let mut headers = HeaderMap::new();
        assert!(matches!(presented(&headers), Presented::Nothing));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("bearer  abc "));
        assert!(matches!(presented(&headers), Presented::Bearer(t) if t == "abc"));
        for bad in ["Basic YTpi", "Bearer", "Bearer ", "abc"] {
            headers.insert(AUTHORIZATION, HeaderValue::from_static(bad));
            assert!(
                matches!(presented(&headers), Presented::Unusable(_)),
                "{bad}"
            );
        }
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer a"));
        headers.append(AUTHORIZATION, HeaderValue::from_static("Bearer b"));
        assert!(matches!(presented(&headers), Presented::Unusable(_)));
    }

    #[test]
    fn the_policy_allows_only_the_pages_own_style_and_script() {
        let policy = CONTENT_SECURITY_POLICY_VALUE.to_str().unwrap();
        assert!(policy.contains("frame-ancestors 'none'"));
        assert!(policy.contains("default-src 'none'"));
        assert!(!policy.contains("unsafe-inline"));
        assert_eq!(policy.matches("'sha256-").count(), 2, "{policy}");
    }
}
