//! R6 on a real process: an append acknowledged to the caller survives `kill -9`.
//!
//! The test re-runs its own binary as a child that appends batches forever and prints each
//! id only after `append` returned Ok. The parent kills it with SIGKILL at an arbitrary
//! moment, reopens the file, and checks that every printed id is there and that sequences
//! are still contiguous. Three kill cycles hit the same file, so recovery after recovery is
//! covered too. (Power loss cannot be simulated here; `synchronous=FULL` is what covers it.)

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use concord_core::event::sample_event;
use concord_core::store::{AppendOutcome, EventAppender, EventReader};
use concord_sqlite::SqliteStore;
use serde_json::json;

/// Set (to the store's path) only in the child process.
const CHILD_ENV: &str = "CONCORD_KILL9_CHILD";
const CHILD_TEST: &str = "kill9_child_appender";
const ACK: &str = "ACK ";
const IDS_PER_CYCLE: usize = 2000;
const CYCLES: usize = 3;
/// How long the parent waits for the child's next line before calling it hung.
const STALL: Duration = Duration::from_secs(30);

/// The child: a no-op in a normal test run; appends forever when the parent starts it.
#[test]
fn kill9_child_appender() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let store = SqliteStore::open(Path::new(&path)).unwrap();
    let prefix = format!("{}-{:08x}", std::process::id(), fastrand::u32(..));
    let mut stdout = std::io::stdout().lock();
    // The test harness may have left "test … " without a newline: start acks on a clean line.
    stdout.write_all(b"\n").unwrap();
    let mut next = 0u64;
    loop {
        let size = fastrand::usize(1..=50);
        let batch: Vec<_> = (0..size)
            .map(|_| {
                next += 1;
                let id = format!("{prefix}-{next}");
                let padding = "x".repeat(fastrand::usize(0..200));
                sample_event(
                    &id,
                    "kill9",
                    "thingMade",
                    json!({"n": next, "pad": padding}),
                )
            })
            .collect();
        let outcomes = store.append(&batch, &[]).unwrap();
        assert!(outcomes
            .iter()
            .all(|o| matches!(o, AppendOutcome::Appended(_))));
        // Printed only now that the batch is durable; one write per batch, well under
        // PIPE_BUF, so the parent never sees half a batch's line.
        let mut lines = String::new();
        for event in &batch {
            lines.push_str(ACK);
            lines.push_str(&event.id);
            lines.push('\n');
        }
        stdout.write_all(lines.as_bytes()).unwrap();
        stdout.flush().unwrap();
    }
}

#[test]
fn acknowledged_appends_survive_kill_9() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("kill9.db");
    let mut acknowledged: Vec<String> = Vec::new();
    for cycle in 0..CYCLES {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let (lines_tx, lines) = mpsc::channel::<String>();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let pump = std::thread::spawn(move || {
            let mut stdout = stdout;
            let mut line = String::new();
            loop {
                line.clear();
                match stdout.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    // An unterminated last line is not a whole acknowledgement.
                    Ok(_) if line.ends_with('\n') => {
                        if lines_tx.send(line.clone()).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                }
            }
        });

        let mut this_cycle = 0;
        while this_cycle < IDS_PER_CYCLE {
            match lines.recv_timeout(STALL) {
                Ok(line) => {
                    if let Some(id) = ack(&line) {
                        acknowledged.push(id);
                        this_cycle += 1;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait().unwrap();
                    panic!("cycle {cycle}: the child stopped acknowledging after {this_cycle} ids ({status})");
                }
            }
        }
        // Killing right after reading an ack would always land at the start of the child's
        // next batch; a random pause lands it anywhere, mid-insert and mid-fsync included.
        std::thread::sleep(Duration::from_micros(fastrand::u64(0..3000)));
        child.kill().unwrap(); // SIGKILL on unix
        child.wait().unwrap();
        // Whatever the child acknowledged before dying is still in the pipe: it counts too.
        pump.join().unwrap();
        acknowledged.extend(lines.try_iter().filter_map(|line| ack(&line)));

        let store = SqliteStore::open(&path).unwrap();
        let ids: Vec<&str> = acknowledged.iter().map(String::as_str).collect();
        let present = store.contains(&ids).unwrap();
        let missing: Vec<&&str> = ids
            .iter()
            .zip(&present)
            .filter(|(_, p)| !**p)
            .map(|(id, _)| id)
            .collect();
        assert!(
            missing.is_empty(),
            "cycle {cycle}: {} acknowledged ids lost after kill -9, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );

        let mut sequences = Vec::new();
        let mut stored_ids = HashSet::new();
        store
            .replay(0, &mut |stored| {
                sequences.push(stored.sequence);
                assert!(
                    stored_ids.insert(stored.event.id.to_string()),
                    "id {} stored twice",
                    stored.event.id
                );
            })
            .unwrap();
        let expected: Vec<u64> = (1..=sequences.len() as u64).collect();
        assert!(
            sequences == expected,
            "cycle {cycle}: sequences are not contiguous from 1"
        );
        assert_eq!(store.count().unwrap(), sequences.len() as u64);
        eprintln!(
            "kill -9 cycle {cycle}: {} ids acknowledged so far, {} stored",
            acknowledged.len(),
            sequences.len()
        );
        assert_eq!(store.last_sequence().unwrap(), sequences.len() as u64);
    }
    assert!(acknowledged.len() >= CYCLES * IDS_PER_CYCLE);
}

fn ack(line: &str) -> Option<String> {
    line.strip_prefix(ACK)
        .map(|rest| rest.trim_end().to_owned())
        .filter(|id| !id.is_empty())
}
