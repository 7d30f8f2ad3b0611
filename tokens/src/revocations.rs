//! The users whose tokens are revoked, and the health of the feed that reports them.

use std::{
    collections::HashSet,
    sync::{Mutex, RwLock},
    time::{Duration, Instant},
};

/// Revoked users as learnt from the auth service's `WatchRevocations` feed.
///
/// Revocation is permanent (a disabled account stays disabled), so the set only grows;
/// it holds user ids, a few dozen bytes each.
#[derive(Debug)]
pub struct Revocations {
    users: RwLock<HashSet<String>>,
    /// Since when the feed has been down; `Some` from creation until first connected.
    down_since: Mutex<Option<Instant>>,
    max_outage: Duration,
}

impl Revocations {
    /// A set that has not heard from the feed yet. Calls are refused until it has, or
    /// once it has been down for longer than `max_outage`.
    pub fn new(max_outage: Duration) -> Self {
        bookshelf_runtime::metrics::revocation_feed(false);
        Self {
            users: RwLock::default(),
            down_since: Mutex::new(Some(Instant::now() - max_outage)),
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

    /// Marks the feed live: revocations are arriving as they happen.
    pub fn feed_up(&self) {
        *self.down_since.lock().expect("revocations lock poisoned") = None;
        bookshelf_runtime::metrics::revocation_feed(true);
    }

    /// Marks the feed lost, unless it was already down.
    pub fn feed_down(&self) {
        self.down_since
            .lock()
            .expect("revocations lock poisoned")
            .get_or_insert_with(Instant::now);
        bookshelf_runtime::metrics::revocation_feed(false);
    }

    /// Whether the feed has been down for longer than the bound, so that a revocation
    /// may have been missed and tokens cannot be trusted.
    pub fn is_stale(&self) -> bool {
        self.down_since
            .lock()
            .expect("revocations lock poisoned")
            .is_some_and(|since| since.elapsed() > self.max_outage)
    }
}
