//! `concord status`: every link of the given services in one terminal table, and a verdict
//! fit for scripts and health checks.
//!
//! Each service is asked `GET /health` (its name; open) and `GET /api/sync` (its links and
//! inbound view; the operator's token). [`Survey::render`] draws the table; [`Survey::problems`]
//! lists what is wrong — a service that does not answer (or refuses the token), a link that
//! fails or stopped — and is empty exactly when the exit status is 0.

use std::fmt::Write as _;
use std::time::Duration;

use concord_core::wire::paths;
use concord_core::Timestamp;
use concord_node::client::{read_bounded, BodyError};
use serde_json::Value;

/// How long one service may take to answer, so a hung peer cannot hang the command.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// The most of one answer that is read, so a service answering without end cannot fill the
/// command's memory: a `/api/sync` document is a few KiB per link.
pub const MAX_ANSWER_BYTES: usize = 8 << 20;

/// What one service answered.
#[derive(Clone, Debug)]
pub struct ServiceReport {
    pub url: String,
    /// Its name, from `GET /health`.
    pub name: Option<String>,
    /// Its `GET /api/sync` document, or why there is none.
    pub sync: Result<Value, AskError>,
}

/// Why a service's status could not be had.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AskError {
    #[error("unreachable (connection refused or failed)")]
    Unreachable,
    #[error("no answer within {} s", TIMEOUT.as_secs())]
    Timeout,
    /// It answered with an error status (a wrong token is a 401).
    #[error("answered {status}: {error}")]
    Refused { status: u16, error: String },
    #[error("answered {status} with something that is not JSON")]
    NotJson { status: u16 },
    #[error("answered {status} with more than the {} MiB read of an answer", MAX_ANSWER_BYTES >> 20)]
    TooLarge { status: u16 },
    /// Anything else the HTTP client reports.
    #[error("{0}")]
    Http(String),
}

/// The reports of every service asked, in the order given.
#[derive(Clone, Debug, Default)]
pub struct Survey {
    pub services: Vec<ServiceReport>,
}

/// Asks every service in `urls` at once, presenting `token` as the operator's; a hung
/// service costs [`TIMEOUT`], not that times the number of services.
pub async fn survey(client: &reqwest::Client, urls: &[String], token: Option<&str>) -> Survey {
    let asks: Vec<_> = urls
        .iter()
        .map(|url| {
            let (client, url, token) = (client.clone(), url.clone(), token.map(str::to_owned));
            tokio::spawn(async move { ask(&client, &url, token.as_deref()).await })
        })
        .collect();
    let mut services = Vec::with_capacity(asks.len());
    for (ask, url) in asks.into_iter().zip(urls) {
        services.push(ask.await.unwrap_or_else(|e| ServiceReport {
            url: url.clone(),
            name: None,
            sync: Err(AskError::Http(format!("asking it failed: {e}"))),
        }));
    }
    Survey { services }
}

async fn get(client: &reqwest::Client, url: &str, token: Option<&str>) -> Result<Value, AskError> {
    let mut request = client.get(url).timeout(TIMEOUT);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let client_error = |e: reqwest::Error| {
        if e.is_timeout() {
            AskError::Timeout
        } else if e.is_connect() {
            AskError::Unreachable
        } else {
            AskError::Http(e.to_string())
        }
    };
    let response = request.send().await.map_err(client_error)?;
    let status = response.status().as_u16();
    let body = read_bounded(response, MAX_ANSWER_BYTES)
        .await
        .map_err(|error| match error {
            BodyError::TooLarge { .. } => AskError::TooLarge { status },
            BodyError::Read(error) => client_error(error),
        })?;
    let json: Value = serde_json::from_slice(&body).map_err(|_| AskError::NotJson { status })?;
    if !(200..300).contains(&status) {
        let error = json["error"]
            .as_str()
            .unwrap_or("no reason given")
            .to_owned();
        return Err(AskError::Refused { status, error });
    }
    Ok(json)
}

