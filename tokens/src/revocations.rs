//! The users and sessions whose tokens are revoked, and the health of the feed that
//! reports them.

use std::{
    collections::{HashMap, HashSet},
    sync::{Mutex, RwLock},
    time::Duration,
};

use bookshelf_runtime::clock::Clock;

use crate::claims::LEEWAY_SECS;

// Tokio's instant, the one the follower's silence timeouts run on: tests that pause
// and advance tokio's time move the outage bound with them.
use tokio::time::Instant;

/// Revoked users and ended sessions as learnt from the auth service's
/// `WatchRevocations` feed.
///
/// Disabling an account is permanent, so the set of users only grows; it holds user
/// ids, a few dozen bytes each, and accounts are disabled rarely. Sessions end far
/// more often (every logout), so an ended session is remembered only while a token of
/// it could still pass: until its newest token has expired, plus the leeway the
/// verifier grants. After that the token's own expiry refuses it, and the session is
/// forgotten, so memory follows the sessions ended within one token lifetime, not
/// every session ever ended.
///
/// The feed counts as live only once its backlog has arrived whole, and only for as
/// long as it keeps talking: every message (heartbeats included) is a sign of life,
/// and tokens stop being trusted once the feed has been silent or down for longer
/// than the bound, whichever of the two it was.
#[derive(Debug)]
pub struct Revocations {
    users: RwLock<HashSet<String>>,
    sessions: RwLock<EndedSessions>,
    feed: Mutex<Feed>,
    max_outage: Duration,
    /// The wall clock tokens expire by, which says when a session may be forgotten.
    clock: Clock,
}

/// Ended sessions, each with the last time (seconds since the epoch) at which a token
/// of it could still pass.
#[derive(Debug, Default)]
struct EndedSessions {
    forget_at: HashMap<String, u64>,
    /// The earliest of those times: nothing is due to be forgotten before it, so the
    /// map is swept only when it has passed.
    next_due: Option<u64>,
}

impl EndedSessions {
    fn insert(&mut self, session_id: &str, forget_at: u64) {
        let at = self
            .forget_at
            .entry(session_id.to_owned())
            .or_insert(forget_at);
        *at = (*at).max(forget_at);
        self.next_due = Some(self.next_due.map_or(forget_at, |due| due.min(forget_at)));
    }

    /// Forgets every session none of whose tokens can pass at `now`.
    fn sweep(&mut self, now: u64) {
        if self.next_due.is_none_or(|due| due >= now) {
            return;
        }
        self.forget_at.retain(|_, at| *at >= now);
        self.next_due = self.forget_at.values().min().copied();
    }
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
            sessions: RwLock::default(),
            feed: Mutex::new(Feed {
                live: false,
                last_heard: None,
            }),
            max_outage,
            clock: Clock::system(),
        }
    }

    /// The same set reading token expiry times from `clock` instead of the system's.
    pub fn with_clock(self, clock: Clock) -> Self {
        Self { clock, ..self }
    }

    /// Records that session `session_id` has ended, and that its newest token expires
    /// at `tokens_expire_at` (seconds since the epoch): it is remembered until then
    /// plus the verifier's leeway, and forgotten after.
    pub fn end_session(&self, session_id: &str, tokens_expire_at: u64) {
        let forget_at = tokens_expire_at.saturating_add(LEEWAY_SECS);
        let now = self.clock.now_secs();
        let mut sessions = self.sessions.write().expect("revocations lock poisoned");
        sessions.sweep(now);
        if forget_at >= now {
            sessions.insert(session_id, forget_at);
        }
    }

    /// Whether session `session_id` has ended (and a token of it could still pass).
    pub fn is_session_ended(&self, session_id: &str) -> bool {
        self.sessions
            .read()
            .expect("revocations lock poisoned")
            .forget_at
            .contains_key(session_id)
    }

    /// How many ended sessions are remembered.
    pub fn ended_sessions(&self) -> usize {
        self.sessions
            .read()
            .expect("revocations lock poisoned")
            .forget_at
            .len()
    }

    /// Forgets the ended sessions whose tokens have all expired. Cheap when none is
    /// due, so it may run at every message of the feed.
    pub fn forget_expired(&self) {
        let now = self.clock.now_secs();
        let due = self
            .sessions
            .read()
            .expect("revocations lock poisoned")
            .next_due
            .is_some_and(|due| due < now);
        if due {
            self.sessions
                .write()
                .expect("revocations lock poisoned")
                .sweep(now);
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

    #[test]
    fn an_ended_session_is_remembered_until_its_last_token_expires_and_then_forgotten() {
        let (clock, hand) = Clock::manual(1_700_000_000_000);
        let revocations = Revocations::new(BOUND).with_clock(clock.clone());
        let lifetime = 3600;
        let now = clock.now_secs();
        revocations.end_session("logged-out", now + lifetime);
        revocations.end_session("revoked-later", now + 2 * lifetime);
        // A session whose tokens expired already needs no remembering at all.
        revocations.end_session("long-gone", now - LEEWAY_SECS - 1);
        assert!(revocations.is_session_ended("logged-out"));
        assert!(!revocations.is_session_ended("long-gone"));
        assert!(!revocations.is_session_ended("still-open"));

        // Up to the expiry plus the leeway a token could still pass: remembered.
        hand.advance(Duration::from_secs(lifetime + LEEWAY_SECS));
        revocations.forget_expired();
        assert!(revocations.is_session_ended("logged-out"));
        hand.advance(Duration::from_secs(1));
        revocations.forget_expired();
        assert!(!revocations.is_session_ended("logged-out"));
        assert!(revocations.is_session_ended("revoked-later"));
        assert_eq!(revocations.ended_sessions(), 1);

        hand.advance(Duration::from_secs(lifetime));
        revocations.forget_expired();
        assert_eq!(revocations.ended_sessions(), 0);
    }

    #[test]
    fn memory_stays_at_the_sessions_ended_within_one_token_lifetime() {
        let (clock, hand) = Clock::manual(1_700_000_000_000);
        let revocations = Revocations::new(BOUND).with_clock(clock.clone());
        let lifetime = 600;
        // A logout every second for ten lifetimes: at most one lifetime's worth (plus
        // the leeway) is ever remembered.
        for i in 0..(10 * lifetime) {
            revocations.end_session(&format!("session-{i}"), clock.now_secs() + lifetime);
            hand.advance(Duration::from_secs(1));
            revocations.forget_expired();
            assert!(revocations.ended_sessions() as u64 <= lifetime + LEEWAY_SECS + 1);
        }
        assert!(revocations.is_session_ended(&format!("session-{}", 10 * lifetime - 1)));
        assert!(!revocations.is_session_ended("session-0"));
    }

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
