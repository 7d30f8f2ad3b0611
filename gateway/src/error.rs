//! The gateway's errors and their one mapping to HTTP, including the mapping of gRPC
//! statuses (as grpc-gateway maps them) and of `google.rpc` details.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};
use tonic::Code;
use tonic_types::StatusExt;

use bookshelf_proto::{auth::v1::error_info as auth_error_info, library::v1::error_info};

use crate::envelope::failure;

/// Everything a route can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request has no `Authorization` header.
    #[error("Authentication Token is missing!")]
    MissingToken,
    /// The token is refused: by a backend, or at once when the header cannot hold one.
    #[error("Invalid Authentication token!")]
    InvalidToken,
    /// Field-level problems: the tutorial's error object, field -> message.
    #[error("Invalid data")]
    InvalidFields(Map<String, Value>),
    /// The body is not what the route takes (malformed JSON, a bad form, ...).
    #[error(transparent)]
    BadRequest(#[from] BadBody),
    /// Email and password do not match an active account.
    #[error("Error fetching auth token!, invalid email or password")]
    InvalidCredentials,
    /// A second-factor code is wrong, replayed or already spent.
    #[error("Invalid code")]
    InvalidCode,
    /// An `mfa_token` is unknown, expired or already spent.
    #[error("Invalid or expired mfa_token")]
    InvalidMfaToken,
    /// The body, or a part of it, is larger than allowed.
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
    /// The body's content type is not the one the route takes.
    #[error(transparent)]
    UnsupportedMediaType(#[from] WrongContentType),
    /// No such book or cover among the caller's, or a path that names none.
    #[error("Book not found")]
    NotFound,
    /// A refresh token that is unknown, expired, spent, or of an ended session.
    #[error("Invalid refresh token!")]
    InvalidRefreshToken,
    /// No open session of the caller has the id given.
    #[error("Session not found")]
    SessionNotFound,
    /// The current password given to change it is wrong.
    #[error("Current password is wrong")]
    WrongPassword,
    /// The change needs a factor proven recently: a new login, or the current
    /// password in the body.
    #[error("This change needs a recent sign-in: log in again, or send current_password")]
    ReauthenticationRequired,
    /// No such route.
    #[error("Endpoint Not Found")]
    RouteNotFound,
    /// The route exists, the method does not.
    #[error("Method Not Allowed")]
    MethodNotAllowed,
    /// A backend answered with a gRPC status.
    #[error("backend call failed: {}", .0.code())]
    Backend(tonic::Status),
    /// The budget for covers held until their form's fields arrive is spent.
    #[error("Too many uploads at once, try again shortly")]
    HoldingFull,
    /// A backend did not answer within its deadline.
    #[error("backend deadline exceeded")]
    Deadline,
    /// A fault of the gateway's own, or a backend answer that breaks the contract.
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// Why a body is refused as malformed (400).
#[derive(Debug, thiserror::Error)]
pub enum BadBody {
    /// Not JSON at all.
    #[error("Malformed JSON body")]
    MalformedJson,
    /// JSON, but a value of the wrong type; the parser's own words say which.
    #[error("Invalid JSON body: {0}")]
    MistypedJson(String),
    /// The body broke off or could not be read.
    #[error("Unreadable request body")]
    Unreadable,
    /// Not a well-formed multipart form.
    #[error("Malformed multipart body")]
    MalformedMultipart,
    /// A form's text field that is not UTF-8.
    #[error("Form fields must be UTF-8")]
    FormFieldNotUtf8,
    /// A form with more than one cover.
    #[error("Send exactly one cover_image")]
    SecondCover,
    /// A text field after a cover that was streamed as it came, because the fields
    /// its upload needs came before it: the backend already has the book's fields.
    #[error("{0} came after cover_image, which was already being stored: send it before the cover")]
    FieldAfterStreamedCover(&'static str),
    /// A query string that does not parse.
    #[error("Malformed query string")]
    MalformedQuery,
    /// A backend refused an argument without saying which field.
    #[error("Invalid data")]
    InvalidData,
}

/// What is larger than allowed (413).
#[derive(Debug, thiserror::Error)]
pub enum TooLarge {
    /// The whole body.
    #[error("Request body too large")]
    Body,
    /// One text field of a form.
    #[error("A form field is too long")]
    FormField,
    /// The cover, past the gateway's byte cap.
    #[error("Cover image too large: must be at most {max_bytes} bytes")]
    Cover {
        /// The cap.
        max_bytes: usize,
    },
    /// The cover, past the library's byte cap, in the library's words.
    #[error("Cover image too large: {0}")]
    CoverInLibrary(String),
}

/// The content type a route takes, when the request's is another (415).
#[derive(Debug, thiserror::Error)]
pub enum WrongContentType {
    /// A JSON route.
    #[error("Content-Type must be application/json")]
    Json,
    /// A form route.
    #[error("Content-Type must be multipart/form-data with a boundary")]
    Multipart,
    /// A cover that is not an image the library takes.
    #[error("cover_image must be a JPEG, PNG, GIF or WebP image")]
    CoverImage,
}

/// A fault of the gateway's own, or a backend answer that breaks the contract: a 500
/// whose cause is logged and never shown.
#[derive(Debug, thiserror::Error)]
pub enum Internal {
    /// A user call answered without its user.
    #[error("a user response without a user")]
    MissingUser,
    /// A book call answered without its book.
    #[error("a book response without a book")]
    MissingBook,
    /// A cover stream whose first message is not its content type.
    #[error("a cover stream without its content type")]
    CoverWithoutContentType,
    /// A cover stream that ended before its first message.
    #[error("an empty cover stream")]
    EmptyCoverStream,
    /// A content type that cannot be an HTTP header.
    #[error("an unusable content type")]
    UnusableContentType,
    /// The task that streamed an upload to the library panicked.
    #[error("the upload task failed")]
    UploadTaskFailed,
    /// The server was set up without peer addresses, which throttling needs: refusing
    /// is safer than letting every client share one allowance.
    #[error("the gateway serves without peer addresses")]
    NoPeerAddress,
}

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        Self::Backend(status)
    }
}

/// The tutorial's error object from a `google.rpc.BadRequest`: field -> description.
fn field_errors(status: &tonic::Status) -> Option<Map<String, Value>> {
    let bad_request = status.get_details_bad_request()?;
    let mut fields = Map::new();
    for violation in bad_request.field_violations {
        fields
            .entry(violation.field)
            .or_insert(Value::String(violation.description));
    }
    Some(fields)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::MissingToken => failure(
                StatusCode::UNAUTHORIZED,
                "Authentication Token is missing!",
                json!("Unauthorized"),
            ),
            Self::InvalidToken => failure(
                StatusCode::UNAUTHORIZED,
                "Invalid Authentication token!",
                json!("Unauthorized"),
            ),
            Self::InvalidFields(fields) => failure(
                StatusCode::BAD_REQUEST,
                "Invalid data",
                Value::Object(fields),
            ),
            Self::BadRequest(why) => failure(
                StatusCode::BAD_REQUEST,
                &why.to_string(),
                json!("Bad Request"),
            ),
            Self::InvalidCredentials => failure(
                StatusCode::UNAUTHORIZED,
                "Error fetching auth token!, invalid email or password",
                json!("Unauthorized"),
            ),
            Self::InvalidCode => failure(
                StatusCode::UNAUTHORIZED,
                "Invalid code",
                json!("Unauthorized"),
            ),
            Self::InvalidMfaToken => failure(
                StatusCode::UNAUTHORIZED,
                "Invalid or expired mfa_token, log in again",
                json!("Unauthorized"),
            ),
            Self::TooLarge(what) => failure(
                StatusCode::PAYLOAD_TOO_LARGE,
                &what.to_string(),
                json!("Payload Too Large"),
            ),
            Self::UnsupportedMediaType(wanted) => failure(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &wanted.to_string(),
                json!("Unsupported Media Type"),
            ),
            Self::NotFound => failure(StatusCode::NOT_FOUND, "Book not found", json!("Not Found")),
            Self::InvalidRefreshToken => failure(
                StatusCode::UNAUTHORIZED,
                "Invalid refresh token!",
                json!("Unauthorized"),
            ),
            Self::SessionNotFound => failure(
                StatusCode::NOT_FOUND,
                "Session not found",
                json!("Not Found"),
            ),
            Self::WrongPassword => failure(
                StatusCode::UNAUTHORIZED,
                "Current password is wrong",
                json!("Unauthorized"),
            ),
            Self::ReauthenticationRequired => failure(
                StatusCode::FORBIDDEN,
                "This change needs a recent sign-in: log in again, or send current_password",
                json!(auth_error_info::REAUTHENTICATION_REQUIRED),
            ),
            Self::RouteNotFound => failure(
                StatusCode::NOT_FOUND,
                "Endpoint Not Found",
                json!("Not Found"),
            ),
            Self::MethodNotAllowed => failure(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed",
                json!("Method Not Allowed"),
            ),
            Self::HoldingFull => {
                let mut response = failure(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Too many uploads at once, try again shortly",
                    json!("Service Unavailable"),
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(1u64));
                response
            }
            Self::Deadline => failure(
                StatusCode::GATEWAY_TIMEOUT,
                "The service took too long to answer",
                json!("Gateway Timeout"),
            ),
            Self::Backend(status) => backend_response(&status),
            Self::Internal(fault) => {
                tracing::error!(%fault, "request failed");
                internal_error()
            }
        }
    }
}

