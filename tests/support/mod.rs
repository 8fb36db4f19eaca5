//! The end-to-end harness: starts the real `concord` binary as child processes on loopback and
//! talks HTTP/1.1 to them with a tiny blocking client over `std::net` (no client crate, so the
//! dependency tree of the product stays as it is).
//!
//! - [`Concord`]: one child process (`concord serve …` or `concord demo …`), started and
//!   waited for until `GET /health` answers, stopped with SIGTERM ([`Concord::terminate`]) or
//!   SIGKILL ([`Concord::kill`]), restarted with the same arguments ([`Concord::restart`]),
//!   always killed on drop. Its stdout and stderr go to files (a pipe nobody reads would
//!   block it), shown when something goes wrong.
//! - [`Node`]: a client handle for one service's port, presenting the operator's token
//!   (CONTRACT §6). Every answer is checked to be below 500: a client must never be able to
//!   cause a 5xx (CONTRACT §3).
//! - Credentials: a demo's come from its `DIR/credentials.toml`; `serve` processes get
//!   `--credentials` of one file shared by the whole test binary ([`shared_credentials`]).
//! - [`free_ports`]: consecutive free loopback ports outside the kernel's ephemeral range.
//! - Event builders, polling ([`eventually`]), and [`settle`] (POST /api/sync until quiet).

#![allow(dead_code)] // each test file uses its own part of the harness

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_concord");

pub const OFFICE: &str = "students-office";
pub const SE: &str = "se-group";
pub const THEORY: &str = "theory-group";
pub const TA_POOL: &str = "ta-pool";
/// In the order `concord demo` gives them ports.
pub const SERVICES: [&str; 4] = [OFFICE, SE, THEORY, TA_POOL];

/// How long a service may take to answer `GET /health` after its start.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Ports

/// Ports are handed out from 20000..32000 (below Linux's ephemeral range, so no outgoing
/// connection takes one between our check and the child's bind), starting at a per-process
/// random point so that test binaries running at the same time rarely meet.
const PORT_LOW: u16 = 20_000;
const PORT_HIGH: u16 = 32_000;
static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// The first of `n` consecutive ports that are free on 127.0.0.1 right now.
pub fn free_ports(n: u16) -> u16 {
    if NEXT_PORT.load(Ordering::SeqCst) == 0 {
        let seed = std::process::id() as u64
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .subsec_nanos() as u64;
        let start = PORT_LOW + (seed % u64::from(PORT_HIGH - PORT_LOW - 1000)) as u16;
        let _ = NEXT_PORT.compare_exchange(0, start, Ordering::SeqCst, Ordering::SeqCst);
    }
    for _ in 0..2000 {
        let mut base = NEXT_PORT.fetch_add(n, Ordering::SeqCst);
        if base < PORT_LOW || base + n > PORT_HIGH {
            base = PORT_LOW;
            NEXT_PORT.store(PORT_LOW + n, Ordering::SeqCst);
        }
        let held: Vec<TcpListener> = (base..base + n)
            .filter_map(|p| TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, p)).ok())
            .collect();
        if held.len() == usize::from(n) {
            return base;
        }
    }
    panic!("no {n} consecutive free ports on 127.0.0.1");
}

pub fn free_port() -> u16 {
    free_ports(1)
}

pub fn base_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

// ---------------------------------------------------------------------------------------------
// HTTP

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

// ---------------------------------------------------------------------------------------------
// Credentials

/// A deployment's tokens, as in a credentials file (CONTRACT §6).
#[derive(Clone, Debug)]
pub struct Credentials {
    pub path: PathBuf,
    pub operator: String,
    pub peers: std::collections::BTreeMap<String, String>,
}

