//! The `sessions` table: a session per login, whether it is open, which are, and
//! how they end ([`super::refresh_tokens`] opens them and rotates their tokens).
//!
//! Ending sessions appends them to the revocation log in the same transaction, so the
//! feed tells every follower; an ended session's refresh tokens are deleted with it.
//!
//! Ending one session runs whole on SQLite's writer
//! ([`bookshelf_runtime::sqlite_writes`]), and as one call of a routine on PostgreSQL
//! ([`END_ONE_ROUTINE`]).
//!
//! Every transaction that writes both locks the session row before its refresh tokens
//! (on PostgreSQL; an SQLite writer holds the whole database), so a refresh and an end
//! of the same session take turns instead of deadlocking; what contention is left is
//! retried whole by [`retrying`].

use bookshelf_runtime::{
    db::{Backend, Reads},
    sqlite_reads::{OptionalExtension, params, rusqlite},
};
use bookshelf_tokens::claims::LEEWAY_SECS;
use sqlx::{AnyConnection, AnyPool, Row, any::AnyRow};
use tracing::Instrument;

use super::{
    Store, StoreError, retrying,
    revocations::{APPEND_LOCK, APPEND_REVOCATION, append_revocation},
};
use crate::domain::{SessionId, UserId, session::ClientSeen};

/// An open session as its user may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionRecord {
    /// The session id (a UUID), the `sid` of its tokens.
    pub id: SessionId,
    /// When its login happened, ms since the epoch.
    pub created_at: i64,
    /// Its latest login or refresh.
    pub last_used_at: i64,
    /// Where it was last used from.
    pub client: ClientSeen,
    /// When it ends at the latest.
    pub expires_at: i64,
}

/// The columns of `sessions` a [`SessionRecord`] is read from.
const SESSION_COLUMNS: &str =
    "id, created_at, last_used_at, client_address, user_agent, expires_at";

