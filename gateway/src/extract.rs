//! Request extractors whose every rejection is an answer in the envelope: 401 for a
//! route's missing token, 400 for a malformed or mistyped body (never axum's bare
//! 422), 415 for a wrong content type, 413 for an oversized body, 404 for a path id
//! that names nothing.

use axum::{
    Json,
    body::{Body, Bytes},
    extract::{
        FromRequest, FromRequestParts, Path, Request,
        rejection::{JsonRejection, PathRejection},
    },
    http::{HeaderValue, StatusCode, header::AUTHORIZATION, request::Parts},
};
use serde::de::DeserializeOwned;
use utoipa::{IntoResponses, openapi::RefOr};

use crate::{
    envelope::described_refusals,
    error::{ApiError, BadBody, TooLarge, WrongContentType},
};

/// The longest `Authorization` header passed on. Tokens are a few hundred bytes; a
/// longer header holds none, and passing it on would break the backend call (HTTP/2
/// peers refuse header lists past 16 KiB) instead of refusing the token.
const MAX_AUTHORIZATION_BYTES: usize = 8 * 1024;

/// The caller's `Authorization`, taken by every route that needs a token. Without
/// one, or with one that cannot hold a token (too long, not ASCII), the answer is 401
/// at once, before any body is read. The token itself is judged by the services, which
/// receive it with each call.
pub(crate) struct BearerToken(HeaderValue);

impl BearerToken {
    /// The header as the client sent it.
    pub(crate) fn header(&self) -> &HeaderValue {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for BearerToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.headers.get(AUTHORIZATION) {
            None => Err(ApiError::MissingToken),
            Some(value) if value.is_empty() => Err(ApiError::MissingToken),
            Some(value) if value.len() > MAX_AUTHORIZATION_BYTES || value.to_str().is_err() => {
                Err(ApiError::InvalidToken)
            }
            Some(value) => Ok(Self(value.clone())),
        }
    }
}

/// A route where the token is optional (a sign-up or adding a credential): no header
/// is `None`; a header that cannot hold a token is refused as [`BearerToken`] does.
impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for BearerToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, ApiError> {
        if parts.headers.get(AUTHORIZATION).is_none() {
            return Ok(None);
        }
        <Self as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}

impl IntoResponses for BearerToken {
    fn responses() -> std::collections::BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        described_refusals(&[(
            401,
            "Token missing, invalid, expired, of a disabled account or of an ended session",
        )])
    }
}

/// A JSON body of type `T`.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T> IntoResponses for JsonBody<T> {
    fn responses() -> std::collections::BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        described_refusals(&[
            (400, "Malformed JSON, or field errors in `error`"),
            (413, "Body too large"),
            (415, "Content-Type is not application/json"),
        ])
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(WrongContentType::Json.into()),
            Err(JsonRejection::JsonDataError(error)) => Err(BadBody::MistypedJson(
                error
                    .body_text()
                    .rsplit(": ")
                    .next()
                    .unwrap_or("wrong type")
                    .to_owned(),
            )
            .into()),
            Err(JsonRejection::JsonSyntaxError(_)) => Err(BadBody::MalformedJson.into()),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(TooLarge::Body.into())
            }
            Err(_) => Err(BadBody::Unreadable.into()),
        }
    }
}

/// A JSON body of type `T` that a client may leave out: no body at all reads as
/// `T::default()` (so `DELETE /users/` without a body keeps working as the tutorial
/// sends it), while a body that is there is held to every rule of [`JsonBody`].
pub(crate) struct OptionalJsonBody<T>(pub(crate) T);

impl<T> IntoResponses for OptionalJsonBody<T> {
    fn responses() -> std::collections::BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        JsonBody::<T>::responses()
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|rejection| match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::from(TooLarge::Body),
                _ => BadBody::Unreadable.into(),
            })?;
        if bytes.is_empty() {
            return Ok(Self(T::default()));
        }
        let request = Request::from_parts(parts, Body::from(bytes));
        let JsonBody(value) = JsonBody::from_request(request, state).await?;
        Ok(Self(value))
    }
}

/// The id of a path such as `/books/{id}`. One that does not even decode (invalid
/// UTF-8 once percent-decoded) names no book: 404 in the envelope like any unknown id,
/// not axum's plain-text 400. Handlers answer a missing token first, so they take the
/// extraction's result and call this after.
pub(crate) fn path_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(id)| id).map_err(|_| ApiError::NotFound)
}
