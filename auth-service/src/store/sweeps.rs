//! Deleting the rows that no longer decide anything, given the cut-offs the service
//! computes (see the service's sweeper for why each is safe).

use super::{Store, StoreError, revocations::LIVE_REVOCATION};

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
    /// Spent client assertions.
    pub client_assertions: u64,
}

impl Swept {
    /// Rows removed in all.
    pub(crate) fn total(&self) -> u64 {
        self.throttle
            + self.refresh_tokens
            + self.sessions
            + self.revocations
            + self.client_assertions
    }
}

/// Where each kind of row stops deciding anything, ms since the epoch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CutOffs {
    /// Throttle attempts at or before it no longer count, nor keys untouched since.
    pub throttle_since: i64,
    /// Refresh tokens that expired before it are refused anyway.
    pub refresh_expired_before: i64,
    /// Sessions ended or expired before it are past their retention.
    pub retained_since: i64,
    /// Tokens that expired before it (the leeway included) no longer pass.
    pub tokens_expired_before: i64,
    /// The token lifetime, for revocations recorded without their tokens' expiry.
    pub token_ttl_ms: i64,
    /// Client assertions that expired before it are refused for their expiry alone.
    pub assertions_expired_before: i64,
}

impl Store {
    /// Deletes every row past its cut-off: how many of each kind went.
    pub(crate) async fn sweep(&self, cut_offs: &CutOffs) -> Result<Swept, StoreError> {
        let pool = self.pool();
        let delete = async |sql: &str, cut_offs: &[i64]| -> Result<u64, StoreError> {
            let mut query = sqlx::query(sql);
            for cut_off in cut_offs {
                query = query.bind(*cut_off);
            }
            Ok(query.execute(pool).await?.rows_affected())
        };

        let throttle = delete(
            "DELETE FROM throttle_attempts WHERE attempted_at <= $1",
            &[cut_offs.throttle_since],
        )
        .await?
            + delete(
                "DELETE FROM throttle_keys WHERE touched_at <= $1",
                &[cut_offs.throttle_since],
            )
            .await?;

        let mut refresh_tokens = delete(
            "DELETE FROM refresh_tokens WHERE expires_at < $1",
            &[cut_offs.refresh_expired_before],
        )
        .await?;
        const DONE_WITH: &str = "(ended_at < $1 OR expires_at < $1) AND tokens_expire_at < $2";
        refresh_tokens += delete(
            &format!(
                "DELETE FROM refresh_tokens WHERE session_id IN \
                 (SELECT id FROM sessions WHERE {DONE_WITH})"
            ),
            &[cut_offs.retained_since, cut_offs.tokens_expired_before],
        )
        .await?;
        let sessions = delete(
            &format!("DELETE FROM sessions WHERE {DONE_WITH}"),
            &[cut_offs.retained_since, cut_offs.tokens_expired_before],
        )
        .await?;

        // The complement of the live revocations the followers load.
        let revocations = delete(
            &format!(
                "DELETE FROM revocations WHERE sequence < (SELECT MAX(sequence) FROM \
                 revocations) AND NOT {LIVE_REVOCATION}"
            ),
            &[cut_offs.token_ttl_ms, cut_offs.tokens_expired_before],
        )
        .await?;

        let client_assertions = delete(
            "DELETE FROM client_assertions WHERE expires_at < $1",
            &[cut_offs.assertions_expired_before],
        )
        .await?;

        Ok(Swept {
            throttle,
            refresh_tokens,
            sessions,
            revocations,
            client_assertions,
        })
    }
}
