//! `auth.v1.AuthService`: the gRPC edge, where requests become domain values.

use std::{pin::Pin, sync::Arc};

use bookshelf_proto::auth::v1::{
    BacklogEnd, ChangePasswordRequest, ChangePasswordResponse, ConfirmTotpRequest,
    ConfirmTotpResponse, DisableCurrentUserRequest, DisableCurrentUserResponse, DisableTotpRequest,
    DisableTotpResponse, EnrollTotpRequest, EnrollTotpResponse, GetCurrentUserRequest,
    GetCurrentUserResponse, GetSigningKeysRequest, GetSigningKeysResponse, Heartbeat,
    ListSessionsRequest, ListSessionsResponse, LoginMfaRequest, LoginMfaResponse, LoginRequest,
    LoginResponse, LogoutRequest, LogoutResponse, RefreshTokenRequest, RefreshTokenResponse,
    RegisterRequest, RegisterResponse, RevokeSessionRequest, RevokeSessionResponse,
    UpdateCurrentUserRequest, UpdateCurrentUserResponse, User, VerifyTokenRequest,
    VerifyTokenResponse, WatchRevocationsRequest, WatchRevocationsResponse,
    auth_service_server::AuthService, watch_revocations_response::Marker,
};
use bookshelf_runtime::{
    client_address::{client_address, limit_key},
    clock::{Clock, timestamp},
    workers::WorkError,
};
use bookshelf_tokens::{Verifier, claims::LEEWAY_SECS, interceptor::caller};
use futures::{Stream, StreamExt};
use ipnet::IpNet;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_stream::wrappers::BroadcastStream;
use tonic::{Request, Response, Status};

use crate::{
    domain::{self, Email, Password, UserName},
    error::AuthError,
    keyring::KeyRing,
    passwords::{PasswordError, Passwords},
    revocations::{FeedEvent, RevocationFeed},
    sealing::SealingKey,
    session_api::CurrentCaller,
    sessions::{ClientSeen, Lifetimes},
    store::{Revocation, Store, UserRecord},
    throttle::{self, Attempt, Throttle},
};

/// The state every RPC shares.
pub struct AuthApi {
    pub(crate) store: Store,
    pub(crate) passwords: Passwords,
    /// The key set: the key that signs, and those that verify.
    pub(crate) keys: KeyRing,
    /// Seals TOTP secrets at rest.
    pub(crate) sealing: Arc<SealingKey>,
    /// How long a login's `mfa_token` waits for its code.
    pub(crate) mfa_token_ttl_ms: i64,
    /// How long a proven factor lets a session change factors or disable its account.
    pub(crate) recent_sign_in_secs: u64,
    pub(crate) verifier: Verifier,
    pub(crate) throttle: Throttle,
    /// The time tokens are issued at and accounts created and disabled at.
    pub(crate) clock: Clock,
    /// Logins and registrations in progress (counting, hashing or waiting for either):
    /// as many as the hashing threads plus the queue depth. Past that a flood is
    /// refused at once, whether the database or the hashing is what holds it up.
    pub(crate) admissions: Arc<Semaphore>,
    /// The gateways whose forwarded client address is believed.
    pub(crate) trusted_forwarders: Vec<IpNet>,
    pub(crate) revocations: RevocationFeed,
    /// Token lifetime: how long a disable's revocation lasts at the least, and how far
    /// back a new subscriber's backlog goes for disables recorded without an expiry.
    pub(crate) token_ttl_ms: i64,
    /// How long tokens, refresh tokens and sessions last.
    pub(crate) lifetimes: Lifetimes,
    /// Becomes true when the server starts shutting down: endless revocation streams
    /// then end, so the server can drain and exit.
    pub(crate) shutting_down: watch::Receiver<bool>,
}

fn user_message(user: &UserRecord) -> User {
    User {
        id: user.id.clone(),
        name: user.name.clone(),
        email: user.email.clone(),
        active: user.is_active(),
        created_at: Some(timestamp(user.created_at)),
    }
}