impl Credentials {
    pub fn read(path: &Path) -> io::Result<Credentials> {
        let text = std::fs::read_to_string(path)?;
        let value: toml::Value = toml::from_str(&text)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        let operator = value["operator"].as_str().unwrap_or_default().to_owned();
        let peers = value
            .get("peers")
            .and_then(toml::Value::as_table)
            .map(|table| {
                table
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Credentials {
            path: path.to_owned(),
            operator,
            peers,
        })
    }

    /// Fresh tokens for the operator and the four services, written to `path` (mode 0600).
    pub fn write_new(path: &Path) -> Credentials {
        use concord_http::auth::generate_token;
        let credentials = Credentials {
            path: path.to_owned(),
            operator: generate_token(),
            peers: SERVICES
                .iter()
                .map(|s| (s.to_string(), generate_token()))
                .collect(),
        };
        credentials.write();
        credentials
    }

    /// Writes the file (replacing it), mode 0600.
    pub fn write(&self) {
        let mut text = format!("operator = \"{}\"\n[peers]\n", self.operator);
        for (name, token) in &self.peers {
            text.push_str(&format!("{name} = \"{token}\"\n"));
        }
        std::fs::write(&self.path, text).expect("write a credentials file");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o600))
                .expect("chmod 600");
        }
    }

    pub fn peer(&self, service: &str) -> &str {
        &self.peers[service]
    }
}

/// The credentials every `serve` process of this test binary shares (one deployment).
pub fn shared_credentials() -> &'static Credentials {
    static SHARED: std::sync::OnceLock<Credentials> = std::sync::OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("e2e-credentials-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a folder for the test credentials");
        Credentials::write_new(&dir.join("credentials.toml"))
    })
}

// ---------------------------------------------------------------------------------------------
// Processes

/// One `concord` child process.
pub struct Concord {
    args: Vec<String>,
    /// The services it runs, by port, to wait for.
    expect: Vec<(u16, &'static str)>,
    /// The operator's token of its services (a demo's from its credentials file).
    operator: Option<&'static str>,
    child: Option<Child>,
    logs: tempfile::TempDir,
    runs: usize,
    started: Instant,
}

impl Concord {
    /// `concord serve --service NAME --port PORT --data DATA EXTRA…`
    pub fn serve(name: &'static str, port: u16, data: &Path, extra: &[String]) -> Concord {
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--service".into(),
            name.into(),
            "--port".into(),
            port.to_string(),
            "--data".into(),
            data.display().to_string(),
        ];
        args.extend_from_slice(extra);
        Concord::start(args, vec![(port, name)])
    }

    /// `concord demo --port BASE --data DATA EXTRA…`
    pub fn demo(base: u16, data: &Path, extra: &[String]) -> Concord {
        let mut args: Vec<String> = vec![
            "demo".into(),
            "--port".into(),
            base.to_string(),
            "--data".into(),
            data.display().to_string(),
        ];
        args.extend_from_slice(extra);
        let expect = SERVICES
            .iter()
            .enumerate()
            .map(|(i, name)| (base + i as u16, *name))
            .collect();
        Concord::start(args, expect)
    }

    /// Spawns `concord ARGS…` and waits until every expected service answers `GET /health`.
    /// A `serve` without `--credentials` gets the [`shared_credentials`].
    pub fn start(mut args: Vec<String>, expect: Vec<(u16, &'static str)>) -> Concord {
        if args.first().map(String::as_str) == Some("serve")
            && !args.iter().any(|a| a == "--credentials")
        {
            args.push("--credentials".into());
            args.push(shared_credentials().path.display().to_string());
        }
        Concord::start_exactly(args, expect)
    }

    /// Spawns `concord ARGS…` as given (a `serve` configured with its own credentials).
    pub fn start_exactly(args: Vec<String>, expect: Vec<(u16, &'static str)>) -> Concord {
        assert!(
            args.first().map(String::as_str) != Some("demo") || args.iter().any(|a| a == "--data"),
            "give a demo --data (its credentials would land in ./concord-data otherwise)"
        );
        let mut process = Concord {
            args,
            expect,
            operator: None,
            child: None,
            logs: tempfile::tempdir().expect("a temporary folder for logs"),
            runs: 0,
            started: Instant::now(),
        };
        process.spawn();
        process
    }

    pub fn node(&self) -> Node {
        Node::with_token(self.expect[0].0, self.operator)
    }

    /// The services it runs, in the order given (for a demo: office, se, theory, ta-pool).
    pub fn nodes(&self) -> Vec<Node> {
        self.expect
            .iter()
            .map(|(port, _)| Node::with_token(*port, self.operator))
            .collect()
    }

    /// The operator's token of its services.
    pub fn operator_token(&self) -> &'static str {
        self.operator
            .expect("the process's operator token is known")
    }

    /// The value of flag `name` in its arguments.
    fn flag(&self, name: &str) -> Option<&str> {
        let at = self.args.iter().position(|a| a == name)?;
        self.args.get(at + 1).map(String::as_str)
    }

    /// Its credentials file: a demo's `DIR/credentials.toml`, a serve's `--credentials`.
    pub fn credentials_path(&self) -> Option<PathBuf> {
        match self.args.first().map(String::as_str) {
            Some("demo") => Some(
                Path::new(self.flag("--data").unwrap_or("./concord-data")).join("credentials.toml"),
            ),
            _ => self.flag("--credentials").map(PathBuf::from),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the process runs").id()
    }

    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => child.try_wait().ok().flatten().is_none(),
            None => false,
        }
    }