fn backend_response(status: &tonic::Status) -> Response {
    let reason = status.get_details_error_info().map(|info| info.reason);
    match (status.code(), reason.as_deref()) {
        (_, Some(error_info::COVER_TOO_LARGE)) => {
            ApiError::from(TooLarge::CoverInLibrary(status.message().to_owned())).into_response()
        }
        (_, Some(error_info::UNSUPPORTED_IMAGE)) => {
            ApiError::from(WrongContentType::CoverImage).into_response()
        }
        // Limits of the library rather than throttled attempts: the status says which
        // (the quota reached, the uploads in flight), and waiting helps only when it
        // says how long to wait.
        (
            Code::ResourceExhausted,
            Some(error_info::TOO_MANY_UPLOADS | error_info::QUOTA_EXCEEDED),
        ) => {
            let mut response = failure(
                StatusCode::TOO_MANY_REQUESTS,
                status.message(),
                json!("Too Many Requests"),
            );
            if let Some(delay) = status
                .get_details_retry_info()
                .and_then(|info| info.retry_delay)
            {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(delay.as_secs().max(1)),
                );
            }
            response
        }
        (Code::InvalidArgument, _) => match field_errors(status) {
            Some(fields) => ApiError::InvalidFields(fields).into_response(),
            None => ApiError::from(BadBody::InvalidData).into_response(),
        },
        (Code::Unauthenticated, Some(auth_error_info::INVALID_CODE)) => {
            ApiError::InvalidCode.into_response()
        }
        (Code::Unauthenticated, Some(auth_error_info::INVALID_MFA_TOKEN)) => {
            ApiError::InvalidMfaToken.into_response()
        }
        (Code::Unauthenticated, Some(auth_error_info::WRONG_PASSWORD)) => {
            ApiError::WrongPassword.into_response()
        }
        (Code::Unauthenticated, _) => ApiError::InvalidToken.into_response(),
        (Code::FailedPrecondition, _) => failure(
            StatusCode::BAD_REQUEST,
            status.message(),
            json!("Bad Request"),
        ),
        (Code::PermissionDenied, Some(auth_error_info::REAUTHENTICATION_REQUIRED)) => {
            ApiError::ReauthenticationRequired.into_response()
        }
        (Code::PermissionDenied, _) => {
            failure(StatusCode::FORBIDDEN, "Forbidden", json!("Forbidden"))
        }
        (Code::NotFound, _) => ApiError::NotFound.into_response(),
        (Code::AlreadyExists, _) => {
            failure(StatusCode::CONFLICT, status.message(), json!("Conflict"))
        }
        (Code::ResourceExhausted, _) => with_retry_after(
            failure(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts, try again later",
                json!("Too Many Requests"),
            ),
            status,
        ),
        (Code::Unavailable, _) => with_retry_after(
            failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service unavailable, try again shortly",
                json!("Service Unavailable"),
            ),
            status,
        ),
        (Code::DeadlineExceeded | Code::Cancelled, _) => ApiError::Deadline.into_response(),
        // Made here, not by the backend: the connection broke mid-call (the backend
        // died). The backend's own statuses never carry a local source error.
        (Code::Unknown, _) if std::error::Error::source(status).is_some() => failure(
            StatusCode::BAD_GATEWAY,
            "The service failed to answer, try again",
            json!("Bad Gateway"),
        ),
        (code, _) => {
            // The status may carry internals: log it, answer nothing of it.
            tracing::error!(?code, message = status.message(), "backend failed");
            internal_error()
        }
    }
}

/// `Retry-After` from the status's `RetryInfo`: the real wait, rounded up to whole
/// seconds (rounding down would send the client back too early, to be refused
/// again). A 429 without one says a minute; a 503 without one says nothing.
fn with_retry_after(mut response: Response, status: &tonic::Status) -> Response {
    let delay = status
        .get_details_retry_info()
        .and_then(|info| info.retry_delay);
    let seconds = match delay {
        Some(delay) => Some(delay.as_millis().div_ceil(1000).max(1) as u64),
        None if response.status() == StatusCode::TOO_MANY_REQUESTS => Some(60),
        None => None,
    };
    if let Some(seconds) = seconds {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// A 500 that says nothing of the cause, only the request id to quote.
pub fn internal_error() -> Response {
    let request_id = crate::request_id::current()
        .and_then(|id| id.to_str().ok().map(str::to_owned))
        .unwrap_or_default();
    failure(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error",
        json!({ "request_id": request_id }),
    )
}
