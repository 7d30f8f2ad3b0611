//! The session RPCs of `auth.v1.AuthService`: opening a session at login, refreshing
//! its token, logging out, listing and revoking sessions, and changing the password.

use bookshelf_proto::auth::v1::{
    ChangePasswordRequest, ChangePasswordResponse, ListSessionsResponse, RefreshTokenRequest,
    RefreshTokenResponse, Session,
};
use bookshelf_runtime::{
    client_address::{client_address, client_user_agent},
    clock::timestamp,
    errors::FieldViolation,
};
use tonic::Request;

use crate::{
    api::AuthApi,
    domain::{Password, RefreshToken, SessionId},
    error::AuthError,
    sessions::{ClientSeen, Ending, Expiries, Rotation, SessionRecord},
    signing::IssuedToken,
    store::UserRecord,
};

/// What a login or a refresh hands its client.
pub(crate) struct Grant {
    /// The session the tokens belong to.
    pub session_id: String,
    /// The signed access token.
    pub token: IssuedToken,
    /// The refresh token, shown to its client once and stored only as a digest.
    pub refresh_token: RefreshToken,
    /// When the refresh token expires, ms since the epoch.
    pub refresh_expires_at: i64,
}

/// The caller an RPC acts for: its active account, its open session, and when it last
/// proved a factor (its token's `auth_time`, seconds since the epoch).
pub(crate) struct CurrentCaller {
    pub user: UserRecord,
    pub session_id: String,
    pub auth_time: u64,
}

fn session_message(session: SessionRecord, current: &str) -> Session {
    Session {
        current: current == session.id,
        id: session.id,
        created_at: Some(timestamp(session.created_at)),
        last_used_at: Some(timestamp(session.last_used_at)),
        client_address: session.client.address.unwrap_or_default(),
        user_agent: session.client.user_agent.unwrap_or_default(),
        expires_at: Some(timestamp(session.expires_at)),
    }
}

impl AuthApi {
    /// Where `request` comes from, as its session records it.
    pub(crate) fn client_seen<T>(&self, request: &Request<T>) -> ClientSeen {
        ClientSeen {
            address: client_address(request, &self.trusted_forwarders)
                .map(|address| address.to_string()),
            user_agent: client_user_agent(request, &self.trusted_forwarders),
        }
    }

    fn grant(
        &self,
        user_id: &str,
        session_id: String,
        authenticated_at_ms: i64,
        refresh_token: RefreshToken,
        expiries: Expiries,
    ) -> Result<Grant, AuthError> {
        let token = self.keys.issue(
            user_id,
            &session_id,
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
        user_id: &str,
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
        self.grant(
            user_id,
            id.as_str().to_owned(),
            now,
            refresh_token,
            expiries,
        )
        .map(Some)
    }

    pub(crate) async fn refresh_token(
        &self,
        request: Request<RefreshTokenRequest>,
    ) -> Result<RefreshTokenResponse, AuthError> {
        let address = self.client_key(&request);
        let client = self.client_seen(&request);
        let presented = RefreshToken::presented(&request.get_ref().refresh_token);
        // Counted before the token is looked at, so concurrent failures cannot all
        // pass one check; a success gives its attempt back.
        let attempt = self.throttle.refresh(&address).await?;
        let presented = presented.ok_or(AuthError::InvalidRefreshToken)?;
        let replacement = RefreshToken::generate();
        let now = self.clock.now_ms();
        let rotation = self
            .store
            .rotate_refresh_token(
                &presented.digest(),
                &replacement.digest(),
                &client,
                now,
                self.lifetimes,
            )
            .await?;
        match rotation {
            Rotation::Rotated {
                session_id,
                user_id,
                expiries,
                authenticated_at,
            } => {
                self.throttle.succeeded(attempt).await?;
                tracing::Span::current().record("user_id", user_id.as_str());
                let grant = self.grant(
                    &user_id,
                    session_id,
                    authenticated_at,
                    replacement,
                    expiries,
                )?;
                Ok(RefreshTokenResponse {
                    token: grant.token.token,
                    expires_at: Some(timestamp(grant.token.expires_at as i64 * 1000)),
                    refresh_token: grant.refresh_token.expose().to_owned(),
                    refresh_expires_at: Some(timestamp(grant.refresh_expires_at)),
                })
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

    pub(crate) async fn logout(&self, caller: CurrentCaller) -> Result<(), AuthError> {
        let ended = self
            .store
            .end_sessions(
                &caller.user.id,
                Ending::One(&caller.session_id),
                self.clock.now_ms(),
            )
            .await?;
        if ended == 0 {
            return Err(AuthError::InactiveUser);
        }
        self.revocations.revoked_here();
        Ok(())
    }

    pub(crate) async fn list_sessions(
        &self,
        caller: CurrentCaller,
    ) -> Result<ListSessionsResponse, AuthError> {
        let sessions = self
            .store
            .open_sessions(&caller.user.id, self.clock.now_ms())
            .await?;
        Ok(ListSessionsResponse {
            sessions: sessions
                .into_iter()
                .map(|session| session_message(session, &caller.session_id))
                .collect(),
        })
    }

    pub(crate) async fn revoke_session(
        &self,
        caller: CurrentCaller,
        session_id: &str,
    ) -> Result<(), AuthError> {
        // An id that is no UUID names no session, the caller's or anyone's.
        let id = SessionId::parse(session_id).ok_or(AuthError::SessionNotFound)?;
        let ended = self
            .store
            .end_sessions(
                &caller.user.id,
                Ending::One(id.as_str()),
                self.clock.now_ms(),
            )
            .await?;
        if ended == 0 {
            return Err(AuthError::SessionNotFound);
        }
        self.revocations.revoked_here();
        Ok(())
    }

    pub(crate) async fn change_password(
        &self,
        caller: CurrentCaller,
        address: &str,
        request: ChangePasswordRequest,
    ) -> Result<ChangePasswordResponse, AuthError> {
        // The new password is checked first: breaking the rules costs no guess.
        let new_password = Password::parse(&request.new_password).map_err(|violation| {
            AuthError::from(FieldViolation::new("new_password", violation.description))
        })?;
        // A wrong current password is a guess at the account, counted as a login's is.
        self.prove_password(&caller.user, address, &request.current_password)
            .await?;
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
        Ok(ChangePasswordResponse {
            ended_sessions: i32::try_from(ended).unwrap_or(i32::MAX),
        })
    }
}
