//! The library service's configuration: one struct, from flags or environment variables.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use bookshelf_runtime::clock::Clock;
use bookshelf_runtime::connections::{self, GrpcLimits};
use bookshelf_runtime::tls::{TlsError, TlsFiles};
use bookshelf_runtime::{metrics::MetricsListen, telemetry::LogFormat};
use secrecy::SecretString;

use crate::storage::CoverLocation;

/// The environment variables the S3-compatible cover store reads, besides the flags
/// below: set by an operator, read by the object-store client.
pub const OBJECT_STORE_VARIABLES: [&str; 7] = [
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ALLOW_HTTP",
];

/// The binary's name, which clap shows in messages.
const NAME: &str = "library-service";

/// How the library service runs. Printing it shows no secret.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = NAME,
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
    /// Where covers are kept: a folder, or an S3-compatible bucket as
    /// `s3://bucket/prefix`, reached with the standard `AWS_*` variables (endpoint,
    /// region, credentials; `AWS_ALLOW_HTTP=true` for a plain-HTTP endpoint). By default
    /// the folder `covers/` in the data folder.
    #[arg(long, env = "LIBRARY_COVER_STORE")]
    pub cover_store: Option<CoverLocation>,
    /// How old a stored cover without a book must be before a sweep removes it, in
    /// seconds: a younger one may belong to an upload another replica is about to
    /// commit.
    #[arg(long, env = "LIBRARY_SWEEP_GRACE_SECS", default_value_t = 15 * 60)]
    pub sweep_grace_secs: u64,
    /// How often each replica sweeps the store for covers without a book, in seconds;
    /// it also sweeps once at start-up.
    #[arg(long, env = "LIBRARY_SWEEP_INTERVAL_SECS", default_value_t = 60 * 60)]
    pub sweep_interval_secs: u64,
    /// The auth service, for signing keys and the revocation feed: `https://` (its
    /// certificate must name the URL's host), or `http://` with
    /// `LIBRARY_INTERNAL_PLAINTEXT`.
    #[arg(long, env = "AUTH_URL", default_value = "https://127.0.0.1:50051")]
    pub auth_url: String,
    /// The service's certificate chain (PEM), whose URI SAN is its SPIFFE id
    /// (`spiffe://<trust domain>/bookshelf/library`): served to callers and presented
    /// to the auth service. Re-read when it changes.
    #[arg(long, env = "LIBRARY_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of `LIBRARY_TLS_CERT` (PEM).
    #[arg(long, env = "LIBRARY_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// The CAs (PEM bundle) the auth service's and callers' certificates must chain to.
    #[arg(long, env = "LIBRARY_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// Serves and calls in plaintext, with no TLS and no identities. Only behind a
    /// network that authenticates the parts itself (a service mesh, say).
    #[arg(long, env = "LIBRARY_INTERNAL_PLAINTEXT")]
    pub internal_plaintext: bool,
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
    /// How long the revocation feed may send nothing (not even a heartbeat), in
    /// milliseconds, before it is treated as lost and reconnected. Calls are refused
    /// once nothing has been heard for the maximum outage.
    #[arg(long, env = "LIBRARY_REVOCATION_SILENCE_MS", default_value_t = 3000)]
    pub revocation_silence_ms: u64,
    /// How often the auth service's signing keys are fetched again, in milliseconds,
    /// besides whenever a token names a key not yet known: a key the auth service has
    /// removed stops being trusted within this time.
    #[arg(
        long,
        env = "LIBRARY_SIGNING_KEYS_REFRESH_MS",
        default_value_t = 60_000
    )]
    pub signing_keys_refresh_ms: u64,
    /// Connections open at once; more are closed as soon as they are accepted. By
    /// default three quarters of the open-file limit.
    #[arg(long, env = "LIBRARY_GRPC_MAX_CONNECTIONS")]
    pub grpc_max_connections: Option<usize>,
    /// Concurrent calls on one HTTP/2 connection.
    #[arg(long, env = "LIBRARY_GRPC_MAX_STREAMS", default_value_t = 256)]
    pub grpc_max_streams: u32,
    /// How long a new connection may take to finish its TLS handshake and send the
    /// HTTP/2 preface, in milliseconds.
    #[arg(
        long,
        env = "LIBRARY_GRPC_HANDSHAKE_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub grpc_handshake_timeout_ms: u64,
    /// How often a connection that has sent nothing is pinged, in milliseconds.
    #[arg(
        long,
        env = "LIBRARY_GRPC_KEEPALIVE_INTERVAL_MS",
        default_value_t = 10_000
    )]
    pub grpc_keepalive_interval_ms: u64,
    /// How long a ping may go unanswered before the connection is dropped, in
    /// milliseconds.
    #[arg(
        long,
        env = "LIBRARY_GRPC_KEEPALIVE_TIMEOUT_MS",
        default_value_t = 5_000
    )]
    pub grpc_keepalive_timeout_ms: u64,
    /// The longest a call may take, in milliseconds, uploads included, when its caller
    /// sets no shorter deadline: past it the call is cancelled and nothing of it kept.
    /// Five minutes lets a 10 MiB cover arrive at 35 KiB/s.
    #[arg(long, env = "LIBRARY_GRPC_CALL_TIMEOUT_MS", default_value_t = 300_000)]
    pub grpc_call_timeout_ms: u64,
    /// How long an upload stream may send nothing, in milliseconds, before it is
    /// cancelled and nothing of it stored. Enforced here, so it holds for callers that
    /// set no deadline.
    #[arg(long, env = "LIBRARY_UPLOAD_IDLE_TIMEOUT_MS", default_value_t = 30_000)]
    pub upload_idle_timeout_ms: u64,
    /// How long a resumable upload lives, in seconds, from its creation: one not
    /// consumed by a book by then is removed by the sweep, and its bytes no longer
    /// count against its owner's quota. Announced to clients with each upload.
    #[arg(long, env = "LIBRARY_UPLOAD_EXPIRY_SECS", default_value_t = 24 * 60 * 60)]
    pub upload_expiry_secs: u64,
    /// Uploads one account may have in flight at once (per replica); more wait in
    /// line for a slot.
    #[arg(long, env = "LIBRARY_MAX_UPLOADS_PER_ACCOUNT", default_value_t = 4)]
    pub max_uploads_per_account: usize,
    /// Uploads one account may have waiting for a slot (per replica), nothing of them
    /// read; more are refused with RESOURCE_EXHAUSTED. With the default, one account
    /// holds at most a quarter of the streams of a connection (the gateway sends every
    /// upload over one).
    #[arg(
        long,
        env = "LIBRARY_MAX_WAITING_UPLOADS_PER_ACCOUNT",
        default_value_t = 60
    )]
    pub max_waiting_uploads_per_account: usize,
    /// Cover bytes all uploads together may hold in memory while they are received;
    /// uploads past it are read no further until others finish. Never less than one
    /// cover at the cap.
    #[arg(long, env = "LIBRARY_UPLOAD_MEMORY_BYTES", default_value_t = 128 * 1024 * 1024)]
    pub upload_memory_bytes: usize,
    /// Books one account may keep.
    #[arg(long, env = "LIBRARY_MAX_BOOKS_PER_ACCOUNT", default_value_t = 5000)]
    pub max_books_per_account: u32,
    /// Bytes of stored cover thumbnails one account may keep.
    #[arg(long, env = "LIBRARY_MAX_COVER_STORAGE_PER_ACCOUNT", default_value_t = 1024 * 1024 * 1024)]
    pub max_cover_storage_per_account: u64,
    /// Where Prometheus metrics are served (`GET /metrics`), apart from the API port;
    /// `off` records none.
    #[arg(long, env = "LIBRARY_METRICS_LISTEN", default_value = "127.0.0.1:9052")]
    pub metrics_listen: MetricsListen,
    /// Log lines as `text` (coloured only on a terminal) or `json` (one object a line).
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// Options of the S3-compatible store (object_store's names, such as
    /// `aws_endpoint`), over the `AWS_*` environment: for tests, which share one
    /// environment. Never a flag.
    #[arg(skip)]
    pub object_store_options: Vec<(String, String)>,
    /// The time books are stamped with and tokens verified at: the system's, unless a
    /// test moves it. Never a flag.
    #[arg(skip)]
    pub clock: Clock,
}

