//! Checkpoints of the write-ahead log on a thread of their own, so that no commit's
//! callers wait for one.
//!
//! Left to SQLite, a checkpoint runs inside the `COMMIT` that takes the log past 1,000
//! pages: on the writer's thread, copying those pages into the database file and
//! syncing both files while every caller of that commit, and every one queued behind
//! it, waits. Measured on the logout row at 64 clients, that was a quarter of the
//! writer's time, and both cores sat idle a quarter of the time waiting on it.
//!
//! Here the writer's connection never checkpoints by itself. After each commit it wakes
//! the checkpointer, which copies what the log holds (`PASSIVE`: it takes no lock a
//! writer needs) at most once per [`PACE`]. A log is written from its start again only
//! when a write begins with every page of it copied, which a writer busy without pause
//! never lets happen; so once the log holds [`RESTART_AFTER_FRAMES`] pages, the
//! checkpointer asks the writer to copy the few pages left itself, between two commits,
//! after it has answered the first one's callers. The log stays bounded under any load.
//!
//! Durability is unchanged: a commit is durable in the log (as `synchronous` says) and
//! a checkpoint only copies what is already there.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc::{self, Receiver, SyncSender},
    },
    time::Duration,
};

use rusqlite::Connection;

use super::{BUSY_TIMEOUT, Synchronous};

/// The least time between two checkpoints: each syncs both files, and a busy writer
/// wakes the checkpointer after every commit.
const PACE: Duration = Duration::from_millis(50);

/// The log's size, in pages, past which the writer copies the last pages itself so
/// that the next write starts the log again (16 MiB of 4 KiB pages).
const RESTART_AFTER_FRAMES: i64 = 4_096;

/// The writer's side of the checkpointer.
pub(super) struct Checkpoints {
    wake: SyncSender<()>,
    restart_wanted: Arc<AtomicBool>,
}

impl Checkpoints {
    /// Leaves the checkpoints of the SQLite file at `path` to a thread of their own,
    /// with a connection of its own: `writer`, the writer's connection, no longer
    /// checkpoints at its commits. The thread ends when these `Checkpoints` are dropped.
    pub(super) fn start(
        path: &Path,
        synchronous: Synchronous,
        writer: &Connection,
    ) -> Result<Self, super::OpenError> {
        writer.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
        let connection = Connection::open(path)?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.execute_batch(synchronous.pragma())?;
        let (wake, woken) = mpsc::sync_channel(1);
        let restart_wanted = Arc::new(AtomicBool::new(false));
        let wanted = restart_wanted.clone();
        std::thread::Builder::new()
            .name("sqlite-checkpoints".into())
            .spawn(move || checkpoint_forever(&connection, &woken, &wanted))?;
        Ok(Self {
            wake,
            restart_wanted,
        })
    }

    /// Called by the writer after a commit whose callers have been answered: copies
    /// the log's last pages on `connection` when the checkpointer asked for it, and
    /// wakes the checkpointer.
    pub(super) fn committed(&self, connection: &Connection) {
        if self.restart_wanted.swap(false, Ordering::Relaxed)
            && let Err(error) = checkpoint(connection)
        {
            tracing::warn!(%error, "the writer's checkpoint of the SQLite log failed");
        }
        // Already awake or about to be: one wake-up is as good as several.
        let _ = self.wake.try_send(());
    }
}

/// The checkpointer's loop: one checkpoint per wake-up, at most one per [`PACE`],
/// until the writer is gone.
fn checkpoint_forever(connection: &Connection, woken: &Receiver<()>, restart_wanted: &AtomicBool) {
    while woken.recv().is_ok() {
        match checkpoint(connection) {
            Ok(frames) if frames >= RESTART_AFTER_FRAMES => {
                restart_wanted.store(true, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "a checkpoint of the SQLite log failed"),
        }
        std::thread::sleep(PACE);
    }
}

/// Copies every page of the log that no reader still needs into the database file,
/// waiting for no one: the log's size in pages.
fn checkpoint(connection: &Connection) -> rusqlite::Result<i64> {
    connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
}
