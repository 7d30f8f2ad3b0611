//! The library database: books, each owned by one user.

use std::collections::HashSet;

use bookshelf_runtime::db::is_unique_violation;
use sqlx::{AnyPool, Row, any::AnyRow};

use crate::domain::{BookTitle, Category, Description};

/// A stored book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookRecord {
    /// The book id (a UUID).
    pub id: String,
    /// The owner's user id.
    pub owner_id: String,
    /// The title, unique per owner.
    pub title: String,
    /// The description.
    pub description: String,
    /// The category.
    pub category: String,
    /// The cover's file name in storage.
    pub cover_id: Option<String>,
    /// The cover's media type.
    pub cover_content_type: Option<String>,
    /// Creation time, ms since the epoch.
    pub created_at: i64,
    /// Last change, ms since the epoch.
    pub updated_at: i64,
}

impl BookRecord {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            owner_id: row.try_get("owner_id")?,
            title: row.try_get("title")?,
            description: row.try_get("description")?,
            category: row.try_get("category")?,
            cover_id: row.try_get("cover_id")?,
            cover_content_type: row.try_get("cover_content_type")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// A new book's fields.
#[derive(Debug, Clone)]
pub struct NewBookRecord<'a> {
    /// The book id.
    pub id: &'a str,
    /// The owner.
    pub owner_id: &'a str,
    /// The title.
    pub title: &'a BookTitle,
    /// The description.
    pub description: &'a Description,
    /// The category.
    pub category: Category,
    /// The stored cover and its media type.
    pub cover: Option<(&'a str, &'a str)>,
    /// Now, ms since the epoch.
    pub now: i64,
}

/// The changes of an update; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct BookUpdate<'a> {
    /// A new title.
    pub title: Option<&'a BookTitle>,
    /// A new description.
    pub description: Option<&'a Description>,
    /// A new category.
    pub category: Option<Category>,
    /// A new stored cover and its media type.
    pub cover: Option<(&'a str, &'a str)>,
    /// With a new cover, the cover it replaces as last read: the update applies only
    /// while that is still the book's, so the file it replaced is known exactly even
    /// when updates race.
    pub replacing: Option<&'a str>,
}

/// Where a listing page starts: after this (created_at, id).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageStart {
    /// Creation time of the last book of the previous page.
    pub created_at: i64,
    /// Id of the last book of the previous page.
    pub id: String,
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The owner already has a book of this title.
    #[error("title already used by this owner")]
    TitleTaken,
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

fn unique_to_title_taken(error: sqlx::Error) -> StoreError {
    if is_unique_violation(&error) {
        StoreError::TitleTaken
    } else {
        StoreError::Database(error)
    }
}

const BOOK_COLUMNS: &str = "id, owner_id, title, description, category, cover_id, \
                            cover_content_type, created_at, updated_at";

/// Queries on the library database, identical on SQLite and PostgreSQL. Every query
/// about a book names its owner, so no call can reach another user's book.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
}

impl Store {
    /// A store on a migrated pool.
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    /// Inserts a book; the unique constraint on (owner, title) decides races.
    pub async fn insert(&self, book: NewBookRecord<'_>) -> Result<BookRecord, StoreError> {
        let row = sqlx::query(&format!(
            "INSERT INTO books (id, owner_id, title, description, category, cover_id, \
             cover_content_type, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING {BOOK_COLUMNS}"
        ))
        .bind(book.id)
        .bind(book.owner_id)
        .bind(book.title.as_str())
        .bind(book.description.as_str())
        .bind(book.category.as_str())
        .bind(book.cover.map(|(id, _)| id.to_owned()))
        .bind(book.cover.map(|(_, content_type)| content_type.to_owned()))
        .bind(book.now)
        .fetch_one(&self.pool)
        .await
        .map_err(unique_to_title_taken)?;
        Ok(BookRecord::from_row(&row)?)
    }

    /// The owner's book `id`.
    pub async fn get(&self, owner_id: &str, id: &str) -> Result<Option<BookRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {BOOK_COLUMNS} FROM books WHERE id = $1 AND owner_id = $2"
        ))
        .bind(id)
        .bind(owner_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(BookRecord::from_row).transpose()?)
    }

    /// Up to `limit` of the owner's books after `start`, in creation order.
    pub async fn list(
        &self,
        owner_id: &str,
        category: Option<Category>,
        start: &PageStart,
        limit: i64,
    ) -> Result<Vec<BookRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {BOOK_COLUMNS} FROM books \
             WHERE owner_id = $1 AND ($2 = '' OR category = $2) \
             AND (created_at > $3 OR (created_at = $3 AND id > $4)) \
             ORDER BY created_at, id LIMIT $5"
        ))
        .bind(owner_id)
        .bind(category.map_or("", |category| category.as_str()))
        .bind(start.created_at)
        .bind(&start.id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(BookRecord::from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Applies `update` to the owner's book `id`; `None` if there is no such book, or
    /// if it has a new cover and the book's cover is no longer the one it replaces.
    pub async fn update(
        &self,
        owner_id: &str,
        id: &str,
        update: BookUpdate<'_>,
        now: i64,
    ) -> Result<Option<BookRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE books SET title = COALESCE($1, title), \
             description = COALESCE($2, description), category = COALESCE($3, category), \
             cover_id = COALESCE($4, cover_id), \
             cover_content_type = COALESCE($5, cover_content_type), updated_at = $6 \
             WHERE id = $7 AND owner_id = $8 \
             AND ($4 IS NULL OR COALESCE(cover_id, '') = $9) RETURNING {BOOK_COLUMNS}"
        ))
        .bind(update.title.map(|title| title.as_str().to_owned()))
        .bind(update.description.map(|text| text.as_str().to_owned()))
        .bind(update.category.map(|category| category.as_str().to_owned()))
        .bind(update.cover.map(|(id, _)| id.to_owned()))
        .bind(
            update
                .cover
                .map(|(_, content_type)| content_type.to_owned()),
        )
        .bind(now)
        .bind(id)
        .bind(owner_id)
        .bind(update.replacing.unwrap_or_default())
        .fetch_optional(&self.pool)
        .await
        .map_err(unique_to_title_taken)?;
        Ok(row.as_ref().map(BookRecord::from_row).transpose()?)
    }

    /// Deletes the owner's book `id`; its record, or `None` if there was no such book.
    pub async fn delete(&self, owner_id: &str, id: &str) -> Result<Option<BookRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "DELETE FROM books WHERE id = $1 AND owner_id = $2 RETURNING {BOOK_COLUMNS}"
        ))
        .bind(id)
        .bind(owner_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(BookRecord::from_row).transpose()?)
    }

    /// The owner and media type of cover `cover_id`.
    pub async fn cover(&self, cover_id: &str) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query("SELECT owner_id, cover_content_type FROM books WHERE cover_id = $1")
            .bind(cover_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => Some((row.try_get("owner_id")?, row.try_get("cover_content_type")?)),
            None => None,
        })
    }

    /// Every cover a row points at.
    pub async fn cover_ids(&self) -> Result<HashSet<String>, StoreError> {
        let rows = sqlx::query("SELECT cover_id FROM books WHERE cover_id IS NOT NULL")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|row| row.try_get("cover_id"))
            .collect::<Result<_, _>>()?)
    }
}
