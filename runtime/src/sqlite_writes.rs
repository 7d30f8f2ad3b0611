//! Writes on SQLite through one connection on a thread of its own, several callers'
//! transactions committed together (group commit).
//!
//! SQLite has one writer at a time. Through sqlx, every statement of a write
//! transaction is handed to a connection's thread and back, and the pool's
//! connections take turns at the database's write lock through the busy handler,
//! which sleeps (1, 2, 5, 10 ms and longer) rather than queue. Here a write is one
//! closure, run whole on the writer's thread: one hand-off per transaction. The
//! writer takes every closure waiting when it is free, runs each inside a savepoint of
//! one `BEGIN IMMEDIATE` transaction (a closure that fails undoes only its own
//! writes), commits once, and only then answers each caller: nothing is acknowledged
//! before the commit that holds it, and one commit (one `fsync` of the log with
//! `synchronous = FULL`) serves every transaction of the batch.
//!
//! Durability: every SQLite connection runs WAL with [`SQLITE_SYNCHRONOUS`]. An answer
//! is given only after its commit, so an acknowledged write survives a crash of the
//! process (the kill -9 tests). With `NORMAL` the log is synced at checkpoints, not at
//! each commit, so a power loss or a crash of the machine may take the last commits;
//! `FULL` syncs the log at every commit, once per group here. BENCHMARKS.md
//! ("Writes") measures both and says why the shipped setting is what it is.
//!
//! The log is copied into the database file by a thread of its own
//! ([`checkpoints`]), never inside a commit that callers wait for.

use std::{
    path::Path,
    sync::mpsc::{self, Receiver, Sender},
    time::Duration,
};

use rusqlite::Connection;
use tokio::sync::oneshot;

use checkpoints::Checkpoints;

mod checkpoints;

/// The `synchronous` setting of every SQLite connection: WAL's `NORMAL`. `FULL` is
/// the setting to choose once every hot write commits in groups through here (the
/// writes still on sqlx would each pay a sync of the log while holding the database's
/// one write lock).
pub const SQLITE_SYNCHRONOUS: Synchronous = Synchronous::Normal;

/// SQLite's `synchronous` setting in WAL mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// The log is synced at checkpoints: a commit survives a crash of the process,
    /// not necessarily a power loss.
    Normal,
    /// The log is synced at every commit: a commit survives a power loss too.
    Full,
}

impl Synchronous {
    /// The statement that sets it on a connection.
    pub fn pragma(self) -> &'static str {
        match self {
            Self::Normal => "PRAGMA synchronous = NORMAL;",
            Self::Full => "PRAGMA synchronous = FULL;",
        }
    }
}

/// The most transactions one commit holds: past this, a caller's answer would wait
/// for too many others' work.
const MOST_PER_COMMIT: usize = 64;

/// How long the writer waits for the write lock while a connection of another kind
/// (sqlx's, or another process's) holds it.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The transaction, or the commit that would have held it, failed.
    #[error("SQLite write failed")]
    Sqlite(#[from] rusqlite::Error),
    /// The writer's thread is gone (the process is shutting down).
    #[error("the SQLite writer has stopped")]
    Stopped,
}

/// Why the writer could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The connection could not be opened or set up.
    #[error("cannot open the SQLite writer's connection")]
    Sqlite(#[from] rusqlite::Error),
    /// Its thread could not be started.
    #[error("cannot start the SQLite writer's thread")]
    Thread(#[from] std::io::Error),
}

/// A job the writer runs: it does its writes (or, given why the transaction could not
/// begin, none), and returns what delivers its answer once the commit is known.
type Job = Box<dyn FnOnce(Result<&Connection, &rusqlite::Error>) -> Delivery + Send>;

/// Hands a job's answer to its caller, given whether the commit succeeded.
type Delivery = Box<dyn FnOnce(Result<(), &rusqlite::Error>) + Send>;

/// The one writing connection to an SQLite file, shared by every clone.
#[derive(Debug, Clone)]
pub struct SqliteWriter {
    jobs: Sender<Job>,
}

impl SqliteWriter {
    /// Opens the writing connection to the SQLite file at `path` (already created and
    /// migrated, in WAL mode) with `synchronous`, and starts its thread.
    pub fn open(path: &Path, synchronous: Synchronous) -> Result<Self, OpenError> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")?;
        connection.execute_batch(synchronous.pragma())?;
        connection.set_prepared_statement_cache_capacity(64);
        let checkpoints = Checkpoints::start(path, synchronous, &connection)?;
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_forever(&connection, &queue, &checkpoints))?;
        Ok(Self { jobs })
    }

    /// Runs `transaction` on the writer and answers once it is committed. An error
    /// from it undoes its writes (and only its writes); so does a failed commit,
    /// which fails every transaction of that commit. Keep it to a few statements: the
    /// transactions of a commit run one after the other.
    pub async fn write<T, F>(&self, transaction: F) -> Result<T, WriteError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |begun| {
            let outcome = match begun {
                Ok(connection) => in_savepoint(connection, transaction),
                Err(error) => Err(copy_error(error)),
            };
            Box::new(move |commit: Result<(), &rusqlite::Error>| {
                let result = match (outcome, commit) {
                    (Ok(value), Ok(())) => Ok(value),
                    (Err(error), _) => Err(WriteError::Sqlite(error)),
                    (Ok(_), Err(error)) => Err(WriteError::Sqlite(copy_error(error))),
                };
                // The caller may have gone (its request cancelled): its write stands.
                let _ = answer.send(result);
            })
        });
        self.jobs.send(job).map_err(|_| WriteError::Stopped)?;
        answered.await.map_err(|_| WriteError::Stopped)?
    }
}

/// Runs `transaction` inside a savepoint: released when it succeeds, rolled back to
/// (undoing only its writes) when it fails.
fn in_savepoint<T>(
    connection: &Connection,
    transaction: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    connection.execute_batch("SAVEPOINT job")?;
    match transaction(connection) {
        Ok(value) => {
            connection.execute_batch("RELEASE job")?;
            Ok(value)
        }
        Err(error) => {
            connection.execute_batch("ROLLBACK TO job; RELEASE job")?;
            Err(error)
        }
    }
}

/// The writer's loop: takes every job waiting (at most [`MOST_PER_COMMIT`]), runs them
/// in one transaction, commits, then answers them; until every sender is gone.
fn write_forever(connection: &Connection, queue: &Receiver<Job>, checkpoints: &Checkpoints) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MOST_PER_COMMIT {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(error) = connection.execute_batch("BEGIN IMMEDIATE") {
            // Nothing ran: each job's answer is the failure to begin.
            for job in batch {
                job(Err(&error))(Err(&error));
            }
            continue;
        }
        let deliveries: Vec<Delivery> = batch.into_iter().map(|job| job(Ok(connection))).collect();
        let committed = connection.execute_batch("COMMIT");
        if committed.is_err() {
            // A failed COMMIT may leave the transaction open: end it, so the next
            // batch starts clean. Its error, if any, adds nothing to the first.
            let _ = connection.execute_batch("ROLLBACK");
        }
        for deliver in deliveries {
            deliver(committed.as_ref().map(|_| ()));
        }
        checkpoints.committed(connection);
    }
}

/// A copy of `error` for each caller of a failed commit (rusqlite's errors do not
/// clone): its SQLite code and message, which are what the callers log.
fn copy_error(error: &rusqlite::Error) -> rusqlite::Error {
    match error {
        rusqlite::Error::SqliteFailure(code, message) => {
            rusqlite::Error::SqliteFailure(*code, message.clone())
        }
        other => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    }
}

#[cfg(test)]
mod tests;
