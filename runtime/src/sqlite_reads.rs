//! Reads on SQLite done on the request's own thread.
//!
//! sqlx runs each SQLite connection on a thread of its own and hands it every
//! statement over a channel, and the rows back: two thread switches per query, which
//! on a read of one row cost several times the query itself, and on a busy machine
//! wait for the scheduler besides. In WAL mode a reader never waits for the writer
//! (it reads the last commit before it began), so a read of a few rows by primary key
//! or index takes microseconds and may run where the request already runs. The hot
//! reads go through here on SQLite; every write still goes through sqlx, one writer
//! at a time, and PostgreSQL is unchanged.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

pub use rusqlite::{self, Connection, OptionalExtension, Row, params};

/// Connections kept open between reads. A read takes one for microseconds, so more
/// than one per core is rarely in use; past this many, one more is opened for the read
/// and closed after it.
const KEPT_OPEN: usize = 16;

/// How long a read waits on a lock it cannot take at once: only while another
/// connection recovers the write-ahead log after a crash, or a checkpoint truncates
/// it, never for an ordinary write.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Read-only connections to one SQLite file, used on the caller's thread.
#[derive(Debug, Clone)]
pub struct SqliteReads {
    path: PathBuf,
    idle: Arc<Mutex<Vec<Connection>>>,
}

impl SqliteReads {
    /// Reads of the SQLite file at `path`, which sqlx has opened and migrated (in WAL
    /// mode). Connections open on first use.
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            idle: Arc::default(),
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.set_prepared_statement_cache_capacity(32);
        Ok(connection)
    }

    /// Runs `query` on a read-only connection, on this thread. Keep it to a few rows:
    /// it holds the thread it runs on. Statements prepared with `prepare_cached` stay
    /// prepared on the connection for the next read.
    pub fn read<T>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let kept = self.idle.lock().expect("reader lock poisoned").pop();
        let connection = match kept {
            Some(connection) => connection,
            None => self.open()?,
        };
        let answer = query(&connection);
        let mut idle = self.idle.lock().expect("reader lock poisoned");
        if idle.len() < KEPT_OPEN {
            idle.push(connection);
        }
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_see_every_commit_of_the_writer_and_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reads.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE books (id TEXT PRIMARY KEY); \
                 INSERT INTO books VALUES ('first');",
            )
            .unwrap();
        let reads = SqliteReads::new(&path);
        let count = || {
            reads.read(|connection| {
                connection
                    .prepare_cached("SELECT count(*) FROM books")?
                    .query_row([], |row| row.get::<_, i64>(0))
            })
        };
        assert_eq!(count().unwrap(), 1);
        writer
            .execute("INSERT INTO books VALUES ('second')", [])
            .unwrap();
        assert_eq!(count().unwrap(), 2, "a kept connection sees the new commit");
        let written = reads.read(|connection| connection.execute("DELETE FROM books", []));
        assert!(written.is_err(), "a read connection cannot write");
        assert_eq!(count().unwrap(), 2);
    }
}
