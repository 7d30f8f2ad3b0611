//! The `webauthn_credentials` table: each account's passkeys and security keys, their
//! signature counters, and the passkey-only accounts made with their first passkey.
//!
//! A use is recorded by one conditional `UPDATE` that requires a higher counter, so
//! two assertions with one counter value (a replay, or a cloned authenticator) get
//! one success between them on any replica. Adding or removing a credential moves
//! the account's credential version on, like any change of its factors.

use bookshelf_runtime::db::is_unique_violation;
use sqlx::{Row, any::AnyRow};

use super::{Store, StoreError, users::change_credentials};
use crate::domain::{
    Email, UserId, UserName,
    passkeys::{CredentialKind, PasskeyName},
};

/// A stored credential.
#[derive(Debug, Clone)]
pub(crate) struct CredentialRecord {
    /// The id its owner names it by (a UUID).
    pub id: String,
    /// Its owner.
    pub user_id: UserId,
    /// WebAuthn's credential id, base64url.
    pub credential_id: String,
    /// What it is used for.
    pub kind: CredentialKind,
    /// Its owner's label.
    pub name: PasskeyName,
    /// The credential as the WebAuthn library serialises it.
    pub credential: String,
    /// The authenticator model's AAGUID.
    pub aaguid: String,
    /// The signature counter last seen.
    pub sign_count: i64,
    /// Whether the authenticator last said it is backed up.
    pub backed_up: bool,
    /// Registration time, ms since the epoch.
    pub created_at: i64,
    /// Last successful use, ms since the epoch.
    pub last_used_at: Option<i64>,
}

/// The columns a [`CredentialRecord`] is read from.
const COLUMNS: &str = "id, user_id, credential_id, kind, name, credential, aaguid, sign_count, \
                       backed_up, created_at, last_used_at";

impl CredentialRecord {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            user_id: UserId::issued(row.try_get("user_id")?),
            credential_id: row.try_get("credential_id")?,
            kind: CredentialKind::stored(&row.try_get::<String, _>("kind")?),
            name: PasskeyName::stored(row.try_get("name")?),
            credential: row.try_get("credential")?,
            aaguid: row.try_get("aaguid")?,
            sign_count: row.try_get("sign_count")?,
            backed_up: row.try_get::<i64, _>("backed_up")? != 0,
            created_at: row.try_get("created_at")?,
            last_used_at: row.try_get("last_used_at")?,
        })
    }
}

/// What deleting a credential did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deletion {
    /// It is gone.
    Deleted,
    /// The owner has no such credential.
    NotFound,
    /// It is the account's last way in (no password, no other passkey): kept.
    LastWayIn,
}

/// Inserts `record` inside the caller's transaction; a credential id registered
/// already (to this account or another) is [`StoreError::CredentialTaken`].
async fn insert(
    connection: &mut sqlx::AnyConnection,
    record: &CredentialRecord,
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO webauthn_credentials ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(&record.id)
    .bind(record.user_id.as_str())
    .bind(&record.credential_id)
    .bind(record.kind.as_str())
    .bind(record.name.as_str())
    .bind(&record.credential)
    .bind(&record.aaguid)
    .bind(record.sign_count)
    .bind(i64::from(record.backed_up))
    .bind(record.created_at)
    .bind(record.last_used_at)
    .execute(connection)
    .await
    .map_err(|error| {
        if is_unique_violation(&error) {
            StoreError::CredentialTaken
        } else {
            StoreError::from(error)
        }
    })?;
    Ok(())
}

