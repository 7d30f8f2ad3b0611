//! `/users/passkeys` and `/users/passkeys/{id}`: the caller's passkeys and security
//! keys, listed, renamed and deleted. Adding one is in `passkeys`.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
};
use bookshelf_proto::auth::v1::{DeletePasskeyRequest, ListPasskeysRequest, RenamePasskeyRequest};
use serde::Deserialize;
use tonic::Code;

use crate::{
    AppState,
    backends::Backends,
    client_address::{ClientAddress, forward_client},
    envelope::{Envelope, Failure, Success},
    error::{ApiError, Internal},
    extract::{BearerToken, JsonBody, OptionalJsonBody},
    passkeys::PasskeyJson,
};

/// `PATCH /users/passkeys/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct Rename {
    /// The new label: 1 to 64 characters.
    #[schema(example = "YubiKey 5")]
    name: String,
}

/// `DELETE /users/passkeys/{id}`: the password when the sign-in is not recent. No
/// `Debug`: it holds a password.
#[derive(Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct Deletion {
    /// The account's password.
    #[serde(default)]
    current_password: String,
}

#[utoipa::path(
    get,
    path = "/users/passkeys",
    operation_id = "list_passkeys",
    tag = "passkeys",
    summary = "The caller's passkeys and security keys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The credentials, oldest first", body = Envelope<Vec<PasskeyJson>>),
        BearerToken,
        Backends,
    ),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    token: BearerToken,
) -> Result<Success<Vec<PasskeyJson>>, ApiError> {
    let backends = &state.backends;
    let call = backends.unary_request(ListPasskeysRequest {}, Some(&token));
    let answer = backends
        .unary(backends.auth.clone().list_passkeys(call))
        .await?;
    Ok(Success::ok(
        "successfully retrieved passkeys",
        answer.passkeys.into_iter().map(PasskeyJson::from).collect(),
    ))
}

#[utoipa::path(
    patch,
    path = "/users/passkeys/{id}",
    operation_id = "rename_passkey",
    tag = "passkeys",
    summary = "Rename one of the caller's credentials",
    request_body(content = Rename, content_type = "application/json"),
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The credential's `_id`")),
    responses(
        (status = 200, description = "The credential renamed", body = Envelope<PasskeyJson>),
        BearerToken,
        JsonBody<Rename>,
        (status = 404, description = "No credential of the caller has this id", body = Failure),
        Backends,
    ),
)]
pub(crate) async fn rename(
    State(state): State<AppState>,
    Path(id): Path<String>,
    token: BearerToken,
    body: Result<JsonBody<Rename>, ApiError>,
) -> Result<Success<PasskeyJson>, ApiError> {
    let JsonBody(body) = body?;
    let backends = &state.backends;
    let message = RenamePasskeyRequest {
        id,
        name: body.name,
    };
    let call = backends.unary_request(message, Some(&token));
    let answer = backends
        .unary(backends.auth.clone().rename_passkey(call))
        .await
        .map_err(|error| error.on_code(Code::NotFound, ApiError::PasskeyNotFound))?;
    let passkey = answer
        .passkey
        .ok_or(Internal::Contract("a rename answered no passkey"))?;
    Ok(Success::ok("Passkey renamed", passkey.into()))
}

#[utoipa::path(
    delete,
    path = "/users/passkeys/{id}",
    operation_id = "delete_passkey",
    tag = "passkeys",
    summary = "Delete one of the caller's credentials; never the account's last way in",
    request_body(content = Option<Deletion>, content_type = "application/json"),
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The credential's `_id`")),
    responses(
        (status = 204, description = "Deleted"),
        BearerToken,
        OptionalJsonBody<Deletion>,
        (status = 403, description = "The sign-in is not recent: log in again, or send current_password", body = Failure),
        (status = 404, description = "No credential of the caller has this id", body = Failure),
        Backends,
    ),
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    Path(id): Path<String>,
    token: BearerToken,
    headers: HeaderMap,
    body: Result<OptionalJsonBody<Deletion>, ApiError>,
) -> Result<StatusCode, ApiError> {
    let OptionalJsonBody(body) = body?;
    let backends = &state.backends;
    let message = DeletePasskeyRequest {
        id,
        current_password: body.current_password,
    };
    let mut call = backends.unary_request(message, Some(&token));
    forward_client(&mut call, client, &headers);
    backends
        .unary(backends.auth.clone().delete_passkey(call))
        .await
        .map_err(|error| error.on_code(Code::NotFound, ApiError::PasskeyNotFound))?;
    Ok(StatusCode::NO_CONTENT)
}
