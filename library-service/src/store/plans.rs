//! The plans PostgreSQL (and SQLite) make for the hot statements, checked where
//! statistics cannot help: a prepared statement keeps the plan it was first given.

use bookshelf_runtime::db::{self, Backend};
use bookshelf_test_support::TestDatabase;
use sqlx::{Executor, Row};

use super::books::GET_BOOK;

/// The plan a prepared lookup keeps must be the primary key's whatever the
/// statistics say, and on a table never analysed (as before autovacuum's first
/// pass, or with it off) the planner had no statistics to prefer it by.
#[tokio::test]
async fn a_book_lookup_is_planned_on_the_primary_key_before_any_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let test_database = TestDatabase::create(dir.path(), "lookup_plan").await;
    let database = db::connect(&test_database.url, &sqlx::migrate!())
        .await
        .unwrap();
    let mut connection = database.pool.acquire().await.unwrap();
    connection
        .execute(
            "INSERT INTO books (id, owner_id, title, description, category, \
             created_at, updated_at) VALUES ('b1', 'o1', 't1', '', 'science', 1, 1), \
             ('b2', 'o1', 't2', '', 'science', 2, 2)",
        )
        .await
        .unwrap();
    let plan: Vec<String> = match database.backend {
        Backend::Postgres => {
            // What a prepared statement keeps after its first executions.
            connection
                .execute("SET plan_cache_mode = force_generic_plan")
                .await
                .unwrap();
            connection
                .execute(format!("PREPARE lookup AS {GET_BOOK}").as_str())
                .await
                .unwrap();
            sqlx::query("EXPLAIN EXECUTE lookup('b1')")
                .fetch_all(&mut *connection)
                .await
                .unwrap()
                .iter()
                .map(|row| row.get::<String, _>(0))
                .collect()
        }
        Backend::Sqlite => sqlx::query(&format!("EXPLAIN QUERY PLAN {GET_BOOK}"))
            .bind("b1")
            .fetch_all(&mut *connection)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<String, _>(3))
            .collect(),
    };
    let plan = plan.join("\n");
    let primary_key = match database.backend {
        Backend::Postgres => "books_pkey",
        Backend::Sqlite => "sqlite_autoindex_books_1",
    };
    assert!(
        plan.contains(primary_key) && !plan.contains("books_owner_created"),
        "the lookup is not planned on the primary key:\n{plan}"
    );
}
