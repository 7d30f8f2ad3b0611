//! `/users/passkeys...`: adding WebAuthn passkeys and security keys, or signing up
//! with a passkey; listing, renaming and deleting them is in `saved_passkeys`, the
//! sign-in in `passkey_login`. Options are the `publicKey` objects that
//! `PublicKeyCredential.parseCreationOptionsFromJSON()` and
//! `parseRequestOptionsFromJSON()` take, credentials what `PublicKeyCredential.toJSON()`
//! returns; both pass through to the auth service as JSON text.

use axum::{extract::State, http::HeaderMap};
use bookshelf_proto::auth::v1::{
    FinishPasskeyRegistrationRequest, FinishPasskeySignUpRequest, Passkey, PasskeyKind,
    StartPasskeyRegistrationRequest, StartPasskeySignUpRequest,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tonic::Code;

use crate::{
    AppState,
    backends::Backends,
    client_address::{ClientAddress, forward_client},
    envelope::{Envelope, Failure, Success},
    error::{ApiError, Internal},
    extract::{BearerToken, JsonBody, OptionalJsonBody},
    login::{Granted, LoggedIn, logged_in, webauthn_options},
    timestamps::rfc3339,
};

/// `POST /users/passkeys/register/start`. With a token, `kind` and
/// `current_password`; without, `name` and `email` of the account to sign up. No
/// `Debug`: it may hold a password.
#[derive(Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct RegisterStart {
    /// `passkey` (a first factor, the default) or `security_key` (a second factor).
    #[serde(default)]
    #[schema(example = "passkey")]
    kind: Option<String>,
    /// The account's password, when the token's sign-in is not recent.
    #[serde(default)]
    current_password: String,
    /// Sign-up only: the new account's name, 2 to 30 words.
    #[serde(default)]
    #[schema(example = "Ada Lovelace")]
    name: String,
    /// Sign-up only: the new account's email.
    #[serde(default)]
    #[schema(example = "ada@example.com")]
    email: String,
}

/// A ceremony begun: its id and the options for the browser.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Ceremony {
    /// Send it back with the credential.
    pub(crate) ceremony_id: String,
    /// PublicKeyCredentialCreationOptionsJSON or PublicKeyCredentialRequestOptionsJSON.
    #[schema(value_type = Object)]
    pub(crate) options: Value,
}

/// `POST /users/passkeys/register/finish` and `/users/login/passkey/finish`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct Finish {
    /// What the start answered.
    #[serde(default)]
    #[schema(required = true)]
    pub(crate) ceremony_id: String,
    /// The credential's `toJSON()`.
    #[serde(default)]
    #[schema(value_type = Object, required = true)]
    pub(crate) credential: Option<Value>,
    /// Registration only: a label for the credential ("YubiKey 5"); a default
    /// otherwise.
    #[serde(default)]
    name: String,
}

/// A passkey or security key as its owner sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PasskeyJson {
    _id: String,
    /// The owner's label.
    name: String,
    /// `passkey` or `security_key`.
    kind: &'static str,
    /// When it was registered (RFC 3339).
    created_at: Option<String>,
    /// When it last signed in (RFC 3339); null if never.
    last_used_at: Option<String>,
    /// The authenticator's model, when its AAGUID is a known one.
    authenticator: Option<String>,
    /// The AAGUID the authenticator declared.
    aaguid: String,
    /// Whether the credential is backed up (synced) beyond the device.
    backed_up: bool,
}

impl From<Passkey> for PasskeyJson {
    fn from(passkey: Passkey) -> Self {
        Self {
            kind: match passkey.kind() {
                PasskeyKind::SecurityKey => "security_key",
                PasskeyKind::Passkey | PasskeyKind::Unspecified => "passkey",
            },
            _id: passkey.id,
            name: passkey.name,
            created_at: passkey.created_at.map(rfc3339),
            last_used_at: passkey.last_used_at.map(rfc3339),
            authenticator: Some(passkey.authenticator).filter(|name| !name.is_empty()),
            aaguid: passkey.aaguid,
            backed_up: passkey.backed_up,
        }
    }
}

/// What a registration's finish answers: the credential added, or, for a sign-up,
/// the new account signed in. No `Debug`: a sign-up holds tokens.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(crate) enum Registered {
    /// A credential added to the caller's account.
    Passkey(PasskeyJson),
    /// A passkey-only account, signed in.
    SignedUp(LoggedIn),
}

/// The credential of a finish, as JSON text: a field error when it is missing.
pub(crate) fn credential_json(credential: Option<Value>) -> Result<String, ApiError> {
    match credential {
        Some(credential @ Value::Object(_)) => Ok(credential.to_string()),
        _ => Err(ApiError::InvalidFields(
            [(
                "credential".to_owned(),
                "credential is required: the PublicKeyCredential's toJSON()".to_owned(),
            )]
            .into(),
        )),
    }
}

