//! What a refresh token's rotation comes to, and the statements it runs: shared by
//! the PostgreSQL transaction ([`super::refresh_tokens`]) and SQLite's writer
//! ([`super::refresh_sqlite`]).

use crate::domain::{SessionId, UserId, session::Expiries};

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
    /// The client's allowance of failed refreshes is full: nothing was tried. It
    /// may try again at this time, ms since the epoch.
    Throttled {
        /// When the next attempt will be allowed.
        until: i64,
    },
}

/// What one run of a rotation's transaction came to.
#[derive(Debug)]
pub(super) enum Attempted {
    /// Decided: rotated, refused or throttled.
    Done(Rotation),
    /// `old` was not there to spend: unknown, expired, or spent before (reuse).
    NotSpent,
}

/// Session `$1` if it is open and its account active: its user, end, the last expiry
/// of its tokens and when it last proved a factor.
pub(super) const OPEN_SESSION: &str = "SELECT sessions.user_id, sessions.expires_at, \
     sessions.tokens_expire_at, sessions.authenticated_at FROM sessions \
     JOIN users ON users.id = sessions.user_id \
     WHERE sessions.id = $1 AND sessions.ended_at IS NULL AND users.disabled_at IS NULL";

/// Moves open session `$6` on to a refresh at `$1` by the client seen (`$2`, `$3`).
pub(super) const MOVE_SESSION_ON: &str = "UPDATE sessions SET last_used_at = $1, \
     client_address = COALESCE($2, client_address), user_agent = COALESCE($3, user_agent), \
     refresh_expires_at = $4, tokens_expire_at = $5 WHERE id = $6 AND ended_at IS NULL";

/// Spent tokens of session `$1` past their own expiry (`$2`) would be refused anyway:
/// forgotten, so a long session keeps only the tokens of one refresh lifetime.
pub(super) const FORGET_EXPIRED: &str =
    "DELETE FROM refresh_tokens WHERE session_id = $1 AND expires_at <= $2";

/// Records refresh token `$1` of session `$2`, expiring at `$3`.
pub(super) const INSERT_REFRESH_TOKEN: &str =
    "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)";
