//! The service's GUI: one server-rendered page at `GET /` and two form routes, working
//! without JavaScript.
//!
//! The page is the domain's [`View`](concord_core::ui::View) (its `Api::view` applied to the
//! model) followed by what every service has: a sync panel, an event log and a topology
//! picture. The domain only describes its page as data; everything HTML lives here.
//!
//! - `POST /ui/command`: a form of the view. Its fields become the command's JSON body
//!   ([`form`]), which runs through the very handler and host the JSON API uses (R1). Success
//!   answers `303 See Other` back to the page with a flash message in the query string;
//!   an error re-renders the page with the message in it (never raw JSON) and the error's
//!   status (400/404/409, 503 for a failing store).
//! - `POST /ui/sync`: "Synchronize now" ([`SyncControl::run_now`]), then `303` back.
//! - `POST /ui/sync/links/{name}/reset` and `/retry`: a link's repairs (reset its cursor,
//!   re-deliver its dead letters), then `303` back with what happened.
//!
//! All refuse (403) a post whose `Origin` is another site: a page elsewhere must not be
//! able to submit this service's forms in its user's browser. Reaching any of them at all
//! takes the operator's credential, in practice the session cookie of the login page
//! ([`auth`](crate::auth)).
//!
//! # Layout
//! - [`Gui`] (here): what a page knows beyond its own service — the sibling GUIs for the
//!   navigation bar and the whole topology to draw.
//! - `page`: assembles the page (layout, CSS, the live-refresh script).
//! - `render`: a `View` as HTML.
//! - `dashboard`: the sync panel and the event log.
//! - `topology`: the links as an SVG picture.
//! - [`form`]: submitted form fields → a command's path and JSON body.

pub mod form;

mod dashboard;
mod page;
mod render;
mod topology;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::header::{HOST, LOCATION, ORIGIN};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use concord_core::host::Host;
use concord_core::runtime::Command;
use concord_core::service::Handler;
use concord_core::{Api, Model};
use concord_sync::LinkSpec;

use crate::error::{blocking, ApiError};
use crate::sync::{Repair, SyncControl, SyncRun};
pub(crate) use page::{SCRIPT, STYLE};

pub(crate) const PATH: &str = "/";
pub(crate) const COMMAND_PATH: &str = "/ui/command";
pub(crate) const SYNC_PATH: &str = "/ui/sync";
/// `POST /ui/sync/links/{name}/reset` and `/retry`: the link repairs, from the sync panel.
pub(crate) const LINK_REPAIR_PATH: &str = "/ui/sync/links/{name}/{repair}";

/// What a service's page knows beyond the service itself. Empty by default: then the page
/// has no navigation bar and draws only the service's own links.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Gui {
    /// The GUIs to link in the navigation bar, as (service name, base URL), this service's
    /// own included (it is shown as the current one).
    pub siblings: Vec<(String, String)>,
    /// The links of every service to draw, as (service, its links). This service's own entry
    /// is taken from its live sync status when it is missing here.
    pub topology: Vec<(String, Vec<LinkSpec>)>,
}

/// Everything the GUI routes need, shared by all requests.
pub(crate) struct Shell<M: Model> {
    pub name: String,
    pub host: Host<M>,
    pub api: Api<M>,
    pub sync: Option<Arc<dyn SyncControl>>,
    pub gui: Gui,
    pub telemetry: crate::Telemetry,
}

type Shared<M> = Arc<Shell<M>>;

pub(crate) fn routes<M: Model>(
    host: &Host<M>,
    api: &Api<M>,
    sync: Option<Arc<dyn SyncControl>>,
    gui: &Gui,
    telemetry: &crate::Telemetry,
) -> Router {
    let shell = Arc::new(Shell {
        name: host.core().name().to_owned(),
        host: host.clone(),
        api: api.clone(),
        sync,
        gui: gui.clone(),
        telemetry: telemetry.clone(),
    });
    Router::new()
        .route(PATH, get(show::<M>))
        .route(COMMAND_PATH, post(command::<M>))
        .route(SYNC_PATH, post(sync_now::<M>))
        .route(LINK_REPAIR_PATH, post(repair::<M>))
        .with_state(shell)
}

/// What went wrong with a submitted form, to show in the re-rendered page.
#[derive(Clone, Debug, Default)]
pub(crate) struct Problem {
    pub message: String,
    /// The key of the form that failed ([`form::key`]) and what was typed into it.
    pub form: String,
    pub values: Vec<(String, String)>,
}

/// `GET /`: the page; `?flash=…&tone=…` shows a message (set by the form routes' redirect);
/// the event log reads its filters and paging from the query too.
async fn show<M: Model>(
    State(shell): State<Shared<M>>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let request = page::Request::from_query(uri.query().unwrap_or_default(), port(&headers));
    render(shell, request, StatusCode::OK).await
}

