//! The domain's own routes: every [`Route`](concord_core::service::Route) of its [`Api`] as an axum route.
//!
//! A command is a `POST` (JSON body → the domain's handler → [`Host::command`], answered once
//! its events are durable; a body over 64 KiB is parsed and handled on the blocking pool); a
//! query is a `GET` (the model read on the blocking pool, since it waits for the writer's
//! lock). Route paths use `{name}` placeholders, which is axum 0.8's own syntax, so each path
//! is registered as it is; the parameters are then bound with the core's [`match_path`], the
//! same matcher the simulator uses, and percent-decoded.
//!
//! A list query reads `limit`, `cursor` and `q` from the query string (a bad one is a 400
//! naming it), answers its page as a JSON array, and links the neighbouring pages in a
//! `Link` header (RFC 8288, as GitHub's API does): `<…>; rel="next"` while more remain,
//! `<…>; rel="prev"` once past the first page. The links are relative references to the
//! same path, so they never trust a `Host` header.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::header::{CONTENT_TYPE, LINK};
use axum::http::{HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use concord_core::host::Host;
use concord_core::list::Cursor;
use concord_core::service::{match_path, CommandHandler, Handler, PageLinks, Query, QueryError};
use concord_core::{wire, Api, Model, Params};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};
use serde_json::Value;

use crate::error::{blocking, ApiError};

/// Paths the shell itself serves; a domain route may not take them.
pub(crate) const RESERVED: [&str; 7] = [
    crate::gui::PATH,
    crate::auth::login::LOGIN_PATH,
    crate::auth::login::LOGOUT_PATH,
    crate::health::PATH,
    crate::events::PATH,
    crate::sync::PATH,
    crate::openapi::PATH,
];

/// The prefix of the GUI's own routes (`/ui/command`, `/ui/sync`), all the shell's.
pub(crate) const UI_PREFIX: &str = "/ui/";

/// Checks that an API can be served: paths start with `/`, no (method, path) twice, and
/// nothing the shell serves itself (nor anything under `/ui/`).
pub fn check_api<M>(api: &Api<M>) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for route in &api.routes {
        let (method, path) = (route.method(), route.path);
        if !path.starts_with('/') {
            return Err(format!("route {method} {path}: a path starts with '/'"));
        }
        if RESERVED.contains(&path)
            || path.starts_with(UI_PREFIX)
            || path.starts_with(crate::sync::LINKS_PREFIX)
        {
            return Err(format!(
                "route {method} {path}: the path is served by concord-http itself"
            ));
        }
        if !seen.insert((method, path)) {
            return Err(format!("route {method} {path} is declared twice"));
        }
    }
    Ok(())
}

/// The domain routes as one router, grouped by path so `GET` and `POST` of one path share it.
pub(crate) fn routes<M: Model>(host: &Host<M>, api: &Api<M>) -> Router {
    let mut by_path: BTreeMap<&'static str, MethodRouter> = BTreeMap::new();
    for route in &api.routes {
        let path = route.path;
        // What a route's handler needs, behind one `Arc`: axum clones a route's handler
        // for every request, at every layer around it, and a `Host` is three reference
        // counts (one of them a channel's sender count) shared by every core.
        let method_router = match route.handler.clone() {
            Handler::Command(handler) => {
                let route = Arc::new((host.clone(), handler));
                post(move |uri: Uri, body: Result<Bytes, BytesRejection>| {
                    run_command(Arc::clone(&route), path, uri, body)
                })
            }
            Handler::Query(query) => {
                let route = Arc::new((host.clone(), query));
                get(move |uri: Uri| run_query(Arc::clone(&route), path, uri))
            }
        };
        let merged = match by_path.remove(path) {
            Some(existing) => existing.merge(method_router),
            None => method_router,
        };
        by_path.insert(path, merged);
    }
    by_path
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(
                path,
                methods.route_layer(axum::middleware::from_fn(crate::auth::require_json)),
            )
        })
}

