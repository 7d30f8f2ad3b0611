//! The second factor's tables: each user's TOTP secret (sealed), the last step a
//! code was accepted at, the recovery codes' digests, and the pending second steps of
//! logins (`mfa_token` digests).
//!
//! Every "use once" is one conditional `UPDATE` whose affected-row count decides:
//! two requests with the same code, recovery code or `mfa_token`, on any replica, get
//! one success between them.

use sqlx::Row;

use super::{Store, StoreError, users::change_credentials};
use crate::domain::UserId;

/// A user's TOTP factor. Its `Debug` leaves the secret out, sealed as it is.
#[derive(Clone)]
pub(crate) struct TotpFactor {
    /// The secret, sealed for this user.
    pub sealed_secret: String,
    /// Whether a code has confirmed it: only then is it required at login.
    pub confirmed: bool,
}

impl std::fmt::Debug for TotpFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpFactor")
            .field("confirmed", &self.confirmed)
            .finish_non_exhaustive()
    }
}

/// A login waiting for its second factor.
#[derive(Debug, Clone)]
pub(crate) struct Challenge {
    /// The user whose password was right.
    pub user_id: UserId,
    /// The user's credential version that the password was checked against.
    pub credential_version: i64,
}

/// The columns of `totp_factors` a [`TotpFactor`] is read from.
const TOTP_COLUMNS: &str = "sealed_secret, confirmed_at";

/// The columns of `mfa_challenges` a [`Challenge`] is read from.
const CHALLENGE_COLUMNS: &str = "user_id, credential_version";

impl Store {
    /// The TOTP factor of `user_id`, confirmed or pending.
    pub(crate) async fn totp_factor(
        &self,
        user_id: &UserId,
    ) -> Result<Option<TotpFactor>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {TOTP_COLUMNS} FROM totp_factors WHERE user_id = $1"
        ))
        .bind(user_id.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(TotpFactor {
                sealed_secret: row.try_get("sealed_secret")?,
                confirmed: row.try_get::<Option<i64>, _>("confirmed_at")?.is_some(),
            })
        })
        .transpose()
        .map_err(StoreError::Database)
    }

    /// Starts (or restarts) an enrolment with a new sealed secret; false when the user
    /// already has a confirmed factor, which an enrolment never replaces.
    pub(crate) async fn begin_totp(
        &self,
        user_id: &UserId,
        sealed_secret: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO totp_factors (user_id, sealed_secret, created_at, last_step) \
             VALUES ($1, $2, $3, 0) ON CONFLICT (user_id) DO UPDATE \
             SET sealed_secret = EXCLUDED.sealed_secret, created_at = EXCLUDED.created_at, \
             last_step = 0 WHERE totp_factors.confirmed_at IS NULL",
        )
        .bind(user_id.as_str())
        .bind(sealed_secret)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Confirms the pending factor sealed as `sealed_secret` with a code of `step`,
    /// and replaces the user's recovery codes with `recovery_digests`, in one
    /// transaction; false when that enrolment is no longer pending (confirmed by a
    /// concurrent request, or restarted with another secret).
    pub(crate) async fn confirm_totp(
        &self,
        user_id: &UserId,
        sealed_secret: &str,
        step: i64,
        recovery_digests: &[String],
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.pool().begin().await?;
        let confirmed = sqlx::query(
            "UPDATE totp_factors SET confirmed_at = $1, last_step = $2 \
             WHERE user_id = $3 AND sealed_secret = $4 AND confirmed_at IS NULL",
        )
        .bind(now)
        .bind(step)
        .bind(user_id.as_str())
        .bind(sealed_secret)
        .execute(&mut *transaction)
        .await?;
        if confirmed.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id.as_str())
            .execute(&mut *transaction)
            .await?;
        for digest in recovery_digests {
            sqlx::query("INSERT INTO recovery_codes (user_id, digest) VALUES ($1, $2)")
                .bind(user_id.as_str())
                .bind(digest)
                .execute(&mut *transaction)
                .await?;
        }
        change_credentials(&mut transaction, user_id).await?;
        transaction.commit().await?;
        Ok(true)
    }

    /// Records that a code of `step` was accepted for `user_id`'s confirmed factor;
    /// false when a code of this step or a later one already was (a replay).
    pub(crate) async fn use_totp_step(
        &self,
        user_id: &UserId,
        step: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE totp_factors SET last_step = $1 \
             WHERE user_id = $2 AND last_step < $1 AND confirmed_at IS NOT NULL",
        )
        .bind(step)
        .bind(user_id.as_str())
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Spends one of `user_id`'s recovery codes; false when it is not one of them or
    /// was spent already.
    pub(crate) async fn use_recovery_code(
        &self,
        user_id: &UserId,
        digest: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE recovery_codes SET used_at = $1 \
             WHERE user_id = $2 AND digest = $3 AND used_at IS NULL",
        )
        .bind(now)
        .bind(user_id.as_str())
        .bind(digest)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Removes `user_id`'s factor and recovery codes.
    pub(crate) async fn remove_totp(&self, user_id: &UserId) -> Result<(), StoreError> {
        let mut transaction = self.pool().begin().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id.as_str())
            .execute(&mut *transaction)
            .await?;
        sqlx::query("DELETE FROM totp_factors WHERE user_id = $1")
            .bind(user_id.as_str())
            .execute(&mut *transaction)
            .await?;
        change_credentials(&mut transaction, user_id).await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Records a login waiting for its second factor until `expires_at` (ms), checked
    /// against `credential_version`, and forgets those that expired before `now`.
    pub(crate) async fn insert_challenge(
        &self,
        digest: &str,
        user_id: &UserId,
        credential_version: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM mfa_challenges WHERE expires_at < $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        sqlx::query(
            "INSERT INTO mfa_challenges (digest, user_id, credential_version, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(digest)
        .bind(user_id.as_str())
        .bind(credential_version)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The unspent, unexpired login waiting under `digest`.
    pub(crate) async fn challenge(
        &self,
        digest: &str,
        now: i64,
    ) -> Result<Option<Challenge>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CHALLENGE_COLUMNS} FROM mfa_challenges \
             WHERE digest = $1 AND used_at IS NULL AND expires_at > $2"
        ))
        .bind(digest)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(Challenge {
                user_id: UserId::issued(row.try_get("user_id")?),
                credential_version: row.try_get("credential_version")?,
            })
        })
        .transpose()
        .map_err(StoreError::Database)
    }

    /// Spends the login waiting under `digest`; false when it was spent or expired.
    pub(crate) async fn spend_challenge(&self, digest: &str, now: i64) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE mfa_challenges SET used_at = $1 \
             WHERE digest = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(digest)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_totp_factor_prints_no_secret() {
        let factor = TotpFactor {
            sealed_secret: "bm9uY2VjaXBoZXJ0ZXh0dGFn".into(),
            confirmed: true,
        };
        let printed = format!("{factor:?}");
        assert!(!printed.contains("bm9uY2VjaXBoZXJ0ZXh0dGFn"), "{printed}");
        assert!(printed.contains("confirmed: true"), "{printed}");
    }
}