impl Store {
    /// `user_id`'s credentials, oldest first.
    pub(crate) async fn credentials(
        &self,
        user_id: &UserId,
    ) -> Result<Vec<CredentialRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM webauthn_credentials WHERE user_id = $1 \
             ORDER BY created_at, id"
        ))
        .bind(user_id.as_str())
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(CredentialRecord::from_row)
            .collect::<Result<_, _>>()?)
    }

    /// The credential WebAuthn knows as `credential_id`, whoever owns it.
    pub(crate) async fn credential_by_webauthn_id(
        &self,
        credential_id: &str,
    ) -> Result<Option<CredentialRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM webauthn_credentials WHERE credential_id = $1"
        ))
        .bind(credential_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(CredentialRecord::from_row).transpose()?)
    }

    /// Adds `record` to its owner's active account, moving its credential version on;
    /// false when the account is no longer active.
    pub(crate) async fn add_credential(
        &self,
        record: &CredentialRecord,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.pool().begin().await?;
        let active = sqlx::query("SELECT id FROM users WHERE id = $1 AND disabled_at IS NULL")
            .bind(record.user_id.as_str())
            .fetch_optional(&mut *transaction)
            .await?
            .is_some();
        if !active {
            return Ok(false);
        }
        change_credentials(&mut transaction, &record.user_id).await?;
        insert(&mut transaction, record).await?;
        transaction.commit().await?;
        Ok(true)
    }

    /// Creates a passkey-only account (no password) with its first credential, in one
    /// transaction: [`StoreError::EmailTaken`] when the email is registered already.
    pub(crate) async fn insert_passkey_user(
        &self,
        name: &UserName,
        email: &Email,
        record: &CredentialRecord,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO users (id, name, email, password_hash, created_at) \
             VALUES ($1, $2, $3, '', $4)",
        )
        .bind(record.user_id.as_str())
        .bind(name.as_str())
        .bind(email.as_str())
        .bind(now)
        .execute(&mut *transaction)
        .await
        .map_err(|error| {
            if is_unique_violation(&error) {
                StoreError::EmailTaken
            } else {
                StoreError::from(error)
            }
        })?;
        insert(&mut transaction, record).await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Records a successful use of credential `id` with signature counter `count`:
    /// false, and nothing recorded, when the stored counter is not below it (unless
    /// both are 0, for authenticators that keep no counter).
    pub(crate) async fn record_credential_use(
        &self,
        id: &str,
        count: i64,
        backed_up: bool,
        credential: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE webauthn_credentials \
             SET sign_count = $1, backed_up = $2, credential = $3, last_used_at = $4 \
             WHERE id = $5 AND (sign_count < $1 OR ($1 = 0 AND sign_count = 0))",
        )
        .bind(count)
        .bind(i64::from(backed_up))
        .bind(credential)
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Relabels `user_id`'s credential `id`; `None` when it has none of that id.
    pub(crate) async fn rename_credential(
        &self,
        user_id: &UserId,
        id: &str,
        name: &PasskeyName,
    ) -> Result<Option<CredentialRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE webauthn_credentials SET name = $1 WHERE id = $2 AND user_id = $3 \
             RETURNING {COLUMNS}"
        ))
        .bind(name.as_str())
        .bind(id)
        .bind(user_id.as_str())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(CredentialRecord::from_row).transpose()?)
    }

    /// Deletes `user_id`'s credential `id` unless it is the account's last way in.
    /// The account's row is written first, so two deletions of its last two
    /// passkeys run one after the other and the second sees the first's result.
    pub(crate) async fn delete_credential(
        &self,
        user_id: &UserId,
        id: &str,
    ) -> Result<Deletion, StoreError> {
        let mut transaction = self.pool().begin().await?;
        change_credentials(&mut transaction, user_id).await?;
        let deleted = sqlx::query(
            "DELETE FROM webauthn_credentials WHERE id = $1 AND user_id = $2 AND ( \
               kind <> 'passkey' \
               OR EXISTS (SELECT 1 FROM users WHERE id = $2 AND password_hash <> '') \
               OR EXISTS (SELECT 1 FROM webauthn_credentials AS other \
                          WHERE other.user_id = $2 AND other.kind = 'passkey' \
                          AND other.id <> $1))",
        )
        .bind(id)
        .bind(user_id.as_str())
        .execute(&mut *transaction)
        .await?;
        if deleted.rows_affected() == 1 {
            transaction.commit().await?;
            return Ok(Deletion::Deleted);
        }
        let exists =
            sqlx::query("SELECT id FROM webauthn_credentials WHERE id = $1 AND user_id = $2")
                .bind(id)
                .bind(user_id.as_str())
                .fetch_optional(&mut *transaction)
                .await?
                .is_some();
        // Nothing changed: the credential version stays where it was.
        transaction.rollback().await?;
        Ok(if exists {
            Deletion::LastWayIn
        } else {
            Deletion::NotFound
        })
    }

    /// Whether `user_id` has a security key (a second factor).
    pub(crate) async fn has_security_key(&self, user_id: &UserId) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "SELECT id FROM webauthn_credentials WHERE user_id = $1 AND kind = 'security_key' \
             LIMIT 1",
        )
        .bind(user_id.as_str())
        .fetch_optional(self.pool())
        .await?
        .is_some())
    }
}
