//! The revocation feed behind `WatchRevocations`.
//!
//! Disabling an account sets `users.disabled_at`; that column is the feed's source of
//! truth. Every replica polls it a few times a second, so a revocation made on one
//! replica reaches the subscribers of all replicas sharing the database (PostgreSQL or
//! not) within [`POLL_INTERVAL`], and a local revocation is published at once.

use std::{collections::HashMap, sync::Arc, time::Duration};

use bookshelf_runtime::clock::now_ms;
use tokio::sync::{Notify, broadcast};

use crate::store::{Revocation, Store};

/// How often the database is read for revocations made by other replicas.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// How far back each poll looks, so rows committed late by a slow transaction are
/// still seen; what was already published is not published twice.
const OVERLAP_MS: i64 = 10_000;

/// Publishes revocations to live subscribers.
#[derive(Debug, Clone)]
pub struct RevocationFeed {
    sender: broadcast::Sender<Revocation>,
    poll_now: Arc<Notify>,
}

impl RevocationFeed {
    /// Starts the poller on `store`; it stops once every handle is dropped.
    pub fn start(store: Store) -> Self {
        let (sender, _) = broadcast::channel(1024);
        let feed = Self {
            sender,
            poll_now: Arc::default(),
        };
        tokio::spawn(feed.clone().poll(store));
        feed
    }

    /// Live revocations from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Revocation> {
        self.sender.subscribe()
    }

    /// Asks for an immediate poll, after this replica disabled an account.
    pub fn revoked_here(&self) {
        self.poll_now.notify_one();
    }

    async fn poll(self, store: Store) {
        let mut published: HashMap<String, i64> = HashMap::new();
        let mut since = now_ms();
        loop {
            tokio::select! {
                _ = self.poll_now.notified() => {}
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
            }
            // Every other handle is gone: the server has stopped.
            if Arc::strong_count(&self.poll_now) == 1 {
                return;
            }
            let started = now_ms();
            match store.revocations_since(since - OVERLAP_MS).await {
                Ok(revocations) => {
                    for revocation in revocations {
                        if published
                            .insert(revocation.user_id.clone(), revocation.revoked_at)
                            .is_none()
                        {
                            let _ = self.sender.send(revocation);
                        }
                    }
                    since = started;
                    published.retain(|_, at| *at >= since - 2 * OVERLAP_MS);
                }
                Err(error) => tracing::warn!(%error, "polling revocations failed"),
            }
        }
    }
}
