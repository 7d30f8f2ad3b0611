//! The values of the library domain. Requests become these at the edge, once; past
//! it, the store and the upload workflows take only these, and nothing re-validates.
//!
//! - [`ids`]: book, owner and cover ids, and a book's reference to its cover.
//! - [`fields`]: a book's title, description and category.
//! - [`changes`]: the fields `CreateBook` and `UpdateBook` send, parsed by one parser.

pub mod changes;
pub mod fields;
pub mod ids;

pub use changes::{BookEdit, BookFields, FieldChanges};
pub use fields::{BookTitle, CATEGORIES, Category, Description};
pub use ids::{BookId, CoverId, CoverRef, UserId};