    fn log_path(&self, stream: &str) -> PathBuf {
        self.logs.path().join(format!("{stream}-{}.log", self.runs))
    }

    /// What the current (or last) run wrote to stderr.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.log_path("stderr")).unwrap_or_default()
    }

    /// What the current (or last) run wrote to stdout.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.log_path("stdout")).unwrap_or_default()
    }

    fn describe(&self) -> String {
        let tail = |text: String| {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        };
        format!(
            "concord {}\n--- stdout ---\n{}\n--- stderr (last lines) ---\n{}",
            self.args.join(" "),
            tail(self.stdout()),
            tail(self.stderr())
        )
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "spawn while running");
        self.runs += 1;
        let stdout = File::create(self.log_path("stdout")).expect("stdout log");
        let stderr = File::create(self.log_path("stderr")).expect("stderr log");
        let child = Command::new(BIN)
            .args(&self.args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
        self.child = Some(child);
        self.started = Instant::now();
        self.wait_ready();
        // A demo has made (or reused) its credentials before it serves.
        self.operator = self
            .credentials_path()
            .and_then(|path| Credentials::read(&path).ok())
            .map(|c| &*Box::leak(c.operator.into_boxed_str()));
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut waiting: Vec<(u16, &'static str)> = self.expect.clone();
        while !waiting.is_empty() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                panic!(
                    "concord exited ({status}) before it was ready\n{}",
                    self.describe()
                );
            }
            waiting.retain(
                |(port, name)| match http(*port, "GET", "/health", &[], b"") {
                    Ok(r) if r.status == 200 => {
                        let service = serde_json::from_slice::<Value>(&r.body)
                            .ok()
                            .and_then(|v| v["service"].as_str().map(str::to_owned));
                        assert_eq!(
                            service.as_deref(),
                            Some(*name),
                            "port {port} answers for another service"
                        );
                        false
                    }
                    _ => true,
                },
            );
            if waiting.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                let description = self.describe();
                self.kill();
                panic!(
                    "{waiting:?} did not answer GET /health within {START_TIMEOUT:?}\n{description}"
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Waits until stdout contains `text` (e.g. the demo's "Seeded" line).
    pub fn wait_for_stdout(&mut self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.stdout().contains(text) {
            assert!(
                self.is_running(),
                "concord exited while waiting for {text:?}\n{}",
                self.describe()
            );
            assert!(
                Instant::now() < deadline,
                "no {text:?} on stdout within {timeout:?}\n{}",
                self.describe()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Sends SIGTERM and waits (up to 20 s, then SIGKILL) for the exit; the status and how
    /// long the exit took.
    pub fn terminate(&mut self) -> (ExitStatus, Duration) {
        self.terminate_within(Duration::from_secs(20))
    }

    /// Sends SIGTERM and waits up to `patience` (then SIGKILL and panic) for the exit.
    pub fn terminate_within(&mut self, patience: Duration) -> (ExitStatus, Duration) {
        let pid = self.pid();
        let signalled = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(signalled.success(), "kill -TERM {pid} failed");
        let since = Instant::now();
        let mut child = self.child.take().expect("the process runs");
        loop {
            if let Some(status) = child.try_wait().expect("wait for concord") {
                return (status, since.elapsed());
            }
            if since.elapsed() > patience {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "concord did not exit within {patience:?} of SIGTERM (at most 10 s)\n{}",
                    self.describe()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, and the contract's promise: exit status 0 within 10 s.
    pub fn stop_gracefully(&mut self) {
        let (status, took) = self.terminate();
        assert!(
            status.success(),
            "concord exited with {status} after SIGTERM\n{}",
            self.describe()
        );
        assert!(
            took <= Duration::from_secs(10),
            "concord took {took:?} to exit after SIGTERM (at most 10 s)\n{}",
            self.describe()
        );
    }

    /// For a process the test already sent SIGTERM: exit status 0 within 10 s of now.
    pub fn stop_gracefully_after_signal(&mut self) {
        let since = Instant::now();
        let mut child = self.child.take().expect("the process runs");
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for concord") {
                break status;
            }
            if since.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("concord did not exit after SIGTERM\n{}", self.describe());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(status.success(), "exit {status}\n{}", self.describe());
        assert!(
            since.elapsed() <= Duration::from_secs(10),
            "{:?}",
            since.elapsed()
        );
    }

    /// SIGKILL, and wait for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The arguments the next [`Concord::restart`] uses.
    pub fn args_mut(&mut self) -> &mut Vec<String> {
        &mut self.args
    }

    /// Starts it again with the same arguments (same ports, same data); it must be stopped.
    pub fn restart(&mut self) {
        self.spawn();
    }
}

impl Drop for Concord {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `--peer NAME=URL` flags for these (name, port) pairs.
pub fn peer_args(peers: &[(&str, u16)]) -> Vec<String> {
    peers
        .iter()
        .flat_map(|(name, port)| ["--peer".to_owned(), format!("{name}={}", base_url(*port))])
        .collect()
}

/// One service alone on a fresh port and data folder, without sync links.
pub fn serve_alone(name: &'static str) -> (Concord, Node, tempfile::TempDir) {
    let data = tempfile::tempdir().expect("a temporary data folder");
    let process = Concord::serve(name, free_port(), data.path(), &["--no-links".to_owned()]);
    let node = process.node();
    (process, node, data)
}

// ---------------------------------------------------------------------------------------------
// Events, polling, settling

/// A CloudEvent in structured JSON.
pub fn event(id: &str, source: &str, ty: &str, time: &str, data: Value) -> Value {
    json!({
        "specversion": "1.0",
        "id": id,
        "source": source,
        "type": ty,
        "time": time,
        "datacontenttype": "application/json",
        "data": data,
    })
}

/// A fixed RFC 3339 time, `n` seconds after a base (so that tests control the order).
pub fn at(n: u32) -> String {
    format!(
        "2024-05-01T{:02}:{:02}:{:02}.000Z",
        8 + n / 3600,
        (n / 60) % 60,
        n % 60
    )
}

pub fn graded(id: &str, group: &str, student: &str, exam: &str, grade: f64, time: &str) -> Value {
    event(
        id,
        group,
        "studentGraded",
        time,
        json!({"studentId": student, "examinationId": exam, "grade": grade, "group": group}),
    )
}

/// Polls `probe` every 50 ms until it gives a value, or panics after `timeout`.
pub fn eventually<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "not within {timeout:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `POST /api/sync` on every node, round after round, until the services are quiet: two
/// rounds in a row leave every store's event count the same, and every link (`GET /api/sync`)
/// has `pending` 0 and no `lastError`. Panics if that does not happen in 30 rounds.
pub fn settle(nodes: &[Node]) {
    let mut previous: Option<Vec<u64>> = None;
    let mut last = Value::Null;
    for _ in 0..30 {
        for node in nodes {
            node.sync();
        }
        let counts: Vec<u64> = nodes.iter().map(Node::events_count).collect();
        let links: Vec<Value> = nodes.iter().flat_map(Node::links).collect();
        let quiet_links = links
            .iter()
            .all(|l| l["pending"].as_u64() == Some(0) && l["lastError"].is_null());
        if quiet_links && previous.as_ref() == Some(&counts) {
            return;
        }
        previous = Some(counts);
        last = Value::Array(links);
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the services did not settle in 30 rounds of POST /api/sync; links: {last}");
}

/// `value` with every array sorted (by the elements' JSON text), recursively: for comparing
/// answers that promise no order.
pub fn normalize(value: &Value) -> Value {
    match value {
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(normalize).collect();
            items.sort_by_key(|v| v.to_string());
            Value::Array(items)
        }
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), normalize(v))).collect())
        }
        other => other.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// A fake peer

/// A request a [`FakePeer`] received.
#[derive(Clone, Debug)]
pub struct FakeRequest {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl FakeRequest {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// The query parameters, decoded.
    pub fn query(&self) -> Vec<(String, String)> {
        let raw = self.target.split_once('?').map_or("", |(_, q)| q);
        raw.split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(name), percent_decode(value))
            })
            .collect()
    }

    pub fn param(&self, name: &str) -> Option<String> {
        self.query()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 3 <= bytes.len())
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

type FakeHandler = dyn Fn(&FakeRequest) -> (u16, Value) + Send + Sync;

/// A peer played by the test: an HTTP/1.1 server on loopback answering every request with
/// `handler`, and keeping every request it got.
pub struct FakePeer {
    pub port: u16,
    requests: std::sync::Arc<std::sync::Mutex<Vec<FakeRequest>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakePeer {
    pub fn start(
        handler: impl Fn(&FakeRequest) -> (u16, Value) + Send + Sync + 'static,
    ) -> FakePeer {
        use std::sync::atomic::AtomicBool;
        use std::sync::{Arc, Mutex};
        let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<FakeHandler> = Arc::new(handler);
        let thread = {
            let requests = Arc::clone(&requests);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let handler = Arc::clone(&handler);
                            let requests = Arc::clone(&requests);
                            std::thread::spawn(move || serve_fake(stream, &*handler, &requests));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        FakePeer {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        base_url(self.port)
    }

    pub fn requests(&self) -> Vec<FakeRequest> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves the requests of one connection (keep-alive), one after another.
fn serve_fake(
    stream: TcpStream,
    handler: &FakeHandler,
    requests: &std::sync::Mutex<Vec<FakeRequest>>,
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = io::BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut writer = stream;
    loop {
        use std::io::BufRead;
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let target = parts.next().unwrap_or_default().to_owned();
        let mut headers = Vec::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let length = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request = FakeRequest {
            method,
            target,
            headers,
            body,
        };
        let (status, answer) = handler(&request);
        requests.lock().unwrap().push(request);
        let body = answer.to_string();
        let response = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// A getEvents page.
pub fn page(events: Vec<Value>, next_after: u64, has_more: bool) -> Value {
    json!({"events": events, "next_after": next_after, "has_more": has_more})
}

/// A peer that accepts connections and never answers (a hung service).
pub struct BlackHole {
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BlackHole {
    pub fn start() -> BlackHole {
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;
        let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut held = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => held.push(stream),
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        BlackHole {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub const NATS: &str = "127.0.0.1:4222";

/// The NATS URL if the server answers; else a skip message, or a failure when
/// `CONCORD_REQUIRE_SERVICES=1` (CI).
pub fn nats_or_skip(test: &str) -> Option<String> {
    let reachable =
        std::net::TcpStream::connect_timeout(&NATS.parse().unwrap(), Duration::from_secs(2))
            .is_ok();
    if reachable {
        return Some(format!("nats://{NATS}"));
    }
    if std::env::var("CONCORD_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("{test}: NATS not reachable at {NATS}, and CONCORD_REQUIRE_SERVICES=1 requires it");
    }
    eprintln!("{test}: skipped: NATS not reachable at {NATS}");
    None
}

/// Deletes a JetStream stream through the JetStream API subject (fire and forget).
pub fn delete_stream(stream: &str) {
    use std::io::{Read, Write};
    let Ok(mut connection) = std::net::TcpStream::connect(NATS) else {
        return;
    };
    let _ = connection.set_read_timeout(Some(Duration::from_secs(2)));
    let mut greeting = [0u8; 1024];
    let _ = connection.read(&mut greeting);
    let request = format!(
        "CONNECT {{\"verbose\":false}}\r\nPUB $JS.API.STREAM.DELETE.{stream} 0\r\n\r\nPING\r\n"
    );
    let _ = connection.write_all(request.as_bytes());
    let _ = connection.read(&mut greeting); // PONG: the server has processed the delete
}
