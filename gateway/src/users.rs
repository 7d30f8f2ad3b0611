//! `/users/`: register, profile, rename, disable (logging in is in `login`, the second
//! factor's routes in `mfa`).

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
};
use bookshelf_proto::auth::v1::{
    DisableCurrentUserRequest, GetCurrentUserRequest, RegisterRequest, UpdateCurrentUserRequest,
    User,
};
use bookshelf_runtime::client_address::forward;
use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    backends::Backends,
    client_address::{ClientAddress, forward_client},
    envelope::{Envelope, Failure, Success},
    error::{ApiError, Internal},
    extract::{BearerToken, JsonBody, OptionalJsonBody},
    timestamps::rfc3339,
};

/// What a change that needs a recent sign-in may carry: the current password, needed
/// only when the token's sign-in is older than the recent-sign-in window. An empty
/// body is an empty password. No `Debug`: it holds a credential.
#[derive(Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct RecentSignIn {
    /// The account's password.
    #[serde(default)]
    pub(crate) current_password: String,
}

/// A user as the tutorial's clients know it; never a password or hash.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct UserJson {
    _id: String,
    name: String,
    email: String,
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<String>,
}

impl From<User> for UserJson {
    fn from(user: User) -> Self {
        Self {
            _id: user.id,
            name: user.name,
            email: user.email,
            active: user.active,
            created_at: user.created_at.map(rfc3339),
        }
    }
}

/// `POST /users/`. Absent fields are empty, so the service reports them field by field.
/// No `Debug`: it holds a plaintext password.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct Registration {
    /// 2 to 30 words.
    #[serde(default)]
    #[schema(required = true, min_length = 3, example = "Ada Lovelace")]
    name: String,
    /// Stored lower-case; one account per address.
    #[serde(default)]
    #[schema(required = true, format = Email, example = "ada@example.com")]
    email: String,
    /// 8 to 128 characters, with an upper-case letter, a lower-case letter, a digit
    /// and a character that is none of those.
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 8,
        max_length = 128,
        example = "Sup3r-Secret!"
    )]
    password: String,
}

/// `PUT /users/`: only the name can change; other fields are ignored.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct Rename {
    /// 2 to 30 words.
    #[serde(default)]
    #[schema(required = true, min_length = 3, example = "Ada King")]
    name: String,
}

/// The user of an answer that must carry one.
pub(crate) fn user_of(user: Option<User>) -> Result<UserJson, ApiError> {
    user.map(UserJson::from).ok_or(Internal::MissingUser.into())
}

#[utoipa::path(
    post,
    path = "/users/",
    tag = "users",
    summary = "Register an account",
    request_body(content = Registration, content_type = "application/json"),
    responses(
        (status = 201, description = "Registered", body = Envelope<UserJson>),
        JsonBody<Registration>,
        (status = 409, description = "The email is taken", body = Failure),
        (status = 429, description = "Too many attempts from this address; see `Retry-After`", body = Failure),
        Backends,
    ),
)]
pub(crate) async fn register(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    JsonBody(body): JsonBody<Registration>,
) -> Result<Success<UserJson>, ApiError> {
    let backends = &state.backends;
    let message = RegisterRequest {
        name: body.name,
        email: body.email,
        password: body.password,
    };
    let mut call = backends.unary_request(message, None);
    forward(&mut call, client);
    let response = backends.unary(backends.auth.clone().register(call)).await?;
    Ok(Success::created(
        "Successfully created new user",
        user_of(response.user)?,
    ))
}

#[utoipa::path(
    get,
    path = "/users/",
    tag = "users",
    summary = "The caller's profile",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = Envelope<UserJson>),
        BearerToken,
        Backends,
    ),
)]
pub(crate) async fn current(
    State(state): State<AppState>,
    token: BearerToken,
) -> Result<Success<UserJson>, ApiError> {
    let backends = &state.backends;
    let call = backends.unary_request(GetCurrentUserRequest {}, Some(&token));
    let response = backends
        .unary(backends.auth.clone().get_current_user(call))
        .await?;
    Ok(Success::ok(
        "successfully retrieved user profile",
        user_of(response.user)?,
    ))
}

#[utoipa::path(
    put,
    path = "/users/",
    tag = "users",
    summary = "Change the caller's name",
    request_body(content = Rename, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The renamed caller", body = Envelope<UserJson>),
        BearerToken,
        JsonBody<Rename>,
        Backends,
    ),
)]
pub(crate) async fn rename(
    State(state): State<AppState>,
    token: BearerToken,
    body: Result<JsonBody<Rename>, ApiError>,
) -> Result<Success<UserJson>, ApiError> {
    let JsonBody(body) = body?;
    let backends = &state.backends;
    let call = backends.unary_request(UpdateCurrentUserRequest { name: body.name }, Some(&token));
    let response = backends
        .unary(backends.auth.clone().update_current_user(call))
        .await?;
    Ok(Success::ok(
        "successfully updated account",
        user_of(response.user)?,
    ))
}

#[utoipa::path(
    delete,
    path = "/users/",
    operation_id = "disable_account",
    tag = "users",
    summary = "Disable the caller's account; its tokens stop working within a second",
    description = "Needs a recent sign-in: a token from a login within the recent-sign-in \
        window (10 minutes by default), or the current password in the body.",
    request_body(content = Option<RecentSignIn>, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Disabled"),
        BearerToken,
        OptionalJsonBody<RecentSignIn>,
        (status = 403, description = "The sign-in is not recent: log in again, or send current_password", body = Failure),
        (status = 429, description = "Too many wrong passwords; see `Retry-After`", body = Failure),
        Backends,
    ),
)]
pub(crate) async fn disable(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    token: BearerToken,
    headers: HeaderMap,
    body: Result<OptionalJsonBody<RecentSignIn>, ApiError>,
) -> Result<StatusCode, ApiError> {
    let OptionalJsonBody(body) = body?;
    let backends = &state.backends;
    let message = DisableCurrentUserRequest {
        current_password: body.current_password,
    };
    let mut call = backends.unary_request(message, Some(&token));
    forward_client(&mut call, client, &headers);
    backends
        .unary(backends.auth.clone().disable_current_user(call))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
