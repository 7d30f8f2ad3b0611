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
//!   left, and a follower must never be handed a number it has seen;
//! - client assertions past their expiry (the leeway included): refused for it alone,
//!   so their `jti` no longer needs remembering.

use std::time::Duration;

use bookshelf_runtime::clock::Clock;
use bookshelf_tokens::claims::LEEWAY_SECS;

use crate::{
    config::Config,
    store::{
        Store, StoreError,
        sweeps::{CutOffs, Swept},
    },
};

/// What a sweep needs: the database, the time, and the lifetimes its cut-offs follow.
#[derive(Debug, Clone)]
pub struct Sweeper {
    /// The auth database.
    store: Store,
    /// The time cut-offs are counted back from.
    clock: Clock,
    /// How long an access token lives.
    token_ttl: Duration,
    /// The throttle's window.
    throttle_window: Duration,
    /// How long an ended or expired session is kept for audits.
    session_retention: Duration,
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
        let swept = self
            .store
            .sweep(&CutOffs {
                throttle_since: now.saturating_sub(ms(self.throttle_window)),
                refresh_expired_before: now,
                retained_since: now.saturating_sub(ms(self.session_retention)),
                tokens_expired_before,
                token_ttl_ms: ms(self.token_ttl),
                assertions_expired_before: tokens_expired_before,
            })
            .await?;
        if swept.total() > 0 {
            tracing::info!(?swept, "swept rows that no longer decide anything");
        }
        Ok(swept)
    }

    /// Sweeps now and then every `interval`, for as long as the task runs; a failed
    /// sweep is logged and tried again next time.
    pub(crate) async fn every(self, interval: Duration) {
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
