//! Fresh databases for tests.

use std::path::Path;

use sqlx::{AnyConnection, Connection, Executor, PgConnection, Row};

use crate::Relay;

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
    /// Creates a database named after `name`: on the PostgreSQL server that
    /// [`POSTGRES_VARIABLE`] names, else an SQLite file in `dir`.
    pub async fn create(dir: &Path, name: &str) -> Self {
        let postgres = std::env::var(POSTGRES_VARIABLE).ok();
        Self::create_on(dir, name, postgres.as_deref()).await
    }

    /// Creates a database named after `name` on the PostgreSQL server at
    /// `postgres_admin_url`, or an SQLite file in `dir` when there is none.
    pub async fn create_on(dir: &Path, name: &str, postgres_admin_url: Option<&str>) -> Self {
        match postgres_admin_url {
            Some(admin_url) if !admin_url.is_empty() => {
                let admin_url = admin_url.to_owned();
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

    /// How many rows `table` holds, read over a connection of its own, apart from
    /// whatever pool the service under test keeps.
    pub async fn count_rows(&self, table: &str) -> i64 {
        sqlx::any::install_default_drivers();
        let mut connection = AnyConnection::connect(&self.url)
            .await
            .expect("a connection to the test database");
        let count = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(&mut connection)
            .await
            .expect("a count")
            .try_get("n")
            .expect("a number");
        let _ = connection.close().await;
        count
    }

    /// On PostgreSQL, a [`Relay`] to the server and the URL of this database through
    /// it; `None` on SQLite, which has no server to fall silent.
    pub async fn relayed(&self) -> Option<(Relay, String)> {
        self.postgres.as_ref()?;
        let mut url = reqwest::Url::parse(&self.url).expect("a PostgreSQL URL");
        let server = tokio::net::lookup_host((
            url.host_str().expect("a PostgreSQL server"),
            url.port().unwrap_or(5432),
        ))
        .await
        .expect("the PostgreSQL server's address")
        .next()
        .expect("an address of the PostgreSQL server");
        let relay = Relay::to(server).await;
        url.set_host(Some("127.0.0.1")).expect("a host");
        url.set_port(Some(relay.addr.port())).expect("a port");
        Some((relay, url.into()))
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
