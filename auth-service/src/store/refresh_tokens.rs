//! Opening a session with its first refresh token, and rotating refresh tokens
//! (the `refresh_tokens` table, and the session row each refresh moves on).
//!
//! A refresh token is spent by one conditional `UPDATE` (`... WHERE token_hash = $old
//! AND spent_at IS NULL`): of any number of concurrent refreshes with one token, the
//! database lets exactly one change the row, and every other finds it spent. A spent
//! token stays recorded until it would have expired, so presenting it again is seen
//! as reuse (two holders of one token: one of them stole it) and ends the session.
//!
//! A refresh locks the session row before its refresh tokens, the order every end of
//! a session keeps too (see [`super::sessions`]).

use sqlx::{AnyConnection, Row};
use tracing::Instrument;

use super::{Store, StoreError, retrying, sessions::Ending};
use crate::domain::{
    SessionId, UserId,
    session::{ClientSeen, Expiries, Lifetimes, RefreshDigest},
};

/// What presenting a refresh token came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rotation {
    /// The token was spent and `new` recorded in its place.
    Rotated {
        /// The session refreshed.
        session_id: SessionId,
        /// Its user.
        user_id: UserId,
        /// What the new tokens may live until.
        expiries: Expiries,
        /// When the session last proved a factor: the new token's `auth_time`.
        authenticated_at: i64,
    },
    /// The token had been spent before: its session is now ended.
    Reused {
        /// The session ended.
        session_id: SessionId,
    },
    /// Unknown, expired, or of an ended session or a disabled account.
    Refused,
}

