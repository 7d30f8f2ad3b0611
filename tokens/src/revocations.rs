//! The users whose tokens are revoked, and the health of the feed that reports them.

use std::{
    collections::HashSet,
    sync::{Mutex, RwLock},
    time::Duration,
};

// Tokio's instant, the one the follower's silence timeouts run on: tests that pause
// and advance tokio's time move the outage bound with them.
use tokio::time::Instant;

/// Revoked users as learnt from the auth service's `WatchRevocations` feed.
///
/// Revocation is permanent (a disabled account stays disabled), so the set only grows;
/// it holds user ids, a few dozen bytes each.
///
/// The feed counts as live only once its backlog has arrived whole, and only for as
/// long as it keeps talking: every message (heartbeats included) is a sign of life,
/// and tokens stop being trusted once the feed has been silent or down for longer
/// than the bound, whichever of the two it was.
#[derive(Debug)]
pub struct Revocations {
    users: RwLock<HashSet<String>>,
    feed: Mutex<Feed>,
    max_outage: Duration,
}

#[derive(Debug)]
struct Feed {
    live: bool,
    /// The last sign of life of a live feed; none before it was first live.
    last_heard: Option<Instant>,
}

impl Revocations {
    /// A set that has not heard from the feed yet. Calls are refused until it has, or
    /// once it has been silent or down for longer than `max_outage`.
    pub fn new(max_outage: Duration) -> Self {
        bookshelf_runtime::metrics::revocation_feed(false);
        Self {
            users: RwLock::default(),
            feed: Mutex::new(Feed {
                live: false,
                last_heard: None,
            }),
            max_outage,
        }
    }

    /// Records that `user_id`'s tokens are revoked.
    pub fn revoke(&self, user_id: &str) {
        self.users
            .write()
            .expect("revocations lock poisoned")
            .insert(user_id.to_owned());
    }

    /// Whether `user_id`'s tokens are revoked.
    pub fn is_revoked(&self, user_id: &str) -> bool {
        self.users
            .read()
            .expect("revocations lock poisoned")
            .contains(user_id)
    }

    /// Marks the feed live: its backlog has arrived, revocations now arrive as they
    /// happen.
    pub fn feed_up(&self) {
        let mut feed = self.feed.lock().expect("revocations lock poisoned");
        feed.live = true;
        feed.last_heard = Some(Instant::now());
        drop(feed);
        bookshelf_runtime::metrics::revocation_feed(true);
    }

    /// Records a sign of life (any message) of a live feed; a feed still sending its
    /// backlog is not live yet, and its messages do not count.
    pub fn heard(&self) {
        let mut feed = self.feed.lock().expect("revocations lock poisoned");
        if feed.live {
            feed.last_heard = Some(Instant::now());
        }
    }

    /// Marks the feed lost. The outage counts from its last sign of life, so a feed
    /// that went silent before it dropped is not granted the bound twice.
    pub fn feed_down(&self) {
        self.feed.lock().expect("revocations lock poisoned").live = false;
        bookshelf_runtime::metrics::revocation_feed(false);
    }

    /// Whether the feed is live: backlog received and not lost since.
    pub fn is_live(&self) -> bool {
        self.feed.lock().expect("revocations lock poisoned").live
    }

    /// Whether the feed was never live, or nothing has been heard from it for longer
    /// than the bound, so that a revocation may have been missed and tokens cannot be
    /// trusted.
    pub fn is_stale(&self) -> bool {
        self.feed
            .lock()
            .expect("revocations lock poisoned")
            .last_heard
            .is_none_or(|heard| heard.elapsed() > self.max_outage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: Duration = Duration::from_secs(5);

    #[tokio::test(start_paused = true)]
    async fn nothing_is_trusted_until_the_backlog_has_arrived() {
        let revocations = Revocations::new(BOUND);
        assert!(revocations.is_stale());
        revocations.heard();
        assert!(
            revocations.is_stale(),
            "backlog messages are no sign of life"
        );
        revocations.feed_up();
        assert!(!revocations.is_stale());
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_feed_is_trusted_for_the_bound_and_not_a_moment_longer() {
        let revocations = Revocations::new(BOUND);
        revocations.feed_up();
        tokio::time::advance(BOUND).await;
        assert!(!revocations.is_stale());
        revocations.heard();
        tokio::time::advance(BOUND).await;
        assert!(
            !revocations.is_stale(),
            "the bound counts from the last message"
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(revocations.is_stale());
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_feed_counts_its_outage_from_its_last_message() {
        let revocations = Revocations::new(BOUND);
        revocations.feed_up();
        tokio::time::advance(BOUND - Duration::from_secs(1)).await;
        revocations.feed_down();
        revocations.heard();
        assert!(!revocations.is_live());
        tokio::time::advance(Duration::from_secs(1) + Duration::from_millis(1)).await;
        assert!(
            revocations.is_stale(),
            "a lost feed's messages do not extend the bound"
        );
    }
}
