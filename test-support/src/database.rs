//! Fresh databases for tests.

use std::path::Path;

use sqlx::{Connection, Executor, PgConnection};

/// The variable naming a PostgreSQL server (an admin URL) to run tests against.
pub const POSTGRES_VARIABLE: &str = "BOOKSHELF_TEST_POSTGRES";

/// A database of its own for one test: an SQLite file in the test's folder, or, when
/// [`POSTGRES_VARIABLE`] is set, a new PostgreSQL database dropped on drop.
pub struct TestDatabase {
    /// The URL to give the service.
    pub url: String,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    /// Creates a database named after `name` (only letters and `_` are kept).
    pub async fn create(dir: &Path, name: &str) -> Self {
        match std::env::var(POSTGRES_VARIABLE) {
            Ok(admin_url) if !admin_url.is_empty() => {
                let database = format!("bookshelf_{name}_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::connect(&admin_url)
                    .await
                    .expect("cannot reach the test PostgreSQL");
                admin
                    .execute(format!("CREATE DATABASE {database}").as_str())
                    .await
                    .expect("cannot create a test database");
                let url = match admin_url.rsplit_once('/') {
                    Some((server, _)) if server.contains("://") && !server.ends_with('/') => {
                        format!("{server}/{database}")
                    }
                    _ => format!("{}/{database}", admin_url.trim_end_matches('/')),
                };
                Self {
                    url,
                    postgres: Some((admin_url, database)),
                }
            }
            _ => Self {
                url: format!(
                    "sqlite://{}?mode=rwc",
                    dir.join(format!("{name}.db")).display()
                ),
                postgres: None,
            },
        }
    }

    /// Whether the tests run on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, database)) = self.postgres.take() else {
            return;
        };
        // Drop runs outside any async context we could borrow; a small thread with its
        // own runtime drops the database, forcing out connections the test left open.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for dropping the test database");
            runtime.block_on(async move {
                if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                    let _ = admin
                        .execute(
                            format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)").as_str(),
                        )
                        .await;
                }
            });
        })
        .join();
    }
}
