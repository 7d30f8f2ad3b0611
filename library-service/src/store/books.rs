//! The `books` table: each book, its fields and its cover's reference, always queried
//! with its owner.

use std::collections::HashSet;

use bookshelf_runtime::{
    db::{Reads, is_unique_violation},
    sqlite_reads::{OptionalExtension, params, rusqlite},
    sqlite_writes::WriteError,
};
use sqlx::Row;
use tracing::Instrument;

use super::{
    Store, StoreError,
    book_writes::{DELETE_BOOK, INSERT_BOOK, UPDATE_BOOK},
    books_sqlite::{self, Written},
    columns::book_columns,
    records::{BookRecord, BookUpdate, CoverOwner, NewBookRecord, PageStart},
};
use crate::domain::{BookId, Category, CoverId, StoredCover, UserId};

/// The unique constraint on (owner, title) is the only one a write can break.
fn unique_to_title_taken(error: sqlx::Error) -> StoreError {
    if is_unique_violation(&error) {
        StoreError::TitleTaken
    } else {
        StoreError::Database(error)
    }
}

/// A failure of SQLite's writer, the unique constraint on (owner, title) read as
/// [`StoreError::TitleTaken`].
fn title_taken_on_sqlite(error: WriteError) -> StoreError {
    let unique = matches!(
        &error,
        WriteError::Sqlite(rusqlite::Error::SqliteFailure(failure, _))
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    );
    if unique {
        StoreError::TitleTaken
    } else {
        StoreError::Write(error)
    }
}

/// A write's result, a refusal by the quota as its error.
fn over_quota<T>(written: Written<T>) -> Result<T, StoreError> {
    match written {
        Written::Done(value) => Ok(value),
        Written::OverQuota(exceeded) => Err(StoreError::QuotaExceeded(exceeded)),
    }
}

/// A stored cover as the writer's thread takes it: id, media type, size.
fn owned_cover(cover: &StoredCover) -> (String, String, i64) {
    (
        cover.reference.id.as_str().to_owned(),
        cover.reference.content_type.clone(),
        cover.bytes,
    )
}

/// One book, by id alone; its owner is compared by the caller. With the owner in the
/// `WHERE` clause too, PostgreSQL may plan the lookup on the owner's listing index
/// (`owner_id, created_at, id`): a plan made while the table is small and not yet
/// analysed is kept by the prepared statement, and then walks every book of the owner
/// for each lookup (0.5 ms at 6,000 books against 0.03 ms by the primary key). By id
/// alone, only the primary key fits.
pub(super) const GET_BOOK: &str = concat!("SELECT ", book_columns!(), " FROM books WHERE id = $1");

/// A page of an owner's books, optionally of one category, in creation order.
const LIST_BOOKS: &str = concat!(
    "SELECT ",
    book_columns!(),
    " FROM books WHERE owner_id = $1 AND ($2 = '' OR category = $2) \
     AND (created_at > $3 OR (created_at = $3 AND id > $4)) \
     ORDER BY created_at, id LIMIT $5"
);

