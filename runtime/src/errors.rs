//! Statuses every service answers the same way.

use crate::postgres_reads::ReadError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// One invalid field of a request, reported as a `google.rpc.BadRequest` violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The request field, as the client named it.
    pub field: &'static str,
    /// What is wrong with it, in words a user can act on.
    pub description: String,
}

impl FieldViolation {
    /// A violation of `field`.
    pub fn new(field: &'static str, description: impl Into<String>) -> Self {
        Self {
            field,
            description: description.into(),
        }
    }
}

/// INVALID_ARGUMENT with a `google.rpc.BadRequest` listing every violation.
pub fn invalid_argument(violations: &[FieldViolation]) -> Status {
    let details = ErrorDetails::with_bad_request(
        violations
            .iter()
            .map(|violation| {
                tonic_types::FieldViolation::new(violation.field, violation.description.clone())
            })
            .collect::<Vec<_>>(),
    );
    Status::with_error_details(Code::InvalidArgument, "invalid request", details)
}

/// INTERNAL, saying nothing of the cause, which is logged here with its chain.
pub fn internal(error: &(dyn std::error::Error + 'static)) -> Status {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    tracing::error!(error = %chain, "internal error");
    Status::internal("internal error")
}

/// A database failure as a status: UNAVAILABLE while the database cannot be reached or
/// is restarting (the caller may retry), INTERNAL for anything else. Either way the
/// cause is logged here and the answer says nothing of it.
pub fn database(error: &sqlx::Error) -> Status {
    let unreachable = match error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // SQLSTATE class 08 (connection exception) and 57P (operator intervention:
        // shutdown, restart, cannot connect now).
        sqlx::Error::Database(database) => database
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    };
    if unreachable {
        tracing::warn!(%error, "database unavailable");
        Status::unavailable("the database is unavailable; try again shortly")
    } else {
        internal(error)
    }
}

/// The status for a failed read on the SQLite read path: UNAVAILABLE while the file is
/// locked past the read's patience (a recovery or checkpoint), INTERNAL for anything
/// else; logged like [`database`].
pub fn sqlite_read(error: &rusqlite::Error) -> Status {
    let locked = error.sqlite_error_code().is_some_and(|code| {
        matches!(
            code,
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
        )
    });
    if locked {
        tracing::warn!(%error, "database unavailable");
        Status::unavailable("the database is unavailable; try again shortly")
    } else {
        internal(error)
    }
}

/// The status for a failed transaction on SQLite's writer: as [`sqlite_read`] for a
/// failure of SQLite's, UNAVAILABLE when the writer has stopped (the process is
/// shutting down).
pub fn sqlite_write(error: &crate::sqlite_writes::WriteError) -> Status {
    match error {
        crate::sqlite_writes::WriteError::Sqlite(error) => sqlite_read(error),
        crate::sqlite_writes::WriteError::Stopped => {
            tracing::warn!(%error, "database unavailable");
            Status::unavailable("the database is unavailable; try again shortly")
        }
    }
}

/// The status for a failed read on the PostgreSQL read path: UNAVAILABLE when the
/// connection could not be opened, was lost or went silent, or the server is shutting
/// down or refusing connections, INTERNAL for anything else; logged like [`database`].
pub fn postgres_read(error: &ReadError) -> Status {
    let unreachable = match error {
        ReadError::NoAnswer => true,
        ReadError::Postgres(error) => {
            error.is_closed()
                || error.code().is_some_and(|code| {
                    let code = code.code();
                    code.starts_with("08") || code.starts_with("57P")
                })
                || std::error::Error::source(error)
                    .is_some_and(|cause| cause.is::<std::io::Error>())
        }
    };
    if unreachable {
        tracing::warn!(%error, "database unavailable");
        Status::unavailable("the database is unavailable; try again shortly")
    } else {
        internal(error)
    }
}
