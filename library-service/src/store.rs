//! The library database: books, each owned by one user.

use std::collections::HashSet;

use bookshelf_runtime::{
    db::{Database, Reads, is_unique_violation},
    postgres_reads,
    sqlite_reads::{self, OptionalExtension, params},
};
use sqlx::{AnyPool, Row, any::AnyRow};

use crate::{
    domain::{BookFields, BookId, Category, CoverId, CoverRef, FieldChanges, UserId},
    paging::PageStart,
};

/// A stored book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookRecord {
    /// The book id.
    pub id: BookId,
    /// The owner.
    pub owner_id: UserId,
    /// The title, unique per owner.
    pub title: String,
    /// The description.
    pub description: String,
    /// The category.
    pub category: String,
    /// The cover, if the book has one.
    pub cover: Option<StoredCover>,
    /// Creation time, ms since the epoch.
    pub created_at: i64,
    /// Last change, ms since the epoch.
    pub updated_at: i64,
}

impl BookRecord {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let cover = match row.try_get::<Option<CoverId>, _>("cover_id")? {
            Some(id) => Some(StoredCover {
                reference: CoverRef {
                    id,
                    content_type: row
                        .try_get::<Option<String>, _>("cover_content_type")?
                        .unwrap_or_default(),
                },
                bytes: row.try_get("cover_bytes")?,
            }),
            None => None,
        };
        Ok(Self {
            id: row.try_get("id")?,
            owner_id: row.try_get("owner_id")?,
            title: row.try_get("title")?,
            description: row.try_get("description")?,
            category: row.try_get("category")?,
            cover,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }

    /// The same, from a row of the PostgreSQL read path, which has the columns in
    /// `BOOK_COLUMNS` order.
    fn from_postgres_row(row: &postgres_reads::Row) -> Result<Self, postgres_reads::ReadError> {
        let cover = match row.try_get::<_, Option<CoverId>>(5)? {
            Some(id) => Some(StoredCover {
                reference: CoverRef {
                    id,
                    content_type: row.try_get::<_, Option<String>>(6)?.unwrap_or_default(),
                },
                bytes: row.try_get(7)?,
            }),
            None => None,
        };
        Ok(Self {
            id: row.try_get(0)?,
            owner_id: row.try_get(1)?,
            title: row.try_get(2)?,
            description: row.try_get(3)?,
            category: row.try_get(4)?,
            cover,
            created_at: row.try_get(8)?,
            updated_at: row.try_get(9)?,
        })
    }

    /// The same, from a row of the SQLite read path, which has the columns in
    /// `BOOK_COLUMNS` order.
    fn from_sqlite_row(row: &sqlite_reads::Row<'_>) -> sqlite_reads::rusqlite::Result<Self> {
        let cover = match row.get::<_, Option<CoverId>>(5)? {
            Some(id) => Some(StoredCover {
                reference: CoverRef {
                    id,
                    content_type: row.get::<_, Option<String>>(6)?.unwrap_or_default(),
                },
                bytes: row.get(7)?,
            }),
            None => None,
        };
        Ok(Self {
            id: row.get(0)?,
            owner_id: row.get(1)?,
            title: row.get(2)?,
            description: row.get(3)?,
            category: row.get(4)?,
            cover,
            created_at: row.get(8)?,
            updated_at: row.get(9)?,
        })
    }

    /// The stored cover's size in bytes (0 without one), as counted against the quota.
    pub fn cover_bytes(&self) -> i64 {
        self.cover.as_ref().map_or(0, |cover| cover.bytes)
    }
}

/// A new book.
#[derive(Debug, Clone)]
pub struct NewBookRecord<'a> {
    /// The book id.
    pub id: &'a BookId,
    /// The owner.
    pub owner_id: &'a UserId,
    /// Its fields.
    pub fields: &'a BookFields,
    /// The stored cover.
    pub cover: Option<&'a StoredCover>,
    /// Now, ms since the epoch.
    pub now: i64,
}

/// A cover file written to storage, as a row records it: the reference clients see,
/// and the size that counts against its owner's quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCover {
    /// Which cover it is and how it is served.
    pub reference: CoverRef,
    /// Its size in bytes.
    pub bytes: i64,
}

/// Who a cover belongs to, and the media type it is served with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverOwner {
    /// The owner of the book whose cover it is.
    pub owner_id: UserId,
    /// Its media type.
    pub content_type: String,
}

/// How much one account may store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// The most books.
    pub max_books: i64,
    /// The most bytes of stored covers.
    pub max_cover_bytes: i64,
}

/// Which part of its quota an account has reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaExceeded {
    /// It has as many books as allowed.
    Books {
        /// The most books.
        limit: i64,
    },
    /// Its covers fill the space allowed.
    CoverBytes {
        /// The most bytes of stored covers.
        limit: i64,
    },
}

