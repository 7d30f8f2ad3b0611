//! A refresh token's rotation as PostgreSQL runs it: one call of a routine
//! ([`super::routines`]).
//!
//! The order is the SQLite writer's ([`super::refresh_sqlite`]): everything the
//! rotation decides on is read, under locks, before anything is written, so a refusal
//! needs nothing undone. The session's row is locked before its refresh token's, the
//! order in which every end of a session takes them too; the client's allowance key
//! after both, as no other transaction takes a session after a throttle key.

use sqlx::{AnyPool, Row};

use super::{
    rotation::{Attempted, Rotation},
    throttle::Limit,
};
use crate::domain::{
    SessionId, UserId,
    session::{ClientSeen, Expiries, Lifetimes, RefreshDigest},
};

/// The rotation, as a routine: what it came to (`rotated`, `not_spent`, `refused` or
/// `throttled`) and, as fits, the session, its user, when it last proved a factor,
/// the new tokens' expiries, or when the client may try again. The expiries follow
/// [`Lifetimes::at`]'s rule, written again in SQL: neither token outlives the session.
pub(super) const ROUTINE: &str = r#"
CREATE OR REPLACE FUNCTION rotate_refresh_token_v1(
    old_digest TEXT, new_digest TEXT, now_ms BIGINT, seen_address TEXT, seen_agent TEXT,
    access_ms BIGINT, refresh_ms BIGINT, limit_key TEXT, limit_max BIGINT, window_ms BIGINT,
    OUT outcome TEXT, OUT refreshed_session TEXT, OUT refreshed_user TEXT,
    OUT proved_at BIGINT, OUT access_end BIGINT, OUT refresh_end BIGINT, OUT retry_at BIGINT)
LANGUAGE plpgsql VOLATILE AS $routine$
DECLARE
    session_end BIGINT;
    tokens_end BIGINT;
BEGIN
    PERFORM 1 FROM sessions
        WHERE id = (SELECT session_id FROM refresh_tokens WHERE token_hash = old_digest)
        FOR UPDATE;
    SELECT session_id INTO refreshed_session FROM refresh_tokens
        WHERE token_hash = old_digest AND spent_at IS NULL AND expires_at > now_ms
        FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'not_spent';
        RETURN;
    END IF;
    SELECT sessions.user_id, sessions.expires_at, sessions.tokens_expire_at,
           sessions.authenticated_at
        INTO refreshed_user, session_end, tokens_end, proved_at
        FROM sessions JOIN users ON users.id = sessions.user_id
        WHERE sessions.id = refreshed_session AND sessions.ended_at IS NULL
          AND users.disabled_at IS NULL;
    IF NOT FOUND OR session_end <= now_ms THEN
        outcome := 'refused';
        RETURN;
    END IF;
    INSERT INTO throttle_keys (key, touched_at) VALUES (limit_key, now_ms)
        ON CONFLICT (key) DO NOTHING;
    PERFORM 1 FROM throttle_keys WHERE key = limit_key FOR SHARE;
    SELECT attempted_at + window_ms INTO retry_at FROM throttle_attempts
        WHERE key = limit_key AND attempted_at > now_ms - window_ms
        ORDER BY attempted_at DESC OFFSET limit_max - 1 LIMIT 1;
    IF FOUND THEN
        outcome := 'throttled';
        RETURN;
    END IF;
    access_end := LEAST(now_ms + access_ms, session_end) / 1000 * 1000;
    refresh_end := LEAST(now_ms + refresh_ms, session_end);
    UPDATE refresh_tokens SET spent_at = now_ms WHERE token_hash = old_digest;
    UPDATE sessions SET last_used_at = now_ms,
           client_address = COALESCE(seen_address, client_address),
           user_agent = COALESCE(seen_agent, user_agent),
           refresh_expires_at = refresh_end,
           tokens_expire_at = GREATEST(tokens_end, access_end)
        WHERE id = refreshed_session;
    INSERT INTO refresh_tokens (token_hash, session_id, expires_at)
        VALUES (new_digest, refreshed_session, refresh_end);
    DELETE FROM refresh_tokens WHERE session_id = refreshed_session AND expires_at <= now_ms;
    outcome := 'rotated';
END
$routine$"#;

const ROTATE: &str = "SELECT outcome, refreshed_session, refreshed_user, proved_at, \
     access_end, refresh_end, retry_at FROM rotate_refresh_token_v1(\
     $1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// One run of the rotation: spends `old` for `new` at `now` within the client's
/// allowance (`limit`, over `window_ms`). A failure writes nothing; the caller counts
/// it.
pub(super) async fn rotate(
    pool: &AnyPool,
    old: &RefreshDigest,
    new: &RefreshDigest,
    client: &ClientSeen,
    now: i64,
    lifetimes: Lifetimes,
    (limit, window_ms): (&Limit, i64),
) -> Result<Attempted, sqlx::Error> {
    let row = sqlx::query(ROTATE)
        .bind(old.as_str())
        .bind(new.as_str())
        .bind(now)
        .bind(client.address.as_deref())
        .bind(client.user_agent.as_deref())
        .bind(lifetimes.access_ms)
        .bind(lifetimes.refresh_ms)
        .bind(&limit.key)
        .bind(i64::from(limit.max))
        .bind(window_ms)
        .fetch_one(pool)
        .await?;
    let outcome: String = row.try_get("outcome")?;
    Ok(match outcome.as_str() {
        "rotated" => Attempted::Done(Rotation::Rotated {
            session_id: SessionId::issued(row.try_get("refreshed_session")?),
            user_id: UserId::issued(row.try_get("refreshed_user")?),
            expiries: Expiries {
                access: row.try_get("access_end")?,
                refresh: row.try_get("refresh_end")?,
            },
            authenticated_at: row.try_get("proved_at")?,
        }),
        "not_spent" => Attempted::NotSpent,
        "throttled" => Attempted::Done(Rotation::Throttled {
            until: row.try_get("retry_at")?,
        }),
        "refused" => Attempted::Done(Rotation::Refused),
        other => {
            return Err(sqlx::Error::Protocol(format!(
                "the rotation routine answered {other:?}"
            )));
        }
    })
}
