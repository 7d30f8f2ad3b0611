//! The errors of the auth API and their one mapping to `tonic::Status`.

use std::{collections::HashMap, time::Duration};

use bookshelf_proto::auth::v1::error_info;
use bookshelf_runtime::errors::{
    FieldViolation, database, internal, invalid_argument, postgres_read, sqlite_read, sqlite_write,
};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::{
    domain::{passkeys::CeremonyError, second_factor::TotpError},
    passwords::PasswordError,
    sealing::SealError,
    signing::KeyError,
    store::StoreError,
};

/// Everything an auth RPC can answer besides success.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthError {
    /// Fields failed validation.
    #[error("invalid request")]
    InvalidArgument(Vec<FieldViolation>),
    /// Unknown email, wrong password or disabled account: deliberately one answer.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Too many attempts for this email or from this client.
    #[error("too many attempts")]
    Throttled {
        /// When the client may try again.
        retry_after: Duration,
    },
    /// The token is valid but its user is unknown or disabled, or its session ended.
    #[error("invalid token")]
    InactiveUser,
    /// A refresh token that is unknown, expired, spent, or of an ended session.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// No open session of the caller has the id given.
    #[error("no such session")]
    SessionNotFound,
    /// The current password given to change it is wrong.
    #[error("wrong password")]
    WrongPassword,
    /// The change needs a factor proven recently, or the current password.
    #[error("recent sign-in required")]
    ReauthenticationRequired,
    /// A second-factor code is wrong, replayed or already spent.
    #[error("invalid code")]
    InvalidCode,
    /// The `mfa_token` is unknown, expired or spent.
    #[error("invalid or expired mfa token")]
    InvalidMfaToken,
    /// The caller already has a confirmed TOTP factor.
    #[error("TOTP already enabled")]
    TotpAlreadyEnabled,
    /// No TOTP enrolment is waiting for its first code.
    #[error("no TOTP enrolment in progress")]
    NoPendingTotp,
    /// The caller has no confirmed TOTP factor.
    #[error("TOTP is not enabled")]
    TotpNotEnabled,
    /// The WebAuthn ceremony is unknown, spent, expired or another account's.
    #[error("no such ceremony")]
    CeremonyNotFound,
    /// A passkey sign-in failed: unknown credential, bad signature, replay, wrong
    /// origin, counter gone back. Deliberately one answer.
    #[error("passkey sign-in failed")]
    PasskeyRefused,
    /// The caller has no credential of the id given.
    #[error("no such passkey")]
    PasskeyNotFound,
    /// The credential is the account's last way in.
    #[error("last way in")]
    LastWayIn,
    /// The account has no password (signed up with a passkey), and one was sent.
    #[error("account has no password")]
    NoPassword,
    /// A WebAuthn ceremony could not be begun or its state kept.
    #[error(transparent)]
    Ceremony(#[from] CeremonyError),
    /// No account has the id given, or (to disable) none that is active.
    #[error("no such user")]
    UserNotFound,
    /// A token request lacks a parameter or names one not supported.
    #[error("invalid token request: {0}")]
    InvalidTokenRequest(&'static str),
    /// A token request for a grant other than the client credentials grant.
    #[error("unsupported grant type")]
    UnsupportedGrantType,
    /// The client is unknown, or its assertion is not accepted: one answer for all.
    #[error("invalid client")]
    InvalidClient,
    /// A scope asked for is unknown or not the client's.
    #[error("invalid scope")]
    InvalidScope,
    /// The caller's certificate does not prove an identity allowed this call.
    #[error("caller not allowed")]
    NotAllowed,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A TOTP value could not be made.
    #[error(transparent)]
    Totp(#[from] TotpError),
    /// A secret could not be sealed or opened.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// Hashing failed.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// Signing failed.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// How long a client told of contention is asked to wait: the service has retried
/// already, so the crowd it met needs a moment to thin out.
const CONTENDED_RETRY_AFTER: Duration = Duration::from_millis(500);

impl From<FieldViolation> for AuthError {
    fn from(violation: FieldViolation) -> Self {
        Self::InvalidArgument(vec![violation])
    }
}

/// A refused token request, with its RFC 6749 error code as the reason.
fn token_request_refused(code: Code, reason: &str, message: &str) -> Status {
    let mut details = ErrorDetails::new();
    details.set_error_info(reason, error_info::DOMAIN, HashMap::new());
    Status::with_error_details(code, message, details)
}

/// UNAUTHENTICATED for a second factor, with the reason that tells it from a refused
/// access token.
fn second_step_refused(reason: &str, message: &str) -> Status {
    let mut details = ErrorDetails::new();
    details.set_error_info(reason, error_info::DOMAIN, HashMap::new());
    Status::with_error_details(Code::Unauthenticated, message, details)
}

impl From<AuthError> for Status {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::InvalidArgument(violations) => invalid_argument(&violations),
            AuthError::InvalidCredentials => Status::unauthenticated("invalid email or password"),
            AuthError::Throttled { retry_after } => {
                bookshelf_runtime::metrics::refused("login_throttled");
                Status::with_error_details(
                    Code::ResourceExhausted,
                    "too many attempts; try again later",
                    ErrorDetails::with_retry_info(Some(retry_after)),
                )
            }
            AuthError::InactiveUser => Status::unauthenticated("invalid token"),
            AuthError::NotAllowed => Status::permission_denied(
                "this call is reserved for parts whose certificate proves an allowed identity",
            ),
            AuthError::InvalidRefreshToken => Status::unauthenticated("invalid refresh token"),
            AuthError::SessionNotFound => Status::not_found("no such session"),
            AuthError::WrongPassword => {
                let mut details = ErrorDetails::new();
                details.set_error_info(
                    error_info::WRONG_PASSWORD,
                    error_info::DOMAIN,
                    HashMap::new(),
                );
                Status::with_error_details(Code::Unauthenticated, "wrong password", details)
            }
            AuthError::ReauthenticationRequired => {
                let mut details = ErrorDetails::new();
                details.set_error_info(
                    error_info::REAUTHENTICATION_REQUIRED,
                    error_info::DOMAIN,
                    HashMap::new(),
                );
                Status::with_error_details(
                    Code::PermissionDenied,
                    "this change needs a recent sign-in: log in again, or send current_password",
                    details,
                )
            }
            AuthError::InvalidCode => second_step_refused(error_info::INVALID_CODE, "invalid code"),
            AuthError::InvalidMfaToken => second_step_refused(
                error_info::INVALID_MFA_TOKEN,
                "invalid or expired mfa token",
            ),
            AuthError::TotpAlreadyEnabled => Status::already_exists("TOTP already enabled"),
            AuthError::NoPendingTotp => {
                Status::failed_precondition("no TOTP enrolment in progress")
            }
            AuthError::TotpNotEnabled => Status::failed_precondition("TOTP is not enabled"),
            AuthError::UserNotFound => Status::not_found("no such user"),
            AuthError::CeremonyNotFound => {
                Status::not_found("no such ceremony: it is unknown, spent or expired")
            }
            AuthError::PasskeyRefused => Status::unauthenticated("passkey sign-in failed"),
            AuthError::PasskeyNotFound => Status::not_found("no such passkey"),
            AuthError::LastWayIn => Status::failed_precondition(
                "this passkey is the account's last way in: add another passkey or set a \
                 password first",
            ),
            AuthError::NoPassword => Status::failed_precondition(
                "this account has no password (it signs in with a passkey): leave \
                 current_password out and sign in again with a passkey instead",
            ),
            AuthError::Ceremony(error) => internal(&error),
            AuthError::InvalidTokenRequest(message) => {
                token_request_refused(Code::InvalidArgument, error_info::INVALID_REQUEST, message)
            }
            AuthError::UnsupportedGrantType => token_request_refused(
                Code::InvalidArgument,
                error_info::UNSUPPORTED_GRANT_TYPE,
                "only the client_credentials grant is supported",
            ),
            AuthError::InvalidClient => token_request_refused(
                Code::Unauthenticated,
                error_info::INVALID_CLIENT,
                "client authentication failed",
            ),
            AuthError::InvalidScope => token_request_refused(
                Code::PermissionDenied,
                error_info::INVALID_SCOPE,
                "a scope asked for is unknown or not allowed to the client",
            ),
            AuthError::Totp(error) => internal(&error),
            AuthError::Seal(error) => internal(&error),
            AuthError::Store(StoreError::EmailTaken) => {
                Status::already_exists("email already registered")
            }
            AuthError::Store(StoreError::CredentialTaken) => {
                Status::already_exists("credential already registered")
            }
            AuthError::Store(StoreError::ClientExists) => {
                Status::already_exists("client already registered")
            }
            AuthError::Store(StoreError::Database(error)) => database(&error),
            AuthError::Store(StoreError::Contended(error)) => {
                tracing::warn!(%error, "a transaction lost to concurrent ones at every try");
                Status::with_error_details(
                    Code::Unavailable,
                    "too much contention; try again shortly",
                    ErrorDetails::with_retry_info(Some(CONTENDED_RETRY_AFTER)),
                )
            }
            AuthError::Store(StoreError::Read(error)) => sqlite_read(&error),
            AuthError::Store(StoreError::PostgresRead(error)) => postgres_read(&error),
            AuthError::Store(StoreError::Write(error)) => sqlite_write(&error),
            AuthError::Password(PasswordError::Busy { retry_after }) => Status::with_error_details(
                Code::Unavailable,
                "too many logins at once; try again shortly",
                ErrorDetails::with_retry_info(Some(retry_after)),
            ),
            AuthError::Password(error @ (PasswordError::Hash(_) | PasswordError::Worker(_))) => {
                internal(&error)
            }
            AuthError::Key(error) => internal(&error),
        }
    }
}
