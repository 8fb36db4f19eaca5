//! Concord's benchmark: the figures the design promises, measured in one run on temporary
//! files, each next to a raw SQLite baseline of the same work. A run measures every figure
//! in several rounds and reports each by its median round ([`Options::rounds`]).
//!
//! - **Batched append** through [`SqliteStore`] (1000 events per batch), and raw rusqlite
//!   inserting the same rows with the same schema and pragmas.
//! - **64 concurrent writers** through the real runtime ([`Host`] over a [`ServiceCore`]),
//!   one event per command, durable before each reply: this is group commit at work. Its
//!   baseline is raw rusqlite committing one row per transaction (the fsync bound).
//! - **Replay**: opening a [`ServiceCore`] replays the whole store into the model; its
//!   baseline is a raw full scan plus JSON parse of the same rows.
//!
//! - **Sync** ([`sync`]): pull throughput and catch-up between two services over HTTP on
//!   loopback, and push latency from a command's acknowledgement to the event being durable
//!   at the peer.
//!
//! Each figure also shows how many cores the process kept busy meanwhile ([`meter`]): close to
//! the machine's cores, the figure is bound by the CPU; well below, by waiting.
//! Each figure, and each baseline, starts once the system has written out what the ones
//! before it left dirty ([`meter::settle`]), so that none pays for another's writeback.
//!
//! Every append is durable (WAL, `synchronous=FULL`), so the figures are only meaningful from
//! a release build on the disk the service will use (pass [`Options::dir`]).

pub mod meter;
pub mod model;
pub mod raw;
pub mod sync;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};

use concord_core::host::Host;
use concord_core::runtime::SystemEnv;
use concord_core::store::{AppendOutcome, EventAppender, EventReader, EventStore};
use concord_core::{AcceptancePolicy, ServiceCore};
use concord_sqlite::SqliteStore;
use concord_testkit::InstrumentedStore;

use meter::Measured;
use model::{counter_draft, CounterCatalogue, Counters, EventSource};

/// The names of the report's lines, in order.
pub const BATCHED: &str = "batched append, SqliteStore";
pub const BATCHED_RAW: &str = "  baseline: raw rusqlite, same rows";
pub const WRITERS: &str = "concurrent writers, Host + SqliteStore";
pub const WRITERS_RAW: &str = "  baseline: raw rusqlite, 1 commit/event";
pub const REPLAY: &str = "replay into a model, ServiceCore::open";
pub const REPLAY_RAW: &str = "  baseline: raw scan + JSON parse";

/// The targets the design sets (events per second).
pub const BATCHED_TARGET: f64 = 300_000.0;
pub const WRITERS_TARGET: f64 = 20_000.0;
pub const REPLAY_TARGET: f64 = 1_000_000.0;

/// What to measure, and how much of it.
#[derive(Clone, Debug)]
pub struct Options {
    /// Events appended in batches (and in the raw baseline).
    pub batched_events: usize,
    pub batch_size: usize,
    /// Concurrent writer threads, each running one-event commands in a loop.
    pub writers: usize,
    /// Events raised by all writers together.
    pub concurrent_events: usize,
    /// Rows of the one-commit-per-row baseline.
    pub single_commits: usize,
    /// Events in the store that is replayed.
    pub replay_events: usize,
    /// Events a consumer pulls from a producer over HTTP.
    pub sync_events: usize,
    /// Events a consumer catches up on after an outage.
    pub catch_up_events: usize,
    /// Commands whose push latency is measured.
    pub latency_events: usize,
    /// Commands sent over HTTP by [`Options::http_clients`] concurrent clients.
    pub http_commands: usize,
    pub http_clients: usize,
    /// Skip the sync figures (they start HTTP services on loopback).
    pub skip_sync: bool,
    /// Where the temporary files go (the system's temporary directory if `None`). Durable
    /// appends are as fast as this disk's fsync.
    pub dir: Option<PathBuf>,
    /// A smoke test: sizes too small for the targets to mean anything, so none is judged.
    pub quick: bool,
    /// How many times every figure is measured, all of them in turn each time; each line
    /// reports its median round (these machines are noisy: one round's figure can be a third
    /// off the next one's, or more).
    pub rounds: usize,
}