async fn render<M: Model>(
    shell: Shared<M>,
    request: page::Request,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let html = blocking(move || page::render(&shell, &request).map_err(ApiError::from)).await?;
    Ok((status, Html(html)).into_response())
}

/// `POST /ui/command`: runs a form's command; 303 back on success, the page with the error
/// otherwise.
async fn command<M: Model>(
    State(shell): State<Shared<M>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(ApiError::from_body_rejection)?;
    if let Some(error) = cross_site(&headers) {
        // Refused before a byte of the form is read.
        return refused(shell, &headers, error).await;
    }
    // A large form is read, and its command decided, on the blocking pool, as a large JSON
    // command is (`api.rs`): an async worker busy with megabytes serves no one else.
    let (submission, decided) = if body.len() <= crate::api::PARSED_IN_PLACE {
        let submission = form::Submission::parse(&body);
        let decided = decide(&shell, &submission);
        (submission, decided)
    } else {
        let shell = Arc::clone(&shell);
        blocking(move || {
            let submission = form::Submission::parse(&body);
            let decided = decide(&shell, &submission);
            Ok((submission, decided))
        })
        .await?
    };
    let outcome = match decided {
        Ok(command) => shell.host.command(command).await.map_err(ApiError::from),
        Err(error) => Err(error),
    };
    match outcome {
        Ok(events) => {
            let message = if events.is_empty() {
                format!(
                    "{}: nothing to change, it was already so.",
                    submission.title()
                )
            } else {
                let types: Vec<&str> = events.iter().map(|e| e.event.ty.as_str()).collect();
                format!("{}: done ({}).", submission.title(), types.join(", "))
            };
            Ok(see_other(&message, "good", &submission.anchor))
        }
        Err(error) => {
            let mut request = page::Request::from_query("", port(&headers));
            request.problem = Some(Problem {
                message: error.message().to_owned(),
                form: submission.key.clone(),
                values: submission.fields.clone(),
            });
            render(shell, request, error.status()).await
        }
    }
}

/// The command a submitted form asks for, through the API's own command handler.
fn decide<M: Model>(
    shell: &Shell<M>,
    submission: &form::Submission,
) -> Result<Command<M>, ApiError> {
    let (path, body) = submission.command()?;
    let Some((route, params)) = shell.api.route("POST", &path) else {
        return Err(ApiError::not_found(format!("no command at POST {path}")));
    };
    let Handler::Command(handler) = &route.handler else {
        return Err(ApiError::not_found(format!("POST {path} is not a command")));
    };
    let params = crate::api::decode_params(params)?;
    Ok(handler(&params, body)?)
}

/// `POST /ui/sync`: runs every link now, then back to the page's sync panel.
async fn sync_now<M: Model>(
    State(shell): State<Shared<M>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(error) = cross_site(&headers) {
        return refused(shell, &headers, error).await;
    }
    Ok(sync_now_allowed(&shell).await)
}

/// The page with a post's refusal as its message, under the refusal's status.
async fn refused<M: Model>(
    shell: Shared<M>,
    headers: &HeaderMap,
    error: ApiError,
) -> Result<Response, ApiError> {
    let mut request = page::Request::from_query("", port(headers));
    request.problem = Some(Problem {
        message: error.message().to_owned(),
        ..Problem::default()
    });
    render(shell, request, error.status()).await
}

