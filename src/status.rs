//! `concord status URL…`: asks each service for its links and prints them (`concord-ops`'s
//! table); with `--watch`, again and again. Exit status 1 while anything is wrong.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use crate::cli::StatusArgs;

pub async fn run(args: StatusArgs) -> Result<(), String> {
    let token = args.token.clone().or_else(|| {
        std::env::var("CONCORD_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
    });
    let client = concord_node::client::build(args.tls_ca.as_deref()).map_err(|e| e.to_string())?;
    let terminal = std::io::stdout().is_terminal();
    loop {
        let survey = concord_ops::status::survey(&client, &args.urls, token.as_deref()).await;
        let table = survey.render(concord_node::links::now());
        let problems = survey.problems();
        let mut stdout = std::io::stdout().lock();
        if args.watch && terminal {
            // Clear the screen and go home: the table redraws in place.
            let _ = write!(stdout, "\x1b[2J\x1b[H");
        }
        let _ = write!(stdout, "{table}");
        for problem in &problems {
            let _ = writeln!(stdout, "FAILING: {problem}");
        }
        let _ = stdout.flush();
        drop(stdout);
        if !args.watch {
            return match problems.len() {
                0 => Ok(()),
                n => Err(format!("{n} problems (listed above)")),
            };
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(args.interval.max(1))) => {}
            () = concord_http::shutdown_signal() => return Ok(()),
        }
    }
}
