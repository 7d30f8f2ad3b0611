//! The `webauthn_ceremonies` table: WebAuthn ceremonies begun and not yet finished,
//! with the library's serialised state, so that any replica can finish one.
//!
//! A ceremony is taken by one conditional `UPDATE ... RETURNING`: of two finishes of
//! one ceremony, on one replica or two, one gets its state and the other nothing,
//! and an expired or spent ceremony gives nothing to anyone.

use sqlx::Row;

use super::{Store, StoreError};
use crate::domain::passkeys::CeremonyId;

/// A ceremony taken to be finished.
#[derive(Debug, Clone)]
pub(crate) struct TakenCeremony {
    /// The account it is for (for a sign-up, the id the account will get).
    pub user_id: Option<String>,
    /// The serialised state.
    pub state: String,
}

impl Store {
    /// Records ceremony `id` of `purpose` until `expires_at` (ms), and forgets those
    /// that expired before `now`.
    pub(crate) async fn insert_ceremony(
        &self,
        id: &CeremonyId,
        purpose: &str,
        user_id: Option<&str>,
        state: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM webauthn_ceremonies WHERE expires_at < $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        sqlx::query(
            "INSERT INTO webauthn_ceremonies (id, purpose, user_id, state, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.as_str())
        .bind(purpose)
        .bind(user_id)
        .bind(state)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Spends ceremony `id` of `purpose` and returns its state; `None` when there is
    /// no such ceremony, or it was spent already, or it expired.
    pub(crate) async fn take_ceremony(
        &self,
        id: &CeremonyId,
        purpose: &str,
        now: i64,
    ) -> Result<Option<TakenCeremony>, StoreError> {
        let row = sqlx::query(
            "UPDATE webauthn_ceremonies SET used_at = $1 \
             WHERE id = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 \
             RETURNING user_id, state",
        )
        .bind(now)
        .bind(id.as_str())
        .bind(purpose)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(TakenCeremony {
                user_id: row.try_get("user_id")?,
                state: row.try_get("state")?,
            })
        })
        .transpose()
        .map_err(StoreError::Database)
    }
}
