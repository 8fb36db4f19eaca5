//! `GET /`: the service's HTML page. For now a landing page linking the machine-readable
//! routes; the GUI proper will grow here, so it lives apart from the JSON API.

use axum::response::Html;
use axum::routing::get;
use axum::Router;

pub(crate) const PATH: &str = "/";

pub(crate) fn routes(name: &str) -> Router {
    let page = Html(index(name));
    Router::new().route(
        PATH,
        get(move || {
            let page = page.clone();
            async move { page }
        }),
    )
}

/// The landing page of service `name`.
pub fn index(name: &str) -> String {
    let name = escape(name);
    format!(
        r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{name} · Concord</title></head>
<body>
<h1>{name}</h1>
<p>A Concord service.</p>
<ul>
<li><a href="/health">/health</a> — status and event count</li>
<li><a href="/api/openapi.json">/api/openapi.json</a> — the API (OpenAPI 3.1)</li>
<li><a href="/api/events">/api/events</a> — the event store (getEvents)</li>
<li><a href="/api/sync">/api/sync</a> — sync links</li>
</ul>
</body>
</html>
"#
    )
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
