//! A stand-in auth service whose revocation feed the test writes message by message,
//! for what the real one never does on cue: hold back the end of a backlog, or keep a
//! stream open and fall silent.

use std::{net::SocketAddr, time::Duration};

use bookshelf_proto::auth::v1::{
    BacklogEnd, ChangePasswordRequest, ChangePasswordResponse, ConfirmTotpRequest,
    ConfirmTotpResponse, DisableCurrentUserRequest, DisableCurrentUserResponse, DisableTotpRequest,
    DisableTotpResponse, DisableUserRequest, DisableUserResponse, EnrollTotpRequest,
    EnrollTotpResponse, GetCurrentUserRequest, GetCurrentUserResponse, GetSigningKeysRequest,
    GetSigningKeysResponse, GetUserRequest, GetUserResponse, Heartbeat, IssueServiceTokenRequest,
    IssueServiceTokenResponse, ListSessionsRequest, ListSessionsResponse, LoginMfaRequest,
    LoginMfaResponse, LoginRequest, LoginResponse, LogoutRequest, LogoutResponse,
    RefreshTokenRequest, RefreshTokenResponse, RegisterRequest, RegisterResponse,
    RevokeSessionRequest, RevokeSessionResponse, UpdateCurrentUserRequest,
    UpdateCurrentUserResponse, VerifyTokenRequest, VerifyTokenResponse, WatchRevocationsRequest,
    WatchRevocationsResponse,
    auth_service_server::{AuthService, AuthServiceServer},
    watch_revocations_response::Marker,
};
use tokio::{net::TcpListener, sync::mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use bookshelf_runtime::{
    connections::{self, GrpcLimits},
    tls::InternalTls,
};

use crate::running::Running;

/// The fake's connections: generous, since the tests drive it, not attack it.
const LIMITS: GrpcLimits = GrpcLimits {
    max_connections: 1024,
    max_streams: 256,
    handshake_timeout: Duration::from_secs(10),
    keepalive_interval: Duration::from_secs(10),
    keepalive_timeout: Duration::from_secs(5),
    call_timeout: Duration::from_secs(3600),
};

type FeedSender = mpsc::Sender<Result<WatchRevocationsResponse, Status>>;

/// One `WatchRevocations` call the fake received, and the means to answer on it.
/// Dropping it ends the stream.
pub struct Subscription {
    /// Where the follower asked to resume.
    pub after_sequence: i64,
    sender: FeedSender,
}

impl Subscription {
    async fn send(&self, message: WatchRevocationsResponse) {
        self.sender
            .send(Ok(message))
            .await
            .expect("the follower is still subscribed");
    }

    /// Sends the revocation of `user_id`, numbered `sequence`.
    pub async fn revoke(&self, user_id: &str, sequence: i64) {
        self.send(WatchRevocationsResponse {
            user_id: user_id.to_owned(),
            revoked_at: Some(prost_types::Timestamp::default()),
            sequence,
            ..Default::default()
        })
        .await;
    }

    /// Sends the end of session `session_id`, numbered `sequence`, whose newest token
    /// expires at `tokens_expire_at` (seconds since the epoch).
    pub async fn end_session(&self, session_id: &str, tokens_expire_at: i64, sequence: i64) {
        self.send(WatchRevocationsResponse {
            session_id: session_id.to_owned(),
            revoked_at: Some(prost_types::Timestamp::default()),
            tokens_expire_at: Some(prost_types::Timestamp {
                seconds: tokens_expire_at,
                nanos: 0,
            }),
            sequence,
            ..Default::default()
        })
        .await;
    }

    /// Sends the end-of-backlog marker.
    pub async fn end_backlog(&self) {
        self.send(WatchRevocationsResponse {
            marker: Some(Marker::BacklogEnd(BacklogEnd {})),
            ..Default::default()
        })
        .await;
    }

    /// Sends a heartbeat.
    pub async fn heartbeat(&self) {
        self.send(WatchRevocationsResponse {
            marker: Some(Marker::Heartbeat(Heartbeat {})),
            ..Default::default()
        })
        .await;
    }
}

/// The fake auth service, in-process on a free port. Dropping it stops the server.
pub struct FakeAuth {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Holds its TLS files.
    _tls: tempfile::TempDir,
    subscriptions: mpsc::UnboundedReceiver<Subscription>,
    _running: Running,
}

impl FakeAuth {
    /// Starts the fake on a free port, serving the auth service's test certificate.
    pub async fn spawn() -> Self {
        let tls_dir = tempfile::tempdir().expect("a temporary folder");
        let tls = InternalTls::start(crate::pki::shared().part_files(tls_dir.path(), "auth"))
            .expect("usable TLS files");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let (sender, subscriptions) = mpsc::unbounded_channel();
        let service = AuthServiceServer::new(FakeAuthApi {
            subscriptions: sender,
        });
        let running = Running::spawn(|shutdown| async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    connections::incoming(listener, LIMITS, Some(tls)),
                    shutdown,
                )
                .await
                .expect("the fake auth service runs");
        });
        Self {
            addr,
            _tls: tls_dir,
            subscriptions,
            _running: running,
        }
    }

    /// The `https://` URL of the fake.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The next `WatchRevocations` call, waiting up to `wait` for it.
    pub async fn next_subscription(&mut self, wait: Duration) -> Subscription {
        tokio::time::timeout(wait, self.subscriptions.recv())
            .await
            .expect("the follower subscribes in time")
            .expect("the fake is running")
    }
}

