//! The revocation feed behind `WatchRevocations`.
//!
//! Disabling an account or ending a session appends a row to the `revocations` log,
//! with the next `sequence`, a number the database assigns in commit order; that log
//! is the feed's source of truth and its order. Every replica reads it for numbers past the
//! last it published, so a revocation made on one replica reaches the subscribers of
//! all replicas sharing the database whatever their clocks say, and a local
//! revocation is published at once.
//!
//! When to read: on SQLite (one machine, usually one replica) a few times a second,
//! [`POLL_INTERVAL`]. On PostgreSQL the replica that appends to the log also
//! notifies the [`CHANNEL`], which every replica listens on, so each reads only when
//! something happened, plus once per heartbeat to vouch for its view and to catch a
//! notification lost while its listening connection was down, so the reads do not
//! grow with the number of replicas.
//!
//! A heartbeat goes out about once per interval, but only after a poll that succeeded:
//! while this replica cannot read its database its subscribers hear silence, which
//! they treat as an outage, rather than a heartbeat vouching for a stale view.

use std::{
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use sqlx::postgres::PgListener;
use tokio::sync::{Notify, broadcast};

use crate::store::{
    Store, StoreError,
    revocations::{CHANNEL, Revocation},
};

/// How often an SQLite database is read for revocations made by other replicas.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// What the poller publishes to every subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FeedEvent {
    /// An account was disabled or a session ended.
    Revoked(Revocation),
    /// The last poll of the database succeeded: nothing was missed up to now.
    Heartbeat,
}

/// Publishes revocations and heartbeats to live subscribers.
#[derive(Debug, Clone)]
pub(crate) struct RevocationFeed {
    sender: broadcast::Sender<FeedEvent>,
    poll_now: Arc<Notify>,
}

impl RevocationFeed {
    /// Starts the poller on `store`, with a heartbeat about every `heartbeat`; it
    /// stops once every handle is dropped.
    ///
    /// The poller starts after the last revocation already made, read here before the
    /// service takes its first call: a subscriber reads everything up to its own
    /// subscription from the database, and everything after the start is published.
    /// Were that position read lazily, at the first poll, a revocation made between a
    /// subscriber's backlog and that poll would be in neither.
    ///
    /// With `notifications` (a PostgreSQL URL), it listens on [`CHANNEL`] and reads
    /// when notified, and otherwise once per heartbeat.
    pub(crate) async fn start(
        store: Store,
        heartbeat: Duration,
        notifications: Option<&str>,
    ) -> Result<Self, StoreError> {
        let published = store.last_revocation_sequence().await?;
        let (sender, _) = broadcast::channel(1024);
        let feed = Self {
            sender,
            poll_now: Arc::default(),
        };
        let interval = match notifications {
            Some(url) => {
                let listener = PgListener::connect(url).await.map_err(StoreError::from)?;
                tokio::spawn(listen(listener, Arc::downgrade(&feed.poll_now)));
                heartbeat
            }
            None => POLL_INTERVAL.min(heartbeat),
        };
        tokio::spawn(feed.clone().poll(store, heartbeat, interval, published));
        Ok(feed)
    }

    /// Live events from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<FeedEvent> {
        self.sender.subscribe()
    }

    /// Asks for an immediate poll, after this replica disabled an account or ended a
    /// session.
    pub(crate) fn revoked_here(&self) {
        self.poll_now.notify_one();
    }

    async fn poll(self, store: Store, heartbeat: Duration, interval: Duration, mut published: i64) {
        let mut last_heartbeat = Instant::now();
        loop {
            tokio::select! {
                _ = self.poll_now.notified() => {}
                _ = tokio::time::sleep(interval) => {}
            }
            // Every other handle is gone: the server has stopped.
            if Arc::strong_count(&self.poll_now) == 1 {
                return;
            }
            match store.revocations_after(published).await {
                Ok(revocations) => {
                    for revocation in revocations {
                        published = revocation.sequence;
                        let _ = self.sender.send(FeedEvent::Revoked(revocation));
                    }
                    if last_heartbeat.elapsed() >= heartbeat {
                        let _ = self.sender.send(FeedEvent::Heartbeat);
                        last_heartbeat = Instant::now();
                    }
                }
                Err(error) => tracing::warn!(%error, "polling revocations failed"),
            }
        }
    }
}

/// Asks the poller to read whenever a replica notifies [`CHANNEL`], until the poller
/// is gone. A notification sent while the connection was down is lost, so a
/// reconnection asks for a read too.
async fn listen(mut listener: PgListener, poll_now: Weak<Notify>) {
    if let Err(error) = listener.listen(CHANNEL).await {
        tracing::warn!(%error, "cannot listen for revocations; reading once per heartbeat");
        return;
    }
    loop {
        let received = listener.try_recv().await;
        let Some(poll_now) = poll_now.upgrade() else {
            return;
        };
        match received {
            // A notification, or the connection was lost and is being made again.
            Ok(_) => poll_now.notify_one(),
            Err(error) => {
                tracing::warn!(%error, "listening for revocations failed");
                drop(poll_now);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
