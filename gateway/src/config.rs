//! The gateway's configuration: one struct, from flags or environment variables.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use crate::watchdog::ConnectionLimits;
use bookshelf_runtime::tls::{TlsError, TlsFiles};
use bookshelf_runtime::{client_address::network, metrics::MetricsListen, telemetry::LogFormat};
use ipnet::IpNet;

/// The binary's name, which clap shows in messages.
const NAME: &str = "gateway";

/// How the gateway runs. It holds no secret.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = NAME,
    version,
    about = "Bookshelf's REST API over its gRPC services"
)]
pub struct Config {
    /// Address to serve HTTP on.
    #[arg(long, env = "GATEWAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The auth service: `https://` (its certificate must name the URL's host), or
    /// `http://` with `GATEWAY_INTERNAL_PLAINTEXT`.
    #[arg(long, env = "AUTH_URL", default_value = "https://127.0.0.1:50051")]
    pub auth_url: String,
    /// The library service, as `AUTH_URL`.
    #[arg(long, env = "LIBRARY_URL", default_value = "https://127.0.0.1:50052")]
    pub library_url: String,
    /// The gateway's certificate chain (PEM), whose URI SAN is its SPIFFE id
    /// (`spiffe://<trust domain>/bookshelf/gateway`): presented to the services, which
    /// believe the client addresses it forwards because of it. Re-read when it changes.
    #[arg(long, env = "GATEWAY_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of `GATEWAY_TLS_CERT` (PEM).
    #[arg(long, env = "GATEWAY_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// The CAs (PEM bundle) the services' certificates must chain to.
    #[arg(long, env = "GATEWAY_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// Calls the services in plaintext, with no TLS and no identity. Only behind a
    /// network that authenticates the parts itself (a service mesh, say).
    #[arg(long, env = "GATEWAY_INTERNAL_PLAINTEXT")]
    pub internal_plaintext: bool,
    /// A certificate chain (PEM) for the public listener: with it and
    /// `GATEWAY_PUBLIC_TLS_KEY` the gateway serves HTTPS (HTTP/2 and HTTP/1.1),
    /// without them plain HTTP, for a TLS-terminating proxy or loopback.
    #[arg(long, env = "GATEWAY_PUBLIC_TLS_CERT", requires = "public_tls_key")]
    pub public_tls_cert: Option<PathBuf>,
    /// The private key of `GATEWAY_PUBLIC_TLS_CERT` (PEM).
    #[arg(long, env = "GATEWAY_PUBLIC_TLS_KEY", requires = "public_tls_cert")]
    pub public_tls_key: Option<PathBuf>,
    /// The public base URL of this gateway, from which `image_url`s are built (never
    /// from a request's Host header, which a client controls).
    #[arg(
        long,
        env = "GATEWAY_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub public_url: String,
    /// Deadline of each backend call, in milliseconds.
    #[arg(long, env = "GATEWAY_BACKEND_TIMEOUT_MS", default_value_t = 10_000)]
    pub backend_timeout_ms: u64,
    /// Deadline of an upload's backend call, in milliseconds: it lasts as long as the
    /// client takes to send the cover.
    #[arg(long, env = "GATEWAY_UPLOAD_TIMEOUT_MS", default_value_t = 120_000)]
    pub upload_timeout_ms: u64,
    /// Largest cover accepted, in bytes; larger uploads get 413 as soon as they pass it.
    #[arg(long, env = "GATEWAY_MAX_COVER_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_cover_bytes: usize,
    /// Largest JSON body accepted, in bytes.
    #[arg(long, env = "GATEWAY_MAX_JSON_BYTES", default_value_t = 64 * 1024)]
    pub max_json_bytes: usize,
    /// Connections open at once; at the cap the connection idle longest makes room,
    /// and if none is idle the new one is closed. By default three quarters of the
    /// open-file limit.
    #[arg(long, env = "GATEWAY_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// How long a request head may take to arrive whole, in milliseconds (from accept
    /// for a connection's first request, from its first byte for later ones).
    #[arg(long, env = "GATEWAY_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_read_timeout_ms: u64,
    /// How long a request body may send nothing before the request fails and its
    /// connection is closed, in milliseconds.
    #[arg(long, env = "GATEWAY_BODY_IDLE_TIMEOUT_MS", default_value_t = 15_000)]
    pub body_idle_timeout_ms: u64,
    /// How long a connection may stay open with no request in flight, in milliseconds.
    #[arg(long, env = "GATEWAY_KEEP_ALIVE_TIMEOUT_MS", default_value_t = 60_000)]
    pub keep_alive_timeout_ms: u64,
    /// Concurrent requests on one HTTP/2 connection.
    #[arg(long, env = "GATEWAY_HTTP2_MAX_STREAMS", default_value_t = 100)]
    pub http2_max_streams: u32,
    /// How often an HTTP/2 connection that has sent nothing is pinged, in milliseconds.
    #[arg(
        long,
        env = "GATEWAY_HTTP2_KEEPALIVE_INTERVAL_MS",
        default_value_t = 10_000
    )]
    pub http2_keepalive_interval_ms: u64,
    /// How long an HTTP/2 ping may go unanswered before the connection is dropped, in
    /// milliseconds.
    #[arg(
        long,
        env = "GATEWAY_HTTP2_KEEPALIVE_TIMEOUT_MS",
        default_value_t = 5_000
    )]
    pub http2_keepalive_timeout_ms: u64,
    /// Most books `GET /books/` without `limit` answers at once; past it, the answer
    /// carries `next_cursor` for the rest, so no answer grows without bound.
    #[arg(long, env = "GATEWAY_MAX_UNPAGED_BOOKS", default_value_t = 5000)]
    pub max_unpaged_books: usize,
    /// Where Prometheus metrics are served (`GET /metrics`), apart from the API port;
    /// `off` records none.
    #[arg(long, env = "GATEWAY_METRICS_LISTEN", default_value = "127.0.0.1:9080")]
    pub metrics_listen: MetricsListen,
    /// Log lines as `text` (coloured only on a terminal) or `json` (one object a line).
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// The header a reverse proxy in front sets to the client's address (such as
    /// `x-forwarded-for` or `x-real-ip`), believed only from `trusted_proxies`. Unset,
    /// the socket peer is the client.
    #[arg(long, env = "GATEWAY_CLIENT_ADDRESS_HEADER")]
    pub client_address_header: Option<http::HeaderName>,
    /// The proxies (addresses or CIDR networks, comma-separated; a bare address is
    /// that one address) whose `client_address_header` names the client. From any
    /// other peer the header is ignored and the peer is the client, so a client that
    /// reaches the gateway directly cannot pick the address it is limited under. Empty
    /// by default: the header is never believed.
    #[arg(long, env = "GATEWAY_TRUSTED_PROXIES", value_delimiter = ',', value_parser = network)]
    pub trusted_proxies: Vec<IpNet>,
}