impl Options {
    /// The sizes the design's figures are quoted for.
    pub fn full() -> Self {
        Options {
            batched_events: 200_000,
            batch_size: 1000,
            writers: 64,
            concurrent_events: 32_000,
            single_commits: 2000,
            replay_events: 500_000,
            sync_events: 100_000,
            catch_up_events: 1_000_000,
            latency_events: 2000,
            http_commands: 64_000,
            http_clients: 64,
            skip_sync: false,
            dir: None,
            quick: false,
            rounds: 3,
        }
    }

    /// Small sizes: a smoke test of the whole run in well under a second of work.
    pub fn quick() -> Self {
        Options {
            batched_events: 2000,
            batch_size: 500,
            writers: 8,
            concurrent_events: 200,
            single_commits: 20,
            replay_events: 5000,
            sync_events: 2000,
            catch_up_events: 5000,
            latency_events: 50,
            http_commands: 640,
            http_clients: 64,
            skip_sync: false,
            dir: None,
            quick: true,
            rounds: 1,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options::full()
    }
}

/// One measured figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub name: &'static str,
    pub events: u64,
    pub seconds: f64,
    /// Cores the process kept busy on average meanwhile (CPU time over wall time), where
    /// the platform tells.
    pub cores: Option<f64>,
    /// The events/s this line must reach, if it has a target.
    pub target: Option<f64>,
    /// What else was observed (e.g. how many events one commit carried on average).
    pub note: String,
    /// For a latency line: whether its percentile target was met.
    pub latency_ok: Option<bool>,
    /// For a latency line: its median and 99th percentile, in milliseconds.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// The rate of every round, in the order measured (this line is the median one).
    pub round_rates: Vec<f64>,
    /// The round went wrong whatever its rate: commands failed, or pushed events never
    /// arrived (a slow round is not a failed one).
    pub failed: bool,
}

impl Line {
    fn new(name: &'static str, events: u64, measured: Measured, target: Option<f64>) -> Self {
        Line {
            name,
            events,
            seconds: measured.elapsed.as_secs_f64(),
            cores: measured.cores(),
            target,
            note: String::new(),
            latency_ok: None,
            p50_ms: None,
            p99_ms: None,
            round_rates: Vec::new(),
            failed: false,
        }
    }

    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.events as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// Whether the line reaches its target (lines without one do, unless their round failed).
    pub fn meets_target(&self) -> bool {
        !self.failed
            && self.target.is_none_or(|target| self.rate() >= target)
            && self.latency_ok != Some(false)
    }
}

/// The result of [`run`]; its `Display` is the table the CLI prints.
#[derive(Clone, Debug)]
pub struct Report {
    pub lines: Vec<Line>,
    pub dir: PathBuf,
    pub cores: usize,
    pub release_build: bool,
    /// Whether targets were judged (not in a quick run).
    pub judged: bool,
    /// How many times every figure was measured ([`Options::rounds`]).
    pub rounds: usize,
}

impl Report {
    pub fn line(&self, name: &str) -> Option<&Line> {
        self.lines.iter().find(|line| line.name == name)
    }

    /// Whether every target was reached (false for a quick run, which judges none).
    pub fn all_targets_met(&self) -> bool {
        self.judged
            && self.lines.iter().all(Line::meets_target)
            && self.ratios().iter().all(|ratio| ratio.met() != Some(false))
    }

    /// The targets set relative to a baseline of the same run (these machines are noisy, so
    /// a ratio says more than an absolute figure).
    pub fn ratios(&self) -> Vec<Ratio> {
        RATIOS
            .iter()
            .filter_map(|&(name, baseline, target)| {
                let (line, base) = (self.line(name)?, self.line(baseline)?);
                Some(Ratio {
                    name,
                    baseline,
                    value: median_share(line, base),
                    target,
                })
            })
            .collect()
    }

