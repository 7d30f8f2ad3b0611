//! The throttle's tables: attempts reserved under throttle keys, the one place where
//! the count of attempts is both checked and raised, atomically on every backend.
//!
//! Reserving locks the row of each key (an upsert, in one sorted order so two
//! reservations never wait on each other crosswise), then counts and records under
//! that lock, in one transaction. On PostgreSQL the row lock makes concurrent
//! reservations of a key, on any replica, take turns, and each statement after it sees
//! what the previous holder committed. On SQLite the transaction's first statement is
//! a write, so it takes the database's one write lock before reading anything: it
//! waits its turn (busy timeout) instead of failing midway. A refusal rolls back, so
//! it writes nothing; and one already certain from a read without locks
//! ([`Store::refusal`]) never takes the locks at all.

use std::collections::HashMap;

use sqlx::{AnyConnection, Row};
use tracing::Instrument;

use bookshelf_runtime::sqlite_reads::{Connection, params, rusqlite};

use super::{Store, StoreError, retrying};

/// One limit an attempt must fit under: at most `max` attempts per window under `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Limit {
    /// What is counted: an email, an email and address, an address.
    pub key: String,
    /// Attempts allowed per window.
    pub max: u32,
}

/// What a reservation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reserved {
    /// The attempt is counted under every limit and may go ahead.
    Granted,
    /// Some limit is full; nothing was counted. The attempt may be made again at this
    /// time (ms since the epoch), when every full limit has room again.
    Refused {
        /// When the next attempt will be allowed, ms since the epoch.
        until: i64,
    },
}

/// Records key `$1` as touched at `$2`, one key at a time on SQLite's writer
/// (PostgreSQL's reservation touches all of its keys in one statement, which locks
/// their rows until the transaction ends).
pub(super) const TOUCH_KEY: &str = "INSERT INTO throttle_keys (key, touched_at) VALUES ($1, $2) \
     ON CONFLICT (key) DO UPDATE SET touched_at = EXCLUDED.touched_at";

/// The times of the attempts under key `$1` after `$2`, oldest first.
pub(super) const ATTEMPTS_SINCE: &str = "SELECT attempted_at FROM throttle_attempts \
     WHERE key = $1 AND attempted_at > $2 ORDER BY attempted_at";

/// Forgets the attempts under key `$1` at or before `$2`.
pub(super) const FORGET_ATTEMPTS: &str =
    "DELETE FROM throttle_attempts WHERE key = $1 AND attempted_at <= $2";

/// Counts attempt `$2` under key `$1` at `$3`.
pub(super) const COUNT_ATTEMPT: &str =
    "INSERT INTO throttle_attempts (key, attempt_id, attempted_at) VALUES ($1, $2, $3)";

/// When a limit of `max` attempts per `window_ms` has room again, given the times of
/// the attempts in the window (oldest first), if it is full.
pub(super) fn full_until(times: &[i64], max: u32, window_ms: i64) -> Option<i64> {
    let max = max as usize;
    (times.len() >= max).then(|| times[times.len() - max] + window_ms)
}

impl Store {
    /// Whether some one of `limits` is full at `now` (ms): the time an attempt may be
    /// made again, if so. It only reads, and locks nothing, so that a client turned
    /// away costs no writer's turn; [`Store::reserve`] checks again under its locks.
    pub(crate) async fn refusal(
        &self,
        limits: &[Limit],
        now: i64,
        window_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let span = self.reads.span("SELECT", "throttle_attempts");
        async {
            let mut connection = self.pool().acquire().await?;
            Ok(refused_until(&mut connection, limits, now - window_ms, window_ms).await?)
        }
        .instrument(span)
        .await
    }

    /// Counts attempt `attempt_id` under every one of `limits` at `now` (ms), or under
    /// none if any is full; attempts older than `window_ms` no longer count.
    pub(crate) async fn reserve(
        &self,
        attempt_id: &str,
        limits: &[Limit],
        now: i64,
        window_ms: i64,
    ) -> Result<Reserved, StoreError> {
        let span = self.reads.span("INSERT", "throttle_attempts");
        async {
            let limits = in_lock_order(limits);
            match self.writer() {
                Some(writer) => {
                    let attempt_id = attempt_id.to_owned();
                    Ok(writer
                        .write(move |connection| {
                            reserve_on_sqlite(connection, &attempt_id, &limits, now, window_ms)
                        })
                        .await?)
                }
                None => retrying(|| self.try_reserve(attempt_id, &limits, now, window_ms)).await,
            }
        }
        .instrument(span)
        .await
    }