impl Store {
    /// Opens session `id` for `user_id` at `now`, with its first refresh token
    /// (`refresh_digest`): the expiries of the first tokens. `None` when the account
    /// is disabled or its credentials changed since the login read `credential_version`:
    /// the check and the insert are one statement, and on PostgreSQL the user's row
    /// stays share-locked until the commit, so a change either waits for the session
    /// (and then ends it) or is seen by it (and no session opens).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn open_session(
        &self,
        id: &SessionId,
        user_id: &UserId,
        credential_version: i64,
        client: &ClientSeen,
        refresh_digest: &RefreshDigest,
        now: i64,
        lifetimes: Lifetimes,
    ) -> Result<Option<Expiries>, StoreError> {
        let span = self.reads.span("INSERT", "sessions");
        async {
            let session_end = now + lifetimes.session_ms;
            let expiries = lifetimes.at(now, session_end);
            let mut transaction = self.pool().begin().await?;
            let inserted = sqlx::query(&format!(
                "INSERT INTO sessions (id, user_id, created_at, last_used_at, client_address, \
             user_agent, expires_at, refresh_expires_at, tokens_expire_at, authenticated_at) \
             SELECT $1, id, $3, $3, $4, $5, $6, $7, $8, $3 FROM users \
             WHERE id = $2 AND credential_version = $9 AND disabled_at IS NULL{}",
                self.share_lock()
            ))
            .bind(id.as_str())
            .bind(user_id.as_str())
            .bind(now)
            .bind(client.address.as_deref())
            .bind(client.user_agent.as_deref())
            .bind(session_end)
            .bind(expiries.refresh)
            .bind(expiries.access)
            .bind(credential_version)
            .execute(&mut *transaction)
            .await?;
            if inserted.rows_affected() == 0 {
                transaction.rollback().await?;
                return Ok(None);
            }
            insert_refresh_token(&mut transaction, refresh_digest, id, expiries.refresh).await?;
            transaction.commit().await?;
            Ok(Some(expiries))
        }
        .instrument(span)
        .await
    }

    /// Spends the refresh token whose digest is `old` and records `new` in its place,
    /// at `now`, for the client seen; or says why not. A spent `old` ends its session.
    pub(crate) async fn rotate_refresh_token(
        &self,
        old: &RefreshDigest,
        new: &RefreshDigest,
        client: &ClientSeen,
        now: i64,
        lifetimes: Lifetimes,
    ) -> Result<Rotation, StoreError> {
        let span = self.reads.span("UPDATE", "refresh_tokens");
        async {
            let rotated = retrying(|| self.try_rotate(old, new, client, now, lifetimes)).await?;
            match rotated {
                Some(rotation) => Ok(rotation),
                None => self.refused_or_reused(old, now).await,
            }
        }
        .instrument(span)
        .await
    }

    /// One run of [`Self::rotate_refresh_token`]'s transaction: `None` when `old` was
    /// not there to spend.
    async fn try_rotate(
        &self,
        old: &RefreshDigest,
        new: &RefreshDigest,
        client: &ClientSeen,
        now: i64,
        lifetimes: Lifetimes,
    ) -> Result<Option<Rotation>, sqlx::Error> {
        let mut transaction = self.pool().begin().await?;
        if self.locks_rows() {
            // The session before its refresh tokens, the order in which every end of
            // a session takes them too: a refresh beside a logout of the same session
            // then waits for it rather than deadlocking with it. (An SQLite writer
            // holds the whole database from the spending statement on.)
            sqlx::query(
                "SELECT id FROM sessions WHERE id = \
                 (SELECT session_id FROM refresh_tokens WHERE token_hash = $1) FOR UPDATE",
            )
            .bind(old.as_str())
            .fetch_optional(&mut *transaction)
            .await?;
        }
        // The one statement that decides concurrent refreshes: only one refresh finds
        // the token unspent.
        let spent = sqlx::query(
            "UPDATE refresh_tokens SET spent_at = $1 \
             WHERE token_hash = $2 AND spent_at IS NULL AND expires_at > $3 \
             RETURNING session_id",
        )
        .bind(now)
        .bind(old.as_str())
        .bind(now)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(spent) = spent else {
            transaction.rollback().await?;
            return Ok(None);
        };
        let session_id = SessionId::issued(spent.try_get("session_id")?);
        let session = sqlx::query(
            "SELECT sessions.user_id, sessions.expires_at, sessions.tokens_expire_at, \
             sessions.authenticated_at FROM sessions JOIN users ON users.id = sessions.user_id \
             WHERE sessions.id = $1 AND sessions.ended_at IS NULL \
             AND users.disabled_at IS NULL",
        )
        .bind(session_id.as_str())
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(session) = session else {
            transaction.rollback().await?;
            return Ok(Some(Rotation::Refused));
        };
        let user_id = UserId::issued(session.try_get("user_id")?);
        let session_end: i64 = session.try_get("expires_at")?;
        let tokens_expire_at: i64 = session.try_get("tokens_expire_at")?;
        let authenticated_at: i64 = session.try_get("authenticated_at")?;
        if session_end <= now {
            transaction.rollback().await?;
            return Ok(Some(Rotation::Refused));
        }
        let expiries = lifetimes.at(now, session_end);
        // A concurrent end of the session makes this match nothing: the refresh then
        // fails, and the end covers every token the session was ever issued.
        let updated = sqlx::query(
            "UPDATE sessions SET last_used_at = $1, \
             client_address = COALESCE($2, client_address), \
             user_agent = COALESCE($3, user_agent), \
             refresh_expires_at = $4, tokens_expire_at = $5 \
             WHERE id = $6 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(client.address.as_deref())
        .bind(client.user_agent.as_deref())
        .bind(expiries.refresh)
        .bind(tokens_expire_at.max(expiries.access))
        .bind(session_id.as_str())
        .execute(&mut *transaction)
        .await?;
        if updated.rows_affected() == 0 {
            transaction.rollback().await?;
            return Ok(Some(Rotation::Refused));
        }
        insert_refresh_token(&mut transaction, new, &session_id, expiries.refresh).await?;
        // Spent tokens past their own expiry would be refused anyway: forget them, so
        // a long session keeps only the tokens of one refresh lifetime.
        sqlx::query("DELETE FROM refresh_tokens WHERE session_id = $1 AND expires_at <= $2")
            .bind(session_id.as_str())
            .bind(now)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(Some(Rotation::Rotated {
            session_id,
            user_id,
            expiries,
            authenticated_at,
        }))
    }

    /// Why refresh token `digest` was not spent: reused (and its session now ended)
    /// when it is recorded as spent, refused otherwise.
    async fn refused_or_reused(
        &self,
        digest: &RefreshDigest,
        now: i64,
    ) -> Result<Rotation, StoreError> {
        let row = sqlx::query(
            "SELECT sessions.id, sessions.user_id, refresh_tokens.spent_at \
             FROM refresh_tokens JOIN sessions ON sessions.id = refresh_tokens.session_id \
             WHERE refresh_tokens.token_hash = $1",
        )
        .bind(digest.as_str())
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(Rotation::Refused);
        };
        let spent_at: Option<i64> = row.try_get("spent_at")?;
        if spent_at.is_none() {
            return Ok(Rotation::Refused);
        }
        let session_id = SessionId::issued(row.try_get("id")?);
        let user_id = UserId::issued(row.try_get("user_id")?);
        self.end_sessions(&user_id, Ending::One(&session_id), now)
            .await?;
        Ok(Rotation::Reused { session_id })
    }
}

async fn insert_refresh_token(
    connection: &mut AnyConnection,
    digest: &RefreshDigest,
    session_id: &SessionId,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(digest.as_str())
    .bind(session_id.as_str())
    .bind(expires_at)
    .execute(connection)
    .await?;
    Ok(())
}