impl Store {
    /// Inserts a book within its owner's quota; the unique constraint on (owner,
    /// title) decides races.
    pub(crate) async fn insert(&self, book: NewBookRecord<'_>) -> Result<BookRecord, StoreError> {
        let span = self.reads.span("INSERT", "books");
        async {
            // A book that consumes a resumable upload changes the upload's rows too: that
            // transaction stays on sqlx.
            if let (Some(writer), None) = (&self.writer, book.consumes) {
                let (new, quota) = (
                    books_sqlite::NewBook {
                        id: book.id.as_str().to_owned(),
                        owner_id: book.owner_id.as_str().to_owned(),
                        title: String::from(book.fields.title.clone()),
                        description: String::from(book.fields.description.clone()),
                        category: book.fields.category.as_str(),
                        cover: book.cover.map(owned_cover),
                        now: book.now,
                    },
                    self.quota,
                );
                let written = writer
                    .write(move |connection| books_sqlite::insert(connection, &new, quota))
                    .await
                    .map_err(title_taken_on_sqlite)?;
                return over_quota(written);
            }
            let mut transaction = self.pool.begin().await?;
            let row = sqlx::query(INSERT_BOOK)
                .bind(book.id)
                .bind(book.owner_id)
                .bind(&book.fields.title)
                .bind(&book.fields.description)
                .bind(book.fields.category.as_str())
                .bind(book.cover.map(|cover| cover.reference.id.clone()))
                .bind(book.cover.map(|cover| cover.reference.content_type.clone()))
                .bind(book.cover.map_or(0, |cover| cover.bytes))
                .bind(book.now)
                .fetch_one(&mut *transaction)
                .await
                .map_err(unique_to_title_taken)?;
            let given_back = match book.consumes {
                Some(upload) => {
                    self.consume_upload(&mut transaction, book.owner_id, upload)
                        .await?
                }
                None => 0,
            };
            let cover_bytes = book.cover.map_or(0, |cover| cover.bytes);
            self.count(&mut transaction, book.owner_id, 1, cover_bytes - given_back)
                .await?;
            transaction.commit().await?;
            Ok(BookRecord::from_written(&row)?)
        }
        .instrument(span)
        .await
    }

    /// The owner's book `id`: none when it is another owner's.
    pub(crate) async fn get(
        &self,
        owner_id: &UserId,
        id: &BookId,
    ) -> Result<Option<BookRecord>, StoreError> {
        let span = self.reads.span("SELECT", "books");
        let book = async {
            match &self.reads {
                Reads::Sqlite(reads) => Ok::<_, StoreError>(reads.read(|connection| {
                    connection
                        .prepare_cached(GET_BOOK)?
                        .query_row(params![id.as_str()], BookRecord::from_sqlite)
                        .optional()
                })?),
                Reads::Postgres(reads) => Ok(reads
                    .query_opt(GET_BOOK, &[&id.as_str()])
                    .await?
                    .as_ref()
                    .map(BookRecord::from_postgres)
                    .transpose()?),
            }
        }
        .instrument(span)
        .await?;
        Ok(book.filter(|book| book.owner_id == *owner_id))
    }

    /// Up to `limit` of the owner's books after `start` (from the first without one),
    /// in creation order.
    pub(crate) async fn list(
        &self,
        owner_id: &UserId,
        category: Option<Category>,
        start: Option<&PageStart>,
        limit: i64,
    ) -> Result<Vec<BookRecord>, StoreError> {
        let span = self.reads.span("SELECT", "books");
        async {
            let category = category.map_or("", |category| category.as_str());
            let after_time = start.map_or(i64::MIN, |start| start.created_at);
            let after_id = start.map_or("", |start| start.id.as_str());
            match &self.reads {
                Reads::Sqlite(reads) => Ok(reads.read(|connection| {
                    connection
                        .prepare_cached(LIST_BOOKS)?
                        .query_map(
                            params![owner_id.as_str(), category, after_time, after_id, limit],
                            BookRecord::from_sqlite,
                        )?
                        .collect()
                })?),
                Reads::Postgres(reads) => Ok(reads
                    .query(
                        LIST_BOOKS,
                        &[
                            &owner_id.as_str(),
                            &category,
                            &after_time,
                            &after_id,
                            &limit,
                        ],
                    )
                    .await?
                    .iter()
                    .map(BookRecord::from_postgres)
                    .collect::<Result<_, _>>()?),
            }
        }
        .instrument(span)
        .await
    }

