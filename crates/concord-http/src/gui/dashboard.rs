//! What every service's page shows about the service itself: the sync panel (from
//! `GET /api/sync`'s status) and the event log (read straight from the store).
//!
//! The log lists events oldest first, newest at the bottom, like getEvents; without paging
//! parameters it opens on the latest page. `after=N` reads forward from a sequence (and
//! offers `next_after` as the next page, so a sparse filter never rescans what it skipped);
//! `before=N` shows the last page of matches before a sequence. `from` and `to` keep only
//! events whose `time` lies within them (inclusive; RFC 3339, or a `datetime-local` value
//! `YYYY-MM-DDTHH:MM[:SS]` read as UTC). An event's time is its producer's, not the order of
//! the log, so the time filter is applied to what each page examines: a page may come out
//! short, and its neighbours carry on.

use concord_core::{CloudEvent, EventReader, ReadQuery, StoreError, StoredEvent, Timestamp};
use concord_sync::{Direction, LinkState, LinkStatus, Rejection};
use maud::{html, Markup};
use serde_json::Value;

use crate::sync::SyncStatus;

use super::SYNC_PATH;
use crate::inbound::InboundView;
use crate::lag::{self, LagHistory};

/// Where a link's repair form posts.
fn repair_path(link: &str, repair: &str) -> String {
    let name: String =
        percent_encoding::utf8_percent_encode(link, percent_encoding::NON_ALPHANUMERIC).to_string();
    format!("/ui/sync/links/{name}/{repair}")
}

/// Events per page of the log.
pub(crate) const PAGE: usize = 20;

/// Characters of an event's data shown in the log: the page stays small whatever an event
/// carries (the whole event is one click away in getEvents).
const DATA_SHOWN: usize = 300;

/// The log's filters and position, from the page's query string.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct LogQuery {
    pub types: Vec<String>,
    pub sources: Vec<String>,
    pub after: Option<u64>,
    pub before: Option<u64>,
    /// Only events at or after this time (the text as given, and the instant).
    pub from: Option<(String, Timestamp)>,
    /// Only events at or before this time.
    pub to: Option<(String, Timestamp)>,
}

/// A time from the log's form: RFC 3339, or `datetime-local`'s `YYYY-MM-DDTHH:MM[:SS]` as
/// UTC. Anything else is ignored, as the page ignores what it does not understand.
fn log_time(value: &str) -> Option<(String, Timestamp)> {
    let value = value.trim();
    let full = match value.len() {
        16 => format!("{value}:00Z"),
        19 => format!("{value}Z"),
        _ => value.to_owned(),
    };
    Timestamp::parse(&full).ok().map(|t| (value.to_owned(), t))
}

impl LogQuery {
    /// Lenient: a GUI ignores what it does not understand instead of failing the page.
    pub fn from_query(raw: &str) -> LogQuery {
        let mut query = LogQuery::default();
        let list = |value: &str| {
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
            match &*name {
                "type" => query.types.extend(list(&value)),
                "source" => query.sources.extend(list(&value)),
                "after" => query.after = value.parse().ok(),
                "before" => query.before = value.parse().ok(),
                "from" => query.from = log_time(&value),
                "to" => query.to = log_time(&value),
                _ => {}
            }
        }
        query
    }

    /// Whether `event`'s time lies within `from` and `to`.
    fn in_time(&self, event: &CloudEvent) -> bool {
        self.from
            .as_ref()
            .is_none_or(|(_, from)| event.time >= *from)
            && self.to.as_ref().is_none_or(|(_, to)| event.time <= *to)
    }

    fn read_query(&self, after: u64, limit: usize) -> ReadQuery {
        ReadQuery {
            types: self.types.clone(),
            sources: self.sources.clone(),
            ..ReadQuery::after(after, limit)
        }
    }

    /// A link to the log with these filters at another position.
    fn href(&self, position: Option<(&str, u64)>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if !self.types.is_empty() {
            query.append_pair("type", &self.types.join(","));
        }
        if !self.sources.is_empty() {
            query.append_pair("source", &self.sources.join(","));
        }
        if let Some((from, _)) = &self.from {
            query.append_pair("from", from);
        }
        if let Some((to, _)) = &self.to {
            query.append_pair("to", to);
        }
        if let Some((name, value)) = position {
            query.append_pair(name, &value.to_string());
        }
        let query = query.finish();
        if query.is_empty() {
            "/#events".to_owned()
        } else {
            format!("/?{query}#events")
        }
    }
}

