//! Routines installed in PostgreSQL: the hot write transactions that PostgreSQL
//! runs as one call each, so that each costs one round trip.
//!
//! Run from here statement by statement, a refresh was eleven round trips (its
//! `BEGIN`, nine statements, its `COMMIT`) and a logout seven, each a wake-up of a
//! backend process and of the pool connection held all the while. On a machine of
//! few cores those wake-ups, not the commits, were what limited the rows; and a
//! logout held the revocation log's turn ([`super::revocations`]) across two of
//! them. A routine runs the same statements in the same order inside the call's own
//! transaction. Each of its statements takes a fresh snapshot (the routines are
//! `VOLATILE`), so a statement after a lock wait sees what the holder committed, as
//! a statement sent from here would.
//!
//! A routine's name carries its version: a change to its body takes a new name, so
//! replicas of two versions of the service, running side by side through an upgrade,
//! each call their own. SQLite runs the same transactions on its writer instead.

use sqlx::AnyPool;

use super::{rotation_postgres, sessions};

/// The PostgreSQL advisory lock replicas starting at once take in turn to install
/// the routines (an arbitrary constant, apart from the revocation log's).
const INSTALL_LOCK: i64 = 0x626f_6f6b_726f_7401;

/// Installs every routine (again, if it is there): run at start, before any call.
pub(super) async fn install(pool: &AnyPool) -> Result<(), sqlx::Error> {
    let mut transaction = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(INSTALL_LOCK)
        .execute(&mut *transaction)
        .await?;
    for routine in [rotation_postgres::ROUTINE, sessions::END_ONE_ROUTINE] {
        sqlx::query(routine).execute(&mut *transaction).await?;
    }
    transaction.commit().await
}
