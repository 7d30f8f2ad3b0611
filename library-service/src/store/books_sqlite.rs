//! The book writes as SQLite's writer runs them: the same statements as through sqlx
//! ([`super::books`]), each write whole on the writer's connection, which is the
//! database's only writer while it runs. So the quota may be read before the book is
//! written: nothing can change it in between, and a refusal writes nothing.

use bookshelf_runtime::sqlite_reads::{OptionalExtension, rusqlite, rusqlite::Connection};

use super::{
    book_writes::{DELETE_BOOK, INSERT_BOOK, UPDATE_BOOK},
    records::{BookRecord, Quota, QuotaExceeded},
};

/// What a write came to, short of a failure of the database.
pub(super) enum Written<T> {
    /// Done, with what it returns.
    Done(T),
    /// Refused by the owner's quota; nothing written.
    OverQuota(QuotaExceeded),
}

/// A new book, owned, for the writer's thread.
pub(super) struct NewBook {
    pub(super) id: String,
    pub(super) owner_id: String,
    pub(super) title: String,
    pub(super) description: String,
    pub(super) category: &'static str,
    /// The cover's id, media type and size, if it has one.
    pub(super) cover: Option<(String, String, i64)>,
    pub(super) now: i64,
}

/// An update, owned, for the writer's thread.
pub(super) struct Update {
    pub(super) id: String,
    pub(super) owner_id: String,
    pub(super) title: Option<String>,
    pub(super) description: Option<String>,
    pub(super) category: Option<&'static str>,
    /// The new cover's id, media type and size, if it brings one.
    pub(super) cover: Option<(String, String, i64)>,
    /// The cover it replaces (empty for none) and that cover's size.
    pub(super) replacing: (String, i64),
    pub(super) now: i64,
}

/// Whether `books` more books and `cover_bytes` more bytes fit the owner's quota, as
/// the conditional update on PostgreSQL decides it (giving back always fits).
fn check_quota(
    connection: &Connection,
    owner_id: &str,
    books: i64,
    cover_bytes: i64,
    quota: Quota,
) -> rusqlite::Result<Option<QuotaExceeded>> {
    let (stored_books, stored_bytes): (i64, i64) = connection
        .prepare_cached("SELECT books, cover_bytes FROM account_usage WHERE owner_id = ?1")?
        .query_row([owner_id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?
        .unwrap_or((0, 0));
    let books_fit = books <= 0 || stored_books + books <= quota.max_books;
    let bytes_fit = cover_bytes <= 0 || stored_bytes + cover_bytes <= quota.max_cover_bytes;
    if books_fit && bytes_fit {
        return Ok(None);
    }
    Ok(Some(if !books_fit {
        QuotaExceeded::Books {
            limit: quota.max_books,
        }
    } else {
        QuotaExceeded::CoverBytes {
            limit: quota.max_cover_bytes,
        }
    }))
}

/// Counts a change already known to fit (or a giving back).
fn count(
    connection: &Connection,
    owner_id: &str,
    books: i64,
    cover_bytes: i64,
) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "INSERT INTO account_usage (owner_id, books, cover_bytes) VALUES (?1, ?2, ?3) \
             ON CONFLICT (owner_id) DO UPDATE SET books = books + excluded.books, \
             cover_bytes = cover_bytes + excluded.cover_bytes",
        )?
        .execute(rusqlite::params![owner_id, books, cover_bytes])?;
    Ok(())
}

/// Inserts `book` within its owner's quota.
pub(super) fn insert(
    connection: &Connection,
    book: &NewBook,
    quota: Quota,
) -> rusqlite::Result<Written<BookRecord>> {
    let bytes = book.cover.as_ref().map_or(0, |cover| cover.2);
    if let Some(exceeded) = check_quota(connection, &book.owner_id, 1, bytes, quota)? {
        return Ok(Written::OverQuota(exceeded));
    }
    let (cover_id, content_type) = match &book.cover {
        Some((id, content_type, _)) => (Some(id.as_str()), Some(content_type.as_str())),
        None => (None, None),
    };
    let record = connection.prepare_cached(INSERT_BOOK)?.query_row(
        rusqlite::named_params! {
            "$1": book.id, "$2": book.owner_id, "$3": book.title, "$4": book.description,
            "$5": book.category, "$6": cover_id, "$7": content_type, "$8": bytes,
            "$9": book.now,
        },
        BookRecord::from_sqlite,
    )?;
    count(connection, &book.owner_id, 1, bytes)?;
    Ok(Written::Done(record))
}

/// Applies `update`; `None` when there is no such book, or its cover is no longer
/// the one the update replaces.
pub(super) fn update(
    connection: &Connection,
    update: &Update,
    quota: Quota,
) -> rusqlite::Result<Written<Option<BookRecord>>> {
    let added = update
        .cover
        .as_ref()
        .map(|cover| cover.2 - update.replacing.1);
    if let Some(added) = added
        && let Some(exceeded) = check_quota(connection, &update.owner_id, 0, added, quota)?
    {
        return Ok(Written::OverQuota(exceeded));
    }
    let (cover_id, content_type, bytes) = match &update.cover {
        Some((id, content_type, bytes)) => {
            (Some(id.as_str()), Some(content_type.as_str()), Some(*bytes))
        }
        None => (None, None, None),
    };
    let record = connection
        .prepare_cached(UPDATE_BOOK)?
        .query_row(
            rusqlite::named_params! {
                "$1": update.title, "$2": update.description, "$3": update.category,
                "$4": cover_id, "$5": content_type, "$6": update.now, "$7": update.id,
                "$8": update.owner_id, "$9": update.replacing.0, "$10": bytes,
            },
            BookRecord::from_sqlite,
        )
        .optional()?;
    if let (Some(_), Some(added)) = (&record, added) {
        count(connection, &update.owner_id, 0, added)?;
    }
    Ok(Written::Done(record))
}

/// Deletes the owner's book `id` and gives its place back to the quota.
pub(super) fn delete(
    connection: &Connection,
    owner_id: &str,
    id: &str,
) -> rusqlite::Result<Option<BookRecord>> {
    let record = connection
        .prepare_cached(DELETE_BOOK)?
        .query_row(
            rusqlite::named_params! { "$1": id, "$2": owner_id },
            BookRecord::from_sqlite,
        )
        .optional()?;
    if let Some(book) = &record {
        count(connection, owner_id, -1, -book.cover_bytes())?;
    }
    Ok(record)
}
