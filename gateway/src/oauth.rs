//! `POST /oauth/token`, the client credentials grant for registered service clients
//! (RFC 6749 section 4.4, clients authenticated by `private_key_jwt`, RFC 7523), and
//! `GET /.well-known/oauth-authorization-server`, its metadata (RFC 8414). Both answer
//! in OAuth's own JSON shapes, not the envelope, because OAuth clients parse those.

use axum::{
    Form, Json,
    extract::{State, rejection::FormRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use bookshelf_proto::auth::v1::{IssueServiceTokenRequest, error_info, scopes};
use serde::{Deserialize, Serialize};
use tonic_types::StatusExt;

use crate::{AppState, backends::Backends, error::ApiError};

/// Where the token endpoint is served.
pub(crate) const TOKEN_PATH: &str = "/oauth/token";

/// The algorithms a client may sign its assertion with.
const SIGNING_ALGORITHMS: [&str; 4] = ["RS256", "PS256", "ES256", "EdDSA"];

/// A token request (RFC 6749 section 4.4.2, RFC 7523 section 2.2); each parameter at
/// most once.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct TokenForm {
    /// `client_credentials`.
    #[schema(example = "client_credentials")]
    grant_type: Option<String>,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    #[schema(example = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")]
    client_assertion_type: Option<String>,
    /// A JWT signed by one of the client's registered keys: `iss` and `sub` the
    /// client's name, `aud` this endpoint's URL, `exp` at most five minutes ahead, a
    /// `jti` never used before.
    client_assertion: Option<String>,
    /// Space-separated scopes; absent or empty asks for all the client may have.
    #[schema(example = "books:read")]
    scope: Option<String>,
}

/// A granted token (RFC 6749 section 5.1).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TokenAnswer {
    /// An RFC 9068 access token, for `Authorization: Bearer`.
    access_token: String,
    #[schema(example = "Bearer")]
    token_type: String,
    /// Seconds until it expires.
    #[schema(example = 600)]
    expires_in: i64,
    /// The scopes granted, space-separated.
    #[schema(example = "books:read")]
    scope: String,
}

/// A refused token request (RFC 6749 section 5.2).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TokenRefusal {
    /// `invalid_request`, `invalid_client`, `invalid_scope` or `unsupported_grant_type`.
    #[schema(example = "invalid_client")]
    error: &'static str,
    error_description: String,
}

/// The authorization server's metadata (RFC 8414 section 2).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ServerMetadata {
    #[schema(example = "https://bookshelf.example.com")]
    issuer: String,
    #[schema(example = "https://bookshelf.example.com/oauth/token")]
    token_endpoint: String,
    jwks_uri: String,
    scopes_supported: Vec<&'static str>,
    /// Empty: there is no authorization endpoint.
    response_types_supported: Vec<&'static str>,
    grant_types_supported: Vec<&'static str>,
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
}

/// `body` with the headers every token endpoint answer carries (RFC 6749 section 5.1):
/// tokens and refusals are never cached.
fn uncached(status: StatusCode, body: impl Serialize) -> Response {
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// A refusal with its RFC 6749 code: 401 for a client that failed to authenticate,
/// 400 for the rest.
fn refused(error: &'static str, description: impl Into<String>) -> Response {
    let status = if error == error_info::INVALID_CLIENT {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    let body = TokenRefusal {
        error,
        error_description: description.into(),
    };
    uncached(status, body)
}

#[utoipa::path(
    post,
    path = "/oauth/token",
    tag = "oauth",
    summary = "A service token by the client credentials grant (RFC 6749, RFC 7523), not in the envelope",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The token; `Cache-Control: no-store`", body = TokenAnswer),
        (status = 400, description = "`invalid_request`, `invalid_scope` or `unsupported_grant_type`", body = TokenRefusal),
        (status = 401, description = "`invalid_client`: unknown client, bad signature, wrong audience, expired or replayed assertion", body = TokenRefusal),
        Backends,
    ),
)]
/// Trades a client's signed assertion for a service token.
pub(crate) async fn token(
    State(state): State<AppState>,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, ApiError> {
    let Ok(Form(form)) = form else {
        return Ok(refused(
            error_info::INVALID_REQUEST,
            "the body must be application/x-www-form-urlencoded, each parameter once",
        ));
    };
    let backends = &state.backends;
    let call = backends.unary_request(
        IssueServiceTokenRequest {
            grant_type: form.grant_type.unwrap_or_default(),
            client_assertion_type: form.client_assertion_type.unwrap_or_default(),
            client_assertion: form.client_assertion.unwrap_or_default(),
            scope: form.scope.unwrap_or_default(),
        },
        None,
    );
    match backends
        .unary(backends.auth.clone().issue_service_token(call))
        .await
    {
        Ok(granted) => Ok(uncached(
            StatusCode::OK,
            TokenAnswer {
                access_token: granted.access_token,
                token_type: granted.token_type,
                expires_in: granted.expires_in,
                scope: granted.scope,
            },
        )),
        Err(ApiError::Backend(status)) => match oauth_error(&status) {
            Some(error) => Ok(refused(error, status.message())),
            None => Err(ApiError::Backend(status)),
        },
        Err(error) => Err(error),
    }
}

/// The RFC 6749 code of a refused `IssueServiceToken`, from its `ErrorInfo` reason;
/// `None` for a failure of the service rather than of the request.
fn oauth_error(status: &tonic::Status) -> Option<&'static str> {
    let info = status.get_details_error_info()?;
    if info.domain != error_info::DOMAIN {
        return None;
    }
    [
        error_info::INVALID_REQUEST,
        error_info::INVALID_CLIENT,
        error_info::INVALID_SCOPE,
        error_info::UNSUPPORTED_GRANT_TYPE,
    ]
    .into_iter()
    .find(|code| *code == info.reason)
}

#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    tag = "oauth",
    summary = "The authorization server's metadata (RFC 8414), not in the envelope",
    responses((status = 200, description = "The metadata", body = ServerMetadata)),
)]
/// What a service client needs to know to get a token.
pub(crate) async fn metadata(State(state): State<AppState>) -> Response {
    let issuer = state.public_url.clone();
    let metadata = ServerMetadata {
        token_endpoint: format!("{issuer}{TOKEN_PATH}"),
        jwks_uri: format!("{issuer}/.well-known/jwks.json"),
        issuer,
        scopes_supported: scopes::ALL.to_vec(),
        response_types_supported: Vec::new(),
        grant_types_supported: vec!["client_credentials"],
        token_endpoint_auth_methods_supported: vec!["private_key_jwt"],
        token_endpoint_auth_signing_alg_values_supported: SIGNING_ALGORITHMS.to_vec(),
    };
    let mut response = Json(metadata).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}
