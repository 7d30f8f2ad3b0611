//! `auth.v1.AuthService`: the gRPC edge, where requests become domain values, the
//! service does the work, and its answers become messages again.
//!
//! The one `AuthService` implementation is here, on [`AuthApi`] ([`api`]: what a call
//! reads from its request besides the message); each group's conversions between
//! messages and domain values are in its own file: [`accounts`], [`sessions`],
//! [`second_factor`], [`passkeys`], [`keys`], [`revocation_feed`], [`clients`].
//! Errors become statuses through the one mapping in [`crate::error`].

use bookshelf_proto::auth::v1::{
    ChangePasswordRequest, ChangePasswordResponse, ConfirmTotpRequest, ConfirmTotpResponse,
    DeletePasskeyRequest, DeletePasskeyResponse, DisableCurrentUserRequest,
    DisableCurrentUserResponse, DisableTotpRequest, DisableTotpResponse, DisableUserRequest,
    DisableUserResponse, EnrollTotpRequest, EnrollTotpResponse, FinishPasskeyLoginRequest,
    FinishPasskeyLoginResponse, FinishPasskeyRegistrationRequest,
    FinishPasskeyRegistrationResponse, FinishPasskeySignUpRequest, FinishPasskeySignUpResponse,
    GetCurrentUserRequest, GetCurrentUserResponse, GetSigningKeysRequest, GetSigningKeysResponse,
    GetUserRequest, GetUserResponse, IssueServiceTokenRequest, IssueServiceTokenResponse,
    ListPasskeysRequest, ListPasskeysResponse, ListSessionsRequest, ListSessionsResponse,
    LoginMfaRequest, LoginMfaResponse, LoginRequest, LoginResponse, LogoutRequest, LogoutResponse,
    RefreshTokenRequest, RefreshTokenResponse, RegisterRequest, RegisterResponse,
    RenamePasskeyRequest, RenamePasskeyResponse, RevokeSessionRequest, RevokeSessionResponse,
    StartPasskeyLoginRequest, StartPasskeyLoginResponse, StartPasskeyRegistrationRequest,
    StartPasskeyRegistrationResponse, StartPasskeySignUpRequest, StartPasskeySignUpResponse,
    UpdateCurrentUserRequest, UpdateCurrentUserResponse, VerifyTokenRequest, VerifyTokenResponse,
    WatchRevocationsRequest, auth_service_server::AuthService,
};
use bookshelf_runtime::{clock::timestamp, peer::peer_certificate};
use bookshelf_tokens::interceptor::{caller, service_caller};
use tonic::{Request, Response, Status};

pub(crate) use self::api::AuthApi;
use crate::{
    domain::{SessionId, UserId, UserName, clients::Scope},
    error::AuthError,
};

mod accounts;
mod api;
mod clients;
mod keys;
mod passkeys;
mod revocation_feed;
mod second_factor;
mod sessions;

#[tonic::async_trait]
impl AuthService for AuthApi {
    async fn register(
        &self,
        request: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        let address = self.client_key(&request);
        let (name, email, password) = accounts::new_account(request.get_ref())?;
        let user = self.auth.register(&address, name, email, password).await?;
        Ok(Response::new(RegisterResponse {
            user: Some(accounts::user_message(&user)),
        }))
    }

    async fn login(
        &self,
        request: Request<LoginRequest>,
    ) -> Result<Response<LoginResponse>, Status> {
        let address = self.client_key(&request);
        let client = self.client_seen(&request);
        let request = request.into_inner();
        let outcome = self
            .auth
            .login(&request.email, &request.password, &address, &client)
            .await?;
        Ok(Response::new(outcome.into()))
    }

    async fn get_current_user(
        &self,
        request: Request<GetCurrentUserRequest>,
    ) -> Result<Response<GetCurrentUserResponse>, Status> {
        let caller = self.current(&request).await?;
        Ok(Response::new(GetCurrentUserResponse {
            user: Some(accounts::user_message(&caller.user)),
        }))
    }

    async fn update_current_user(
        &self,
        request: Request<UpdateCurrentUserRequest>,
    ) -> Result<Response<UpdateCurrentUserResponse>, Status> {
        let caller = self.current(&request).await?;
        let name = UserName::parse(&request.get_ref().name).map_err(AuthError::from)?;
        let updated = self.auth.rename(&caller, &name).await?;
        Ok(Response::new(UpdateCurrentUserResponse {
            user: Some(accounts::user_message(&updated)),
        }))
    }

