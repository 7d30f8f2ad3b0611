//! Uploads in flight per account: each account may have only so many at once, so one
//! caller's stalled or slow streams can never hold what the others need.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use crate::domain::UserId;

/// The uploads each account has in flight on this replica.
#[derive(Debug, Clone)]
pub struct InFlight {
    limit: usize,
    counts: Arc<Mutex<HashMap<UserId, usize>>>,
}

impl InFlight {
    /// Allows `limit` uploads in flight per account (at least one).
    pub fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            counts: Arc::default(),
        }
    }

    /// The most uploads an account may have in flight.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// A slot for one more upload of `account`, or `None` if it already has its limit.
    /// Checking and counting happen under one lock, so concurrent calls never pass
    /// the limit together.
    pub fn try_start(&self, account: &UserId) -> Option<UploadSlot> {
        let mut counts = self.counts.lock().expect("in-flight lock poisoned");
        let count = counts.entry(account.clone()).or_default();
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        bookshelf_runtime::metrics::upload_slots(1.0);
        Some(UploadSlot {
            account: account.clone(),
            counts: self.counts.clone(),
        })
    }
}

/// One upload in flight; dropping it (the upload ended, however) frees the slot.
#[derive(Debug)]
pub struct UploadSlot {
    account: UserId,
    counts: Arc<Mutex<HashMap<UserId, usize>>>,
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        bookshelf_runtime::metrics::upload_slots(-1.0);
        let mut counts = self.counts.lock().expect("in-flight lock poisoned");
        if let Some(count) = counts.get_mut(&self.account) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.account);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bookshelf_tokens::Caller;

    use super::*;

    fn user(name: &str) -> UserId {
        UserId::from(Caller::user(name))
    }

    #[test]
    fn slots_are_counted_per_account_and_freed_on_drop() {
        let in_flight = InFlight::new(2);
        let (ada, grace) = (user("ada"), user("grace"));
        let first = in_flight.try_start(&ada).unwrap();
        let _second = in_flight.try_start(&ada).unwrap();
        assert!(in_flight.try_start(&ada).is_none());
        assert!(in_flight.try_start(&grace).is_some());
        drop(first);
        assert!(in_flight.try_start(&ada).is_some());
    }
}
