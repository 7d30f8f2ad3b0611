//! What every Bookshelf gRPC service runs on, written once:
//!
//! - [`access`]: one access line and the request metrics of every gRPC call.
//! - [`client_address`]: the client's address, forwarded from the gateway to the services.
//! - [`certificates`]: a CA and each part's certificate, made once where missing.
//! - [`clock`]: wall-clock time as tokens and the databases carry it, movable by tests.
//! - [`connections`]: the bounds a gRPC server puts on its connections (a cap,
//!   handshake timeout, keepalive, streams per connection).
//! - [`db`]: a sqlx pool on SQLite (the embedded default) or PostgreSQL, migrated,
//!   and the hot reads' own path beside it.
//! - [`files`]: the data folder and files only the service's user may read.
//! - [`errors`]: the statuses every service answers alike (field violations, internal).
//! - [`grpc`]: health, reflection (v1 and v1alpha, error details included) and the
//!   access layer (logs and metrics of every call).
//! - [`metrics`]: the Prometheus recorder, every series' name, and `/metrics` on a
//!   management listener.
//! - [`peer`]: the certificate a peer proved over mutual TLS, and the identity it names.
//! - [`postgres_reads`]: the hot reads on PostgreSQL, pipelined on shared connections.
//! - [`shutdown`]: the SIGINT/SIGTERM future.
//! - [`sqlite_reads`]: the hot reads on SQLite, on the request's own thread.
//! - [`sqlite_writes`]: the hot writes on SQLite, on one writer that commits several
//!   callers' transactions at once.
//! - [`tls`]: rustls with ring: mutual TLS between the parts, reloaded when its
//!   files change, and the gateway's public HTTPS.
//! - [`telemetry`]: `tracing` set up once per process, text or JSON, off the request
//!   path.
//! - [`trace_context`]: the W3C `traceparent` that ties one request's hops together.
//! - [`traces`]: spans exported over OTLP when a collector is configured: one trace
//!   per request across the parts, with its database calls and decoding.
//! - [`workers`]: fixed thread pools for CPU-heavy work.
#![forbid(unsafe_code)]

pub mod access;
pub mod certificates;
pub mod client_address;
pub mod clock;
pub mod connections;
pub mod db;
pub mod errors;
pub mod files;
pub mod grpc;
pub mod metrics;
pub mod peer;
pub mod postgres_reads;
pub mod shutdown;
pub mod sqlite_reads;
pub mod sqlite_writes;
pub mod telemetry;
pub mod tls;
pub mod trace_context;
pub mod traces;
pub mod workers;
