//! One sqlx pool type for both backends: SQLite by default, PostgreSQL when the URL
//! says `postgres://`. Queries use `$1` placeholders, which both understand, and only
//! types both share (TEXT, BIGINT), so one query and one migration serve both.

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    AnyPool, ConnectOptions, Executor,
    any::{AnyConnectOptions, AnyPoolOptions},
    migrate::Migrator,
};

use crate::{
    files,
    postgres_reads::PostgresReads,
    sqlite_reads::SqliteReads,
    sqlite_writes::{self, SQLITE_SYNCHRONOUS, SqliteWriter, Synchronous},
};

/// What every sqlx connection to SQLite runs first: WAL, the shipped durability
/// ([`SQLITE_SYNCHRONOUS`]), a writer's patience for the lock, foreign keys.
const SQLITE_PRAGMAS: &str =
    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;";

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
    /// The hot reads' own path beside the pool.
    pub reads: Reads,
    /// On SQLite, the one connection that runs the hot write transactions whole and
    /// commits several callers' at once; `None` on PostgreSQL.
    pub writer: Option<SqliteWriter>,
}

/// The path the hot reads take instead of the pool: one that does not hand each
/// statement to another thread (SQLite), or that pipelines reads on shared
/// connections (PostgreSQL). Writes, and reads inside a write's transaction, use the
/// pool.
#[derive(Debug, Clone)]
pub enum Reads {
    /// Read-only connections used on the caller's thread.
    Sqlite(SqliteReads),
    /// Pipelined connections shared by every read in flight.
    Postgres(PostgresReads),
}

impl Reads {
    /// The database system, as traces name it (`db.system.name`).
    pub fn system(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgresql",
        }
    }

    /// The span of one call on this database: `operation` on `table`.
    pub fn span(&self, operation: &'static str, table: &'static str) -> tracing::Span {
        crate::traces::db_call(self.system(), operation, table)
    }
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL is neither `sqlite:` nor `postgres:`.
    #[error("unsupported database URL scheme (use sqlite: or postgres:)")]
    UnsupportedUrl,
    /// An SQLite URL without a file: each pooled connection would see a database of
    /// its own.
    #[error("an SQLite database needs a file (an in-memory one is not supported)")]
    NoSqliteFile,
    /// The PostgreSQL URL is not one the read connections understand.
    #[error("cannot use the PostgreSQL URL for the read connections")]
    PostgresReads(#[source] tokio_postgres::Error),
    /// The data folder or the SQLite file could not be created.
    #[error("cannot create the data folder or the database file")]
    DataDir(#[source] std::io::Error),
    /// Connecting failed.
    #[error("cannot connect to the database")]
    Connect(#[source] sqlx::Error),
    /// A migration failed.
    #[error("cannot migrate the database")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// The SQLite writer could not start.
    #[error("cannot start the SQLite writer")]
    Writer(#[source] sqlite_writes::OpenError),
}

/// The URL of the embedded default: an SQLite file `name` under `data_dir`.
pub fn sqlite_url(data_dir: &Path, name: &str) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join(name).display())
}

/// Opens a pool on `url` and runs `migrations`, written in the SQL both backends share.
pub async fn connect(url: &str, migrations: &Migrator) -> Result<Database, DbError> {
    connect_with(url, migrations, SQLITE_SYNCHRONOUS).await
}

/// [`connect`], with `synchronous` on SQLite instead of the shipped setting: for the
/// harness, which measures both.
pub async fn connect_with(
    url: &str,
    migrations: &Migrator,
    synchronous: Synchronous,
) -> Result<Database, DbError> {
    sqlx::any::install_default_drivers();
    let backend = if url.starts_with("sqlite:") {
        Backend::Sqlite
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Backend::Postgres
    } else {
        return Err(DbError::UnsupportedUrl);
    };
    let sqlite_file = match backend {
        Backend::Sqlite => {
            let path = sqlite_path(url).ok_or(DbError::NoSqliteFile)?;
            private_sqlite_files(path).map_err(DbError::DataDir)?;
            Some(path)
        }
        Backend::Postgres => None,
    };
    let options = AnyConnectOptions::from_str(url)
        .map_err(DbError::Connect)?
        .log_statements(tracing::log::LevelFilter::Trace)
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
    let pool_options = match backend {
        Backend::Sqlite => {
            AnyPoolOptions::new()
                .max_connections(8)
                .after_connect(move |connection, _| {
                    Box::pin(async move {
                        // WAL lets readers run beside the one writer; the busy timeout makes
                        // a writer wait its turn instead of failing with "database is locked".
                        // The durability every SQLite connection shares: see
                        // `sqlite_writes::SQLITE_SYNCHRONOUS`.
                        connection.execute(SQLITE_PRAGMAS).await?;
                        connection.execute(synchronous.pragma()).await?;
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
    let (reads, writer) = match sqlite_file {
        Some(path) => (
            Reads::Sqlite(SqliteReads::new(path)),
            Some(SqliteWriter::open(path, synchronous).map_err(DbError::Writer)?),
        ),
        None => (
            Reads::Postgres(PostgresReads::new(url).map_err(DbError::PostgresReads)?),
            None,
        ),
    };
    Ok(Database {
        pool,
        backend,
        reads,
        writer,
    })
}

/// The file an SQLite URL names (`sqlite://path` or `sqlite:path`, options after
/// `?`), unless it names none or an in-memory database.
fn sqlite_path(url: &str) -> Option<&Path> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sqlite_url_names_its_file_in_either_spelling() {
        let file = |url| sqlite_path(url).map(Path::to_owned);
        assert_eq!(
            file("sqlite:///var/lib/bookshelf/auth.db?mode=rwc"),
            Some("/var/lib/bookshelf/auth.db".into())
        );
        assert_eq!(file("sqlite://data/auth.db"), Some("data/auth.db".into()));
        assert_eq!(file("sqlite:auth.db"), Some("auth.db".into()));
        assert_eq!(file("sqlite::memory:"), None);
        assert_eq!(file("sqlite://"), None);
        assert_eq!(file("postgres://localhost/auth"), None);
    }
}
