//! Python beside the tests: independent implementations (the Prometheus parser, the
//! Verifiability extension) that Concord's output is checked against.

use std::io::Write;
use std::process::{Command, Stdio};

/// Whether `python3` can import `module`; if not, skips with `install` as the hint (or fails
/// under `CONCORD_REQUIRE_SERVICES=1`, as CI runs).
pub fn python_module_or_skip(test: &str, module: &str, install: &str) -> bool {
    let found = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        let why = format!("python3 with {module} not found ({install})");
        if std::env::var("CONCORD_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("{test}: {why}, and CONCORD_REQUIRE_SERVICES=1 requires it");
        }
        eprintln!("{test}: skipped: {why}");
    }
    found
}

/// Runs `python3 SCRIPT ARGS…` with `input` on its standard input: its standard output, or
/// its standard error when it fails.
pub fn run_python(script: &str, args: &[&str], input: &str) -> Result<String, String> {
    let mut child = Command::new("python3")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    child
        .stdin
        .take()
        .expect("a piped stdin")
        .write_all(input.as_bytes())
        .expect("write to python3");
    let output = child.wait_with_output().expect("wait for python3");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
