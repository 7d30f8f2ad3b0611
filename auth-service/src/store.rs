//! The auth database: users, and the log of revocations the feed reads (sessions are
//! queried in `sessions`, the throttle's tables in `reservations`).

use std::{future::Future, time::Duration};

use bookshelf_runtime::{
    db::{Backend, Database, Reads, is_unique_violation},
    postgres_reads,
    sqlite_reads::{self, OptionalExtension, params},
};
use sqlx::{AnyConnection, AnyPool, Row, any::AnyRow};

use crate::domain::{Email, UserName};

/// A stored user, hash included: it never leaves this crate's API layer as is, and
/// its `Debug` leaves the hash out.
#[derive(Clone)]
pub struct UserRecord {
    /// The user id (a UUID).
    pub id: String,
    /// The display name.
    pub name: String,
    /// The lower-case email.
    pub email: String,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// Registration time, ms since the epoch.
    pub created_at: i64,
    /// When the account was disabled, ms since the epoch.
    pub disabled_at: Option<i64>,
    /// Moves on with every change of the account's factors and with its disabling: a
    /// login opens its session only while the version its check read is current.
    pub credential_version: i64,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("email", &self.email)
            .field("created_at", &self.created_at)
            .field("disabled_at", &self.disabled_at)
            .field("credential_version", &self.credential_version)
            .finish_non_exhaustive()
    }
}

impl UserRecord {
    /// Whether the account may still log in and use its tokens.
    pub fn is_active(&self) -> bool {
        self.disabled_at.is_none()
    }

    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            email: row.try_get("email")?,
            password_hash: row.try_get("password_hash")?,
            created_at: row.try_get("created_at")?,
            disabled_at: row.try_get("disabled_at")?,
            credential_version: row.try_get("credential_version")?,
        })
    }

    /// The same, from a row of the PostgreSQL read path, which has the columns in
    /// `USER_COLUMNS` order.
    fn from_postgres_row(row: &postgres_reads::Row) -> Result<Self, postgres_reads::ReadError> {
        Ok(Self {
            id: row.try_get(0)?,
            name: row.try_get(1)?,
            email: row.try_get(2)?,
            password_hash: row.try_get(3)?,
            created_at: row.try_get(4)?,
            disabled_at: row.try_get(5)?,
            credential_version: row.try_get(6)?,
        })
    }

    /// The same, from a row of the SQLite read path, which has the columns in
    /// `USER_COLUMNS` order.
    fn from_sqlite_row(row: &sqlite_reads::Row<'_>) -> sqlite_reads::rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            name: row.get(1)?,
            email: row.get(2)?,
            password_hash: row.get(3)?,
            created_at: row.get(4)?,
            disabled_at: row.get(5)?,
            credential_version: row.get(6)?,
        })
    }
}

/// A disabled account, an ended session or a revoked signing key, as the revocation
/// feed reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The disabled user, or the user whose session ended; empty for a key.
    pub user_id: String,
    /// The ended session; `None` when the whole account was disabled.
    pub session_id: Option<String>,
    /// The revoked signing key, whose every token is refused.
    pub key_id: Option<String>,
    /// When it happened, ms since the epoch.
    pub revoked_at: i64,
    /// When the last token it refuses expires (ms since the epoch): an ended session's
    /// newest token, or the last token a disabled account could have been issued.
    /// `None` for a key, and for accounts disabled before this was recorded.
    pub tokens_expire_at: Option<i64>,
    /// Its place in the order the database assigned: increasing in commit order.
    pub sequence: i64,
}

impl Revocation {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            user_id: row.try_get("user_id")?,
            session_id: row.try_get("session_id")?,
            key_id: row.try_get("key_id")?,
            revoked_at: row.try_get("revoked_at")?,
            tokens_expire_at: row.try_get("tokens_expire_at")?,
            sequence: row.try_get("sequence")?,
        })
    }
}

const REVOCATION_COLUMNS: &str =
    "sequence, user_id, session_id, key_id, revoked_at, tokens_expire_at";

/// Whether a revocation still refuses a token that could pass at some time, given
/// `$1`, the token lifetime in ms, and `$2`, now less the verifiers' leeway: a revoked
/// key always (its tokens may have been signed by a replica that had not heard yet,
/// and a forged token may claim any lifetime), anything else until the last token it
/// refuses has expired. Accounts disabled before that expiry was recorded fall back on
/// `$1`. Never NULL, so the sweep deletes exactly its complement.
pub(crate) const LIVE_REVOCATION: &str =
    "(key_id IS NOT NULL OR COALESCE(tokens_expire_at, revoked_at + $1) >= $2)";

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

