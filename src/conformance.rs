//! `concord conformance URL`: runs `concord-conformance`'s checks against a service and
//! prints one line per check; fails (exit status 1) unless every check passed.

use concord_conformance::Options;

use crate::cli::ConformanceArgs;

pub async fn run(args: ConformanceArgs) -> Result<(), String> {
    let options = Options {
        url: args.url.clone(),
        token: args.token,
        sample: args.sample,
        ca: args.tls_ca,
    };
    println!("Checking {} against the Concord protocol", args.url);
    let outcomes = concord_conformance::run(&options)
        .await
        .map_err(|e| format!("cannot check {}: {e}", args.url))?;
    for outcome in &outcomes {
        println!("{outcome}");
    }
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.passed)
        .map(|o| o.name)
        .collect();
    println!(
        "{} checks: {} passed, {} failed",
        outcomes.len(),
        outcomes.len() - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("not conformant: {}", failed.join(", ")))
    }
}
