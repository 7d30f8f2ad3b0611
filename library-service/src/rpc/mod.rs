//! The gRPC edge: `library.v1.LibraryService`, where requests become domain values and
//! answers become messages.
//!
//! - [`state`]: [`LibraryApi`], the state every RPC shares.
//! - [`service`]: the `LibraryService` implementation, handing each RPC to its group.
//! - [`books`]: `GetBook`, `ListBooks` and `DeleteBook`, with listing pages in
//!   [`paging`].
//! - [`covers`] serves `GetCover`.
//! - [`uploads`]: `CreateBook` and `UpdateBook`, one upload path for both, reading
//!   their streams through [`streams`].
//! - [`resumable`]: `library.v1.UploadService`, resumable uploads shaped like
//!   google.bytestream, with `Write` in [`appends`]; a book names a complete one in
//!   its metadata and [`uploads`] takes its cover from it.
//! - [`convert`]: messages to domain values and back, and the caller of a request.
//! - [`error`]: [`LibraryError`](error::LibraryError) and its one mapping to a status.

mod appends;
mod books;
mod convert;
mod covers;
mod error;
pub(crate) mod paging;
mod resumable;
mod service;
mod state;
mod streams;
mod uploads;

pub(crate) use state::LibraryApi;
pub(crate) use streams::UploadRules;
