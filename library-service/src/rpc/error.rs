//! The errors of the library API and their one mapping to `tonic::Status`.

use std::{collections::HashMap, time::Duration};

use bookshelf_runtime::errors::{
    FieldViolation, database, internal, invalid_argument, postgres_read, sqlite_read, sqlite_write,
};
use bookshelf_tokens::TokenError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use bookshelf_proto::library::v1::error_info;

use crate::{
    covers::CoverError,
    store::{QuotaExceeded, StoreError},
};

/// The request field that carries the cover, as the REST API names it.
pub(super) const COVER_FIELD: &str = "cover_image";

/// Everything a library RPC can answer besides success.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LibraryError {
    /// Fields failed validation.
    #[error("invalid request")]
    InvalidArgument(Vec<FieldViolation>),
    /// No such book among the caller's.
    #[error("book not found")]
    NotFound,
    /// No such resumable upload among the caller's (or it expired).
    #[error("upload not found")]
    UploadNotFound,
    /// A Write's offset is not the upload's committed size.
    #[error("write offset is not the committed size {committed}")]
    WrongOffset {
        /// The committed size, where the next Write must start.
        committed: i64,
    },
    /// Another Write is appending to the upload.
    #[error("another write is appending to the upload")]
    UploadBusy {
        /// The committed size.
        committed: i64,
    },
    /// The upload's last bytes were written already.
    #[error("upload already complete")]
    UploadComplete {
        /// Its size.
        committed: i64,
    },
    /// A book names an upload whose last bytes have not arrived.
    #[error("upload not complete")]
    UploadIncomplete,
    /// The upload passed the byte cap.
    #[error("cover larger than {limit} bytes")]
    CoverTooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The cover was refused by the image pipeline.
    #[error(transparent)]
    Cover(#[from] CoverError),
    /// The client's stream failed.
    #[error("upload stream failed")]
    Stream(Status),
    /// The client's stream sent nothing for this long.
    #[error("upload stream idle for {0:?}")]
    Idle(Duration),
    /// The caller already has this many uploads in flight or waiting.
    #[error("too many uploads in flight")]
    TooManyUploads {
        /// The most uploads in flight and waiting per account.
        limit: usize,
    },
    /// The caller's token no longer holds (checked again before an upload commits).
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Cover storage failed.
    #[error("cover storage failed")]
    Storage(#[from] std::io::Error),
    /// The decoding threads are gone, or a decode panicked.
    #[error(transparent)]
    Decoders(#[from] bookshelf_runtime::workers::WorkError),
    /// A blocking task died.
    #[error("background task failed")]
    Task(#[from] tokio::task::JoinError),
}

impl From<FieldViolation> for LibraryError {
    fn from(violation: FieldViolation) -> Self {
        Self::InvalidArgument(vec![violation])
    }
}

/// RESOURCE_EXHAUSTED with its reason, and a retry delay when waiting helps.
fn exhausted(reason: &str, message: String, retry: Option<Duration>) -> Status {
    let mut details = ErrorDetails::new();
    details.set_error_info(reason, error_info::DOMAIN, HashMap::new());
    if let Some(delay) = retry {
        details.set_retry_info(Some(delay));
    }
    Status::with_error_details(Code::ResourceExhausted, message, details)
}

fn quota_status(exceeded: QuotaExceeded) -> Status {
    bookshelf_runtime::metrics::refused("quota");
    let message = match exceeded {
        QuotaExceeded::Books { limit } => {
            format!("book quota reached: an account may keep at most {limit} books")
        }
        QuotaExceeded::CoverBytes { limit } => format!(
            "cover storage quota reached: an account's covers may take at most {limit} bytes"
        ),
    };
    exhausted(error_info::QUOTA_EXCEEDED, message, None)
}

/// FAILED_PRECONDITION for a Write that cannot append, telling the committed size in
/// its `google.rpc.ErrorInfo` (`committed_size`), where the next Write must start.
fn offset_status(message: String, committed: i64) -> Status {
    let mut details = ErrorDetails::new();
    details.set_error_info(
        error_info::WRONG_OFFSET,
        error_info::DOMAIN,
        HashMap::from([("committed_size".to_owned(), committed.to_string())]),
    );
    Status::with_error_details(Code::FailedPrecondition, message, details)
}

fn cover_status(code: Code, reason: &str, description: String) -> Status {
    let mut details = ErrorDetails::with_bad_request_violation(COVER_FIELD, description.clone());
    details.set_error_info(reason, error_info::DOMAIN, HashMap::new());
    Status::with_error_details(code, format!("{COVER_FIELD} {description}"), details)
}

impl From<LibraryError> for Status {
    fn from(error: LibraryError) -> Self {
        match error {
            LibraryError::InvalidArgument(violations) => invalid_argument(&violations),
            LibraryError::NotFound => Status::not_found("book not found"),
            LibraryError::UploadNotFound | LibraryError::Store(StoreError::UploadGone) => {
                let mut details = ErrorDetails::new();
                details.set_error_info(
                    error_info::UPLOAD_NOT_FOUND,
                    error_info::DOMAIN,
                    HashMap::new(),
                );
                Status::with_error_details(Code::NotFound, "upload not found", details)
            }
            LibraryError::WrongOffset { committed } => offset_status(
                format!("write_offset must be the committed size, {committed}"),
                committed,
            ),
            LibraryError::UploadBusy { committed } => offset_status(
                "another write is appending to this upload".to_owned(),
                committed,
            ),
            LibraryError::UploadComplete { committed } => {
                offset_status("the upload is already complete".to_owned(), committed)
            }
            LibraryError::UploadIncomplete => {
                let mut details = ErrorDetails::new();
                details.add_precondition_failure_violation(
                    "UPLOAD_INCOMPLETE",
                    "cover_upload",
                    "the upload's last bytes have not arrived",
                );
                Status::with_error_details(
                    Code::FailedPrecondition,
                    "the upload is not complete",
                    details,
                )
            }
            LibraryError::CoverTooLarge { limit } => cover_status(
                Code::ResourceExhausted,
                error_info::COVER_TOO_LARGE,
                format!("must be at most {limit} bytes"),
            ),
            LibraryError::Cover(error @ (CoverError::TooLarge | CoverError::Corrupt)) => {
                cover_status(
                    Code::InvalidArgument,
                    error_info::INVALID_IMAGE,
                    error.to_string(),
                )
            }
            LibraryError::Cover(error @ CoverError::UnsupportedFormat) => cover_status(
                Code::InvalidArgument,
                error_info::UNSUPPORTED_IMAGE,
                error.to_string(),
            ),
            LibraryError::Cover(error @ CoverError::Encode) => internal(&error),
            LibraryError::Stream(status) => status,
            LibraryError::Idle(idle) => Status::cancelled(format!(
                "the upload sent nothing for {} ms",
                idle.as_millis()
            )),
            LibraryError::TooManyUploads { limit } => {
                bookshelf_runtime::metrics::refused("uploads_in_flight");
                exhausted(
                    error_info::TOO_MANY_UPLOADS,
                    format!("an account may have at most {limit} uploads in flight or waiting"),
                    Some(Duration::from_secs(1)),
                )
            }
            LibraryError::Token(error) => error.into(),
            LibraryError::Store(StoreError::TitleTaken) => {
                Status::already_exists("you already have a book with this title")
            }
            LibraryError::Store(StoreError::QuotaExceeded(exceeded)) => quota_status(exceeded),
            LibraryError::Store(StoreError::Database(error)) => database(&error),
            LibraryError::Store(StoreError::Read(error)) => sqlite_read(&error),
            LibraryError::Store(StoreError::PostgresRead(error)) => postgres_read(&error),
            LibraryError::Store(StoreError::Write(error)) => sqlite_write(&error),
            LibraryError::Storage(error) => internal(&error),
            LibraryError::Task(error) => internal(&error),
            LibraryError::Decoders(error) => internal(&error),
        }
    }
}
