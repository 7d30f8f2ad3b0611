//! `/users/login/passkey/{start,finish}`: a usernameless passkey sign-in, answered
//! as a password login is.

use axum::{extract::State, http::HeaderMap};
use bookshelf_proto::auth::v1::{FinishPasskeyLoginRequest, StartPasskeyLoginRequest};
use tonic::Code;

use crate::{
    AppState,
    backends::Backends,
    client_address::{ClientAddress, forward_client},
    envelope::{Envelope, Failure, Success},
    error::ApiError,
    extract::JsonBody,
    login::{Granted, LoggedIn, logged_in, webauthn_options},
    passkeys::{Ceremony, Finish, credential_json},
};

#[utoipa::path(
    post,
    path = "/users/login/passkey/start",
    operation_id = "passkey_login_start",
    tag = "passkeys",
    summary = "Begin a usernameless passkey sign-in (conditional mediation welcome); any body is ignored",
    responses(
        (status = 200, description = "The ceremony and its request options, with no allowCredentials", body = Envelope<Ceremony>),
        Backends,
    ),
)]
pub(crate) async fn start(State(state): State<AppState>) -> Result<Success<Ceremony>, ApiError> {
    let backends = &state.backends;
    let call = backends.unary_request(StartPasskeyLoginRequest {}, None);
    let answer = backends
        .unary(backends.auth.clone().start_passkey_login(call))
        .await?;
    Ok(Success::ok(
        "Sign the challenge with a passkey",
        Ceremony {
            ceremony_id: answer.ceremony_id,
            options: webauthn_options(&answer.options_json)?,
        },
    ))
}

#[utoipa::path(
    post,
    path = "/users/login/passkey/finish",
    operation_id = "passkey_login_finish",
    tag = "passkeys",
    summary = "Finish a passkey sign-in: a session, as a password login opens one",
    request_body(content = Finish, content_type = "application/json"),
    responses(
        (status = 200, description = "The user and a bearer token", body = Envelope<LoggedIn>),
        JsonBody<Finish>,
        (status = 401, description = "Unknown credential, bad signature, replay, wrong origin or counter gone back", body = Failure),
        (status = 429, description = "Too many attempts; see `Retry-After`", body = Failure),
        Backends,
    ),
)]
pub(crate) async fn finish(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    body: Result<JsonBody<Finish>, ApiError>,
) -> Result<Success<LoggedIn>, ApiError> {
    let JsonBody(body) = body?;
    let message = FinishPasskeyLoginRequest {
        ceremony_id: body.ceremony_id,
        credential_json: credential_json(body.credential)?,
    };
    let backends = &state.backends;
    let mut call = backends.unary_request(message, None);
    forward_client(&mut call, client, &headers);
    let answer = backends
        .unary(backends.auth.clone().finish_passkey_login(call))
        .await
        .map_err(|error| error.on_code(Code::Unauthenticated, ApiError::PasskeyRefused))?;
    Ok(Success::ok(
        "Successfully fetched auth token",
        logged_in(Granted {
            user: answer.user,
            token: answer.token,
            expires_at: answer.expires_at,
            refresh_token: answer.refresh_token,
            refresh_expires_at: answer.refresh_expires_at,
            session_id: answer.session_id,
        })?,
    ))
}
