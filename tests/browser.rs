//! The four GUIs in a real browser: headless Chromium driven over WebDriver (chromedriver +
//! fantoccini) clicks through the paper's story against the real `concord demo` binary —
//! create students and examinations, enroll, synchronize, enter points, grade, see the grade
//! arrive at the office, hire, see the warning at the other group, override it, see the
//! conflict in the ta-pool — asserting on what the pages show. It saves a screenshot of each
//! GUI under `target/screenshots/`. Before the story it logs in and out (CONTRACT §6): the
//! login page, a wrong token, the session cookie's flags, the page's own style and script
//! running under its Content-Security-Policy, log out, and a `/?token=` login link.
//!
//! Without Chromium and chromedriver the test is skipped with a message, unless
//! `CONCORD_REQUIRE_SERVICES=1` (set by CI) makes that a failure.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const WAIT: Duration = Duration::from_secs(15);

/// The browser and its driver, or why the test cannot run.
fn browser_tools() -> Result<(PathBuf, PathBuf), String> {
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(CHROMIUM));
    if !chromium.exists() {
        return Err(format!("no Chromium at {}", chromium.display()));
    }
    let driver = std::env::var_os("CHROMEDRIVER")
        .map(PathBuf::from)
        .or_else(|| find_in_path("chromedriver"))
        .ok_or("no chromedriver in PATH")?;
    Ok((chromium, driver))
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// A plain HTTP/1.1 GET with a read timeout (chromedriver refuses HTTP/1.0 and ignores
/// `Connection: close`, so the timeout is what ends the read); the status, if any answered.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Four consecutive free ports on loopback.
fn free_ports(count: u16) -> u16 {
    for _ in 0..50 {
        let first = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = first.local_addr().unwrap().port();
        if base > u16::MAX - count {
            continue;
        }
        let rest: Vec<_> = (1..count)
            .map(|i| TcpListener::bind(("127.0.0.1", base + i)))
            .collect();
        if rest.iter().all(Result::is_ok) {
            return base;
        }
    }
    panic!("no {count} consecutive free ports");
}

