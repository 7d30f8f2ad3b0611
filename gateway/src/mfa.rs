//! `/users/mfa/totp...` and `/users/login/mfa`: a second factor from an authenticator
//! app (TOTP), its recovery codes, and a login's second step.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
};
use bookshelf_proto::auth::v1::{
    ConfirmTotpRequest, DisableTotpRequest, EnrollTotpRequest, LoginMfaRequest,
};

use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    backends::Backends,
    client_address::ClientAddress,
    client_address::forward_client,
    envelope::{Envelope, Failure, Success},
    error::ApiError,
    extract::{BearerToken, JsonBody, OptionalJsonBody},
    login::{Granted, LoggedIn, logged_in},
    users::RecentSignIn,
};

/// A new TOTP secret, for an authenticator app.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Enrolment {
    /// The shared secret in base32, to type in.
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    secret: String,
    /// The `otpauth://totp/...` URL, to show as a QR code.
    #[schema(
        example = "otpauth://totp/Bookshelf:ada%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Bookshelf"
    )]
    otpauth_url: String,
}

/// The recovery codes, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RecoveryCodes {
    /// Ten codes, each accepted once in place of a TOTP code.
    recovery_codes: Vec<String>,
}

/// A code: six digits from the authenticator app, or (where a route says so) a
/// recovery code; and the current password when the token's sign-in is not recent.
/// No `Debug`: both are credentials.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct CodeBody {
    /// The code.
    #[serde(default)]
    #[schema(required = true, example = "123456")]
    code: String,
    /// The account's password: needed only when the token's sign-in is older than the
    /// recent-sign-in window (403 `REAUTHENTICATION_REQUIRED` otherwise).
    #[serde(default)]
    current_password: String,
}

/// `POST /users/login/mfa`. No `Debug`: it holds credentials.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct SecondStep {
    /// What `POST /users/login` answered.
    #[serde(default)]
    #[schema(required = true)]
    mfa_token: String,
    /// Six digits from the authenticator app, or an unused recovery code; or leave
    /// it out and send `credential`.
    #[serde(default)]
    #[schema(example = "123456")]
    code: String,
    /// In place of `code`: a security key's assertion (`PublicKeyCredential.toJSON()`)
    /// for the `security_key.options` the login answered.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    credential: Option<serde_json::Value>,
}

#[utoipa::path(
    post,
    path = "/users/mfa/totp",
    tag = "users",
    summary = "Begin TOTP enrolment: a secret for an authenticator app, not yet required",
    request_body(content = Option<RecentSignIn>, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The secret and its otpauth URL", body = Envelope<Enrolment>),
        BearerToken,
        OptionalJsonBody<RecentSignIn>,
        (status = 403, description = "The sign-in is not recent: log in again, or send current_password", body = Failure),
        (status = 409, description = "TOTP is already enabled", body = Failure),
        Backends,
    ),
)]
pub(crate) async fn enroll(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    token: BearerToken,
    headers: HeaderMap,
    body: Result<OptionalJsonBody<RecentSignIn>, ApiError>,
) -> Result<Success<Enrolment>, ApiError> {
    let OptionalJsonBody(body) = body?;
    let backends = &state.backends;
    let message = EnrollTotpRequest {
        current_password: body.current_password,
    };
    let mut call = backends.unary_request(message, Some(&token));
    forward_client(&mut call, client, &headers);
    let response = backends
        .unary(backends.auth.clone().enroll_totp(call))
        .await?;
    Ok(Success::ok(
        "Scan the code, then confirm it with a code from the app",
        Enrolment {
            secret: response.secret,
            otpauth_url: response.otpauth_url,
        },
    ))
}

#[utoipa::path(
    post,
    path = "/users/mfa/totp/confirm",
    tag = "users",
    summary = "Confirm TOTP enrolment with a code; from now on logins need one",
    request_body(content = CodeBody, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Enabled; the recovery codes, shown once", body = Envelope<RecoveryCodes>),
        BearerToken,
        JsonBody<CodeBody>,
        (status = 403, description = "The sign-in is not recent: log in again, or send current_password", body = Failure),
        (status = 429, description = "Too many codes; see `Retry-After`", body = Failure),
        Backends,
    ),
)]
pub(crate) async fn confirm(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    token: BearerToken,
    headers: HeaderMap,
    body: Result<JsonBody<CodeBody>, ApiError>,
) -> Result<Success<RecoveryCodes>, ApiError> {
    let JsonBody(body) = body?;
    let backends = &state.backends;
    let message = ConfirmTotpRequest {
        code: body.code,
        current_password: body.current_password,
    };
    let mut call = backends.unary_request(message, Some(&token));
    forward_client(&mut call, client, &headers);
    let response = backends
        .unary(backends.auth.clone().confirm_totp(call))
        .await?;
    Ok(Success::ok(
        "TOTP enabled; keep the recovery codes somewhere safe",
        RecoveryCodes {
            recovery_codes: response.recovery_codes,
        },
    ))
}

#[utoipa::path(
    delete,
    path = "/users/mfa/totp",
    operation_id = "disable_totp",
    tag = "users",
    summary = "Turn TOTP off, with a current code or an unused recovery code",
    request_body(content = CodeBody, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "TOTP is off"),
        BearerToken,
        JsonBody<CodeBody>,
        (status = 403, description = "The sign-in is not recent: log in again, or send current_password", body = Failure),
        (status = 429, description = "Too many codes; see `Retry-After`", body = Failure),
        Backends,
    ),
)]
pub(crate) async fn disable(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    token: BearerToken,
    headers: HeaderMap,
    body: Result<JsonBody<CodeBody>, ApiError>,
) -> Result<StatusCode, ApiError> {
    let JsonBody(body) = body?;
    let backends = &state.backends;
    let message = DisableTotpRequest {
        code: body.code,
        current_password: body.current_password,
    };
    let mut call = backends.unary_request(message, Some(&token));
    forward_client(&mut call, client, &headers);
    backends
        .unary(backends.auth.clone().disable_totp(call))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/users/login/mfa",
    operation_id = "login_mfa",
    tag = "users",
    summary = "A login's second step: the mfa_token and a code or a security key's assertion, for a token",
    request_body(content = SecondStep, content_type = "application/json"),
    responses(
        (status = 200, description = "The user and a bearer token", body = Envelope<LoggedIn>),
        JsonBody<SecondStep>,
        (status = 401, description = "Wrong, replayed or spent code, or an unknown, expired or spent mfa_token", body = Failure),
        (status = 429, description = "Too many codes; see `Retry-After`", body = Failure),
        Backends,
    ),
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SecondStep>,
) -> Result<Success<LoggedIn>, ApiError> {
    let backends = &state.backends;
    let message = LoginMfaRequest {
        mfa_token: body.mfa_token,
        code: body.code,
        credential_json: body
            .credential
            .filter(serde_json::Value::is_object)
            .map(|credential| credential.to_string())
            .unwrap_or_default(),
    };
    let mut call = backends.unary_request(message, None);
    forward_client(&mut call, client, &headers);
    let response = backends
        .unary(backends.auth.clone().login_mfa(call))
        .await?;
    Ok(Success::ok(
        "Successfully fetched auth token",
        logged_in(Granted {
            user: response.user,
            token: response.token,
            expires_at: response.expires_at,
            refresh_token: response.refresh_token,
            refresh_expires_at: response.refresh_expires_at,
            session_id: response.session_id,
        })?,
    ))
}
