//! `concord`: the command line. It parses arguments and wires the crates together; every
//! behaviour lives in a library crate.
//!
//! - `concord demo`: the paper's four services in one process ([`demo`]).
//! - `concord serve`: one service, configured by flags or a TOML file ([`serve`], [`config`]).
//! - `concord simulate`: the deterministic simulator over seeds ([`simulate`]).
//! - `concord bench`: the storage and runtime benchmark (`concord-bench`).
//! - `concord token`: a fresh token and its hash for a configuration ([`token`]).
//! - `concord conformance`: checks a service against the protocol (`concord-conformance`;
//!   [`conformance`] prints its outcomes).
//! - `concord export`, `import`, `digest`: a store's events to and from JSON Lines, and its
//!   digest (`concord-ops`, wired in [`ops`]).
//! - `concord status`: the links of running services in a table ([`status`]).
//!
//! Credentials: [`credentials`] reads and makes a deployment's credentials file.

mod cli;
mod config;
mod conformance;
mod credentials;
mod demo;
mod launch;
mod ops;
mod serve;
mod simulate;
mod status;
mod token;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

/// Events are built on one thread and freed on another (HTTP threads, then the writer):
/// glibc's malloc pays for that in consolidation and locking, mimalloc's per-thread free
/// lists do not (measured: a pull over HTTP about a quarter cheaper in CPU).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log.as_deref());
    if matches!(cli.command, Command::Demo(_) | Command::Serve(_)) {
        raise_fd_limit();
    }
    let result = match cli.command {
        Command::Demo(args) => run_async(demo::run(args)),
        Command::Serve(args) => run_async(serve::run(args)),
        Command::Simulate(args) => simulate::run(args),
        Command::Token(args) => token::run(&args),
        Command::Conformance(args) => run_async(conformance::run(args)),
        Command::Export(args) => ops::export(&args),
        Command::Import(args) => ops::import(&args),
        Command::Digest(args) => ops::digest(&args),
        Command::Status(args) => run_async(status::run(args)),
        Command::Bench(args) => {
            let report = concord_bench::run(&args.options());
            if args.json {
                print!("{}", report.json_lines());
            } else {
                println!("{report}");
            }
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("concord: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run_async(task: impl std::future::Future<Output = Result<(), String>>) -> Result<(), String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?
        .block_on(task)
}

/// Every connection holds a file descriptor: take all the hard limit allows (many systems
/// start processes with a soft limit of 1024).
fn raise_fd_limit() {
    match concord_http::server::fd_limit::raise() {
        Ok((before, after)) if before.soft != after.soft => tracing::info!(
            from = before.soft,
            to = after.soft,
            "raised the file-descriptor limit"
        ),
        Ok((_, now)) => tracing::info!(limit = now.soft, "file-descriptor limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the file-descriptor limit"),
    }
}

/// Logs to stderr at the level of `--log` or `RUST_LOG` (error, warn, info, debug, trace).
fn init_logging(flag: Option<&str>) {
    let wanted = flag
        .map(str::to_owned)
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".to_owned());
    let level = wanted.parse().unwrap_or(tracing::Level::INFO);
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
