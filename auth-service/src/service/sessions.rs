//! Sessions: opening one at login, refreshing its tokens, ending it (logout, revoking
//! it from another session), listing them, and changing the password, which ends
//! every other.

use bookshelf_runtime::errors::FieldViolation;

use super::{Auth, CurrentCaller, throttle::Throttle};
use crate::{
    domain::{
        Password, RefreshToken, SessionId, UserId,
        session::{ClientSeen, Expiries},
    },
    error::AuthError,
    signing::IssuedToken,
    store::{
        refresh_tokens::Rotation,
        sessions::{Ending, SessionRecord},
        users::UserRecord,
    },
};

/// A login that passed every factor: its tokens and the account they speak for.
pub(crate) struct CompletedLogin {
    pub grant: Grant,
    pub user: UserRecord,
}

/// What a login or a refresh hands its client.
pub(crate) struct Grant {
    /// The session the tokens belong to.
    pub session_id: SessionId,
    /// The signed access token.
    pub token: IssuedToken,
    /// The refresh token, shown to its client once and stored only as a digest.
    pub refresh_token: RefreshToken,
    /// When the refresh token expires, ms since the epoch.
    pub refresh_expires_at: i64,
}

impl Auth {
    pub(super) fn grant(
        &self,
        user_id: &UserId,
        session_id: SessionId,
        authenticated_at_ms: i64,
        refresh_token: RefreshToken,
        expiries: Expiries,
    ) -> Result<Grant, AuthError> {
        let token = self.keys.issue(
            user_id.as_str(),
            session_id.as_str(),
            authenticated_at_ms.div_euclid(1000) as u64,
            (expiries.access / 1000) as u64,
        )?;
        Ok(Grant {
            session_id,
            token,
            refresh_token,
            refresh_expires_at: expiries.refresh,
        })
    }

    /// Opens a session for `user_id`, which just proved its factors against
    /// `credential_version`; `None` when the account's credentials changed (or it was
    /// disabled) since they were read, so the proof no longer counts.
    pub(crate) async fn open_session(
        &self,
        user_id: &UserId,
        credential_version: i64,
        client: &ClientSeen,
    ) -> Result<Option<Grant>, AuthError> {
        let id = SessionId::generate();
        let refresh_token = RefreshToken::generate();
        let now = self.clock.now_ms();
        let Some(expiries) = self
            .store
            .open_session(
                &id,
                user_id,
                credential_version,
                client,
                &refresh_token.digest(),
                now,
                self.lifetimes,
            )
            .await?
        else {
            return Ok(None);
        };
        self.grant(user_id, id, now, refresh_token, expiries)
            .map(Some)
    }

    /// Spends the refresh token `presented` (as the client sent it) for new tokens, for
    /// the client limited under `address` and seen as `client`.
    pub(crate) async fn refresh(
        &self,
        presented: &str,
        address: &str,
        client: &ClientSeen,
    ) -> Result<Grant, AuthError> {
        let Some(presented) = RefreshToken::presented(presented) else {
            // Not even the shape of a token: a failure all the same, counted (or
            // refused) like any other.
            let _failed = self.throttle.refresh(address).await?;
            return Err(AuthError::InvalidRefreshToken);
        };
        let replacement = RefreshToken::generate();
        let now = self.clock.now_ms();
        // The store checks the client's limit and counts a failure in the refresh's
        // own transaction, so concurrent failures cannot all pass one check, and a
        // success counts nothing.
        let (limit, window_ms) = self.throttle.refresh_limit(address);
        let rotation = self
            .store
            .rotate_refresh_token(
                &presented.digest(),
                &replacement.digest(),
                client,
                now,
                self.lifetimes,
                (&limit, window_ms),
            )
            .await?;
        match rotation {
            Rotation::Throttled { until } => Err(Throttle::refused(until, now)),
            Rotation::Rotated {
                session_id,
                user_id,
                expiries,
                authenticated_at,
            } => {
                tracing::Span::current().record("user_id", user_id.as_str());
                self.grant(
                    &user_id,
                    session_id,
                    authenticated_at,
                    replacement,
                    expiries,
                )
            }
            Rotation::Reused { session_id } => {
                self.revocations.revoked_here();
                tracing::warn!(
                    %session_id,
                    "a spent refresh token was presented again; the session is ended"
                );
                Err(AuthError::InvalidRefreshToken)
            }
            Rotation::Refused => Err(AuthError::InvalidRefreshToken),
        }
    }

    /// Ends session `session_id` of `user_id`, as a token names them. The end itself
    /// is the check a token's other calls make first (the account active, the session
    /// open): it ends only an open session of that account, and disabling an account
    /// ends all of its sessions in the same transaction, so an open session's account
    /// is active. Anything else is refused as those checks refuse it.
    pub(crate) async fn logout(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
    ) -> Result<(), AuthError> {
        let ended = self
            .store
            .end_sessions(user_id, Ending::One(session_id), self.clock.now_ms())
            .await?;
        if ended == 0 {
            return Err(AuthError::InactiveUser);
        }
        self.revocations.revoked_here();
        Ok(())
    }

    /// `caller`'s open sessions, newest first.
    pub(crate) async fn list_sessions(
        &self,
        caller: &CurrentCaller,
    ) -> Result<Vec<SessionRecord>, AuthError> {
        Ok(self
            .store
            .open_sessions(&caller.user.id, self.clock.now_ms())
            .await?)
    }

    /// Ends one of `caller`'s sessions, named by `session_id` as the client sent it.
    pub(crate) async fn revoke_session(
        &self,
        caller: CurrentCaller,
        session_id: &str,
    ) -> Result<(), AuthError> {
        // An id that is no UUID names no session, the caller's or anyone's.
        let id = SessionId::parse(session_id).ok_or(AuthError::SessionNotFound)?;
        let ended = self
            .store
            .end_sessions(&caller.user.id, Ending::One(&id), self.clock.now_ms())
            .await?;
        if ended == 0 {
            return Err(AuthError::SessionNotFound);
        }
        self.revocations.revoked_here();
        Ok(())
    }

    /// Replaces `caller`'s password, given the current one, and ends every other
    /// session: how many ended.
    pub(crate) async fn change_password(
        &self,
        caller: CurrentCaller,
        address: &str,
        current_password: &str,
        new_password: &str,
    ) -> Result<u64, AuthError> {
        // The new password is checked first: breaking the rules costs no guess.
        let new_password = Password::parse(new_password).map_err(|violation| {
            AuthError::from(FieldViolation::new("new_password", violation.description))
        })?;
        // A wrong current password is a guess at the account, counted as a login's is.
        // An account without one (signed up with a passkey) sets its first password
        // on a recent sign-in instead, as any factor change does.
        if caller.user.password_hash.is_some() {
            self.prove_password(&caller.user, address, current_password)
                .await?;
        } else {
            self.require_recent_sign_in(&caller, address, current_password)
                .await?;
        }
        let hash = self.passwords.hash(new_password).await?;
        let ended = self
            .store
            .change_password(
                &caller.user.id,
                &hash,
                Some(&caller.session_id),
                self.clock.now_ms(),
            )
            .await?
            .ok_or(AuthError::InactiveUser)?;
        if ended > 0 {
            self.revocations.revoked_here();
        }
        tracing::debug!(user_id = %caller.user.id, ended, "password changed");
        Ok(ended)
    }
}