/// The changes of an update.
#[derive(Debug, Clone)]
pub struct BookUpdate<'a> {
    /// The fields it sets.
    pub fields: &'a FieldChanges,
    /// A new stored cover.
    pub cover: Option<&'a StoredCover>,
    /// With a new cover, the cover it replaces as last read (with its size): the
    /// update applies only while that is still the book's, so the file it replaced,
    /// and the bytes it gives back to the quota, are known exactly even when updates
    /// race.
    pub replacing: Option<&'a StoredCover>,
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The owner already has a book of this title.
    #[error("title already used by this owner")]
    TitleTaken,
    /// The owner's quota does not allow this.
    #[error("quota exceeded")]
    QuotaExceeded(QuotaExceeded),
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// A read on the SQLite read path failed.
    #[error("database read error")]
    Read(#[from] sqlite_reads::rusqlite::Error),
    /// A read on the PostgreSQL read path failed.
    #[error("database read error")]
    PostgresRead(#[from] postgres_reads::ReadError),
}

fn unique_to_title_taken(error: sqlx::Error) -> StoreError {
    if is_unique_violation(&error) {
        StoreError::TitleTaken
    } else {
        StoreError::Database(error)
    }
}

const BOOK_COLUMNS: &str = "id, owner_id, title, description, category, cover_id, \
                            cover_content_type, cover_bytes, created_at, updated_at";

/// One book of its owner.
const GET_BOOK: &str = "SELECT id, owner_id, title, description, category, cover_id, \
                        cover_content_type, cover_bytes, created_at, updated_at \
                        FROM books WHERE id = $1 AND owner_id = $2";

/// A page of an owner's books, optionally of one category, in creation order.
const LIST_BOOKS: &str = "SELECT id, owner_id, title, description, category, cover_id, \
                          cover_content_type, cover_bytes, created_at, updated_at \
                          FROM books WHERE owner_id = $1 AND ($2 = '' OR category = $2) \
                          AND (created_at > $3 OR (created_at = $3 AND id > $4)) \
                          ORDER BY created_at, id LIMIT $5";

/// Queries on the library database, identical on SQLite and PostgreSQL. Every query
/// about a book names its owner, so no call can reach another user's book.
///
/// Writes that change what an owner stores run in one transaction that changes the
/// book row first and the owner's `account_usage` row second, always in that order,
/// so concurrent writes never wait on each other in a cycle; and each transaction's
/// first statement is a write, so on SQLite it takes the write lock at once rather
/// than failing to upgrade a read lock mid-way.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    reads: Reads,
    quota: Quota,
}

type Transaction = sqlx::Transaction<'static, sqlx::Any>;

impl Store {
    /// A store on a migrated database, enforcing `quota` on every owner.
    pub fn new(database: Database, quota: Quota) -> Self {
        Self {
            pool: database.pool,
            reads: database.reads,
            quota,
        }
    }