async fn run_command<M: Model>(
    route: Arc<(Host<M>, CommandHandler<M>)>,
    pattern: &'static str,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(ApiError::from_body_rejection)?;
    let params = path_params(pattern, &uri)?;
    // A large body is parsed, and handed to the domain's handler (which walks it again), on
    // the blocking pool: an async worker busy with megabytes serves no one else meanwhile.
    let command = if body.len() <= PARSED_IN_PLACE {
        (route.1)(&params, command_input(&body)?)?
    } else {
        let route = Arc::clone(&route);
        blocking(move || Ok((route.1)(&params, command_input(&body)?)?)).await?
    };
    let events = route.0.command(command).await?;
    // Written straight from the stored events, as a page is: through a `serde_json::Value`
    // the answer cost about 6 % of a command's CPU (a map built per event, then dropped).
    let mut body = b"{\"events\":".to_vec();
    wire::write_events(&mut body, &events);
    body.push(b'}');
    Ok((
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response())
}

/// The largest command body parsed on the async worker itself (a fraction of a millisecond).
pub(crate) const PARSED_IN_PLACE: usize = 64 * 1024;

fn command_input(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
}

async fn run_query<M: Model>(
    route: Arc<(Host<M>, Query<M>)>,
    pattern: &'static str,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params = path_params(pattern, &uri)?;
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let answer = blocking(move || {
        let (host, query) = &*route;
        let pairs = pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()));
        host.query(|model| query.run(model, &params, pairs))
            .map_err(ApiError::from)
    })
    .await?;
    let mut response = Json(answer.body).into_response();
    if let Some(link) = answer
        .pages
        .as_ref()
        .and_then(|p| link_header(uri.path(), p))
    {
        response.headers_mut().insert(LINK, link);
    }
    Ok(response)
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> Self {
        match error {
            QueryError::List(error) => {
                ApiError::bad_request(error.to_string()).with("parameter", error.parameter())
            }
            QueryError::Command(error) => error.into(),
        }
    }
}

/// What a link's path keeps unencoded: RFC 3986's `pchar`s and `/` (and `%`, which the path
/// already uses for its own escapes). Anything else — a `>` that would end the reference
/// early, a space, a quote — is percent-encoded.
const LINK_PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}')
    .add(b'#')
    .add(b'?')
    .add(b'[')
    .add(b']');

/// The `Link` header of a list's answer: its next and previous pages, if any.
fn link_header(path: &str, pages: &PageLinks) -> Option<HeaderValue> {
    let path = utf8_percent_encode(path, LINK_PATH).to_string();
    let link = |cursor: &Cursor, rel: &str| {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pages.query.pairs_at(cursor))
            .finish();
        format!("<{path}?{query}>; rel=\"{rel}\"")
    };
    let links: Vec<String> = [(&pages.next, "next"), (&pages.prev, "prev")]
        .into_iter()
        .filter_map(|(cursor, rel)| cursor.as_ref().map(|c| link(c, rel)))
        .collect();
    if links.is_empty() {
        return None;
    }
    HeaderValue::from_str(&links.join(", ")).ok()
}

/// The route's `{name}` parameters, percent-decoded.
fn path_params(pattern: &str, uri: &Uri) -> Result<Params, ApiError> {
    let raw = match_path(pattern, uri.path())
        .ok_or_else(|| ApiError::not_found(format!("no route {}", uri.path())))?;
    decode_params(raw)
}

/// Percent-decodes path parameters as matched from a raw path.
pub(crate) fn decode_params(raw: Params) -> Result<Params, ApiError> {
    raw.into_iter()
        .map(|(name, value)| {
            let decoded = percent_decode_str(&value).decode_utf8().map_err(|_| {
                ApiError::bad_request(format!(
                    "path parameter {name} is not UTF-8 once percent-decoded"
                ))
                .with("parameter", name.as_str())
            })?;
            Ok((name, decoded.into_owned()))
        })
        .collect()
}
