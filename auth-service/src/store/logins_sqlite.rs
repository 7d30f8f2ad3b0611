//! A login's writes as SQLite's writer runs them: an attempt reserved under the
//! throttle, its release, a session opened, and a second step's one transaction.
//! Through the pool, each statement was handed to a connection's thread and back
//! while the database's one write lock was held, and the pool's connections took turns
//! at that lock through the busy handler, which sleeps rather than queues; on the
//! writer each is one closure, one hand-off, committed with whatever waits beside it.
//!
//! The writer is the database's only writer while a closure runs, so each checks
//! everything first and only then writes: nothing ever needs undoing. The statements
//! are those of the PostgreSQL path, with SQLite's `?N` parameters where the `$N` of
//! the shared ones do not first appear in ascending order.

use bookshelf_runtime::sqlite_reads::{Connection, OptionalExtension, params, rusqlite};

use super::{
    rotation::INSERT_REFRESH_TOKEN,
    second_step::{CodeSpend, SecondStepEnd},
    throttle::{
        ATTEMPTS_SINCE, COUNT_ATTEMPT, FORGET_ATTEMPTS, Limit, Reserved, TOUCH_KEY, full_until,
    },
};
use crate::domain::session::{Expiries, Lifetimes};

/// Reserves attempt `attempt_id` under every one of `limits` at `now`, or under none
/// if any is full, as [`super::Store::reserve`] does.
pub(super) fn reserve(
    connection: &Connection,
    attempt_id: &str,
    limits: &[Limit],
    now: i64,
    window_ms: i64,
) -> rusqlite::Result<Reserved> {
    let since = now - window_ms;
    let mut refused_until = None::<i64>;
    for limit in limits {
        let times = connection
            .prepare_cached(ATTEMPTS_SINCE)?
            .query_map(params![limit.key, since], |row| row.get::<_, i64>(0))?
            .collect::<rusqlite::Result<Vec<i64>>>()?;
        if let Some(frees_at) = full_until(&times, limit.max, window_ms) {
            refused_until = Some(refused_until.map_or(frees_at, |until| until.max(frees_at)));
        }
    }
    if let Some(until) = refused_until {
        return Ok(Reserved::Refused { until });
    }
    for limit in limits {
        connection
            .prepare_cached(TOUCH_KEY)?
            .execute(params![limit.key, now])?;
        connection
            .prepare_cached(FORGET_ATTEMPTS)?
            .execute(params![limit.key, since])?;
        connection
            .prepare_cached(COUNT_ATTEMPT)?
            .execute(params![limit.key, attempt_id, now])?;
    }
    Ok(Reserved::Granted)
}

/// Gives back attempt `attempt_id` and forgets every attempt under `clear`.
pub(super) fn release(
    connection: &Connection,
    attempt_id: &str,
    clear: &[String],
) -> rusqlite::Result<()> {
    connection
        .prepare_cached("DELETE FROM throttle_attempts WHERE attempt_id = ?1")?
        .execute(params![attempt_id])?;
    for key in clear {
        connection
            .prepare_cached("DELETE FROM throttle_attempts WHERE key = ?1")?
            .execute(params![key])?;
    }
    Ok(())
}

/// A session to open, owned, for a closure on the writer.
pub(super) struct OwnedSession {
    pub id: String,
    pub user_id: String,
    pub credential_version: i64,
    pub address: Option<String>,
    pub user_agent: Option<String>,
    pub refresh_digest: String,
    pub now: i64,
    pub lifetimes: Lifetimes,
}

/// Opens `session` with its first refresh token: its expiries, or `None`, with
/// nothing written, when its account is disabled or its credentials changed.
pub(super) fn open_session(
    connection: &Connection,
    session: &OwnedSession,
) -> rusqlite::Result<Option<Expiries>> {
    if !account_unchanged(connection, session)? {
        return Ok(None);
    }
    Ok(Some(insert_session(connection, session)?))
}

