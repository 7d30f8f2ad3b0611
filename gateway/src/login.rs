//! `POST /users/login`: the password step of a login, and the answer every login that
//! passed all its factors gives (the second step is in `mfa`).

use std::collections::BTreeMap;

use axum::{extract::State, http::HeaderMap};
use bookshelf_proto::auth::v1::{LoginRequest, User};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tonic::Code;

use crate::{
    AppState,
    backends::Backends,
    client_address::{ClientAddress, forward_client},
    envelope::{Envelope, Failure, Success},
    error::{ApiError, Internal},
    extract::JsonBody,
    timestamps::rfc3339,
    users::{UserJson, user_of},
};

/// `POST /users/login` as sent: each field any JSON value, so that a missing or
/// mistyped one becomes a field error rather than a bare parse error, and a body that
/// is not an object lacks both. A field sent twice is refused as malformed JSON, as a
/// derived struct would. No `Debug`: it holds a plaintext password. Described as the
/// body a client should send.
#[derive(Default, utoipa::ToSchema)]
#[schema(as = Credentials, description = "An email and its password.")]
pub(crate) struct LoginBody {
    #[schema(value_type = String, required = true, min_length = 1, example = "ada@example.com")]
    email: Option<Value>,
    #[schema(value_type = String, required = true, min_length = 1, example = "Sup3r-Secret!")]
    password: Option<Value>,
}

impl<'de> Deserialize<'de> for LoginBody {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;

        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = LoginBody;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a JSON value")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<LoginBody, A::Error> {
                let mut body = LoginBody::default();
                while let Some(key) = map.next_key::<String>()? {
                    let slot = match key.as_str() {
                        "email" => &mut body.email,
                        "password" => &mut body.password,
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                            continue;
                        }
                    };
                    if slot.is_some() {
                        return Err(serde::de::Error::custom(format!("duplicate field `{key}`")));
                    }
                    *slot = Some(map.next_value()?);
                }
                Ok(body)
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<LoginBody, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(LoginBody::default())
            }

            fn visit_str<E>(self, _: &str) -> Result<LoginBody, E> {
                Ok(LoginBody::default())
            }

            fn visit_bool<E>(self, _: bool) -> Result<LoginBody, E> {
                Ok(LoginBody::default())
            }

            fn visit_i64<E>(self, _: i64) -> Result<LoginBody, E> {
                Ok(LoginBody::default())
            }

            fn visit_u64<E>(self, _: u64) -> Result<LoginBody, E> {
                Ok(LoginBody::default())
            }

            fn visit_f64<E>(self, _: f64) -> Result<LoginBody, E> {
                Ok(LoginBody::default())
            }

            fn visit_unit<E>(self) -> Result<LoginBody, E> {
                Ok(LoginBody::default())
            }
        }

        deserializer.deserialize_any(Fields)
    }
}

/// An email and a password, both present and strings. Anything else is refused with
/// field errors before it reaches the auth service, so only well-formed attempts
/// count against the guess limits. No `Debug`: it holds a plaintext password.
pub(crate) struct Credentials {
    email: String,
    password: String,
}

impl TryFrom<LoginBody> for Credentials {
    type Error = ApiError;

    fn try_from(body: LoginBody) -> Result<Self, ApiError> {
        let mut errors = BTreeMap::new();
        let mut field = |name: &str, value: Option<Value>| match value {
            Some(Value::String(value)) if !value.is_empty() => Some(value),
            None | Some(Value::Null) | Some(Value::String(_)) => {
                errors.insert(name.to_owned(), format!("{name} is required"));
                None
            }
            Some(_) => {
                errors.insert(name.to_owned(), format!("{name} must be a string"));
                None
            }
        };
        let (email, password) = (field("email", body.email), field("password", body.password));
        match (email, password) {
            (Some(email), Some(password)) => Ok(Self { email, password }),
            _ => Err(ApiError::InvalidFields(errors)),
        }
    }
}

/// The login answer: the user, its token, and the session the login opened. No
/// `Debug`: it holds the token and the refresh token.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LoggedIn {
    #[serde(flatten)]
    user: UserJson,
    /// The bearer token.
    token: String,
    /// When the token expires (RFC 3339).
    expires_at: Option<String>,
    /// Exchanged once, at `POST /users/token`, for a new token and refresh token.
    refresh_token: String,
    /// When the refresh token expires (RFC 3339).
    refresh_expires_at: Option<String>,
    /// The session this login opened.
    session_id: String,
}