    /// One run of [`Store::reserve`]'s transaction, with `limits` sorted by key.
    async fn try_reserve(
        &self,
        attempt_id: &str,
        limits: &[Limit],
        now: i64,
        window_ms: i64,
    ) -> Result<Reserved, sqlx::Error> {
        let mut transaction = self.pool().begin().await?;
        let reserved = reserve_within(&mut transaction, attempt_id, limits, now, window_ms).await?;
        match reserved {
            // A refusal leaves no trace: not the keys it brought, nor its touch of the
            // others, which would let a client at its limit keep adding rows.
            Reserved::Refused { .. } => transaction.rollback().await?,
            Reserved::Granted => transaction.commit().await?,
        }
        Ok(reserved)
    }

    /// Gives back every count of attempt `attempt_id` and forgets all attempts under
    /// `clear` (the keys a success clears).
    pub(crate) async fn release(&self, attempt_id: &str, clear: &[&str]) -> Result<(), StoreError> {
        let span = self.reads.span("DELETE", "throttle_attempts");
        async {
            if let Some(writer) = self.writer() {
                let attempt_id = attempt_id.to_owned();
                let clear: Vec<String> = clear.iter().map(|key| (*key).to_owned()).collect();
                writer
                    .write(move |connection| release_on_sqlite(connection, &attempt_id, &clear))
                    .await?;
                return Ok(());
            }
            // One statement, so one commit, for the attempt and every key it clears.
            let statement = match clear.len() {
                0 => "DELETE FROM throttle_attempts WHERE attempt_id = $1".to_owned(),
                keys => format!(
                    "DELETE FROM throttle_attempts WHERE attempt_id = $1 OR key IN ({})",
                    placeholders(keys, 1)
                ),
            };
            let mut query = sqlx::query(&statement).bind(attempt_id);
            for key in clear {
                query = query.bind(*key);
            }
            query.execute(self.pool()).await?;
            Ok(())
        }
        .instrument(span)
        .await
    }
}

/// `limits` in the one order every reservation locks their keys in, each key once.
pub(super) fn in_lock_order(limits: &[Limit]) -> Vec<Limit> {
    let mut limits = limits.to_vec();
    limits.sort_by(|a, b| a.key.cmp(&b.key));
    limits.dedup_by(|a, b| a.key == b.key);
    limits
}

/// Reserves attempt `attempt_id` under every one of `limits` (in lock order) within a
/// transaction on PostgreSQL: the keys locked, then counted under the locks. On a
/// refusal the caller rolls back, so that it leaves no trace. Each step is one
/// statement for all the keys: a multi-row insert takes its rows' locks in the order
/// they are listed, which is the lock order.
pub(super) async fn reserve_within(
    connection: &mut AnyConnection,
    attempt_id: &str,
    limits: &[Limit],
    now: i64,
    window_ms: i64,
) -> Result<Reserved, sqlx::Error> {
    let since = now - window_ms;
    let touch = format!(
        "INSERT INTO throttle_keys (key, touched_at) VALUES {} \
         ON CONFLICT (key) DO UPDATE SET touched_at = EXCLUDED.touched_at",
        key_rows(limits.len(), 1)
    );
    let mut query = sqlx::query(&touch).bind(now);
    for limit in limits {
        query = query.bind(&limit.key);
    }
    query.execute(&mut *connection).await?;
    let forget = format!(
        "DELETE FROM throttle_attempts WHERE key IN ({}) AND attempted_at <= $1",
        placeholders(limits.len(), 1)
    );
    let mut query = sqlx::query(&forget).bind(since);
    for limit in limits {
        query = query.bind(&limit.key);
    }
    query.execute(&mut *connection).await?;
    if let Some(until) = refused_until(connection, limits, since, window_ms).await? {
        return Ok(Reserved::Refused { until });
    }
    let count = format!(
        "INSERT INTO throttle_attempts (key, attempt_id, attempted_at) VALUES {}",
        key_rows(limits.len(), 2)
    );
    let mut query = sqlx::query(&count).bind(attempt_id).bind(now);
    for limit in limits {
        query = query.bind(&limit.key);
    }
    query.execute(&mut *connection).await?;
    Ok(Reserved::Granted)
}