    async fn disable_current_user(
        &self,
        request: Request<DisableCurrentUserRequest>,
    ) -> Result<Response<DisableCurrentUserResponse>, Status> {
        let caller = self.current(&request).await?;
        let address = self.client_key(&request);
        self.auth
            .disable(caller, &address, &request.get_ref().current_password)
            .await?;
        Ok(Response::new(DisableCurrentUserResponse {}))
    }

    async fn verify_token(
        &self,
        request: Request<VerifyTokenRequest>,
    ) -> Result<Response<VerifyTokenResponse>, Status> {
        let claims = self.verifier.verify(&request.get_ref().token)?;
        let user = self
            .auth
            .check_token_owner(&UserId::issued(claims.sub), &SessionId::issued(claims.sid))
            .await?;
        Ok(Response::new(VerifyTokenResponse {
            user_id: user.id.to_string(),
            active: true,
            expires_at: Some(timestamp(claims.exp as i64 * 1000)),
        }))
    }

    async fn get_signing_keys(
        &self,
        _request: Request<GetSigningKeysRequest>,
    ) -> Result<Response<GetSigningKeysResponse>, Status> {
        Ok(Response::new(keys::signing_keys_message(
            &self.auth.keys.published(),
        )))
    }

    async fn enroll_totp(
        &self,
        request: Request<EnrollTotpRequest>,
    ) -> Result<Response<EnrollTotpResponse>, Status> {
        let caller = self.current(&request).await?;
        let address = self.client_key(&request);
        let enrolment = self
            .auth
            .enroll_totp(&caller, &address, &request.get_ref().current_password)
            .await?;
        Ok(Response::new(enrolment.into()))
    }

    async fn confirm_totp(
        &self,
        request: Request<ConfirmTotpRequest>,
    ) -> Result<Response<ConfirmTotpResponse>, Status> {
        let caller = self.current(&request).await?;
        let address = self.client_key(&request);
        let request = request.into_inner();
        let codes = self
            .auth
            .confirm_totp(&caller, &address, &request.current_password, &request.code)
            .await?;
        Ok(Response::new(second_factor::recovery_codes_message(&codes)))
    }

    async fn disable_totp(
        &self,
        request: Request<DisableTotpRequest>,
    ) -> Result<Response<DisableTotpResponse>, Status> {
        let caller = self.current(&request).await?;
        let address = self.client_key(&request);
        let request = request.into_inner();
        self.auth
            .disable_totp(&caller, &address, &request.current_password, &request.code)
            .await?;
        Ok(Response::new(DisableTotpResponse {}))
    }

    async fn login_mfa(
        &self,
        request: Request<LoginMfaRequest>,
    ) -> Result<Response<LoginMfaResponse>, Status> {
        let client = self.client_seen(&request);
        let (token, proof) = second_factor::second_step(request.get_ref())?;
        let completed = self.auth.login_mfa(token, proof, &client).await?;
        Ok(Response::new(completed.into()))
    }

    async fn start_passkey_registration(
        &self,
        request: Request<StartPasskeyRegistrationRequest>,
    ) -> Result<Response<StartPasskeyRegistrationResponse>, Status> {
        self.start_registration(request).await.map(Response::new)
    }

    async fn finish_passkey_registration(
        &self,
        request: Request<FinishPasskeyRegistrationRequest>,
    ) -> Result<Response<FinishPasskeyRegistrationResponse>, Status> {
        self.finish_registration(request).await.map(Response::new)
    }

    async fn start_passkey_sign_up(
        &self,
        request: Request<StartPasskeySignUpRequest>,
    ) -> Result<Response<StartPasskeySignUpResponse>, Status> {
        self.start_sign_up(request).await.map(Response::new)
    }

    async fn finish_passkey_sign_up(
        &self,
        request: Request<FinishPasskeySignUpRequest>,
    ) -> Result<Response<FinishPasskeySignUpResponse>, Status> {
        self.finish_sign_up(request).await.map(Response::new)
    }

    async fn list_passkeys(
        &self,
        request: Request<ListPasskeysRequest>,
    ) -> Result<Response<ListPasskeysResponse>, Status> {
        self.list(request).await.map(Response::new)
    }

    async fn rename_passkey(
        &self,
        request: Request<RenamePasskeyRequest>,
    ) -> Result<Response<RenamePasskeyResponse>, Status> {
        self.rename(request).await.map(Response::new)
    }

    async fn delete_passkey(
        &self,
        request: Request<DeletePasskeyRequest>,
    ) -> Result<Response<DeletePasskeyResponse>, Status> {
        self.delete(request).await.map(Response::new)
    }

    async fn start_passkey_login(
        &self,
        request: Request<StartPasskeyLoginRequest>,
    ) -> Result<Response<StartPasskeyLoginResponse>, Status> {
        self.start_login(request).await.map(Response::new)
    }