/// WebAuthn options the auth service made, as the JSON object they are.
pub(crate) fn webauthn_options(json: &str) -> Result<Value, ApiError> {
    serde_json::from_str(json)
        .map_err(|_| Internal::Contract("WebAuthn options are not JSON").into())
}

/// What the auth service answers for a login that passed every factor, whichever
/// step completed it.
pub(crate) struct Granted {
    /// The account.
    pub(crate) user: Option<User>,
    /// The bearer token.
    pub(crate) token: String,
    /// When the token expires.
    pub(crate) expires_at: Option<prost_types::Timestamp>,
    /// The session's refresh token.
    pub(crate) refresh_token: String,
    /// When the refresh token expires.
    pub(crate) refresh_expires_at: Option<prost_types::Timestamp>,
    /// The session the login opened.
    pub(crate) session_id: String,
}

/// The answer of a login that passed every factor, from the auth service's fields.
pub(crate) fn logged_in(granted: Granted) -> Result<LoggedIn, ApiError> {
    Ok(LoggedIn {
        user: user_of(granted.user)?,
        token: granted.token,
        expires_at: granted.expires_at.map(rfc3339),
        refresh_token: granted.refresh_token,
        refresh_expires_at: granted.refresh_expires_at.map(rfc3339),
        session_id: granted.session_id,
    })
}

/// The login answer for an account with a second factor: no token yet, and no `Debug`
/// (the `mfa_token` is a secret while it lasts).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct MfaRequired {
    /// Always true.
    mfa_required: bool,
    /// Send it with a code or a security key's assertion to `POST /users/login/mfa`;
    /// single-use, short-lived.
    mfa_token: String,
    /// What the second step accepts: any of `totp`, `security_key`, `recovery_code`.
    mfa_methods: Vec<String>,
    /// Present when the account has a security key: the request options to pass to
    /// `navigator.credentials.get`.
    #[serde(skip_serializing_if = "Option::is_none")]
    security_key: Option<SecurityKeyChallenge>,
}

/// A security key's challenge for a login's second step.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SecurityKeyChallenge {
    /// PublicKeyCredentialRequestOptionsJSON.
    #[schema(value_type = Object)]
    options: Value,
}

/// What `POST /users/login` answers.
/// No `Debug`: both kinds hold a secret.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(crate) enum LoginAnswer {
    /// The password was all the account needs.
    LoggedIn(LoggedIn),
    /// The account needs a second factor.
    MfaRequired(MfaRequired),
}

#[utoipa::path(
    post,
    path = "/users/login",
    tag = "users",
    summary = "Log in for a token and a refresh token (a new session)",
    request_body(content = LoginBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The user and a bearer token, or, for an account with a second factor, `mfa_required` and the `mfa_token` for `POST /users/login/mfa`", body = Envelope<LoginAnswer>),
        JsonBody<LoginBody>,
        (status = 401, description = "Invalid email or password", body = Failure),
        (status = 429, description = "Too many attempts; see `Retry-After`", body = Failure),
        Backends,
    ),
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<Success<LoginAnswer>, ApiError> {
    let credentials = Credentials::try_from(body)?;
    let backends = &state.backends;
    let message = LoginRequest {
        email: credentials.email,
        password: credentials.password,
    };
    let mut call = backends.unary_request(message, None);
    forward_client(&mut call, client, &headers);
    let response = backends
        .unary(backends.auth.clone().login(call))
        .await
        .map_err(|error| error.on_code(Code::Unauthenticated, ApiError::InvalidCredentials))?;
    if response.mfa_required {
        return Ok(Success::ok(
            "A second factor is required",
            LoginAnswer::MfaRequired(MfaRequired {
                mfa_required: true,
                mfa_token: response.mfa_token,
                mfa_methods: response.mfa_methods,
                security_key: if response.security_key_options_json.is_empty() {
                    None
                } else {
                    Some(SecurityKeyChallenge {
                        options: webauthn_options(&response.security_key_options_json)?,
                    })
                },
            }),
        ));
    }
    Ok(Success::ok(
        "Successfully fetched auth token",
        LoginAnswer::LoggedIn(logged_in(Granted {
            user: response.user,
            token: response.token,
            expires_at: response.expires_at,
            refresh_token: response.refresh_token,
            refresh_expires_at: response.refresh_expires_at,
            session_id: response.session_id,
        })?),
    ))
}
