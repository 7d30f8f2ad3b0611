//! The tonic interceptor that enforces tokens, built on [`Verifier`].

use bookshelf_runtime::peer::peer_certificate;
use tonic::{Request, Status, service::Interceptor};

use crate::{TokenError, Verifier, verifier::Subject};

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

/// A registered service client, put into request extensions by [`TokenInterceptor`]
/// for a service token: it acts for itself, never for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCaller {
    /// The client's name (the token's `client_id`).
    pub client_id: String,
    /// The scopes the token grants.
    pub scopes: Vec<String>,
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
            TokenError::ServiceToken => {
                Status::permission_denied("a service token cannot act for a person")
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

    /// Who the request's token speaks for, or why it speaks for no one. A service
    /// token bound to a certificate (`cnf`) is refused unless the request came over a
    /// connection proving that certificate.
    fn subject<T>(&self, request: &Request<T>) -> Result<Subject, TokenError> {
        let header = match request.metadata().get("authorization") {
            None => None,
            Some(value) => Some(value.to_str().map_err(|_| TokenError::Invalid)?),
        };
        let subject = self.verifier.verify_bearer_any(header)?;
        if let Subject::Service(claims) = &subject {
            let peer = peer_certificate(request).map(|certificate| &certificate.sha256);
            if !claims.bound_to(peer) {
                return Err(TokenError::Invalid);
            }
        }
        Ok(subject)
    }
}

impl Interceptor for TokenInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        match self.subject(&request) {
            Ok(Subject::Person(claims)) => {
                // The call's access line names its user.
                tracing::Span::current().record("user_id", claims.sub.as_str());
                request.extensions_mut().insert(Caller {
                    user_id: claims.sub,
                    session_id: claims.sid,
                    auth_time: claims.auth_time,
                });
                Ok(request)
            }
            Ok(Subject::Service(claims)) => {
                let scopes = claims.scope.split(' ').map(str::to_owned).collect();
                request.extensions_mut().insert(ServiceCaller {
                    client_id: claims.client_id,
                    scopes,
                });
                Ok(request)
            }
            Err(TokenError::Missing) if self.optional => Ok(request),
            Err(error) => Err(error.into()),
        }
    }
}

/// The person that [`TokenInterceptor`] put into a request. A service token is
/// refused here: every call that acts for a person asks this.
pub fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    if let Some(caller) = request.extensions().get::<Caller>() {
        return Ok(caller.clone());
    }
    if request.extensions().get::<ServiceCaller>().is_some() {
        return Err(TokenError::ServiceToken.into());
    }
    Err(Status::unauthenticated("missing token"))
}

/// The service client that [`TokenInterceptor`] put into a request, if its token
/// grants `scope`; a person's token, or a service token without the scope, is
/// PERMISSION_DENIED.
pub fn service_caller<T>(request: &Request<T>, scope: &str) -> Result<ServiceCaller, Status> {
    if let Some(service) = request.extensions().get::<ServiceCaller>() {
        return if service.scopes.iter().any(|granted| granted == scope) {
            Ok(service.clone())
        } else {
            Err(Status::permission_denied(format!(
                "the token does not grant the scope {scope}"
            )))
        };
    }
    if request.extensions().get::<Caller>().is_some() {
        return Err(Status::permission_denied(format!(
            "only a service token with the scope {scope} may do this"
        )));
    }
    Err(Status::unauthenticated("missing token"))
}
