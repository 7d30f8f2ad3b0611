//! Sessions in the database: one per login, with the digests of its refresh tokens.
//!
//! A refresh token is spent by one conditional `UPDATE` (`... WHERE token_hash = $old
//! AND spent_at IS NULL`): of any number of concurrent refreshes with one token, the
//! database lets exactly one change the row, and every other finds it spent. A spent
//! token stays recorded until it would have expired, so presenting it again is seen
//! as reuse (two holders of one token: one of them stole it) and ends the session.
//!
//! Ending sessions appends them to the revocation log in the same transaction, so the
//! feed tells every follower; an ended session's refresh tokens are deleted with it.
//!
//! Every transaction that writes both locks the session row before its refresh tokens
//! (on PostgreSQL; an SQLite writer holds the whole database), so a refresh and an end
//! of the same session take turns instead of deadlocking; what contention is left is
//! retried whole by [`retrying`].

use bookshelf_runtime::{db::Reads, sqlite_reads::params};
use bookshelf_tokens::claims::LEEWAY_SECS;
use sqlx::{AnyConnection, Row, any::AnyRow};

use crate::{
    domain::SessionId,
    store::{Store, StoreError, append_revocation, end_pending_logins, retrying},
};

/// How long tokens, refresh tokens and sessions last, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// An access token (a JWT).
    pub access_ms: i64,
    /// A refresh token, from its issue.
    pub refresh_ms: i64,
    /// A session, from its login, however often it is refreshed.
    pub session_ms: i64,
}

/// The expiries of what one login or refresh hands out, ms since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiries {
    /// The access token's `exp`, in whole seconds (as the token carries it) times 1000.
    pub access: i64,
    /// The refresh token's.
    pub refresh: i64,
}

impl Lifetimes {
    /// What is handed out at `now` in a session that ends at `session_end`: neither
    /// outlives the session.
    pub fn at(&self, now: i64, session_end: i64) -> Expiries {
        let access = (now + self.access_ms).min(session_end);
        Expiries {
            access: access.div_euclid(1000) * 1000,
            refresh: (now + self.refresh_ms).min(session_end),
        }
    }
}

/// Where a session is used from, as the gateway saw the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientSeen {
    /// The client's address.
    pub address: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
}

/// An open session as its user may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The session id (a UUID), the `sid` of its tokens.
    pub id: String,
    /// When its login happened, ms since the epoch.
    pub created_at: i64,
    /// Its latest login or refresh.
    pub last_used_at: i64,
    /// Where it was last used from.
    pub client: ClientSeen,
    /// When it ends at the latest.
    pub expires_at: i64,
}

impl SessionRecord {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            created_at: row.try_get("created_at")?,
            last_used_at: row.try_get("last_used_at")?,
            client: ClientSeen {
                address: row.try_get("client_address")?,
                user_agent: row.try_get("user_agent")?,
            },
            expires_at: row.try_get("expires_at")?,
        })
    }
}

/// What presenting a refresh token came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was spent and `new` recorded in its place.
    Rotated {
        /// The session refreshed.
        session_id: String,
        /// Its user.
        user_id: String,
        /// What the new tokens may live until.
        expiries: Expiries,
        /// When the session last proved a factor: the new token's `auth_time`.
        authenticated_at: i64,
    },
    /// The token had been spent before: its session is now ended.
    Reused {
        /// The session ended.
        session_id: String,
    },
    /// Unknown, expired, or of an ended session or a disabled account.
    Refused,
}

