//! Opening a session with its first refresh token, and rotating refresh tokens
//! (the `refresh_tokens` table, and the session row each refresh moves on).
//!
//! A refresh token is spent only by a transaction that found it unspent while holding
//! its session's row lock and then its own: of any number of concurrent refreshes with
//! one token, exactly one finds it unspent, and every other finds it spent. A spent
//! token stays recorded until it would have expired, so presenting it again is seen
//! as reuse (two holders of one token: one of them stole it) and ends the session.
//!
//! A refresh locks the session row before its refresh tokens, the order every end of
//! a session keeps too (see [`super::sessions`]), and its client's throttle key last.
//!
//! A refresh is one transaction: on SQLite, one closure on the database's writer
//! ([`super::refresh_sqlite`]), committed with whatever other writes wait beside it;
//! on PostgreSQL, one call of a routine in the database ([`super::rotation_postgres`]),
//! whose transaction holds the client's throttle key, shared with the other
//! refreshes, from its count to its commit.

use sqlx::{AnyConnection, Row};
use tracing::Instrument;

pub(crate) use super::rotation::Rotation;
use super::{
    Store, StoreError, refresh_sqlite, retrying,
    rotation::Attempted,
    rotation_postgres,
    sessions::Ending,
    sessions_sqlite::{self, OwnedSession},
    throttle::{Limit, Reserved},
};
use crate::domain::{
    SessionId, UserId,
    session::{ClientSeen, Expiries, Lifetimes, RefreshDigest},
};

/// A session to open at a login, with its first refresh token.
pub(crate) struct NewSession<'a> {
    pub id: &'a SessionId,
    pub user_id: &'a UserId,
    /// The account's credential version its factors were checked against.
    pub credential_version: i64,
    pub client: &'a ClientSeen,
    pub refresh_digest: &'a RefreshDigest,
    pub now: i64,
    pub lifetimes: Lifetimes,
}

impl NewSession<'_> {
    /// The session, owned, for a closure on SQLite's writer.
    pub(super) fn owned(&self) -> OwnedSession {
        OwnedSession {
            id: self.id.as_str().to_owned(),
            user_id: self.user_id.as_str().to_owned(),
            credential_version: self.credential_version,
            address: self.client.address.clone(),
            user_agent: self.client.user_agent.clone(),
            refresh_digest: self.refresh_digest.as_str().to_owned(),
            now: self.now,
            lifetimes: self.lifetimes,
        }
    }
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
            let session = NewSession {
                id,
                user_id,
                credential_version,
                client,
                refresh_digest,
                now,
                lifetimes,
            };
            if let Some(writer) = self.writer() {
                let session = session.owned();
                return Ok(writer
                    .write(move |connection| sessions_sqlite::open_session(connection, &session))
                    .await?);
            }
            // One statement, so its own transaction: nothing to begin or roll back.
            let mut connection = self.pool().acquire().await?;
            Ok(self.open_session_within(&mut connection, &session).await?)
        }
        .instrument(span)
        .await
    }

    /// Opens `session` on PostgreSQL, inside the caller's transaction if it has one,
    /// as [`Store::open_session`] does: its expiries, or `None` (with nothing written)
    /// when its account is disabled or its credentials changed. One statement, one
    /// round trip: the session's insert (the account's check, its row share-locked to
    /// the commit) feeds the refresh token's.
    pub(super) async fn open_session_within(
        &self,
        connection: &mut AnyConnection,
        session: &NewSession<'_>,
    ) -> Result<Option<Expiries>, sqlx::Error> {
        let (now, lifetimes) = (session.now, session.lifetimes);
        let session_end = now + lifetimes.session_ms;
        let expiries = lifetimes.at(now, session_end);
        let inserted = sqlx::query(OPEN_SESSION_ON_POSTGRES)
            .bind(session.id.as_str())
            .bind(session.user_id.as_str())
            .bind(now)
            .bind(session.client.address.as_deref())
            .bind(session.client.user_agent.as_deref())
            .bind(session_end)
            .bind(expiries.refresh)
            .bind(expiries.access)
            .bind(session.credential_version)
            .bind(session.refresh_digest.as_str())
            .execute(&mut *connection)
            .await?;
        Ok((inserted.rows_affected() == 1).then_some(expiries))
    }

    /// Spends the refresh token whose digest is `old` and records `new` in its place,
    /// at `now`, for the client seen; or says why not. A spent `old` ends its session.
    /// `limit` (with its window, ms) is the client's allowance of failed refreshes:
    /// while it is full nothing is tried ([`Rotation::Throttled`]), and a failure is
    /// counted under it before it is answered; a success counts nothing.
    pub(crate) async fn rotate_refresh_token(
        &self,
        old: &RefreshDigest,
        new: &RefreshDigest,
        client: &ClientSeen,
        now: i64,
        lifetimes: Lifetimes,
        (limit, window_ms): (&Limit, i64),
    ) -> Result<Rotation, StoreError> {
        let span = self.reads.span("UPDATE", "refresh_tokens");
        async {
            let attempted = match self.writer() {
                Some(writer) => {
                    let (old, new, client, limit) =
                        (old.clone(), new.clone(), client.clone(), limit.clone());
                    writer
                        .write(move |connection| {
                            refresh_sqlite::rotate(
                                connection,
                                &old,
                                &new,
                                &client,
                                now,
                                lifetimes,
                                (&limit, window_ms),
                            )
                        })
                        .await?
                }
                None => {
                    let attempted = retrying(|| {
                        rotation_postgres::rotate(
                            self.pool(),
                            old,
                            new,
                            client,
                            now,
                            lifetimes,
                            (limit, window_ms),
                        )
                    })
                    .await?;
                    if let Attempted::NotSpent | Attempted::Done(Rotation::Refused) = attempted {
                        // Rolled back whole: the failure is counted now, under the lock
                        // every refresh of this client takes, before it is answered.
                        let attempt_id = uuid::Uuid::new_v4().to_string();
                        let limits = std::slice::from_ref(limit);
                        if let Reserved::Refused { until } =
                            self.reserve(&attempt_id, limits, now, window_ms).await?
                        {
                            return Ok(Rotation::Throttled { until });
                        }
                    }
                    attempted
                }
            };
            match attempted {
                Attempted::Done(rotation) => Ok(rotation),
                Attempted::NotSpent => self.refused_or_reused(old, now).await,
            }
        }
        .instrument(span)
        .await
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

/// Opens a session (`$1`) for account `$2` at `$3` and records its first refresh
/// token (`$10`, expiring at `$7`), only while the account is active at credential
/// version `$9`: one row inserted when it opened, none when not. The refresh token's
/// foreign key is checked at the statement's end, when the session's row is there.
const OPEN_SESSION_ON_POSTGRES: &str = "WITH opened AS ( \
     INSERT INTO sessions (id, user_id, created_at, last_used_at, client_address, \
     user_agent, expires_at, refresh_expires_at, tokens_expire_at, authenticated_at) \
     SELECT $1, id, $3, $3, $4, $5, $6, $7, $8, $3 FROM users \
     WHERE id = $2 AND credential_version = $9 AND disabled_at IS NULL FOR SHARE \
     RETURNING id) \
     INSERT INTO refresh_tokens (token_hash, session_id, expires_at) \
     SELECT $10, id, $7 FROM opened";