    /// The report as JSON Lines (`concord bench --json`): one object per figure, named by a
    /// stable identifier, with its baseline's rate measured in the same run where it has one.
    pub fn json_lines(&self) -> String {
        let mut out = String::new();
        for &(id, name, baseline) in JSON_NAMES {
            let Some(line) = self.line(name) else {
                continue;
            };
            let mut object = serde_json::json!({
                "name": id,
                "events": line.events,
                "seconds": line.seconds,
                "events_per_s": line.rate(),
            });
            if let Some(cores) = line.cores {
                object["cpu_cores"] = cores.into();
            }
            if let Some(base) = baseline.and_then(|b| self.line(b)) {
                object["baseline_events_per_s"] = base.rate().into();
            }
            // The judged share, as the table prints it: the median of the rounds' shares.
            if let Some(ratio) = self.ratios().into_iter().find(|ratio| ratio.name == name) {
                object["share_of_baseline"] = ratio.value.into();
                object["share_target"] = ratio.target.into();
            }
            if let Some(target) = line.target {
                object["target_events_per_s"] = target.into();
            }
            if let (Some(p50), Some(p99)) = (line.p50_ms, line.p99_ms) {
                object["p50_ms"] = p50.into();
                object["p99_ms"] = p99.into();
            }
            if line.round_rates.len() > 1 {
                object["round_events_per_s"] = line.round_rates.clone().into();
            }
            if !line.note.is_empty() {
                object["note"] = line.note.clone().into();
            }
            out.push_str(&object.to_string());
            out.push('\n');
        }
        out
    }
}

/// A figure's rate as a share of its baseline's, and the share it must reach.
#[derive(Clone, Debug, PartialEq)]
pub struct Ratio {
    pub name: &'static str,
    pub baseline: &'static str,
    pub value: f64,
    pub target: f64,
}

impl Ratio {
    /// `None` when either rate is unknown (nothing was measured).
    pub fn met(&self) -> Option<bool> {
        self.value.is_finite().then_some(self.value >= self.target)
    }
}

/// (line, its baseline, the share of the baseline's rate it must reach).
const RATIOS: &[(&str, &str, f64)] = &[
    (REPLAY, REPLAY_RAW, 0.85),
    (sync::PULL, BATCHED_RAW, 0.5),
    (sync::PULL_SIGNED, sync::PULL, sync::SIGNED_SHARE),
];