/// Whether the session's account is active with the credential version its factors
/// were checked against.
fn account_unchanged(connection: &Connection, session: &OwnedSession) -> rusqlite::Result<bool> {
    Ok(connection
        .prepare_cached(
            "SELECT 1 FROM users WHERE id = ?1 AND credential_version = ?2 \
             AND disabled_at IS NULL",
        )?
        .query_row(params![session.user_id, session.credential_version], |_| {
            Ok(())
        })
        .optional()?
        .is_some())
}

fn insert_session(connection: &Connection, session: &OwnedSession) -> rusqlite::Result<Expiries> {
    let (now, lifetimes) = (session.now, session.lifetimes);
    let session_end = now + lifetimes.session_ms;
    let expiries = lifetimes.at(now, session_end);
    connection
        .prepare_cached(
            "INSERT INTO sessions (id, user_id, created_at, last_used_at, client_address, \
             user_agent, expires_at, refresh_expires_at, tokens_expire_at, authenticated_at) \
             VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7, ?8, ?3)",
        )?
        .execute(params![
            session.id,
            session.user_id,
            now,
            session.address,
            session.user_agent,
            session_end,
            expiries.refresh,
            expiries.access,
        ])?;
    connection
        .prepare_cached(INSERT_REFRESH_TOKEN)?
        .execute(params![
            session.refresh_digest,
            session.id,
            expiries.refresh
        ])?;
    Ok(expiries)
}

/// A second step with a code, owned, for a closure on the writer.
pub(super) struct OwnedCodeStep {
    pub code: CodeSpend,
    pub attempt_id: String,
    pub challenge_digest: String,
    pub session: OwnedSession,
}

/// Finishes `step` as [`super::Store::finish_second_step`] does: every condition read
/// first, then the code spent, the guess given back, the login spent and the session
/// opened.
pub(super) fn finish_second_step(
    connection: &Connection,
    step: &OwnedCodeStep,
) -> rusqlite::Result<SecondStepEnd> {
    let (user_id, now) = (step.session.user_id.as_str(), step.session.now);
    let spendable = match &step.code {
        CodeSpend::TotpStep(totp_step) => connection
            .prepare_cached(
                "SELECT 1 FROM totp_factors \
                 WHERE user_id = ?1 AND last_step < ?2 AND confirmed_at IS NOT NULL",
            )?
            .query_row(params![user_id, totp_step], |_| Ok(()))
            .optional()?,
        CodeSpend::RecoveryCode(digest) => connection
            .prepare_cached(
                "SELECT 1 FROM recovery_codes \
                 WHERE user_id = ?1 AND digest = ?2 AND used_at IS NULL",
            )?
            .query_row(params![user_id, digest], |_| Ok(()))
            .optional()?,
    };
    if spendable.is_none() {
        return Ok(SecondStepEnd::CodeRefused);
    }
    let waiting = connection
        .prepare_cached(
            "SELECT 1 FROM mfa_challenges \
             WHERE digest = ?1 AND used_at IS NULL AND expires_at > ?2",
        )?
        .query_row(params![step.challenge_digest, now], |_| Ok(()))
        .optional()?;
    if waiting.is_none() || !account_unchanged(connection, &step.session)? {
        return Ok(SecondStepEnd::LoginGone);
    }
    match &step.code {
        CodeSpend::TotpStep(totp_step) => connection
            .prepare_cached("UPDATE totp_factors SET last_step = ?1 WHERE user_id = ?2")?
            .execute(params![totp_step, user_id])?,
        CodeSpend::RecoveryCode(digest) => connection
            .prepare_cached(
                "UPDATE recovery_codes SET used_at = ?1 WHERE user_id = ?2 AND digest = ?3",
            )?
            .execute(params![now, user_id, digest])?,
    };
    release(connection, &step.attempt_id, &[])?;
    connection
        .prepare_cached("UPDATE mfa_challenges SET used_at = ?1 WHERE digest = ?2")?
        .execute(params![now, step.challenge_digest])?;
    Ok(SecondStepEnd::Opened(insert_session(
        connection,
        &step.session,
    )?))
}
