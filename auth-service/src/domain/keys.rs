//! The signing key set as values: each key's row, and the schedule that says which
//! key signs and which verify at a given time, a pure function of the rows and the
//! time, so replicas agree without talking to each other.

use std::time::Duration;

use bookshelf_tokens::{PublicKey, claims::LEEWAY_SECS};

/// One key of the set as the table holds it. Its `Debug` leaves the private half out.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The public half.
    pub public: PublicKey,
    /// The private half, sealed; erased once the key is retired.
    pub sealed_private: Option<String>,
    /// When the key was added, ms since the epoch.
    pub created_at: i64,
    /// When it starts signing, ms since the epoch.
    pub activates_at: i64,
    /// When it was revoked, ms since the epoch: it never signs or verifies again.
    pub revoked_at: Option<i64>,
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("public", &self.public)
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// Which keys sign and verify at one moment: a function of the rows and the time.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    /// The keys not revoked, in signing order: by `activates_at`, then `kid`, the
    /// same on every replica.
    pub(crate) records: Vec<KeyRecord>,
    /// The revoked keys' ids: out of the schedule altogether.
    pub(crate) revoked: Vec<String>,
}

impl Schedule {
    /// The schedule of `records`, in any order.
    pub(crate) fn new(records: Vec<KeyRecord>) -> Self {
        let (revoked, mut records): (Vec<_>, Vec<_>) =
            records.into_iter().partition(|r| r.revoked_at.is_some());
        records
            .sort_by(|a, b| (a.activates_at, &a.public.kid).cmp(&(b.activates_at, &b.public.kid)));
        Self {
            records,
            revoked: revoked.into_iter().map(|r| r.public.kid).collect(),
        }
    }

    /// The index of the key that signs at `now` (ms): the newest whose time has come,
    /// or the earliest when none has.
    fn current_index(&self, now: i64) -> Option<usize> {
        let started = self.records.iter().rposition(|r| r.activates_at <= now);
        started.or((!self.records.is_empty()).then_some(0))
    }

    /// The key that signs at `now`.
    pub(crate) fn current(&self, now: i64) -> Option<&KeyRecord> {
        self.current_index(now).map(|index| &self.records[index])
    }

    /// When the key at `index` stopped signing, if it has by `now`.
    fn retired_at(&self, index: usize, now: i64) -> Option<i64> {
        let current = self.current_index(now)?;
        (index < current).then(|| self.records[index + 1].activates_at)
    }

    /// The keys that verify at `now`: every key not yet retired, and every retired
    /// one that a token still within its `ttl` (and the leeway) may name.
    pub(crate) fn published(&self, now: i64, ttl: Duration) -> Vec<&KeyRecord> {
        let kept_for = (ttl.as_millis() as i64) + (LEEWAY_SECS as i64) * 1000;
        (0..self.records.len())
            .filter(|&index| {
                self.retired_at(index, now)
                    .is_none_or(|retired| retired + kept_for > now)
            })
            .map(|index| &self.records[index])
            .collect()
    }

    /// The keys retired for longer than the leeway by `now` whose private half is
    /// still stored: no replica, even one whose clock is behind, signs with them.
    pub(crate) fn erasable(&self, now: i64) -> Vec<&str> {
        let leeway = (LEEWAY_SECS as i64) * 1000;
        (0..self.records.len())
            .filter(|&index| {
                self.records[index].sealed_private.is_some()
                    && self
                        .retired_at(index, now)
                        .is_some_and(|retired| retired + leeway < now)
            })
            .map(|index| self.records[index].public.kid.as_str())
            .collect()
    }

    /// When a key added at `now` with an `activation` delay starts signing: after
    /// every key already there, so a rotation never goes back in the order.
    pub(crate) fn next_activation(&self, now: i64, activation: Duration) -> i64 {
        let after = now + activation.as_millis() as i64;
        self.records
            .last()
            .map_or(after, |last| after.max(last.activates_at + 1))
    }

    /// Whether the set has ever held `kid`, revoked or not.
    pub(crate) fn contains(&self, kid: &str) -> bool {
        self.records.iter().any(|r| r.public.kid == kid) || self.revoked.iter().any(|r| r == kid)
    }

    /// Whether the set has never held a key.
    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty() && self.revoked.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(3600);

    fn record(kid: &str, activates_at: i64) -> KeyRecord {
        KeyRecord {
            public: PublicKey {
                kid: kid.into(),
                x: String::new(),
            },
            sealed_private: Some(String::new()),
            created_at: 0,
            activates_at,
            revoked_at: None,
        }
    }

    fn kids(records: Vec<&KeyRecord>) -> Vec<&str> {
        records.iter().map(|r| r.public.kid.as_str()).collect()
    }

    #[test]
    fn the_newest_key_whose_time_has_come_signs() {
        let schedule = Schedule::new(vec![record("b", 1000), record("a", 0)]);
        assert_eq!(schedule.current(999).unwrap().public.kid, "a");
        assert_eq!(schedule.current(1000).unwrap().public.kid, "b");
    }

    #[test]
    fn a_key_is_published_before_it_signs_and_until_its_last_token_expires() {
        let schedule = Schedule::new(vec![record("a", 0), record("b", 1000)]);
        assert_eq!(kids(schedule.published(500, TTL)), ["a", "b"]);
        let gone_at = 1000 + TTL.as_millis() as i64 + LEEWAY_SECS as i64 * 1000;
        assert_eq!(kids(schedule.published(gone_at - 1, TTL)), ["a", "b"]);
        assert_eq!(kids(schedule.published(gone_at, TTL)), ["b"]);
    }

    #[test]
    fn only_keys_retired_past_the_leeway_are_erased() {
        let schedule = Schedule::new(vec![record("a", 0), record("b", 1000)]);
        assert!(schedule.erasable(1000).is_empty());
        assert_eq!(schedule.erasable(1001 + LEEWAY_SECS as i64 * 1000), ["a"]);
    }

    #[test]
    fn a_rotation_never_goes_back_in_the_order() {
        let schedule = Schedule::new(vec![record("a", 0), record("b", 10_000)]);
        let next = schedule.next_activation(100, Duration::from_secs(1));
        assert_eq!(next, 10_001);
    }

    #[test]
    fn a_key_record_prints_no_private_key() {
        let mut key = record("kid-1", 0);
        key.sealed_private = Some("c2VhbGVkcHJpdmF0ZWtleQ".into());
        let printed = format!("{key:?}");
        assert!(!printed.contains("c2VhbGVkcHJpdmF0ZWtleQ"), "{printed}");
        assert!(printed.contains("kid-1"), "{printed}");
    }
}
