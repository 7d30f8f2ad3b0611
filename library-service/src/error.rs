//! The errors of the library API and their one mapping to `tonic::Status`.

use std::collections::HashMap;

use bookshelf_runtime::errors::{FieldViolation, database, internal, invalid_argument};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::{covers::CoverError, store::StoreError};

/// The `google.rpc.ErrorInfo` domain of this service's reasons.
pub const ERROR_DOMAIN: &str = "library.bookshelf";
/// ErrorInfo reason: the cover is not an image this service takes.
pub const REASON_UNSUPPORTED_IMAGE: &str = "UNSUPPORTED_IMAGE";
/// ErrorInfo reason: the cover passes the byte or pixel cap.
pub const REASON_COVER_TOO_LARGE: &str = "COVER_TOO_LARGE";
/// The request field that carries the cover, as the REST API names it.
pub const COVER_FIELD: &str = "cover_image";

/// Everything a library RPC can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    /// Fields failed validation.
    #[error("invalid request")]
    InvalidArgument(Vec<FieldViolation>),
    /// No such book among the caller's.
    #[error("book not found")]
    NotFound,
    /// The caller already has a book of this title.
    #[error("title already used")]
    TitleTaken,
    /// The upload passed the byte cap.
    #[error("cover larger than {limit} bytes")]
    CoverTooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The cover was refused by the image pipeline.
    #[error(transparent)]
    Cover(#[from] CoverError),
    /// The client's stream failed or was cut off.
    #[error("upload stream failed")]
    Stream(Status),
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

fn cover_status(code: Code, reason: &str, description: String) -> Status {
    let mut details = ErrorDetails::with_bad_request_violation(COVER_FIELD, description.clone());
    details.set_error_info(reason, ERROR_DOMAIN, HashMap::new());
    Status::with_error_details(code, format!("{COVER_FIELD} {description}"), details)
}

impl From<LibraryError> for Status {
    fn from(error: LibraryError) -> Self {
        match error {
            LibraryError::InvalidArgument(violations) => invalid_argument(&violations),
            LibraryError::NotFound => Status::not_found("book not found"),
            LibraryError::TitleTaken => {
                Status::already_exists("you already have a book with this title")
            }
            LibraryError::CoverTooLarge { limit } => cover_status(
                Code::ResourceExhausted,
                REASON_COVER_TOO_LARGE,
                format!("must be at most {limit} bytes"),
            ),
            LibraryError::Cover(error @ CoverError::TooLarge) => cover_status(
                Code::InvalidArgument,
                REASON_COVER_TOO_LARGE,
                error.to_string(),
            ),
            LibraryError::Cover(error @ (CoverError::UnsupportedFormat | CoverError::Corrupt)) => {
                cover_status(
                    Code::InvalidArgument,
                    REASON_UNSUPPORTED_IMAGE,
                    error.to_string(),
                )
            }
            LibraryError::Cover(error @ CoverError::Encode) => internal(&error),
            LibraryError::Stream(status) => status,
            LibraryError::Store(StoreError::TitleTaken) => {
                Status::already_exists("you already have a book with this title")
            }
            LibraryError::Store(StoreError::Database(error)) => database(&error),
            LibraryError::Storage(error) => internal(&error),
            LibraryError::Task(error) => internal(&error),
            LibraryError::Decoders(error) => internal(&error),
        }
    }
}