impl Config {
    /// The defaults, with nothing read from flags or the environment: for embedding.
    pub fn embedded(data_dir: PathBuf, auth_url: String) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50052)),
            database_url: None,
            data_dir,
            cover_store: None,
            sweep_grace_secs: 15 * 60,
            sweep_interval_secs: 60 * 60,
            object_store_options: Vec::new(),
            auth_url,
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            internal_plaintext: false,
            max_cover_bytes: 10 * 1024 * 1024,
            revocation_max_outage_ms: 5000,
            decode_concurrency: None,
            revocation_silence_ms: 3000,
            signing_keys_refresh_ms: 60_000,
            grpc_max_connections: None,
            grpc_max_streams: 256,
            grpc_handshake_timeout_ms: 10_000,
            grpc_keepalive_interval_ms: 10_000,
            grpc_keepalive_timeout_ms: 5_000,
            grpc_call_timeout_ms: 300_000,
            upload_idle_timeout_ms: 30_000,
            upload_expiry_secs: 24 * 60 * 60,
            max_uploads_per_account: 4,
            max_waiting_uploads_per_account: 60,
            upload_memory_bytes: 128 * 1024 * 1024,
            max_books_per_account: 5000,
            max_cover_storage_per_account: 1024 * 1024 * 1024,
            metrics_listen: MetricsListen::On(SocketAddr::from(([127, 0, 0, 1], 9052))),
            log_format: LogFormat::Text,
            clock: Clock::system(),
        }
    }

    /// The configuration the environment gives, read as the binary reads it but from no
    /// flags (whoever embeds the service has flags of its own), with `defaults`, such
    /// as [`Config::embedded`] adjusted by the embedder, for every setting whose
    /// variable is unset. An invalid value is an error, as it is for the binary.
    pub fn from_env_with(mut defaults: Self) -> Result<Self, clap::Error> {
        use clap::{CommandFactory, FromArgMatches};
        // Without clap's own defaults, only the variables that are set reach the
        // matches, and `defaults` keeps every other value.
        let command = Self::command().mut_args(|arg| arg.default_value(None));
        let matches = command.try_get_matches_from([NAME])?;
        defaults.update_from_arg_matches(&matches)?;
        Ok(defaults)
    }

    /// Where covers are kept: the configured store, or the folder `covers/` in the
    /// data folder.
    pub fn cover_location(&self) -> CoverLocation {
        self.cover_store
            .clone()
            .unwrap_or_else(|| CoverLocation::Folder(self.data_dir.join("covers")))
    }

    /// How old a cover without a book must be before a sweep removes it.
    pub(crate) fn sweep_grace(&self) -> Duration {
        Duration::from_secs(self.sweep_grace_secs)
    }

    /// How often the store is swept.
    pub(crate) fn sweep_interval(&self) -> Duration {
        Duration::from_secs(self.sweep_interval_secs.max(1))
    }

    /// The TLS files, or `None` when TLS is explicitly turned off.
    pub(crate) fn tls_files(&self) -> Result<Option<TlsFiles>, TlsError> {
        TlsFiles::configured(
            "LIBRARY",
            self.tls_cert.as_deref(),
            self.tls_key.as_deref(),
            self.tls_ca.as_deref(),
            self.internal_plaintext,
        )
    }

    /// The bounds the gRPC server puts on its connections.
    pub(crate) fn grpc_limits(&self) -> GrpcLimits {
        GrpcLimits {
            max_connections: self
                .grpc_max_connections
                .unwrap_or_else(connections::default_max_connections),
            max_streams: self.grpc_max_streams,
            handshake_timeout: Duration::from_millis(self.grpc_handshake_timeout_ms),
            keepalive_interval: Duration::from_millis(self.grpc_keepalive_interval_ms),
            keepalive_timeout: Duration::from_millis(self.grpc_keepalive_timeout_ms),
            call_timeout: Duration::from_millis(self.grpc_call_timeout_ms),
        }
    }

    /// How long the revocation feed may be silent before it is reconnected.
    pub(crate) fn revocation_silence(&self) -> Duration {
        Duration::from_millis(self.revocation_silence_ms)
    }

    /// How often the signing keys are fetched again.
    pub(crate) fn signing_keys_refresh(&self) -> Duration {
        Duration::from_millis(self.signing_keys_refresh_ms)
    }

    /// How long the revocation feed may be down.
    pub(crate) fn revocation_max_outage(&self) -> Duration {
        Duration::from_millis(self.revocation_max_outage_ms)
    }

    /// How long an upload stream may send nothing.
    pub(crate) fn upload_idle_timeout(&self) -> Duration {
        Duration::from_millis(self.upload_idle_timeout_ms)
    }

    /// How long a resumable upload lives.
    pub(crate) fn upload_expiry(&self) -> Duration {
        Duration::from_secs(self.upload_expiry_secs.max(1))
    }

    /// What one account may store.
    pub(crate) fn quota(&self) -> crate::store::Quota {
        crate::store::Quota {
            max_books: i64::from(self.max_books_per_account),
            max_cover_bytes: i64::try_from(self.max_cover_storage_per_account).unwrap_or(i64::MAX),
        }
    }
}