/// One page of the log and where the neighbouring pages start.
#[derive(Clone, Debug, Default)]
pub(crate) struct LogPage {
    pub events: Vec<StoredEvent>,
    /// `before` of the previous page, if there may be earlier matches.
    pub earlier: Option<u64>,
    /// `after` of the next page (getEvents' `next_after`), if the store holds more.
    pub later: Option<u64>,
    pub last_sequence: u64,
}

/// Reads the page `query` asks for.
pub(crate) fn read_log(store: &dyn EventReader, query: &LogQuery) -> Result<LogPage, StoreError> {
    let last_sequence = store.last_sequence()?;
    if let Some(after) = query.after {
        let mut page = store.read(&query.read_query(after, PAGE))?;
        page.events.retain(|e| query.in_time(&e.event));
        return Ok(LogPage {
            earlier: page
                .events
                .first()
                .map(|e| e.sequence)
                .filter(|_| after > 0),
            later: page.has_more.then_some(page.next_after),
            events: page.events,
            last_sequence,
        });
    }
    let before = query
        .before
        .unwrap_or(u64::MAX)
        .min(last_sequence.saturating_add(1));
    // Matches before `before`, found by reading ever larger windows backwards: the store
    // reads forwards only. A window holds at most MAX_LIMIT sequences, so one read sees all
    // matches in it.
    let mut window = (PAGE * 4) as u64;
    let (mut events, start) = loop {
        let start = before.saturating_sub(window);
        let page = store.read(&query.read_query(start, ReadQuery::MAX_LIMIT))?;
        let events: Vec<StoredEvent> = page
            .events
            .into_iter()
            .filter(|e| e.sequence < before && query.in_time(&e.event))
            .collect();
        if events.len() >= PAGE || start == 0 || window >= ReadQuery::MAX_LIMIT as u64 {
            break (events, start);
        }
        window = (window * 4).min(ReadQuery::MAX_LIMIT as u64);
    };
    let more_before = events.len() > PAGE || start > 0;
    let events = events.split_off(events.len().saturating_sub(PAGE));
    Ok(LogPage {
        earlier: events.first().map(|e| e.sequence).filter(|_| more_before),
        later: (before <= last_sequence).then(|| before - 1),
        events,
        last_sequence,
    })
}

/// `2026-11-26T05:10:17.028231Z` → `05:10:17`.
fn clock(rfc3339: &str) -> &str {
    rfc3339
        .split_once('T')
        .map_or(rfc3339, |(_, time)| time.get(..8).unwrap_or(time))
}

/// A link's status error is `"<time>: <message>"`; the time is shown apart.
fn split_error(error: &str) -> (&str, &str) {
    match error.split_once(": ") {
        Some((time, message)) if time.contains('T') => (clock(time), message),
        _ => ("", error),
    }
}

