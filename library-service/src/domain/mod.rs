//! The values of the library domain. Requests become these at the edge, once; past
//! it, the store and the upload workflows take only these, and nothing re-validates.
//!
//! - [`fields`]: a book's title, description and category, and the ids of books and
//!   covers.
//! - [`changes`]: the fields `CreateBook` and `UpdateBook` send, parsed by one parser.

pub mod changes;
pub mod fields;

pub use changes::{BookEdit, BookFields, FieldChanges};
pub use fields::{BookTitle, CATEGORIES, Category, Description, parse_book_id, parse_cover_id};
