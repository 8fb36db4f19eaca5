//! The GUI's login: `GET /login` shows a form for the operator's token, `POST /login` checks
//! it and opens a session (cookie, then `303` to the page), `POST /logout` ends it. A login
//! link `/?token=TOKEN` (what `concord demo` prints, as Jupyter does) does the same as the
//! form and redirects to the bare `/`, so the token leaves the address bar and history.
//!
//! Both posts refuse another site's `Origin`, like the GUI's forms: a page elsewhere must not
//! be able to log a browser in or out.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, PreEscaped, DOCTYPE};

use super::layer::{challenge, redirect, session_cookie, session_id};
use super::{Authenticator, Principal};

pub(crate) const LOGIN_PATH: &str = "/login";
pub(crate) const LOGOUT_PATH: &str = "/logout";

pub(crate) fn routes(auth: Arc<Authenticator>) -> Router {
    Router::new()
        .route(LOGIN_PATH, get(show).post(submit))
        .route(LOGOUT_PATH, post(log_out))
        .with_state(auth)
}

async fn show(State(auth): State<Arc<Authenticator>>) -> Response {
    page(&auth, StatusCode::OK, None)
}

async fn submit(
    State(auth): State<Arc<Authenticator>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Some(error) = crate::gui::cross_site(&headers) {
        return page(&auth, error.status(), Some(error.message()));
    }
    let Ok(body) = body else {
        return page(
            &auth,
            StatusCode::BAD_REQUEST,
            Some("The form could not be read."),
        );
    };
    let token = form_urlencoded::parse(&body)
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    if token.trim().is_empty() {
        return page(
            &auth,
            StatusCode::UNAUTHORIZED,
            Some("Enter the operator's token."),
        );
    }
    log_in(&auth, &token)
}

/// Opens a session for the operator's `token` and redirects to the page; the login page
/// with the reason otherwise.
pub(crate) fn log_in(auth: &Authenticator, token: &str) -> Response {
    match auth.principal(token) {
        Some(Principal::Operator) => {
            let id = auth.sessions.open();
            tracing::info!(service = %auth.service, "operator logged in to the GUI");
            redirect(crate::gui::PATH, session_cookie(auth, Some(&id)))
        }
        Some(Principal::Peer(name)) => page(
            auth,
            StatusCode::FORBIDDEN,
            Some(&format!(
                "That is the token of peer {name}; the GUI takes the operator's."
            )),
        ),
        None => page(
            auth,
            StatusCode::UNAUTHORIZED,
            Some("That token is not valid for this service."),
        ),
    }
}

async fn log_out(State(auth): State<Arc<Authenticator>>, headers: HeaderMap) -> Response {
    if let Some(error) = crate::gui::cross_site(&headers) {
        return page(&auth, error.status(), Some(error.message()));
    }
    if let Some(id) = session_id(&auth, &headers) {
        auth.sessions.close(&id);
    }
    redirect(LOGIN_PATH, session_cookie(&auth, None))
}

/// The login page, with `status` (a 401 also carries `WWW-Authenticate: Bearer`) and an
/// optional message.
pub(crate) fn page(auth: &Authenticator, status: StatusCode, message: Option<&str>) -> Response {
    let service = auth.service.as_str();
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Log in — " (service) " — Concord" }
                style { (PreEscaped(crate::gui::STYLE)) }
            }
            body {
                header.top {
                    div.brand {
                        span.logo { "Concord" }
                        h1 { (service) }
                    }
                }
                main.login {
                    section.card #login {
                        h2 { "Log in" }
                        p.intro {
                            "This service's page is for its operator. Enter the operator's token, "
                            "or open the login link its deployment printed (" code { "/?token=…" } ")."
                        }
                        @if let Some(message) = message {
                            div.banner.bad role="alert" #problem { (message) }
                        }
                        form.form-card method="post" action=(LOGIN_PATH) {
                            label.field for="token" {
                                "Operator token"
                                input #token type="password" name="token" required autofocus
                                    autocomplete="current-password" spellcheck="false";
                            }
                            button type="submit" { "Log in" }
                        }
                        p.intro {
                            "A demo keeps its tokens in " code { "DIR/credentials.toml" }
                            " (the " code { "operator" } " line)."
                        }
                    }
                }
            }
        }
    };
    let mut response = (status, Html(markup.into_string())).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, challenge(auth, message.is_some()));
    }
    response
}
