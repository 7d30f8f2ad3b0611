//! The library database (SQLite or PostgreSQL): all of the service's SQL.
//!
//! - [`records`]: the rows as the rest of the service sees them, in domain types,
//!   and the [`Quota`] the store enforces.
//! - [`columns`]: the `books` table's columns, listed once, and the one mapping of a
//!   row to a [`BookRecord`] that all three drivers use.
//! - [`books`]: queries on the `books` table ([`books_sqlite`]: its writes as
//!   SQLite's writer runs them).
//! - [`uploads`]: the `uploads` and `upload_segments` tables, resumable uploads and
//!   the conditional updates that order their appends.
//! - [`usage`]: the `account_usage` table, each account's use, counted against its
//!   quota in the same transaction as the book that changes it.
//!
//! Writes go through sqlx on PostgreSQL, and on SQLite through the runtime's writer
//! (`sqlite_writes`: one connection, each write whole, several committed at once). The hot reads (one book, a page of books) go through the
//! runtime's read paths instead, rusqlite on SQLite and tokio-postgres on PostgreSQL:
//! they keep the read path off sqlx's pool, which lends every query a connection of
//! its own (the runtime's `sqlite_reads` and `postgres_reads` say why that matters).

mod book_writes;
mod books;
mod books_sqlite;
mod columns;
#[cfg(test)]
mod plans;
mod records;
mod uploads;
mod usage;

use bookshelf_runtime::{
    db::{Database, Reads},
    postgres_reads, sqlite_reads,
    sqlite_writes::{SqliteWriter, WriteError},
};
use sqlx::AnyPool;

pub(crate) use records::{BookRecord, BookUpdate, NewBookRecord, PageStart, Quota, QuotaExceeded};
pub(crate) use uploads::{NewUpload, Progress, Refusal, Segment, UploadRecord};

/// Queries on the library database, identical on SQLite and PostgreSQL. Every query
/// about a book names its owner, so no call can reach another user's book.
///
/// Writes that change what an owner stores run in one transaction that changes the
/// book row first and the owner's `account_usage` row second, always in that order,
/// so concurrent writes never wait on each other in a cycle; and each transaction's
/// first statement is a write, so on SQLite it takes the write lock at once rather
/// than failing to upgrade a read lock mid-way.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    pool: AnyPool,
    reads: Reads,
    /// On SQLite, the writer the book writes run on whole.
    writer: Option<SqliteWriter>,
    quota: Quota,
}

impl Store {
    /// A store on a migrated database, enforcing `quota` on every owner.
    pub(crate) fn new(database: Database, quota: Quota) -> Self {
        Self {
            pool: database.pool,
            reads: database.reads,
            writer: database.writer,
            quota,
        }
    }
}

/// A write transaction on the pool.
type Transaction = sqlx::Transaction<'static, sqlx::Any>;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The owner already has a book of this title.
    #[error("title already used by this owner")]
    TitleTaken,
    /// The owner's quota does not allow this.
    #[error("quota exceeded")]
    QuotaExceeded(QuotaExceeded),
    /// The upload a book names is no longer there to consume.
    #[error("upload gone")]
    UploadGone,
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// A read on the SQLite read path failed.
    #[error("database read error")]
    Read(#[from] sqlite_reads::rusqlite::Error),
    /// A read on the PostgreSQL read path failed.
    #[error("database read error")]
    PostgresRead(#[from] postgres_reads::ReadError),
    /// A write on SQLite's writer failed.
    #[error("database write error")]
    Write(#[from] WriteError),
}
