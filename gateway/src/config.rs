//! The gateway's configuration: one struct, from flags or environment variables.

use std::{net::SocketAddr, time::Duration};

/// How the gateway runs. It holds no secret.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "gateway",
    version,
    about = "Bookshelf's REST API over its gRPC services"
)]
pub struct Config {
    /// Address to serve HTTP on.
    #[arg(long, env = "GATEWAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The auth service.
    #[arg(long, env = "AUTH_URL", default_value = "http://127.0.0.1:50051")]
    pub auth_url: String,
    /// The library service.
    #[arg(long, env = "LIBRARY_URL", default_value = "http://127.0.0.1:50052")]
    pub library_url: String,
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
    /// The header a reverse proxy in front sets to the client's address (such as
    /// `x-forwarded-for`; its rightmost entry is taken). Unset, the socket peer is the
    /// client: set it only behind a proxy that sets that header on every request,
    /// or clients could name any address they like.
    #[arg(long, env = "GATEWAY_CLIENT_ADDRESS_HEADER")]
    pub client_address_header: Option<http::HeaderName>,
}

impl Config {
    /// The defaults, with nothing read from flags or the environment: for embedding.
    pub fn embedded(auth_url: String, library_url: String, public_url: String) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            auth_url,
            library_url,
            public_url,
            backend_timeout_ms: 10_000,
            upload_timeout_ms: 120_000,
            max_cover_bytes: 10 * 1024 * 1024,
            max_json_bytes: 64 * 1024,
            client_address_header: None,
        }
    }

    /// The deadline of a backend call.
    pub fn backend_timeout(&self) -> Duration {
        Duration::from_millis(self.backend_timeout_ms)
    }

    /// The deadline of an upload.
    pub fn upload_timeout(&self) -> Duration {
        Duration::from_millis(self.upload_timeout_ms)
    }
}
