//! The `revocations` log behind the feed: disabled accounts, ended sessions and
//! revoked signing keys, numbered in commit order.

use bookshelf_runtime::db::Backend;
use sqlx::{AnyConnection, Row, any::AnyRow};

use super::{Store, StoreError};
use crate::domain::{SessionId, UserId};

/// The PostgreSQL notification channel of revocations.
pub(crate) const CHANNEL: &str = "bookshelf_revocations";

/// A disabled account, an ended session or a revoked signing key, as the revocation
/// feed reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Revocation {
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

/// Appends the revocation of user `$1`'s session `$2` (or account, for none) at `$3`,
/// whose tokens expire by `$4`, with the next sequence number.
pub(super) const APPEND_REVOCATION: &str = "INSERT INTO revocations (sequence, user_id, session_id, revoked_at, tokens_expire_at) \
     SELECT COALESCE(MAX(sequence), 0) + 1, $1, $2, $3, $4 FROM revocations";

/// The PostgreSQL advisory lock that appends to the revocation log take in turn (an
/// arbitrary constant, apart from the one replicas install routines under).
pub(super) const APPEND_LOCK: i64 = 0x626f_6f6b_7265_766f;

/// On PostgreSQL, waits until no other transaction is appending to the revocation
/// log, and holds that turn until the caller's transaction ends. Without it,
/// concurrent appends read the same highest number, all but one fail on the primary
/// key and run again, and under many concurrent logouts some fail every try. With it,
/// each statement that reads the highest number starts after the previous appender
/// committed, so reads the number that one wrote. SQLite's one writer already runs
/// appends one at a time.
async fn take_turn_to_append(connection: &mut AnyConnection) -> Result<(), sqlx::Error> {
    if connection.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(APPEND_LOCK)
            .execute(connection)
            .await?;
    }
    Ok(())
}

/// Appends a revocation to the log with the next sequence number, inside the caller's
/// transaction. The number is read and written in one statement, after
/// [`take_turn_to_append`]; the primary key still refuses a number another writer
/// took meanwhile (the caller then retries the whole transaction, see [`retrying`]),
/// so numbers increase in commit order on every backend.
pub(crate) async fn append_revocation(
    connection: &mut AnyConnection,
    user_id: &UserId,
    session_id: Option<&SessionId>,
    now: i64,
    tokens_expire_at: Option<i64>,
) -> Result<(), sqlx::Error> {
    take_turn_to_append(connection).await?;
    sqlx::query(APPEND_REVOCATION)
        .bind(user_id.as_str())
        .bind(session_id.map(SessionId::as_str))
        .bind(now)
        .bind(tokens_expire_at)
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
    take_turn_to_append(connection).await?;
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

impl Store {
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
            .bind(CHANNEL)
            .execute(&self.pool)
            .await;
        if let Err(error) = notified {
            tracing::warn!(%error, "cannot notify the other replicas of a revocation");
        }
    }

    /// The revocations whose tokens may still pass at `now` (ms), in sequence order:
    /// every revoked key, and the accounts and sessions whose last token (with
    /// `leeway_ms`) has not expired yet (see [`LIVE_REVOCATION`]; `token_ttl_ms` only
    /// for accounts disabled before that expiry was recorded).
    pub(crate) async fn live_revocations(
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
    pub(crate) async fn revocations_after(
        &self,
        after: i64,
    ) -> Result<Vec<Revocation>, StoreError> {
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
    pub(crate) async fn last_revocation_sequence(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(sequence), 0) AS last FROM revocations")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("last")?)
    }
}
