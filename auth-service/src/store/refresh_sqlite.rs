//! A refresh token's rotation as SQLite's writer runs it: the same statements as on
//! PostgreSQL ([`super::refresh_tokens`]), run whole on the writer's connection,
//! which is the database's only writer while it runs. So the order of reads and
//! writes is free: the allowance is checked first and a token is spent only once its
//! session is known open, so nothing ever needs undoing. The statements shared with
//! PostgreSQL name their `$N` parameters in ascending order of first appearance,
//! which is how SQLite numbers them.

use bookshelf_runtime::sqlite_reads::{Connection, OptionalExtension, params, rusqlite};

use super::{
    rotation::{
        Attempted, FORGET_EXPIRED, INSERT_REFRESH_TOKEN, MOVE_SESSION_ON, OPEN_SESSION, Rotation,
    },
    throttle::{ATTEMPTS_SINCE, Limit, count_on_sqlite, full_until},
};
use crate::domain::{
    SessionId, UserId,
    session::{ClientSeen, Lifetimes, RefreshDigest},
};

/// The token `?1` if it is unspent and unexpired at `?2`: its session. (SQLite numbers
/// `$N` parameters in the order they first appear; `?N` are numbered as written.)
const SPENDABLE: &str = "SELECT session_id FROM refresh_tokens \
     WHERE token_hash = ?1 AND spent_at IS NULL AND expires_at > ?2";

/// Spends token `?2` at `?1` (known spendable: the writer is alone).
const SPEND_KNOWN: &str = "UPDATE refresh_tokens SET spent_at = ?1 WHERE token_hash = ?2";

/// Spends `old` for `new` at `now` within the client's allowance (`limit`, over
/// `window_ms`), counting a failure under it; see
/// [`super::Store::rotate_refresh_token`].
pub(super) fn rotate(
    connection: &Connection,
    old: &RefreshDigest,
    new: &RefreshDigest,
    client: &ClientSeen,
    now: i64,
    lifetimes: Lifetimes,
    (limit, window_ms): (&Limit, i64),
) -> rusqlite::Result<Attempted> {
    let since = now - window_ms;
    let times = connection
        .prepare_cached(ATTEMPTS_SINCE)?
        .query_map(params![limit.key, since], |row| row.get::<_, i64>(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    if let Some(until) = full_until(&times, limit.max, window_ms) {
        return Ok(Attempted::Done(Rotation::Throttled { until }));
    }
    let session_id: Option<String> = connection
        .prepare_cached(SPENDABLE)?
        .query_row(params![old.as_str(), now], |row| row.get(0))
        .optional()?;
    let Some(session_id) = session_id.map(SessionId::issued) else {
        count_failure(connection, limit, now, since)?;
        return Ok(Attempted::NotSpent);
    };
    let session = connection
        .prepare_cached(OPEN_SESSION)?
        .query_row(params![session_id.as_str()], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })
        .optional()?;
    let Some((user_id, session_end, tokens_expire_at, authenticated_at)) = session else {
        count_failure(connection, limit, now, since)?;
        return Ok(Attempted::Done(Rotation::Refused));
    };
    if session_end <= now {
        count_failure(connection, limit, now, since)?;
        return Ok(Attempted::Done(Rotation::Refused));
    }
    let expiries = lifetimes.at(now, session_end);
    connection
        .prepare_cached(SPEND_KNOWN)?
        .execute(params![now, old.as_str()])?;
    connection
        .prepare_cached(MOVE_SESSION_ON)?
        .execute(params![
            now,
            client.address,
            client.user_agent,
            expiries.refresh,
            tokens_expire_at.max(expiries.access),
            session_id.as_str(),
        ])?;
    connection
        .prepare_cached(INSERT_REFRESH_TOKEN)?
        .execute(params![new.as_str(), session_id.as_str(), expiries.refresh])?;
    connection
        .prepare_cached(FORGET_EXPIRED)?
        .execute(params![session_id.as_str(), now])?;
    Ok(Attempted::Done(Rotation::Rotated {
        session_id,
        user_id: UserId::issued(user_id),
        expiries,
        authenticated_at,
    }))
}

/// Counts a failed refresh under `limit` at `now`, forgetting its attempts from
/// before the window (`since`), as a reservation does.
fn count_failure(
    connection: &Connection,
    limit: &Limit,
    now: i64,
    since: i64,
) -> rusqlite::Result<()> {
    let attempt_id = uuid::Uuid::new_v4().to_string();
    count_on_sqlite(connection, limit, &attempt_id, now, since)
}
