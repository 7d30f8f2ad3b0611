//! The tutorial's response envelope, `{"message", "data", "error"}`, for every body.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::Value;

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
        (self.status, Json(body)).into_response()
    }
}

/// An envelope with no data: the body of every error.
pub fn failure(status: StatusCode, message: &str, error: Value) -> Response {
    let body = Body {
        message,
        data: Value::Null,
        error,
    };
    (status, Json(body)).into_response()
}
