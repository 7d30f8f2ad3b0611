//! The tonic interceptor that enforces tokens, built on [`Verifier`].

use tonic::{Request, Status, service::Interceptor};

use crate::{TokenError, Verifier};

/// The authenticated caller, put into request extensions by [`TokenInterceptor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user id from the token's `sub`.
    pub user_id: String,
    /// The session from the token's `sid`.
    pub session_id: String,
    /// The token's `auth_time`: when a factor was last proven, seconds since the epoch.
    pub auth_time: u64,
}

impl Caller {
    /// A caller known only by its user id, as values built without a token (in the
    /// library's own checks) name one.
    pub fn user(user_id: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            session_id: String::new(),
            auth_time: 0,
        }
    }
}

impl From<TokenError> for Status {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::Missing => Status::unauthenticated("missing token"),
            TokenError::Invalid
            | TokenError::UnknownKey
            | TokenError::Revoked
            | TokenError::SessionEnded
            | TokenError::KeyRevoked => Status::unauthenticated("invalid token"),
            TokenError::Unavailable => {
                Status::unavailable("token revocations cannot be checked right now")
            }
        }
    }
}

/// Checks the `authorization` metadata of every call and records the [`Caller`].
#[derive(Clone)]
pub struct TokenInterceptor {
    verifier: Verifier,
    optional: bool,
}

impl TokenInterceptor {
    /// An interceptor that refuses every call without a valid token.
    pub fn new(verifier: Verifier) -> Self {
        Self {
            verifier,
            optional: false,
        }
    }

    /// An interceptor that refuses invalid tokens but lets calls without any token
    /// through; handlers then decide with [`caller`] (which refuses them) or serve
    /// anonymous callers on purpose.
    pub fn optional(verifier: Verifier) -> Self {
        Self {
            verifier,
            optional: true,
        }
    }

    /// The caller named by the request's token, or why there is none.
    pub fn caller<T>(&self, request: &Request<T>) -> Result<Caller, TokenError> {
        let header = match request.metadata().get("authorization") {
            None => None,
            Some(value) => Some(value.to_str().map_err(|_| TokenError::Invalid)?),
        };
        let claims = self.verifier.verify_bearer(header)?;
        Ok(Caller {
            user_id: claims.sub,
            session_id: claims.sid,
            auth_time: claims.auth_time,
        })
    }
}

impl Interceptor for TokenInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        match self.caller(&request) {
            Ok(caller) => {
                // The call's access line names its user.
                tracing::Span::current().record("user_id", caller.user_id.as_str());
                request.extensions_mut().insert(caller);
                Ok(request)
            }
            Err(TokenError::Missing) if self.optional => Ok(request),
            Err(error) => Err(error.into()),
        }
    }
}

/// The caller that [`TokenInterceptor`] put into a request.
pub fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("missing token"))
}
