//! The tutorial's response envelope, `{"message", "data", "error"}`, for every body.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::{BufMut, BytesMut};
use serde::Serialize;
use serde_json::Value;

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

/// An envelope with no data: the body of every error.
pub fn failure(status: StatusCode, message: &str, error: Value) -> Response {
    let body = Body {
        message,
        data: Value::Null,
        error,
    };
    json(status, &body, ONE_BOOK_BYTES)
}
