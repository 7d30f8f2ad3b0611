//! The signing key set's table: every key, its sealed private half, its schedule,
//! and its revocation.

use bookshelf_tokens::PublicKey;
use sqlx::{Row, any::AnyRow};

use super::{Store, StoreError, retrying, revocations::append_key_revocation};
use crate::domain::keys::KeyRecord;

/// A key from a row of [`KEY_COLUMNS`].
fn key_from_row(row: &AnyRow) -> Result<KeyRecord, sqlx::Error> {
    Ok(KeyRecord {
        public: PublicKey {
            kid: row.try_get("kid")?,
            x: row.try_get("public_key")?,
        },
        sealed_private: row.try_get("sealed_private_key")?,
        created_at: row.try_get("created_at")?,
        activates_at: row.try_get("activates_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

/// The columns of `signing_keys`, as every read lists them.
const KEY_COLUMNS: &str =
    "kid, public_key, sealed_private_key, created_at, activates_at, revoked_at";

impl Store {
    /// Every key of the set.
    pub(crate) async fn signing_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM signing_keys"))
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(key_from_row).collect::<Result<_, _>>()?)
    }

    /// Adds a key; a key already there (the same configured key added by two
    /// replicas at once) is left as it is.
    pub(crate) async fn insert_signing_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, public_key, sealed_private_key, created_at, \
             activates_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kid) DO NOTHING",
        )
        .bind(&record.public.kid)
        .bind(&record.public.x)
        .bind(&record.sealed_private)
        .bind(record.created_at)
        .bind(record.activates_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Erases the private half of a retired key.
    pub(crate) async fn erase_private_key(&self, kid: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE signing_keys SET sealed_private_key = NULL WHERE kid = $1")
            .bind(kid)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Revokes key `kid` at `now`, erasing its private half, adds `replacement` when
    /// one must take over, and appends the revocation to the log, all in one
    /// transaction; false (and nothing changed) if it was revoked already.
    pub(crate) async fn revoke_signing_key(
        &self,
        kid: &str,
        replacement: Option<&KeyRecord>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let revoked = retrying(|| self.try_revoke_signing_key(kid, replacement, now)).await?;
        if revoked {
            self.notify_revoked().await;
        }
        Ok(revoked)
    }

    async fn try_revoke_signing_key(
        &self,
        kid: &str,
        replacement: Option<&KeyRecord>,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let mut transaction = self.pool().begin().await?;
        let updated = sqlx::query(
            "UPDATE signing_keys SET revoked_at = $1, sealed_private_key = NULL \
             WHERE kid = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(kid)
        .execute(&mut *transaction)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(record) = replacement {
            sqlx::query(
                "INSERT INTO signing_keys (kid, public_key, sealed_private_key, created_at, \
                 activates_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&record.public.kid)
            .bind(&record.public.x)
            .bind(&record.sealed_private)
            .bind(record.created_at)
            .bind(record.activates_at)
            .execute(&mut *transaction)
            .await?;
        }
        append_key_revocation(&mut transaction, kid, now).await?;
        transaction.commit().await?;
        Ok(true)
    }
}
