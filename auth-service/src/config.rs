//! The auth service's configuration: one struct, from flags or environment variables.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use bookshelf_runtime::{metrics::MetricsListen, telemetry::LogFormat};
use secrecy::SecretString;

/// How the auth service runs. Printing it shows no secret.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "auth-service",
    version,
    about = "Bookshelf's users and tokens over gRPC"
)]
pub struct Config {
    /// Address to serve gRPC on.
    #[arg(long, env = "AUTH_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Database URL: `postgres://...` for PostgreSQL; by default an SQLite file
    /// `auth.db` in the data folder.
    #[arg(long, env = "AUTH_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,
    /// Folder for the embedded default's database and generated signing key.
    #[arg(long, env = "AUTH_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// The Ed25519 signing key as PKCS#8 PEM. Without it, one is generated on first
    /// start and kept in the data folder (mode 0600).
    #[arg(long, env = "AUTH_SIGNING_KEY", hide_env_values = true)]
    pub signing_key: Option<SecretString>,
    /// Token lifetime in seconds.
    #[arg(long, env = "AUTH_TOKEN_TTL_SECS", default_value_t = 24 * 60 * 60)]
    pub token_ttl_secs: u64,
    /// Failed logins allowed per email within the throttle window.
    #[arg(long, env = "AUTH_LOGIN_MAX_FAILURES", default_value_t = 5)]
    pub login_max_failures: u32,
    /// The throttle window in seconds.
    #[arg(long, env = "AUTH_LOGIN_WINDOW_SECS", default_value_t = 15 * 60)]
    pub login_window_secs: u64,
    /// Password hashes computed at once; by default one per core.
    #[arg(long, env = "AUTH_HASH_CONCURRENCY")]
    pub hash_concurrency: Option<usize>,
    /// Where Prometheus metrics are served (`GET /metrics`), apart from the API port;
    /// `off` records none.
    #[arg(long, env = "AUTH_METRICS_LISTEN", default_value = "127.0.0.1:9051")]
    pub metrics_listen: MetricsListen,
    /// Log lines as `text` (coloured only on a terminal) or `json` (one object a line).
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
}

impl Config {
    /// The defaults, with nothing read from flags or the environment: for embedding.
    pub fn embedded(data_dir: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            database_url: None,
            data_dir,
            signing_key: None,
            token_ttl_secs: 24 * 60 * 60,
            login_max_failures: 5,
            login_window_secs: 15 * 60,
            hash_concurrency: None,
            metrics_listen: MetricsListen::On(SocketAddr::from(([127, 0, 0, 1], 9051))),
            log_format: LogFormat::Text,
        }
    }

    /// The token lifetime.
    pub fn token_ttl(&self) -> Duration {
        Duration::from_secs(self.token_ttl_secs)
    }
}
