//! Checkpoints mostly off the writer: a helper thread copies the write-ahead log into the
//! database.
//!
//! SQLite's default is to checkpoint inside the commit that takes the log past 1 000 pages,
//! on the committing thread: that commit then also copies the log into the file and syncs
//! it, several times the cost of a plain commit (measured on a pull: a 5 000-event commit took
//! 2–3 ms, one that checkpointed 7–12 ms). The writer is what every caller waits for, so here
//! a commit past 1 000 pages only wakes the helper ([`install`], a WAL hook), which runs a
//! passive checkpoint on its own connection while the writer goes on; a passive checkpoint
//! never blocks the writer or a reader.
//!
//! The helper cannot start the log over, though: SQLite does that when a writer begins a
//! transaction and finds every frame of the log copied, which does not happen while the
//! writer keeps committing (each commit adds frames while the helper copies the earlier
//! ones). So a commit that finds the log past [`INLINE_PAGES`] checkpoints inline after all,
//! as SQLite would at 1 000: by then the helper has copied all but the last frames, so that
//! commit copies little, and the writer's next transaction starts the log over. Under
//! steady writing the writer thus checkpoints a quarter as often as SQLite's default would,
//! and copies a fraction of the log when it does; the log stays under about 16 MB.
//!
//! Durability is unchanged: a commit is durable once the log is synced, which the writer
//! still does itself.

use std::ffi::c_int;
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::hooks::Wal;
use rusqlite::wal::CheckpointMode;
use rusqlite::Connection;

use concord_core::store::StoreError;

use crate::backend;

/// The log length (in pages) past which a commit wakes the helper: SQLite's own default.
const WAKE_PAGES: c_int = 1_000;
/// The log length past which a commit checkpoints inline after all (and so lets the log
/// start over); what the log's file can grow to, in pages, under steady writing.
pub const INLINE_PAGES: c_int = 4 * WAKE_PAGES;

/// What removes the hook (its type stands for any hook).
pub const NO_HOOK: Option<fn(&mut Wal, c_int) -> rusqlite::Result<()>> = None;

/// The helper thread. It ends once the writer's hook, which holds the other end of its
/// channel, is gone; [`Checkpointer::join`] waits for that.
pub struct Checkpointer {
    thread: Option<JoinHandle<()>>,
}

/// Starts the helper for the store at `path` and hooks `writer`'s commits to it.
pub fn install(writer: &mut Connection, path: &Path) -> Result<Checkpointer, StoreError> {
    let conn = crate::schema::open_checkpointer(path)?;
    // One pending wake-up is enough: a checkpoint copies everything committed before it.
    let (wake, woken) = mpsc::sync_channel::<()>(1);
    let thread = std::thread::Builder::new()
        .name("concord-checkpoint".into())
        .spawn(move || {
            // Ends when the writer's connection, and with it the hook holding `wake`, is gone.
            for () in woken {
                match conn.wal_checkpoint_v2(None::<&str>, CheckpointMode::PASSIVE) {
                    Ok((frames, _)) if frames >= 0 => {}
                    Ok(_) => tracing::warn!("a background checkpoint did not run"),
                    Err(error) => tracing::warn!(%error, "a background checkpoint failed"),
                }
            }
        })
        .map_err(|e| StoreError::Backend(format!("cannot start the checkpoint thread: {e}")))?;
    writer
        .wal_hook(Some(
            move |wal: &mut Wal, pages: c_int| match after_commit(pages) {
                Step::Nothing => Ok(()),
                Step::Wake => {
                    // Full: a wake-up is pending already. Disconnected: the helper is gone, and
                    // inline checkpoints take over once the log is long enough.
                    let _ = wake.try_send(());
                    Ok(())
                }
                Step::Inline => {
                    // Its outcome is ignored, as SQLite's own hook ignores it: an error
                    // returned here would fail a commit that has happened (the helper may
                    // hold the checkpoint lock, for one), and the next commit tries again.
                    let _ = wal.checkpoint();
                    Ok(())
                }
            },
        ))
        .map_err(backend)?;
    Ok(Checkpointer {
        thread: Some(thread),
    })
}

/// What a commit that left `pages` pages in the log does about it.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Nothing,
    Wake,
    Inline,
}

fn after_commit(pages: c_int) -> Step {
    if pages >= INLINE_PAGES {
        Step::Inline
    } else if pages >= WAKE_PAGES {
        Step::Wake
    } else {
        Step::Nothing
    }
}

impl Checkpointer {
    /// Waits for the helper to end; the writer's connection must be closed (or its hook
    /// removed) first, or this waits forever.
    pub fn join(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_wakes_the_helper_from_sqlites_threshold_and_checkpoints_itself_only_far_beyond() {
        assert_eq!(after_commit(0), Step::Nothing);
        assert_eq!(after_commit(WAKE_PAGES - 1), Step::Nothing);
        assert_eq!(after_commit(WAKE_PAGES), Step::Wake);
        assert_eq!(after_commit(INLINE_PAGES - 1), Step::Wake);
        assert_eq!(after_commit(INLINE_PAGES), Step::Inline);
    }
}
