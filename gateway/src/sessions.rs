//! `/users/token`, `/users/logout`, `/users/sessions` and `/users/password`: refreshing
//! a token, ending sessions and changing the password.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
};
use bookshelf_proto::auth::v1::{
    ChangePasswordRequest, ListSessionsRequest, LogoutRequest, RefreshTokenRequest,
    RevokeSessionRequest, Session,
};
use serde::{Deserialize, Serialize};
use tonic::Code;

use crate::{
    AppState,
    backends::Backends,
    client_address::{ClientAddress, forward_client},
    envelope::{Envelope, Failure, Success},
    error::ApiError,
    extract::{BearerToken, JsonBody},
    timestamps::rfc3339,
};

/// `POST /users/token`. No `Debug`: it holds a refresh token.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct RefreshBody {
    /// The latest refresh token from `POST /users/login` or `POST /users/token`.
    #[serde(default)]
    #[schema(required = true, min_length = 1)]
    refresh_token: String,
}

/// A new token and refresh token for the same session. No `Debug`: it holds both.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Refreshed {
    /// The new bearer token.
    token: String,
    /// When it expires (RFC 3339).
    expires_at: Option<String>,
    /// The new refresh token; the one sent is spent.
    refresh_token: String,
    /// When the new refresh token expires (RFC 3339).
    refresh_expires_at: Option<String>,
}

/// One of the caller's open sessions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SessionJson {
    /// The session id, the `sid` of its tokens.
    _id: String,
    /// When its login happened (RFC 3339).
    created_at: Option<String>,
    /// When it last logged in or refreshed its token (RFC 3339).
    last_used_at: Option<String>,
    /// Whether it is the session of the token that asked.
    current: bool,
    /// The client's address at its latest use, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_address: Option<String>,
    /// The client's `User-Agent` at its latest use, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<String>,
    /// When it ends at the latest, however often it is refreshed (RFC 3339).
    expires_at: Option<String>,
}

impl From<Session> for SessionJson {
    fn from(session: Session) -> Self {
        let known = |text: String| (!text.is_empty()).then_some(text);
        Self {
            _id: session.id,
            created_at: session.created_at.map(rfc3339),
            last_used_at: session.last_used_at.map(rfc3339),
            current: session.current,
            client_address: known(session.client_address),
            user_agent: known(session.user_agent),
            expires_at: session.expires_at.map(rfc3339),
        }
    }
}

/// `PUT /users/password`. No `Debug`: it holds two passwords.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct PasswordChange {
    /// The password the account has now.
    #[serde(default)]
    #[schema(required = true, min_length = 1, example = "Sup3r-Secret!")]
    current_password: String,
    /// The new password: 8 to 128 characters, with an upper-case letter, a lower-case
    /// letter, a digit and a character that is none of those.
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 8,
        max_length = 128,
        example = "N3w-Secret-Phrase!"
    )]
    new_password: String,
}

/// What a password change ended.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PasswordChanged {
    /// How many other sessions of the account ended.
    ended_sessions: i32,
}

/// A required string field that is empty or absent, as the tutorial's field errors
/// say it.
fn required(field: &str) -> ApiError {
    ApiError::InvalidFields([(field.to_owned(), format!("{field} is required"))].into())
}

#[utoipa::path(
    post,
    path = "/users/token",
    tag = "sessions",
    summary = "Exchange a refresh token for a new token and refresh token",
    description = "The refresh token sent is spent. Sending a spent one again ends its \
                   whole session: two holders of one refresh token means it was stolen.",
    request_body(content = RefreshBody, content_type = "application/json"),
    responses(
        (status = 200, description = "A new token and refresh token", body = Envelope<Refreshed>),
        JsonBody<RefreshBody>,
        (status = 401, description = "Unknown, expired or spent refresh token", body = Failure),
        (status = 429, description = "Too many failed attempts from this address; see `Retry-After`", body = Failure),
        Backends,
    ),
)]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Result<Success<Refreshed>, ApiError> {
    if body.refresh_token.is_empty() {
        return Err(required("refresh_token"));
    }
    let backends = &state.backends;
    let message = RefreshTokenRequest {
        refresh_token: body.refresh_token,
    };
    let mut call = backends.unary_request(message, None);
    forward_client(&mut call, client, &headers);
    let response = backends
        .unary(backends.auth.clone().refresh_token(call))
        .await
        .map_err(|error| error.on_code(Code::Unauthenticated, ApiError::InvalidRefreshToken))?;
    Ok(Success::ok(
        "Successfully refreshed auth token",
        Refreshed {
            token: response.token,
            expires_at: response.expires_at.map(rfc3339),
            refresh_token: response.refresh_token,
            refresh_expires_at: response.refresh_expires_at.map(rfc3339),
        },
    ))
}