/// Appends a revocation to the log with the next sequence number, inside the caller's
/// transaction. The number is read and written in one statement; the primary key
/// refuses a number another writer took meanwhile (the caller then retries the whole
/// transaction, see [`retrying`]), so numbers increase in commit order on
/// every backend.
pub(crate) async fn append_revocation(
    connection: &mut AnyConnection,
    user_id: &str,
    session_id: Option<&str>,
    now: i64,
    tokens_expire_at: Option<i64>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO revocations (sequence, user_id, session_id, revoked_at, tokens_expire_at) \
         SELECT COALESCE(MAX(sequence), 0) + 1, $1, $2, $3, $4 FROM revocations",
    )
    .bind(user_id)
    .bind(session_id)
    .bind(now)
    .bind(tokens_expire_at)
    .execute(connection)
    .await?;
    Ok(())
}

/// Moves `user_id`'s credential version on, inside the caller's transaction: every
/// login checked against the old version, whether its session is about to open or its
/// second step is awaited, can no longer complete.
pub(crate) async fn change_credentials(
    connection: &mut AnyConnection,
    user_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET credential_version = credential_version + 1 WHERE id = $1")
        .bind(user_id)
        .execute(&mut *connection)
        .await?;
    end_pending_logins(connection, user_id).await
}

/// Forgets `user_id`'s logins that wait for their second step.
pub(crate) async fn end_pending_logins(
    connection: &mut AnyConnection,
    user_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM mfa_challenges WHERE user_id = $1")
        .bind(user_id)
        .execute(connection)
        .await?;
    Ok(())
}

/// Appends the revocation of signing key `kid` to the log, inside the caller's
/// transaction, as [`append_revocation`] does for accounts and sessions.
pub(crate) async fn append_key_revocation(
    connection: &mut AnyConnection,
    kid: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO revocations (sequence, user_id, key_id, revoked_at) \
         SELECT COALESCE(MAX(sequence), 0) + 1, '', $1, $2 FROM revocations",
    )
    .bind(kid)
    .bind(now)
    .execute(connection)
    .await?;
    Ok(())
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The email is already registered.
    #[error("email already registered")]
    EmailTaken,
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

/// A user's columns, in the order the read paths map them by position; a macro so
/// that the constant queries below are built from the one list.
macro_rules! user_columns {
    () => {
        "id, name, email, password_hash, created_at, disabled_at, credential_version"
    };
}

const USER_COLUMNS: &str = user_columns!();

/// One user by id, on every authenticated call.
const USER_BY_ID: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");

/// Queries on the auth database, identical on SQLite and PostgreSQL.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    reads: Reads,
    /// Which database: PostgreSQL notifies the other replicas of a revocation, and
    /// its writers lock rows (so must take them in one order), where an SQLite writer
    /// holds the whole database from its first write on.
    backend: Backend,
}

impl Store {
    /// A store on a migrated database; it notifies on PostgreSQL, whose replicas
    /// listen for revocations rather than poll for them.
    pub fn new(database: Database) -> Self {
        Self {
            backend: database.backend,
            pool: database.pool,
            reads: database.reads,
        }
    }

