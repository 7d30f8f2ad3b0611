//! The tutorial's response envelope, `{"message", "data", "error"}`, for every body:
//! the types answers are written from, which the OpenAPI description shows as they are.

use std::collections::BTreeMap;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::{BufMut, BytesMut};
use serde::Serialize;
use utoipa::{
    ToSchema,
    openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder, response::Response as Described},
};

/// Room for an answer with one book in its envelope, about 400 bytes, without growing.
pub(crate) const ONE_BOOK_BYTES: usize = 512;

/// `body` as a JSON answer, written into a buffer of `capacity` bytes. axum's `Json`
/// starts small and doubles, so a page of books was copied over and over as it grew.
pub(crate) fn json(status: StatusCode, body: &impl Serialize, capacity: usize) -> Response {
    let mut buffer = BytesMut::with_capacity(capacity).writer();
    match serde_json::to_writer(&mut buffer, body) {
        Ok(()) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            buffer.into_inner().freeze(),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "an answer did not serialize");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A successful answer's body: `data` holds the result; `error` is null.
#[derive(Serialize, ToSchema)]
pub(crate) struct Envelope<T> {
    message: &'static str,
    data: T,
    /// Always null on success.
    #[schema(value_type = Option<String>)]
    error: (),
}

impl<T> Envelope<T> {
    /// `data`, with `message`.
    pub(crate) fn new(message: &'static str, data: T) -> Self {
        Self {
            message,
            data,
            error: (),
        }
    }
}

/// A successful answer: a status and its envelope.
pub(crate) struct Success<T> {
    status: StatusCode,
    body: Envelope<T>,
}

impl<T: Serialize> Success<T> {
    /// 200 with `data`.
    pub(crate) fn ok(message: &'static str, data: T) -> Self {
        Self {
            status: StatusCode::OK,
            body: Envelope::new(message, data),
        }
    }

    /// 201 with `data`.
    pub(crate) fn created(message: &'static str, data: T) -> Self {
        Self {
            status: StatusCode::CREATED,
            body: Envelope::new(message, data),
        }
    }
}

impl<T: Serialize> IntoResponse for Success<T> {
    fn into_response(self) -> Response {
        json(self.status, &self.body, ONE_BOOK_BYTES)
    }
}

/// An answer that refuses: `data` is null; `error` says more than the message.
#[derive(Serialize, ToSchema)]
pub(crate) struct Failure {
    message: String,
    /// Always null when refusing.
    #[schema(value_type = Option<String>)]
    data: (),
    error: FailureDetail,
}

/// What a refusal says beyond its message.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum FailureDetail {
    /// The status's reason phrase ("Unauthorized"), or a reason a client acts on.
    Reason(&'static str),
    /// Field -> what is wrong with it.
    Fields(BTreeMap<String, String>),
    /// For a 500: the request id to quote.
    RequestId {
        /// The request's `x-request-id`.
        request_id: String,
    },
}

impl Failure {
    /// A refusal saying `message`, and `error` beside it.
    pub(crate) fn new(message: String, error: FailureDetail) -> Self {
        Self {
            message,
            data: (),
            error,
        }
    }

    /// The answer, with `status`.
    pub(crate) fn into_response(self, status: StatusCode) -> Response {
        json(status, &self, ONE_BOOK_BYTES)
    }
}

/// Refusals as the OpenAPI description lists them, status -> what it means, each with
/// a [`Failure`] body: for the `IntoResponses` of the extractors and clients that
/// produce them.
pub(crate) fn described_refusals(refusals: &[(u16, &str)]) -> BTreeMap<String, RefOr<Described>> {
    refusals
        .iter()
        .map(|(status, description)| {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Failure")))
                .build();
            let response = ResponseBuilder::new()
                .description(*description)
                .content("application/json", content)
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}
