//! The library service's configuration: one struct, from flags or environment variables.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use bookshelf_runtime::{metrics::MetricsListen, telemetry::LogFormat};
use secrecy::SecretString;

/// How the library service runs. Printing it shows no secret.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "library-service",
    version,
    about = "Bookshelf's books and covers over gRPC"
)]
pub struct Config {
    /// Address to serve gRPC on.
    #[arg(long, env = "LIBRARY_LISTEN", default_value = "127.0.0.1:50052")]
    pub listen: SocketAddr,
    /// Database URL: `postgres://...` for PostgreSQL; by default an SQLite file
    /// `library.db` in the data folder. Never the auth service's database.
    #[arg(long, env = "LIBRARY_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,
    /// Folder for the embedded default's database and the covers (`covers/`).
    #[arg(long, env = "LIBRARY_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Folder for cover files; by default `covers/` in the data folder.
    #[arg(long, env = "LIBRARY_COVER_DIR")]
    pub cover_dir: Option<PathBuf>,
    /// The auth service, for signing keys and the revocation feed.
    #[arg(long, env = "AUTH_URL", default_value = "http://127.0.0.1:50051")]
    pub auth_url: String,
    /// Largest cover upload accepted, in bytes.
    #[arg(long, env = "LIBRARY_MAX_COVER_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_cover_bytes: usize,
    /// How long the revocation feed may be down, in milliseconds, before
    /// authenticated calls are refused with UNAVAILABLE.
    #[arg(long, env = "LIBRARY_REVOCATION_MAX_OUTAGE_MS", default_value_t = 5000)]
    pub revocation_max_outage_ms: u64,
    /// Covers decoded at once; by default one per core.
    #[arg(long, env = "LIBRARY_DECODE_CONCURRENCY")]
    pub decode_concurrency: Option<usize>,
    /// Where Prometheus metrics are served (`GET /metrics`), apart from the API port;
    /// `off` records none.
    #[arg(long, env = "LIBRARY_METRICS_LISTEN", default_value = "127.0.0.1:9052")]
    pub metrics_listen: MetricsListen,
    /// Log lines as `text` (coloured only on a terminal) or `json` (one object a line).
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
}

impl Config {
    /// The defaults, with nothing read from flags or the environment: for embedding.
    pub fn embedded(data_dir: PathBuf, auth_url: String) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50052)),
            database_url: None,
            data_dir,
            cover_dir: None,
            auth_url,
            max_cover_bytes: 10 * 1024 * 1024,
            revocation_max_outage_ms: 5000,
            decode_concurrency: None,
            metrics_listen: MetricsListen::On(SocketAddr::from(([127, 0, 0, 1], 9052))),
            log_format: LogFormat::Text,
        }
    }

    /// The folder of cover files.
    pub fn cover_dir(&self) -> PathBuf {
        self.cover_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("covers"))
    }

    /// How long the revocation feed may be down.
    pub fn revocation_max_outage(&self) -> Duration {
        Duration::from_millis(self.revocation_max_outage_ms)
    }
}
