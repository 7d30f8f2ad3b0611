//! One sqlx pool type for both backends: SQLite by default, PostgreSQL when the URL
//! says `postgres://`. Queries use `$1` placeholders, which both understand, and only
//! types both share (TEXT, BIGINT), so one query and one migration serve both.

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    AnyPool, ConnectOptions, Executor,
    any::{AnyConnectOptions, AnyPoolOptions},
    migrate::Migrator,
};

use crate::{files, sqlite_reads::SqliteReads};

/// Which database a pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file: the embedded default.
    Sqlite,
    /// A PostgreSQL server: for several replicas.
    Postgres,
}

/// A migrated pool and the backend it talks to.
#[derive(Debug, Clone)]
pub struct Database {
    /// The connection pool.
    pub pool: AnyPool,
    /// The backend behind the pool.
    pub backend: Backend,
    /// On an SQLite file, the hot reads' path that skips the pool's thread hand-off.
    pub reads: Option<SqliteReads>,
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL is neither `sqlite:` nor `postgres:`.
    #[error("unsupported database URL scheme (use sqlite: or postgres:)")]
    UnsupportedUrl,
    /// The data folder or the SQLite file could not be created.
    #[error("cannot create the data folder or the database file")]
    DataDir(#[source] std::io::Error),
    /// Connecting failed.
    #[error("cannot connect to the database")]
    Connect(#[source] sqlx::Error),
    /// A migration failed.
    #[error("cannot migrate the database")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// The URL of the embedded default: an SQLite file `name` under `data_dir`.
pub fn sqlite_url(data_dir: &Path, name: &str) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join(name).display())
}

/// Opens a pool on `url` and runs `migrations`, written in the SQL both backends share.
pub async fn connect(url: &str, migrations: &Migrator) -> Result<Database, DbError> {
    sqlx::any::install_default_drivers();
    let backend = if url.starts_with("sqlite:") {
        Backend::Sqlite
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Backend::Postgres
    } else {
        return Err(DbError::UnsupportedUrl);
    };
    let sqlite_file = url
        .strip_prefix("sqlite://")
        .and_then(|rest| rest.split('?').next())
        .filter(|path| !path.is_empty() && *path != ":memory:")
        .map(Path::new);
    if let Some(path) = sqlite_file {
        private_sqlite_files(path).map_err(DbError::DataDir)?;
    }
    let options = AnyConnectOptions::from_str(url)
        .map_err(DbError::Connect)?
        .log_statements(tracing::log::LevelFilter::Trace)
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
    let pool_options = match backend {
        Backend::Sqlite => {
            AnyPoolOptions::new()
                .max_connections(8)
                .after_connect(|connection, _| {
                    Box::pin(async move {
                        // WAL lets readers run beside the one writer; the busy timeout makes
                        // a writer wait its turn instead of failing with "database is locked".
                        connection
                            .execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                            )
                            .await?;
                        Ok(())
                    })
                })
        }
        Backend::Postgres => AnyPoolOptions::new().max_connections(16),
    };
    let pool = pool_options
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(DbError::Connect)?;
    migrations.run(&pool).await.map_err(DbError::Migrate)?;
    crate::metrics::watch_pool(&pool, &pool_name(url));
    let reads = sqlite_file.map(SqliteReads::new);
    Ok(Database {
        pool,
        backend,
        reads,
    })
}

/// The name a pool's metrics carry: its database's (the SQLite file's stem, or the
/// PostgreSQL database), never the rest of the URL, which may hold a password.
fn pool_name(url: &str) -> String {
    let path = url.split('?').next().unwrap_or_default();
    let last = path.rsplit('/').next().unwrap_or_default();
    let stem = Path::new(last)
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or_default();
    if stem.is_empty() || stem.contains('@') || stem.contains(':') {
        "default".to_owned()
    } else {
        stem.to_owned()
    }
}

/// Makes the folder of the SQLite file at `path` (mode 0700 when it is made here) and
/// the file itself, and any journal beside it, readable by the owner only (0600).
/// SQLite gives the journals it creates later the mode of the database file.
fn private_sqlite_files(path: &Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        files::private_dir(parent)?;
    }
    files::private_file(path)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut journal = path.as_os_str().to_owned();
        journal.push(suffix);
        if Path::new(&journal).exists() {
            files::private_file(Path::new(&journal))?;
        }
    }
    Ok(())
}

/// Whether `error` is a unique-constraint violation, on either backend.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|db| db.is_unique_violation())
}
