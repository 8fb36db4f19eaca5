//! The whole page: header with the navigation bar, the domain's view, the sync panel, the
//! topology and the event log; the CSS and the optional live-refresh script.

use concord_core::ui::PageQuery;
use concord_core::wire::paths;
use concord_core::{Model, StoreError};
use maud::{html, PreEscaped, DOCTYPE};

use super::dashboard::{self, LogQuery};
use super::render::{self, slug};
use super::topology::{self, Topology};
use super::{Problem, Shell};

/// Inline in the page, allowed by its hash in the `Content-Security-Policy` (`auth`).
pub(crate) const STYLE: &str = include_str!("style.css");
pub(crate) const SCRIPT: &str = include_str!("live.js");

/// What one rendering of the page is asked for.
#[derive(Clone, Debug, Default)]
pub(crate) struct Request {
    pub port: Option<u16>,
    /// A message after a redirect, and its tone (`good`, `warning`, `bad`).
    pub flash: Option<(String, String)>,
    pub log: LogQuery,
    /// The whole query string: the domain's paged tables read their search and position
    /// from it, and their links keep the rest of it.
    pub page: PageQuery,
    pub problem: Option<Problem>,
}

impl Request {
    /// From the page's query string; anything it does not know is ignored.
    pub fn from_query(raw: &str, port: Option<u16>) -> Request {
        let mut request = Request {
            port,
            log: LogQuery::from_query(raw),
            page: PageQuery::new(form_urlencoded::parse(raw.as_bytes()).into_owned()),
            ..Request::default()
        };
        let mut tone = "good".to_owned();
        let mut flash = None;
        for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
            match &*name {
                "flash" if !value.is_empty() => flash = Some(value.into_owned()),
                "tone" if matches!(&*value, "good" | "warning" | "bad") => {
                    tone = value.into_owned()
                }
                _ => {}
            }
        }
        request.flash = flash.map(|f| (f, tone));
        request
    }
}

/// Renders the page of `shell`'s service.
pub(crate) fn render<M: Model>(shell: &Shell<M>, request: &Request) -> Result<String, StoreError> {
    let name = shell.name.as_str();
    let view = shell
        .api
        .view
        .map(|view| shell.host.query(|model| view(model, &request.page)))
        .unwrap_or_default();
    let store = shell.host.store();
    let status = Some(crate::sync::full_status(
        shell.sync.as_ref(),
        &shell.telemetry,
        &**store,
    ));
    let log = dashboard::read_log(&**store, &request.log)?;
    let events = store.count()?;
    let topology = Topology::new(name, &shell.gui.topology, status.as_ref());
    let known_types = topology.types();

    let port = request.port.map(|p| format!(":{p}")).unwrap_or_default();
    let title = format!("{name}{port} — Concord");
    let mut toc: Vec<(String, String)> = view
        .sections
        .iter()
        .map(|s| (slug(&s.heading), s.heading.clone()))
        .collect();
    toc.extend(
        [
            ("sync", "Sync"),
            ("topology", "Topology"),
            ("events", "Event log"),
        ]
        .map(|(id, label)| (id.to_owned(), label.to_owned())),
    );

    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header.top {
                    div.brand {
                        a.logo href="/" title="This service's page" { "Concord" }
                        h1 { (name) }
                        @if !port.is_empty() { span.port { (port) } }
                        span.count title="Events in this service's store" { (events) " events" }
                    }
                    @if !shell.gui.siblings.is_empty() {
                        nav.services aria-label="Services" {
                            @for (sibling, url) in &shell.gui.siblings {
                                @let current = sibling == name;
                                a class=[current.then_some("current")] href={ (url.trim_end_matches('/')) "/" }
                                    aria-current=[current.then_some("page")] { (sibling) }
                            }
                        }
                    }
                    label.live title="Reload this page every few seconds while you are not typing" {
                        input #live type="checkbox";
                        " Live"
                    }
                    form.logout method="post" action="/logout" {
                        button type="submit" title="End this browser's session" { "Log out" }
                    }
                }
                nav.toc aria-label="On this page" {
                    @for (id, label) in &toc { a href={ "#" (id) } { (label) } }
                }
                main {
                    @if let Some(problem) = &request.problem {
                        div.banner.bad role="alert" #problem {
                            strong { "Not done: " } (problem.message)
                        }
                    }
                    @if view.sections.is_empty() {
                        section.card {
                            h2 { "A Concord service" }
                            p.intro { "This service describes no page of its own; its API is at "
                                a href=(paths::OPENAPI) { (paths::OPENAPI) } "." }
                        }
                    }
                    @for section in &view.sections {
                        (render::section(section, request.problem.as_ref(), &request.page))
                    }
                    (dashboard::sync_panel(status.as_ref(), &shell.telemetry.lag))
                    section.card #topology {
                        h2 { "Topology" }
                        p.intro { "Who pulls or pushes which events from whom, drawn from the link configuration. "
                            "Arrows point the way events flow; a pull is run by the receiver, a push by the sender." }
                        (topology::svg(name, &topology, &shell.gui.siblings))
                    }
                    (dashboard::event_log(name, &log, &request.log, &known_types, &topology.services))
                }
                footer {
                    span { "The same service as JSON (with Authorization: Bearer TOKEN): " }
                    @for path in [paths::OPENAPI, paths::EVENTS, paths::SYNC, paths::HEALTH] {
                        a href=(path) { (path) }
                    }
                }
                @if let Some((message, tone)) = &request.flash {
                    div.toast.(tone) role="status" #flash { (message) }
                }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    };
    Ok(markup.into_string())
}