/// (JSON name, report line, the line whose rate is its baseline).
const JSON_NAMES: &[(&str, &str, Option<&str>)] = &[
    ("batched_append", BATCHED, Some(BATCHED_RAW)),
    ("concurrent_writers", WRITERS, Some(WRITERS_RAW)),
    ("replay", REPLAY, Some(REPLAY_RAW)),
    ("sync_pull_http", sync::PULL, Some(BATCHED_RAW)),
    ("sync_pull_signed", sync::PULL_SIGNED, Some(sync::PULL)),
    ("sync_catch_up", sync::CATCH_UP, Some(BATCHED_RAW)),
    ("push_latency", sync::PUSH_LATENCY, None),
    ("http_commands", sync::HTTP_COMMANDS, Some(WRITERS)),
    (
        "http_commands_signed",
        sync::HTTP_COMMANDS_SIGNED,
        Some(sync::HTTP_COMMANDS),
    ),
];

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Concord benchmark: durable appends (SQLite WAL, synchronous=FULL) in {}, {} cores",
            self.dir.display(),
            self.cores
        )?;
        if !self.judged {
            writeln!(f, "quick run: sizes too small to judge the targets")?;
        }
        if self.rounds > 1 {
            writeln!(
                f,
                "every figure measured {} times, all in turn each time; each line is its median \
                 round, with the lowest and highest rates of the rounds",
                self.rounds
            )?;
        }
        if !self.release_build {
            writeln!(
                f,
                "warning: this is a debug build; its figures say nothing about release speed"
            )?;
        }
        writeln!(
            f,
            "{:<42} {:>9} {:>9} {:>12} {:>5}  {:<21} note",
            "what", "events", "seconds", "events/s", "cores", "target"
        )?;
        for line in &self.lines {
            let target = match line.target {
                _ if line.failed => "FAILED".to_owned(),
                Some(target) if !self.judged => format!("(>= {})", thousands(target)),
                Some(target) if line.meets_target() => format!(">= {} ok", thousands(target)),
                Some(target) => format!(">= {} MISSED", thousands(target)),
                None => String::new(),
            };
            let cores = line.cores.map_or("-".into(), |c| format!("{c:.2}"));
            let spread = match (
                line.round_rates.iter().copied().reduce(f64::min),
                line.round_rates.iter().copied().reduce(f64::max),
            ) {
                (Some(low), Some(high)) if line.round_rates.len() > 1 => {
                    format!("rounds {}–{}; ", thousands(low), thousands(high))
                }
                _ => String::new(),
            };
            writeln!(
                f,
                "{:<42} {:>9} {:>9.3} {:>12} {:>5}  {:<21} {spread}{}",
                line.name,
                line.events,
                line.seconds,
                thousands(line.rate()),
                cores,
                target,
                line.note
            )?;
        }
        for ratio in self.ratios() {
            let verdict = match ratio.met() {
                _ if !self.judged => "",
                Some(true) => " ok",
                Some(false) => " MISSED",
                None => " (not measured)",
            };
            writeln!(
                f,
                "{} / {}: {:.1} % (target >= {:.0} %){verdict}",
                ratio.name.trim(),
                ratio.baseline.trim().trim_start_matches("baseline: "),
                ratio.value * 100.0,
                ratio.target * 100.0,
            )?;
        }
        Ok(())
    }
}

fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Runs every measurement [`Options::rounds`] times, all of them in turn each time, and
/// reports each line's median round. Panics (with the cause) if the temporary directory
/// cannot be used or a store fails: a benchmark has nothing sensible to report then.
pub fn run(options: &Options) -> Report {
    let rounds = options.rounds.max(1);
    let measured: Vec<Vec<Line>> = (0..rounds).map(|_| round(options)).collect();
    Report {
        lines: medians(measured),
        dir: options.dir.clone().unwrap_or_else(std::env::temp_dir),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        release_build: !cfg!(debug_assertions),
        judged: !options.quick,
        rounds,
    }
}

/// Every measurement once, on files of its own (removed at the end of the round).
fn round(options: &Options) -> Vec<Line> {
    let dir = match &options.dir {
        Some(dir) => tempfile::TempDir::new_in(dir),
        None => tempfile::TempDir::new(),
    }
    .expect("create a temporary directory for the benchmark files");
    let mut lines = Vec::new();

    let store_path = dir.path().join("batched.db");
    lines.extend(batched(
        options,
        &store_path,
        &dir.path().join("raw-batched.db"),
    ));
    lines.extend(concurrent(options, dir.path()));
    lines.extend(replay(options, &store_path));
    if !options.skip_sync {
        lines.extend(sync::run(options, dir.path()));
    }
    lines
}

/// Each line's median round (by rate; a latency line by its 99th percentile, lower first),
/// with the rates of all rounds. A round that failed (commands that failed, pushed events
/// that never arrived) is reported instead of the median: a failure is never outvoted.
fn medians(rounds: Vec<Vec<Line>>) -> Vec<Line> {
    // By name, in the order first measured.
    let mut by_line: Vec<Vec<Line>> = Vec::new();
    for lines in rounds {
        for line in lines {
            match by_line.iter_mut().find(|same| same[0].name == line.name) {
                Some(same) => same.push(line),
                None => by_line.push(vec![line]),
            }
        }
    }
    by_line
        .into_iter()
        .map(|mut same| {
            let rates: Vec<f64> = same.iter().map(Line::rate).collect();
            let mut chosen = match same.iter().position(|line| line.failed) {
                Some(failed) => same.swap_remove(failed),
                None => {
                    // Worse first: a lower rate, or a higher latency.
                    same.sort_by(|a, b| match (a.p99_ms, b.p99_ms) {
                        (Some(a), Some(b)) => b.total_cmp(&a),
                        _ => a.rate().total_cmp(&b.rate()),
                    });
                    // Of an even count, the worse of the middle two.
                    same.swap_remove((same.len() - 1) / 2)
                }
            };
            chosen.round_rates = rates;
            chosen
        })
        .collect()
}

