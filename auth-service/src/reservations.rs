//! Attempts reserved in the database under throttle keys: the one place where the
//! count of attempts is both checked and raised, atomically on every backend.
//!
//! Reserving locks the row of each key (an upsert, in one sorted order so two
//! reservations never wait on each other crosswise), then counts and records under
//! that lock, in one transaction. On PostgreSQL the row lock makes concurrent
//! reservations of a key, on any replica, take turns, and each statement after it sees
//! what the previous holder committed. On SQLite the transaction's first statement is
//! a write, so it takes the database's one write lock before reading anything: it
//! waits its turn (busy timeout) instead of failing midway.

use sqlx::Row;

use crate::store::{Store, StoreError};

/// One limit an attempt must fit under: at most `max` attempts per window under `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// What is counted: an email, an email and address, an address.
    pub key: String,
    /// Attempts allowed per window.
    pub max: u32,
}

/// What a reservation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserved {
    /// The attempt is counted under every limit and may go ahead.
    Granted,
    /// Some limit is full; nothing was counted. The attempt may be made again at this
    /// time (ms since the epoch), when every full limit has room again.
    Refused {
        /// When the next attempt will be allowed, ms since the epoch.
        until: i64,
    },
}

impl Store {
    /// Counts attempt `attempt_id` under every one of `limits` at `now` (ms), or under
    /// none if any is full; attempts older than `window_ms` no longer count.
    pub async fn reserve(
        &self,
        attempt_id: &str,
        limits: &[Limit],
        now: i64,
        window_ms: i64,
    ) -> Result<Reserved, StoreError> {
        let mut limits = limits.to_vec();
        limits.sort_by(|a, b| a.key.cmp(&b.key));
        limits.dedup_by(|a, b| a.key == b.key);
        let since = now - window_ms;
        let mut transaction = self.pool().begin().await?;
        for limit in &limits {
            sqlx::query(
                "INSERT INTO throttle_keys (key, touched_at) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET touched_at = EXCLUDED.touched_at",
            )
            .bind(&limit.key)
            .bind(now)
            .execute(&mut *transaction)
            .await?;
        }
        let mut refused_until = None::<i64>;
        for limit in &limits {
            sqlx::query("DELETE FROM throttle_attempts WHERE key = $1 AND attempted_at <= $2")
                .bind(&limit.key)
                .bind(since)
                .execute(&mut *transaction)
                .await?;
            let times: Vec<i64> = sqlx::query(
                "SELECT attempted_at FROM throttle_attempts WHERE key = $1 \
                 ORDER BY attempted_at",
            )
            .bind(&limit.key)
            .fetch_all(&mut *transaction)
            .await?
            .iter()
            .map(|row| row.try_get("attempted_at"))
            .collect::<Result<_, _>>()?;
            let max = limit.max as usize;
            if times.len() >= max {
                // Room comes back when enough of the oldest attempts leave the window
                // for one more to fit.
                let frees_at = times[times.len() - max] + window_ms;
                refused_until = Some(refused_until.map_or(frees_at, |until| until.max(frees_at)));
            }
        }
        if let Some(until) = refused_until {
            transaction.commit().await?;
            return Ok(Reserved::Refused { until });
        }
        for limit in &limits {
            sqlx::query(
                "INSERT INTO throttle_attempts (key, attempt_id, attempted_at) \
                 VALUES ($1, $2, $3)",
            )
            .bind(&limit.key)
            .bind(attempt_id)
            .bind(now)
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(Reserved::Granted)
    }

    /// Gives back every count of attempt `attempt_id` and forgets all attempts under
    /// `clear` (the keys a success clears).
    pub async fn release(&self, attempt_id: &str, clear: &[&str]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM throttle_attempts WHERE attempt_id = $1")
            .bind(attempt_id)
            .execute(self.pool())
            .await?;
        for key in clear {
            sqlx::query("DELETE FROM throttle_attempts WHERE key = $1")
                .bind(key)
                .execute(self.pool())
                .await?;
        }
        Ok(())
    }
}
