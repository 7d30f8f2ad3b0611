//! Rows that no longer decide anything, removed, so that the auth database does not
//! grow with every login for ever: a flood of logins for ever-new emails would
//! otherwise leave its throttle rows behind, and every session its rows.
//!
//! Every replica sweeps, once soon after start-up and then every interval; the deletes
//! are the same on every replica and repeat harmlessly. Each cut-off is one that the
//! reads deciding anything already ignore, so a sweep never changes an answer:
//!
//! - throttle attempts older than the window, and keys untouched for as long: they no
//!   longer count against anyone;
//! - refresh tokens past their expiry: refused already, spent or not;
//! - sessions ended, or past their absolute end, longer ago than the retention, once
//!   their last access token has expired too: never listed, never refreshed;
//! - revocations whose tokens have all expired: followers load only the live ones
//!   (a revoked signing key's is never swept).
//!   The newest is always kept, because the next number is one more than the highest
//!   left, and a follower must never be handed a number it has seen.

use std::time::Duration;

use bookshelf_runtime::clock::Clock;
use bookshelf_tokens::claims::LEEWAY_SECS;

use crate::{
    Config,
    store::{LIVE_REVOCATION, Store, StoreError},
};

/// What a sweep needs: the database, the time, and the lifetimes its cut-offs follow.
#[derive(Debug, Clone)]
pub struct Sweeper {
    /// The auth database.
    pub store: Store,
    /// The time cut-offs are counted back from.
    pub clock: Clock,
    /// How long an access token lives.
    pub token_ttl: Duration,
    /// The throttle's window.
    pub throttle_window: Duration,
    /// How long an ended or expired session is kept for audits.
    pub session_retention: Duration,
}

/// How many rows one sweep removed, by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Throttle attempts and keys.
    pub throttle: u64,
    /// Refresh tokens.
    pub refresh_tokens: u64,
    /// Sessions.
    pub sessions: u64,
    /// Revocations.
    pub revocations: u64,
}

impl Swept {
    fn total(&self) -> u64 {
        self.throttle + self.refresh_tokens + self.sessions + self.revocations
    }
}

impl Sweeper {
    /// A sweeper of `store` with the clock and lifetimes `config` gives the service.
    pub fn new(store: Store, config: &Config) -> Self {
        Self {
            store,
            clock: config.clock.clone(),
            token_ttl: config.token_ttl(),
            throttle_window: config.allowances().window,
            session_retention: Duration::from_secs(config.session_retention_secs),
        }
    }

    /// One sweep.
    pub async fn sweep(&self) -> Result<Swept, StoreError> {
        let now = self.clock.now_ms();
        let ms = |duration: Duration| i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        let tokens_expired_before = now - LEEWAY_SECS as i64 * 1000;
        let pool = self.store.pool();
        let delete = async |sql: &str, cut_offs: &[i64]| -> Result<u64, StoreError> {
            let mut query = sqlx::query(sql);
            for cut_off in cut_offs {
                query = query.bind(*cut_off);
            }
            Ok(query.execute(pool).await?.rows_affected())
        };

        let throttle_since = now.saturating_sub(ms(self.throttle_window));
        let throttle = delete(
            "DELETE FROM throttle_attempts WHERE attempted_at <= $1",
            &[throttle_since],
        )
        .await?
            + delete(
                "DELETE FROM throttle_keys WHERE touched_at <= $1",
                &[throttle_since],
            )
            .await?;

        let mut refresh_tokens =
            delete("DELETE FROM refresh_tokens WHERE expires_at < $1", &[now]).await?;
        let retained_since = now.saturating_sub(ms(self.session_retention));
        const DONE_WITH: &str = "(ended_at < $1 OR expires_at < $1) AND tokens_expire_at < $2";
        refresh_tokens += delete(
            &format!(
                "DELETE FROM refresh_tokens WHERE session_id IN \
                 (SELECT id FROM sessions WHERE {DONE_WITH})"
            ),
            &[retained_since, tokens_expired_before],
        )
        .await?;
        let sessions = delete(
            &format!("DELETE FROM sessions WHERE {DONE_WITH}"),
            &[retained_since, tokens_expired_before],
        )
        .await?;

        // The complement of the live revocations the followers load.
        let revocations = delete(
            &format!(
                "DELETE FROM revocations WHERE sequence < (SELECT MAX(sequence) FROM \
                 revocations) AND NOT {LIVE_REVOCATION}"
            ),
            &[ms(self.token_ttl), tokens_expired_before],
        )
        .await?;

        let swept = Swept {
            throttle,
            refresh_tokens,
            sessions,
            revocations,
        };
        if swept.total() > 0 {
            tracing::info!(?swept, "swept rows that no longer decide anything");
        }
        Ok(swept)
    }

    /// Sweeps now and then every `interval`, for as long as the task runs; a failed
    /// sweep is logged and tried again next time.
    pub async fn every(self, interval: Duration) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = self.sweep().await {
                tracing::warn!(%error, "sweeping the auth database failed");
            }
        }
    }
}
