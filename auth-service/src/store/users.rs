//! The `users` table: accounts, their password hashes and credential versions, and
//! disabling an account (which ends its sessions and logs its revocation).

use bookshelf_runtime::{
    db::{Reads, is_unique_violation},
    postgres_reads,
    sqlite_reads::{self, OptionalExtension, params},
};
use sqlx::{AnyConnection, Row, any::AnyRow};
use tracing::Instrument;

use super::{
    Store, StoreError, retrying,
    revocations::append_revocation,
    sessions::{Ending, end_within},
};
use crate::domain::{Email, PasswordHash, SessionId, UserId, UserName};

/// A stored user, hash included: it never leaves this crate's API layer as is, and
/// its `Debug` leaves the hash out.
#[derive(Clone)]
pub(crate) struct UserRecord {
    /// The user id (a UUID).
    pub id: UserId,
    /// The display name.
    pub name: UserName,
    /// The lower-case email.
    pub email: Email,
    /// The password's hash; `None` for an account signed up with a passkey and no
    /// password (stored as the empty string).
    pub password_hash: Option<PasswordHash>,
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

/// A [`UserRecord`] from a row of [`USER_COLUMNS`], read by column name with `$get`,
/// the driver's getter (`try_get` on sqlx and tokio-postgres, `get` on rusqlite): one
/// mapping for the three read paths, so that a column added to one cannot be missed in
/// the others.
macro_rules! user_record {
    ($row:expr, $get:ident) => {{
        let row = $row;
        UserRecord {
            id: UserId::issued(row.$get("id")?),
            name: UserName::stored(row.$get("name")?),
            email: Email::stored(row.$get("email")?),
            password_hash: PasswordHash::stored(row.$get("password_hash")?),
            created_at: row.$get("created_at")?,
            disabled_at: row.$get("disabled_at")?,
            credential_version: row.$get("credential_version")?,
        }
    }};
}

impl UserRecord {
    /// Whether the account may still log in and use its tokens.
    pub(crate) fn is_active(&self) -> bool {
        self.disabled_at.is_none()
    }

    /// A user from a row of [`USER_COLUMNS`].
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(user_record!(row, try_get))
    }

    /// The same, from the PostgreSQL read path.
    fn from_postgres_row(row: &postgres_reads::Row) -> Result<Self, postgres_reads::ReadError> {
        Ok(user_record!(row, try_get))
    }

    /// The same, from the SQLite read path.
    fn from_sqlite_row(row: &sqlite_reads::Row<'_>) -> sqlite_reads::rusqlite::Result<Self> {
        Ok(user_record!(row, get))
    }
}

/// The columns of `users`, as every read lists them; a macro so that the constant
/// queries below are built from the one list.
macro_rules! user_columns {
    () => {
        "id, name, email, password_hash, created_at, disabled_at, credential_version"
    };
}

const USER_COLUMNS: &str = user_columns!();

/// One user by id, on every authenticated call.
const USER_BY_ID: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");

/// Moves `user_id`'s credential version on, inside the caller's transaction: every
/// login checked against the old version, whether its session is about to open or its
/// second step is awaited, can no longer complete.
pub(crate) async fn change_credentials(
    connection: &mut AnyConnection,
    user_id: &UserId,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET credential_version = credential_version + 1 WHERE id = $1")
        .bind(user_id.as_str())
        .execute(&mut *connection)
        .await?;
    end_pending_logins(connection, user_id).await
}

/// Forgets `user_id`'s logins that wait for their second step.
pub(crate) async fn end_pending_logins(
    connection: &mut AnyConnection,
    user_id: &UserId,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM mfa_challenges WHERE user_id = $1")
        .bind(user_id.as_str())
        .execute(connection)
        .await?;
    Ok(())
}

impl Store {
    /// Inserts a new user; the unique constraint on `email` decides races.
    pub(crate) async fn insert_user(
        &self,
        id: &UserId,
        name: &UserName,
        email: &Email,
        password_hash: &PasswordHash,
        now: i64,
    ) -> Result<UserRecord, StoreError> {
        let span = self.reads.span("INSERT", "users");
        async {
            let row = sqlx::query(&format!(
                "INSERT INTO users (id, name, email, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {USER_COLUMNS}"
            ))
            .bind(id.as_str())
            .bind(name.as_str())
            .bind(email.as_str())
            .bind(password_hash.as_str())
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
        .instrument(span)
        .await
    }

    /// The user registered under `email`.
    pub(crate) async fn user_by_email(
        &self,
        email: &Email,
    ) -> Result<Option<UserRecord>, StoreError> {
        let span = self.reads.span("SELECT", "users");
        async {
            let row = sqlx::query(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
            ))
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await?;
            Ok(row.as_ref().map(UserRecord::from_row).transpose()?)
        }
        .instrument(span)
        .await
    }

