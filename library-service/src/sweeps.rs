//! Covers no book points at, removed: what a crash between a write and its commit, a
//! failed delete or a lost race left behind. Every replica sweeps, at start-up and then
//! now and then; a cover younger than the grace period is never taken, as another
//! replica may be about to commit its row. Resumable uploads past their expiry go in
//! the same sweep: the row first, by a conditional delete that only one replica can
//! win and that skips an upload a Write still holds, then its bytes.

use std::{sync::Arc, time::Duration};

use bookshelf_runtime::clock::Clock;

use crate::{
    storage::{CoverStore, Staged, UploadStaging},
    store::{Store, StoreError},
};

/// Expired uploads read per round of a sweep.
const EXPIRED_PER_ROUND: i64 = 100;

/// Why a sweep failed.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The database failed.
    #[error("the database failed during a sweep")]
    Store(#[from] StoreError),
    /// The cover store failed.
    #[error("the cover store failed during a sweep")]
    Covers(#[source] std::io::Error),
}

/// What a sweep needs: the rows, the covers, and how old an orphan must be.
pub(crate) struct Sweeper {
    /// The books, which say which covers are kept.
    pub(crate) store: Store,
    /// The covers.
    pub(crate) covers: Arc<dyn CoverStore>,
    /// The bytes of resumable uploads.
    pub(crate) staging: Arc<dyn UploadStaging>,
    /// Covers changed within this long before a sweep are kept, book or not.
    pub(crate) grace: Duration,
    /// The time the grace period is counted from.
    pub(crate) clock: Clock,
}

impl Sweeper {
    /// One sweep; how many covers it removed.
    pub(crate) async fn sweep(&self) -> Result<usize, SweepError> {
        // The cut-off comes before the rows are read: a cover old enough to be taken
        // was written a grace period before the read, and an upload commits its row
        // within moments of writing its cover, so that row is in the read.
        let older_than_ms = self.clock.now_ms() - self.grace.as_millis() as i64;
        let keep = self.store.cover_ids().await?;
        let removed = self
            .covers
            .sweep(&keep, older_than_ms)
            .await
            .map_err(SweepError::Covers)?;
        if removed > 0 {
            tracing::info!(removed, "removed covers no book points at");
        }
        let expired = self.expire_uploads().await?;
        if expired > 0 {
            tracing::info!(expired, "removed resumable uploads past their expiry");
        }
        Ok(removed)
    }

    /// Removes every upload expired by now that no Write holds: its row (giving its
    /// reservation back), then its bytes. A replica that loses the row to another's
    /// sweep leaves the bytes to that one. How many it removed.
    pub(crate) async fn expire_uploads(&self) -> Result<usize, SweepError> {
        let now = self.clock.now_ms();
        let mut removed = 0;
        loop {
            let expired = self.store.expired_uploads(now, EXPIRED_PER_ROUND).await?;
            let round = expired.len();
            for upload in expired {
                let segments = self.store.segments(&upload.id).await?;
                if !self.store.expire_upload(&upload.id, now).await? {
                    continue;
                }
                let staged = Staged {
                    id: &upload.id,
                    multipart_id: upload.multipart_id.as_deref(),
                };
                self.staging
                    .remove(staged, &segments)
                    .await
                    .map_err(SweepError::Covers)?;
                removed += 1;
            }
            if round < EXPIRED_PER_ROUND as usize {
                return Ok(removed);
            }
        }
    }

    /// Sweeps every `interval`, for as long as the service runs; a failed sweep is
    /// logged and tried again next time.
    pub(crate) async fn every(self, interval: Duration) {
        let mut ticks = tokio::time::interval(interval);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            if let Err(error) = self.sweep().await {
                tracing::warn!(%error, "sweeping the cover store failed");
            }
        }
    }
}