/// A figure's rate as a share of its baseline's: the median of the rounds' shares, each
/// figure against the baseline measured in its own round (of an even count, the lower of
/// the middle two).
fn median_share(line: &Line, base: &Line) -> f64 {
    let mut shares: Vec<f64> = line
        .round_rates
        .iter()
        .zip(&base.round_rates)
        .map(|(rate, base)| rate / base)
        .collect();
    if shares.is_empty() {
        return line.rate() / base.rate();
    }
    shares.sort_by(f64::total_cmp);
    shares[(shares.len() - 1) / 2]
}

/// (a) Batched durable appends, store and raw; leaves the store at `store_path` for replay.
fn batched(options: &Options, store_path: &Path, raw_path: &Path) -> [Line; 2] {
    let batch_size = options.batch_size.max(1);
    let batches = options.batched_events.div_ceil(batch_size);

    let store = SqliteStore::open(store_path).expect("open the benchmark store");
    let mut source = EventSource::new(1);
    meter::settle();
    let mut appending = Measured::default();
    let mut appended = 0u64;
    for _ in 0..batches {
        let batch = source.batch(batch_size);
        let (outcomes, took) =
            Measured::time(|| store.append(&batch, &[]).expect("append a batch"));
        appending += took;
        appended += count_appended(&outcomes);
    }
    let mut store_line = Line::new(BATCHED, appended, appending, Some(BATCHED_TARGET));
    store_line.note = format!("{batch_size} events per batch");
    // Closed first, so its checkpoint thread's CPU is not counted against the baseline.
    drop(store);

    let mut raw_db = raw::RawDb::create(raw_path);
    let mut source = EventSource::new(1);
    meter::settle();
    let mut inserting = Measured::default();
    for _ in 0..batches {
        let rows: Vec<raw::Row> = source.batch(batch_size).iter().map(raw::Row::of).collect();
        inserting += raw_db.insert_batch(&rows);
    }
    let mut raw_line = Line::new(BATCHED_RAW, (batches * batch_size) as u64, inserting, None);
    raw_line.note = "rows serialized beforehand".into();
    [store_line, raw_line]
}

/// (b) Many writers, one event per command, through the host's group commit.
fn concurrent(options: &Options, dir: &Path) -> [Line; 2] {
    let writers = options.writers.max(1);
    let per_writer = options.concurrent_events.div_ceil(writers);
    let store = Arc::new(InstrumentedStore::new(
        SqliteStore::open(dir.join("concurrent.db")).expect("open the concurrent store"),
    ));
    let core = ServiceCore::<Counters>::open(
        "bench",
        std::sync::Arc::new(CounterCatalogue),
        AcceptancePolicy::default(),
        &*store,
    )
    .expect("open the service");
    let host = Host::start(
        core,
        Arc::clone(&store) as Arc<dyn EventStore>,
        Box::new(SystemEnv::default()),
    )
    .expect("start the host");

    let start = Arc::new(Barrier::new(writers + 1));
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let host = host.clone();
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                for i in 0..per_writer {
                    let n = (w * per_writer + i) as u64;
                    let stored = host
                        .command_blocking(Box::new(move |_: &Counters| Ok(vec![counter_draft(n)])))
                        .expect("a benchmark command succeeds");
                    assert_eq!(stored.len(), 1, "each command raises one event");
                }
            })
        })
        .collect();
    meter::settle();
    start.wait();
    let span = Measured::start();
    for thread in threads {
        thread.join().expect("a writer thread panicked");
    }
    let elapsed = span.stop();
    host.shutdown();
    let events = store.inner.count().expect("count");
    let commits = store.appends().max(1);
    let mut host_line = Line::new(WRITERS, events, elapsed, Some(WRITERS_TARGET));
    host_line.note = format!(
        "{writers} threads, {:.1} events per commit",
        events as f64 / commits as f64
    );
    // Closed first, as in `batched`: the baseline's cores are its own.
    drop(host);
    drop(store);

    let mut raw_db = raw::RawDb::create(&dir.join("raw-single.db"));
    let rows: Vec<raw::Row> = EventSource::new(2)
        .batch(options.single_commits.max(1))
        .iter()
        .map(raw::Row::of)
        .collect();
    meter::settle();
    let elapsed = raw_db.insert_one_by_one(&rows);
    let mut raw_line = Line::new(WRITERS_RAW, rows.len() as u64, elapsed, None);
    raw_line.note = "the fsync bound group commit beats".into();
    [host_line, raw_line]
}

