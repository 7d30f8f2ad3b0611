//! The gateway's errors and their one mapping to HTTP: each variant's message is its
//! `Display`, its status and `error` detail come from one `match` each, and a gRPC
//! status becomes a variant (as grpc-gateway maps codes, refined by `google.rpc`
//! details) before it is answered.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use std::collections::BTreeMap;

use tonic::Code;

use bookshelf_proto::auth::v1::error_info as auth_error_info;

use crate::envelope::{Failure, FailureDetail};

/// Where a resumable upload's next append starts: sent with each `PATCH`, answered
/// by every upload route and by a refusal at the wrong offset.
pub(crate) const UPLOAD_OFFSET: &str = "upload-offset";

/// Everything a route can answer besides success.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// The request has no `Authorization` header.
    #[error("Authentication Token is missing!")]
    MissingToken,
    /// The token is refused: by a backend, or at once when the header cannot hold one.
    #[error("Invalid Authentication token!")]
    InvalidToken,
    /// Field-level problems: the tutorial's error object, field -> message.
    #[error("Invalid data")]
    InvalidFields(BTreeMap<String, String>),
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
    #[error("Invalid or expired mfa_token, log in again")]
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
    /// No passkey of the caller has the id given.
    #[error("Passkey not found")]
    PasskeyNotFound,
    /// A WebAuthn ceremony that is unknown, spent or expired.
    #[error("Invalid or expired ceremony_id, start again")]
    InvalidCeremony,
    /// A passkey sign-in failed, whatever the reason: one answer for all.
    #[error("Passkey sign-in failed")]
    PasskeyRefused,
    /// No such resumable upload among the caller's, or one that expired.
    #[error("Upload not found")]
    UploadNotFound,
    /// A resumable upload cannot be appended to at the offset sent (another append
    /// is under way, or it is complete): the offset it has reached.
    #[error("Upload-Offset must be {offset}, the bytes received so far")]
    UploadOffset {
        /// Where the next append must start.
        offset: i64,
    },
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
    /// The caller may not do this, for a reason the backend does not name.
    #[error("Forbidden")]
    Forbidden,
    /// What is sent clashes with what exists (a taken email, a title the caller has),
    /// in the backend's words.
    #[error("{0}")]
    Conflict(String),
    /// The account is not in the state the request needs (TOTP not enrolled, ...), in
    /// the backend's words.
    #[error("{0}")]
    Precondition(String),
    /// Failed attempts are throttled: try again after `retry_after` seconds.
    #[error("Too many attempts, try again later")]
    Throttled {
        /// Seconds to wait, rounded up.
        retry_after: u64,
    },
    /// A limit of the library (uploads in flight, the quota), in its words; waiting
    /// helps only when it says how long to wait.
    #[error("{message}")]
    LibraryLimit {
        /// The library's explanation.
        message: String,
        /// Seconds to wait, rounded up, when waiting helps.
        retry_after: Option<u64>,
    },
    /// No such route.
    #[error("Endpoint Not Found")]
    RouteNotFound,
    /// The route exists, the method does not.
    #[error("Method Not Allowed")]
    MethodNotAllowed,
    /// The budget for covers held until their form's fields arrive is spent.
    #[error("Too many uploads at once, try again shortly")]
    HoldingFull,
    /// A backend is down or overloaded.
    #[error("Service unavailable, try again shortly")]
    Unavailable {
        /// Seconds to wait, rounded up, when the backend said.
        retry_after: Option<u64>,
    },
    /// The connection to a backend broke mid-call.
    #[error("The service failed to answer, try again")]
    BadGateway,
    /// A backend did not answer within its deadline.
    #[error("The service took too long to answer")]
    Deadline,
    /// A backend answered with a gRPC status not yet read: routes may turn some codes
    /// into errors of their own (see [`ApiError::on_code`]); the rest are mapped by
    /// [`backend::from_status`] when answered.
    #[error("backend call failed: {}", .0.code())]
    Backend(tonic::Status),
    /// A fault of the gateway's own, or a backend answer that breaks the contract.
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// Why a body is refused as malformed (400).
#[derive(Debug, thiserror::Error)]
pub(crate) enum BadBody {
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
    /// A resumable upload's header that is missing or malformed.
    #[error("Missing or malformed {0} header")]
    UploadHeader(&'static str),
    /// A book form with both a cover and an upload to take it from.
    #[error("Send cover_image or cover_upload, not both")]
    CoverTwice,
    /// A cover part with no bytes: most likely a file that failed to be read, so it
    /// is refused rather than taken for a book without a cover.
    #[error(
        "cover_image is empty: send the image, or leave the part out for a book without a cover"
    )]
    EmptyCover,
    /// A query string that does not parse.
    #[error("Malformed query string")]
    MalformedQuery,
    /// A backend refused an argument without saying which field.
    #[error("Invalid data")]
    InvalidData,
}

