//! The auth database (SQLite or PostgreSQL): every SQL statement of the service, one
//! file per group of tables, each reading its rows from one list of columns.
//!
//! - [`users`]: accounts, and disabling one.
//! - [`sessions`]: sessions, which are open, and how they end.
//! - [`refresh_tokens`]: opening a session with its first refresh token, rotating
//!   refresh tokens ([`refresh_sqlite`]: the rotation as SQLite's writer runs it;
//!   [`rotation_postgres`]: as a routine PostgreSQL runs in one call).
//! - [`routines`]: the hot write transactions PostgreSQL runs as one call each.
//! - [`second_factor`]: TOTP factors, recovery codes, logins awaiting their code.
//! - [`second_step`]: a login's second step with a code, finished in one transaction.
//! - [`sessions_sqlite`]: opening a session as SQLite's writer runs it.
//! - [`passkeys`]: WebAuthn credentials (passkeys and security keys), and
//!   passkey-only accounts made with their first one.
//! - [`ceremonies`]: WebAuthn ceremonies in progress, spent once.
//! - [`keys`]: the signing key set.
//! - [`clients`]: registered service clients and the assertions they spent.
//! - [`throttle`]: attempts reserved under the guess limits.
//! - [`revocations`]: the log the revocation feed reads.
//! - [`sweeps`]: deleting the rows that no longer decide anything.
//!
//! Here too: [`Store`] itself, its one error, and [`retrying`], which runs a
//! transaction again when it loses to concurrent ones.

use std::{future::Future, time::Duration};

use bookshelf_runtime::{
    db::{Backend, Database, Reads, is_unique_violation},
    postgres_reads, sqlite_reads,
    sqlite_writes::{SqliteWriter, WriteError},
};
use sqlx::AnyPool;

pub(crate) mod ceremonies;
pub(crate) mod clients;
pub(crate) mod keys;
pub(crate) mod passkeys;
mod refresh_sqlite;
pub(crate) mod refresh_tokens;
pub(crate) mod revocations;
mod rotation;
mod rotation_postgres;
mod routines;
pub(crate) mod second_factor;
pub(crate) mod second_step;
pub(crate) mod sessions;
mod sessions_sqlite;
pub(crate) mod sweeps;
pub(crate) mod throttle;
pub(crate) mod users;

/// How many times a transaction that appends a revocation is run in all while
/// concurrent ones take the sequence number it read; each retry reads the number one
/// of them committed.
const SEQUENCE_ATTEMPTS: u32 = 16;

/// How many times a transaction is run in all while PostgreSQL picks it as a
/// deadlock's victim or cannot serialize it. The lock order every transaction here
/// keeps (a user, then its sessions, then their refresh tokens) leaves such failures
/// rare; a few retries ride out the rest.
const CONTENDED_ATTEMPTS: u32 = 5;

/// The longest wait before the first retry; it doubles for each one after, up to
/// [`LONGEST_BACKOFF_MS`]. Each wait is a random part of it, so that the transactions
/// that collided do not collide again in step.
const FIRST_BACKOFF_MS: u64 = 2;

/// The longest wait before any one retry.
const LONGEST_BACKOFF_MS: u64 = 64;

/// Whether `error` failed a transaction only because of concurrent ones, so that the
/// same transaction run again from its start may well succeed: SQLSTATE 40P01
/// (deadlock detected) or 40001 (serialization failure).
pub(crate) fn is_contention(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|database| database.code())
        .is_some_and(|code| code == "40P01" || code == "40001")
}

/// Runs `transaction` (one whole transaction, from its `BEGIN`) again, after a short
/// random wait, while it fails on a revocation sequence number another writer took
/// first (a unique violation), up to [`SEQUENCE_ATTEMPTS`] times, or on contention
/// ([`is_contention`]), up to [`CONTENDED_ATTEMPTS`] times. Every write transaction
/// that locks rows another one may lock too goes through here. Still failing after
/// that, it is [`StoreError::Contended`]: the request may be made again.
pub(crate) async fn retrying<T, Attempt>(
    mut transaction: impl FnMut() -> Attempt,
) -> Result<T, StoreError>
where
    Attempt: Future<Output = Result<T, sqlx::Error>>,
{
    let mut sequence_clashes = 0;
    let mut contentions = 0;
    loop {
        let retries = match transaction().await {
            Ok(done) => return Ok(done),
            Err(error) if is_unique_violation(&error) => {
                sequence_clashes += 1;
                if sequence_clashes == SEQUENCE_ATTEMPTS {
                    return Err(StoreError::Contended(error));
                }
                sequence_clashes
            }
            Err(error) if is_contention(&error) => {
                contentions += 1;
                if contentions == CONTENDED_ATTEMPTS {
                    return Err(StoreError::Contended(error));
                }
                tracing::debug!(%error, contentions, "retrying a contended transaction");
                contentions
            }
            Err(error) => return Err(error.into()),
        };
        let longest = (FIRST_BACKOFF_MS << (retries - 1)).min(LONGEST_BACKOFF_MS);
        tokio::time::sleep(Duration::from_millis(rand::random_range(1..=longest))).await;
    }
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The email is already registered.
    #[error("email already registered")]
    EmailTaken,
    /// The WebAuthn credential is registered already, to this account or another.
    #[error("credential already registered")]
    CredentialTaken,
    /// A client of that name is already registered.
    #[error("a client of that name is already registered")]
    ClientExists,
    /// The database failed.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// The transaction lost to concurrent ones ([`is_contention`]) every time it ran:
    /// nothing is wrong with the request, which may be made again.
    #[error("database contention")]
    Contended(#[source] sqlx::Error),
    /// A read on the SQLite read path failed.
    #[error("database read error")]
    Read(#[from] sqlite_reads::rusqlite::Error),
    /// A read on the PostgreSQL read path failed.
    #[error("database read error")]
    PostgresRead(#[from] postgres_reads::ReadError),
    /// A transaction on SQLite's writer failed.
    #[error("database write error")]
    Write(#[from] WriteError),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if is_contention(&error) {
            Self::Contended(error)
        } else {
            Self::Database(error)
        }
    }
}

/// Queries on the auth database, identical on SQLite and PostgreSQL.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    reads: Reads,
    /// On SQLite, the writer the hot write transactions run on whole.
    writer: Option<SqliteWriter>,
    /// Which database: PostgreSQL notifies the other replicas of a revocation, and
    /// its writers lock rows (so must take them in one order), where an SQLite writer
    /// holds the whole database from its first write on.
    backend: Backend,
}

impl Store {
    /// A store on a migrated database; it notifies on PostgreSQL, whose replicas
    /// listen for revocations rather than poll for them. On PostgreSQL it installs
    /// the routines the hot writes call ([`routines`]).
    pub async fn open(database: Database) -> Result<Self, StoreError> {
        if database.backend == Backend::Postgres {
            routines::install(&database.pool).await?;
        }
        Ok(Self {
            backend: database.backend,
            pool: database.pool,
            reads: database.reads,
            writer: database.writer,
        })
    }

    /// The pool, for the queries of each table group.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The hot reads' own path.
    pub(crate) fn reads(&self) -> &Reads {
        &self.reads
    }

    /// SQLite's writer, on SQLite.
    pub(crate) fn writer(&self) -> Option<&SqliteWriter> {
        self.writer.as_ref()
    }
}

#[cfg(test)]
mod tests;