    /// The user with `id`.
    pub(crate) async fn user_by_id(&self, id: &UserId) -> Result<Option<UserRecord>, StoreError> {
        let span = self.reads.span("SELECT", "users");
        async {
            match &self.reads {
                Reads::Sqlite(reads) => Ok(reads.read(|connection| {
                    connection
                        .prepare_cached(USER_BY_ID)?
                        .query_row(params![id.as_str()], UserRecord::from_sqlite_row)
                        .optional()
                })?),
                Reads::Postgres(reads) => Ok(reads
                    .query_opt(USER_BY_ID, &[&id.as_str()])
                    .await?
                    .as_ref()
                    .map(UserRecord::from_postgres_row)
                    .transpose()?),
            }
        }
        .instrument(span)
        .await
    }

    /// Renames an active user; `None` if there is no such active user.
    pub(crate) async fn rename(
        &self,
        id: &UserId,
        name: &UserName,
    ) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE users SET name = $1 WHERE id = $2 AND disabled_at IS NULL \
             RETURNING {USER_COLUMNS}"
        ))
        .bind(name.as_str())
        .bind(id.as_str())
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
    pub(crate) async fn disable(
        &self,
        id: &UserId,
        now: i64,
        token_ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        let disabled = retrying(|| self.try_disable(id, now, token_ttl_ms)).await?;
        if disabled {
            self.notify_revoked().await;
        }
        Ok(disabled)
    }

    async fn try_disable(
        &self,
        id: &UserId,
        now: i64,
        token_ttl_ms: i64,
    ) -> Result<bool, sqlx::Error> {
        let mut transaction = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE users SET disabled_at = $1, credential_version = credential_version + 1 \
             WHERE id = $2 AND disabled_at IS NULL",
        )
        .bind(now)
        .bind(id.as_str())
        .execute(&mut *transaction)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(false);
        }
        end_pending_logins(&mut transaction, id).await?;
        let newest: Option<i64> =
            sqlx::query("SELECT MAX(tokens_expire_at) AS newest FROM sessions WHERE user_id = $1")
                .bind(id.as_str())
                .fetch_one(&mut *transaction)
                .await?
                .try_get("newest")?;
        let tokens_expire_at = newest.unwrap_or(i64::MIN).max(now + token_ttl_ms);
        // The account's revocation covers every token of its sessions: they end
        // without an event each, and their refresh tokens go (sessions first, the
        // order every writer locks them in).
        sqlx::query("UPDATE sessions SET ended_at = $1 WHERE user_id = $2 AND ended_at IS NULL")
            .bind(now)
            .bind(id.as_str())
            .execute(&mut *transaction)
            .await?;
        sqlx::query(
            "DELETE FROM refresh_tokens WHERE session_id IN \
             (SELECT id FROM sessions WHERE user_id = $1)",
        )
        .bind(id.as_str())
        .execute(&mut *transaction)
        .await?;
        append_revocation(&mut transaction, id, None, now, Some(tokens_expire_at)).await?;
        transaction.commit().await?;
        Ok(true)
    }

    /// Replaces an active user's password hash and ends every session but `keep`, in
    /// one transaction: `None` if there is no such active user, else how many ended.
    pub(crate) async fn change_password(
        &self,
        user_id: &UserId,
        password_hash: &PasswordHash,
        keep: Option<&SessionId>,
        now: i64,
    ) -> Result<Option<u64>, StoreError> {
        let changed = retrying(|| async {
            let mut transaction = self.pool().begin().await?;
            let updated = sqlx::query(
                "UPDATE users SET password_hash = $1, credential_version = credential_version + 1 \
                 WHERE id = $2 AND disabled_at IS NULL",
            )
            .bind(password_hash.as_str())
            .bind(user_id.as_str())
            .execute(&mut *transaction)
            .await?;
            if updated.rows_affected() == 0 {
                return Ok(None);
            }
            end_pending_logins(&mut transaction, user_id).await?;
            let ended = end_within(&mut transaction, user_id, Ending::AllBut(keep), now).await?;
            transaction.commit().await?;
            Ok(Some(ended))
        })
        .await?;
        if let Some((_, true)) = changed {
            self.notify_revoked().await;
        }
        Ok(changed.map(|(ended, _)| ended))
    }
}