/// What is larger than allowed (413).
#[derive(Debug, thiserror::Error)]
pub(crate) enum TooLarge {
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
pub(crate) enum WrongContentType {
    /// A JSON route.
    #[error("Content-Type must be application/json")]
    Json,
    /// A form route.
    #[error("Content-Type must be multipart/form-data with a boundary")]
    Multipart,
    /// An append to a resumable upload.
    #[error("Content-Type must be application/partial-upload")]
    PartialUpload,
    /// A cover that is not an image the library takes.
    #[error("cover_image must be a JPEG, PNG, GIF or WebP image")]
    CoverImage,
}

/// A fault of the gateway's own, or a backend answer that breaks the contract: a 500
/// whose cause is logged and never shown.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Internal {
    /// A passkey call answered something that breaks the contract (no credential,
    /// options that are not JSON).
    #[error("a passkey answer breaks the contract: {0}")]
    Contract(&'static str),
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
    /// A backend failed with a status no client can act on; its message may carry
    /// internals, so it is logged and never answered.
    #[error("a backend failed with {code:?}: {message}")]
    Backend {
        /// The status's code.
        code: Code,
        /// The status's message.
        message: String,
    },
}

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        Self::Backend(status)
    }
}

impl ApiError {
    /// `replacement` when this is a backend status of `code`, such as a login's
    /// UNAUTHENTICATED, which means a wrong password rather than a bad token.
    pub(crate) fn on_code(self, code: Code, replacement: ApiError) -> ApiError {
        match self {
            Self::Backend(status) if status.code() == code => replacement,
            other => other,
        }
    }

    /// The HTTP status of each error.
    fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken
            | Self::InvalidToken
            | Self::InvalidCredentials
            | Self::InvalidCode
            | Self::InvalidMfaToken
            | Self::InvalidRefreshToken
            | Self::PasskeyRefused
            | Self::WrongPassword => StatusCode::UNAUTHORIZED,
            Self::InvalidFields(_)
            | Self::BadRequest(_)
            | Self::Precondition(_)
            | Self::InvalidCeremony => StatusCode::BAD_REQUEST,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotFound
            | Self::SessionNotFound
            | Self::PasskeyNotFound
            | Self::UploadNotFound
            | Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::ReauthenticationRequired | Self::Forbidden => StatusCode::FORBIDDEN,
            Self::Conflict(_) | Self::UploadOffset { .. } => StatusCode::CONFLICT,
            Self::Throttled { .. } | Self::LibraryLimit { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::HoldingFull | Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadGateway => StatusCode::BAD_GATEWAY,
            Self::Deadline => StatusCode::GATEWAY_TIMEOUT,
            Self::Backend(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Seconds the client should wait before trying again, when waiting helps.
    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Throttled { retry_after } => Some(*retry_after),
            Self::LibraryLimit { retry_after, .. } => *retry_after,
            // An outage that the backend did not time: a client told nothing would
            // retry at once, or pick its own pace; "shortly" is a second.
            Self::Unavailable { retry_after } => Some(retry_after.unwrap_or(1)),
            // Held covers leave as soon as their forms end.
            Self::HoldingFull => Some(1),
            _ => None,
        }
    }

    /// The envelope of this error: its message, and in `error` the field errors, the
    /// reason a client acts on, or the status's reason phrase.
    fn failure(&self) -> Failure {
        let status = self.status();
        let detail = match self {
            Self::InvalidFields(fields) => FailureDetail::Fields(fields.clone()),
            Self::ReauthenticationRequired => {
                FailureDetail::Reason(auth_error_info::REAUTHENTICATION_REQUIRED)
            }
            _ => FailureDetail::Reason(status.canonical_reason().unwrap_or_default()),
        };
        Failure::new(self.to_string(), detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = match self {
            Self::Backend(status) => backend::from_status(status),
            other => other,
        };
        if let Self::Internal(fault) = &error {
            tracing::error!(%fault, "request failed");
            return internal_error();
        }
        let mut response = error.failure().into_response(error.status());
        if let Self::UploadOffset { offset } = &error {
            response
                .headers_mut()
                .insert(UPLOAD_OFFSET, HeaderValue::from(*offset));
        }
        if let Some(seconds) = error.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A 500 that says nothing of the cause, only the request id to quote.
fn internal_error() -> Response {
    let request_id = crate::request_id::current()
        .and_then(|id| id.to_str().ok().map(str::to_owned))
        .unwrap_or_default();
    Failure::new(
        "internal error".to_owned(),
        FailureDetail::RequestId { request_id },
    )
    .into_response(StatusCode::INTERNAL_SERVER_ERROR)
}

mod backend;
#[cfg(test)]
mod tests;
