//! The values of the library domain. Requests become these at the edge, once; past
//! it, the store and the upload workflows take only these, and nothing re-validates.
//!
//! - [`ids`]: book, owner and cover ids, and a book's reference to its stored cover.
//! - [`fields`]: a book's title, description and category.
//! - [`changes`]: the fields `CreateBook` and `UpdateBook` set, parsed by one parser.
//! - [`upload_ids`]: the names of resumable uploads.

mod changes;
mod fields;
mod ids;
mod upload_ids;

pub(crate) use changes::{BookEdit, BookFields, BookWrite, FieldChanges};
#[cfg(test)]
pub(crate) use fields::CATEGORIES;
pub(crate) use fields::{BookTitle, Category, Description};
pub(crate) use ids::{BookId, CoverId, CoverRef, StoredCover, UserId};
pub(crate) use upload_ids::UploadId;
