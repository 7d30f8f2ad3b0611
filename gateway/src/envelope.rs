//! The tutorial's response envelope, `{"message", "data", "error"}`, for every body.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::{BufMut, BytesMut};
use serde::Serialize;
use serde_json::{Map, Value};

/// Room for an answer with one book in its envelope, about 400 bytes, without growing.
pub const ONE_BOOK_BYTES: usize = 512;

/// `body` as a JSON answer, written into a buffer of `capacity` bytes. axum's `Json`
/// starts at 128 bytes and doubles, so a page of books was copied six times over as
/// it grew.
pub fn json(status: StatusCode, body: &impl Serialize, capacity: usize) -> Response {
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

/// A successful answer: a status, a message and the data.
pub struct Success<T> {
    status: StatusCode,
    message: &'static str,
    data: T,
}

#[derive(Serialize)]
struct Body<'a, T> {
    message: &'a str,
    data: T,
    error: Value,
}

impl<T: Serialize> Success<T> {
    /// 200 with `data`.
    pub fn ok(message: &'static str, data: T) -> Self {
        Self {
            status: StatusCode::OK,
            message,
            data,
        }
    }

    /// 201 with `data`.
    pub fn created(message: &'static str, data: T) -> Self {
        Self {
            status: StatusCode::CREATED,
            message,
            data,
        }
    }
}

impl<T: Serialize> IntoResponse for Success<T> {
    fn into_response(self) -> Response {
        let body = Body {
            message: self.message,
            data: self.data,
            error: Value::Null,
        };
        json(self.status, &body, ONE_BOOK_BYTES)
    }
}

/// An answer that refuses: `data` is null; `error` says more than the message.
#[derive(Serialize)]
pub struct Failure {
    message: String,
    /// Always null when refusing.
    data: (),
    error: FailureDetail,
}

/// What a refusal says beyond its message.
#[derive(Serialize)]
#[serde(untagged)]
pub enum FailureDetail {
    /// The status's reason phrase, or a reason a client acts on.
    Reason(&'static str),
    /// Field -> what is wrong with it.
    Fields(Map<String, Value>),
    /// For a 500: the request id to quote.
    RequestId {
        /// The request's `x-request-id`.
        request_id: String,
    },
}

impl Failure {
    /// A refusal saying `message`, and `error` beside it.
    pub fn new(message: String, error: FailureDetail) -> Self {
        Self {
            message,
            data: (),
            error,
        }
    }

    /// The answer, with `status`.
    pub fn into_response(self, status: StatusCode) -> Response {
        json(status, &self, ONE_BOOK_BYTES)
    }
}