/// The sync panel: one row per link, and "Synchronize now".
pub(crate) fn sync_panel(status: Option<&SyncStatus>, lag: &LagHistory) -> Markup {
    let inbound = status.and_then(|s| s.inbound.as_ref());
    let peers = inbound.map_or(&[][..], |i| &i.peers[..]);
    let links: &[LinkStatus] = status.map_or(&[], |s| &s.links);
    let rejections: Vec<(&str, &Rejection)> = links
        .iter()
        .flat_map(|link| link.recent_rejections.iter().map(|r| (&*link.name, r)))
        .collect();
    html! {
        section.card #sync {
            h2 { "Sync" }
            @if links.is_empty() {
                @if peers.is_empty() {
                    p.intro { "This service runs no links of its own, and no peer has pulled from it or pushed to it since it started." }
                } @else {
                    p.intro { "This service runs no links of its own. Its peers pull from it and push to it:" }
                }
            } @else {
                p.intro { (links.len()) " links, each with a durable cursor. They run in the background; "
                    "“Synchronize now” runs every one of them at once until it has nothing left to carry." }
                div.table-wrap {
                    table {
                        thead { tr {
                            th { "Peer" } th { "Direction" } th { "Events" } th { "Cursor" }
                            th { "Lag" } th { "Lag, last minutes" } th { "Last success" } th { "Last error" } th { "Rejected" }
                            th { span.sr-only { "Repairs" } }
                        } }
                        tbody {
                            @for link in links { (sync_row(link, lag)) }
                        }
                    }
                }
                form.sync-now method="post" action=(SYNC_PATH) {
                    button type="submit" { "Synchronize now" }
                }
                @if !rejections.is_empty() {
                    details.rejections open {
                        summary { "Rejected events, kept until re-delivered (oldest first)" }
                        p.intro { "Each link keeps the events it could not carry, with the reason. "
                            "After a fix (a raised limit, a repaired peer, a clock that caught up), "
                            "“Retry” delivers them again; those carried are forgotten." }
                        ul {
                            @for (link, rejection) in &rejections {
                                li { span.muted { (clock(&rejection.at)) " " } code { (rejection.id) } " on " (link) ": " (rejection.reason) }
                            }
                        }
                    }
                }
            }
            @if let Some(inbound) = inbound.filter(|i| !i.peers.is_empty()) {
                (inbound_table(inbound))
            }
        }
    }
}

/// Who read from and delivered to this service, and how far each reader lags behind its log.
fn inbound_table(inbound: &InboundView) -> Markup {
    html! {
        h3 #inbound { "Inbound" }
        p.intro { "Peers that read this service's log (up to sequence " (inbound.last_sequence) ") or deliver to it, "
            "as this service has seen them since it started." }
        div.table-wrap {
            table {
                thead { tr {
                    th { "Peer" } th { "Last pull" } th { "Read up to" } th { "Lag" }
                    th { "Last push" } th { "Events pushed (last / all)" }
                } }
                tbody {
                    @for peer in &inbound.peers {
                        @let activity = &peer.activity;
                        tr {
                            td.nowrap { (activity.peer) }
                            @match &activity.last_pull {
                                Some(time) => td.nowrap title=(time) { (clock(time)) },
                                None => td.muted { "never" },
                            }
                            @match activity.pulled_up_to {
                                Some(n) => td.num { (n) },
                                None => td.muted { "—" },
                            }
                            @match peer.lag {
                                None => td.muted { "—" },
                                Some(0) => td.good.nowrap { "in sync" },
                                Some(n) => td.warning.nowrap title="Log positions after what its last pull read" { (n) " behind" },
                            }
                            @match &activity.last_push {
                                Some(time) => td.nowrap title=(time) { (clock(time)) },
                                None => td.muted { "never" },
                            }
                            td.num { (activity.last_push_events) " / " (activity.pushed_events) }
                        }
                    }
                }
            }
        }
    }
}

fn sync_row(link: &LinkStatus, history: &LagHistory) -> Markup {
    let url = Some(&*link.url).filter(|u| u.starts_with("http"));
    let pull = link.direction == Direction::Pull;
    let direction = if pull { "pull" } else { "push" };
    let stopped = link.state == LinkState::Stopped;
    let name = &*link.name;
    html! {
        tr {
            td.nowrap title=(name) {
                @match url {
                    Some(url) => a href={ (url.trim_end_matches('/')) "/" } { (link.peer) },
                    None => (link.peer),
                }
            }
            td.nowrap { span.pill.(direction) { (direction) @if pull { " ←" } @else { " →" } } }
            td {
                @if link.types.is_empty() { "all" } @else { (link.types.join(", ")) }
                @for f in &link.filter { " " span.muted.filter { "where " (f.trim_start_matches("data.")) } }
            }
            td.num { (link.cursor) }
            @match link.pending {
                _ if stopped => td.bad.nowrap title="Stopped: the peer's store is not the one its cursor belongs to" { "stopped" },
                None => td.muted title="Known after the first round" { "?" },
                Some(0) => td.good.nowrap { "in sync" },
                Some(n) => td.warning.nowrap title="Log positions after the cursor not yet examined" { (n) " behind" },
            }
            td.chart {
                @match lag::chart(&history.series(name)) {
                    Some(chart) => (chart),
                    None => span.muted title="Sampled every few seconds" { "…" },
                }
            }
            @match &link.last_success {
                Some(time) => td.nowrap title=(time) { (clock(time)) },
                None => td.muted { "not yet" },
            }
            @match &link.last_error {
                Some(error) => {
                    @let (time, message) = split_error(error);
                    td.bad.error title=(error) { @if !time.is_empty() { span.muted { (time) " " } } (shorten(message, 140)) }
                }
                None => td.muted { "—" },
            }
            @if link.rejected == 0 { td.muted.num { "0" } } @else { td.bad.num { (link.rejected) } }
            td.nowrap {
                @if stopped {
                    form.inline method="post" action=(repair_path(name, "reset")) {
                        button type="submit" title="Forget the cursor and read the peer from the start; what is applied already comes back as duplicates" { "Reset cursor" }
                    }
                }
                @if link.rejected > 0 {
                    form.inline method="post" action=(repair_path(name, "retry")) {
                        button type="submit" title="Deliver the rejected events again" { "Retry rejected" }
                    }
                }
            }
        }
    }
}

