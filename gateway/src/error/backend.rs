//! How a backend's gRPC status becomes an [`ApiError`]: as grpc-gateway maps codes,
//! refined by the status's `google.rpc` details.

use std::collections::BTreeMap;

use tonic::Code;
use tonic_types::StatusExt;

use bookshelf_proto::{auth::v1::error_info as auth_error_info, library::v1::error_info};

use super::{ApiError, BadBody, Internal, TooLarge, WrongContentType};

/// The error a backend's status means, as grpc-gateway maps codes, refined by the
/// status's `google.rpc` details. Every code is named, so none is mapped by
/// accident.
pub(super) fn from_status(status: tonic::Status) -> ApiError {
    let reason = status.get_details_error_info().map(|info| info.reason);
    let retry_after = retry_after(&status);
    match (status.code(), reason.as_deref()) {
        (_, Some(error_info::COVER_TOO_LARGE)) => {
            TooLarge::CoverInLibrary(status.message().to_owned()).into()
        }
        (_, Some(error_info::UNSUPPORTED_IMAGE)) => WrongContentType::CoverImage.into(),
        (
            Code::ResourceExhausted,
            Some(error_info::TOO_MANY_UPLOADS | error_info::QUOTA_EXCEEDED),
        ) => ApiError::LibraryLimit {
            message: status.message().to_owned(),
            retry_after,
        },
        (Code::ResourceExhausted, _) => ApiError::Throttled {
            // A throttle that does not say how long still means a wait.
            retry_after: retry_after.unwrap_or(60),
        },
        (Code::InvalidArgument, _) => match field_errors(&status) {
            Some(fields) => ApiError::InvalidFields(fields),
            None => BadBody::InvalidData.into(),
        },
        (Code::Unauthenticated, Some(auth_error_info::INVALID_CODE)) => ApiError::InvalidCode,
        (Code::Unauthenticated, Some(auth_error_info::INVALID_MFA_TOKEN)) => {
            ApiError::InvalidMfaToken
        }
        (Code::Unauthenticated, Some(auth_error_info::WRONG_PASSWORD)) => ApiError::WrongPassword,
        (Code::Unauthenticated, _) => ApiError::InvalidToken,
        (Code::FailedPrecondition, Some(error_info::WRONG_OFFSET)) => ApiError::UploadOffset {
            offset: committed_size(&status),
        },
        (Code::NotFound, Some(error_info::UPLOAD_NOT_FOUND)) => ApiError::UploadNotFound,
        (Code::FailedPrecondition, _) => ApiError::Precondition(status.message().to_owned()),
        (Code::PermissionDenied, Some(auth_error_info::REAUTHENTICATION_REQUIRED)) => {
            ApiError::ReauthenticationRequired
        }
        (Code::PermissionDenied, _) => ApiError::Forbidden,
        (Code::NotFound, _) => ApiError::NotFound,
        (Code::AlreadyExists, _) => ApiError::Conflict(status.message().to_owned()),
        (Code::Unavailable, _) => ApiError::Unavailable { retry_after },
        // Made here, not by the backend: the connection closed under a call it had
        // just been given (the backend went away), which is an outage, not a delay.
        (Code::Cancelled, _) if connection_closed(&status) => ApiError::Unavailable { retry_after },
        (Code::DeadlineExceeded | Code::Cancelled, _) => ApiError::Deadline,
        // Made here, not by the backend: the connection broke mid-call (the backend
        // died). The backend's own statuses never carry a local source error.
        (Code::Unknown, _) if std::error::Error::source(&status).is_some() => ApiError::BadGateway,
        (
            code @ (Code::Ok
            | Code::Unknown
            | Code::Internal
            | Code::Aborted
            | Code::OutOfRange
            | Code::Unimplemented
            | Code::DataLoss),
            _,
        ) => Internal::Backend {
            code,
            message: status.message().to_owned(),
        }
        .into(),
    }
}

/// Whether `status` was made by the client because the connection was gone before
/// the call could be answered, rather than by a deadline.
fn connection_closed(status: &tonic::Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if error
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_canceled)
        {
            return true;
        }
        source = error.source();
    }
    false
}

/// The tutorial's error object from a `google.rpc.BadRequest`: field -> description.
fn field_errors(status: &tonic::Status) -> Option<BTreeMap<String, String>> {
    let bad_request = status.get_details_bad_request()?;
    let mut fields = BTreeMap::new();
    for violation in bad_request.field_violations {
        fields
            .entry(violation.field)
            .or_insert(violation.description);
    }
    Some(fields)
}

/// The wait a status's `RetryInfo` asks for, in whole seconds rounded up and at least
/// one: rounding down would send the client back too early, to be refused again.
fn retry_after(status: &tonic::Status) -> Option<u64> {
    let delay = status.get_details_retry_info()?.retry_delay?;
    let seconds = delay.as_nanos().div_ceil(1_000_000_000).max(1);
    Some(u64::try_from(seconds).unwrap_or(u64::MAX))
}

/// The committed size a refused Write's `google.rpc.ErrorInfo` tells; 0 if missing,
/// which only sends a client back to ask with `HEAD`.
fn committed_size(status: &tonic::Status) -> i64 {
    status
        .get_details_error_info()
        .and_then(|info| info.metadata.get("committed_size")?.parse().ok())
        .unwrap_or(0)
}