/// A revocation as the feed sends it. An ended session or a revoked key leaves
/// `user_id` empty, so a follower that predates them, reading only `user_id`, revokes
/// no account for it.
fn revocation_message(revocation: Revocation) -> WatchRevocationsResponse {
    let (user_id, session_id) = match revocation.session_id {
        Some(session_id) => (String::new(), session_id),
        None if revocation.key_id.is_some() => (String::new(), String::new()),
        None => (revocation.user_id, String::new()),
    };
    WatchRevocationsResponse {
        user_id,
        revoked_at: Some(timestamp(revocation.revoked_at)),
        sequence: revocation.sequence,
        marker: None,
        session_id,
        tokens_expire_at: revocation.tokens_expire_at.map(timestamp),
        revoked_key_id: revocation.key_id.unwrap_or_default(),
    }
}

fn marker_message(marker: Marker) -> WatchRevocationsResponse {
    WatchRevocationsResponse {
        marker: Some(marker),
        ..Default::default()
    }
}

/// What a login that passed every factor answers, whichever RPC completed it.
pub(crate) struct CompletedLogin {
    /// The signed token.
    pub token: String,
    /// When it expires.
    pub expires_at: Option<prost_types::Timestamp>,
    /// The account it speaks for.
    pub user: Option<User>,
    /// The opaque secret that `RefreshToken` exchanges for new tokens, once.
    pub refresh_token: String,
    /// The session the login opened.
    pub session_id: String,
    /// When the refresh token stops being accepted.
    pub refresh_expires_at: Option<prost_types::Timestamp>,
}

impl From<CompletedLogin> for LoginResponse {
    fn from(completed: CompletedLogin) -> Self {
        Self {
            token: completed.token,
            expires_at: completed.expires_at,
            user: completed.user,
            refresh_token: completed.refresh_token,
            session_id: completed.session_id,
            refresh_expires_at: completed.refresh_expires_at,
            ..Default::default()
        }
    }
}

impl From<CompletedLogin> for LoginMfaResponse {
    fn from(completed: CompletedLogin) -> Self {
        Self {
            token: completed.token,
            expires_at: completed.expires_at,
            user: completed.user,
            refresh_token: completed.refresh_token,
            session_id: completed.session_id,
            refresh_expires_at: completed.refresh_expires_at,
        }
    }
}

type RevocationStream =
    Pin<Box<dyn Stream<Item = Result<WatchRevocationsResponse, Status>> + Send + 'static>>;

impl AuthApi {
    /// The active user a request's token speaks for, and its session, which must be
    /// open: this service reads both from its database rather than from a feed.
    async fn current<T>(&self, request: &Request<T>) -> Result<CurrentCaller, Status> {
        let caller = caller(request)?;
        self.check_token_owner(&caller.user_id, &caller.session_id)
            .await
            .map(|user| CurrentCaller {
                user,
                session_id: caller.session_id,
                auth_time: caller.auth_time,
            })
            .map_err(Status::from)
    }

    /// The active user a request's token speaks for.
    async fn current_user<T>(&self, request: &Request<T>) -> Result<UserRecord, Status> {
        Ok(self.current(request).await?.user)
    }

