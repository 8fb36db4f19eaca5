//! The command-line surface: every command and flag, with the help text users see.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "concord",
    version,
    about = "Event-sourced microservices that keep shared data in sync by exchanging CloudEvents",
    long_about = "Concord runs event-sourced services that agree on a shared domain by \
                  exchanging events (getEvents/putEvents), never by sharing a database. This \
                  binary runs the reference system from Copei & Zündorf's paper: the \
                  students-office, se-group, theory-group and ta-pool services."
)]
pub struct Cli {
    /// Log level: error, warn, info, debug or trace (default: RUST_LOG, else info).
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run all four services in one process, synchronising in the paper's topology.
    Demo(DemoArgs),
    /// Run one service.
    Serve(ServeArgs),
    /// Run the deterministic simulation of the four services under faults.
    Simulate(SimulateArgs),
    /// Measure storage, sync and HTTP throughput, each next to a baseline from the same run.
    Bench(BenchArgs),
    /// Make a fresh random token and print it with the configuration line (its hash).
    Token(TokenArgs),
    /// Check any service over the wire against the getEvents/putEvents protocol
    /// (docs/protocol.md): one line per check; exit status 0 only when every check passes.
    /// It writes events to the service: use a test deployment.
    Conformance(ConformanceArgs),
    /// Write a store's events as JSON Lines (CloudEvents in sequence order, data exactly as
    /// stored): a backup, or the first half of moving a service to another store.
    Export(ExportArgs),
    /// Append an exported file's events to a store. Events already stored are skipped, so
    /// importing twice changes nothing; an id stored with other content is a conflict: not
    /// stored, listed, and the exit status is 1. Import while the service is stopped.
    Import(ImportArgs),
    /// Print a digest of a store's set of events, independent of order and sequence numbers:
    /// two stores with equal digests hold the same events.
    Digest(DigestArgs),
    /// Show every sync link of the given services in a table (cursor, lag, last success,
    /// last error, rejected) and the peers that call each. Exits with 1 when a service does
    /// not answer or a link is failing or stopped, naming them: usable in scripts and checks.
    Status(StatusArgs),
}

#[derive(Args)]
pub struct ConformanceArgs {
    /// The service's base URL, e.g. http://127.0.0.1:7071.
    #[arg(value_name = "URL")]
    pub url: String,
    /// The bearer token to present (for a Concord service: the operator's). Also read from
    /// CONCORD_TOKEN.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "CONCORD_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// A JSON array of example CloudEvents the service accepts (each with source, type and
    /// data; the checker gives them fresh ids and times). Without it, events are generated
    /// from the service's GET /api/asyncapi.json.
    #[arg(long, value_name = "FILE")]
    pub sample: Option<PathBuf>,
    /// A private CA (PEM) to trust for an https:// URL, besides the system's roots.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
}

#[derive(Args)]
pub struct StatusArgs {
    /// The services' base URLs, e.g. http://127.0.0.1:7070 http://127.0.0.1:7071.
    #[arg(value_name = "URL", required = true)]
    pub urls: Vec<String>,
    /// The operator's token (default: the CONCORD_TOKEN environment variable).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Redraw the table every --interval seconds until interrupted.
    #[arg(long)]
    pub watch: bool,
    /// Seconds between redraws with --watch.
    #[arg(long, default_value_t = 2, value_name = "S")]
    pub interval: u64,
    /// Trust this PEM CA certificate (or bundle), besides the system's roots, for https://
    /// services.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
}

/// Which store an operator's command works on.
#[derive(Args)]
pub struct StoreArgs {
    /// The store: a SQLite file path, or a PostgreSQL URL postgres://USER@HOST:PORT/DB with
    /// ?schema=NAME (or --service to name the service whose schema it is).
    #[arg(long, value_name = "PATH|URL")]
    pub store: String,
    /// The service the store belongs to: with a PostgreSQL URL without ?schema=, its schema
    /// is the service's default one (se-group → se_group).
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
}