async fn ask(client: &reqwest::Client, url: &str, token: Option<&str>) -> ServiceReport {
    let base = url.trim_end_matches('/');
    let health = get(client, &format!("{base}{}", paths::HEALTH), None).await;
    let name = health
        .as_ref()
        .ok()
        .and_then(|h| h["service"].as_str())
        .map(str::to_owned);
    let sync = match health {
        Err(error) => Err(error),
        Ok(_) => get(client, &format!("{base}{}", paths::SYNC), token).await,
    };
    ServiceReport {
        url: base.to_owned(),
        name,
        sync,
    }
}

fn text<'v>(value: &'v Value, key: &str) -> &'v str {
    value[key].as_str().unwrap_or("")
}

/// "12 s ago", "3 min ago", "2 h ago", or the time itself when far away.
fn ago(rfc3339: &str, now: Timestamp) -> String {
    let Ok(time) = Timestamp::parse(rfc3339) else {
        return rfc3339.to_owned();
    };
    let seconds = (now.unix_nanos() - time.unix_nanos()) / 1_000_000_000;
    match seconds {
        s if s < 0 => rfc3339.to_owned(),
        s if s < 120 => format!("{s} s ago"),
        s if s < 7200 => format!("{} min ago", s / 60),
        s if s < 2 * 86_400 => format!("{} h ago", s / 3600),
        _ => rfc3339.to_owned(),
    }
}

/// A link's last error without the time it starts with (`TIME: message`).
fn error_message(error: &str) -> &str {
    match error.split_once(": ") {
        Some((time, message)) if Timestamp::parse(time).is_ok() => message,
        _ => error,
    }
}

impl ServiceReport {
    fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.url.clone())
    }

    fn links(&self) -> Vec<Value> {
        match &self.sync {
            Ok(sync) => sync["links"].as_array().cloned().unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    }
}