    /// Counts `books` more books and `cover_bytes` more cover bytes against the owner's
    /// quota, or refuses. The conditional update is the check: the database applies it
    /// to the latest value of the row, so concurrent uploads cannot both pass the last
    /// free place. Giving back (a negative change) is always allowed.
    async fn count(
        &self,
        transaction: &mut Transaction,
        owner_id: &UserId,
        books: i64,
        cover_bytes: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO account_usage (owner_id, books, cover_bytes) VALUES ($1, 0, 0) \
             ON CONFLICT (owner_id) DO NOTHING",
        )
        .bind(owner_id)
        .execute(&mut **transaction)
        .await?;
        let counted = sqlx::query(
            "UPDATE account_usage SET books = books + $2, cover_bytes = cover_bytes + $3 \
             WHERE owner_id = $1 AND ($2 <= 0 OR books + $2 <= $4) \
             AND ($3 <= 0 OR cover_bytes + $3 <= $5)",
        )
        .bind(owner_id)
        .bind(books)
        .bind(cover_bytes)
        .bind(self.quota.max_books)
        .bind(self.quota.max_cover_bytes)
        .execute(&mut **transaction)
        .await?;
        if counted.rows_affected() == 1 {
            return Ok(());
        }
        let row = sqlx::query("SELECT books FROM account_usage WHERE owner_id = $1")
            .bind(owner_id)
            .fetch_one(&mut **transaction)
            .await?;
        let stored: i64 = row.try_get("books")?;
        Err(StoreError::QuotaExceeded(
            if books > 0 && stored + books > self.quota.max_books {
                QuotaExceeded::Books {
                    limit: self.quota.max_books,
                }
            } else {
                QuotaExceeded::CoverBytes {
                    limit: self.quota.max_cover_bytes,
                }
            },
        ))
    }

    /// Inserts a book within its owner's quota; the unique constraint on (owner,
    /// title) decides races.
    pub async fn insert(&self, book: NewBookRecord<'_>) -> Result<BookRecord, StoreError> {
        let mut transaction = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "INSERT INTO books (id, owner_id, title, description, category, cover_id, \
             cover_content_type, cover_bytes, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING {BOOK_COLUMNS}"
        ))
        .bind(book.id)
        .bind(book.owner_id)
        .bind(book.fields.title.as_str())
        .bind(book.fields.description.as_str())
        .bind(book.fields.category.as_str())
        .bind(book.cover.map(|cover| cover.reference.id.clone()))
        .bind(book.cover.map(|cover| cover.reference.content_type.clone()))
        .bind(book.cover.map_or(0, |cover| cover.bytes))
        .bind(book.now)
        .fetch_one(&mut *transaction)
        .await
        .map_err(unique_to_title_taken)?;
        let cover_bytes = book.cover.map_or(0, |cover| cover.bytes);
        self.count(&mut transaction, book.owner_id, 1, cover_bytes)
            .await?;
        transaction.commit().await?;
        Ok(BookRecord::from_row(&row)?)
    }

    /// The owner's book `id`.
    pub async fn get(
        &self,
        owner_id: &UserId,
        id: &BookId,
    ) -> Result<Option<BookRecord>, StoreError> {
        match &self.reads {
            Reads::Sqlite(reads) => Ok(reads.read(|connection| {
                connection
                    .prepare_cached(GET_BOOK)?
                    .query_row(
                        params![id.as_str(), owner_id.as_str()],
                        BookRecord::from_sqlite_row,
                    )
                    .optional()
            })?),
            Reads::Postgres(reads) => Ok(reads
                .query_opt(GET_BOOK, &[&id.as_str(), &owner_id.as_str()])
                .await?
                .as_ref()
                .map(BookRecord::from_postgres_row)
                .transpose()?),
        }
    }

    /// Up to `limit` of the owner's books after `start` (from the first without one),
    /// in creation order.
    pub async fn list(
        &self,
        owner_id: &UserId,
        category: Option<Category>,
        start: Option<&PageStart>,
        limit: i64,
    ) -> Result<Vec<BookRecord>, StoreError> {
        let category = category.map_or("", |category| category.as_str());
        let after_time = start.map_or(i64::MIN, |start| start.created_at);
        let after_id = start.map_or("", |start| start.id.as_str());
        match &self.reads {
            Reads::Sqlite(reads) => Ok(reads.read(|connection| {
                connection
                    .prepare_cached(LIST_BOOKS)?
                    .query_map(
                        params![owner_id.as_str(), category, after_time, after_id, limit],
                        BookRecord::from_sqlite_row,
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
                .map(BookRecord::from_postgres_row)
                .collect::<Result<_, _>>()?),
        }
    }

    /// Applies `update` to the owner's book `id`; `None` if there is no such book, or
    /// if it has a new cover and the book's cover is no longer the one it replaces. A
    /// new cover counts against the quota in place of the one it replaces.
    pub async fn update(
        &self,
        owner_id: &UserId,
        id: &BookId,
        update: BookUpdate<'_>,
        now: i64,
    ) -> Result<Option<BookRecord>, StoreError> {
        let replacing = update.replacing.map_or("", |old| old.reference.id.as_str());
        let replaced_bytes = update.replacing.map_or(0, |old| old.bytes);
        let mut transaction = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "UPDATE books SET title = COALESCE($1, title), \
             description = COALESCE($2, description), category = COALESCE($3, category), \
             cover_id = COALESCE($4, cover_id), \
             cover_content_type = COALESCE($5, cover_content_type), \
             cover_bytes = COALESCE($10, cover_bytes), updated_at = $6 \
             WHERE id = $7 AND owner_id = $8 \
             AND ($4 IS NULL OR COALESCE(cover_id, '') = $9) RETURNING {BOOK_COLUMNS}"
        ))
        .bind(
            update
                .fields
                .title
                .as_ref()
                .map(|title| title.as_str().to_owned()),
        )
        .bind(
            (update.fields.description.as_ref()).map(|description| description.as_str().to_owned()),
        )
        .bind(
            update
                .fields
                .category
                .map(|category| category.as_str().to_owned()),
        )
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
        if let Some(cover) = update.cover {
            self.count(&mut transaction, owner_id, 0, cover.bytes - replaced_bytes)
                .await?;
        }
        transaction.commit().await?;
        Ok(Some(BookRecord::from_row(&row)?))
    }

    /// Deletes the owner's book `id` and gives its place back to the quota; its
    /// record, or `None` if there was no such book.
    pub async fn delete(
        &self,
        owner_id: &UserId,
        id: &BookId,
    ) -> Result<Option<BookRecord>, StoreError> {
        let mut transaction = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "DELETE FROM books WHERE id = $1 AND owner_id = $2 RETURNING {BOOK_COLUMNS}"
        ))
        .bind(id)
        .bind(owner_id)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(book) = row.as_ref().map(BookRecord::from_row).transpose()? else {
            return Ok(None);
        };
        self.count(&mut transaction, owner_id, -1, -book.cover_bytes())
            .await?;
        transaction.commit().await?;
        Ok(Some(book))
    }

    /// Who owns cover `id`, and how it is served.
    pub async fn cover(&self, id: &CoverId) -> Result<Option<CoverOwner>, StoreError> {
        let row = sqlx::query("SELECT owner_id, cover_content_type FROM books WHERE cover_id = $1")
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

    /// Every cover a row points at.
    pub async fn cover_ids(&self) -> Result<HashSet<CoverId>, StoreError> {
        let rows = sqlx::query("SELECT cover_id FROM books WHERE cover_id IS NOT NULL")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|row| row.try_get("cover_id"))
            .collect::<Result<_, _>>()?)
    }
}
