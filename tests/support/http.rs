//! A tiny blocking HTTP/1.1 client over `std::net` (no client crate, so the product's
//! dependency tree stays as it is), and [`Node`]: one service's port, presenting the
//! operator's token and checking that no answer is a 5xx.

use serde_json::json;
use serde_json::Value;
use std::io;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::net::SocketAddrV4;
use std::net::TcpStream;
use std::time::Duration;

use super::*;

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics (showing the body) if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "answer {} is not JSON ({e}): {}",
                self.status,
                truncate(&self.text(), 2000)
            )
        })
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        text.to_owned()
    } else {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}…", &text[..cut])
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), with `Host:
/// 127.0.0.1:PORT` unless `headers` name another. A large body is written
/// from another thread while this one reads, so that a server answering early (413) is heard.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port).into();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_write_timeout(Some(Duration::from_secs(60)))?;
    stream.set_nodelay(true)?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    let mut has_length = false;
    for (name, value) in headers {
        has_length |= name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding");
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !has_length && (!body.is_empty() || method == "POST" || method == "PUT") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    let writer = if body.len() > 256 * 1024 {
        stream.write_all(&request)?;
        let mut out = stream.try_clone()?;
        let body = body.to_vec();
        // The server may answer and close before reading it all; that is its right.
        Some(std::thread::spawn(move || {
            let _ = out.write_all(&body);
        }))
    } else {
        request.extend_from_slice(body);
        stream.write_all(&request)?;
        None
    };
    let mut raw = Vec::new();
    let read = stream.read_to_end(&mut raw);
    if let Some(writer) = writer {
        let _ = stream.shutdown(std::net::Shutdown::Both);
        let _ = writer.join();
    }
    if let Err(error) = read {
        // A reset after a complete answer (the server closed with our body unread) is fine.
        if parse_response(&raw).is_err() {
            return Err(error);
        }
    }
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> io::Result<Response> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no complete HTTP head"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let rest = &raw[end + 4..];
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let body = if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest).ok_or_else(|| bad("bad chunked body"))?
    } else if let Some(length) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        if rest.len() < length {
            return Err(bad("truncated body"));
        }
        rest[..length].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if data.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// A client for one service's port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node {
    pub port: u16,
    /// The bearer token it presents (the operator's, unless made otherwise).
    pub token: Option<&'static str>,
}

impl Node {
    /// A service of the `serve` processes, reached as the operator of [`shared_credentials`].
    pub fn new(port: u16) -> Node {
        Node::with_token(port, Some(&shared_credentials().operator))
    }

    pub fn with_token(port: u16, token: Option<&'static str>) -> Node {
        Node { port, token }
    }

    /// The same service, without any credential.
    pub fn anonymous(self) -> Node {
        Node::with_token(self.port, None)
    }

    pub fn url(&self) -> String {
        base_url(self.port)
    }

    /// Any request; connection failures are errors, and a 5xx panics (never allowed).
    pub fn try_send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        let authorization;
        let mut headers = headers.to_vec();
        if let Some(token) = self.token {
            if !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
            {
                authorization = format!("Bearer {token}");
                headers.push(("Authorization", &authorization));
            }
        }
        let response = http(self.port, method, path, &headers, body)?;
        assert!(
            response.status < 500,
            "{method} {path} on port {} answered {} (a 5xx is never allowed): {}",
            self.port,
            response.status,
            truncate(&response.text(), 2000)
        );
        Ok(response)
    }

    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.try_send(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path} on port {}: {e}", self.port))
    }

    /// `GET path` → (status, JSON).
    pub fn get(&self, path: &str) -> (u16, Value) {
        let response = self.send("GET", path, &[], b"");
        (response.status, response.json())
    }

    /// `GET path`, which must answer 200; the JSON.
    pub fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path} on port {}: {body}", self.port);
        body
    }

    /// `POST path` with a JSON body → (status, JSON).
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let bytes = serde_json::to_vec(body).expect("JSON serialises");
        let response = self.send(
            "POST",
            path,
            &[("Content-Type", "application/json")],
            &bytes,
        );
        (response.status, response.json())
    }

    /// `POST path`, which must answer 2xx; the JSON.
    pub fn post_ok(&self, path: &str, body: &Value) -> Value {
        let (status, answer) = self.post(path, body);
        assert!(
            (200..300).contains(&status),
            "POST {path} {body} on port {} answered {status}: {answer}",
            self.port
        );
        answer
    }

    pub fn health(&self) -> Value {
        self.get_ok("/health")
    }

    /// The number of events in the service's store (`GET /health`).
    pub fn events_count(&self) -> u64 {
        self.health()["events"]
            .as_u64()
            .expect("/health has an integer events count")
    }

    /// `POST /api/sync`.
    pub fn sync(&self) -> Value {
        self.post_ok("/api/sync", &json!({}))
    }

    /// `GET /api/sync`'s links.
    pub fn links(&self) -> Vec<Value> {
        self.get_ok("/api/sync")["links"]
            .as_array()
            .expect("GET /api/sync has a links array")
            .clone()
    }

    /// putEvents with a JSON batch (plain `application/json`).
    pub fn put_events(&self, events: &[Value]) -> (u16, Value) {
        self.post("/api/events", &Value::Array(events.to_vec()))
    }

    /// Every event of the service's store, in order (pages through getEvents).
    pub fn all_events(&self) -> Vec<Value> {
        let mut after = 0;
        let mut all = Vec::new();
        loop {
            let page = self.get_ok(&format!("/api/events?after={after}&limit=10000"));
            all.extend(
                page["events"]
                    .as_array()
                    .expect("events array")
                    .iter()
                    .cloned(),
            );
            after = page["next_after"].as_u64().expect("next_after");
            if !page["has_more"].as_bool().expect("has_more") {
                return all;
            }
        }
    }

    /// Every item of a paged list: `GET path`, then each `Link: <…>; rel="next"` in turn.
    pub fn all_pages(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut next = Some(path.to_owned());
        while let Some(path) = next.take() {
            let response = self.send("GET", &path, &[], b"");
            assert_eq!(response.status, 200, "GET {path}: {}", response.text());
            let page = response.json();
            items.extend(
                page.as_array()
                    .unwrap_or_else(|| panic!("GET {path} answers an array"))
                    .iter()
                    .cloned(),
            );
            next = response.header("link").and_then(|link| {
                link.split(", ").find_map(|part| {
                    let (target, rel) = part.split_once(">; ")?;
                    (rel == "rel=\"next\"").then(|| target.trim_start_matches('<').to_owned())
                })
            });
        }
        items
    }

    /// `GET /api/students` (or any list) as a map from `key` to the object.
    pub fn by_id(&self, path: &str, key: &str) -> std::collections::BTreeMap<String, Value> {
        self.all_pages(path)
            .iter()
            .map(|item| {
                let id = item[key]
                    .as_str()
                    .unwrap_or_else(|| panic!("{item} has no {key}"))
                    .to_owned();
                (id, item.clone())
            })
            .collect()
    }
}