impl Config {
    /// The defaults, with nothing read from flags or the environment: for embedding.
    pub fn embedded(auth_url: String, library_url: String, public_url: String) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            auth_url,
            library_url,
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            internal_plaintext: false,
            public_tls_cert: None,
            public_tls_key: None,
            public_url,
            backend_timeout_ms: 10_000,
            upload_timeout_ms: 120_000,
            max_cover_bytes: 10 * 1024 * 1024,
            max_json_bytes: 64 * 1024,
            max_connections: None,
            header_read_timeout_ms: 10_000,
            body_idle_timeout_ms: 15_000,
            keep_alive_timeout_ms: 60_000,
            http2_max_streams: 100,
            http2_keepalive_interval_ms: 10_000,
            http2_keepalive_timeout_ms: 5_000,
            max_unpaged_books: 5000,
            metrics_listen: MetricsListen::On(SocketAddr::from(([127, 0, 0, 1], 9080))),
            log_format: LogFormat::Text,
            client_address_header: None,
            trusted_proxies: Vec::new(),
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

    /// The TLS files for calling the services, or `None` when TLS is explicitly
    /// turned off.
    pub(crate) fn tls_files(&self) -> Result<Option<TlsFiles>, TlsError> {
        TlsFiles::configured(
            "GATEWAY",
            self.tls_cert.as_deref(),
            self.tls_key.as_deref(),
            self.tls_ca.as_deref(),
            self.internal_plaintext,
        )
    }

    /// The deadline of a backend call.
    pub(crate) fn backend_timeout(&self) -> Duration {
        Duration::from_millis(self.backend_timeout_ms)
    }

    /// The bounds the server puts on its connections.
    pub(crate) fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: self
                .max_connections
                .unwrap_or_else(bookshelf_runtime::connections::default_max_connections),
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            body_idle_timeout: Duration::from_millis(self.body_idle_timeout_ms),
            keep_alive_timeout: Duration::from_millis(self.keep_alive_timeout_ms),
            http2_max_streams: self.http2_max_streams,
            http2_keepalive_interval: Duration::from_millis(self.http2_keepalive_interval_ms),
            http2_keepalive_timeout: Duration::from_millis(self.http2_keepalive_timeout_ms),
        }
    }

    /// The deadline of an upload.
    pub(crate) fn upload_timeout(&self) -> Duration {
        Duration::from_millis(self.upload_timeout_ms)
    }
}
