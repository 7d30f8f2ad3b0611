//! A cover file written ahead of the row that will point at it.

use std::{io, sync::Arc};

use super::cover_store::CoverStore;
use crate::domain::{CoverId, CoverRef, StoredCover};

/// A cover written to storage whose row is not committed yet: dropped uncommitted
/// (the row could not be written), it deletes its file, so no file outlives a failure.
pub(crate) struct PendingCover {
    /// The cover as its row will record it.
    pub(crate) stored: StoredCover,
    covers: Arc<dyn CoverStore>,
    committed: bool,
}

impl PendingCover {
    /// Stores `bytes` as a new cover, under a fresh random id.
    pub(crate) async fn write(
        covers: Arc<dyn CoverStore>,
        bytes: &[u8],
        content_type: &'static str,
    ) -> io::Result<Self> {
        let id = CoverId::random();
        covers.put(&id, bytes).await?;
        Ok(Self {
            stored: StoredCover {
                reference: CoverRef {
                    id,
                    content_type: content_type.to_owned(),
                },
                bytes: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            },
            covers,
            committed: false,
        })
    }

    /// Keeps the file: the row pointing at it is committed.
    pub(crate) fn commit(mut self) {
        self.committed = true;
    }

    /// Removes the file now (no row will point at it), so that once the refusal is
    /// answered nothing of the upload remains.
    pub(crate) async fn discard(mut self) {
        self.committed = true;
        if let Err(error) = self.covers.delete(&self.stored.reference.id).await {
            tracing::warn!(%error, "cannot remove an uncommitted cover");
        }
    }
}

impl Drop for PendingCover {
    fn drop(&mut self) {
        if !self.committed {
            let covers = self.covers.clone();
            let id = self.stored.reference.id.clone();
            tokio::spawn(async move {
                if let Err(error) = covers.delete(&id).await {
                    tracing::warn!(%error, "cannot remove an uncommitted cover");
                }
            });
        }
    }
}
