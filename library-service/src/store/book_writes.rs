//! The statements that write books, shared by both write paths: sqlx (PostgreSQL, and
//! SQLite where a write changes an upload too) and SQLite's writer.

use super::columns::book_columns;

/// A new book; created and updated at the same time, `$9`.
pub(super) const INSERT_BOOK: &str = concat!(
    "INSERT INTO books (",
    book_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING ",
    book_columns!()
);

/// The fields an update sets (`NULL` keeps a field), applied only while the book's
/// cover is still the one it replaces (`$9`, empty for none) when it brings a new one.
pub(super) const UPDATE_BOOK: &str = concat!(
    "UPDATE books SET title = COALESCE($1, title), \
     description = COALESCE($2, description), category = COALESCE($3, category), \
     cover_id = COALESCE($4, cover_id), \
     cover_content_type = COALESCE($5, cover_content_type), \
     cover_bytes = COALESCE($10, cover_bytes), updated_at = $6 \
     WHERE id = $7 AND owner_id = $8 \
     AND ($4 IS NULL OR COALESCE(cover_id, '') = $9) RETURNING ",
    book_columns!()
);

/// One book of its owner, removed.
pub(super) const DELETE_BOOK: &str = concat!(
    "DELETE FROM books WHERE id = $1 AND owner_id = $2 RETURNING ",
    book_columns!()
);