#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Write to this file (through FILE.partial, renamed when complete) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The JSON Lines file, as `concord export` writes it. It is checked whole first: a
    /// malformed line changes nothing.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

#[derive(Args)]
pub struct DigestArgs {
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct DemoArgs {
    /// Port of students-office; se-group, theory-group and ta-pool get the next three.
    #[arg(long, default_value_t = 7070, value_name = "BASE")]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    pub bind: IpAddr,
    /// Folder for the four services' event stores (one SQLite file each) and the
    /// deployment's credentials (DIR/credentials.toml: made on the first start, mode 0600,
    /// reused after); created if missing.
    #[arg(long, default_value = "./concord-data", value_name = "DIR")]
    pub data: PathBuf,
    /// Keep the four stores in PostgreSQL instead of SQLite files:
    /// postgres://USER@HOST:PORT/DB. Each service gets a schema named after it
    /// (students_office, se_group, theory_group, ta_pool); with ?schema=P in the URL they
    /// are P_students_office and so on. The credentials still live in --data DIR.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// How often idle links look for new events, in milliseconds (push links also react to
    /// every commit at once).
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub sync_interval_ms: u64,
    /// Load a small sample story (students, examinations, enrollments, points, grades, hires).
    #[arg(long)]
    pub seed: bool,
    /// How the services' links carry events: `http` (getEvents/putEvents between the
    /// services) or `nats` (published to a NATS JetStream stream and consumed from it).
    #[arg(long, default_value = "http", value_name = "KIND", value_parser = ["http", "nats"])]
    pub transport: String,
    /// The NATS server, with --transport nats.
    #[arg(long, default_value = "nats://127.0.0.1:4222", value_name = "URL")]
    pub nats_url: String,
    /// The JetStream stream (and subject prefix, lower-cased) the links use, with
    /// --transport nats; created if missing. Give each demo data folder its own.
    #[arg(long, default_value = "CONCORD", value_name = "NAME")]
    pub nats_stream: String,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Which service to run: students-office, se-group, theory-group or ta-pool.
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
    /// Port to listen on (default: the demo's port for this service, 7070–7073).
    #[arg(long, value_name = "P")]
    pub port: Option<u16>,
    /// Address to listen on (default 127.0.0.1).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<IpAddr>,
    /// Folder for the event store (default ./concord-data); the store is DIR/NAME.db.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The event store: a SQLite file path (default DIR/NAME.db), or a PostgreSQL URL
    /// postgres://USER@HOST:PORT/DB[?schema=NAME]; the schema (created if missing) defaults to
    /// the service's name with _ for - (e.g. se_group), so services can share a database.
    #[arg(long, value_name = "PATH|URL")]
    pub store: Option<String>,
    /// A TOML configuration file; flags override what it says. Timeouts and caps (connections,
    /// requests in flight, the writer queue) go in its [limits] table. See README "Running one
    /// service".
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A credentials file in the demo's format (operator = "TOKEN", [peers] NAME = "TOKEN"),
    /// e.g. a demo's credentials.toml, shared by the services of one deployment: this service
    /// admits the operator and every other service named there, and presents its own token
    /// to its peers. Combines with the [auth] table of --config.
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
    /// A Host name this service answers to (repeatable); replaces the default list (the bind
    /// address, localhost, 127.0.0.1, [::1]; any name when bound to 0.0.0.0 or ::).
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allow_hosts: Vec<String>,
    /// A peer's base URL, e.g. --peer students-office=http://127.0.0.1:7070 (repeatable).
    /// Used by the default topology's links; peers not named run on the demo's ports.
    #[arg(long = "peer", value_name = "NAME=URL")]
    pub peers: Vec<String>,
    /// How often idle links look for new events, in milliseconds (default 1000).
    #[arg(long, value_name = "MS")]
    pub sync_interval_ms: Option<u64>,
    /// Run no sync links (only serve); overrides links from the configuration.
    #[arg(long)]
    pub no_links: bool,
    /// Carry the default topology's links over NATS JetStream (`nats`) instead of HTTP.
    #[arg(long, value_name = "KIND", value_parser = ["http", "nats"])]
    pub transport: Option<String>,
    /// The NATS server for NATS links (default nats://127.0.0.1:4222; TOML `[nats] url`).
    #[arg(long, value_name = "URL")]
    pub nats_url: Option<String>,
    /// The JetStream stream (and subject prefix, lower-cased) of NATS links (default
    /// CONCORD; TOML `[nats] stream`); created if missing.
    #[arg(long, value_name = "NAME")]
    pub nats_stream: Option<String>,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key
    /// (TOML `tls_cert`).
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (PKCS #8, PKCS #1 or SEC1; TOML `tls_key`).
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Trust this PEM CA certificate (or bundle), besides the system's roots, for https://
    /// peers: a private CA (TOML `tls_ca`).
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
}

#[derive(Args)]
pub struct SimulateArgs {
    /// Run only this seed (replays a failure exactly).
    #[arg(long, value_name = "N", conflicts_with = "seeds")]
    pub seed: Option<u64>,
    /// Run seeds 0..K (or FIRST..FIRST+K with --first).
    #[arg(long, default_value_t = 1000, value_name = "K")]
    pub seeds: u64,
    /// The first seed of the range.
    #[arg(long, default_value_t = 0, value_name = "FIRST")]
    pub first: u64,
    /// Workload steps per run before everything heals.
    #[arg(long, default_value_t = 300)]
    pub steps: usize,
    /// Print one line per seed.
    #[arg(long)]
    pub verbose: bool,
}

#[derive(Args)]
pub struct TokenArgs {
    /// Instead of making a token, read one from standard input and print its hash (to list
    /// an existing token, e.g. one of a credentials file, in a configuration).
    #[arg(long)]
    pub hash: bool,
    /// Instead of a token, make an Ed25519 signing key for service NAME (signed events):
    /// prints its `[signing.NAME]` table for a credentials file, and the `[[signing.trust]]`
    /// entry its peers' configurations take. A new key for a running service is a rotation:
    /// give it the next --key-version and retire the old key in the peers' entries.
    #[arg(long, value_name = "NAME", conflicts_with = "hash")]
    pub signing: Option<String>,
    /// The key's version: its key id is NAME/vVERSION.
    #[arg(
        long,
        value_name = "VERSION",
        default_value_t = 1,
        requires = "signing"
    )]
    pub key_version: u32,
}

#[derive(Args)]
pub struct BenchArgs {
    /// Small sizes: a smoke test of the benchmark itself, not a measurement.
    #[arg(long)]
    pub quick: bool,
    /// Only the storage figures: skip the sync figures (which start services on loopback).
    #[arg(long)]
    pub skip_sync: bool,
    /// Print JSON Lines (one object per figure, with `name`, `events`, `seconds`,
    /// `events_per_s`, its baseline's `baseline_events_per_s` and the cores it kept busy,
    /// `cpu_cores`; `round_events_per_s`, the rate of every round, when more than one; and
    /// `share_of_baseline` with its `share_target` where a figure is judged against its
    /// baseline) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// How many times every figure is measured (all in turn each time); each is reported by
    /// its median round. Default: 3, or 1 with --quick.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=99))]
    pub rounds: Option<u16>,
}

impl BenchArgs {
    pub fn options(&self) -> concord_bench::Options {
        let options = if self.quick {
            concord_bench::Options::quick()
        } else {
            concord_bench::Options::full()
        };
        concord_bench::Options {
            skip_sync: self.skip_sync,
            rounds: self.rounds.map_or(options.rounds, usize::from),
            ..options
        }
    }
}