struct FakeAuthApi {
    subscriptions: mpsc::UnboundedSender<Subscription>,
}

#[tonic::async_trait]
impl AuthService for FakeAuthApi {
    async fn register(
        &self,
        _request: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn login(
        &self,
        _request: Request<LoginRequest>,
    ) -> Result<Response<LoginResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn get_current_user(
        &self,
        _request: Request<GetCurrentUserRequest>,
    ) -> Result<Response<GetCurrentUserResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn update_current_user(
        &self,
        _request: Request<UpdateCurrentUserRequest>,
    ) -> Result<Response<UpdateCurrentUserResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn disable_current_user(
        &self,
        _request: Request<DisableCurrentUserRequest>,
    ) -> Result<Response<DisableCurrentUserResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn verify_token(
        &self,
        _request: Request<VerifyTokenRequest>,
    ) -> Result<Response<VerifyTokenResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn get_signing_keys(
        &self,
        _request: Request<GetSigningKeysRequest>,
    ) -> Result<Response<GetSigningKeysResponse>, Status> {
        Ok(Response::new(GetSigningKeysResponse::default()))
    }

    async fn refresh_token(
        &self,
        _request: Request<RefreshTokenRequest>,
    ) -> Result<Response<RefreshTokenResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn logout(
        &self,
        _request: Request<LogoutRequest>,
    ) -> Result<Response<LogoutResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn list_sessions(
        &self,
        _request: Request<ListSessionsRequest>,
    ) -> Result<Response<ListSessionsResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn revoke_session(
        &self,
        _request: Request<RevokeSessionRequest>,
    ) -> Result<Response<RevokeSessionResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn change_password(
        &self,
        _request: Request<ChangePasswordRequest>,
    ) -> Result<Response<ChangePasswordResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn enroll_totp(
        &self,
        _request: Request<EnrollTotpRequest>,
    ) -> Result<Response<EnrollTotpResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn confirm_totp(
        &self,
        _request: Request<ConfirmTotpRequest>,
    ) -> Result<Response<ConfirmTotpResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn disable_totp(
        &self,
        _request: Request<DisableTotpRequest>,
    ) -> Result<Response<DisableTotpResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn login_mfa(
        &self,
        _request: Request<LoginMfaRequest>,
    ) -> Result<Response<LoginMfaResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn issue_service_token(
        &self,
        _request: Request<IssueServiceTokenRequest>,
    ) -> Result<Response<IssueServiceTokenResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn get_user(
        &self,
        _request: Request<GetUserRequest>,
    ) -> Result<Response<GetUserResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn disable_user(
        &self,
        _request: Request<DisableUserRequest>,
    ) -> Result<Response<DisableUserResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn start_passkey_registration(
        &self,
        _request: Request<bookshelf_proto::auth::v1::StartPasskeyRegistrationRequest>,
    ) -> Result<Response<bookshelf_proto::auth::v1::StartPasskeyRegistrationResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn finish_passkey_registration(
        &self,
        _request: Request<bookshelf_proto::auth::v1::FinishPasskeyRegistrationRequest>,
    ) -> Result<Response<bookshelf_proto::auth::v1::FinishPasskeyRegistrationResponse>, Status>
    {
        Err(Status::unimplemented("fake"))
    }

    async fn start_passkey_sign_up(
        &self,
        _request: Request<bookshelf_proto::auth::v1::StartPasskeySignUpRequest>,
    ) -> Result<Response<bookshelf_proto::auth::v1::StartPasskeySignUpResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn finish_passkey_sign_up(
        &self,
        _request: Request<bookshelf_proto::auth::v1::FinishPasskeySignUpRequest>,
    ) -> Result<Response<bookshelf_proto::auth::v1::FinishPasskeySignUpResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn list_passkeys(
        &self,
        _request: Request<bookshelf_proto::auth::v1::ListPasskeysRequest>,
    ) -> Result<Response<bookshelf_proto::auth::v1::ListPasskeysResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn rename_passkey(
        &self,
        _request: Request<bookshelf_proto::auth::v1::RenamePasskeyRequest>,
    ) -> Result<Response<bookshelf_proto::auth::v1::RenamePasskeyResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn delete_passkey(
        &self,
        _request: Request<bookshelf_proto::auth::v1::DeletePasskeyRequest>,
    ) -> Result<Response<bookshelf_proto::auth::v1::DeletePasskeyResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn start_passkey_login(
        &self,
        _request: Request<bookshelf_proto::auth::v1::StartPasskeyLoginRequest>,
    ) -> Result<Response<bookshelf_proto::auth::v1::StartPasskeyLoginResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn finish_passkey_login(
        &self,
        _request: Request<bookshelf_proto::auth::v1::FinishPasskeyLoginRequest>,
    ) -> Result<Response<bookshelf_proto::auth::v1::FinishPasskeyLoginResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    type WatchRevocationsStream = ReceiverStream<Result<WatchRevocationsResponse, Status>>;

    async fn watch_revocations(
        &self,
        request: Request<WatchRevocationsRequest>,
    ) -> Result<Response<Self::WatchRevocationsStream>, Status> {
        let (sender, receiver) = mpsc::channel(16);
        let _ = self.subscriptions.send(Subscription {
            after_sequence: request.get_ref().after_sequence,
            sender,
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
    }
}
