//! The writer against a real SQLite file: what a caller is told matches what is on
//! disk, and one caller's failure is its own.

use std::sync::Arc;

use rusqlite::{Connection, params};

use super::*;

fn database() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("writes.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch(
            "PRAGMA journal_mode = WAL; \
             CREATE TABLE books (title TEXT PRIMARY KEY, owner TEXT NOT NULL);",
        )
        .unwrap();
    (dir, path)
}

fn titles(path: &Path) -> Vec<String> {
    let connection = Connection::open(path).unwrap();
    let mut statement = connection
        .prepare("SELECT title FROM books ORDER BY title")
        .unwrap();
    statement
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_write_is_committed_and_a_failure_undoes_only_its_own() {
    let (_dir, path) = database();
    let writer = Arc::new(SqliteWriter::open(&path, Synchronous::Full).unwrap());
    // Many callers at once, so that commits hold several transactions; every tenth
    // writes a row and then fails, and must leave nothing.
    let calls = (0..200).map(|n| {
        let writer = writer.clone();
        tokio::spawn(async move {
            writer
                .write(move |connection| {
                    connection.execute(
                        "INSERT INTO books (title, owner) VALUES (?1, 'a')",
                        params![format!("book {n:03}")],
                    )?;
                    if n % 10 == 0 {
                        // The same title again: a constraint error after a write.
                        connection.execute(
                            "INSERT INTO books (title, owner) VALUES (?1, 'a')",
                            params![format!("book {n:03}")],
                        )?;
                    }
                    Ok(n)
                })
                .await
        })
    });
    let mut acknowledged = Vec::new();
    for call in calls.collect::<Vec<_>>() {
        match call.await.unwrap() {
            Ok(n) => acknowledged.push(format!("book {n:03}")),
            Err(WriteError::Sqlite(_)) => {}
            Err(other) => panic!("unexpected failure: {other}"),
        }
    }
    assert_eq!(acknowledged.len(), 180);
    acknowledged.sort();
    assert_eq!(titles(&path), acknowledged);
}

#[tokio::test]
async fn a_write_is_seen_by_another_connection_once_it_is_answered() {
    let (_dir, path) = database();
    let writer = SqliteWriter::open(&path, Synchronous::Full).unwrap();
    let reader = Connection::open(&path).unwrap();
    for n in 0..20 {
        writer
            .write(move |connection| {
                connection.execute(
                    "INSERT INTO books (title, owner) VALUES (?1, 'a')",
                    params![n.to_string()],
                )
            })
            .await
            .unwrap();
        let count: i64 = reader
            .query_row("SELECT count(*) FROM books", [], |row| row.get(0))
            .unwrap();
        assert_eq!(count, n + 1);
    }
}

#[tokio::test]
async fn the_writer_waits_for_a_lock_another_connection_holds() {
    let (_dir, path) = database();
    let writer = SqliteWriter::open(&path, Synchronous::Full).unwrap();
    let other = Connection::open(&path).unwrap();
    other
        .execute_batch("BEGIN IMMEDIATE; INSERT INTO books VALUES ('theirs', 'b');")
        .unwrap();
    let mine = tokio::spawn(async move {
        writer
            .write(|connection| connection.execute("INSERT INTO books VALUES ('mine', 'a')", []))
            .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!mine.is_finished(), "the write waits for the other writer");
    other.execute_batch("COMMIT").unwrap();
    mine.await.unwrap().unwrap();
    assert_eq!(titles(&path), ["mine", "theirs"]);
}

/// Inserts `count` rows of 4 KiB each through `writer`, 64 callers at once.
async fn write_pages(writer: &Arc<SqliteWriter>, count: usize) {
    let calls: Vec<_> = (0..64)
        .map(|caller| {
            let writer = writer.clone();
            tokio::spawn(async move {
                for n in (caller..count).step_by(64) {
                    writer
                        .write(move |connection| {
                            connection.execute(
                                "INSERT INTO books (title, owner) VALUES (?1, ?2)",
                                params![format!("book {n:06}"), "x".repeat(4096)],
                            )
                        })
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for call in calls {
        call.await.unwrap();
    }
}

/// The rows of the database file alone, without its log: what checkpoints have
/// copied into it. `None` while a checkpoint is halfway through the copy.
fn rows_in_the_file_alone(path: &Path) -> Option<i64> {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    std::fs::copy(path, &copy).unwrap();
    Connection::open(&copy)
        .ok()?
        .query_row("SELECT count(*) FROM books", [], |row| row.get(0))
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_log_is_copied_into_the_database_file_without_any_other_write() {
    let (_dir, path) = database();
    let writer = Arc::new(SqliteWriter::open(&path, Synchronous::Normal).unwrap());
    // Fewer pages than SQLite's own threshold for a checkpoint at a commit.
    write_pages(&writer, 300).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while rows_in_the_file_alone(&path) != Some(300) {
        assert!(
            std::time::Instant::now() < deadline,
            "the database file holds {:?} of the 300 rows 10 s after the last write",
            rows_in_the_file_alone(&path)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_log_stays_bounded_while_the_writer_never_pauses() {
    let (_dir, path) = database();
    let writer = Arc::new(SqliteWriter::open(&path, Synchronous::Normal).unwrap());
    // 20,000 rows of 4 KiB: 80 MiB of log if it were never written from its start
    // again, against a bound of 16 MiB and what one pace of checkpoints adds.
    write_pages(&writer, 20_000).await;
    let log = std::fs::metadata(path.with_extension("db-wal"))
        .unwrap()
        .len();
    assert!(log < 40 << 20, "the log grew to {} MiB", log >> 20);
    assert_eq!(titles(&path).len(), 20_000);
}