    /// What a read that must hold a row unchanged until its transaction ends appends:
    /// a shared row lock on PostgreSQL; nothing on SQLite, whose writer is alone.
    pub(crate) fn share_lock(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR SHARE",
            Backend::Sqlite => "",
        }
    }

    /// Tells every listening replica that the revocation log grew (an account
    /// disabled, a session ended), when this backend notifies. They read the log
    /// itself, so the payload is empty. The revocation has committed whatever happens
    /// here: should the notification fail, replicas still read it at their next
    /// heartbeat.
    pub(crate) async fn notify_revoked(&self) {
        if self.backend != Backend::Postgres {
            return;
        }
        let notified = sqlx::query("SELECT pg_notify($1, '')")
            .bind(crate::revocations::CHANNEL)
            .execute(&self.pool)
            .await;
        if let Err(error) = notified {
            tracing::warn!(%error, "cannot notify the other replicas of a revocation");
        }
    }

    /// Inserts a new user; the unique constraint on `email` decides races.
    pub async fn insert_user(
        &self,
        id: &str,
        name: &UserName,
        email: &Email,
        password_hash: &str,
        now: i64,
    ) -> Result<UserRecord, StoreError> {
        let row = sqlx::query(&format!(
            "INSERT INTO users (id, name, email, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {USER_COLUMNS}"
        ))
        .bind(id)
        .bind(name.as_str())
        .bind(email.as_str())
        .bind(password_hash)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(|error| {
            if is_unique_violation(&error) {
                StoreError::EmailTaken
            } else {
                StoreError::from(error)
            }
        })?;
        Ok(UserRecord::from_row(&row)?)
    }

    /// The user registered under `email`.
    pub async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
        ))
        .bind(email.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(UserRecord::from_row).transpose()?)
    }

    /// The user with `id`.
    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        match &self.reads {
            Reads::Sqlite(reads) => Ok(reads.read(|connection| {
                connection
                    .prepare_cached(USER_BY_ID)?
                    .query_row(params![id], UserRecord::from_sqlite_row)
                    .optional()
            })?),
            Reads::Postgres(reads) => Ok(reads
                .query_opt(USER_BY_ID, &[&id])
                .await?
                .as_ref()
                .map(UserRecord::from_postgres_row)
                .transpose()?),
        }
    }

    /// Renames an active user; `None` if there is no such active user.
    pub async fn rename(
        &self,
        id: &str,
        name: &UserName,
    ) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE users SET name = $1 WHERE id = $2 AND disabled_at IS NULL \
             RETURNING {USER_COLUMNS}"
        ))
        .bind(name.as_str())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(UserRecord::from_row).transpose()?)
    }

    /// Disables an active user, ends its sessions and appends the revocation to the
    /// log; false if there is no such active user.
    ///
    /// The revocation keeps, until the last token that could have been issued to the
    /// account expires, the later of: a token issued now with `token_ttl_ms`, and the
    /// newest token of any of its sessions, whichever replica (with whichever
    /// lifetime) issued it. A replica started later with a shorter lifetime then still
    /// sends it to new subscribers for as long as those tokens live.
    pub async fn disable(&self, id: &str, now: i64, token_ttl_ms: i64) -> Result<bool, StoreError> {
        let disabled = retrying(|| self.try_disable(id, now, token_ttl_ms)).await?;
        if disabled {
            self.notify_revoked().await;
        }
        Ok(disabled)
    }

    async fn try_disable(
        &self,
        id: &str,
        now: i64,
        token_ttl_ms: i64,
    ) -> Result<bool, sqlx::Error> {
        let mut transaction = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE users SET disabled_at = $1, credential_version = credential_version + 1 \
             WHERE id = $2 AND disabled_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *transaction)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(false);
        }
        end_pending_logins(&mut transaction, id).await?;
        let newest: Option<i64> =
            sqlx::query("SELECT MAX(tokens_expire_at) AS newest FROM sessions WHERE user_id = $1")
                .bind(id)
                .fetch_one(&mut *transaction)
                .await?
                .try_get("newest")?;
        let tokens_expire_at = newest.unwrap_or(i64::MIN).max(now + token_ttl_ms);
        // The account's revocation covers every token of its sessions: they end
        // without an event each, and their refresh tokens go (sessions first, the
        // order every writer locks them in).
        sqlx::query("UPDATE sessions SET ended_at = $1 WHERE user_id = $2 AND ended_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *transaction)
            .await?;
        sqlx::query(
            "DELETE FROM refresh_tokens WHERE session_id IN \
             (SELECT id FROM sessions WHERE user_id = $1)",
        )
        .bind(id)
        .execute(&mut *transaction)
        .await?;
        append_revocation(&mut transaction, id, None, now, Some(tokens_expire_at)).await?;
        transaction.commit().await?;
        Ok(true)
    }

    /// The revocations whose tokens may still pass at `now` (ms), in sequence order:
    /// every revoked key, and the accounts and sessions whose last token (with
    /// `leeway_ms`) has not expired yet (see [`LIVE_REVOCATION`]; `token_ttl_ms` only
    /// for accounts disabled before that expiry was recorded).
    pub async fn live_revocations(
        &self,
        now: i64,
        token_ttl_ms: i64,
        leeway_ms: i64,
    ) -> Result<Vec<Revocation>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {REVOCATION_COLUMNS} FROM revocations WHERE {LIVE_REVOCATION} \
             ORDER BY sequence"
        ))
        .bind(token_ttl_ms)
        .bind(now - leeway_ms)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(Revocation::from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Revocations with a sequence number above `after`, in sequence order.
    pub async fn revocations_after(&self, after: i64) -> Result<Vec<Revocation>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {REVOCATION_COLUMNS} FROM revocations WHERE sequence > $1 ORDER BY sequence"
        ))
        .bind(after)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(Revocation::from_row)
            .collect::<Result<_, _>>()?)
    }

    /// The highest revocation sequence number so far (0 before any).
    pub async fn last_revocation_sequence(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(sequence), 0) AS last FROM revocations")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("last")?)
    }

    /// The pool, for the queries kept beside their own module (`reservations`,
    /// `sessions`).
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Whether writers lock rows (PostgreSQL), and so must take them in one order.
    pub(crate) fn locks_rows(&self) -> bool {
        self.backend == Backend::Postgres
    }

    /// The hot reads' own path, for the ones kept beside their own module.
    pub(crate) fn reads(&self) -> &Reads {
        &self.reads
    }
}

#[cfg(test)]
mod tests;