/// (c) Replay of a large store into the model, and the raw scan of the same rows.
fn replay(options: &Options, store_path: &Path) -> [Line; 2] {
    {
        // Top the batched store up to the replay size (untimed).
        let store = SqliteStore::open(store_path).expect("reopen the benchmark store");
        let mut source = EventSource::new(3);
        let mut have = store.count().expect("count") as usize;
        while have < options.replay_events {
            let size = (options.replay_events - have).min(10_000);
            store.append(&source.batch(size), &[]).expect("append");
            have += size;
        }
    }
    meter::settle();
    let (raw_rows, raw_elapsed) = raw::scan_and_parse(store_path);

    let store = SqliteStore::open(store_path).expect("reopen the benchmark store");
    let events = store.count().expect("count");
    meter::settle();
    let span = Measured::start();
    let core = ServiceCore::<Counters>::open(
        "bench",
        std::sync::Arc::new(CounterCatalogue),
        AcceptancePolicy::default(),
        &store,
    )
    .expect("replay the store into the model");
    let elapsed = span.stop();
    let mut replay_line = Line::new(REPLAY, events, elapsed, Some(REPLAY_TARGET));
    replay_line.note = format!(
        "{} counters in the model; rows read on a 2nd thread",
        core.model().by_key.len()
    );
    let mut raw_line = Line::new(REPLAY_RAW, raw_rows, raw_elapsed, None);
    raw_line.note = "no events built, no model".into();
    [replay_line, raw_line]
}

