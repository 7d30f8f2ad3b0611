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

#[cfg(test)]
mod tests {
    use bookshelf_runtime::db;
    use bookshelf_test_support::TestDatabase;

    /// Replicas that start together each install the routines: without taking turns,
    /// concurrent `CREATE OR REPLACE FUNCTION`s of one routine fail (a duplicate key in
    /// the catalogue, or "tuple concurrently updated") and the replica would not start.
    #[tokio::test]
    async fn replicas_starting_together_all_install_the_routines() {
        let dir = tempfile::tempdir().unwrap();
        let test_database = TestDatabase::create(dir.path(), "routines").await;
        if !test_database.is_postgres() {
            eprintln!("routines are PostgreSQL's; set BOOKSHELF_TEST_POSTGRES to run this");
            return;
        }
        let database = db::connect(&test_database.url, &sqlx::migrate!())
            .await
            .unwrap();
        for round in 0..5 {
            let installs = (0..8).map(|_| super::install(&database.pool));
            for installed in futures::future::join_all(installs).await {
                installed.unwrap_or_else(|error| panic!("round {round}: {error}"));
            }
        }
        let outcome: String = sqlx::query_scalar(
            "SELECT outcome FROM rotate_refresh_token_v1('unknown', 'new', 1, NULL, NULL, \
             1000, 1000, 'key', 5, 1000)",
        )
        .fetch_one(&database.pool)
        .await
        .unwrap();
        assert_eq!(outcome, "not_spent");
    }
}