#[utoipa::path(
    post,
    path = "/users/passkeys/register/start",
    operation_id = "passkey_register_start",
    tag = "passkeys",
    summary = "Begin adding a passkey or security key (with a token), or a passkey sign-up (without)",
    request_body(content = Option<RegisterStart>, content_type = "application/json"),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The ceremony and its creation options", body = Envelope<Ceremony>),
        OptionalJsonBody<RegisterStart>,
        (status = 401, description = "A token that is invalid or expired", body = Failure),
        (status = 403, description = "The sign-in is not recent: log in again, or send current_password", body = Failure),
        (status = 409, description = "Sign-up: the email is taken", body = Failure),
        (status = 429, description = "Too many attempts; see `Retry-After`", body = Failure),
        Backends,
    ),
)]
pub(crate) async fn register_start(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    token: Result<Option<BearerToken>, ApiError>,
    headers: HeaderMap,
    body: Result<OptionalJsonBody<RegisterStart>, ApiError>,
) -> Result<Success<Ceremony>, ApiError> {
    let token = token?;
    let OptionalJsonBody(body) = body?;
    let backends = &state.backends;
    let auth = backends.auth.clone();
    let (ceremony_id, options_json) = if let Some(token) = token {
        let kind = match body.kind.as_deref() {
            None | Some("passkey") => PasskeyKind::Passkey,
            Some("security_key") => PasskeyKind::SecurityKey,
            Some(_) => {
                return Err(ApiError::InvalidFields(
                    [(
                        "kind".to_owned(),
                        "kind must be passkey or security_key".to_owned(),
                    )]
                    .into(),
                ));
            }
        };
        let message = StartPasskeyRegistrationRequest {
            kind: kind as i32,
            current_password: body.current_password,
        };
        let mut call = backends.unary_request(message, Some(&token));
        forward_client(&mut call, client, &headers);
        let answer = backends
            .unary(auth.clone().start_passkey_registration(call))
            .await?;
        (answer.ceremony_id, answer.options_json)
    } else {
        let message = StartPasskeySignUpRequest {
            name: body.name,
            email: body.email,
        };
        let mut call = backends.unary_request(message, None);
        forward_client(&mut call, client, &headers);
        let answer = backends
            .unary(auth.clone().start_passkey_sign_up(call))
            .await?;
        (answer.ceremony_id, answer.options_json)
    };
    Ok(Success::ok(
        "Create the credential with these options",
        Ceremony {
            ceremony_id,
            options: webauthn_options(&options_json)?,
        },
    ))
}

#[utoipa::path(
    post,
    path = "/users/passkeys/register/finish",
    operation_id = "passkey_register_finish",
    tag = "passkeys",
    summary = "Finish adding a credential (with a token: the passkey), or a sign-up (without: signed in)",
    request_body(content = Finish, content_type = "application/json"),
    security((), ("bearer" = [])),
    responses(
        (status = 201, description = "The credential added, or the new account signed in", body = Envelope<Registered>),
        JsonBody<Finish>,
        (status = 401, description = "A token that is invalid or expired", body = Failure),
        (status = 409, description = "The credential or (sign-up) the email is registered already", body = Failure),
        Backends,
    ),
)]
pub(crate) async fn register_finish(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    token: Result<Option<BearerToken>, ApiError>,
    headers: HeaderMap,
    body: Result<JsonBody<Finish>, ApiError>,
) -> Result<Success<Registered>, ApiError> {
    let token = token?;
    let JsonBody(body) = body?;
    let credential_json = credential_json(body.credential)?;
    let backends = &state.backends;
    let auth = backends.auth.clone();
    let stale = |error: ApiError| error.on_code(Code::NotFound, ApiError::InvalidCeremony);
    if let Some(token) = token {
        let message = FinishPasskeyRegistrationRequest {
            ceremony_id: body.ceremony_id,
            credential_json,
            name: body.name,
        };
        let call = backends.unary_request(message, Some(&token));
        let answer = backends
            .unary(auth.clone().finish_passkey_registration(call))
            .await
            .map_err(stale)?;
        let passkey = answer
            .passkey
            .ok_or(Internal::Contract("a registration answered no passkey"))?;
        return Ok(Success::created(
            "Passkey added",
            Registered::Passkey(passkey.into()),
        ));
    }
    let message = FinishPasskeySignUpRequest {
        ceremony_id: body.ceremony_id,
        credential_json,
        name: body.name,
    };
    let mut call = backends.unary_request(message, None);
    forward_client(&mut call, client, &headers);
    let answer = backends
        .unary(auth.clone().finish_passkey_sign_up(call))
        .await
        .map_err(stale)?;
    Ok(Success::created(
        "Account created and signed in",
        Registered::SignedUp(logged_in(Granted {
            user: answer.user,
            token: answer.token,
            expires_at: answer.expires_at,
            refresh_token: answer.refresh_token,
            refresh_expires_at: answer.refresh_expires_at,
            session_id: answer.session_id,
        })?),
    ))
}