/// When the fullest of `limits` has room again, if any is full: attempts after `since`
/// count, and room comes back when enough of the oldest leave the window for one more
/// to fit. One read for all the keys.
pub(super) async fn refused_until(
    connection: &mut AnyConnection,
    limits: &[Limit],
    since: i64,
    window_ms: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let read = format!(
        "SELECT key, attempted_at FROM throttle_attempts \
         WHERE key IN ({}) AND attempted_at > $1 ORDER BY key, attempted_at",
        placeholders(limits.len(), 1)
    );
    let mut query = sqlx::query(&read).bind(since);
    for limit in limits {
        query = query.bind(&limit.key);
    }
    let rows = query.fetch_all(&mut *connection).await?;
    let mut times_by_key: HashMap<String, Vec<i64>> = HashMap::new();
    for row in &rows {
        times_by_key
            .entry(row.try_get("key")?)
            .or_default()
            .push(row.try_get("attempted_at")?);
    }
    let mut refused_until = None::<i64>;
    for limit in limits {
        let times = times_by_key.get(&limit.key).map_or(&[][..], Vec::as_slice);
        if let Some(frees_at) = full_until(times, limit.max, window_ms) {
            refused_until = Some(refused_until.map_or(frees_at, |until| until.max(frees_at)));
        }
    }
    Ok(refused_until)
}

/// `count` placeholders after the first `skip`: `$2, $3` for 2 after 1.
fn placeholders(count: usize, skip: usize) -> String {
    (skip + 1..=skip + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rows of a multi-row `VALUES`, one per key: the key's own placeholder after the
/// `shared` ones, then the shared ones: for 2 keys and 1 shared, `($2, $1), ($3, $1)`.
fn key_rows(keys: usize, shared: usize) -> String {
    let shared_columns: String = (1..=shared).map(|n| format!(", ${n}")).collect();
    (shared + 1..=shared + keys)
        .map(|key| format!("(${key}{shared_columns})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reserves attempt `attempt_id` under every one of `limits` at `now`, or under none
/// if any is full, as [`Store::reserve`] does, on SQLite's writer: the checks first,
/// then the writes, so that nothing needs undoing.
pub(super) fn reserve_on_sqlite(
    connection: &Connection,
    attempt_id: &str,
    limits: &[Limit],
    now: i64,
    window_ms: i64,
) -> rusqlite::Result<Reserved> {
    let since = now - window_ms;
    let mut refused_until = None::<i64>;
    for limit in limits {
        let times = connection
            .prepare_cached(ATTEMPTS_SINCE)?
            .query_map(params![limit.key, since], |row| row.get::<_, i64>(0))?
            .collect::<rusqlite::Result<Vec<i64>>>()?;
        if let Some(frees_at) = full_until(&times, limit.max, window_ms) {
            refused_until = Some(refused_until.map_or(frees_at, |until| until.max(frees_at)));
        }
    }
    if let Some(until) = refused_until {
        return Ok(Reserved::Refused { until });
    }
    for limit in limits {
        count_on_sqlite(connection, limit, attempt_id, now, since)?;
    }
    Ok(Reserved::Granted)
}

/// Counts attempt `attempt_id` under `limit` at `now` on SQLite's writer, forgetting
/// the limit's attempts from before the window (`since`).
pub(super) fn count_on_sqlite(
    connection: &Connection,
    limit: &Limit,
    attempt_id: &str,
    now: i64,
    since: i64,
) -> rusqlite::Result<()> {
    connection
        .prepare_cached(TOUCH_KEY)?
        .execute(params![limit.key, now])?;
    connection
        .prepare_cached(FORGET_ATTEMPTS)?
        .execute(params![limit.key, since])?;
    connection
        .prepare_cached(COUNT_ATTEMPT)?
        .execute(params![limit.key, attempt_id, now])?;
    Ok(())
}

/// Gives back attempt `attempt_id` and forgets every attempt under `clear`, on
/// SQLite's writer.
pub(super) fn release_on_sqlite(
    connection: &Connection,
    attempt_id: &str,
    clear: &[String],
) -> rusqlite::Result<()> {
    connection
        .prepare_cached("DELETE FROM throttle_attempts WHERE attempt_id = ?1")?
        .execute(params![attempt_id])?;
    for key in clear {
        connection
            .prepare_cached("DELETE FROM throttle_attempts WHERE key = ?1")?
            .execute(params![key])?;
    }
    Ok(())
}
