//! An answer of 200, 201 or 204 means committed: many clients refresh sessions and
//! write books while the auth service, or the library, is killed with SIGKILL and
//! started again on the same database and folder. Every answered refresh token then
//! works (or was spent by a later answered refresh), every answered book is there as
//! answered, every answered delete stays done, and a write that got no answer is
//! either wholly there or not at all.
//!
//! What this proves: no part answers before its commit, and no crash leaves a row
//! half written or a book without its cover. What it cannot prove: survival of a
//! power loss. A killed process loses only what it had not yet handed to the
//! operating system; a write SQLite has given the kernel survives the process even
//! with `PRAGMA synchronous = OFF`, so only a lost machine would show a commit that
//! was never flushed to the disk.

mod books;
mod sessions;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use bookshelf_test_support::{ProcessStack, Rest, Service, process_stack::LOAD_ENV};

/// Clients refreshing their sessions.
const SESSION_CLIENTS: usize = 12;

/// Clients creating, changing and deleting books.
const BOOK_CLIENTS: usize = 12;

/// How long the killed part stays down: writes sent meanwhile are refused, and their
/// clients carry on with what they hold once it is back.
const OUTAGE: Duration = Duration::from_millis(300);

/// How long the flood runs before the kill, and again after the restart.
const FLOOD_PHASE: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_auth_service_mid_flood_loses_no_answered_write() {
    flood_through_a_kill(Service::Auth).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_library_mid_flood_loses_no_answered_write() {
    flood_through_a_kill(Service::Library).await;
}

/// What one client saw go wrong, and how many of its writes were answered or not.
#[derive(Default)]
struct Tally {
    answered: usize,
    unanswered: usize,
    problems: Vec<String>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.answered += other.answered;
        self.unanswered += other.unanswered;
        self.problems.extend(other.problems);
    }
}

async fn flood_through_a_kill(victim: Service) {
    let mut stack = ProcessStack::spawn_with(&LOAD_ENV).await;
    let rest = Rest::new(&stack.http);
    let flood = Arc::new(Flood::default());

    // Every account first, so that the flood starts at once.
    let mut accounts = Vec::new();
    for _ in 0..SESSION_CLIENTS {
        accounts.push(tokio::spawn(sessions::Account::sign_up(rest.clone())));
    }
    let mut shelves = Vec::new();
    for _ in 0..BOOK_CLIENTS {
        let rest = rest.clone();
        shelves.push(tokio::spawn(async move {
            rest.signed_up("Flood Writer").await.1
        }));
    }
    let mut session_clients = Vec::new();
    for account in accounts {
        let account = account.await.expect("a sign-up");
        session_clients.push(tokio::spawn(account.refresh_until(flood.clone())));
    }
    let mut book_clients = Vec::new();
    for (client, me) in shelves.into_iter().enumerate() {
        let me = me.await.expect("a sign-up");
        book_clients.push(tokio::spawn(books::write_until(me, client, flood.clone())));
    }

    tokio::time::sleep(FLOOD_PHASE).await;
    stack.kill(victim).await;
    flood.outage.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(OUTAGE).await;
    flood.outage.fetch_add(1, Ordering::SeqCst);
    stack.start(victim);
    stack.wait_healthy().await;
    tokio::time::sleep(FLOOD_PHASE).await;
    flood.stop.store(true, Ordering::Relaxed);

    let mut tally = Tally::default();
    for client in session_clients {
        let account = client.await.expect("a session client");
        tally.add(account.check().await);
    }
    for client in book_clients {
        let shelf = client.await.expect("a book client");
        tally.add(shelf.check().await);
    }
    let refused_while_down = flood.refused_while_down.load(Ordering::Relaxed) as usize;
    eprintln!(
        "{}: {} writes answered, {} not, {refused_while_down} refused while it was down",
        victim.binary(),
        tally.answered,
        tally.unanswered
    );
    assert!(
        tally.problems.is_empty(),
        "{} of {} answered writes went wrong after the {} was killed:\n{}",
        tally.problems.len(),
        tally.answered,
        victim.binary(),
        tally.problems.join("\n")
    );
    assert!(
        tally.answered >= 100,
        "a flood: {} answered",
        tally.answered
    );
    assert!(
        tally.unanswered + refused_while_down > 0,
        "the flood went on through the outage: no write went unanswered or was refused"
    );
    assert!(!stack.logs().contains("panicked"));
}

/// What the clients of the flood share.
#[derive(Default)]
struct Flood {
    /// Set when the flood is over.
    stop: AtomicBool,
    /// Odd while the killed part is down, and moved on when it goes down and when it
    /// is started again.
    outage: AtomicU64,
    /// Writes refused while the killed part was down.
    refused_while_down: AtomicU64,
}

impl Flood {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Where the outage stands, read before a write is sent.
    fn before_write(&self) -> u64 {
        self.outage.load(Ordering::SeqCst)
    }

    /// Whether a write sent at `before` and refused now went out and came back while
    /// the killed part was down, and so cannot have reached it: not done, for sure.
    fn refused_while_down(&self, before: u64) -> bool {
        let down = before % 2 == 1 && self.outage.load(Ordering::SeqCst) == before;
        if down {
            self.refused_while_down.fetch_add(1, Ordering::Relaxed);
        }
        down
    }
}