impl SessionRecord {
    /// A session from a row of [`SESSION_COLUMNS`].
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: SessionId::issued(row.try_get("id")?),
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

/// Which of a user's sessions to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending<'a> {
    /// This one.
    One(&'a SessionId),
    /// Every one but this one (every one with `None`).
    AllBut(Option<&'a SessionId>),
}

impl Store {
    /// Ends `which` of `user_id`'s open sessions at `now`: how many ended.
    pub(crate) async fn end_sessions(
        &self,
        user_id: &UserId,
        which: Ending<'_>,
        now: i64,
    ) -> Result<u64, StoreError> {
        if let (Some(writer), Ending::One(id)) = (self.writer(), which) {
            let (user, id) = (user_id.as_str().to_owned(), id.as_str().to_owned());
            // No replica to notify on SQLite: the feed reads the log itself.
            let ended = writer
                .write(move |connection| end_one_on_sqlite(connection, &user, &id, now))
                .await?;
            return Ok(u64::from(ended));
        }
        let (ended, announced) = retrying(|| async {
            if let (Ending::One(id), Backend::Postgres) = (which, self.backend) {
                return end_one_on_postgres(self.pool(), user_id, id, now).await;
            }
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

    /// Whether session `id` of `user_id` is open.
    pub(crate) async fn session_is_open(
        &self,
        id: &SessionId,
        user_id: &UserId,
    ) -> Result<bool, StoreError> {
        let span = self.reads.span("SELECT", "sessions");
        async {
            let (id, user_id) = (id.as_str(), user_id.as_str());
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
        .instrument(span)
        .await
    }

    /// `user_id`'s sessions still open at `now`, newest first: not ended, not past
    /// their end, and with a refresh token or an access token still valid.
    pub(crate) async fn open_sessions(
        &self,
        user_id: &UserId,
        now: i64,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} \
             FROM sessions WHERE user_id = $1 AND ended_at IS NULL AND expires_at > $2 \
             AND (refresh_expires_at > $3 OR tokens_expire_at > $4) \
             ORDER BY created_at DESC, id"
        ))
        .bind(user_id.as_str())
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

/// Ends `user_id`'s open session `id` on SQLite's writer, the statements of
/// [`end_within`] run whole: whether it ended.
fn end_one_on_sqlite(
    connection: &rusqlite::Connection,
    user_id: &str,
    id: &str,
    now: i64,
) -> rusqlite::Result<bool> {
    let ended: Option<i64> = connection
        .prepare_cached(
            "UPDATE sessions SET ended_at = ?1 \
             WHERE user_id = ?2 AND ended_at IS NULL AND id = ?3 RETURNING tokens_expire_at",
        )?
        .query_row(params![now, user_id, id], |row| row.get(0))
        .optional()?;
    let Some(tokens_expire_at) = ended else {
        return Ok(false);
    };
    connection
        .prepare_cached("DELETE FROM refresh_tokens WHERE session_id = ?1")?
        .execute(params![id])?;
    if tokens_expire_at + LEEWAY_SECS as i64 * 1000 >= now {
        connection
            .prepare_cached(APPEND_REVOCATION)?
            .execute(params![user_id, id, now, tokens_expire_at])?;
    }
    Ok(true)
}

/// Ending one session, as a routine PostgreSQL runs in one call ([`super::routines`]):
/// the statements of [`end_within`], the revocation log's turn taken only for its
/// append and held to the commit. Whether it ended and whether it was announced.
pub(super) const END_ONE_ROUTINE: &str = r#"
CREATE OR REPLACE FUNCTION end_session_v1(
    owner TEXT, ending TEXT, now_ms BIGINT, leeway_ms BIGINT, append_lock BIGINT,
    OUT ended BOOLEAN, OUT announced BOOLEAN)
LANGUAGE plpgsql VOLATILE AS $routine$
DECLARE
    tokens_end BIGINT;
BEGIN
    UPDATE sessions SET ended_at = now_ms
        WHERE user_id = owner AND ended_at IS NULL AND id = ending
        RETURNING tokens_expire_at INTO tokens_end;
    ended := FOUND;
    announced := FALSE;
    IF NOT ended THEN
        RETURN;
    END IF;
    DELETE FROM refresh_tokens WHERE session_id = ending;
    IF tokens_end + leeway_ms >= now_ms THEN
        PERFORM pg_advisory_xact_lock(append_lock);
        INSERT INTO revocations (sequence, user_id, session_id, revoked_at, tokens_expire_at)
            SELECT COALESCE(MAX(sequence), 0) + 1, owner, ending, now_ms, tokens_end
            FROM revocations;
        announced := TRUE;
    END IF;
END
$routine$"#;

/// Ends `user_id`'s open session `id` by [`END_ONE_ROUTINE`]: whether it ended, and
/// whether it went into the revocation log.
async fn end_one_on_postgres(
    pool: &AnyPool,
    user_id: &UserId,
    id: &SessionId,
    now: i64,
) -> Result<(u64, bool), sqlx::Error> {
    let row = sqlx::query("SELECT ended, announced FROM end_session_v1($1, $2, $3, $4, $5)")
        .bind(user_id.as_str())
        .bind(id.as_str())
        .bind(now)
        .bind(LEEWAY_SECS as i64 * 1000)
        .bind(APPEND_LOCK)
        .fetch_one(pool)
        .await?;
    let ended: bool = row.try_get("ended")?;
    Ok((u64::from(ended), row.try_get("announced")?))
}

/// Ends `which` of `user_id`'s open sessions inside the caller's transaction: how
/// many ended, and whether any went into the revocation log. Only sessions with a
/// token that could still pass are announced; the others need no follower's memory.
pub(super) async fn end_within(
    connection: &mut AnyConnection,
    user_id: &UserId,
    which: Ending<'_>,
    now: i64,
) -> Result<(u64, bool), sqlx::Error> {
    let (condition, id) = match which {
        Ending::One(id) => ("id = $3", id.as_str()),
        Ending::AllBut(keep) => ("id <> $3", keep.map_or("", SessionId::as_str)),
    };
    let ended = sqlx::query(&format!(
        "UPDATE sessions SET ended_at = $1 \
         WHERE user_id = $2 AND ended_at IS NULL AND {condition} \
         RETURNING id, tokens_expire_at"
    ))
    .bind(now)
    .bind(user_id.as_str())
    .bind(id)
    .fetch_all(&mut *connection)
    .await?;
    let mut announced = false;
    for row in &ended {
        let session_id = SessionId::issued(row.try_get("id")?);
        let tokens_expire_at: i64 = row.try_get("tokens_expire_at")?;
        sqlx::query("DELETE FROM refresh_tokens WHERE session_id = $1")
            .bind(session_id.as_str())
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