/// At most `max` characters of `text`, with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// `key: value` pairs of an event's data, strings unquoted.
fn data_summary(event: &StoredEvent) -> String {
    event
        .event
        .data
        .map()
        .iter()
        .map(|(key, value)| match value {
            Value::String(s) => format!("{key}: {s}"),
            other => format!("{key}: {other}"),
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The event log with its filters and paging.
pub(crate) fn event_log(
    name: &str,
    page: &LogPage,
    query: &LogQuery,
    known_types: &[String],
    known_sources: &[String],
) -> Markup {
    let filtered = !query.types.is_empty()
        || !query.sources.is_empty()
        || query.from.is_some()
        || query.to.is_some();
    html! {
        section.card #events {
            h2 { "Event log" }
            p.intro { "Every event in this service's store — its own and those it accepted from peers — "
                "oldest first, the newest at the bottom. Its sequence numbers are this store's." }
            form.filters method="get" action="/#events" {
                label.field { span { "Type" }
                    input type="text" name="type" list="known-types" value=(query.types.join(","))
                        placeholder="any type" autocomplete="off"; }
                label.field { span { "Source" }
                    input type="text" name="source" list="known-sources" value=(query.sources.join(","))
                        placeholder="any source" autocomplete="off"; }
                label.field { span { "From (UTC)" }
                    input type="datetime-local" name="from" step="1"
                        value=(query.from.as_ref().map_or("", |(text, _)| text.as_str())); }
                label.field { span { "To (UTC)" }
                    input type="datetime-local" name="to" step="1"
                        value=(query.to.as_ref().map_or("", |(text, _)| text.as_str())); }
                datalist #known-types { @for t in known_types { option value=(t) {} } }
                datalist #known-sources { @for s in known_sources { option value=(s) {} } }
                button type="submit" { "Filter" }
                @if filtered { a.button.secondary href="/#events" { "Clear" } }
            }
            @if page.events.is_empty() {
                p.empty { @if filtered { "No events match." } @else { "No events yet." } }
            } @else {
                div.table-wrap {
                    table.log {
                        thead { tr { th { "#" } th { "Time" } th { "Type" } th { "Source" } th { "Data" } } }
                        tbody {
                            @for e in &page.events {
                                @let time = e.event.time_text();
                                @let own = e.event.source == name;
                                tr {
                                    td.num.muted { (e.sequence) }
                                    td.time title=(time) { (time.replacen('T', " ", 1).get(..19).unwrap_or(time)) }
                                    td.type { code { (e.event.ty) } }
                                    td class=(if own { "source plain" } else { "source muted" }) title=(if own { "raised here" } else { "received" }) {
                                        (e.event.source)
                                    }
                                    td.data title={ "id " (e.event.id) } { (shorten(&data_summary(e), DATA_SHOWN)) }
                                }
                            }
                        }
                    }
                }
            }
            nav.pager aria-label="Event log pages" {
                @if page.earlier.is_some() { a href=(query.href(Some(("after", 0)))) { "⇤ Oldest" } }
                @if let Some(before) = page.earlier { a href=(query.href(Some(("before", before)))) { "← Earlier" } }
                span.muted { "store at #" (page.last_sequence) }
                @if let Some(after) = page.later { a href=(query.href(Some(("after", after)))) { "Later →" } }
                @if page.later.is_some() { a href=(query.href(None)) { "Latest ⇥" } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use concord_core::store::MemoryStore;
    use concord_core::{CloudEvent, EventAppender, Timestamp};
    use serde_json::{json, Map};

    fn store(n: u64) -> MemoryStore {
        let store = MemoryStore::new();
        let events: Vec<CloudEvent> = (1..=n)
            .map(|i| {
                let ty = if i % 3 == 0 { "rare" } else { "common" };
                let mut data = Map::new();
                data.insert("i".into(), json!(i));
                CloudEvent::new(
                    format!("e{i}"),
                    "here",
                    ty,
                    Timestamp::from_unix_nanos(i as i128),
                    data,
                )
            })
            .collect();
        store.append(&events, &[]).unwrap();
        store
    }

    fn sequences(page: &LogPage) -> Vec<u64> {
        page.events.iter().map(|e| e.sequence).collect()
    }

    #[test]
    fn the_log_filters_by_time_both_ways() {
        let store = store(50); // event i at i nanoseconds after the epoch
        let query = LogQuery::from_query(
            "from=1970-01-01T00:00:00.000000010Z&to=1970-01-01T00:00:00.000000014%2B00:00",
        );
        assert_eq!(
            sequences(&read_log(&store, &query).unwrap()),
            (10..=14).collect::<Vec<_>>()
        );
        let forward = LogQuery {
            after: Some(12),
            ..query.clone()
        };
        assert_eq!(
            sequences(&read_log(&store, &forward).unwrap()),
            vec![13, 14]
        );
        assert!(query
            .href(None)
            .contains("from=1970-01-01T00%3A00%3A00.000000010Z"));
        let local = LogQuery::from_query("from=1970-01-01T00:00&to=garbage");
        assert_eq!(
            local.from.map(|(_, t)| t),
            Some(Timestamp::from_unix_nanos(0))
        );
        assert_eq!(local.to, None, "what the page cannot read is ignored");
    }

    #[test]
    fn the_log_opens_on_the_latest_page_and_pages_both_ways() {
        let store = store(50);
        let latest = read_log(&store, &LogQuery::default()).unwrap();
        assert_eq!(sequences(&latest), (31..=50).collect::<Vec<_>>());
        assert_eq!((latest.earlier, latest.later), (Some(31), None));

        let earlier = read_log(
            &store,
            &LogQuery {
                before: Some(31),
                ..LogQuery::default()
            },
        )
        .unwrap();
        assert_eq!(sequences(&earlier), (11..=30).collect::<Vec<_>>());
        assert_eq!((earlier.earlier, earlier.later), (Some(11), Some(30)));

        let forward = read_log(
            &store,
            &LogQuery {
                after: Some(30),
                ..LogQuery::default()
            },
        )
        .unwrap();
        assert_eq!(sequences(&forward), (31..=50).collect::<Vec<_>>());
        assert_eq!(forward.later, None);
        let first = read_log(
            &store,
            &LogQuery {
                after: Some(0),
                ..LogQuery::default()
            },
        )
        .unwrap();
        assert_eq!((first.earlier, first.later), (None, Some(20)));
    }

    #[test]
    fn a_filtered_log_finds_sparse_matches() {
        let store = store(200);
        let query = LogQuery::from_query("type=rare&flash=x");
        assert_eq!(query.types, ["rare"]);
        let latest = read_log(&store, &query).unwrap();
        let all: Vec<u64> = (1..=200).filter(|i| i % 3 == 0).collect();
        let expected = all[all.len() - 20..].to_vec();
        assert_eq!(sequences(&latest), expected);
        assert_eq!(latest.earlier, Some(expected[0]));
        assert_eq!(
            query.href(Some(("before", 5))),
            "/?type=rare&before=5#events"
        );
    }

    #[test]
    fn errors_show_their_time_apart() {
        assert_eq!(
            split_error("2026-11-26T05:10:13.916472Z: connection refused"),
            ("05:10:13", "connection refused")
        );
        assert_eq!(split_error("plain"), ("", "plain"));
        assert_eq!(shorten("abcdé", 4), "abcd…");
        assert_eq!(shorten("abcdé", 5), "abcdé");
    }
}
