//! Request extractors whose every rejection is an answer in the envelope: 400 for a
//! malformed or mistyped body (never axum's bare 422), 415 for a wrong content type,
//! 413 for an oversized body.

use axum::{
    Json,
    extract::{FromRequest, Request, rejection::JsonRejection},
    http::StatusCode,
};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body of type `T`.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::UnsupportedMediaType(
                "Content-Type must be application/json".to_owned(),
            )),
            Err(JsonRejection::JsonDataError(error)) => Err(ApiError::BadRequest(format!(
                "Invalid JSON body: {}",
                error
                    .body_text()
                    .rsplit(": ")
                    .next()
                    .unwrap_or("wrong type")
            ))),
            Err(JsonRejection::JsonSyntaxError(_)) => {
                Err(ApiError::BadRequest("Malformed JSON body".to_owned()))
            }
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::TooLarge("Request body too large".to_owned()))
            }
            Err(_) => Err(ApiError::BadRequest("Unreadable request body".to_owned())),
        }
    }
}
