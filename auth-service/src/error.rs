//! The errors of the auth API and their one mapping to `tonic::Status`.

use std::time::Duration;

use std::collections::HashMap;

use bookshelf_proto::auth::v1::error_info;
use bookshelf_runtime::errors::{FieldViolation, database, internal, invalid_argument};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::{passwords::PasswordError, signing::KeyError, store::StoreError};

/// Everything an auth RPC can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Fields failed validation.
    #[error("invalid request")]
    InvalidArgument(Vec<FieldViolation>),
    /// The email is already registered.
    #[error("email already registered")]
    EmailTaken,
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
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing failed.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// Signing failed.
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl From<FieldViolation> for AuthError {
    fn from(violation: FieldViolation) -> Self {
        Self::InvalidArgument(vec![violation])
    }
}

impl From<AuthError> for Status {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::InvalidArgument(violations) => invalid_argument(&violations),
            AuthError::EmailTaken => Status::already_exists("email already registered"),
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
            AuthError::Store(StoreError::EmailTaken) => {
                Status::already_exists("email already registered")
            }
            AuthError::Store(StoreError::Database(error)) => database(&error),
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
