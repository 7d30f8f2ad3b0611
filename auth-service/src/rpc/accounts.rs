//! The account RPCs' messages: `Register`, `Login`, `GetCurrentUser`,
//! `UpdateCurrentUser`, `DisableCurrentUser`, `VerifyToken`, as domain values and back.

use bookshelf_proto::auth::v1::{LoginMfaResponse, LoginResponse, RegisterRequest, User};
use bookshelf_runtime::clock::timestamp;

use crate::{
    domain::{self, Email, Password, UserName},
    error::AuthError,
    service::{accounts::LoginOutcome, sessions::CompletedLogin},
    store::users::UserRecord,
};

/// An account as the API shows it: never its hash.
pub(super) fn user_message(user: &UserRecord) -> User {
    User {
        id: user.id.to_string(),
        name: user.name.as_str().to_owned(),
        email: user.email.as_str().to_owned(),
        active: user.is_active(),
        created_at: Some(timestamp(user.created_at)),
    }
}

/// A registration's fields, every violation reported at once.
pub(super) fn new_account(
    request: &RegisterRequest,
) -> Result<(UserName, Email, Password), AuthError> {
    domain::collect(
        UserName::parse(&request.name),
        Email::parse(&request.email),
        Password::parse(&request.password),
    )
    .map_err(AuthError::InvalidArgument)
}

impl From<LoginOutcome> for LoginResponse {
    fn from(outcome: LoginOutcome) -> Self {
        match outcome {
            LoginOutcome::Completed(completed) => {
                let completed = LoginMfaResponse::from(completed);
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
            LoginOutcome::SecondFactorRequired(step) => Self {
                mfa_required: true,
                mfa_token: step.token.as_str().to_owned(),
                mfa_methods: step
                    .methods
                    .iter()
                    .map(|&method| method.to_owned())
                    .collect(),
                security_key_options_json: step.security_key_options.unwrap_or_default(),
                ..Default::default()
            },
        }
    }
}

/// What a login that passed every factor answers, whichever RPC completed it.
impl From<CompletedLogin> for LoginMfaResponse {
    fn from(CompletedLogin { grant, user }: CompletedLogin) -> Self {
        Self {
            token: grant.token.token,
            expires_at: Some(timestamp(grant.token.expires_at as i64 * 1000)),
            user: Some(user_message(&user)),
            refresh_token: grant.refresh_token.expose().to_owned(),
            session_id: grant.session_id.as_str().to_owned(),
            refresh_expires_at: Some(timestamp(grant.refresh_expires_at)),
        }
    }
}
