//! `concord status`: the demo's services as separate processes with the ta-pool down. The
//! command names the unreachable service and the se-group's failing links to it and exits 1;
//! over healthy services it exits 0; a wrong token is a failure too.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

fn status(args: &[String], token: Option<&str>) -> (Option<i32>, String, String) {
    let mut command = Command::new(BIN);
    command
        .arg("status")
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("CONCORD_TOKEN")
        .stdin(Stdio::null());
    if let Some(token) = token {
        command.env("CONCORD_TOKEN", token);
    }
    let output = command.output().expect("run concord status");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn status_names_a_service_that_is_down_and_the_links_failing_to_reach_it() {
    let base = free_ports(4);
    let url = |i: u16| base_url(base + i);
    let data = tempfile::tempdir().unwrap();
    let peers = peer_args(&[
        ("students-office", base),
        ("se-group", base + 1),
        ("theory-group", base + 2),
        ("ta-pool", base + 3),
    ]);
    let mut args = peers.clone();
    args.extend(["--sync-interval-ms".to_owned(), "100".to_owned()]);
    let _office = Concord::serve("students-office", base, data.path(), &args);
    let _se = Concord::serve("se-group", base + 1, data.path(), &args);
    let _theory = Concord::serve("theory-group", base + 2, data.path(), &args);
    // The ta-pool (base + 3) is not started.
    let se = Node::new(base + 1);
    eventually(
        "se-group's links to the ta-pool fail",
        Duration::from_secs(20),
        || {
            let links = se.links();
            let failing = links
                .iter()
                .filter(|l| l["peer"] == "ta-pool" && l["state"] == "failing")
                .count();
            let healthy = links
                .iter()
                .filter(|l| l["peer"] == "students-office" && l["direction"] == "pull")
                .all(|l| l["state"] == "ok" && !l["lastSuccess"].is_null());
            (failing > 0 && healthy).then_some(())
        },
    );
    let token = shared_credentials().operator.clone();

    let everyone: Vec<String> = (0..4).map(url).collect();
    let (code, stdout, stderr) = status(&everyone, Some(&token));
    eprintln!("concord status, the ta-pool down:\n{stdout}");
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stdout.starts_with("SERVICE"), "{stdout}");
    let failing_links: Vec<&str> = stdout
        .lines()
        .filter(|l| {
            l.starts_with("FAILING: link ") && l.contains("of se-group") && l.contains("ta-pool")
        })
        .collect();
    assert!(!failing_links.is_empty(), "{stdout}");
    assert!(
        stdout.contains(&format!("FAILING: service {} ({}):", url(3), url(3))),
        "the ta-pool is named: {stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(&url(3)) && l.contains("DOWN")),
        "{stdout}"
    );
    // The healthy pull from the office is shown with its cursor, and the office lists the
    // se-group among the peers that read its log.
    assert!(
        stdout.lines().any(|l| l.starts_with("se-group")
            && l.contains("← students-office")
            && l.contains(" ok ")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("students-office") && l.contains("se-group")),
        "{stdout}"
    );
    assert!(stderr.contains("problems (listed above)"), "{stderr}");

    // The office alone has nothing wrong.
    let (code, stdout, stderr) = status(&[url(0)], Some(&token));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(!stdout.contains("FAILING"), "{stdout}");

    // A token the services do not know: every service is a problem, with the reason.
    let (code, stdout, _) = status(&[url(0), "--token".to_owned(), "wrong".to_owned()], None);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("answered 401"), "{stdout}");
}