    async fn finish_passkey_login(
        &self,
        request: Request<FinishPasskeyLoginRequest>,
    ) -> Result<Response<FinishPasskeyLoginResponse>, Status> {
        self.finish_login(request).await.map(Response::new)
    }

    type WatchRevocationsStream = revocation_feed::RevocationStream;

    async fn watch_revocations(
        &self,
        request: Request<WatchRevocationsRequest>,
    ) -> Result<Response<Self::WatchRevocationsStream>, Status> {
        if !self.verifiers.admit(&request) {
            return Err(AuthError::NotAllowed.into());
        }
        // Subscribe before reading the backlog, so nothing falls between the two.
        let live = self.auth.revocations.subscribe();
        let after = request.get_ref().after_sequence;
        let backlog = self.auth.revocation_backlog(after).await?;
        Ok(Response::new(revocation_feed::stream(
            backlog,
            after,
            live,
            self.shutting_down.clone(),
        )))
    }

    async fn refresh_token(
        &self,
        request: Request<RefreshTokenRequest>,
    ) -> Result<Response<RefreshTokenResponse>, Status> {
        let address = self.client_key(&request);
        let client = self.client_seen(&request);
        let grant = self
            .auth
            .refresh(&request.get_ref().refresh_token, &address, &client)
            .await?;
        Ok(Response::new(grant.into()))
    }

    async fn logout(
        &self,
        request: Request<LogoutRequest>,
    ) -> Result<Response<LogoutResponse>, Status> {
        // No read of the account first: the session's end is the check (see
        // `Auth::logout`).
        let caller = caller(&request)?;
        self.auth
            .logout(
                &UserId::issued(caller.user_id),
                &SessionId::issued(caller.session_id),
            )
            .await?;
        Ok(Response::new(LogoutResponse {}))
    }

    async fn list_sessions(
        &self,
        request: Request<ListSessionsRequest>,
    ) -> Result<Response<ListSessionsResponse>, Status> {
        let caller = self.current(&request).await?;
        let sessions = self.auth.list_sessions(&caller).await?;
        Ok(Response::new(ListSessionsResponse {
            sessions: sessions
                .into_iter()
                .map(|session| sessions::session_message(session, &caller.session_id))
                .collect(),
        }))
    }

    async fn revoke_session(
        &self,
        request: Request<RevokeSessionRequest>,
    ) -> Result<Response<RevokeSessionResponse>, Status> {
        let caller = self.current(&request).await?;
        self.auth
            .revoke_session(caller, &request.get_ref().session_id)
            .await?;
        Ok(Response::new(RevokeSessionResponse {}))
    }

    async fn change_password(
        &self,
        request: Request<ChangePasswordRequest>,
    ) -> Result<Response<ChangePasswordResponse>, Status> {
        let caller = self.current(&request).await?;
        let address = self.client_key(&request);
        let request = request.into_inner();
        let ended = self
            .auth
            .change_password(
                caller,
                &address,
                &request.current_password,
                &request.new_password,
            )
            .await?;
        Ok(Response::new(ChangePasswordResponse {
            ended_sessions: i32::try_from(ended).unwrap_or(i32::MAX),
        }))
    }

    async fn issue_service_token(
        &self,
        request: Request<IssueServiceTokenRequest>,
    ) -> Result<Response<IssueServiceTokenResponse>, Status> {
        let peer = peer_certificate(&request).map(|certificate| certificate.sha256);
        let grant = self
            .auth
            .grant_service_token(clients::token_request(request.get_ref()), peer.as_ref())
            .await?;
        Ok(Response::new(grant.into()))
    }

    async fn get_user(
        &self,
        request: Request<GetUserRequest>,
    ) -> Result<Response<GetUserResponse>, Status> {
        service_caller(&request, Scope::UsersRead.as_str())?;
        let id = clients::named_user(&request.get_ref().user_id).ok_or(AuthError::UserNotFound)?;
        let user = self.auth.user(&id).await?;
        Ok(Response::new(GetUserResponse {
            user: Some(accounts::user_message(&user)),
        }))
    }

    async fn disable_user(
        &self,
        request: Request<DisableUserRequest>,
    ) -> Result<Response<DisableUserResponse>, Status> {
        service_caller(&request, Scope::UsersDisable.as_str())?;
        let id = clients::named_user(&request.get_ref().user_id).ok_or(AuthError::UserNotFound)?;
        self.auth.disable_user(&id).await?;
        Ok(Response::new(DisableUserResponse {}))
    }
}