/// Which of a user's sessions to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending<'a> {
    /// This one.
    One(&'a str),
    /// Every one but this one (every one with `None`).
    AllBut(Option<&'a str>),
}

impl Store {
    /// Opens session `id` for `user_id` at `now`, with its first refresh token
    /// (`refresh_digest`): the expiries of the first tokens. `None` when the account
    /// is disabled or its credentials changed since the login read `credential_version`:
    /// the check and the insert are one statement, and on PostgreSQL the user's row
    /// stays share-locked until the commit, so a change either waits for the session
    /// (and then ends it) or is seen by it (and no session opens).
    #[allow(clippy::too_many_arguments)]
    pub async fn open_session(
        &self,
        id: &SessionId,
        user_id: &str,
        credential_version: i64,
        client: &ClientSeen,
        refresh_digest: &str,
        now: i64,
        lifetimes: Lifetimes,
    ) -> Result<Option<Expiries>, StoreError> {
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
        .bind(user_id)
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
        insert_refresh_token(
            &mut transaction,
            refresh_digest,
            id.as_str(),
            expiries.refresh,
        )
        .await?;
        transaction.commit().await?;
        Ok(Some(expiries))
    }

    /// Spends the refresh token whose digest is `old` and records `new` in its place,
    /// at `now`, for the client seen; or says why not. A spent `old` ends its session.
    pub async fn rotate_refresh_token(
        &self,
        old: &str,
        new: &str,
        client: &ClientSeen,
        now: i64,
        lifetimes: Lifetimes,
    ) -> Result<Rotation, StoreError> {
        let rotated = retrying(|| self.try_rotate(old, new, client, now, lifetimes)).await?;
        match rotated {
            Some(rotation) => Ok(rotation),
            None => self.refused_or_reused(old, now).await,
        }
    }

    /// One run of [`Self::rotate_refresh_token`]'s transaction: `None` when `old` was
    /// not there to spend.
    async fn try_rotate(
        &self,
        old: &str,
        new: &str,
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
            .bind(old)
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
        .bind(old)
        .bind(now)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(spent) = spent else {
            transaction.rollback().await?;
            return Ok(None);
        };
        let session_id: String = spent.try_get("session_id")?;
        let session = sqlx::query(
            "SELECT sessions.user_id, sessions.expires_at, sessions.tokens_expire_at, \
             sessions.authenticated_at FROM sessions JOIN users ON users.id = sessions.user_id \
             WHERE sessions.id = $1 AND sessions.ended_at IS NULL \
             AND users.disabled_at IS NULL",
        )
        .bind(&session_id)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(session) = session else {
            transaction.rollback().await?;
            return Ok(Some(Rotation::Refused));
        };
        let user_id: String = session.try_get("user_id")?;
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
        .bind(&session_id)
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
            .bind(&session_id)
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
    async fn refused_or_reused(&self, digest: &str, now: i64) -> Result<Rotation, StoreError> {
        let row = sqlx::query(
            "SELECT sessions.id, sessions.user_id, refresh_tokens.spent_at \
             FROM refresh_tokens JOIN sessions ON sessions.id = refresh_tokens.session_id \
             WHERE refresh_tokens.token_hash = $1",
        )
        .bind(digest)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(Rotation::Refused);
        };
        let spent_at: Option<i64> = row.try_get("spent_at")?;
        if spent_at.is_none() {
            return Ok(Rotation::Refused);
        }
        let session_id: String = row.try_get("id")?;
        let user_id: String = row.try_get("user_id")?;
        self.end_sessions(&user_id, Ending::One(&session_id), now)
            .await?;
        Ok(Rotation::Reused { session_id })
    }

    /// Ends `which` of `user_id`'s open sessions at `now`: how many ended.
    pub async fn end_sessions(
        &self,
        user_id: &str,
        which: Ending<'_>,
        now: i64,
    ) -> Result<u64, StoreError> {
        let (ended, announced) = retrying(|| async {
            let mut transaction = self.pool().begin().await?;
            let ended = end_within(&mut transaction, user_id, which, now).await?;
            transaction.commit().await?;
            Ok(ended)
        })
        .await?;
        if announced {
            self.notify_revoked().await;
        }
        Ok(ended)
    }

    /// Replaces an active user's password hash and ends every session but `keep`, in
    /// one transaction: `None` if there is no such active user, else how many ended.
    pub async fn change_password(
        &self,
        user_id: &str,
        password_hash: &str,
        keep: Option<&str>,
        now: i64,
    ) -> Result<Option<u64>, StoreError> {
        let changed = retrying(|| async {
            let mut transaction = self.pool().begin().await?;
            let updated = sqlx::query(
                "UPDATE users SET password_hash = $1, credential_version = credential_version + 1 \
                 WHERE id = $2 AND disabled_at IS NULL",
            )
            .bind(password_hash)
            .bind(user_id)
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

    /// Whether session `id` of `user_id` is open.
    pub async fn session_is_open(&self, id: &str, user_id: &str) -> Result<bool, StoreError> {
        const OPEN_SESSION: &str =
            "SELECT 1 FROM sessions WHERE id = $1 AND user_id = $2 AND ended_at IS NULL";
        match self.reads() {
            Reads::Sqlite(reads) => Ok(reads.read(|connection| {
                connection
                    .prepare_cached(OPEN_SESSION)?
                    .exists(params![id, user_id])
            })?),
            Reads::Postgres(reads) => Ok(reads
                .query_opt(OPEN_SESSION, &[&id, &user_id])
                .await?
                .is_some()),
        }
    }

    /// `user_id`'s sessions still open at `now`, newest first: not ended, not past
    /// their end, and with a refresh token or an access token still valid.
    pub async fn open_sessions(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, created_at, last_used_at, client_address, user_agent, expires_at \
             FROM sessions WHERE user_id = $1 AND ended_at IS NULL AND expires_at > $2 \
             AND (refresh_expires_at > $3 OR tokens_expire_at > $4) \
             ORDER BY created_at DESC, id",
        )
        .bind(user_id)
        .bind(now)
        .bind(now)
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(SessionRecord::from_row)
            .collect::<Result<_, _>>()?)
    }
}

async fn insert_refresh_token(
    connection: &mut AnyConnection,
    digest: &str,
    session_id: &str,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(digest)
    .bind(session_id)
    .bind(expires_at)
    .execute(connection)
    .await?;
    Ok(())
}

/// Ends `which` of `user_id`'s open sessions inside the caller's transaction: how
/// many ended, and whether any went into the revocation log. Only sessions with a
/// token that could still pass are announced; the others need no follower's memory.
async fn end_within(
    connection: &mut AnyConnection,
    user_id: &str,
    which: Ending<'_>,
    now: i64,
) -> Result<(u64, bool), sqlx::Error> {
    let (condition, id) = match which {
        Ending::One(id) => ("id = $3", id),
        Ending::AllBut(keep) => ("id <> $3", keep.unwrap_or("")),
    };
    let ended = sqlx::query(&format!(
        "UPDATE sessions SET ended_at = $1 \
         WHERE user_id = $2 AND ended_at IS NULL AND {condition} \
         RETURNING id, tokens_expire_at"
    ))
    .bind(now)
    .bind(user_id)
    .bind(id)
    .fetch_all(&mut *connection)
    .await?;
    let mut announced = false;
    for row in &ended {
        let session_id: String = row.try_get("id")?;
        let tokens_expire_at: i64 = row.try_get("tokens_expire_at")?;
        sqlx::query("DELETE FROM refresh_tokens WHERE session_id = $1")
            .bind(&session_id)
            .execute(&mut *connection)
            .await?;
        if tokens_expire_at + LEEWAY_SECS as i64 * 1000 >= now {
            append_revocation(
                connection,
                user_id,
                Some(&session_id),
                now,
                Some(tokens_expire_at),
            )
            .await?;
            announced = true;
        }
    }
    Ok((ended.len() as u64, announced))
}