/// `POST /ui/sync/links/{name}/reset|retry`: an operator's repair of one link, then back to
/// the sync panel with what happened.
async fn repair<M: Model>(
    State(shell): State<Shared<M>>,
    Path((name, repair)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let outcome =
        match (cross_site(&headers), &shell.sync) {
            (Some(error), _) => Err(error),
            (None, None) => Err(ApiError::not_found("this service runs no links")),
            (None, Some(control)) => match repair.as_str() {
                "reset" => control
                    .reset(&name)
                    .await
                    .map_err(ApiError::from)
                    .map(|_| format!("Link {name} reset: it reads from the start again.")),
                "retry" => control
                    .retry(&name)
                    .await
                    .map_err(ApiError::from)
                    .map(|answer| match answer {
                        Repair::Retry {
                            retried, rejected, ..
                        } => format!(
                            "Link {name}: {retried} re-delivered, {rejected} still rejected."
                        ),
                        Repair::Reset { .. } => format!("Link {name} reset."),
                    }),
                other => Err(ApiError::not_found(format!("no link repair {other:?}"))),
            },
        };
    match outcome {
        Ok(message) => Ok(see_other(&message, "good", "sync")),
        Err(error) => {
            let mut request = page::Request::from_query("", port(&headers));
            request.problem = Some(Problem {
                message: error.message().to_owned(),
                ..Problem::default()
            });
            render(shell, request, error.status()).await
        }
    }
}

async fn sync_now_allowed<M: Model>(shell: &Shell<M>) -> Response {
    let Some(control) = &shell.sync else {
        return see_other("This service runs no links.", "warning", "sync");
    };
    let summary = control.run_now().await;
    let (message, tone) = sync_summary(&summary);
    see_other(&message, tone, "sync")
}

/// One line about a "synchronize now", and its tone.
fn sync_summary(summary: &SyncRun) -> (String, &'static str) {
    let links = &summary.links;
    let carried: u64 = links.iter().map(|l| l.carried).sum();
    let failed: Vec<String> = links
        .iter()
        .filter(|l| !l.ok)
        .map(|l| {
            format!(
                "{} ({})",
                l.name,
                l.last_error.as_deref().unwrap_or("failed")
            )
        })
        .collect();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let head = format!(
        "Synchronized {}: {} carried.",
        plural(links.len(), "link"),
        plural(carried as usize, "event")
    );
    if failed.is_empty() {
        (head, "good")
    } else {
        (format!("{head} Failed: {}.", failed.join("; ")), "bad")
    }
}

/// `303 See Other` to the page, showing `message`, scrolled to `anchor`.
fn see_other(message: &str, tone: &str, anchor: &str) -> Response {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("flash", message)
        .append_pair("tone", tone)
        .finish();
    let anchor: String = anchor
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let location = if anchor.is_empty() {
        format!("/?{query}")
    } else {
        format!("/?{query}#{anchor}")
    };
    (StatusCode::SEE_OTHER, [(LOCATION, location)]).into_response()
}

/// A 403 when the post comes from a page of another origin: browsers name the page's origin
/// in `Origin` on every cross-origin post (and on same-origin ones, which must match `Host`).
pub(crate) fn cross_site(headers: &HeaderMap) -> Option<ApiError> {
    let origin = headers.get(ORIGIN)?.to_str().unwrap_or("null");
    let host = headers.get(HOST).and_then(|h| h.to_str().ok())?;
    let authority = origin.split_once("://").map(|(_, rest)| rest);
    if authority.is_some_and(|a| a.eq_ignore_ascii_case(host)) {
        return None;
    }
    Some(ApiError::new(
        StatusCode::FORBIDDEN,
        format!("a form of {origin} may not post to this service; use its own page"),
    ))
}

/// The port the browser reached this service on, from the `Host` header.
fn port(headers: &HeaderMap) -> Option<u16> {
    let host = headers.get(HOST)?.to_str().ok()?;
    let (_, port) = host.rsplit_once(':')?;
    port.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::LinkRun;
    use concord_sync::{Direction, LinkState};

    fn run(name: &str, carried: u64, error: Option<&str>) -> LinkRun {
        LinkRun {
            name: name.into(),
            peer: "peer".into(),
            direction: Direction::Pull,
            state: LinkState::Ok,
            rounds: 1,
            carried,
            cursor: carried,
            ok: error.is_none(),
            last_error: error.map(Into::into),
            rejected: 0,
        }
    }

    #[test]
    fn a_sync_summary_counts_and_names_failures() {
        let ok = SyncRun {
            links: vec![run("a", 2, None), run("b", 1, None)],
        };
        assert_eq!(
            sync_summary(&ok),
            ("Synchronized 2 links: 3 events carried.".into(), "good")
        );
        let failed = SyncRun {
            links: vec![run("a", 1, Some("refused"))],
        };
        assert_eq!(
            sync_summary(&failed),
            (
                "Synchronized 1 link: 1 event carried. Failed: a (refused).".into(),
                "bad"
            )
        );
    }

    #[test]
    fn the_redirect_carries_the_message_and_a_clean_anchor() {
        let response = see_other("Done & dusted", "good", "hiring\"><x");
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            response.headers()[LOCATION],
            "/?flash=Done+%26+dusted&tone=good#hiringx"
        );
    }

    #[test]
    fn only_the_services_own_pages_may_post() {
        let mut headers = HeaderMap::new();
        assert!(
            cross_site(&headers).is_none(),
            "no Origin: not a browser's cross-site post"
        );
        headers.insert(HOST, "127.0.0.1:7371".parse().unwrap());
        headers.insert(ORIGIN, "http://127.0.0.1:7371".parse().unwrap());
        assert!(cross_site(&headers).is_none());
        for other in ["http://127.0.0.1:7370", "https://evil.example", "null"] {
            headers.insert(ORIGIN, other.parse().unwrap());
            assert_eq!(
                cross_site(&headers).unwrap().status(),
                StatusCode::FORBIDDEN,
                "{other}"
            );
        }
    }

    #[test]
    fn the_port_comes_from_the_host_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(port(&headers), None);
        headers.insert(HOST, "127.0.0.1:7371".parse().unwrap());
        assert_eq!(port(&headers), Some(7371));
        headers.insert(HOST, "[::1]:8080".parse().unwrap());
        assert_eq!(port(&headers), Some(8080));
    }
}