    /// Applies `update` to the owner's book `id`; `None` if there is no such book, or
    /// if it has a new cover and the book's cover is no longer the one it replaces. A
    /// new cover counts against the quota in place of the one it replaces.
    pub(crate) async fn update(
        &self,
        owner_id: &UserId,
        id: &BookId,
        update: BookUpdate<'_>,
        now: i64,
    ) -> Result<Option<BookRecord>, StoreError> {
        let span = self.reads.span("UPDATE", "books");
        async {
            let replacing = update.replacing.map_or("", |old| old.reference.id.as_str());
            let replaced_bytes = update.replacing.map_or(0, |old| old.bytes);
            if let (Some(writer), None) = (&self.writer, update.consumes) {
                let (change, quota) = (
                    books_sqlite::Update {
                        id: id.as_str().to_owned(),
                        owner_id: owner_id.as_str().to_owned(),
                        title: update.fields.title.clone().map(String::from),
                        description: update.fields.description.clone().map(String::from),
                        category: update.fields.category.map(|category| category.as_str()),
                        cover: update.cover.map(owned_cover),
                        replacing: (replacing.to_owned(), replaced_bytes),
                        now,
                    },
                    self.quota,
                );
                let written = writer
                    .write(move |connection| books_sqlite::update(connection, &change, quota))
                    .await
                    .map_err(title_taken_on_sqlite)?;
                return over_quota(written);
            }
            let mut transaction = self.pool.begin().await?;
            let row = sqlx::query(UPDATE_BOOK)
                .bind(update.fields.title.clone())
                .bind(update.fields.description.clone())
                .bind(update.fields.category.map(|category| category.as_str()))
                .bind(update.cover.map(|cover| cover.reference.id.clone()))
                .bind(
                    update
                        .cover
                        .map(|cover| cover.reference.content_type.clone()),
                )
                .bind(now)
                .bind(id)
                .bind(owner_id)
                .bind(replacing)
                .bind(update.cover.map(|cover| cover.bytes))
                .fetch_optional(&mut *transaction)
                .await
                .map_err(unique_to_title_taken)?;
            let Some(row) = row else {
                return Ok(None);
            };
            let given_back = match update.consumes {
                Some(upload) => {
                    self.consume_upload(&mut transaction, owner_id, upload)
                        .await?
                }
                None => 0,
            };
            if let Some(cover) = update.cover {
                let change = cover.bytes - replaced_bytes - given_back;
                self.count(&mut transaction, owner_id, 0, change).await?;
            }
            transaction.commit().await?;
            Ok(Some(BookRecord::from_written(&row)?))
        }
        .instrument(span)
        .await
    }

    /// Deletes the owner's book `id` and gives its place back to the quota; its
    /// record, or `None` if there was no such book.
    pub(crate) async fn delete(
        &self,
        owner_id: &UserId,
        id: &BookId,
    ) -> Result<Option<BookRecord>, StoreError> {
        let span = self.reads.span("DELETE", "books");
        async {
            if let Some(writer) = &self.writer {
                let (owner, id) = (owner_id.as_str().to_owned(), id.as_str().to_owned());
                return Ok(writer
                    .write(move |connection| books_sqlite::delete(connection, &owner, &id))
                    .await?);
            }
            let mut transaction = self.pool.begin().await?;
            let row = sqlx::query(DELETE_BOOK)
                .bind(id)
                .bind(owner_id)
                .fetch_optional(&mut *transaction)
                .await?;
            let Some(book) = row.as_ref().map(BookRecord::from_written).transpose()? else {
                return Ok(None);
            };
            self.count(&mut transaction, owner_id, -1, -book.cover_bytes())
                .await?;
            transaction.commit().await?;
            Ok(Some(book))
        }
        .instrument(span)
        .await
    }

    /// Who owns cover `id`, and how it is served.
    pub(crate) async fn cover(&self, id: &CoverId) -> Result<Option<CoverOwner>, StoreError> {
        let span = self.reads.span("SELECT", "books");
        async {
            let row =
                sqlx::query("SELECT owner_id, cover_content_type FROM books WHERE cover_id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
            Ok(match row {
                Some(row) => Some(CoverOwner {
                    owner_id: row.try_get("owner_id")?,
                    content_type: row.try_get("cover_content_type")?,
                }),
                None => None,
            })
        }
        .instrument(span)
        .await
    }

    /// Every cover a row points at.
    pub(crate) async fn cover_ids(&self) -> Result<HashSet<CoverId>, StoreError> {
        let rows = sqlx::query("SELECT cover_id FROM books WHERE cover_id IS NOT NULL")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|row| row.try_get("cover_id"))
            .collect::<Result<_, _>>()?)
    }
}
