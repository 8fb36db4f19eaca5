//! [`Concord`]: the real `concord` binary as a child process, started, stopped, restarted.

use serde_json::Value;
use std::fs::File;
use std::path::Path;
use std::path::PathBuf;
use std::process::Child;
use std::process::Command;
use std::process::ExitStatus;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use super::*;

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
