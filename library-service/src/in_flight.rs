//! Uploads in flight per account: each account may have only so many at once, so one
//! caller's stalled or slow streams can never hold what the others need. Uploads past
//! that wait in a line of their account's, bounded too, with nothing of them read;
//! only past the line is one refused. A client that sends many covers at once (an
//! import, a phone coming back online) is served in turn instead of being answered
//! with refusals it must retry, and a refusal, which ends a half-sent request, is
//! kept for callers far past any honest use.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::domain::UserId;

/// The uploads each account has in flight, or waiting, on this replica.
#[derive(Debug, Clone)]
pub(crate) struct InFlight {
    limit: usize,
    line: usize,
    accounts: Arc<Mutex<HashMap<UserId, Account>>>,
}

/// One account's uploads: the slots they take turns on, and how many hold or wait
/// for one.
#[derive(Debug)]
struct Account {
    slots: Arc<Semaphore>,
    holding_or_waiting: usize,
}

impl InFlight {
    /// Allows `limit` uploads in flight per account (at least one), and `line` more
    /// waiting for a slot.
    pub(crate) fn new(limit: usize, line: usize) -> Self {
        Self {
            limit: limit.max(1),
            line,
            accounts: Arc::default(),
        }
    }

    /// The most uploads an account may have in flight and waiting together.
    pub(crate) fn capacity(&self) -> usize {
        self.limit + self.line
    }

    /// A slot for one more upload of `account`, once one is free; `None` at once if
    /// its line is full. Places are counted under one lock, so concurrent calls never
    /// pass the bound together, and a caller that stops waiting (its client went away)
    /// gives its place back.
    pub(crate) async fn start(&self, account: &UserId) -> Option<UploadSlot> {
        let (mut slot, slots) = {
            let mut accounts = self.accounts.lock().expect("in-flight lock poisoned");
            let entry = accounts.entry(account.clone()).or_insert_with(|| Account {
                slots: Arc::new(Semaphore::new(self.limit)),
                holding_or_waiting: 0,
            });
            if entry.holding_or_waiting >= self.capacity() {
                return None;
            }
            entry.holding_or_waiting += 1;
            let place = UploadSlot {
                account: account.clone(),
                accounts: self.accounts.clone(),
                permit: None,
            };
            (place, entry.slots.clone())
        };
        let permit = slots
            .acquire_owned()
            .await
            .expect("an account's slots are never closed");
        bookshelf_runtime::metrics::upload_slots(1.0);
        slot.permit = Some(permit);
        Some(slot)
    }
}

/// One upload's place: in line until it holds a slot, then in flight. Dropping it
/// (the upload ended, however, or its caller stopped waiting) frees both.
#[derive(Debug)]
pub(crate) struct UploadSlot {
    account: UserId,
    accounts: Arc<Mutex<HashMap<UserId, Account>>>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        if self.permit.take().is_some() {
            bookshelf_runtime::metrics::upload_slots(-1.0);
        }
        let mut accounts = self.accounts.lock().expect("in-flight lock poisoned");
        if let Some(entry) = accounts.get_mut(&self.account) {
            entry.holding_or_waiting -= 1;
            if entry.holding_or_waiting == 0 {
                accounts.remove(&self.account);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{future::Future, pin::pin, task::Poll};

    use bookshelf_tokens::Caller;

    use super::*;

    fn user(name: &str) -> UserId {
        UserId::from(Caller::user(name))
    }

    /// The slot if `start` has one without waiting, `Some(None)` if it refused, and
    /// `None` if it waits.
    fn poll_once<F: Future>(future: F) -> Option<F::Output> {
        let mut future = pin!(future);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => Some(output),
            Poll::Pending => None,
        }
    }

    #[test]
    fn slots_are_counted_per_account_and_freed_on_drop() {
        let in_flight = InFlight::new(2, 0);
        let (ada, grace) = (user("ada"), user("grace"));
        let first = poll_once(in_flight.start(&ada)).unwrap().unwrap();
        let _second = poll_once(in_flight.start(&ada)).unwrap().unwrap();
        assert!(poll_once(in_flight.start(&ada)).unwrap().is_none());
        assert!(poll_once(in_flight.start(&grace)).unwrap().is_some());
        drop(first);
        assert!(poll_once(in_flight.start(&ada)).unwrap().is_some());
    }

    #[tokio::test]
    async fn uploads_past_the_limit_wait_in_a_bounded_line_and_leave_it_when_dropped() {
        let in_flight = InFlight::new(1, 2);
        let ada = user("ada");
        let holding = in_flight.start(&ada).await.unwrap();
        let first_waiting = tokio::spawn({
            let (in_flight, ada) = (in_flight.clone(), ada.clone());
            async move { in_flight.start(&ada).await.is_some() }
        });
        tokio::task::yield_now().await;
        let mut second_waiting = Box::pin(in_flight.start(&ada));
        assert!(poll_once(second_waiting.as_mut()).is_none(), "it waits");
        assert!(
            poll_once(in_flight.start(&ada)).unwrap().is_none(),
            "past the line, refused at once"
        );
        // One caller stops waiting: its place is free for another.
        drop(second_waiting);
        let mut third_waiting = Box::pin(in_flight.start(&ada));
        assert!(poll_once(third_waiting.as_mut()).is_none(), "it waits");
        drop(holding);
        assert!(first_waiting.await.unwrap(), "the first in line goes on");
        let slot = third_waiting.await.expect("then the next");
        drop(slot);
        assert!(in_flight.accounts.lock().unwrap().is_empty());
    }
}
