//! Opening a session with its first refresh token as SQLite's writer runs it: the
//! account checked first, then the rows written, so nothing ever needs undoing. The
//! writer is the database's only writer while it runs, so the check holds until the
//! commit, as the shared row lock does on PostgreSQL.

use bookshelf_runtime::sqlite_reads::{Connection, OptionalExtension, params, rusqlite};

use super::rotation::INSERT_REFRESH_TOKEN;
use crate::domain::session::{Expiries, Lifetimes};

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
pub(super) fn account_unchanged(
    connection: &Connection,
    session: &OwnedSession,
) -> rusqlite::Result<bool> {
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

pub(super) fn insert_session(
    connection: &Connection,
    session: &OwnedSession,
) -> rusqlite::Result<Expiries> {
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
