//! The `account_usage` table: how many books and cover bytes each account stores,
//! counted against its quota in the transaction of the write that changes them.

use sqlx::Row;

use super::{Store, StoreError, Transaction, records::QuotaExceeded};
use crate::domain::UserId;

impl Store {
    /// Counts `books` more books and `cover_bytes` more cover bytes against the owner's
    /// quota, or refuses. The conditional update is the check: the database applies it
    /// to the latest value of the row, so concurrent uploads cannot both pass the last
    /// free place. Giving back (a negative change) is always allowed.
    pub(super) async fn count(
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
}