impl Survey {
    /// Everything wrong, one line each: unreachable services, failing and stopped links.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for service in &self.services {
            if let Err(error) = &service.sync {
                problems.push(format!(
                    "service {} ({}): {error}",
                    service.label(),
                    service.url
                ));
            }
            for link in service.links() {
                let state = text(&link, "state");
                if state != "ok" {
                    problems.push(format!(
                        "link {} of {} ({} {}) is {state}: {}",
                        text(&link, "name"),
                        service.label(),
                        text(&link, "direction"),
                        text(&link, "peer"),
                        error_message(text(&link, "lastError"))
                    ));
                }
            }
        }
        problems
    }

    /// The table of every link (and the peers each service saw), as of `now`.
    pub fn render(&self, now: Timestamp) -> String {
        let mut rows: Vec<[String; 9]> = vec![[
            "SERVICE",
            "LINK",
            "PEER",
            "STATE",
            "CURSOR",
            "LAG",
            "LAST SUCCESS",
            "REJECTED",
            "LAST ERROR",
        ]
        .map(str::to_owned)];
        let mut inbound: Vec<[String; 5]> = Vec::new();
        for service in &self.services {
            let label = service.label();
            let sync = match &service.sync {
                Err(error) => {
                    rows.push([
                        label,
                        "—".into(),
                        "—".into(),
                        "DOWN".into(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        error.to_string(),
                    ]);
                    continue;
                }
                Ok(sync) => sync,
            };
            let links = service.links();
            if links.is_empty() {
                rows.push([
                    label.clone(),
                    "(no links)".into(),
                    String::new(),
                    "ok".into(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ]);
            }
            for link in &links {
                let arrow = if text(link, "direction") == "pull" {
                    "←"
                } else {
                    "→"
                };
                rows.push([
                    label.clone(),
                    text(link, "name").to_owned(),
                    format!("{arrow} {}", text(link, "peer")),
                    text(link, "state").to_owned(),
                    link["cursor"]
                        .as_u64()
                        .map(|c| c.to_string())
                        .unwrap_or_default(),
                    link["pending"]
                        .as_u64()
                        .map_or("?".to_owned(), |p| p.to_string()),
                    link["lastSuccess"]
                        .as_str()
                        .map_or("never".to_owned(), |t| ago(t, now)),
                    link["rejected"].as_u64().unwrap_or(0).to_string(),
                    error_message(text(link, "lastError")).to_owned(),
                ]);
            }
            for peer in sync["inbound"]["peers"].as_array().into_iter().flatten() {
                inbound.push([
                    label.clone(),
                    text(peer, "peer").to_owned(),
                    peer["lastPull"]
                        .as_str()
                        .map_or("never".to_owned(), |t| ago(t, now)),
                    peer["lag"]
                        .as_u64()
                        .map_or("—".to_owned(), |l| l.to_string()),
                    peer["lastPush"].as_str().map_or("never".to_owned(), |t| {
                        format!("{} ({} events)", ago(t, now), peer["lastPushEvents"])
                    }),
                ]);
            }
        }
        let mut out = table(&rows);
        if !inbound.is_empty() {
            let mut with_head =
                vec![["SERVICE", "CALLED BY", "LAST PULL", "LAG", "LAST PUSH"].map(str::to_owned)];
            with_head.extend(inbound);
            out.push('\n');
            out.push_str(&table(&with_head));
        }
        out
    }
}

/// Columns padded to their widest cell (counted in characters); the last one is not padded.
fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A service on loopback that answers its first request 200 with `bytes` of spaces,
    /// without a `Content-Length`, and takes no other.
    fn endless_service(bytes: usize) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            // `/health` is asked first, and its answer ends the survey of this service.
            for stream in listener.incoming().take(1) {
                let mut stream = stream.unwrap();
                let _ = stream.read(&mut [0u8; 4096]);
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
                // The reader may hang up once it has read enough: not an error here.
                for _ in 0..bytes / (1 << 20) {
                    if stream.write_all(&[b' '; 1 << 20]).is_err() {
                        break;
                    }
                }
            }
        });
        url
    }

    #[test]
    fn an_answer_past_the_bound_is_reported_not_read_whole() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = concord_node::client::build(None).unwrap();
        let url = endless_service(MAX_ANSWER_BYTES + (1 << 20));
        let survey = runtime.block_on(survey(&client, &[url], None));
        let report = &survey.services[0];
        assert_eq!(report.name, None, "no name from an answer not read");
        assert_eq!(report.sync, Err(AskError::TooLarge { status: 200 }));
        assert!(
            report
                .sync
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("8 MiB"),
            "{:?}",
            report.sync
        );
    }

    #[test]
    fn renders_links_and_names_every_problem() {
        let now = Timestamp::parse("2026-05-01T12:00:00Z").unwrap();
        let survey = Survey {
            services: vec![
                ServiceReport {
                    url: "http://a".into(),
                    name: Some("se-group".into()),
                    sync: Ok(json!({"links": [
                        {"name": "pull-office", "peer": "students-office", "direction": "pull",
                         "state": "ok", "cursor": 40, "pending": 0, "rejected": 0,
                         "lastSuccess": "2026-05-01T11:59:48Z", "lastError": null},
                        {"name": "push-tas", "peer": "ta-pool", "direction": "push",
                         "state": "failing", "cursor": 3, "pending": null, "rejected": 2,
                         "lastSuccess": null,
                         "lastError": "2026-05-01T11:59:59Z: ta-pool unreachable"}
                    ], "inbound": {"peers": []}})),
                },
                ServiceReport {
                    url: "http://b".into(),
                    name: None,
                    sync: Err(AskError::Unreachable),
                },
            ],
        };
        let table = survey.render(now);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("SERVICE"), "{table}");
        assert!(
            lines[1].contains("pull-office") && lines[1].contains("12 s ago"),
            "{table}"
        );
        assert!(
            lines[2].contains("failing") && lines[2].contains("ta-pool unreachable"),
            "{table}"
        );
        assert!(
            !lines[2].contains("11:59:59"),
            "the error's time is not repeated: {table}"
        );
        assert!(
            lines[3].starts_with("http://b") && lines[3].contains("DOWN"),
            "{table}"
        );
        let problems = survey.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("link push-tas of se-group"),
            "{problems:?}"
        );
        assert!(problems[1].starts_with("service http://b"), "{problems:?}");
    }
}