fn count_appended(outcomes: &[AppendOutcome]) -> u64 {
    outcomes
        .iter()
        .filter(|o| matches!(o, AppendOutcome::Appended(_)))
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quick_run_reports_every_line_with_a_positive_rate() {
        let report = run(&Options::quick());
        let text = report.to_string();
        for name in [
            BATCHED,
            BATCHED_RAW,
            WRITERS,
            WRITERS_RAW,
            REPLAY,
            REPLAY_RAW,
            sync::PULL,
            sync::PULL_SIGNED,
            sync::CATCH_UP,
            sync::PUSH_LATENCY,
            sync::HTTP_COMMANDS,
            sync::HTTP_COMMANDS_SIGNED,
        ] {
            let line = report
                .line(name)
                .unwrap_or_else(|| panic!("no line {name:?}"));
            assert!(line.events > 0 && line.rate() > 0.0, "{line:?}");
            assert!(text.contains(name), "{text}");
            if cfg!(unix) {
                // Every figure did some work on this process's threads meanwhile.
                assert!(line.cores.is_some_and(|c| c > 0.0), "{line:?}");
            }
        }
        let quick = Options::quick();
        assert_eq!(
            report.line(BATCHED).unwrap().events,
            quick.batched_events as u64
        );
        assert_eq!(
            report.line(sync::PUSH_LATENCY).unwrap().events,
            quick.latency_events as u64,
            "every pushed event arrived"
        );
        assert!(report
            .line(sync::PUSH_LATENCY)
            .unwrap()
            .note
            .contains("p99"));
        assert_eq!(
            report.line(WRITERS).unwrap().events,
            quick.concurrent_events as u64
        );
        assert_eq!(
            report.line(REPLAY).unwrap().events,
            quick.replay_events as u64
        );
        // One JSON object per figure; a figure judged against a baseline carries the share.
        let objects: Vec<serde_json::Value> = report
            .json_lines()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(objects.len(), JSON_NAMES.len());
        let pull = objects
            .iter()
            .find(|o| o["name"] == "sync_pull_http")
            .unwrap();
        assert_eq!(pull["share_target"], 0.5);
        let share = pull["share_of_baseline"].as_f64().unwrap();
        let expected = pull["events_per_s"].as_f64().unwrap()
            / pull["baseline_events_per_s"].as_f64().unwrap();
        assert!(
            (share - expected).abs() < 1e-9,
            "one round: {share} {expected}"
        );
        println!("{report}");
    }

    fn measured(name: &'static str, events: u64, p99_ms: Option<f64>) -> Line {
        let mut line = Line::new(name, events, Measured::default(), None);
        line.seconds = 1.0;
        line.p99_ms = p99_ms;
        line
    }

    #[test]
    fn each_line_is_its_median_round_with_every_round_s_rate() {
        let rounds = vec![
            vec![measured("a", 300, None), measured("lat", 10, Some(9.0))],
            vec![measured("a", 100, None), measured("lat", 10, Some(1.0))],
            vec![measured("a", 200, None), measured("lat", 10, Some(5.0))],
        ];
        let lines = medians(rounds);
        assert_eq!(lines.len(), 2);
        assert_eq!((lines[0].name, lines[0].rate()), ("a", 200.0));
        assert_eq!(lines[0].round_rates, [300.0, 100.0, 200.0]);
        assert_eq!(lines[1].p99_ms, Some(5.0), "by latency, not rate");
        // Of two rounds, the worse one: a figure is not judged on its luckier half.
        let two = medians(vec![
            vec![measured("a", 300, None)],
            vec![measured("a", 100, None)],
        ]);
        assert_eq!(two[0].rate(), 100.0);
        // A round that failed is the one reported, however fast the others were.
        let mut failed = measured("a", 900, None);
        failed.failed = true;
        let mut lost = measured("lat", 10, Some(1.0));
        lost.latency_ok = Some(false);
        lost.failed = true;
        let with_failure = medians(vec![
            vec![measured("a", 300, None), measured("lat", 10, Some(5.0))],
            vec![failed, lost],
            vec![measured("a", 200, None), measured("lat", 10, Some(6.0))],
        ]);
        assert!(!with_failure[0].meets_target(), "{:?}", with_failure[0]);
        assert!(!with_failure[1].meets_target(), "{:?}", with_failure[1]);
        // A slow round that lost nothing is only a slow round: the median still decides.
        let mut slow = measured("lat", 10, Some(50.0));
        slow.latency_ok = Some(false);
        let with_slow = medians(vec![
            vec![measured("lat", 10, Some(5.0))],
            vec![slow],
            vec![measured("lat", 10, Some(6.0))],
        ]);
        assert_eq!(with_slow[0].p99_ms, Some(6.0));
        // Shares are taken within each round, then the median of them.
        let mut figure = measured("f", 100, None);
        figure.round_rates = vec![100.0, 60.0, 90.0];
        let mut base = measured("b", 200, None);
        base.round_rates = vec![200.0, 100.0, 300.0];
        assert_eq!(median_share(&figure, &base), 0.5, "shares 0.5, 0.6, 0.3");
        let report = Report {
            lines,
            dir: PathBuf::from("/tmp"),
            cores: 2,
            release_build: true,
            judged: true,
            rounds: 3,
        };
        assert!(report.to_string().contains("rounds 100–300"), "{report}");
    }

    #[test]
    fn rates_print_with_thousands_separators() {
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(0.0), "0");
    }
}
