//! The command line (CONTRACT §5): help for every command and flag, clear errors for wrong
//! invocations, and `serve --config FILE`.

mod support;

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// Runs `concord ARGS…` to its end (at most 10 s): (exit code, stdout, stderr).
fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(data.path()) // a stray ./concord-data lands in a temporary folder
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start concord");
    let since = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if since.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "concord {args:?} did not finish within 10 s\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn help(args: &[&str]) -> String {
    let (code, stdout, stderr) = run(args);
    assert_eq!(code, Some(0), "concord {args:?}: {stderr}");
    stdout
}

/// Every `--flag` line of a clap help text has an explanation after it.
fn assert_every_flag_explained(text: &str) {
    for line in text.lines().map(str::trim_start) {
        if !line.starts_with("--") && !line.starts_with('-') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let explanation = words
            .iter()
            .skip(1)
            .skip_while(|w| w.starts_with('<') || w.starts_with("--") || w.ends_with(','))
            .count();
        assert!(
            explanation > 0 || text.contains(&format!("{line}\n          ")),
            "flag without an explanation: {line:?}\n{text}"
        );
    }
}

fn assert_mentions(text: &str, words: &[&str]) {
    for word in words {
        assert!(text.contains(word), "help lacks {word:?}:\n{text}");
    }
}

#[test]
fn top_level_help_names_the_commands() {
    for flag in ["--help", "-h"] {
        let text = help(&[flag]);
        assert_mentions(&text, &["demo", "serve", "token", "Usage"]);
        assert_every_flag_explained(&text);
    }
    let text = help(&["help"]);
    assert_mentions(&text, &["demo", "serve"]);
}

#[test]
fn demo_help_explains_every_flag_and_default() {
    let text = help(&["demo", "--help"]);
    assert_mentions(
        &text,
        &[
            "--port",
            "--data",
            "--sync-interval-ms",
            "--seed",
            "--bind",
            "7070",
            "./concord-data",
            "1000",
            "127.0.0.1",
        ],
    );
    assert_every_flag_explained(&text);
    assert_eq!(help(&["help", "demo"]), text);
}

#[test]
fn serve_help_explains_every_flag() {
    let text = help(&["serve", "--help"]);
    assert_mentions(
        &text,
        &[
            "--service",
            "--port",
            "--data",
            "--config",
            "--peer",
            "--sync-interval-ms",
            "--credentials",
            "--allow-host",
            // --service must say which names it takes.
            "students-office",
            "se-group",
            "theory-group",
            "ta-pool",
        ],
    );
    assert_every_flag_explained(&text);
}

#[test]
fn every_other_command_has_help() {
    for command in ["simulate", "bench", "token"] {
        let text = help(&[command, "--help"]);
        assert_every_flag_explained(&text);
    }
}

#[test]
fn serve_without_a_service_fails_clearly() {
    let (code, _, stderr) = run(&["serve"]);
    assert!(code.is_some_and(|c| c != 0), "exit {code:?}");
    assert!(
        stderr.contains("--service"),
        "the message names the flag: {stderr}"
    );
}

#[test]
fn an_unknown_service_fails_clearly() {
    let (code, _, stderr) = run(&["serve", "--service", "registrar", "--port", "1"]);
    assert!(code.is_some_and(|c| c != 0), "exit {code:?}");
    assert!(stderr.contains("registrar"), "{stderr}");
    for name in SERVICES {
        assert!(
            stderr.contains(name),
            "the message lists the services: {stderr}"
        );
    }
}

#[test]
fn malformed_flags_fail_clearly() {
    let (code, _, stderr) = run(&["serve", "--service", "se-group", "--peer", "nonsense"]);
    assert!(code.is_some_and(|c| c != 0), "exit {code:?}");
    assert!(stderr.contains("NAME=URL"), "{stderr}");

    let (code, _, stderr) = run(&[
        "serve",
        "--service",
        "se-group",
        "--peer",
        "registrar=http://127.0.0.1:1",
    ]);
    assert!(code.is_some_and(|c| c != 0), "exit {code:?}");
    assert!(stderr.contains("registrar"), "{stderr}");

    let (code, _, stderr) = run(&["serve", "--service", "ta-pool", "--port", "seventy"]);
    assert!(code.is_some_and(|c| c != 0), "exit {code:?}");
    assert!(stderr.contains("--port"), "{stderr}");

    let (code, _, stderr) = run(&["demo", "--frobnicate"]);
    assert!(code.is_some_and(|c| c != 0), "exit {code:?}");
    assert!(stderr.contains("--frobnicate"), "{stderr}");

    let (code, _, stderr) = run(&["serve", "--config", "/nonexistent/concord.toml"]);
    assert!(code.is_some_and(|c| c != 0), "exit {code:?}");
    assert!(stderr.contains("/nonexistent/concord.toml"), "{stderr}");
}

#[test]
fn a_port_in_use_fails_clearly() {
    let taken = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let credentials = shared_credentials().path.display().to_string();
    let (code, _, stderr) = run(&[
        "serve",
        "--service",
        "ta-pool",
        "--port",
        &port,
        "--data",
        dir,
        "--credentials",
        &credentials,
    ]);
    assert!(code.is_some_and(|c| c != 0), "exit {code:?}");
    assert!(
        stderr.contains(&port),
        "the message names the port: {stderr}"
    );
}

#[test]
fn serve_reads_a_config_file_and_flags_override_it() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("concord.toml");
    let (port, other) = (free_port(), free_port());
    std::fs::write(
        &config,
        format!(
            "service = \"ta-pool\"\nport = {port}\ndata = {:?}\nsync_interval_ms = 250\n",
            data.path().join("stores").display().to_string()
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let mut process = Concord::start(
        vec!["serve".into(), "--config".into(), config.clone()],
        vec![(port, TA_POOL)],
    );
    assert_eq!(process.node().health()["service"], TA_POOL);
    process.stop_gracefully();
    assert!(
        std::fs::read_dir(data.path().join("stores"))
            .map(|d| d.count() > 0)
            .unwrap_or(false),
        "the store lives in the configured data folder"
    );

    let mut process = Concord::start(
        vec![
            "serve".into(),
            "--config".into(),
            config,
            "--port".into(),
            other.to_string(),
            "--service".into(),
            OFFICE.into(),
        ],
        vec![(other, OFFICE)],
    );
    assert_eq!(process.node().health()["service"], OFFICE);
    process.stop_gracefully();
}

#[test]
fn demo_binds_where_it_is_told() {
    let data = tempfile::tempdir().unwrap();
    let base = free_ports(4);
    let mut process = Concord::demo(base, data.path(), &["--bind".into(), "127.0.0.1".into()]);
    for (i, node) in process.nodes().iter().enumerate() {
        assert_eq!(node.health()["service"], SERVICES[i]);
    }
    process.stop_gracefully();
    let stores: Vec<String> = std::fs::read_dir(data.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for name in SERVICES {
        assert!(
            stores.iter().any(|s| s.contains(name)),
            "one store per service under DIR: {stores:?}"
        );
    }
}
