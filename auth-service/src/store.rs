//! The auth database: users and disabled accounts (the throttle's tables are queried
//! in `throttle`).

use bookshelf_runtime::db::is_unique_violation;
use sqlx::{AnyPool, Row, any::AnyRow};

use crate::domain::{Email, UserName};

/// A stored user, hash included: it never leaves this crate's API layer as is.
#[derive(Debug, Clone)]
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
        })
    }
}

/// A disabled account, as the revocation feed reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The disabled user.
    pub user_id: String,
    /// When it was disabled, ms since the epoch.
    pub revoked_at: i64,
    /// Its place in the order the database assigned: increasing in commit order.
    pub sequence: i64,
}

impl Revocation {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            user_id: row.try_get("id")?,
            revoked_at: row.try_get("disabled_at")?,
            sequence: row.try_get("revocation_seq")?,
        })
    }
}

/// How many times a disable is retried when a concurrent one took the same sequence
/// number; each retry reads the number that one committed, so a few always suffice.
const SEQUENCE_ATTEMPTS: usize = 16;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The email is already registered.
    #[error("email already registered")]
    EmailTaken,
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

const USER_COLUMNS: &str = "id, name, email, password_hash, created_at, disabled_at";

/// Queries on the auth database, identical on SQLite and PostgreSQL.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// Whether a disable notifies the other replicas (PostgreSQL).
    notifies: bool,
}

impl Store {
    /// A store on a migrated pool; `notifies` on PostgreSQL, whose replicas listen
    /// for revocations rather than poll for them.
    pub fn new(pool: AnyPool, notifies: bool) -> Self {
        Self { pool, notifies }
    }

    /// Tells every listening replica that an account was disabled. They read the
    /// column itself, so the payload is empty. The disable has committed whatever
    /// happens here: should the notification fail, replicas still read it at their
    /// next heartbeat.
    async fn notify_revoked(&self) {
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
                StoreError::Database(error)
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
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(UserRecord::from_row).transpose()?)
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

    /// Disables an active user and gives the revocation the next sequence number;
    /// false if there is no such active user.
    ///
    /// The number is read and written in one statement; the unique index refuses a
    /// number another disable took meanwhile, and the retry then reads past it, so
    /// numbers increase in commit order on every backend.
    pub async fn disable(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = sqlx::query(
                "UPDATE users SET disabled_at = $1, revocation_seq = \
                 (SELECT COALESCE(MAX(revocation_seq), 0) + 1 FROM users) \
                 WHERE id = $2 AND disabled_at IS NULL",
            )
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await;
            match result {
                Ok(result) if result.rows_affected() == 1 => {
                    if self.notifies {
                        self.notify_revoked().await;
                    }
                    return Ok(true);
                }
                Ok(_) => return Ok(false),
                Err(error) if is_unique_violation(&error) && attempt < SEQUENCE_ATTEMPTS => {}
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Accounts disabled at or after `since` (ms), in sequence order.
    pub async fn revocations_since(&self, since: i64) -> Result<Vec<Revocation>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, disabled_at, revocation_seq FROM users \
             WHERE disabled_at >= $1 AND revocation_seq IS NOT NULL ORDER BY revocation_seq",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(Revocation::from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Revocations with a sequence number above `after`, in sequence order.
    pub async fn revocations_after(&self, after: i64) -> Result<Vec<Revocation>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, disabled_at, revocation_seq FROM users \
             WHERE revocation_seq > $1 ORDER BY revocation_seq",
        )
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
        let row = sqlx::query("SELECT COALESCE(MAX(revocation_seq), 0) AS last FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("last")?)
    }

    /// The pool, for the queries kept beside their own module (`throttle`).
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}