    /// The account of a token's `sub`, if it is active and the token's session is open.
    async fn check_token_owner(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> Result<UserRecord, AuthError> {
        // Both reads at once: on PostgreSQL they share one round trip.
        match tokio::try_join!(
            self.store.user_by_id(user_id),
            self.store.session_is_open(session_id, user_id)
        )? {
            (Some(user), true) if user.is_active() => Ok(user),
            _ => Err(AuthError::InactiveUser),
        }
    }

    /// The key the client of `request` is limited under: its forwarded address when
    /// a trusted gateway sent it, else the peer's.
    pub(crate) fn client_key<T>(&self, request: &Request<T>) -> String {
        client_address(request, &self.trusted_forwarders)
            .map_or_else(|| "unknown".to_owned(), limit_key)
    }

    /// A place among the logins and registrations in progress, or, when they are all
    /// taken, a refusal at once, before anything is counted or queued.
    pub(crate) fn admit(&self) -> Result<OwnedSemaphorePermit, AuthError> {
        self.admissions
            .clone()
            .try_acquire_owned()
            .map_err(|_| PasswordError::from(WorkError::Busy).into())
    }

    /// Whether `offered` is the password hashed in `stored` (checked against a dummy
    /// hash when there is none, in the same time), for an `attempt` counted already,
    /// which comes back for the caller to settle. A hash that could not even be queued
    /// evaluated no guess: its attempt is given back and the caller told to retry.
    pub(crate) async fn verify_counted(
        &self,
        offered: &str,
        stored: Option<String>,
        attempt: Attempt,
    ) -> Result<(bool, Attempt), AuthError> {
        let Some(offered) = Password::offered(offered) else {
            return Ok((false, attempt));
        };
        match self.passwords.verify(offered, stored).await {
            Ok(matches) => Ok((matches, attempt)),
            Err(busy @ PasswordError::Busy { .. }) => {
                self.throttle.not_made(attempt).await?;
                Err(busy.into())
            }
            Err(error) => Err(error.into()),
        }
    }

    async fn login(&self, request: Request<LoginRequest>) -> Result<LoginResponse, AuthError> {
        let address = self.client_key(&request);
        let client = self.client_seen(&request);
        let request = request.into_inner();
        // An unparsable email or an overlong password cannot match any account; they are
        // answered like any wrong credentials, after the same work.
        let email = Email::parse(&request.email).ok();
        let throttle_key = throttle::key(&request.email, email.as_ref());
        let _admitted = self.admit()?;
        // Counted before the hash, so concurrent guesses cannot all pass one check.
        let attempt = self.throttle.login(&throttle_key, &address).await?;
        let user = match &email {
            Some(email) => self.store.user_by_email(email).await?,
            None => None,
        };
        let stored_hash = user.as_ref().map(|user| user.password_hash.clone());
        let (matches, attempt) = self
            .verify_counted(&request.password, stored_hash, attempt)
            .await?;
        let user = match user {
            Some(user) if matches && user.is_active() => user,
            // The attempt stays counted.
            _ => return Err(AuthError::InvalidCredentials),
        };
        self.throttle.succeeded(attempt).await?;
        if let Some(second_step) = self.await_second_factor(&user).await? {
            return Ok(second_step);
        }
        // Credentials changed while the password was checked: the old one no longer
        // opens a session, and the answer is a wrong password's.
        self.complete_login(&user, user.credential_version, &client)
            .await?
            .map(LoginResponse::from)
            .ok_or(AuthError::InvalidCredentials)
    }

    /// A login that has passed every factor (a password, and a code where the account
    /// has a second factor), checked against `credential_version`: the one place such
    /// a login opens its session and is granted its tokens, for `Login` and `LoginMfa`
    /// alike. `None` when the account's credentials changed since the check.
    pub(crate) async fn complete_login(
        &self,
        user: &UserRecord,
        credential_version: i64,
        client: &ClientSeen,
    ) -> Result<Option<CompletedLogin>, AuthError> {
        let Some(grant) = self
            .open_session(&user.id, credential_version, client)
            .await?
        else {
            return Ok(None);
        };
        // The access line names the user; nothing else is logged per request.
        tracing::Span::current().record("user_id", user.id.as_str());
        Ok(Some(CompletedLogin {
            token: grant.token.token,
            expires_at: Some(timestamp(grant.token.expires_at as i64 * 1000)),
            user: Some(user_message(user)),
            refresh_token: grant.refresh_token.expose().to_owned(),
            session_id: grant.session_id,
            refresh_expires_at: Some(timestamp(grant.refresh_expires_at)),
        }))
    }

    async fn register(
        &self,
        request: Request<RegisterRequest>,
    ) -> Result<RegisterResponse, AuthError> {
        let address = self.client_key(&request);
        let request = request.into_inner();
        let (name, email, password) = domain::collect(
            UserName::parse(&request.name),
            Email::parse(&request.email),
            Password::parse(&request.password),
        )
        .map_err(AuthError::InvalidArgument)?;
        let _admitted = self.admit()?;
        // A registration counts against its client's allowance whatever its outcome:
        // a taken email (409) tells whether an address has an account.
        let attempt = self.throttle.register(&address).await?;
        let hash = match self.passwords.hash(password).await {
            Ok(hash) => hash,
            Err(busy @ PasswordError::Busy { .. }) => {
                self.throttle.not_made(attempt).await?;
                return Err(busy.into());
            }
            Err(error) => return Err(error.into()),
        };
        drop(attempt);
        let id = uuid::Uuid::new_v4().to_string();
        let user = self
            .store
            .insert_user(&id, &name, &email, &hash, self.clock.now_ms())
            .await?;
        // The access line names the user; nothing else is logged per request.
        tracing::Span::current().record("user_id", user.id.as_str());
        Ok(RegisterResponse {
            user: Some(user_message(&user)),
        })
    }
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    async fn register(
        &self,
        request: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        Ok(Response::new(self.register(request).await?))
    }

    async fn login(
        &self,
        request: Request<LoginRequest>,
    ) -> Result<Response<LoginResponse>, Status> {
        Ok(Response::new(self.login(request).await?))
    }

    async fn get_current_user(
        &self,
        request: Request<GetCurrentUserRequest>,
    ) -> Result<Response<GetCurrentUserResponse>, Status> {
        let user = self.current_user(&request).await?;
        Ok(Response::new(GetCurrentUserResponse {
            user: Some(user_message(&user)),
        }))
    }

    async fn update_current_user(
        &self,
        request: Request<UpdateCurrentUserRequest>,
    ) -> Result<Response<UpdateCurrentUserResponse>, Status> {
        let user = self.current_user(&request).await?;
        let name = UserName::parse(&request.get_ref().name).map_err(AuthError::from)?;
        let updated = self
            .store
            .rename(&user.id, &name)
            .await
            .map_err(AuthError::from)?
            .ok_or(AuthError::InactiveUser)?;
        Ok(Response::new(UpdateCurrentUserResponse {
            user: Some(user_message(&updated)),
        }))
    }

    async fn disable_current_user(
        &self,
        request: Request<DisableCurrentUserRequest>,
    ) -> Result<Response<DisableCurrentUserResponse>, Status> {
        let caller = self.current(&request).await?;
        let address = self.client_key(&request);
        self.require_recent_sign_in(&caller, &address, &request.get_ref().current_password)
            .await?;
        let user = caller.user;
        if !self
            .store
            .disable(&user.id, self.clock.now_ms(), self.token_ttl_ms)
            .await
            .map_err(AuthError::from)?
        {
            return Err(AuthError::InactiveUser.into());
        }
        self.revocations.revoked_here();
        tracing::debug!(user_id = %user.id, "account disabled");
        Ok(Response::new(DisableCurrentUserResponse {}))
    }

    async fn verify_token(
        &self,
        request: Request<VerifyTokenRequest>,
    ) -> Result<Response<VerifyTokenResponse>, Status> {
        let claims = self.verifier.verify(&request.get_ref().token)?;
        let user = self.check_token_owner(&claims.sub, &claims.sid).await?;
        Ok(Response::new(VerifyTokenResponse {
            user_id: user.id,
            active: true,
            expires_at: Some(timestamp(claims.exp as i64 * 1000)),
        }))
    }

    async fn get_signing_keys(
        &self,
        _request: Request<GetSigningKeysRequest>,
    ) -> Result<Response<GetSigningKeysResponse>, Status> {
        Ok(Response::new(GetSigningKeysResponse {
            keys: self
                .keys
                .published()
                .iter()
                .map(|key| key.to_signing_key())
                .collect(),
        }))
    }

    async fn enroll_totp(
        &self,
        request: Request<EnrollTotpRequest>,
    ) -> Result<Response<EnrollTotpResponse>, Status> {
        let caller = self.current(&request).await?;
        let address = self.client_key(&request);
        self.require_recent_sign_in(&caller, &address, &request.get_ref().current_password)
            .await?;
        Ok(Response::new(self.enroll_totp(&caller.user).await?))
    }

    async fn confirm_totp(
        &self,
        request: Request<ConfirmTotpRequest>,
    ) -> Result<Response<ConfirmTotpResponse>, Status> {
        let caller = self.current(&request).await?;
        let address = self.client_key(&request);
        let request = request.into_inner();
        self.require_recent_sign_in(&caller, &address, &request.current_password)
            .await?;
        Ok(Response::new(
            self.confirm_totp(&caller.user, &request.code).await?,
        ))
    }

    async fn disable_totp(
        &self,
        request: Request<DisableTotpRequest>,
    ) -> Result<Response<DisableTotpResponse>, Status> {
        let caller = self.current(&request).await?;
        let address = self.client_key(&request);
        let request = request.into_inner();
        self.require_recent_sign_in(&caller, &address, &request.current_password)
            .await?;
        Ok(Response::new(
            self.disable_totp(&caller.user, &request.code).await?,
        ))
    }

    async fn login_mfa(
        &self,
        request: Request<LoginMfaRequest>,
    ) -> Result<Response<LoginMfaResponse>, Status> {
        Ok(Response::new(self.login_mfa(request).await?))
    }

    type WatchRevocationsStream = RevocationStream;

    async fn watch_revocations(
        &self,
        request: Request<WatchRevocationsRequest>,
    ) -> Result<Response<Self::WatchRevocationsStream>, Status> {
        // Subscribe before reading the backlog, so nothing falls between the two.
        let live = self.revocations.subscribe();
        let after = request.get_ref().after_sequence;
        let backlog = if after > 0 {
            self.store.revocations_after(after).await
        } else {
            self.store
                .live_revocations(
                    self.clock.now_ms(),
                    self.token_ttl_ms,
                    LEEWAY_SECS as i64 * 1000,
                )
                .await
        }
        .map_err(AuthError::from)?;
        // What the backlog holds is not sent again when the poller publishes it.
        let sent = backlog.last().map_or(after, |last| last.sequence);
        let backlog = futures::stream::iter(
            backlog
                .into_iter()
                .map(|r| Ok(revocation_message(r)))
                .chain([Ok(marker_message(Marker::BacklogEnd(BacklogEnd {})))]),
        );
        // A subscriber too slow to keep up has missed revocations: end its stream with
        // an error so it reconnects and reads the backlog again.
        let live = BroadcastStream::new(live).filter_map(move |item| {
            futures::future::ready(match item {
                Ok(FeedEvent::Revoked(revocation)) if revocation.sequence > sent => {
                    Some(Ok(revocation_message(revocation)))
                }
                Ok(FeedEvent::Revoked(_)) => None,
                Ok(FeedEvent::Heartbeat) => {
                    Some(Ok(marker_message(Marker::Heartbeat(Heartbeat {}))))
                }
                Err(_lagged) => Some(Err(Status::unavailable(
                    "revocation feed overrun; reconnect",
                ))),
            })
        });
        let mut shutting_down = self.shutting_down.clone();
        let stop = async move {
            let _ = shutting_down.wait_for(|&stopping| stopping).await;
        };
        Ok(Response::new(Box::pin(
            backlog.chain(live).take_until(stop),
        )))
    }

    async fn refresh_token(
        &self,
        request: Request<RefreshTokenRequest>,
    ) -> Result<Response<RefreshTokenResponse>, Status> {
        Ok(Response::new(self.refresh_token(request).await?))
    }

    async fn logout(
        &self,
        request: Request<LogoutRequest>,
    ) -> Result<Response<LogoutResponse>, Status> {
        let caller = self.current(&request).await?;
        self.logout(caller).await?;
        Ok(Response::new(LogoutResponse {}))
    }

    async fn list_sessions(
        &self,
        request: Request<ListSessionsRequest>,
    ) -> Result<Response<ListSessionsResponse>, Status> {
        let caller = self.current(&request).await?;
        Ok(Response::new(self.list_sessions(caller).await?))
    }

    async fn revoke_session(
        &self,
        request: Request<RevokeSessionRequest>,
    ) -> Result<Response<RevokeSessionResponse>, Status> {
        let caller = self.current(&request).await?;
        self.revoke_session(caller, &request.get_ref().session_id)
            .await?;
        Ok(Response::new(RevokeSessionResponse {}))
    }

    async fn change_password(
        &self,
        request: Request<ChangePasswordRequest>,
    ) -> Result<Response<ChangePasswordResponse>, Status> {
        let caller = self.current(&request).await?;
        let address = self.client_key(&request);
        let response = self
            .change_password(caller, &address, request.into_inner())
            .await?;
        Ok(Response::new(response))
    }
}