#[utoipa::path(
    post,
    path = "/users/logout",
    tag = "sessions",
    summary = "End the caller's session; its tokens stop working within a second",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        BearerToken,
        Backends,
    ),
)]
pub(crate) async fn logout(
    State(state): State<AppState>,
    token: BearerToken,
) -> Result<StatusCode, ApiError> {
    let backends = &state.backends;
    let call = backends.unary_request(LogoutRequest {}, Some(&token));
    backends.unary(backends.auth.clone().logout(call)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/users/sessions",
    operation_id = "list_sessions",
    tag = "sessions",
    summary = "The caller's open sessions, newest first",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The sessions; `current` marks the caller's", body = Envelope<Vec<SessionJson>>),
        BearerToken,
        Backends,
    ),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    token: BearerToken,
) -> Result<Success<Vec<SessionJson>>, ApiError> {
    let backends = &state.backends;
    let call = backends.unary_request(ListSessionsRequest {}, Some(&token));
    let response = backends
        .unary(backends.auth.clone().list_sessions(call))
        .await?;
    Ok(Success::ok(
        "successfully retrieved sessions",
        response
            .sessions
            .into_iter()
            .map(SessionJson::from)
            .collect(),
    ))
}

#[utoipa::path(
    delete,
    path = "/users/sessions/{id}",
    tag = "sessions",
    summary = "End one of the caller's sessions; its tokens stop working within a second",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The session's `_id`")),
    responses(
        (status = 204, description = "Ended"),
        BearerToken,
        (status = 404, description = "No open session of the caller has this id", body = Failure),
        Backends,
    ),
)]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    // The path first, as before the token was an extractor: a path that does not
    // decode is refused as it always was.
    Path(id): Path<String>,
    token: BearerToken,
) -> Result<StatusCode, ApiError> {
    let backends = &state.backends;
    let call = backends.unary_request(RevokeSessionRequest { session_id: id }, Some(&token));
    backends
        .unary(backends.auth.clone().revoke_session(call))
        .await
        .map_err(|error| error.on_code(Code::NotFound, ApiError::SessionNotFound))?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    put,
    path = "/users/password",
    tag = "sessions",
    summary = "Change the caller's password; every other session ends",
    request_body(content = PasswordChange, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed; how many other sessions ended", body = Envelope<PasswordChanged>),
        JsonBody<PasswordChange>,
        (status = 401, description = "The token is refused, or the current password is wrong", body = Failure),
        (status = 429, description = "Too many wrong passwords; see `Retry-After`", body = Failure),
        Backends,
    ),
)]
pub(crate) async fn change_password(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    token: BearerToken,
    headers: HeaderMap,
    body: Result<JsonBody<PasswordChange>, ApiError>,
) -> Result<Success<PasswordChanged>, ApiError> {
    let JsonBody(body) = body?;
    if body.current_password.is_empty() {
        return Err(required("current_password"));
    }
    let backends = &state.backends;
    let message = ChangePasswordRequest {
        current_password: body.current_password,
        new_password: body.new_password,
    };
    let mut call = backends.unary_request(message, Some(&token));
    forward_client(&mut call, client, &headers);
    let response = backends
        .unary(backends.auth.clone().change_password(call))
        .await?;
    Ok(Success::ok(
        "Successfully changed password",
        PasswordChanged {
            ended_sessions: response.ended_sessions,
        },
    ))
}
