//! `concord export`, `import` and `digest`: open the store, show progress, print the outcome.
//! The work itself is `concord-ops`'s.
//!
//! Progress goes to stderr as an `indicatif` bar only when stderr is a terminal; in scripts
//! and tests these commands print nothing but their result.

use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use concord_core::EventStore;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{DigestArgs, ExportArgs, ImportArgs, StoreArgs};
use crate::launch::{open_store, StoreLocation};

fn open(args: &StoreArgs, must_exist: bool) -> Result<Arc<dyn EventStore>, String> {
    let location = StoreLocation::parse_for_operator(&args.store, args.service.as_deref())?;
    if let StoreLocation::Sqlite(path) = &location {
        // Opening a SQLite path creates the file: reading a store that is not there is a
        // mistyped path, not an empty store.
        if must_exist && !path.exists() {
            return Err(format!("{}: no such store", path.display()));
        }
    }
    open_store(&location)
}

/// A bar on a terminal, nothing elsewhere.
fn progress(total: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "{msg} [{bar:40}] {human_pos}/{human_len} events, {per_sec}, {eta} left",
    )
    .map(|style| style.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_owned());
    bar
}

pub fn export(args: &ExportArgs) -> Result<(), String> {
    let store = open(&args.store, true)?;
    let total = store.count().map_err(|e| e.to_string())?;
    let bar = progress(total, "exporting");
    let mut tick = |done| bar.set_position(done);
    let summary = match &args.out {
        None => {
            let stdout = std::io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            concord_ops::export(&*store, &mut out, &mut tick).map_err(|e| e.to_string())?
        }
        Some(path) => {
            // Written aside and renamed when complete: a file named FILE is never a cut-off
            // export.
            let mut partial = path.clone().into_os_string();
            partial.push(".partial");
            let partial = PathBuf::from(partial);
            let file = File::create(&partial)
                .map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
            let mut out = BufWriter::new(file);
            let summary =
                concord_ops::export(&*store, &mut out, &mut tick).map_err(|e| e.to_string())?;
            let file = out.into_inner().map_err(|e| e.error().to_string())?;
            file.sync_all()
                .map_err(|e| format!("{}: {e}", partial.display()))?;
            std::fs::rename(&partial, path).map_err(|e| {
                format!(
                    "cannot rename {} to {}: {e}",
                    partial.display(),
                    path.display()
                )
            })?;
            summary
        }
    };
    bar.finish_and_clear();
    eprintln!(
        "exported {} events (up to sequence {})",
        summary.events, summary.up_to
    );
    Ok(())
}

pub fn import(args: &ImportArgs) -> Result<(), String> {
    let open_file = || {
        File::open(&args.file)
            .map(BufReader::new)
            .map_err(|e| format!("cannot read {}: {e}", args.file.display()))
    };
    // Checked whole before the store is even opened: a bad file changes nothing.
    let total =
        concord_ops::check(open_file()?).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let store = open(&args.store, false)?;
    let bar = progress(total, "importing");
    let report = concord_ops::import(&*store, open_file()?, &mut |done| bar.set_position(done))
        .map_err(|e| format!("{}: {e}", args.file.display()))?;
    bar.finish_and_clear();
    println!(
        "read {}, appended {}, already stored {}, conflicts {}",
        report.read, report.appended, report.duplicates, report.conflicts
    );
    if report.conflicts == 0 {
        return Ok(());
    }
    let mut stderr = std::io::stderr().lock();
    for conflict in &report.listed_conflicts {
        let _ = writeln!(
            stderr,
            "conflict: line {}: id {} is stored with other content; not imported",
            conflict.line, conflict.id
        );
    }
    Err(format!(
        "{} events conflict with events stored under the same id (listed above{})",
        report.conflicts,
        if report.conflicts > report.listed_conflicts.len() as u64 {
            ", the first of them"
        } else {
            ""
        }
    ))
}

pub fn digest(args: &DigestArgs) -> Result<(), String> {
    let store = open(&args.store, true)?;
    let total = store.count().map_err(|e| e.to_string())?;
    let bar = progress(total, "digesting");
    let digest = concord_ops::digest(&*store, &mut |done| bar.set_position(done))
        .map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    println!("{digest}");
    Ok(())
}