/// A child process killed (with its whole process group, when it leads one) on drop.
struct Running {
    child: Child,
    group: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        if self.group {
            // chromedriver leaves Chromium running when killed alone.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        } else {
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_demo(base: u16, data: &Path) -> Running {
    // Its output goes next to the data folder, to be shown if it does not come up.
    let log = data.with_extension("log");
    let output = std::fs::File::create(&log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_concord"))
        .args([
            "demo",
            "--port",
            &base.to_string(),
            "--sync-interval-ms",
            "100",
        ])
        .arg("--data")
        .arg(data)
        .stdout(output.try_clone().unwrap())
        .stderr(output)
        .spawn()
        .expect("start concord demo");
    let demo = Running {
        child,
        group: false,
    };
    for port in base..base + 4 {
        let what = format!("the demo's service on port {port}");
        wait_until(&what, || {
            http_status(port, "/health") == Some(200) || {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                assert!(!text.contains("concord: "), "the demo failed:\n{text}");
                false
            }
        });
    }
    demo
}

fn start_chromedriver(driver: &Path) -> (Running, u16) {
    use std::os::unix::process::CommandExt;
    let port = free_ports(1);
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start chromedriver");
    let running = Running { child, group: true };
    wait_until("chromedriver", || http_status(port, "/status") == Some(200));
    (running, port)
}

async fn connect(chromium: &Path, driver_port: u16, profile: &Path) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--no-first-run", "--disable-component-update",
                "--disable-sync", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {"session.restore_on_startup": 4, "session.startup_urls": ["about:blank"]},
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("a WebDriver session")
}

/// Drives the four GUIs of one demo.
struct Gui {
    client: Client,
    base: u16,
    /// The operator's token, from the demo's credentials file.
    token: String,
    /// The services this browser has a session with.
    logged_in: std::sync::Mutex<Vec<u16>>,
}

const OFFICE: u16 = 0;
const SE: u16 = 1;
const THEORY: u16 = 2;
const POOL: u16 = 3;

impl Gui {
    /// Opens a service's page, logging in with a login link the first time.
    async fn open(&self, service: u16) {
        let url = format!("http://127.0.0.1:{}/", self.base + service);
        let first = {
            let mut logged_in = self.logged_in.lock().unwrap();
            let first = !logged_in.contains(&service);
            logged_in.push(service);
            first
        };
        let target = if first {
            format!("{url}?token={}", self.token)
        } else {
            url
        };
        self.client.goto(&target).await.unwrap();
    }

    async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
    }

    /// The element's visible text, whitespace (table cells, lines) collapsed to one space.
    async fn text(&self, css: &str) -> String {
        let text = self.find(css).await.text().await.unwrap();
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// Clicks a button and waits for the next page to have loaded.
    async fn click_and_wait(&self, button: &Element) {
        self.client
            .execute(
                "window.__stale = true; arguments[0].scrollIntoView({block: 'center'});",
                vec![serde_json::to_value(button).unwrap()],
            )
            .await
            .unwrap();
        button.click().await.unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            let fresh = self
                .client
                .execute(
                    "return window.__stale === undefined && document.readyState === 'complete';",
                    vec![],
                )
                .await
                .unwrap_or(json!(false));
            if fresh == json!(true) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the page did not load after a click"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fills the form whose key (`data-form`) is `form` and submits it. A value for a
    /// select picks that option; "true" ticks a checkbox; anything else is typed.
    async fn submit(&self, form: &str, fields: &[(&str, &str)]) {
        let form = self.find(&format!("form[data-form=\"{form}\"]")).await;
        for (name, value) in fields {
            let input = form
                .find(Locator::Css(&format!("[name=\"{name}\"]")))
                .await
                .unwrap_or_else(|e| panic!("no field {name}: {e}"));
            match (input.tag_name().await.unwrap().as_str(), *value) {
                ("select", value) => input.select_by_value(value).await.unwrap(),
                ("input", "true")
                    if input.attr("type").await.unwrap().as_deref() == Some("checkbox") =>
                {
                    if !input.is_selected().await.unwrap() {
                        input.click().await.unwrap();
                    }
                }
                (_, value) => {
                    input.clear().await.unwrap();
                    input.send_keys(value).await.unwrap();
                }
            }
        }
        let button = form
            .find(Locator::Css("button[type=submit]"))
            .await
            .unwrap();
        self.click_and_wait(&button).await;
    }

    /// The text of the section with this id (a card of the page).
    async fn section(&self, id: &str) -> String {
        self.text(&format!("section#{id}")).await
    }

    /// Reloads `service`'s page until its section `id` shows `expected` (what another
    /// service sent may take a sync round to arrive).
    async fn eventually(&self, service: u16, id: &str, expected: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            self.open(service).await;
            let text = self.section(id).await;
            if text.contains(expected) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "port +{service}, section {id}: never showed {expected:?}; it shows:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A screenshot of the whole page at `width`.
    async fn screenshot(&self, service: u16, width: u32, path: &Path) {
        self.open(service).await;
        let height = self
            .client
            .execute("return document.documentElement.scrollHeight;", vec![])
            .await
            .unwrap()
            .as_u64()
            .unwrap_or(900) as u32;
        self.client
            .set_window_size(width, height.clamp(600, 6000) + 120)
            .await
            .unwrap();
        self.open(service).await;
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(path, png).unwrap();
        self.client.set_window_size(1280, 900).await.unwrap();
    }
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_papers_story_through_the_four_guis() {
    let (chromium, driver) = match browser_tools() {
        Ok(tools) => tools,
        Err(why) if std::env::var("CONCORD_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("browser test: {why}, and CONCORD_REQUIRE_SERVICES=1 requires it (apt-get install chromium chromium-driver)")
        }
        Err(why) => {
            eprintln!(
                "SKIPPED browser test: {why} (apt-get install chromium chromium-driver to run it)"
            );
            return;
        }
    };
    let temp = tempfile::tempdir().unwrap();
    let base = free_ports(4);
    let _demo = start_demo(base, &temp.path().join("data"));
    let (_driver, driver_port) = start_chromedriver(&driver);
    let client = connect(&chromium, driver_port, &temp.path().join("profile")).await;
    let credentials = std::fs::read_to_string(temp.path().join("data/credentials.toml"))
        .expect("the demo made its credentials");
    let token = toml::from_str::<toml::Value>(&credentials).unwrap()["operator"]
        .as_str()
        .unwrap()
        .to_owned();
    let gui = Gui {
        client,
        base,
        token,
        logged_in: std::sync::Mutex::new(Vec::new()),
    };
    login_and_logout(&gui).await;
    let outcome = story(&gui).await;
    let _ = gui.client.clone().close().await;
    outcome
}

/// Types `token` into the login page's form and submits it.
async fn log_in_with(gui: &Gui, token: &str) {
    let input = gui.find("form input[name=token]").await;
    input.clear().await.unwrap();
    input.send_keys(token).await.unwrap();
    let button = gui.find("form button[type=submit]").await;
    gui.click_and_wait(&button).await;
}

async fn login_and_logout(gui: &Gui) {
    let url = format!("http://127.0.0.1:{}/", gui.base);
    let page_title = format!("students-office:{} — Concord", gui.base);
    // Without a session: the login page.
    gui.client.goto(&url).await.unwrap();
    let title = gui.client.title().await.unwrap();
    assert!(title.starts_with("Log in"), "{title}");

    // A wrong token is refused in the page.
    log_in_with(gui, "concord_not-the-token").await;
    let problem = gui.text("#problem").await;
    assert!(problem.contains("not valid"), "{problem}");
    let png = gui.client.screenshot().await.unwrap();
    std::fs::write(screenshot_dir().join("login.png"), png).unwrap();
    assert!(gui.client.get_all_cookies().await.unwrap().is_empty());

    // The operator's token opens the page, with a session cookie scripts cannot read.
    log_in_with(gui, &gui.token).await;
    assert_eq!(gui.client.title().await.unwrap(), page_title);
    let cookies = gui.client.get_all_cookies().await.unwrap();
    let session = cookies
        .iter()
        .find(|c| c.name() == format!("concord-session-students-office-{}", gui.base))
        .unwrap_or_else(|| {
            panic!("no session cookie named after the service and port: {cookies:?}")
        });
    assert_eq!(session.http_only(), Some(true), "{session:?}");
    assert_eq!(
        format!("{:?}", session.same_site()),
        "Some(Strict)",
        "{session:?}"
    );
    assert_eq!(session.path(), Some("/"));
    assert_ne!(session.secure(), Some(true), "plain HTTP: not Secure");
    let visible = gui
        .client
        .execute("return document.cookie;", vec![])
        .await
        .unwrap();
    assert_eq!(visible, json!(""), "HttpOnly: no script sees the session");
    gui.logged_in.lock().unwrap().push(OFFICE);

    // The page's inline style and script run: its Content-Security-Policy allows exactly
    // them (by hash).
    let header = gui
        .client
        .execute(
            "return getComputedStyle(document.querySelector('header.top')).backgroundColor;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(header, json!("rgb(22, 32, 58)"), "the page's style applies");
    let live = gui.find("#live").await;
    live.click().await.unwrap();
    let stored = gui
        .client
        .execute("return localStorage.getItem('concord-live');", vec![])
        .await
        .unwrap();
    assert_eq!(stored, json!("1"), "the page's script runs");
    live.click().await.unwrap(); // no live reloads during the story

    // Logging out closes the page again.
    let logout = gui.find("form.logout button").await;
    gui.click_and_wait(&logout).await;
    assert!(gui.client.title().await.unwrap().starts_with("Log in"));
    gui.client.goto(&url).await.unwrap();
    assert!(gui.client.title().await.unwrap().starts_with("Log in"));

    // A login link logs in and leaves the token out of the address bar.
    gui.client
        .goto(&format!("{url}?token={}", gui.token))
        .await
        .unwrap();
    assert_eq!(gui.client.current_url().await.unwrap().as_str(), url);
    assert_eq!(gui.client.title().await.unwrap(), page_title);
}

async fn story(gui: &Gui) {
    // The office: the title names the service and its port; the bar links all four GUIs.
    gui.open(OFFICE).await;
    let title = gui.client.title().await.unwrap();
    assert_eq!(title, format!("students-office:{} — Concord", gui.base));
    let nav = gui.text("nav.services").await;
    for name in ["students-office", "se-group", "theory-group", "ta-pool"] {
        assert!(nav.contains(name), "{nav}");
    }

    // Students and examinations.
    for (id, name) in [("s-1", "Ada Lovelace"), ("s-2", "Grace Hopper")] {
        gui.submit(
            "Create a student|/api/students",
            &[("studentId", id), ("name", name)],
        )
        .await;
    }
    assert!(gui
        .text("#flash")
        .await
        .contains("Create a student: done (studentCreated)"));
    let students = gui.section("students").await;
    assert!(
        students.contains("Ada Lovelace") && students.contains("Grace Hopper"),
        "{students}"
    );
    for (id, title, group) in [
        ("se-2026", "Modelling", "se-group"),
        ("th-2026", "Logic seminar", "theory-group"),
    ] {
        gui.submit(
            "Create an examination|/api/examinations",
            &[("examinationId", id), ("title", title), ("group", group)],
        )
        .await;
    }
    let examinations = gui.section("examinations").await;
    assert!(
        examinations.contains("Modelling se-group"),
        "{examinations}"
    );

    // Enrollments; an unknown examination is refused in the page, not as JSON.
    for (student, examination) in [("s-1", "se-2026"), ("s-2", "se-2026"), ("s-2", "th-2026")] {
        gui.submit(
            "Enroll a student|/api/enrollments",
            &[("studentId", student), ("examinationId", examination)],
        )
        .await;
    }
    let enrollments = gui.section("enrollments").await;
    assert_eq!(
        enrollments.matches("awaiting grade").count(),
        3,
        "{enrollments}"
    );

    // The SE group: "Synchronize now" pulls the enrollments.
    gui.open(SE).await;
    let sync_button = gui.find("form.sync-now button").await;
    gui.click_and_wait(&sync_button).await;
    assert!(gui.text("#flash").await.starts_with("Synchronized 4 links"));
    let sync = gui.section("sync").await;
    assert!(
        sync.contains("studentEnrolled") && sync.contains("in sync"),
        "{sync}"
    );
    let points = gui.section("modelling-se-2026-points-and-grades").await;
    assert!(
        points.contains("Ada Lovelace") && points.contains("Grace Hopper"),
        "{points}"
    );

    // Assignments and points; too many points are refused with the reason in the page.
    for (id, title, max) in [("a-1", "Use cases", "10"), ("a-2", "Class diagrams", "20")] {
        gui.submit(
            "Create an assignment|/api/assignments",
            &[
                ("assignmentId", id),
                ("examinationId", "se-2026"),
                ("title", title),
                ("maxPoints", max),
            ],
        )
        .await;
    }
    let enter = "Enter points — Modelling|/api/assignments/{assignmentId}/scores";
    gui.submit(
        enter,
        &[
            ("studentId", "s-1"),
            ("assignmentId", "a-1"),
            ("points", "25"),
        ],
    )
    .await;
    let error = gui.text("form.failed p.form-error").await;
    assert_eq!(error, "points must be between 0 and 10, not 25");
    assert!(gui.text("#problem").await.contains("Not done"));
    for (student, assignment, points) in [
        ("s-1", "a-1", "9"),
        ("s-1", "a-2", "18"),
        ("s-2", "a-1", "4"),
    ] {
        gui.submit(
            enter,
            &[
                ("studentId", student),
                ("assignmentId", assignment),
                ("points", points),
            ],
        )
        .await;
    }
    // Ada: 27 of 30 = 90 % → 1.3; issue it with the button in her row.
    let points = gui.section("modelling-se-2026-points-and-grades").await;
    assert!(
        points.contains("27 / 30 (90 %) 1.3 not issued Issue 1.3"),
        "{points}"
    );
    let issue = gui
        .find("form[data-form=\"Issue grade|/api/grades|s-1|se-2026\"] button")
        .await;
    gui.click_and_wait(&issue).await;
    let points = gui.section("modelling-se-2026-points-and-grades").await;
    assert!(points.contains("27 / 30 (90 %) 1.3 1.3"), "{points}");

    // The grade arrives at the office (pushed by the SE group).
    let grades = gui.eventually(OFFICE, "grades", "1.3").await;
    assert!(grades.contains("Ada Lovelace (s-1) 1.3"), "{grades}");
    // The office's event log, filtered to grades.
    gui.submit_filter("studentGraded").await;
    let log = gui.section("events").await;
    assert!(log.contains("studentGraded se-group"), "{log}");
    assert!(!log.contains("studentCreated"), "{log}");

    // The theory group rates Grace's presentation and grades it.
    gui.eventually(THEORY, "presentations-and-grades", "Grace Hopper")
        .await;
    gui.submit(
        "Rate a presentation|/api/presentations",
        &[
            ("studentId", "s-2"),
            ("examinationId", "th-2026"),
            ("content", "1.3"),
            ("presentation", "1.7"),
            ("discussion", "2.0"),
        ],
    )
    .await;
    let rated = gui.section("presentations-and-grades").await;
    assert!(rated.contains("1.3 1.7 2.0 1.56 1.7"), "{rated}");
    let issue = gui
        .find("form[data-form=\"Issue grade|/api/grades|s-2|th-2026\"] button")
        .await;
    gui.click_and_wait(&issue).await;
    gui.eventually(OFFICE, "grades", "Grace Hopper (s-2) awaiting 1.7")
        .await;

    // The SE group hires Grace.
    gui.open(SE).await;
    let hire = gui
        .find("form[data-form=\"Hire|/api/hires|s-2\"] button")
        .await;
    gui.click_and_wait(&hire).await;
    let tas = gui.section("teaching-assistants").await;
    assert!(tas.contains("s-2 Grace Hopper us"), "{tas}");

    // The theory group sees the warning, and is refused without the override…
    let tas = gui
        .eventually(THEORY, "teaching-assistants", "se-group — already taken")
        .await;
    assert!(
        tas.contains("Already hired by se-group: Grace Hopper (s-2)."),
        "{tas}"
    );
    let hire_form = "Hire a teaching assistant|/api/hires";
    gui.submit(hire_form, &[("studentId", "s-2")]).await;
    let refused = gui.text("form.failed p.form-error").await;
    assert!(refused.contains("already hired by se-group"), "{refused}");
    // …and hires deliberately with it.
    gui.submit(hire_form, &[("studentId", "s-2"), ("force", "true")])
        .await;
    let tas = gui.section("teaching-assistants").await;
    assert!(tas.contains("both groups — conflict"), "{tas}");

    // The ta-pool highlights the conflict.
    let pool = gui
        .eventually(
            POOL,
            "teaching-assistants",
            "conflict — hired by both groups",
        )
        .await;
    assert!(pool.contains("1 conflict"), "{pool}");
    let bad = gui.text("section#teaching-assistants td.bad").await;
    assert_eq!(bad, "conflict — hired by both groups");

    // Every page draws the whole topology.
    for service in [OFFICE, SE, THEORY, POOL] {
        gui.open(service).await;
        let labels = gui
            .client
            .find_all(Locator::Css("figure.topology text.label"))
            .await
            .unwrap();
        assert_eq!(labels.len(), 8, "eight links in the paper's topology");
    }

    let dir = screenshot_dir();
    for (service, name) in [
        (OFFICE, "students-office"),
        (SE, "se-group"),
        (THEORY, "theory-group"),
        (POOL, "ta-pool"),
    ] {
        gui.screenshot(service, 1280, &dir.join(format!("{name}.png")))
            .await;
    }
    gui.screenshot(SE, 390, &dir.join("se-group-phone.png"))
        .await;
}

impl Gui {
    /// Filters the current page's event log by type.
    async fn submit_filter(&self, ty: &str) {
        let form = self.find("form.filters").await;
        let input = form.find(Locator::Css("input[name=type]")).await.unwrap();
        input.clear().await.unwrap();
        input.send_keys(ty).await.unwrap();
        let button = form
            .find(Locator::Css("button[type=submit]"))
            .await
            .unwrap();
        self.click_and_wait(&button).await;
    }
}
