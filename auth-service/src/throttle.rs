//! Login throttling (DESIGN rule 5), counted in the database so every replica agrees.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bookshelf_runtime::clock::now_ms;

use crate::{
    domain::Email,
    store::{Store, StoreError},
};

/// The key a login's failures are counted under: the address as stored, or, when
/// `raw` is no address at all (it then matches no account, but is throttled all the
/// same), a digest of it. The digest is short ASCII whatever the client sent (NUL
/// bytes, which PostgreSQL text refuses, or kilobytes, past what an index entry holds).
pub fn key(raw: &str, email: Option<&Email>) -> String {
    match email {
        Some(email) => email.as_str().to_owned(),
        None => {
            let normalised = raw.trim().to_lowercase();
            let digest = ring::digest::digest(&ring::digest::SHA256, normalised.as_bytes());
            format!("not-an-email:{}", URL_SAFE_NO_PAD.encode(digest.as_ref()))
        }
    }
}

/// Refuses logins for an email after too many recent failures.
#[derive(Debug, Clone)]
pub struct LoginThrottle {
    store: Store,
    max_failures: i64,
    window: Duration,
}

impl LoginThrottle {
    /// Allows `max_failures` failed logins per email within `window`.
    pub fn new(store: Store, max_failures: u32, window: Duration) -> Self {
        Self {
            store,
            max_failures: i64::from(max_failures),
            window,
        }
    }

    fn window_ms(&self) -> i64 {
        self.window.as_millis() as i64
    }

    /// `Some(wait)` when `email` must wait before trying again.
    pub async fn retry_after(&self, email: &str) -> Result<Option<Duration>, StoreError> {
        let now = now_ms();
        let (failures, oldest) = self
            .store
            .recent_failures(email, now - self.window_ms())
            .await?;
        if failures < self.max_failures {
            return Ok(None);
        }
        let frees_at = oldest.unwrap_or(now) + self.window_ms();
        Ok(Some(Duration::from_millis(
            (frees_at - now).max(1000) as u64
        )))
    }

    /// Counts a failed login.
    pub async fn failed(&self, email: &str) -> Result<(), StoreError> {
        let now = now_ms();
        self.store
            .record_failure(email, now, now - self.window_ms())
            .await
    }

    /// Forgets past failures after a successful login.
    pub async fn succeeded(&self, email: &str) -> Result<(), StoreError> {
        self.store.clear_failures(email).await
    }
}
